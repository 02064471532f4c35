"""resample_img within the bounding box of each volume's non-zero voxels (``regionseries.core.image``).

With nearest or linear interpolation a volume that is zero outside a small box
is resampled over the target voxels near that box only. These tests compare it
with a straightforward full-grid ``scipy.ndimage.affine_transform`` of every
volume (nilearn's per-volume step, written out here independently) on 1 mm
atlases taken to coarser grids: RAS and LAS storage, oblique and
axis-permuting affines, a target grid partly outside the image, maps touching
the image's edges (where mode "constant" is discontinuous), empty maps, uint8
0-255, int16 with ``scl_slope``, and NaN (which keeps the full-grid route).
Weights must agree within 1e-6 and be non-zero at the same voxels.
"""

from __future__ import annotations

import warnings

import nibabel as nib
import numpy as np
import pytest
from scipy import linalg
from scipy.ndimage import affine_transform

from regionseries.core.image import (
    _BOX_MAX_SHARE,
    _resampling_transform,
    _target_box,
    get_data,
    nonzero_bounds,
    resample_img,
)

SOURCE_SHAPE = (30, 34, 28)
#: 1 mm RAS source grid.
SOURCE_RAS = np.array([[1.0, 0, 0, -15], [0, 1.0, 0, -17], [0, 0, 1.0, -14], [0, 0, 0, 1]])
#: The same field of view stored right to left (FSL's LAS).
SOURCE_LAS = np.array([[-1.0, 0, 0, 14], [0, 1.0, 0, -17], [0, 0, 1.0, -14], [0, 0, 0, 1]])
#: Axes permuted and flipped (as FreeSurfer-derived atlases are stored).
SOURCE_PERMUTED = np.array([[-1.0, 0, 0, 14], [0, 0, 1.0, -17], [0, -1.0, 0, 13], [0, 0, 0, 1]])


def _rotation(degrees_z, degrees_x=0.0):
    z, x = np.deg2rad(degrees_z), np.deg2rad(degrees_x)
    around_z = np.array([[np.cos(z), -np.sin(z), 0], [np.sin(z), np.cos(z), 0], [0, 0, 1]])
    around_x = np.array([[1, 0, 0], [0, np.cos(x), -np.sin(x)], [0, np.sin(x), np.cos(x)]])
    return around_z @ around_x


def _grid(zooms, origin, shape, rotation=None):
    affine = np.eye(4)
    affine[:3, :3] = (np.eye(3) if rotation is None else rotation) @ np.diag(zooms)
    affine[:3, 3] = origin
    return affine, shape


#: Target grids: (affine, shape).
TARGETS = {
    # Integer source coordinates: target voxels land exactly on the image's edges.
    "2mm_aligned": _grid((2.0, 2.0, 2.0), (-15, -17, -14), (15, 17, 14)),
    # Half-voxel coordinates: weights of exactly 0.5.
    "2mm_half_voxel": _grid((2.0, 2.0, 2.0), (-14.5, -16.5, -13.5), (15, 17, 14)),
    "2.7mm_anisotropic": _grid((2.7, 3.1, 2.3), (-15.2, -16.9, -13.6), (12, 12, 13)),
    "2mm_las": _grid((-2.0, 2.0, 2.0), (14, -17, -14), (15, 17, 14)),
    "2mm_oblique": _grid((2.0, 2.0, 2.0), (-16, -18, -15), (18, 19, 16), _rotation(9.0, -6.0)),
    # A wider grid than the image on every side, shifted: partly outside the image.
    "3mm_partly_outside": _grid((3.0, 3.0, 3.0), (-30, -9, -40), (22, 20, 24)),
}


def _maps(shape=SOURCE_SHAPE, seed=0):
    """Blobs (percentages, 0-100) with sharp edges; two touch the image's faces; one map is empty."""
    rng = np.random.default_rng(seed)
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1)
    last = np.array(shape) - 1
    centres = [rng.uniform(5, last - 5) for _ in range(6)]
    centres += [np.array([0, shape[1] / 2, shape[2] / 2]), np.array([last[0], last[1], 3.0])]  # on the edges
    maps = np.zeros(shape + (len(centres) + 1,))
    for k, centre in enumerate(centres):
        value = np.exp(-np.sum((ijk - centre) ** 2, axis=-1) / rng.uniform(3, 8)) * rng.uniform(60, 100)
        value[value < 4] = 0
        maps[..., k] = np.round(value)
    assert np.all(maps[..., -1] == 0)
    assert np.any(maps[0, :, :, 6] > 0) and np.any(maps[-1, -1, :, 7] > 0)
    return maps


def _reference(data, source_affine, target_affine, target_shape, order):
    """Every volume interpolated over the whole target grid (nilearn's per-volume step)."""
    transform = np.dot(linalg.inv(source_affine), target_affine)
    matrix, offset = transform[:3, :3], transform[:3, 3]
    if np.all(np.diag(np.diag(matrix)) == matrix):
        matrix = np.diag(matrix)
    out = np.zeros(tuple(target_shape) + data.shape[3:], dtype=data.dtype, order="F")
    for k in range(data.shape[3]):
        affine_transform(data[..., k], matrix, offset=offset, output_shape=tuple(target_shape),
                         output=out[..., k], order=order, mode="constant", cval=0.0)
    return out


def _resampled(img, target_affine, target_shape, interpolation):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # binary maps
        return np.asarray(get_data(resample_img(img, target_affine, target_shape, interpolation=interpolation)))


def _assert_close_same_support(ours, reference):
    assert ours.dtype == reference.dtype
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(ours != 0, reference != 0)


def _stored_as(maps, source_affine, source_shape=SOURCE_SHAPE):
    """The maps as stored in a file whose affine is ``source_affine`` (same world positions as SOURCE_RAS)."""
    voxel_to_voxel = np.round(np.linalg.inv(source_affine) @ SOURCE_RAS).astype(int)
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in source_shape], indexing="ij"), axis=-1).reshape(-1, 3)
    moved = ijk @ voxel_to_voxel[:3, :3].T + voxel_to_voxel[:3, 3]
    shape_out = tuple(np.abs(voxel_to_voxel[:3, :3]) @ np.array(source_shape))
    stored = np.zeros(shape_out + maps.shape[3:])
    stored[tuple(moved.T)] = maps[tuple(ijk.T)]
    return stored


@pytest.mark.parametrize("source", ["ras", "las", "permuted"])
@pytest.mark.parametrize("target", list(TARGETS))
@pytest.mark.parametrize("interpolation", ["linear", "nearest"])
def test_box_route_equals_the_full_grid(source, target, interpolation):
    source_affine = {"ras": SOURCE_RAS, "las": SOURCE_LAS, "permuted": SOURCE_PERMUTED}[source]
    maps = _stored_as(_maps(), source_affine).astype(np.float32)
    target_affine, target_shape = TARGETS[target]
    order = {"linear": 1, "nearest": 0}[interpolation]
    ours = _resampled(nib.Nifti1Image(maps, source_affine), target_affine, target_shape, interpolation)
    reference = _reference(maps, source_affine, target_affine, target_shape, order)
    _assert_close_same_support(ours, reference)
    assert np.count_nonzero(reference.reshape(-1, maps.shape[3]), axis=0)[:6].min() > 0
    # The interior maps do take the box route (a small part of the target grid each).
    matrix, offset = _resampling_transform(source_affine, target_affine)
    for k in range(6):
        (lower, upper), _ = nonzero_bounds(maps[..., k])
        box = _target_box(lower, upper, matrix, offset, target_shape)
        assert np.prod([part.stop - part.start for part in box]) <= _BOX_MAX_SHARE * np.prod(target_shape)


def test_values_are_bit_identical_to_the_full_grid():
    """Beyond the 1e-6 of the contract: the same float operations as scipy's full-grid pass.

    Should a scipy release change the order of operations of its coordinates
    (``NI_ZoomShift`` / ``NI_GeometricTransform``), this test says so: update
    ``_box_coordinates`` to match (the 1e-6 tests above would still hold).
    """
    maps = _maps().astype(np.float64)
    for target_affine, target_shape in TARGETS.values():
        ours = _resampled(nib.Nifti1Image(maps, SOURCE_RAS), target_affine, target_shape, "linear")
        np.testing.assert_array_equal(ours, _reference(maps, SOURCE_RAS, target_affine, target_shape, 1))


def test_uint8_0_to_255_and_int16_with_scl_slope(tmp_path):
    maps = _maps()
    as_255 = np.round(maps * 2.55).astype(np.uint8)
    assert as_255.max() > 200
    target_affine, target_shape = TARGETS["2mm_oblique"]
    ours = _resampled(nib.Nifti1Image(as_255, SOURCE_LAS), target_affine, target_shape, "nearest")
    _assert_close_same_support(ours, _reference(as_255, SOURCE_LAS, target_affine, target_shape, 0))

    scaled = nib.Nifti1Image(maps / 100, SOURCE_RAS)
    scaled.set_data_dtype(np.int16)
    scaled.header.set_slope_inter(1 / 32000, 0)
    path = tmp_path / "maps_int16.nii.gz"
    nib.save(scaled, path)
    loaded = get_data(nib.load(path))
    assert loaded.dtype.kind == "f" and nib.load(path).dataobj.slope != 1
    for target in ("2mm_half_voxel", "2.7mm_anisotropic"):
        target_affine, target_shape = TARGETS[target]
        ours = _resampled(nib.load(path), target_affine, target_shape, "linear")
        _assert_close_same_support(ours, _reference(loaded, SOURCE_RAS, target_affine, target_shape, 1))


@pytest.mark.filterwarnings("ignore:Resampling binary images")  # the empty map
def test_nan_keeps_nilearns_full_grid_route():
    """Non-finite values are filled from their neighbours and set back to NaN (over the whole grid)."""
    maps = _maps().astype(np.float32)
    maps[11, 11, 11, 0] = np.nan  # odd: a target voxel of the half-voxel grid reads it nearest
    maps[5, 5, 5, 1] = np.inf
    target_affine, target_shape = TARGETS["2mm_half_voxel"]
    with pytest.warns(RuntimeWarning, match="NaNs or infinite values"):
        ours = np.asarray(get_data(resample_img(nib.Nifti1Image(maps, SOURCE_RAS), target_affine, target_shape,
                                                interpolation="linear")))
    assert np.isnan(ours[..., 0]).any() and np.isnan(ours[..., 1]).any()
    clean = np.nan_to_num(maps, posinf=0)
    reference = _reference(clean[..., 2:], SOURCE_RAS, target_affine, target_shape, 1)
    _assert_close_same_support(ours[..., 2:], reference)


def test_empty_and_binary_maps_warn_as_nilearn():
    maps = np.zeros(SOURCE_SHAPE + (2,), dtype=np.float32)
    maps[4:9, 5:11, 6:10, 1] = 1
    target_affine, target_shape = TARGETS["2mm_aligned"]
    with pytest.warns(UserWarning, match="Resampling binary images"):
        ours = np.asarray(get_data(resample_img(nib.Nifti1Image(maps, SOURCE_RAS), target_affine, target_shape,
                                                interpolation="linear")))
    assert not ours[..., 0].any()
    _assert_close_same_support(ours, _reference(maps, SOURCE_RAS, target_affine, target_shape, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resample_img(nib.Nifti1Image(maps, SOURCE_RAS), target_affine, target_shape, interpolation="nearest")


def test_a_map_outside_the_target_grid_is_zero():
    maps = np.zeros(SOURCE_SHAPE + (1,), dtype=np.float32)
    maps[25:29, 2:5, 2:5, 0] = 50  # x from +10 mm: beyond the target's last voxel (x = -1 mm)
    target_affine, target_shape = _grid((2.0, 2.0, 2.0), (-15, -17, -14), (8, 17, 14))
    ours = _resampled(nib.Nifti1Image(maps, SOURCE_RAS), target_affine, target_shape, "linear")
    assert not ours.any()
    _assert_close_same_support(ours, _reference(maps, SOURCE_RAS, target_affine, target_shape, 1))


def test_nonzero_bounds():
    volume = np.zeros((6, 7, 8), dtype=np.int16)
    assert nonzero_bounds(volume) == (None, True)
    volume[1, 2, 3] = -4
    volume[4, 5, 6] = 2
    (lower, upper), finite = nonzero_bounds(volume)
    assert finite and lower.tolist() == [1, 2, 3] and upper.tolist() == [4, 5, 6]
    as_float = volume.astype(np.float32)
    as_float[0, 6, 7] = np.nan
    (lower, upper), finite = nonzero_bounds(as_float)
    assert not finite and lower.tolist() == [0, 2, 3] and upper.tolist() == [4, 6, 7]
    as_float[0, 6, 7] = -0.0
    assert nonzero_bounds(as_float)[0][1].tolist() == [4, 5, 6]
