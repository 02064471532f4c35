"""Template surfaces of surface runs in a TemplateFlow home (the meshes the report draws on).

File names are TemplateFlow's own (tpl-fsLR and tpl-fsaverage trees): fsLR
writes ``den-`` before ``hemi-``, fsaverage after it; a zero-byte file is
TemplateFlow's placeholder of a file not downloaded.
"""

import nibabel as nib
import numpy as np
import pytest

from regionseries.atlases.templateflow import (
    SurfaceUnavailable,
    find_template_surface,
    surface_template_of,
)
from regionseries.demo import hemisphere_mesh


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
