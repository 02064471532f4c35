"""Reading one fMRIPrep confounds file: :func:`read_confounds`.

:func:`read_confounds` loads a ``*_desc-confounds_timeseries.tsv`` (or an
older ``*_regressors.tsv`` / ``*_bold_confounds.tsv``) and its JSON
sidecar into a :class:`ConfoundsTable`, with the column names of older
fMRIPrep releases normalised to the current ones: CamelCase names of
fMRIPrep < 1.2, and the anatomical CompCor components that fMRIPrep < 21
wrote for all masks as ``a_comp_cor_*``, split by the sidecar's ``Mask``
field into ``a_``/``w_``/``c_comp_cor_*``. A TSV that cannot be read as a
table (missing, empty, no header row, repeated column names, ragged rows)
is a :class:`~.errors.ConfoundsError` naming the file; a sidecar that
cannot be used is recorded in ``ConfoundsTable.sidecar_problem`` and fails
only the strategies that need it. Finding which file belongs to a BOLD run
is :mod:`.files`' job.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ...bids import readable
from .errors import ConfoundsError
from .vocabulary import _ACOMPCOR_PREFIX_BY_MASK, _DVARS_COLUMN, _FD_COLUMN

__all__ = ["ConfoundsTable", "read_confounds", "NAMING_CAMELCASE", "NAMING_COMBINED_ACOMPCOR", "NAMING_CURRENT"]

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
        raise ConfoundsError(  # nilearn's words first, then why
            f"{tsv_path}: The confound file contains no header. Is this an old version fMRIprep "
            f"output? Its first line starts with the number {header[0]!r}; fMRIPrep confounds "
            "files name their columns."
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
