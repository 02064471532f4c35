"""The group level from end to end: :func:`run_group` (folders, log) and :func:`aggregate` (every group output)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path

from ..core.qc import QCFC_UNITS
from ..job import (
    OptionError,
    as_list,
    check_output_dir,
    job_folders,
    log_file,
    python_call,
    strip_label_prefix,
)
from .cache import GroupCache
from .exclusions import _qc_table
from .linc import linc_table, write_linc_table
from .options import GroupOptions, GroupSummary, NoParticipantOutputs, QCTables
from .outputs import _name, _write_group_outputs, _write_group_report
from .parallel import _start_readers, _stop_readers
from .reading import _series_sidecars, collect_qc_records

LOGGER = logging.getLogger("regionseries")


def _group_key(record: dict) -> tuple[str, str, tuple[tuple[str, str], ...], str]:
    """Task, space, sampling (the ``res`` and ``den`` entities, as pairs) and strategy of a run record:
    runs are averaged together only when all four are the same."""
    entities = record["_entities"]
    sampling = tuple((entity, entities[entity]) for entity in ("res", "den") if entities.get(entity))
    return entities.get("task", ""), entities.get("space", ""), sampling, entities.get("desc", "")


def run_group(
    bids_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    participant_label: str | Sequence[str] | None = None,
    max_mean_fd: float = 0.55,
    min_kept_fraction: float = 0.5,
    incremental: bool = False,
    qcfc_unit: str = "participant",
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
    qcfc_unit : {"participant", "run"}
        The samples of QC-FC: participants (each participant's included runs
        averaged: mean Fisher z, mean of the runs' mean FD) or runs.
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
        ``output_dir`` or ``work_dir`` is inside ``bids_dir``, a label is invalid, or ``qcfc_unit`` unknown.
    NoParticipantOutputs
        ``output_dir`` does not exist or holds no participant-level output.
    regionseries.job.OutputNotWritable, regionseries.bids.outputs.DiskFull
        ``output_dir`` or the work folder cannot be written.
    """
    if command_line is None:
        command_line = python_call(run_group, dict(locals()))
    if qcfc_unit not in QCFC_UNITS:
        raise OptionError(f"qcfc_unit must be one of {', '.join(QCFC_UNITS)}, got {qcfc_unit!r}")
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
                                   nprocs=nprocs, incremental=incremental, qcfc_unit=qcfc_unit)
            summary = aggregate(output_dir, options)
            summary.log_file = log_path
            for path, reason in summary.failures:
                LOGGER.error("  %s: %s", path, reason)
            rows, excluded_rows = summary.qc_counts
            LOGGER.info("QC table: %d row(s), %d excluded by the documented criteria.", rows, excluded_rows)
            if summary.matrices_read_as_text:
                LOGGER.info("%d matrix file(s) had no up-to-date binary copy and were parsed as text (slower; "
                            "see docs/performance.md#group-level)", summary.matrices_read_as_text)
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
    tables = QCTables(for_report=options.reports)
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
        ordered_groups = sorted(groups.items(), key=lambda kv: tuple(str(k) for k in kv[0]))
        work = []
        for key, members in ordered_groups:
            atlases = sorted({atlas for record in members for atlas in _series_sidecars(record)})
            work += [(key, members, atlas) for atlas in atlases or [None]]
        progress = {"progress": (0, len(work)), "progress_unit": "tables"}
        LOGGER.info("aggregating %d table(s) (task x space x strategy x atlas) from %d run record(s)",
                    len(work), len(records), extra=progress)
        for k, ((task, space, sampling, strategy), members, atlas) in enumerate(work, start=1):
            started = time.perf_counter()
            table = _qc_table(members, atlas, options, executor)
            _write_group_outputs(output_dir, task, space, sampling, atlas, strategy, members, table, options,
                                 summary, executor, cache, tables)
            del table  # kept compressed by `tables`
            name = " ".join(f"{entity}-{value}" for entity, value in
                            (("task", task), ("space", space), *sampling, ("desc", strategy), ("atlas", atlas))
                            if value is not None)
            LOGGER.info("[%d/%d] %s: %d run(s) (%.1f s)", k, len(work), name, len(members),
                        time.perf_counter() - started,
                        extra={"progress": (k, len(work)), "progress_unit": "tables"})
        for (task, space, sampling, strategy), members in ordered_groups:
            linc = linc_table(members, options, summary.failures)
            if linc is not None:
                summary.outputs += write_linc_table(
                    output_dir / "group" / _name(task, space, sampling, None, strategy, "qc", ".tsv", stat="linc").filename,
                    linc, options)
    except BaseException:
        if executor is not None:
            _stop_readers(executor, interrupted=True)
        raise
    if executor is not None:
        _stop_readers(executor)
    summary.qc_table = tables  # made into a DataFrame when read (GroupSummary.qc_table)
    if options.reports:
        _write_group_report(output_dir, summary, options, tables)
    return summary
