"""Reading the participant level's outputs: QC records, time-series sidecars, relmat TSVs and atlas tables.

Nothing here decides anything: :func:`collect_qc_records` lists the runs,
:func:`read_relmat` parses one matrix, :func:`atlas_centroids` gives the
regions' centroids for the QC-FC distances.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Mapping, Sequence, Set
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..bids.names import parse_entities
from ..bids.relmat import MalformedMatrix, read_relmat, read_relmat_stored  # noqa: F401 - read_relmat re-exported
from .parallel import _chunks, _in_order

LOGGER = logging.getLogger("regionseries")
_JSON_DECODER = json.JSONDecoder()


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _func_folders(output_dir: Path) -> list[Path]:
    """Every folder named ``func`` under the ``sub-*`` folders of ``output_dir``, sorted."""
    folders = []
    for participant in sorted(output_dir.glob("sub-*")):
        if not participant.is_dir():
            continue
        for root, dirs, _ in os.walk(participant):
            dirs.sort()
            if os.path.basename(root) == "func":
                folders.append(Path(root))
    return sorted(folders)


#: What the group level uses of a ``*_qc.json`` record (the rest is not kept in
#: memory: 28 KB per record, 0.5 GB for 10,000 participants with 2 strategies).
RECORD_KEYS = ("Status", "Reason", "Bold", "MeanFramewiseDisplacement", "NumberOfVolumes", "NumberOfVolumesKept",
               "NumberOfVolumesDiscardedByNonsteadyStatesDetector", "NumberOfVolumesDiscardedByMotionScrubbing",
               "DegreesOfFreedomLost", "Concatenated", "NumberOfRunsConcatenated")

#: A top-level key of :data:`RECORD_KEYS` in a JSON text indented by 2 spaces
#: (``json.dumps(indent=2)``, as the participant level writes records): on its
#: own line, 2 spaces in. Nested keys are further in, and a JSON string cannot
#: hold a line break, so in that layout these are the top-level keys and nothing else.
_RECORD_KEY_LINES = re.compile(r'\n  "(' + "|".join(RECORD_KEYS) + r')": ')


def _record_fields(text: str) -> dict:
    """The :data:`RECORD_KEYS` of a ``*_qc.json`` record's text.

    A record in the layout the participant level writes (an object indented
    by 2 spaces: ``{`` then a key 2 spaces in on the next line, ``}`` alone on
    the last line) has only these values decoded (5x faster than the whole
    JSON for a 15 KB record, the same values); any other text is decoded
    whole. A record broken in the middle of a value the group level does not
    use is not noticed in the first case (a truncated one is: its last line
    is not ``}``).

    Raises
    ------
    ValueError
        Not JSON (:class:`json.JSONDecodeError`), or not a JSON object.
    """
    if text.startswith('{\n  "') and text.rstrip(" \t\r\n").endswith("\n}"):
        return {match.group(1): _JSON_DECODER.raw_decode(text, match.end())[0]
                for match in _RECORD_KEY_LINES.finditer(text)}
    content = json.loads(text)
    if not isinstance(content, dict):
        raise ValueError("not a JSON object")
    return {key: content[key] for key in RECORD_KEYS if key in content}


class CompactMapping(Mapping):
    """A read-only mapping stored as two tuples: keys (shared by many mappings) and values.

    A QC record and its entities are kept as these: 150-220 bytes where a
    dict takes 350-650, for each of the 20,000 records of a 10,000-participant
    study with 2 strategies.
    """

    __slots__ = ("_keys", "_values")

    def __init__(self, keys: tuple[str, ...], values: tuple):
        self._keys = keys
        self._values = values

    def __getitem__(self, key):
        try:
            return self._values[self._keys.index(key)]
        except ValueError:
            raise KeyError(key) from None

    def get(self, key, default=None):
        try:
            return self._values[self._keys.index(key)]
        except ValueError:
            return default

    def __contains__(self, key) -> bool:
        return key in self._keys

    def __iter__(self):
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict(zip(self._keys, self._values))!r})"

    def __reduce__(self):
        return type(self), (self._keys, self._values)


#: Stands for the folder's prefix in the key of a file name (:class:`FolderNames`): NUL, which no file name holds.
_PREFIX_MARK = "\0"


class FolderNames(Set):
    """The names of the files of one folder, as a set: the participant's prefix and each name's key.

    The prefix is ``sub-<label>_`` (``sub-<label>_ses-<label>_`` in a
    session's folder); a name's key is the name with its first prefix
    replaced by :data:`_PREFIX_MARK`. The keys (``\0task-rest_..._qc.json``,
    ``.\0task-rest_..._relmat.tsv.f64`` for a hidden file) are the same in
    every participant's folder of a study, so one frozenset of them serves
    every folder (:func:`collect_qc_records` shares them): what a folder
    keeps is its prefix.
    """

    __slots__ = ("prefix", "keys")

    def __init__(self, prefix: str, keys: frozenset[str]):
        self.prefix = prefix
        self.keys = keys

    @classmethod
    def of(cls, folder: Path, names: Sequence[str], shared: dict) -> FolderNames:
        """The names of ``folder``; ``shared`` maps each frozenset of keys already made to itself."""
        parent = folder.parent
        if parent.name.startswith("ses-") and parent.parent.name.startswith("sub-"):
            prefix = f"{parent.parent.name}_{parent.name}_"
        else:
            prefix = f"{parent.name}_" if parent.name.startswith("sub-") else ""
        made = cls(prefix, frozenset())
        keys = frozenset(made.key(name) for name in names)
        made.keys = shared.setdefault(keys, keys)
        return made

    def key(self, name: str) -> str:
        """``name`` with its first prefix replaced by the mark (``name`` itself without the prefix)."""
        return name.replace(self.prefix, _PREFIX_MARK, 1) if self.prefix else name

    def name(self, key: str) -> str:
        """The file name of ``key``."""
        return key.replace(_PREFIX_MARK, self.prefix, 1)

    def __contains__(self, name) -> bool:
        return isinstance(name, str) and self.key(name) in self.keys

    def __iter__(self):
        return (self.name(key) for key in self.keys)

    def __len__(self) -> int:
        return len(self.keys)

    def __reduce__(self):
        return type(self), (self.prefix, self.keys)


class SidecarPaths(Mapping):
    """The time-series sidecars of one run and strategy, by atlas label: paths made when asked for.

    Holds the folder, its :class:`FolderNames` and a mapping of atlas label
    to the key of the sidecar's name, which the records of every participant share.
    """

    __slots__ = ("folder", "names", "by_atlas")

    def __init__(self, folder: str, names: FolderNames, by_atlas: Mapping[str, str]):
        self.folder = folder
        self.names = names
        self.by_atlas = by_atlas

    def __getitem__(self, atlas: str) -> Path:
        return Path(self.folder, self.names.name(self.by_atlas[atlas]))

    def __iter__(self):
        return iter(self.by_atlas)

    def __len__(self) -> int:
        return len(self.by_atlas)


def collect_qc_records(output_dir: Path, participants: Sequence[str] | None = None,
                       executor=None) -> list[Mapping]:
    """Every per-run, per-strategy QC record (``*_qc.json``) of the participant level.

    Only :data:`RECORD_KEYS` are kept, with the record's entities
    (``_entities``), its folder (``_folder``, a string), the time-series
    sidecars of its run and strategy (``_sidecars``: atlas label to the key
    of the file name, see :class:`FolderNames`; :func:`_series_sidecars`
    gives the paths) and the names of the files beside it (``_files``, a
    :class:`FolderNames`), so that later steps neither list the folder again
    nor ask the file system whether a matrix exists. Records are
    :class:`CompactMapping` objects whose strings, entity names, sidecar
    names and file-name sets are shared wherever they are equal: a few
    hundred bytes per record. With ``executor``, the folders are read by its
    processes, 64 at a time.
    """
    records = []
    folders = _func_folders(output_dir)
    chosen = list(participants) if participants else None
    shared: dict = {}
    # In this process every chunk shares one table; a reader process's records are shared again here.
    tasks = ((chunk, chosen) if executor is not None else (chunk, chosen, shared) for chunk in _chunks(folders, 64))
    for chunk_records, warnings in _in_order(executor, _folder_records, tasks):
        records.extend(chunk_records if executor is None else (_shared_record(r, shared) for r in chunk_records))
        for warning in warnings:
            LOGGER.warning("%s", warning)
    return records


def _shared(value, shared: dict):
    """``value``, or the equal value already in ``shared`` (strings, tuples, frozensets of names)."""
    return shared.setdefault(value, value)


def _shared_names(names: Mapping[str, str], shared: dict) -> CompactMapping:
    """A :class:`CompactMapping` equal to ``names`` (atlas label to the key of a file name), shared."""
    keys, values = tuple(names), tuple(names.values())
    return shared.setdefault(("names", keys, values), CompactMapping(keys, values))


def _shared_record(record: CompactMapping, shared: dict) -> CompactMapping:
    """``record`` with its keys, entities, sidecar names and file-name set replaced by equal shared ones."""
    values = dict(zip(record._keys, record._values))
    entities = values["_entities"]
    values["_entities"] = CompactMapping(_shared(entities._keys, shared),
                                         tuple(_shared(v, shared) for v in entities._values))
    files = values["_files"]
    values["_files"] = FolderNames(files.prefix, _shared(files.keys, shared))
    values["_sidecars"] = _shared_names(values["_sidecars"], shared)
    for key in ("Status", "Reason"):
        if isinstance(values.get(key), str):
            values[key] = _shared(values[key], shared)
    return CompactMapping(_shared(record._keys, shared), tuple(values.values()))


def _folder_records(folders: Sequence[Path], participants: Sequence[str] | None, shared: dict | None = None
                    ) -> tuple[list[CompactMapping], list[str]]:
    """The QC records of some ``func`` folders (see :func:`collect_qc_records`), and the warnings.

    ``shared`` maps the strings, tuples and name sets already made to
    themselves (see :func:`_shared`); a new table by default.
    """
    records = []
    warnings = []
    shared = {} if shared is None else shared
    for folder in folders:
        names = sorted(os.listdir(folder))
        folder_text = str(folder)
        files = FolderNames.of(folder, names, shared)
        layout = shared.get(("layout", files.keys))
        if layout is None:  # once per layout of a folder, not once per folder
            layout = shared.setdefault(("layout", files.keys), _layout_sidecars(files.keys, shared))
        for name in names:
            if not name.endswith("_qc.json"):
                continue
            path = folder / name
            entities = parse_entities(name)
            if "stat" in entities:  # the sidecar of a LINC QC table (stat-linc), not a record
                continue
            if participants and entities.get("sub") not in participants:
                continue
            try:
                content = _record_fields(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                warnings.append(f"cannot read {path}: {exc}")
                continue
            for key in ("Status", "Reason"):
                if isinstance(content.get(key), str):
                    content[key] = _shared(content[key], shared)
            keys = (*content, "_folder", "_entities", "_sidecars", "_files")
            values = (*content.values(), folder_text,
                      CompactMapping(_shared(tuple(sys.intern(k) for k in entities), shared),
                                     tuple(_shared(v, shared) for v in entities.values())),
                      layout[files.key(name)], files)
            records.append(CompactMapping(_shared(keys, shared), values))
    return records, warnings


def _layout_sidecars(keys: frozenset[str], shared: dict) -> dict[str, CompactMapping]:
    """For the key of each ``*_qc.json`` name of a folder (see :class:`FolderNames`), the keys of the names
    of its run's and strategy's time-series sidecars, by atlas label.

    Decided on the keys alone, so that it holds for every folder with these
    keys: the prefix ends with ``_`` and has only ``sub`` and ``ses``, so a
    key with the mark read as ``_`` ends like its name, and two keys have the
    same entities but ``atlas`` and ``desc`` exactly when their names do.
    """
    sidecars: dict[tuple, dict[str, str]] = {}
    for key in sorted(keys):
        text = key.replace(_PREFIX_MARK, "_")
        if text.endswith("_timeseries.json"):
            other = parse_entities(text)
            if "atlas" in other:
                stem = tuple((k, v) for k, v in other.items() if k not in ("atlas", "desc"))
                sidecars.setdefault((stem, other.get("desc")), {})[other["atlas"]] = key
    layout = {}
    for key in keys:
        text = key.replace(_PREFIX_MARK, "_")
        if text.endswith("_qc.json"):
            entities = parse_entities(text)
            stem = tuple((k, v) for k, v in entities.items() if k != "desc")
            layout[key] = _shared_names(sidecars.get((stem, entities.get("desc")), {}), shared)
    return layout


def _series_sidecar_path(record: Mapping, atlas: str) -> str | None:
    """The time-series sidecar of the record's run and strategy for ``atlas`` (a string: lighter than a
    Path, to keep or to send to a reader process), or None."""
    key = record["_sidecars"].get(atlas)
    return None if key is None else os.path.join(record["_folder"], record["_files"].name(key))


def _series_sidecars(record: Mapping) -> SidecarPaths:
    """Time-series sidecars of the record's run and strategy, by atlas label (paths)."""
    return SidecarPaths(record["_folder"], record["_files"], record["_sidecars"])


def _relmat_path_of(record: Mapping, atlas: str, stat: str, names: dict) -> str | None:
    """The ``stat`` matrix of the record's run and strategy for ``atlas`` (a string), or None when the run has none.

    ``names`` (a dict the caller keeps) remembers each matrix's name key
    (:class:`FolderNames`) by its time-series sidecar's: the same for every
    participant of a study, so the name is derived once, not per record.
    """
    sidecar = record["_sidecars"].get(atlas)
    if sidecar is None:
        return None
    files = record["_files"]
    matrix = names.get((sidecar, stat))
    if matrix is None:
        matrix = names[(sidecar, stat)] = files.key(_relmat_path(Path(files.name(sidecar)), stat).name)
    return os.path.join(record["_folder"], files.name(matrix)) if matrix in files.keys else None


def _relmat_path(series_sidecar: Path, stat: str) -> Path:
    """The ``stat`` matrix beside a time-series sidecar: ``…_desc-<d>_timeseries.json`` → ``…_stat-<stat>_desc-<d>_relmat.tsv``."""
    name = series_sidecar.name
    head, found, desc = name.removesuffix("_timeseries.json").rpartition("_desc-")
    if found and "_" not in desc and name.endswith("_timeseries.json"):  # desc is the last entity, as written
        return series_sidecar.with_name(f"{head}_stat-{stat}_desc-{desc}_relmat.tsv")
    name = name.replace("_timeseries.json", "_relmat.tsv")
    desc = parse_entities(series_sidecar).get("desc")
    return series_sidecar.with_name(name.replace(f"_desc-{desc}_", f"_stat-{stat}_desc-{desc}_"))


def atlas_centroids(output_dir: Path, series_sidecar: dict) -> tuple[list[str], np.ndarray] | None:
    """Region names and centroids (mm) of the atlas a time series used, from ``atlases/``."""
    files = (series_sidecar.get("Atlas") or {}).get("Files") or {}
    table_uri = files.get("table")
    if not table_uri:
        return None
    relative = table_uri.split(":", 2)[-1]
    path = output_dir / relative
    if not path.exists():
        return None
    table = pd.read_csv(path, sep="\t")
    if not {"x", "y", "z", "name"} <= set(table.columns):
        return None
    return [str(n) for n in table["name"]], table[["x", "y", "z"]].to_numpy(float)


#: The two lists of a time-series sidecar the QC table counts (``"Key": [``).
_NA_KEYS = {key: re.compile(rf'"{key}"\s*:\s*(?=\[)') for key in ("RegionsBelowCoverage", "RegionsWithoutVoxels")}


def _sidecar_lists(text: str) -> dict[str, Any]:
    """``RegionsBelowCoverage`` and ``RegionsWithoutVoxels`` of a time-series sidecar's text.

    Decodes only these two lists when each key occurs once in the text (as
    in every sidecar the participant level writes: 6x faster than decoding
    the whole 18 KB sidecar of a 400-region atlas); otherwise the whole JSON.
    """
    found: dict[str, Any] = {}
    for key, pattern in _NA_KEYS.items():
        if text.count(f'"{key}"') > 1:
            return json.loads(text)
        match = pattern.search(text)
        if match:
            found[key] = _JSON_DECODER.raw_decode(text, match.end())[0]
    return found


def _regions_na(paths: Sequence[str | os.PathLike | None]) -> list[int | None]:
    """Regions set to n/a (below coverage or without voxels) from each time-series sidecar."""
    counts: list[int | None] = []
    for path in paths:
        if path is None:
            counts.append(None)
            continue
        try:
            with open(path, encoding="utf-8") as handle:
                content = _sidecar_lists(handle.read())
            below = content.get("RegionsBelowCoverage", [])
            counts.append(len(below) + len([n for n in content.get("RegionsWithoutVoxels", []) if n not in below]))
        except (OSError, ValueError, AttributeError, TypeError):
            counts.append(None)
    return counts


def _read_run_matrix(path: Path, names: list[str] | None,
                     failures: list[tuple[str, str]]) -> tuple[list[str], int, np.ndarray, bool] | None:
    """One run's region names, its matrix as stored (layout and values) and whether they came from the
    binary copy (see :func:`regionseries.bids.relmat.read_relmat_stored`), or None (and a failure) when
    unreadable or over other regions than ``names``."""
    try:
        these, layout, stored, from_copy = read_relmat_stored(path)
    except MalformedMatrix as exc:
        failures.append((str(path), f"cannot read: {exc.reason}"))
        return None
    except (OSError, ValueError) as exc:
        failures.append((str(path), f"cannot read: {exc}"))
        return None
    if names is not None and these != names:
        failures.append((str(path), f"its regions differ from the other runs' ({len(these)} vs {len(names)})"))
        return None
    return these, layout, stored, from_copy
