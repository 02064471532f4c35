"""An atlas off the reference's grid is put on it by the extraction operators' path (core.atlas_images)."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from regionseries.core.atlas_images import labels_on_grid, load_labels_img
from regionseries.core.image import resample_img
from regionseries.demo import write_demo_atlas
from regionseries.report.raster import overlays, strongest_map_index


def _rotation_z(degrees: float) -> np.ndarray:
    angle = np.deg2rad(degrees)
    return np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])


def _reference_grids() -> dict[str, tuple[tuple[int, int, int], np.ndarray]]:
    """BOLD-like grids the 3 mm demo atlas is not on: LAS with a half-voxel shift, oblique."""
    las = np.diag([-2.5, 2.5, 2.5, 1.0])
    # Decimal origins half a voxel of the atlas away from its centres: many target voxel
    # centres fall half-way between two atlas voxels (ties, rounded by floating point).
    las[:3, 3] = [88.1 - 1.5, -124.7 + 1.5, -70.3 + 4.5]
    oblique = np.eye(4)
    oblique[:3, :3] = _rotation_z(8.0) @ np.diag([3.3, 3.3, 2.7])
    oblique[:3, 3] = [-70.2, -100.4, -55.1]
    return {"LAS 2.5 mm, half-voxel shift": ((70, 84, 64), las),
            "oblique 3.3 x 3.3 x 2.7 mm": ((46, 58, 60), oblique)}


@pytest.fixture(scope="module")
def demo_atlas(tmp_path_factory):
    image, _ = write_demo_atlas(tmp_path_factory.mktemp("atlas"), voxel_size=3.0)
    return load_labels_img(image)


def _reference(shape, affine) -> np.ndarray:
    return np.random.default_rng(0).uniform(10, 100, shape)


def _canonical_data(data: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """``data`` reoriented to RAS by nibabel (independently of the report's own reorientation)."""
    return np.asarray(nib.as_closest_canonical(nib.Nifti1Image(data, affine)).dataobj)


@pytest.mark.parametrize("grid", list(_reference_grids()))
def test_labels_overlay_shows_the_operators_labels(demo_atlas, grid):
    shape, affine = _reference_grids()[grid]
    labels = np.asarray(demo_atlas.dataobj)
    values = np.arange(1, 21)
    volumes = overlays.overlay_volumes(labels, demo_atlas.affine, _reference(shape, affine), affine, 7,
                                       label_values=values)
    operator_labels = np.asarray(labels_on_grid(demo_atlas, shape, affine).dataobj)
    expected = overlays._region_indices(_canonical_data(operator_labels, affine), values)
    assert volumes.indices.shape == expected.shape
    assert set(np.unique(expected)) == set(range(21))  # every region on the grid
    np.testing.assert_array_equal(volumes.indices, expected)


@pytest.mark.parametrize("grid", list(_reference_grids()))
def test_maps_overlay_shows_the_strongest_of_the_maps_resampled_by_the_core(demo_atlas, grid):
    shape, affine = _reference_grids()[grid]
    labels = np.asarray(demo_atlas.dataobj)
    weights = np.random.default_rng(1).uniform(0.5, 1.0, labels.shape).astype(np.float32)
    maps = np.stack([np.where(labels == value, weights, 0) for value in (1, 2, 5, 11, 20)], axis=-1)
    maps[labels == 3, 0] = np.nan  # shown as 0, as before
    volumes = overlays.overlay_volumes(maps, demo_atlas.affine, _reference(shape, affine), affine, 7)
    finite = np.nan_to_num(maps)
    on_grid = resample_img(nib.Nifti1Image(finite, demo_atlas.affine), affine, shape, interpolation="nearest")
    expected = strongest_map_index(_canonical_data(np.asarray(on_grid.dataobj), affine))
    assert set(np.unique(expected)) == set(range(6))
    np.testing.assert_array_equal(volumes.indices, expected)


def test_an_atlas_wholly_off_the_grid_shows_no_regions(demo_atlas):
    shape, affine = _reference_grids()["LAS 2.5 mm, half-voxel shift"]
    far = demo_atlas.affine.copy()
    far[:3, 3] += [0, -1000, 0]  # resample_img refuses it (nilearn's error); nothing shows
    volumes = overlays.overlay_volumes(np.asarray(demo_atlas.dataobj), far, _reference(shape, affine), affine, 7,
                                       label_values=np.arange(1, 21))
    assert volumes.indices.shape == (70, 84, 64) and not volumes.indices.any()


def test_resample_nearest_keeps_64_bit_labels_exact_without_warnings(recwarn):
    labels = np.arange(4 * 5 * 6, dtype=np.int64).reshape(4, 5, 6) * 1000
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    shifted = affine.copy()
    shifted[:3, 3] = [2.0, 0.0, 0.0]
    moved = overlays._resample_nearest(labels, affine, labels.shape, shifted)
    np.testing.assert_array_equal(moved[:-1], labels[1:])
    assert not moved[-1].any()
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]
