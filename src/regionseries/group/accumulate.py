"""The runs' matrices read into :class:`~.edges.RunningEdges` sums: from scratch, or updating the group cache.

The runs are grouped into *units*, the samples of QC-FC: one run each, or
(``--qcfc-unit participant``) all the runs of one participant, whose mean
edges and mean motion enter the correlation once. Every run enters the means.
The first readable run sets the shifts of the sums; the other units are read
in chunks of whole units of about :data:`~.parallel.CHUNK_RUNS` runs (by the
reader processes if any) whose sums are merged in order. So each matrix is
read once, and a participant's runs are averaged in the process that reads
them.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..bids.names import parse_entities
from ..bids.relmat import UPPER
from ..core.connectivity import fisher_z
from .cache import GroupCache, _signature
from .edges import RunningEdges, stored_edges
from .options import GroupSummary
from .parallel import CHUNK_RUNS, _in_order
from .reading import _read_run_matrix, _relmat_path_of

LOGGER = logging.getLogger("regionseries")

#: One run to read: its matrix file, its mean FD (mm; NaN if unknown) and its participant label.
Candidate = tuple[str | Path, float, str]


class Accumulated(NamedTuple):
    """What :func:`_accumulate_matrices` read: the sums and the runs in them."""

    edges: RunningEdges
    names: list[str]
    #: File names of the runs in the sums.
    runs: list[str]
    #: Their mean FDs (mm; NaN if unknown).
    fds: np.ndarray
    #: Their participant labels.
    participants: list[str]
    #: Whether each diagonal entry was finite in every run.
    diagonal_finite: np.ndarray


def _units(participants: Sequence[str], by_participant: bool) -> list[list[int]]:
    """Indices of the runs grouped into QC-FC samples: one run each, or the runs of each participant."""
    if not by_participant:
        return [[k] for k in range(len(participants))]
    groups: dict[str, list[int]] = {}
    for k, participant in enumerate(participants):
        groups.setdefault(participant, []).append(k)
    return list(groups.values())


#: At most this many chunks of runs per average: each chunk's sums (6.4 MB for 400 regions) go from a
#: reader process to the main one, so that many chunks of :data:`CHUNK_RUNS` runs cost more than reading.
MAX_CHUNKS = 32


def _chunk_size(n_runs: int) -> int:
    """Runs per chunk for ``n_runs`` runs: :data:`CHUNK_RUNS`, or more to make at most :data:`MAX_CHUNKS`
    chunks. It depends on the runs only, never on ``--nprocs``, so that the sums are added in the same
    order (and the outputs are the same bytes) whatever the number of processes."""
    return max(CHUNK_RUNS, -(-n_runs // MAX_CHUNKS))


def _unit_chunks(units: Sequence[list[int]], size: int = CHUNK_RUNS) -> Iterator[list[list[int]]]:
    """Consecutive units in chunks of at most ``size`` runs (a larger unit alone); one run per unit: ``size`` units."""
    chunk: list[list[int]] = []
    n_runs = 0
    for unit in units:
        if chunk and n_runs + len(unit) > size:
            yield chunk
            chunk, n_runs = [], 0
        chunk.append(unit)
        n_runs += len(unit)
    if chunk:
        yield chunk


def _accumulate_matrices(records: list[dict], atlas: str, stat: str, fisher: bool, summary: GroupSummary,
                         executor=None, cache: GroupCache | None = None, cache_name: str = "",
                         output_dir: Path | None = None, by_participant: bool = False) -> Accumulated | None:
    """Read the runs' ``stat`` matrices of ``atlas`` into a :class:`RunningEdges`.

    The first readable run is read here and sets the shifts of the sums
    (its edges; the mean FD of ``records``); the others are read in chunks
    of whole units (by ``executor``'s processes if given) whose sums are
    merged in order. With ``by_participant`` the correlation's samples are
    participants: the mean of the participant's runs' values of each edge
    (over the runs where it is finite) against the mean of their mean FDs,
    both over the runs with a known mean FD. With ``cache``, the sums of a
    previous group run are updated when possible (see :class:`GroupCache`)
    and the new sums saved.

    Returns None when no run has such a matrix. Matrices whose regions
    differ from the first run's, or that cannot be read, are reported as
    failures.
    """
    candidates: list[Candidate] = []
    matrix_names: dict = {}
    for record in records:
        path = _relmat_path_of(record, atlas, stat, matrix_names)
        if path is None:
            continue
        mean_fd = record.get("MeanFramewiseDisplacement")
        candidates.append((path, math.nan if mean_fd is None else float(mean_fd),
                           str(record["_entities"].get("sub", ""))))
    if not candidates:
        return None
    units = _units([participant for _, _, participant in candidates], by_participant)
    unit_name = "participant" if by_participant else "run"
    signatures = [_signature(output_dir, path, fd) for path, fd, _ in candidates] if cache is not None else None
    result = None
    if cache is not None:
        reused = cache.load(cache_name, fisher, unit_name)
        if reused is not None:
            result = _update_sums(output_dir, candidates, units, signatures, reused, fisher, summary, executor,
                                  cache_name, by_participant)
    if result is None:
        known_fds = [float(r["MeanFramewiseDisplacement"]) for r in records
                     if r.get("MeanFramewiseDisplacement") is not None]
        fd_shift = float(np.nanmean(known_fds)) if known_fds and np.isfinite(known_fds).any() else 0.0
        result = _sums_from_scratch(candidates, units, fisher, fd_shift, summary, executor)
    if result is None:
        return None
    edges, names, diagonal_count, added = result
    kept = [k for k in range(len(candidates)) if added[k]]
    if cache is not None:
        cache.save(cache_name, fisher, names, [signatures[k] for k in kept], edges, diagonal_count, unit_name)
    return Accumulated(edges, names, [os.path.basename(candidates[k][0]) for k in kept],
                       np.asarray([candidates[k][1] for k in kept], dtype=float),
                       [candidates[k][2] for k in kept], diagonal_count == len(kept))


def _sums_from_scratch(candidates: list[Candidate], units: list[list[int]], fisher: bool, fd_shift: float,
                       summary: GroupSummary, executor):
    """Sums of every candidate run: (sums, names, diagonal counts, added flags), or None when none is readable."""
    added = [False] * len(candidates)
    todo = list(units)
    edges = names = None
    while edges is None and todo:
        unit = todo.pop(0)
        edges, names, unit_added, failures, diagonal_count, as_text = _chunk_sums(
            [[candidates[k][:2] for k in unit]], None, fisher, fd_shift, None)
        summary.failures.extend(failures)
        summary.matrices_read_as_text += as_text
        for k, ok in zip(unit, unit_added):
            added[k] = ok
    if edges is None:
        return None
    diagonal_count += _add_chunks(edges, names, candidates, todo, added, fisher, summary, executor)
    return edges, names, diagonal_count, added


def _add_chunks(edges: RunningEdges, names: list[str], candidates: Sequence[Candidate], units: list[list[int]],
                added: list[bool], fisher: bool, summary: GroupSummary, executor, sign: int = 1) -> np.ndarray:
    """Read the runs of ``units`` in chunks and add (``sign`` -1: take away) their sums; their diagonal counts."""
    x_shift, y_shift = edges.shifts
    if y_shift is None:
        y_shift = np.zeros(len(edges.upper[0]))
    diagonal_count = np.zeros(len(names), dtype=np.int64)
    chunks = list(_unit_chunks(units, _chunk_size(sum(len(unit) for unit in units))))
    tasks = (([[candidates[k][:2] for k in unit] for unit in chunk], names, fisher, x_shift, y_shift)
             for chunk in chunks)
    for chunk, (sums, _, chunk_added, failures, chunk_diagonal, as_text) in zip(
            chunks, _in_order(executor, _chunk_sums, tasks)):
        edges.merge(sums, sign)
        diagonal_count += sign * chunk_diagonal
        summary.failures.extend(failures)
        summary.matrices_read_as_text += as_text
        for k, ok in zip((k for unit in chunk for k in unit), chunk_added):
            added[k] = ok
    return diagonal_count


def _participant_of(relative_path: str) -> str:
    return str(parse_entities(Path(relative_path).name).get("sub", ""))


def _update_sums(output_dir: Path, candidates: list[Candidate], units: list[list[int]], signatures: list[list],
                 reused, fisher: bool, summary: GroupSummary, executor, cache_name: str, by_participant: bool):
    """The cached sums with the units no longer included taken away and the new ones added; None if impossible.

    A unit (a run, or a participant's runs) is kept from the cache only when
    its runs are those it was cached with; otherwise its cached runs are read
    again and taken away, and its runs now are read and added.
    """
    about, edges, diagonal_count = reused
    names = about["names"]
    cached_runs = about["runs"]
    cached_units = _units([_participant_of(run[0]) for run in cached_runs], by_participant)
    unit_of = {frozenset(tuple(signatures[k]) for k in unit): unit for unit in units}
    added = [False] * len(candidates)
    leaving: list[Candidate] = []
    leaving_units: list[list[int]] = []
    for cached in cached_units:
        unit = unit_of.get(frozenset(tuple(cached_runs[i]) for i in cached))
        if unit is not None:
            for k in unit:
                added[k] = True
            continue
        leaving_units.append([])
        for i in cached:
            run = cached_runs[i]
            path = output_dir / run[0]
            try:
                info = path.stat()
            except OSError:
                info = None
            if info is None or [info.st_size, info.st_mtime_ns] != run[1:3]:
                LOGGER.info("%s: %s was removed or changed since the group cache was made; reading every run",
                            cache_name, run[0])
                return None
            leaving_units[-1].append(len(leaving))
            leaving.append((path, math.nan if run[3] is None else float(run[3]), _participant_of(run[0])))
    todo = [unit for unit in units if not added[unit[0]]]
    if len(leaving) > len(cached_runs) - len(leaving):
        LOGGER.info("%s: more runs would be taken from the group cache than kept; reading every run", cache_name)
        return None
    LOGGER.info("%s: %d run(s) from the group cache, %d to take away, %d to read", cache_name,
                len(cached_runs) - len(leaving), len(leaving), sum(len(unit) for unit in todo))
    if leaving:
        taken = [False] * len(leaving)
        failures: list[tuple[str, str]] = []
        diagonal_count = diagonal_count + _add_chunks(edges, names, leaving, leaving_units, taken, fisher,
                                                      GroupSummary(failures=failures), executor, sign=-1)
        if not all(taken):
            LOGGER.info("%s: a run to take away from the group cache cannot be read (%s); reading every run",
                        cache_name, failures[0][1] if failures else "?")
            return None
    diagonal_count = diagonal_count + _add_chunks(edges, names, candidates, todo, added, fisher, summary, executor)
    return edges, names, diagonal_count, added


def _chunk_sums(units: Sequence[Sequence[tuple[Path, float]]], names: list[str] | None, fisher: bool,
                x_shift: float, y_shift: np.ndarray | None
                ) -> tuple[RunningEdges | None, list[str] | None, list[bool], list[tuple[str, str]], np.ndarray, int]:
    """Read the runs (matrix file, mean FD) of some units into sums with the given shifts.

    A unit of one run is added as a run (:meth:`RunningEdges.add`); the runs
    of a larger unit are added to the means, and their mean edges and mean
    FD, over the runs with a known mean FD, to the correlation once. With
    ``names`` None, the first readable matrix gives the region names and
    (with ``y_shift`` None) the edges' shifts.

    Returns the sums (None when no matrix could be read), the region names,
    whether each run was added, the failures (file, reason), per diagonal
    entry the number of runs where it was finite, and the number of
    matrices read from their text (no up-to-date binary copy).
    """
    edges = None if names is None else RunningEdges(len(names), covariate_shift=x_shift, edge_shift=y_shift)
    added: list[bool] = []
    failures: list[tuple[str, str]] = []
    diagonal_finite = None if names is None else np.zeros(len(names), dtype=np.int64)
    as_text = 0
    for unit in units:
        edge_total = edge_runs = None
        fd_total, fd_runs = 0.0, 0
        for path, fd in unit:
            read = _read_run_matrix(path, names, failures)
            added.append(read is not None)
            if read is None:
                continue
            these_names, layout, stored, from_copy = read
            as_text += not from_copy
            values = fisher_z(stored) if fisher else stored
            run_edges = stored_edges(layout, values, len(these_names))
            if edges is None:
                names = these_names
                edges = RunningEdges(len(names), covariate_shift=x_shift,
                                     edge_shift=run_edges if y_shift is None else y_shift)
                diagonal_finite = np.zeros(len(names), dtype=np.int64)
            diagonal_finite += np.isfinite(stored[edges.triangle.diagonal] if layout == UPPER else np.diagonal(stored))
            edges.add_stored(layout, values)
            if len(unit) == 1:
                if np.isfinite(fd):
                    edges.add_to_correlation(run_edges, fd)
                continue
            if not np.isfinite(fd):
                continue
            finite = np.isfinite(run_edges)
            if edge_total is None:
                edge_total, edge_runs = np.zeros(run_edges.shape), np.zeros(run_edges.shape, dtype=np.int64)
            edge_total += np.where(finite, run_edges, 0.0)
            edge_runs += finite
            fd_total += fd
            fd_runs += 1
        if fd_runs:
            with np.errstate(invalid="ignore", divide="ignore"):
                mean_edges = np.where(edge_runs > 0, edge_total / np.maximum(edge_runs, 1), np.nan)
            edges.add_to_correlation(mean_edges, fd_total / fd_runs, runs=edge_runs)
    return edges, names, added, failures, diagonal_finite, as_text
