"""Reruns over an existing output folder, through the real command line: records and
sidecars hold only the strategy settings used, and an output folder whose records hold
every setting (as versions before this one wrote them) is still recognised as finished."""

from __future__ import annotations

import json

import pytest

from regionseries.confounds import get_strategy
from regionseries.core.confounds.plans import strategy_settings_used
from regionseries.demo import DatasetSpec, RunSpec, write_fmriprep_dataset

from ..conftest import TEST_N_VOLUMES, TEST_VOXEL_SIZE, file_listing, run_cli


@pytest.fixture(scope="module")
def one_run(demo_atlas, tmp_path_factory):
    bids = tmp_path_factory.mktemp("data") / "fmriprep"
    write_fmriprep_dataset(bids, DatasetSpec(runs=[RunSpec("01", None, "rest", "1", motion_scale=0.5)],
                                             n_volumes=TEST_N_VOLUMES, voxel_size=TEST_VOXEL_SIZE, seed=7))
    image, table = demo_atlas
    return [bids, tmp_path_factory.mktemp("out") / "regionseries", "participant", "--atlas-file",
            f"Demo={image}:{table}", "--strategy", "scrubbing", "--no-reports", "-w", tmp_path_factory.mktemp("work")]


def test_sidecars_record_only_the_settings_used(one_run):
    result = run_cli(*one_run)
    assert result.returncode == 0, result.stderr
    output = one_run[1]
    sidecar = json.loads(next(output.rglob("*_desc-scrubbing_timeseries.json")).read_text())
    recorded = sidecar["Strategy"]
    assert recorded == strategy_settings_used(get_strategy("scrubbing"))
    assert not {"global_signal", "compcor", "n_compcor", "ica_aroma"} & set(recorded)
    assert recorded["components"] == ["high_pass", "motion", "wm_csf", "scrub"]
    assert (recorded["motion"], recorded["wm_csf"], recorded["fd_threshold"]) == ("full", "full", 0.5)
    record = json.loads(next(output.rglob("*_desc-scrubbing_qc.json")).read_text())
    assert record["Strategy"] == recorded and record["Settings"]["Strategy"] == recorded


def test_records_of_earlier_versions_are_recognised(one_run):
    """Records holding every setting of the strategy (earlier versions) still mean 'finished,
    same settings': the rerun skips the run without the 'other settings' warning."""
    output = one_run[1]
    if not list(output.rglob("*_qc.json")):
        assert run_cli(*one_run).returncode == 0
    every_setting = get_strategy("scrubbing").to_dict()
    for path in [*output.rglob("*_desc-scrubbing_qc.json"), *output.rglob("*_desc-scrubbing_timeseries.json")]:
        content = json.loads(path.read_text())
        content["Strategy"] = every_setting
        if "Settings" in content:
            content["Settings"]["Strategy"] = every_setting
        path.write_text(json.dumps(content, indent=2))
    before = file_listing(output / "sub-01")
    rerun = run_cli(*one_run)
    assert rerun.returncode == 0, rerun.stderr
    assert "skipped (outputs exist)" in rerun.stderr and "other settings" not in rerun.stderr, rerun.stderr
    assert file_listing(output / "sub-01") == before

    changed = run_cli(*one_run, "--fd-threshold", "0.4")
    assert "skipped (outputs exist)" in changed.stderr
    assert "outputs of strategy scrubbing exist but were made with other settings" in changed.stderr
