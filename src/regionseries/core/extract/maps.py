"""The maps operator: least-squares region signals from probabilistic maps.

:class:`MapsOperator` holds the map weights on the data grid as a sparse
K x V float64 matrix (built from a 4D array, chunk by chunk or from sparse
weights) and fits the maps to each volume by least squares, as nilearn's
``NiftiMapsMasker`` (``scipy.linalg.lstsq``): through a Cholesky factor of
the small K x K normal matrix when it is well conditioned, through the SVD of
the maps (minimum-norm solution) otherwise (:func:`_least_squares_solver`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy  # submodules load on first use: a job with nothing left to do never imports them

from .base import _Operator
from .bound import _Bound, _BoundLinear
from .grid import _as_grid, _keep_columns

#: Condition number of the maps' normal matrix above which the least-squares
#: fit falls back from the normal equations to an SVD of the maps.
_NORMAL_EQUATIONS_MAX_CONDITION = 1e8


class MapsOperator(_Operator):
    """Least-squares region signals from probabilistic maps on the data grid.

    For each volume ``y`` (restricted to the voxels where at least one map is
    non-zero, inside the mask), the region signals ``x`` minimise
    ``||M x - y||``, as nilearn's ``NiftiMapsMasker`` (``scipy.linalg.lstsq``).
    With ``A = M^T`` (K x n, sparse) and ``G = A A^T`` (K x K), the solution is
    ``G^-1 (A y)``: each chunk costs one sparse product and a K x K solve. The
    solve is in float64. When ``G`` is ill-conditioned (condition number above
    1e8) the pseudo-inverse of the maps (SVD, float64) is used instead, which
    gives the minimum-norm solution as LAPACK ``gelsd`` does.

    Parameters
    ----------
    maps : numpy.ndarray, shape (X, Y, Z, K) or (X, Y, Z)
        Map weights on the data grid. Non-finite values are set to 0.
    affine : array-like, shape (4, 4)
    names : sequence of str or None
        Map names (default ``"map 0"``...).
    allow_overlap : bool, default=True
        If False, any voxel where two maps are non-zero raises an error naming
        the overlapping pairs. (nilearn also zeroes negative weights in that
        case; this operator does not change the weights.)
    smoothing_fwhm : float, sequence, "fast" or None, default=None
        Spatial smoothing (mm), composed into ``A``.
    source_name : str, default="maps image"
    """

    kind = "maps"
    reduction = "lstsq"

    def __init__(
        self,
        maps: np.ndarray,
        affine,
        *,
        names=None,
        allow_overlap: bool = True,
        smoothing_fwhm=None,
        source_name: str = "maps image",
    ):
        maps = np.asarray(maps)
        if maps.ndim == 3:
            maps = maps[..., np.newaxis]
        if maps.ndim != 4:
            raise ValueError(f"{source_name}: maps must be 3D or 4D, got shape {maps.shape}.")
        self._setup(maps.shape[:3], affine, _sparse_maps(maps), names, smoothing_fwhm, source_name)
        self._finish_init(allow_overlap, source_name)

    def _setup(self, shape, affine, weights, names, smoothing_fwhm, source_name):
        n_maps = weights.shape[0]
        if names is None:
            names = [f"map {i}" for i in range(n_maps)]
        elif len(names) != n_maps:
            raise ValueError(f"{source_name}: {len(names)} names for {n_maps} maps.")
        super().__init__(shape, affine, names, list(range(n_maps)), smoothing_fwhm, source_name)
        self._weights = weights

    @classmethod
    def from_chunks(
        cls,
        chunks,
        shape,
        affine,
        *,
        names=None,
        allow_overlap: bool = True,
        smoothing_fwhm=None,
        source_name: str = "maps image",
    ) -> MapsOperator:
        """Build the operator from maps already on the data grid, given a few at a time.

        The same operator as ``MapsOperator(np.concatenate(list(chunks), axis=3), affine)``,
        but only one chunk is held at a time besides the sparse weights.
        :func:`regionseries.core.atlas_images.maps_operator` feeds it the maps
        of a file, resampled chunk by chunk.

        Parameters
        ----------
        chunks : iterable of numpy.ndarray, shape (X, Y, Z, c)
            Consecutive maps on the grid ``shape``.
        shape : sequence of 3 int
        affine : array-like, shape (4, 4)
        names, allow_overlap, smoothing_fwhm, source_name
            As for :class:`MapsOperator`.
        """
        shape, affine = _as_grid(shape, affine)
        parts = []
        for data in chunks:
            data = np.asarray(data)
            if data.ndim == 3:
                data = data[..., np.newaxis]
            if tuple(data.shape[:3]) != tuple(shape):
                raise ValueError(f"{source_name}: maps of shape {data.shape[:3]} for a grid of shape {shape}.")
            parts.append(_sparse_maps(data))
        if not parts:
            raise ValueError(f"{source_name}: no maps.")
        return cls.from_weights(scipy.sparse.vstack(parts, format="csr"), shape, affine, names=names,
                                allow_overlap=allow_overlap, smoothing_fwhm=smoothing_fwhm, source_name=source_name)

    @classmethod
    def from_weights(
        cls,
        weights,
        shape,
        affine,
        *,
        names=None,
        allow_overlap: bool = True,
        smoothing_fwhm=None,
        source_name: str = "maps image",
    ) -> MapsOperator:
        """Build the operator from the sparse map weights on the data grid.

        The same operator as ``MapsOperator(maps, affine)`` when ``weights``
        holds the finite non-zero values of ``maps`` (K maps on a grid of V
        voxels) as a K x V matrix, voxels in Fortran order (``i + X*j + X*Y*k``).
        :func:`regionseries.core.atlas_images.maps_operator` builds them map by
        map without a map ever on the whole grid.

        Parameters
        ----------
        weights : scipy.sparse matrix, shape (K, V)
        shape : sequence of 3 int
        affine : array-like, shape (4, 4)
        names, allow_overlap, smoothing_fwhm, source_name
            As for :class:`MapsOperator`.
        """
        shape, affine = _as_grid(shape, affine)
        n_voxels = int(np.prod(shape))
        if weights.shape[1] != n_voxels:
            raise ValueError(f"{source_name}: weights over {weights.shape[1]} voxels for a grid of shape {shape}.")
        if weights.shape[0] == 0:
            raise ValueError(f"{source_name}: no maps.")
        weights = scipy.sparse.csr_matrix(weights, dtype=np.float64)
        weights.sort_indices()
        operator = cls.__new__(cls)
        operator._setup(shape, affine, weights, names, smoothing_fwhm, source_name)
        operator._finish_init(allow_overlap, source_name)
        return operator

    def _finish_init(self, allow_overlap, source_name):
        self.allow_overlap = bool(allow_overlap)
        self.weight_totals = np.asarray(abs(self._weights).sum(axis=1)).ravel()
        if not np.any(self.weight_totals > 0):
            raise ValueError(f"maps_img contains no map. ({source_name})")
        self.missing_regions = [n for n, t in zip(self.names, self.weight_totals) if t == 0]

    def bind(self, mask=None) -> _Bound:
        mask_flat = self._mask_flat(mask)
        weights = self._weights
        if mask_flat is not None:
            weights = _keep_columns(weights, mask_flat)
        totals = np.asarray(abs(weights).sum(axis=1)).ravel()
        kept = np.flatnonzero(totals > 0)
        if len(kept) == 0:
            raise ValueError(
                f"No map left after applying mask to the maps image ({self.source_name})."
            )
        if not self.allow_overlap:
            self._check_overlap(weights)
        solve = _least_squares_solver(weights[kept])
        n_regions = self.n_regions

        def post(projected, kept=kept, solve=solve, n_regions=n_regions):
            # Rows of maps dropped by the mask are empty; only kept maps are fitted.
            out = np.full((n_regions, projected.shape[1]), np.nan)
            out[kept] = solve(projected[kept])
            return out

        bound = self._bind_linear_with_smoothing(_BoundLinear(weights, post))
        bound.empty = totals == 0
        support_counts = np.diff(weights.indptr)
        return self._finish_bound(bound, abs(weights), self.weight_totals, support_counts)

    def _check_overlap(self, weights: scipy.sparse.csr_matrix) -> None:
        support = scipy.sparse.csr_matrix(weights, copy=True)
        support.data = np.ones_like(support.data)
        shared = (support @ support.T).tocoo()
        pairs = sorted(
            (int(i), int(j), int(n))
            for i, j, n in zip(shared.row, shared.col, shared.data)
            if i < j and n > 0
        )
        if pairs:
            described = "; ".join(
                f"{self.names[i]!r} and {self.names[j]!r} share {n} voxel{'s' * (n > 1)}"
                for i, j, n in pairs[:20]
            )
            raise ValueError(
                "Overlap detected in the maps. The overlap may be due to the atlas "
                f"itself or possibly introduced by resampling: {described}. "
                "Use allow_overlap=True to extract overlapping maps."
            )

    @property
    def maps_matrix(self) -> scipy.sparse.csr_matrix:
        """Sparse K x V matrix of the map weights (float64, Fortran voxel order)."""
        return self._weights


def _sparse_maps(maps: np.ndarray) -> scipy.sparse.csr_matrix:
    """K x V float64 CSR of the finite non-zero weights of 4D maps, map by map.

    Each map is scanned on its own (contiguous in a Fortran-ordered array),
    which is much faster than ``np.nonzero`` on the (V x K) view and needs
    no V x K temporary.
    """
    n_maps = maps.shape[3]
    indptr = np.zeros(n_maps + 1, dtype=np.int64)
    indices, data = [], []
    for k in range(n_maps):
        one = maps[..., k].reshape(-1, order="F")
        voxels = np.flatnonzero(one)  # NaN counts as non-zero here, then is dropped
        values = one[voxels].astype(np.float64)
        finite = np.isfinite(values)
        indices.append(voxels[finite])
        data.append(values[finite])
        indptr[k + 1] = indptr[k] + int(finite.sum())
    n_voxels = int(np.prod(maps.shape[:3]))
    if n_maps == 0:
        return scipy.sparse.csr_matrix((0, n_voxels))
    return scipy.sparse.csr_matrix(
        (np.concatenate(data), np.concatenate(indices), indptr), shape=(n_maps, n_voxels)
    )


def _least_squares_solver(weights: scipy.sparse.csr_matrix) -> Callable[[np.ndarray], np.ndarray]:
    """Solver turning ``A y`` (K x c) into least-squares coefficients (K x c).

    ``A`` is the K x n matrix of map weights on their support. Well-conditioned
    maps use a Cholesky factor of ``G = A A^T``; ill-conditioned ones use the
    SVD of ``A`` (pseudo-inverse with gelsd's default relative cutoff).
    """
    gram = np.asarray((weights @ weights.T).todense(), dtype=float)
    eigenvalues = np.linalg.eigvalsh(gram)
    largest = eigenvalues[-1]
    smallest = eigenvalues[0]
    if smallest > 0 and largest / smallest < _NORMAL_EQUATIONS_MAX_CONDITION:
        factor = scipy.linalg.cho_factor(gram, lower=True)
        return lambda projected: scipy.linalg.cho_solve(factor, projected)
    # Rank-deficient or ill-conditioned: minimum-norm least squares via the
    # SVD of the dense (n x K) maps. The right singular vectors let us map
    # A y directly: x = V S^-2 V^T (A y), restricted to the kept singular values.
    dense = weights.T.toarray()
    _, singular, vt = np.linalg.svd(dense, full_matrices=False)
    cutoff = np.finfo(float).eps * max(dense.shape) * singular[0]
    kept = singular > cutoff
    projector = (vt[kept].T / singular[kept] ** 2) @ vt[kept]
    return lambda projected: projector @ projected
