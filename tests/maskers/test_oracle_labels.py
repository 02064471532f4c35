"""NiftiLabelsMasker against nilearn 0.14.1 (reference section 8.3)."""

from __future__ import annotations

import warnings

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from nilearn import maskers as nilearn_maskers

from regionseries.maskers import NiftiLabelsMasker

F32 = dict(rtol=2e-6)


def both(mk, imgs, fit_imgs="same", **params):
    """Fit-transform with regionseries and nilearn; return both maskers and outputs."""
    ours = NiftiLabelsMasker(**params)
    theirs = nilearn_maskers.NiftiLabelsMasker(**params)
    fit_with = imgs if fit_imgs == "same" else fit_imgs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = theirs.fit(fit_with).transform(imgs)
    got = ours.fit(fit_with).transform(imgs)
    return ours, theirs, got, expected


def assert_same(got, expected, rtol=2e-6):
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype, (got.dtype, expected.dtype)
    scale = max(float(np.max(np.abs(expected))), 1e-30)
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * scale)


def assert_same_attributes(ours, theirs):
    assert ours.labels_ == theirs.labels_
    assert ours.region_ids_ == theirs.region_ids_
    assert ours.region_names_ == theirs.region_names_
    assert ours.n_elements_ == theirs.n_elements_
    pd.testing.assert_frame_equal(ours.lut_[["index", "name"]], theirs.lut_[["index", "name"]], check_dtype=False)


@pytest.mark.parametrize("strategy", ["mean", "sum", "median", "minimum", "maximum", "variance", "standard_deviation"])
def test_every_strategy(mk, bold_img, labels_img, strategy):
    ours, theirs, got, expected = both(mk, bold_img, labels_img=labels_img, strategy=strategy)
    assert_same(got, expected)
    assert_same_attributes(ours, theirs)
    if strategy == "mean":
        np.testing.assert_array_equal(got, expected)  # same float64 sums, same rounding


def test_3d_input_and_single_region(mk, bold_img, labels_img):
    volume = nib.Nifti1Image(mk.random_bold(n_volumes=1)[..., 0], mk.grid_affine())
    _, _, got, expected = both(mk, volume, labels_img=labels_img)
    assert got.shape == (4,)
    assert_same(got, expected)
    single = nib.Nifti1Image((mk.box_labels() == 2).astype(np.int32), mk.grid_affine())
    _, _, got, expected = both(mk, volume, labels_img=single)
    assert got.shape == () and got.ndim == 0
    assert_same(got, expected)


def test_nan_and_inf_in_the_data_count_as_zero(mk, labels_img):
    data = mk.random_bold()
    data[3, 3, 3, :] = np.nan
    data[11, 4, 5, 7] = np.inf
    img = nib.Nifti1Image(data, mk.grid_affine())
    with pytest.warns(UserWarning, match="Non-finite values detected"):
        ours = NiftiLabelsMasker(labels_img)
        got = ours.fit_transform(img)
    _, _, _, expected = both(mk, img, labels_img=labels_img)
    np.testing.assert_array_equal(got, expected)
    # Coverage, beyond nilearn (set by fit_transform, of the data fitted on): the NaN
    # voxel of label 1 and the inf voxel of label 2.
    np.testing.assert_allclose(ours.coverage_, [215 / 216, 239 / 240, 1, 1])


def test_labels_removed_by_the_mask(mk, bold_img, labels_img):
    mask = np.ones(mk.SHAPE, dtype=np.uint8)
    mask[:10] = 0
    mask_img = nib.Nifti1Image(mask, mk.grid_affine())
    with pytest.warns(UserWarning, match=r"the following labels were removed: \{1\}"):
        ours = NiftiLabelsMasker(labels_img, mask_img=mask_img).fit(bold_img)
        got = ours.transform(bold_img)
    _, theirs, _, expected = both(mk, bold_img, labels_img=labels_img, mask_img=mask_img)
    assert got.shape == (30, 3)
    np.testing.assert_array_equal(got, expected)
    assert_same_attributes(ours, theirs)
    ours, theirs, got, expected = both(mk, bold_img, labels_img=labels_img, mask_img=mask_img, keep_masked_labels=True)
    assert got.shape == (30, 4) and np.all(got[:, 0] == 0)
    np.testing.assert_array_equal(got, expected)
    background_only = np.zeros(mk.SHAPE, dtype=np.uint8)
    background_only[0, 0, 0] = 1
    with pytest.raises(ValueError, match="No label left after applying mask to the labels image"):
        NiftiLabelsMasker(labels_img, mask_img=nib.Nifti1Image(background_only, mk.grid_affine())).fit(bold_img)


def test_int16_data_in_memory_and_scaled_on_disk(mk, labels_img, tmp_path):
    values = mk.random_bold(mean=100.0) * 10
    int_img = nib.Nifti1Image(np.round(values).astype(np.int16), mk.grid_affine())
    _, _, got, expected = both(mk, int_img, labels_img=labels_img)
    assert got.dtype == np.float64
    assert_same(got, expected, rtol=1e-9)
    scaled = nib.Nifti1Image(values.astype(np.float64), mk.grid_affine())
    scaled.set_data_dtype(np.int16)
    path = tmp_path / "scaled_int16.nii.gz"
    nib.save(scaled, path)
    assert nib.load(path).dataobj.slope != 1
    _, _, got, expected = both(mk, str(path), labels_img=labels_img)
    assert got.dtype == np.float64
    assert_same(got, expected, rtol=1e-9)
    for dtype in (np.float32, np.float64):
        _, _, got, expected = both(mk, str(path), labels_img=labels_img, dtype=dtype)
        assert_same(got, expected, rtol=1e-9 if dtype == np.float64 else 2e-6)
    _, _, got, expected = both(mk, int_img, labels_img=labels_img, dtype="auto")
    assert got.dtype == expected.dtype == np.int32
    np.testing.assert_array_equal(got, expected)


def test_dtype_auto_on_a_scaled_file_works(mk, labels_img, tmp_path):
    """nilearn 0.14.1 raises AttributeError here (QUIRK); scaled data are float data."""
    scaled = nib.Nifti1Image(mk.random_bold().astype(np.float64) * 10, mk.grid_affine())
    scaled.set_data_dtype(np.int16)
    path = tmp_path / "scaled_int16.nii.gz"
    nib.save(scaled, path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(AttributeError):
            nilearn_maskers.NiftiLabelsMasker(labels_img, dtype="auto").fit_transform(str(path))
    got = NiftiLabelsMasker(labels_img, dtype="auto").fit_transform(str(path))
    reference = NiftiLabelsMasker(labels_img).fit_transform(str(path))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, reference, rtol=1e-6)


def test_labels_on_another_grid(mk, bold_img):
    affine_2mm = mk.grid_affine(2.0, (-31.0, -31.0, -31.0))
    labels = np.zeros((30, 33, 27), dtype=np.int32)
    labels[2:12, 2:12, 2:12] = 1
    labels[14:25, 3:15, 5:20] = 2
    labels[5:18, 18:30, 14:25] = 3
    img_2mm = nib.Nifti1Image(labels, affine_2mm)
    ours, theirs, got, expected = both(mk, bold_img, labels_img=img_2mm)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(ours.labels_img_.get_fdata(), theirs.labels_img_.get_fdata())
    _, _, got, expected = both(mk, bold_img, labels_img=img_2mm, resampling_target="labels")
    assert_same(got, expected)
    with pytest.raises(ValueError, match="Following field of view errors were detected:\n- labels and data do not have the same shape"):
        NiftiLabelsMasker(img_2mm, resampling_target=None).fit(bold_img)


@pytest.mark.parametrize("shift, resampled", [(5e-5, False), (5e-4, True)])
def test_small_affine_perturbations(mk, bold_img, shift, resampled):
    affine = mk.grid_affine()
    affine[0, 3] += shift
    labels_img = nib.Nifti1Image(mk.box_labels(), affine)
    _, _, got, expected = both(mk, bold_img, labels_img=labels_img)
    np.testing.assert_array_equal(got, expected)


def test_perturbation_between_the_two_tolerances(mk, bold_img):
    affine = mk.grid_affine()
    affine[0, 3] += 2e-4
    labels_img = nib.Nifti1Image(mk.box_labels(), affine)
    with pytest.raises(ValueError, match="Images have different affine matrices"):
        NiftiLabelsMasker(labels_img).fit_transform(bold_img)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="Images have different affine matrices"):
            nilearn_maskers.NiftiLabelsMasker(labels_img).fit_transform(bold_img)


def test_label_lost_in_resampling(mk, bold_img):
    affine_1mm = mk.grid_affine(1.0, (-30.0, -30.0, -30.0))
    labels = np.zeros((60, 66, 54), dtype=np.int32)
    labels[3:20, 3:20, 3:20] = 1
    labels[30:50, 10:30, 12:36] = 2
    labels[10:40, 36:60, 30:48] = 3
    labels[31, 31, 31] = 7  # a single 1 mm voxel off the 3 mm sampling points
    img = nib.Nifti1Image(labels, affine_1mm)
    with pytest.warns(UserWarning, match=r"following labels were removed: \{7\}"):
        ours = NiftiLabelsMasker(img).fit(bold_img)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = nilearn_maskers.NiftiLabelsMasker(img).fit(bold_img)
        expected = theirs.transform(bold_img)
    got = ours.transform(bold_img)
    np.testing.assert_array_equal(got, expected)
    assert ours.n_elements_ == theirs.n_elements_ == 3


@pytest.mark.parametrize(
    "names",
    [["bg", "a", "b", "c", "d"], ["Background", "a", "b"], ["a", "b", "c", "d"], list("abcdefgh")],
)
def test_label_names(mk, bold_img, labels_img, names):
    ours = NiftiLabelsMasker(labels_img, labels=list(names))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = nilearn_maskers.NiftiLabelsMasker(labels_img, labels=list(names)).fit()
        ours.fit()
    assert_same_attributes(ours, theirs)


def test_background_label_float_and_negative_labels(mk, bold_img):
    labels = mk.box_labels()
    _, _, got, expected = both(mk, bold_img, labels_img=nib.Nifti1Image(labels, mk.grid_affine()), background_label=5)
    np.testing.assert_array_equal(got, expected)
    floats = labels.astype(np.float32) + np.where(labels > 0, 0.5, 0)
    ours, theirs, got, expected = both(mk, bold_img, labels_img=nib.Nifti1Image(floats, mk.grid_affine()))
    np.testing.assert_array_equal(got, expected)
    assert_same_attributes(ours, theirs)
    negative = np.where(labels == 3, -3, labels).astype(np.int32)
    ours, theirs, got, expected = both(mk, bold_img, labels_img=nib.Nifti1Image(negative, mk.grid_affine()))
    np.testing.assert_array_equal(got, expected)
    assert_same_attributes(ours, theirs)


def test_masks_non_binary_4d_and_on_another_grid(mk, bold_img, labels_img):
    values = np.zeros(mk.SHAPE, dtype=np.float32)
    values[4:] = 2.5
    for mask_img in (
        nib.Nifti1Image(values, mk.grid_affine()),
        nib.Nifti1Image(np.stack([values, values], axis=-1), mk.grid_affine()),
    ):
        _, _, got, expected = both(mk, bold_img, labels_img=labels_img, mask_img=mask_img)
        np.testing.assert_array_equal(got, expected)
    mask_2mm = np.zeros((30, 33, 27), dtype=np.uint8)
    mask_2mm[5:, 3:30, :] = 1
    mask_img = nib.Nifti1Image(mask_2mm, mk.grid_affine(2.0, (-31.0, -31.0, -31.0)))
    _, _, got, expected = both(mk, bold_img, labels_img=labels_img, mask_img=mask_img)
    np.testing.assert_array_equal(got, expected)


def test_inverse_transform(mk, bold_img, labels_img):
    mask = np.ones(mk.SHAPE, dtype=np.uint8)
    mask[:4] = 0
    mask_img = nib.Nifti1Image(mask, mk.grid_affine())
    ours, theirs, got, _ = both(mk, bold_img, labels_img=labels_img, mask_img=mask_img)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected_img = theirs.inverse_transform(got)
        expected_3d = theirs.inverse_transform(got[0])
    image = ours.inverse_transform(got)
    assert image.shape == mk.SHAPE + (30,)
    assert image.get_data_dtype() == np.float32
    np.testing.assert_array_equal(np.asanyarray(image.dataobj), np.asanyarray(expected_img.dataobj))
    np.testing.assert_array_equal(np.asanyarray(ours.inverse_transform(got[0]).dataobj), np.asanyarray(expected_3d.dataobj))
    with pytest.raises(ValueError, match=r"Input to 'inverse_transform' has wrong shape. Expected \(4,\)"):
        ours.inverse_transform(np.zeros((3, 5)))


def test_confounds_and_sample_mask_through_the_masker(mk, bold_img, labels_img):
    rng = np.random.default_rng(5)
    confounds = rng.standard_normal((30, 2))
    sample_mask = np.arange(2, 30)
    params = dict(labels_img=labels_img, detrend=True, standardize="zscore_sample")
    ours = NiftiLabelsMasker(**params)
    got = ours.fit_transform(bold_img, confounds=confounds, sample_mask=sample_mask)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = nilearn_maskers.NiftiLabelsMasker(**params).fit_transform(
            bold_img, confounds=confounds, sample_mask=sample_mask
        )
    assert got.shape == (28, 4)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    with pytest.raises(ValueError, match="Repetition time"):
        NiftiLabelsMasker(labels_img, low_pass=0.1).fit_transform(bold_img)
    # Band-pass (needs more than 33 volumes) and high-variance confounds.
    bold_img = nib.Nifti1Image(mk.random_bold(n_volumes=60, seed=6), mk.grid_affine())
    confounds = rng.standard_normal((60, 2))
    params = dict(labels_img=labels_img, detrend=True, standardize="zscore_sample", low_pass=0.2,
                  high_pass=0.01, t_r=2.0, high_variance_confounds=True)
    got = NiftiLabelsMasker(**params).fit_transform(bold_img, confounds=confounds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = nilearn_maskers.NiftiLabelsMasker(**params).fit_transform(bold_img, confounds=confounds)
    np.testing.assert_allclose(got, expected, atol=1e-5)
