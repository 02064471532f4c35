"""NiftiMapsMasker and MapsOperator against nilearn 0.14.1 (reference section 8.5).

nilearn solves float32 inputs with single-precision LAPACK gelsd; we solve in
float64. Measured on these inputs: float64 maps agree to ~1e-12 relative;
float32 maps and data to ~1e-6 relative of the signal scale (the float32
rounding of nilearn's solve), well inside the 1e-5 relative tolerance.
"""

from __future__ import annotations

import warnings

import nibabel as nib
import numpy as np
import pytest
import scipy.linalg
from nilearn import maskers as nilearn_maskers

from regionseries.maskers import NiftiMapsMasker

CROSS_PRECISION = 1e-5  # relative to max |signal|; issue 3's tolerance for mean-like signals


def transform_both(imgs, fit_imgs="same", **params):
    fit_with = imgs if fit_imgs == "same" else fit_imgs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = nilearn_maskers.NiftiMapsMasker(**params).fit(fit_with)
        expected = theirs.transform(imgs)
    ours = NiftiMapsMasker(**params).fit(fit_with)
    got = ours.transform(imgs)
    return ours, got, expected


def assert_close(got, expected, rtol=CROSS_PRECISION):
    assert got.shape == expected.shape and got.dtype == expected.dtype, (got.dtype, expected.dtype)
    np.testing.assert_allclose(got, expected, rtol=0, atol=rtol * np.max(np.abs(expected)))


def test_defaults_float32(mk, bold_img, maps_img):
    ours, got, expected = transform_both(bold_img, maps_img=maps_img)
    assert got.dtype == np.float32
    assert_close(got, expected)
    # Our float64 solve equals a float64 lstsq on nilearn's rows to 1e-12.
    maps = np.asanyarray(maps_img.dataobj).reshape(-1, 4).astype(np.float64)
    data = np.asanyarray(bold_img.dataobj).reshape(-1, 30).astype(np.float64)
    support = np.any(maps != 0, axis=1)
    reference64 = scipy.linalg.lstsq(maps[support], data[support])[0].T
    assert mk.relative_error(got, reference64) < 1e-6  # only the final float32 cast
    # Coverage, beyond nilearn: set by fit_transform, of the data fitted on (transform sets nothing).
    assert not hasattr(ours, "coverage_")
    fitted = NiftiMapsMasker(maps_img=maps_img)
    np.testing.assert_array_equal(fitted.fit_transform(bold_img), got)
    np.testing.assert_array_equal(fitted.coverage_, np.ones(4))


def test_float64_maps_solve_in_double(mk, bold_img, maps_img):
    maps64 = nib.Nifti1Image(np.asanyarray(maps_img.dataobj).astype(np.float64), maps_img.affine)
    _, got, expected = transform_both(bold_img, maps_img=maps64)
    assert got.dtype == np.float64
    assert_close(got, expected, rtol=1e-9)


def test_mask_trims_the_maps(mk, bold_img, maps_img):
    mask = np.ones(mk.SHAPE, dtype=np.uint8)
    mask[:7] = 0
    mask_img = nib.Nifti1Image(mask, mk.grid_affine())
    _, got, expected = transform_both(bold_img, maps_img=maps_img, mask_img=mask_img)
    assert_close(got, expected)
    mask[:13] = 0  # removes map 0 (centred at x=5, reaching x=12) entirely
    mask_img = nib.Nifti1Image(mask, mk.grid_affine())
    with pytest.warns(UserWarning, match=r"maps with the following indices were removed: \{0\}"):
        NiftiMapsMasker(maps_img, mask_img=mask_img).fit_transform(bold_img)
    _, got, expected = transform_both(bold_img, maps_img=maps_img, mask_img=mask_img)
    assert got.shape == (30, 3)
    assert_close(got, expected)
    _, got, expected = transform_both(bold_img, maps_img=maps_img, mask_img=mask_img, keep_masked_maps=True)
    assert got.shape == (30, 4) and np.all(got[:, 0] == 0)
    assert_close(got, expected)


def test_allow_overlap_false(mk, bold_img, maps_img):
    with pytest.raises(ValueError, match="Overlap detected in the maps.*'map 0' and 'map 1' share"):
        NiftiMapsMasker(maps_img, allow_overlap=False).fit_transform(bold_img)
    separated = mk.gaussian_maps(width=1.0)
    separated[..., 1] *= -1  # negative weights: nilearn zeroes them (QUIRK), we keep them
    img = nib.Nifti1Image(separated, mk.grid_affine())
    got = NiftiMapsMasker(img, allow_overlap=False).fit_transform(bold_img)
    _, _, expected_overlap_allowed = transform_both(bold_img, maps_img=img)
    assert_close(got, expected_overlap_allowed)
    _, _, nilearn_result = transform_both(bold_img, maps_img=img, allow_overlap=False)
    assert np.all(nilearn_result[:, 1] == 0)  # nilearn lost the negative map
    assert np.all(got[:, 1] != 0)


def test_maps_on_another_grid(mk, bold_img):
    affine_2mm = mk.grid_affine(2.0, (-31.0, -31.0, -31.0))
    maps_2mm = nib.Nifti1Image(
        mk.gaussian_maps((30, 33, 27), ((8, 8, 8), (21, 9, 12), (10, 22, 18), (24, 25, 6)), 4.5), affine_2mm
    )
    ours, got, expected = transform_both(bold_img, maps_img=maps_2mm)
    assert_close(got, expected)
    np.testing.assert_allclose(ours.maps_img_.get_fdata(), _nilearn_maps(maps_2mm, bold_img))
    _, got, expected = transform_both(bold_img, maps_img=maps_2mm, resampling_target="maps")
    assert_close(got, expected)
    with pytest.raises(ValueError, match="Following field of view errors were detected:\n- maps and data do not have the same shape"):
        NiftiMapsMasker(maps_2mm, resampling_target=None).fit_transform(bold_img)


def _nilearn_maps(maps_img, bold_img):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return nilearn_maskers.NiftiMapsMasker(maps_img).fit(bold_img).maps_img_.get_fdata()


def test_int16_data_and_nan(mk, bold_img, maps_img):
    int_img = nib.Nifti1Image(np.round(np.asanyarray(bold_img.dataobj) * 10).astype(np.int16), mk.grid_affine())
    _, got, expected = transform_both(int_img, maps_img=maps_img)
    assert got.dtype == np.float32
    assert_close(got, expected)
    maps = np.asanyarray(maps_img.dataobj).copy()
    maps[5, 5, 5, 0] = np.nan
    data = np.asanyarray(bold_img.dataobj).copy()
    data[14, 6, 8, :] = np.nan
    nan_maps, nan_data = nib.Nifti1Image(maps, mk.grid_affine()), nib.Nifti1Image(data, mk.grid_affine())
    with pytest.warns(UserWarning, match="Non-finite values detected"):
        got = NiftiMapsMasker(nan_maps).fit_transform(nan_data)
    _, _, expected = transform_both(nan_data, maps_img=nan_maps)
    assert np.all(np.isfinite(got))
    assert_close(got, expected)


def test_empty_maps_and_mask_errors(mk, bold_img, maps_img):
    with pytest.raises(ValueError, match="maps_img contains no map"):
        NiftiMapsMasker(nib.Nifti1Image(np.zeros(mk.SHAPE + (2,), np.float32), mk.grid_affine())).fit()
    mask = np.zeros(mk.SHAPE, dtype=np.uint8)
    mask[0, 21, 0] = 1  # a corner where no map has weight
    with pytest.raises(ValueError, match="No map left after applying mask to the maps image"):
        NiftiMapsMasker(maps_img, mask_img=nib.Nifti1Image(mask, mk.grid_affine())).fit(bold_img)
    with pytest.raises(ValueError, match="resampling_target has been set to 'mask' but no mask"):
        NiftiMapsMasker(maps_img, resampling_target="mask").fit()


def test_inverse_transform(mk, bold_img, maps_img):
    ours, got, _ = transform_both(bold_img, maps_img=maps_img)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = nilearn_maskers.NiftiMapsMasker(maps_img).fit(bold_img)
        expected = theirs.inverse_transform(got)
    image = ours.inverse_transform(got)
    np.testing.assert_allclose(np.asanyarray(image.dataobj), np.asanyarray(expected.dataobj), rtol=2e-6, atol=1e-5)
    assert ours.inverse_transform(got[0]).shape == mk.SHAPE


def test_3d_input_and_single_map(mk, bold_img, maps_img):
    """A 3D image gives one value per map; a single map with a 3D image a 0-d array (as nilearn)."""
    volume = nib.Nifti1Image(np.asanyarray(bold_img.dataobj)[..., 0], mk.grid_affine())
    _, got, expected = transform_both(volume, maps_img=maps_img)
    assert got.shape == expected.shape == (4,)
    assert_close(got, expected)
    single = nib.Nifti1Image(np.asanyarray(maps_img.dataobj)[..., 1], mk.grid_affine())  # a 3D maps image
    _, got, expected = transform_both(volume, maps_img=single)
    assert got.shape == expected.shape == ()
    assert_close(got, expected)


def test_scaled_int16_file(mk, maps_img, tmp_path):
    """int16 data with a scale factor on disk are float data: float64 output, as nilearn."""
    scaled = nib.Nifti1Image(mk.random_bold(mean=100.0).astype(np.float64) * 10, mk.grid_affine())
    scaled.set_data_dtype(np.int16)
    path = tmp_path / "scaled_int16.nii.gz"
    nib.save(scaled, path)
    assert nib.load(path).dataobj.slope != 1
    _, got, expected = transform_both(str(path), maps_img=maps_img)
    assert got.dtype == expected.dtype == np.float64
    assert_close(got, expected, rtol=1e-9)  # both solve in float64
