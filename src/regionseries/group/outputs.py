"""Writing ``OUTPUT_DIR/group/``: QC tables, exclusions, group-average matrices, QC-FC and the group report."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd

from .._version import __version__
from ..bids.names import BIDSName
from ..bids.outputs import atomic_write_json, atomic_write_tsv
from ..core.connectivity import inverse_fisher_z
from ..core.qc import qcfc_caveats, summarize_qcfc
from .accumulate import Accumulated, _accumulate_matrices
from .cache import GroupCache
from .edges import MIN_RUNS_QCFC
from .exclusions import RUN_ENTITIES, _sorted_like
from .options import GroupOptions, GroupSummary, QCTables
from .reading import _read_json, _series_sidecars, atlas_centroids

LOGGER = logging.getLogger("regionseries")


def _name(task: str, space: str, sampling: tuple[tuple[str, str], ...], atlas: str | None, strategy: str,
          suffix: str, extension: str, stat: str | None = None) -> BIDSName:
    """A group output's name; ``sampling`` holds the runs' ``res`` and ``den`` entities, as ``(entity, label)`` pairs."""
    return BIDSName.create(suffix, extension, None, task=task or None, space=space or None, **dict(sampling),
                           atlas=atlas, stat=stat, desc=strategy)


def _write_group_outputs(output_dir: Path, task: str, space: str, sampling: tuple[tuple[str, str], ...],
                         atlas: str | None, strategy: str, members: list[dict], table: pd.DataFrame, options: GroupOptions,
                         summary: GroupSummary, executor=None, cache: GroupCache | None = None,
                         tables: QCTables | None = None) -> None:
    """Write the QC table, exclusions, averages and QC-FC of one task, space, atlas and strategy.

    ``tables``, when given, keeps the QC table once written (for
    ``GroupSummary.qc_table`` and the report).
    """
    folder = output_dir / "group"
    criteria = options.criteria()
    series = _series_kind(members)
    qc_path = folder / _name(task, space, sampling, atlas, strategy, "qc", ".tsv").filename
    atomic_write_tsv(qc_path, table)
    atomic_write_json(qc_path.with_suffix(".json"), {
        "Description": f"One row per {series['Row']}: volumes kept, mean framewise displacement (mm), degrees of "
                       "freedom lost, regions set to n/a, exclusion and its reasons.",
        "Series": series,
        "ExclusionCriteria": criteria,
        "Software": {"Name": "regionseries", "Version": __version__},
        "CommandLine": options.command_line,
    })
    excluded = table[table["excluded"]]
    exclusions_path = folder / _name(task, space, sampling, atlas, strategy, "exclusions", ".tsv").filename
    columns = [c for c in (*RUN_ENTITIES, "bold", "exclusion_reason") if c in excluded.columns]
    atomic_write_tsv(exclusions_path, excluded[columns])
    summary.outputs += [qc_path, qc_path.with_suffix(".json"), exclusions_path]
    if tables is not None:
        tables.add(table, qc_path)
    if atlas is None:
        return
    included = [record for record, is_excluded in zip(_sorted_like(members, table), table["excluded"]) if not is_excluded]
    for stat, how in (("correlation", "fisher"), ("partialcorrelation", "fisher"), ("covariance", "mean")):
        cache_name = _name(task, space, sampling, atlas, strategy, "sums", ".npz", stat=stat).filename[:-len(".npz")]
        added = _accumulate_matrices(included, atlas, stat, fisher=how == "fisher", summary=summary,
                                     executor=executor, cache=cache, cache_name=cache_name, output_dir=output_dir,
                                     by_participant=options.qcfc_unit == "participant" and stat == "correlation")
        if added is None:
            _remove_stale_outputs(folder, task, space, sampling, atlas, strategy, stat, with_fisher_z=how == "fisher")
            if cache is not None:
                cache.remove(cache_name)
            continue
        edges, names, runs = added.edges, added.names, added.runs
        if how == "fisher":
            mean_z, count = edges.mean()
            mean_r = inverse_fisher_z(mean_z)
            np.fill_diagonal(mean_r, np.where(added.diagonal_finite, 1.0, np.nan))
            _write_mean(folder, task, space, sampling, atlas, strategy, stat, names, mean_r, runs, count,
                        "Fisher z-transform of each run's matrix, mean over runs, inverse transform", summary, series)
            _write_mean(folder, task, space, sampling, atlas, strategy, f"{stat}fisherz", names, mean_z, runs, count,
                        "mean over runs of the Fisher z-transformed matrices (diagonal undefined)", summary, series)
            if stat == "correlation":
                _write_qcfc(output_dir, folder, task, space, sampling, atlas, strategy, added, included, options,
                            summary, series)
                summary.mean_connectomes.append({"atlas": atlas, "strategy": strategy, "task": task,
                                                 "space": space, "names": names, "matrix": mean_r,
                                                 "n_runs": len(runs)})
        else:
            mean, count = edges.mean()
            _write_mean(folder, task, space, sampling, atlas, strategy, stat, names, mean, runs,
                        count, "arithmetic mean over runs", summary, series)


def _series_kind(members: list[dict]) -> dict[str, str]:
    """What one row, one matrix and one "run" of a group are: a BOLD run, or (``--combine-runs``) the runs of a
    participant, task, session and space concatenated, each counted once (the ``Series`` of the JSON files)."""
    if any(record.get("Concatenated") for record in members):
        return {"Kind": "concatenated runs",
                "Row": "participant, task, session and space (its runs concatenated by --combine-runs)",
                "Description": "Each series is a participant's runs of the task (in one session and space) "
                               "concatenated at the participant level (--combine-runs, desc-<strategy>Concat); it "
                               "is counted once, in place of its runs. The per-run outputs are aggregated apart, "
                               "under desc-<strategy>."}
    return {"Kind": "runs", "Row": "run", "Description": "Each series is one BOLD run."}


def _remove_stale_outputs(folder: Path, task, space, sampling, atlas: str, strategy: str, stat: str,
                          with_fisher_z: bool) -> None:
    """Delete the group averages (and QC-FC) of ``stat`` left by an earlier group run.

    Called when no included run has a ``stat`` matrix (e.g. every run is
    excluded under stricter criteria): an older average would otherwise stay
    next to a QC table that excludes all of its runs.
    """
    stats = [stat, f"{stat}fisherz"] if with_fisher_z else [stat]
    stems = [_name(task, space, sampling, atlas, strategy, "relmat", ".tsv", stat=s) for s in stats]
    if stat == "correlation":
        stems.append(_name(task, space, sampling, atlas, strategy, "qcfc", ".tsv"))
    for name in stems:
        for path in (folder / name.filename, folder / name.replace(extension=".json").filename):
            if path.exists():
                path.unlink()
                LOGGER.info("removed %s: no included run has a %s matrix now", path.name, stat)


def _write_mean(folder: Path, task, space, sampling, atlas, strategy, stat, names, matrix, runs, count,
                method: str, summary: GroupSummary, series: dict[str, str] | None = None) -> None:
    path = folder / _name(task, space, sampling, atlas, strategy, "relmat", ".tsv", stat=stat).filename
    atomic_write_tsv(path, pd.DataFrame(matrix, index=pd.Index(names), columns=names), index_label="node")
    atomic_write_json(path.with_suffix(".json"), {
        "RelationshipMeasure": stat,
        "MeasureDescription": f"Group average over {len(runs)} included {(series or {}).get('Kind', 'runs')}: "
                              f"{method}.",
        "Weighted": True,
        "Directed": False,
        "ValidDiagonal": stat == "covariance",
        "StorageFormat": "Full",
        "NumberOfRuns": len(runs),
        "MinimumRunsPerEdge": int(np.min(count)) if np.size(count) else 0,
        "Runs": runs,
        "Series": series or {"Kind": "runs"},
        "Software": {"Name": "regionseries", "Version": __version__},
    })
    summary.outputs += [path, path.with_suffix(".json")]


def _write_qcfc(output_dir: Path, folder: Path, task, space, sampling, atlas, strategy, added: Accumulated,
                records, options: GroupOptions, summary: GroupSummary, series: dict[str, str] | None = None) -> None:
    edges, names, fds = added.edges, added.names, added.fds
    unit = options.qcfc_unit
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
    columns = {
        "region_1": [names[i] for i in upper[0]],
        "region_2": [names[j] for j in upper[1]],
        "distance_mm": distances,
        "qcfc": r,
        "p_value": p,
        "n_runs": edges.runs.copy() if unit == "participant" else n,
    }
    if unit == "participant":
        columns["n_participants"] = n
    table = pd.DataFrame(columns)
    path = folder / _name(task, space, sampling, atlas, strategy, "qcfc", ".tsv").filename
    atomic_write_tsv(path, table)
    finite = np.isfinite(r)
    qcfc_summary = summarize_qcfc(r, distances)
    rho, rho_p = qcfc_summary.distance_dependence, qcfc_summary.distance_dependence_p
    median_abs = qcfc_summary.median_abs_qcfc if finite.any() else None
    significant = float(np.mean(p[finite] < 0.05)) if finite.any() else None
    with_fd = np.isfinite(fds)
    n_runs = int(with_fd.sum())
    participants = sorted({participant for participant, known in zip(added.participants, with_fd) if known})
    n_samples = len(participants) if unit == "participant" else n_runs
    caveats = qcfc_caveats(unit, len(participants), n_runs)
    if unit == "participant":
        description = (
            "QC-FC: for each edge, Pearson correlation across included participants between the edge's Fisher-z "
            "connectivity, averaged over the participant's included runs, and the participant's motion, the mean "
            "of those runs' mean framewise displacement (runs without a mean FD left out of both); distance = "
            "Euclidean distance (mm) between the regions' centroids."
        )
    else:
        description = (
            "QC-FC: for each edge, Pearson correlation across included runs between the edge's Fisher-z "
            "connectivity and the run's mean framewise displacement, each run an independent sample (runs of "
            "one participant pooled); distance = Euclidean distance (mm) between the regions' centroids."
        )
    info = {
        "Description": description,
        "QCFCUnit": unit,
        "NumberOfRuns": n_runs,
        "NumberOfParticipants": len(participants),
        "MedianAbsoluteQCFC": median_abs,
        "FractionOfEdgesWithPBelow0.05": significant,
        "DistanceDependence": {"SpearmanRho": rho, "PValue": rho_p},
        "MeanFramewiseDisplacementRange": [float(np.nanmin(fds)), float(np.nanmax(fds))] if n_runs else None,
        "Note": None if n_samples >= MIN_RUNS_QCFC else f"fewer than {MIN_RUNS_QCFC} {unit}s: QC-FC is undefined",
        "Warnings": caveats,
        "Runs": added.runs,
        "Participants": participants,
        "Series": series or {"Kind": "runs"},
        "Software": {"Name": "regionseries", "Version": __version__},
    }
    atomic_write_json(path.with_suffix(".json"), info)
    summary.outputs += [path, path.with_suffix(".json")]
    summary.qcfc.append({"atlas": atlas, "strategy": strategy, "task": task, "space": space,
                         "edge_correlations": r, "edge_distances_mm": distances, "n_runs": n_runs,
                         "n_participants": len(participants), "unit": unit,
                         "median_abs_qcfc": median_abs, "distance_dependence": rho})


def _report_labels(items: list[dict]) -> list[str]:
    """Each item's atlas, with its task and space when another item has the same atlas and strategy."""
    labels, seen = [], set()
    for item in items:
        key = (item["atlas"], item["strategy"])
        labels.append(item["atlas"] if key not in seen else f"{item['atlas']} ({item['task']}, {item['space']})")
        seen.add(key)
    return labels


def _concatenated_strategies(table: pd.DataFrame | None) -> list[str]:
    """Strategies (desc labels) of the QC table whose rows are concatenated runs."""
    if table is None or "n_runs_concatenated" not in table or "strategy" not in table:
        return []
    return sorted(set(table.loc[table["n_runs_concatenated"].notna(), "strategy"].astype(str)))


def _write_group_report(output_dir: Path, summary: GroupSummary, options: GroupOptions,
                        tables: QCTables | None = None) -> None:
    """Write ``group.html``; the QC table from ``tables`` if given (only the report's columns and the
    excluded rows when it has more rows than the page lists), else from ``summary.qc_table``."""
    try:
        # Imported here: jinja2 and the report model are start-up a group level
        # run with --no-reports does not need. A failure to import is a failed
        # report, logged and counted like any other (it once hid a wrong import).
        from ..report import GroupReport, MeanConnectome, QCFCResult, write_group_report
        from ..report.group_page import QC_TABLE_MAX_ROWS

        qcfc = []
        for label, item in zip(_report_labels(summary.qcfc), summary.qcfc):
            qcfc.append(QCFCResult(atlas=label, strategy=item["strategy"], edge_correlations=item["edge_correlations"],
                                   edge_distances_mm=item["edge_distances_mm"], n_runs=item["n_runs"],
                                   median_abs_qcfc=item["median_abs_qcfc"],
                                   distance_dependence=None if item["distance_dependence"] is None
                                   or math.isnan(item["distance_dependence"]) else item["distance_dependence"],
                                   unit=item["unit"], n_participants=item["n_participants"]))
        connectomes = [MeanConnectome(atlas=label, strategy=item["strategy"], region_names=item["names"],
                                      matrix=item["matrix"], n_runs=item["n_runs"])
                       for label, item in zip(_report_labels(summary.mean_connectomes), summary.mean_connectomes)]
        parameters = {"max_mean_fd_mm": options.max_mean_fd, "min_kept_fraction": options.min_kept_fraction,
                      "qcfc_unit": options.qcfc_unit}
        qc_files = []
        excluded_rows = None
        if tables is None or tables.rows <= QC_TABLE_MAX_ROWS:
            qc_table = summary.qc_table
        else:  # the page lists no row of a larger table: what it summarises, and the excluded runs
            qc_table, excluded_rows = tables.report_frame(), tables.excluded_frame()
        if tables is not None:
            qc_files = [path.relative_to(output_dir).as_posix() for path in tables.files]
        concatenated = _concatenated_strategies(qc_table)
        if concatenated:
            parameters["concatenated_runs"] = (
                f"{', '.join(concatenated)}: one series per participant, task, session and space (its runs "
                "concatenated by --combine-runs), counted once in the averages, QC-FC and QC table; the other "
                "strategies: one per run")
        report = GroupReport(qc_table=qc_table, excluded_rows=excluded_rows, qc_table_files=qc_files, qcfc=qcfc,
                             exclusion_criteria=options.criteria(),
                             software_version=__version__, command_line=options.command_line,
                             parameters=parameters,
                             mean_connectomes=connectomes, max_mean_fd_mm=options.max_mean_fd)
        path = write_group_report(report, output_dir)
        summary.outputs.append(path)
        LOGGER.info("group report: %s", path)
    except Exception as exc:  # noqa: BLE001 - a report failure must not lose the outputs
        LOGGER.error("group report failed: %s: %s", type(exc).__name__, exc)
        summary.failures.append(("group report", f"{type(exc).__name__}: {exc}"))
