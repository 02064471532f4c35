"""--combine-runs end to end through the real command line (pipeline/combine.py).

One fake fMRIPrep dataset with several runs per task is processed twice, with
and without --combine-runs, and the group level run on both. The concatenated
series and matrices are checked against numpy on the per-run outputs; runs a
strategy excluded or that failed are left out and listed; a region below
coverage in one run only is n/a in the matrix; participants with one run (with
or without a run entity) get names that do not collide with their runs'; the
group level counts each concatenation once; reruns skip, rebuild and
overwrite like per-run outputs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from regionseries.bids.inputs import RunInputs
from regionseries.bids.names import parse_entities
from regionseries.demo import DatasetSpec, RunSpec, write_fmriprep_dataset
from regionseries.pipeline.names import (
    COMBINED_DESC_SUFFIX,
    combined_base,
    combined_name,
    timeseries_name,
)

from ..conftest import TEST_N_VOLUMES, TEST_VOXEL_SIZE, file_listing, run_cli

STRATEGIES = ("simple", "scrubbing")
SPACE = "MNI152NLin2009cAsym"
#: The run whose brain mask loses its left half: regions there are below coverage in that run only.
MASKED_RUN = "sub-01_task-rest_run-2"


def _spec() -> DatasetSpec:
    runs = [
        RunSpec("01", None, "rest", "1", motion_scale=0.5),
        RunSpec("01", None, "rest", "2", motion_scale=1.0, int16=True),
        RunSpec("01", None, "rest", "3", motion_scale=8.0),  # scrubbing excludes it
        RunSpec("01", None, "nback", "1", motion_scale=0.7),  # one run, with a run entity
        RunSpec("02", None, "rest", "1", motion_scale=0.8),
        RunSpec("02", None, "rest", "2", with_confounds=False),  # fails
        RunSpec("03", None, "rest", None, motion_scale=0.6),  # one run, without a run entity
        RunSpec("04", None, "rest", "1", motion_scale=8.0),  # scrubbing excludes both runs
        RunSpec("04", None, "rest", "2", motion_scale=9.0),
    ]
    return DatasetSpec(runs=runs, n_volumes=TEST_N_VOLUMES, voxel_size=TEST_VOXEL_SIZE, seed=5)


def _mask_left_half(bids: Path) -> None:
    (path,) = bids.glob(f"sub-01/func/{MASKED_RUN}_space-{SPACE}_desc-brain_mask.nii.gz")
    img = nib.load(path)
    data = np.asarray(img.dataobj).copy()
    data[: data.shape[0] // 2] = 0
    nib.Nifti1Image(data, img.affine, img.header).to_filename(path)


def _participant(bids: Path, output: Path, work: Path, atlas, *extra: str):
    image, table = atlas
    return run_cli(bids, output, "participant", "--atlas-file", f"Demo={image}:{table}", "--strategy", *STRATEGIES,
                   "--connectivity", "correlation", "covariance", "-w", work, "--no-reports", *extra)


@pytest.fixture(scope="module")
def jobs(demo_atlas, tmp_path_factory):
    """The dataset processed with and without --combine-runs, and the group level on both."""
    root = tmp_path_factory.mktemp("combine")
    bids = root / "fmriprep"
    write_fmriprep_dataset(bids, _spec())
    _mask_left_half(bids)
    combined, separate = root / "combined", root / "separate"
    with_combine = _participant(bids, combined, root / "work1", demo_atlas, "--combine-runs")
    without = _participant(bids, separate, root / "work2", demo_atlas)
    groups = [run_cli(bids, output, "group", "--no-reports") for output in (combined, separate)]
    return {"bids": bids, "combined": combined, "separate": separate, "result": with_combine,
            "without": without, "groups": groups, "root": root}


def _read_tsv(path: Path, index: bool = False) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", na_values=["n/a"], keep_default_na=False, index_col=0 if index else None)


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _func(output: Path, subject: str) -> Path:
    return output / f"sub-{subject}" / "func"


def _run_series(output: Path, subject: str, task: str, run: str | None, desc: str) -> Path:
    run_part = f"_run-{run}" if run else ""
    return _func(output, subject) / f"sub-{subject}_task-{task}{run_part}_space-{SPACE}_atlas-Demo_desc-{desc}_timeseries.tsv"


def _concat(output: Path, subject: str, task: str, desc: str, suffix: str = "timeseries", stat: str | None = None) -> Path:
    stat_part = f"_stat-{stat}" if stat else ""
    atlas_part = "" if suffix == "qc" else "_atlas-Demo"
    extension = ".json" if suffix == "qc" else ".tsv"
    return (_func(output, subject)
            / f"sub-{subject}_task-{task}_space-{SPACE}{atlas_part}{stat_part}_desc-{desc}Concat_{suffix}{extension}")


def _numpy_concatenation(output: Path, subject: str, task: str, runs: list[str | None], desc: str):
    """Centre each run's written series on its kept volumes and stack them, with numpy only."""
    blocks, kept_rows, offset = [], [], 0
    for run in runs:
        path = _run_series(output, subject, task, run, desc)
        values = _read_tsv(path).to_numpy(float)
        kept = np.asarray(_json(path.with_suffix(".json"))["KeptVolumes"], dtype=int)
        block = np.full(values.shape, np.nan)
        block[kept] = values[kept] - values[kept].mean(axis=0)
        blocks.append(block)
        kept_rows.append(offset + kept)
        offset += len(values)
    return np.vstack(blocks), np.concatenate(kept_rows)


def _status(output: Path, subject: str, task: str, run: str | None, desc: str) -> str:
    run_part = f"_run-{run}" if run else ""
    return _json(_func(output, subject) / f"sub-{subject}_task-{task}{run_part}_space-{SPACE}_desc-{desc}_qc.json")["Status"]


def test_exit_status_and_log(jobs):
    result = jobs["result"]
    assert result.returncode == 1, result.stderr  # sub-02's run without confounds
    assert "concatenation sub-01_task-rest_space-MNI152NLin2009cAsym_desc-simpleConcat: 3 run(s) concatenated" \
        in result.stderr
    assert "sub-02_task-rest_run-2_space-MNI152NLin2009cAsym_desc-preproc_bold.nii.gz left out: it failed" \
        in result.stderr


def test_per_run_outputs_are_those_of_a_job_without_the_option(jobs):
    combined, separate = jobs["combined"], jobs["separate"]
    with_files = {p.relative_to(combined) for p in combined.glob("sub-*/**/*") if p.is_file()}
    without_files = {p.relative_to(separate) for p in separate.glob("sub-*/**/*") if p.is_file()}
    concatenated = {p for p in with_files if f"{COMBINED_DESC_SUFFIX}_" in p.name}
    assert with_files - concatenated == without_files
    assert all("run-" not in p.name for p in concatenated)
    for relative in without_files:
        if relative.suffix == ".tsv":
            assert (combined / relative).read_bytes() == (separate / relative).read_bytes(), relative


@pytest.mark.parametrize(("subject", "task", "desc"), [
    ("01", "rest", "simple"), ("01", "rest", "scrubbing"), ("01", "nback", "simple"), ("02", "rest", "simple"),
    ("03", "rest", "scrubbing"),
])
def test_combined_series_and_matrices_equal_numpy_on_the_runs_outputs(jobs, subject, task, desc):
    output = jobs["combined"]
    record = _json(_concat(output, subject, task, desc, "qc"))
    assert record["Status"] == "done" and record["Concatenated"] is True
    runs = [parse_entities(run["Bold"]).get("run") for run in record["Runs"] if run["Included"]]
    assert record["NumberOfRunsConcatenated"] == len(runs) >= 1
    expected, kept_rows = _numpy_concatenation(output, subject, task, runs, desc)
    series_path = _concat(output, subject, task, desc)
    series = _read_tsv(series_path)
    np.testing.assert_allclose(series.to_numpy(float), expected, rtol=0, atol=1e-7, equal_nan=True)
    sidecar = _json(series_path.with_suffix(".json"))
    assert sidecar["KeptVolumes"] == kept_rows.tolist()
    assert sidecar["NumberOfVolumesKept"] == kept_rows.size == record["NumberOfVolumesKept"]
    kept = expected[kept_rows]
    usable = np.isfinite(kept).all(axis=0)
    correlation = _read_tsv(_concat(output, subject, task, desc, "relmat", "correlation"), index=True)
    assert list(correlation.index) == list(series.columns)
    covariance = _read_tsv(_concat(output, subject, task, desc, "relmat", "covariance"), index=True).to_numpy()
    np.testing.assert_allclose(correlation.to_numpy()[np.ix_(usable, usable)],
                               np.corrcoef(kept[:, usable], rowvar=False), atol=1e-6)
    np.testing.assert_allclose(covariance[np.ix_(usable, usable)],
                               np.cov(kept[:, usable], rowvar=False, bias=True), atol=1e-6)
    assert np.isnan(correlation.to_numpy()[~usable]).all()
    relmat_sidecar = _json(_concat(output, subject, task, desc, "relmat", "correlation").with_suffix(".json"))
    assert relmat_sidecar["NumberOfVolumesUsed"] == kept_rows.size
    assert relmat_sidecar["NumberOfRuns"] == len(runs)


def test_sidecar_lists_runs_volumes_and_normalisation(jobs):
    output = jobs["combined"]
    sidecar = _json(_concat(output, "01", "rest", "simple").with_suffix(".json"))
    runs = sidecar["ConcatenatedRuns"]
    assert [parse_entities(r["TimeSeries"])["run"] for r in runs] == ["1", "2", "3"]
    assert [r["FirstRow"] for r in runs] == [0, TEST_N_VOLUMES, 2 * TEST_N_VOLUMES]
    assert [r["NumberOfVolumes"] for r in runs] == [TEST_N_VOLUMES] * 3
    assert sidecar["NumberOfVolumes"] == 3 * TEST_N_VOLUMES
    assert sum(r["NumberOfVolumesKept"] for r in runs) == sidecar["NumberOfVolumesKept"]
    assert sidecar["RunNormalisation"]["Standardize"] == "zscore_sample"
    assert "XCP-D" in sidecar["RunNormalisation"]["Description"]
    assert sidecar["RunsLeftOut"] == []
    assert sidecar["Sources"] == [r["TimeSeries"] for r in runs]


def test_excluded_and_failed_runs_are_left_out_and_listed(jobs):
    output = jobs["combined"]
    assert _status(output, "01", "rest", "3", "scrubbing") == "excluded"  # the dataset does what it is meant to
    sidecar = _json(_concat(output, "01", "rest", "scrubbing").with_suffix(".json"))
    assert [parse_entities(r["TimeSeries"])["run"] for r in sidecar["ConcatenatedRuns"]] == ["1", "2"]
    (left_out,) = sidecar["RunsLeftOut"]
    assert "run-3" in left_out["Bold"] and left_out["Status"] == "excluded" and left_out["Reason"]
    failed = _json(_concat(output, "02", "rest", "simple").with_suffix(".json"))["RunsLeftOut"]
    assert len(failed) == 1 and "run-2" in failed[0]["Bold"] and "no confounds file" in failed[0]["Reason"]
    # every run of sub-04 excluded: a record that says so, and no series
    assert {_status(output, "04", "rest", run, "scrubbing") for run in ("1", "2")} == {"excluded"}
    record = _json(_concat(output, "04", "rest", "scrubbing", "qc"))
    assert record["Status"] == "excluded" and "no run to concatenate" in record["Reason"]
    assert record["NumberOfRunsConcatenated"] == 0 and not any(run["Included"] for run in record["Runs"])
    assert not _concat(output, "04", "rest", "scrubbing").exists()
    assert _json(_concat(output, "04", "rest", "simple", "qc"))["Status"] == "done"


def test_a_region_below_coverage_in_one_run_is_na_in_that_run_and_in_the_matrix(jobs):
    output = jobs["combined"]
    below = set(_json(_run_series(output, "01", "rest", "2", "simple").with_suffix(".json"))["RegionsBelowCoverage"])
    elsewhere = set(_json(_run_series(output, "01", "rest", "1", "simple").with_suffix(".json"))["RegionsBelowCoverage"])
    only_there = sorted(below - elsewhere)
    assert only_there, "the masked run should lose regions the others keep"
    series = _read_tsv(_concat(output, "01", "rest", "simple"))
    sidecar = _json(_concat(output, "01", "rest", "simple").with_suffix(".json"))
    first_row = sidecar["ConcatenatedRuns"][1]["FirstRow"]
    rows_of_run_1 = np.asarray(sidecar["ConcatenatedRuns"][0]["FirstRow"]) + np.arange(TEST_N_VOLUMES)
    kept_of_run_1 = np.intersect1d(rows_of_run_1, sidecar["KeptVolumes"])
    for region in only_there:
        assert series[region].iloc[first_row:first_row + TEST_N_VOLUMES].isna().all()
        assert series[region].iloc[kept_of_run_1].notna().all()
    assert set(only_there) <= set(sidecar["RegionsBelowCoverage"])
    matrix = _read_tsv(_concat(output, "01", "rest", "simple", "relmat", "correlation"), index=True)
    assert matrix.loc[only_there].isna().all().all() and matrix[only_there].isna().all().all()
    relmat_sidecar = _json(_concat(output, "01", "rest", "simple", "relmat", "correlation").with_suffix(".json"))
    assert set(only_there) <= set(relmat_sidecar["RegionsWithoutSignal"])


def test_one_run_participants_do_not_collide_with_their_run(jobs):
    output = jobs["combined"]
    # sub-03's only run has no run entity: its outputs and its concatenation differ by desc only
    per_run = _run_series(output, "03", "rest", None, "simple")
    concatenated = _concat(output, "03", "rest", "simple")
    assert per_run.exists() and concatenated.exists() and per_run != concatenated
    assert "ConcatenatedRuns" not in _json(per_run.with_suffix(".json"))
    assert _json(concatenated.with_suffix(".json"))["NumberOfRuns"] == 1
    assert _json(_func(output, "03") / f"sub-03_task-rest_space-{SPACE}_desc-simple_qc.json").get("Concatenated") is None
    # the names the code builds agree
    run = RunInputs(bold=jobs["bids"] / "sub-03" / "func" / f"sub-03_task-rest_space-{SPACE}_desc-preproc_bold.nii.gz",
                    entities={"sub": "03", "task": "rest", "space": SPACE})
    assert combined_name(combined_base(run), "simple", "timeseries", "Demo") != timeseries_name(run, "Demo", "simple")
    # sub-01's one nback run keeps run-1 in its own names
    assert _run_series(output, "01", "nback", "1", "simple").exists()
    assert _json(_concat(output, "01", "nback", "simple", "qc"))["NumberOfRunsConcatenated"] == 1


def test_group_level_counts_each_concatenation_once(jobs):
    for group in jobs["groups"]:
        assert group.returncode == 0, group.stderr
    group = jobs["combined"] / "group"
    stem = f"task-rest_space-{SPACE}_atlas-Demo"
    qc = pd.read_csv(group / f"{stem}_desc-simpleConcat_qc.tsv", sep="\t", dtype={"sub": str})
    assert sorted(qc["sub"]) == ["01", "02", "03", "04"]  # one row per participant (one session, one space)
    assert "run" not in qc.columns
    assert dict(zip(qc["sub"], qc["n_runs_concatenated"])) == {"01": 3, "02": 1, "03": 1, "04": 2}
    per_run = pd.read_csv(group / f"{stem}_desc-simple_qc.tsv", sep="\t", dtype={"sub": str})
    assert len(per_run) == 8 and "n_runs_concatenated" not in per_run.columns
    mean = _json(group / f"{stem}_stat-correlation_desc-simpleConcat_relmat.json")
    included = qc[~qc["excluded"]]
    assert mean["NumberOfRuns"] == len(included)
    assert all(COMBINED_DESC_SUFFIX in name and "run-" not in name for name in mean["Runs"])
    assert mean["Series"]["Kind"] == "concatenated runs"
    qcfc = _json(group / f"{stem}_desc-simpleConcat_qcfc.json")
    assert qcfc["Series"]["Kind"] == "concatenated runs"
    assert qcfc["NumberOfParticipants"] == len(set(included["sub"]))
    assert _json(group / f"{stem}_desc-simple_qcfc.json")["Series"]["Kind"] == "runs"
    scrubbing = pd.read_csv(group / f"{stem}_desc-scrubbingConcat_qc.tsv", sep="\t", dtype={"sub": str})
    assert scrubbing.set_index("sub").loc["04", "excluded"]
    # the per-run group outputs are those of a job without --combine-runs
    separate = jobs["separate"] / "group"
    for path in separate.glob("*.tsv"):
        assert (group / path.name).read_bytes() == path.read_bytes(), path.name


def test_rerun_skips_rebuilds_and_overwrites(jobs, demo_atlas, tmp_path):
    output = tmp_path / "out"
    shutil.copytree(jobs["combined"], output)
    # sub-02's failed run is retried by every rerun, which rebuilds its concatenations: left out here
    concatenations = sorted(p for p in output.glob(f"sub-*/func/*{COMBINED_DESC_SUFFIX}_*") if "sub-02" not in p.name)
    before = file_listing(output)

    again = _participant(jobs["bids"], output, tmp_path / "w1", demo_atlas, "--combine-runs")
    assert "sub-01_task-rest_space-MNI152NLin2009cAsym_desc-simpleConcat: skipped (outputs exist)" in again.stderr
    assert "sub-02_task-rest_space-MNI152NLin2009cAsym_desc-simpleConcat: 1 run(s) concatenated" in again.stderr
    after = file_listing(output)
    assert all(after[str(p.relative_to(output))] == before[str(p.relative_to(output))] for p in concatenations)

    # a missing matrix rebuilds that concatenation only
    missing = _concat(output, "03", "rest", "simple", "relmat", "covariance")
    missing.unlink()
    _participant(jobs["bids"], output, tmp_path / "w2", demo_atlas, "--combine-runs")
    assert missing.exists()
    rebuilt = file_listing(output)
    sub01 = str(_concat(output, "01", "rest", "simple").relative_to(output))
    assert rebuilt[sub01] == before[sub01]
    sub03 = str(_concat(output, "03", "rest", "simple").relative_to(output))
    assert rebuilt[sub03] != before[sub03]

    # a run processed again (its record removed) rebuilds its participant's concatenations of that task
    (_func(output, "01") / f"sub-01_task-rest_run-1_space-{SPACE}_desc-simple_qc.json").unlink()
    _participant(jobs["bids"], output, tmp_path / "w3", demo_atlas, "--combine-runs")
    redone = file_listing(output)
    assert redone[sub01] != rebuilt[sub01]
    sub01_nback = str(_concat(output, "01", "nback", "simple").relative_to(output))
    assert redone[sub01_nback] == rebuilt[sub01_nback]
    np.testing.assert_array_equal(_read_tsv(output / sub01).to_numpy(),
                                  _read_tsv(jobs["combined"] / sub01).to_numpy())

    # --overwrite redoes every concatenation
    _participant(jobs["bids"], output, tmp_path / "w4", demo_atlas, "--combine-runs", "--overwrite")
    overwritten = file_listing(output)
    assert all(overwritten[str(p.relative_to(output))] != redone[str(p.relative_to(output))]
               for p in concatenations if p.exists())


def test_standardize_none_centres_each_run_and_keeps_its_units(jobs, demo_atlas, tmp_path):
    output = tmp_path / "out"
    image, table = demo_atlas
    result = run_cli(jobs["bids"], output, "participant", "--participant-label", "01", "--task", "rest",
                     "--atlas-file", f"Demo={image}:{table}", "--strategy", "simple", "--standardize", "none",
                     "--no-detrend", "--filter", "none",
                     "-w", tmp_path / "work", "--no-reports", "--combine-runs")
    assert result.returncode == 0, result.stderr
    runs = ["1", "2", "3"]
    raw_means = [_read_tsv(_run_series(output, "01", "rest", run, "simple")).mean().abs().max() for run in runs]
    assert max(raw_means) > 1  # BOLD units: the runs' series are not centred
    expected, kept_rows = _numpy_concatenation(output, "01", "rest", runs, "simple")
    series = _read_tsv(_concat(output, "01", "rest", "simple")).to_numpy(float)
    np.testing.assert_allclose(series, expected, rtol=1e-7, atol=1e-6, equal_nan=True)
    sidecar = _json(_concat(output, "01", "rest", "simple").with_suffix(".json"))
    assert sidecar["RunNormalisation"]["Standardize"] is False
    kept = expected[kept_rows]
    usable = np.isfinite(kept).all(axis=0)
    matrix = _read_tsv(_concat(output, "01", "rest", "simple", "relmat", "correlation"), index=True).to_numpy()
    np.testing.assert_allclose(matrix[np.ix_(usable, usable)], np.corrcoef(kept[:, usable], rowvar=False), atol=1e-6)


def test_worker_processes_give_the_same_concatenations(jobs, demo_atlas, tmp_path):
    output = tmp_path / "out"
    result = _participant(jobs["bids"], output, tmp_path / "work", demo_atlas, "--combine-runs", "--nprocs", "2",
                          "--participant-label", "01", "03")
    assert result.returncode == 0, result.stderr
    produced = sorted(p.relative_to(output) for p in output.glob(f"sub-*/func/*{COMBINED_DESC_SUFFIX}_*.tsv"))
    assert len(produced) == 3 * 2 * 3  # (sub-01 rest, sub-01 nback, sub-03 rest) x strategies x (series, 2 matrices)
    for relative in produced:
        assert (output / relative).read_bytes() == (jobs["combined"] / relative).read_bytes(), relative


def test_a_strategy_named_like_a_concatenation_is_refused(jobs, demo_atlas, tmp_path):
    strategy = tmp_path / "clash.json"
    strategy.write_text(json.dumps({"name": "simpleConcat", "base": "simple"}))
    image, table = demo_atlas
    result = run_cli(jobs["bids"], tmp_path / "out", "participant", "--atlas-file", f"Demo={image}:{table}",
                     "--strategy", "simple", str(strategy), "--combine-runs", "--no-reports")
    assert result.returncode == 64, result.stderr
    assert "--combine-runs" in result.stderr and "desc-simpleConcat" in result.stderr


def test_a_group_that_cannot_be_joined_fails_alone(jobs, demo_atlas, tmp_path):
    output = tmp_path / "out"
    shutil.copytree(jobs["combined"], output)
    series = _run_series(output, "03", "rest", None, "simple")
    lines = series.read_text().splitlines(keepends=True)
    series.write_text("".join(lines[:10]))  # truncated: 9 rows where the sidecar says 48 volumes
    _concat(output, "03", "rest", "simple", "qc").unlink()
    result = _participant(jobs["bids"], output, tmp_path / "work", demo_atlas, "--combine-runs")
    assert result.returncode == 1
    record = _json(_concat(output, "03", "rest", "simple", "qc"))
    assert record["Status"] == "failed"
    assert record["Reason"] == f"{series.name} has 9 rows, its sidecar says {TEST_N_VOLUMES} volumes"
    assert f"{_concat(output, '03', 'rest', 'simple', 'qc').name}: strategy simple: {record['Reason']}" in result.stderr
    assert not _concat(output, "03", "rest", "simple").exists()  # its earlier series removed with the failure
    assert "sub-01_task-rest_space-MNI152NLin2009cAsym_desc-simpleConcat: skipped (outputs exist)" in result.stderr
    assert _json(_concat(output, "03", "rest", "scrubbing", "qc"))["Status"] == "done"
