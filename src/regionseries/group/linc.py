"""The group's LINC QC table: every run's ``*_stat-linc_desc-<strategy>_qc.tsv`` rows in one table.

Per task, space and strategy, :func:`linc_table` stacks the participant
level's LINC QC rows (one per run and atlas) with the group's exclusion
columns (:func:`~.exclusions.exclusion_reasons`, the same as the group QC
table's), and gives a row to every run without a LINC table (it failed at the
participant level, or was processed without ``--linc-qc``) with its status
and reason, so that no run is missing from the table.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
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


def _linc_path(record: Mapping, keys: dict | None = None) -> Path | None:
    """The run's participant-level LINC QC table, or None when there is none.

    ``keys`` (a dict the caller keeps) remembers each file name with the
    participant's prefix marked (:class:`~.reading.FolderNames`): the same for
    every participant of a study, so the name is made once, not per record.
    """
    files = record.get("_files", ())
    entities = record["_entities"]
    if keys is not None and isinstance(files, FolderNames) and files.prefix in (
            f"sub-{entities.get('sub')}_", f"sub-{entities.get('sub')}_ses-{entities.get('ses')}_"):
        signature = (files.prefix.count("_"), *(item for item in entities.items() if item[0] != "sub"))
        key = keys.get(signature)
        if key is None:
            key = keys[signature] = files.key(_linc_file_name(record))
        return Path(record["_folder"], files.name(key)) if key in files.keys else None
    name = _linc_file_name(record)
    return Path(record["_folder"], name) if name in files else None


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


def linc_table(members: Sequence[Mapping], options: GroupOptions,
               failures: list[tuple[str, str]] | None = None) -> pd.DataFrame | None:
    """The LINC rows of the records of one task, space and strategy; None when no run has a LINC table.

    Parameters
    ----------
    members : sequence of mappings
        QC records (:func:`~.reading.collect_qc_records`) of one group.
    options : GroupOptions
        The exclusion criteria.
    failures : list or None
        Where a LINC table that cannot be read is reported, as ``(path,
        reason)``; its run then gets the row of a run without a table. None
        raises :class:`ValueError` instead.

    Notes
    -----
    The tables are parsed with the :mod:`csv` module and the tables sharing a
    header are handed to pandas as one text: one ``read_csv`` per header
    instead of one per run (at 10,000 participants, 20,000 calls took 40 s
    and 500 MB). The table is the same as stacking the runs' tables one by
    one: the same parser infers the dtypes, and the rows keep the runs'
    order before the final sort. The columns are those of the tables, in the
    order the runs bring them, then ``bold``; stacking one by one had put
    ``bold`` before the measures when the first run had no table.
    """
    if not _may_have_linc_tables(members):  # most studies are run without --linc-qc
        return None
    keys: dict = {}
    paths = [_linc_path(record, keys) for record in members]
    if all(path is None for path in paths):
        return None
    by_header: dict[tuple[str, ...], _RowsOfHeader] = {}
    without_table: list[dict[str, Any]] = []
    without_table_members: list[int] = []
    column_order: dict[str, None] = {}  # the tables' columns in the order the runs bring them
    for position, (record, path) in enumerate(zip(members, paths)):
        if path is not None:
            try:
                header, rows = _read_linc_rows(path)
            except (OSError, ValueError) as exc:
                if failures is None:
                    raise ValueError(f"{path}: cannot read the LINC QC table: {exc}") from None
                failures.append((str(path), f"cannot read the LINC QC table: {exc}"))
            else:
                group = by_header.get(header)
                if group is None:
                    group = by_header[header] = _RowsOfHeader(header)
                    column_order.update(dict.fromkeys(header))
                group.add(position, rows)
                continue
        entities = record["_entities"]
        row: dict[str, Any] = {key: entities[key] for key in RUN_ENTITIES if key in entities}
        row.update({"strategy": entities.get("desc"), "status": record.get("Status"),
                    "reason": record.get("Reason")})
        without_table.append(row)
        without_table_members.append(position)
    frames = [group.frame() for group in by_header.values()]
    member_of_row = [group.members() for group in by_header.values()]
    if without_table:
        frames.append(pd.DataFrame(without_table))
        member_of_row.append(np.asarray(without_table_members, dtype=np.intp))
    table = pd.concat(frames, ignore_index=True)
    member = np.concatenate(member_of_row)
    in_run_order = np.argsort(member, kind="stable")  # rows of one run stay in their table's order
    table = table.take(in_run_order).reset_index(drop=True)
    member = member[in_run_order]
    reasons = [exclusion_reasons(record, options) for record in members]
    table["excluded"] = np.array([bool(reasons[k]) for k in member], dtype=bool)
    table["exclusion_reason"] = pd.Series(["; ".join(reasons[k]) if reasons[k] else None for k in member],
                                          dtype=object)
    table["bold"] = pd.Series([members[k].get("Bold") for k in member], dtype=object)
    group_columns = list(GROUP_COLUMN_DESCRIPTIONS)
    columns = [*column_order, *(c for c in table.columns if c not in column_order and c not in group_columns)]
    table = table[columns + group_columns]  # the BOLD last, whichever run comes first
    return _ordered_and_typed(table)


def _ordered_and_typed(table: pd.DataFrame) -> pd.DataFrame:
    """The stacked rows with the run's entities and status first, counts as nullable integers, sorted by run."""
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


#: Columns read as text whatever their values look like (``run-01`` stays ``01``).
_TEXT_COLUMNS = (*RUN_ENTITIES, "strategy", "atlas", "status", "reason")


def _read_linc_rows(path: Path) -> tuple[tuple[str, ...], list[list[str]]]:
    """The header and the rows of one LINC QC table, as text.

    Raises
    ------
    ValueError
        The file is empty, not UTF-8 text, has a header but no row, or a
        row has another number of fields than the header (a truncated or
        edited file).
    """
    # utf-8-sig: a byte-order mark is not part of the first column's name (pandas drops it too)
    with open(path, encoding="utf-8-sig", newline="") as handle:
        try:
            lines = [row for row in csv.reader(handle, delimiter="\t") if row]  # pandas skips blank lines
        except csv.Error as exc:  # e.g. a field over csv's size limit (128 KiB)
            raise ValueError(str(exc)) from None
    if not lines:
        raise ValueError("the file is empty")
    header, rows = tuple(lines[0]), lines[1:]
    if not rows:
        raise ValueError("it has a header but no row")
    for number, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise ValueError(f"row {number} has {len(row)} fields, the header {len(header)}")
    return header, rows


class _RowsOfHeader:
    """The rows of the LINC tables that share one header, and the run each comes from."""

    def __init__(self, header: tuple[str, ...]):
        self.header = header
        self.text = io.StringIO()
        self.writer = csv.writer(self.text, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        self.writer.writerow(header)
        self.positions: list[int] = []
        self.counts: list[int] = []

    def add(self, position: int, rows: list[list[str]]) -> None:
        self.writer.writerows(rows)
        self.positions.append(position)
        self.counts.append(len(rows))

    def frame(self) -> pd.DataFrame:
        self.text.seek(0)
        return pd.read_csv(self.text, sep="\t", na_values=["n/a"], keep_default_na=False,
                           dtype={key: str for key in _TEXT_COLUMNS})

    def members(self) -> np.ndarray:
        return np.repeat(np.asarray(self.positions, dtype=np.intp), self.counts)


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
