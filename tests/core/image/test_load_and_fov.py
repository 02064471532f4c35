"""Loading, data dtypes, new images, field-of-view checks and chunked reading."""

from __future__ import annotations


import nibabel as nib
import numpy as np
import pytest
from nilearn.image import check_niimg, new_img_like as nilearn_new_img_like
from nilearn.image.image import check_same_fov as nilearn_check_same_fov

from regionseries.core.image import (
    STRICT_AFFINE_TOLERANCE,
    check_same_fov,
    check_strict_affine,
    describe_img,
    get_data,
    load_img,
    new_img_like,
)


def _affine(voxel=3.0, offset=-30.0):
    affine = np.diag([voxel, voxel, voxel, 1.0])
    affine[:3, 3] = offset
    return affine


def _save(tmp_path, name, data, slope=None, inter=None, dtype=None):
    img = nib.Nifti1Image(data, _affine(), dtype=dtype or data.dtype)
    if slope is not None:
        img.header.set_slope_inter(slope, inter)
    path = tmp_path / name
    nib.save(img, path)
    return path


# -- load_img -----------------------------------------------------------------


def test_load_img_accepts_str_path_and_image(tmp_path):
    data = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    path = _save(tmp_path, "a.nii.gz", data)
    for source in (str(path), path, nib.load(path)):
        img = load_img(source)
        assert img.shape == (2, 3, 4)
        np.testing.assert_array_equal(get_data(img), data)
    in_memory = nib.Nifti1Image(data, _affine())
    assert load_img(in_memory) is in_memory


def test_load_img_ensure_ndim_squeezes_and_promotes(tmp_path):
    one_volume = np.arange(24, dtype=np.float32).reshape(2, 3, 4, 1)
    squeezed = load_img(nib.Nifti1Image(one_volume, _affine()), ensure_ndim=3)
    assert squeezed.shape == (2, 3, 4)
    np.testing.assert_array_equal(get_data(squeezed), one_volume[..., 0])

    path = _save(tmp_path, "three.nii.gz", one_volume[..., 0])
    promoted = load_img(path, ensure_ndim=4)
    assert promoted.shape == (2, 3, 4, 1)
    reference = check_niimg(str(path), atleast_4d=True)
    np.testing.assert_array_equal(get_data(promoted), np.asanyarray(reference.dataobj))


def test_load_img_dimensionality_mismatch_names_file(tmp_path):
    path = _save(tmp_path, "bold.nii.gz", np.zeros((2, 3, 4, 5), np.float32))
    with pytest.raises(ValueError, match=r"bold\.nii\.gz.*expected a 3D image, got a 4D image"):
        load_img(path, ensure_ndim=3)
    with pytest.raises(ValueError, match="ensure_ndim must be None, 3 or 4"):
        load_img(path, ensure_ndim=5)


def test_load_img_bad_inputs():
    with pytest.raises(TypeError, match="Expected a NIfTI image .* got object of type int"):
        load_img(3)
    with pytest.raises(FileNotFoundError, match="Image file not found: .*missing.nii.gz"):
        load_img("/nonexistent/missing.nii.gz")


def test_load_img_unreadable_file_names_it(tmp_path):
    path = tmp_path / "broken.nii.gz"
    path.write_bytes(b"not an image")
    with pytest.raises(ValueError, match=r"Cannot read image file .*broken\.nii\.gz"):
        load_img(path)


def test_load_img_list_concatenates_along_time():
    first = np.ones((2, 3, 4), np.float32)
    second = np.full((2, 3, 4, 2), 2.0, np.float32)
    img = load_img([nib.Nifti1Image(first, _affine()), nib.Nifti1Image(second, _affine())])
    assert img.shape == (2, 3, 4, 3)
    np.testing.assert_array_equal(get_data(img)[..., 0], first)
    np.testing.assert_array_equal(get_data(img)[..., 2], second[..., 1])


def test_load_img_list_errors():
    with pytest.raises(ValueError, match="empty list"):
        load_img([])
    a = nib.Nifti1Image(np.zeros((2, 3, 4), np.float32), _affine())
    b = nib.Nifti1Image(np.zeros((2, 3, 5), np.float32), _affine())
    with pytest.raises(ValueError, match="not on the same grid"):
        load_img([a, b])


# -- get_data -----------------------------------------------------------------


def test_get_data_dtypes_follow_nilearn(tmp_path):
    raw = np.arange(60, dtype=np.int16).reshape(3, 4, 5)
    unscaled = _save(tmp_path, "int16.nii.gz", raw)
    scaled = _save(tmp_path, "scaled.nii.gz", raw, slope=0.5, inter=3.0)
    plain = _save(tmp_path, "plain.nii", raw.astype(np.float32))
    assert get_data(unscaled).dtype == np.int16
    assert get_data(scaled).dtype == np.float64
    np.testing.assert_array_equal(get_data(scaled), raw * 0.5 + 3.0)
    assert isinstance(get_data(plain), np.memmap)
    for path in (unscaled, scaled, plain):
        reference = np.asanyarray(check_niimg(str(path)).dataobj)
        assert get_data(path).dtype == reference.dtype
        np.testing.assert_array_equal(get_data(path), reference)


# -- new_img_like ---------------------------------------------------------------


def test_new_img_like_bool_and_int64():
    ref = nib.Nifti1Image(np.zeros((2, 2, 2), np.float32), _affine())
    assert new_img_like(ref, np.ones((2, 2, 2), bool)).get_data_dtype() == np.uint8
    with pytest.warns(UserWarning, match="64-bit ints; they fit in 32-bit ints"):
        small = new_img_like(ref, np.ones((2, 2, 2), np.int64))
    assert np.asanyarray(small.dataobj).dtype == np.int32
    with pytest.warns(UserWarning, match="too large for 32-bit ints"):
        large = new_img_like(ref, np.full((2, 2, 2), 2**40, np.int64))
    assert np.asanyarray(large.dataobj).dtype == np.int64


def test_new_img_like_header_rules_match_nilearn():
    ref = nib.Nifti1Image(np.zeros((2, 2, 2), np.int16), _affine(), dtype=np.int16)
    ref.header.set_slope_inter(2.0, 1.0)
    ref.header["descrip"] = b"reference"
    data = np.array([[[-1.5, 2.0], [0, 1]], [[3, 4], [5, 6.25]]], np.float32)
    ours = new_img_like(ref, data, copy_header=True)
    theirs = nilearn_new_img_like(ref, data, copy_header=True)
    for key in ("cal_min", "cal_max", "glmax", "descrip"):
        assert ours.header[key] == theirs.header[key]
    assert ours.header["cal_min"] == -1.5 and ours.header["cal_max"] == 6.25
    np.testing.assert_array_equal(np.asanyarray(ours.dataobj), data)
    # Difference from nilearn: the header dtype follows the data (nilearn keeps int16).
    assert ours.get_data_dtype() == np.float32
    assert not new_img_like(ref, data).header["descrip"]  # copy_header=False by default
    np.testing.assert_array_equal(new_img_like(ref, data, affine=np.eye(4)).affine, np.eye(4))


def test_new_img_like_reference_errors():
    with pytest.raises(TypeError, match="reference image list is empty"):
        new_img_like([], np.zeros((2, 2, 2)))
    with pytest.raises(TypeError, match="Expected a NIfTI image"):
        new_img_like(object(), np.zeros((2, 2, 2)))


def test_describe_img_names():
    assert describe_img("/a/b.nii.gz") == "/a/b.nii.gz"
    img = nib.Nifti1Image(np.zeros((2, 3, 4), np.float32), np.eye(4))
    assert describe_img(img) == "in-memory Nifti1Image of shape (2, 3, 4)"


# -- field of view ----------------------------------------------------------------


@pytest.mark.parametrize(
    "shift, entry",
    [(1e-4, (0, 3)), (2e-4, (0, 3)), (2.9e-4, (0, 3)), (5e-4, (0, 3)), (1e-6, (0, 1)), (0.0, (0, 0))],
)
def test_check_same_fov_matches_nilearn_tolerance(shift, entry):
    a = nib.Nifti1Image(np.zeros((4, 5, 6), np.float32), _affine())
    affine_b = _affine()
    affine_b[entry] += shift
    b = nib.Nifti1Image(np.zeros((4, 5, 6, 2), np.float32), affine_b)
    assert check_same_fov(a, b) == nilearn_check_same_fov(a, b)
    assert check_same_fov(a, ((4, 5, 6), affine_b)) == nilearn_check_same_fov(a, b)


def test_check_same_fov_shape():
    a = nib.Nifti1Image(np.zeros((4, 5, 6), np.float32), _affine())
    assert not check_same_fov(a, ((4, 5, 7), _affine()))
    assert not check_same_fov(((4, 5, 6), _affine()), ((4, 5, 6), np.eye(3)))


def test_check_strict_affine_quirk_band():
    """1e-4 passes; 2e-4 and 2.9e-4 pass allclose but fail the strict check (section 0.2)."""
    shape = (4, 5, 6)
    assert STRICT_AFFINE_TOLERANCE == pytest.approx(1.1920929e-4)
    for shift, strict_ok in ((1e-4, True), (2e-4, False), (2.9e-4, False)):
        shifted = _affine()
        shifted[0, 3] += shift
        assert check_same_fov((shape, _affine()), (shape, shifted))
        if strict_ok:
            check_strict_affine(_affine(), shifted, shape, shape)
        else:
            with pytest.raises(ValueError, match=r"^Images have different affine matrices\.$"):
                check_strict_affine(_affine(), shifted, shape, shape)


def test_check_strict_affine_errors_and_names():
    with pytest.raises(ValueError, match=r"^Images have incompatible shapes\. \(\(4, 5, 6\) vs \(4, 5, 7\)\)"):
        check_strict_affine(_affine(), _affine(), (4, 5, 6, 10), (4, 5, 7))
    with pytest.raises(ValueError, match=r"Images have different affine matrices\. \(atlas\.nii vs bold\.nii\)"):
        check_strict_affine(_affine(), np.eye(4), (4, 5, 6), (4, 5, 6), name_a="atlas.nii", name_b="bold.nii")
    with pytest.raises(ValueError, match="Images have different affine matrices"):
        check_strict_affine(_affine(), np.eye(3), (4, 5, 6), (4, 5, 6))
    check_strict_affine(_affine(), _affine(), (4, 5, 6, 3), (4, 5, 6))


# -- chunked reading ------------------------------------------------------------------


