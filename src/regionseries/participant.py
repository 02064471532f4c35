"""The participant level: every selected BOLD run of a dataset, from Python or the command line.

:func:`run_participant` is what ``regionseries BIDS_DIR OUTPUT_DIR
participant`` runs once its arguments are parsed:

1. checks the options, the folders (before the dataset is indexed) and that
   ``BIDS_DIR`` is a derivatives dataset; starts the log in ``OUTPUT_DIR/logs``;
2. starts the worker processes (``nprocs`` > 1) while the dataset is indexed
   (:func:`regionseries.bids.inputs.discover_runs`);
3. resolves the atlases once per (space, voxel size) of the runs, so that a
   missing atlas stops the job before any run is processed, and writes the
   dataset files and the atlases as used (``OUTPUT_DIR/atlases``);
4. processes each run (:func:`regionseries.pipeline.process_run`, one failure
   boundary per run), in the workers if there are any;
5. writes each participant's report once its runs are finished, then the summary.

Bad input raises (see :func:`run_participant`); a run that fails does not: it
is recorded (its ``*_qc.json`` says why) and the job goes on.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import gc
import logging
import multiprocessing
import os
import re
import signal
import time
import warnings
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nibabel.affines import voxel_sizes

from ._version import __version__
from .atlases.base import AtlasError, AtlasUnavailable
from .atlases.registry import AtlasOptions, AtlasRegistry, export_atlas, parse_threshold
from .bids.datasets import parse_datasets
from .bids.inputs import (
    InvalidInputDataset,
    NoInputFound,
    RunInputs,
    SpaceSpec,
    check_derivatives_dataset,
    discover_runs,
    read_bids_filters,
    read_dataset_description,
)
from .bids.outputs import DiskFull, disk_full_is_fatal, write_dataset_files
from .bids.readable import UnreadableFile, open_nifti
from .core.confounds import ConfoundsError, StrategyFileUnavailable, get_strategy
from .job import (
    CONNECTIVITY_CHOICES,
    FILE_ONLY,
    REPORTED,
    OptionError,
    Terminated,
    as_list,
    check_output_dir,
    job_folders,
    log_file,
    python_call,
    raise_swallowed_stop,
    stop_message,
    strip_label_prefix,
)
from .pipeline import (
    STATUS_FAILED,
    STATUS_SKIPPED,
    PipelineOptions,
    RunResult,
    draw_figures_ahead,
    process_run,
    write_participant_report,
)
from .pipeline.combine import CombinedResult, combine_participant, describe
from .pipeline.names import COMBINED_DESC_SUFFIX

LOGGER = logging.getLogger("regionseries")

#: :attr:`ParticipantResult.exit_status` values (the command line's exit codes).
EXIT_OK = 0
EXIT_FAILURE = 1


class AtlasNotResolved(NoInputFound):
    """An atlas is not available in the space and resolution of the runs (exit 66)."""


class NotADerivativesDataset(InvalidInputDataset):
    """``bids_dir`` is not a BIDS derivatives dataset (exit 16)."""


@dataclass
class ParticipantResult:
    """What :func:`run_participant` did.

    Attributes
    ----------
    runs : list of RunResult
        One per BOLD run, in the order they finished; ``status`` is
        ``"done"``, ``"skipped"`` (outputs existed) or ``"failed"``, and
        ``outputs`` the files the run wrote. Arrays are not kept.
    report_failures : list of (str, str)
        ``(file, reason)`` of reports that could not be written.
    log_file : Path
        The job's log in ``OUTPUT_DIR/logs``.
    combined : list of CombinedResult
        With ``combine_runs``: one per group of runs joined and strategy.
    """

    runs: list[RunResult] = field(default_factory=list)
    report_failures: list[tuple[str, str]] = field(default_factory=list)
    log_file: Path | None = None
    combined: list[CombinedResult] = field(default_factory=list)

    @property
    def statuses(self) -> dict[str, str]:
        """BOLD file name -> status of its run."""
        return {result.run.bold.name: result.status for result in self.runs}

    @property
    def failures(self) -> list[tuple[str, str]]:
        """``(file, reason)`` of every failed run, strategy, concatenation and report."""
        return ([f for result in self.runs for f in result.failures] + self.report_failures
                + [f for combined in self.combined for f in combined.failures])

    @property
    def outputs(self) -> list[Path]:
        """The files the processed runs and concatenations wrote (not the reports, atlases or dataset files)."""
        return ([path for result in self.runs for path in result.outputs]
                + [path for combined in self.combined for path in combined.outputs])

    @property
    def exit_status(self) -> int:
        """0 when everything succeeded, 1 when a run, strategy or report failed."""
        return EXIT_FAILURE if self.failures else EXIT_OK


def run_participant(
    bids_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    participant_label: str | Sequence[str] | None = None,
    session_label: str | Sequence[str] | None = None,
    tasks: str | Sequence[str] | None = None,
    spaces: str | Sequence[str] = ("MNI152NLin2009cAsym",),
    bids_filter_file: str | os.PathLike | None = None,
    bids_database_dir: str | os.PathLike | None = None,
    atlases: str | Sequence[str] = (),
    atlas_files: str | Sequence[str] = (),
    spheres: str | Sequence[str] = (),
    radius: float = 5.0,
    regions_from: str | Sequence[str] = (),
    threshold: str | None = None,
    min_region_size: float = 1350.0,
    extract_type: str = "local_regions",
    strategies: str | Sequence[str] = ("simple",),
    low_pass: float | None = None,
    high_pass: float | None = None,
    temporal_filter: str | None = None,
    detrend: bool | None = None,
    standardize: str | None = None,
    fd_threshold: float | None = None,
    std_dvars_threshold: float | None = None,
    min_time: float | None = None,
    dummy_scans: int | str | None = None,
    motion_filter_type: str | None = None,
    band_stop_min: float | None = None,
    band_stop_max: float | None = None,
    motion_filter_order: int | None = None,
    ica_aroma: str | None = None,
    tedana: str | None = None,
    datasets: str | Sequence[str] = (),
    smoothing_fwhm: float | None = None,
    min_coverage: float = 0.5,
    connectivity: str | Sequence[str] = ("correlation",),
    connectivity_estimator: str = "empirical",
    combine_runs: bool = False,
    work_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    nprocs: int = 1,
    overwrite: bool = False,
    skip_bids_validation: bool = False,
    reports: bool = True,
    linc_qc: bool = False,
    command_line: str | None = None,
) -> ParticipantResult:
    """Extract, clean and write the region time series of the selected BOLD runs.

    The same as ``regionseries BIDS_DIR OUTPUT_DIR participant`` with the
    options of the same names (docs/usage.md says what each does); list
    options take one string or a sequence of strings, written as on the
    command line.

    Parameters
    ----------
    bids_dir : path
        fMRIPrep derivatives folder; only read.
    output_dir : path
        Output folder (BIDS-Derivatives); created if missing.
    participant_label, session_label, tasks : str or sequence of str, optional
        Labels to process, with or without ``sub-``/``ses-``/``task-``; all by default.
    spaces : str or sequence of str
        fMRIPrep output spaces, ``SPACE[:res-R]``.
    bids_filter_file : path, optional
        JSON of pybids filters for the BOLD query.
    bids_database_dir : path, optional
        Reuse (or create) the pybids database in this folder.
    atlases : str or sequence of str
        TemplateFlow atlases, ``[LABEL=]NAME[:desc-DESC][:res-RR]``.
    atlas_files : str or sequence of str
        Your own atlases, ``NAME=IMAGE[:LABELS_TSV]``.
    spheres : str or sequence of str
        Built-in coordinate sets (``Power2011`` ...) or ``NAME=COORDS.tsv`` (mm).
    radius : float
        Sphere radius, mm.
    regions_from : str or sequence of str
        ``NAME=STATMAP``: regions derived from a statistical map.
    threshold : str, optional
        Threshold of ``regions_from``: a value, or a percentile such as ``"97%"``.
    min_region_size : float
        Smallest region kept by ``regions_from``, mm³.
    extract_type : {"local_regions", "connected_components"}
        How ``regions_from`` splits the thresholded map.
    strategies : str or sequence of str
        Confound strategies: preset names (``"simple"``, ``"scrubbing+gsr"`` ...)
        or JSON/YAML strategy files (docs/strategies.md).
    low_pass, high_pass : float, optional
        Filter cut-offs, Hz, overriding the strategies'.
    temporal_filter : {"butterworth", "cosine", "none"}, optional
        Temporal filter overriding the strategies' (``--filter``).
    detrend : bool, optional
        Remove linear trends; None: the strategy's.
    standardize : {"zscore_sample", "zscore", "psc", "none"}, optional
        Standardisation of the cleaned signals; None: the strategy's.
    fd_threshold : float, optional
        Framewise displacement censoring threshold, mm.
    std_dvars_threshold : float, optional
        Standardised DVARS censoring threshold.
    min_time : float, optional
        Minimum duration of a run's kept volumes, s (``--min-time``); None: the strategies'.
    dummy_scans : int or "auto", optional
        Non-steady-state volumes to drop; None: those fMRIPrep flagged.
    motion_filter_type : {"notch", "lp", "none"}, optional
        Motion filter overriding the strategies' (``--motion-filter-type``);
        "none" turns it off.
    band_stop_min, band_stop_max : float, optional
        Motion filter band, breaths per minute (``--band-stop-min/max``).
    motion_filter_order : int, optional
        Order of the forward-backward motion filter (``--motion-filter-order``).
    ica_aroma : {"full", "basic", "orthaggr"}, optional
        ICA-AROMA setting overriding the strategies' (``--ica-aroma``).
    tedana : {"aggressive", "non-aggressive"}, optional
        tedana setting overriding the strategies' (``--tedana``).
    datasets : str or sequence of str
        ``aroma=PATH`` (fMRIPost-AROMA output) and ``tedana=PATH`` (tedana
        output), as ``--datasets``.
    smoothing_fwhm : float, optional
        Spatial smoothing before extraction (FWHM), mm.
    min_coverage : float
        Regions with a smaller fraction of their volume in the brain mask are ``n/a``.
    connectivity : str or sequence of str
        ``"correlation"``, ``"partial-correlation"``, ``"covariance"`` or ``"none"``.
    connectivity_estimator : {"empirical", "ledoit-wolf"}
        Covariance estimator.
    combine_runs : bool
        Also write one series and matrix per participant, task (session,
        space), atlas and strategy from the runs concatenated
        (``desc-<strategy>Concat``; docs/outputs.md).
    work_dir : path, optional
        Work folder; a temporary folder (removed at the end) by default.
    cache_dir : path, optional
        Atlas operators and report frames shared by the jobs of a study;
        default ``$REGIONSERIES_CACHE_DIR``, else the work folder.
    nprocs : int
        Runs processed in parallel (worker processes).
    overwrite : bool
        Recompute runs whose outputs already exist.
    skip_bids_validation : bool
        Do not check that ``bids_dir`` is a BIDS derivatives dataset.
    reports : bool
        Write the participants' HTML reports.
    linc_qc : bool
        Also write a LINC-style QC table per run and strategy (``--linc-qc``).
    command_line : str, optional
        Provenance written in the sidecars' ``CommandLine`` and the reports;
        by default the Python call itself,
        ``regionseries.run_participant('BIDS_DIR', 'OUTPUT_DIR', <the options not left at their default>)``.

    Returns
    -------
    ParticipantResult
        Per-run statuses and outputs, failures, the log file and the exit status.

    Raises
    ------
    FileNotFoundError
        ``bids_dir`` does not exist.
    OptionError
        An option value is invalid (e.g. an unknown connectivity measure, a
        strategy given twice, an output folder inside ``bids_dir``).
    regionseries.bids.inputs.InputError
        :class:`~regionseries.bids.inputs.NoInputFound` (nothing to process, a
        missing atlas (:class:`AtlasNotResolved`), filter or strategy file),
        :class:`~regionseries.bids.inputs.InvalidInputDataset` (``bids_dir``
        is not a derivatives dataset) or a usage error found in the dataset's terms.
    regionseries.job.OutputNotWritable
        ``output_dir`` or ``work_dir`` cannot be written.
    regionseries.bids.outputs.DiskFull
        The disk or quota filled up; the job stops, unfinished runs are removed.
    KeyboardInterrupt, regionseries.job.Terminated
        The job was interrupted (SIGINT, or SIGTERM under the command line);
        finished runs are complete, unfinished ones are removed.
    """
    if command_line is None:
        command_line = python_call(run_participant, dict(locals()))
    bids_dir, output_dir = Path(bids_dir), Path(output_dir)
    participants = _labels(participant_label, "sub-")
    cache_dir = cache_dir or os.environ.get("REGIONSERIES_CACHE_DIR") or None
    cache_dir = None if cache_dir is None else Path(cache_dir)
    with contextlib.ExitStack() as cleanup:
        work_dir = cleanup.enter_context(job_folders(bids_dir, output_dir, None if work_dir is None else Path(work_dir),
                                                     cache_dir))
        connectivity_kinds = _connectivity_kinds(as_list(connectivity))
        overrides = {"low_pass": low_pass, "high_pass": high_pass, "detrend": detrend, "fd_threshold": fd_threshold,
                     "std_dvars_threshold": std_dvars_threshold, "min_time": min_time, "ica_aroma": ica_aroma,
                     "tedana": tedana}

        if temporal_filter is not None:
            overrides["filter"] = False if temporal_filter == "none" else temporal_filter
        if standardize is not None:
            overrides["standardize"] = False if standardize == "none" else standardize
        overrides.update(band_stop_min=band_stop_min, band_stop_max=band_stop_max,
                         motion_filter_order=motion_filter_order)
        if motion_filter_type is not None:
            overrides["motion_filter_type"] = False if motion_filter_type == "none" else motion_filter_type
        strategy_list = _strategies(as_list(strategies), overrides)
        if combine_runs:
            _check_combined_labels(strategy_list)
        try:
            other_datasets = parse_datasets(as_list(datasets))
        except ValueError as exc:
            raise OptionError(str(exc)) from None
        try:
            space_specs = [SpaceSpec.parse(s) for s in as_list(spaces)]
        except ValueError as exc:
            raise OptionError(f"--space: {exc}") from None
        try:
            atlas_options = AtlasOptions(radius=radius, threshold=parse_threshold(threshold),
                                         min_region_size=min_region_size, extract_type=extract_type)
            registry = AtlasRegistry.from_specs(atlas=as_list(atlases), atlas_file=as_list(atlas_files),
                                                spheres=as_list(spheres), regions_from=as_list(regions_from),
                                                options=atlas_options, work_dir=work_dir, shared_cache_dir=cache_dir)
        except AtlasUnavailable as exc:  # an atlas, table or map file that is not there (or not fetched)
            raise NoInputFound(str(exc)) from None
        except AtlasError as exc:
            raise OptionError(str(exc)) from None
        filters = read_bids_filters(bids_filter_file) if bids_filter_file else None
        if not skip_bids_validation:
            problems = check_derivatives_dataset(bids_dir)
            if problems:
                raise NotADerivativesDataset(
                    f"BIDS_DIR is not a BIDS derivatives dataset: {'; '.join(problems)}. Pass the fMRIPrep output "
                    "folder, or --skip-bids-validation to proceed anyway.")

        check_output_dir(output_dir)
        result = ParticipantResult(log_file=cleanup.enter_context(log_file(output_dir, "participant", participants)))
        LOGGER.debug("command line: %s", command_line)
        pool = None
        if nprocs > 1:
            pool = _start_worker_pool(nprocs)
            cleanup.callback(pool.shutdown, wait=True, cancel_futures=True)
        LOGGER.info("regionseries %s: indexing %s", __version__, bids_dir)
        runs = discover_runs(bids_dir, participants=participants, sessions=_labels(session_label, "ses-"),
                             tasks=_labels(tasks, "task-"), spaces=space_specs, bids_filters=filters,
                             bids_filter_file=None if bids_filter_file is None else Path(bids_filter_file),
                             database_dir=None if bids_database_dir is None else Path(bids_database_dir),
                             datasets=other_datasets)
        # The libraries and the dataset's index (~140,000 objects) live as long as the
        # job: exempt from garbage collection, they no longer make every full
        # collection the runs set off walk them (0.25 s of a 400-volume run here).
        # A caller from Python gets its collector back as it was when the job ends.
        if gc.get_freeze_count() == 0:
            gc.freeze()
            cleanup.callback(gc.unfreeze)
        LOGGER.info("found %d BOLD run(s) for %d participant(s)", len(runs),
                    len({r.entities.get("sub") for r in runs}))
        if pool is not None and len(runs) <= 1:  # one run is processed here; let the workers go
            pool.shutdown(wait=False, cancel_futures=True)
            pool = None

        atlases_of_run, resolved = _resolve_atlases(runs, registry)
        write_dataset_files(output_dir, bids_dir, read_dataset_description(bids_dir), other_datasets)
        atlas_paths = {}
        for atlas_list in resolved.values():
            for atlas in atlas_list:
                if atlas.key not in atlas_paths:
                    atlas_paths[atlas.key] = export_atlas(atlas, output_dir)

        options = PipelineOptions(
            bids_dir=bids_dir.resolve(), output_dir=output_dir.resolve(), work_dir=work_dir,
            strategies=strategy_list, dummy_scans=dummy_scans, smoothing_fwhm=smoothing_fwhm,
            min_coverage=min_coverage, connectivity=connectivity_kinds, estimator=connectivity_estimator,
            overwrite=overwrite, command_line=command_line, atlas_files=atlas_paths,
            keep_arrays=reports, draw_run_figures=reports and pool is not None,
            cache_dir=None if cache_dir is None else cache_dir.resolve(), linc_qc=linc_qc, datasets=other_datasets,
            combine_runs=combine_runs,

        )
        try:
            result.report_failures = _execute(runs, atlases_of_run, options, pool, result.runs, report=reports,
                                              combined=result.combined)
        except (KeyboardInterrupt, Terminated, DiskFull) as exc:  # say why, then what is complete
            LOGGER.error("regionseries: %s", stop_message(exc))
            _log_stopped(result.runs, len(runs))
            LOGGER.info("Outputs: %s", output_dir)
            LOGGER.info("Log: %s", result.log_file)
            setattr(exc, REPORTED, True)
            raise
        _log_summary(result)
        LOGGER.info("Outputs: %s", output_dir)
        LOGGER.info("Log: %s", result.log_file)
        return result


def _labels(values: str | Sequence[str] | None, prefix: str) -> list[str] | None:
    values = as_list(values)
    return None if values is None else [strip_label_prefix(value, prefix) for value in values]


def _connectivity_kinds(values: Sequence[str]) -> tuple[str, ...]:
    """Connectivity measures as :mod:`regionseries.core.connectivity` names them.

    Raises
    ------
    OptionError
        An unknown measure, or ``"none"`` with others.
    """
    kinds = []
    for value in values:
        normalised = value.replace("_", "-").replace(" ", "-").lower()
        if normalised not in CONNECTIVITY_CHOICES:
            raise OptionError(f"--connectivity {value}: choose from {', '.join(CONNECTIVITY_CHOICES)}")
        if normalised == "none":
            if len(values) > 1:
                raise OptionError("--connectivity none cannot be combined with other measures")
            return ()
        kind = normalised.replace("-", " ")
        if kind not in kinds:
            kinds.append(kind)
    return tuple(kinds)


def _strategies(specs: Sequence[str], overrides: dict[str, Any]) -> list:
    """The denoising strategies of ``specs`` (preset names or files) with ``overrides`` applied.

    Raises
    ------
    NoInputFound
        A strategy file is missing, not fetched or not readable.
    OptionError
        A strategy is invalid or given twice.
    """
    strategies = []
    for spec in specs:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                strategy = get_strategy(spec, **overrides)
            for item in caught:
                LOGGER.warning("strategy %s: %s", spec, item.message)
        except StrategyFileUnavailable as exc:  # missing, not fetched, permission denied: no input (66)
            raise NoInputFound(f"--strategy {exc}") from None  # the message starts with the file
        except (ConfoundsError, ValueError, TypeError) as exc:
            raise OptionError(f"--strategy {spec}: {exc}") from None
        if any(s.desc == strategy.desc for s in strategies):
            raise OptionError(f"--strategy {spec}: given twice (desc-{strategy.desc})")
        strategies.append(strategy)
    return strategies


def _check_combined_labels(strategies: Sequence) -> None:
    """With --combine-runs, no strategy may be named like another's concatenated outputs.

    Raises
    ------
    OptionError
        A strategy's ``desc`` is another's followed by ``Concat``.
    """
    descs = {s.desc for s in strategies}
    for strategy in strategies:
        if strategy.desc + COMBINED_DESC_SUFFIX in descs:
            raise OptionError(f"--combine-runs: the concatenated outputs of strategy {strategy.name} "
                              f"(desc-{strategy.desc}{COMBINED_DESC_SUFFIX}) would have the names of strategy "
                              f"desc-{strategy.desc}{COMBINED_DESC_SUFFIX}'s; rename one of them")


def _atlas_grid_key(run: RunInputs) -> tuple[str, float] | None:
    """``(space, largest voxel size in mm)`` the run's atlases are resolved for, or None
    when its BOLD cannot be read (the run then fails alone, with the reason)."""
    try:
        img = open_nifti(run.bold, ndim=4, what="a BOLD series")
    except UnreadableFile:
        return None
    return run.entities.get("space", ""), round(float(max(voxel_sizes(img.affine))), 3)


def _resolve_atlases(runs: Sequence[RunInputs], registry: AtlasRegistry) -> tuple[list[list], dict[tuple, list]]:
    """The atlases of each run, resolved once per (space, voxel size) before any work.

    A run whose BOLD cannot be read gets none: processing it records why it failed.

    Returns
    -------
    atlases_of_run : list of list of Atlas
        In the order of ``runs``.
    resolved : dict
        ``(space, voxel size) -> atlases``.

    Raises
    ------
    AtlasNotResolved
        An atlas is not available for a run's space and resolution.
    """
    atlases_of_run = []
    resolved: dict[tuple, list] = {}
    for run in runs:
        if run.surface:  # per participant when an atlas is (fsnative: --atlas-file with {subject})
            key = (run.surface, run.entities.get("space", ""), run.entities.get("den"),
                   run.entities.get("sub") if registry.per_subject else None)
        else:
            key = _atlas_grid_key(run)
        if key is None:
            atlases_of_run.append([])
            continue
        if key not in resolved:
            try:
                resolved[key] = registry.resolve_surface(*key) if run.surface else registry.resolve(*key)
            except AtlasError as exc:
                raise AtlasNotResolved(str(exc)) from None
            if not resolved[key]:
                raise AtlasNotResolved(f"{run.bold.name} is a volumetric run but every atlas given is a surface "
                                       "atlas; add a volumetric atlas (--atlas, --atlas-file NAME=IMAGE.nii.gz, "
                                       "--spheres) or select only surface spaces with --space")
        atlases_of_run.append(resolved[key])
    return atlases_of_run, resolved


# --------------------------------------------------------------------------------------
# Running the runs
# --------------------------------------------------------------------------------------

def _execute(runs, atlases_of_run, options: PipelineOptions, pool: concurrent.futures.ProcessPoolExecutor | None,
             results: list, report: bool, combined: list | None = None) -> list[tuple[str, str]]:
    """Process runs (in the worker pool if there is one), printing progress.

    Appends each run's result to ``results`` as it finishes (so that what is
    complete is known if the job stops) and returns the report failures
    ``(file, reason)``. On an interruption, termination or full disk the
    workers are stopped (each removes its unfinished run) before the
    exception goes on. With ``options.combine_runs`` each participant's runs are
    joined (:func:`_combine`, results appended to ``combined``) once they are
    all finished, before its report.
    """
    total = len(runs)
    report_failures: list[tuple[str, str]] = []
    pending_by_participant: dict[str, int] = defaultdict(int)
    for run in runs:
        pending_by_participant[run.entities.get("sub", "")] += 1
    finished_by_participant: dict[str, list] = defaultdict(list)
    LOGGER.info("processing %d run(s)", total, extra={"progress": (0, total)})
    started = time.monotonic()

    def finish(k: int, result) -> None:
        results.append(result)  # first: if the job stops while this is logged, the run still counts
        raise_swallowed_stop()
        _log_result(k, total, result, (time.monotonic() - started) / k * (total - k))
        participant = result.run.entities.get("sub", "")
        finished_by_participant[participant].append(result)
        if len(finished_by_participant[participant]) == pending_by_participant[participant]:
            if options.combine_runs and combined is not None:
                combined.extend(_combine(finished_by_participant[participant], options))
            if report:
                report_failures.extend(_write_report(participant, finished_by_participant[participant], options))
            for item in finished_by_participant[participant]:  # free the arrays
                item.raw_signals, item.clean_signals, item.connectivity = {}, {}, {}

    if pool is None or total <= 1:
        for k, (run, atlases) in enumerate(zip(runs, atlases_of_run), start=1):
            LOGGER.debug("[%d/%d] starting %s", k, total, run.bold.name)
            finish(k, process_run(run, atlases, options))
        return report_failures
    futures = {pool.submit(_process_one, (run, atlases, options)): run
               for run, atlases in zip(runs, atlases_of_run)}
    try:
        for k, future in enumerate(concurrent.futures.as_completed(futures), start=1):
            try:
                result = future.result()
            except (DiskFull, Terminated, KeyboardInterrupt):
                raise
            except Exception as exc:  # noqa: BLE001 - e.g. a worker killed for lack of memory
                result = RunResult(run=futures[future], status=STATUS_FAILED,
                                   error=f"worker process failed ({type(exc).__name__}: {exc}); "
                                         "out of memory? try fewer --nprocs")
            finish(k, result)
    except BaseException:
        for future in futures:
            future.cancel()
        _stop_workers()
        pool.shutdown(wait=True, cancel_futures=True)
        # runs the workers completed while the main process was stopping are complete too
        # (a future's result is one object: ``results`` holds it if it was collected)
        collected = {id(result) for result in results}
        for future in futures:
            if future.done() and not future.cancelled() and future.exception() is None:
                if id(future.result()) not in collected:
                    results.append(future.result())
        raise
    return report_failures


def _combine(results: list, options: PipelineOptions) -> list[CombinedResult]:
    """Join one participant's finished runs (:func:`~regionseries.pipeline.combine.combine_participant`),
    logging a line per group and strategy and its warnings."""
    combined = combine_participant(results, options)
    for item in combined:
        for message in item.warnings:
            LOGGER.warning("  %s", message)
        if item.status == STATUS_FAILED:
            LOGGER.error("concatenation %s", describe(item))
        else:
            LOGGER.info("concatenation %s", describe(item))
    return combined


def _write_report(participant: str, results: list, options: PipelineOptions) -> list[tuple[str, str]]:
    """Reports hook: render ``sub-<label>.html`` from the run results.

    Returns the failures ``(file, reason)``; a failed report never loses the
    outputs already written.
    """
    try:
        with disk_full_is_fatal(options.output_dir / f"sub-{participant}.html"):
            path = write_participant_report(participant, results, options)
    except Exception as exc:
        LOGGER.error("report of sub-%s failed: %s: %s", participant, type(exc).__name__, exc)
        LOGGER.debug("report failure", exc_info=True)
        return [(f"sub-{participant}.html", f"{type(exc).__name__}: {exc}")]
    if path is not None:
        LOGGER.info("report: %s", path)
    return []


# --------------------------------------------------------------------------------------
# Progress and summary
# --------------------------------------------------------------------------------------

def _time_left(seconds: float) -> str:
    """``"about 40 s left"``, ``"about 3 min left"``, ``"about 1 h 20 min left"``."""
    if seconds < 1:
        return "less than a second left"
    if seconds < 90:
        return f"about {seconds:.0f} s left"
    minutes = round(seconds / 60)
    return f"about {minutes} min left" if minutes < 60 else f"about {minutes // 60} h {minutes % 60} min left"


def _log_result(k: int, total: int, result: RunResult, seconds_left: float) -> None:
    """The run's line (``[k/N] <BOLD file>: ...``) and its warnings.

    The line carries ``progress=(k, total)`` (``extra``): the command line's console draws a
    progress bar from it on a terminal, and prints the line as it is otherwise.
    """
    name = result.run.bold.name
    progress = {"progress": (k, total)}
    left = f", {_time_left(seconds_left)}" if k < total else ""
    if result.status == STATUS_SKIPPED:
        LOGGER.info("[%d/%d] %s: skipped (outputs exist)%s", k, total, name, left, extra=progress)
        for message in result.warnings[len(result.run.warnings):]:  # not the input warnings of a skipped run
            LOGGER.warning("  %s", message)
        return
    for message in result.warnings:
        # below-coverage details (one line per run, hundreds of characters) are for the log file:
        # the console gets one line per atlas at the end (_log_coverage_summary)
        LOGGER.warning("  %s", message, extra=FILE_ONLY if _COVERAGE_WARNING.match(message) else None)
    if result.status == STATUS_FAILED:
        LOGGER.error("[%d/%d] %s: FAILED: %s", k, total, name, result.error, extra=progress)
        return
    states = ", ".join(f"{s.name} {s.status}" for s in result.strategies)
    LOGGER.info("[%d/%d] %s: %s (%.1f s)%s", k, total, name, states, result.seconds, left, extra=progress)


#: The per-run warning of regions below --min-coverage (core/extract/stream.py words it).
_COVERAGE_WARNING = re.compile(r"\d+ region\(s\) of .+ have coverage below min_coverage=")


def _log_coverage_summary(result: ParticipantResult) -> None:
    """One warning per atlas for the regions below --min-coverage in this job's runs
    (the per-run lists are in the log file and in the time-series sidecars)."""
    below: dict[str, set[str]] = defaultdict(set)
    n_regions: dict[str, int] = {}
    n_runs: dict[str, int] = defaultdict(int)
    for run in result.runs:
        for atlas in run.atlases:
            if atlas.regions_below_coverage:
                below[atlas.name].update(atlas.regions_below_coverage)
                n_regions[atlas.name] = len(atlas.names)
                n_runs[atlas.name] += 1
    processed = sum(r.status != STATUS_SKIPPED for r in result.runs)
    for name in sorted(below):
        LOGGER.warning("atlas %s: %d of %d regions below coverage in %d of %d run(s), set to n/a; details in %s "
                       "and the time-series sidecars (RegionsBelowCoverage)", name, len(below[name]),
                       n_regions[name], n_runs[name], processed, result.log_file)


def _log_summary(result: ParticipantResult) -> None:
    """What was processed, skipped, excluded and failed."""
    runs = result.runs
    run_failures = [f for r in runs for f in r.failures]
    exclusions = [e for r in runs for e in r.exclusions] + [e for c in result.combined for e in c.exclusions]
    done = sum(r.status not in (STATUS_FAILED, STATUS_SKIPPED) for r in runs)
    skipped = sum(r.status == STATUS_SKIPPED for r in runs)
    LOGGER.info("")
    LOGGER.info("Finished: %d run(s) processed, %d skipped (outputs exist; --overwrite to redo), %d with failures.",
                done, skipped, len({f[0] for f in run_failures}))
    _log_coverage_summary(result)
    if exclusions:
        LOGGER.info("Excluded by the data (recorded in the *_qc.json files):")
        for path, reason in exclusions:
            LOGGER.info("  %s: %s", Path(path).name, reason)
    if result.failures:
        LOGGER.error("Failures:")
        for path, reason in result.failures:
            LOGGER.error("  %s: %s", Path(path).name, reason)


def _log_stopped(results: list, total: int) -> None:
    """Say which runs are complete when the job stops before the end."""
    complete = sorted(r.run.bold.name for r in results if r.status != STATUS_FAILED)
    failed = sorted(r.run.bold.name for r in results if r.status == STATUS_FAILED)
    LOGGER.error("%d of %d run(s) complete%s; the %d unfinished run(s) were not written: rerun the same command "
                 "to process them (complete runs are skipped).", len(complete), total,
                 f", {len(failed)} failed" if failed else "", total - len(results))
    for name in complete:
        LOGGER.info("  complete: %s", name)
    for name in failed:
        LOGGER.info("  failed: %s", name)


# --------------------------------------------------------------------------------------
# Worker processes
# --------------------------------------------------------------------------------------

#: In a worker process: a run is being processed (SIGTERM then aborts it).
_WORKER_IN_RUN = False
#: In a worker process: SIGTERM was received; no further run is started.
_WORKER_STOPPING = False


def _worker_sigterm(signum: int, frame) -> None:
    """SIGTERM handler of a worker: abort the current run (its files are removed,
    see ``process_run``) and take no other; an idle worker just waits to be shut down."""
    global _WORKER_STOPPING
    if _WORKER_STOPPING:
        return
    _WORKER_STOPPING = True
    if _WORKER_IN_RUN:
        raise Terminated(signum)


def _worker_init() -> None:
    # Ctrl-C reaches every process of the terminal; the main process decides and
    # stops the workers with SIGTERM, so that each cleans up after its own run.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _worker_sigterm)
    logging.getLogger("regionseries").setLevel(logging.WARNING)


def _stop_workers() -> None:
    """Send SIGTERM to the worker processes: each aborts its run, removing that
    run's files, and starts no other (see :func:`_worker_sigterm`)."""
    for worker in multiprocessing.active_children():  # the pool's workers are our only children
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker.pid, signal.SIGTERM)


def _limit_threads(nprocs: int) -> None:
    """Cap BLAS/OpenMP threads of the worker processes (they inherit the environment)."""
    per_worker = str(max(1, (os.cpu_count() or 1) // nprocs))
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, per_worker)


def _start_worker_pool(nprocs: int) -> concurrent.futures.ProcessPoolExecutor:
    """Start ``nprocs`` worker processes now, before the dataset is indexed.

    Spawned workers spend about a second importing the scientific stack (this
    module's imports, when the initializer is unpickled); starting them first
    lets that overlap the main process's serial work (indexing the dataset,
    resolving the atlases) instead of following it.
    """
    _limit_threads(nprocs)
    pool = concurrent.futures.ProcessPoolExecutor(max_workers=nprocs, mp_context=multiprocessing.get_context("spawn"),
                                                  initializer=_worker_init)
    for _ in range(nprocs):  # each submission spawns one worker
        pool.submit(int)
    return pool


def _process_one(task):
    """Process one run in a worker process, then draw its report figures.

    SIGTERM aborts the run while it is processed (see :func:`_worker_sigterm`);
    once its outputs are complete, the figures are drawn and the result
    returned whatever arrives, so that a complete run is counted as such.
    """
    global _WORKER_IN_RUN
    run, atlases, options = task
    if _WORKER_STOPPING:
        raise Terminated(signal.SIGTERM)
    _WORKER_IN_RUN = True
    try:
        result = process_run(run, atlases, options)
    finally:
        _WORKER_IN_RUN = False
    draw_figures_ahead(result, options)
    return result
