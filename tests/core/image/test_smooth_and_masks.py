"""smooth_array / smooth_img and the two mask rules against nilearn 0.14.1."""

from __future__ import annotations

import warnings

import nibabel as nib
import numpy as np
import pytest
from nilearn.image import smooth_img as nilearn_smooth_img
from nilearn.image.image import smooth_array as nilearn_smooth_array
from nilearn.maskers import NiftiMapsMasker as NilearnMapsMasker
from nilearn.masking import load_mask_img as nilearn_load_mask_img

from regionseries.core.image import get_data, load_mask_img, load_masker_mask, smooth_array
from regionseries.image import smooth_img

ANISOTROPIC = np.array([[3.0, 0, 0, -30], [0, 2.5, 0, -20], [0, 0.3, 2.0, -10], [0, 0, 0, 1]])


def _quiet(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return func(*args, **kwargs)


def _arrays():
    rng = np.random.default_rng(1)
    float32 = rng.normal(size=(10, 11, 12)).astype(np.float32)
    float32[1, 1, 1] = np.nan
    float32[2, 3, 4] = -np.inf
    float64_4d = rng.normal(size=(10, 11, 12, 3))
    float64_4d[5, 5, 5, 2] = np.nan
    int16 = (rng.normal(size=(10, 11, 12)) * 10).astype(np.int16)
    int64 = (rng.normal(size=(6, 7, 8)) * 10).astype(np.int64)
    return {"float32_nan": float32, "float64_4d_nan": float64_4d, "int16": int16, "int64": int64}


ARRAYS = _arrays()


@pytest.mark.parametrize("fwhm", [6, 3.3, [4, None, 8], (0, 5, 2.5), "fast", None, 0], ids=str)
@pytest.mark.parametrize("name", list(ARRAYS))
def test_smooth_array_bit_identical(name, fwhm):
    array = ARRAYS[name]
    theirs = _quiet(nilearn_smooth_array, array.copy(), ANISOTROPIC, fwhm=fwhm)
    ours = _quiet(smooth_array, array.copy(), ANISOTROPIC, fwhm)
    assert ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours, theirs)


def test_smooth_array_keeps_input_unless_copy_false():
    array = ARRAYS["float32_nan"].copy()
    before = array.copy()
    smooth_array(array, ANISOTROPIC, 5)
    np.testing.assert_array_equal(array, before)
    result = smooth_array(array, ANISOTROPIC, 5, copy=False)
    assert result is array
    kept_nan = smooth_array(ARRAYS["float32_nan"], ANISOTROPIC, None, ensure_finite=False)
    assert np.isnan(kept_nan[1, 1, 1])


def test_smooth_array_fwhm_zero_warns():
    with pytest.warns(UserWarning, match="'fwhm' for smoothing is specified as 0. Setting it to None"):
        out = smooth_array(ARRAYS["int16"], ANISOTROPIC, 0)
    np.testing.assert_array_equal(out, ARRAYS["int16"].astype(np.float32))


@pytest.mark.parametrize(
    "fwhm, message",
    [("slow", "fwhm must be a number, a sequence of numbers, 'fast' or None; got 'slow'"),
     (-2.0, r"fwhm must be finite and non-negative \(mm\), got -2.0"),
     ([1.0, np.nan, 2.0], "fwhm must be finite and non-negative"),
     ([1.0, 2.0], r"one value per spatial axis \(3\)")],
)
def test_smooth_array_bad_fwhm(fwhm, message):
    with pytest.raises(ValueError, match=message):
        smooth_array(ARRAYS["float32_nan"], ANISOTROPIC, fwhm)


def test_smooth_img_matches_nilearn_for_image_and_list():
    img = nib.Nifti1Image(ARRAYS["float64_4d_nan"], ANISOTROPIC)
    np.testing.assert_array_equal(get_data(smooth_img(img, 4)), get_data(nilearn_smooth_img(img, 4)))
    ours = smooth_img([img, img], "fast")
    theirs = nilearn_smooth_img([img, img], "fast")
    assert len(ours) == 2
    np.testing.assert_array_equal(get_data(ours[1]), get_data(theirs[1]))


# -- masker masks (lenient rule) ----------------------------------------------------


def _nilearn_masker_mask(mask_img):
    masker = NilearnMapsMasker(mask_img=mask_img)
    return _quiet(masker._load_mask, None)


@pytest.mark.parametrize(
    "values",
    [
        np.array([0, 1, 3]),
        np.array([0, 2.5]),
        np.array([0, np.nan, 1]),
        np.array([-1.0, 0, 7]),
    ],
    ids=["0-1-3", "0-2.5", "nan", "negative"],
)
def test_masker_mask_any_nonzero_counts(values):
    rng = np.random.default_rng(0)
    data = rng.choice(values, size=(6, 7, 8)).astype(np.float32)
    data[0, 0, 0] = values[-1]
    img = nib.Nifti1Image(data, np.eye(4))
    ours = _quiet(load_masker_mask, img)
    theirs = _nilearn_masker_mask(img)
    assert get_data(ours).dtype == np.uint8
    np.testing.assert_array_equal(get_data(ours), get_data(theirs))


def test_masker_mask_4d_needs_every_volume():
    data = np.ones((4, 4, 4, 3), np.float32)
    data[0, 0, 0, 1] = 0
    data[1, 1, 1, 2] = np.nan
    img = nib.Nifti1Image(data, np.eye(4))
    with pytest.warns(UserWarning, match="Non-finite values detected"):
        ours = load_masker_mask(img)
    assert np.isnan(data[1, 1, 1, 2])  # the caller's array is not modified (nilearn zeroes it)
    assert ours.shape == (4, 4, 4)
    np.testing.assert_array_equal(get_data(ours), get_data(_nilearn_masker_mask(img)))
    assert get_data(ours)[0, 0, 0] == 0 and get_data(ours)[1, 1, 1] == 0


def test_masker_mask_empty(tmp_path):
    path = tmp_path / "empty_mask.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((3, 3, 3), np.uint8), np.eye(4)), path)
    with pytest.raises(
        ValueError,
        match=r"^The mask is invalid as it is empty: it masks all data\. Mask: .*empty_mask\.nii\.gz\.$",
    ):
        load_masker_mask(path)


# -- strict masks ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [np.array([0, 1]), np.array([0, 4]), np.array([5]), np.array([0, np.nan, 2])],
    ids=["0-1", "0-4", "single-nonzero", "nan-as-zero"],
)
def test_strict_mask_accepts_like_nilearn(data):
    array = np.resize(data, (4, 5, 6)).astype(np.float32)
    img = nib.Nifti1Image(array, np.eye(4))
    ours, affine = _quiet(load_mask_img, img)
    theirs, _ = _quiet(nilearn_load_mask_img, nib.Nifti1Image(array.copy(), np.eye(4)))
    assert ours.dtype == bool
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(affine, np.eye(4))


def test_strict_mask_squeezes_single_volume():
    array = np.zeros((4, 5, 6, 1), np.uint8)
    array[1:3, 1:3, 1:3, 0] = 1
    mask, _ = load_mask_img(nib.Nifti1Image(array, np.eye(4)))
    assert mask.shape == (4, 5, 6) and mask.sum() == 8


@pytest.mark.parametrize(
    "values, message",
    [
        ([0], r"^The mask is invalid as it is empty: it masks all data\."),
        ([1, 2], r"^Background of the mask must be represented with 0\. Given mask contains: \[1\. 2\.\]"),
        ([0, 1, 2], r"^Given mask is not made of 2 values: \[0\. 1\. 2\.\]\. Cannot interpret as true or false\."),
    ],
)
def test_strict_mask_errors_match_nilearn(values, message):
    array = np.resize(np.array(values, np.float32), (4, 5, 6))
    img = nib.Nifti1Image(array, np.eye(4))
    with pytest.raises(ValueError, match=message):
        load_mask_img(img)
    with pytest.raises(ValueError, match=message.split(r"\.")[0]):
        nilearn_load_mask_img(img)


def test_strict_mask_empty_allowed_and_4d_rejected(tmp_path):
    empty, _ = load_mask_img(nib.Nifti1Image(np.zeros((3, 3, 3), np.uint8), np.eye(4)), allow_empty=True)
    assert not empty.any()
    path = tmp_path / "mask4d.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((3, 3, 3, 2), np.uint8), np.eye(4)), path)
    with pytest.raises(ValueError, match=r"mask4d\.nii\.gz has incompatible dimensionality: expected a 3D image"):
        load_mask_img(path)
