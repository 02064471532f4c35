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
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ._version import __version__
from .bids.outputs import BIDSName, atomic_write_json, atomic_write_tsv, parse_entities
from .core.connectivity import fisher_z, inverse_fisher_z

LOGGER = logging.getLogger("regionseries")

#: Entities identifying a run in the QC table.
RUN_ENTITIES = ("sub", "ses", "task", "acq", "ce", "rec", "dir", "run", "echo", "part", "space", "res", "den")

#: Minimum number of runs for QC-FC.
MIN_RUNS_QCFC = 3


class NoParticipantOutputs(Exception):
    """OUTPUT_DIR holds no participant-level output to aggregate."""


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
    """

    max_mean_fd: float = 0.55
    min_kept_fraction: float = 0.5
    participants: Sequence[str] | None = None
    command_line: str = ""
    reports: bool = True

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


# --------------------------------------------------------------------------------------
# Reading participant outputs
# --------------------------------------------------------------------------------------

def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def collect_qc_records(output_dir: Path, participants: Sequence[str] | None = None) -> list[dict]:
    """Every per-run, per-strategy QC record (``*_qc.json``) of the participant level."""
    records = []
    for path in sorted(output_dir.glob("sub-*/**/func/*_qc.json")):
        entities = parse_entities(path)
        if participants and entities.get("sub") not in participants:
            continue
        try:
            content = _read_json(path)
        except (OSError, ValueError) as exc:
            LOGGER.warning("cannot read %s: %s", path, exc)
            continue
        content["_path"] = path
        content["_entities"] = entities
        records.append(content)
    return records


def _series_sidecars(record: dict) -> dict[str, Path]:
    """Time-series sidecars of the record's run and strategy, by atlas label."""
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


def read_relmat(path: Path) -> tuple[list[str], np.ndarray]:
    """A relmat TSV (``node`` column + region columns, ``n/a`` for missing)."""
    table = pd.read_csv(path, sep="\t", index_col=0, na_values="n/a", keep_default_na=False)
    return [str(c) for c in table.columns], table.to_numpy(dtype=float)


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

    Parameters
    ----------
    n_regions : int
        K.
    covariate_shift : float
        A value near the covariate's mean (e.g. the mean FD of the runs).
    """

    def __init__(self, n_regions: int, covariate_shift: float = 0.0):
        shape = (n_regions, n_regions)
        self.count = np.zeros(shape, dtype=np.int64)
        self.total = np.zeros(shape)
        self.upper = np.triu_indices(n_regions, k=1)
        n_edges = len(self.upper[0])
        self.pairs = np.zeros(n_edges, dtype=np.int64)
        self._sums = {name: np.zeros(n_edges) for name in ("x", "y", "xx", "yy", "xy")}
        self._x_shift = float(covariate_shift) if np.isfinite(covariate_shift) else 0.0
        self._y_shift: np.ndarray | None = None

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


def spearman(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Spearman correlation and p-value over finite pairs (NaN with < 3 pairs)."""
    from scipy import stats

    finite = np.isfinite(x) & np.isfinite(y)
    if finite.sum() < 3 or np.ptp(x[finite]) == 0 or np.ptp(y[finite]) == 0:
        return math.nan, math.nan
    result = stats.spearmanr(x[finite], y[finite])
    return float(result.statistic), float(result.pvalue)


# --------------------------------------------------------------------------------------
# The group level
# --------------------------------------------------------------------------------------

def _group_key(record: dict) -> tuple[str, str, str | None, str]:
    entities = record["_entities"]
    return entities.get("task", ""), entities.get("space", ""), entities.get("res"), entities.get("desc", "")


def run_group(output_dir: str | Path, options: GroupOptions) -> GroupSummary:
    """Aggregate the participant outputs of ``output_dir`` (see the module docstring).

    Raises
    ------
    NoParticipantOutputs
        When no ``*_qc.json`` record is found.
    """
    output_dir = Path(output_dir)
    records = collect_qc_records(output_dir, options.participants)
    if not records:
        raise NoParticipantOutputs(
            f"no participant-level outputs (*_qc.json) in {output_dir}: run the participant level first"
        )
    summary = GroupSummary()
    tables = []
    groups: dict[tuple, list[dict]] = {}
    for record in records:
        groups.setdefault(_group_key(record), []).append(record)
    for (task, space, res, strategy), members in sorted(groups.items(), key=lambda kv: tuple(str(k) for k in kv[0])):
        atlases = sorted({atlas for record in members for atlas in _series_sidecars(record)})
        if not atlases:
            atlases = [None]
        for atlas in atlases:
            table = _qc_table(members, atlas, options)
            tables.append(table)
            _write_group_outputs(output_dir, task, space, res, atlas, strategy, members, table, options, summary)
    summary.qc_table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    if options.reports:
        _write_group_report(output_dir, summary, options)
    return summary


def _qc_table(members: list[dict], atlas: str | None, options: GroupOptions) -> pd.DataFrame:
    rows = []
    for record in members:
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
            "n_regions_na": None,
            "excluded": bool(reasons),
            "exclusion_reason": "; ".join(reasons) if reasons else None,
            "bold": record.get("Bold"),
        })
        sidecar = _series_sidecars(record).get(atlas) if atlas else None
        if sidecar is not None:
            try:
                content = _read_json(sidecar)
                row["n_regions_na"] = len(content.get("RegionsBelowCoverage", [])) + len(
                    [n for n in content.get("RegionsWithoutVoxels", []) if n not in content.get("RegionsBelowCoverage", [])])
            except (OSError, ValueError):
                pass
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
                         summary: GroupSummary) -> None:
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
        added = _accumulate_matrices(included, atlas, stat, fisher=how == "fisher", summary=summary)
        if added is None:
            _remove_stale_outputs(folder, task, space, res, atlas, strategy, stat, with_fisher_z=how == "fisher")
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


def _accumulate_matrices(records: list[dict], atlas: str, stat: str, fisher: bool, summary: GroupSummary):
    """Read the runs' ``stat`` matrices of ``atlas`` one at a time into a :class:`RunningEdges`.

    Returns None when no run has such a matrix; otherwise the sums, the
    region names, the runs' file names, their mean FDs and whether each
    diagonal entry was finite in every run. Matrices whose regions differ
    from the first run's, or that cannot be read, are reported as failures.
    """
    edges: RunningEdges | None = None
    names: list[str] | None = None
    runs: list[str] = []
    fds: list[float] = []
    diagonal_finite: np.ndarray | None = None
    known_fds = [float(r["MeanFramewiseDisplacement"]) for r in records
                 if r.get("MeanFramewiseDisplacement") is not None]
    fd_shift = float(np.nanmean(known_fds)) if known_fds and np.isfinite(known_fds).any() else 0.0
    for record in records:
        sidecar = _series_sidecars(record).get(atlas)
        if sidecar is None:
            continue
        path = _relmat_path(sidecar, stat)
        if not path.exists():
            continue
        try:
            these, matrix = read_relmat(path)
        except (OSError, ValueError, pd.errors.ParserError) as exc:
            summary.failures.append((str(path), f"cannot read: {exc}"))
            continue
        if names is None:
            names = these
            edges = RunningEdges(len(names), covariate_shift=fd_shift)
            diagonal_finite = np.ones(len(names), dtype=bool)
        elif these != names:
            summary.failures.append((str(path), f"its regions differ from the other runs' ({len(these)} vs {len(names)})"))
            continue
        mean_fd = record.get("MeanFramewiseDisplacement")
        fd = math.nan if mean_fd is None else float(mean_fd)
        diagonal_finite &= np.isfinite(np.diagonal(matrix))
        edges.add(fisher_z(matrix) if fisher else matrix, fd)
        runs.append(path.name)
        fds.append(fd)
    if edges is None:
        return None
    return edges, names, runs, np.asarray(fds, dtype=float), diagonal_finite


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
    rho, rho_p = spearman(r, distances)
    median_abs = float(np.median(np.abs(r[finite]))) if finite.any() else None
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
