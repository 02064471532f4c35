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
import atexit
import gc
import logging
import re
import shlex
import shutil
import signal
import sys
import textwrap
import warnings
from collections.abc import Sequence
from pathlib import Path

from ._version import __version__
from .job import (
    CONNECTIVITY_CHOICES,
    REPORTED,
    OptionError,
    OutputNotWritable,
    Terminated,
    for_console,
    is_stop,
    keep_swallowed_stop,
    stop_message,
    strip_label_prefix,
)
from .suggest import did_you_mean

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

#: The engine's exceptions under their command-line names (exits 64, 73 and 143).
UsageError = OptionError
__all__ = ["CONNECTIVITY_CHOICES", "DOCUMENTED_EXIT_CODES", "OutputNotWritable", "Terminated", "UsageError", "build_parser", "main"]


#: The usage line shown when a positional argument is missing (the full usage is ~30 lines).
SHORT_USAGE = "usage: regionseries BIDS_DIR OUTPUT_DIR {participant,group} [options]"

_INVALID_CHOICE = re.compile(r"invalid choice: '(?P<value>[^']*)' \(choose from (?P<choices>.*)\)$")


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line, with a "did you mean" where one is close, and exit 64
    (argparse exits 2 and prints the whole usage; the BIDS-Apps execution spec says 64)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        if "arguments are required" in message:
            sys.stderr.write(SHORT_USAGE + "\n")
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}{self._suggestions(message)} "
                              f"(see {self.prog} --help)\n")

    def _suggestions(self, message: str) -> str:
        """"; did you mean ..." for unknown flags and invalid choices, or ``""``."""
        if message.startswith("unrecognized arguments: "):
            flags = [name for name in self._option_string_actions if name.startswith("--")]
            hints = []
            for token in message.removeprefix("unrecognized arguments: ").split():
                if token.startswith("-"):
                    # flags share their "--": a higher cut-off than for values (0.6 offers --extract-type for --stratgy)
                    suggestion = did_you_mean(token.split("=", 1)[0], flags, n=2, cutoff=0.75)
                    if suggestion:
                        hints.append(f"{token}: {suggestion}")
            return "; " + "; ".join(hints) if hints else ""
        choice = _INVALID_CHOICE.search(message)
        if choice:
            choices = re.findall(r"'([^']*)'", choice["choices"])
            suggestion = did_you_mean(choice["value"], choices)
            return f"; {suggestion}" if suggestion else ""
        return ""


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
        try:
            return strip_label_prefix(value, prefix)
        except OptionError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
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
                                "e.g. MNI152NLin6Asym:res-2). Surface runs: fsLR:den-91k (CIFTI), fsaverage5 (GIFTI).")
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
                         help="Your own atlas: a 3D labels or 4D maps image, optional label table; for surface "
                              "runs a CIFTI NAME=atlas.dlabel.nii or a GIFTI pair NAME=lh.label.gii,rh.label.gii "
                              "(or .annot), left first; maps as NAME=maps.dscalar.nii or "
                              "NAME=lh.func.gii,rh.func.gii. {subject} in a surface atlas's paths is each "
                              "participant's label, for fsnative runs: aparc=FS/sub-{subject}/label/lh.aparc.annot,"
                              "FS/sub-{subject}/label/rh.aparc.annot.")
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
    cleaning.add_argument("--min-time", "--min_time", dest="min_time", type=_non_negative_float, metavar="SECONDS",
                          help="Exclude runs whose kept volumes last less than this (seconds; XCP-D's --min-time, "
                               "whose default is 240), overriding the strategies' min_time (default 0: off).")
    cleaning.add_argument("--linc-qc", "--linc_qc", dest="linc_qc", nargs="?", const="y", default="n",
                          choices=("y", "n"),
                          help="Also write a LINC-style QC table per run and strategy (XCP-D's desc-linc_qc.tsv "
                               "measures; docs/outputs.md), gathered by the group level. Off by default.")
    cleaning.add_argument("--motion-filter-type", "--motion_filter_type", dest="motion_filter_type",
                          choices=("notch", "lp", "none"),
                          help="Filter the six motion parameters before FD is recomputed from them (XCP-D's): "
                               "'notch' removes the breathing band --band-stop-min..--band-stop-max, 'lp' keeps "
                               "what is below --band-stop-min; FD censoring and motion regressors then use the "
                               "filtered parameters. Overrides the strategies'; 'none' turns it off.")
    cleaning.add_argument("--band-stop-min", "--band_stop_min", dest="band_stop_min", type=_positive_float,
                          metavar="BPM", help="Motion filter: lower edge of the band-stop ('notch') or cut-off "
                                              "('lp'), in breaths per minute (adults: 12).")
    cleaning.add_argument("--band-stop-max", "--band_stop_max", dest="band_stop_max", type=_positive_float,
                          metavar="BPM", help="Motion filter: upper edge of the band-stop ('notch'), in breaths "
                                              "per minute (adults: 18).")
    cleaning.add_argument("--motion-filter-order", "--motion_filter_order", dest="motion_filter_order",
                          type=_positive_int, metavar="N",
                          help="Order of the whole forward-backward motion filter: a multiple of 4 for 'notch', "
                               "of 2 for 'lp' (default: the strategy's, 4).")
    cleaning.add_argument("--ica-aroma", dest="ica_aroma", choices=("full", "basic", "orthaggr"),
                          help="ICA-AROMA denoising of strategies with the ica_aroma component, overriding theirs: "
                               "full (the non-aggressively denoised BOLD), basic (rejected components as "
                               "regressors), orthaggr (fMRIPost-AROMA's orthogonalised rejected components, "
                               "XCP-D's 'aroma'; needs --datasets aroma=PATH).")
    cleaning.add_argument("--tedana", choices=("aggressive", "non-aggressive"),
                          help="tedana denoising of strategies with the tedana component, overriding theirs "
                               "(needs --datasets tedana=PATH).")
    cleaning.add_argument("--datasets", action="extend", nargs="+", default=[], metavar="NAME=PATH",
                          help="Other derivatives a strategy reads: aroma=PATH (fMRIPost-AROMA output) and/or "
                               "tedana=PATH (tedana output, files named with the run's entities).")
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
    cleaning.add_argument("--combine-runs", "--combine_runs", dest="combine_runs", action="store_true",
                          help="Also concatenate each participant's runs of a task (and session, space): one "
                               "series and matrix per atlas and strategy, desc-<strategy>Concat, each run centred "
                               "on its kept volumes, censored volumes left out of the matrix.")

    group = parser.add_argument_group("Group level")
    group.add_argument("--max-mean-fd", dest="max_mean_fd", type=_positive_float, default=0.55, metavar="MM",
                       help="Exclude runs whose mean framewise displacement exceeds this (mm; Parkes et al. 2018).")
    group.add_argument("--min-kept-fraction", dest="min_kept_fraction", type=_fraction, default=0.5,
                       metavar="FRACTION", help="Exclude runs keeping less than this fraction of their volumes.")
    group.add_argument("--incremental", action="store_true",
                       help="Reuse the sums of the previous --incremental group run (kept in OUTPUT_DIR/group/"
                            ".incremental/) and read only the runs it did not include; everything is read again "
                            "when one of its runs changed, was removed or is now excluded.")
    group.add_argument("--qcfc-unit", dest="qcfc_unit", choices=("participant", "run"), default="participant",
                       help="Samples of QC-FC: participants (each one's included runs averaged: mean Fisher z, mean "
                            "of the runs' mean FD; default) or runs, each an independent sample.")

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
    loudness = execution.add_mutually_exclusive_group()
    loudness.add_argument("-v", "--verbose", dest="verbose", action="count", default=0,
                          help="More messages (-v: debug).")
    loudness.add_argument("-q", "--quiet", dest="quiet", action="store_true",
                          help="Only warnings and errors on the console (the log file keeps everything).")
    return parser


# --------------------------------------------------------------------------------------
# Logging
# --------------------------------------------------------------------------------------

class _ConsoleFormatter(logging.Formatter):
    """Keeps long warnings to a few lines on the console unless verbose (the log file always
    has the full text), wrapped to the terminal's width on a terminal."""

    def __init__(self, verbose: bool, width: int | None = None):
        super().__init__("%(message)s")
        self.verbose = verbose
        self.width = width

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if not self.verbose and record.levelno == logging.WARNING and len(text) > 300:
            text = text[:300].rstrip() + " ... (full text in the log)"
        if self.width and record.levelno >= logging.WARNING and len(text) > self.width and "\n" not in text:
            indent = text[:len(text) - len(text.lstrip())]
            text = textwrap.fill(text, self.width, subsequent_indent=indent + "    ", break_on_hyphens=False)
        return text


#: Python's own :func:`warnings.showwarning`, for warnings written to a file the caller chose.
_SHOW_PYTHON_WARNING = warnings.showwarning


class _TerminalConsole(logging.StreamHandler):
    """The console on a terminal: the progress of the runs (of the group level's tables) as a
    bar with the time left (tqdm); the per-run (per-table) lines, which carry
    ``progress=(k, total)`` and optionally ``progress_unit`` ("runs" by default), are then in
    the log file only, other messages are printed above the bar.

    tqdm is imported when the first progress record comes (the engine is loaded by then:
    it adds ~7 ms; ``--version`` and ``--help`` never import it).
    """

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self.bar = None

    def emit(self, record: logging.LogRecord) -> None:
        progress = getattr(record, "progress", None)
        if progress is not None:
            self._advance(*progress, unit=getattr(record, "progress_unit", "runs"))
            if record.levelno < logging.WARNING:
                return
        if self.bar is None:
            super().emit(record)
            return
        with self.bar.external_write_mode(file=self.stream):
            super().emit(record)

    def _advance(self, done: int, total: int, unit: str = "runs") -> None:
        if self.bar is None or self.bar.total != total or self.bar.desc != unit:
            from tqdm import tqdm

            self.close_bar()
            # smoothing=0: the time left from the mean time per run, not the last few runs
            self.bar = tqdm(total=total, desc=unit, unit=unit.rstrip("s"), file=self.stream, dynamic_ncols=True,
                            smoothing=0, bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} "
                                                    "[{elapsed} elapsed, {remaining} left]")
        self.bar.update(done - self.bar.n)
        if done >= total:
            self.close_bar()

    def close_bar(self) -> None:
        """End the bar's line (a job stopped before its last run leaves it where it was)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def close(self) -> None:
        self.close_bar()
        super().close()


def _configure_console(verbosity: int, quiet: bool = False) -> None:
    """The console handler of the ``regionseries`` logger: info (debug with ``-v``;
    warnings and errors only with ``-q``). Python warnings go through the logger too
    (:func:`_log_python_warning`), so the job's log file gets what the console shows."""
    LOGGER.setLevel(logging.DEBUG)
    LOGGER.propagate = False
    for handler in list(LOGGER.handlers):
        LOGGER.removeHandler(handler)
    terminal = sys.stderr.isatty()
    # a batch log (SLURM, a pipe) gets the per-run lines as they are and one message a line, for grep
    console = _TerminalConsole(sys.stderr) if terminal else logging.StreamHandler(sys.stderr)
    console.setLevel(logging.WARNING if quiet else logging.DEBUG if verbosity > 0 else logging.INFO)
    width = shutil.get_terminal_size().columns if terminal else None
    console.setFormatter(_ConsoleFormatter(verbosity > 0, width))
    console.addFilter(for_console)
    LOGGER.addHandler(console)
    warnings.showwarning = _log_python_warning


def _log_python_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                        file=None, line: str | None = None) -> None:
    """:func:`warnings.showwarning` of the command line: a warning of Python or of a library
    (pybids while indexing, nibabel, matplotlib) becomes one message of the ``regionseries``
    logger, which writes it to the console and to the job's log file alike."""
    if file is not None:  # written to a file the caller chose: as Python does
        _SHOW_PYTHON_WARNING(message, category, filename, lineno, file, line)
        return
    LOGGER.warning("%s: %s (%s:%d)", category.__name__, message, filename, lineno)



def _raise_terminated(signum: int, frame) -> None:
    """SIGTERM handler of the main process: stop like Ctrl-C, once (a second
    SIGTERM must not interrupt the cleanup the first one started)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated(signum)


# --------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (see :data:`DOCUMENTED_EXIT_CODES`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    previous_showwarning = warnings.showwarning
    _configure_console(args.verbose, args.quiet)
    previous_sigterm = signal.signal(signal.SIGTERM, _raise_terminated)
    previous_unraisablehook = sys.unraisablehook
    sys.unraisablehook = keep_swallowed_stop  # a stop swallowed by a finaliser: raised between runs
    # The process ends after the job: what is still alive then (the libraries, pybids'
    # index) is moved out of reach of the collection the interpreter runs at exit,
    # which would walk it all for nothing (0.3 s of CPU with pybids loaded, measured
    # on `benchmarks/run_benchmark.py`'s "nothing left to do" job). Registered here, in
    # the command line, as a Python caller of the engine keeps its collector.
    atexit.register(gc.freeze)
    try:
        return _main(args, argv, parser)
    finally:
        signal.signal(signal.SIGTERM, previous_sigterm)
        sys.unraisablehook = previous_unraisablehook
        warnings.showwarning = previous_showwarning
        for handler in LOGGER.handlers:
            if isinstance(handler, _TerminalConsole):
                handler.close_bar()


def _run_participant(args: argparse.Namespace, command_line: str) -> int:
    # The engine is imported when it runs: it brings the scientific stack, which
    # ``regionseries --version`` and ``--help`` do not need (docs/performance.md).
    from .participant import run_participant

    result = run_participant(
        args.bids_dir, args.output_dir, participant_label=args.participant_label,
        session_label=args.session_label, tasks=args.task, spaces=args.space,
        bids_filter_file=args.bids_filter_file, bids_database_dir=args.bids_database_dir,
        atlases=args.atlas, atlas_files=args.atlas_file, spheres=args.spheres, radius=args.radius,
        regions_from=args.regions_from, threshold=args.threshold, min_region_size=args.min_region_size,
        extract_type=args.extract_type, strategies=args.strategy, low_pass=args.low_pass,
        high_pass=args.high_pass, temporal_filter=args.filter, detrend=args.detrend,
        standardize=args.standardize, fd_threshold=args.fd_threshold,
        std_dvars_threshold=args.std_dvars_threshold, min_time=args.min_time, dummy_scans=args.dummy_scans,
        motion_filter_type=args.motion_filter_type, band_stop_min=args.band_stop_min,
        band_stop_max=args.band_stop_max, motion_filter_order=args.motion_filter_order,
        ica_aroma=args.ica_aroma, tedana=args.tedana, datasets=args.datasets,

        smoothing_fwhm=args.smoothing_fwhm, min_coverage=args.min_coverage, connectivity=args.connectivity,
        connectivity_estimator=args.connectivity_estimator, combine_runs=args.combine_runs,
        work_dir=args.work_dir, cache_dir=args.cache_dir,
        nprocs=args.nprocs, overwrite=args.overwrite, skip_bids_validation=args.skip_bids_validation,
        reports=not args.no_reports, linc_qc=args.linc_qc == "y", command_line=command_line,
    )
    return result.exit_status


def _run_group(args: argparse.Namespace, command_line: str) -> int:
    from .group import run_group  # the scientific stack: see _run_participant

    summary = run_group(args.bids_dir, args.output_dir, participant_label=args.participant_label,
                        max_mean_fd=args.max_mean_fd, min_kept_fraction=args.min_kept_fraction,
                        incremental=args.incremental, nprocs=args.nprocs, reports=not args.no_reports,
                        qcfc_unit=args.qcfc_unit,
                        work_dir=args.work_dir, command_line=command_line)
    return summary.exit_status


def _main(args: argparse.Namespace, argv: Sequence[str], parser: argparse.ArgumentParser) -> int:
    """Call the engine of the analysis level and map its exceptions to exit codes."""
    from .bids.inputs import InputError
    from .bids.outputs import DISK_FULL_ERRNOS
    from .group import NoParticipantOutputs
    from .participant import AtlasNotResolved, NotADerivativesDataset

    command_line = shlex.join(["regionseries", *argv])
    try:
        if args.analysis_level == "participant":
            return _run_participant(args, command_line)
        return _run_group(args, command_line)
    except OptionError as exc:
        LOGGER.error("regionseries: error: %s (see regionseries --help)", exc)
        return EXIT_USAGE
    except FileNotFoundError as exc:
        LOGGER.error("regionseries: %s", exc)
        return EXIT_NO_INPUT
    except (NotADerivativesDataset, AtlasNotResolved) as exc:  # these messages say what they are
        LOGGER.error("%s", exc)
        return exc.exit_code
    except NoParticipantOutputs as exc:
        LOGGER.error("%s", exc)
        return EXIT_NO_INPUT
    except InputError as exc:
        LOGGER.error("regionseries: %s", exc)
        return exc.exit_code
    except OutputNotWritable as exc:
        LOGGER.error("regionseries: %s", exc)
        return EXIT_CANT_CREATE
    except BaseException as exc:
        if not is_stop(exc):
            if not isinstance(exc, OSError) or exc.errno not in DISK_FULL_ERRNOS:
                raise
            LOGGER.error("regionseries: stopped: disk or quota full (%s)%s", exc.strerror,
                         f": {exc.filename}" if exc.filename else "")
            return EXIT_IO_ERROR
        if not getattr(exc, REPORTED, False):  # the engine has not said it with what is complete
            LOGGER.error("regionseries: %s", stop_message(exc))
        if isinstance(exc, (KeyboardInterrupt, Terminated)):
            return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
        return EXIT_IO_ERROR


if __name__ == "__main__":
    sys.exit(main())
