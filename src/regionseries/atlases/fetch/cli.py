"""The ``regionseries-fetch-atlases`` command line: arguments, ``--dry-run`` and ``--check`` listings, exit status."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import FetchError, OfflineError, SelectionError
from .home import bundled_skeleton_zip, default_templateflow_home, skeleton_paths
from .selection import (
    DEFAULT_ATLASES,
    DEFAULT_RESOLUTIONS,
    DEFAULT_TEMPLATES,
    AtlasImage,
    select_atlas_images,
    selection_metadata_paths,
)
from .transfer import (
    DEFAULT_ATTEMPTS,
    DEFAULT_TIMEOUT_S,
    TEMPLATEFLOW_S3_ROOT,
    fetch_atlases,
)
from .validation import image_state

EXIT_OK = 0
EXIT_FETCH_FAILED = 1
EXIT_USAGE = 2
#: ``--check``: a selected image is missing, a placeholder or corrupt (``EX_NOINPUT``,
#: the status regionseries itself exits with when an atlas is not available).
EXIT_MISSING = 66


def _offline_advice(home: Path) -> str:
    return (
        "This machine cannot reach the TemplateFlow server. Run the same command with "
        f"--home {home} on a machine with network access, copy that folder here, and "
        "set TEMPLATEFLOW_HOME to it (see docs/hpc.md)."
    )


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Build the ``regionseries-fetch-atlases`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="regionseries-fetch-atlases",
        description=(
            "Download TemplateFlow atlas images (volumes, and surface atlases of tpl-fsaverage "
            "and tpl-fsLR) into a TemplateFlow home so that "
            "regionseries runs without network (Docker build, offline HPC nodes), "
            "or copy them from a pre-fetched folder, or check that they are there."
        ),
        epilog=(
            f"Exit status: {EXIT_OK} all selected images are present; {EXIT_FETCH_FAILED} a download or "
            f"copy failed (offline, or the server or source folder lacks a file); {EXIT_USAGE} usage error "
            f"or bad selection; {EXIT_MISSING} (--check) a selected image is missing, a zero-byte "
            "placeholder or corrupt, or a label table of the selection is missing."
        ),
    )
    parser.add_argument(
        "--home",
        type=Path,
        default=None,
        help="TemplateFlow home to fill (default: $TEMPLATEFLOW_HOME, else TemplateFlow's user cache folder)",
    )
    parser.add_argument(
        "--template",
        nargs="+",
        default=list(DEFAULT_TEMPLATES),
        metavar="TEMPLATE",
        help=f"TemplateFlow templates (default: {' '.join(DEFAULT_TEMPLATES)})",
    )
    parser.add_argument(
        "--atlas",
        nargs="+",
        default=list(DEFAULT_ATLASES),
        metavar="ATLAS",
        help=f"TemplateFlow atlases (default: {' '.join(DEFAULT_ATLASES)})",
    )
    parser.add_argument(
        "--resolution",
        nargs="+",
        type=int,
        default=DEFAULT_RESOLUTIONS,
        metavar="INDEX",
        help=(
            "TemplateFlow resolution indices, not mm: res-02 is 2 mm in both MNI templates, "
            "MNI152NLin6Asym res-03 is 0.5 mm (default: every index the atlas has, since "
            "regionseries uses the one closest to the BOLD voxel size)"
        ),
    )
    parser.add_argument(
        "--desc",
        nargs="+",
        default=None,
        metavar="DESC",
        help="keep only these desc- values, e.g. 400Parcels7Networks 64dimensions th25 (default: all)",
    )
    parser.add_argument(
        "--density",
        nargs="+",
        default=None,
        metavar="DEN",
        help=(
            "surface atlases (--template fsaverage or fsLR): keep only these den- values, e.g. 10k "
            "(fsaverage5 runs), 41k (fsaverage6), 164k (fsaverage), 91k or 32k (fsLR grayordinates) "
            "(default: all)"
        ),
    )
    parser.add_argument("--seg", nargs="+", default=None, metavar="SEG",
                        help="keep only these seg- values, e.g. 7n 17n aparc (default: all)")
    parser.add_argument("--scale", nargs="+", default=None, metavar="SCALE",
                        help="keep only these scale- values, e.g. 400 (default: all)")
    listing = parser.add_mutually_exclusive_group()
    listing.add_argument(
        "--dry-run",
        action="store_true",
        help="list the selected images and whether each is present; change and download nothing",
    )
    listing.add_argument(
        "--check",
        action="store_true",
        help=(
            "list like --dry-run (change and download nothing), also check that each present image is a "
            "complete gzip NIfTI-1 file and that the selection's label tables are there; exit "
            f"{EXIT_MISSING} if anything is missing or corrupt, with the command that fetches it"
        ),
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--s3-root",
        default=TEMPLATEFLOW_S3_ROOT,
        metavar="URL",
        help=(
            "server to download from: TemplateFlow's, or a mirror with the same layout "
            "(URL/tpl-<template>/<file>, http:// or https://, e.g. `python3 -m http.server` run in a "
            f"TemplateFlow home) (default: {TEMPLATEFLOW_S3_ROOT})"
        ),
    )
    source.add_argument(
        "--source-home",
        type=Path,
        default=None,
        metavar="DIR",
        help=(
            "copy the images from DIR, a folder with TemplateFlow's layout (another TemplateFlow home, "
            "a DataLad clone with its content fetched: links are followed), instead of downloading; "
            "no network is used"
        ),
    )
    parser.add_argument(
        "--attempts",
        type=_positive_int,
        default=DEFAULT_ATTEMPTS,
        metavar="N",
        help=f"download attempts per file when the server does not answer (default: {DEFAULT_ATTEMPTS})",
    )
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help=f"seconds to wait for the server per attempt (default: {DEFAULT_TIMEOUT_S:g})",
    )
    return parser


def _list_selection(home: Path, selected: list[AtlasImage], out) -> tuple[int, int]:
    """Print one line per image (state and path) and the summary; return (missing, corrupt)."""
    missing = corrupt = 0
    for image in selected:
        state, problem = image_state(home / image.relpath)
        missing += state == "missing"
        corrupt += state == "corrupt"
        print(f"{state}  {image.relpath}" + (f"  ({problem})" if problem else ""), file=out)
    print(
        f"{len(selected)} atlas images selected in {home}: "
        f"{len(selected) - missing - corrupt} present, {missing} to download"
        + (f", {corrupt} corrupt" if corrupt else ""),
        file=out,
    )
    return missing, corrupt


def _fetch_command(home: Path, args: argparse.Namespace) -> str:
    """The command that fetches the selection of ``args`` into ``home``."""
    words = ["regionseries-fetch-atlases", "--home", str(home)]
    if args.template != list(DEFAULT_TEMPLATES):
        words += ["--template", *args.template]
    if args.atlas != list(DEFAULT_ATLASES):
        words += ["--atlas", *args.atlas]
    if args.resolution is not None:
        words += ["--resolution", *map(str, args.resolution)]
    if args.desc is not None:
        words += ["--desc", *args.desc]
    for option in ("density", "seg", "scale"):
        if getattr(args, option) is not None:
            words += [f"--{option}", *getattr(args, option)]
    if args.source_home is not None:
        words += ["--source-home", str(args.source_home)]
    elif args.s3_root != TEMPLATEFLOW_S3_ROOT:
        words += ["--s3-root", args.s3_root]
    return shlex.join(words)


def _check(home: Path, available_paths: list[str], selected: list[AtlasImage], args, out) -> int:
    """``--check``: list the selection, then exit status and a last line saying what to do."""
    missing, corrupt = _list_selection(home, selected, out)
    absent_metadata = [
        relpath for relpath in selection_metadata_paths(available_paths, selected) if not (home / relpath).is_file()
    ]
    for relpath in absent_metadata:
        print(f"missing  {relpath}", file=out)
    if not (missing or corrupt or absent_metadata):
        print(f"check passed: all {len(selected)} selected atlas images are present and valid in {home}", file=out)
        return EXIT_OK
    problems = []
    if missing or corrupt:
        problems.append(
            f"{missing + corrupt} of {len(selected)} selected atlas images are "
            + " or ".join(word for word, count in (("missing", missing), ("corrupt", corrupt)) if count)
        )
    if absent_metadata:
        problems.append(f"{len(absent_metadata)} label tables or template descriptions are missing")
    advice = f"fetch them with: {_fetch_command(home, args)}"
    if corrupt:
        advice = "delete the corrupt files (a fetch leaves non-empty files alone), then " + advice
    print(f"check failed: {' and '.join(problems)} in {home}; {advice}", file=out)
    return EXIT_MISSING


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``regionseries-fetch-atlases``.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        Exit status: 0 done (``--check``: all present), 1 a download or copy
        failed, 2 usage error / bad selection, 66 ``--check`` found something
        missing or corrupt.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    home = (args.home or default_templateflow_home()).absolute()
    source_home = args.source_home.absolute() if args.source_home is not None else None
    try:
        skeleton_zip = bundled_skeleton_zip()
        if args.dry_run or args.check:
            available_paths = skeleton_paths(skeleton_zip)
            selected = select_atlas_images(available_paths, args.template, args.atlas, args.resolution, args.desc,
                                           args.density, args.seg, args.scale)
            if args.check:
                return _check(home, available_paths, selected, args, sys.stdout)
            _list_selection(home, selected, sys.stdout)
            return EXIT_OK
        report = fetch_atlases(
            home,
            args.template,
            args.atlas,
            args.resolution,
            args.desc,
            densities=args.density,
            segs=args.seg,
            scales=args.scale,
            s3_root=args.s3_root,
            source_home=source_home,
            timeout_s=args.timeout,
            attempts=args.attempts,
            skeleton_zip=skeleton_zip,
            log=lambda line: print(line, file=sys.stderr, flush=True),
        )
    except OfflineError as error:
        print(f"regionseries-fetch-atlases: error: {error}\n{_offline_advice(home)}", file=sys.stderr)
        return EXIT_FETCH_FAILED
    except SelectionError as error:
        parser.print_usage(sys.stderr)
        print(f"regionseries-fetch-atlases: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except FetchError as error:
        print(f"regionseries-fetch-atlases: error: {error}", file=sys.stderr)
        return EXIT_FETCH_FAILED
    how = "downloaded" if source_home is None else f"copied from {source_home}"
    print(
        f"{len(report.selected)} atlas images ready in {home} "
        f"({len(report.downloaded)} {how}, {report.downloaded_bytes / 1e6:.1f} MB; "
        f"{len(report.already_present)} already present)"
    )
    return EXIT_OK
