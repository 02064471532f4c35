"""Bound operators: an operator restricted to one run's brain mask.

:meth:`regionseries.core.extract.base._Operator.bind` turns an operator into
one of these per run; they are what the one-pass engine
(:mod:`regionseries.core.extract.stream`) feeds with blocks of voxel values
(voxels x volumes, float64):

* :class:`_BoundLinear` -- ``post(W @ data)`` for a sparse region x voxel
  ``W`` (labels ``mean``/``sum``, spheres, maps with their least-squares
  solve as ``post``);
* :class:`_BoundGroups` -- non-linear summaries (median, minimum, maximum,
  variance, standard deviation) over per-region voxel groups.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy  # submodules load on first use: a job with nothing left to do never imports them

from .grid import _positions_in, _sorted_union


class _Bound:
    """An operator restricted to one run's mask, ready for the pass.

    Attributes set by subclasses: ``support`` (sorted flat voxel indices read
    by ``compute``), ``coverage_weights`` (sparse K x V, unsmoothed, masked),
    ``coverage_totals`` (K,), ``n_regions``, ``empty`` (bool per region: no
    voxel to average), ``n_voxels`` (K,), ``source`` (None for raw data or
    the fwhm of an explicitly smoothed copy).
    """

    source = None

    def relocate(self, union: np.ndarray) -> None:
        """Re-express voxel indices as positions in the sorted ``union``."""
        raise NotImplementedError

    def compute(self, block: np.ndarray) -> np.ndarray:
        """Region values (c x K) from the union block (n_union x c, float64)."""
        raise NotImplementedError


class _BoundLinear(_Bound):
    """``signals = post(W @ data)`` for a sparse W (K x V)."""

    def __init__(self, weights: scipy.sparse.csr_matrix, post: Callable | None = None):
        self.weights = scipy.sparse.csr_matrix(weights)
        self.support = _sorted_union([self.weights.indices], self.weights.shape[1])
        self.post = post

    def relocate(self, union):
        cols = _positions_in(union, self.weights.indices, self.weights.shape[1])
        self.local = scipy.sparse.csr_matrix(
            (self.weights.data, cols, self.weights.indptr),
            shape=(self.weights.shape[0], len(union)),
        )

    def compute(self, block):
        return self.finish(self.local @ block)

    def finish(self, projected: np.ndarray) -> np.ndarray:
        """Region values (c x K) from the projection ``W @ block`` (K x c)."""
        if self.post is not None:
            projected = self.post(projected)
        return np.asarray(projected).T


class _BoundGroups(_Bound):
    """Non-linear summaries over per-region voxel groups."""

    def __init__(self, voxels_per_region: list[np.ndarray], reduction: str):
        self.reduction = reduction
        self.groups = voxels_per_region
        self.support = (
            np.unique(np.concatenate(voxels_per_region))
            if voxels_per_region
            else np.zeros(0, dtype=np.int64)
        )  # groups are disjoint per region; unique only sorts them

    def relocate(self, union):
        counts = np.array([len(g) for g in self.groups], dtype=np.int64)
        self.nonempty = np.flatnonzero(counts)
        order = [np.searchsorted(union, self.groups[k]) for k in self.nonempty]
        self.positions = np.concatenate(order) if order else np.zeros(0, np.int64)
        self.counts = counts[self.nonempty]
        self.starts = np.concatenate([[0], np.cumsum(self.counts)[:-1]]).astype(np.int64)

    def compute(self, block):
        n_regions = len(self.groups)
        out = np.full((block.shape[1], n_regions), np.nan)
        if len(self.nonempty) == 0:
            return out
        grouped = block[self.positions]
        if self.reduction == "minimum":
            values = np.minimum.reduceat(grouped, self.starts, axis=0)
        elif self.reduction == "maximum":
            values = np.maximum.reduceat(grouped, self.starts, axis=0)
        elif self.reduction in ("variance", "standard_deviation"):
            sums = np.add.reduceat(grouped, self.starts, axis=0)
            means = sums / self.counts[:, None]
            centred = grouped - np.repeat(means, self.counts, axis=0)
            values = np.add.reduceat(centred * centred, self.starts, axis=0)
            values /= self.counts[:, None]
            if self.reduction == "standard_deviation":
                values = np.sqrt(values)
        elif self.reduction == "median":
            values = np.empty((len(self.nonempty), block.shape[1]))
            for k, (start, count) in enumerate(zip(self.starts, self.counts)):
                values[k] = np.median(grouped[start : start + count], axis=0)
        else:  # pragma: no cover - reductions are validated at construction
            raise ValueError(f"Unknown reduction {self.reduction!r}.")
        out[:, self.nonempty] = values.T
        return out
