"""Command line: ``regionseries BIDS_DIR OUTPUT_DIR {participant,group} [options]``.

BIDS-Apps conventions (see docs/usage.md):

* ``BIDS_DIR`` is an fMRIPrep derivatives dataset; it is only read (it can
  be mounted read-only); the pybids index is held in memory (or in
  ``--bids-database-dir``).
* ``-v/--verbose`` is verbosity (counted, nipreps style); ``--version``
  prints the version.
* Exit codes follow the BIDS-Apps execution specification and sysexits:
  0 success; 1 some runs failed (each run is its own failure boundary: the
  others finish, the failed run gets a ``*_qc.json`` with ``Status`` "failed"
  and the reason, the failures are listed at the end with file and reason);
  16 the input is not a BIDS derivatives dataset; 64 usage error; 66 input
  not found (unknown participant, no preprocessed BOLD, missing atlas, a
  filter or strategy file missing, not fetched or not readable);
  73 the output (or work) folder cannot be created or written (checked
  before the dataset is indexed); 74 the disk or quota is full (the job stops, no
  partial file is left); 130 interrupted (SIGINT) and 143 terminated
  (SIGTERM, as SLURM, ``docker stop`` and Kubernetes send): finished runs
  are complete, the unfinished ones are removed, and the temporary work
  folder too.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import gc
import logging
import multiprocessing
import os
import shlex
import shutil
import signal
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
EXIT_IO_ERROR = 74
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM (15), as a shell reports a process stopped by SIGTERM

#: The exit codes and what they mean (the parser's epilog; docs/usage.md has the same table).
DOCUMENTED_EXIT_CODES: tuple[tuple[int, str], ...] = (
    (EXIT_OK, "success"),
    (EXIT_FAILURE, "some runs failed (the others are complete; each failed run has a *_qc.json with the reason)"),
    (EXIT_INVALID_DATASET, "BIDS_DIR is not a BIDS derivatives dataset"),
    (EXIT_USAGE, "usage error"),
    (EXIT_NO_INPUT, "no input (participant, BOLD, atlas, filter or strategy file not found)"),
    (EXIT_CANT_CREATE, "OUTPUT_DIR or the work folder cannot be created or written"),
    (EXIT_IO_ERROR, "disk or quota full"),
    (EXIT_INTERRUPTED, "interrupted (SIGINT)"),
    (EXIT_TERMINATED, "terminated (SIGTERM)"),
)

CONNECTIVITY_CHOICES = ("correlation", "partial-correlation", "covariance", "none")


class UsageError(Exception):
    """A command-line value that argparse cannot check by itself (exit 64)."""


class OutputNotWritable(Exception):
    """OUTPUT_DIR cannot be created or written into (exit 73)."""


class Terminated(BaseException):
    """Raised by the SIGTERM handler; handled like :class:`KeyboardInterrupt` (exit 143).

    A :class:`BaseException` so that the ``except Exception`` blocks isolating
    one run's failure let it through.
    """


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
        epilog="Documentation: docs/usage.md and docs/outputs.md. Exit codes: "
               + "; ".join(f"{code} {meaning}" for code, meaning in DOCUMENTED_EXIT_CODES) + ".",
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
    group.add_argument("--incremental", action="store_true",
                       help="Reuse the sums of the previous --incremental group run (kept in OUTPUT_DIR/group/"
                            ".incremental/) and read only the runs it did not include; everything is read again "
                            "when one of its runs changed, was removed or is now excluded.")

    execution = parser.add_argument_group("Execution")
    execution.add_argument("-w", "--work-dir", dest="work_dir", type=Path, metavar="DIR",
                           help="Work folder (derived regions, atlas operators); a temporary folder by default. "
                                "Never inside BIDS_DIR.")
    execution.add_argument("--cache-dir", dest="cache_dir", type=Path, metavar="DIR",
                           help="Folder of atlas operators and report-figure frames shared by the jobs of a study "
                                "(each atlas is resampled to a BOLD grid once, not once per job); may be read-only. "
                                "Default: $REGIONSERIES_CACHE_DIR, else the work folder.")
    execution.add_argument("--nprocs", "--nthreads", "--n-cpus", "--n_cpus", dest="nprocs", type=_positive_int,
                           default=1, metavar="N", help="Runs processed in parallel (group level: processes reading "
                                                         "the participants' matrices).")
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


class _LogFileHandler(logging.FileHandler):
    """The job's log file; when it can no longer be written (a full disk), it says so
    once on the console and stops, instead of printing a traceback per message."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        error = sys.exc_info()[1]
        if not isinstance(error, OSError):
            super().handleError(record)
            return
        LOGGER.removeHandler(self)
        try:
            self.close()  # closes the file even though its last flush fails
        except OSError:
            pass
        sys.stderr.write(f"regionseries: cannot write the log file {self.baseFilename} ({error.strerror or error}); "
                         "messages go to the console only from now on\n")


def _add_log_file(output_dir: Path, level_name: str, participants: Sequence[str] | None) -> Path:
    """Start the job's log in ``OUTPUT_DIR/logs``.

    Raises
    ------
    OutputNotWritable, DiskFull
        The log file cannot be created.
    """
    stamp = time.strftime("%Y%m%d-%H%M%S")
    who = "-".join(participants[:3]) if participants else "all"
    path = output_dir / "logs" / f"regionseries_{level_name}_{who}_{stamp}_{os.getpid()}.log"
    with _output_errors(output_dir):
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = _LogFileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    LOGGER.addHandler(handler)
    return path


@contextlib.contextmanager
def _output_errors(folder: Path, name: str = "OUTPUT_DIR"):
    """Errors of creating or writing into ``folder`` (OUTPUT_DIR, the work folder) raised
    in the block become :class:`DiskFull` (exit 74) or :class:`OutputNotWritable` (exit 73)."""
    from .bids.outputs import DISK_FULL_ERRNOS, DiskFull, disk_full_message

    try:
        yield
    except OSError as exc:
        if exc.errno in DISK_FULL_ERRNOS:
            raise DiskFull(disk_full_message(exc.filename or folder, exc)) from exc
        raise OutputNotWritable(
            f"{name} {folder} cannot be created or written into: {exc.strerror or exc}"
            + (f" ({exc.filename})" if exc.filename else "")
            + ". Choose a folder this user can write (mounted read-write in a container)."
        ) from exc


def _check_output_dir(output_dir: Path) -> None:
    """Create OUTPUT_DIR if needed and make sure a file can be written into it.

    Done before the dataset is indexed, so a read-only or missing mount stops
    the job at once (exit 73) rather than after the indexing.
    """
    with _output_errors(output_dir):
        output_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=output_dir, prefix=".regionseries-write-test-") as probe:
            probe.write(b"regionseries")
            probe.flush()
            os.fsync(probe.fileno())


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
    if args.analysis_level == "participant":
        args.cache_dir = args.cache_dir or (Path(os.environ["REGIONSERIES_CACHE_DIR"])
                                            if os.environ.get("REGIONSERIES_CACHE_DIR") else None)
        if args.cache_dir is not None and _is_within(args.cache_dir, bids_dir):
            raise UsageError(f"--cache-dir {args.cache_dir} is inside BIDS_DIR {bids_dir}; "
                             "the input must not be written")


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
    from .bids.inputs import NoInputFound
    from .core.confounds import ConfoundsError, StrategyFileUnavailable, get_strategy

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
        except StrategyFileUnavailable as exc:  # missing, not fetched, permission denied: no input (66)
            raise NoInputFound(f"--strategy {exc}") from None  # the message starts with the file
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

def _atlas_grid_key(run) -> tuple[str, float] | None:
    """``(space, largest voxel size in mm)`` the run's atlases are resolved for, or None
    when its BOLD cannot be read (the run then fails alone, with the reason)."""
    from nibabel.affines import voxel_sizes

    from .bids.readable import UnreadableFile, open_nifti

    try:
        img = open_nifti(run.bold, ndim=4, what="a BOLD series")
    except UnreadableFile:
        return None
    return run.entities.get("space", ""), round(float(max(voxel_sizes(img.affine))), 3)


# --------------------------------------------------------------------------------------
# Signals and worker processes
# --------------------------------------------------------------------------------------

def _raise_terminated(signum: int, frame) -> None:
    """SIGTERM handler of the main process: stop like Ctrl-C, once (a second
    SIGTERM must not interrupt the cleanup the first one started)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated(signum)


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
    from . import pipeline  # noqa: F401 - import while the main process indexes the dataset


def _stop_workers() -> None:
    """Send SIGTERM to the worker processes: each aborts its run, removing that
    run's files, and starts no other (see :func:`_worker_sigterm`)."""
    for worker in multiprocessing.active_children():  # the pool's workers are our only children
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker.pid, signal.SIGTERM)


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
    """Process one run in a worker process, then draw its report figures.

    SIGTERM aborts the run while it is processed (see :func:`_worker_sigterm`);
    once its outputs are complete, the figures are drawn and the result
    returned whatever arrives, so that a complete run is counted as such.
    """
    global _WORKER_IN_RUN
    from .pipeline import draw_figures_ahead, process_run

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


def _run_participant(args: argparse.Namespace, argv: Sequence[str], work_dir: Path) -> int:
    with contextlib.ExitStack() as cleanup:
        return _participant(args, argv, work_dir, cleanup)


def _participant(args: argparse.Namespace, argv: Sequence[str], work_dir: Path,
                 cleanup: contextlib.ExitStack) -> int:
    from .atlases.base import AtlasError, AtlasUnavailable
    from .atlases.registry import AtlasOptions, AtlasRegistry, export_atlas, parse_threshold
    from .bids.inputs import (
        SpaceSpec,
        check_derivatives_dataset,
        discover_runs,
        read_bids_filters,
        read_dataset_description,
    )
    from .bids.outputs import DiskFull, write_dataset_files
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
                                            work_dir=work_dir, shared_cache_dir=args.cache_dir)
    except AtlasUnavailable as exc:  # an atlas, table or map file that is not there (or not fetched)
        LOGGER.error("regionseries: %s", exc)
        return EXIT_NO_INPUT
    except AtlasError as exc:
        raise UsageError(str(exc)) from None
    filters = read_bids_filters(args.bids_filter_file) if args.bids_filter_file else None

    if not args.skip_bids_validation:
        problems = check_derivatives_dataset(args.bids_dir)
        if problems:
            LOGGER.error("BIDS_DIR is not a BIDS derivatives dataset: %s. Pass the fMRIPrep output folder, "
                         "or --skip-bids-validation to proceed anyway.", "; ".join(problems))
            return EXIT_INVALID_DATASET

    _check_output_dir(args.output_dir)
    log_path = _add_log_file(args.output_dir, "participant", args.participant_label)
    command = _command_line(argv)
    LOGGER.debug("command line: %s", command)

    pool = None
    if args.nprocs > 1:
        pool = _start_worker_pool(args.nprocs)
        cleanup.callback(pool.shutdown, wait=True, cancel_futures=True)
    LOGGER.info("regionseries %s: indexing %s", __version__, args.bids_dir)
    runs = discover_runs(args.bids_dir, participants=args.participant_label, sessions=args.session_label,
                         tasks=args.task, spaces=spaces, bids_filters=filters,
                         bids_filter_file=args.bids_filter_file, database_dir=args.bids_database_dir)
    # The libraries and the dataset's index (~140,000 objects) live as long as the
    # job: exempt from garbage collection, they no longer make every full
    # collection the runs set off walk them (0.25 s of a 400-volume run here).
    gc.freeze()
    LOGGER.info("found %d BOLD run(s) for %d participant(s)", len(runs),
                len({r.entities.get("sub") for r in runs}))
    if pool is not None and len(runs) <= 1:  # one run is processed here; let the workers go
        pool.shutdown(wait=False, cancel_futures=True)
        pool = None

    # Resolve atlases per (space, voxel size) before any work: missing atlases fail fast.
    # A run whose BOLD cannot be read gets none: processing it records why it failed.
    atlases_of_run = []
    resolved: dict[tuple, list] = {}
    for run in runs:
        key = _atlas_grid_key(run)
        if key is None:
            atlases_of_run.append([])
            continue
        if key not in resolved:
            try:
                resolved[key] = registry.resolve(*key)
            except AtlasError as exc:
                LOGGER.error("%s", exc)
                return EXIT_NO_INPUT
        atlases_of_run.append(resolved[key])

    write_dataset_files(args.output_dir, args.bids_dir, read_dataset_description(Path(args.bids_dir)))
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
        cache_dir=None if args.cache_dir is None else args.cache_dir.resolve(),
    )
    results: list = []
    try:
        report_failures = _execute(runs, atlases_of_run, options, pool, results, report=not args.no_reports)
    except (KeyboardInterrupt, Terminated, DiskFull) as exc:  # say why, then what is complete
        exit_code, message = _stop_message(exc)
        LOGGER.error("regionseries: %s", message)
        _log_stopped(results, len(runs))
        LOGGER.info("Outputs: %s", args.output_dir)
        LOGGER.info("Log: %s", log_path)
        return exit_code

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
             results: list, report: bool) -> list[tuple[str, str]]:
    """Process runs (in the worker pool if there is one), printing progress.

    Appends each run's result to ``results`` as it finishes (so that what is
    complete is known if the job stops) and returns the report failures
    ``(file, reason)``. On an interruption, termination or full disk the
    workers are stopped (each removes its unfinished run) before the
    exception goes on.
    """
    from .bids.outputs import DiskFull
    from .pipeline import STATUS_FAILED, RunResult, process_run

    total = len(runs)
    report_failures: list[tuple[str, str]] = []
    pending_by_participant: dict[str, int] = defaultdict(int)
    for run in runs:
        pending_by_participant[run.entities.get("sub", "")] += 1
    finished_by_participant: dict[str, list] = defaultdict(list)

    def finish(k: int, result) -> None:
        results.append(result)  # first: if the job stops while this is logged, the run still counts
        _log_result(k, total, result)
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


def _stop_message(exc: BaseException) -> tuple[int, str]:
    """Exit code and message of a job stopped by SIGINT, SIGTERM or a full disk."""
    from .bids.outputs import DiskFull

    if isinstance(exc, DiskFull):
        return EXIT_IO_ERROR, f"stopped: {exc}"
    unfinished = "finished outputs are complete, unfinished ones were not written"
    if isinstance(exc, Terminated):
        return EXIT_TERMINATED, f"terminated (SIGTERM): {unfinished}"
    return EXIT_INTERRUPTED, f"interrupted: {unfinished}"


def _log_stopped(results: list, total: int) -> None:
    """Say which runs are complete when the job stops before the end."""
    from .pipeline import STATUS_FAILED

    complete = sorted(r.run.bold.name for r in results if r.status != STATUS_FAILED)
    failed = sorted(r.run.bold.name for r in results if r.status == STATUS_FAILED)
    LOGGER.error("%d of %d run(s) complete%s; the %d unfinished run(s) were not written: rerun the same command "
                 "to process them (complete runs are skipped).", len(complete), total,
                 f", {len(failed)} failed" if failed else "", total - len(results))
    for name in complete:
        LOGGER.info("  complete: %s", name)
    for name in failed:
        LOGGER.info("  failed: %s", name)


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

    from .bids.outputs import disk_full_is_fatal

    try:
        with disk_full_is_fatal(options.output_dir / f"sub-{participant}.html"):
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
    _check_output_dir(args.output_dir)
    log_path = _add_log_file(args.output_dir, "group", None)
    options = GroupOptions(max_mean_fd=args.max_mean_fd, min_kept_fraction=args.min_kept_fraction,
                           participants=args.participant_label, command_line=_command_line(argv),
                           reports=not args.no_reports, nprocs=args.nprocs, incremental=args.incremental)
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
    """Run the command line; returns the exit code (see :data:`DOCUMENTED_EXIT_CODES`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_console(args.verbose)
    previous_sigterm = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return _main(args, argv, parser)
    finally:
        signal.signal(signal.SIGTERM, previous_sigterm)


def _main(args: argparse.Namespace, argv: Sequence[str], parser: argparse.ArgumentParser) -> int:
    from .bids.inputs import InputError
    from .bids.outputs import DISK_FULL_ERRNOS, DiskFull

    own_work_dir = args.work_dir is None
    work_dir = None
    try:
        with _output_errors(Path(tempfile.gettempdir()), "the temporary folder ($TMPDIR)"):
            work_dir = Path(tempfile.mkdtemp(prefix="regionseries-work-")) if own_work_dir else args.work_dir
        _check_paths(args)
        if not own_work_dir:
            with _output_errors(work_dir, "--work-dir"):
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
    except OutputNotWritable as exc:
        LOGGER.error("regionseries: %s", exc)
        return EXIT_CANT_CREATE
    except (KeyboardInterrupt, Terminated, DiskFull) as exc:
        exit_code, message = _stop_message(exc)
        LOGGER.error("regionseries: %s", message)
        return exit_code
    except OSError as exc:
        if exc.errno not in DISK_FULL_ERRNOS:
            raise
        LOGGER.error("regionseries: stopped: disk or quota full (%s)%s", exc.strerror,
                     f": {exc.filename}" if exc.filename else "")
        return EXIT_IO_ERROR
    finally:
        if own_work_dir and work_dir is not None:
            shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
