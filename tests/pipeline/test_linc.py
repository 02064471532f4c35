"""--linc-qc end to end through the command line: the per-run LINC QC tables, the group's, reruns, the BIDS validator."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from regionseries.core.linc_qc import LINC_MEASURES, pearson, standardized_dvars

from ..conftest import TEST_N_VOLUMES, bids_validator_errors, run_cli

STRATEGIES = ("simple", "scrubbing")
ATLASES = ("Demo", "Power2011")
MIN_TIME = "85"  # excludes some scrubbed runs (see tests/participant/test_min_time.py)
ENTITY_TYPES = {"sub": str, "ses": str, "run": str}


@pytest.fixture(scope="module")
def linc_run(fmriprep_dataset, demo_atlas, tmp_path_factory):
    image, table = demo_atlas
    output = tmp_path_factory.mktemp("out") / "regionseries"
    participant = run_cli(fmriprep_dataset, output, "participant", "--atlas-file", f"Demo={image}:{table}",
                          "--spheres", "Power2011", "--strategy", *STRATEGIES, "--min-time", MIN_TIME,
                          "--linc-qc", "--no-reports")
    group = run_cli(fmriprep_dataset, output, "group", "--no-reports")
    return {"participant": participant, "group": group, "output": output, "bids": fmriprep_dataset,
            "atlas": demo_atlas}


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", na_values=["n/a"], keep_default_na=False, dtype=ENTITY_TYPES)


def _linc_tables(output: Path, desc: str) -> dict[Path, pd.DataFrame]:
    return {path: _read(path) for path in sorted(output.glob(f"sub-*/**/*_stat-linc_desc-{desc}_qc.tsv"))}


def _confounds_of(bids: Path, linc_path: Path) -> pd.DataFrame:
    stem = linc_path.name.split("_space-")[0]
    return pd.read_csv(next(bids.glob(f"sub-*/**/{stem}_desc-confounds_timeseries.tsv")), sep="\t", na_values=["n/a"])


def test_one_table_per_run_and_strategy_with_a_row_per_atlas(linc_run):
    assert linc_run["participant"].returncode == 1, linc_run["participant"].stderr  # the run without confounds
    output = linc_run["output"]
    for desc in STRATEGIES:
        records = {p for p in output.glob(f"sub-*/**/*_desc-{desc}_qc.json") if "_stat-" not in p.name}
        tables = _linc_tables(output, desc)
        recorded = {p for p in records if json.loads(p.read_text())["Status"] != "failed"}
        assert len(tables) == len(recorded) == 5  # every run with confounds, excluded ones included
        for path, table in tables.items():
            assert len(table) == len(ATLASES) and set(table["atlas"]) == set(ATLASES)
            assert list(table.columns[-len(LINC_MEASURES):]) == list(LINC_MEASURES)
            assert (table["strategy"] == desc).all()
            sidecar = json.loads(path.with_suffix(".json").read_text())
            for column in LINC_MEASURES:
                assert sidecar[column]["Description"], column
            assert "region signals" in sidecar["mean_region_dvars_final"]["Description"]


def test_numbers_agree_with_the_confounds_the_records_and_the_cleaned_series(linc_run):
    output, bids = linc_run["output"], linc_run["bids"]
    for desc in STRATEGIES:
        for path, table in _linc_tables(output, desc).items():
            record_path = path.with_name(path.name.replace("_stat-linc", "").replace("_qc.tsv", "_qc.json"))
            record = json.loads(record_path.read_text())
            confounds = _confounds_of(bids, path)
            fd, rmsd, std_dvars = (confounds[c].to_numpy(float) for c in ("framewise_displacement", "rmsd", "std_dvars"))
            dummies, kept = record["DummyVolumes"], record["KeptVolumes"]
            after_dummies = np.setdiff1d(np.arange(TEST_N_VOLUMES), dummies)
            for _, row in table.iterrows():
                assert row["num_dummy_volumes"] == record["NumberOfVolumesDiscardedByNonsteadyStatesDetector"]
                assert row["num_censored_volumes"] == record["NumberOfVolumesDiscardedByMotionScrubbing"]
                assert row["num_retained_volumes"] == record["NumberOfVolumesKept"]
                assert row["retained_duration"] == pytest.approx(record["KeptDuration"])
                assert row["mean_fd"] == pytest.approx(np.nanmean(fd[after_dummies]), rel=1e-6)
                assert row["mean_fd_post_censoring"] == pytest.approx(np.nanmean(fd[kept]), rel=1e-6)
                assert row["mean_relative_rms"] == pytest.approx(np.nanmean(rmsd[kept]), rel=1e-6)
                assert row["max_relative_rms"] == pytest.approx(np.nanmax(rmsd[kept]), rel=1e-6)
                assert row["mean_dvars_initial"] == pytest.approx(np.nanmean(std_dvars[after_dummies]), rel=1e-6)
                assert row["fd_dvars_correlation_initial"] == pytest.approx(
                    pearson(fd[after_dummies], std_dvars[after_dummies]), rel=1e-6)
                if record["Status"] == "excluded":
                    assert row["status"] == "excluded" and row["reason"] == record["Reason"]
                    assert np.isnan(row["mean_region_dvars_final"]) and np.isnan(row["mean_region_dvars_initial"])
                    continue
                assert row["status"] == "done" and pd.isna(row["reason"])
                series = path.with_name(path.name.replace("_stat-linc", f"_atlas-{row['atlas']}")
                                        .replace("_qc.tsv", "_timeseries.tsv"))
                cleaned = pd.read_csv(series, sep="\t", na_values=["n/a"]).to_numpy(float)[kept]
                final = standardized_dvars(cleaned)  # what the written cleaned series give
                assert row["mean_region_dvars_final"] == pytest.approx(np.nanmean(final), rel=1e-5)
                assert row["fd_region_dvars_correlation_final"] == pytest.approx(pearson(fd[kept], final), abs=1e-5)
                assert np.isfinite(row["mean_region_dvars_initial"])


def test_group_table_has_every_run(linc_run):
    assert linc_run["group"].returncode == 0, linc_run["group"].stderr
    group = linc_run["output"] / "group"
    for desc in STRATEGIES:
        table = _read(group / f"task-rest_space-MNI152NLin2009cAsym_stat-linc_desc-{desc}_qc.tsv")
        participant_rows = pd.concat(_linc_tables(linc_run["output"], desc).values(), ignore_index=True)
        with_rows = table[table["atlas"].notna()]
        assert len(with_rows) == len(participant_rows)
        pd.testing.assert_series_equal(with_rows["mean_fd"].sort_values().reset_index(drop=True),
                                       participant_rows["mean_fd"].sort_values().reset_index(drop=True))
        failed = table[table["status"] == "failed"]
        assert len(failed) == 1 and failed["sub"].item() == "02" and failed["run"].item() == "2"
        assert failed["excluded"].item() and "no confounds file" in failed["exclusion_reason"].item()
        assert failed["num_retained_volumes"].isna().all()
        qc = _read(group / f"task-rest_space-MNI152NLin2009cAsym_atlas-Demo_desc-{desc}_qc.tsv")
        demo = table[(table["atlas"] == "Demo") | table["atlas"].isna()]  # one row per run
        assert sorted(demo["excluded"]) == sorted(qc["excluded"])  # the group's criteria, as in its QC table
        excluded_by_min_time = table[table["status"] == "excluded"]
        assert excluded_by_min_time["exclusion_reason"].str.contains("(min_time)", regex=False).all()
        sidecar = json.loads((group / f"task-rest_space-MNI152NLin2009cAsym_stat-linc_desc-{desc}_qc.json").read_text())
        assert sidecar["exclusion_reason"]["Description"] and sidecar["mean_fd"]["Units"] == "mm"
    assert len(table[table["status"] == "excluded"]) > 0  # scrubbing: the min-time exclusions have rows


def test_linc_sidecars_are_not_records(linc_run):
    summary = linc_run["group"].stderr
    assert "cannot read" not in summary
    qc = _read(linc_run["output"] / "group" / "task-rest_space-MNI152NLin2009cAsym_atlas-Demo_desc-simple_qc.tsv")
    assert len(qc) == 6  # one row per run, not one more per LINC sidecar


def test_bids_validator(linc_run):
    output = linc_run["output"]
    assert "*_qc.tsv" in (output / ".bidsignore").read_text().splitlines()
    returncode, errors = bids_validator_errors(output)
    assert returncode == 0 and not errors, errors


def test_asking_for_the_table_later_redoes_the_runs_without_it(linc_run, tmp_path):
    image, table = linc_run["atlas"]
    output = tmp_path / "out"
    common = (linc_run["bids"], output, "participant", "--participant-label", "03", "--atlas-file",
              f"Demo={image}:{table}", "--strategy", "simple", "--no-reports")
    assert run_cli(*common).returncode == 0
    assert not list(output.rglob("*_stat-linc_*"))  # off by default
    again = run_cli(*common, "--linc-qc")
    assert again.returncode == 0, again.stderr
    assert len(list(output.glob("sub-03/func/*_stat-linc_desc-simple_qc.tsv"))) == 1
    third = run_cli(*common, "--linc-qc", "y")
    assert third.returncode == 0 and "0 run(s) processed, 1 skipped" in third.stderr, third.stderr


def test_a_damaged_table_fails_its_run_only(linc_run, tmp_path):
    """A participant's LINC table cut short after the participant level wrote it: the group job names it,
    exits 1, keeps the run with its status row and writes the other runs' rows as before."""
    output = tmp_path / "copy"
    shutil.copytree(linc_run["output"], output, ignore=shutil.ignore_patterns("group"))
    damaged = sorted(output.glob("sub-01/**/*_stat-linc_desc-simple_qc.tsv"))[0]
    text = damaged.read_text()
    damaged.write_text(text[: text.index("\n", text.index("\n") + 1) + 20])  # header, one row, part of a row
    group = run_cli(linc_run["bids"], output, "group", "--no-reports")
    assert group.returncode == 1
    assert str(damaged) in group.stderr and "cannot read the LINC QC table: row 3 has" in group.stderr
    name = "task-rest_space-MNI152NLin2009cAsym_stat-linc_desc-simple_qc.tsv"
    table, before = _read(output / "group" / name), _read(linc_run["output"] / "group" / name)
    of_run = table["bold"].str.contains(damaged.name.split("_space-")[0] + "_", regex=False)
    assert of_run.sum() == 1 and table.loc[of_run, "atlas"].isna().all() and (table.loc[of_run, "status"] == "done").all()
    before_of_run = before["bold"].str.contains(damaged.name.split("_space-")[0] + "_", regex=False)
    assert before_of_run.sum() == len(ATLASES)
    pd.testing.assert_frame_equal(table[~of_run].reset_index(drop=True), before[~before_of_run].reset_index(drop=True))
    scrubbing = "task-rest_space-MNI152NLin2009cAsym_stat-linc_desc-scrubbing_qc.tsv"
    assert (output / "group" / scrubbing).read_bytes() == (linc_run["output"] / "group" / scrubbing).read_bytes()
