"""resample_img / resample_to_img against nilearn 0.14.1: bit-identical arrays and dtypes.

Grids: 1 mm → 2 mm and 2 mm → 3 mm, diagonal and oblique target affines, 3D and 4D,
float32 with NaN/inf, int16, scaled int16 on disk, and nilearn's own MNI152 templates
(uint8, 1 mm) read in place from its wheel.
"""

from __future__ import annotations

import warnings

import nibabel as nib
import numpy as np
import pytest
from nilearn import image as nilearn_image

from regionseries.core.image import get_data, resample_img, resample_to_img

INTERPOLATIONS = ("continuous", "linear", "nearest")


def _grid(voxel, offset, shape, rotation_deg=0.0):
    affine = np.diag([voxel, voxel, voxel, 1.0])
    if rotation_deg:
        angle = np.deg2rad(rotation_deg)
        rotation = np.array(
            [[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]]
        )
        affine[:3, :3] = rotation @ affine[:3, :3]
    affine[:3, 3] = offset
    return affine, shape


SOURCE_1MM = _grid(1.0, (-12.0, -14.0, -10.0), (24, 28, 20))
SOURCE_2MM = _grid(2.0, (-24.0, -28.0, -20.0), (24, 28, 20))
TARGETS = {
    "1mm_to_2mm": (SOURCE_1MM, _grid(2.0, (-11.0, -13.0, -9.0), (13, 15, 11))),
    "1mm_to_2mm_oblique": (SOURCE_1MM, _grid(2.0, (-10.0, -12.0, -9.0), (13, 15, 11), rotation_deg=7.0)),
    "2mm_to_3mm": (SOURCE_2MM, _grid(3.0, (-22.5, -27.0, -19.5), (17, 19, 14))),
    "2mm_to_3mm_oblique": (SOURCE_2MM, _grid(3.0, (-20.0, -25.0, -18.0), (17, 19, 14), rotation_deg=-11.0)),
}


def _smooth_field(shape, n_volumes, seed):
    rng = np.random.default_rng(seed)
    i, j, k = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    base = 100 * np.exp(-(i**2 + j**2 + k**2) * 2)
    volumes = [base * (1 + 0.1 * t) + rng.normal(0, 5, shape) for t in range(n_volumes)]
    return np.stack(volumes, axis=-1)


def _quiet(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return func(*args, **kwargs)


def _assert_same(ours, theirs):
    ours_data = np.asanyarray(ours.dataobj)
    theirs_data = np.asanyarray(theirs.dataobj)
    assert ours_data.dtype == theirs_data.dtype
    assert ours.shape == theirs.shape
    np.testing.assert_array_equal(ours.affine, theirs.affine)
    assert np.array_equal(ours_data, theirs_data, equal_nan=True)


def _source(kind, grid, tmp_path):
    affine, shape = grid
    if kind == "float32_3d_nan":
        data = _smooth_field(shape, 1, 0)[..., 0].astype(np.float32)
        data[5, 6, 7] = np.nan
        data[6:8, 10, 4] = np.nan
        data[0, 0, 0] = np.inf
        return nib.Nifti1Image(data, affine)
    if kind == "float32_4d_nan":
        data = _smooth_field(shape, 3, 1).astype(np.float32)
        data[9, 9, 9, 1] = np.nan
        return nib.Nifti1Image(data, affine)
    if kind == "int16":
        return nib.Nifti1Image(_smooth_field(shape, 1, 2)[..., 0].astype(np.int16), affine)
    if kind == "scaled_int16_4d_file":
        data = _smooth_field(shape, 2, 3).astype(np.int16)
        img = nib.Nifti1Image(data, affine, dtype=np.int16)
        img.header.set_slope_inter(0.5, -3.0)
        path = tmp_path / "scaled.nii.gz"
        nib.save(img, path)
        return str(path)
    raise AssertionError(kind)


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("grids", list(TARGETS), ids=list(TARGETS))
@pytest.mark.parametrize("kind", ["float32_3d_nan", "float32_4d_nan", "int16", "scaled_int16_4d_file"])
def test_resample_img_bit_identical(kind, grids, interpolation, tmp_path):
    source_grid, (target_affine, target_shape) = TARGETS[grids]
    source = _source(kind, source_grid, tmp_path)
    theirs = _quiet(
        nilearn_image.resample_img, source, target_affine=target_affine, target_shape=target_shape,
        interpolation=interpolation, force_resample=True, copy_header=True,
    )
    ours = _quiet(resample_img, source, target_affine, target_shape, interpolation=interpolation)
    _assert_same(ours, theirs)


@pytest.mark.parametrize("clip", [True, False])
def test_resample_to_img_matches_nilearn_and_defaults_to_no_clip(clip):
    (affine, shape), _ = TARGETS["2mm_to_3mm_oblique"]
    target_affine, target_shape = _grid(1.0, (-20.0, -25.0, -18.0), (30, 34, 28), rotation_deg=5.0)
    data = np.zeros(shape, np.float32)
    data[6:14, 8:18, 5:12] = 100.0  # a sharp box: cubic splines overshoot when upsampling
    source = nib.Nifti1Image(data, affine)
    target = nib.Nifti1Image(np.zeros(target_shape + (4,), np.float32), target_affine)
    theirs = _quiet(nilearn_image.resample_to_img, source, target, clip=clip, force_resample=True, copy_header=True)
    ours = _quiet(resample_to_img, source, target, clip=clip)
    _assert_same(ours, theirs)
    default = _quiet(resample_to_img, source, target)
    _assert_same(_quiet(resample_to_img, source_img=source, target_img=target), default)  # nilearn's names
    _assert_same(default, _quiet(nilearn_image.resample_to_img, source, target, force_resample=True, copy_header=True))
    overshoot = np.asanyarray(default.dataobj)
    assert overshoot.max() > data.max()  # no clipping by default, as nilearn


@pytest.mark.parametrize(
    "template, target, interpolation",
    [
        ("mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz", _grid(2.0, (-96.0, -132.0, -78.0), (97, 115, 97)), "continuous"),
        ("mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",
         _grid(3.0, (-90.0, -126.0, -72.0), (61, 73, 61), rotation_deg=4.0), "linear"),
    ],
    ids=["t1_1mm_to_2mm_continuous", "gm_1mm_to_3mm_oblique_linear"],
)
def test_resample_real_mni152_templates(nilearn_data_dir, template, target, interpolation):
    path = str(nilearn_data_dir / template)
    target_affine, target_shape = target
    theirs = _quiet(
        nilearn_image.resample_img, path, target_affine=target_affine, target_shape=target_shape,
        interpolation=interpolation, force_resample=True, copy_header=True,
    )
    ours = _quiet(resample_img, path, target_affine, target_shape, interpolation=interpolation)
    _assert_same(ours, theirs)


def test_identity_shortcut_copies_unless_asked():
    affine, shape = SOURCE_2MM
    data = _smooth_field(shape, 1, 0)[..., 0].astype(np.int16)
    img = nib.Nifti1Image(data, affine)
    nearly = affine.copy()
    nearly[0, 3] += 1e-7  # within allclose: no interpolation, no dtype change
    same = resample_img(img, nearly, shape, interpolation="continuous")
    assert get_data(same).dtype == np.int16
    np.testing.assert_array_equal(get_data(same), data)
    assert not np.shares_memory(get_data(same), data)
    assert resample_img(img, nearly, shape, copy=False) is img


def test_identical_affine_different_shape_uses_identity_transform():
    affine, shape = SOURCE_2MM
    data = _smooth_field(shape, 1, 0)[..., 0].astype(np.float32)
    img = nib.Nifti1Image(data, affine)
    bigger = (shape[0] + 3, shape[1], shape[2] - 2)
    ours = resample_img(img, affine, bigger, interpolation="continuous")
    theirs = _quiet(nilearn_image.resample_img, img, target_affine=affine, target_shape=bigger,
                    force_resample=True, copy_header=True)
    _assert_same(ours, theirs)
    np.testing.assert_array_equal(get_data(ours)[: shape[0], :, :], data[:, :, : bigger[2]])


def test_uint8_continuous_keeps_uint8_like_nilearn():
    """Only signed integers are cast to float for splines (nilearn checks dtype.kind == 'i')."""
    affine, shape = SOURCE_2MM
    data = np.clip(_smooth_field(shape, 1, 0)[..., 0], 0, 255).astype(np.uint8)
    img = nib.Nifti1Image(data, affine)
    target_affine, target_shape = TARGETS["2mm_to_3mm"][1]
    ours = resample_img(img, target_affine, target_shape)
    assert get_data(ours).dtype == np.uint8
    _assert_same(ours, _quiet(nilearn_image.resample_img, img, target_affine=target_affine,
                              target_shape=target_shape, force_resample=True, copy_header=True))


def test_fill_value_outside_field_of_view():
    affine, shape = SOURCE_2MM
    img = nib.Nifti1Image(np.ones(shape, np.float32), affine)
    shifted = affine.copy()
    shifted[0, 3] += 2.0 * (shape[0] - 4)
    ours = resample_img(img, shifted, shape, interpolation="nearest", fill_value=-1, clip=False)
    theirs = _quiet(nilearn_image.resample_img, img, target_affine=shifted, target_shape=shape,
                    interpolation="nearest", fill_value=-1, clip=False, force_resample=True, copy_header=True)
    _assert_same(ours, theirs)
    assert (get_data(ours) == -1).any()


# -- warnings -----------------------------------------------------------------


def test_warnings():
    affine, shape = SOURCE_2MM
    target_affine, target_shape = TARGETS["2mm_to_3mm"][1]
    int_img = nib.Nifti1Image(np.full(shape, 3, np.int16), affine)
    with pytest.warns(UserWarning, match="Casting data from int16 to float32"):
        resample_img(int_img, target_affine, target_shape)
    binary = nib.Nifti1Image((np.arange(np.prod(shape)).reshape(shape) % 2).astype(np.float32), affine)
    with pytest.warns(UserWarning, match="Resampling binary images with continuous or linear"):
        resample_img(binary, target_affine, target_shape, interpolation="linear")
    with_nan = np.full(shape, 2.0, np.float32)
    with_nan[3, 4, 5] = np.nan
    nan_img = nib.Nifti1Image(with_nan, affine)
    with pytest.warns(RuntimeWarning, match="NaNs or infinite values are present"):
        resample_img(nan_img, target_affine, target_shape)
    no_sform = nib.Nifti1Image(np.full(shape, 2.0, np.float32), affine)
    no_sform.header.set_sform(None, code=0)
    with pytest.warns(UserWarning, match="has no sform in its header"):
        resample_img(no_sform, target_affine, target_shape)


# -- errors --------------------------------------------------------------------


def _file_with_singular_sform(path, shape):
    """A .nii whose sform has a zero row (nibabel refuses to build such an image itself)."""
    nib.save(nib.Nifti1Image(np.ones(shape, np.float32), np.eye(4)), path)
    with open(path, "r+b") as stream:
        header = nib.Nifti1Header.from_fileobj(stream)
        header["srow_y"] = [0.0, 0.0, 0.0, 5.0]
        header["qform_code"] = 0
        stream.seek(0)
        stream.write(header.binaryblock)
    return path


def test_errors_name_the_problem(tmp_path):
    affine, shape = SOURCE_2MM
    img = nib.Nifti1Image(np.ones(shape, np.float32), affine)
    with pytest.raises(ValueError, match="interpolation must be one of 'continuous', 'linear' or 'nearest', got 'cubic'"):
        resample_img(img, affine, shape, interpolation="cubic")
    with pytest.raises(ValueError, match=r"should be the shape of the 3D grid.*\(4, 5\) was specified"):
        resample_img(img, affine, (4, 5))
    with pytest.raises(ValueError, match="target shape must be positive"):
        resample_img(img, affine, (4, 0, 5))
    with pytest.raises(ValueError, match="affine of the target grid must be 4x4"):
        resample_img(img, np.eye(3), shape)
    singular_target = affine.copy()
    singular_target[2, 2] = 0
    with pytest.raises(ValueError, match="affine of the target grid is singular"):
        resample_img(img, singular_target, shape)
    path = _file_with_singular_sform(tmp_path / "flat_affine.nii", shape)
    with pytest.raises(ValueError, match=r"affine of image .*flat_affine\.nii is singular"):
        resample_img(path, affine, shape)
    nan_affine = affine.copy()
    nan_affine[0, 3] = np.nan
    with pytest.raises(ValueError, match="target grid contains non-finite values"):
        resample_img(img, nan_affine, shape)
    far = affine.copy()
    far[:3, 3] += 10_000.0
    with pytest.raises(ValueError, match="does not contain any of the data of in-memory Nifti1Image"):
        resample_img(img, far, shape)
