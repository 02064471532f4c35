"""Command line: ``regionseries BIDS_DIR OUTPUT_DIR {participant,group} [options]``.

BIDS-Apps conventions (see docs/usage.md):

* ``BIDS_DIR`` is an fMRIPrep derivatives dataset; it is only read (it can
  be mounted read-only), and the pybids index lives in the work directory.
* ``-v/--verbose`` is verbosity (counted, nipreps style); ``--version``
  prints the version.
* Exit codes follow the BIDS-Apps execution specification: 0 success,
  64 usage error, 66 input not found (unknown participant, no preprocessed
  BOLD, missing atlas), 16 the input is not a BIDS derivatives dataset,
  73 the output folder cannot be created, 1 runtime failures. When some runs
  fail and others succeed, the good outputs are kept, the failures are
  listed at the end (file and reason) and the exit code is 1.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import logging
import multiprocessing
import os
import shlex
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

from ._version import __version__

LOGGER = logging.getLogger("regionseries")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_INVALID_DATASET = 16
EXIT_USAGE = 64
EXIT_NO_INPUT = 66
EXIT_CANT_CREATE = 73
EXIT_INTERRUPTED = 130

CONNECTIVITY_CHOICES = ("correlation", "partial-correlation", "covariance", "none")


class UsageError(Exception):
    """A command-line value that argparse cannot check by itself (exit 64)."""


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on usage errors; the BIDS-Apps execution spec says 64."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: X)`` only for real defaults: not for None, empty lists or
    False, and not when the help text already says what the default is."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        says_default = any(phrase in text.lower() for phrase in ("by default", "(default", "default:"))
        if action.default in (None, False, [], argparse.SUPPRESS) or says_default:
            return text
        return super()._get_help_string(action)


def _strip_prefix(prefix: str):
    def convert(value: str) -> str:
        value = value.strip()
        if value.startswith(prefix):
            value = value[len(prefix):]
        if not value or not value.isalnum():
            raise argparse.ArgumentTypeError(f"invalid label {value!r}: only letters and digits")
        return value
    return convert


def _positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not number > 0:
        raise argparse.ArgumentTypeError(f"{value!r} must be positive")
    return number


def _non_negative_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value!r} must not be negative")
    return number


def _fraction(value: str) -> float:
    number = _non_negative_float(value)
    if number > 1:
        raise argparse.ArgumentTypeError(f"{value!r} must be between 0 and 1")
    return number


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} must be at least 1")
    return number


def _dummy_scans(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: expected a number of volumes or 'auto'") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value!r} must not be negative")
    return number


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used by the Boutiques descriptor checks)."""
    parser = _Parser(
        prog="regionseries",
        description=(
            "Region time series and connectivity from fMRIPrep derivatives (a BIDS-App). "
            "Labels, probabilistic maps, spheres and regions from statistical maps are extracted "
            "in one pass over each BOLD file and cleaned with one or more confound strategies."
        ),
        epilog="Documentation: docs/usage.md and docs/outputs.md. Exit codes: 0 ok, 1 failures, "
               "16 invalid input dataset, 64 usage, 66 no input, 73 cannot create output.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("bids_dir", type=Path, help="fMRIPrep derivatives folder (read only).")
    parser.add_argument("output_dir", type=Path, help="Output folder (BIDS-Derivatives); created if missing.")
    parser.add_argument("analysis_level", choices=("participant", "group"),
                        help="participant: process runs; group: aggregate participant outputs in OUTPUT_DIR.")
    parser.add_argument("--version", action="version", version=f"regionseries {__version__}")

    selection = parser.add_argument_group("Selecting inputs")
    selection.add_argument("--participant-label", "--participant_label", dest="participant_label", nargs="+",
                           type=_strip_prefix("sub-"), metavar="LABEL",
                           help="Participants to process (with or without 'sub-'); all by default.")
    selection.add_argument("--session-label", "--session_label", "--session-id", dest="session_label", nargs="+",
                           type=_strip_prefix("ses-"), metavar="LABEL", help="Sessions to process (all by default).")
    selection.add_argument("-t", "--task", "--task-id", dest="task", nargs="+", type=_strip_prefix("task-"),
                           metavar="LABEL", help="Tasks to process (all by default).")
    selection.add_argument("--space", nargs="+", default=["MNI152NLin2009cAsym"], metavar="SPACE[:res-R]",
                           help="Output space(s) of fMRIPrep to process; res- is optional (fMRIPrep's label, "
                                "e.g. MNI152NLin6Asym:res-2).")
    selection.add_argument("--bids-filter-file", "--bids_filter_file", dest="bids_filter_file", type=Path,
                           metavar="FILE", help='JSON of pybids filters for the BOLD query, e.g. {"bold": {"run": [1, 2]}}.')
    selection.add_argument("--bids-database-dir", dest="bids_database_dir", type=Path, metavar="DIR",
                           help="Reuse (or create) the pybids database in this folder.")

    atlases = parser.add_argument_group("Atlases (repeatable, combinable)")
    atlases.add_argument("--atlas", action="extend", nargs="+", default=[], metavar="[LABEL=]NAME[:desc-DESC]",
                         help="TemplateFlow atlas in the BOLD's template, e.g. Schaefer2018:desc-400Parcels7Networks "
                              "or DiFuMo:desc-64dimensions (dseg = labels, probseg = maps); optional :res-RR.")
    atlases.add_argument("--atlas-file", "--atlas_file", dest="atlas_file", action="extend", nargs="+", default=[],
                         metavar="NAME=IMAGE[:LABELS_TSV]",
                         help="Your own atlas: a 3D labels or 4D maps image, optional label table.")
    atlases.add_argument("--spheres", action="extend", nargs="+", default=[], metavar="NAME[=COORDS.tsv]",
                         help="Spheres around coordinates: built-in Power2011, Dosenbach2010, Seitzman2018, or "
                              "NAME=COORDS.tsv with columns x, y, z (mm) and optional name.")
    atlases.add_argument("--radius", type=_positive_float, default=5.0, metavar="MM", help="Sphere radius (mm).")
    atlases.add_argument("--regions-from", "--regions_from", dest="regions_from", action="extend", nargs="+",
                         default=[], metavar="NAME=STATMAP",
                         help="Derive regions from a statistical map (threshold, then connected regions).")
    atlases.add_argument("--threshold", metavar="VALUE|P%",
                         help="Threshold for --regions-from: a value, or a percentile such as 97%%.")
    atlases.add_argument("--min-region-size", dest="min_region_size", type=_non_negative_float, default=1350.0,
                         metavar="MM3", help="Smallest region kept by --regions-from (mm³).")
    atlases.add_argument("--extract-type", dest="extract_type", choices=("local_regions", "connected_components"),
                         default="local_regions", help="How --regions-from splits the thresholded map.")

    cleaning = parser.add_argument_group("Cleaning")
    cleaning.add_argument("--strategy", nargs="+", default=["simple"], metavar="PRESET|FILE",
                          help="Confound strategies: none, simple, simple+gsr, scrubbing, scrubbing+gsr, compcor, "
                               "compcor+gsr, ica_aroma, ica_aroma+gsr, or a JSON/YAML strategy file "
                               "(docs/strategies.md). "
                               "Every strategy is applied to the same extraction.")
    cleaning.add_argument("--low-pass", dest="low_pass", type=_positive_float, metavar="HZ",
                          help="Low-pass cut-off (Hz), overriding the strategies'.")
    cleaning.add_argument("--high-pass", dest="high_pass", type=_positive_float, metavar="HZ",
                          help="High-pass cut-off (Hz), overriding the strategies'.")
    cleaning.add_argument("--filter", choices=("butterworth", "cosine", "none"),
                          help="Temporal filter, overriding the strategies'.")
    cleaning.add_argument("--detrend", action=argparse.BooleanOptionalAction, default=None,
                          help="Remove linear trends (default: the strategy's, true for presets).")
    cleaning.add_argument("--standardize", choices=("zscore_sample", "zscore", "psc", "none"),
                          help="Standardisation of cleaned signals (default: the strategy's, zscore_sample).")
    cleaning.add_argument("--fd-threshold", dest="fd_threshold", type=_positive_float, metavar="MM",
                          help="Framewise displacement censoring threshold (mm) for scrubbing strategies.")
    cleaning.add_argument("--std-dvars-threshold", dest="std_dvars_threshold", type=_positive_float,
                          metavar="VALUE", help="Standardised DVARS censoring threshold for scrubbing strategies.")
    cleaning.add_argument("--dummy-scans", dest="dummy_scans", type=_dummy_scans, default=None, metavar="N|auto",
                          help="Non-steady-state volumes to drop: N first volumes, or 'auto' (fMRIPrep's count). "
                               "Default: the volumes fMRIPrep flagged.")
    cleaning.add_argument("--smoothing-fwhm", "--smoothing_fwhm", dest="smoothing_fwhm", type=_non_negative_float,
                          metavar="MM", help="Spatial smoothing before extraction (FWHM, mm); none by default.")
    cleaning.add_argument("--min-coverage", dest="min_coverage", type=_fraction, default=0.5, metavar="FRACTION",
                          help="Regions with less of their volume inside the brain mask (with signal) are n/a.")
    cleaning.add_argument("--connectivity", nargs="+", default=["correlation"], metavar="MEASURE",
                          help="Connectivity measures on kept volumes: correlation, partial-correlation, "
                               "covariance, or none.")
    cleaning.add_argument("--connectivity-estimator", dest="connectivity_estimator",
                          choices=("empirical", "ledoit-wolf"), default="empirical",
                          help="Covariance estimator (empirical = Pearson; ledoit-wolf = shrinkage, "
                               "nilearn's default, needed for partial correlation with few volumes).")

    group = parser.add_argument_group("Group level")
    group.add_argument("--max-mean-fd", dest="max_mean_fd", type=_positive_float, default=0.55, metavar="MM",
                       help="Exclude runs whose mean framewise displacement exceeds this (mm; Parkes et al. 2018).")
    group.add_argument("--min-kept-fraction", dest="min_kept_fraction", type=_fraction, default=0.5,
                       metavar="FRACTION", help="Exclude runs keeping less than this fraction of their volumes.")

    execution = parser.add_argument_group("Execution")
    execution.add_argument("-w", "--work-dir", dest="work_dir", type=Path, metavar="DIR",
                           help="Work folder (pybids index, derived regions); a temporary folder by default. "
                                "Never inside BIDS_DIR.")
    execution.add_argument("--nprocs", "--nthreads", "--n-cpus", "--n_cpus", dest="nprocs", type=_positive_int,
                           default=1, metavar="N", help="Runs processed in parallel.")
    execution.add_argument("--overwrite", action="store_true", help="Recompute runs whose outputs already exist.")
    execution.add_argument("--skip-bids-validation", "--skip_bids_validation", "--skip_bids_validator",
                           dest="skip_bids_validation", action="store_true",
                           help="Do not check that BIDS_DIR is a BIDS derivatives dataset.")
    execution.add_argument("--no-reports", dest="no_reports", action="store_true", help="Do not write HTML reports.")
    execution.add_argument("-v", "--verbose", dest="verbose", action="count", default=0,
                           help="More messages (-v: debug).")
    return parser


# --------------------------------------------------------------------------------------
# Logging
# --------------------------------------------------------------------------------------

class _ConsoleFormatter(logging.Formatter):
    """Keeps long warnings (e.g. the list of regions below coverage) to a few lines on the
    console unless verbose; the log file always has the full text."""

    def __init__(self, verbose: bool):
        super().__init__("%(message)s")
        self.verbose = verbose

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if not self.verbose and record.levelno == logging.WARNING and len(text) > 300:
            text = text[:300].rstrip() + " ... (full text in the log)"
        return text


def _configure_console(verbosity: int) -> None:
    LOGGER.setLevel(logging.DEBUG)
    LOGGER.propagate = False
    for handler in list(LOGGER.handlers):
        LOGGER.removeHandler(handler)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.DEBUG if verbosity > 0 else logging.INFO)
    console.setFormatter(_ConsoleFormatter(verbosity > 0))
    LOGGER.addHandler(console)


def _add_log_file(output_dir: Path, level_name: str, participants: Sequence[str] | None) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    who = "-".join(participants[:3]) if participants else "all"
    path = output_dir / "logs" / f"regionseries_{level_name}_{who}_{stamp}_{os.getpid()}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    LOGGER.addHandler(handler)
    return path


# --------------------------------------------------------------------------------------
# Checks of paths and values
# --------------------------------------------------------------------------------------

def _is_within(path: Path, parent: Path) -> bool:
    try:
        path.resolve().relative_to(parent.resolve())
        return True
    except ValueError:
        return False


def _check_paths(args: argparse.Namespace) -> None:
    bids_dir: Path = args.bids_dir
    if not bids_dir.is_dir():
        raise FileNotFoundError(f"BIDS_DIR {bids_dir} does not exist or is not a folder")
    if _is_within(args.output_dir, bids_dir):
        raise UsageError(
            f"OUTPUT_DIR {args.output_dir} is inside BIDS_DIR {bids_dir}; the input must not be written. "
            f"Use a sibling folder such as {bids_dir.resolve().parent / 'regionseries'}"
        )
    if args.work_dir is not None and _is_within(args.work_dir, bids_dir):
        raise UsageError(f"--work-dir {args.work_dir} is inside BIDS_DIR {bids_dir}; the input must not be written")


def _connectivity_kinds(values: Sequence[str]) -> tuple[str, ...]:
    kinds = []
    for value in values:
        normalised = value.replace("_", "-").replace(" ", "-").lower()
        if normalised not in CONNECTIVITY_CHOICES:
            raise UsageError(f"--connectivity {value}: choose from {', '.join(CONNECTIVITY_CHOICES)}")
        if normalised == "none":
            if len(values) > 1:
                raise UsageError("--connectivity none cannot be combined with other measures")
            return ()
        kind = normalised.replace("-", " ")
        if kind not in kinds:
            kinds.append(kind)
    return tuple(kinds)


def _strategies(args: argparse.Namespace) -> list:
    from .core.confounds import ConfoundsError, get_strategy

    overrides: dict[str, Any] = {
        "low_pass": args.low_pass,
        "high_pass": args.high_pass,
        "detrend": args.detrend,
        "fd_threshold": args.fd_threshold,
        "std_dvars_threshold": args.std_dvars_threshold,
    }
    if args.filter is not None:
        overrides["filter"] = False if args.filter == "none" else args.filter
    if args.standardize is not None:
        overrides["standardize"] = False if args.standardize == "none" else args.standardize
    strategies = []
    for spec in args.strategy:
        try:
            import warnings

            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                strategy = get_strategy(spec, **overrides)
            for item in caught:
                LOGGER.warning("strategy %s: %s", spec, item.message)
        except (ConfoundsError, ValueError, TypeError) as exc:
            raise UsageError(f"--strategy {spec}: {exc}") from None
        if any(s.desc == strategy.desc for s in strategies):
            raise UsageError(f"--strategy {spec}: given twice (desc-{strategy.desc})")
        strategies.append(strategy)
    return strategies


def _command_line(argv: Sequence[str]) -> str:
    return shlex.join(["regionseries", *argv])


# --------------------------------------------------------------------------------------
# Participant level
# --------------------------------------------------------------------------------------

def _bold_voxel_size(path: Path) -> float:
    import nibabel as nib
    import numpy as np

    affine = nib.load(str(path)).affine
    return float(np.max(np.sqrt((affine[:3, :3] ** 2).sum(axis=0))))


def _worker_init() -> None:
    logging.getLogger("regionseries").setLevel(logging.WARNING)
    from . import pipeline  # noqa: F401 - import while the main process indexes the dataset


def _start_worker_pool(nprocs: int) -> concurrent.futures.ProcessPoolExecutor:
    """Start ``nprocs`` worker processes now, before the dataset is indexed.

    Spawned workers spend about a second importing the scientific stack;
    starting them first lets that overlap the main process's serial work
    (indexing the dataset, resolving the atlases) instead of following it.
    """
    _limit_threads(nprocs)
    pool = concurrent.futures.ProcessPoolExecutor(max_workers=nprocs, mp_context=multiprocessing.get_context("spawn"),
                                                  initializer=_worker_init)
    for _ in range(nprocs):  # each submission spawns one worker
        pool.submit(int)
    return pool


def _process_one(task):
    from .pipeline import process_run

    run, atlases, options = task
    return process_run(run, atlases, options)


def _run_participant(args: argparse.Namespace, argv: Sequence[str], work_dir: Path) -> int:
    with contextlib.ExitStack() as cleanup:
        return _participant(args, argv, work_dir, cleanup)


def _participant(args: argparse.Namespace, argv: Sequence[str], work_dir: Path,
                 cleanup: contextlib.ExitStack) -> int:
    from .atlases.base import AtlasError
    from .atlases.registry import AtlasOptions, AtlasRegistry, export_atlas, parse_threshold
    from .bids.inputs import (
        SpaceSpec,
        check_derivatives_dataset,
        discover_runs,
        read_bids_filters,
        read_dataset_description,
    )
    from .bids.outputs import write_dataset_files
    from .pipeline import STATUS_FAILED, STATUS_SKIPPED, PipelineOptions

    connectivity = _connectivity_kinds(args.connectivity)
    strategies = _strategies(args)
    try:
        spaces = [SpaceSpec.parse(s) for s in args.space]
    except ValueError as exc:
        raise UsageError(f"--space: {exc}") from None
    try:
        atlas_options = AtlasOptions(radius=args.radius, threshold=parse_threshold(args.threshold),
                                     min_region_size=args.min_region_size, extract_type=args.extract_type)
        registry = AtlasRegistry.from_specs(atlas=args.atlas, atlas_file=args.atlas_file, spheres=args.spheres,
                                            regions_from=args.regions_from, options=atlas_options,
                                            work_dir=work_dir)
    except AtlasError as exc:
        raise UsageError(str(exc)) from None
    filters = read_bids_filters(args.bids_filter_file) if args.bids_filter_file else None

    if not args.skip_bids_validation:
        problems = check_derivatives_dataset(args.bids_dir)
        if problems:
            LOGGER.error("BIDS_DIR is not a BIDS derivatives dataset: %s. Pass the fMRIPrep output folder, "
                         "or --skip-bids-validation to proceed anyway.", "; ".join(problems))
            return EXIT_INVALID_DATASET

    pool = None
    if args.nprocs > 1:
        pool = _start_worker_pool(args.nprocs)
        cleanup.callback(pool.shutdown, wait=True, cancel_futures=True)
    LOGGER.info("regionseries %s: indexing %s", __version__, args.bids_dir)
    runs = discover_runs(args.bids_dir, work_dir, participants=args.participant_label, sessions=args.session_label,
                         tasks=args.task, spaces=spaces, bids_filters=filters, database_dir=args.bids_database_dir)
    LOGGER.info("found %d BOLD run(s) for %d participant(s)", len(runs),
                len({r.entities.get("sub") for r in runs}))
    if pool is not None and len(runs) <= 1:  # one run is processed here; let the workers go
        pool.shutdown(wait=False, cancel_futures=True)
        pool = None

    # Resolve atlases per (space, voxel size) before any work: missing atlases fail fast.
    atlases_of_run = []
    resolved: dict[tuple, list] = {}
    for run in runs:
        key = (run.entities.get("space", ""), round(_bold_voxel_size(run.bold), 3))
        if key not in resolved:
            try:
                resolved[key] = registry.resolve(*key)
            except AtlasError as exc:
                LOGGER.error("%s", exc)
                return EXIT_NO_INPUT
        atlases_of_run.append(resolved[key])

    try:
        args.output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        LOGGER.error("cannot create OUTPUT_DIR %s: %s", args.output_dir, exc)
        return EXIT_CANT_CREATE
    log_path = _add_log_file(args.output_dir, "participant", args.participant_label)
    command = _command_line(argv)
    LOGGER.debug("command line: %s", command)
    write_dataset_files(args.output_dir, args.bids_dir, command, read_dataset_description(Path(args.bids_dir)))
    atlas_files = {}
    for atlas_list in resolved.values():
        for atlas in atlas_list:
            if atlas.key not in atlas_files:
                atlas_files[atlas.key] = export_atlas(atlas, args.output_dir)

    options = PipelineOptions(
        bids_dir=Path(args.bids_dir).resolve(), output_dir=args.output_dir.resolve(), work_dir=work_dir,
        strategies=strategies, dummy_scans=args.dummy_scans, smoothing_fwhm=args.smoothing_fwhm,
        min_coverage=args.min_coverage, connectivity=connectivity, estimator=args.connectivity_estimator,
        overwrite=args.overwrite, command_line=command, atlas_files=atlas_files,
        keep_arrays=not args.no_reports, draw_run_figures=not args.no_reports and pool is not None,
    )
    results, report_failures = _execute(runs, atlases_of_run, options, pool, report=not args.no_reports)

    failures = [f for r in results for f in r.failures]
    exclusions = [e for r in results for e in r.exclusions]
    done = sum(r.status not in (STATUS_FAILED, STATUS_SKIPPED) for r in results)
    skipped = sum(r.status == STATUS_SKIPPED for r in results)
    LOGGER.info("")
    LOGGER.info("Finished: %d run(s) processed, %d skipped (outputs exist; --overwrite to redo), %d with failures.",
                done, skipped, len({f[0] for f in failures}))
    if exclusions:
        LOGGER.info("Excluded by the data (recorded in the *_qc.json files):")
        for path, reason in exclusions:
            LOGGER.info("  %s: %s", Path(path).name, reason)
    if failures or report_failures:
        LOGGER.error("Failures:")
        for path, reason in failures + report_failures:
            LOGGER.error("  %s: %s", Path(path).name, reason)
    LOGGER.info("Outputs: %s", args.output_dir)
    LOGGER.info("Log: %s", log_path)
    return EXIT_FAILURE if failures or report_failures else EXIT_OK


def _execute(runs, atlases_of_run, options, pool: concurrent.futures.ProcessPoolExecutor | None,
             report: bool) -> tuple[list, list]:
    """Process runs (in the worker pool if there is one), printing progress.

    Returns the run results and the report failures ``(file, reason)``.
    """
    from .pipeline import STATUS_FAILED, RunResult, process_run

    total = len(runs)
    results = []
    report_failures: list[tuple[str, str]] = []
    pending_by_participant: dict[str, int] = defaultdict(int)
    for run in runs:
        pending_by_participant[run.entities.get("sub", "")] += 1
    finished_by_participant: dict[str, list] = defaultdict(list)

    def finish(k: int, result) -> None:
        _log_result(k, total, result)
        results.append(result)
        participant = result.run.entities.get("sub", "")
        finished_by_participant[participant].append(result)
        if len(finished_by_participant[participant]) == pending_by_participant[participant]:
            if report:
                report_failures.extend(_write_reports(participant, finished_by_participant[participant], options))
            for item in finished_by_participant[participant]:  # free the arrays
                item.raw_signals, item.clean_signals, item.connectivity = {}, {}, {}

    if pool is None or total <= 1:
        for k, (run, atlases) in enumerate(zip(runs, atlases_of_run), start=1):
            LOGGER.debug("[%d/%d] starting %s", k, total, run.bold.name)
            finish(k, process_run(run, atlases, options))
        return results, report_failures
    futures = {pool.submit(_process_one, (run, atlases, options)): run
               for run, atlases in zip(runs, atlases_of_run)}
    try:
        for k, future in enumerate(concurrent.futures.as_completed(futures), start=1):
            try:
                result = future.result()
            except Exception as exc:  # noqa: BLE001 - e.g. a worker killed for lack of memory
                result = RunResult(run=futures[future], status=STATUS_FAILED,
                                   error=f"worker process failed ({type(exc).__name__}: {exc}); "
                                         "out of memory? try fewer --nprocs")
            finish(k, result)
    except BaseException:
        for future in futures:
            future.cancel()
        raise
    return results, report_failures


def _limit_threads(nprocs: int) -> None:
    """Cap BLAS/OpenMP threads of the worker processes (they inherit the environment)."""
    per_worker = str(max(1, (os.cpu_count() or 1) // nprocs))
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, per_worker)


def _log_result(k: int, total: int, result) -> None:
    from .pipeline import STATUS_FAILED, STATUS_SKIPPED

    name = result.run.bold.name
    if result.status == STATUS_SKIPPED:
        LOGGER.info("[%d/%d] %s: skipped (outputs exist)", k, total, name)
        for message in result.warnings[len(result.run.warnings):]:  # not the input warnings of a skipped run
            LOGGER.warning("  %s", message)
        return
    for message in result.warnings:
        LOGGER.warning("  %s", message)
    if result.status == STATUS_FAILED:
        LOGGER.error("[%d/%d] %s: FAILED: %s", k, total, name, result.error)
        return
    states = ", ".join(f"{s.name} {s.status}" for s in result.strategies)
    LOGGER.info("[%d/%d] %s: %s (%.1f s)", k, total, name, states, result.seconds)


def _write_reports(participant: str, results: list, options) -> list[tuple[str, str]]:
    """Reports hook: render ``sub-<label>.html`` from the run results.

    Returns the failures ``(file, reason)``; a failed report never loses the
    outputs already written.
    """
    from .pipeline import write_participant_report

    try:
        path = write_participant_report(participant, results, options)
    except Exception as exc:  # noqa: BLE001
        LOGGER.error("report of sub-%s failed: %s: %s", participant, type(exc).__name__, exc)
        LOGGER.debug("report failure", exc_info=True)
        return [(f"sub-{participant}.html", f"{type(exc).__name__}: {exc}")]
    if path is not None:
        LOGGER.info("report: %s", path)
    return []


# --------------------------------------------------------------------------------------
# Group level
# --------------------------------------------------------------------------------------

def _run_group(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from .group import GroupOptions, NoParticipantOutputs, run_group

    if not args.output_dir.is_dir():
        LOGGER.error("OUTPUT_DIR %s does not exist: run the participant level first", args.output_dir)
        return EXIT_NO_INPUT
    log_path = _add_log_file(args.output_dir, "group", None)
    options = GroupOptions(max_mean_fd=args.max_mean_fd, min_kept_fraction=args.min_kept_fraction,
                           participants=args.participant_label, command_line=_command_line(argv),
                           reports=not args.no_reports)
    try:
        summary = run_group(args.output_dir, options)
    except NoParticipantOutputs as exc:
        LOGGER.error("%s", exc)
        return EXIT_NO_INPUT
    for path, reason in summary.failures:
        LOGGER.error("  %s: %s", path, reason)
    excluded = summary.qc_table[summary.qc_table["excluded"]] if summary.qc_table is not None else []
    LOGGER.info("QC table: %d row(s), %d excluded by the documented criteria.",
                0 if summary.qc_table is None else len(summary.qc_table), len(excluded))
    LOGGER.info("Group outputs: %s", args.output_dir / "group")
    LOGGER.info("Log: %s", log_path)
    return EXIT_FAILURE if summary.failures else EXIT_OK


# --------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_console(args.verbose)
    from .bids.inputs import InputError

    own_work_dir = args.work_dir is None
    work_dir = Path(tempfile.mkdtemp(prefix="regionseries-work-")) if own_work_dir else args.work_dir
    try:
        _check_paths(args)
        if not own_work_dir:
            work_dir.mkdir(parents=True, exist_ok=True)
        if args.analysis_level == "participant":
            return _run_participant(args, argv, work_dir)
        return _run_group(args, argv)
    except UsageError as exc:
        parser.print_usage(sys.stderr)
        LOGGER.error("regionseries: error: %s", exc)
        return EXIT_USAGE
    except FileNotFoundError as exc:
        LOGGER.error("regionseries: %s", exc)
        return EXIT_NO_INPUT
    except InputError as exc:
        LOGGER.error("regionseries: %s", exc)
        return exc.exit_code
    except KeyboardInterrupt:
        LOGGER.error("interrupted: finished outputs are complete, unfinished ones were not written")
        return EXIT_INTERRUPTED
    finally:
        if own_work_dir:
            shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
