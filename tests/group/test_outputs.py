"""group/outputs.py: the group report is written and listed with the group outputs."""

from __future__ import annotations

from regionseries.group import GroupOptions, GroupSummary
from regionseries.group.exclusions import _qc_table
from regionseries.group.outputs import _write_group_report


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
