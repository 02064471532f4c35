"""The runs' matrices read into :class:`~.edges.RunningEdges` sums: from scratch, or updating the group cache.

The first readable run sets the shifts of the sums; the other runs are read
in chunks of :data:`~.parallel.CHUNK_RUNS` (by the reader processes if any)
whose sums are merged in order.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..core.connectivity import fisher_z
from .cache import GroupCache, _signature
from .edges import RunningEdges
from .options import GroupSummary
from .parallel import _chunks, _in_order
from .reading import _read_run_matrix, _relmat_path, _series_sidecars

LOGGER = logging.getLogger("regionseries")


def _accumulate_matrices(records: list[dict], atlas: str, stat: str, fisher: bool, summary: GroupSummary,
                         executor=None, cache: GroupCache | None = None, cache_name: str = "",
                         output_dir: Path | None = None):
    """Read the runs' ``stat`` matrices of ``atlas`` into a :class:`RunningEdges`.

    The first readable run is read here and sets the shifts of the sums
    (its edges; the mean FD of ``records``); the others are read in chunks
    of :data:`CHUNK_RUNS` (by ``executor``'s processes if given) whose sums
    are merged in order. With ``cache``, the sums of a previous group run are
    updated when possible (see :class:`GroupCache`) and the new sums saved.

    Returns None when no run has such a matrix; otherwise the sums, the
    region names, the runs' file names, their mean FDs and whether each
    diagonal entry was finite in every run. Matrices whose regions differ
    from the first run's, or that cannot be read, are reported as failures.
    """
    candidates: list[tuple[Path, float]] = []
    for record in records:
        sidecar = _series_sidecars(record).get(atlas)
        if sidecar is None:
            continue
        path = _relmat_path(sidecar, stat)
        if not (path.name in record["_files"] if "_files" in record else path.exists()):
            continue
        mean_fd = record.get("MeanFramewiseDisplacement")
        candidates.append((path, math.nan if mean_fd is None else float(mean_fd)))
    if not candidates:
        return None
    signatures = [_signature(output_dir, path, fd) for path, fd in candidates] if cache is not None else None
    result = None
    if cache is not None:
        reused = cache.load(cache_name, fisher)
        if reused is not None:
            result = _update_sums(output_dir, candidates, signatures, reused, fisher, summary, executor, cache_name)
    if result is None:
        known_fds = [float(r["MeanFramewiseDisplacement"]) for r in records
                     if r.get("MeanFramewiseDisplacement") is not None]
        fd_shift = float(np.nanmean(known_fds)) if known_fds and np.isfinite(known_fds).any() else 0.0
        result = _sums_from_scratch(candidates, fisher, fd_shift, summary, executor)
    if result is None:
        return None
    edges, names, diagonal_count, added = result
    kept = [k for k in range(len(candidates)) if added[k]]
    if cache is not None:
        cache.save(cache_name, fisher, names, [signatures[k] for k in kept], edges, diagonal_count)
    runs = [candidates[k][0].name for k in kept]
    fds = np.asarray([candidates[k][1] for k in kept], dtype=float)
    return edges, names, runs, fds, diagonal_count == len(kept)


def _sums_from_scratch(candidates: list[tuple[Path, float]], fisher: bool, fd_shift: float, summary: GroupSummary,
                       executor):
    """Sums of every candidate run: (sums, names, diagonal counts, added flags), or None when none is readable."""
    added = [False] * len(candidates)
    todo = list(range(len(candidates)))
    edges = names = None
    while edges is None and todo:
        k = todo.pop(0)
        path, fd = candidates[k]
        read = _read_run_matrix(path, None, summary.failures)
        if read is None:
            continue
        names, matrix = read
        values = fisher_z(matrix) if fisher else matrix
        edges = RunningEdges(len(names), covariate_shift=fd_shift,
                             edge_shift=values[np.triu_indices(len(names), 1)])
        diagonal_count = np.isfinite(np.diagonal(matrix)).astype(np.int64)
        edges.add(values, fd)
        added[k] = True
    if edges is None:
        return None
    diagonal_count += _add_chunks(edges, names, candidates, todo, added, fisher, summary, executor)
    return edges, names, diagonal_count, added


def _add_chunks(edges: RunningEdges, names: list[str], candidates, todo: list[int], added: list[bool], fisher: bool,
                summary: GroupSummary, executor, sign: int = 1) -> np.ndarray:
    """Read the runs ``todo`` in chunks and add (``sign`` -1: take away) their sums; their diagonal counts."""
    x_shift, y_shift = edges.shifts
    if y_shift is None:
        y_shift = np.zeros(len(edges.upper[0]))
    diagonal_count = np.zeros(len(names), dtype=np.int64)
    tasks = (([candidates[k][0] for k in chunk], [candidates[k][1] for k in chunk], names, fisher, x_shift, y_shift)
             for chunk in _chunks(todo))
    for chunk, (sums, chunk_added, failures, chunk_diagonal) in zip(_chunks(todo), _in_order(executor, _chunk_sums,
                                                                                              tasks)):
        edges.merge(sums, sign)
        diagonal_count += sign * chunk_diagonal
        summary.failures.extend(failures)
        for k, ok in zip(chunk, chunk_added):
            added[k] = ok
    return diagonal_count


def _update_sums(output_dir: Path, candidates: list[tuple[Path, float]], signatures: list[list], reused,
                 fisher: bool, summary: GroupSummary, executor, cache_name: str):
    """The cached sums with the runs no longer included taken away and the new ones added; None if impossible."""
    about, edges, diagonal_count = reused
    names = about["names"]
    position = {tuple(signature): k for k, signature in enumerate(signatures)}
    added = [False] * len(candidates)
    leaving: list[tuple[Path, float]] = []
    for run in about["runs"]:
        k = position.get(tuple(run))
        if k is not None:
            added[k] = True
            continue
        path = output_dir / run[0]
        try:
            info = path.stat()
        except OSError:
            info = None
        if info is None or [info.st_size, info.st_mtime_ns] != run[1:3]:
            LOGGER.info("%s: %s was removed or changed since the group cache was made; reading every run",
                        cache_name, run[0])
            return None
        leaving.append((path, math.nan if run[3] is None else float(run[3])))
    todo = [k for k in range(len(candidates)) if not added[k]]
    if len(leaving) > len(about["runs"]) - len(leaving):
        LOGGER.info("%s: more runs would be taken from the group cache than kept; reading every run", cache_name)
        return None
    LOGGER.info("%s: %d run(s) from the group cache, %d to take away, %d to read", cache_name,
                len(about["runs"]) - len(leaving), len(leaving), len(todo))
    if leaving:
        taken = [False] * len(leaving)
        failures: list[tuple[str, str]] = []
        diagonal_count = diagonal_count + _add_chunks(edges, names, leaving, list(range(len(leaving))), taken,
                                                      fisher, GroupSummary(failures=failures), executor, sign=-1)
        if not all(taken):
            LOGGER.info("%s: a run to take away from the group cache cannot be read (%s); reading every run",
                        cache_name, failures[0][1] if failures else "?")
            return None
    diagonal_count = diagonal_count + _add_chunks(edges, names, candidates, todo, added, fisher, summary, executor)
    return edges, names, diagonal_count, added


def _chunk_sums(paths: Sequence[Path], fds: Sequence[float], names: list[str], fisher: bool, x_shift: float,
                y_shift: np.ndarray) -> tuple[RunningEdges, list[bool], list[tuple[str, str]], np.ndarray]:
    """Read one chunk of runs' matrices into sums with the given shifts.

    Returns the sums, whether each run was added, the failures (file,
    reason) and, per diagonal entry, the number of runs where it was finite.
    """
    edges = RunningEdges(len(names), covariate_shift=x_shift, edge_shift=y_shift)
    added: list[bool] = []
    failures: list[tuple[str, str]] = []
    diagonal_finite = np.zeros(len(names), dtype=np.int64)
    for path, fd in zip(paths, fds):
        read = _read_run_matrix(path, names, failures)
        added.append(read is not None)
        if read is None:
            continue
        matrix = read[1]
        diagonal_finite += np.isfinite(np.diagonal(matrix))
        edges.add(fisher_z(matrix) if fisher else matrix, fd)
    return edges, added, failures, diagonal_finite
