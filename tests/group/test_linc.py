"""The group's LINC QC table (``group/linc.py``) against stacking the runs' tables one by one with pandas.

``linc_table`` reads the tables with the csv module and hands pandas one
text per header instead of one ``read_csv`` per run. The reference below is
the way it was done before: its text output must be the same bytes, on
tables as the participant level writes them and on the awkward ones (quoted
reasons with tabs and line ends, infinities, headers of another version, a
run without a table first).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from regionseries.bids.outputs import json_text, tsv_text
from regionseries.group import collect_qc_records
from regionseries.group.exclusions import RUN_ENTITIES, exclusion_reasons
from regionseries.group.linc import _linc_path, _ordered_and_typed, linc_table
from regionseries.group.options import GroupOptions

MEASURES = ("mean_fd", "mean_fd_post_censoring", "mean_dvars_initial", "fd_region_dvars_correlation_final",
            "num_dummy_volumes", "num_censored_volumes", "num_retained_volumes", "retained_duration")


def _stacked_one_by_one(members, options):
    """The group LINC table as it was made before: one ``read_csv`` per run, then ``concat``."""
    paths = [_linc_path(record) for record in members]
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
            row = {key: entities[key] for key in RUN_ENTITIES if key in entities}
            row.update({"strategy": entities.get("desc"), "status": record.get("Status"),
                        "reason": record.get("Reason")})
            rows = pd.DataFrame([row])
        frames.append(rows.assign(**group_columns))
    return _ordered_and_typed(pd.concat(frames, ignore_index=True))  # the order and dtypes as the group's


def _record(folder: Path, sub: str, run: str | None = None, ses: str | None = None, *, mean_fd: float = 0.2,
            status: str = "done", reason: str | None = None, atlases=("Schaefer", "Gordon"),
            extra_columns: dict | None = None, table: bool = True, measures: dict | None = None) -> dict:
    """A QC record and, with ``table``, its LINC table written as the participant level writes it."""
    entities = {"sub": sub, **({"ses": ses} if ses else {}), "task": "rest", **({"run": run} if run else {}),
                "space": "MNI152NLin2009cAsym", "desc": "simple"}
    stem = "_".join(f"{key}-{value}" for key, value in entities.items() if key != "desc")
    name = f"{stem}_stat-linc_desc-simple_qc.tsv"
    record = {"_folder": str(folder), "_files": {name} if table else set(), "_entities": entities,
              "Status": status, "Reason": reason, "Bold": f"bids:preprocessed:sub-{sub}/func/{stem}_bold.nii.gz",
              "MeanFramewiseDisplacement": mean_fd, "NumberOfVolumes": 200, "NumberOfVolumesKept": 150}
    if table:
        rows = []
        for k, atlas in enumerate(atlases):
            row = {key: value for key, value in entities.items() if key != "desc"}
            row.update({"strategy": "simple", "atlas": atlas, "status": status, "reason": reason})
            row.update({"mean_fd": mean_fd, "mean_fd_post_censoring": mean_fd / 2, "mean_dvars_initial": 1.25 + k,
                        "fd_region_dvars_correlation_final": 0.1 * k - 0.05, "num_dummy_volumes": 2,
                        "num_censored_volumes": 48, "num_retained_volumes": 150, "retained_duration": 300})
            row.update(measures or {})
            row.update(extra_columns or {})
            rows.append(row)
        (folder / name).write_text(tsv_text(pd.DataFrame(rows)), encoding="utf-8")
    return record


def _same_text(members, options=GroupOptions()):
    expected = _stacked_one_by_one(members, options)
    # the one difference: ``bold`` comes last even when the first run has no table (it came before the measures)
    expected = expected[[c for c in expected.columns if c != "bold"] + ["bold"]]
    got = linc_table(members, options, [])
    assert tsv_text(got) == tsv_text(expected)  # the table is only ever written
    assert list(got.columns) == list(expected.columns)
    numeric = [column for column in expected if expected[column].dtype.kind in "biuf"]
    assert got[numeric].dtypes.to_dict() == expected[numeric].dtypes.to_dict()
    return got


def test_same_table_as_one_read_csv_per_run(tmp_path):
    members = [_record(tmp_path, f"{k:02d}", run=str(1 + k % 2), mean_fd=0.1 * k) for k in range(8)]
    got = _same_text(members)
    assert len(got) == 16
    assert got["sub"].tolist()[:4] == ["00", "00", "01", "01"]  # leading zeros kept
    assert got["excluded"].sum() == 2 * 2  # mean FD 0.6 and 0.7 > 0.55 mm


def test_awkward_tables_same_as_before(tmp_path):
    members = [
        _record(tmp_path, "09", table=False, status="failed", reason="confounds: cannot read\tcolumn 'x'"),
        _record(tmp_path, "01", ses="a", reason='said "no"\nthen stopped', status="excluded"),
        _record(tmp_path, "02", measures={"mean_dvars_initial": float("inf"), "retained_duration": 298.5}),
        _record(tmp_path, "03", extra_columns={"new_measure": 0.5}),  # a table of another version
        _record(tmp_path, "04", measures={"mean_fd_post_censoring": float("nan")}),
        _record(tmp_path, "05", atlases=("Schaefer",)),
        _record(tmp_path, "06", table=False),
        _record(tmp_path, "07", ses="b", measures={"num_censored_volumes": None}),
    ]
    got = _same_text(members)
    assert list(got.columns[:2]) == ["sub", "ses"] and got.columns[-1] == "bold"
    stacked = list(_stacked_one_by_one(members, GroupOptions()).columns)  # the first run has no table:
    assert stacked.index("bold") < stacked.index("mean_fd")  # its columns came first, "bold" among them
    reason = got.loc[got["sub"] == "01", "reason"].iloc[0]
    assert reason == 'said "no"\nthen stopped'
    assert got.loc[got["sub"] == "03", "new_measure"].tolist() == [0.5, 0.5]
    assert got.loc[got["sub"] == "09", "atlas"].isna().all()


def test_no_table_no_output(tmp_path):
    members = [_record(tmp_path, "01", table=False), _record(tmp_path, "02", table=False)]
    assert linc_table(members, GroupOptions(), []) is None


@pytest.mark.parametrize("content, problem", [
    ("", "the file is empty"),
    ("sub\ttask\tatlas\tmean_fd\n01\trest\tSchaefer\t0.2\textra\n", "row 2 has 5 fields, the header 4"),
    ("sub\ttask\tatlas\tmean_fd\n01\trest\tSchaefer\n", "row 2 has 3 fields, the header 4"),
    ("sub\ttask\tatlas\tmean_fd\n", "it has a header but no row"),
    ("sub\ttask\tatlas\tmean_fd\n01\trest\tSchaefer\t" + "9" * 200_000 + "\n", "field larger than field limit"),
    (b"sub\ttask\tatlas\tmean_fd\n01\tr\xe9st\tSchaefer\t0.2\n", "'utf-8' codec can't decode byte 0xe9"),
], ids=["empty", "longer-row", "cut-row", "header-only", "huge-field", "latin-1"])
def test_unreadable_table_is_a_failure_and_the_run_keeps_its_row(tmp_path, content, problem):
    good = _record(tmp_path, "01")
    bad = _record(tmp_path, "02")
    bad_path = _linc_path(bad)
    if isinstance(content, bytes):  # truncated or edited after the participant level wrote it
        bad_path.write_bytes(content)
    else:
        bad_path.write_text(content)
    failures: list = []
    table = linc_table([good, bad], GroupOptions(), failures)
    assert len(failures) == 1 and failures[0][0] == str(bad_path)
    assert failures[0][1].startswith(f"cannot read the LINC QC table: {problem}")
    assert table["sub"].tolist() == ["01", "01", "02"]
    assert table.loc[2, "status"] == "done" and pd.isna(table.loc[2, "atlas"])
    with pytest.raises(ValueError, match=re.escape(f"{bad_path.name}: cannot read the LINC QC table: {problem}")):
        linc_table([good, bad], GroupOptions())


@pytest.mark.parametrize("session", ["", "ses-1"])
def test_table_names_made_once_per_study_are_each_participants(tmp_path, session):
    """``_linc_path`` with remembered names (records as the group level collects them) finds each
    participant's own table, and none for a participant without one or with one of another run."""
    for k in range(1, 5):
        folder = tmp_path / f"sub-{k:02d}" / session / "func"
        folder.mkdir(parents=True)
        stem = f"sub-{k:02d}_{session + '_' if session else ''}task-rest_space-MNI"
        (folder / f"{stem}_desc-simple_qc.json").write_text(json_text({"Status": "done"}))
        if k != 2:
            run = "_run-2" if k == 4 else ""  # sub-04's table is of another run than its record
            (folder / f"{stem.replace('_space', run + '_space')}_stat-linc_desc-simple_qc.tsv").write_text("")
    records = collect_qc_records(tmp_path)
    keys: dict = {}
    remembered = [_linc_path(record, keys) for record in records]
    assert remembered == [_linc_path(record) for record in records]
    assert [path is not None for path in remembered] == [True, False, True, False]
    assert remembered[2].name.startswith(f"sub-03_{session + '_' if session else ''}task-rest_space-MNI_stat-linc")
    assert len(keys) == 1


def test_a_byte_order_mark_is_not_part_of_a_column_name(tmp_path):
    plain, marked = _record(tmp_path, "01"), _record(tmp_path, "02")
    path = _linc_path(marked)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())  # as some editors save UTF-8
    got = _same_text([plain, marked])
    assert got["sub"].tolist() == ["01", "01", "02", "02"] and "\ufeffsub" not in got.columns
