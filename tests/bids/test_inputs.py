"""Input discovery (``regionseries.bids.inputs``): space specs, filter files, pairing, repetition time."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from regionseries.bids.inputs import (
    InputError,
    NoInputFound,
    SpaceSpec,
    UsageError,
    discover_runs,
    read_bids_filters,
    read_repetition_time,
)


def test_space_spec():
    assert SpaceSpec.parse("MNI152NLin6Asym:res-2") == SpaceSpec("MNI152NLin6Asym", "2")
    assert str(SpaceSpec.parse("MNI152NLin2009cAsym")) == "MNI152NLin2009cAsym"
    with pytest.raises(ValueError, match="invalid space 'MNI-152'"):
        SpaceSpec.parse("MNI-152")


def test_filter_file_errors(tmp_path):
    path = tmp_path / "f.json"
    path.write_text("{not json")
    with pytest.raises(UsageError, match="not valid JSON"):
        read_bids_filters(path)
    path.write_text(json.dumps({"t1w": {}}))
    with pytest.raises(UsageError, match="only the \"bold\" query is used, found 't1w'"):
        read_bids_filters(path)
    path.write_bytes(b"")
    with pytest.raises(UsageError, match=r"empty file \(0 bytes\) \(a JSON object is expected\)"):
        read_bids_filters(path)
    # not there to be read: no input (66), not a usage error
    with pytest.raises(NoInputFound, match="missing.json: file not found"):
        read_bids_filters(tmp_path / "missing.json")
    path.write_text(json.dumps({"bold": {"session": None, "run": [1]}}))
    assert read_bids_filters(path) == {"bold": {"session": None, "run": [1]}}
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"bold": {"run": [1]}}).encode())  # a byte-order mark
    assert read_bids_filters(path) == {"bold": {"run": [1]}}


def test_filter_file_selects_runs(fmriprep_dataset, tmp_path):
    path = tmp_path / "f.json"
    path.write_text(json.dumps({"bold": {"session": "2"}}))
    runs = discover_runs(fmriprep_dataset, participants=["01"],
                         bids_filters=read_bids_filters(path))
    assert [r.bold.name for r in runs] == ["sub-01_ses-2_task-rest_run-1_space-MNI152NLin2009cAsym_desc-preproc_bold.nii.gz"]


def test_filter_file_selecting_nothing_is_named(fmriprep_dataset, tmp_path):
    path = tmp_path / "f.json"
    path.write_text(json.dumps({"bold": {"task": "nback"}}))
    with pytest.raises(NoInputFound, match=(
        rf"--bids-filter-file {path} selects no run: its query {{\"task\": \"nback\"}} excludes all 3 preprocessed "
        r"BOLD run\(s\) found for sub-01 in space MNI152NLin2009cAsym")):
        discover_runs(fmriprep_dataset, participants=["01"], bids_filters=read_bids_filters(path),
                      bids_filter_file=path)


def test_pairing_by_entities(fmriprep_dataset, tmp_path):
    runs = discover_runs(fmriprep_dataset, participants=["02", "03"])
    by_name = {r.bold.name: r for r in runs}
    run1 = by_name["sub-02_task-rest_run-1_space-MNI152NLin2009cAsym_desc-preproc_bold.nii.gz"]
    assert run1.confounds.name == "sub-02_task-rest_run-1_desc-confounds_timeseries.tsv"
    assert run1.mask.name == "sub-02_task-rest_run-1_space-MNI152NLin2009cAsym_desc-brain_mask.nii.gz"
    assert run1.repetition_time == 2.0 and run1.start_time == pytest.approx(0.96)
    # the run without confounds is not paired with run-1's (entities must match exactly)
    run2 = by_name["sub-02_task-rest_run-2_space-MNI152NLin2009cAsym_desc-preproc_bold.nii.gz"]
    assert run2.confounds is None
    assert any("no confounds file" in w for w in run2.warnings)
    # sub-03 has no run entity: its confounds must not be another run's
    run3 = by_name["sub-03_task-rest_space-MNI152NLin2009cAsym_desc-preproc_bold.nii.gz"]
    assert run3.confounds.name == "sub-03_task-rest_desc-confounds_timeseries.tsv"


def _touch_fmriprep_run(func: Path, stem: str, masks: list[str], confounds: list[str]) -> None:
    func.mkdir(parents=True, exist_ok=True)
    (func / f"{stem}_desc-preproc_bold.nii.gz").write_bytes(b"")
    (func / f"{stem}_desc-preproc_bold.json").write_text('{"RepetitionTime": 2.0}')
    for mask in masks:
        (func / mask).write_bytes(b"")
    for name in confounds:
        (func / name).write_text("a\n1\n")


def test_pairing_matches_space_res_den_and_padded_runs(tmp_path):
    """Companions are matched by exact acquisition entities, space, res and den, as
    fMRIPrep names them (zero-padded runs, several spaces and resolutions per run)."""
    root = tmp_path / "fmriprep"
    root.mkdir()
    (root / "dataset_description.json").write_text(json.dumps(
        {"Name": "x", "BIDSVersion": "1.9.0", "DatasetType": "derivative",
         "GeneratedBy": [{"Name": "fMRIPrep", "Version": "24.1.0"}]}))
    func = root / "sub-01" / "ses-A" / "func"
    for run in ("01", "02"):
        base = f"sub-01_ses-A_task-rest_acq-mb_run-{run}"
        _touch_fmriprep_run(
            func, f"{base}_space-MNI152NLin2009cAsym_res-2",
            masks=[f"{base}_space-MNI152NLin2009cAsym_res-2_desc-brain_mask.nii.gz",
                   f"{base}_space-MNI152NLin2009cAsym_res-1_desc-brain_mask.nii.gz",
                   f"{base}_space-T1w_desc-brain_mask.nii.gz",
                   f"{base}_desc-brain_mask.nii.gz"],
            confounds=[f"{base}_desc-confounds_timeseries.tsv"])
    # the same task without acq: must not take acq-mb's companions
    _touch_fmriprep_run(func, "sub-01_ses-A_task-rest_run-01_space-MNI152NLin2009cAsym_res-2", masks=[],
                        confounds=[])
    # CIFTI-style den on the mask: used only when the BOLD names a den
    _touch_fmriprep_run(func, "sub-01_ses-A_task-nback_space-MNI152NLin2009cAsym_res-2",
                        masks=["sub-01_ses-A_task-nback_space-MNI152NLin2009cAsym_res-2_desc-brain_mask.nii.gz"],
                        confounds=["sub-01_ses-A_task-nback_desc-confounds_timeseries.tsv",
                                   "sub-01_ses-A_task-nback_desc-confounds_regressors.tsv"])
    spaces = [SpaceSpec("MNI152NLin2009cAsym", "2")]
    with pytest.raises(InputError, match="several confounds files match sub-01_ses-A_task-nback"):
        discover_runs(root, spaces=spaces)
    (func / "sub-01_ses-A_task-nback_desc-confounds_regressors.tsv").unlink()
    runs = {r.bold.name: r for r in discover_runs(root, spaces=spaces)}
    assert len(runs) == 4
    for run in ("01", "02"):
        paired = runs[f"sub-01_ses-A_task-rest_acq-mb_run-{run}_space-MNI152NLin2009cAsym_res-2_desc-preproc_bold.nii.gz"]
        assert paired.confounds.name == f"sub-01_ses-A_task-rest_acq-mb_run-{run}_desc-confounds_timeseries.tsv"
        assert paired.mask.name == (f"sub-01_ses-A_task-rest_acq-mb_run-{run}_space-MNI152NLin2009cAsym_res-2"
                                    "_desc-brain_mask.nii.gz")
        assert paired.repetition_time == 2.0
    lone = runs["sub-01_ses-A_task-rest_run-01_space-MNI152NLin2009cAsym_res-2_desc-preproc_bold.nii.gz"]
    assert lone.confounds is None and lone.mask is None
    nback = runs["sub-01_ses-A_task-nback_space-MNI152NLin2009cAsym_res-2_desc-preproc_bold.nii.gz"]
    assert nback.confounds.name == "sub-01_ses-A_task-nback_desc-confounds_timeseries.tsv"
    assert nback.mask.name == "sub-01_ses-A_task-nback_space-MNI152NLin2009cAsym_res-2_desc-brain_mask.nii.gz"


def test_repetition_time_from_header_with_warning(tmp_path):
    img = nib.Nifti1Image(np.zeros((2, 2, 2, 3), np.float32), np.eye(4))
    img.header.set_xyzt_units("mm", "msec")
    img.header["pixdim"][4] = 1500
    path = tmp_path / "sub-01_task-x_bold.nii.gz"
    img.to_filename(path)
    t_r, start, warnings = read_repetition_time(path, None)
    assert t_r == pytest.approx(1.5) and start is None
    assert warnings == ["sub-01_task-x_bold.nii.gz: no RepetitionTime in its JSON sidecar; using 1.5 s from the NIfTI header"]
