"""Issue 18's options in one job, as an XCP-D user switching over would combine them.

Motion filter, --min-time, fMRIPost-AROMA components, --linc-qc and --combine-runs each have their
own tests; this one checks that they work together through the real command line (participant,
then group) and that each leaves its record in the same sidecars.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from regionseries.demo import write_fmripost_aroma_dataset

from ..conftest import TEST_N_VOLUMES, run_cli, small_dataset_spec, write_strategy_file


@pytest.fixture(scope="module")
def xcpd_like_job(fmriprep_dataset, tmp_path_factory):
    root = tmp_path_factory.mktemp("xcpd-like")
    aroma = root / "aroma"
    write_fmripost_aroma_dataset(aroma, fmriprep_dataset, small_dataset_spec())
    # XCP-D's "aroma" config with FD censoring of low-pass filtered motion (6 breaths per minute = 0.1 Hz)
    strategy = write_strategy_file(root, "aromaLP", {
        "components": ["high_pass", "wm_csf", "ica_aroma", "scrub"], "ica_aroma": "orthaggr",
        "motion_filter_type": "lp", "band_stop_min": 6, "motion_filter_order": 4,
        "fd_threshold": 0.3, "std_dvars_threshold": None, "min_time": 20})
    output = root / "out"
    participant = run_cli(fmriprep_dataset, output, "participant", "--participant-label", "01",
                          "--spheres", "Dosenbach2010", "--strategy", strategy, "--datasets", f"aroma={aroma}",
                          "--linc-qc", "--combine-runs", "--no-reports", "-w", root / "work")
    group = run_cli(fmriprep_dataset, output, "group", "--no-reports", "-w", root / "work")
    return {"participant": participant, "group": group, "output": output}


def test_each_option_leaves_its_record_in_every_run(xcpd_like_job):
    assert xcpd_like_job["participant"].returncode == 0, xcpd_like_job["participant"].stderr
    output = xcpd_like_job["output"]
    sidecars = sorted(output.glob("sub-01/**/*_run-*_atlas-Dosenbach2010_desc-aromaLP_timeseries.json"))
    assert len(sidecars) == 3
    for path in sidecars:
        sidecar = json.loads(path.read_text())
        assert sidecar["MotionFilter"]["Type"] == "lp"
        assert sidecar["MinTime"] == 20 and sidecar["KeptDuration"] >= 20
        assert sidecar["AromaComponents"]["IcaAroma"] == "orthaggr"
        assert all(name.startswith(("aroma_orth_motion_", "cosine", "csf", "white_matter"))
                   for name in sidecar["ConfoundRegressors"])
        settings = sidecar["Strategy"]
        assert settings["motion_filter_type"] == "lp" and settings["min_time"] == 20
        linc = path.parent / path.name.replace("_atlas-Dosenbach2010_desc-aromaLP_timeseries.json",
                                               "_stat-linc_desc-aromaLP_qc.tsv")
        table = pd.read_csv(linc, sep="\t", na_values="n/a", keep_default_na=False)
        assert len(table) == 1 and table.loc[0, "retained_duration"] == pytest.approx(sidecar["KeptDuration"])


def test_concatenations_and_the_group_level_use_them(xcpd_like_job):
    output = xcpd_like_job["output"]
    assert xcpd_like_job["group"].returncode == 0, xcpd_like_job["group"].stderr
    # sub-01 has two runs in session 1 and one in session 2: one concatenation per session
    combined = sorted(output.glob("sub-01/**/*_atlas-Dosenbach2010_desc-aromaLPConcat_timeseries.json"))
    assert len(combined) == 2 and all("_run-" not in path.name for path in combined)
    joined = [json.loads(path.read_text()) for path in combined]
    assert sorted(len(pd.read_csv(path.with_suffix(".tsv"), sep="\t")) for path in combined) == [
        TEST_N_VOLUMES, 2 * TEST_N_VOLUMES]
    assert all("RunNormalisation" in sidecar for sidecar in joined)
    qc_concat = pd.read_csv(next((output / "group").glob("*_atlas-Dosenbach2010_desc-aromaLPConcat_qc.tsv")),
                            sep="\t", na_values="n/a", keep_default_na=False)
    assert len(qc_concat) == 2  # once per participant x session, not per run
    assert list((output / "group").glob("*_stat-linc_desc-aromaLP_qc.tsv"))
