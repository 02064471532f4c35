"""Full ICA-AROMA strategies read fMRIPrep's desc-smoothAROMAnonaggr_bold, or fail with a clear reason."""

from __future__ import annotations

import json
import shutil

from ..conftest import run_cli

BOLD = "sub-03_task-rest_space-MNI152NLin2009cAsym_desc-preproc_bold.nii.gz"


def _copy_sub03(source, target):
    shutil.copytree(source / "sub-03", target / "sub-03")
    shutil.copy(source / "dataset_description.json", target / "dataset_description.json")
    for path in (target / "sub-03").rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)


def test_ica_aroma_reads_the_aroma_image(fmriprep_dataset, tmp_path):
    data = tmp_path / "fmriprep"
    _copy_sub03(fmriprep_dataset, data)
    func = data / "sub-03" / "func"
    shutil.copy(func / BOLD, func / BOLD.replace("desc-preproc", "desc-smoothAROMAnonaggr"))
    output = tmp_path / "out"
    result = run_cli(data, output, "participant", "--spheres", "Dosenbach2010", "--strategy", "simple", "ica_aroma",
                     "--no-reports", "-w", tmp_path / "work")
    assert result.returncode == 0, result.stderr
    sidecar = json.loads((output / "sub-03" / "func" / "sub-03_task-rest_space-MNI152NLin2009cAsym_atlas-"
                                                      "Dosenbach2010_desc-icaAroma_timeseries.json").read_text())
    assert sidecar["Sources"][0].endswith("sub-03_task-rest_space-MNI152NLin2009cAsym_desc-smoothAROMAnonaggr_bold.nii.gz")
    assert sidecar["ConfoundRegressors"] == sorted(sidecar["ConfoundRegressors"])
    assert "trans_x" not in sidecar["ConfoundRegressors"]  # full AROMA: only WM/CSF and cosines


def test_ica_aroma_without_the_aroma_image_fails_clearly(fmriprep_dataset, tmp_path):
    data = tmp_path / "fmriprep"
    _copy_sub03(fmriprep_dataset, data)
    output = tmp_path / "out"
    result = run_cli(data, output, "participant", "--spheres", "Dosenbach2010", "--strategy", "simple", "ica_aroma",
                     "--no-reports", "-w", tmp_path / "work")
    assert result.returncode == 1
    assert "strategy ica_aroma (full ICA-AROMA) needs fMRIPrep's desc-smoothAROMAnonaggr_bold" in result.stderr
    func = output / "sub-03" / "func"
    assert (func / "sub-03_task-rest_space-MNI152NLin2009cAsym_atlas-Dosenbach2010_desc-simple_timeseries.tsv").exists()
    record = json.loads((func / "sub-03_task-rest_space-MNI152NLin2009cAsym_desc-icaAroma_qc.json").read_text())
    assert record["Status"] == "failed" and "fMRIPost-AROMA" in record["Reason"]
