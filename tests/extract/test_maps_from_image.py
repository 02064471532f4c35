"""MapsOperator built map by map (issue 6: memory and time of the operator build).

``MapsOperator.from_image`` reads the maps a few at a time (and resamples
them chunk by chunk) instead of holding the 4D image; it must give exactly
the operator built from the whole resampled array, including the clipping
of spline overshoot to the range of the whole image.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from regionseries.core.extract import MapsOperator, extract_signals
from regionseries.core.image import resample_img

SHAPE = (14, 15, 13)
AFFINE_2MM = np.array([[2.0, 0, 0, -14], [0, 2.0, 0, -15], [0, 0, 2.0, -13], [0, 0, 0, 1]])


def _maps(n_maps=7, seed=3):
    rng = np.random.default_rng(seed)
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in SHAPE], indexing="ij"), axis=-1)
    maps = np.zeros(SHAPE + (n_maps,), dtype=np.float32)
    for k in range(n_maps):
        centre = rng.uniform(3, 10, 3)
        value = np.exp(-np.sum((ijk - centre) ** 2, axis=-1) / 6.0) * rng.uniform(0.5, 1.7)
        value[value < 0.05] = 0  # sharp edges: spline overshoot when resampled
        maps[..., k] = value
    return maps


def _same(a: MapsOperator, b: MapsOperator):
    assert a.shape == b.shape
    np.testing.assert_array_equal(a.affine, b.affine)
    assert a.names == b.names
    difference = a.maps_matrix != b.maps_matrix
    assert difference.nnz == 0
    np.testing.assert_array_equal(a.weight_totals, b.weight_totals)


@pytest.mark.parametrize("chunk_maps", [1, 3, 7, 20])
def test_same_grid_equals_the_array_constructor(tmp_path, chunk_maps):
    maps = _maps()
    maps[2, 3, 4, 1] = np.nan  # non-finite weights are dropped by both
    path = tmp_path / "maps.nii.gz"
    nib.save(nib.Nifti1Image(maps, AFFINE_2MM), path)
    names = [f"m{k}" for k in range(maps.shape[3])]
    expected = MapsOperator(maps, AFFINE_2MM, names=names)
    built = MapsOperator.from_image(path, names=names, chunk_maps=chunk_maps)
    _same(expected, built)
    assert built.source_name.endswith("maps.nii.gz")
    assert built.maps_matrix[1, np.ravel_multi_index((2, 3, 4), SHAPE, order="F")] == 0


@pytest.mark.parametrize("interpolation", ["continuous", "linear", "nearest"])
def test_other_grid_equals_resampling_the_4d_image(interpolation):
    maps = _maps()
    img = nib.Nifti1Image(maps, AFFINE_2MM)
    target_affine = np.array([[3.0, 0, 0, -14.5], [0, 3.0, 0, -15], [0, 0, 3.0, -12], [0, 0, 0, 1]])
    target_shape = (10, 10, 9)
    whole = resample_img(img, target_affine=target_affine, target_shape=target_shape,
                         interpolation=interpolation)
    expected = MapsOperator(np.asarray(whole.dataobj).astype(np.float32), target_affine)
    built = MapsOperator.from_image(img, target_shape, target_affine, interpolation=interpolation,
                                    chunk_maps=2)
    _same(expected, built)


def test_signals_equal_on_a_series(tmp_path):
    maps = _maps()
    rng = np.random.default_rng(0)
    data = (rng.standard_normal(SHAPE + (9,)) * 5 + 100).astype(np.float32)
    bold = tmp_path / "bold.nii.gz"
    nib.save(nib.Nifti1Image(data, AFFINE_2MM), bold)
    maps_path = tmp_path / "maps.nii.gz"
    nib.save(nib.Nifti1Image(maps, AFFINE_2MM), maps_path)
    a, b = extract_signals(bold, [MapsOperator(maps, AFFINE_2MM), MapsOperator.from_image(maps_path)])
    np.testing.assert_array_equal(a.signals, b.signals)


def test_errors():
    empty = nib.Nifti1Image(np.zeros(SHAPE + (3,), dtype=np.float32), AFFINE_2MM)
    with pytest.raises(ValueError, match=r"maps_img contains no map\. \(<in-memory Nifti1Image>\)"):
        MapsOperator.from_image(empty)
    with pytest.raises(ValueError, match=r"atlas X: 2 names for 7 maps\."):
        MapsOperator.from_image(nib.Nifti1Image(_maps(), AFFINE_2MM), names=["a", "b"], source_name="atlas X")
    with pytest.raises(FileNotFoundError, match="maps image not found: /nonexistent/maps.nii.gz"):
        MapsOperator.from_image("/nonexistent/maps.nii.gz")
