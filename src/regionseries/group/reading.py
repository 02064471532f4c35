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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..bids.names import parse_entities
from ..bids.relmat import MalformedMatrix, read_relmat, read_relmat_stored  # noqa: F401 - read_relmat re-exported
from .parallel import _chunks, _in_order

LOGGER = logging.getLogger("regionseries")


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


def collect_qc_records(output_dir: Path, participants: Sequence[str] | None = None, executor=None) -> list[dict]:
    """Every per-run, per-strategy QC record (``*_qc.json``) of the participant level.

    Only :data:`RECORD_KEYS` are kept. Each folder is listed once: a record
    also gets the time-series sidecars of its run and strategy
    (``_sidecars``, by atlas label) and the names of the files beside it
    (``_files``), so that later steps neither list the folder again nor ask
    the file system whether a matrix exists. With ``executor``, the folders
    are read by its processes, 64 at a time.
    """
    records = []
    folders = _func_folders(output_dir)
    chosen = list(participants) if participants else None
    for chunk_records, warnings in _in_order(executor, _folder_records, ((chunk, chosen) for chunk in _chunks(folders, 64))):
        records.extend(chunk_records)
        for warning in warnings:
            LOGGER.warning("%s", warning)
    return records


def _folder_records(folders: Sequence[Path], participants: Sequence[str] | None) -> tuple[list[dict], list[str]]:
    """The QC records of some ``func`` folders (see :func:`collect_qc_records`), and the warnings."""
    records = []
    warnings = []
    for folder in folders:
        names = sorted(os.listdir(folder))
        sidecars: dict[tuple, dict[str, Path]] = {}
        for name in names:
            if name.endswith("_timeseries.json"):
                other = parse_entities(name)
                if "atlas" in other:
                    stem = tuple((k, v) for k, v in other.items() if k not in ("atlas", "desc"))
                    sidecars.setdefault((stem, other.get("desc")), {})[other["atlas"]] = folder / name
        files = frozenset(names)
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
                content = _read_json(path)
            except (OSError, ValueError) as exc:
                warnings.append(f"cannot read {path}: {exc}")
                continue
            if not isinstance(content, dict):
                warnings.append(f"cannot read {path}: not a JSON object")
                continue
            record = {key: content[key] for key in RECORD_KEYS if key in content}
            stem = tuple((k, v) for k, v in entities.items() if k != "desc")
            record["_path"] = path
            record["_entities"] = entities
            record["_sidecars"] = sidecars.get((stem, entities.get("desc")), {})
            record["_files"] = files
            records.append(record)
    return records, warnings


def _series_sidecars(record: dict) -> dict[str, Path]:
    """Time-series sidecars of the record's run and strategy, by atlas label."""
    if "_sidecars" in record:
        return record["_sidecars"]
    path: Path = record["_path"]
    entities = dict(record["_entities"])
    strategy = entities.get("desc")
    stem_entities = {k: v for k, v in entities.items() if k != "desc"}
    found = {}
    for candidate in path.parent.glob("*_timeseries.json"):
        other = parse_entities(candidate)
        if other.get("desc") != strategy or "atlas" not in other:
            continue
        if {k: v for k, v in other.items() if k not in ("atlas", "desc")} != stem_entities:
            continue
        found[other["atlas"]] = candidate
    return found


def _relmat_path(series_sidecar: Path, stat: str) -> Path:
    name = series_sidecar.name.replace("_timeseries.json", "_relmat.tsv")
    entities = parse_entities(series_sidecar)
    desc = entities.get("desc")
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
_JSON_DECODER = json.JSONDecoder()


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


def _regions_na(paths: Sequence[Path | None]) -> list[int | None]:
    """Regions set to n/a (below coverage or without voxels) from each time-series sidecar."""
    counts: list[int | None] = []
    for path in paths:
        if path is None:
            counts.append(None)
            continue
        try:
            content = _sidecar_lists(path.read_text(encoding="utf-8"))
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
