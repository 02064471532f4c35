"""CIFTI and GIFTI runs through the real command line: discovery, one-pass extraction, outputs.

One job processes a participant with a volumetric, a CIFTI (fsLR 91k) and a
GIFTI (fsaverage5) run of the same acquisition, each once; the series are
checked against per-parcel means computed here from the files with numpy,
and the GIFTI pair against nilearn's SurfaceLabelsMasker.
"""

import json
import shutil

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from regionseries.demo import (
    DatasetSpec,
    RunSpec,
    write_demo_atlas,
    write_fmriprep_dataset,
    write_surface_atlases,
)

from ..conftest import TEST_N_VOLUMES, run_cli, write_strategy_file

SPACES = ("MNI152NLin2009cAsym", "fsLR:den-91k", "fsaverage5")
#: Non-steady-state volumes of the fake runs (DatasetSpec.n_dummy): n/a in every strategy.
DUMMIES = 2


@pytest.fixture(scope="module")
def surface_job(tmp_path_factory):
    root = tmp_path_factory.mktemp("surfaces")
    spec = DatasetSpec(runs=[RunSpec("01", None, "rest", "1", SPACES), RunSpec("01", None, "rest", "2", ("fsaverage5",))],
                       n_volumes=TEST_N_VOLUMES, voxel_size=8.0, seed=4)
    write_fmriprep_dataset(root / "fmriprep", spec)
    atlases = write_surface_atlases(root / "atlas", spec.voxel_size)
    # run 2: the vertices of one left parcel hold zeros throughout (no signal, as a medial wall): not covered
    left = root / "fmriprep" / "sub-01" / "func" / "sub-01_task-rest_run-2_hemi-L_space-fsaverage5_bold.func.gii"
    img, parcels = nib.load(left), nib.load(atlases["label_L"]).darrays[0].data
    for darray in img.darrays:
        darray.data[parcels == 7] = 0.0
    img.to_filename(left)
    volume_atlas, volume_table = write_demo_atlas(root / "atlas")
    raw = write_strategy_file(root, "raw", {"detrend": False, "standardize": False, "filter": False})
    completed = run_cli(
        root / "fmriprep", root / "out", "participant", "--space", *SPACES,
        "--atlas-file", f"Vol={volume_atlas}:{volume_table}",
        "--atlas-file", f"Grayord={atlases['dlabel']}",
        "--atlas-file", f"Gii={atlases['label_L']},{atlases['label_R']}",
        "--atlas-file", f"Annot={atlases['annot_L']},{atlases['annot_R']}",
        "--strategy", "simple", str(raw),
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return root, completed


def _series(root, name):
    return pd.read_csv(root / "out" / "sub-01" / "func" / name, sep="\t", na_values="n/a")


def test_each_run_is_processed_once(surface_job):
    root, completed = surface_job
    assert "found 4 BOLD run(s)" in completed.stdout + completed.stderr
    func = root / "out" / "sub-01" / "func"
    qc = sorted(path.name for path in func.glob("*_qc.json"))
    assert qc == sorted(f"sub-01_task-rest_run-{run}_{space}_desc-{desc}_qc.json"
                        for run, space in (("1", "space-MNI152NLin2009cAsym"), ("1", "space-fsLR_den-91k"),
                                           ("1", "space-fsaverage5"), ("2", "space-fsaverage5"))
                        for desc in ("simple", "raw"))
    # each atlas applies to its own kind of run only
    assert not list(func.glob("*space-fsLR*atlas-Gii*")) and not list(func.glob("*space-fsaverage5*atlas-Grayord*"))
    assert not list(func.glob("*space-MNI*atlas-Grayord*")) and not list(func.glob("*space-fsLR*atlas-Vol*"))


def test_cifti_series_are_parcel_means_of_the_grayordinates(surface_job):
    root, _ = surface_job
    data = nib.load(next((root / "fmriprep" / "sub-01" / "func").glob("*run-1_space-fsLR_den-91k_bold.dtseries.nii")))
    values = data.get_fdata(dtype=np.float64)
    dlabel = nib.load(root / "atlas" / "demo.dlabel.nii")
    labels = np.asarray(dlabel.dataobj)[0].astype(int)
    names = dlabel.header.get_axis(0).label[0]
    table = _series(root, "sub-01_task-rest_run-1_space-fsLR_atlas-Grayord_den-91k_desc-raw_timeseries.tsv")
    expected = {names[k][0]: values[:, labels == k].mean(axis=1) for k in np.unique(labels) if k}
    assert list(table.columns) == list(expected)
    assert "THALAMUS_LEFT" in table.columns  # the subcortical structures are parcels too
    for name, column in expected.items():
        assert table[name].iloc[:DUMMIES].isna().all()  # non-steady-state volumes are n/a, as for volumes
        np.testing.assert_allclose(table[name].to_numpy()[DUMMIES:], column[DUMMIES:], rtol=1e-5)
    sidecar = json.loads((root / "out" / "sub-01" / "func" / "sub-01_task-rest_run-1_space-fsLR_atlas-Grayord_den-91k_"
                          "desc-raw_timeseries.json").read_text())
    assert sidecar["SamplingFrequency"] == pytest.approx(0.5)


def test_gifti_pair_series_match_numpy_and_nilearn(surface_job):
    root, _ = surface_job
    func = root / "fmriprep" / "sub-01" / "func"
    hemispheres = [func / f"sub-01_task-rest_run-1_hemi-{hemi}_space-fsaverage5_bold.func.gii" for hemi in "LR"]
    data = [np.vstack([d.data for d in nib.load(path).darrays]).astype(np.float64) for path in hemispheres]
    label_files = [root / "atlas" / f"demo_hemi-{hemi}.label.gii" for hemi in "LR"]
    labels = [nib.load(path).darrays[0].data for path in label_files]
    for atlas in ("Gii", "Annot"):
        table = _series(root, f"sub-01_task-rest_run-1_space-fsaverage5_atlas-{atlas}_desc-raw_timeseries.tsv")
        assert len(table.columns) == 20 and table.columns[0] == "LH_Visual_1" and table.columns[10] == "RH_Visual_1"
        for hemi, values, vertex_labels in zip("LR", data, labels):
            names = nib.load(label_files["LR".index(hemi)]).labeltable.get_labels_as_dict()
            for key in range(1, 11):
                np.testing.assert_allclose(table[names[key]].to_numpy()[DUMMIES:],
                                           values[DUMMIES:, vertex_labels == key].mean(axis=1), rtol=1e-5)
    nilearn_surface = pytest.importorskip("nilearn.surface")
    from nilearn.maskers import SurfaceLabelsMasker

    # nilearn needs a mesh for its SurfaceImage: the fake sphere of the demo, with the data's vertex count
    from regionseries.demo import hemisphere_mesh

    meshes = {part: nilearn_surface.InMemoryMesh(*hemisphere_mesh("fsaverage5", hemi)[:2])
              for part, hemi in (("left", "L"), ("right", "R"))}
    mesh = nilearn_surface.PolyMesh(left=meshes["left"], right=meshes["right"])
    bold = nilearn_surface.SurfaceImage(mesh, {"left": data[0].T, "right": data[1].T})
    atlas_labels = nilearn_surface.SurfaceImage(mesh, {"left": labels[0].astype(float),
                                                       "right": np.where(labels[1] > 0, labels[1] + 10, 0).astype(float)})
    expected = SurfaceLabelsMasker(atlas_labels).fit_transform(bold)
    table = _series(root, "sub-01_task-rest_run-1_space-fsaverage5_atlas-Gii_desc-raw_timeseries.tsv")
    np.testing.assert_allclose(table.to_numpy()[DUMMIES:], expected[DUMMIES:], rtol=1e-5)


def test_cleaning_and_matrices_follow_the_volumetric_path(surface_job):
    root, _ = surface_job
    out = root / "out" / "sub-01" / "func"
    for space, atlas in (("space-fsLR_atlas-Grayord_den-91k", "Grayord"), ("space-fsaverage5_atlas-Gii", "Gii")):
        cleaned = _series(root, f"sub-01_task-rest_run-1_{space}_desc-simple_timeseries.tsv")
        assert cleaned.iloc[:2].isna().all().all()  # the non-steady-state volumes are n/a, as for volumes
        kept = cleaned.iloc[2:].to_numpy()
        np.testing.assert_allclose(kept.mean(axis=0), 0, atol=1e-6)
        matrix = pd.read_csv(out / f"sub-01_task-rest_run-1_{space}_stat-correlation_desc-simple_relmat.tsv",
                             sep="\t", index_col=0)
        np.testing.assert_allclose(matrix.to_numpy(), np.corrcoef(kept.T), atol=1e-6)
        assert list(matrix.index) == list(cleaned.columns)
    atlases = root / "out" / "atlases"
    assert (atlases / "atlas-Grayord_dseg.dlabel.nii").is_file()
    assert (atlases / "hemi-L_atlas-Gii_dseg.label.gii").is_file() and (atlases / "hemi-R_atlas-Annot_dseg.annot").is_file()


def test_cifti_runs_also_give_ptseries_and_pconn(surface_job):
    root, _ = surface_job
    out = root / "out" / "sub-01" / "func"
    stem = "sub-01_task-rest_run-1_space-fsLR_atlas-Grayord_den-91k"
    table = _series(root, f"{stem}_desc-simple_timeseries.tsv")
    ptseries = nib.load(out / f"{stem}_desc-simple_timeseries.ptseries.nii")
    assert ptseries.nifti_header.get_intent()[0] == "ConnParcelSries"
    series_axis, parcels = ptseries.header.get_axis(0), ptseries.header.get_axis(1)
    assert series_axis.step == 2.0 and list(parcels.name) == list(table.columns)
    np.testing.assert_allclose(np.asarray(ptseries.dataobj), table.to_numpy(), rtol=1e-6, equal_nan=True)
    # each parcel holds the grayordinates of its label in the atlas
    dlabel = nib.load(root / "atlas" / "demo.dlabel.nii")
    labels, models = np.asarray(dlabel.dataobj)[0].astype(int), dlabel.header.get_axis(1)
    thalamus = list(parcels.name).index("THALAMUS_LEFT")
    np.testing.assert_array_equal(parcels.voxels[thalamus], models.voxel[labels == 21])
    first = parcels.vertices[0]["CIFTI_STRUCTURE_CORTEX_LEFT"]
    np.testing.assert_array_equal(first, models.vertex[labels == 1])
    pconn = nib.load(out / f"{stem}_stat-correlation_desc-simple_relmat.pconn.nii")
    assert pconn.nifti_header.get_intent()[0] == "ConnParcels"
    matrix = pd.read_csv(out / f"{stem}_stat-correlation_desc-simple_relmat.tsv", sep="\t", index_col=0)
    np.testing.assert_allclose(np.asarray(pconn.dataobj), matrix.to_numpy(), atol=1e-6)
    assert not list(out.glob("*space-fsaverage5*.p*.nii"))  # GIFTI runs have no CIFTI outputs


def test_group_level_reads_surface_outputs(surface_job):
    root, _ = surface_job
    completed = run_cli(root / "fmriprep", root / "out", "group")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    group = root / "out" / "group"
    for stem in ("task-rest_space-fsLR_atlas-Grayord_den-91k", "task-rest_space-fsaverage5_atlas-Gii"):
        matrix = pd.read_csv(group / f"{stem}_stat-correlation_desc-simple_relmat.tsv", sep="\t", index_col=0)
        # run 2's uncovered parcel has no group value (test_uncovered_parcel_is_na_with_its_reason)
        matrix = matrix.drop(index="LH_SomMot_2", columns="LH_SomMot_2", errors="ignore")
        assert matrix.shape[0] == matrix.shape[1] > 0 and np.isfinite(matrix.to_numpy()).all()
    qc = pd.read_csv(group / "task-rest_space-fsaverage5_atlas-Gii_desc-simple_qc.tsv", sep="\t")
    assert len(qc) == 2  # both GIFTI runs


def test_group_level_keeps_grayordinate_densities_apart(surface_job, tmp_path):
    """Runs of one space at two densities (fsLR 91k and 170k) are averaged separately, as
    volumetric runs at two resolutions are, and the group outputs carry ``den-``."""
    root, _ = surface_job
    output = tmp_path / "out"
    shutil.copytree(root / "out", output, ignore=shutil.ignore_patterns("group", "logs"))
    func = output / "sub-01" / "func"
    for path in list(func.glob("*space-fsLR_*den-91k_*")):
        shutil.copy(path, path.with_name(path.name.replace("_run-1_", "_run-9_").replace("den-91k", "den-170k")))
    completed = run_cli(root / "fmriprep", output, "group")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    for density in ("91k", "170k"):
        qc = pd.read_csv(output / "group" / f"task-rest_space-fsLR_atlas-Grayord_den-{density}_desc-simple_qc.tsv",
                         sep="\t")
        assert qc["den"].astype(str).tolist() == [density] * len(qc) and len(qc) >= 1
        assert (output / "group" / f"task-rest_space-fsLR_atlas-Grayord_den-{density}_stat-correlation_desc-simple_"
                "relmat.tsv").is_file()
    assert not list((output / "group").glob("task-rest_space-fsLR_atlas-Grayord_desc-*"))


def test_uncovered_parcel_is_na_with_its_reason(surface_job):
    root, _ = surface_job
    stem = "sub-01_task-rest_run-2_space-fsaverage5_atlas-Gii_desc-simple_timeseries"
    table = _series(root, f"{stem}.tsv")
    assert table["LH_SomMot_2"].isna().all() and table.drop(columns="LH_SomMot_2").iloc[2:].notna().all().all()
    sidecar = json.loads((root / "out" / "sub-01" / "func" / f"{stem}.json").read_text())
    assert sidecar["RegionsBelowCoverage"] == ["LH_SomMot_2"]
    assert sidecar["Atlas"]["Extraction"] == "mean of the vertices of each label"
    assert sum("hemi-L" in uri or "hemi-R" in uri for uri in sidecar["Sources"]) == 4  # both runs' files, both atlas files


def test_rerun_skips_finished_surface_runs_and_redoes_a_missing_ptseries(surface_job):
    root, _ = surface_job
    arguments = [root / "fmriprep", root / "out", "participant", "--space", *SPACES,
                 "--atlas-file", f"Grayord={root / 'atlas' / 'demo.dlabel.nii'}",
                 "--atlas-file", f"Gii={root / 'atlas' / 'demo_hemi-L.label.gii'},{root / 'atlas' / 'demo_hemi-R.label.gii'}",
                 "--atlas-file", f"Vol={root / 'atlas' / 'demo_dseg.nii.gz'}:{root / 'atlas' / 'demo_dseg.tsv'}",
                 "--atlas-file", f"Annot={root / 'atlas' / 'lh.demo.annot'},{root / 'atlas' / 'rh.demo.annot'}",
                 "--strategy", "simple", str(root / "raw.json"), "--no-reports"]
    again = run_cli(*arguments)
    assert again.returncode == 0 and "0 run(s) processed, 4 skipped" in again.stdout + again.stderr
    next((root / "out" / "sub-01" / "func").glob("*den-91k_desc-simple_timeseries.ptseries.nii")).unlink()
    again = run_cli(*arguments)
    assert again.returncode == 0 and "1 run(s) processed, 3 skipped" in again.stdout + again.stderr
    assert list((root / "out" / "sub-01" / "func").glob("*den-91k_desc-simple_timeseries.ptseries.nii"))
