"""The records a run writes, through the real command line: an excluded strategy's
``*_qc.json`` keeps the run's counts, and the group QC table shows them with every
exclusion rule the run breaks."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from regionseries.demo import DatasetSpec, RunSpec, write_fmriprep_dataset

from ..conftest import TEST_N_VOLUMES, TEST_VOXEL_SIZE, run_cli


@pytest.fixture(scope="module")
def excluded_run(demo_atlas, tmp_path_factory):
    """One run whose scrubbing strategy keeps too few volumes (FD threshold 0.2 mm)."""
    bids = tmp_path_factory.mktemp("data") / "fmriprep"
    write_fmriprep_dataset(bids, DatasetSpec(runs=[RunSpec("01", None, "rest", "1", motion_scale=1.0)],
                                             n_volumes=TEST_N_VOLUMES, voxel_size=TEST_VOXEL_SIZE, seed=5))
    output = tmp_path_factory.mktemp("out") / "regionseries"
    image, table = demo_atlas
    result = run_cli(bids, output, "participant", "--atlas-file", f"Demo={image}:{table}",
                     "--strategy", "simple", "scrubbing", "--fd-threshold", "0.2", "--std-dvars-threshold", "100",
                     "-w", tmp_path_factory.mktemp("work"), "--no-reports")
    assert result.returncode == 0, result.stderr
    return bids, output


def _qc_record(output: Path, desc: str) -> dict:
    return json.loads(next(output.rglob(f"sub-01/**/*_desc-{desc}_qc.json")).read_text())


def test_excluded_strategy_keeps_its_counts(excluded_run):
    _, output = excluded_run
    record = _qc_record(output, "scrubbing")
    assert record["Status"] == "excluded"
    kept, censored = record["NumberOfVolumesKept"], record["NumberOfVolumesDiscardedByMotionScrubbing"]
    dummies = record["NumberOfVolumesDiscardedByNonsteadyStatesDetector"]
    assert kept + censored + dummies == record["NumberOfVolumes"] == TEST_N_VOLUMES
    assert censored > 0 and kept == len(record["KeptVolumes"])
    # the reason quotes the same numbers the record holds
    assert record["Reason"].startswith(f"only {kept} of {TEST_N_VOLUMES} volumes are kept ({dummies} non-steady-state, "
                                       f"{censored} motion outliers")
    assert len(record["ConfoundRegressors"]) >= kept
    assert record["DegreesOfFreedomLost"] == TEST_N_VOLUMES  # more regressors than kept volumes: all of them
    assert record["MeanFramewiseDisplacement"] == pytest.approx(_qc_record(output, "simple")["MeanFramewiseDisplacement"])


def test_group_table_shows_counts_and_every_rule_broken(excluded_run):
    bids, output = excluded_run
    record = _qc_record(output, "scrubbing")
    result = run_cli(bids, output, "group", "--no-reports", "--max-mean-fd", "0.001", "--min-kept-fraction", "0.9")
    assert result.returncode == 0, result.stderr
    qc = pd.read_csv(next((output / "group").glob("*_desc-scrubbing_qc.tsv")), sep="\t")
    row = qc.iloc[0]
    assert (row["n_volumes_kept"], row["n_motion_censored"], row["dof_lost"]) == (
        record["NumberOfVolumesKept"], record["NumberOfVolumesDiscardedByMotionScrubbing"], TEST_N_VOLUMES)
    assert row["mean_fd_mm"] == pytest.approx(record["MeanFramewiseDisplacement"])
    reasons = row["exclusion_reason"].split("; ")
    assert reasons[0] == f"participant level: excluded: {record['Reason'].rstrip('.')}"  # no ".;" in the joined text
    assert reasons[1] == f"mean FD {record['MeanFramewiseDisplacement']:.3f} mm > 0.001 mm"
    assert reasons[2].startswith(f"{record['NumberOfVolumesKept']} of {TEST_N_VOLUMES} volumes kept (")
    assert len(reasons) == 3
