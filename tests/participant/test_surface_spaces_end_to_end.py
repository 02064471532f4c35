"""GIFTI runs of the other surface spaces through the real command line: fsaverage6, fsaverage, fsnative.

fsaverage6 with its real vertex counts (40,962 per hemisphere), fsaverage
with a small fake mesh of the same structure (its 163,842 vertices per
hemisphere would only slow the test: nothing in the pipeline depends on the
count). fsnative: fMRIPrep writes ``*_hemi-L_space-fsnative_bold.func.gii`` on
each participant's own surface, and FreeSurfer's parcellations of that
surface are in ``<fmriprep>/sourcedata/freesurfer/sub-XX/label/lh.aparc.annot``;
a fake FreeSurfer folder holds annots written with nibabel, with other vertex
counts for each participant, given with ``{subject}`` in ``--atlas-file``.
The runs are written as fMRIPrep writes them next to the run's confounds; the
series are checked against per-parcel means computed here.
"""

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from regionseries.demo import DatasetSpec, RunSpec, write_fmriprep_dataset

from ..conftest import TEST_N_VOLUMES, run_cli, write_strategy_file

#: Vertices per hemisphere: fsaverage6's real count, and a small fake fsaverage.
VERTICES = {"fsaverage6": 40_962, "fsaverage": 642}
N_PARCELS = 6


def _write_hemisphere(path, data):
    """One hemisphere of a run as fMRIPrep writes it: a float32 data array per volume, TR 2 s."""
    darrays = [nib.gifti.GiftiDataArray(volume, intent="NIFTI_INTENT_TIME_SERIES", datatype="NIFTI_TYPE_FLOAT32",
                                        meta={"TimeStep": "2000"}) for volume in data]
    nib.GiftiImage(darrays=darrays).to_filename(path)


def _write_pair(func, space, rng):
    """A GIFTI pair of the run in ``space`` (zeros on a fake medial wall) and the data written."""
    n_vertices = VERTICES[space]
    written = []
    for hemi in "LR":
        data = rng.normal(500, 20, (TEST_N_VOLUMES, n_vertices)).astype(np.float32)
        data[:, : n_vertices // 10] = 0.0  # medial wall: no signal
        _write_hemisphere(func / f"sub-01_task-rest_run-1_hemi-{hemi}_space-{space}_bold.func.gii", data)
        written.append(data)
    return written


def _write_atlas(folder, space):
    """A label.gii pair: N_PARCELS stripes per hemisphere, 0 on the medial wall."""
    n_vertices = VERTICES[space]
    labels = 1 + np.arange(n_vertices) * N_PARCELS // n_vertices
    labels[: n_vertices // 10] = 0
    paths = []
    for hemi in "LR":
        table = nib.gifti.GiftiLabelTable()
        for key in range(N_PARCELS + 1):
            label = nib.gifti.GiftiLabel(key, 0.5, 0.5, 0.5, 1.0)
            label.label = "???" if key == 0 else f"{hemi}_{space}_{key}"
            table.labels.append(label)
        img = nib.GiftiImage(labeltable=table, darrays=[nib.gifti.GiftiDataArray(labels.astype(np.int32),
                                                                                intent="NIFTI_INTENT_LABEL")])
        path = folder / f"{space}_hemi-{hemi}.label.gii"
        img.to_filename(path)
        paths.append(path)
    return labels, paths


def _dataset_with_confounds(root, subjects, seed):
    """fMRIPrep outputs of one volumetric run per participant (their confounds serve the surface runs
    written next to them), and the strategy ``raw`` (no cleaning)."""
    spec = DatasetSpec(runs=[RunSpec(subject, None, "rest", "1", ("MNI152NLin2009cAsym",)) for subject in subjects],
                       n_volumes=TEST_N_VOLUMES, voxel_size=8.0, seed=seed, repetition_time=2.0)
    write_fmriprep_dataset(root / "fmriprep", spec)
    write_strategy_file(root, "raw", {"detrend": False, "standardize": False, "filter": False})
    return np.random.default_rng(seed)


@pytest.fixture(scope="module")
def dense_surfaces(tmp_path_factory):
    root = tmp_path_factory.mktemp("dense_surfaces")
    rng = _dataset_with_confounds(root, ["01"], 6)
    data = {space: _write_pair(root / "fmriprep" / "sub-01" / "func", space, rng) for space in VERTICES}
    (root / "atlas").mkdir()
    atlases = {space: _write_atlas(root / "atlas", space) for space in VERTICES}
    return root, data, atlases


def _check_series(table, data, labels, space):
    for hemi, values in zip("LR", data):
        for key in range(1, N_PARCELS + 1):
            expected = values[:, labels == key].astype(np.float64).mean(axis=1)
            np.testing.assert_allclose(table[f"{hemi}_{space}_{key}"].to_numpy()[2:], expected[2:], rtol=1e-6)


@pytest.mark.parametrize("space", ["fsaverage6", "fsaverage"])
def test_dense_fsaverage_runs_are_parcellated(dense_surfaces, space):
    root, data, atlases = dense_surfaces
    labels, (left, right) = atlases[space]
    out = root / f"out-{space}"
    completed = run_cli(root / "fmriprep", out, "participant", "--space", space, "--atlas-file",
                        f"Stripes={left},{right}", "--strategy", str(root / "raw.json"), "--no-reports")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    # exactly the run of that space: fsaverage is not a prefix of fsaverage6 (nor of the volume run)
    assert "found 1 BOLD run(s)" in completed.stdout + completed.stderr
    written = sorted(path.name for path in (out / "sub-01" / "func").glob("*_timeseries.tsv"))
    assert written == [f"sub-01_task-rest_run-1_space-{space}_atlas-Stripes_desc-raw_timeseries.tsv"]
    table = pd.read_csv(out / "sub-01" / "func" / written[0], sep="\t", na_values="n/a")
    assert table.shape == (TEST_N_VOLUMES, 2 * N_PARCELS)
    _check_series(table, data[space], labels, space)


def test_an_atlas_of_another_density_names_both_counts(dense_surfaces):
    root, _, atlases = dense_surfaces
    _, (left, right) = atlases["fsaverage"]
    completed = run_cli(root / "fmriprep", root / "out-wrong", "participant", "--space", "fsaverage6",
                        "--atlas-file", f"Small={left},{right}", "--strategy", str(root / "raw.json"), "--no-reports")
    assert completed.returncode != 0
    assert "the left hemisphere of the atlas has 642 vertices, the run's 40962" in completed.stdout + completed.stderr


#: Vertices per hemisphere (left, right) of each participant's own surface.
NATIVE_VERTICES = {"01": (1_200, 1_150), "02": (980, 1_010)}
REGIONS = ["unknown", "bankssts", "precentral", "insula"]


def _write_participant(fmriprep, subject, rng):
    func = fmriprep / f"sub-{subject}" / "func"
    label_dir = fmriprep / "sourcedata" / "freesurfer" / f"sub-{subject}" / "label"
    label_dir.mkdir(parents=True)
    data, labels = [], []
    for hemi, fs_hemi, n_vertices in zip("LR", ("lh", "rh"), NATIVE_VERTICES[subject]):
        values = rng.normal(300, 10, (TEST_N_VOLUMES, n_vertices)).astype(np.float32)
        _write_hemisphere(func / f"sub-{subject}_task-rest_run-1_hemi-{hemi}_space-fsnative_bold.func.gii", values)
        # FreeSurfer's annot: -1 for vertices without a label, 0 "unknown", then the regions
        vertex_labels = rng.integers(-1, len(REGIONS), n_vertices).astype(np.int32)
        colours = np.column_stack([rng.integers(0, 255, (len(REGIONS), 3)), np.zeros(len(REGIONS), int)])
        nib.freesurfer.write_annot(str(label_dir / f"{fs_hemi}.aparc.annot"), vertex_labels, colours,
                                   [name.encode() for name in REGIONS], fill_ctab=True)
        data.append(values)
        labels.append(vertex_labels)
    return data, labels


@pytest.fixture(scope="module")
def fsnative(tmp_path_factory):
    root = tmp_path_factory.mktemp("fsnative")
    fmriprep = root / "fmriprep"
    rng = _dataset_with_confounds(root, list(NATIVE_VERTICES), 8)
    written = {subject: _write_participant(fmriprep, subject, rng) for subject in NATIVE_VERTICES}
    freesurfer = fmriprep / "sourcedata" / "freesurfer" / "sub-{subject}" / "label"
    atlas = f"aparc={freesurfer / 'lh.aparc.annot'},{freesurfer / 'rh.aparc.annot'}"
    completed = run_cli(fmriprep, root / "out", "participant", "--space", "fsnative", "--atlas-file", atlas,
                        "--strategy", str(root / "raw.json"), "--no-reports")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return root, written, atlas


def test_each_participant_is_parcellated_with_its_own_annots(fsnative):
    root, written, _ = fsnative
    for subject, (data, labels) in written.items():
        stem = f"sub-{subject}_task-rest_run-1_space-fsnative_atlas-aparc_desc-raw_timeseries"
        table = pd.read_csv(root / "out" / f"sub-{subject}" / "func" / f"{stem}.tsv", sep="\t", na_values="n/a")
        # label 0 ("unknown") and -1 are no region; a name in both hemispheres gets L_/R_
        assert list(table.columns) == [f"{hemi}_{name}" for hemi in "LR" for name in REGIONS[1:]]
        for hemi, values, vertex_labels in zip("LR", data, labels):
            for value, name in enumerate(REGIONS[1:], start=1):
                np.testing.assert_allclose(table[f"{hemi}_{name}"].to_numpy()[2:],
                                           values[2:, vertex_labels == value].astype(np.float64).mean(axis=1),
                                           rtol=1e-6)
        # the participant's annots are copied under its own name and named in the sidecar
        atlases = root / "out" / "atlases"
        assert (atlases / f"sub-{subject}_hemi-L_atlas-aparc_dseg.annot").is_file()
        sidecar = json.loads((root / "out" / f"sub-{subject}" / "func" / f"{stem}.json").read_text())
        assert f"bids::atlases/sub-{subject}_hemi-R_atlas-aparc_dseg.annot" in sidecar["Sources"]
    table = pd.read_csv(root / "out" / "atlases" / "sub-02_atlas-aparc_dseg.tsv", sep="\t")
    assert len(table) == 2 * (len(REGIONS) - 1)


def test_a_participant_without_annots_is_named_with_the_missing_file(fsnative, tmp_path):
    root, _, atlas = fsnative
    missing = root / "fmriprep" / "sourcedata" / "freesurfer" / "sub-02" / "label" / "rh.aparc.annot"
    kept = tmp_path / "rh.aparc.annot"
    missing.rename(kept)
    try:
        completed = run_cli(root / "fmriprep", tmp_path / "out", "participant", "--space", "fsnative",
                            "--atlas-file", atlas, "--strategy", str(root / "raw.json"), "--no-reports")
    finally:
        kept.rename(missing)
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0
    assert f"participant sub-02 has no image {missing}" in output, output


def test_subject_placeholder_is_refused_for_volumetric_atlases(fsnative, tmp_path):
    root, _, _ = fsnative
    completed = run_cli(root / "fmriprep", tmp_path / "out", "participant", "--atlas-file",
                        "Own=/data/sub-{subject}/aparc+aseg.nii.gz")
    assert completed.returncode != 0
    assert "{subject} (one atlas per participant) is for surface atlases" in completed.stdout + completed.stderr


def test_group_level_reads_fsnative_outputs(fsnative):
    root, _, _ = fsnative
    completed = run_cli(root / "fmriprep", root / "out", "group")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    matrix = pd.read_csv(root / "out" / "group" / "task-rest_space-fsnative_atlas-aparc_stat-correlation_desc-raw_relmat.tsv",
                         sep="\t", index_col=0)
    assert list(matrix.index) == [f"{hemi}_{name}" for hemi in "LR" for name in REGIONS[1:]]
