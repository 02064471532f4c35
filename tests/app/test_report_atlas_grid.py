"""The atlas drawn in a run's report is the atlas on that run's grid."""

import nibabel as nib
import numpy as np

from regionseries.core.image import resample_img
from regionseries.pipeline import _atlas_on_grid
from regionseries.report.figures import strongest_map_index


class _Atlas:
    def __init__(self, kind, image):
        self.kind, self.image = kind, image


def _maps(path):
    rng = np.random.default_rng(3)
    maps = rng.random((12, 14, 10, 5)).astype(np.float32) ** 6
    img = nib.Nifti1Image(maps, np.diag([2.0, 2.0, 2.0, 1.0]))
    nib.save(img, path)
    return img


def test_maps_are_reduced_map_by_map_to_the_strongest(tmp_path):
    img = _maps(tmp_path / "maps.nii.gz")
    target_affine = np.array([[3.0, 0, 0, 1.0], [0, 3.0, 0, -1.0], [0, 0, 3.0, 0.5], [0, 0, 0, 1]])
    target_shape = (8, 9, 7)
    on_grid = _atlas_on_grid(_Atlas("maps", tmp_path / "maps.nii.gz"), target_shape + (30,), target_affine)
    whole = resample_img(img, target_affine, target_shape, interpolation="linear")
    assert on_grid.shape == target_shape
    np.testing.assert_array_equal(on_grid.get_fdata(), strongest_map_index(np.asarray(whole.dataobj)))
    np.testing.assert_array_equal(on_grid.affine, target_affine)


def test_labels_are_resampled_with_nearest_neighbours(tmp_path):
    labels = np.zeros((12, 14, 10), np.int16)
    labels[:6], labels[6:, :7] = 1, 2
    img = nib.Nifti1Image(labels, np.diag([2.0, 2.0, 2.0, 1.0]))
    nib.save(img, tmp_path / "labels.nii.gz")
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    on_grid = _atlas_on_grid(_Atlas("labels", tmp_path / "labels.nii.gz"), (8, 9, 7, 30), affine)
    expected = np.asarray(resample_img(img, affine, (8, 9, 7), interpolation="nearest").dataobj)
    np.testing.assert_array_equal(np.asarray(on_grid.dataobj), expected.astype(np.int32))
    assert _atlas_on_grid(_Atlas("spheres", None), (8, 9, 7, 30), affine) is None


def test_runs_on_one_grid_share_the_resampled_atlas(tmp_path):
    _maps(tmp_path / "maps.nii.gz")
    atlas = _Atlas("maps", tmp_path / "maps.nii.gz")
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    first = _atlas_on_grid(atlas, (8, 9, 7, 30), affine)
    assert _atlas_on_grid(atlas, (8, 9, 7, 120), affine.copy()) is first
    assert _atlas_on_grid(atlas, (8, 9, 6, 30), affine) is not first


def test_reading_the_maps_once_not_once_per_map(tmp_path, count_calls):
    """Each map used to be read with dataobj[..., k], which decompresses a .nii.gz from its start."""
    from regionseries.core import reader

    _maps(tmp_path / "maps.nii.gz")
    opened = count_calls(reader, "open_decompressed")
    _atlas_on_grid(_Atlas("maps", tmp_path / "maps.nii.gz"), (8, 9, 7, 30), np.diag([3.0, 3.1, 3.0, 1.0]))
    assert len(opened) == 1


def test_later_jobs_read_the_overlay_from_the_work_folder(tmp_path, count_calls):
    from regionseries.pipeline import _atlas_image_on_grid
    from regionseries.report import figures

    computed = count_calls(figures, "strongest_map_index")
    _maps(tmp_path / "maps.nii.gz")
    atlas = _Atlas("maps", tmp_path / "maps.nii.gz")
    affine = np.diag([3.0, 3.0, 3.2, 1.0])
    cache_dir = tmp_path / "work" / "atlas-cache"
    first = _atlas_on_grid(atlas, (8, 9, 7, 30), affine, cache_dir)
    assert len(list(cache_dir.glob("report-maps-overlay-*.npy"))) == 1
    _atlas_image_on_grid.cache_clear()  # as in a new process
    second = _atlas_on_grid(atlas, (8, 9, 7, 30), affine, cache_dir)
    assert len(computed) == 1
    np.testing.assert_array_equal(np.asarray(second.dataobj), np.asarray(first.dataobj))
    np.testing.assert_array_equal(second.affine, affine)
    _atlas_image_on_grid.cache_clear()
    _atlas_on_grid(atlas, (8, 9, 6, 30), affine, cache_dir)  # another grid: computed
    assert len(computed) == 2
