"""Group level: QC table, mean connectivity, QC-FC and exclusions from participant outputs.

``regionseries BIDS_DIR OUTPUT_DIR group`` reads only OUTPUT_DIR (the
per-run ``*_qc.json`` records, time-series sidecars, connectivity matrices and
``atlases/`` tables written by the participant level) and writes, into
``OUTPUT_DIR/group/``, for every task, space, atlas and strategy:

* ``…_qc.tsv`` — one row per run: volumes kept, mean framewise displacement
  (FD), degrees of freedom lost, regions set to n/a, excluded or not and why;
* ``…_exclusions.tsv`` — the excluded runs and the reasons;
* ``…_stat-<measure>_desc-<strategy>_relmat.tsv`` — the group-average matrix of
  the included runs: correlations (and partial correlations) are averaged as
  Fisher z and written back as r; the mean z itself is written as
  ``stat-fisherz`` (``stat-partialcorrelationfisherz``); covariances are
  averaged arithmetically;
* ``…_qcfc.tsv`` and ``…_qcfc.json`` — QC-FC: for each edge, the Pearson
  correlation across included runs between the edge's Fisher-z connectivity
  and the run's mean FD, its p-value, and the Euclidean distance between the
  two regions' centroids; the JSON summarises the distribution (median
  |QC-FC|, fraction of edges with p < 0.05) and its distance dependence
  (Spearman correlation between QC-FC and distance).

Exclusion criteria (documented in docs/outputs.md, recorded in every JSON):

1. the participant level excluded the run for this strategy (e.g. too few
   volumes left after censoring) or failed on it (e.g. no confounds file);
2. mean FD above ``--max-mean-fd`` (default 0.55 mm, the lenient criterion of
   Parkes et al. 2018, NeuroImage 171:415-436);
3. fewer than ``--min-kept-fraction`` (default 0.5) of the volumes kept after
   removing non-steady-state and censored volumes.

Reading the matrices is most of the time: :func:`read_relmat` parses them
with numpy's C reader, ``--nprocs`` processes read chunks of
:data:`CHUNK_RUNS` runs whose :class:`RunningEdges` sums are merged in order
(identical outputs whatever ``--nprocs``), and ``--incremental`` keeps the
sums in ``group/.incremental/`` (:class:`GroupCache`) so that a later group
run reads only the runs that joined or left the averages.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import csv
import io
import json
import logging
import math
import multiprocessing
import os
import re
import signal
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._version import __version__
from .bids.names import BIDSName, parse_entities
from .bids.outputs import atomic_write_bytes, atomic_write_json, atomic_write_tsv
from .core.connectivity import fisher_z, inverse_fisher_z
from .core.qc import spearman, summarize_qcfc  # noqa: F401 - spearman: group.spearman was its home before core.qc
from .job import (
    as_list,
    check_output_dir,
    job_folders,
    log_file,
    python_call,
    strip_label_prefix,
)

LOGGER = logging.getLogger("regionseries")

#: Entities identifying a run in the QC table.
RUN_ENTITIES = ("sub", "ses", "task", "acq", "ce", "rec", "dir", "run", "echo", "part", "space", "res", "den")

#: Minimum number of runs for QC-FC.
MIN_RUNS_QCFC = 3


class NoParticipantOutputs(Exception):
    """OUTPUT_DIR does not exist or holds no participant-level output to aggregate (exit 66)."""


@dataclass
class GroupOptions:
    """Settings of the group level.

    Attributes
    ----------
    max_mean_fd : float
        Runs with a larger mean framewise displacement (mm) are excluded.
    min_kept_fraction : float
        Runs keeping a smaller fraction of their volumes are excluded.
    participants : sequence of str or None
        Restrict to these participants.
    command_line : str
    reports : bool
        Write the group report.
    nprocs : int
        Processes reading the participants' files.
    incremental : bool
        Reuse (and keep) the sums of an earlier group run (see :class:`GroupCache`).
    """

    max_mean_fd: float = 0.55
    min_kept_fraction: float = 0.5
    participants: Sequence[str] | None = None
    command_line: str = ""
    reports: bool = True
    nprocs: int = 1
    incremental: bool = False

    def criteria(self) -> list[str]:
        """The exclusion criteria, as written in sidecars and reports."""
        return [
            "excluded or failed at the participant level for this strategy (reason recorded)",
            f"mean framewise displacement > {self.max_mean_fd:g} mm",
            f"fraction of volumes kept < {self.min_kept_fraction:g}",
        ]


@dataclass
class GroupSummary:
    """What the group level wrote and what went wrong."""

    outputs: list[Path] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    qc_table: pd.DataFrame | None = None
    qcfc: list[dict] = field(default_factory=list)
    #: The job's log in ``OUTPUT_DIR/logs`` (set by :func:`run_group`).
    log_file: Path | None = None

    @property
    def exit_status(self) -> int:
        """0 when everything was written, 1 when something failed (the command line's exit code)."""
        return 1 if self.failures else 0


# --------------------------------------------------------------------------------------
# Reading participant outputs
# --------------------------------------------------------------------------------------

def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _func_folders(output_dir: Path) -> list[Path]:
    """Every folder named ``func`` under the ``sub-*`` folders of ``output_dir``, sorted."""
    folders = []
    for participant in sorted(output_dir.glob("sub-*")):
        if not participant.is_dir():
            continue
        for root, dirs, _ in os.walk(participant):
            dirs.sort()
            if os.path.basename(root) == "func":
                folders.append(Path(root))
    return sorted(folders)


#: What the group level uses of a ``*_qc.json`` record (the rest is not kept in
#: memory: 28 KB per record, 0.5 GB for 10,000 participants with 2 strategies).
RECORD_KEYS = ("Status", "Reason", "Bold", "MeanFramewiseDisplacement", "NumberOfVolumes", "NumberOfVolumesKept",
               "NumberOfVolumesDiscardedByNonsteadyStatesDetector", "NumberOfVolumesDiscardedByMotionScrubbing",
               "DegreesOfFreedomLost")


def collect_qc_records(output_dir: Path, participants: Sequence[str] | None = None, executor=None) -> list[dict]:
    """Every per-run, per-strategy QC record (``*_qc.json``) of the participant level.

    Only :data:`RECORD_KEYS` are kept. Each folder is listed once: a record
    also gets the time-series sidecars of its run and strategy
    (``_sidecars``, by atlas label) and the names of the files beside it
    (``_files``), so that later steps neither list the folder again nor ask
    the file system whether a matrix exists. With ``executor``, the folders
    are read by its processes, 64 at a time.
    """
    records = []
    folders = _func_folders(output_dir)
    chosen = list(participants) if participants else None
    for chunk_records, warnings in _in_order(executor, _folder_records, ((chunk, chosen) for chunk in _chunks(folders, 64))):
        records.extend(chunk_records)
        for warning in warnings:
            LOGGER.warning("%s", warning)
    return records


def _folder_records(folders: Sequence[Path], participants: Sequence[str] | None) -> tuple[list[dict], list[str]]:
    """The QC records of some ``func`` folders (see :func:`collect_qc_records`), and the warnings."""
    records = []
    warnings = []
    for folder in folders:
        names = sorted(os.listdir(folder))
        sidecars: dict[tuple, dict[str, Path]] = {}
        for name in names:
            if name.endswith("_timeseries.json"):
                other = parse_entities(name)
                if "atlas" in other:
                    stem = tuple((k, v) for k, v in other.items() if k not in ("atlas", "desc"))
                    sidecars.setdefault((stem, other.get("desc")), {})[other["atlas"]] = folder / name
        files = frozenset(names)
        for name in names:
            if not name.endswith("_qc.json"):
                continue
            path = folder / name
            entities = parse_entities(name)
            if participants and entities.get("sub") not in participants:
                continue
            try:
                content = _read_json(path)
            except (OSError, ValueError) as exc:
                warnings.append(f"cannot read {path}: {exc}")
                continue
            if not isinstance(content, dict):
                warnings.append(f"cannot read {path}: not a JSON object")
                continue
            record = {key: content[key] for key in RECORD_KEYS if key in content}
            stem = tuple((k, v) for k, v in entities.items() if k != "desc")
            record["_path"] = path
            record["_entities"] = entities
            record["_sidecars"] = sidecars.get((stem, entities.get("desc")), {})
            record["_files"] = files
            records.append(record)
    return records, warnings


def _series_sidecars(record: dict) -> dict[str, Path]:
    """Time-series sidecars of the record's run and strategy, by atlas label."""
    if "_sidecars" in record:
        return record["_sidecars"]
    path: Path = record["_path"]
    entities = dict(record["_entities"])
    strategy = entities.get("desc")
    stem_entities = {k: v for k, v in entities.items() if k != "desc"}
    found = {}
    for candidate in path.parent.glob("*_timeseries.json"):
        other = parse_entities(candidate)
        if other.get("desc") != strategy or "atlas" not in other:
            continue
        if {k: v for k, v in other.items() if k not in ("atlas", "desc")} != stem_entities:
            continue
        found[other["atlas"]] = candidate
    return found


def _relmat_path(series_sidecar: Path, stat: str) -> Path:
    name = series_sidecar.name.replace("_timeseries.json", "_relmat.tsv")
    entities = parse_entities(series_sidecar)
    desc = entities.get("desc")
    return series_sidecar.with_name(name.replace(f"_desc-{desc}_", f"_stat-{stat}_desc-{desc}_"))


class MalformedMatrix(ValueError):
    """A relmat TSV that is not a square table of numbers under its region names.

    ``str()`` is ``"<path>: <reason>"``; :attr:`reason` says what is wrong and where.
    """

    def __init__(self, path: str | os.PathLike, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


def read_relmat(path: str | os.PathLike) -> tuple[list[str], np.ndarray]:
    """A relmat TSV written by the participant level: region names and the K × K matrix.

    The layout is fixed: a header row ``node`` + K region names, then K rows of
    a region name and K values (``n/a`` for missing), tab separated, UTF-8.
    The values are parsed by numpy's C reader (``np.loadtxt``) without
    pandas' general machinery (8.6 against 10.2 ms for a 400 × 400 matrix);
    the result equals ``pandas.read_csv(path, sep="\t", index_col=0,
    na_values="n/a", keep_default_na=False)``. Region names that need
    quoting (a tab, a quote or a line break in the name) are read with the
    :mod:`csv` module.

    Raises
    ------
    OSError
        The file cannot be read.
    MalformedMatrix
        (a :class:`ValueError`) Not UTF-8, empty, truncated, not square, or a
        value that is not a number; the message names the file and the line.
    """
    path = Path(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedMatrix(path, f"not UTF-8 text (byte {exc.start})") from None
    text = text.removeprefix("\ufeff")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if '"' in text:
        header, labels, rows = _quoted_rows(path, text)
    else:
        lines = text.split("\n")
        if lines[-1] == "":
            lines.pop()
        if not lines:
            raise MalformedMatrix(path, "empty file")
        header = lines[0].split("\t")
        rows = lines[1:]
        labels = None
    names = header[1:]
    n_regions = len(names)
    if n_regions == 0:
        raise MalformedMatrix(path, "no region names in the header (line 1)")
    if len(rows) != n_regions:
        raise MalformedMatrix(path, f"{len(rows)} rows of values for {n_regions} regions "
                              "(truncated or not a square matrix)")
    body = rows if labels is None else ["\t".join(["", *row]) for row in rows]
    if "/" in text:  # n/a (a quick test: searching for one character is 60x faster than for "n/a")
        body = [row.replace("n/a", "nan") for row in body]
    try:
        # The row label through a converter rather than usecols: loadtxt then also
        # rejects rows with too many values.
        table = np.loadtxt(body, delimiter="\t", converters={0: _ignore_label}, dtype=float, comments=None, ndmin=2)
    except ValueError as exc:
        raise MalformedMatrix(path, f"{_where_malformed(body, n_regions) or exc}") from None
    if table.shape[1] != n_regions + 1:
        raise MalformedMatrix(path, str(_where_malformed(body, n_regions)))
    return names, np.ascontiguousarray(table[:, 1:])


def _ignore_label(label: str) -> float:
    return 0.0


def _where_malformed(body: list[str], n_regions: int) -> str | None:
    """The first line with a wrong number of values or a value that is not a number, for the error message."""
    for number, row in enumerate(body, start=2):
        values = row.split("\t")[1:]
        if len(values) != n_regions:
            return f"line {number} has {len(values)} values, expected {n_regions} (truncated or malformed)"
        for column, value in enumerate(values, start=2):
            try:
                float(value)
            except ValueError:
                return f"line {number}, column {column}: {value!r} is not a number"
    return None


def _quoted_rows(path: Path, text: str) -> tuple[list[str], list[str], list[list[str]]]:
    """Header, row labels and row values of a TSV whose fields may be quoted (csv rules)."""
    table = list(csv.reader(io.StringIO(text), delimiter="\t"))
    if not table:
        raise MalformedMatrix(path, "empty file")
    header = table[0]
    rows = [row for row in table[1:] if row]
    return header, [row[0] for row in rows], [row[1:] for row in rows]


def atlas_centroids(output_dir: Path, series_sidecar: dict) -> tuple[list[str], np.ndarray] | None:
    """Region names and centroids (mm) of the atlas a time series used, from ``atlases/``."""
    files = (series_sidecar.get("Atlas") or {}).get("Files") or {}
    table_uri = files.get("table")
    if not table_uri:
        return None
    relative = table_uri.split(":", 2)[-1]
    path = output_dir / relative
    if not path.exists():
        return None
    table = pd.read_csv(path, sep="\t")
    if not {"x", "y", "z", "name"} <= set(table.columns):
        return None
    return [str(n) for n in table["name"]], table[["x", "y", "z"]].to_numpy(float)


# --------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------

def exclusion_reasons(record: dict, options: GroupOptions) -> list[str]:
    """Reasons to exclude one run under one strategy (empty when included)."""
    reasons = []
    status = record.get("Status")
    if status != "done":
        reasons.append(f"participant level: {status}: {record.get('Reason')}")
        return reasons
    mean_fd = record.get("MeanFramewiseDisplacement")
    if mean_fd is not None and mean_fd > options.max_mean_fd:
        reasons.append(f"mean FD {mean_fd:.3f} mm > {options.max_mean_fd:g} mm")
    n_volumes = record.get("NumberOfVolumes") or 0
    kept = record.get("NumberOfVolumesKept")
    if n_volumes and kept is not None and kept / n_volumes < options.min_kept_fraction:
        reasons.append(f"{kept} of {n_volumes} volumes kept ({kept / n_volumes:.0%} < {options.min_kept_fraction:.0%})")
    return reasons


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


class RunningEdges:
    """Sums over runs of one K × K matrix per run, added one run at a time.

    Gives what the group level needs from a stack of N matrices without
    holding the stack (memory: a few K × K arrays, whatever N):

    * :meth:`mean`: the mean of each entry's finite values, and their count;
    * :meth:`correlation`: for the upper-triangle edges, the Pearson
      correlation across runs with a per-run covariate (pairwise deletion of
      non-finite values), the numbers of :func:`edge_correlation_with` on
      the stacked edges.

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
        self.upper = np.triu_indices(n_regions, k=1)
        n_edges = len(self.upper[0])
        self.pairs = np.zeros(n_edges, dtype=np.int64)
        self._sums = {name: np.zeros(n_edges) for name in self.SUMS}
        self._x_shift = float(covariate_shift) if np.isfinite(covariate_shift) else 0.0
        self._y_shift = None if edge_shift is None else np.where(np.isfinite(edge_shift), edge_shift, 0.0)

    @property
    def shifts(self) -> tuple[float, np.ndarray | None]:
        """The covariate's and the edges' shifts."""
        return self._x_shift, self._y_shift

    def add(self, matrix: np.ndarray, covariate: float = math.nan) -> None:
        """Add one run's matrix (K × K) and its covariate (NaN: not in the correlation)."""
        finite = np.isfinite(matrix)
        self.count += finite
        self.total += np.where(finite, matrix, 0.0)
        if not np.isfinite(covariate):
            return
        edges = matrix[self.upper]
        usable = np.isfinite(edges)
        if self._y_shift is None:
            self._y_shift = np.where(usable, edges, 0.0)
        x = float(covariate) - self._x_shift
        y = np.where(usable, edges - self._y_shift, 0.0)
        self.pairs += usable
        sums = self._sums
        sums["x"] += usable * x
        sums["xx"] += usable * (x * x)
        sums["y"] += y
        sums["yy"] += y * y
        sums["xy"] += y * x

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
            self.pairs += other.pairs
            for name in self.SUMS:
                self._sums[name] += other._sums[name]
        else:
            self.count -= other.count
            self.total -= other.total
            self.pairs -= other.pairs
            for name in self.SUMS:
                self._sums[name] -= other._sums[name]

    def state(self) -> dict[str, np.ndarray]:
        """The sums and shifts as arrays (see :meth:`from_state`)."""
        state = {"count": self.count, "total": self.total, "pairs": self.pairs,
                 "x_shift": np.asarray(self._x_shift),
                 "y_shift": np.asarray([]) if self._y_shift is None else self._y_shift}
        state.update({f"sum_{name}": values for name, values in self._sums.items()})
        return state

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> RunningEdges:
        """The :class:`RunningEdges` whose :meth:`state` this is."""
        count = np.asarray(state["count"], dtype=np.int64)
        y_shift = np.asarray(state["y_shift"], dtype=float)
        edges = cls(count.shape[0], float(state["x_shift"]), None if y_shift.size == 0 and count.shape[0] > 1
                    else y_shift)
        edges.count = count.copy()
        edges.total = np.asarray(state["total"], dtype=float).copy()
        edges.pairs = np.asarray(state["pairs"], dtype=np.int64).copy()
        for name in cls.SUMS:
            edges._sums[name] = np.asarray(state[f"sum_{name}"], dtype=float).copy()
        return edges

    def mean(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean of the finite values of each entry (NaN where none) and their count."""
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(self.count > 0, self.total / np.maximum(self.count, 1), np.nan)
        return mean, self.count.copy()

    def correlation(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per upper-triangle edge: r, two-sided p and the number of runs used (as :func:`edge_correlation_with`)."""
        n = self.pairs
        sums = self._sums
        with np.errstate(invalid="ignore", divide="ignore"):
            cxy = sums["xy"] - sums["x"] * sums["y"] / n
            cxx = sums["xx"] - sums["x"] ** 2 / n
            cyy = sums["yy"] - sums["y"] ** 2 / n
            r = cxy / np.sqrt(cxx * cyy)
        return (*_with_p_values(r, n), n.copy())


# --------------------------------------------------------------------------------------
# The group level
# --------------------------------------------------------------------------------------

def _group_key(record: dict) -> tuple[str, str, str | None, str]:
    entities = record["_entities"]
    return entities.get("task", ""), entities.get("space", ""), entities.get("res"), entities.get("desc", "")


def run_group(
    bids_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    participant_label: str | Sequence[str] | None = None,
    max_mean_fd: float = 0.55,
    min_kept_fraction: float = 0.5,
    incremental: bool = False,
    nprocs: int = 1,
    reports: bool = True,
    work_dir: str | os.PathLike | None = None,
    command_line: str | None = None,
) -> GroupSummary:
    """Aggregate the participant-level outputs in ``output_dir`` into ``output_dir/group``.

    The same as ``regionseries BIDS_DIR OUTPUT_DIR group`` with the options of
    the same names (docs/usage.md): checks the folders, keeps a log in
    ``OUTPUT_DIR/logs``, aggregates (:func:`aggregate`) and logs a summary.

    Parameters
    ----------
    bids_dir : path
        The fMRIPrep derivatives folder of the participant level; only checked
        (it must exist and must not hold ``output_dir``), never read.
    output_dir : path
        The participant level's output folder.
    participant_label : str or sequence of str, optional
        Participants to include (with or without ``sub-``); all by default.
    max_mean_fd : float
        Runs with a larger mean framewise displacement are excluded, mm.
    min_kept_fraction : float
        Runs keeping a smaller fraction of their volumes are excluded.
    incremental : bool
        Reuse the sums of the previous incremental group run (``group/.incremental/``).
    nprocs : int
        Processes reading the participants' matrices.
    reports : bool
        Write the group report.
    work_dir : path, optional
        Checked like the participant level's (writable, not inside ``bids_dir``);
        the group level keeps nothing there. A temporary folder by default.
    command_line : str, optional
        Provenance for the sidecars and the report; by default the Python call,
        ``regionseries.run_group('BIDS_DIR', 'OUTPUT_DIR', <the options not left at their default>)``.

    Returns
    -------
    GroupSummary
        Files written, failures, the QC table, the log file and the exit status.

    Raises
    ------
    FileNotFoundError
        ``bids_dir`` does not exist.
    regionseries.job.OptionError
        ``output_dir`` or ``work_dir`` is inside ``bids_dir``, or a label is invalid.
    NoParticipantOutputs
        ``output_dir`` does not exist or holds no participant-level output.
    regionseries.job.OutputNotWritable, regionseries.bids.outputs.DiskFull
        ``output_dir`` or the work folder cannot be written.
    """
    if command_line is None:
        command_line = python_call(run_group, dict(locals()))
    bids_dir, output_dir = Path(bids_dir), Path(output_dir)
    participants = as_list(participant_label)
    if participants is not None:
        participants = [strip_label_prefix(label, "sub-") for label in participants]
    with job_folders(bids_dir, output_dir, None if work_dir is None else Path(work_dir)):
        if not output_dir.is_dir():
            raise NoParticipantOutputs(f"OUTPUT_DIR {output_dir} does not exist: run the participant level first")
        check_output_dir(output_dir)
        with log_file(output_dir, "group", None) as log_path:
            options = GroupOptions(max_mean_fd=max_mean_fd, min_kept_fraction=min_kept_fraction,
                                   participants=participants, command_line=command_line, reports=reports,
                                   nprocs=nprocs, incremental=incremental)
            summary = aggregate(output_dir, options)
            summary.log_file = log_path
            for path, reason in summary.failures:
                LOGGER.error("  %s: %s", path, reason)
            excluded = summary.qc_table[summary.qc_table["excluded"]] if summary.qc_table is not None else []
            LOGGER.info("QC table: %d row(s), %d excluded by the documented criteria.",
                        0 if summary.qc_table is None else len(summary.qc_table), len(excluded))
            LOGGER.info("Group outputs: %s", output_dir / "group")
            LOGGER.info("Log: %s", log_path)
    return summary


def aggregate(output_dir: str | Path, options: GroupOptions) -> GroupSummary:
    """Aggregate the participant outputs of ``output_dir`` (see the module docstring).

    With ``options.nprocs`` > 1 the matrices (and the time-series sidecars
    of the QC table) are read by that many worker processes, in chunks of
    :data:`CHUNK_RUNS` runs whose sums are merged in order: the outputs are
    byte-identical whatever ``nprocs``. With ``options.incremental`` the sums
    of an earlier group run are reused when its runs are all still included
    and unchanged (see :class:`GroupCache`).

    Raises
    ------
    NoParticipantOutputs
        When no ``*_qc.json`` record is found.
    """
    output_dir = Path(output_dir)
    summary = GroupSummary()
    tables = []
    cache = GroupCache(output_dir / "group" / GroupCache.FOLDER) if options.incremental else None
    executor = _start_readers(options.nprocs) if options.nprocs > 1 else None
    try:
        records = collect_qc_records(output_dir, options.participants, executor)
        if not records:
            raise NoParticipantOutputs(
                f"no participant-level outputs (*_qc.json) in {output_dir}: run the participant level first"
            )
        groups: dict[tuple, list[dict]] = {}
        for record in records:
            groups.setdefault(_group_key(record), []).append(record)
        for (task, space, res, strategy), members in sorted(groups.items(),
                                                            key=lambda kv: tuple(str(k) for k in kv[0])):
            atlases = sorted({atlas for record in members for atlas in _series_sidecars(record)})
            if not atlases:
                atlases = [None]
            for atlas in atlases:
                table = _qc_table(members, atlas, options, executor)
                tables.append(table)
                _write_group_outputs(output_dir, task, space, res, atlas, strategy, members, table, options,
                                     summary, executor, cache)
    except BaseException:
        if executor is not None:
            _stop_readers(executor, interrupted=True)
        raise
    if executor is not None:
        _stop_readers(executor)
    summary.qc_table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    if options.reports:
        _write_group_report(output_dir, summary, options)
    return summary


# --------------------------------------------------------------------------------------
# Reading in parallel
# --------------------------------------------------------------------------------------

#: Runs per chunk when matrices are read: each chunk's sums are made apart and
#: merged in order, so that the results do not depend on ``--nprocs``.
CHUNK_RUNS = 32


def _reader_init() -> None:
    # Ctrl-C reaches every process of the terminal: the main process decides.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _start_readers(nprocs: int) -> concurrent.futures.ProcessPoolExecutor:
    return concurrent.futures.ProcessPoolExecutor(max_workers=nprocs, initializer=_reader_init,
                                                  mp_context=multiprocessing.get_context("spawn"))


def _stop_readers(executor: concurrent.futures.ProcessPoolExecutor, interrupted: bool = False) -> None:
    """Shut the readers down; on an error or a signal, without waiting for their chunks."""
    if not interrupted:
        executor.shutdown(wait=True)
        return
    processes = list((executor._processes or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(Exception):
            process.terminate()


def _in_order(executor, function, tasks: Iterable[tuple]) -> Iterator:
    """``function(*task)`` for each task, in order; in the executor's processes if any.

    At most two tasks per process are pending at a time, so that memory does
    not grow with the number of tasks.
    """
    if executor is None:
        for task in tasks:
            yield function(*task)
        return
    pending: collections.deque = collections.deque()
    window = 2 * executor._max_workers
    for task in tasks:
        pending.append(executor.submit(function, *task))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _chunks(items: Sequence, size: int = CHUNK_RUNS) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


#: The two lists of a time-series sidecar the QC table counts (``"Key": [``).
_NA_KEYS = {key: re.compile(rf'"{key}"\s*:\s*(?=\[)') for key in ("RegionsBelowCoverage", "RegionsWithoutVoxels")}
_JSON_DECODER = json.JSONDecoder()


def _sidecar_lists(text: str) -> dict[str, Any]:
    """``RegionsBelowCoverage`` and ``RegionsWithoutVoxels`` of a time-series sidecar's text.

    Decodes only these two lists when each key occurs once in the text (as
    in every sidecar the participant level writes: 6x faster than decoding
    the whole 18 KB sidecar of a 400-region atlas); otherwise the whole JSON.
    """
    found: dict[str, Any] = {}
    for key, pattern in _NA_KEYS.items():
        if text.count(f'"{key}"') > 1:
            return json.loads(text)
        match = pattern.search(text)
        if match:
            found[key] = _JSON_DECODER.raw_decode(text, match.end())[0]
    return found


def _regions_na(paths: Sequence[Path | None]) -> list[int | None]:
    """Regions set to n/a (below coverage or without voxels) from each time-series sidecar."""
    counts: list[int | None] = []
    for path in paths:
        if path is None:
            counts.append(None)
            continue
        try:
            content = _sidecar_lists(path.read_text(encoding="utf-8"))
            below = content.get("RegionsBelowCoverage", [])
            counts.append(len(below) + len([n for n in content.get("RegionsWithoutVoxels", []) if n not in below]))
        except (OSError, ValueError, AttributeError, TypeError):
            counts.append(None)
    return counts


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


def _read_run_matrix(path: Path, names: list[str] | None,
                     failures: list[tuple[str, str]]) -> tuple[list[str], np.ndarray] | None:
    """One run's region names and matrix, or None (and a failure) when unreadable or over other regions than
    ``names``."""
    try:
        these, matrix = read_relmat(path)
    except MalformedMatrix as exc:
        failures.append((str(path), f"cannot read: {exc.reason}"))
        return None
    except (OSError, ValueError) as exc:
        failures.append((str(path), f"cannot read: {exc}"))
        return None
    if names is not None and these != names:
        failures.append((str(path), f"its regions differ from the other runs' ({len(these)} vs {len(names)})"))
        return None
    return these, matrix


# --------------------------------------------------------------------------------------
# Incremental mode
# --------------------------------------------------------------------------------------

class GroupCache:
    """Sums of an earlier group run, reused when only runs were added (``--incremental``).

    One file per task, space, atlas, strategy and measure in
    ``OUTPUT_DIR/group/.incremental/``: the :class:`RunningEdges` sums, the
    region names, the number of runs where each diagonal entry was finite,
    and the runs they include, each with its matrix file's size and
    modification time (ns) and the mean FD it was added with.

    An entry is updated rather than recomputed when the runs it includes
    that are no longer included now (excluded under the current options,
    left out by ``--participant-label``, or with another mean FD) still have
    the same matrix file (size and modification time): their matrices are
    read again and their sums taken away, and the runs included now but not
    in the entry are read and added. So adding participants, or changing a
    threshold, reads only the runs that changed sides. When a run of the
    entry was removed or its matrix changed, when more runs would be taken
    away than kept, or with another version of regionseries, every run is
    read again and the entry replaced. The results equal a run from scratch
    up to round-off (the sums are added in another order).
    """

    FOLDER = ".incremental"
    VERSION = 1

    def __init__(self, folder: Path):
        self.folder = folder

    def _path(self, name: str) -> Path:
        return self.folder / f"{name}.npz"

    def load(self, name: str, fisher: bool) -> tuple[dict, RunningEdges, np.ndarray] | None:
        """The entry ``name`` (its description, sums and finite diagonal), or None."""
        path = self._path(name)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as stored:
                arrays = {key: stored[key] for key in stored.files}
            about = json.loads(str(arrays.pop("about")))
            diagonal_finite = arrays.pop("diagonal_finite").astype(np.int64)
            edges = RunningEdges.from_state(arrays)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            LOGGER.warning("ignoring the group cache %s: %s", path, exc)
            return None
        if about.get("version") != self.VERSION or about.get("software") != __version__ or about.get("fisher") != fisher:
            return None
        return about, edges, diagonal_finite

    def save(self, name: str, fisher: bool, names: list[str], runs: list[list], edges: RunningEdges,
             diagonal_finite: np.ndarray) -> None:
        about = {"version": self.VERSION, "software": __version__, "fisher": fisher, "names": names, "runs": runs}
        buffer = io.BytesIO()
        np.savez(buffer, about=np.asarray(json.dumps(about)), diagonal_finite=diagonal_finite, **edges.state())
        atomic_write_bytes(self._path(name), buffer.getvalue())

    def remove(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)


def _signature(output_dir: Path, path: Path, fd: float) -> list:
    """What identifies one run's contribution: the matrix file (relative path, size, mtime in ns) and its mean FD."""
    info = path.stat()
    return [path.relative_to(output_dir).as_posix(), info.st_size, info.st_mtime_ns, None if math.isnan(fd) else fd]


# --------------------------------------------------------------------------------------
# Writing the group outputs
# --------------------------------------------------------------------------------------

def _qc_table(members: list[dict], atlas: str | None, options: GroupOptions, executor=None) -> pd.DataFrame:
    rows = []
    sidecars = [_series_sidecars(record).get(atlas) if atlas else None for record in members]
    regions_na = [count for chunk in _in_order(executor, _regions_na, ((c,) for c in _chunks(sidecars, 256)))
                  for count in chunk]
    for record, n_regions_na in zip(members, regions_na):
        entities = record["_entities"]
        reasons = exclusion_reasons(record, options)
        row: dict[str, Any] = {key: entities.get(key) for key in RUN_ENTITIES if key in entities}
        row.update({
            "atlas": atlas,
            "strategy": entities.get("desc"),
            "status": record.get("Status"),
            "n_volumes": record.get("NumberOfVolumes"),
            "n_volumes_kept": record.get("NumberOfVolumesKept"),
            "n_dummy_volumes": record.get("NumberOfVolumesDiscardedByNonsteadyStatesDetector"),
            "n_motion_censored": record.get("NumberOfVolumesDiscardedByMotionScrubbing"),
            "mean_fd_mm": record.get("MeanFramewiseDisplacement"),
            "dof_lost": record.get("DegreesOfFreedomLost"),
            "n_regions_na": n_regions_na,
            "excluded": bool(reasons),
            "exclusion_reason": "; ".join(reasons) if reasons else None,
            "bold": record.get("Bold"),
        })
        rows.append(row)
    table = pd.DataFrame(rows)
    for key in ("sub", "ses", "run"):
        if key in table.columns:
            table[key] = table[key].astype("string")
    order = [c for c in RUN_ENTITIES if c in table.columns]
    return table.sort_values(order).reset_index(drop=True) if order else table


def _name(task: str, space: str, res: str | None, atlas: str | None, strategy: str, suffix: str,
          extension: str, stat: str | None = None) -> BIDSName:
    return BIDSName.create(suffix, extension, None, task=task or None, space=space or None, res=res,
                           atlas=atlas, stat=stat, desc=strategy)


def _write_group_outputs(output_dir: Path, task: str, space: str, res: str | None, atlas: str | None,
                         strategy: str, members: list[dict], table: pd.DataFrame, options: GroupOptions,
                         summary: GroupSummary, executor=None, cache: GroupCache | None = None) -> None:
    folder = output_dir / "group"
    criteria = options.criteria()
    qc_path = folder / _name(task, space, res, atlas, strategy, "qc", ".tsv").filename
    atomic_write_tsv(qc_path, table)
    atomic_write_json(qc_path.with_suffix(".json"), {
        "Description": "One row per run: volumes kept, mean framewise displacement (mm), degrees of freedom "
                       "lost, regions set to n/a, exclusion and its reasons.",
        "ExclusionCriteria": criteria,
        "Software": {"Name": "regionseries", "Version": __version__},
        "CommandLine": options.command_line,
    })
    excluded = table[table["excluded"]]
    exclusions_path = folder / _name(task, space, res, atlas, strategy, "exclusions", ".tsv").filename
    columns = [c for c in (*RUN_ENTITIES, "bold", "exclusion_reason") if c in excluded.columns]
    atomic_write_tsv(exclusions_path, excluded[columns])
    summary.outputs += [qc_path, qc_path.with_suffix(".json"), exclusions_path]
    if atlas is None:
        return
    included = [record for record, is_excluded in zip(_sorted_like(members, table), table["excluded"]) if not is_excluded]
    for stat, how in (("correlation", "fisher"), ("partialcorrelation", "fisher"), ("covariance", "mean")):
        cache_name = _name(task, space, res, atlas, strategy, "sums", ".npz", stat=stat).filename[:-len(".npz")]
        added = _accumulate_matrices(included, atlas, stat, fisher=how == "fisher", summary=summary,
                                     executor=executor, cache=cache, cache_name=cache_name, output_dir=output_dir)
        if added is None:
            _remove_stale_outputs(folder, task, space, res, atlas, strategy, stat, with_fisher_z=how == "fisher")
            if cache is not None:
                cache.remove(cache_name)
            continue
        edges, names, runs, fds, diagonal_finite = added
        if how == "fisher":
            mean_z, count = edges.mean()
            mean_r = inverse_fisher_z(mean_z)
            np.fill_diagonal(mean_r, np.where(diagonal_finite, 1.0, np.nan))
            _write_mean(folder, task, space, res, atlas, strategy, stat, names, mean_r, runs, count,
                        "Fisher z-transform of each run's matrix, mean over runs, inverse transform", summary)
            _write_mean(folder, task, space, res, atlas, strategy, f"{stat}fisherz", names, mean_z, runs, count,
                        "mean over runs of the Fisher z-transformed matrices (diagonal undefined)", summary)
            if stat == "correlation":
                _write_qcfc(output_dir, folder, task, space, res, atlas, strategy, names, edges, fds, runs,
                            included, summary)
        else:
            mean, count = edges.mean()
            _write_mean(folder, task, space, res, atlas, strategy, stat, names, mean, runs,
                        count, "arithmetic mean over runs", summary)


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


def _remove_stale_outputs(folder: Path, task, space, res, atlas: str, strategy: str, stat: str,
                          with_fisher_z: bool) -> None:
    """Delete the group averages (and QC-FC) of ``stat`` left by an earlier group run.

    Called when no included run has a ``stat`` matrix (e.g. every run is
    excluded under stricter criteria): an older average would otherwise stay
    next to a QC table that excludes all of its runs.
    """
    stats = [stat, f"{stat}fisherz"] if with_fisher_z else [stat]
    stems = [_name(task, space, res, atlas, strategy, "relmat", ".tsv", stat=s) for s in stats]
    if stat == "correlation":
        stems.append(_name(task, space, res, atlas, strategy, "qcfc", ".tsv"))
    for name in stems:
        for path in (folder / name.filename, folder / name.replace(extension=".json").filename):
            if path.exists():
                path.unlink()
                LOGGER.info("removed %s: no included run has a %s matrix now", path.name, stat)


def _sorted_like(members: list[dict], table: pd.DataFrame) -> list[dict]:
    """Records in the row order of the QC table (matched by BOLD URI)."""
    by_bold = {record.get("Bold"): record for record in members}
    return [by_bold[b] for b in table["bold"]]


def _write_mean(folder: Path, task, space, res, atlas, strategy, stat, names, matrix, runs, count,
                method: str, summary: GroupSummary) -> None:
    path = folder / _name(task, space, res, atlas, strategy, "relmat", ".tsv", stat=stat).filename
    atomic_write_tsv(path, pd.DataFrame(matrix, index=pd.Index(names), columns=names), index_label="node")
    atomic_write_json(path.with_suffix(".json"), {
        "RelationshipMeasure": stat,
        "MeasureDescription": f"Group average over {len(runs)} included runs: {method}.",
        "Weighted": True,
        "Directed": False,
        "ValidDiagonal": stat == "covariance",
        "StorageFormat": "Full",
        "NumberOfRuns": len(runs),
        "MinimumRunsPerEdge": int(np.min(count)) if np.size(count) else 0,
        "Runs": runs,
        "Software": {"Name": "regionseries", "Version": __version__},
    })
    summary.outputs += [path, path.with_suffix(".json")]


def _write_qcfc(output_dir: Path, folder: Path, task, space, res, atlas, strategy, names, edges: RunningEdges,
                fds, runs, records, summary: GroupSummary) -> None:
    upper = edges.upper
    r, p, n = edges.correlation()
    distances = np.full(r.shape, np.nan)
    first_sidecar = None
    for record in records:
        sidecar = _series_sidecars(record).get(atlas)
        if sidecar is not None:
            first_sidecar = _read_json(sidecar)
            break
    centroids = atlas_centroids(output_dir, first_sidecar or {})
    if centroids is not None and centroids[0] == names:
        xyz = centroids[1]
        distances = np.linalg.norm(xyz[upper[0]] - xyz[upper[1]], axis=1)
    table = pd.DataFrame({
        "region_1": [names[i] for i in upper[0]],
        "region_2": [names[j] for j in upper[1]],
        "distance_mm": distances,
        "qcfc": r,
        "p_value": p,
        "n_runs": n,
    })
    path = folder / _name(task, space, res, atlas, strategy, "qcfc", ".tsv").filename
    atomic_write_tsv(path, table)
    finite = np.isfinite(r)
    qcfc_summary = summarize_qcfc(r, distances)
    rho, rho_p = qcfc_summary.distance_dependence, qcfc_summary.distance_dependence_p
    median_abs = qcfc_summary.median_abs_qcfc if finite.any() else None
    significant = float(np.mean(p[finite] < 0.05)) if finite.any() else None
    n_runs = int(np.isfinite(fds).sum())
    info = {
        "Description": (
            "QC-FC: for each edge, Pearson correlation across included runs between the edge's Fisher-z "
            "connectivity and the run's mean framewise displacement; distance = Euclidean distance (mm) "
            "between the regions' centroids."
        ),
        "NumberOfRuns": n_runs,
        "MedianAbsoluteQCFC": median_abs,
        "FractionOfEdgesWithPBelow0.05": significant,
        "DistanceDependence": {"SpearmanRho": rho, "PValue": rho_p},
        "MeanFramewiseDisplacementRange": [float(np.nanmin(fds)), float(np.nanmax(fds))] if n_runs else None,
        "Note": None if n_runs >= MIN_RUNS_QCFC else f"fewer than {MIN_RUNS_QCFC} runs: QC-FC is undefined",
        "Runs": runs,
        "Software": {"Name": "regionseries", "Version": __version__},
    }
    atomic_write_json(path.with_suffix(".json"), info)
    summary.outputs += [path, path.with_suffix(".json")]
    summary.qcfc.append({"atlas": atlas, "strategy": strategy, "task": task, "space": space,
                         "edge_correlations": r, "edge_distances_mm": distances, "n_runs": n_runs,
                         "median_abs_qcfc": median_abs, "distance_dependence": rho})


def _write_group_report(output_dir: Path, summary: GroupSummary, options: GroupOptions) -> None:
    try:
        from .report import GroupReport, QCFCResult, write_group_report
    except ImportError:
        return
    try:
        qcfc = []
        seen = set()
        for item in summary.qcfc:
            label = item["atlas"] if (item["atlas"], item["strategy"]) not in seen else f"{item['atlas']} ({item['task']}, {item['space']})"
            seen.add((item["atlas"], item["strategy"]))
            qcfc.append(QCFCResult(atlas=label, strategy=item["strategy"], edge_correlations=item["edge_correlations"],
                                   edge_distances_mm=item["edge_distances_mm"], n_runs=item["n_runs"],
                                   median_abs_qcfc=item["median_abs_qcfc"],
                                   distance_dependence=None if item["distance_dependence"] is None
                                   or math.isnan(item["distance_dependence"]) else item["distance_dependence"]))
        report = GroupReport(qc_table=summary.qc_table, qcfc=qcfc, exclusion_criteria=options.criteria(),
                             software_version=__version__, command_line=options.command_line,
                             parameters={"max_mean_fd_mm": options.max_mean_fd,
                                         "min_kept_fraction": options.min_kept_fraction})
        path = write_group_report(report, output_dir)
        summary.outputs.append(path)
        LOGGER.info("group report: %s", path)
    except Exception as exc:  # noqa: BLE001 - a report failure must not lose the outputs
        LOGGER.error("group report failed: %s: %s", type(exc).__name__, exc)
        summary.failures.append(("group report", f"{type(exc).__name__}: {exc}"))
