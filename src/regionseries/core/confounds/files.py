"""Finding the confounds files of a BOLD file, next to it on disk.

:func:`find_confounds_file` looks in the BOLD file's directory for the
``*_desc-confounds_timeseries.tsv`` (or ``_regressors.tsv``) named with a
subset of the BOLD file's own entities (nilearn's search: a file named with
another run's entities is never taken), then for the fMRIPrep < 1.2 name
``<source>_bold_confounds.tsv``; none or more than one is a
:class:`~.errors.ConfoundsError`. :func:`_find_tedana_files` does the same
search for tedana's ``*_desc-ICA_mixing.tsv`` and
``*_desc-tedana_metrics.tsv``. Only file names are looked at; nothing is read.
"""

from __future__ import annotations

import itertools
import os
import re
from pathlib import Path

from .errors import ConfoundsError

__all__ = ["find_confounds_file"]

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
