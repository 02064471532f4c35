"""Atomic/race-safe writes, input pairing, label-table dialects and atlas specs."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from regionseries.atlases.base import (
    AtlasError,
    check_labels_against_image,
    check_maps_table,
    labels_atlas_from_image,
    read_label_table,
)
from regionseries.atlases.files import FileRequest, resolve_file_atlas
from regionseries.atlases.registry import AtlasRegistry, parse_threshold
from regionseries.atlases.spheres import BUILTIN_SPHERES, SpheresRequest, resolve_spheres
from regionseries.atlases.templateflow import TemplateFlowRequest, choose_resolution
from regionseries.bids.inputs import (
    InputError,
    NoInputFound,
    SpaceSpec,
    UsageError,
    discover_runs,
    read_bids_filters,
    read_repetition_time,
)
from regionseries.bids.outputs import atomic_write_text, write_if_absent

# ------------------------------------------------------------------------------ writes


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "out.tsv"
    atomic_write_text(target, "first\n")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr("regionseries.bids.outputs.os.replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(target, "second, longer content\n")
    assert target.read_text() == "first\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.tsv"]


def _create(args):
    path, text = args
    return write_if_absent(Path(path), text)


def test_write_if_absent_has_exactly_one_winner(tmp_path):
    target = tmp_path / "dataset_description.json"
    texts = [json.dumps({"job": i}) for i in range(8)]
    with multiprocessing.get_context("fork").Pool(4) as pool:
        created = pool.map(_create, [(str(target), t) for t in texts])
    assert sum(created) == 1
    assert target.read_text() == texts[created.index(True)]
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


# ------------------------------------------------------------------------------ inputs


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


# ------------------------------------------------------------------------------ label tables


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_label_table_dialects(tmp_path):
    schaefer = read_label_table(_write(tmp_path / "a.tsv", "index\tname\tcolor\n1\t7Networks_LH_Vis_1\t#781180\n"
                                                            "2\t7Networks_LH_Vis_2\t#781181\n"))
    assert schaefer[["index", "name"]].values.tolist() == [[1, "7Networks_LH_Vis_1"], [2, "7Networks_LH_Vis_2"]]
    assert "color" in schaefer.columns
    difumo = read_label_table(_write(tmp_path / "b.tsv", "Component\tDifumo_names\tYeo_networks7\n"
                                                          "1\tCalcarine cortex\tVisual\n2\tCuneus\tVisual\n"))
    assert difumo["name"].tolist() == ["Calcarine cortex", "Cuneus"]
    headerless = read_label_table(_write(tmp_path / "c.tsv", "3\tThalamus\n1\tCaudate\n"))
    assert headerless[["index", "name"]].values.tolist() == [[1, "Caudate"], [3, "Thalamus"]]
    csv = read_label_table(_write(tmp_path / "d.csv", "label,region\n5,Putamen\n"))
    assert csv[["index", "name"]].values.tolist() == [[5, "Putamen"]]
    with pytest.raises(AtlasError, match="label values repeated: 1"):
        read_label_table(_write(tmp_path / "e.tsv", "index\tname\n1\ta\n1\tb\n"))
    with pytest.raises(AtlasError, match="no label value column"):
        read_label_table(_write(tmp_path / "f.tsv", "colour\tweight\n#fff\theavy\n"))


def test_labels_checked_against_image_values():
    table = pd.DataFrame({"index": [0, 1, 2, 3], "name": ["Background", "A", "B", "C"]})
    merged, warnings = check_labels_against_image(table, np.array([0, 1, 3, 7]), "HOSPA")
    assert merged[["index", "name"]].values.tolist() == [[1, "A"], [3, "C"], [7, "HOSPA_7"]]
    assert warnings == [
        "atlas HOSPA: 1 region(s) of the label table are not in the image: 2 'B'",
        "atlas HOSPA: 1 label value(s) of the image are not in the label table (named HOSPA_<value>): 7",
    ]


def test_zero_based_table_is_flagged_not_shifted():
    table = pd.DataFrame({"index": [0, 1, 2], "name": ["Left Frontal Pole", "Left Insula", "Left SFG"]})
    merged, warnings = check_labels_against_image(table, np.array([0, 1, 2, 3]), "HOCPAL")
    assert merged[["index", "name"]].values.tolist() == [[1, "Left Insula"], [2, "Left SFG"], [3, "HOCPAL_3"]]
    assert warnings[0] == ("atlas HOCPAL: the label table names value 0 'Left Frontal Pole', but 0 is the background "
                           "of the image (the table may be 0-based); regions are matched by value")


def test_maps_table_length_mismatch():
    table = pd.DataFrame({"index": [1, 2], "name": ["a", "b"]})
    result, warnings = check_maps_table(table, 3, "Maps")
    assert result["name"].tolist() == ["Maps_1", "Maps_2", "Maps_3"]
    assert warnings == ["atlas Maps: the label table has 2 rows for 3 maps; maps are named Maps_<number>"]


def test_labels_atlas_centroids(tmp_path):
    data = np.zeros((10, 10, 10), np.int16)
    data[1:3, 1:3, 1:3] = 4
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = [-10, -10, -10]
    path = tmp_path / "atlas.nii.gz"
    nib.Nifti1Image(data, affine).to_filename(path)
    atlas = labels_atlas_from_image("X", "X=...", path, None, None, {})
    assert atlas.table[["index", "name", "x", "y", "z"]].values.tolist() == [[4, "X_4", -7.0, -7.0, -7.0]]
    nib.Nifti1Image(data.astype(np.float32) + 0.5, affine).to_filename(tmp_path / "float.nii.gz")
    with pytest.raises(AtlasError, match="has non-integer values"):
        labels_atlas_from_image("X", "X=...", tmp_path / "float.nii.gz", None, None, {})


# ------------------------------------------------------------------------------ atlas specs


def test_templateflow_spec_parsing():
    request = TemplateFlowRequest.parse("Schaefer2018:desc-400Parcels7Networks:res-2")
    assert (request.atlas, request.entities, request.label) == (
        "Schaefer2018", {"desc": "400Parcels7Networks", "res": "02"}, "Schaefer2018400Parcels7Networks")
    assert TemplateFlowRequest.parse("S400=Schaefer2018:desc-400Parcels7Networks").label == "S400"
    with pytest.raises(AtlasError, match="suffix must be dseg or probseg"):
        TemplateFlowRequest.parse("HOSPA:suffix-mask")


def test_resolution_closest_to_bold_voxel_size():
    from regionseries.atlases.templateflow import _Candidate

    candidates = [_Candidate(Path(f"tpl-X_res-{r}_atlas-A_dseg.nii.gz"), {"res": r}) for r in ("01", "02", "03", "06")]
    zooms = {"01": 1.0, "02": 2.0, "03": 0.5, "06": 1.6}  # MNI152NLin6Asym's indices
    assert choose_resolution(candidates, zooms, 2.0).entities["res"] == "02"
    assert choose_resolution(candidates, zooms, 1.5).entities["res"] == "06"
    assert choose_resolution(candidates, zooms, 0.6).entities["res"] == "03"


def test_builtin_spheres_counts():
    counts = {name: resolve_spheres(SpheresRequest.parse(name), 5.0).n_regions for name in BUILTIN_SPHERES}
    assert counts == {"Power2011": 264, "Dosenbach2010": 160, "Seitzman2018": 300}
    assert SpheresRequest.parse("power2011").label == "Power2011"


def test_user_spheres_table(tmp_path):
    table = _write(tmp_path / "seeds.tsv", "x\ty\tz\tname\n0\t-52\t18\tPCC\n1\t50\t-5\tmPFC\n")
    atlas = resolve_spheres(SpheresRequest.parse(f"DMN={table}"), 6.0)
    assert atlas.names == ["PCC", "mPFC"] and atlas.radius == 6.0
    bad = _write(tmp_path / "bad.tsv", "x\ty\n1\t2\n")
    with pytest.raises(AtlasError, match="missing column\\(s\\) z"):
        resolve_spheres(SpheresRequest.parse(f"Bad={bad}"), 5.0)
    with pytest.raises(AtlasError, match="--radius must be a positive number of mm"):
        resolve_spheres(SpheresRequest.parse("Power2011"), 0.0)


def test_file_atlas_kind_from_dimensions(tmp_path):
    maps = tmp_path / "maps.nii.gz"
    nib.Nifti1Image(np.random.default_rng(0).random((4, 4, 4, 3)).astype(np.float32), np.eye(4)).to_filename(maps)
    atlas = resolve_file_atlas(FileRequest.parse(f"M={maps}"))
    assert atlas.kind == "maps" and atlas.names == ["M_1", "M_2", "M_3"]
    one_map = tmp_path / "one_map.nii.gz"
    nib.Nifti1Image(np.random.default_rng(0).random((4, 4, 4, 1)).astype(np.float32), np.eye(4)).to_filename(one_map)
    assert resolve_file_atlas(FileRequest.parse(f"O={one_map}")).kind == "maps"  # one probabilistic map
    labels_4d = tmp_path / "labels_4d.nii.gz"
    nib.Nifti1Image(np.arange(64, dtype=np.float32).reshape(4, 4, 4, 1) % 3, np.eye(4)).to_filename(labels_4d)
    assert resolve_file_atlas(FileRequest.parse(f"L={labels_4d}")).kind == "labels"  # labels saved 4D
    with pytest.raises(AtlasError, match="NAME 'my-atlas' must hold only letters and digits"):
        FileRequest.parse(f"my-atlas={maps}")
    with pytest.raises(AtlasError, match="label table .*nope.tsv: file not found"):
        FileRequest.parse(f"M={maps}:{tmp_path / 'nope.tsv'}")


def test_threshold_parsing():
    assert parse_threshold("97%") == "97%" and parse_threshold("3.1") == 3.1
    with pytest.raises(AtlasError, match="between 0% and 100%"):
        parse_threshold("120%")
    with pytest.raises(AtlasError, match="expected a number or a percentile"):
        parse_threshold("high")


def test_registry_requires_an_atlas():
    with pytest.raises(AtlasError, match="no atlas given"):
        AtlasRegistry.from_specs()
