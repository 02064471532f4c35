"""End-to-end participant and group levels through the real command line.

One participant-level run over the whole small dataset (module fixture) is
checked from many angles: file names, one row per volume, n/a rows, sidecars,
connectivity, the second space being ignored, int16 data, the run without
confounds reported while the others continue, a read-only input left
untouched, then the group level and the BIDS validator.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from regionseries.bids.outputs import ENTITY_ORDER, parse_entities

from ..conftest import TEST_N_VOLUMES, bids_validator_errors, file_listing, run_cli

STRATEGIES = ("simple", "scrubbing")


@pytest.fixture(scope="module")
def participant_run(read_only_dataset, demo_atlas, tmp_path_factory):
    """Run the participant level once on every participant (input read-only)."""
    image, table = demo_atlas
    output = tmp_path_factory.mktemp("out") / "regionseries"
    work = tmp_path_factory.mktemp("work")
    before = file_listing(read_only_dataset)
    result = run_cli(
        read_only_dataset, output, "participant",
        "--spheres", "Power2011",
        "--atlas-file", f"Demo={image}:{table}",
        "--strategy", *STRATEGIES,
        "--connectivity", "correlation", "covariance",
        "-w", work, "--no-reports",
    )
    after = file_listing(read_only_dataset)
    return {"result": result, "output": output, "work": work, "before": before, "after": after,
            "bids": read_only_dataset}


def _outputs(output: Path, pattern: str) -> list[Path]:
    return sorted(output.glob(f"sub-*/**/{pattern}"))


def test_exit_code_and_summary_report_the_run_without_confounds(participant_run):
    result = participant_run["result"]
    assert result.returncode == 1, result.stderr
    assert "Failures:" in result.stderr
    assert "sub-02_task-rest_run-2_space-MNI152NLin2009cAsym_desc-preproc_bold.nii.gz" in result.stderr
    assert "no confounds file" in result.stderr
    # the other runs were processed
    assert result.stderr.count(": simple done, scrubbing done") + result.stderr.count("scrubbing excluded") >= 5
    assert "[6/6]" in result.stderr


def test_input_left_untouched(participant_run):
    assert participant_run["before"] == participant_run["after"]
    bids = participant_run["bids"]
    assert not any(p.suffix in (".sqlite", ".db") for p in bids.rglob("*"))
    assert not list(participant_run["work"].rglob("*.sqlite")), "the pybids index is held in memory"


def test_one_output_set_per_run_atlas_strategy(participant_run):
    output = participant_run["output"]
    series = _outputs(output, "*_timeseries.tsv")
    # 5 runs with confounds in the requested space x 2 atlases x 2 strategies
    runs = {str(p.name).split("_atlas-")[0] for p in series}
    assert len(runs) == 5
    assert len(series) == 5 * 2 * 2
    for path in series:
        assert path.with_suffix(".json").exists()
        for stat in ("correlation", "covariance"):
            relmat = path.with_name(path.name.replace("_desc-", f"_stat-{stat}_desc-").replace(
                "_timeseries.tsv", "_relmat.tsv"))
            assert relmat.exists(), relmat
            assert relmat.with_suffix(".json").exists()


def test_second_space_is_ignored(participant_run):
    output = participant_run["output"]
    assert not list(output.rglob("*MNI152NLin6Asym*"))


def test_entity_order_follows_bids(participant_run):
    for path in participant_run["output"].glob("sub-*/**/*.*"):
        keys = list(parse_entities(path))
        assert keys == sorted(keys, key=ENTITY_ORDER.index), path.name
    name = _outputs(participant_run["output"], "*_atlas-Demo_desc-simple_timeseries.tsv")[0].name
    assert name.startswith("sub-01_ses-1_task-rest_run-1_space-MNI152NLin2009cAsym_atlas-Demo_desc-simple")


def test_timeseries_has_one_row_per_volume_and_na_for_removed(participant_run):
    output = participant_run["output"]
    path = _outputs(output, "sub-01_ses-1_task-rest_run-2_*_atlas-Demo_desc-scrubbing_timeseries.tsv")[0]
    table = pd.read_csv(path, sep="\t", na_values="n/a", keep_default_na=False)
    sidecar = json.loads(path.with_suffix(".json").read_text())
    atlas_table = pd.read_csv(output / "atlases" / "atlas-Demo_dseg.tsv", sep="\t")
    assert list(table.columns) == list(atlas_table["name"])
    assert len(table) == TEST_N_VOLUMES == sidecar["NumberOfVolumes"]
    kept = sidecar["KeptVolumes"]
    removed = sorted(set(range(TEST_N_VOLUMES)) - set(kept))
    assert removed == sorted(sidecar["DummyVolumes"] + sidecar["MotionOutlierVolumes"])
    assert sidecar["DummyVolumes"] == [0, 1]
    assert table.iloc[removed].isna().all().all()
    good = [c for c in table.columns if c not in sidecar["RegionsBelowCoverage"]]
    assert np.isfinite(table.iloc[kept][good].to_numpy()).all()
    # z-scored over kept volumes
    np.testing.assert_allclose(table.iloc[kept][good].mean().to_numpy(), 0, atol=1e-6)
    np.testing.assert_allclose(table.iloc[kept][good].std().to_numpy(), 1, atol=1e-6)


def test_timeseries_sidecar_content(participant_run):
    path = _outputs(participant_run["output"], "sub-03_*_atlas-Power2011_desc-simple_timeseries.json")[0]
    sidecar = json.loads(path.read_text())
    assert sidecar["SamplingFrequency"] == pytest.approx(0.5)
    assert sidecar["StartTime"] == pytest.approx(0.96)
    assert sidecar["Sources"][0] == (
        "bids:preprocessed:sub-03/func/sub-03_task-rest_space-MNI152NLin2009cAsym_desc-preproc_bold.nii.gz")
    assert any("desc-confounds_timeseries.tsv" in s for s in sidecar["Sources"])
    assert sidecar["Strategy"]["name"] == "simple"
    assert "trans_x" in sidecar["ConfoundRegressors"] and "csf" in sidecar["ConfoundRegressors"]
    assert sidecar["NumberOfVolumesDiscardedByNonsteadyStatesDetector"] == 2
    assert sidecar["NumberOfVolumesDiscardedByMotionScrubbing"] == 0
    assert sidecar["MeanFramewiseDisplacement"] > 0
    assert sidecar["DegreesOfFreedomLost"] >= 2 + len(sidecar["ConfoundRegressors"])
    assert set(sidecar["RegionCoverage"]) == set(pd.read_csv(path.with_suffix(".tsv"), sep="\t").columns)
    assert sidecar["Atlas"]["Kind"] == "spheres" and sidecar["Atlas"]["RadiusMillimetres"] == 5.0
    # The synthetic brain holds every Power 2011 sphere (regions below coverage: tests/cli/test_console_log.py).
    assert sidecar["RegionsBelowCoverage"] == []
    assert min(sidecar["RegionCoverage"].values()) >= 0.5


def test_int16_run_gives_finite_signals(participant_run):
    path = _outputs(participant_run["output"], "sub-02_task-rest_run-1_*_atlas-Demo_desc-simple_timeseries.tsv")[0]
    values = pd.read_csv(path, sep="\t", na_values="n/a", keep_default_na=False).to_numpy()
    assert np.isfinite(values[2:]).all()


def test_connectivity_matrices(participant_run):
    path = _outputs(participant_run["output"], "sub-01_ses-2_*_atlas-Demo_stat-correlation_desc-simple_relmat.tsv")[0]
    table = pd.read_csv(path, sep="\t", index_col=0, na_values="n/a", keep_default_na=False)
    matrix = table.to_numpy()
    assert list(table.index) == list(table.columns)
    np.testing.assert_allclose(matrix, matrix.T, atol=1e-12)
    np.testing.assert_allclose(np.diag(matrix), 1.0)
    series = pd.read_csv(str(path).replace("_stat-correlation", "").replace("_relmat", "_timeseries"),
                         sep="\t", na_values="n/a", keep_default_na=False)
    kept = series.dropna(how="all")
    np.testing.assert_allclose(matrix, np.corrcoef(kept.to_numpy().T), atol=1e-7)
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["RelationshipMeasure"] == "Pearson correlation"
    assert sidecar["NumberOfVolumesUsed"] == len(kept)


def test_run_without_confounds_is_recorded(participant_run):
    output = participant_run["output"]
    records = _outputs(output, "sub-02_task-rest_run-2_*_qc.json")
    assert len(records) == 2
    for record in records:
        content = json.loads(record.read_text())
        assert content["Status"] == "failed"
        assert "no confounds file" in content["Reason"]
    assert not _outputs(output, "sub-02_task-rest_run-2_*_timeseries.tsv")


def test_dataset_level_files(participant_run, demo_atlas):
    output = participant_run["output"]
    description = json.loads((output / "dataset_description.json").read_text())
    assert description["DatasetType"] == "derivative"
    assert description["GeneratedBy"][0]["Name"] == "regionseries"
    # dataset-level facts only: each job's command line is in its runs' sidecars
    assert "Description" not in description["GeneratedBy"][0]
    assert "participant" not in json.dumps(description)
    sidecar = json.loads(next(output.rglob("*_desc-simple_timeseries.json")).read_text())
    assert " participant " in sidecar["CommandLine"]
    assert description["SourceDatasets"][0]["Version"] == "fMRIPrep 24.1.1"
    ignore = (output / ".bidsignore").read_text().splitlines()
    assert "*_timeseries.tsv" in ignore and "atlases" in ignore
    logs = list((output / "logs").glob("regionseries_participant_*.log"))
    assert len(logs) == 1 and "[6/6]" in logs[0].read_text()
    assert (output / "atlases" / "atlas-Power2011_spheres.tsv").exists()
    copied = nib.load(output / "atlases" / "atlas-Demo_dseg.nii.gz")
    original = nib.load(demo_atlas[0])
    np.testing.assert_array_equal(np.asarray(copied.dataobj), np.asarray(original.dataobj))
    table = pd.read_csv(output / "atlases" / "atlas-Demo_dseg.tsv", sep="\t")
    assert list(table.columns[:5]) == ["index", "name", "x", "y", "z"]
    assert not list(output.rglob(".tmp-*"))


def test_group_level_and_bids_validator(participant_run, tmp_path):
    output = participant_run["output"]
    result = run_cli(participant_run["bids"], output, "group", "--no-reports")
    assert result.returncode == 0, result.stderr
    group = output / "group"
    qc = pd.read_csv(group / "task-rest_space-MNI152NLin2009cAsym_atlas-Demo_desc-simple_qc.tsv", sep="\t",
                     dtype={"sub": str, "ses": str, "run": str})
    assert len(qc) == 6  # every run of the space, the failed one included
    failed = qc[(qc["sub"] == "02") & (qc["run"] == "2")]
    assert failed["excluded"].item() and "no confounds file" in failed["exclusion_reason"].item()
    assert {"n_volumes_kept", "mean_fd_mm", "dof_lost", "exclusion_reason"} <= set(qc.columns)
    exclusions = pd.read_csv(group / "task-rest_space-MNI152NLin2009cAsym_atlas-Demo_desc-simple_exclusions.tsv",
                             sep="\t", dtype=str)
    assert len(exclusions) == qc["excluded"].sum()
    mean = pd.read_csv(group / "task-rest_space-MNI152NLin2009cAsym_atlas-Demo_stat-correlation_desc-simple_relmat.tsv",
                       sep="\t", index_col=0).to_numpy()
    np.testing.assert_allclose(np.diag(mean), 1.0)
    qcfc = pd.read_csv(group / "task-rest_space-MNI152NLin2009cAsym_atlas-Demo_desc-simple_qcfc.tsv", sep="\t")
    assert len(qcfc) == 20 * 19 // 2
    assert qcfc["distance_mm"].notna().all() and (qcfc["distance_mm"] > 0).all()
    info = json.loads((group / "task-rest_space-MNI152NLin2009cAsym_atlas-Demo_desc-simple_qcfc.json").read_text())
    assert info["NumberOfRuns"] == int((~qc["excluded"]).sum())
    assert info["DistanceDependence"]["SpearmanRho"] is not None

    returncode, errors = bids_validator_errors(output)
    assert returncode == 0 and not errors, errors
