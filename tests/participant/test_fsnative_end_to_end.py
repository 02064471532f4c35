"""``--space fsnative`` with each participant's own FreeSurfer parcellation (``--atlas-file`` with ``{subject}``).

fMRIPrep writes ``*_hemi-L_space-fsnative_bold.func.gii`` on each participant's
own surface, and FreeSurfer's parcellations of that surface are in
``<fmriprep>/sourcedata/freesurfer/sub-XX/label/lh.aparc.annot``. A fake
FreeSurfer folder holds annots written with nibabel, with other vertex counts
for each participant; the command line parcellates each participant's runs
with its own annots.
"""

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from regionseries.demo import DatasetSpec, RunSpec, write_fmriprep_dataset

from ..conftest import TEST_N_VOLUMES, run_cli, write_strategy_file

#: Vertices per hemisphere of each participant's own surface (left, right).
VERTICES = {"01": (1_200, 1_150), "02": (980, 1_010)}
REGIONS = ["unknown", "bankssts", "precentral", "insula"]


def _write_participant(fmriprep, subject, rng):
    func = fmriprep / "sub-{0}".format(subject) / "func"
    label_dir = fmriprep / "sourcedata" / "freesurfer" / f"sub-{subject}" / "label"
    label_dir.mkdir(parents=True)
    data, labels = [], []
    for hemi, fs_hemi, n_vertices in zip("LR", ("lh", "rh"), VERTICES[subject]):
        values = rng.normal(300, 10, (TEST_N_VOLUMES, n_vertices)).astype(np.float32)
        darrays = [nib.gifti.GiftiDataArray(volume, intent="NIFTI_INTENT_TIME_SERIES", datatype="NIFTI_TYPE_FLOAT32",
                                            meta={"TimeStep": "2000"}) for volume in values]
        nib.GiftiImage(darrays=darrays).to_filename(
            func / f"sub-{subject}_task-rest_run-1_hemi-{hemi}_space-fsnative_bold.func.gii")
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
    spec = DatasetSpec(runs=[RunSpec(subject, None, "rest", "1", ("MNI152NLin2009cAsym",)) for subject in VERTICES],
                       n_volumes=TEST_N_VOLUMES, voxel_size=8.0, seed=8, repetition_time=2.0)
    write_fmriprep_dataset(fmriprep, spec)
    rng = np.random.default_rng(8)
    written = {subject: _write_participant(fmriprep, subject, rng) for subject in VERTICES}
    write_strategy_file(root, "raw", {"detrend": False, "standardize": False, "filter": False})
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
