"""fMRIPrep confounds: reading, nilearn-compatible loading, strategies, plans.

This module turns the confounds table that fMRIPrep writes next to each BOLD
run (``*_desc-confounds_timeseries.tsv`` and its JSON sidecar) into what the
cleaning stage needs: a confound matrix and the indices of the volumes to
keep.

It has three layers:

1. **Reading** -- :func:`read_confounds` loads a TSV (+ JSON) into a
   :class:`ConfoundsTable` and normalises the column names of older fMRIPrep
   releases to the current ones; :func:`find_confounds_file` finds the TSV of
   a BOLD file.
2. **nilearn compatibility** -- :func:`load_confounds` and
   :func:`load_confounds_strategy` have the signatures and results of
   ``nilearn.interfaces.fmriprep`` 0.14.1 (same columns, order, values,
   sample masks, warnings and errors), except that bad input gives a
   :class:`ConfoundsError` naming the file instead of a raw ``KeyError``,
   and that a run whose every volume is censored (:class:`RunExcluded`) or
   whose image has another number of volumes than the confounds have rows
   (:class:`ConfoundsError`) is refused with :func:`plan_denoising`'s rule.
3. **Strategies and plans** -- :class:`DenoiseStrategy` (presets or a
   JSON/YAML file, see :func:`get_strategy`) and :func:`plan_denoising`,
   which checks a run against a strategy and returns a
   :class:`DenoisingPlan` or raises :class:`RunExcluded`.

The differences from nilearn are listed in ``docs/differences-from-nilearn.md``
(section "load_confounds"); the strategy file format is documented in
``docs/strategies.md``.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import re
import warnings
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from xml.parsers.expat import ExpatError

import nibabel as nib
import numpy as np
import pandas as pd
from nibabel.filebasedimages import ImageFileError

from ..bids import readable

__all__ = [
    "ConfoundsError",
    "StrategyFileUnavailable",
    "RunExcluded",
    "ConfoundsTable",
    "read_confounds",
    "find_confounds_file",
    "load_confounds",
    "load_confounds_strategy",
    "DenoiseStrategy",
    "PRESET_NAMES",
    "get_strategy",
    "DenoisingPlan",
    "plan_denoising",
]


# ---------------------------------------------------------------------------
# Exceptions
# ---------------------------------------------------------------------------


class ConfoundsError(ValueError):
    """Bad confounds input: a missing or malformed file, missing columns.

    The message always names the file concerned and the problem. It is a
    :class:`ValueError`, so code written for nilearn's ``ValueError`` still
    catches it.
    """


class StrategyFileUnavailable(ConfoundsError):
    """A strategy file that is not there to be read: missing, a broken link,
    annexed content not fetched, permission denied (the command line's
    "no input", exit 66, where a malformed strategy is a usage error)."""


class RunExcluded(ValueError):
    """A run cannot be denoised with a strategy and should be skipped.

    Raised by :func:`plan_denoising` when every volume is censored or when
    the kept volumes are not more than the regressors, and by
    :func:`load_confounds` / :func:`load_confounds_strategy` when every
    volume is censored (nilearn returns an empty sample mask there). It is a
    :class:`ValueError`, like nilearn's input errors; a pipeline that skips
    excluded runs catches it before other ``ValueError`` s.

    Parameters
    ----------
    path : str
        The confounds file of the run.
    reason : str
        Why the run is excluded, with the numbers involved.
    strategy : str
        Name of the denoising strategy.
    """

    def __init__(self, path: str, reason: str, strategy: str) -> None:
        self.path = str(path)
        self.reason = reason
        self.strategy = strategy
        super().__init__(f"{self.path}: run excluded with strategy '{strategy}': {reason}")

    def __reduce__(self):  # keep the attributes when pickled (multiprocessing)
        return (type(self), (self.path, self.reason, self.strategy))


# ---------------------------------------------------------------------------
# Vocabulary shared by all layers
# ---------------------------------------------------------------------------

#: Components accepted in nilearn's ``strategy`` tuple.
COMPONENTS = (
    "motion",
    "high_pass",
    "wm_csf",
    "global_signal",
    "compcor",
    "ica_aroma",
    "tedana",
    "scrub",
    "non_steady_state",
)
#: Expansion models of motion, wm_csf and global_signal.
CONFOUND_MODELS = ("basic", "power2", "derivatives", "full")
COMPCOR_TYPES = (
    "anat_combined",
    "anat_separated",
    "temporal",
    "temporal_anat_combined",
    "temporal_anat_separated",
)
ICA_AROMA_TYPES = ("full", "basic")
TEDANA_TYPES = ("aggressive", "non-aggressive")
# tedana component classifications used as regressors, by tedana type.
_TEDANA_CLASSES = {"aggressive": ("rejected",), "non-aggressive": ("accepted", "rejected")}

_MODEL_SUFFIXES = {
    "basic": (),
    "derivatives": ("derivative1",),
    "power2": ("power2",),
    "full": ("derivative1", "power2", "derivative1_power2"),
}
_MOTION_BASE = ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z")
_WM_CSF_BASE = ("csf", "white_matter")
_GLOBAL_BASE = ("global_signal",)

# CompCor: the column prefixes each type reads, in nilearn's order.
_COMPCOR_PREFIXES = {
    "anat_combined": ("a",),
    "anat_separated": ("a", "w", "c"),
    "temporal": ("t",),
    "temporal_anat_combined": ("t", "a"),
    "temporal_anat_separated": ("t", "a", "w", "c"),
}
# Masks used to filter the "a" prefix (JSON "Mask" field).
_ACOMPCOR_MASKS = {
    "anat_combined": ("combined",),
    "anat_separated": ("WM", "CSF"),
    "temporal": None,
    "temporal_anat_combined": ("combined",),
    "temporal_anat_separated": ("WM", "CSF"),
}
# Current fMRIPrep names of the anatomical CompCor sets, by JSON "Mask".
_ACOMPCOR_PREFIX_BY_MASK = {"combined": "a", "WM": "w", "CSF": "c"}

_NSS_KEY = "non_steady_state"
_OUTLIER_KEY = "motion_outlier"
_FD_COLUMN = "framewise_displacement"
_DVARS_COLUMN = "std_dvars"


def _expand(base: Sequence[str], model: str) -> list[str]:
    """Column names of a base set expanded with a model's suffixes.

    nilearn's order: the base names first, then for each base name its
    suffixed names.
    """
    names = list(base)
    for name in base:
        names.extend(f"{name}_{suffix}" for suffix in _MODEL_SUFFIXES[model])
    return names


def _check_choice(value: Any, allowed: Sequence[Any], parameter: str) -> None:
    """Raise nilearn's ValueError if ``value`` is not one of ``allowed``."""
    if value not in allowed:
        raise ValueError(f"'{parameter}' must be one of {list(allowed)}.\n'{value}' was provided.")


# ---------------------------------------------------------------------------
# Reading confounds files
# ---------------------------------------------------------------------------

# fMRIPrep < 1.2 wrote CamelCase names; these are their current equivalents.
_CAMELCASE_NAMES = {
    "X": "trans_x",
    "Y": "trans_y",
    "Z": "trans_z",
    "RotX": "rot_x",
    "RotY": "rot_y",
    "RotZ": "rot_z",
    "CSF": "csf",
    "WhiteMatter": "white_matter",
    "GlobalSignal": "global_signal",
    "FramewiseDisplacement": _FD_COLUMN,
    "stdDVARS": _DVARS_COLUMN,
    "non-stdDVARS": "dvars",
}
_CAMELCASE_PATTERNS = (
    (re.compile(r"^aCompCor(\d+)$"), "a_comp_cor_{}"),
    (re.compile(r"^tCompCor(\d+)$"), "t_comp_cor_{}"),
    (re.compile(r"^Cosine(\d+)$"), "cosine{}"),
    (re.compile(r"^NonSteadyStateOutlier(\d+)$"), "non_steady_state_outlier{}"),
    (re.compile(r"^AROMAAggrComp(\d+)$"), "aroma_motion_{}"),
)
_COMPCOR_NAME = re.compile(r"^([a-z])_comp_cor_(\d+)$")

NAMING_CAMELCASE = "fmriprep<1.2"
NAMING_COMBINED_ACOMPCOR = "fmriprep<21"
NAMING_CURRENT = "current"


@dataclass
class ConfoundsTable:
    """An fMRIPrep confounds table with current column names.

    Attributes
    ----------
    tsv_path : pathlib.Path
        The confounds TSV.
    json_path : pathlib.Path or None
        Its JSON sidecar, or None if there is none.
    data : pandas.DataFrame
        One row per volume; ``n/a`` is read as NaN. Columns carry current
        fMRIPrep names (see ``renamed``).
    metadata : dict or None
        The JSON sidecar, keyed by current column names; None without a
        usable sidecar.
    sidecar_problem : str or None
        Why the sidecar cannot be used (``"<path>: <problem>"``: empty, not
        fetched, not UTF-8, not valid JSON, not an object...), or None. Only
        the strategies that need the sidecar (anatomical CompCor) fail on
        it; ``metadata`` is then None.
    renamed : dict
        Name in the file -> current name, for every renamed column.
    naming : str
        Naming generation detected: ``"fmriprep<1.2"`` (CamelCase),
        ``"fmriprep<21"`` (anatomical CompCor of all masks under
        ``a_comp_cor_*``, split here by the JSON ``Mask`` field) or
        ``"current"``.
    """

    tsv_path: Path
    json_path: Path | None
    data: pd.DataFrame
    metadata: dict | None
    renamed: dict[str, str] = field(default_factory=dict)
    naming: str = NAMING_CURRENT
    sidecar_problem: str | None = None

    @property
    def n_volumes(self) -> int:
        """Number of rows (volumes) in the table."""
        return len(self.data)

    @property
    def expected_json_path(self) -> Path:
        """Where the JSON sidecar of this TSV is expected."""
        return _sidecar_path(self.tsv_path)

    def with_file_names(self) -> tuple[pd.DataFrame, dict | None]:
        """Data and metadata under the column names used in the file.

        Returns
        -------
        data : pandas.DataFrame
        metadata : dict or None
        """
        back = {current: original for original, current in self.renamed.items()}
        if not back:
            return self.data, self.metadata
        data = self.data.rename(columns=back)
        metadata = None
        if self.metadata is not None:
            metadata = {back.get(key, key): value for key, value in self.metadata.items()}
        return data, metadata


def _sidecar_path(tsv_path: Path) -> Path:
    return tsv_path.with_suffix(".json")


def read_confounds(
    tsv_path: str | os.PathLike, json_path: str | os.PathLike | None = None
) -> ConfoundsTable:
    """Read an fMRIPrep confounds TSV and its JSON sidecar.

    Column names of older fMRIPrep releases are normalised to the current
    ones: CamelCase names of fMRIPrep < 1.2 (``X``, ``RotX``,
    ``FramewiseDisplacement``, ``aCompCor00``, ...) and, when the sidecar
    tells the masks, the anatomical CompCor components that fMRIPrep < 21
    wrote for all masks as ``a_comp_cor_*`` are split into ``a_comp_cor_*``
    (combined mask), ``w_comp_cor_*`` (white matter) and ``c_comp_cor_*``
    (CSF), numbered from 00 within each mask as current fMRIPrep does.

    Parameters
    ----------
    tsv_path : str or os.PathLike
        The confounds TSV (``*_desc-confounds_timeseries.tsv``,
        ``*_desc-confounds_regressors.tsv`` or ``*_bold_confounds.tsv``).
    json_path : str or os.PathLike, optional
        The JSON sidecar. By default the TSV path with a ``.json`` extension
        is used if that file (or a link of that name) exists.

    Returns
    -------
    ConfoundsTable
        A sidecar that cannot be used does not stop the reading: its
        problem is kept in ``sidecar_problem``, for the strategies that
        need it (a byte-order mark is accepted).

    Raises
    ------
    ConfoundsError
        If the TSV is missing or cannot be parsed, has no header row or
        repeats a column name, or an explicit ``json_path`` does not exist.
    """
    tsv_path = Path(tsv_path)
    data = _read_tsv(tsv_path)
    if json_path is None:
        candidate = _sidecar_path(tsv_path)
        json_path = candidate if os.path.lexists(candidate) else None  # a broken (annex) link says why later
    else:
        json_path = Path(json_path)
        if not os.path.lexists(json_path):
            raise ConfoundsError(f"{json_path}: JSON sidecar of {tsv_path.name} not found.")
    metadata, sidecar_problem = _read_sidecar(json_path) if json_path is not None else (None, None)

    renamed = _camelcase_renames(data.columns)
    naming = NAMING_CAMELCASE if renamed else NAMING_CURRENT
    if metadata is not None:
        metadata = {renamed.get(key, key): value for key, value in metadata.items()}
        compcor_renames = _compcor_split_renames(metadata, data.columns, renamed)
        if compcor_renames:
            naming = NAMING_CAMELCASE if renamed else NAMING_COMBINED_ACOMPCOR
            metadata = {compcor_renames.get(key, key): value for key, value in metadata.items()}
            # chain: name in file -> CamelCase rename -> CompCor rename
            for original in data.columns:
                current = renamed.get(original, original)
                if current in compcor_renames:
                    renamed[original] = compcor_renames[current]
    renamed = {original: current for original, current in renamed.items() if original != current}
    data = data.rename(columns=renamed)
    return ConfoundsTable(
        tsv_path=tsv_path,
        json_path=json_path,
        data=data,
        metadata=metadata,
        renamed=renamed,
        naming=naming,
        sidecar_problem=sidecar_problem,
    )


def _read_tsv(tsv_path: Path) -> pd.DataFrame:
    """Read a confounds TSV with checks on its header."""
    if not tsv_path.is_file():
        raise ConfoundsError(f"{tsv_path}: confounds file not found.")
    try:
        with tsv_path.open(encoding="utf-8") as handle:
            header = handle.readline().rstrip("\r\n").split("\t")
        if header == [""]:
            raise ConfoundsError(f"{tsv_path}: the confounds file is empty (no header row).")
        data = pd.read_csv(tsv_path, sep="\t", encoding="utf-8")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise ConfoundsError(f"{tsv_path}: cannot be read as a tab-separated table ({error}).") from error
    if _looks_numeric(header[0]):
        raise ConfoundsError(
            f"{tsv_path}: the confounds file has no header row (its first line starts with "
            f"the number {header[0]!r}); fMRIPrep confounds files name their columns."
        )
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise ConfoundsError(f"{tsv_path}: column names appear more than once: {repeated}.")
    return data


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_sidecar(json_path: Path) -> tuple[dict | None, str | None]:
    """``(metadata, None)``, or ``(None, "<path>: <why it cannot be used>")``."""
    try:
        metadata = readable.read_json(json_path)
    except readable.UnreadableFile as error:
        return None, str(error)
    if not isinstance(metadata, dict):
        return None, (f"{json_path}: the JSON sidecar must hold an object keyed by column name, "
                      f"not a {type(metadata).__name__}")
    return metadata, None


def _sidecar_needed_error(table: ConfoundsTable, compcor: str) -> ConfoundsError:
    """Anatomical CompCor without a usable JSON sidecar: which file, and why."""
    needs = f"{table.tsv_path}: CompCor '{compcor}' needs the JSON sidecar"
    why = "(it gives the mask of each anatomical CompCor component)"
    if table.sidecar_problem is not None:  # the problem starts with the sidecar's path
        return ConfoundsError(f"{needs} {why}, which cannot be used: {table.sidecar_problem}.")
    return ConfoundsError(f"{needs} {table.expected_json_path} {why}, but it was not found.")


def _camelcase_renames(columns: Iterable[str]) -> dict[str, str]:
    """Renames for fMRIPrep < 1.2 CamelCase columns (empty if none)."""
    renames = {}
    for name in columns:
        if name in _CAMELCASE_NAMES:
            renames[name] = _CAMELCASE_NAMES[name]
            continue
        for pattern, template in _CAMELCASE_PATTERNS:
            match = pattern.match(name)
            if match:
                renames[name] = template.format(match.group(1))
                break
    return renames


def _compcor_split_renames(
    metadata: Mapping, columns: Iterable[str], renamed: Mapping[str, str]
) -> dict[str, str]:
    """Renames splitting pre-21 ``a_comp_cor_*`` by their JSON ``Mask``.

    Returns an empty dict when the file already uses separate prefixes
    (``w_comp_cor_*``/``c_comp_cor_*``) or when no ``a_comp_cor_*`` entry
    has a WM or CSF mask.
    """
    present = {renamed.get(name, name) for name in columns} | set(metadata)
    if any(_COMPCOR_NAME.match(name) and name[0] in "wc" for name in present):
        return {}
    anatomical = []
    for name, entry in metadata.items():
        match = _COMPCOR_NAME.match(name)
        if match and match.group(1) == "a" and isinstance(entry, Mapping):
            anatomical.append((int(match.group(2)), name, entry.get("Mask", "combined")))
    if not any(mask in ("WM", "CSF") for _, _, mask in anatomical):
        return {}
    renames = {}
    counters: dict[str, int] = {}
    for _, name, mask in sorted(anatomical):
        prefix = _ACOMPCOR_PREFIX_BY_MASK.get(mask)
        if prefix is None:  # unknown mask: leave the name alone
            continue
        number = counters.get(prefix, 0)
        counters[prefix] = number + 1
        renames[name] = f"{prefix}_comp_cor_{number:02d}"
    return renames


# ---------------------------------------------------------------------------
# Finding the confounds file of a BOLD file
# ---------------------------------------------------------------------------

_CONFOUNDS_SUFFIXES = ("_timeseries.tsv", "_regressors.tsv")


def _bids_entities(path: str) -> dict[str, str | None]:
    """``key-value`` entities of a BIDS file name, in order (nilearn's parser)."""
    parts = Path(path).name.split("_")
    entities: dict[str, str | None] = {}
    for part in parts[:-1]:
        pieces = part.split("-")
        entities[pieces[0]] = pieces[1] if len(pieces) > 1 else None
    return entities


def _confounds_candidates(bold_path: str) -> list[str]:
    """Candidate confounds file names of a BOLD file.

    Every subset of the BOLD file's entities that contains ``desc`` (set to
    ``confounds``), in the original order, with each confounds suffix.
    """
    entities = _bids_entities(bold_path)
    entities["desc"] = "confounds"
    keys = list(entities)
    names = []
    for size in range(1, len(keys) + 1):
        for subset in itertools.combinations(keys, size):
            if "desc" in subset:
                stem = "_".join(f"{key}-{entities[key]}" for key in subset)
                names.extend(stem + suffix for suffix in _CONFOUNDS_SUFFIXES)
    return sorted(set(names), key=lambda name: (-len(name), name))


def _legacy_confounds_name(bold_path: str) -> str | None:
    """fMRIPrep < 1.2 name: ``<source>_bold_confounds.tsv`` next to
    ``<source>_bold_space-<space>_preproc.nii.gz``."""
    name = Path(bold_path).name
    match = re.match(r"^(.+?_bold)_", name)
    return f"{match.group(1)}_confounds.tsv" if match else None


def find_confounds_file(bold_path: str | os.PathLike) -> Path:
    """Find the fMRIPrep confounds TSV of a BOLD file.

    Searches the BOLD file's directory the way nilearn does: every subset of
    the BOLD file's entities that contains ``desc-confounds`` (entity order
    kept), with the suffix ``_timeseries.tsv`` (fMRIPrep >= 20.2) or
    ``_regressors.tsv`` (fMRIPrep 1.2-20.1). If none exists, the
    fMRIPrep < 1.2 name ``<source>_bold_confounds.tsv`` is tried.

    Parameters
    ----------
    bold_path : str or os.PathLike
        The preprocessed BOLD file (it need not exist).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ConfoundsError
        If no confounds file or more than one is found.
    """
    bold_path = os.fspath(bold_path)
    directory = Path(bold_path).parent
    found = [directory / name for name in _confounds_candidates(bold_path) if (directory / name).is_file()]
    if not found:
        legacy = _legacy_confounds_name(bold_path)
        if legacy is not None and (directory / legacy).is_file():
            found = [directory / legacy]
    if not found:
        raise ConfoundsError(
            "Could not find associated confound file. The functional derivatives should exist "
            f"under the same parent directory. (BOLD file: {bold_path}; no "
            "*_desc-confounds_timeseries.tsv or *_desc-confounds_regressors.tsv named with its "
            f"entities in {directory})"
        )
    if len(found) > 1:
        listing = "\n\t".join(str(path) for path in found)
        raise ConfoundsError(f"Found more than one confound file:\n\t{listing}\n(BOLD file: {bold_path})")
    return found[0]


# ---------------------------------------------------------------------------
# Selecting the columns of each component
# ---------------------------------------------------------------------------


@dataclass
class _Missing:
    """What a strategy asked for and the file lacks."""

    columns: list[str] = field(default_factory=list)
    components: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.columns or self.components)


def _present_or_missing(
    names: Sequence[str], columns: pd.Index, component: str, missing: _Missing
) -> list[str]:
    """Return ``names`` if all are columns; else record what is missing.

    None present -> the component is missing; some present -> the absent
    names are missing (nilearn raises a raw KeyError for the latter case
    except for motion; we always report the names).
    """
    absent = [name for name in names if name not in columns]
    if not names or len(absent) == len(names):
        missing.components.append(component)
        return []
    if absent:
        missing.columns.extend(absent)
        return []
    return list(names)


def _columns_containing(columns: pd.Index, keyword: str) -> list[str]:
    return [name for name in columns if keyword in name]


def _compcor_names_nilearn(
    metadata: Mapping | None, compcor: str, n_compcor: int | str, source: str
) -> list[str]:
    """CompCor column names chosen exactly as nilearn 0.14.1 chooses them.

    For each prefix, the number N of sidecar keys containing
    ``{prefix}_comp_cor`` is counted and the names ``{prefix}_comp_cor_00``
    ... ``_{N-1}`` are generated; the ``a`` prefix is filtered by the JSON
    ``Mask`` (substring test, as nilearn) mask by mask, and ``n_compcor`` is
    taken per mask and per prefix.
    """
    keys = list(metadata) if metadata is not None else []
    masks = _ACOMPCOR_MASKS[compcor]
    chosen: list[str] = []
    for prefix in _COMPCOR_PREFIXES[compcor]:
        count = sum(f"{prefix}_comp_cor" in key for key in keys)
        generated = [f"{prefix}_comp_cor_{number:02d}" for number in range(count)]
        if prefix == "a":
            for mask in masks:
                in_mask = [name for name in generated if _sidecar_mask(metadata, name, source) in mask]
                chosen.extend(_first(in_mask, n_compcor))
        else:
            chosen.extend(_first(generated, n_compcor))
    return chosen


def _sidecar_mask(metadata: Mapping, name: str, source: str) -> str:
    entry = metadata.get(name)
    if not isinstance(entry, Mapping):
        raise ConfoundsError(
            f"{source}: the JSON sidecar counts anatomical CompCor components up to "
            f"{name} but has no entry for {name}."
        )
    mask = entry.get("Mask")
    if not isinstance(mask, str):
        raise ConfoundsError(f"{source}: the JSON sidecar entry of {name} has no 'Mask' field.")
    return mask


def _compcor_names_current(table: ConfoundsTable, compcor: str, n_compcor: int | str) -> list[str]:
    """CompCor column names from the sidecar's real keys (current names).

    anat_combined -> ``a_comp_cor_*``; anat_separated -> ``w_comp_cor_*``
    then ``c_comp_cor_*``; temporal -> ``t_comp_cor_*`` (from the sidecar,
    or the TSV when there is no sidecar). ``n_compcor`` applies per mask.
    """
    prefixes = []
    for prefix in _COMPCOR_PREFIXES[compcor]:
        if prefix == "a":
            for mask in _ACOMPCOR_MASKS[compcor]:
                prefix_of_mask = _ACOMPCOR_PREFIX_BY_MASK[mask]
                if prefix_of_mask not in prefixes:
                    prefixes.append(prefix_of_mask)
        elif prefix not in prefixes:
            prefixes.append(prefix)
    pool = list(table.metadata) if table.metadata is not None else list(table.data.columns)
    chosen: list[str] = []
    for prefix in prefixes:
        numbered = []
        for name in pool:
            match = _COMPCOR_NAME.match(name)
            if match and match.group(1) == prefix:
                numbered.append((int(match.group(2)), name))
        chosen.extend(_first([name for _, name in sorted(numbered)], n_compcor))
    return chosen


def _first(names: list[str], n_compcor: int | str) -> list[str]:
    return list(names) if n_compcor == "all" else list(names[:n_compcor])


def _check_n_compcor(n_compcor: Any) -> None:
    if n_compcor == "all":
        return
    if isinstance(n_compcor, bool) or not isinstance(n_compcor, (int, np.integer)) or n_compcor < 1:
        raise ValueError(f"'n_compcor' must be 'all' or a positive integer; {n_compcor!r} was provided.")


def _motion_outliers(
    data: pd.DataFrame,
    fd_threshold: float | None,
    std_dvars_threshold: float | None,
) -> np.ndarray:
    """Volumes with FD > threshold (mm) or standardised DVARS > threshold.

    Both comparisons are strict; NaN (the first row) never counts. A
    threshold of None disables that criterion.
    """
    flagged = np.zeros(len(data), dtype=bool)
    if fd_threshold is not None:
        flagged |= _as_float(data[_FD_COLUMN]) > fd_threshold
    if std_dvars_threshold is not None:
        flagged |= _as_float(data[_DVARS_COLUMN]) > std_dvars_threshold
    return np.flatnonzero(flagged)


def _as_float(column: pd.Series) -> np.ndarray:
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)


def _drop_short_segments(censored: np.ndarray, n_volumes: int, min_length: int) -> np.ndarray:
    """Censor every run of kept volumes shorter than ``min_length``.

    Parameters
    ----------
    censored : numpy.ndarray
        Sorted indices of censored volumes (at least one).
    n_volumes : int
    min_length : int
        Minimum number of consecutive kept volumes (nilearn's ``scrub``).

    Returns
    -------
    numpy.ndarray
        Sorted int64 indices of censored volumes.

    Notes
    -----
    For censored volumes made of motion outliers only, this is exactly
    nilearn's rule (head segment before the first outlier, tail segment
    after the last one, and the gaps between outliers).
    """
    keep = np.ones(n_volumes, dtype=bool)
    keep[censored] = False
    padded = np.concatenate(([False], keep, [False])).astype(np.int8)
    edges = np.diff(padded)
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1)
    for start, stop in zip(starts, stops):
        if stop - start < min_length:
            keep[start:stop] = False
    return np.flatnonzero(~keep).astype(np.int64)


def _fill_first_row(confounds: pd.DataFrame) -> None:
    """Replace NaN in row 0 (derivatives, FD) by row 1, in place (nilearn)."""
    first = confounds.to_numpy(dtype=np.float64)[0, :]
    nan_columns = np.flatnonzero(np.isnan(first))
    if nan_columns.size and len(confounds) > 1:
        confounds.iloc[0, nan_columns] = confounds.iloc[1, nan_columns]


def _demean_all_rows(confounds: pd.DataFrame) -> pd.DataFrame:
    """Subtract the NaN-ignoring column mean over all rows.

    Numerically as scikit-learn's ``scale(with_std=False)`` used by
    nilearn: a second pass subtracts the residual mean when the first pass
    left one that is not close to zero.
    """
    values = confounds.to_numpy(dtype=np.float64, copy=True)
    values -= np.nanmean(values, axis=0)
    residual = np.nanmean(values, axis=0)
    if not np.allclose(residual, 0):
        values -= residual
    return pd.DataFrame(values, columns=confounds.columns)


def _demean_kept_rows(confounds: pd.DataFrame, sample_mask: np.ndarray) -> pd.DataFrame:
    """Subtract from all rows the column mean over the kept rows (nilearn)."""
    means = confounds.iloc[sample_mask, :].mean(axis=0)
    return pd.DataFrame(confounds - means, columns=confounds.columns)


def _check_numeric(confounds: pd.DataFrame, source: str) -> None:
    bad = [name for name in confounds.columns if not pd.api.types.is_numeric_dtype(confounds[name])]
    if bad:
        raise ConfoundsError(f"{source}: columns hold values that are not numbers or 'n/a': {bad}.")


# ---------------------------------------------------------------------------
# Rules shared by load_confounds and plan_denoising
# ---------------------------------------------------------------------------


def _check_row_count(source: str, n_rows: int, n_volumes: int, bold: str | None = None) -> None:
    """Refuse a confounds table whose row count is not the run's volume count.

    Parameters
    ----------
    source : str
        The confounds file, named first in the message.
    n_rows : int
        Rows of the confounds table (one per volume).
    n_volumes : int
        Volumes of the BOLD run.
    bold : str, optional
        The BOLD file, named in the message when known.

    Raises
    ------
    ConfoundsError
        If the two counts differ.
    """
    if n_rows != n_volumes:
        run = "the BOLD run" if bold is None else f"the BOLD run {bold}"
        raise ConfoundsError(
            f"{source}: the confounds file has {n_rows} rows but {run} has {n_volumes} volumes; "
            "they must match (is it the confounds file of this run?)."
        )


def _check_some_volume_kept(
    source: str,
    strategy_name: str,
    n_volumes: int,
    n_kept: int,
    n_dummies: int,
    n_motion_outliers: int,
    censoring: str,
) -> None:
    """Refuse a run whose every volume is censored.

    Parameters
    ----------
    source : str
        The confounds file.
    strategy_name : str
        The strategy (preset name, or components joined by ``+``).
    n_volumes, n_kept, n_dummies, n_motion_outliers : int
        Volumes of the run, kept, dropped as non-steady-state, and censored
        as motion outliers (dummies excluded).
    censoring : str
        The censoring thresholds (:func:`_censoring_text`), or "".

    Raises
    ------
    RunExcluded
        If ``n_kept`` is 0.
    """
    if n_kept == 0:
        raise RunExcluded(
            source,
            f"all {n_volumes} volumes are censored ({n_dummies} non-steady-state, "
            f"{n_motion_outliers} motion outliers{censoring}).",
            strategy_name,
        )


def _censoring_text(fd_threshold: float | None, std_dvars_threshold: float | None, min_segment_length: int) -> str:
    """`` at FD > 0.5 mm, std DVARS > 1.5, segments < 5 volumes`` for messages."""
    parts = []
    if fd_threshold is not None:
        parts.append(f"FD > {fd_threshold} mm")
    if std_dvars_threshold is not None:
        parts.append(f"std DVARS > {std_dvars_threshold}")
    parts.append(f"segments < {min_segment_length} volumes")
    return " at " + ", ".join(parts)


_UNREADABLE_IMAGE_ERRORS = (ImageFileError, ExpatError, OSError, EOFError, ValueError, zlib.error)


def _image_volume_counts(image: str | list) -> list[tuple[str, int]]:
    """Volumes of each file of a ``load_confounds`` input, from its header.

    A NIfTI file has ``shape[3]`` volumes (1 when 3D), a CIFTI
    ``dtseries.nii`` ``shape[0]``, a GIfTI ``func.gii`` one data array per
    volume. Files that do not exist are left out: nilearn's API needs only
    the name to find the confounds, so there is nothing to check them against.

    Parameters
    ----------
    image : str or list of str
        A BOLD path, or a pair of ``func.gii`` paths.

    Returns
    -------
    list of (str, int)
        (file, number of volumes) for every file that exists.

    Raises
    ------
    ConfoundsError
        If a file exists but its header cannot be read.
    """
    counts = []
    for name in image if isinstance(image, list) else [image]:
        if not os.path.exists(name):
            continue
        try:
            img = nib.load(name)
            if isinstance(img, nib.GiftiImage):
                n_volumes = len(img.darrays)
            elif isinstance(img, nib.Cifti2Image):
                n_volumes = int(img.shape[0])
            else:
                n_volumes = int(img.shape[3]) if len(img.shape) > 3 else 1
        except _UNREADABLE_IMAGE_ERRORS as error:
            raise ConfoundsError(
                f"{name}: cannot read the image's header to check the length of its confounds "
                f"({type(error).__name__}: {error})."
            ) from error
        counts.append((name, n_volumes))
    return counts


# ---------------------------------------------------------------------------
# nilearn-compatible API
# ---------------------------------------------------------------------------

_IMAGE_PATTERNS = {
    "aroma": "_desc-smoothAROMAnonaggr_bold",
    "tedana": "_desc-optcom_bold.nii.gz",
    "nii.gz": "(_space-.*)?_desc-preproc_bold.nii.gz",
    "dtseries.nii": "(_space-.*)?_bold.dtseries.nii",
    "func.gii": "_hemi-[LR](_space-.*)?_bold.func.gii",
}
_IMAGE_ERRORS = {
    "aroma": "Input must be desc-smoothAROMAnonaggr_bold for full ICA-AROMA strategy.",
    "tedana": (
        "Input must be the ~desc-optcom_bold.nii.gz file for tedana strategy. Other files like "
        "~desc-denoised_bold.nii.gz are not supported or have already been denoised."
    ),
    "nii.gz": "Invalid file type for the selected 'nii.gz' method.",
    "dtseries.nii": "Invalid file type for the selected 'dtseries.nii' method",
    "func.gii": "need fMRIprep output with extension func.gii",
}


def _check_strategy_tuple(strategy: Any) -> None:
    """nilearn's validation of the ``strategy`` argument."""
    if not isinstance(strategy, (tuple, list)):
        raise ValueError(
            "strategy needs to be a tuple or list of strings. "
            f"A {strategy.__class__.__name__} was provided instead."
        )
    if len(strategy) == 0:
        warnings.warn("strategy is empty, confounds will return None.", UserWarning, stacklevel=3)
    for component in strategy:
        if component == "non_steady_state":
            warnings.warn(
                "Non-steady state volumes are always detected. It doesn't need to be supplied "
                "as part of the strategy. Supplying non_steady_state in strategy will not have "
                "additional effect.",
                UserWarning,
                stacklevel=3,
            )
        _check_choice(component, COMPONENTS, "strategy")
    if "compcor" in strategy and "high_pass" not in strategy:
        raise ValueError(
            f"When using compcor, `high_pass` must be included in strategy. Current strategy: '{strategy}'"
        )


def _as_path_strings(img_files: Any) -> Any:
    if isinstance(img_files, os.PathLike):
        return os.fspath(img_files)
    if isinstance(img_files, list):
        return [_as_path_strings(item) for item in img_files]
    return img_files


def _split_inputs(img_files: Any) -> tuple[list, bool]:
    """Inputs as a list, and whether a single input was given (nilearn rules)."""
    if isinstance(img_files, str):
        return [img_files], True
    if isinstance(img_files, list) and len(img_files) == 1:
        return img_files, True
    if isinstance(img_files, list) and len(img_files) == 2 and not isinstance(img_files[0], list):
        if all(".".join(str(name).split(".")[-2:]) == "func.gii" for name in img_files):
            return [img_files], True
    return list(img_files), False


def _check_image_name(image: str | list, full_aroma: bool, tedana: bool = False) -> None:
    """nilearn's check that the image is an fMRIPrep output of the right kind."""
    if isinstance(image, list):
        kind, names = "func.gii", image
    elif full_aroma:
        kind, names = "aroma", [image]
    elif tedana:
        kind, names = "tedana", [image]
    else:
        kind, names = ".".join(image.split(".")[-2:]), [image]
    pattern = _IMAGE_PATTERNS.get(kind)
    if pattern is None:
        raise ValueError("Unsupported input.")
    if not all(re.search(pattern, name) for name in names):
        raise ValueError(_IMAGE_ERRORS[kind])


def load_confounds(
    img_files,
    strategy=("motion", "high_pass", "wm_csf"),
    motion="full",
    scrub=5,
    fd_threshold=0.5,
    std_dvars_threshold=1.5,
    wm_csf="basic",
    global_signal="basic",
    compcor="anat_combined",
    n_compcor="all",
    ica_aroma="full",
    tedana="aggressive",
    demean=True,
):
    """Load fMRIPrep confounds of BOLD files by noise components (nilearn API).

    Same parameters and results as
    ``nilearn.interfaces.fmriprep.load_confounds`` 0.14.1.

    Parameters
    ----------
    img_files : str, os.PathLike or list
        Preprocessed image(s) (``*_desc-preproc_bold.nii.gz``,
        ``*_bold.dtseries.nii``, or a pair of ``*_hemi-L/R*_bold.func.gii``)
        whose confounds file sits in the same directory. A list gives lists.
    strategy : tuple or list of str, default=("motion", "high_pass", "wm_csf")
        Noise components among ``motion``, ``high_pass``, ``wm_csf``,
        ``global_signal``, ``compcor`` (requires ``high_pass``),
        ``ica_aroma``, ``scrub`` and ``tedana`` (which ignores the others).
        Non-steady-state volumes are always censored.
    motion : {"basic", "power2", "derivatives", "full"}, default="full"
        6, 12, 12 or 24 head-motion regressors.
    scrub : int, default=5
        Minimum length (volumes) of a segment kept between censored volumes.
        0 keeps every segment.
    fd_threshold : float, default=0.5
        Framewise displacement threshold in mm (strictly greater censors).
    std_dvars_threshold : float, default=1.5
        Standardised DVARS threshold (strictly greater censors).
    wm_csf : {"basic", "power2", "derivatives", "full"}, default="basic"
        2, 4, 4 or 8 white-matter and CSF regressors.
    global_signal : {"basic", "power2", "derivatives", "full"}, default="basic"
        1, 2, 2 or 4 global-signal regressors.
    compcor : str, default="anat_combined"
        One of ``anat_combined``, ``anat_separated``, ``temporal``,
        ``temporal_anat_combined``, ``temporal_anat_separated``.
    n_compcor : int or "all", default="all"
        Components kept per mask and per CompCor type.
    ica_aroma : {"full", "basic"}, default="full"
        ``full``: the image is fMRIPrep's non-aggressively denoised
        ``desc-smoothAROMAnonaggr_bold`` and no regressor is added;
        ``basic``: the ``aroma`` noise components are regressors.
    tedana : {"aggressive", "non-aggressive"}, default="aggressive"
        For ``*_desc-optcom_bold.nii.gz`` images: the columns of tedana's
        ``desc-ICA_mixing.tsv`` classified "rejected" in
        ``desc-tedana_metrics.tsv`` (aggressive), or "accepted" and
        "rejected" (non-aggressive), named ``{classification}_{component}``.
    demean : bool, default=True
        Subtract each confound's mean, computed over the kept volumes when
        some are censored.

    Returns
    -------
    confounds : pandas.DataFrame, list of DataFrame, or None
        Columns sorted alphabetically; None for an empty strategy.
    sample_mask : numpy.ndarray of int64, list, or None
        Indices of the kept volumes (never empty); None when none is censored.

    Raises
    ------
    ValueError
        For invalid parameters (as nilearn).
    ConfoundsError
        For missing files, missing columns or a missing JSON sidecar; the
        message names the file. Also when an image exists and its number of
        volumes differs from the rows of its confounds file (nilearn does not
        check), or exists and its header cannot be read.
    RunExcluded
        When every volume of an image is censored (nilearn returns an empty
        sample mask with a RuntimeWarning). A :class:`ValueError` too.
    """
    _check_strategy_tuple(strategy)
    if "motion" in strategy:
        _check_choice(motion, CONFOUND_MODELS, "motion")
    if "wm_csf" in strategy:
        _check_choice(wm_csf, CONFOUND_MODELS, "wm_csf")
    if "global_signal" in strategy:
        _check_choice(global_signal, CONFOUND_MODELS, "global_signal")
    if "compcor" in strategy:
        _check_choice(compcor, COMPCOR_TYPES, "compcor")
        _check_n_compcor(n_compcor)
    if "ica_aroma" in strategy:
        _check_choice(ica_aroma, ICA_AROMA_TYPES, "ica_aroma")
    if "tedana" in strategy:
        _check_choice(tedana, TEDANA_TYPES, "tedana")
        if len(strategy) > 1:
            others = [component for component in strategy if "tedana" not in component]
            warnings.warn(
                "TEDANA strategy will only look for the ~desc-ICA_mixing.tsv and the "
                "~desc-tedana_metrics.tsv for the provided ~desc-optcom_bold.nii.gz from the tedana "
                f"folder to load the rejected ICA confounds. Other strategies: \n{others} will NOT be "
                "applied for the Tedana confounds.",
                UserWarning,
                stacklevel=2,
            )

    parameters = dict(
        motion=motion,
        scrub=scrub,
        fd_threshold=fd_threshold,
        std_dvars_threshold=std_dvars_threshold,
        wm_csf=wm_csf,
        global_signal=global_signal,
        compcor=compcor,
        n_compcor=n_compcor,
        ica_aroma=ica_aroma,
        tedana=tedana,
        name="+".join(strategy),  # the strategy's name in RunExcluded
    )
    images, single = _split_inputs(_as_path_strings(img_files))
    confounds_out, masks_out = [], []
    for image in images:
        confounds, sample_mask = _load_confounds_of_image(image, tuple(strategy), demean, parameters)
        confounds_out.append(confounds)
        masks_out.append(sample_mask)
    if single:
        confounds_out, masks_out = confounds_out[0], masks_out[0]
    if len(strategy) == 0:
        return None, masks_out
    return confounds_out, masks_out


def _load_confounds_of_image(image, strategy: tuple, demean: bool, parameters: dict):
    if "tedana" in strategy:
        _check_image_name(image, full_aroma=False, tedana=True)
        return _tedana_confounds(image, parameters["tedana"], demean)
    full_aroma = "ica_aroma" in strategy and parameters["ica_aroma"] == "full"
    _check_image_name(image, full_aroma)
    bold_path = image[0] if isinstance(image, list) else image
    tsv_path = find_confounds_file(bold_path)
    table = read_confounds(tsv_path)
    for name, n_volumes in _image_volume_counts(image):
        _check_row_count(str(table.tsv_path), table.n_volumes, n_volumes, bold=name)
    anatomical_compcor = "compcor" in strategy and "anat" in parameters["compcor"]
    if anatomical_compcor and table.sidecar_problem is not None:
        raise _sidecar_needed_error(table, parameters["compcor"])
    if anatomical_compcor and table.metadata is None:
        raise ConfoundsError(
            f"Could not find associated json file {table.expected_json_path}. This is necessary "
            "for anatomical CompCor. The CompCor component is only supported for fMRIprep "
            "version >= 1.4.0."
        )
    return _confounds_from_table(table, strategy, demean, parameters)


def _confounds_from_table(table: ConfoundsTable, strategy: tuple, demean: bool, parameters: dict):
    """nilearn's component selection and output assembly on one table."""
    # nilearn's CompCor names are the names in the file; CamelCase files
    # (which nilearn refuses) are read under current names.
    if table.naming == NAMING_CAMELCASE:
        data, metadata = table.data, table.metadata
    else:
        data, metadata = table.with_file_names()
    source = str(table.tsv_path)
    columns = data.columns
    missing = _Missing()

    indicator_frames = []  # columns whose non-zero rows are censored
    nss = _columns_containing(columns, _NSS_KEY)
    has_rows = bool(nss)
    selected: list[str] = []
    for component in strategy:
        if component == "motion":
            selected += _present_or_missing(_expand(_MOTION_BASE, parameters["motion"]), columns, "motion", missing)
        elif component == "wm_csf":
            selected += _present_or_missing(_expand(_WM_CSF_BASE, parameters["wm_csf"]), columns, "wm_csf", missing)
        elif component == "global_signal":
            names = _expand(_GLOBAL_BASE, parameters["global_signal"])
            selected += _present_or_missing(names, columns, "global_signal", missing)
        elif component == "high_pass":
            selected += _columns_containing(columns, "cosine")
        elif component == "compcor":
            names = _compcor_names_nilearn(metadata, parameters["compcor"], parameters["n_compcor"], source)
            selected += _present_or_missing(names, columns, "compcor", missing)
        elif component == "ica_aroma":
            if parameters["ica_aroma"] == "basic":
                aroma = _columns_containing(columns, "aroma")
                if not aroma:
                    missing.components.append("ica_aroma")
                selected += aroma
        elif component == "scrub":
            has_rows = True
            needed = [_FD_COLUMN, _DVARS_COLUMN]
            absent = [name for name in needed if name not in columns]
            if absent:
                missing.columns.extend(absent)
                continue
            outliers = _motion_outliers(data, parameters["fd_threshold"], parameters["std_dvars_threshold"])
            if parameters["scrub"] > 0 and outliers.size:
                outliers = _drop_short_segments(outliers, len(data), parameters["scrub"])
            one_hot = np.zeros((len(data), outliers.size), dtype=np.int64)
            one_hot[outliers, np.arange(outliers.size)] = 1
            indicator_frames.append(one_hot)
    if missing:
        raise ConfoundsError(
            f"The following keywords or parameters are missing:  {missing.columns} "
            f"{missing.components}. You may want to try a different denoising strategy. "
            f"(confounds file: {source})"
        )
    has_rows = has_rows or bool(selected)

    # Columns named like outlier indicators are indicators, not regressors.
    indicator_names = sorted({name for name in nss + selected if _NSS_KEY in name or _OUTLIER_KEY in name})
    regressor_names = sorted(set(selected) - set(indicator_names))
    _check_numeric(data[indicator_names + regressor_names], source)
    if indicator_names:
        indicator_frames.append(data[indicator_names].fillna(0).to_numpy(dtype=np.float64))
    sample_mask = _sample_mask_from_indicators(indicator_frames)
    if sample_mask is not None:
        n_dummies = int(np.count_nonzero(data[nss].fillna(0).to_numpy(dtype=np.float64).sum(axis=1))) if nss else 0
        censoring = ""
        if "scrub" in strategy:
            censoring = _censoring_text(
                parameters["fd_threshold"], parameters["std_dvars_threshold"], parameters["scrub"]
            )
        _check_some_volume_kept(
            source, parameters["name"], len(data), sample_mask.size, n_dummies, len(data) - n_dummies, censoring
        )

    if not has_rows:  # nothing selected at all: nilearn returns a (0, 0) frame
        return pd.DataFrame(), sample_mask
    confounds = data.loc[:, regressor_names].copy()
    if confounds.size:
        _fill_first_row(confounds)
        if demean:
            confounds = (
                _demean_all_rows(confounds) if sample_mask is None else _demean_kept_rows(confounds, sample_mask)
            )
    return confounds, sample_mask


def _sample_mask_from_indicators(indicator_frames: list[np.ndarray]) -> np.ndarray | None:
    """Kept volumes: rows where every indicator is zero; None without indicators."""
    frames = [frame for frame in indicator_frames if frame.shape[1]]
    if not frames:
        return None
    flagged = np.concatenate(frames, axis=1).sum(axis=1)
    return np.flatnonzero(flagged == 0).astype(np.int64)


def _find_tedana_files(bold_path: str) -> tuple[Path, Path]:
    """tedana's ``*_desc-ICA_mixing.tsv`` and ``*_desc-tedana_metrics.tsv``.

    Same entity-subset search as :func:`find_confounds_file`, with ``desc``
    set to ``confounds``, ``ICA`` or ``tedana`` and the suffixes
    ``_mixing.tsv`` and ``_metrics.tsv``; exactly two files must be found.
    """
    entities = _bids_entities(bold_path)
    keys = list(dict.fromkeys([*entities, "desc"]))
    directory = Path(bold_path).parent
    names = set()
    for desc in ("confounds", "ICA", "tedana"):
        values = {**entities, "desc": desc}
        for size in range(1, len(keys) + 1):
            for subset in itertools.combinations(keys, size):
                if "desc" in subset:
                    stem = "_".join(f"{key}-{values[key]}" for key in subset)
                    names.update(stem + suffix for suffix in ("_mixing.tsv", "_metrics.tsv"))
    found = sorted(directory / name for name in names if (directory / name).is_file())
    if not found:
        raise ConfoundsError(
            "Could not find associated confound file. The functional derivatives should exist "
            f"under the same parent directory. (BOLD file: {bold_path}; no tedana "
            "*_desc-ICA_mixing.tsv and *_desc-tedana_metrics.tsv named with its entities in "
            f"{directory})"
        )
    mixing = [path for path in found if path.name.endswith("_mixing.tsv")]
    metrics = [path for path in found if path.name.endswith("_metrics.tsv")]
    if len(found) != 2 or len(mixing) != 1:
        listing = "\n\t".join(str(path) for path in found)
        raise ConfoundsError(
            f"Found {len(found)} confound files (expected 2 for TEDANA):\n\t{listing}\n\n"
            "TEDANA should produce exactly two confound files:\n- mixing.tsv\n- table_status.tsv "
            f"(BOLD file: {bold_path})"
        )
    return mixing[0], metrics[0]


def _normalise_ica_name(name: str) -> str:
    """``ICA_007`` -> ``ICA_7`` (tedana versions differ in zero padding)."""
    return re.sub(r"ICA_0*(\d+)$", lambda match: f"ICA_{int(match.group(1))}", name)


def _tedana_confounds(image: str, tedana: str, demean: bool):
    """tedana ICA components of the chosen classifications (nilearn rules)."""
    mixing_path, metrics_path = _find_tedana_files(image)
    mixing = _read_tsv(mixing_path)
    for name, n_volumes in _image_volume_counts(image):
        _check_row_count(str(mixing_path), len(mixing), n_volumes, bold=name)
    metrics = _read_tsv(metrics_path)
    if not any(str(name).startswith("ICA_") for name in mixing.columns) or not {
        "Component",
        "classification",
    } <= set(metrics.columns):
        raise ConfoundsError(
            "The confound file does not contain the expected columns for TEDANA output. Expected "
            "'ICA_xx' for mixing.tsv and 'Component' and 'classification' for the metrics.tsv "
            f"columns ({mixing_path}, {metrics_path})."
        )
    original_by_normalised = {_normalise_ica_name(name): name for name in mixing.columns}
    classification = {
        _normalise_ica_name(str(component)): label
        for component, label in zip(metrics["Component"], metrics["classification"])
        if label in _TEDANA_CLASSES[tedana]
    }
    chosen = sorted(name for name in classification if name in original_by_normalised)
    confounds = mixing[[original_by_normalised[name] for name in chosen]].copy()
    confounds.columns = [f"{classification[name]}_{original_by_normalised[name]}" for name in chosen]
    _check_numeric(confounds, str(mixing_path))
    confounds = confounds[sorted(confounds.columns)]
    if confounds.size:
        _fill_first_row(confounds)
        if demean:
            confounds = _demean_all_rows(confounds)
    return confounds, None


# nilearn's presets (load_confounds_strategy), with every default it fixes.
_NILEARN_PRESETS: dict[str, dict[str, Any]] = {
    "simple": {
        "strategy": ("high_pass", "motion", "wm_csf"),
        "motion": "full",
        "wm_csf": "basic",
        "global_signal": None,
        "demean": True,
    },
    "scrubbing": {
        "strategy": ("high_pass", "motion", "wm_csf", "scrub"),
        "motion": "full",
        "wm_csf": "full",
        "scrub": 5,
        "fd_threshold": 0.5,
        "std_dvars_threshold": 1.5,
        "global_signal": None,
        "demean": True,
    },
    "compcor": {
        "strategy": ("high_pass", "motion", "compcor"),
        "motion": "full",
        "n_compcor": "all",
        "compcor": "anat_combined",
        "global_signal": None,
        "demean": True,
    },
    "ica_aroma": {
        "strategy": ("high_pass", "wm_csf", "ica_aroma"),
        "wm_csf": "basic",
        "ica_aroma": "full",
        "global_signal": None,
        "demean": True,
    },
}


def load_confounds_strategy(img_files, denoise_strategy="simple", **kwargs):
    """Load fMRIPrep confounds with a preset strategy (nilearn API).

    Same behaviour as ``nilearn.interfaces.fmriprep.load_confounds_strategy``
    0.14.1.

    Parameters
    ----------
    img_files : str, os.PathLike or list
        As in :func:`load_confounds`.
    denoise_strategy : {"simple", "scrubbing", "compcor", "ica_aroma"}, default="simple"
        The preset. Its parameters can be overridden by keyword, except
        ``ica_aroma`` (always ``full``); ``global_signal`` given as a string
        adds global-signal regressors. Other keywords are ignored with a
        warning, and keywords set to None are ignored.
    **kwargs
        Parameters of :func:`load_confounds`.

    Returns
    -------
    confounds, sample_mask
        As in :func:`load_confounds`.

    Raises
    ------
    ValueError, ConfoundsError
        As in :func:`load_confounds`.
    RunExcluded
        When every volume is censored; its ``strategy`` is the preset name.
    """
    _check_choice(denoise_strategy, list(_NILEARN_PRESETS), "denoise_strategy")
    parameters = dict(_NILEARN_PRESETS[denoise_strategy])
    accepted = [key for key in parameters if key not in ("strategy", "ica_aroma")]
    remaining = dict(kwargs)
    for key in accepted:
        value = remaining.pop(key, None)
        if value is not None:
            parameters[key] = value
        if key == "global_signal":
            if isinstance(value, str):
                parameters["strategy"] = (*parameters["strategy"], "global_signal")
            else:
                parameters.pop("global_signal", None)
    if remaining:
        warnings.warn(
            f"The following parameters are not needed for the selected strategy "
            f"'{denoise_strategy}': {list(remaining)}; parameters accepted: {accepted}",
            UserWarning,
            stacklevel=2,
        )
    try:
        return load_confounds(img_files, **parameters)
    except RunExcluded as error:  # name the preset rather than its components
        raise RunExcluded(error.path, error.reason, denoise_strategy) from None


# ---------------------------------------------------------------------------
# Denoising strategies
# ---------------------------------------------------------------------------

PRESET_NAMES = (
    "none",
    "simple",
    "simple+gsr",
    "scrubbing",
    "scrubbing+gsr",
    "compcor",
    "compcor+gsr",
    "ica_aroma",
    "ica_aroma+gsr",
)
_STRATEGY_NAME = re.compile(r"^[A-Za-z0-9]+(?:[+_-][A-Za-z0-9]+)*$")
_STANDARDIZE_CHOICES = ("zscore_sample", "zscore", "psc", False)
_FILTER_CHOICES = ("butterworth", "cosine", False)
#: Components a DenoiseStrategy may list (non-steady-state volumes are always handled).
STRATEGY_COMPONENTS = tuple(name for name in COMPONENTS if name not in ("non_steady_state", "tedana"))


@dataclass(frozen=True)
class DenoiseStrategy:
    """A named denoising strategy: confounds, censoring and cleaning settings.

    The confound fields have the meaning of :func:`load_confounds`'s
    parameters; they are used only when their component is listed in
    ``components``.

    Parameters
    ----------
    name : str
        Letters and digits, optionally joined by ``+``, ``_`` or ``-``
        (e.g. ``simple+gsr``). See :attr:`desc` for the BIDS label.
    components : tuple of str
        Noise components (nilearn's ``strategy``): ``motion``,
        ``high_pass``, ``wm_csf``, ``global_signal``, ``compcor``,
        ``ica_aroma``, ``scrub``. ``compcor`` requires ``high_pass``.
    motion, wm_csf, global_signal : {"basic", "power2", "derivatives", "full"}
    compcor : str
        CompCor type (see :func:`load_confounds`).
    n_compcor : int or "all"
        Components kept per mask and per CompCor type.
    ica_aroma : {"full", "basic"}
        ``full`` requires the ``desc-smoothAROMAnonaggr_bold`` image
        (:attr:`requires_aroma_image`).
    demean : bool
        Subtract each confound's mean over the kept volumes.
    extra_columns : tuple of str
        Further confound columns by exact (current) name.
    extra_column_patterns : tuple of str
        Further confound columns by regular expression (full match).
    fd_threshold : float or None
        Framewise displacement threshold in mm (used with ``scrub``); None
        disables the FD criterion.
    std_dvars_threshold : float or None
        Standardised DVARS threshold (used with ``scrub``); None disables it.
    min_segment_length : int
        Runs of kept volumes shorter than this are censored too (nilearn's
        ``scrub``); 0 disables the rule.
    detrend : bool
        Remove linear trends in cleaning.
    standardize : {"zscore_sample", "zscore", "psc", False}
        Standardisation of the cleaned signals.
    standardize_confounds : bool
        Standardise the confounds before regression.
    filter : {"butterworth", "cosine", False}
        Temporal filter of :func:`regionseries.signal.clean`.
    low_pass, high_pass : float or None
        Cut-off frequencies in Hz.
    description : str
        Free text for reports.
    """

    name: str
    components: tuple[str, ...] = ()
    motion: str = "full"
    wm_csf: str = "basic"
    global_signal: str = "basic"
    compcor: str = "anat_combined"
    n_compcor: int | str = "all"
    ica_aroma: str = "full"
    demean: bool = True
    extra_columns: tuple[str, ...] = ()
    extra_column_patterns: tuple[str, ...] = ()
    fd_threshold: float | None = 0.5
    std_dvars_threshold: float | None = 1.5
    min_segment_length: int = 5
    detrend: bool = True
    standardize: str | bool = "zscore_sample"
    standardize_confounds: bool = True
    filter: str | bool = "butterworth"
    low_pass: float | None = None
    high_pass: float | None = None
    description: str = ""

    def __post_init__(self) -> None:
        for name in ("components", "extra_columns", "extra_column_patterns"):
            value = getattr(self, name)
            if isinstance(value, str):
                value = (value,)
            object.__setattr__(self, name, tuple(value))
        for name in ("filter", "standardize"):  # None means "off"
            if getattr(self, name) is None:
                object.__setattr__(self, name, False)
        self._validate()

    def _validate(self) -> None:
        if not isinstance(self.name, str) or not _STRATEGY_NAME.match(self.name):
            raise ValueError(
                f"strategy name {self.name!r} is not valid: use letters and digits, optionally "
                "joined by '+', '_' or '-' (it becomes a BIDS desc- label)."
            )
        for component in self.components:
            if component == "non_steady_state":
                raise ValueError(
                    "strategy component 'non_steady_state' is not needed: non-steady-state "
                    "volumes are always censored (see dummy_scans)."
                )
            if component == "tedana":
                raise ValueError(
                    "strategy component 'tedana' is not available in denoising strategies "
                    "(tedana components are read by load_confounds only)."
                )
            _check_choice(component, STRATEGY_COMPONENTS, "components")
        if "compcor" in self.components and "high_pass" not in self.components:
            raise ValueError(
                "component 'compcor' requires 'high_pass' (fMRIPrep computes CompCor on "
                "high-pass filtered data, so its cosine regressors must be included)."
            )
        for name in ("motion", "wm_csf", "global_signal"):
            _check_choice(getattr(self, name), CONFOUND_MODELS, name)
        _check_choice(self.compcor, COMPCOR_TYPES, "compcor")
        _check_n_compcor(self.n_compcor)
        _check_choice(self.ica_aroma, ICA_AROMA_TYPES, "ica_aroma")
        for name in ("demean", "detrend", "standardize_confounds"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"'{name}' must be true or false; {getattr(self, name)!r} was provided.")
        for column in self.extra_columns:
            if not isinstance(column, str) or not column:
                raise ValueError(f"'extra_columns' must hold column names; {column!r} was provided.")
        for pattern in self.extra_column_patterns:
            try:
                re.compile(pattern)
            except (re.error, TypeError) as error:
                raise ValueError(
                    f"'extra_column_patterns': {pattern!r} is not a valid regular expression ({error})."
                ) from error
        for name in ("fd_threshold", "std_dvars_threshold"):
            _check_positive_or_none(getattr(self, name), name)
        if (
            isinstance(self.min_segment_length, bool)
            or not isinstance(self.min_segment_length, (int, np.integer))
            or self.min_segment_length < 0
        ):
            raise ValueError(
                f"'min_segment_length' must be an integer >= 0 (volumes); {self.min_segment_length!r} was provided."
            )
        if self.standardize is True or self.standardize not in _STANDARDIZE_CHOICES:
            raise ValueError(
                f"'standardize' must be one of {list(_STANDARDIZE_CHOICES)}; {self.standardize!r} was provided."
            )
        if self.filter is True or self.filter not in _FILTER_CHOICES:
            raise ValueError(f"'filter' must be one of {list(_FILTER_CHOICES)}; {self.filter!r} was provided.")
        for name in ("low_pass", "high_pass"):
            _check_positive_or_none(getattr(self, name), name)
        if self.low_pass is not None and self.high_pass is not None and self.high_pass >= self.low_pass:
            raise ValueError(
                f"'high_pass' ({self.high_pass} Hz) must be lower than 'low_pass' ({self.low_pass} Hz)."
            )
        if self.filter == "cosine" and self.low_pass is not None:
            raise ValueError("'low_pass' is not available with filter 'cosine'; use 'butterworth'.")
        if not isinstance(self.description, str):
            raise ValueError("'description' must be text.")

    @property
    def desc(self) -> str:
        """BIDS ``desc-`` label: the name in camelCase, ``gsr`` as ``GSR``.

        ``simple+gsr`` -> ``simpleGSR``; ``ica_aroma`` -> ``icaAroma``.
        """
        first, *others = re.split(r"[+_-]", self.name)
        return first + "".join("GSR" if part.lower() == "gsr" else part[:1].upper() + part[1:] for part in others)

    @property
    def censors_motion(self) -> bool:
        """Whether volumes are censored by FD/DVARS (``scrub`` component)."""
        return "scrub" in self.components

    @property
    def needs_sidecar(self) -> bool:
        """Whether the confounds JSON sidecar is read: anatomical CompCor takes each
        component's mask from it."""
        return "compcor" in self.components and "anat" in self.compcor

    @property
    def requires_aroma_image(self) -> bool:
        """Whether the BOLD input must be fMRIPrep's ``desc-smoothAROMAnonaggr_bold``."""
        return "ica_aroma" in self.components and self.ica_aroma == "full"

    @property
    def clean_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`regionseries.signal.clean` (without t_r)."""
        return {
            "detrend": self.detrend,
            "standardize": self.standardize,
            "standardize_confounds": self.standardize_confounds,
            "filter": self.filter,
            "low_pass": self.low_pass,
            "high_pass": self.high_pass,
        }

    def to_dict(self) -> dict[str, Any]:
        """All settings as JSON-serialisable values (for sidecars)."""
        settings = dataclasses.asdict(self)
        for name in ("components", "extra_columns", "extra_column_patterns"):
            settings[name] = list(settings[name])
        settings["desc"] = self.desc
        return settings

    def load_confounds_kwargs(self) -> dict[str, Any]:
        """The :func:`load_confounds` arguments of this strategy's components."""
        kwargs = {
            "strategy": self.components,
            "motion": self.motion,
            "wm_csf": self.wm_csf,
            "global_signal": self.global_signal,
            "compcor": self.compcor,
            "n_compcor": self.n_compcor,
            "ica_aroma": self.ica_aroma,
            "demean": self.demean,
            "scrub": self.min_segment_length,
        }
        if self.fd_threshold is not None:
            kwargs["fd_threshold"] = self.fd_threshold
        if self.std_dvars_threshold is not None:
            kwargs["std_dvars_threshold"] = self.std_dvars_threshold
        return kwargs


def _check_positive_or_none(value: Any, name: str) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not (
        math.isfinite(value) and value > 0
    ):
        raise ValueError(f"'{name}' must be a positive number or null; {value!r} was provided.")


_STRATEGY_FIELDS = tuple(item.name for item in dataclasses.fields(DenoiseStrategy))
_FILE_KEYS = (*_STRATEGY_FIELDS, "base", "desc")
_OVERRIDABLE = tuple(name for name in _STRATEGY_FIELDS if name != "name")


def _preset_file(name: str):
    return resources.files("regionseries") / "strategies" / f"{name}.json"


def _load_preset(name: str) -> DenoiseStrategy:
    with _preset_file(name).open(encoding="utf-8") as handle:
        settings = json.load(handle)
    return _strategy_from_settings(settings, source=f"built-in preset '{name}'")


def _strategy_from_settings(settings: Mapping[str, Any], source: str) -> DenoiseStrategy:
    if not isinstance(settings, Mapping):
        raise ConfoundsError(
            f"{source}: a strategy file must hold a mapping of settings, not a {type(settings).__name__}."
        )
    unknown = sorted(set(settings) - set(_FILE_KEYS))
    if unknown:
        raise ConfoundsError(f"{source}: unknown strategy setting(s) {unknown}; allowed: {list(_FILE_KEYS)}.")
    if "name" not in settings:
        raise ConfoundsError(
            f"{source}: the strategy has no 'name' (letters and digits; it becomes the desc- label)."
        )
    settings = dict(settings)
    base_name = settings.pop("base", None)
    # "desc" is derived from the name; it is allowed so that to_dict() output can be read back
    desc = settings.pop("desc", None)
    for key in ("components", "extra_columns", "extra_column_patterns"):
        if key in settings and not isinstance(settings[key], (list, tuple, str)):
            raise ConfoundsError(f"{source}: '{key}' must be a list; {settings[key]!r} was provided.")
    try:
        if base_name is not None:
            if base_name not in PRESET_NAMES:
                raise ValueError(f"'base' must be one of {list(PRESET_NAMES)}; {base_name!r} was provided.")
            strategy = dataclasses.replace(_load_preset(base_name), **settings)
        else:
            strategy = DenoiseStrategy(**settings)
        if desc is not None and desc != strategy.desc:
            raise ValueError(f"'desc' is derived from the name ({strategy.desc!r}); {desc!r} was provided.")
    except (TypeError, ValueError) as error:
        raise ConfoundsError(f"{source}: {error}") from error
    return strategy


def _read_strategy_file(path: Path) -> DenoiseStrategy:
    try:
        text = readable.read_text(path)
    except readable.UnavailableFile as error:
        raise StrategyFileUnavailable(f"{path}: the strategy file cannot be read: {error.problem}.") from None
    except readable.UnreadableFile as error:
        raise ConfoundsError(f"{path}: the strategy file cannot be read: {error.problem}.") from None
    if path.suffix.lower() == ".json":
        try:
            settings = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfoundsError(f"{path}: the strategy file is not valid JSON ({error}).") from error
    else:
        import yaml  # only needed for YAML strategy files

        try:
            settings = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ConfoundsError(f"{path}: the strategy file is not valid YAML ({error}).") from error
    return _strategy_from_settings(settings, source=str(path))


def get_strategy(spec: str | os.PathLike | DenoiseStrategy, **overrides: Any) -> DenoiseStrategy:
    """A denoising strategy from a preset name or a strategy file.

    Parameters
    ----------
    spec : str, os.PathLike or DenoiseStrategy
        A preset name (``none``, ``simple``, ``simple+gsr``, ``scrubbing``,
        ``scrubbing+gsr``, ``compcor``, ``compcor+gsr``, ``ica_aroma``,
        ``ica_aroma+gsr``), or
        the path of a JSON (``.json``) or YAML (``.yaml``/``.yml``) strategy
        file (format in ``docs/strategies.md``).
    **overrides
        Settings replacing the strategy's (e.g. from command-line flags:
        ``fd_threshold``, ``std_dvars_threshold``, ``low_pass``,
        ``high_pass``, ``filter``, ``detrend``, ``standardize``; any field
        of :class:`DenoiseStrategy` except ``name``). None means "not
        given" and is ignored.

    Returns
    -------
    DenoiseStrategy

    Raises
    ------
    StrategyFileUnavailable
        If the strategy file is missing, not fetched or cannot be opened
        (a :class:`ConfoundsError`).
    ConfoundsError
        If the spec is neither a preset nor a readable, valid strategy file.
    ValueError
        If an override has an invalid value.
    TypeError
        If an override is not a strategy setting.
    """
    if isinstance(spec, DenoiseStrategy):
        strategy = spec
    elif isinstance(spec, str) and spec in PRESET_NAMES:
        strategy = _load_preset(spec)
    elif isinstance(spec, (str, os.PathLike)):
        path = Path(spec)
        if path.suffix.lower() not in (".json", ".yaml", ".yml"):
            raise ConfoundsError(
                f"unknown denoising strategy {os.fspath(spec)!r}: not a preset {list(PRESET_NAMES)} "
                "and not a .json/.yaml/.yml strategy file."
            )
        strategy = _read_strategy_file(path)
    else:
        raise TypeError(
            f"a strategy is a preset name, a file path or a DenoiseStrategy, not {type(spec).__name__}."
        )

    given = {key: value for key, value in overrides.items() if value is not None}
    unknown = sorted(set(given) - set(_OVERRIDABLE))
    if unknown:
        raise TypeError(f"get_strategy() got unknown override(s) {unknown}; allowed: {list(_OVERRIDABLE)}.")
    if not strategy.censors_motion:
        ignored = sorted(set(given) & {"fd_threshold", "std_dvars_threshold", "min_segment_length"})
        if ignored:
            warnings.warn(
                f"{ignored} have no effect: strategy '{strategy.name}' does not censor by motion "
                "(it has no 'scrub' component).",
                UserWarning,
                stacklevel=2,
            )
    return dataclasses.replace(strategy, **given) if given else strategy


# ---------------------------------------------------------------------------
# Denoising plan of one run
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DenoisingPlan:
    """What cleaning one run with one strategy needs, checked against the data.

    Attributes
    ----------
    strategy : DenoiseStrategy
    n_volumes : int
        Volumes in the BOLD run.
    confounds : numpy.ndarray or None
        float64, shape (n_volumes, k), columns sorted by name, row 0 NaN
        filled from row 1, demeaned over the kept volumes if the strategy
        says so; None when the strategy has no regressor.
    confound_names : list of str
        Column names of ``confounds`` (current fMRIPrep names).
    sample_mask : numpy.ndarray
        int64 indices of the kept volumes (always an array).
    dummy_volumes : numpy.ndarray
        int64 indices of the volumes dropped as non-steady-state.
    motion_outliers : numpy.ndarray
        int64 indices censored by FD/DVARS and the minimum-segment rule,
        dummy volumes excluded.
    mean_fd : float
        Mean framewise displacement in mm over all volumes that have one;
        NaN without an FD column.
    clean_kwargs : dict
        detrend, standardize, standardize_confounds, filter, low_pass,
        high_pass for :func:`regionseries.signal.clean`.
    dof_lost : int
        Degrees of freedom used up: censored volumes + confound columns
        (fMRIPrep cosines included) + cosine regressors ``clean`` will add
        (filter "cosine") + 2 for detrending (mean and slope) + the
        approximate number of DCT components a Butterworth filter removes
        over the kept volumes (see ``docs/strategies.md``).
    tsv_path : str
        The confounds file the plan comes from.
    """

    strategy: DenoiseStrategy
    n_volumes: int
    confounds: np.ndarray | None
    confound_names: list[str]
    sample_mask: np.ndarray
    dummy_volumes: np.ndarray
    motion_outliers: np.ndarray
    mean_fd: float
    clean_kwargs: dict[str, Any]
    dof_lost: int
    tsv_path: str = ""

    @property
    def n_kept(self) -> int:
        """Number of kept volumes."""
        return int(self.sample_mask.size)

    @property
    def n_censored(self) -> int:
        """Number of dropped volumes (dummies and motion outliers)."""
        return self.n_volumes - self.n_kept

    def summary(self) -> dict[str, Any]:
        """JSON-serialisable provenance for sidecars and reports."""
        return {
            "ConfoundsFile": self.tsv_path,
            "Strategy": self.strategy.to_dict(),
            "NumberOfVolumes": self.n_volumes,
            "NumberOfDummyVolumes": int(self.dummy_volumes.size),
            "NumberOfMotionOutliers": int(self.motion_outliers.size),
            "NumberOfKeptVolumes": self.n_kept,
            "DummyVolumes": self.dummy_volumes.tolist(),
            "MotionOutliers": self.motion_outliers.tolist(),
            "MeanFramewiseDisplacement": None if math.isnan(self.mean_fd) else self.mean_fd,
            "ConfoundRegressors": list(self.confound_names),
            "DegreesOfFreedomLost": self.dof_lost,
        }


def plan_denoising(
    strategy: DenoiseStrategy | str,
    table: ConfoundsTable | str | os.PathLike,
    n_volumes: int,
    dummy_scans: int | str | None = None,
    t_r: float | None = None,
) -> DenoisingPlan:
    """Check a run's confounds against a strategy and plan its cleaning.

    Parameters
    ----------
    strategy : DenoiseStrategy or str
        A strategy, or a spec for :func:`get_strategy`.
    table : ConfoundsTable, str or os.PathLike
        The run's confounds (a path is read with :func:`read_confounds`).
    n_volumes : int
        Number of volumes of the BOLD run.
    dummy_scans : None, int or "auto", default=None
        Volumes dropped at the start as non-steady-state. None: the volumes
        flagged by fMRIPrep's ``non_steady_state_outlier*`` columns (as
        nilearn); an int N: the first N volumes (fMRIPrep's flags are then
        ignored); "auto": the first N volumes, N being the number of
        ``non_steady_state_outlier*`` columns (0 if there are none).
    t_r : float, optional
        Repetition time in seconds; required when the strategy filters
        (low_pass/high_pass), to count the filter's degrees of freedom.

    Returns
    -------
    DenoisingPlan

    Raises
    ------
    ConfoundsError
        If the table's row count differs from ``n_volumes``, columns the
        strategy needs are missing (all are listed), the JSON sidecar is
        missing while anatomical CompCor needs it, or a selected column has
        n/a values beyond the first row.
    RunExcluded
        If every volume is censored, or the kept volumes are not more than
        the regressors.
    ValueError
        For invalid ``n_volumes``, ``dummy_scans`` or ``t_r``.
    """
    strategy = get_strategy(strategy)
    if not isinstance(table, ConfoundsTable):
        table = read_confounds(table)
    source = str(table.tsv_path)
    if isinstance(n_volumes, bool) or not isinstance(n_volumes, (int, np.integer)) or n_volumes < 1:
        raise ValueError(f"n_volumes must be a positive integer; {n_volumes!r} was provided.")
    n_volumes = int(n_volumes)
    _check_row_count(source, table.n_volumes, n_volumes)
    filtering = strategy.filter is not False and (strategy.low_pass is not None or strategy.high_pass is not None)
    if filtering and (t_r is None or not t_r > 0):
        raise ValueError(
            f"t_r (s) must be a positive number to plan strategy '{strategy.name}', which filters; "
            f"got {t_r!r}."
        )

    data = table.data
    names = _strategy_columns(strategy, table)
    dummies = _dummy_volumes(data, n_volumes, dummy_scans, source)
    censored_by_motion = np.array([], dtype=np.int64)
    if strategy.censors_motion:
        outliers = _motion_outliers(data, strategy.fd_threshold, strategy.std_dvars_threshold)
        if outliers.size:
            censored = np.union1d(outliers, dummies)
            if strategy.min_segment_length > 0:
                censored = _drop_short_segments(censored, n_volumes, strategy.min_segment_length)
            censored_by_motion = np.setdiff1d(censored, dummies).astype(np.int64)
    sample_mask = np.setdiff1d(np.arange(n_volumes), np.union1d(dummies, censored_by_motion)).astype(np.int64)

    n_cosines_from_clean = _clean_cosine_count(strategy, names, n_volumes, t_r)
    n_regressors = len(names) + n_cosines_from_clean
    _check_not_excluded(strategy, source, n_volumes, sample_mask, dummies, censored_by_motion, n_regressors)

    confounds = None
    if names:
        frame = data.loc[:, names].copy()
        _check_numeric(frame, source)
        _fill_first_row(frame)
        nan_rows = np.flatnonzero(frame.isna().to_numpy().any(axis=1))
        if nan_rows.size:
            bad = [name for name in names if frame[name].isna().any()]
            raise ConfoundsError(
                f"{source}: confound columns {bad} have n/a values in rows {nan_rows.tolist()} "
                "(only a missing first row can be filled)."
            )
        confounds = frame.to_numpy(dtype=np.float64)
        _check_finite_in_kept_volumes(confounds, names, sample_mask, source)
        if strategy.demean:
            confounds = confounds - confounds[sample_mask].mean(axis=0)

    fd = _as_float(data[_FD_COLUMN]) if _FD_COLUMN in data.columns else np.array([np.nan])
    mean_fd = float(np.mean(fd[~np.isnan(fd)])) if np.any(~np.isnan(fd)) else math.nan
    dof_lost = (
        (n_volumes - sample_mask.size)
        + n_regressors
        + (2 if strategy.detrend else 0)
        + _butterworth_dof(strategy, sample_mask.size, t_r)
    )
    return DenoisingPlan(
        strategy=strategy,
        n_volumes=n_volumes,
        confounds=confounds,
        confound_names=list(names),
        sample_mask=sample_mask,
        dummy_volumes=dummies,
        motion_outliers=censored_by_motion,
        mean_fd=mean_fd,
        clean_kwargs=strategy.clean_kwargs,
        dof_lost=int(min(dof_lost, n_volumes)),
        tsv_path=source,
    )


def _strategy_columns(strategy: DenoiseStrategy, table: ConfoundsTable) -> list[str]:
    """Sorted confound column names of a strategy (current names).

    Raises ConfoundsError listing every missing column and component.
    """
    source = str(table.tsv_path)
    columns = table.data.columns
    missing = _Missing()
    selected: list[str] = []

    def require(names: list[str], component: str) -> list[str]:
        # unlike nilearn's message, list the names even when all are absent
        absent = [name for name in names if name not in columns]
        missing.columns.extend(absent)
        if not names or len(absent) == len(names):
            missing.components.append(component)
        return [] if absent else list(names)

    for component in strategy.components:
        if component == "motion":
            selected += require(_expand(_MOTION_BASE, strategy.motion), "motion")
        elif component == "wm_csf":
            selected += require(_expand(_WM_CSF_BASE, strategy.wm_csf), "wm_csf")
        elif component == "global_signal":
            selected += require(_expand(_GLOBAL_BASE, strategy.global_signal), "global_signal")
        elif component == "high_pass":
            cosines = _columns_containing(columns, "cosine")
            if not cosines and strategy.high_pass is None:
                warnings.warn(
                    f"{source}: no cosine columns, so the 'high_pass' component of strategy "
                    f"'{strategy.name}' adds no regressor and slow drifts are not removed "
                    "(set high_pass in Hz to filter them in cleaning).",
                    UserWarning,
                    stacklevel=3,
                )
            selected += cosines
        elif component == "compcor":
            if strategy.needs_sidecar and table.metadata is None:
                raise _sidecar_needed_error(table, strategy.compcor)
            names = _compcor_names_current(table, strategy.compcor, strategy.n_compcor)
            if strategy.needs_sidecar:
                _check_sidecar_has_anatomical_entries(table, strategy, names)
            selected += require(names, "compcor")
        elif component == "ica_aroma" and strategy.ica_aroma == "basic":
            aroma = _columns_containing(columns, "aroma")
            if not aroma:
                missing.components.append("ica_aroma")
            selected += aroma
        elif component == "scrub":
            needed = []
            if strategy.fd_threshold is not None:
                needed.append(_FD_COLUMN)
            if strategy.std_dvars_threshold is not None:
                needed.append(_DVARS_COLUMN)
            missing.columns.extend(name for name in needed if name not in columns)
    absent_extras = [name for name in strategy.extra_columns if name not in columns]
    missing.columns.extend(absent_extras)
    selected += [name for name in strategy.extra_columns if name in columns]
    unmatched = []
    for pattern in strategy.extra_column_patterns:
        matches = [name for name in columns if re.fullmatch(pattern, name)]
        if not matches:
            unmatched.append(pattern)
        selected += matches
    if missing or unmatched:
        parts = []
        if missing.columns:
            parts.append(f"missing columns {missing.columns}")
        if missing.components:
            parts.append(f"nothing found for component(s) {missing.components}")
        if unmatched:
            parts.append(f"no column matches pattern(s) {unmatched}")
        raise ConfoundsError(
            f"{source}: strategy '{strategy.name}' cannot be applied: {'; '.join(parts)}. "
            f"Columns in the file: {list(columns)}."
        )
    # Outlier indicator columns censor volumes; they are never regressors.
    return sorted({name for name in selected if _NSS_KEY not in name and _OUTLIER_KEY not in name})


def _check_finite_in_kept_volumes(confounds: np.ndarray, names: list[str], sample_mask: np.ndarray,
                                  source: str) -> None:
    """Refuse infinite values (``inf`` in the file) in the kept volumes of selected columns, by name."""
    kept = confounds[sample_mask]
    bad_columns = np.flatnonzero(~np.isfinite(kept).all(axis=0))
    if bad_columns.size:
        rows = np.unique(sample_mask[np.nonzero(~np.isfinite(kept[:, bad_columns]))[0]])
        raise ConfoundsError(
            f"{source}: confound columns {[names[i] for i in bad_columns]} hold infinite values in rows "
            f"{rows.tolist()} (counted from 0); regressors must be finite numbers."
        )


def _check_sidecar_has_anatomical_entries(table: ConfoundsTable, strategy: DenoiseStrategy,
                                          names: list[str]) -> None:
    """Refuse a sidecar without entries for the anatomical CompCor columns the table has.

    The components are chosen from the sidecar's entries (each gives its
    mask); a sidecar without any, next to a table with such columns, is the
    sidecar's fault (another run's file, or one emptied by a tool) and the
    message names it.
    """
    anatomical = re.compile(r"^[awc]_comp_cor_\d+$")
    if any(anatomical.match(name) for name in names):
        return
    in_table = [name for name in table.data.columns if anatomical.match(name)]
    if not in_table:
        return  # the table has none either: reported as a missing component
    raise ConfoundsError(
        f"{table.json_path}: the JSON sidecar of {table.tsv_path.name} has no entry for the anatomical CompCor "
        f"components (a_comp_cor_*, w_comp_cor_*, c_comp_cor_*) that CompCor '{strategy.compcor}' of strategy "
        f"'{strategy.name}' needs, although the confounds table has {len(in_table)} such columns; each entry "
        "gives a component's mask (is it the sidecar of another run, or emptied by a tool?)."
    )


def _dummy_volumes(data: pd.DataFrame, n_volumes: int, dummy_scans: Any, source: str) -> np.ndarray:
    """Indices of the non-steady-state volumes to drop."""
    nss = _columns_containing(data.columns, _NSS_KEY)
    if dummy_scans is None:
        if not nss:
            return np.array([], dtype=np.int64)
        _check_numeric(data[nss], source)
        flagged = data[nss].fillna(0).to_numpy(dtype=np.float64).sum(axis=1) != 0
        return np.flatnonzero(flagged).astype(np.int64)
    if dummy_scans == "auto":
        return np.arange(min(len(nss), n_volumes), dtype=np.int64)
    if isinstance(dummy_scans, bool) or not isinstance(dummy_scans, (int, np.integer)) or dummy_scans < 0:
        raise ValueError(f"dummy_scans must be None, 'auto' or an integer >= 0; {dummy_scans!r} was provided.")
    return np.arange(min(int(dummy_scans), n_volumes), dtype=np.int64)


def _clean_cosine_count(
    strategy: DenoiseStrategy, names: list[str], n_volumes: int, t_r: float | None
) -> int:
    """Cosine drift regressors ``clean(filter="cosine")`` will add.

    nilearn builds min(n - 1, floor(2 n high_pass t_r)) terms over the full
    run, and uses none when the confounds already hold cosines (fMRIPrep's).
    """
    if strategy.filter != "cosine" or strategy.high_pass is None:
        return 0
    if any("cosine" in name for name in names):
        return 0
    return int(min(n_volumes - 1, math.floor(2 * n_volumes * strategy.high_pass * t_r)))


def _butterworth_dof(strategy: DenoiseStrategy, n_kept: int, t_r: float | None) -> int:
    """Approximate degrees of freedom a Butterworth filter removes.

    The kept series of n volumes has n DCT frequencies spread evenly over
    [0, Nyquist]; the filter removes those outside [high_pass, low_pass].
    """
    if strategy.filter != "butterworth" or (strategy.low_pass is None and strategy.high_pass is None):
        return 0
    nyquist = 0.5 / t_r
    lower = min(strategy.high_pass or 0.0, nyquist)
    upper = min(strategy.low_pass, nyquist) if strategy.low_pass is not None else nyquist
    kept_fraction = max(upper - lower, 0.0) / nyquist
    return int(round(n_kept * (1.0 - kept_fraction)))


def _check_not_excluded(
    strategy: DenoiseStrategy,
    source: str,
    n_volumes: int,
    sample_mask: np.ndarray,
    dummies: np.ndarray,
    motion_outliers: np.ndarray,
    n_regressors: int,
) -> None:
    n_kept = int(sample_mask.size)
    _check_some_volume_kept(
        source, strategy.name, n_volumes, n_kept, dummies.size, motion_outliers.size, _thresholds_text(strategy)
    )
    if n_kept <= n_regressors:
        raise RunExcluded(
            source,
            f"only {n_kept} of {n_volumes} volumes are kept ({dummies.size} non-steady-state, "
            f"{motion_outliers.size} motion outliers{_thresholds_text(strategy)}), which is not "
            f"more than the {n_regressors} regressors.",
            strategy.name,
        )


def _thresholds_text(strategy: DenoiseStrategy) -> str:
    if not strategy.censors_motion:
        return ""
    return _censoring_text(strategy.fd_threshold, strategy.std_dvars_threshold, strategy.min_segment_length)
