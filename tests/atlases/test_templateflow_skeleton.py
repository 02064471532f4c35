"""Atlas file and label-table lookup against the real TemplateFlow skeleton (no network).

The TemplateFlow client ships a skeleton of its archive: every JSON/TSV is
real, every NIfTI a zero-byte placeholder. Unpacking the two MNI templates
checks our file-name logic against TemplateFlow's actual layout, including the
traps: Harvard-Oxford label tables exist only in MNI152NLin6Asym, DiFuMo's
table has ``Component``/``Difumo_names``, HOSPA has a ``0 Background`` row,
HOCPAL is 0-based and partial, and ``res-`` is an index, not millimetres.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import templateflow

from regionseries.atlases.base import AtlasError, read_label_table
from regionseries.atlases.templateflow import (
    TemplateFlowRequest,
    _candidates,
    _label_table_path,
    _resolution_zooms,
    choose_resolution,
    resolve_templateflow_atlas,
)

TEMPLATES = ("MNI152NLin2009cAsym", "MNI152NLin6Asym")


@pytest.fixture(scope="module")
def skeleton(tmp_path_factory) -> Path:
    archive = Path(templateflow.__file__).parent / "conf" / "templateflow-skel.zip"
    home = tmp_path_factory.mktemp("skeleton")
    with zipfile.ZipFile(archive) as handle:
        members = [n for n in handle.namelist() if any(f"tpl-{t}/" in n for t in TEMPLATES)]
        handle.extractall(home, members=members)
    return home


def _lookup(home: Path, template: str, spec: str, voxel_size: float):
    request = TemplateFlowRequest.parse(spec)
    chosen = choose_resolution(_candidates(home, template, request), _resolution_zooms(home, template), voxel_size)
    table, note = _label_table_path(home, template, chosen, request)
    return chosen.path.name, table, note


@pytest.mark.parametrize(
    "template, spec, voxel_size, image, table, rows",
    [
        ("MNI152NLin2009cAsym", "Schaefer2018:desc-400Parcels7Networks", 2.0,
         "tpl-MNI152NLin2009cAsym_res-02_atlas-Schaefer2018_desc-400Parcels7Networks_dseg.nii.gz",
         "tpl-MNI152NLin2009cAsym_atlas-Schaefer2018_desc-400Parcels7Networks_dseg.tsv", 400),
        ("MNI152NLin2009cAsym", "Schaefer2018:desc-100Parcels17Networks", 1.0,
         "tpl-MNI152NLin2009cAsym_res-01_atlas-Schaefer2018_desc-100Parcels17Networks_dseg.nii.gz",
         "tpl-MNI152NLin2009cAsym_atlas-Schaefer2018_desc-100Parcels17Networks_dseg.tsv", 100),
        ("MNI152NLin2009cAsym", "DiFuMo:desc-64dimensions", 3.0,
         "tpl-MNI152NLin2009cAsym_res-03_atlas-DiFuMo_desc-64dimensions_probseg.nii.gz",
         "tpl-MNI152NLin2009cAsym_atlas-DiFuMo_desc-64dimensions_probseg.tsv", 64),
        ("MNI152NLin6Asym", "Schaefer2018:desc-200Parcels7Networks", 2.0,  # res-06 is 1.6 mm, res-02 is 2 mm
         "tpl-MNI152NLin6Asym_res-02_atlas-Schaefer2018_desc-200Parcels7Networks_dseg.nii.gz",
         "tpl-MNI152NLin6Asym_atlas-Schaefer2018_desc-200Parcels7Networks_dseg.tsv", 200),
        ("MNI152NLin6Asym", "HOSPA:desc-th25", 2.0,
         "tpl-MNI152NLin6Asym_res-02_atlas-HOSPA_desc-th25_dseg.nii.gz",
         "tpl-MNI152NLin6Asym_atlas-HOSPA_dseg.tsv", 22),
    ],
)
def test_files_and_tables(skeleton, template, spec, voxel_size, image, table, rows):
    chosen, table_path, note = _lookup(skeleton, template, spec, voxel_size)
    assert chosen == image
    assert table_path.name == table and note is None
    assert len(read_label_table(table_path)) == rows


def test_harvard_oxford_table_is_borrowed_from_another_template(skeleton):
    _, table_path, note = _lookup(skeleton, "MNI152NLin2009cAsym", "HOCPAL:desc-th25", 2.0)
    assert table_path.parent.name == "tpl-MNI152NLin6Asym"
    assert note == ("no label table for HOCPAL in tpl-MNI152NLin2009cAsym; using tpl-MNI152NLin6Asym_atlas-HOCPAL_dseg.tsv "
                    "(checked against the image values)")
    table = read_label_table(table_path)
    assert len(table) == 52 and table["index"].iloc[0] == 0 and table["name"].iloc[0] == "Left Frontal Pole"


def test_difumo_table_columns(skeleton):
    _, table_path, _ = _lookup(skeleton, "MNI152NLin2009cAsym", "DiFuMo:desc-128dimensions", 2.0)
    table = read_label_table(table_path)
    assert table["index"].tolist() == list(range(1, 129))
    assert "Yeo_networks7" in table.columns and table["name"].str.len().min() > 0


def test_ambiguous_and_unknown_requests(skeleton):
    with pytest.raises(AtlasError, match=r"no matching file .* Available: .*Schaefer2018:desc-400Parcels7Networks \(dseg\)"):
        resolve_templateflow_atlas(TemplateFlowRequest.parse("Schaefer2018:desc-450Parcels7Networks"),
                                   "MNI152NLin2009cAsym", 2.0, home=skeleton)
    with pytest.raises(AtlasError, match="'fsLR', which is not a template of TemplateFlow home"):
        resolve_templateflow_atlas(TemplateFlowRequest.parse("Schaefer2018:desc-400Parcels7Networks"),
                                   "fsLR", 2.0, home=skeleton)
