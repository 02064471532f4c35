"""``--space fsaverage6`` and ``--space fsaverage`` GIFTI runs through the real command line.

fsaverage6 with its real vertex counts (40,962 per hemisphere), fsaverage
with a small fake mesh of the same structure (its 163,842 vertices per
hemisphere would only slow the test: nothing in the pipeline depends on the
count). The runs are written as fMRIPrep writes them next to the run's
confounds; the series are checked against per-parcel means computed here.
"""

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from regionseries.demo import DatasetSpec, RunSpec, write_fmriprep_dataset

from ..conftest import TEST_N_VOLUMES, run_cli, write_strategy_file

#: Vertices per hemisphere: fsaverage6's real count, and a small fake fsaverage.
VERTICES = {"fsaverage6": 40_962, "fsaverage": 642}
N_PARCELS = 6


def _write_pair(func, space, rng):
    """A GIFTI pair of the run in ``space`` (zeros on a fake medial wall) and the data written."""
    n_vertices = VERTICES[space]
    written = []
    for hemi in "LR":
        data = rng.normal(500, 20, (TEST_N_VOLUMES, n_vertices)).astype(np.float32)
        data[:, : n_vertices // 10] = 0.0  # medial wall: no signal
        darrays = [nib.gifti.GiftiDataArray(volume, intent="NIFTI_INTENT_TIME_SERIES", datatype="NIFTI_TYPE_FLOAT32",
                                            meta={"TimeStep": "2000"}) for volume in data]
        nib.GiftiImage(darrays=darrays).to_filename(
            func / f"sub-01_task-rest_run-1_hemi-{hemi}_space-{space}_bold.func.gii")
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


@pytest.fixture(scope="module")
def dense_surfaces(tmp_path_factory):
    root = tmp_path_factory.mktemp("dense_surfaces")
    spec = DatasetSpec(runs=[RunSpec("01", None, "rest", "1", ("MNI152NLin2009cAsym",))], n_volumes=TEST_N_VOLUMES,
                       voxel_size=8.0, seed=6, repetition_time=2.0)
    write_fmriprep_dataset(root / "fmriprep", spec)
    func = root / "fmriprep" / "sub-01" / "func"
    rng = np.random.default_rng(6)
    data = {space: _write_pair(func, space, rng) for space in VERTICES}
    (root / "atlas").mkdir()
    atlases = {space: _write_atlas(root / "atlas", space) for space in VERTICES}
    write_strategy_file(root, "raw", {"detrend": False, "standardize": False, "filter": False})
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
