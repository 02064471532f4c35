"""Find preprocessed BOLD runs and their companions in fMRIPrep derivatives.

pybids indexes the derivatives with ``validate=False`` (the default
``BIDSLayout(root)`` silently finds no derivative file at all), only for the
requested participants, and keeps its database in the work directory: the
input tree is never written, so it can be mounted read-only.

Each preprocessed BOLD (``desc-preproc_bold``) is paired by its acquisition
entities (subject, session, task, acq, ce, rec, dir, run, echo, part — never
``space``/``res``, which the confounds file does not carry) with its confounds
table, and by the same entities plus ``space``/``res`` with its brain mask.
The repetition time comes from the BOLD's JSON sidecar, or from the NIfTI
header with a warning.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..suggest import did_you_mean
from . import readable
from .datasets import DatasetFiles
from .names import SOURCE_ENTITIES, BIDSName, is_bids_label, parse_entities
from .outputs import DISK_FULL_ERRNOS, DiskFull

LOGGER = logging.getLogger("regionseries")

#: Default output space of fMRIPrep (and of this app).
DEFAULT_SPACE = "MNI152NLin2009cAsym"

#: pybids entity names of the acquisition entities, in BIDS order.
PYBIDS_NAMES: dict[str, str] = {
    "sub": "subject", "ses": "session", "task": "task", "acq": "acquisition",
    "ce": "ceagent", "rec": "reconstruction", "dir": "direction", "run": "run",
    "echo": "echo", "part": "part",
}

#: Entities a ``--bids-filter-file`` may use in its ``"bold"`` query.
FILTER_ENTITIES: tuple[str, ...] = (
    "subject", "session", "task", "acquisition", "ceagent", "reconstruction",
    "direction", "run", "echo", "part", "space", "res", "den",
)


class InputError(Exception):
    """Input data missing or unusable; ``exit_code`` follows the BIDS-Apps execution spec."""

    exit_code = 1


class NoInputFound(InputError):
    """No input matched the request (exit code 66, ``EX_NOINPUT``)."""

    exit_code = 66


class InvalidInputDataset(InputError):
    """BIDS_DIR is not a BIDS derivatives dataset (exit code 16)."""

    exit_code = 16


class UsageError(InputError):
    """Bad option value detected while reading inputs (exit code 64)."""

    exit_code = 64


#: Extensions of fMRIPrep's surface BOLD runs: CIFTI-2 grayordinates and GIFTI hemispheres.
CIFTI_BOLD_EXTENSION = ".dtseries.nii"
GIFTI_BOLD_EXTENSION = ".func.gii"


@dataclass(frozen=True)
class SpaceSpec:
    """An output space request: ``MNI152NLin2009cAsym``, ``MNI152NLin2009cAsym:res-2``,
    ``fsLR:den-91k`` (CIFTI grayordinates) or ``fsaverage5`` (GIFTI hemispheres)."""

    space: str
    res: str | None = None
    den: str | None = None

    @classmethod
    def parse(cls, text: str) -> "SpaceSpec":
        """Parse ``SPACE[:res-R][:den-D]`` (labels as in fMRIPrep names)."""
        parts = text.split(":")
        space = parts[0]
        if not is_bids_label(space):
            raise ValueError(f"invalid space {text!r}: expected e.g. MNI152NLin2009cAsym, MNI152NLin2009cAsym:res-2 "
                             "or fsLR:den-91k")
        found: dict[str, str] = {}
        for extra in parts[1:]:
            key, _, value = extra.partition("-")
            if key not in ("res", "den") or not is_bids_label(value):
                raise ValueError(f"invalid space modifier {extra!r} in {text!r}: only res-<label> is accepted "
                                 "(and den-<label> for surface densities, e.g. fsLR:den-91k)")
            found[key] = value
        return cls(space, found.get("res"), found.get("den"))

    def __str__(self) -> str:
        return self.space + "".join(f":{key}-{value}" for key, value in (("res", self.res), ("den", self.den))
                                    if value is not None)


@dataclass(frozen=True)
class RunInputs:
    """One preprocessed BOLD run and the files that go with it.

    Attributes
    ----------
    bold : Path
        The ``desc-preproc_bold`` NIfTI.
    entities : dict
        Entities read from the BOLD file name (labels as spelled there).
    confounds : Path or None
        fMRIPrep confounds table (``desc-confounds_timeseries.tsv`` or the
        older ``desc-confounds_regressors.tsv``).
    confounds_json : Path or None
        Its JSON sidecar (CompCor metadata).
    mask : Path or None
        ``desc-brain_mask`` in the same space and resolution.
    sidecar : Path or None
        The BOLD's JSON sidecar.
    repetition_time : float or None
        Seconds between volumes.
    start_time : float or None
        Seconds from the volume onset to the sampling time of its first slice
        after slice-timing correction (fMRIPrep's ``StartTime``).
    warnings : tuple of str
        Problems found while pairing (missing confounds, TR from header, ...).
    problems : tuple of str
        Companion files that exist but cannot be read (``"<path>: <problem>"``,
        see :mod:`regionseries.bids.readable`); the run fails with them.
    aroma_timeseries, aroma_bold : Path or None
        fMRIPost-AROMA's ``desc-aroma_timeseries.tsv`` and
        ``desc-nonaggrDenoised_bold`` (same space and resolution) of the run,
        from ``--datasets aroma=PATH`` (:mod:`regionseries.bids.datasets`).
    tedana_mixing, tedana_metrics : Path or None
        tedana's ``desc-ICA_mixing.tsv`` and ``desc-tedana_metrics.tsv`` of
        the run, from ``--datasets tedana=PATH``.
    dataset_problems : tuple of str
        Several files of one kind matching the run in those datasets; the
        strategies that need them fail with this reason.
    hemispheres : tuple of Path
        A GIFTI run: its left and right ``*_bold.func.gii`` (``bold`` is the
        left one); empty otherwise.
    """

    bold: Path
    entities: Mapping[str, str]
    confounds: Path | None = None
    confounds_json: Path | None = None
    mask: Path | None = None
    sidecar: Path | None = None
    repetition_time: float | None = None
    start_time: float | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)
    problems: tuple[str, ...] = field(default_factory=tuple)
    aroma_timeseries: Path | None = None
    aroma_bold: Path | None = None
    tedana_mixing: Path | None = None
    tedana_metrics: Path | None = None
    dataset_problems: tuple[str, ...] = field(default_factory=tuple)
    hemispheres: tuple[Path, ...] = field(default_factory=tuple)

    @property
    def surface(self) -> str | None:
        """``"cifti"`` (a ``.dtseries.nii``), ``"gifti"`` (a pair of ``.func.gii``) or None (a NIfTI volume)."""
        if self.bold.name.endswith(CIFTI_BOLD_EXTENSION):
            return "cifti"
        if self.bold.name.endswith(GIFTI_BOLD_EXTENSION):
            return "gifti"
        return None

    @property
    def bold_files(self) -> tuple[Path, ...]:
        """Every file of the BOLD series (both hemispheres of a GIFTI run)."""
        return self.hemispheres or (self.bold,)

    @property
    def base_name(self) -> BIDSName:
        """Output name stem: source entities, ``space``, ``res`` and ``den``."""
        keep = dict((k, v) for k, v in self.entities.items() if k in SOURCE_ENTITIES + ("space", "res", "den"))
        return BIDSName.create("timeseries", ".tsv", "func", **keep)


# --------------------------------------------------------------------------------------
# Dataset checks
# --------------------------------------------------------------------------------------

def read_dataset_description(bids_dir: Path) -> dict[str, Any] | None:
    """The input's ``dataset_description.json``, or None when absent/unreadable."""
    path = bids_dir / "dataset_description.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        LOGGER.warning("cannot read %s: %s", path, exc)
        return None


def check_derivatives_dataset(bids_dir: Path) -> list[str]:
    """Light validation of BIDS_DIR as a BIDS derivatives dataset.

    The BIDS validator rejects genuine fMRIPrep output (its draft suffixes),
    so validation of the input checks what this app relies on instead:
    a ``dataset_description.json`` declaring a derivative dataset.

    Returns
    -------
    list of str
        The problems found (empty when the dataset looks right).
    """
    problems = []
    description = read_dataset_description(bids_dir)
    if description is None:
        problems.append(f"{bids_dir / 'dataset_description.json'} is missing or unreadable")
    elif description.get("DatasetType") != "derivative":
        problems.append(
            f"{bids_dir / 'dataset_description.json'} has DatasetType {description.get('DatasetType', 'raw')!r}, "
            "expected 'derivative' (BIDS_DIR must be the fMRIPrep output folder)"
        )
    return problems


def _find_fmriprep_candidates(bids_dir: Path) -> list[Path]:
    """fMRIPrep-looking folders below a raw dataset (for a helpful message)."""
    found = []
    derivatives = bids_dir / "derivatives"
    if derivatives.is_dir():
        for child in sorted(derivatives.iterdir()):
            if child.is_dir() and any(child.glob("sub-*")):
                found.append(child)
    return found


def list_participants(bids_dir: Path) -> list[str]:
    """Participant labels with a ``sub-<label>`` folder in ``bids_dir``."""
    return sorted(
        entry.name[4:] for entry in bids_dir.iterdir()
        if entry.is_dir() and entry.name.startswith("sub-") and len(entry.name) > 4
    )


def check_participants(bids_dir: Path, requested: Sequence[str] | None) -> list[str]:
    """The participants to process; every requested one must exist.

    Raises
    ------
    NoInputFound
        If a requested participant has no folder, or there is no participant.
    """
    available = list_participants(bids_dir)
    if not available:
        hint = ""
        candidates = _find_fmriprep_candidates(bids_dir)
        if candidates:
            hint = f" It has derivatives that look like fMRIPrep output: {', '.join(map(str, candidates))} — pass that folder as BIDS_DIR."
        raise NoInputFound(f"no sub-<label> folder in {bids_dir}.{hint}")
    if not requested:
        return available
    missing = [label for label in requested if label not in available]
    if missing:
        raise NoInputFound(
            f"participant(s) not found in {bids_dir}: {', '.join('sub-' + m for m in missing)} "
            f"(available: {', '.join('sub-' + a for a in available[:20])}{' ...' if len(available) > 20 else ''}). "
            "In a container, check that the dataset folder is mounted."
        )
    return list(dict.fromkeys(requested))


# --------------------------------------------------------------------------------------
# Filter file
# --------------------------------------------------------------------------------------

def read_bids_filters(path: str | os.PathLike) -> dict[str, Any]:
    """Read a ``--bids-filter-file`` (pybids queries per file kind).

    Only the ``"bold"`` query is used: ``{"bold": {"session": "02", "run": [1, 2]}}``.
    ``null`` means "entity absent" and ``"*"`` means "entity present, any
    value" (the convention of fMRIPrep and giga_connectome).

    Raises
    ------
    NoInputFound
        The file is not there to be read: missing, a broken link, annexed
        content not fetched, permission denied (the reason of
        :func:`regionseries.bids.readable.file_problem`).
    UsageError
        Empty, not UTF-8, not valid JSON, not an object, other keys than
        ``bold``, unknown entities.
    """
    path = Path(path)
    try:
        content = readable.read_json(path)
    except readable.UnavailableFile as exc:
        raise NoInputFound(f"--bids-filter-file {path}: {exc.problem}") from None
    except readable.UnreadableFile as exc:
        hint = "" if exc.problem.startswith("not valid JSON") else " (a JSON object is expected)"
        raise UsageError(f"--bids-filter-file {path}: {exc.problem}{hint}") from None
    if not isinstance(content, dict):
        raise UsageError(f"--bids-filter-file {path}: expected a JSON object like {{\"bold\": {{\"session\": \"01\"}}}}")
    unknown_keys = sorted(set(content) - {"bold"})
    if unknown_keys:
        raise UsageError(
            f"--bids-filter-file {path}: only the \"bold\" query is used, found {', '.join(map(repr, unknown_keys))}"
        )
    bold = content.get("bold", {})
    if not isinstance(bold, dict):
        raise UsageError(f"--bids-filter-file {path}: \"bold\" must be an object of entity filters")
    unknown = sorted(set(bold) - set(FILTER_ENTITIES))
    if unknown:
        raise UsageError(
            f"--bids-filter-file {path}: unknown entities {', '.join(unknown)} "
            f"(use pybids names: {', '.join(FILTER_ENTITIES)})"
        )
    return {"bold": bold}


def _to_query(value: Any) -> Any:
    from bids.layout import Query

    if value is None:
        return Query.NONE
    if value == "*":
        return Query.ANY
    if isinstance(value, list):
        return [_to_query(v) for v in value]
    return value


# --------------------------------------------------------------------------------------
# Discovery
# --------------------------------------------------------------------------------------

def _indexer_ignore(participants: Sequence[str]) -> list[re.Pattern]:
    labels = "|".join(re.escape(p) for p in participants)
    return [
        re.compile(r"^/(code|sourcedata|logs|figures|derivatives|atlases|group|log)(/|$)"),
        re.compile(r"/\."),
        re.compile(rf"^/sub-(?!({labels})(/|$))"),
        re.compile(r"^/sub-[^/]+/(ses-[^/]+/)?(anat|fmap|dwi|perf|figures|log)(/|$)"),
    ]


def build_layout(bids_dir: Path, participants: Sequence[str], database_dir: Path | None = None):
    """Index ``bids_dir`` with pybids.

    Parameters
    ----------
    bids_dir : Path
        fMRIPrep derivatives root.
    participants : sequence of str
        Labels to index (the others are ignored, which keeps indexing fast).
    database_dir : Path, optional
        ``--bids-database-dir``: reused as is when it exists; otherwise the
        whole dataset (every participant, so that other jobs can reuse it) is
        indexed into a temporary folder that is then renamed to
        ``database_dir`` — concurrent jobs never share a half-written SQLite
        file, and the first complete index wins. Without it the index of
        ``participants`` is held in memory: an SQLite file would be rebuilt by
        every job anyway, and its journal syncs took longer than the indexing
        (0.99 s against 0.28 s for one participant of a 1,000-participant tree).
    """
    from bids import BIDSLayout

    if database_dir is not None:
        database_dir = Path(database_dir)
        if not database_dir.exists():
            _build_shared_database(bids_dir, database_dir)
        LOGGER.info("using the pybids database in %s", database_dir)
        try:
            return BIDSLayout(bids_dir, validate=False, is_derivative=True, database_path=database_dir)
        except Exception as exc:  # noqa: BLE001
            raise InvalidInputDataset(
                f"cannot reuse the pybids database {database_dir} for {bids_dir}: {type(exc).__name__}: {exc}"
            ) from None
    return _index(bids_dir, None, participants)


def _index(bids_dir: Path, database: Path | None, participants: Sequence[str]):
    """A pybids layout of ``participants``, in the SQLite folder ``database`` or in memory."""
    from bids import BIDSLayout
    from bids.layout import BIDSLayoutIndexer

    where = {}
    if database is not None:
        database.parent.mkdir(parents=True, exist_ok=True)
        where = {"database_path": database, "reset_database": True}
    indexer = BIDSLayoutIndexer(validate=False, index_metadata=False, ignore=_indexer_ignore(participants))
    try:
        return BIDSLayout(bids_dir, validate=False, is_derivative=True, indexer=indexer, **where)
    except Exception as exc:  # noqa: BLE001 - pybids raises many types for a broken dataset
        if database is not None and (getattr(exc, "errno", None) in DISK_FULL_ERRNOS
                                     or "database or disk is full" in str(exc)):
            raise DiskFull(f"disk full: no room for the pybids index in {database.parent}; free some space there, "
                           "then rerun the same command") from None
        raise InvalidInputDataset(f"pybids cannot index {bids_dir}: {type(exc).__name__}: {exc}") from None


def _build_shared_database(bids_dir: Path, database_dir: Path) -> None:
    """Index every participant into ``database_dir`` via a temporary folder and a rename."""
    import shutil

    temporary = database_dir.with_name(f".{database_dir.name}.tmp-{os.getpid()}")
    LOGGER.info("indexing every participant of %s into %s (reusable by later jobs)", bids_dir, database_dir)
    try:
        _index(bids_dir, temporary, list_participants(bids_dir))
    except BaseException:  # a full disk, a broken dataset, SIGTERM: leave no half-written index
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    try:
        os.rename(temporary, database_dir)
    except OSError:  # another job finished first: use its index
        shutil.rmtree(temporary, ignore_errors=True)


#: :data:`PYBIDS_NAMES` for entities parsed from a file name (short names).
_OWN_NAMES = {short: short for short in PYBIDS_NAMES}


def _acquisition_key(entities: Mapping[str, Any], names: Mapping[str, str]) -> tuple:
    """The acquisition entities of a file (absent → None; run and echo as int)."""
    key = []
    for short, name in names.items():
        value = entities.get(name)
        if value is not None and short in ("run", "echo"):
            value = int(value)
        key.append(None if value is None else str(value))
    return tuple(key)


class _Companions:
    """The confounds files and brain masks of the participants, found with two
    pybids queries and looked up per BOLD run by its exact acquisition entities.

    One query per kind instead of two per run: on a participant with many runs
    the per-run queries were most of the indexing time.
    """

    def __init__(self, layout, participants: Sequence[str]):
        self.confounds: dict[tuple, list[Path]] = {}
        self.masks: dict[tuple, list[tuple[Mapping[str, Any], Path]]] = {}
        for found in layout.get(subject=list(participants), desc="confounds", suffix=["timeseries", "regressors"],
                                extension=".tsv"):
            key = _acquisition_key(found.entities, PYBIDS_NAMES)
            self.confounds.setdefault(key, []).append(Path(found.path))
        for found in layout.get(subject=list(participants), desc="brain", suffix="mask",
                                extension=[".nii.gz", ".nii"]):
            key = _acquisition_key(found.entities, PYBIDS_NAMES)
            self.masks.setdefault(key, []).append((found.entities, Path(found.path)))

    def of(self, bold: Path, entities: Mapping[str, str]) -> tuple[Path | None, Path | None]:
        """The confounds file and the brain mask of ``bold`` (None when absent)."""
        key = _acquisition_key(entities, _OWN_NAMES)
        confounds = _single(self.confounds.get(key, []), "confounds", bold)
        masks = [
            path for mask_entities, path in self.masks.get(key, [])
            if mask_entities.get("space") == entities.get("space")
            and _same_label(mask_entities.get("res"), entities.get("res"))
            and ("den" not in entities or _same_label(mask_entities.get("den"), entities["den"]))
        ]
        return confounds, _single(masks, "brain mask", bold)


def _same_label(found: Any, wanted: str | None) -> bool:
    return (found is None) == (wanted is None) and (found is None or str(found) == str(wanted))


def _single(files: list[Path], kind: str, bold: Path) -> Path | None:
    paths = sorted(set(files))
    if not paths:
        return None
    if len(paths) > 1:
        raise InputError(
            f"several {kind} files match {bold.name}: {', '.join(p.name for p in paths)}"
        )
    return paths[0]


def _sidecar_timing(sidecar: Path | None) -> tuple[float | None, float | None, list[str]]:
    """``RepetitionTime`` (None unless a positive number) and ``StartTime`` (s) of a BOLD's
    JSON sidecar, and the problems found reading it."""
    warnings: list[str] = []
    metadata: dict[str, Any] = {}
    if sidecar is not None:
        try:
            metadata = readable.read_json(sidecar)
        except readable.UnreadableFile as exc:
            warnings.append(str(exc))
        if not isinstance(metadata, dict):
            warnings.append(f"{sidecar}: not a JSON object")
            metadata = {}
    start_time = metadata.get("StartTime")
    start_time = float(start_time) if isinstance(start_time, (int, float)) else None
    t_r = metadata.get("RepetitionTime")
    return (float(t_r) if isinstance(t_r, (int, float)) and t_r > 0 else None), start_time, warnings


def read_repetition_time(bold: Path, sidecar: Path | None) -> tuple[float | None, float | None, list[str]]:
    """Repetition time and StartTime (seconds) of a BOLD run.

    The sidecar's ``RepetitionTime`` is used when present; otherwise the NIfTI
    header's 4th zoom (converted from ms when the header says so), with a
    warning. A BOLD whose header cannot be read gives no repetition time and
    no warning: processing the run reports why the file cannot be read.
    """
    t_r, start_time, warnings = _sidecar_timing(sidecar)
    if t_r is not None:
        return t_r, start_time, warnings
    try:
        header = readable.open_nifti(bold).header
    except readable.UnreadableFile:
        return None, start_time, warnings
    zooms = header.get_zooms()
    t_r = float(zooms[3]) if len(zooms) > 3 else 0.0
    unit = header.get_xyzt_units()[1]
    if unit == "msec":
        t_r /= 1000.0
    elif unit == "usec":
        t_r /= 1e6
    if t_r <= 0:
        warnings.append(f"{bold.name}: no RepetitionTime in the sidecar and none in the NIfTI header")
        return None, start_time, warnings
    warnings.append(
        f"{bold.name}: no RepetitionTime in its JSON sidecar; using {t_r:g} s from the NIfTI header"
    )
    return t_r, start_time, warnings


def discover_runs(bids_dir: str | os.PathLike, *,
                  participants: Sequence[str] | None = None,
                  sessions: Sequence[str] | None = None,
                  tasks: Sequence[str] | None = None,
                  spaces: Sequence[SpaceSpec] = (SpaceSpec(DEFAULT_SPACE),),
                  bids_filters: Mapping[str, Any] | None = None,
                  bids_filter_file: str | os.PathLike | None = None,
                  database_dir: str | os.PathLike | None = None,
                  datasets: Mapping[str, Path] | None = None) -> list[RunInputs]:
    """Find the preprocessed BOLD runs to process and pair their companions.

    Parameters
    ----------
    bids_dir : path-like
        fMRIPrep derivatives root.
    participants, sessions, tasks : sequence of str, optional
        Labels without their ``sub-``/``ses-``/``task-`` prefix; all when None.
    spaces : sequence of SpaceSpec
        Output spaces to process; ``res`` is optional in each.
    bids_filters : mapping, optional
        Parsed ``--bids-filter-file`` (see :func:`read_bids_filters`).
    bids_filter_file : path-like, optional
        The file ``bids_filters`` come from, named in the message when they
        exclude every run.
    database_dir : path-like, optional
        Reuse this pybids database.
    datasets : mapping, optional
        ``{"aroma": folder, "tedana": folder}`` (``--datasets``): the
        fMRIPost-AROMA and tedana files of each run are found there
        (:class:`~regionseries.bids.datasets.DatasetFiles`).

    Returns
    -------
    list of RunInputs
        Sorted by BOLD path.

    Raises
    ------
    NoInputFound
        Unknown participants, or no BOLD matches the request (the message
        says which spaces exist, and hints at fMRIPrep ``--level minimal``
        when there is no preprocessed BOLD at all).
    """
    from bids.layout import Query

    bids_dir = Path(bids_dir).resolve()
    labels = check_participants(bids_dir, participants)
    layout = build_layout(bids_dir, labels, Path(database_dir) if database_dir else None)

    def bold_query(filters: Mapping[str, Any]) -> dict[str, Any]:
        query: dict[str, Any] = {k: _to_query(v) for k, v in filters.items()}
        query.update(subject=labels, desc="preproc", suffix="bold", datatype="func", extension=[".nii.gz", ".nii"])
        query.setdefault("session", Query.OPTIONAL)
        if sessions:
            query["session"] = list(sessions)
        if tasks:
            query["task"] = list(tasks)
        return query

    bold_filters = dict((bids_filters or {}).get("bold", {}))
    bolds = _query_bolds(layout, bold_query(bold_filters), spaces)
    bolds.update(_query_surface_bolds(layout, bold_query(bold_filters), spaces))
    if not bolds:
        message = _nothing_found_message(layout, bids_dir, labels, spaces, sessions, tasks)
        if bold_filters:
            excluded = {**_query_bolds(layout, bold_query({}), spaces),
                        **_query_surface_bolds(layout, bold_query({}), spaces)}
            source = f"--bids-filter-file {bids_filter_file}" if bids_filter_file else "the BIDS filters"
            query = json.dumps(bold_filters)
            if excluded:
                message = (f"{source} selects no run: its query {query} excludes all {len(excluded)} preprocessed "
                           f"BOLD run(s) found for {', '.join('sub-' + label for label in labels)} in space "
                           f"{', '.join(str(s) for s in spaces)} (check its entity values)")
            else:
                message += f" (with {source}, query {query})"
        if database_dir:
            message += f" (the pybids database {database_dir} may be out of date: delete it to re-index)"
        raise NoInputFound(message)

    companions = _Companions(layout, labels)
    others = DatasetFiles(datasets, labels) if datasets else None
    return [_pair(companions, item, others) for item in sorted(_one_file_per_run(bolds).items())]


def _query_bolds(layout, base_query: Mapping[str, Any], spaces: Sequence[SpaceSpec]) -> dict[Path, Any]:
    """The preprocessed BOLD files of ``base_query`` in any of ``spaces``, by path."""
    from bids.layout import Query

    bolds: dict[Path, Any] = {}
    for spec in spaces:
        query = dict(base_query, space=spec.space)
        query["res"] = spec.res if spec.res is not None else query.get("res", Query.OPTIONAL)
        for bold_file in layout.get(**query):
            bolds[Path(bold_file.path)] = bold_file
    return bolds


def _query_surface_bolds(layout, base_query: Mapping[str, Any], spaces: Sequence[SpaceSpec]) -> dict[Path, Any]:
    """fMRIPrep's surface BOLD runs of ``base_query`` in ``spaces``: ``*_space-fsLR_den-91k_bold.dtseries.nii``
    and ``*_hemi-L|R_space-fsaverage5_bold.func.gii`` (no ``desc-`` entity), by path."""
    from bids.layout import Query

    bolds: dict[Path, Any] = {}
    for spec in spaces:
        query = dict(base_query, space=spec.space, desc=Query.NONE,
                     extension=[CIFTI_BOLD_EXTENSION, GIFTI_BOLD_EXTENSION])
        query["res"] = spec.res if spec.res is not None else query.get("res", Query.OPTIONAL)
        if spec.den is not None:
            query["den"] = spec.den
        for bold_file in layout.get(**query):
            bolds[Path(bold_file.path)] = bold_file
    return bolds


def _one_file_per_run(bolds: Mapping[Path, Any]) -> dict[Path, tuple[Path, ...]]:
    """The runs among the BOLD files: each file is one, except a GIFTI run, whose two
    hemispheres (``hemi-L``, ``hemi-R``) are one run named by its left file.

    A hemisphere without its other half is still a run: processing it fails and says which file is missing.
    """
    runs: dict[Path, tuple[Path, ...]] = {}
    for path in bolds:
        if not path.name.endswith(GIFTI_BOLD_EXTENSION):
            runs[path] = ()
            continue
        left = path.with_name(path.name.replace("_hemi-R_", "_hemi-L_"))
        right = left.with_name(left.name.replace("_hemi-L_", "_hemi-R_"))
        runs[left] = (left, right)
    return runs


def _nothing_found_message(layout, bids_dir: Path, labels: Sequence[str], spaces: Sequence[SpaceSpec],
                           sessions: Sequence[str] | None, tasks: Sequence[str] | None) -> str:
    from bids.layout import Query

    all_preproc = layout.get(subject=list(labels), desc="preproc", suffix="bold", session=Query.OPTIONAL,
                             extension=[".nii.gz", ".nii"])
    all_preproc += layout.get(subject=list(labels), desc=Query.NONE, suffix="bold", session=Query.OPTIONAL,
                              extension=[CIFTI_BOLD_EXTENSION, GIFTI_BOLD_EXTENSION])
    wanted = ", ".join(str(s) for s in spaces)
    who = ", ".join("sub-" + label for label in labels)
    selection = []
    if sessions:
        selection.append("sessions " + ", ".join(sessions))
    if tasks:
        selection.append("tasks " + ", ".join(tasks))
    extra = f" ({'; '.join(selection)})" if selection else ""
    if not all_preproc:
        return (
            f"no preprocessed BOLD (*_desc-preproc_bold.nii[.gz]) for {who} in {bids_dir}{extra}. "
            "Is BIDS_DIR the fMRIPrep output folder? fMRIPrep run with --level minimal writes no preprocessed BOLD."
        )
    present = sorted({
        f"{f.entities.get('space', 'native')}" + (f":res-{f.entities['res']}" if f.entities.get("res") else "")
        + (f":den-{f.entities['den']}" if f.entities.get("den") else "")
        for f in all_preproc
    })
    present_spaces = {f.entities.get("space", "native") for f in all_preproc}
    suggestions = [f"--space {s.space}: {hint}" for s in spaces
                   if s.space not in present_spaces and (hint := did_you_mean(s.space, present_spaces))]
    return (
        f"no preprocessed BOLD in space {wanted} for {who}{extra}. "
        + "".join(f"{suggestion} " for suggestion in suggestions)
        + f"Spaces present: {', '.join(present)} (choose with --space)."
    )


def _pair(companions: _Companions, run_files: tuple[Path, tuple[Path, ...]],
          others: DatasetFiles | None = None) -> RunInputs:
    bold, hemispheres = run_files
    entities = parse_entities(bold)
    surface = bold.name.endswith((CIFTI_BOLD_EXTENSION, GIFTI_BOLD_EXTENSION))
    if hemispheres:
        entities.pop("hemi", None)
    warnings: list[str] = []
    problems = [f"{path}: missing (a GIFTI run needs both hemispheres)" for path in hemispheres
                if not os.path.lexists(path)]
    confounds, mask = companions.of(bold, entities)
    if surface:
        mask = None
    confounds_json = None
    if confounds is None:
        warnings.append(f"no confounds file (desc-confounds_timeseries.tsv) for {bold.name}")
    else:
        candidate = confounds.with_name(confounds.name[: -len(".tsv")] + ".json")
        confounds_json = candidate if os.path.lexists(candidate) else None  # a broken link is reported later
    if mask is None and not surface:
        warnings.append(f"no brain mask (desc-brain_mask) for {bold.name}; coverage uses the atlas only")
    sidecar = _bold_sidecar(bold, hemispheres)
    t_r = start_time = None
    if sidecar is not None:
        try:
            if not isinstance(readable.read_json(sidecar), dict):
                problems.append(f"{sidecar}: not a JSON object (a BOLD sidecar maps metadata names to values)")
        except readable.UnreadableFile as exc:
            problems.append(str(exc))
    if not problems:
        t_r, start_time, tr_warnings = read_repetition_time(bold, sidecar) if not surface else \
            _surface_repetition_time(bold, sidecar, hemispheres)
        warnings.extend(tr_warnings)
    found, dataset_problems = {}, []
    for kind, paths in (others.of(entities) if others is not None else {}).items():
        if len(paths) > 1:
            dataset_problems.append(f"several {kind.replace('_', ' ')} files match {bold.name}: "
                                    f"{', '.join(str(path) for path in paths)}")
        else:
            found[kind] = paths[0]
    return RunInputs(
        bold=bold, entities=entities, confounds=confounds, confounds_json=confounds_json,
        mask=mask, sidecar=sidecar, repetition_time=t_r, start_time=start_time,
        warnings=tuple(warnings), problems=tuple(problems), dataset_problems=tuple(dataset_problems),
        hemispheres=hemispheres, **found,
    )


def _bold_sidecar(bold: Path, hemispheres: tuple[Path, ...]) -> Path | None:
    """The BOLD's JSON sidecar; for a GIFTI pair the left file's, else one without ``hemi-``."""
    for extension in (".nii.gz", CIFTI_BOLD_EXTENSION, GIFTI_BOLD_EXTENSION, ".nii"):
        if bold.name.endswith(extension):
            stem = bold.name[: -len(extension)]
            break
    candidates = [bold.with_name(stem + ".json")]
    if hemispheres:
        candidates.append(bold.with_name(stem.replace("_hemi-L_", "_") + ".json"))
    return next((path for path in candidates if os.path.lexists(path)), None)


def _surface_repetition_time(bold: Path, sidecar: Path | None, hemispheres: tuple[Path, ...],
                             ) -> tuple[float | None, float | None, list[str]]:
    """Repetition time and StartTime (s) of a surface run: the sidecar's, else the CIFTI
    SeriesAxis step or the GIFTI ``TimeStep`` (with a warning)."""
    t_r, start_time, warnings = _sidecar_timing(sidecar)
    if t_r is not None:
        return t_r, start_time, warnings
    from ..core.extract.vertices import read_cifti_series, read_gifti_pair

    try:
        series = read_gifti_pair(*hemispheres) if hemispheres else read_cifti_series(bold)
    except Exception:  # noqa: BLE001 - processing the run says why the file cannot be read
        return None, start_time, warnings
    if series.repetition_time is None:
        warnings.append(f"{bold.name}: no RepetitionTime in its JSON sidecar nor in the file")
        return None, start_time, warnings
    warnings.append(f"{bold.name}: no RepetitionTime in its JSON sidecar; using {series.repetition_time:g} s "
                    "from the file")
    return series.repetition_time, start_time, warnings


def relative_to_dataset(path: Path, bids_dir: Path) -> str:
    """``path`` relative to the dataset root, POSIX style (for BIDS URIs).

    Symbolic links in the dataset are not followed: the files of a
    DataLad/git-annex dataset are links into ``.git/annex/objects``, and their
    URIs must name the file as the dataset does.
    """
    root = Path(bids_dir).resolve()
    for candidate in (Path(os.path.abspath(path)), Path(path).resolve()):
        try:
            return candidate.relative_to(root).as_posix()
        except ValueError:
            continue
    return Path(path).as_posix()
