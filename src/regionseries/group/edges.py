"""Statistics over runs of each edge: means and QC-FC correlations, in one pass (:class:`RunningEdges`)."""

from __future__ import annotations

import math

import numpy as np

from ..bids.relmat import UPPER, TriangleLayout

#: Minimum number of samples (participants, or runs with ``--qcfc-unit run``) for QC-FC.
MIN_RUNS_QCFC = 3


def edge_correlation_with(values: np.ndarray, covariate: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pearson correlation of each column with a covariate, ignoring NaN rows per column.

    Parameters
    ----------
    values : ndarray (n_runs, n_edges)
    covariate : ndarray (n_runs,)

    Returns
    -------
    r, p, n : ndarray (n_edges,)
        Correlation, two-sided p-value (t-distribution with n − 2 degrees of
        freedom) and number of runs used; NaN where fewer than 3 runs.
    """
    finite = np.isfinite(values) & np.isfinite(covariate)[:, None]
    n = finite.sum(axis=0)
    x = np.where(finite, covariate[:, None], 0.0)
    y = np.where(finite, values, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_x = x.sum(axis=0) / n
        mean_y = y.sum(axis=0) / n
        dx = np.where(finite, x - mean_x, 0.0)
        dy = np.where(finite, y - mean_y, 0.0)
        r = (dx * dy).sum(axis=0) / np.sqrt((dx**2).sum(axis=0) * (dy**2).sum(axis=0))
    return (*_with_p_values(r, n), n)


def _with_p_values(r: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``r`` clipped to [-1, 1] and its two-sided p-value (t with n − 2 dof); NaN below 3 runs."""
    from scipy import stats

    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.clip(r, -1.0, 1.0)
        t = r * np.sqrt((n - 2) / np.maximum(1e-300, 1 - r**2))
        p = 2 * stats.t.sf(np.abs(t), np.maximum(n - 2, 1))
    r[n < MIN_RUNS_QCFC] = np.nan
    p[n < MIN_RUNS_QCFC] = np.nan
    return r, p


def stored_edges(layout: int, values: np.ndarray, n_regions: int) -> np.ndarray:
    """The entries above the diagonal (``np.triu_indices(K, 1)``'s order) of a matrix stored as
    :mod:`regionseries.bids.relmat` stores it (see :meth:`RunningEdges.add_stored`)."""
    triangle = TriangleLayout.of(n_regions)
    return values[triangle.strict] if layout == UPPER else values[triangle.upper]


class RunningEdges:
    """Sums over runs of one K × K matrix per run, added one run at a time.

    Gives what the group level needs from a stack of N matrices without
    holding the stack (memory: a few K × K arrays, whatever N):

    * :meth:`mean`: the mean of each entry's finite values, and their count;
    * :meth:`correlation`: for the upper-triangle edges, the Pearson
      correlation across runs with a per-run covariate (pairwise deletion of
      non-finite values), the numbers of :func:`edge_correlation_with` on
      the stacked edges.

    The correlation's samples are runs (:meth:`add`) or anything else added
    with :meth:`add_to_correlation`, e.g. one participant's mean edges and
    motion, the participant's runs having been added with :meth:`add_to_mean`
    (``--qcfc-unit participant``); per edge, :attr:`pairs` counts the samples
    and :attr:`runs` the runs they stand for.

    A symmetric matrix can be added as its upper triangle with the diagonal
    (:meth:`add_stored`, as :mod:`regionseries.bids.relmat` stores it): the
    means of these runs are summed over that triangle only, half the work,
    and are the same numbers as if the whole matrices had been added.

    The correlation uses sums of values shifted by an assumed mean (the
    covariate's ``covariate_shift``, each edge's value in the first run), so
    that it keeps the accuracy of the two-pass formula.

    Sums of different runs made with the same shifts add up: :meth:`merge`
    combines the sums of chunks of runs (read in parallel, or kept from an
    earlier group run, see :class:`GroupCache`).

    Parameters
    ----------
    n_regions : int
        K.
    covariate_shift : float
        A value near the covariate's mean (e.g. the mean FD of the runs).
    edge_shift : ndarray (K (K − 1) / 2,) or None
        Values near the edges' means (e.g. one run's edges; non-finite
        entries count as 0); None: the edges of the first run added with a
        finite covariate.
    """

    SUMS = ("x", "y", "xx", "yy", "xy")

    def __init__(self, n_regions: int, covariate_shift: float = 0.0, edge_shift: np.ndarray | None = None):
        shape = (n_regions, n_regions)
        self.count = np.zeros(shape, dtype=np.int64)
        self.total = np.zeros(shape)
        self.triangle = TriangleLayout.of(n_regions)
        n_stored = len(self.triangle.rows_columns[0])
        # Sums of the matrices added as their upper triangle (add_stored); count and total hold the others.
        self.triangle_count = np.zeros(n_stored, dtype=np.int64)
        self.triangle_total = np.zeros(n_stored)
        self.upper = self.triangle.upper
        n_edges = len(self.upper[0])
        self.pairs = np.zeros(n_edges, dtype=np.int64)
        self.runs = np.zeros(n_edges, dtype=np.int64)
        self._sums = {name: np.zeros(n_edges) for name in self.SUMS}
        self._x_shift = float(covariate_shift) if np.isfinite(covariate_shift) else 0.0
        self._y_shift = None if edge_shift is None else np.where(np.isfinite(edge_shift), edge_shift, 0.0)

    @property
    def shifts(self) -> tuple[float, np.ndarray | None]:
        """The covariate's and the edges' shifts."""
        return self._x_shift, self._y_shift

    def add(self, matrix: np.ndarray, covariate: float = math.nan) -> None:
        """Add one run's matrix (K × K) and its covariate (NaN: not in the correlation)."""
        self.add_to_mean(matrix)
        if np.isfinite(covariate):
            self.add_to_correlation(matrix[self.upper], covariate)

    def add_to_mean(self, matrix: np.ndarray) -> None:
        """Add one run's matrix (K × K) to the means only."""
        finite = np.isfinite(matrix)
        self.count += finite
        np.add(self.total, matrix, out=self.total, where=finite)

    def add_stored(self, layout: int, values: np.ndarray) -> None:
        """Add one run's matrix, as :mod:`regionseries.bids.relmat` stores it, to the means only.

        Parameters
        ----------
        layout : {relmat.FULL, relmat.UPPER}
            ``values`` is the K × K matrix, or (``UPPER``) the K (K + 1) / 2
            values of the upper triangle with the diagonal, row by row, of a
            symmetric one.
        values : ndarray
        """
        if layout != UPPER:
            self.add_to_mean(values)
            return
        finite = np.isfinite(values)
        self.triangle_count += finite
        np.add(self.triangle_total, values, out=self.triangle_total, where=finite)

    def add_to_correlation(self, edges: np.ndarray, covariate: float, runs: np.ndarray | None = None) -> None:
        """Add one sample to the correlation: its upper-triangle edges and its (finite) covariate.

        ``runs``: per edge, the number of runs the sample stands for (one
        where the edge is finite by default).
        """
        usable = np.isfinite(edges)
        if self._y_shift is None:
            self._y_shift = np.where(usable, edges, 0.0)
        x = float(covariate) - self._x_shift
        sums = self._sums
        if usable.all():  # the same numbers as below, with fewer passes over the edges
            y = edges - self._y_shift
            self.pairs += 1
            self.runs += 1 if runs is None else runs
            sums["x"] += x
            sums["xx"] += x * x
        else:
            y = np.where(usable, edges - self._y_shift, 0.0)
            self.pairs += usable
            self.runs += usable if runs is None else np.where(usable, runs, 0)
            sums["x"] += usable * x
            sums["xx"] += usable * (x * x)
        sums["y"] += y
        sums["xy"] += y * x
        y *= y
        sums["yy"] += y

    def merge(self, other: RunningEdges, sign: int = 1) -> None:
        """Add (``sign`` 1) or take away (-1) the sums of ``other`` (other runs, the same K and shifts).

        Taking away the sums of runs that were added removes them from the
        results, up to round-off (relative 1e-15 of the sums' magnitude).
        """
        if other.count.shape != self.count.shape:
            raise ValueError(f"cannot merge sums over {other.count.shape[0]} regions into sums over "
                             f"{self.count.shape[0]}")
        if other._y_shift is not None and other.pairs.any():
            if self._y_shift is None:
                self._y_shift = other._y_shift
            elif other._x_shift != self._x_shift or not np.array_equal(other._y_shift, self._y_shift):
                raise ValueError("cannot merge running sums made with different shifts")
        if sign == 1:
            self.count += other.count
            self.total += other.total
            self.triangle_count += other.triangle_count
            self.triangle_total += other.triangle_total
            self.pairs += other.pairs
            self.runs += other.runs
            for name in self.SUMS:
                self._sums[name] += other._sums[name]
        else:
            self.count -= other.count
            self.total -= other.total
            self.triangle_count -= other.triangle_count
            self.triangle_total -= other.triangle_total
            self.pairs -= other.pairs
            self.runs -= other.runs
            for name in self.SUMS:
                self._sums[name] -= other._sums[name]

    def state(self) -> dict[str, np.ndarray]:
        """The sums and shifts as arrays (see :meth:`from_state`)."""
        state = {"count": self.count, "total": self.total, "triangle_count": self.triangle_count,
                 "triangle_total": self.triangle_total, "pairs": self.pairs, "runs": self.runs,
                 "x_shift": np.asarray(self._x_shift),
                 "y_shift": np.asarray([]) if self._y_shift is None else self._y_shift}
        state.update({f"sum_{name}": values for name, values in self._sums.items()})
        return state

    def __getstate__(self) -> dict:
        # What pickling sends between the reader processes: the sums only, without the index arrays
        # (TriangleLayout), and without the K x K sums when every matrix came as its triangle.
        state = dict(self.state(), n_regions=self.count.shape[0])
        if not self.count.any():
            state["count"] = state["total"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        n_regions = state.pop("n_regions")
        if state["count"] is None:
            state["count"] = np.zeros((n_regions, n_regions), dtype=np.int64)
            state["total"] = np.zeros((n_regions, n_regions))
        self.__dict__.update(RunningEdges.from_state(state).__dict__)

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> RunningEdges:
        """The :class:`RunningEdges` whose :meth:`state` this is."""
        count = np.asarray(state["count"], dtype=np.int64)
        y_shift = np.asarray(state["y_shift"], dtype=float)
        edges = cls(count.shape[0], float(state["x_shift"]), None if y_shift.size == 0 and count.shape[0] > 1
                    else y_shift)
        edges.count = count.copy()
        edges.total = np.asarray(state["total"], dtype=float).copy()
        edges.triangle_count = np.asarray(state["triangle_count"], dtype=np.int64).copy()
        edges.triangle_total = np.asarray(state["triangle_total"], dtype=float).copy()
        edges.pairs = np.asarray(state["pairs"], dtype=np.int64).copy()
        # Sums saved before "runs" existed had one run per sample.
        edges.runs = np.asarray(state["runs"] if "runs" in state else state["pairs"], dtype=np.int64).copy()
        for name in cls.SUMS:
            edges._sums[name] = np.asarray(state[f"sum_{name}"], dtype=float).copy()
        return edges

    def mean(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean of the finite values of each entry (NaN where none) and their count."""
        count = self.count + self.triangle_count[self.triangle.unpack]
        total = self.total + self.triangle_total[self.triangle.unpack]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
        return mean, count

    def correlation(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per upper-triangle edge: r, two-sided p and the number of samples used (as :func:`edge_correlation_with`)."""
        n = self.pairs
        sums = self._sums
        with np.errstate(invalid="ignore", divide="ignore"):
            cxy = sums["xy"] - sums["x"] * sums["y"] / n
            cxx = sums["xx"] - sums["x"] ** 2 / n
            cyy = sums["yy"] - sums["y"] ** 2 / n
            r = cxy / np.sqrt(cxx * cyy)
        return (*_with_p_values(r, n), n.copy())
