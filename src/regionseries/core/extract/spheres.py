"""The spheres operator: the mean signal in spheres around seed coordinates.

:class:`SpheresOperator` selects, for each seed (world coordinates, mm), the
voxels of the data grid within ``radius`` mm plus the voxel nearest to the
seed, as nilearn's ``NiftiSpheresMasker`` does, and averages them; it can
refuse overlapping spheres and names empty ones. :func:`_validate_seeds`
checks a list of seeds the way nilearn does (the masker uses it too).
"""

from __future__ import annotations

import math

import numpy as np
import scipy  # submodules load on first use: a job with nothing left to do never imports them

from .base import _Operator
from .bound import _Bound, _BoundLinear
from .grid import _flat_f_index


class SpheresOperator(_Operator):
    """Mean signal in spheres around seeds, with nilearn's voxel selection.

    Selection for seed ``s`` (mm) on a grid with affine ``A``:

    1. the voxel nearest to the seed, ``round(inv(A) @ s)`` with numpy's
       round-half-to-even, if it is in the field of view (and the mask);
    2. every voxel whose centre is within ``radius`` mm of the seed
       (inclusive: squared distance <= radius**2).

    Parameters
    ----------
    seeds : array-like, shape (n_seeds, 3)
        Seed coordinates in world space (mm).
    radius : float or None
        Sphere radius (mm). None selects the nearest voxel only.
    shape, affine :
        The data grid.
    allow_overlap : bool, default=False
        If False, spheres sharing a voxel raise an error that names the pairs.
    names : sequence of str or None
        Seed names (default ``"seed 0"``, ``"seed 1"``...).
    smoothing_fwhm : float, sequence, "fast" or None, default=None
        Spatial smoothing (mm), composed into the weights.
    empty : {"raise", "nan"}, default="raise"
        What to do with a sphere that has no voxel in the field of view (or
        the mask): raise ``ValueError("These spheres are empty: ...")`` like
        nilearn, or give a NaN column with coverage 0.
    nilearn_truncation_quirk : bool, default=False
        Also add the first voxel (C order) whose world coordinates truncated
        toward zero equal the seed's truncated coordinates, as nilearn 0.14.1
        does (step 7 of its selection). This only changes the selection when
        the radius is below about 1.73 mm (or None). Off by default because
        the added voxel is not in the sphere; see
        ``docs/differences-from-nilearn.md``.
    source_name : str, default="spheres"
        Name for messages.
    """

    kind = "spheres"

    def __init__(
        self,
        seeds,
        radius,
        shape,
        affine,
        *,
        allow_overlap: bool = False,
        names=None,
        smoothing_fwhm=None,
        empty: str = "raise",
        nilearn_truncation_quirk: bool = False,
        source_name: str = "spheres",
    ):
        seeds = _validate_seeds(seeds)
        if radius is not None:
            radius = float(radius)
            if not np.isfinite(radius) or radius < 0:
                raise ValueError(f"radius must be a non-negative number of mm, got {radius}.")
        if empty not in ("raise", "nan"):
            raise ValueError(f"empty must be 'raise' or 'nan', got {empty!r}.")
        if names is None:
            names = [f"seed {i}" for i in range(len(seeds))]
        elif len(names) != len(seeds):
            raise ValueError(f"{len(names)} names for {len(seeds)} seeds.")
        super().__init__(shape, affine, names, list(range(len(seeds))), smoothing_fwhm, source_name)
        self.seeds = seeds
        self.radius = radius
        self.allow_overlap = bool(allow_overlap)
        self.empty_policy = empty
        self.nilearn_truncation_quirk = bool(nilearn_truncation_quirk)
        inverse = np.linalg.inv(self.affine)
        self._nearest = []  # flat index or None (outside the field of view)
        self._ball = []  # flat indices of in-FOV voxels within the radius
        self._quirk_candidates = []  # flat indices (C order first) of truncation matches
        self.lattice_counts = np.zeros(len(seeds), dtype=np.int64)
        for seed in seeds:
            nearest, ball, lattice_count, quirk = self._select(seed, inverse)
            self._nearest.append(nearest)
            self._ball.append(ball)
            self._quirk_candidates.append(quirk)
            self.lattice_counts[len(self._ball) - 1] = lattice_count

    def _select(self, seed, inverse):
        shape = np.asarray(self.shape)
        homogeneous = np.array([seed[0], seed[1], seed[2], 1.0])
        voxel = np.round(np.dot(inverse, homogeneous)[:3]).astype(int)
        nearest_in_fov = bool(np.all(voxel >= 0) and np.all(voxel < shape))
        nearest = int(_flat_f_index(voxel[None], self.shape)[0]) if nearest_in_fov else None
        # Voxel-space half-widths of the ball (plus slack for the quirk voxel).
        radius = 0.0 if self.radius is None else self.radius
        reach = radius + 2.0 * math.sqrt(3.0)
        centre = np.dot(inverse, homogeneous)[:3]
        half = reach * np.sqrt(np.sum(inverse[:3, :3] ** 2, axis=1)) + 1
        low = np.floor(centre - half).astype(int)
        high = np.ceil(centre + half).astype(int) + 1
        axes = [np.arange(lo, hi) for lo, hi in zip(low, high)]
        grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
        coords = np.vstack([grid.T, np.ones(len(grid))])
        world = np.dot(self.affine, coords)[:3].T
        squared = np.sum((world - np.asarray(seed)) ** 2, axis=1)
        inside_fov = np.all((grid >= 0) & (grid < shape), axis=1)
        if self.radius is None:
            in_ball = np.zeros(len(grid), dtype=bool)
        else:
            in_ball = squared <= self.radius**2
        lattice = in_ball.copy()
        lattice[np.all(grid == voxel, axis=1)] = True  # the nearest lattice point
        lattice_count = int(lattice.sum())
        ball = np.sort(_flat_f_index(grid[in_ball & inside_fov], self.shape))
        truncated_seed = np.trunc(np.asarray(seed))
        match = inside_fov & np.all(np.trunc(world) == truncated_seed, axis=1)
        matches = grid[match]
        if len(matches):
            c_order = np.ravel_multi_index(tuple(matches.T), self.shape)
            quirk = _flat_f_index(matches[np.argsort(c_order)], self.shape)
        else:
            quirk = np.zeros(0, dtype=np.int64)
        return nearest, ball, lattice_count, quirk

    def sphere_voxels(self, mask=None) -> list[np.ndarray]:
        """Flat Fortran-order voxel indices of each sphere (after masking).

        Parameters
        ----------
        mask : numpy.ndarray of bool or None
            Candidate voxels (nilearn's ``mask_img``); None: the whole grid.

        Returns
        -------
        list of numpy.ndarray
            Sorted voxel indices per seed (possibly empty).
        """
        mask_flat = self._mask_flat(mask)
        spheres = []
        for nearest, ball, quirk in zip(self._nearest, self._ball, self._quirk_candidates):
            voxels = ball if mask_flat is None else ball[mask_flat[ball]]
            extra = []
            if nearest is not None and (mask_flat is None or mask_flat[nearest]):
                extra.append(nearest)
            if self.nilearn_truncation_quirk:
                allowed = quirk if mask_flat is None else quirk[mask_flat[quirk]]
                if len(allowed):
                    extra.append(int(allowed[0]))
            if extra:
                voxels = np.union1d(voxels, np.asarray(extra, dtype=np.int64))
            spheres.append(np.asarray(voxels, dtype=np.int64))
        return spheres

    def _describe_seed(self, index: int) -> str:
        x, y, z = self.seeds[index]
        return f"{self.names[index]!r} at ({x:g}, {y:g}, {z:g}) mm"

    def membership(self, mask=None) -> tuple[scipy.sparse.csr_matrix, np.ndarray]:
        """Sphere-by-voxel 0/1 matrix and voxel count per sphere, checked.

        Parameters
        ----------
        mask : numpy.ndarray of bool or None
            See :meth:`sphere_voxels`.

        Returns
        -------
        membership : scipy.sparse.csr_matrix, (n_spheres, n_voxels of the grid)
        counts : numpy.ndarray of int, (n_spheres,)

        Raises
        ------
        ValueError
            For empty spheres (``empty="raise"``), naming them; for
            overlapping spheres (``allow_overlap=False``), naming the pairs.
        """
        spheres = self.sphere_voxels(mask)
        counts = np.array([len(v) for v in spheres], dtype=np.int64)
        empty = np.flatnonzero(counts == 0)
        if len(empty) and self.empty_policy == "raise":
            where = "inside the mask" if mask is not None else "inside the image"
            details = "; ".join(self._describe_seed(i) for i in empty[:10])
            raise ValueError(
                f"These spheres are empty: {list(map(int, empty))}. No voxel of the "
                f"{self.shape} grid {where} lies within the radius "
                f"({self.radius} mm) of: {details}. Seeds outside the field of view or "
                "the brain mask cannot be extracted."
            )
        rows = np.repeat(np.arange(len(spheres)), counts)
        voxels = np.concatenate(spheres) if len(spheres) else np.zeros(0, np.int64)
        membership = scipy.sparse.csr_matrix(
            (np.ones(len(voxels)), (rows, voxels)),
            shape=(len(spheres), self.n_voxels_grid),
        )
        if not self.allow_overlap:
            self._check_overlap(membership)
        return membership, counts

    def bind(self, mask=None) -> _Bound:
        membership, counts = self.membership(mask)
        # nilearn's np.mean to the bit: sum each sphere's voxels in nilearn's
        # order (C order of the grid; the sparse product adds a row's entries
        # in their stored order), then divide by the count
        divisor = np.where(counts > 0, counts, 1).astype(np.float64)[:, None]

        def post(projected, divisor=divisor):
            return projected / divisor

        summing = _rows_in_c_order(membership, self.shape)
        bound = self._bind_linear_with_smoothing(_BoundLinear(summing, post))
        bound.empty = counts == 0
        return self._finish_bound(bound, membership, self.lattice_counts, counts)

    def _check_overlap(self, membership: scipy.sparse.csr_matrix) -> None:
        shared = (membership @ membership.T).tocoo()
        pairs = [
            (int(i), int(j), int(n))
            for i, j, n in zip(shared.row, shared.col, shared.data)
            if i < j and n > 0
        ]
        if pairs:
            pairs.sort()
            described = "; ".join(
                f"{self.names[i]!r} and {self.names[j]!r} share {n} voxel{'s' * (n > 1)}"
                for i, j, n in pairs[:20]
            )
            more = f" (and {len(pairs) - 20} more pairs)" if len(pairs) > 20 else ""
            raise ValueError(
                f"Overlap detected between spheres: {described}{more}. "
                "Use allow_overlap=True to extract overlapping spheres."
            )


def _rows_in_c_order(matrix: scipy.sparse.csr_matrix, shape) -> scipy.sparse.csr_matrix:
    """``matrix`` (regions x Fortran-flat voxels) with each row's entries stored in C order of the grid."""
    matrix = scipy.sparse.csr_matrix(matrix)
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    i, j, k = np.unravel_index(matrix.indices, shape, order="F")
    order = np.lexsort((np.ravel_multi_index((i, j, k), shape, order="C"), rows))
    return scipy.sparse.csr_matrix(
        (matrix.data[order], matrix.indices[order], matrix.indptr), shape=matrix.shape
    )


def _validate_seeds(seeds) -> np.ndarray:
    if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__"):
        raise ValueError(
            "Seeds must be a list of triplets of coordinates in native space.\n"
            f"Given seed list is of type: {type(seeds)}"
        )
    rows = []
    for i, seed in enumerate(seeds):
        if not hasattr(seed, "__len__") or len(seed) != 3:
            length = len(seed) if hasattr(seed, "__len__") else "not a sequence"
            raise ValueError(
                "Seeds must be a list of triplets of coordinates in native space.\n"
                f"Seed #{i} is of length {length} instead of 3."
            )
        rows.append([float(value) for value in seed])
    seeds = np.asarray(rows, dtype=float).reshape(-1, 3)
    if not np.all(np.isfinite(seeds)):
        bad = sorted(set(np.nonzero(~np.isfinite(seeds))[0].tolist()))
        raise ValueError(f"Seed coordinates must be finite; seeds {bad} are not.")
    return seeds
