"""group/outputs.py: the group report is written and listed with the group outputs; the QC tables kept small."""

from __future__ import annotations

import pandas as pd

from regionseries.group import GroupOptions, GroupSummary
from regionseries.group.exclusions import _qc_table
from regionseries.group.options import QCTables
from regionseries.group.outputs import _write_group_report
from regionseries.report.group_page import QC_TABLE_MAX_ROWS


def _records(n_runs: int) -> list[dict]:
    """QC records as collect_qc_records gives them (one run per participant, strategy simple)."""
    return [{
        "_entities": {"sub": f"{k:02d}", "task": "rest", "space": "MNI152NLin2009cAsym", "desc": "simple"},
        "Status": "done",
        "Bold": f"bids:fmriprep:sub-{k:02d}/func/sub-{k:02d}_task-rest_desc-preproc_bold.nii.gz",
        "MeanFramewiseDisplacement": 0.15 * k,
        "NumberOfVolumes": 100,
        "NumberOfVolumesKept": 100 - 10 * k,
        "DegreesOfFreedomLost": 20.0 + k,
    } for k in range(1, n_runs + 1)]


def test_group_report_is_written_and_listed(tmp_path):
    # _write_group_report takes an ImportError for "report extras not installed" and writes
    # nothing: a wrong import path (as once after a move) would go unnoticed without this test.
    options = GroupOptions()
    summary = GroupSummary(qc_table=_qc_table(_records(5), None, options))
    assert summary.qc_table["excluded"].sum() == 2  # mean FD 0.6 and 0.75 mm > 0.55 mm
    _write_group_report(tmp_path, summary, options)
    assert summary.failures == []
    assert summary.outputs == [tmp_path / "group.html"]
    html = (tmp_path / "group.html").read_text(encoding="utf-8")
    assert "mean framewise displacement &gt; 0.55 mm" in html or "mean framewise displacement > 0.55 mm" in html


def test_qc_tables_give_back_the_tables_and_the_report_its_columns(tmp_path):
    options = GroupOptions()
    records = _records(6)
    tables = [_qc_table(records, None, options), _qc_table(records[:3], None, options)]
    tables[1]["n_runs_concatenated"] = [2, None, 3]
    kept = QCTables()
    for k, table in enumerate(tables):
        kept.add(table, tmp_path / f"t{k}_qc.tsv")
    whole = pd.concat(tables, ignore_index=True)
    pd.testing.assert_frame_equal(kept.frame(), whole, check_exact=True)
    assert (kept.rows, kept.excluded_rows) == (9, 3) and kept.files == [tmp_path / "t0_qc.tsv", tmp_path / "t1_qc.tsv"]
    columns = [c for c in whole.columns if c in QCTables.REPORT_COLUMNS]
    pd.testing.assert_frame_equal(kept.report_frame()[columns], whole[columns], check_exact=True)
    pd.testing.assert_frame_equal(kept.excluded_frame(), whole[whole["excluded"]].reset_index(drop=True),
                                  check_exact=True)
    summary = GroupSummary(qc_table=kept)
    assert summary.qc_counts == (9, 3) and summary.qc_tables is kept
    pd.testing.assert_frame_equal(summary.qc_table, whole, check_exact=True)  # made when read, then kept
    assert summary.qc_tables is None and summary.qc_table is summary.qc_table
    assert GroupSummary().qc_table is None and GroupSummary().qc_counts == (0, 0)
    assert GroupSummary(qc_table=whole).qc_counts == (9, 3)


def test_a_long_qc_table_is_summarised_in_the_report(tmp_path):
    options = GroupOptions()
    many = _records(60)
    kept = QCTables()
    for copy in range(QC_TABLE_MAX_ROWS // 60 + 1):
        kept.add(_qc_table(many, None, options), tmp_path / "group" / f"atlas-{copy}_qc.tsv")
    summary = GroupSummary(qc_table=kept)
    _write_group_report(tmp_path, summary, options, kept)
    assert summary.failures == [] and summary.qc_tables is kept  # the report did not make the whole table
    html = (tmp_path / "group.html").read_text(encoding="utf-8")
    excluded = 60 - 3  # mean FD 0.15 k mm > 0.55 mm from k = 4
    assert f"{kept.rows} rows ({kept.rows // 60 * excluded} excluded): more than the {QC_TABLE_MAX_ROWS}" in html
    assert html.count('<tr class="excluded">') == 0  # no row of the QC table listed
    excluded_runs = html[html.index('table class="sortable wide excluded-runs"'):]
    excluded_runs = excluded_runs[:excluded_runs.index("</table>")]
    assert excluded_runs.count("<tr") == 1 + excluded  # each excluded run once, not once per table
    assert all(f'href="group/atlas-{copy}_qc.tsv"' in html for copy in range(len(kept.files)))
