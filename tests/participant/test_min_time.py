"""--min-time end to end through the command line: exclusions with their reason, sidecars, group level, reruns."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from ..conftest import TEST_N_VOLUMES, run_cli

TR = 2.0  # the test dataset's repetition time (s)
N_DUMMY = 2
MIN_TIME = 85.0  # between the scrubbed runs' kept durations (78-90 s) and simple's (46 volumes, 92 s)


@pytest.fixture(scope="module")
def min_time_run(fmriprep_dataset, demo_atlas, tmp_path_factory):
    image, table = demo_atlas
    output = tmp_path_factory.mktemp("out") / "regionseries"
    participant = run_cli(fmriprep_dataset, output, "participant", "--atlas-file", f"Demo={image}:{table}",
                          "--strategy", "simple", "scrubbing", "--min-time", str(MIN_TIME), "--no-reports")
    group = run_cli(fmriprep_dataset, output, "group", "--no-reports", "--min-kept-fraction", "0.85")
    return {"participant": participant, "group": group, "output": output, "bids": fmriprep_dataset,
            "atlas": demo_atlas}


def _records(output, desc):
    return {path.name: json.loads(path.read_text()) for path in output.glob(f"sub-*/**/*_desc-{desc}_qc.json")}


def test_runs_below_min_time_are_excluded_with_the_reason(min_time_run):
    result = min_time_run["participant"]
    assert result.returncode == 1, result.stderr  # the run without confounds fails, as always
    scrubbing = {name: r for name, r in _records(min_time_run["output"], "scrubbing").items() if r["Status"] != "failed"}
    excluded = {name: r for name, r in scrubbing.items() if r["Status"] == "excluded"}
    assert excluded and len(excluded) < len(scrubbing)  # the threshold separates the runs
    for name, record in scrubbing.items():
        kept_duration = record["NumberOfVolumesKept"] * TR
        assert record["KeptDuration"] == kept_duration
        assert record["MinTime"] == MIN_TIME and record["Settings"]["Strategy"]["min_time"] == MIN_TIME
        assert (record["Status"] == "excluded") == (kept_duration < MIN_TIME), name
        if record["Status"] == "excluded":
            assert record["Reason"] == (f"the {record['NumberOfVolumesKept']} kept volumes last {kept_duration:g} s "
                                        f"(TR 2 s), less than the minimum of {MIN_TIME:g} s (min_time).")
            assert f"strategy scrubbing: {record['Reason']}" in result.stderr
    for record in _records(min_time_run["output"], "simple").values():
        if record["Status"] != "failed":
            assert record["Status"] == "done" and record["KeptDuration"] == (TEST_N_VOLUMES - N_DUMMY) * TR
    series = next(min_time_run["output"].glob("sub-*/**/*_desc-simple_timeseries.json"))
    sidecar = json.loads(series.read_text())
    assert sidecar["KeptDuration"] == (TEST_N_VOLUMES - N_DUMMY) * TR and sidecar["MinTime"] == MIN_TIME


def test_group_lists_min_time_beside_the_other_rules(min_time_run):
    assert min_time_run["group"].returncode == 0, min_time_run["group"].stderr
    qc = pd.read_csv(min_time_run["output"] / "group" / "task-rest_space-MNI152NLin2009cAsym_atlas-Demo_desc-scrubbing_qc.tsv",
                     sep="\t", dtype={"sub": str, "ses": str, "run": str})
    too_short = qc[qc["exclusion_reason"].fillna("").str.contains("(min_time)", regex=False)]
    assert len(too_short) == (qc["status"] == "excluded").sum() > 0
    assert too_short["excluded"].all()
    both = too_short[too_short["n_volumes_kept"] / too_short["n_volumes"] < 0.85]
    assert len(both)  # the dataset has a run that is too short and keeps too small a fraction
    for reason in both["exclusion_reason"]:
        min_time_rule, fraction_rule = reason.split("; ")
        assert min_time_rule.startswith("participant level: excluded: the ") and "(min_time)" in min_time_rule
        assert fraction_rule.endswith("< 85%)")


def test_no_min_time_keeps_the_presets_behaviour(min_time_run, tmp_path):
    image, table = min_time_run["atlas"]
    output = tmp_path / "out"
    result = run_cli(min_time_run["bids"], output, "participant", "--participant-label", "01", "--atlas-file",
                     f"Demo={image}:{table}", "--strategy", "scrubbing", "--no-reports")
    assert result.returncode == 0, result.stderr
    for record in _records(output, "scrubbing").values():
        assert record["Status"] == "done" and "MinTime" not in record
        assert "min_time" not in record["Settings"]["Strategy"]


def test_a_changed_min_time_is_noticed_on_rerun(min_time_run, tmp_path):
    image, table = min_time_run["atlas"]
    output = tmp_path / "out"
    common = (min_time_run["bids"], output, "participant", "--participant-label", "03", "--atlas-file",
              f"Demo={image}:{table}", "--strategy", "simple", "--no-reports")
    assert run_cli(*common, "--min-time", "60").returncode == 0
    rerun = run_cli(*common, "--min-time", "90")
    assert rerun.returncode == 0, rerun.stderr
    assert "outputs of strategy simple exist but were made with other settings" in rerun.stderr


def test_negative_min_time_is_a_usage_error(min_time_run, tmp_path):
    result = run_cli(min_time_run["bids"], tmp_path / "out", "participant", "--min-time", "-1")
    assert result.returncode == 64 and "--min-time" in result.stderr and "must not be negative" in result.stderr  # EX_USAGE
