"""Extraction operators and the one-pass engine: known answers, coverage, errors."""

from __future__ import annotations

import pickle
import re
import warnings

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from regionseries.core.extract import (
    REDUCTIONS,
    LabelsOperator,
    MapsOperator,
    SpheresOperator,
    extract_signals,
)
from regionseries.core.image import smooth_array


def _labels_reference(data, labels, values, reduction):
    """scipy.ndimage per volume, in float64."""
    func = getattr(ndimage, reduction)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scipy's own 0/0 for absent labels
        return np.array(
            [func(data[..., t].astype(np.float64), labels=labels, index=values) for t in range(data.shape[3])]
        )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_labels_reductions_equal_scipy_ndimage(mk, reduction):
    data = mk.random_bold(n_volumes=9)
    labels = mk.box_labels()
    op = LabelsOperator(labels, mk.grid_affine(), reduction=reduction)
    (result,) = extract_signals(nib.Nifti1Image(data, mk.grid_affine()), [op], chunk_volumes=4)
    expected = _labels_reference(data, labels, [1, 2, 3, 5], reduction)
    assert result.signals.dtype == np.float64 and result.signals.shape == (9, 4)
    np.testing.assert_allclose(result.signals, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())
    assert result.names == ["1", "2", "3", "5"] and result.region_ids == [1, 2, 3, 5]
    np.testing.assert_array_equal(result.n_voxels, [216, 240, 432, 96])


def test_reduction_is_the_results_and_survives_an_old_pickle(mk):
    """Operators pickled in a work folder before the reduction had its name kept it as "strategy"."""
    img = nib.Nifti1Image(mk.random_bold(n_volumes=5), mk.grid_affine())
    fresh = LabelsOperator(mk.box_labels(), mk.grid_affine(), reduction="median")
    old = LabelsOperator(mk.box_labels(), mk.grid_affine(), reduction="median")
    old.__dict__["strategy"] = old.__dict__.pop("reduction")  # as an operator pickled by 0.1.0.dev0
    loaded = pickle.loads(pickle.dumps(old))
    assert loaded.reduction == "median" and "strategy" not in vars(loaded)
    (expected,), (got,) = extract_signals(img, [fresh]), extract_signals(img, [loaded])
    assert expected.reduction == got.reduction == "median"
    np.testing.assert_array_equal(got.signals, expected.signals)


def test_chunking_does_not_change_results(mk, tmp_path):
    img = nib.Nifti1Image(mk.random_bold(n_volumes=11), mk.grid_affine())
    path = tmp_path / "bold.nii.gz"
    nib.save(img, path)
    ops = [
        LabelsOperator(mk.box_labels(), mk.grid_affine(), reduction="median"),
        MapsOperator(mk.gaussian_maps(), mk.grid_affine()),
    ]
    one = extract_signals(path, ops, chunk_volumes=1)
    many = extract_signals(path, ops, chunk_volumes=5)
    for a, b in zip(one, many):
        np.testing.assert_array_equal(a.signals, b.signals)


def test_one_pass_multi_atlas_equals_separate_extractions(mk, tmp_path):
    img = nib.Nifti1Image(mk.random_bold(n_volumes=12), mk.grid_affine())
    path = tmp_path / "bold.nii.gz"
    nib.save(img, path)
    mask = np.ones(mk.SHAPE, dtype=bool)
    mask[:3] = False
    operators = {
        "labels_mean": LabelsOperator(mk.box_labels(), mk.grid_affine()),
        "labels_max": LabelsOperator(mk.box_labels(), mk.grid_affine(), reduction="maximum"),
        "labels_smoothed": LabelsOperator(mk.box_labels(), mk.grid_affine(), smoothing_fwhm=6.0),
        "spheres": SpheresOperator([(0, 0, 0), (9, -12, 6)], 6.0, mk.SHAPE, mk.grid_affine()),
        "maps": MapsOperator(mk.gaussian_maps(), mk.grid_affine()),
    }
    together = extract_signals(path, operators, mask=mask, chunk_volumes=5)
    assert list(together) == list(operators)
    for name, op in operators.items():
        (alone,) = extract_signals(path, [op], mask=mask, chunk_volumes=5)
        np.testing.assert_array_equal(together[name].signals, alone.signals)
        np.testing.assert_array_equal(together[name].coverage, alone.coverage)


def test_smoothing_composed_into_weights_equals_smoothing_the_volumes(mk):
    data = mk.random_bold(n_volumes=5)
    affine = mk.grid_affine()
    smoothed = smooth_array(data.astype(np.float64), affine, 7.0)
    labels = mk.box_labels()
    expected = _labels_reference(smoothed, labels, [1, 2, 3, 5], "mean")
    op = LabelsOperator(labels, affine, smoothing_fwhm=7.0)
    (result,) = extract_signals(nib.Nifti1Image(data, affine), [op])
    np.testing.assert_allclose(result.signals, expected, rtol=1e-12)
    # Non-linear strategies smooth the chunk explicitly.
    op = LabelsOperator(labels, affine, smoothing_fwhm=7.0, reduction="median")
    (result,) = extract_signals(nib.Nifti1Image(data, affine), [op])
    np.testing.assert_allclose(result.signals, _labels_reference(smoothed, labels, [1, 2, 3, 5], "median"), rtol=1e-6)
    # Anisotropic fwhm and "fast" smoothing.
    for fwhm in ([4.0, 0.0, 8.0], "fast"):
        smoothed = smooth_array(data.astype(np.float64), affine, fwhm)
        op = LabelsOperator(labels, affine, smoothing_fwhm=fwhm)
        (result,) = extract_signals(nib.Nifti1Image(data, affine), [op])
        np.testing.assert_allclose(
            result.signals, _labels_reference(smoothed, labels, [1, 2, 3, 5], "mean"), rtol=1e-6
        )


def test_maps_least_squares_in_float64(mk):
    data = mk.random_bold(n_volumes=6).astype(np.float64)
    maps = mk.gaussian_maps().astype(np.float64)
    op = MapsOperator(maps, mk.grid_affine())
    (result,) = extract_signals(nib.Nifti1Image(data, mk.grid_affine()), [op])
    flat = maps.reshape(-1, 4, order="F")
    support = np.any(flat != 0, axis=1)
    expected = np.linalg.lstsq(flat[support], data.reshape(-1, 6, order="F")[support], rcond=None)[0].T
    np.testing.assert_allclose(result.signals, expected, rtol=1e-10)
    # Exact recovery of a known mixture.
    coefficients = np.array([[1.0, -2.0, 3.5, 0.25], [0.0, 1.0, 2.0, -1.0]])
    mixture = np.tensordot(maps, coefficients.T, axes=([3], [0]))
    (result,) = extract_signals(nib.Nifti1Image(mixture, mk.grid_affine()), [op])
    np.testing.assert_allclose(result.signals, coefficients, atol=1e-10)


def test_rank_deficient_maps_give_the_minimum_norm_solution(mk):
    maps = mk.gaussian_maps()[..., :2]
    maps = np.concatenate([maps, maps[..., :1]], axis=3)  # map 2 duplicates map 0
    data = mk.random_bold(n_volumes=3).astype(np.float64)
    (result,) = extract_signals(nib.Nifti1Image(data, mk.grid_affine()), [MapsOperator(maps, mk.grid_affine())])
    flat = maps.reshape(-1, 3, order="F").astype(np.float64)
    support = np.any(flat != 0, axis=1)
    expected = np.linalg.pinv(flat[support]) @ data.reshape(-1, 3, order="F")[support]
    np.testing.assert_allclose(result.signals, expected.T, rtol=1e-8)
    np.testing.assert_allclose(result.signals[:, 0], result.signals[:, 2])


def test_spheres_inclusive_radius_and_round_half_even(mk):
    affine = mk.grid_affine(3.0, (0.0, 0.0, 0.0))
    for radius, count in [(3.0, 7), (2.9999999, 1), (3 * np.sqrt(2), 19), (3 * np.sqrt(3), 27), (6.0, 33)]:
        op = SpheresOperator([(30.0, 30.0, 30.0)], radius, mk.SHAPE, affine)
        assert len(op.sphere_voxels()[0]) == count, radius
    # Voxel coordinate (1.5, 1.5, 2.5) rounds half to even: voxel (2, 2, 2).
    op = SpheresOperator([(4.5, 4.5, 7.5)], None, mk.SHAPE, affine)
    (voxels,) = op.sphere_voxels()
    assert np.ravel_multi_index((2, 2, 2), mk.SHAPE, order="F") == voxels[0] and len(voxels) == 1
    # Voxel coordinate -0.5 rounds to 0, inside the image.
    op = SpheresOperator([(-1.5, 0.0, 0.0)], None, mk.SHAPE, affine)
    assert op.sphere_voxels()[0].tolist() == [0]


def test_sphere_coverage_counts_lattice_points_outside_the_image(mk):
    affine = mk.grid_affine(3.0, (0.0, 0.0, 0.0))
    data = mk.random_bold(n_volumes=4)
    op = SpheresOperator([(0.0, 30.0, 30.0)], 3.0, mk.SHAPE, affine)  # on the x=0 face
    (result,) = extract_signals(nib.Nifti1Image(data, affine), [op], min_coverage=0)
    assert result.n_voxels.tolist() == [6]
    np.testing.assert_allclose(result.coverage, [6 / 7])


def test_coverage_mask_nonfinite_and_constant_voxels(mk):
    affine = mk.grid_affine()
    data = mk.random_bold(n_volumes=6)
    labels = mk.box_labels()
    data[2:4, 2:8, 2:8, :] = 7.0  # constant voxels: 2/6 of label 1
    data[10, 3:9, 4:12, 2] = np.nan  # non-finite once: 48 of 240 voxels of label 2
    mask = np.ones(mk.SHAPE, dtype=bool)
    mask[3:12, 12:20, 10:13] = False  # half of label 3 outside the brain mask
    op = LabelsOperator(labels, affine)
    with pytest.warns(UserWarning, match="Non-finite values detected"):
        (result,) = extract_signals(nib.Nifti1Image(data, affine), [op], mask=mask, min_coverage=0)
    np.testing.assert_allclose(result.coverage, [4 / 6, 192 / 240, 0.5, 1.0])
    # NaN counts as 0 in the mean (nilearn), constant voxels count as they are.
    filled = np.where(np.isfinite(data), data, 0)
    expected = _labels_reference(filled, np.where(mask, labels, 0), [1, 2, 3, 5], "mean")
    np.testing.assert_allclose(result.signals, expected, rtol=1e-12)


def test_regions_below_min_coverage_are_nan_and_named(mk):
    affine = mk.grid_affine()
    mask = np.ones(mk.SHAPE, dtype=bool)
    mask[3:12, 12:20, 10:15] = False  # 5/6 of label 3 outside the mask
    op = LabelsOperator(mk.box_labels(), affine, names={1: "V1", 2: "M1", 3: "PCC", 5: "Amygdala"})
    with pytest.warns(UserWarning, match=re.escape("set to NaN: 'PCC' (0.17)")):
        (result,) = extract_signals(nib.Nifti1Image(mk.random_bold(n_volumes=4), affine), [op], mask=mask)
    assert result.regions_below_coverage == ["PCC"]
    assert np.all(np.isnan(result.signals[:, 2])) and np.all(np.isfinite(result.signals[:, [0, 1, 3]]))


def test_3d_input_does_not_judge_constancy(mk):
    affine = mk.grid_affine()
    data = mk.random_bold(n_volumes=1)[..., 0]
    (result,) = extract_signals(nib.Nifti1Image(data, affine), [LabelsOperator(mk.box_labels(), affine)])
    np.testing.assert_array_equal(result.coverage, np.ones(4))
    assert result.signals.shape == (1, 4)


def test_labels_missing_from_image_are_reported_not_shifted(mk):
    affine = mk.grid_affine()
    names = {1: "A", 2: "B", 3: "C", 4: "D (not in image)", 5: "E"}
    op = LabelsOperator(mk.box_labels(), affine, label_values=[1, 2, 3, 4, 5], names=names)
    assert op.missing_regions == ["D (not in image)"]
    with pytest.warns(UserWarning, match="'D \\(not in image\\)' \\(0.00\\)"):
        (result,) = extract_signals(nib.Nifti1Image(mk.random_bold(n_volumes=3), affine), [op])
    assert result.names == ["A", "B", "C", "D (not in image)", "E"]
    assert result.missing_regions == ["D (not in image)"]
    assert np.all(np.isnan(result.signals[:, 3]))
    expected = _labels_reference(mk.random_bold(n_volumes=3), mk.box_labels(), [1, 2, 3, 5], "mean")
    np.testing.assert_allclose(result.signals[:, [0, 1, 2, 4]], expected, rtol=1e-12)
    # The reverse: values of the image absent from the requested list.
    op = LabelsOperator(mk.box_labels(), affine, label_values=[1, 2])
    assert op.unlisted_values == [3, 5]


# --- bad inputs ---------------------------------------------------------------


def test_4d_labels_image_is_rejected(mk):
    with pytest.raises(ValueError, match=r"labels image must be 3D, got shape \(20, 22, 18, 2\).*MapsOperator"):
        LabelsOperator(np.zeros(mk.SHAPE + (2,)), mk.grid_affine())


def test_unknown_reduction(mk):
    with pytest.raises(ValueError, match="Invalid reduction 'mode'"):
        LabelsOperator(mk.box_labels(), mk.grid_affine(), reduction="mode")


def test_seed_outside_the_field_of_view(mk):
    op = SpheresOperator([(0, 0, 0), (500.0, 0, 0)], 5.0, mk.SHAPE, mk.grid_affine(), names=["ok", "far"])
    with pytest.raises(ValueError, match=re.escape("These spheres are empty: [1]") + ".*'far' at \\(500, 0, 0\\) mm"):
        op.bind()
    # With empty="nan" the sphere is a NaN column with coverage 0 instead.
    op = SpheresOperator([(0, 0, 0), (500.0, 0, 0)], 5.0, mk.SHAPE, mk.grid_affine(), empty="nan")
    with pytest.warns(UserWarning, match="coverage below"):
        (result,) = extract_signals(nib.Nifti1Image(mk.random_bold(n_volumes=3), mk.grid_affine()), [op])
    assert result.coverage[1] == 0 and np.all(np.isnan(result.signals[:, 1]))


def test_overlapping_spheres_name_the_pairs(mk):
    seeds = [(0, 0, 0), (3, 0, 0), (15, 15, 15), (18, 15, 15)]
    names = ["PCC", "precuneus", "V1", "V2"]
    op = SpheresOperator(seeds, 6.0, mk.SHAPE, mk.grid_affine(), names=names)
    message = "Overlap detected between spheres: 'PCC' and 'precuneus' share .* voxels; 'V1' and 'V2' share"
    with pytest.raises(ValueError, match=message):
        op.bind()
    SpheresOperator(seeds, 6.0, mk.SHAPE, mk.grid_affine(), allow_overlap=True).bind()


def test_overlapping_maps_name_the_pairs(mk):
    op = MapsOperator(mk.gaussian_maps(), mk.grid_affine(), allow_overlap=False, names=list("abcd"))
    with pytest.raises(ValueError, match="Overlap detected in the maps.*'a' and 'b' share"):
        op.bind()


def test_operator_on_another_grid(mk):
    op = LabelsOperator(mk.box_labels(), mk.grid_affine(2.0))
    img = nib.Nifti1Image(mk.random_bold(n_volumes=2), mk.grid_affine())
    with pytest.raises(ValueError, match="Images have different affine matrices"):
        extract_signals(img, [op])
    op = LabelsOperator(np.zeros((5, 5, 5)) + 1, mk.grid_affine())
    with pytest.raises(ValueError, match="Images have incompatible shapes"):
        extract_signals(img, [op])


def test_empty_mask_and_empty_intersection(mk):
    img = nib.Nifti1Image(mk.random_bold(n_volumes=2), mk.grid_affine())
    op = LabelsOperator(mk.box_labels(), mk.grid_affine())
    with pytest.raises(ValueError, match="The mask is invalid as it is empty"):
        extract_signals(img, [op], mask=np.zeros(mk.SHAPE, dtype=bool))
    corner = np.zeros(mk.SHAPE, dtype=bool)
    corner[0, 0, 0] = True
    with pytest.raises(ValueError, match="does not intersect any region of labels image"):
        extract_signals(img, [op], mask=corner)
    mask_img = nib.Nifti1Image(np.ones((4, 4, 4), np.uint8), np.eye(4))
    with pytest.raises(ValueError, match="Images have incompatible shapes"):
        extract_signals(img, [op], mask=mask_img)


def test_maps_without_any_weight_and_bad_arguments(mk):
    with pytest.raises(ValueError, match="maps_img contains no map"):
        MapsOperator(np.zeros(mk.SHAPE + (2,)), mk.grid_affine())
    with pytest.raises(ValueError, match="min_coverage must be between 0 and 1"):
        extract_signals(nib.Nifti1Image(mk.random_bold(n_volumes=2), mk.grid_affine()),
                        [LabelsOperator(mk.box_labels(), mk.grid_affine())], min_coverage=2)
    with pytest.raises(ValueError, match="Seed #1 is of length 2 instead of 3"):
        SpheresOperator([(0, 0, 0), (1, 2)], 5.0, mk.SHAPE, mk.grid_affine())
    with pytest.raises(ValueError, match="radius must be a non-negative number of mm"):
        SpheresOperator([(0, 0, 0)], -1.0, mk.SHAPE, mk.grid_affine())
    with pytest.raises(ValueError, match="region names must be unique; repeated: 'x'"):
        LabelsOperator(mk.box_labels(), mk.grid_affine(), names=["x", "x", "y", "z"])


def test_operators_are_reusable_across_runs(mk):
    affine = mk.grid_affine()
    op = LabelsOperator(mk.box_labels(), affine)
    runs = [mk.random_bold(n_volumes=4, seed=s) for s in (1, 2)]
    for data in runs:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            (result,) = extract_signals(nib.Nifti1Image(data, affine), [op])
        np.testing.assert_allclose(result.signals, _labels_reference(data, mk.box_labels(), [1, 2, 3, 5], "mean"))
