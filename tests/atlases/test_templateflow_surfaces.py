"""Template surfaces of surface runs in a TemplateFlow home (the meshes the report draws on).

File names are TemplateFlow's own (tpl-fsLR and tpl-fsaverage trees): fsLR
writes ``den-`` before ``hemi-``, fsaverage after it; a zero-byte file is
TemplateFlow's placeholder of a file not downloaded.
"""

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from regionseries.atlases.base import AtlasError, AtlasUnavailable
from regionseries.atlases.registry import AtlasRegistry, export_atlas
from regionseries.atlases.surfaces import surface_labels_atlas
from regionseries.atlases.templateflow import (
    SurfaceUnavailable,
    TemplateFlowRequest,
    find_template_surface,
    has_surface_atlas,
    resolve_templateflow_surface_atlas,
    surface_template_of,
)
from regionseries.demo import (
    DatasetSpec,
    RunSpec,
    hemisphere_mesh,
    write_fmriprep_dataset,
    write_surface_atlases,
)

from ..conftest import TEST_N_VOLUMES, run_cli

#: Proxies at a closed local port: a download attempt fails at once, as on an offline node.
OFFLINE = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
           "https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9", "NO_PROXY": "", "no_proxy": ""}


def write_mesh(path, space="fsaverage5", hemi="L"):
    coordinates, faces, _ = hemisphere_mesh(space, hemi)
    nib.GiftiImage(darrays=[
        nib.gifti.GiftiDataArray(coordinates.astype(np.float32), intent="NIFTI_INTENT_POINTSET"),
        nib.gifti.GiftiDataArray(faces.astype(np.int32), intent="NIFTI_INTENT_TRIANGLE"),
    ]).to_filename(path)
    return path


@pytest.mark.parametrize(("space", "density", "kind", "expected"), [
    ("fsLR", "91k", "cifti", ("fsLR", "32k")),
    ("fsLR", "170k", "cifti", ("fsLR", "59k")),
    ("fsaverage5", None, "gifti", ("fsaverage", "10k")),
    ("fsaverage6", None, "gifti", ("fsaverage", "41k")),
    ("fsaverage", None, "gifti", ("fsaverage", "164k")),
    ("fsaverage", "10k", "gifti", ("fsaverage", "10k")),
    ("fsLR", "32k", "gifti", ("fsLR", "32k")),
])
def test_the_template_and_mesh_density_of_a_surface_space(space, density, kind, expected):
    assert surface_template_of(space, density, kind) == expected


def test_fsnative_and_unknown_grayordinates_have_no_template_mesh():
    with pytest.raises(SurfaceUnavailable, match="participant's own surface"):
        surface_template_of("fsnative", None, "gifti")
    with pytest.raises(SurfaceUnavailable, match="den-12k"):
        surface_template_of("fsLR", "12k", "cifti")


def test_the_best_complete_mesh_is_chosen_and_placeholders_do_not_count(tmp_path):
    folder = tmp_path / "tpl-fsLR"
    folder.mkdir()
    for hemi in "LR":
        (folder / f"tpl-fsLR_den-32k_hemi-{hemi}_inflated.surf.gii").touch()  # not downloaded
        write_mesh(folder / f"tpl-fsLR_den-32k_hemi-{hemi}_midthickness.surf.gii", "fsLR:den-91k", hemi)
        write_mesh(folder / f"tpl-fsLR_den-32k_hemi-{hemi}_veryinflated.surf.gii", "fsLR:den-91k", hemi)
        write_mesh(folder / f"tpl-fsLR_hemi-{hemi}_den-32k_sphere.surf.gii", "fsLR:den-91k", hemi)
        write_mesh(folder / f"tpl-fsLR_space-fsaverage_hemi-{hemi}_den-32k_sphere.surf.gii", "fsLR:den-91k", hemi)
    found = find_template_surface("fsLR", "32k", tmp_path)
    assert found.mesh == "veryinflated" and found.description == "fsLR den-32k veryinflated"
    assert found.files == {"left": folder / "tpl-fsLR_den-32k_hemi-L_veryinflated.surf.gii",
                           "right": folder / "tpl-fsLR_den-32k_hemi-R_veryinflated.surf.gii"}
    assert found.sulcal_depth is None  # tpl-fsLR has no sulc.shape.gii


def test_fsaverage_pial_with_its_sulcal_depth(tmp_path):
    folder = tmp_path / "tpl-fsaverage"
    folder.mkdir()
    for hemi in "LR":
        write_mesh(folder / f"tpl-fsaverage_hemi-{hemi}_den-10k_pial.surf.gii", "fsaverage5", hemi)
        write_mesh(folder / f"tpl-fsaverage_hemi-{hemi}_den-10k_white.surf.gii", "fsaverage5", hemi)
        write_mesh(folder / f"tpl-fsaverage_hemi-{hemi}_den-164k_desc-std_sphere.surf.gii", "fsaverage5", hemi)
        (folder / f"tpl-fsaverage_hemi-{hemi}_den-10k_sulc.shape.gii").write_bytes(b"x")
    found = find_template_surface("fsaverage", "10k", tmp_path)
    assert found.mesh == "white"  # white before pial: less of the cortex hidden in sulci
    assert found.sulcal_depth == {"left": folder / "tpl-fsaverage_hemi-L_den-10k_sulc.shape.gii",
                                  "right": folder / "tpl-fsaverage_hemi-R_den-10k_sulc.shape.gii"}


def test_one_hemisphere_is_not_enough(tmp_path):
    folder = tmp_path / "tpl-fsaverage"
    folder.mkdir()
    write_mesh(folder / "tpl-fsaverage_hemi-L_den-10k_pial.surf.gii")
    with pytest.raises(SurfaceUnavailable, match="no hemi-R pial mesh"):
        find_template_surface("fsaverage", "10k", tmp_path)


def test_the_message_names_the_placeholders_and_the_command_that_fetches_them(tmp_path):
    folder = tmp_path / "tpl-fsLR"
    folder.mkdir()
    for hemi in "LR":
        (folder / f"tpl-fsLR_den-32k_hemi-{hemi}_inflated.surf.gii").touch()
    with pytest.raises(SurfaceUnavailable) as raised:
        find_template_surface("fsLR", "32k", tmp_path)
    message = str(raised.value)
    assert f"TEMPLATEFLOW_HOME={tmp_path}" in message
    for hemi in "LR":
        assert (f"tpl-fsLR/tpl-fsLR_den-32k_hemi-{hemi}_inflated.surf.gii is TemplateFlow's empty placeholder "
                "(not downloaded)") in message
    assert "get('fsLR', density='32k', suffix='inflated', extension='.surf.gii')" in message
    with pytest.raises(SurfaceUnavailable, match="it has no tpl-fsaverage"):
        find_template_surface("fsaverage", "10k", tmp_path)
    (tmp_path / "tpl-fsaverage").mkdir()
    with pytest.raises(SurfaceUnavailable, match="tpl-fsaverage holds no den-10k"):
        find_template_surface("fsaverage", "10k", tmp_path)


# --------------------------------------------------------------------------------------
# Surface atlases: --atlas NAME for CIFTI and GIFTI runs
# --------------------------------------------------------------------------------------

def write_surface_atlas_home(home, atlases):
    """TemplateFlow-named surface atlases made of the demo's: ``Toy`` as a 91k dlabel (tpl-fsLR)
    and a den-10k label.gii pair with a dseg.tsv holding a hemi column (tpl-fsaverage, as
    TemplateFlow's tables: the same value in both hemispheres); ``ToyCortex`` as a den-32k
    cortex-only dlabel; ``Big`` only at den-164k, as placeholders."""
    fsaverage, fslr = home / "tpl-fsaverage", home / "tpl-fsLR"
    fsaverage.mkdir(parents=True)
    fslr.mkdir(parents=True)
    for hemi in "LR":
        shutil.copy(atlases[f"label_{hemi}"], fsaverage / f"tpl-fsaverage_hemi-{hemi}_den-10k_atlas-Toy_dseg.label.gii")
        (fsaverage / f"tpl-fsaverage_hemi-{hemi}_den-164k_atlas-Big_seg-7n_dseg.label.gii").touch()
    rows = ["index\themi\tname\tcolor"] + [f"0\t{hemi}\tMedial_Wall\t#000000ff" for hemi in "LR"] + [
        f"{k}\t{hemi}\tToy{hemi}{k}\t#ffffffff" for hemi in "LR" for k in range(1, 11)]
    (fsaverage / "tpl-fsaverage_atlas-Toy_dseg.tsv").write_text("\n".join(rows) + "\n")
    shutil.copy(atlases["dlabel"], fslr / "tpl-fsLR_atlas-Toy_den-91k_dseg.dlabel.nii")
    img = nib.load(atlases["dlabel"])
    label_axis, models = img.header.get_axis(0), img.header.get_axis(1)
    n_cortex = int((~models.volume_mask).sum())  # the cortices come first
    cortex = nib.Cifti2Image(np.asarray(img.dataobj)[:, :n_cortex], header=(label_axis, models[:n_cortex]))
    cortex.nifti_header.set_intent("ConnDenseLabel")
    cortex.to_filename(fslr / "tpl-fsLR_atlas-ToyCortex_den-32k_dseg.dlabel.nii")
    return home


@pytest.fixture(scope="module")
def surface_atlas_home(tmp_path_factory):
    root = tmp_path_factory.mktemp("tf-surface-atlases")
    atlases = write_surface_atlases(root / "atlas", 8.0)
    return write_surface_atlas_home(root / "templateflow", atlases), atlases


def test_templateflow_surface_atlases_for_cifti_and_gifti_runs_from_the_command_line(surface_atlas_home,
                                                                                     tmp_path):
    home, atlases = surface_atlas_home
    spec = DatasetSpec(runs=[RunSpec("01", None, "rest", "1", ("fsLR:den-91k", "fsaverage5"))],
                       n_volumes=TEST_N_VOLUMES, voxel_size=8.0, seed=4)
    write_fmriprep_dataset(tmp_path / "fmriprep", spec)
    completed = run_cli(tmp_path / "fmriprep", tmp_path / "out", "participant", "--space", "fsLR:den-91k",
                        "fsaverage5", "--atlas", "Toy", "--atlas", "ToyCortex", "--strategy", "simple",
                        "--no-reports", "-w", tmp_path / "work", env={"TEMPLATEFLOW_HOME": str(home), **OFFLINE})
    assert completed.returncode == 0, completed.stdout + completed.stderr
    func = tmp_path / "out" / "sub-01" / "func"
    gifti = pd.read_csv(func / "sub-01_task-rest_run-1_space-fsaverage5_atlas-Toy_desc-simple_timeseries.tsv",
                        sep="\t")
    # the dseg.tsv names each hemisphere's regions by its own file values; the medial wall is no region
    assert list(gifti.columns) == [f"Toy{hemi}{k}" for hemi in "LR" for k in range(1, 11)]
    cifti = pd.read_csv(func / "sub-01_task-rest_run-1_space-fsLR_atlas-Toy_den-91k_desc-simple_timeseries.tsv",
                        sep="\t")
    assert "THALAMUS_LEFT" in cifti.columns  # the 91k dlabel has the subcortical parcels
    cortex_only = func / "sub-01_task-rest_run-1_space-fsLR_atlas-ToyCortex_den-91k_desc-simple_timeseries"
    columns = pd.read_csv(cortex_only.with_suffix(".tsv"), sep="\t").columns
    assert list(columns) == [c for c in cifti.columns if c.startswith(("LH_", "RH_"))]
    sidecar = json.loads(cortex_only.with_suffix(".json").read_text())
    assert sidecar["Atlas"]["Coverage"] == "cortex only: the subcortical grayordinates of the runs are in no region"
    assert "covers the cortex only (den-32k)" in completed.stdout + completed.stderr
    exported = json.loads((tmp_path / "out" / "atlases" / "tpl-fsLR_atlas-ToyCortex_den-32k_dseg.json").read_text())
    assert exported["Source"]["Origin"] == "TemplateFlow" and exported["Source"]["Density"] == "32k"
    assert (tmp_path / "out" / "atlases" / "tpl-fsaverage_hemi-L_atlas-Toy_den-10k_dseg.label.gii").is_file()
    # ToyCortex is not in tpl-fsaverage: it is for the CIFTI runs only, not a failure of the GIFTI ones
    assert not list(func.glob("*space-fsaverage5*ToyCortex*"))


def test_a_surface_atlas_missing_at_the_runs_density_lists_the_variants(surface_atlas_home):
    home, _ = surface_atlas_home
    with pytest.raises(AtlasError) as raised:
        resolve_templateflow_surface_atlas(TemplateFlowRequest.parse("Big:seg-7n"), "gifti", "fsaverage5", None,
                                           home)
    assert "no .label.gii file for the surface runs in space-fsaverage5 (tpl-fsaverage den-10k)" in str(raised.value)
    assert "Available: Big:seg-7n (den-164k)." in str(raised.value)
    with pytest.raises(AtlasError, match="participant's own surface"):
        resolve_templateflow_surface_atlas(TemplateFlowRequest.parse("Toy"), "gifti", "fsnative", None, home)


def test_a_placeholder_offline_says_what_to_fetch(surface_atlas_home, monkeypatch):
    home, _ = surface_atlas_home
    for name, value in OFFLINE.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(AtlasUnavailable) as raised:
        resolve_templateflow_surface_atlas(TemplateFlowRequest.parse("Big:seg-7n"), "gifti", "fsaverage", None, home)
    message = str(raised.value)
    assert (f"tpl-fsaverage/tpl-fsaverage_hemi-L_den-164k_atlas-Big_seg-7n_dseg.label.gii is not in "
            f"TEMPLATEFLOW_HOME={home}") in message
    assert ("get('fsaverage', atlas='Big', hemi='L', density='164k', segmentation='7n', suffix='dseg', "
            "extension='.label.gii')") in message
    assert (f"regionseries-fetch-atlases --home {home} --template fsaverage --atlas Big --density 164k "
            "--seg 7n") in message


def test_volumetric_templateflow_atlases_are_left_to_the_volume_runs(surface_atlas_home, monkeypatch, tmp_path):
    home, atlases = surface_atlas_home
    monkeypatch.setenv("TEMPLATEFLOW_HOME", str(home))
    registry = AtlasRegistry.from_specs(atlas=["Schaefer2018:desc-400Parcels7Networks"],
                                        atlas_file=[f"Gii={atlases['label_L']},{atlases['label_R']}"],
                                        work_dir=tmp_path)
    assert [a.name for a in registry.resolve_surface("gifti", "fsaverage5", None)] == ["Gii"]
    with pytest.raises(AtlasError, match="or a TemplateFlow atlas of their template with --atlas"):
        registry.resolve_surface("cifti", "fsLR", "91k")


def test_a_bids_dseg_tsv_with_hemispheres_names_an_atlas_file_pair(surface_atlas_home, tmp_path):
    _, atlases = surface_atlas_home
    pair = (atlases["label_L"], atlases["label_R"])
    table = tmp_path / "atlas-Demo_dseg.tsv"
    table.write_text("index\tname\themi\n" + "".join(f"{k}\tnet{k}\t{hemi}\n" for hemi in ("left", "right")
                                                  for k in range(1, 11)))
    atlas = surface_labels_atlas("Demo", "Demo=...", pair, table)
    # the same name in both hemispheres gets L_/R_ in front, as the files' own names do
    assert atlas.names == [f"{hemi}_net{k}" for hemi in "LR" for k in range(1, 11)]
    assert atlas.table["index"].tolist() == list(range(1, 21)) and not atlas.warnings
    unrelated = tmp_path / "other_dseg.tsv"
    unrelated.write_text("index\tname\themi\n500\tA\tL\n501\tB\tR\n")
    kept = surface_labels_atlas("Demo", "Demo=...", pair, unrelated)
    assert kept.names == surface_labels_atlas("Demo", "Demo=...", pair, None).names
    assert kept.warnings == [f"atlas Demo: no label value of label table {unrelated} is in the atlas files; "
                             "the files' own region names are kept"]


def test_a_volumetric_variant_is_not_taken_for_the_surface_runs(surface_atlas_home, monkeypatch, tmp_path):
    """tpl-fsaverage has Big as seg-7n only: Big:desc-400 (as a volumetric atlas would be named) is left to
    the volume runs, and a surface job with nothing else says which surface variants there are."""
    home, _ = surface_atlas_home
    monkeypatch.setenv("TEMPLATEFLOW_HOME", str(home))
    registry = AtlasRegistry.from_specs(atlas=["Big:desc-400"], work_dir=tmp_path)
    with pytest.raises(AtlasError, match=r"the surface variants of the TemplateFlow atlases asked for: "
                                         r"Big:seg-7n \(den-164k\)"):
        registry.resolve_surface("gifti", "fsaverage5", None)


def test_a_fresh_home_gets_templateflows_skeleton(tmp_path, monkeypatch):
    """An empty TemplateFlow home is filled with the skeleton bundled with the client (names and
    tables, no network), so that --atlas knows the surface atlases TemplateFlow has."""
    home = tmp_path / "fresh"
    monkeypatch.setenv("TEMPLATEFLOW_HOME", str(home))
    assert has_surface_atlas(TemplateFlowRequest.parse("Yeo2011:seg-7n"), "gifti", "fsaverage5", None)
    assert (home / "tpl-fsaverage" / "tpl-fsaverage_atlas-Yeo2011_seg-7n_dseg.tsv").stat().st_size > 0
    assert (home / "tpl-fsaverage" / "tpl-fsaverage_hemi-L_den-10k_atlas-Yeo2011_seg-7n_dseg.label.gii").is_file()
    assert not has_surface_atlas(TemplateFlowRequest.parse("Schaefer2018:desc-400Parcels7Networks"), "gifti",
                                 "fsaverage5", None)


def test_one_atlas_at_two_mesh_densities_is_two_atlases_with_their_own_files(surface_atlas_home, tmp_path,
                                                                             monkeypatch):
    """fsaverage5 and fsaverage6 runs of one job take the den-10k and den-41k files of a TemplateFlow
    atlas: both are exported to atlases/, each named by its density."""
    home = tmp_path / "templateflow"
    shutil.copytree(surface_atlas_home[0], home)
    rng = np.random.default_rng(5)
    for hemi in "LR":
        labels = nib.gifti.GiftiDataArray(rng.integers(0, 11, 40962).astype(np.int32), intent="NIFTI_INTENT_LABEL")
        nib.GiftiImage(darrays=[labels], labeltable=nib.load(
            home / "tpl-fsaverage" / f"tpl-fsaverage_hemi-{hemi}_den-10k_atlas-Toy_dseg.label.gii").labeltable
        ).to_filename(home / "tpl-fsaverage" / f"tpl-fsaverage_hemi-{hemi}_den-41k_atlas-Toy_dseg.label.gii")
    monkeypatch.setenv("TEMPLATEFLOW_HOME", str(home))
    registry = AtlasRegistry.from_specs(atlas=["Toy"], work_dir=tmp_path / "work")
    (ico5,), (ico6,) = (registry.resolve_surface("gifti", space, None) for space in ("fsaverage5", "fsaverage6"))
    assert (ico5.source["Density"], ico6.source["Density"]) == ("10k", "41k")
    assert ico5.key != ico6.key
    exported = [export_atlas(atlas, tmp_path / "out") for atlas in (ico5, ico6)]
    for density, files in zip(("10k", "41k"), exported):
        assert all(f"den-{density}" in Path(path).name for name, path in files.items() if name.startswith("image"))
    assert exported[0]["image_L"] != exported[1]["image_L"]
