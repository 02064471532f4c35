"""BIDS file names, shared by reading the inputs and writing the outputs.

* :class:`BIDSName` builds file names with the canonical entity order of
  BIDS 1.11 (``atlas-`` before ``res-``; the draft ``stat-`` entity of
  BEP012/BEP017 just before ``desc-``), so names pass the BIDS validator.
* :func:`parse_entities` reads the entities of a name as spelled there
  (fMRIPrep inputs, or this app's outputs at the group level).
* :func:`is_bids_label` and :func:`bids_label` check and make labels;
  :func:`bids_uri` writes the BIDS URIs of sidecars' ``Sources``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Canonical entity order of BIDS 1.11 (``rules.entities`` of the schema), with
#: the draft ``stat`` entity (BEP012/BEP017) placed just before ``desc``.
ENTITY_ORDER: tuple[str, ...] = (
    "sub", "tpl", "ses", "cohort", "sample", "task", "tracksys", "acq", "nuc",
    "voi", "ce", "trc", "stain", "rec", "dir", "run", "mod", "echo", "flip",
    "inv", "mt", "part", "proc", "hemi", "space", "split", "recording", "chunk",
    "atlas", "seg", "scale", "res", "den", "label", "stat", "desc",
)

#: Entities of a BOLD run that identify its acquisition; they are copied from
#: the source BOLD into every derived file name.
SOURCE_ENTITIES: tuple[str, ...] = (
    "sub", "ses", "task", "acq", "ce", "rec", "dir", "run", "echo", "part",
)

_LABEL_RE = re.compile(r"^[0-9a-zA-Z]+$")
_KEEP = object()


def is_bids_label(text: str) -> bool:
    """Whether ``text`` is a valid BIDS label or suffix (letters and digits only)."""
    return _LABEL_RE.match(text) is not None


def bids_label(text: str) -> str:
    """Turn free text into a valid BIDS label (letters and digits only).

    Parameters
    ----------
    text : str
        Any text, e.g. ``"Schaefer2018 400Parcels7Networks"`` or ``"simple+gsr"``.

    Returns
    -------
    str
        ``text`` without the characters BIDS forbids in labels.

    Raises
    ------
    ValueError
        If nothing is left (the text held no letter or digit).
    """
    label = re.sub(r"[^0-9a-zA-Z]", "", str(text))
    if not label:
        raise ValueError(f"cannot make a BIDS label out of {text!r}: it has no letters or digits")
    return label


@dataclass(frozen=True)
class BIDSName:
    """A BIDS file name: entities in canonical order, a suffix and an extension.

    Parameters
    ----------
    entities : tuple of (str, str)
        ``(key, label)`` pairs, e.g. ``(("sub", "01"), ("task", "rest"))``.
        They are sorted into :data:`ENTITY_ORDER` on creation.
    suffix : str
        BIDS suffix without underscore, e.g. ``"timeseries"``.
    extension : str
        Extension with its leading dot, e.g. ``".tsv"`` or ``".nii.gz"``.
    datatype : str or None
        Folder under the subject/session folders (``"func"``); ``None`` for
        files that live elsewhere (e.g. ``atlases/``).
    """

    entities: tuple[tuple[str, str], ...]
    suffix: str
    extension: str
    datatype: str | None = "func"

    def __post_init__(self) -> None:
        seen = set()
        for key, value in self.entities:
            if key not in ENTITY_ORDER:
                raise ValueError(f"unknown BIDS entity {key!r} (known: {', '.join(ENTITY_ORDER)})")
            if key in seen:
                raise ValueError(f"BIDS entity {key!r} given twice")
            seen.add(key)
            if not is_bids_label(str(value)):
                raise ValueError(
                    f"invalid BIDS label {value!r} for entity {key!r}: only letters and digits are allowed"
                )
        if not is_bids_label(self.suffix):
            raise ValueError(f"invalid BIDS suffix {self.suffix!r}")
        if not self.extension.startswith("."):
            raise ValueError(f"extension must start with a dot, got {self.extension!r}")
        ordered = tuple(sorted(((k, str(v)) for k, v in self.entities), key=lambda kv: ENTITY_ORDER.index(kv[0])))
        object.__setattr__(self, "entities", ordered)

    @classmethod
    def create(cls, suffix: str, extension: str, datatype: str | None = "func", **entities: Any) -> "BIDSName":
        """Build a name from keyword entities; ``None`` values are left out."""
        pairs = tuple((k, str(v)) for k, v in entities.items() if v is not None)
        return cls(pairs, suffix, extension, datatype)

    @property
    def entity_dict(self) -> dict[str, str]:
        """The entities as an ordered dictionary."""
        return dict(self.entities)

    def get(self, key: str, default: str | None = None) -> str | None:
        """Label of entity ``key`` (or ``default``)."""
        return self.entity_dict.get(key, default)

    @property
    def filename(self) -> str:
        """The file name, e.g. ``sub-01_task-rest_atlas-X_desc-simple_timeseries.tsv``."""
        stem = "_".join(f"{k}-{v}" for k, v in self.entities)
        return f"{stem}_{self.suffix}{self.extension}" if stem else f"{self.suffix}{self.extension}"

    @property
    def relpath(self) -> Path:
        """Path relative to the dataset root (``sub-X/[ses-Y/]<datatype>/<filename>``)."""
        if self.datatype is None:
            return Path(self.filename)
        parts = []
        if "sub" in self.entity_dict:
            parts.append(f"sub-{self.entity_dict['sub']}")
            if "ses" in self.entity_dict:
                parts.append(f"ses-{self.entity_dict['ses']}")
        parts.append(self.datatype)
        return Path(*parts, self.filename)

    def replace(self, suffix: str | None = None, extension: str | None = None,
                datatype: Any = _KEEP, **entities: Any) -> "BIDSName":
        """A copy with some entities changed (``None`` removes an entity).

        ``datatype`` is kept unless given (``None`` for files outside
        subject folders).
        """
        current = self.entity_dict
        for key, value in entities.items():
            if value is None:
                current.pop(key, None)
            else:
                current[key] = str(value)
        return BIDSName(
            tuple(current.items()),
            suffix if suffix is not None else self.suffix,
            extension if extension is not None else self.extension,
            self.datatype if datatype is _KEEP else datatype,
        )


def parse_entities(filename: str | os.PathLike) -> dict[str, str]:
    """Read the ``key-label`` entities of a BIDS file name, in file order.

    Parameters
    ----------
    filename : str or path-like
        A BIDS file name or path, e.g.
        ``sub-01_task-rest_run-1_space-MNI152NLin2009cAsym_desc-preproc_bold.nii.gz``.

    Returns
    -------
    dict
        ``{"sub": "01", "task": "rest", "run": "1", ...}`` with labels exactly
        as spelled in the name (``run-01`` keeps its zero).
    """
    name = Path(filename).name
    stem = name.split(".", 1)[0]
    entities: dict[str, str] = {}
    for part in stem.split("_"):
        if "-" in part:
            key, _, value = part.partition("-")
            entities[key] = value
    return entities


def bids_uri(relpath: str | os.PathLike, dataset: str = "") -> str:
    """A BIDS URI (``bids:<dataset>:<relpath>``); empty dataset = this dataset."""
    return f"bids:{dataset}:{Path(relpath).as_posix()}"
