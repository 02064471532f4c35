"""tedana (multi-echo) components in the command line: --datasets tedana=PATH and the 'tedana' component.

The synthetic tedana folder is written by regionseries.demo.write_tedana_dataset. The regressors are
nilearn's load_confounds(strategy=("tedana",)) columns of the same files, and the cleaned series are
checked against nilearn.signal.clean.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from nilearn.interfaces.fmriprep import load_confounds as nilearn_load_confounds
from nilearn.signal import clean as nilearn_clean

from regionseries.demo import write_tedana_dataset

from ..conftest import run_cli, small_dataset_spec, write_strategy_file


@pytest.fixture(scope="module")
def tedana_dataset(fmriprep_dataset, tmp_path_factory):
    """tedana outputs of the shared dataset's runs."""
    root = tmp_path_factory.mktemp("tedana") / "tedana"
    write_tedana_dataset(root, fmriprep_dataset, small_dataset_spec())
    return root


SUB03 = "sub-03_task-rest_space-MNI152NLin2009cAsym"
SUB03_BOLD = f"{SUB03}_desc-preproc_bold.nii.gz"


def _series(output, desc):
    path = output / "sub-03" / "func" / f"{SUB03}_atlas-Dosenbach2010_desc-{desc}_timeseries"
    return (pd.read_csv(path.with_suffix(".tsv"), sep="\t", na_values="n/a"),
            json.loads(path.with_suffix(".json").read_text()))


def _nilearn_tedana(tedana_dataset, tmp_path, kind):
    """nilearn's tedana columns of sub-03's files (found next to an optcom image, as nilearn wants)."""
    folder = tmp_path / "nilearn"
    folder.mkdir(exist_ok=True)
    for suffix in ("desc-ICA_mixing.tsv", "desc-tedana_metrics.tsv"):
        link = folder / f"sub-03_task-rest_{suffix}"
        if not link.exists():
            link.symlink_to(tedana_dataset / "sub-03" / "func" / f"sub-03_task-rest_{suffix}")
    optcom = folder / "sub-03_task-rest_desc-optcom_bold.nii.gz"
    return nilearn_load_confounds(str(optcom), strategy=("tedana",), tedana=kind, demean=False)[0]


def test_tedana_aggressive_and_non_aggressive(fmriprep_dataset, tedana_dataset, tmp_path):
    common = {"components": ["high_pass", "motion", "tedana"], "motion": "basic"}
    aggressive = write_strategy_file(tmp_path, "tedanaAggr", {**common, "tedana": "aggressive"})
    non_aggressive = write_strategy_file(tmp_path, "tedanaNonaggr", {**common, "tedana": "non-aggressive"})
    raw = write_strategy_file(tmp_path, "raw", {"detrend": False, "standardize": False, "filter": False})
    output = tmp_path / "out"
    result = run_cli(fmriprep_dataset, output, "participant", "--participant-label", "03", "--spheres",
                     "Dosenbach2010", "--strategy", str(aggressive), str(non_aggressive), str(raw),
                     "--datasets", f"tedana={tedana_dataset}", "--no-reports", "-w", tmp_path / "work")
    assert result.returncode == 0, result.stderr
    confounds = pd.read_csv(fmriprep_dataset / "sub-03" / "func" / "sub-03_task-rest_desc-confounds_timeseries.tsv",
                            sep="\t", na_values="n/a")
    fmriprep_columns = ["cosine00", "rot_x", "rot_y", "rot_z", "trans_x", "trans_y", "trans_z"]
    rejected = _nilearn_tedana(tedana_dataset, tmp_path, "aggressive")
    every = _nilearn_tedana(tedana_dataset, tmp_path, "non-aggressive")
    raw_series, _ = _series(output, "raw")
    files = ["bids:tedana:sub-03/func/sub-03_task-rest_desc-ICA_mixing.tsv",
             "bids:tedana:sub-03/func/sub-03_task-rest_desc-tedana_metrics.tsv"]

    series, sidecar = _series(output, "tedanaAggr")
    assert sidecar["ConfoundRegressors"] == sorted(fmriprep_columns + list(rejected.columns))
    assert sidecar["TedanaComponents"] == {"Source": "tedana", "Files": files, "Tedana": "aggressive",
                                           "NumberOfRejectedComponents": 4, "NumberOfAcceptedComponents": 6}
    kept = np.array(sidecar["KeptVolumes"])
    regions = [name for name in series.columns if series[name].notna().any()]
    regressors = pd.concat([confounds[fmriprep_columns], rejected], axis=1).to_numpy()
    expected = nilearn_clean(raw_series[regions].to_numpy()[kept], confounds=regressors[kept], detrend=True,
                             standardize="zscore_sample", standardize_confounds=True, filter=False, t_r=2.0)
    np.testing.assert_allclose(series[regions].to_numpy()[kept], expected, rtol=1e-4, atol=1e-5)

    series, sidecar = _series(output, "tedanaNonaggr")
    assert sidecar["ConfoundRegressors"] == fmriprep_columns
    assert sidecar["TedanaComponents"]["Tedana"] == "non-aggressive"
    assert sidecar["TedanaComponents"]["NumberOfRejectedComponents"] == 4
    # non-aggressive: fit every component over the kept volumes, subtract the rejected ones' part
    raw_kept = raw_series[regions].to_numpy()[kept]
    design = every.to_numpy()[kept] - every.to_numpy()[kept].mean(axis=0)
    coefficients = np.linalg.lstsq(design, raw_kept - raw_kept.mean(axis=0), rcond=None)[0]
    is_rejected = np.array([name.startswith("rejected_") for name in every.columns])
    denoised = raw_kept - design[:, is_rejected] @ coefficients[is_rejected]
    expected = nilearn_clean(denoised, confounds=confounds[fmriprep_columns].to_numpy()[kept], detrend=True,
                             standardize="zscore_sample", standardize_confounds=True, filter=False, t_r=2.0)
    np.testing.assert_allclose(series[regions].to_numpy()[kept], expected, rtol=1e-4, atol=1e-4)


def test_tedana_flag_overrides_and_resume_notices(fmriprep_dataset, tedana_dataset, tmp_path):
    strategy = write_strategy_file(tmp_path, "ted", {"components": ["tedana"]})
    output = tmp_path / "out"
    arguments = [fmriprep_dataset, output, "participant", "--participant-label", "03", "--spheres", "Dosenbach2010",
                 "--strategy", str(strategy), "--datasets", f"tedana={tedana_dataset}", "--no-reports",
                 "-w", tmp_path / "work"]
    result = run_cli(*arguments, "--tedana", "non-aggressive")
    assert result.returncode == 0, result.stderr
    _, sidecar = _series(output, "ted")
    assert sidecar["Strategy"]["tedana"] == "non-aggressive" and sidecar["ConfoundRegressors"] == []
    result = run_cli(*arguments)  # the strategy's own 'aggressive' now: outputs exist with other settings
    assert result.returncode == 0, result.stderr
    assert "outputs of strategy ted exist but were made with other settings" in result.stderr


def test_tedana_without_its_files_fails_naming_the_run(fmriprep_dataset, tmp_path):
    strategy = write_strategy_file(tmp_path, "ted", {"components": ["motion", "tedana"]})
    output = tmp_path / "out"
    result = run_cli(fmriprep_dataset, output, "participant", "--participant-label", "03", "--spheres",
                     "Dosenbach2010", "--strategy", "simple", str(strategy), "--no-reports", "-w", tmp_path / "work")
    assert result.returncode == 1
    message = (f"this strategy needs tedana's desc-ICA_mixing.tsv and desc-tedana_metrics.tsv of {SUB03_BOLD}: "
               "give the tedana output folder with --datasets tedana=PATH")
    assert message in result.stderr
    record = json.loads((output / "sub-03" / "func" / f"{SUB03}_desc-ted_qc.json").read_text())
    assert record["Status"] == "failed" and record["Reason"] == message
