"""Which map of a probabilistic atlas is strongest at each voxel (what an overlay of maps shows)."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse

__all__ = ["strongest_map_index", "strongest_map_index_of_weights"]


def strongest_map_index(maps: Any, min_fraction: float = 0.1) -> np.ndarray:
    """1-based index of the strongest map at each voxel (0 where none counts), map by map.

    A map "counts" at a voxel when its absolute weight there is at least
    ``min_fraction`` of its own peak; the strongest is the largest such
    relative weight. Maps are read one at a time, so a large set (e.g. DiFuMo
    1024 on a 2 mm grid) never has to be held as one 4D array.

    Parameters
    ----------
    maps : numpy.ndarray (x, y, z, n) or iterable of 3D arrays
    min_fraction : float

    Returns
    -------
    numpy.ndarray of int32, 3D
    """
    if isinstance(maps, np.ndarray) and maps.ndim == 4:
        stack = maps
        maps = (stack[..., k] for k in range(stack.shape[3]))
    best = strongest = None
    for position, one_map in enumerate(maps):
        magnitude = np.abs(np.nan_to_num(np.asarray(one_map, dtype=np.float32)))
        peak = float(magnitude.max()) if magnitude.size else 0.0
        relative = magnitude / peak if peak > 0 else np.zeros_like(magnitude)
        if best is None:
            best = np.zeros(relative.shape, dtype=np.float32)
            strongest = np.zeros(relative.shape, dtype=np.int32)
        better = (relative > best) & (relative >= min_fraction)
        best[better] = relative[better]
        strongest[better] = position + 1
    if strongest is None:
        raise ValueError("strongest_map_index needs at least one map")
    return strongest


def strongest_map_index_of_weights(weights, shape: tuple[int, int, int], min_fraction: float = 0.1) -> np.ndarray:
    """:func:`strongest_map_index` of maps given as a sparse (maps × voxels) matrix.

    The maps of an extraction operator
    (:attr:`regionseries.core.extract.MapsOperator.maps_matrix`, voxels in
    Fortran order): only each map's non-zero weights are visited, so DiFuMo
    1024 on a 2 mm grid takes milliseconds, not the seconds of 1024 dense maps.

    Parameters
    ----------
    weights : scipy.sparse matrix, shape (n_maps, X * Y * Z)
    shape : tuple of 3 int
        The grid.
    min_fraction : float

    Returns
    -------
    numpy.ndarray of int32, 3D
    """
    weights = sparse.csr_matrix(weights)
    n_voxels = int(np.prod(shape))
    if weights.shape[1] != n_voxels:
        raise ValueError(f"weights have {weights.shape[1]} voxels, the grid {shape} has {n_voxels}")
    best = np.zeros(n_voxels, dtype=np.float32)
    strongest = np.zeros(n_voxels, dtype=np.int32)
    for position in range(weights.shape[0]):
        row = slice(weights.indptr[position], weights.indptr[position + 1])
        voxels = weights.indices[row]
        magnitude = np.abs(np.nan_to_num(weights.data[row].astype(np.float32)))
        peak = float(magnitude.max()) if magnitude.size else 0.0
        if peak <= 0:
            continue
        relative = magnitude / np.float32(peak)
        better = (relative > best[voxels]) & (relative >= min_fraction)
        best[voxels[better]] = relative[better]
        strongest[voxels[better]] = position + 1
    return strongest.reshape(shape, order="F")
