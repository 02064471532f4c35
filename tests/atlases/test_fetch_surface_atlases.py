"""``regionseries-fetch-atlases`` for TemplateFlow surface atlases (tpl-fsaverage label.gii pairs,
tpl-fsLR dlabel.nii), against the fake TemplateFlow server on 127.0.0.1, and ``--atlas`` on the
home it filled. File names are the real ones of the skeleton bundled with the templateflow client.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from regionseries.atlases import fetch
from regionseries.atlases.templateflow import (
    TemplateFlowRequest,
    resolve_templateflow_surface_atlas,
)
from regionseries.demo import write_surface_atlases

SKELETON_PATHS = fetch.skeleton_paths(fetch.bundled_skeleton_zip())
YEO_10K = [f"tpl-fsaverage/tpl-fsaverage_hemi-{hemi}_den-10k_atlas-Yeo2011_seg-7n_dseg.label.gii" for hemi in "LR"]


def test_surface_atlas_names_are_parsed_in_templateflows_entity_orders():
    image = fetch.parse_atlas_image(YEO_10K[0])
    assert (image.template, image.atlas, image.hemi, image.density, image.seg, image.scale, image.desc) == (
        "fsaverage", "Yeo2011", "L", "10k", "7n", None, None)
    assert image.is_surface and image.suffix == "dseg"
    schaefer = fetch.parse_atlas_image(
        "tpl-fsaverage/tpl-fsaverage_hemi-R_den-164k_atlas-Schaefer2018_seg-kong17n_scale-400_dseg.label.gii")
    assert (schaefer.seg, schaefer.scale, schaefer.density) == ("kong17n", "400", "164k")
    dlabel = fetch.parse_atlas_image("tpl-fsLR/tpl-fsLR_atlas-4S456Parcels_den-91k_dseg.dlabel.nii")
    assert (dlabel.atlas, dlabel.density, dlabel.hemi) == ("4S456Parcels", "91k", None)
    for other in ("tpl-fsLR/tpl-fsLR_den-32k_hemi-L_inflated.surf.gii",  # a mesh
                  "tpl-fsLR/tpl-fsLR_hemi-L_den-32k_desc-nomedialwall_dparc.label.gii",  # a mask, not an atlas
                  "tpl-fsaverage/tpl-fsaverage_atlas-Yeo2011_seg-7n_dseg.tsv"):
        assert fetch.parse_atlas_image(other) is None


def test_surface_selection_by_density_seg_and_scale():
    selected = [i.relpath for i in fetch.select_atlas_images(SKELETON_PATHS, ["fsaverage"], ["Yeo2011"],
                                                              densities=["10k"], segs=["7n"])]
    assert selected == YEO_10K
    schaefer = fetch.select_atlas_images(SKELETON_PATHS, ["fsaverage"], ["Schaefer2018"], densities=["164k"],
                                         segs=["7n"], scales=["400"])
    assert len(schaefer) == 2 and {i.hemi for i in schaefer} == {"L", "R"}
    with pytest.raises(fetch.SelectionError, match="has no file at density 10k in fsaverage; it has den-164k"):
        fetch.select_atlas_images(SKELETON_PATHS, ["fsaverage"], ["Schaefer2018"], densities=["10k"])
    tables = fetch.selection_metadata_paths(SKELETON_PATHS, fetch.select_atlas_images(
        SKELETON_PATHS, ["fsaverage"], ["Yeo2011"], densities=["10k"], segs=["7n"]))
    assert "tpl-fsaverage/tpl-fsaverage_atlas-Yeo2011_seg-7n_dseg.tsv" in tables


@pytest.fixture
def demo_label_files(tmp_path):
    return write_surface_atlases(tmp_path / "demo", 8.0)


def test_fetch_downloads_a_label_gii_pair_and_atlas_resolves_it_offline(tmp_path, fake_templateflow,
                                                                       demo_label_files, monkeypatch):
    for relpath, hemi in zip(YEO_10K, "LR"):
        fake_templateflow.files[relpath] = demo_label_files[f"label_{hemi}"].read_bytes()
    home = tmp_path / "home"
    status = fetch.main(["--home", str(home), "--template", "fsaverage", "--atlas", "Yeo2011", "--density", "10k",
                         "--seg", "7n", "--s3-root", fake_templateflow.url])
    assert status == fetch.EXIT_OK
    assert sorted(fake_templateflow.requests) == YEO_10K
    assert fetch.main(["--home", str(home), "--template", "fsaverage", "--atlas", "Yeo2011", "--density", "10k",
                       "--seg", "7n", "--check"]) == fetch.EXIT_OK
    atlas = resolve_templateflow_surface_atlas(TemplateFlowRequest.parse("Yeo2011:seg-7n"), "gifti", "fsaverage5",
                                               None, home)
    assert atlas.surface == "gifti" and atlas.n_regions == 20
    # TemplateFlow's real table (from the skeleton) numbers Yeo's regions by their annot colour codes, which
    # the demo's files do not hold: the names in the files are kept, and the atlas says why
    assert atlas.source["LabelTable"] == "tpl-fsaverage/tpl-fsaverage_atlas-Yeo2011_seg-7n_dseg.tsv"
    assert atlas.names[0] == "LH_Visual_1" and "the files' own region names are kept" in atlas.warnings[0]


def test_a_truncated_gifti_is_refused_and_check_finds_it(tmp_path, fake_templateflow, demo_label_files, capsys):
    body = demo_label_files["label_L"].read_bytes()
    for relpath in YEO_10K:
        fake_templateflow.files[relpath] = body[: len(body) // 2]
    home = tmp_path / "home"
    arguments = ["--home", str(home), "--template", "fsaverage", "--atlas", "Yeo2011", "--density", "10k",
                 "--seg", "7n", "--attempts", "1"]
    assert fetch.main(arguments + ["--s3-root", fake_templateflow.url]) == fetch.EXIT_FETCH_FAILED
    assert "did not return a GIFTI file: a truncated GIFTI file (no closing </GIFTI>)" in capsys.readouterr().err
    assert all((home / relpath).stat().st_size == 0 for relpath in YEO_10K)  # placeholders left as they were
    (home / YEO_10K[0]).write_bytes(body[:-40])
    assert fetch.main(arguments + ["--check"]) == fetch.EXIT_MISSING
    out = capsys.readouterr().out
    assert f"corrupt  {YEO_10K[0]}  (a truncated GIFTI file (no closing </GIFTI>))" in out
    assert "--density 10k --seg 7n" in out


def test_a_truncated_cifti_is_refused(tmp_path, demo_label_files):
    whole = demo_label_files["dlabel"].read_bytes()
    cut = tmp_path / "cut.dlabel.nii"
    cut.write_bytes(whole[:-64])
    assert fetch.file_problem(demo_label_files["dlabel"]) == ("a CIFTI-2 file", None)
    assert fetch.file_problem(cut) == ("a CIFTI-2 file", f"a truncated CIFTI-2 file ({len(whole) - 64} of "
                                                         f"{len(whole)} bytes)")
    nib.Nifti1Image(np.zeros((2, 2, 2), np.int16), np.eye(4)).to_filename(tmp_path / "volume.nii")
    assert fetch.cifti_problem(tmp_path / "volume.nii") == "not a NIfTI-2 (CIFTI-2) file"
