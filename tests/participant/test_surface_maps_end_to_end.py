"""Probabilistic maps on CIFTI and GIFTI runs through the real command line (issue 19).

One job extracts, in the same pass as a label atlas, a ``dscalar.nii`` of maps
on a CIFTI run (stored right hemisphere first, with NaN weights) and two
pairs of maps files on a GIFTI run (``func.gii`` with named data arrays,
``shape.gii`` named by a label table). The series are checked against the
least-squares fit computed here with numpy and, for the GIFTI pair, against
nilearn's SurfaceMapsMasker on the fsaverage5 meshes of its wheel; coverage
against the share of each map's weight on vertices with signal.
"""

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import scipy.linalg

from ..conftest import run_cli, write_strategy_file, write_surface_run_dataset

#: Non-steady-state volumes of the fake runs (DatasetSpec.n_dummy): n/a in every strategy.
DUMMIES = 2
N_MAPS = 4
CIFTI_RUN = "sub-01_task-rest_run-1_space-fsLR_den-91k_bold.dtseries.nii"
GIFTI_RUN = "sub-01_task-rest_run-1_hemi-{}_space-fsaverage5_bold.func.gii"


def _blobs(rng, n_vertices, n_maps=N_MAPS):
    """(n_vertices, n_maps) overlapping positive maps on about 40% of the vertices each, float32."""
    return (rng.random((n_vertices, n_maps)) * (rng.random((n_vertices, n_maps)) > 0.6)).astype(np.float32)


def write_cifti_maps(path, run_models, rng):
    """Maps on the run's grayordinates, stored right cortex first; map 2 has NaN on 5 grayordinates.

    Returns the maps in the run's grayordinate order (NaN kept)."""
    maps = _blobs(rng, len(run_models))
    maps[np.flatnonzero(maps[:, 1])[:5], 1] = np.nan
    parts = {str(name): (selection, model) for name, selection, model in run_models.iter_structures()}
    order = ["CIFTI_STRUCTURE_CORTEX_RIGHT"] + [name for name in parts if name != "CIFTI_STRUCTURE_CORTEX_RIGHT"]
    models = sum((parts[name][1] for name in order[1:]), parts[order[0]][1])
    stored = np.concatenate([maps[parts[name][0]] for name in order])
    img = nib.Cifti2Image(stored.T, header=(nib.cifti2.ScalarAxis([f"Net{k}" for k in range(1, N_MAPS + 1)]), models))
    img.nifti_header.set_intent("ConnDenseScalar")
    img.to_filename(str(path))
    return maps


def write_gifti_maps(folder, stem, sizes, rng, names=True):
    """One file per hemisphere, one data array per map (``Name`` in its meta if ``names``); returns (left, right)."""
    found = []
    for hemi, size in zip("LR", sizes):
        maps = _blobs(rng, size)
        darrays = [nib.gifti.GiftiDataArray(maps[:, k], intent="NIFTI_INTENT_NONE", datatype="NIFTI_TYPE_FLOAT32",
                                            meta={"Name": f"Comp{k}"} if names else None) for k in range(N_MAPS)]
        nib.GiftiImage(darrays=darrays).to_filename(str(folder / f"{hemi.lower()}h.{stem}"))
        found.append(maps)
    return found


@pytest.fixture(scope="module")
def maps_job(tmp_path_factory):
    root = tmp_path_factory.mktemp("surface_maps")
    atlases = write_surface_run_dataset(root)
    func = root / "fmriprep" / "sub-01" / "func"
    rng = np.random.default_rng(19)
    run_models = nib.load(func / CIFTI_RUN).header.get_axis(1)
    cifti_maps = write_cifti_maps(root / "atlas" / "nets.dscalar.nii", run_models, rng)
    sizes = [nib.load(func / GIFTI_RUN.format(hemi)).darrays[0].data.shape[0] for hemi in "LR"]
    gifti_maps = write_gifti_maps(root / "atlas", "comps.func.gii", sizes, rng)
    shape_maps = write_gifti_maps(root / "atlas", "comps.shape.gii", sizes, rng, names=False)
    table = root / "atlas" / "comps.tsv"
    pd.DataFrame({"index": range(1, N_MAPS + 1), "name": [f"Shape{k}" for k in "ABCD"]}).to_csv(table, sep="\t",
                                                                                                 index=False)
    raw = write_strategy_file(root, "raw", {"detrend": False, "standardize": False, "filter": False})
    atlas = root / "atlas"
    completed = run_cli(
        root / "fmriprep", root / "out", "participant", "--space", "fsLR:den-91k", "fsaverage5",
        "--atlas-file", f"Nets={atlas / 'nets.dscalar.nii'}",
        "--atlas-file", f"Grayord={atlases['dlabel']}",
        "--atlas-file", f"Comps={atlas / 'lh.comps.func.gii'},{atlas / 'rh.comps.func.gii'}",
        "--atlas-file", f"Shape={atlas / 'lh.comps.shape.gii'},{atlas / 'rh.comps.shape.gii'}:{table}",
        "--strategy", str(raw),
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return root, completed, {"Nets": cifti_maps, "Comps": np.vstack(gifti_maps), "Shape": np.vstack(shape_maps)}


def _output(root, name):
    return root / "out" / "sub-01" / "func" / name


def _series(root, name):
    return pd.read_csv(_output(root, name), sep="\t", na_values="n/a")


def _gifti_data(root):
    func = root / "fmriprep" / "sub-01" / "func"
    return [np.vstack([d.data for d in nib.load(func / GIFTI_RUN.format(hemi)).darrays]) for hemi in "LR"]


def _lstsq(maps, data):
    """The least-squares fit of the maps (NaN weights as 0) to each volume of data (T x N), float64."""
    maps = np.where(np.isfinite(maps), maps, 0).astype(np.float64)
    return scipy.linalg.lstsq(maps, data.astype(np.float64).T)[0].T


def _coverage(maps, data):
    """Per map, the share of its absolute weight on vertices with finite, non-constant signal."""
    weights = np.abs(np.where(np.isfinite(maps), maps, 0))
    valid = np.all(np.isfinite(data), axis=0) & np.any(data != data[:1], axis=0)
    return weights[valid].sum(axis=0) / weights.sum(axis=0)


def test_cifti_maps_are_the_least_squares_fit_on_the_grayordinates(maps_job):
    root, completed, maps = maps_job
    data = np.asarray(nib.load(root / "fmriprep" / "sub-01" / "func" / CIFTI_RUN).dataobj)
    stem = "sub-01_task-rest_run-1_space-fsLR_atlas-Nets_den-91k_desc-raw"
    table = _series(root, f"{stem}_timeseries.tsv")
    assert list(table.columns) == [f"Net{k}" for k in range(1, N_MAPS + 1)]  # the ScalarAxis's map names
    assert table.iloc[:DUMMIES].isna().all().all()
    np.testing.assert_allclose(table.to_numpy()[DUMMIES:], _lstsq(maps["Nets"], data)[DUMMIES:], rtol=1e-5, atol=1e-6)
    # NaN weights count as 0, with the warning of volumetric maps, naming the atlas and its file
    assert "Non-finite values detected in the maps of atlas Nets (nets.dscalar.nii)" in completed.stdout + completed.stderr
    sidecar = json.loads(_output(root, f"{stem}_timeseries.json").read_text())
    np.testing.assert_allclose(list(sidecar["RegionCoverage"].values()), _coverage(maps["Nets"], data), atol=1e-4)
    assert sidecar["Atlas"]["Kind"] == "maps" and sidecar["Atlas"]["Extraction"].startswith("least-squares fit")
    assert sidecar["Atlas"]["Files"]["image"] == "bids::atlases/atlas-Nets_probseg.dscalar.nii"
    assert (root / "out" / "atlases" / "atlas-Nets_probseg.dscalar.nii").is_file()
    # a map is no set of grayordinates: no ptseries/pconn for maps; the label atlas of the same pass has them
    assert not list(_output(root, "").glob("*atlas-Nets*.ptseries.nii"))
    assert _output(root, "sub-01_task-rest_run-1_space-fsLR_atlas-Grayord_den-91k_desc-raw_timeseries.ptseries.nii"
                   ).is_file()


def test_gifti_maps_match_numpy_and_nilearn_surface_maps_masker(maps_job):
    root, _, maps = maps_job
    left, right = _gifti_data(root)
    data = np.hstack([left, right])
    for atlas, names in (("Comps", [f"Comp{k}" for k in range(N_MAPS)]), ("Shape", [f"Shape{k}" for k in "ABCD"])):
        stem = f"sub-01_task-rest_run-1_space-fsaverage5_atlas-{atlas}_desc-raw"
        table = _series(root, f"{stem}_timeseries.tsv")
        assert list(table.columns) == names  # data array names, or the label table by row order
        np.testing.assert_allclose(table.to_numpy()[DUMMIES:], _lstsq(maps[atlas], data)[DUMMIES:], rtol=1e-5,
                                   atol=1e-6)
        sidecar = json.loads(_output(root, f"{stem}_timeseries.json").read_text())
        # the fake runs' medial wall holds zeros: the maps' weight there is not covered
        coverage = _coverage(maps[atlas], data)
        assert np.all(coverage < 1)
        np.testing.assert_allclose(list(sidecar["RegionCoverage"].values()), coverage, atol=1e-4)
    for hemi, extension in (("L", "func.gii"), ("R", "shape.gii")):
        name = f"hemi-{hemi}_atlas-{'Comps' if extension == 'func.gii' else 'Shape'}_probseg.{extension}"
        assert (root / "out" / "atlases" / name).is_file()

    from nilearn.datasets import load_fsaverage
    from nilearn.maskers import SurfaceMapsMasker
    from nilearn.surface import SurfaceImage

    mesh = load_fsaverage("fsaverage5")["pial"]
    assert [part.n_vertices for part in mesh.parts.values()] == [left.shape[1], right.shape[1]]
    bold = SurfaceImage(mesh=mesh, data={"left": left.T, "right": right.T})
    half = left.shape[1]
    maps_img = SurfaceImage(mesh=mesh, data={"left": maps["Comps"][:half], "right": maps["Comps"][half:]})
    expected = SurfaceMapsMasker(maps_img).fit_transform(bold)
    got = _series(root, "sub-01_task-rest_run-1_space-fsaverage5_atlas-Comps_desc-raw_timeseries.tsv").to_numpy()
    # nilearn casts the data to float32 before its lstsq
    np.testing.assert_allclose(got[DUMMIES:], expected[DUMMIES:], rtol=0, atol=1e-5 * np.abs(expected).max())


def _one_atlas_job(root, tmp_path, spec_text):
    return run_cli(root / "fmriprep", tmp_path / "out", "participant", "--space", "fsLR:den-91k", "fsaverage5",
                   "--atlas-file", spec_text, "--atlas-file", f"Grayord={root / 'atlas' / 'demo.dlabel.nii'}",
                   "--atlas-file", f"Gii={root / 'atlas' / 'demo_hemi-L.label.gii'},"
                   f"{root / 'atlas' / 'demo_hemi-R.label.gii'}")


def test_broken_maps_file_fails_as_a_broken_label_file(maps_job, tmp_path):
    root, _, _ = maps_job
    broken_maps = tmp_path / "broken.dscalar.nii"
    broken_labels = tmp_path / "broken.dlabel.nii"
    for path in (broken_maps, broken_labels):
        path.write_bytes(b"not a CIFTI file" * 40)
    maps_run = _one_atlas_job(root, tmp_path, f"Bad={broken_maps}")
    labels_run = _one_atlas_job(root, tmp_path, f"Bad={broken_labels}")
    assert maps_run.returncode == labels_run.returncode != 0
    assert f"cannot read {broken_maps}" in maps_run.stdout + maps_run.stderr
    # a labels file given where maps are expected: named with what it is
    labels_as_maps = tmp_path / "labels.dscalar.nii"
    labels_as_maps.write_bytes((root / "atlas" / "demo.dlabel.nii").read_bytes())
    wrong = _one_atlas_job(root, tmp_path, f"Bad={labels_as_maps}")
    assert wrong.returncode == labels_run.returncode
    assert f"{labels_as_maps} is not a dense scalar file of maps" in wrong.stdout + wrong.stderr


def test_maps_of_another_surface_fail_the_run_naming_the_files(maps_job, tmp_path):
    root, _, _ = maps_job
    rng = np.random.default_rng(0)
    write_gifti_maps(tmp_path, "small.func.gii", (100, 100), rng)
    left, right = tmp_path / "lh.small.func.gii", tmp_path / "rh.small.func.gii"
    completed = _one_atlas_job(root, tmp_path, f"Small={left},{right}")
    assert completed.returncode == 1, completed.stdout + completed.stderr
    output = completed.stdout + completed.stderr
    assert f"atlas Small ({left}, {right}) does not fit" in output
    assert "the left hemisphere of the atlas has 100 vertices" in output
    # hemispheres with different numbers of maps are refused when the atlas is read
    nib.GiftiImage(darrays=[nib.gifti.GiftiDataArray(np.ones(100, np.float32))]).to_filename(str(right))
    uneven = _one_atlas_job(root, tmp_path, f"Small={left},{right}")
    assert uneven.returncode != 0 and "the hemispheres hold different numbers of maps" in uneven.stdout + uneven.stderr
