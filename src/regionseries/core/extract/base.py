"""The base class of the extraction operators: grid, region names, mask, smoothing.

:class:`_Operator` holds what the three operators
(:class:`~regionseries.core.extract.labels.LabelsOperator`,
:class:`~regionseries.core.extract.spheres.SpheresOperator`,
:class:`~regionseries.core.extract.maps.MapsOperator`) share: the data grid
(shape and affine, mm), unique region names, the check of a run's mask
against the grid, and the composition of a linear bound operator with the
spatial smoothing (``W S``, ``fwhm`` in mm) or, when that is not possible
(``"fast"``), the request for an explicitly smoothed copy of the data.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy  # submodules load on first use: a job with nothing left to do never imports them

from .bound import _Bound, _BoundLinear
from .grid import _as_grid
from .smoothing import (
    _adjoint_smooth_rows,
    _smoothing_is_composable,
    _smoothing_matrices,
)


def _format_names(names: Sequence[str], limit: int = 20) -> str:
    shown = ", ".join(repr(str(name)) for name in list(names)[:limit])
    if len(names) > limit:
        shown += f", ... ({len(names)} in total)"
    return shown


class _Operator:
    """Common parts of the three operators (grid, names, smoothing)."""

    kind = ""
    reduction = "mean"

    def __init__(self, shape, affine, names, region_ids, smoothing_fwhm, source_name):
        self.shape, self.affine = _as_grid(shape, affine)
        self.names = [str(name) for name in names]
        self.region_ids = list(region_ids)
        if len(set(self.names)) != len(self.names):
            duplicated = sorted({n for n in self.names if self.names.count(n) > 1})
            raise ValueError(
                f"{source_name}: region names must be unique; repeated: "
                f"{_format_names(duplicated)}."
            )
        self.smoothing_fwhm = smoothing_fwhm
        self.source_name = source_name

    @property
    def n_regions(self) -> int:
        """Number of regions (output columns)."""
        return len(self.names)

    @property
    def n_voxels_grid(self) -> int:
        return int(np.prod(self.shape))

    def _mask_flat(self, mask: np.ndarray | None) -> np.ndarray | None:
        if mask is None:
            return None
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != self.shape:
            raise ValueError(
                f"{self.source_name}: mask of shape {mask.shape} does not match the "
                f"operator's grid {self.shape}."
            )
        return mask.reshape(-1, order="F")

    def _compose(self, bound: _BoundLinear, fwhm) -> _BoundLinear:
        """Compose the weights with the smoothing (``W S``)."""
        if fwhm is None:
            return bound
        matrices = _smoothing_matrices(self.shape, self.affine, fwhm)
        if all(m is None for m in matrices):
            return bound
        composed = _BoundLinear(_adjoint_smooth_rows(bound.weights, self.shape, matrices), bound.post)
        return composed

    def bind(self, mask=None) -> _Bound:
        """Restrict the operator to a run's brain mask.

        Parameters
        ----------
        mask : numpy.ndarray of bool, shape = operator grid, or None
            Voxels inside the brain.

        Returns
        -------
        _Bound
            The object :func:`extract_signals` feeds with data blocks.
        """
        raise NotImplementedError

    def _finish_bound(self, bound: _Bound, coverage_weights, coverage_totals, n_voxels):
        bound.coverage_weights = scipy.sparse.csr_matrix(coverage_weights)
        bound.coverage_totals = np.asarray(coverage_totals, dtype=float)
        bound.n_voxels = np.asarray(n_voxels, dtype=np.int64)
        bound.n_regions = self.n_regions
        return bound

    def _bind_linear_with_smoothing(self, bound: _BoundLinear) -> _Bound:
        fwhm = self.smoothing_fwhm
        if fwhm is None:
            return bound
        if _smoothing_is_composable(fwhm):
            composed = self._compose(bound, fwhm)
            return composed
        bound.source = fwhm
        return bound
