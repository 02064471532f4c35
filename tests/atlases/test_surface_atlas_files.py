"""Surface maps given with --atlas-file (atlases.files, atlases.surfaces): parsing, names, tables, errors."""

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from regionseries.atlases.base import AtlasError
from regionseries.atlases.files import FileRequest, resolve_file_atlas
from regionseries.atlases.registry import atlas_file_names


def _gifti(path, arrays, names=None):
    darrays = [nib.gifti.GiftiDataArray(np.asarray(array, np.float32), intent="NIFTI_INTENT_NONE",
                                        datatype="NIFTI_TYPE_FLOAT32", meta={"Name": names[k]} if names else None)
               for k, array in enumerate(arrays)]
    nib.GiftiImage(darrays=darrays).to_filename(str(path))
    return path


def _dscalar(path, maps, names):
    models = nib.cifti2.BrainModelAxis.from_mask(np.ones(maps.shape[1], bool), name="CortexLeft")
    nib.Cifti2Image(maps, header=(nib.cifti2.ScalarAxis(names), models)).to_filename(str(path))
    return path


def test_cifti_maps_are_named_by_their_scalar_axis_or_the_table(tmp_path):
    path = _dscalar(tmp_path / "nets.dscalar.nii", np.random.default_rng(0).random((3, 8)).astype(np.float32),
                    ["Visual", "Motor", "Visual"])
    atlas = resolve_file_atlas(FileRequest.parse(f"Nets={path}"))
    assert (atlas.kind, atlas.surface, atlas.suffix) == ("maps", "cifti", "probseg")
    assert atlas.names == ["Visual", "Motor", "Visual_2"] and atlas.table["index"].tolist() == [1, 2, 3]
    assert atlas_file_names(atlas)["image"].filename == "atlas-Nets_probseg.dscalar.nii"
    table = tmp_path / "nets.tsv"
    pd.DataFrame({"index": [1, 2, 3], "name": ["A", "B", "C"]}).to_csv(table, sep="\t", index=False)
    assert resolve_file_atlas(FileRequest.parse(f"Nets={path}:{table}")).names == ["A", "B", "C"]
    short = tmp_path / "short.tsv"
    pd.DataFrame({"index": [1], "name": ["A"]}).to_csv(short, sep="\t", index=False)
    atlas = resolve_file_atlas(FileRequest.parse(f"Nets={path}:{short}"))
    assert atlas.names == ["Nets_1", "Nets_2", "Nets_3"]
    assert atlas.warnings == ["atlas Nets: the label table has 1 rows for 3 maps; maps are named Nets_<number>"]


def test_gifti_maps_one_array_per_map_or_one_2d_array(tmp_path):
    rng = np.random.default_rng(1)
    left = _gifti(tmp_path / "lh.comps.func.gii", rng.random((2, 6)), ["A", ""])
    right = _gifti(tmp_path / "rh.comps.func.gii", rng.random((2, 5)), ["", "B"])
    atlas = resolve_file_atlas(FileRequest.parse(f"Comps={left},{right}"))
    assert (atlas.kind, atlas.surface) == ("maps", "gifti")
    assert atlas.names == ["A", "B"]  # each map's name from either hemisphere
    names = atlas_file_names(atlas)
    assert names["image_L"].filename == "hemi-L_atlas-Comps_probseg.func.gii"
    # a single (vertices x maps) array per hemisphere, .shape.gii, without names: numbered from 1
    for hemi, size in (("lh", 6), ("rh", 5)):
        nib.GiftiImage(darrays=[nib.gifti.GiftiDataArray(rng.random((size, 3)).astype(np.float32))]).to_filename(
            str(tmp_path / f"{hemi}.x.shape.gii"))
    atlas = resolve_file_atlas(FileRequest.parse(f"X={tmp_path / 'lh.x.shape.gii'},{tmp_path / 'rh.x.shape.gii'}"))
    assert atlas.names == ["X_1", "X_2", "X_3"]


def test_surface_maps_errors_name_the_files(tmp_path):
    rng = np.random.default_rng(2)
    left = _gifti(tmp_path / "lh.m.func.gii", rng.random((2, 6)))
    right = _gifti(tmp_path / "rh.m.func.gii", rng.random((3, 5)))
    with pytest.raises(AtlasError, match="a GIFTI or annot atlas is two files"):
        FileRequest.parse(f"M={left}")
    labels = tmp_path / "rh.m.label.gii"
    labels.write_bytes(b"")
    with pytest.raises(AtlasError, match="both hemispheres must be label files .* or both maps files"):
        FileRequest.parse(f"M={left},{labels}")
    with pytest.raises(AtlasError, match=f"different numbers of maps: 2 in {left}, 3 in {right}"):
        resolve_file_atlas(FileRequest.parse(f"M={left},{right}"))
    uneven = tmp_path / "rh.u.func.gii"
    nib.GiftiImage(darrays=[nib.gifti.GiftiDataArray(np.ones(5, np.float32)),
                            nib.gifti.GiftiDataArray(np.ones(4, np.float32))]).to_filename(str(uneven))
    with pytest.raises(AtlasError, match=f"{uneven} must hold one vector of vertex weights per map"):
        resolve_file_atlas(FileRequest.parse(f"M={left},{uneven}"))
    zeros = _dscalar(tmp_path / "zeros.dscalar.nii", np.zeros((2, 4), np.float32), ["a", "b"])
    with pytest.raises(AtlasError, match=f"{zeros} has no map with a non-zero weight"):
        resolve_file_atlas(FileRequest.parse(f"Z={zeros}"))
    broken = tmp_path / "broken.dscalar.nii"
    broken.write_bytes(b"x" * 600)
    with pytest.raises(AtlasError, match=f"atlas B: cannot read {broken} as CIFTI-2"):
        resolve_file_atlas(FileRequest.parse(f"B={broken}"))
