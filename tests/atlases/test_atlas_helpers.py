"""Atlas label-table dialects and atlas specs: parsing, checks against the image, resolution.

The atomic writes and input pairing tests of the same former grab bag
(tests/app/test_bids_and_atlas_helpers.py) are in tests/bids/.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from regionseries.atlases.base import (
    AtlasError,
    check_labels_against_image,
    check_maps_table,
    labels_atlas_from_image,
    read_label_table,
)
from regionseries.atlases.files import FileRequest, resolve_file_atlas
from regionseries.atlases.registry import AtlasRegistry, parse_threshold
from regionseries.atlases.spheres import (
    BUILTIN_SPHERES,
    SpheresRequest,
    resolve_spheres,
)
from regionseries.atlases.templateflow import TemplateFlowRequest, choose_resolution

# ------------------------------------------------------------------------------ label tables


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_label_table_dialects(tmp_path):
    schaefer = read_label_table(_write(tmp_path / "a.tsv", "index\tname\tcolor\n1\t7Networks_LH_Vis_1\t#781180\n"
                                                            "2\t7Networks_LH_Vis_2\t#781181\n"))
    assert schaefer[["index", "name"]].values.tolist() == [[1, "7Networks_LH_Vis_1"], [2, "7Networks_LH_Vis_2"]]
    assert "color" in schaefer.columns
    difumo = read_label_table(_write(tmp_path / "b.tsv", "Component\tDifumo_names\tYeo_networks7\n"
                                                          "1\tCalcarine cortex\tVisual\n2\tCuneus\tVisual\n"))
    assert difumo["name"].tolist() == ["Calcarine cortex", "Cuneus"]
    headerless = read_label_table(_write(tmp_path / "c.tsv", "3\tThalamus\n1\tCaudate\n"))
    assert headerless[["index", "name"]].values.tolist() == [[1, "Caudate"], [3, "Thalamus"]]
    csv = read_label_table(_write(tmp_path / "d.csv", "label,region\n5,Putamen\n"))
    assert csv[["index", "name"]].values.tolist() == [[5, "Putamen"]]
    with pytest.raises(AtlasError, match="label values repeated: 1"):
        read_label_table(_write(tmp_path / "e.tsv", "index\tname\n1\ta\n1\tb\n"))
    with pytest.raises(AtlasError, match="no label value column"):
        read_label_table(_write(tmp_path / "f.tsv", "colour\tweight\n#fff\theavy\n"))


def test_labels_checked_against_image_values():
    table = pd.DataFrame({"index": [0, 1, 2, 3], "name": ["Background", "A", "B", "C"]})
    merged, warnings = check_labels_against_image(table, np.array([0, 1, 3, 7]), "HOSPA")
    assert merged[["index", "name"]].values.tolist() == [[1, "A"], [3, "C"], [7, "HOSPA_7"]]
    assert warnings == [
        "atlas HOSPA: 1 region(s) of the label table are not in the image: 2 'B'",
        "atlas HOSPA: 1 label value(s) of the image are not in the label table (named HOSPA_<value>): 7",
    ]


def test_zero_based_table_is_flagged_not_shifted():
    table = pd.DataFrame({"index": [0, 1, 2], "name": ["Left Frontal Pole", "Left Insula", "Left SFG"]})
    merged, warnings = check_labels_against_image(table, np.array([0, 1, 2, 3]), "HOCPAL")
    assert merged[["index", "name"]].values.tolist() == [[1, "Left Insula"], [2, "Left SFG"], [3, "HOCPAL_3"]]
    assert warnings[0] == ("atlas HOCPAL: the label table names value 0 'Left Frontal Pole', but 0 is the background "
                           "of the image (the table may be 0-based); regions are matched by value")


def test_maps_table_length_mismatch():
    table = pd.DataFrame({"index": [1, 2], "name": ["a", "b"]})
    result, warnings = check_maps_table(table, 3, "Maps")
    assert result["name"].tolist() == ["Maps_1", "Maps_2", "Maps_3"]
    assert warnings == ["atlas Maps: the label table has 2 rows for 3 maps; maps are named Maps_<number>"]


def test_labels_atlas_centroids(tmp_path):
    data = np.zeros((10, 10, 10), np.int16)
    data[1:3, 1:3, 1:3] = 4
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = [-10, -10, -10]
    path = tmp_path / "atlas.nii.gz"
    nib.Nifti1Image(data, affine).to_filename(path)
    atlas = labels_atlas_from_image("X", "X=...", path, None, None, {})
    assert atlas.table[["index", "name", "x", "y", "z"]].values.tolist() == [[4, "X_4", -7.0, -7.0, -7.0]]
    nib.Nifti1Image(data.astype(np.float32) + 0.5, affine).to_filename(tmp_path / "float.nii.gz")
    with pytest.raises(AtlasError, match="has non-integer values"):
        labels_atlas_from_image("X", "X=...", tmp_path / "float.nii.gz", None, None, {})


# ------------------------------------------------------------------------------ atlas specs


def test_templateflow_spec_parsing():
    request = TemplateFlowRequest.parse("Schaefer2018:desc-400Parcels7Networks:res-2")
    assert (request.atlas, request.entities, request.label) == (
        "Schaefer2018", {"desc": "400Parcels7Networks", "res": "02"}, "Schaefer2018400Parcels7Networks")
    assert TemplateFlowRequest.parse("S400=Schaefer2018:desc-400Parcels7Networks").label == "S400"
    with pytest.raises(AtlasError, match="suffix must be dseg or probseg"):
        TemplateFlowRequest.parse("HOSPA:suffix-mask")


def test_resolution_closest_to_bold_voxel_size():
    from regionseries.atlases.templateflow import _Candidate

    candidates = [_Candidate(Path(f"tpl-X_res-{r}_atlas-A_dseg.nii.gz"), {"res": r}) for r in ("01", "02", "03", "06")]
    zooms = {"01": 1.0, "02": 2.0, "03": 0.5, "06": 1.6}  # MNI152NLin6Asym's indices
    assert choose_resolution(candidates, zooms, 2.0).entities["res"] == "02"
    assert choose_resolution(candidates, zooms, 1.5).entities["res"] == "06"
    assert choose_resolution(candidates, zooms, 0.6).entities["res"] == "03"


def test_builtin_spheres_counts():
    counts = {name: resolve_spheres(SpheresRequest.parse(name), 5.0).n_regions for name in BUILTIN_SPHERES}
    assert counts == {"Power2011": 264, "Dosenbach2010": 160, "Seitzman2018": 300}
    assert SpheresRequest.parse("power2011").label == "Power2011"


def test_user_spheres_table(tmp_path):
    table = _write(tmp_path / "seeds.tsv", "x\ty\tz\tname\n0\t-52\t18\tPCC\n1\t50\t-5\tmPFC\n")
    atlas = resolve_spheres(SpheresRequest.parse(f"DMN={table}"), 6.0)
    assert atlas.names == ["PCC", "mPFC"] and atlas.radius == 6.0
    bad = _write(tmp_path / "bad.tsv", "x\ty\n1\t2\n")
    with pytest.raises(AtlasError, match="missing column\\(s\\) z"):
        resolve_spheres(SpheresRequest.parse(f"Bad={bad}"), 5.0)
    with pytest.raises(AtlasError, match="--radius must be a positive number of mm"):
        resolve_spheres(SpheresRequest.parse("Power2011"), 0.0)


def test_file_atlas_kind_from_dimensions(tmp_path):
    maps = tmp_path / "maps.nii.gz"
    nib.Nifti1Image(np.random.default_rng(0).random((4, 4, 4, 3)).astype(np.float32), np.eye(4)).to_filename(maps)
    atlas = resolve_file_atlas(FileRequest.parse(f"M={maps}"))
    assert atlas.kind == "maps" and atlas.names == ["M_1", "M_2", "M_3"]
    one_map = tmp_path / "one_map.nii.gz"
    nib.Nifti1Image(np.random.default_rng(0).random((4, 4, 4, 1)).astype(np.float32), np.eye(4)).to_filename(one_map)
    assert resolve_file_atlas(FileRequest.parse(f"O={one_map}")).kind == "maps"  # one probabilistic map
    labels_4d = tmp_path / "labels_4d.nii.gz"
    nib.Nifti1Image(np.arange(64, dtype=np.float32).reshape(4, 4, 4, 1) % 3, np.eye(4)).to_filename(labels_4d)
    assert resolve_file_atlas(FileRequest.parse(f"L={labels_4d}")).kind == "labels"  # labels saved 4D
    with pytest.raises(AtlasError, match="NAME 'my-atlas' must hold only letters and digits"):
        FileRequest.parse(f"my-atlas={maps}")
    with pytest.raises(AtlasError, match="label table .*nope.tsv: file not found"):
        FileRequest.parse(f"M={maps}:{tmp_path / 'nope.tsv'}")


def test_threshold_parsing():
    assert parse_threshold("97%") == "97%" and parse_threshold("3.1") == 3.1
    with pytest.raises(AtlasError, match="between 0% and 100%"):
        parse_threshold("120%")
    with pytest.raises(AtlasError, match="expected a number or a percentile"):
        parse_threshold("high")


def test_registry_requires_an_atlas():
    with pytest.raises(AtlasError, match="no atlas given"):
        AtlasRegistry.from_specs()
