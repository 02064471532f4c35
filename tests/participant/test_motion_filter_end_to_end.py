"""The motion filter from the command line: a planted breathing component no longer censors volumes,
a planted head jerk still does; the filter is recorded in the sidecars and drawn in the report."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from regionseries.demo import DatasetSpec, RunSpec, write_fmriprep_dataset

from ..conftest import TEST_VOXEL_SIZE, run_cli
from ..core.confounds.test_plans_motion_filter import (
    MOTION,
    TR,
    confounds_frame,
    planted_motion,
)

N_VOLUMES = 150
N_DUMMY = 2
JERK = 100
STRATEGY = {"name": "fdscrub", "components": ["motion", "scrub"], "motion": "basic", "fd_threshold": 0.3,
            "std_dvars_threshold": None, "min_segment_length": 0}
STEM = "sub-01_task-rest_space-MNI152NLin2009cAsym"


@pytest.fixture(scope="module")
def breathing_dataset(tmp_path_factory, demo_atlas):
    """One multiband run (TR 0.8 s) whose motion parameters carry 0.3 Hz breathing and a jerk,
    and a strategy file censoring at FD > 0.3 mm."""
    root = tmp_path_factory.mktemp("breathing") / "fmriprep"
    spec = DatasetSpec(runs=[RunSpec("01", None, "rest", None)], n_volumes=N_VOLUMES, repetition_time=TR,
                       voxel_size=TEST_VOXEL_SIZE, n_dummy=N_DUMMY, seed=7)
    write_fmriprep_dataset(root, spec)
    tsv = root / "sub-01" / "func" / "sub-01_task-rest_desc-confounds_timeseries.tsv"
    table = pd.read_csv(tsv, sep="\t", na_values="n/a")
    planted = confounds_frame(planted_motion(n=N_VOLUMES, jerk=JERK), n_dummy=0)
    for name in planted.columns:
        if name.startswith(MOTION) or name == "framewise_displacement":
            table[name] = planted[name]
    table.to_csv(tsv, sep="\t", index=False, na_rep="n/a", float_format="%.8g")
    strategy = root.parent / "fdscrub.json"
    strategy.write_text(json.dumps(STRATEGY))
    return root, strategy


def run(dataset, demo_atlas, output, *options):
    root, strategy = dataset
    image, table = demo_atlas
    result = run_cli(root, output, "participant", "--atlas-file", f"Demo={image}:{table}", "--strategy", strategy,
                     "-w", output.parent / f"work-{output.name}", *options)
    assert result.returncode == 0, result.stderr
    return output / "sub-01" / "func"


def test_notch_uncensors_breathing_and_keeps_the_jerk(breathing_dataset, demo_atlas, tmp_path):
    raw = run(breathing_dataset, demo_atlas, tmp_path / "raw")
    notch = run(breathing_dataset, demo_atlas, tmp_path / "notch", "--motion-filter-type", "notch",
                "--band-stop-min", "12", "--band-stop-max", "24")
    raw_qc = json.loads((raw / f"{STEM}_desc-fdscrub_qc.json").read_text())
    qc = json.loads((notch / f"{STEM}_desc-fdscrub_qc.json").read_text())
    assert len(raw_qc["MotionOutlierVolumes"]) > 20 and JERK in raw_qc["MotionOutlierVolumes"]
    assert qc["MotionOutlierVolumes"] == [JERK]
    assert qc["DummyVolumes"] == [0, 1] and qc["NumberOfVolumesKept"] == N_VOLUMES - N_DUMMY - 1
    assert "MotionFilter" not in raw_qc and "motion_filter_type" not in raw_qc["Settings"]["Strategy"]
    report = (notch.parent.parent / "sub-01.html").read_text()
    assert "FD recomputed from the motion-filtered parameters" in report
    assert "motion-filtered" not in (raw.parent.parent / "sub-01.html").read_text()


def test_sidecars_record_the_filter(breathing_dataset, demo_atlas, tmp_path):
    out = run(breathing_dataset, demo_atlas, tmp_path / "notch", "--motion-filter-type", "notch",
              "--band-stop-min", "12", "--band-stop-max", "24", "--motion-filter-order", "8")
    sidecar = json.loads((out / f"{STEM}_atlas-Demo_desc-fdscrub_timeseries.json").read_text())
    record = sidecar["MotionFilter"]
    assert (record["Type"], record["Order"], record["Passes"]) == ("notch", 8, 2)
    assert record["BandStopBreathsPerMinute"] == [12, 24]
    assert record["BandStopHertz"] == pytest.approx([0.2, 0.4])
    assert record["NotchFrequencyHertz"] == pytest.approx(0.3)
    assert sidecar["Strategy"]["motion_filter_type"] == "notch" and sidecar["Strategy"]["band_stop_max"] == 24
    assert sidecar["ConfoundRegressors"] == sorted(f"{name}_filtered" for name in MOTION)
    assert 0 < sidecar["MeanFramewiseDisplacementFiltered"] < sidecar["MeanFramewiseDisplacement"]
    qc = json.loads((out / f"{STEM}_desc-fdscrub_qc.json").read_text())
    assert qc["MotionFilter"] == record
    assert qc["Settings"]["Strategy"]["motion_filter_order"] == 8


def test_changed_filter_is_noticed_on_rerun(breathing_dataset, demo_atlas, tmp_path):
    output = tmp_path / "rerun"
    run(breathing_dataset, demo_atlas, output, "--motion-filter-type", "notch", "--band-stop-min", "12",
        "--band-stop-max", "24")
    root, strategy = breathing_dataset
    image, table = demo_atlas
    result = run_cli(root, output, "participant", "--atlas-file", f"Demo={image}:{table}", "--strategy", strategy,
                     "-w", tmp_path / "work-rerun", "--motion-filter-type", "notch", "--band-stop-min", "12",
                     "--band-stop-max", "20")
    assert result.returncode == 0, result.stderr
    assert "made with other settings" in result.stderr


def test_low_pass_above_nyquist_fails_the_run_naming_the_file(breathing_dataset, demo_atlas, tmp_path):
    root, strategy = breathing_dataset
    image, table = demo_atlas
    result = run_cli(root, tmp_path / "out", "participant", "--atlas-file", f"Demo={image}:{table}",
                     "--strategy", strategy, "-w", tmp_path / "work", "--motion-filter-type", "lp",
                     "--band-stop-min", "60")
    assert result.returncode == 1
    assert "desc-confounds_timeseries.tsv: the low-pass motion filter's cut-off 60 breaths per minute" in result.stderr


def test_invalid_filter_settings_are_a_usage_error(breathing_dataset, demo_atlas, tmp_path):
    root, strategy = breathing_dataset
    result = run_cli(root, tmp_path / "out", "participant", "--strategy", strategy, "--motion-filter-type", "notch",
                     "--band-stop-min", "12")
    assert result.returncode == 64  # EX_USAGE (docs/usage.md, "Exit codes")
    assert "needs 'band_stop_max'" in result.stderr
