"""The atlas drawn in a run's report is the atlas extracted on that run's grid."""

import nibabel as nib
import numpy as np
import pandas as pd

from regionseries.atlases.base import Atlas
from regionseries.core.image import resample_img
from regionseries.pipeline import atlas_image_on_grid
from regionseries.report.figures import strongest_map_index


def _atlas(kind, image, n_regions):
    table = pd.DataFrame({"index": np.arange(1, n_regions + 1), "name": [f"r{k}" for k in range(n_regions)]})
    return Atlas(name=f"test{kind}", kind=kind, spec=str(image), table=table, image=image)


def _maps(path):
    rng = np.random.default_rng(3)
    maps = rng.random((12, 14, 10, 5)).astype(np.float32) ** 6
    img = nib.Nifti1Image(maps, np.diag([2.0, 2.0, 2.0, 1.0]))
    nib.save(img, path)
    return img


def test_maps_are_reduced_to_the_strongest_of_the_resampled_maps(tmp_path):
    img = _maps(tmp_path / "maps.nii.gz")
    target_affine = np.array([[3.0, 0, 0, 1.0], [0, 3.0, 0, -1.0], [0, 0, 3.0, 0.5], [0, 0, 0, 1]])
    target_shape = (8, 9, 7)
    on_grid = atlas_image_on_grid(_atlas("maps", tmp_path / "maps.nii.gz", 5), target_shape + (30,), target_affine)
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
    on_grid = atlas_image_on_grid(_atlas("labels", tmp_path / "labels.nii.gz", 2), (8, 9, 7, 30), affine)
    expected = np.asarray(resample_img(img, affine, (8, 9, 7), interpolation="nearest").dataobj)
    np.testing.assert_array_equal(np.asarray(on_grid.dataobj), expected.astype(np.int32))


def test_spheres_have_no_overlay_image(tmp_path):
    spheres = Atlas(name="s", kind="spheres", spec="s", table=pd.DataFrame({"index": [1], "name": ["a"]}),
                    coordinates=np.zeros((1, 3)), radius=5.0)
    assert atlas_image_on_grid(spheres, (8, 9, 7, 30), np.eye(4)) is None


def test_the_overlay_reuses_the_runs_operator_from_the_work_folder(tmp_path, count_calls):
    """No second resampling: the report loads the operator the run built (another process's too)."""
    from regionseries.pipeline import operators

    _maps(tmp_path / "maps.nii.gz")
    atlas = _atlas("maps", tmp_path / "maps.nii.gz", 5)
    affine = np.diag([3.0, 3.0, 3.2, 1.0])
    cache_dir = tmp_path / "work" / "operators"
    built = count_calls(operators, "_new_operator")
    operators.build_operator(atlas, (8, 9, 7), affine, None, cache_dir=cache_dir)  # the run
    operators._OPERATOR_CACHE.clear()  # as in the main process, when a worker ran the run
    first = atlas_image_on_grid(atlas, (8, 9, 7, 30), affine, None, cache_dir)
    assert len(built) == 1
    operators._OPERATOR_CACHE.clear()
    atlas_image_on_grid(atlas, (8, 9, 6, 30), affine, None, cache_dir)  # another grid: built
    assert len(built) == 2
    assert first.shape == (8, 9, 7)
