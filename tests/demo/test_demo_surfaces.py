"""The fake surface runs and atlases of regionseries.demo have the structure real tools write."""

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from regionseries.demo import (
    SUBCORTICAL_STRUCTURES,
    DatasetSpec,
    RunSpec,
    icosphere,
    write_fmriprep_dataset,
    write_surface_atlases,
)


@pytest.fixture(scope="module")
def surface_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("surfaces")
    spec = DatasetSpec(runs=[RunSpec("01", None, "rest", "1", ("MNI152NLin2009cAsym", "fsLR:den-91k", "fsaverage5")),
                             RunSpec("01", None, "rest", "2", ("fsaverage5",))], n_volumes=12)
    written = write_fmriprep_dataset(root / "fmriprep", spec)
    return root, spec, written, write_surface_atlases(root / "atlas", spec.voxel_size)


def test_icosphere_has_the_vertex_count_of_fsaverage():
    vertices, faces = icosphere(5)
    assert vertices.shape == (10242, 3) and faces.shape == (20480, 3)
    np.testing.assert_allclose(np.linalg.norm(vertices, axis=1), 1.0)
    assert len(np.unique(faces)) == 10242


def test_cifti_run_has_fmriprep_axes(surface_dataset):
    _, spec, written, _ = surface_dataset
    dtseries = next(path for path in written if path.name.endswith("_space-fsLR_den-91k_bold.dtseries.nii"))
    img = nib.load(dtseries)
    series, models = img.header.get_axis(0), img.header.get_axis(1)
    assert isinstance(series, nib.cifti2.SeriesAxis) and series.step == spec.repetition_time
    assert series.size == spec.n_volumes == img.shape[0]
    structures = {name: (selection, model) for name, selection, model in models.iter_structures()}
    assert list(structures)[:2] == ["CIFTI_STRUCTURE_CORTEX_LEFT", "CIFTI_STRUCTURE_CORTEX_RIGHT"]
    for hemi in ("LEFT", "RIGHT"):
        _, cortex = structures[f"CIFTI_STRUCTURE_CORTEX_{hemi}"]
        assert cortex.nvertices[f"CIFTI_STRUCTURE_CORTEX_{hemi}"] == 2562
        assert 2000 < len(cortex) < 2562  # the medial wall is excluded
        assert not cortex.volume_mask.any()
    for name, _, _ in SUBCORTICAL_STRUCTURES:
        _, voxels = structures[name]
        assert voxels.volume_mask.all() and len(voxels) > 10
    assert models.volume_shape is not None
    assert np.isfinite(img.get_fdata()).all() and (img.get_fdata().std(axis=0) > 0).all()
    assert json.loads(dtseries.with_name(dtseries.name.replace(".dtseries.nii", ".json")).read_text())[
        "RepetitionTime"] == spec.repetition_time


def test_gifti_pairs_and_shared_confounds(surface_dataset):
    root, spec, written, _ = surface_dataset
    pairs = [path for path in written if path.name.endswith("_space-fsaverage5_bold.func.gii")]
    assert len(pairs) == 4 and sum("_hemi-L_" in path.name for path in pairs) == 2
    for path in pairs:
        img = nib.load(path)
        assert len(img.darrays) == spec.n_volumes
        assert all(darray.data.shape == (10242,) for darray in img.darrays)
        assert img.darrays[0].intent == nib.nifti1.intent_codes["NIFTI_INTENT_TIME_SERIES"]
    func = root / "fmriprep" / "sub-01" / "func"
    for run in ("1", "2"):  # run 2 has no volumetric space: its confounds are written all the same
        table = pd.read_csv(func / f"sub-01_task-rest_run-{run}_desc-confounds_timeseries.tsv", sep="\t")
        assert len(table) == spec.n_volumes and "framewise_displacement" in table
    assert not list(func.glob("sub-01_task-rest_run-2_*desc-preproc_bold.nii.gz"))


def test_surface_atlases_carry_their_label_tables(surface_dataset):
    root, _, written, atlases = surface_dataset
    dtseries = next(path for path in written if path.name.endswith(".dtseries.nii"))
    dlabel = nib.load(atlases["dlabel"])
    assert dlabel.header.get_axis(1) == nib.load(dtseries).header.get_axis(1)
    table = dlabel.header.get_axis(0).label[0]
    values = np.unique(dlabel.get_fdata())
    assert set(values.astype(int)) == set(table) - {0} and len(values) == 24
    assert table[21][0] == "THALAMUS_LEFT"
    for hemi in ("L", "R"):
        gifti = nib.load(atlases[f"label_{hemi}"])
        keys = gifti.labeltable.get_labels_as_dict()
        assert keys[0] == "Medial_Wall" and keys[1].startswith(f"{hemi}H_")
        parcels = gifti.darrays[0].data
        annot, _, names = nib.freesurfer.read_annot(str(atlases[f"annot_{hemi}"]))
        np.testing.assert_array_equal(annot, parcels)
        assert [name.decode() for name in names] == [keys[k] for k in sorted(keys)]
