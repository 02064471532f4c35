"""The group's LINC QC table: every run's ``*_stat-linc_desc-<strategy>_qc.tsv`` rows in one table.

Per task, space and strategy, :func:`linc_table` stacks the participant
level's LINC QC rows (one per run and atlas) with the group's exclusion
columns (:func:`~.exclusions.exclusion_reasons`, the same as the group QC
table's), and gives a row to every run without a LINC table (it failed at the
participant level, or was processed without ``--linc-qc``) with its status
and reason, so that no run is missing from the table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from .._version import __version__
from ..bids.names import BIDSName
from ..bids.outputs import atomic_write_json, atomic_write_tsv
from ..core.linc_qc import COLUMN_DESCRIPTIONS
from .exclusions import RUN_ENTITIES, exclusion_reasons
from .options import GroupOptions
from .reading import FolderNames

__all__ = ["GROUP_COLUMN_DESCRIPTIONS", "linc_table", "write_linc_table"]

#: Columns the group level adds to the participants' rows.
GROUP_COLUMN_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "excluded": {"Description": "Whether the group level leaves the run out (its exclusion criteria, as in the "
                                "group QC table)."},
    "exclusion_reason": {"Description": "Every exclusion criterion the run meets, separated by '; '."},
    "bold": {"Description": "The BOLD series of the run (BIDS URI)."},
}


def _linc_file_name(record: Mapping) -> str:
    return BIDSName.create("qc", ".tsv", None, **record["_entities"], stat="linc").filename


def _linc_path(record: Mapping) -> Path | None:
    """The run's participant-level LINC QC table, or None when there is none."""
    name = _linc_file_name(record)
    return Path(record["_folder"], name) if name in record.get("_files", ()) else None


def _may_have_linc_tables(members: Sequence[Mapping]) -> bool:
    """Whether a file beside a record is named like a LINC QC table (``*_stat-linc_*_qc.tsv``).

    Each set of names is looked at once: the records of a study share them
    (:class:`~.reading.FolderNames`), so this is much quicker than making
    every record's LINC file name.
    """
    seen = set()
    for record in members:
        files = record.get("_files", ())
        names = files.keys if isinstance(files, FolderNames) else files
        if id(names) in seen:
            continue
        seen.add(id(names))
        if any("_stat-linc_" in name and name.endswith("_qc.tsv") for name in names):
            return True
    return False


def linc_table(members: Sequence[Mapping], options: GroupOptions) -> pd.DataFrame | None:
    """The LINC rows of the records of one task, space and strategy; None when no run has a LINC table.

    Parameters
    ----------
    members : sequence of mappings
        QC records (:func:`~.reading.collect_qc_records`) of one group.
    options : GroupOptions
        The exclusion criteria.
    """
    if not _may_have_linc_tables(members):  # most studies are run without --linc-qc
        return None
    paths = [_linc_path(record) for record in members]
    if all(path is None for path in paths):
        return None
    frames = []
    for record, path in zip(members, paths):
        reasons = exclusion_reasons(record, options)
        group_columns = {"excluded": bool(reasons), "exclusion_reason": "; ".join(reasons) if reasons else None,
                         "bold": record.get("Bold")}
        if path is not None:
            rows = pd.read_csv(path, sep="\t", na_values=["n/a"], keep_default_na=False,
                               dtype={key: str for key in (*RUN_ENTITIES, "strategy", "atlas", "status", "reason")})
        else:
            entities = record["_entities"]
            row: dict[str, Any] = {key: entities[key] for key in RUN_ENTITIES if key in entities}
            row.update({"strategy": entities.get("desc"), "status": record.get("Status"),
                        "reason": record.get("Reason")})
            rows = pd.DataFrame([row])
        frames.append(rows.assign(**group_columns))
    table = pd.concat(frames, ignore_index=True)
    leading = [c for c in (*RUN_ENTITIES, "strategy", "atlas", "status", "reason", "excluded", "exclusion_reason")
               if c in table.columns]
    table = table[leading + [c for c in table.columns if c not in leading]]
    for key in ("sub", "ses", "run"):
        if key in table.columns:
            table[key] = table[key].astype("string")
    for count in ("num_dummy_volumes", "num_censored_volumes", "num_retained_volumes"):
        if count in table.columns:  # n/a for runs without a LINC table, integers for the others
            table[count] = table[count].astype("Int64")
    order = [c for c in (*RUN_ENTITIES, "atlas") if c in table.columns]
    return table.sort_values(order, na_position="first").reset_index(drop=True)


def write_linc_table(path, table: pd.DataFrame, options: GroupOptions) -> list:
    """Write the group LINC table and its sidecar atomically; returns the two paths."""
    atomic_write_tsv(path, table)
    descriptions = {**COLUMN_DESCRIPTIONS, **GROUP_COLUMN_DESCRIPTIONS}
    atomic_write_json(path.with_suffix(".json"), {
        "Description": "LINC-style QC (XCP-D's desc-linc_qc.tsv measures) of every run, one row per run and atlas; "
                       "runs without a participant-level LINC table (failed, or run without --linc-qc) have one "
                       "row with their status and reason.",
        **{column: descriptions[column] for column in table.columns if column in descriptions},
        "ExclusionCriteria": options.criteria(),
        "Software": {"Name": "regionseries", "Version": __version__},
        "CommandLine": options.command_line,
    })
    return [path, path.with_suffix(".json")]
