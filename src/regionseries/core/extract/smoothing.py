"""Spatial smoothing as linear algebra on the grid, to compose into the weights.

nilearn smooths every volume (a separable Gaussian, reflecting boundaries,
truncated at 4 sigma; :func:`regionseries.core.image.smooth_array`). For a
linear operator with weights ``W`` (regions x voxels) that is the same as
applying ``W S`` to the raw volume, so the smoothing is folded into the
weights once per run instead of costing a filter per volume. This module
holds the explicit 1-D smoothing matrices (one per axis, ``fwhm`` in mm) and
the product of sparse weight rows with their Kronecker product.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy  # submodules load on first use: a job with nothing left to do never imports them

from ..image import smooth_array
from .grid import _flat_f_index, _ijk_from_flat


def _smoothing_matrices(shape, affine, fwhm) -> list[np.ndarray | None]:
    """Explicit 1-D smoothing matrices (n_axis x n_axis), one per spatial axis.

    Column ``j`` of the matrix of axis ``a`` is the response of
    :func:`regionseries.core.image.smooth_array` to an impulse at ``j`` along
    that axis, so ``S_z ⊗ S_y ⊗ S_x`` *is* the smoothing that nilearn applies
    (Gaussian, reflecting boundaries, truncated at 4 sigma). ``None`` marks an
    axis that is not smoothed.
    """
    per_axis = np.asarray([fwhm], dtype=object).ravel()
    if per_axis.size == 1:
        per_axis = np.repeat(per_axis, 3)
    if per_axis.size != 3:
        raise ValueError(
            f"fwhm must be one value or one value per spatial axis (3), got {fwhm!r}."
        )
    matrices: list[np.ndarray | None] = []
    for axis, axis_fwhm in enumerate(per_axis):
        if axis_fwhm is None or float(axis_fwhm) == 0.0:
            matrices.append(None)
            continue
        n = shape[axis]
        impulses_shape = [1, 1, 1, n]
        impulses_shape[axis] = n
        impulses = np.zeros(impulses_shape)
        index = [0, 0, 0, slice(None)]
        index[axis] = slice(None)
        impulses[tuple(index)] = np.eye(n)
        axis_only = [0.0, 0.0, 0.0]
        axis_only[axis] = float(axis_fwhm)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            response = smooth_array(impulses, affine, axis_only, ensure_finite=False)
        matrices.append(np.asarray(response[tuple(index)], dtype=float))
    return matrices


def _smoothing_is_composable(fwhm) -> bool:
    return fwhm is not None and not isinstance(fwhm, str)


def _adjoint_smooth_rows(
    weights: scipy.sparse.csr_matrix, shape: tuple[int, int, int], matrices
) -> scipy.sparse.csr_matrix:
    """Return ``weights @ S`` for the separable smoothing ``S`` (sparse rows).

    Each row of ``weights`` is a weight image over the grid; its product with
    ``S`` is the image smoothed by the transposed 1-D filters. Each row is
    processed on the bounding box of its support grown by the filters' reach.
    """
    weights = scipy.sparse.csr_matrix(weights)
    rows, cols, vals = [], [], []
    reach = [0 if m is None else _band(m) for m in matrices]
    for row in range(weights.shape[0]):
        start, stop = weights.indptr[row], weights.indptr[row + 1]
        if start == stop:
            continue
        ijk = _ijk_from_flat(weights.indices[start:stop], shape)
        low = ijk.min(axis=0)
        high = ijk.max(axis=0) + 1
        box = np.zeros(tuple(high - low))
        box[tuple((ijk - low).T)] = weights.data[start:stop]
        out_low, out_high = low.copy(), high.copy()
        for axis, matrix in enumerate(matrices):
            if matrix is None:
                continue
            out_low[axis] = max(0, low[axis] - reach[axis])
            out_high[axis] = min(shape[axis], high[axis] + reach[axis])
            block = matrix[low[axis] : high[axis], out_low[axis] : out_high[axis]]
            # (S^T w)_j = sum_i S[i, j] w_i along this axis.
            box = np.moveaxis(np.tensordot(block, box, axes=([0], [axis])), 0, axis)
        nonzero = np.nonzero(box)
        out_ijk = np.stack(nonzero, axis=1) + out_low
        rows.append(np.full(len(out_ijk), row))
        cols.append(_flat_f_index(out_ijk, shape))
        vals.append(box[nonzero])
    n_voxels = int(np.prod(shape))
    if not rows:
        return scipy.sparse.csr_matrix((weights.shape[0], n_voxels))
    return scipy.sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(weights.shape[0], n_voxels),
    )


def _band(matrix: np.ndarray) -> int:
    """Largest |i - j| with a non-zero entry of a square matrix."""
    i, j = np.nonzero(matrix)
    return int(np.max(np.abs(i - j))) if len(i) else 0
