"""ICA-AROMA after fMRIPrep 23.1: the command line reads fMRIPost-AROMA's folder (--datasets aroma=PATH).

The synthetic fMRIPost-AROMA folder is written by regionseries.demo.write_fmripost_aroma_dataset
for the shared test dataset. The cleaned series are checked against nilearn.signal.clean given the
same regressors, read from the files.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from nilearn.signal import clean as nilearn_clean

from regionseries.demo import write_fmripost_aroma_dataset

from ..conftest import run_cli, small_dataset_spec, write_strategy_file

SUB03 = "sub-03_task-rest_space-MNI152NLin2009cAsym"
SUB03_BOLD = f"{SUB03}_desc-preproc_bold.nii.gz"
SUB03_ATLAS = f"{SUB03}_atlas-Dosenbach2010"


@pytest.fixture(scope="module")
def aroma_dataset(fmriprep_dataset, tmp_path_factory):
    root = tmp_path_factory.mktemp("fmripost") / "aroma"
    write_fmripost_aroma_dataset(root, fmriprep_dataset, small_dataset_spec())
    return root


def _series(output, sub_folder, stem, desc):
    """Time series and sidecar; ``stem`` names the run up to the atlas entity (included)."""
    path = output / sub_folder / "func" / f"{stem}_desc-{desc}_timeseries"
    return pd.read_csv(path.with_suffix(".tsv"), sep="\t", na_values="n/a"), json.loads(
        path.with_suffix(".json").read_text())


def test_orthaggr_and_basic_regress_fmripost_aroma_components(fmriprep_dataset, aroma_dataset, tmp_path):
    orth = write_strategy_file(tmp_path, "aromaOrth", {"base": "ica_aroma", "ica_aroma": "orthaggr"})
    basic = write_strategy_file(tmp_path, "aromaBasic", {"base": "ica_aroma", "ica_aroma": "basic"})
    raw = write_strategy_file(tmp_path, "raw", {"detrend": False, "standardize": False, "filter": False})
    output = tmp_path / "out"
    result = run_cli(fmriprep_dataset, output, "participant", "--participant-label", "03", "--spheres",
                     "Dosenbach2010", "--strategy", str(orth), str(basic), str(raw), "--datasets",
                     f"aroma={aroma_dataset}", "--no-reports", "-w", tmp_path / "work")
    assert result.returncode == 0, result.stderr
    timeseries = pd.read_csv(aroma_dataset / "sub-03" / "func" / "sub-03_task-rest_desc-aroma_timeseries.tsv",
                             sep="\t")
    confounds = pd.read_csv(fmriprep_dataset / "sub-03" / "func" / "sub-03_task-rest_desc-confounds_timeseries.tsv",
                            sep="\t", na_values="n/a")
    raw_series, _ = _series(output, "sub-03", SUB03_ATLAS, "raw")
    for desc, setting, prefix in (("aromaOrth", "orthaggr", "aroma_orth_motion_"),
                                  ("aromaBasic", "basic", "aroma_motion_")):
        series, sidecar = _series(output, "sub-03", SUB03_ATLAS, desc)
        aroma_columns = [f"{prefix}{n:02d}" for n in (1, 2, 3)]
        assert sidecar["ConfoundRegressors"] == sorted(aroma_columns + ["cosine00", "csf", "white_matter"])
        assert sidecar["AromaComponents"] == {
            "Source": "fMRIPost-AROMA", "Files": ["bids:aroma:sub-03/func/sub-03_task-rest_desc-aroma_timeseries.tsv"],
            "IcaAroma": setting, "NumberOfRejectedComponents": 3, "Regressors": aroma_columns,
        }
        qc = json.loads((output / "sub-03" / "func" / f"{SUB03}_desc-{desc}_qc.json").read_text())
        assert qc["AromaComponents"] == sidecar["AromaComponents"] and qc["Status"] == "done"
        assert qc["Settings"]["Strategy"]["ica_aroma"] == setting
        kept = np.array(sidecar["KeptVolumes"])
        regressors = pd.concat([confounds[["cosine00", "csf", "white_matter"]], timeseries[aroma_columns]], axis=1)
        regions = [name for name in series.columns if series[name].notna().any()]
        expected = nilearn_clean(raw_series[regions].to_numpy()[kept], confounds=regressors.to_numpy()[kept],
                                 detrend=True, standardize="zscore_sample", standardize_confounds=True,
                                 filter=False, t_r=sidecar["RepetitionTime"])
        np.testing.assert_allclose(series[regions].to_numpy()[kept], expected, rtol=1e-4, atol=1e-5)
    # the sidecars' bids:aroma: URIs resolve through the output's DatasetLinks
    links = json.loads((output / "dataset_description.json").read_text())["DatasetLinks"]
    assert links["aroma"] == aroma_dataset.resolve().as_uri()
    dataset, relative = sidecar["AromaComponents"]["Files"][0].removeprefix("bids:").split(":", 1)
    assert (Path(links[dataset].removeprefix("file://")) / relative).is_file()


def test_a_later_job_adds_its_dataset_link(fmriprep_dataset, aroma_dataset, tmp_path):
    """A job without --datasets wrote dataset_description.json; one with --datasets aroma adds the link."""
    output = tmp_path / "out"
    first = run_cli(fmriprep_dataset, output, "participant", "--participant-label", "03", "--spheres",
                    "Dosenbach2010", "--no-reports", "-w", tmp_path / "work")
    assert first.returncode == 0, first.stderr
    assert set(json.loads((output / "dataset_description.json").read_text())["DatasetLinks"]) == {"preprocessed"}
    orth = write_strategy_file(tmp_path, "aromaOrth", {"base": "ica_aroma", "ica_aroma": "orthaggr"})
    second = run_cli(fmriprep_dataset, output, "participant", "--participant-label", "03", "--spheres",
                     "Dosenbach2010", "--strategy", str(orth), "--datasets", f"aroma={aroma_dataset}",
                     "--no-reports", "-w", tmp_path / "work")
    assert second.returncode == 0, second.stderr
    description = json.loads((output / "dataset_description.json").read_text())
    assert description["DatasetLinks"] == {"preprocessed": fmriprep_dataset.resolve().as_uri(),
                                           "aroma": aroma_dataset.resolve().as_uri()}


def test_full_reads_fmripost_aroma_denoised_bold_in_the_runs_space(fmriprep_dataset, aroma_dataset, tmp_path):
    output = tmp_path / "out"
    result = run_cli(fmriprep_dataset, output, "participant", "--participant-label", "01", "--space",
                     "MNI152NLin6Asym:res-2", "--spheres", "Dosenbach2010", "--strategy", "ica_aroma", "--datasets",
                     f"aroma={aroma_dataset}", "--no-reports", "-w", tmp_path / "work")
    assert result.returncode == 0, result.stderr
    stem = "sub-01_ses-1_task-rest_run-1_space-MNI152NLin6Asym_res-2"
    _, sidecar = _series(output, "sub-01/ses-1", "sub-01_ses-1_task-rest_run-1_space-MNI152NLin6Asym_atlas-"
                                                 "Dosenbach2010_res-2", "icaAroma")
    assert sidecar["Sources"][0] == f"bids:aroma:sub-01/ses-1/func/{stem}_desc-nonaggrDenoised_bold.nii.gz"
    assert sidecar["ConfoundRegressors"] == ["cosine00", "csf", "white_matter"]
    assert sidecar["AromaComponents"]["NumberOfRejectedComponents"] == 3
    assert sidecar["AromaComponents"]["IcaAroma"] == "full" and sidecar["AromaComponents"]["Regressors"] == []


def test_full_without_a_denoised_bold_in_the_space_fails_naming_the_run(fmriprep_dataset, aroma_dataset, tmp_path):
    output = tmp_path / "out"
    result = run_cli(fmriprep_dataset, output, "participant", "--participant-label", "03", "--spheres",
                     "Dosenbach2010", "--strategy", "simple", "ica_aroma", "--datasets", f"aroma={aroma_dataset}",
                     "--no-reports", "-w", tmp_path / "work")
    assert result.returncode == 1
    assert (f"strategy ica_aroma (full ICA-AROMA) needs fMRIPost-AROMA's desc-nonaggrDenoised_bold of {SUB03_BOLD} "
            f"in the same space and resolution: there is none in {aroma_dataset}") in result.stderr


def test_orthaggr_without_fmripost_aroma_files_fails_naming_the_run(fmriprep_dataset, tmp_path):
    empty = tmp_path / "empty_aroma"
    empty.mkdir()
    not_found = f"no fMRIPost-AROMA's desc-aroma_timeseries.tsv for {SUB03_BOLD} in {empty}"
    for index, (setting, extra, message) in enumerate((
        ("orthaggr", (), f"this strategy needs fMRIPost-AROMA's desc-aroma_timeseries.tsv of {SUB03_BOLD}: give the "
                         "fMRIPost-AROMA output folder with --datasets aroma=PATH"),
        ("orthaggr", ("--datasets", f"aroma={empty}"), not_found),
        # 'basic' falls back to fMRIPrep < 23.1's columns only when no fMRIPost-AROMA folder is given
        ("basic", ("--datasets", f"aroma={empty}"), not_found),
    )):
        output = tmp_path / f"out{index}"
        result = run_cli(fmriprep_dataset, output, "participant", "--participant-label", "03", "--spheres",
                         "Dosenbach2010", "--strategy", "simple", "ica_aroma", "--ica-aroma", setting, *extra,
                         "--no-reports", "-w", tmp_path / "work")
        assert result.returncode == 1
        assert message in result.stderr
        record = json.loads((output / "sub-03" / "func" / f"{SUB03}_desc-icaAroma_qc.json").read_text())
        assert record["Status"] == "failed" and message in record["Reason"]
        assert (output / "sub-03" / "func" / f"{SUB03}_atlas-Dosenbach2010_desc-simple_timeseries.tsv").exists()


def test_unknown_dataset_name_is_a_usage_error(fmriprep_dataset, tmp_path):
    result = run_cli(fmriprep_dataset, tmp_path / "out", "participant", "--spheres", "Dosenbach2010",
                     "--datasets", f"melodic={tmp_path}", "-w", tmp_path / "work")
    assert result.returncode == 64
    assert "unknown dataset name 'melodic'; known: aroma (fMRIPost-AROMA output)" in result.stderr
