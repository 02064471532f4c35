"""Masker API: parameters, fitted state, reports, bad inputs."""

from __future__ import annotations

import re
import warnings

import nibabel as nib
import numpy as np
import pytest

from regionseries.maskers import NiftiLabelsMasker, NiftiMapsMasker, NiftiSpheresMasker, NotFittedError


def test_get_and_set_params_without_scikit_learn(labels_img):
    masker = NiftiLabelsMasker(labels_img, strategy="median", t_r=2.0)
    params = masker.get_params()
    assert params["strategy"] == "median" and params["t_r"] == 2.0 and params["labels_img"] is labels_img
    assert set(params) >= {"labels_img", "labels", "lut", "background_label", "mask_img", "smoothing_fwhm",
                           "standardize", "standardize_confounds", "high_variance_confounds", "detrend",
                           "low_pass", "high_pass", "t_r", "dtype", "resampling_target", "strategy",
                           "keep_masked_labels", "reports", "clean_args"}
    assert masker.set_params(strategy="sum", detrend=True) is masker
    assert masker.strategy == "sum" and masker.detrend
    with pytest.raises(ValueError, match="Invalid parameter 'radius' for estimator NiftiLabelsMasker"):
        masker.set_params(radius=3)
    assert "strategy='sum'" in repr(masker)
    assert set(NiftiSpheresMasker().get_params()) >= {"seeds", "radius", "allow_overlap", "mask_img"}
    assert set(NiftiMapsMasker().get_params()) >= {"maps_img", "allow_overlap", "keep_masked_maps", "resampling_target"}


def test_not_fitted(bold_img, labels_img):
    with pytest.raises(NotFittedError, match="This NiftiLabelsMasker instance is not fitted yet"):
        NiftiLabelsMasker(labels_img).transform(bold_img)
    with pytest.raises(ValueError, match="not fitted yet"):
        NiftiSpheresMasker([(0, 0, 0)]).transform(bold_img)


def test_labels_masker_bad_inputs(mk, bold_img, labels_img):
    four_d = nib.Nifti1Image(np.stack([mk.box_labels()] * 2, axis=-1), mk.grid_affine())
    with pytest.raises(ValueError, match=r"labels_img must be a 3D label image; .* has shape \(20, 22, 18, 2\)"):
        NiftiLabelsMasker(four_d).fit()
    with pytest.raises(ValueError, match="Invalid strategy 'mode'"):
        NiftiLabelsMasker(labels_img, strategy="mode").fit()
    with pytest.raises(ValueError, match="invalid value for 'resampling_target' parameter: 'mask'"):
        NiftiLabelsMasker(labels_img, resampling_target="mask").fit()
    with pytest.raises(ValueError, match="Pass either labels or a lookup table"):
        NiftiLabelsMasker(labels_img, labels=["a"], lut=__import__("pandas").DataFrame({"index": [1], "name": ["a"]})).fit()
    with pytest.raises(TypeError, match="'labels' must be a list of strings"):
        NiftiLabelsMasker(labels_img, labels=("a", "b")).fit()
    with pytest.raises(ValueError, match="Image has no label"):
        NiftiLabelsMasker(nib.Nifti1Image(np.zeros(mk.SHAPE, np.int32), mk.grid_affine())).fit()
    with pytest.raises(TypeError, match="Input imgs must be a Niimg-like object"):
        NiftiLabelsMasker(labels_img).fit().transform(np.zeros((3, 3)))
    with pytest.raises(TypeError, match="dtype=bool"):
        NiftiLabelsMasker(labels_img, dtype=bool).fit()
    empty_mask = nib.Nifti1Image(np.zeros(mk.SHAPE, np.uint8), mk.grid_affine())
    with pytest.raises(ValueError, match="The mask is invalid as it is empty"):
        NiftiLabelsMasker(labels_img, mask_img=empty_mask).fit()


def test_list_of_images_is_concatenated(mk, labels_img):
    runs = [nib.Nifti1Image(mk.random_bold(n_volumes=4, seed=s), mk.grid_affine()) for s in (1, 2)]
    masker = NiftiLabelsMasker(labels_img).fit()
    together = masker.transform(runs)
    assert together.shape == (8, 4)
    np.testing.assert_array_equal(together[:4], masker.transform(runs[0]))
    np.testing.assert_array_equal(together[4:], masker.transform(runs[1]))
    # nilearn accepts a list of 3D volumes (concatenated in time), not of 4D runs.
    from nilearn import maskers as nilearn_maskers

    volumes = [nib.Nifti1Image(mk.random_bold(n_volumes=1, seed=s)[..., 0], mk.grid_affine()) for s in (3, 4, 5)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = nilearn_maskers.NiftiLabelsMasker(labels_img).fit().transform(volumes)
        with pytest.raises(Exception, match="you provided a list of 4D images"):
            nilearn_maskers.NiftiLabelsMasker(labels_img).fit().transform(runs)
    got = masker.transform(volumes)
    assert got.shape == expected.shape == (3, 4)
    np.testing.assert_array_equal(got, expected)


def test_labels_report_is_self_contained_and_escaped(mk, bold_img):
    labels_img = nib.Nifti1Image(mk.box_labels(), mk.grid_affine())
    masker = NiftiLabelsMasker(labels_img, labels=["Background", "<script>", "b", "c", "d"]).fit(bold_img)
    report = masker.generate_report()
    text = report.get_standalone()
    assert text.startswith("<!DOCTYPE html>") and not re.search(r"https?://", text)
    # The label is text; the page's only script is its own sortable-table code.
    assert "&lt;script&gt;" in text and "<script>" not in text.replace("<script>// Click a column header", "")
    # 216 voxels of 27 mm^3 = 5832 mm^3, 216 / 984 non-background voxels = 21.95 %.
    cells = r'<td class="num" data-sort="1">1</td><td class="">&lt;script&gt;</td>'
    cells += r'<td class="num" data-sort="5832">5832</td><td class="num" data-sort="21.95">21.95</td>'
    assert re.search(cells, text)
    assert re.search(r"strategy</t[dh]>\s*<td[^>]*>&#39;mean&#39;</td>", text)
    # The atlas overlay is embedded, so the page works on its own.
    assert '<img src="data:image/png;base64,' in text


def test_spheres_and_maps_reports(tmp_path, maps_img, bold_img):
    report = NiftiSpheresMasker([(0.0, 0.0, 0.0)], radius=5.0).fit().generate_report()
    assert "(0, 0, 0)" in report.html and "radius" in report.html
    maps_report = NiftiMapsMasker(maps_img).fit(bold_img).generate_report()
    path = tmp_path / "report.html"
    maps_report.save_as_html(path)
    assert "support size (in mm^3)" in path.read_text()


def test_fit_transform_equals_fit_then_transform(bold_img, labels_img):
    a = NiftiLabelsMasker(labels_img).fit_transform(bold_img)
    b = NiftiLabelsMasker(labels_img).fit(bold_img).transform(bold_img)
    np.testing.assert_array_equal(a, b)


def test_smoothing_matches_nilearn(mk, bold_img, labels_img, maps_img):

    from nilearn import maskers as nilearn_maskers

    for ours_cls, theirs_cls, params in (
        (NiftiLabelsMasker, nilearn_maskers.NiftiLabelsMasker, dict(labels_img=labels_img)),
        (NiftiMapsMasker, nilearn_maskers.NiftiMapsMasker, dict(maps_img=maps_img)),
        (NiftiSpheresMasker, nilearn_maskers.NiftiSpheresMasker, dict(seeds=[(0, 0, 0)], radius=6.0)),
    ):
        got = ours_cls(smoothing_fwhm=6.0, **params).fit_transform(bold_img)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = theirs_cls(smoothing_fwhm=6.0, **params).fit_transform(bold_img)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5 * np.abs(expected).max())


def test_grid_and_mask_errors_name_the_files(mk, tmp_path):
    """Errors about grids, masks and empty atlases name the files involved."""
    bold_path = tmp_path / "sub-01_bold.nii.gz"
    nib.save(nib.Nifti1Image(mk.random_bold(n_volumes=3), mk.grid_affine()), bold_path)
    affine_2mm = mk.grid_affine(2.0, (-31.0, -31.0, -31.0))
    labels_2mm = np.zeros((30, 33, 27), dtype=np.int32)
    labels_2mm[2:12, 2:12, 2:12] = 1
    labels_path = tmp_path / "atlas_2mm_dseg.nii.gz"
    nib.save(nib.Nifti1Image(labels_2mm, affine_2mm), labels_path)
    message = (
        "Following field of view errors were detected:\n- labels and data do not have the same shape: "
        "(30, 33, 27) vs (20, 22, 18)\nUse resampling_target='data' (or another target) to resample.\n"
        f"Images: labels: {labels_path}; data: {bold_path}."
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        NiftiLabelsMasker(str(labels_path), resampling_target=None).fit(str(bold_path))
    with pytest.raises(ValueError, match=re.escape(f"Images: labels: {labels_path}; data: {bold_path}.")):
        NiftiLabelsMasker(str(labels_path), resampling_target=None).fit().transform(str(bold_path))

    maps_2mm = mk.gaussian_maps((30, 33, 27), ((8, 8, 8), (21, 9, 12)), 4.5)
    maps_path = tmp_path / "maps_2mm.nii.gz"
    nib.save(nib.Nifti1Image(maps_2mm, affine_2mm), maps_path)
    with pytest.raises(ValueError, match=re.escape(f"Images: maps: {maps_path}; data: {bold_path}.")):
        NiftiMapsMasker(str(maps_path), resampling_target=None).fit(str(bold_path))

    corner = np.zeros(mk.SHAPE, dtype=np.uint8)
    corner[0, 21, 0] = 1  # no label and no map there
    mask_path = tmp_path / "corner_mask.nii.gz"
    nib.save(nib.Nifti1Image(corner, mk.grid_affine()), mask_path)
    labels_path_3mm = tmp_path / "atlas_dseg.nii.gz"
    nib.save(nib.Nifti1Image(mk.box_labels(), mk.grid_affine()), labels_path_3mm)
    message = (
        "No label left after applying mask to the labels image. "
        f"(labels_img: {labels_path_3mm}; mask_img: {mask_path})"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        NiftiLabelsMasker(str(labels_path_3mm), mask_img=str(mask_path)).fit(str(bold_path))
    maps_path_3mm = tmp_path / "maps.nii.gz"
    nib.save(nib.Nifti1Image(mk.gaussian_maps(), mk.grid_affine()), maps_path_3mm)
    message = f"No map left after applying mask to the maps image. (maps_img: {maps_path_3mm}; mask_img: {mask_path})"
    with pytest.raises(ValueError, match=re.escape(message)):
        NiftiMapsMasker(str(maps_path_3mm), mask_img=str(mask_path)).fit(str(bold_path))
    empty_maps = tmp_path / "empty_maps.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros(mk.SHAPE + (2,), np.float32), mk.grid_affine()), empty_maps)
    with pytest.raises(ValueError, match=re.escape(f"maps_img contains no map. (maps_img: {empty_maps})")):
        NiftiMapsMasker(str(empty_maps)).fit()

    # A label image whose only label falls between the data's sampling points.
    tiny = np.zeros((60, 66, 54), dtype=np.int32)
    tiny[31, 31, 31] = 7
    tiny_path = tmp_path / "tiny_dseg.nii.gz"
    nib.save(nib.Nifti1Image(tiny, mk.grid_affine(1.0)), tiny_path)
    message = f"No label left after resampling the labels image ({tiny_path}) to the grid of shape (20, 22, 18)."
    with pytest.raises(ValueError, match=re.escape(message)):
        NiftiLabelsMasker(str(tiny_path)).fit(str(bold_path))


def test_constructor_parameters_are_nilearns_in_nilearn_order():
    """Positional arguments port too: same names, order and defaults as nilearn 0.14.1."""
    import inspect

    from nilearn import maskers as nilearn_maskers

    for ours, theirs in (
        (NiftiLabelsMasker, nilearn_maskers.NiftiLabelsMasker),
        (NiftiSpheresMasker, nilearn_maskers.NiftiSpheresMasker),
        (NiftiMapsMasker, nilearn_maskers.NiftiMapsMasker),
    ):
        ours_parameters = inspect.signature(ours).parameters
        their_parameters = inspect.signature(theirs).parameters
        assert list(ours_parameters) == list(their_parameters), ours.__name__
        for name, parameter in their_parameters.items():
            assert repr(ours_parameters[name].default) == repr(parameter.default), (ours.__name__, name)
