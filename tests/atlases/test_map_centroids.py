"""Weighted centres of probabilistic maps, against a direct computation."""

from __future__ import annotations

import numpy as np

from regionseries.atlases.base import map_centroids


def direct_centroids(maps: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Weighted mean of the mm coordinates of every voxel with positive weight."""
    result = np.full((maps.shape[3], 3), np.nan)
    for k in range(maps.shape[3]):
        weights = np.nan_to_num(maps[..., k].astype(float))
        ijk = np.argwhere(weights > 0)
        if len(ijk) == 0:
            continue
        w = weights[weights > 0]
        xyz = ijk @ affine[:3, :3].T + affine[:3, 3]
        result[k] = (xyz * w[:, None]).sum(axis=0) / w.sum()
    return result


def test_map_centroids_match_direct_computation():
    rng = np.random.default_rng(7)
    maps = rng.normal(size=(9, 11, 7, 4)).astype(np.float32)
    maps[..., 1] = np.nan  # all NaN: no centre
    maps[2, 3, 4, 2] = np.nan  # one NaN counts as 0
    maps[..., 3] = -np.abs(maps[..., 3])  # only negative: no centre
    maps[5, 5, 5, 3] = 2.0  # ... but one positive voxel
    affine = np.array([[-2.0, 0.1, 0, 90], [0.2, 2.0, 0, -126], [0, 0, 2.5, -72], [0, 0, 0, 1]])
    centres = map_centroids(maps, affine)
    expected = direct_centroids(maps, affine)
    np.testing.assert_allclose(centres, expected, rtol=0, atol=1e-9)
    assert np.isnan(centres[1]).all()
    np.testing.assert_allclose(centres[3], affine[:3, :3] @ [5, 5, 5] + affine[:3, 3])


def test_single_3d_map():
    volume = np.zeros((5, 5, 5))
    volume[1, 2, 3] = 1.0
    volume[3, 2, 3] = 3.0
    centre = map_centroids(volume, np.eye(4))
    np.testing.assert_allclose(centre, [[2.5, 2.0, 3.0]])


def test_maps_much_smaller_than_the_image():
    """Centres from the box of each map's non-zero voxels: blobs, NaN and negative voxels far from them, empty maps."""
    rng = np.random.default_rng(3)
    maps = np.zeros((40, 44, 36, 4), dtype=np.float32)
    maps[3:9, 30:41, 2:7, 0] = rng.uniform(0, 80, (6, 11, 5))
    maps[39, 43, 35, 1] = 5.0  # one voxel, in the last corner
    maps[0, 0, 0, 1] = np.nan  # far away: counts as 0
    maps[20:23, 5:7, 30:34, 1] = -rng.uniform(1, 3, (3, 2, 4))  # ignored
    affine = np.array([[-1.0, 0, 0, 20], [0, 1.0, 0, -22], [0, 0, 1.0, -18], [0, 0, 0, 1]])
    centres = map_centroids(maps, affine)
    np.testing.assert_allclose(centres, direct_centroids(maps, affine), rtol=0, atol=1e-9)
    np.testing.assert_allclose(centres[1], affine[:3, :3] @ [39, 43, 35] + affine[:3, 3])
    assert np.isnan(centres[2:]).all()
    as_uint8 = np.round(np.nan_to_num(np.clip(maps, 0, None))).astype(np.uint8)
    np.testing.assert_allclose(map_centroids(as_uint8, affine, read_as=np.float32),
                               direct_centroids(as_uint8, affine), rtol=0, atol=1e-9)
