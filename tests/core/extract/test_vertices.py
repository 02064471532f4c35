"""Region signals over vertices (core.extract.vertices): reductions, least squares, coverage, labels on
grayordinates, pairs."""

import warnings

import nibabel as nib
import numpy as np
import pytest
import scipy.linalg
import scipy.sparse
from scipy import ndimage

from regionseries.core.extract import REDUCTIONS
from regionseries.core.extract.vertices import (
    CiftiParcels,
    cifti_labels_on,
    cifti_maps_on,
    extract_vertex_signals,
    gifti_pair_labels,
    gifti_pair_maps,
    parcels_axis,
    vertex_labels_operator,
    vertex_maps_operator,
    write_parcellated_cifti,
)


def test_means_and_coverage_of_vertices():
    rng = np.random.default_rng(0)
    data = rng.normal(100, 5, (30, 12))
    labels = np.array([1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 0, 0])
    data[:, 0] = np.nan  # parcel 1: 3 of 4 vertices valid
    data[:, 4:7] = 0.0  # parcel 2: 1 of 4 vertices valid (constant zeros are no signal)
    with pytest.warns(UserWarning, match=r"2 region\(s\) of atlas A have coverage below min_coverage=0.5 in run.gii"):
        atlas = vertex_labels_operator(labels, [1, 2, 3, 4], ["a", "b", "c", "d"], source_name="atlas A")
        result = extract_vertex_signals(data, {"A": atlas}, min_coverage=0.5, description="run.gii")["A"]
    np.testing.assert_allclose(result.coverage, [0.75, 0.25, 1.0, 0.0])
    assert result.regions_below_coverage == ["b", "d"] and result.missing_regions == ["d"]
    # NaN vertices count as 0 in the mean, as for voxels (nilearn's rule)
    np.testing.assert_allclose(result.signals[:, 0], np.nan_to_num(data[:, :4]).mean(axis=1))
    assert np.isnan(result.signals[:, 1]).all() and np.isnan(result.signals[:, 3]).all()
    np.testing.assert_allclose(result.signals[:, 2], data[:, 8:10].mean(axis=1))


def test_cifti_labels_are_matched_by_structure_and_vertex():
    left = np.array([True, True, False, True])
    run = (nib.cifti2.BrainModelAxis.from_mask(left, name="CortexLeft")
           + nib.cifti2.BrainModelAxis.from_mask(np.ones(3, bool), name="CortexRight"))
    # the atlas covers every vertex, right hemisphere first
    atlas = (nib.cifti2.BrainModelAxis.from_mask(np.ones(3, bool), name="CortexRight")
             + nib.cifti2.BrainModelAxis.from_mask(np.ones(4, bool), name="CortexLeft"))
    labels = np.array([7, 8, 9, 1, 2, 3, 4])
    np.testing.assert_array_equal(cifti_labels_on(atlas, labels, run), [1, 2, 4, 7, 8, 9])
    other = nib.cifti2.BrainModelAxis.from_mask(np.ones(5, bool), name="Cerebellum")
    with pytest.raises(ValueError, match="share no grayordinate"):
        cifti_labels_on(other, np.ones(5), run)


def test_gifti_pair_labels_shift_the_right_hemisphere():
    np.testing.assert_array_equal(gifti_pair_labels(np.array([0, 1, 2]), np.array([2, -1, 1]), (3, 3), 2),
                                  [0, 1, 2, 4, 0, 3])
    with pytest.raises(ValueError, match="right hemisphere of the atlas has 2 vertices, the run's 3"):
        gifti_pair_labels(np.array([0, 1, 2]), np.array([1, 1]), (3, 3), 2)


def test_91k_grayordinates_give_no_header_warning():
    # 91,282 columns do not fit a NIfTI-1 dimension: the series must not warn about nibabel's FreeSurfer hack
    rng = np.random.default_rng(1)
    data = rng.normal(size=(6, 91282)).astype(np.float32)
    labels = np.arange(91282) % 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = extract_vertex_signals(data, {"A": vertex_labels_operator(labels, [1, 2, 3], ["a", "b", "c"])})["A"]
    np.testing.assert_allclose(result.signals[:, 2], data[:, labels == 3].astype(np.float64).mean(axis=1), rtol=1e-10)


# -- the one path of the command line and the surface maskers, against numpy and scipy ----------------


@pytest.fixture
def vertex_samples():
    """(samples, vertices): 7 samples of 500 vertices."""
    return np.random.default_rng(0).standard_normal((7, 500))


@pytest.fixture
def vertex_labels():
    return np.random.default_rng(1).integers(0, 6, 500)


def _one(data, operator, **kwargs):
    return extract_vertex_signals(data, [operator], min_coverage=0.0, **kwargs)[0]


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_labels_signals_are_scipy_ndimage_reductions(vertex_samples, vertex_labels, reduction):
    values = [5, 1, 3, 2, 4]  # any column order
    got = _one(vertex_samples, vertex_labels_operator(vertex_labels, values, reduction=reduction)).signals
    assert got.shape == (7, 5) and got.dtype == np.float64
    expected = np.array(
        [getattr(ndimage, reduction)(sample, labels=vertex_labels, index=values) for sample in vertex_samples]
    )
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_labels_signals_one_sample_absent_label_and_errors(vertex_samples, vertex_labels):
    got = _one(vertex_samples[:1], vertex_labels_operator(vertex_labels, [1, 9])).signals
    assert got.shape == (1, 2)
    assert got[0, 0] == pytest.approx(vertex_samples[0, vertex_labels == 1].mean())
    assert np.isnan(got[0, 1])  # label 9 has no vertex
    with pytest.raises(ValueError, match="Invalid reduction"):
        vertex_labels_operator(vertex_labels, [1], reduction="mode")
    with pytest.raises(ValueError, match="vertex labels for data"):
        _one(vertex_samples, vertex_labels_operator(vertex_labels[:-1], [1]))


def test_maps_signals_are_lstsq(vertex_samples):
    rng = np.random.default_rng(2)
    maps = rng.random((500, 4)) * (rng.random((500, 4)) > 0.5)
    got = _one(vertex_samples, vertex_maps_operator(maps)).signals
    np.testing.assert_allclose(got, scipy.linalg.lstsq(maps, vertex_samples.T)[0].T, rtol=1e-10, atol=1e-12)
    # rank-deficient maps: the minimum-norm solution, as gelsd; an empty map is NaN here (the maskers
    # write lstsq's 0 for it: tests/maskers/test_surface.py) and listed as missing
    maps[:, 1] = 0
    maps[:, 3] = 2 * maps[:, 2]
    result = _one(vertex_samples, vertex_maps_operator(maps, ["a", "b", "c", "d"]))
    expected = scipy.linalg.lstsq(maps, vertex_samples.T)[0].T
    np.testing.assert_allclose(result.signals[:, [0, 2, 3]], expected[:, [0, 2, 3]], rtol=1e-8, atol=1e-10)
    assert np.isnan(result.signals[:, 1]).all() and result.missing_regions == ["b"]
    sparse = vertex_maps_operator(scipy.sparse.csr_matrix(maps.T))
    np.testing.assert_array_equal(_one(vertex_samples, sparse).signals, result.signals)


def test_coverage_of_labels_and_maps_counts_valid_vertices_in_the_mask(vertex_samples, vertex_labels):
    data = vertex_samples.copy()
    data[:, 0] = 3.0  # constant
    data[2, 1] = np.inf
    mask = np.ones(500, bool)
    mask[10:20] = False
    valid = np.ones(500, bool)
    valid[:2] = False
    in_region = vertex_labels == vertex_labels[0]
    result = _one(data, vertex_labels_operator(vertex_labels, [vertex_labels[0], 7]), mask=mask,
                  warn_non_finite=False)
    assert result.coverage[0] == pytest.approx((valid & mask)[in_region].mean())
    assert result.coverage[1] == 0.0  # no vertex
    # one sample: constant is fine
    assert _one(np.full((1, 500), 3.0), vertex_labels_operator(vertex_labels, [1])).coverage[0] == 1.0
    maps = np.random.default_rng(3).random((500, 2)) - 0.5
    weights = np.abs(maps)
    result = _one(data, vertex_maps_operator(maps), mask=mask, warn_non_finite=False)
    np.testing.assert_allclose(result.coverage, (weights * (valid & mask)[:, None]).sum(axis=0) / weights.sum(axis=0))


def test_cifti_maps_are_matched_by_structure_and_vertex():
    run = (nib.cifti2.BrainModelAxis.from_mask(np.array([True, True, False, True]), name="CortexLeft")
           + nib.cifti2.BrainModelAxis.from_mask(np.ones(3, bool), name="CortexRight"))
    atlas = (nib.cifti2.BrainModelAxis.from_mask(np.ones(3, bool), name="CortexRight")
             + nib.cifti2.BrainModelAxis.from_mask(np.ones(4, bool), name="CortexLeft"))
    maps = np.arange(14, dtype=float).reshape(7, 2)  # rows: right 0-2, left 0-3
    np.testing.assert_array_equal(cifti_maps_on(atlas, maps, run), maps[[3, 4, 6, 0, 1, 2]])
    # a run grayordinate the atlas lacks gets weight 0
    np.testing.assert_array_equal(cifti_maps_on(atlas[3:], maps[3:], run), np.vstack([maps[[3, 4, 6]], np.zeros((3, 2))]))
    other = nib.cifti2.BrainModelAxis.from_mask(np.ones(5, bool), name="Cerebellum")
    with pytest.raises(ValueError, match="share no grayordinate"):
        cifti_maps_on(other, np.ones((5, 2)), run)


def test_gifti_pair_maps_stack_the_hemispheres():
    left, right = np.ones((3, 2)), np.zeros((2, 2))
    np.testing.assert_array_equal(gifti_pair_maps(left, right, (3, 2)), np.vstack([left, right]))
    with pytest.raises(ValueError, match="left hemisphere of the atlas has 3 vertices, the run's 4"):
        gifti_pair_maps(left, right, (4, 2))


def _grayordinates() -> nib.cifti2.BrainModelAxis:
    left, right = np.ones(40, dtype=bool), np.ones(36, dtype=bool)
    left[:5] = False  # a medial wall
    voxels = np.zeros((4, 5, 3), dtype=bool)
    voxels[1:3, 1:4, 1] = True
    return (nib.cifti2.BrainModelAxis.from_mask(left, name="CortexLeft")
            + nib.cifti2.BrainModelAxis.from_mask(right, name="CortexRight")
            + nib.cifti2.BrainModelAxis.from_mask(voxels, name="ThalamusLeft", affine=np.diag([2, 2, 2, 1])))


@pytest.mark.parametrize("repetition_time", [0.8, None], ids=["ptseries", "pconn"])
def test_parcellated_cifti_is_the_file_nibabel_writes(tmp_path, repetition_time):
    """The XML built once per run and atlas (CiftiParcels) gives the bytes of nibabel's own writer."""
    models = _grayordinates()
    labels = np.arange(len(models)) % 7 + 1
    parcels = CiftiParcels(parcels_axis(models, labels, list(range(1, 8)), [f"region {k}" for k in range(1, 8)]))
    rng = np.random.default_rng(0)
    for n_rows in (12, 12, 20):  # the second file of a shape reuses the XML
        values = rng.standard_normal((n_rows if repetition_time else 7, 7))
        values[0, 3] = np.nan
        ours, theirs = tmp_path / "ours.nii", tmp_path / "theirs.nii"
        write_parcellated_cifti(ours, values, parcels, repetition_time)
        rows = (parcels.axis if repetition_time is None
                else nib.cifti2.SeriesAxis(0.0, repetition_time, len(values), unit="SECOND"))
        img = nib.Cifti2Image(values.astype(np.float32), header=(rows, parcels.axis))
        img.nifti_header.set_intent("ConnParcels" if repetition_time is None else "ConnParcelSries")
        img.to_filename(theirs)
        assert ours.read_bytes() == theirs.read_bytes()
        back = nib.load(ours)
        assert back.header.get_axis(1) == parcels.axis
        np.testing.assert_array_equal(np.asarray(back.dataobj), values.astype(np.float32))
    with pytest.raises(ValueError, match="values of shape"):
        write_parcellated_cifti(tmp_path / "bad.nii", np.zeros((3, 6)), parcels, repetition_time)
