"""``--atlas`` with a real local TemplateFlow home built here (TEMPLATEFLOW_HOME, never the network).

The home holds a labels atlas (Schaefer-style table with a row the image
lacks), a probabilistic atlas (DiFuMo-style ``Component``/``Difumo_names``
table) at two resolutions, and a zero-byte placeholder like the TemplateFlow
skeleton's. Network access is made impossible by pointing the proxies at a
closed local port: a download attempt fails at once, as on an offline node.
"""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from regionseries.demo import (
    brain_mask_from_coordinates,
    parcel_labels,
    parcel_names,
    parcel_seeds,
    template_grid,
    voxel_coordinates,
)

from ..conftest import run_cli

TEMPLATE = "MNI152NLin2009cAsym"
OFFLINE = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
           "https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9", "NO_PROXY": "", "no_proxy": ""}


def _write_labels(folder, res: str, voxel_size: float) -> None:
    shape, affine = template_grid(TEMPLATE, voxel_size)
    xyz = voxel_coordinates(shape, affine)
    labels = parcel_labels(xyz, parcel_seeds(), brain_mask_from_coordinates(xyz))
    nib.Nifti1Image(labels, affine).to_filename(
        folder / f"tpl-{TEMPLATE}_res-{res}_atlas-Toy_desc-20Parcels_dseg.nii.gz")


def _write_maps(folder, res: str, voxel_size: float) -> None:
    shape, affine = template_grid(TEMPLATE, voxel_size)
    xyz = voxel_coordinates(shape, affine)
    centres = np.array([[-30.0, -20.0, 20.0], [30.0, -20.0, 20.0], [0.0, 40.0, 10.0], [0.0, -70.0, 10.0]])
    maps = np.stack([np.exp(-((xyz - c) ** 2).sum(-1) / (2 * 15.0**2)) for c in centres], axis=-1)
    maps[maps < 0.05] = 0
    nib.Nifti1Image(maps.astype(np.float32), affine).to_filename(
        folder / f"tpl-{TEMPLATE}_res-{res}_atlas-ToyMaps_desc-4dimensions_probseg.nii.gz")


@pytest.fixture(scope="module")
def templateflow_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("templateflow")
    folder = home / f"tpl-{TEMPLATE}"
    folder.mkdir()
    (folder / "template_description.json").write_text(json.dumps({
        "Identifier": TEMPLATE, "Name": "toy template for tests",
        "res": {"01": {"zooms": [4.0, 4.0, 4.0]}, "02": {"zooms": [6.0, 6.0, 6.0]}},
    }))
    for res, size in (("01", 4.0), ("02", 6.0)):
        _write_labels(folder, res, size)
        _write_maps(folder, res, size)
    names = parcel_names(10)
    table = pd.DataFrame({"index": list(range(1, 21)) + [21], "name": [f"7Networks_{n}" for n in names] + ["Ghost"],
                          "color": ["#781180"] * 21})
    table.to_csv(folder / f"tpl-{TEMPLATE}_atlas-Toy_desc-20Parcels_dseg.tsv", sep="\t", index=False)
    pd.DataFrame({"Component": [1, 2, 3, 4], "Difumo_names": ["Left blob", "Right blob", "Front", "Back"],
                  "Yeo_networks7": ["a", "b", "c", "d"]}).to_csv(
        folder / f"tpl-{TEMPLATE}_atlas-ToyMaps_desc-4dimensions_probseg.tsv", sep="\t", index=False)
    (folder / f"tpl-{TEMPLATE}_res-02_atlas-Schaefer2018_desc-100Parcels7Networks_dseg.nii.gz").write_bytes(b"")
    return home


def test_templateflow_labels_and_maps(fmriprep_dataset, templateflow_home, tmp_path):
    output = tmp_path / "out"
    result = run_cli(fmriprep_dataset, output, "participant", "--participant-label", "03",
                     "--atlas", "Toy:desc-20Parcels", "ToyMaps:desc-4dimensions", "--strategy", "simple",
                     "--no-reports", "-w", tmp_path / "work",
                     env={"TEMPLATEFLOW_HOME": str(templateflow_home), **OFFLINE})
    assert result.returncode == 0, result.stderr
    # the table row absent from the image is reported by name
    assert "21 'Ghost'" in result.stderr and "not in the image" in result.stderr
    func = output / "sub-03" / "func"
    labels = pd.read_csv(func / f"sub-03_task-rest_space-{TEMPLATE}_atlas-Toy20Parcels_desc-simple_timeseries.tsv",
                         sep="\t")
    assert list(labels.columns) == [f"7Networks_{n}" for n in parcel_names(10)]
    maps = pd.read_csv(func / f"sub-03_task-rest_space-{TEMPLATE}_atlas-ToyMaps4dimensions_desc-simple_timeseries.tsv",
                       sep="\t", na_values="n/a", keep_default_na=False)
    assert list(maps.columns) == ["Left blob", "Right blob", "Front", "Back"]
    assert np.isfinite(maps.to_numpy()[2:]).all()
    # BOLD voxels are 8 mm: the 6 mm resolution (res-02) is the closest
    atlases = output / "atlases"
    assert (atlases / f"tpl-{TEMPLATE}_atlas-Toy20Parcels_res-02_dseg.nii.gz").exists()
    assert (atlases / f"tpl-{TEMPLATE}_atlas-ToyMaps4dimensions_res-02_probseg.nii.gz").exists()
    sidecar = json.loads((atlases / f"tpl-{TEMPLATE}_atlas-Toy20Parcels_res-02_dseg.json").read_text())
    assert sidecar["Source"]["File"] == f"tpl-{TEMPLATE}/tpl-{TEMPLATE}_res-02_atlas-Toy_desc-20Parcels_dseg.nii.gz"
    assert sidecar["Resolution"] == "TemplateFlow resolution index 02"
    assert any("Ghost" in w for w in sidecar["Warnings"])
    assert not list(templateflow_home.rglob("*.sqlite"))


def test_offline_placeholder_gives_one_clear_message(fmriprep_dataset, templateflow_home, tmp_path):
    result = run_cli(fmriprep_dataset, tmp_path / "out", "participant", "--participant-label", "03",
                     "--atlas", "Schaefer2018:desc-100Parcels7Networks", "--no-reports", "-w", tmp_path / "work",
                     env={"TEMPLATEFLOW_HOME": str(templateflow_home), **OFFLINE})
    assert result.returncode == 66, result.stderr
    assert "Traceback" not in result.stderr
    assert (f"tpl-{TEMPLATE}/tpl-{TEMPLATE}_res-02_atlas-Schaefer2018_desc-100Parcels7Networks_dseg.nii.gz "
            f"is not in TEMPLATEFLOW_HOME={templateflow_home}") in result.stderr
    assert (f"TEMPLATEFLOW_HOME={templateflow_home} python -c \"from templateflow.api import get; "
            f"get('{TEMPLATE}', atlas='Schaefer2018', desc='100Parcels7Networks', resolution=2, "
            "suffix='dseg', extension='.nii.gz')\"") in result.stderr
    assert not (tmp_path / "out" / "sub-03").exists()


def test_unknown_atlas_lists_what_is_available(fmriprep_dataset, templateflow_home, tmp_path):
    env = {"TEMPLATEFLOW_HOME": str(templateflow_home), **OFFLINE}
    result = run_cli(fmriprep_dataset, tmp_path / "out", "participant", "--participant-label", "03",
                     "--atlas", "Toy:desc-7Parcels", "--no-reports", "-w", tmp_path / "work", env=env)
    assert result.returncode == 66
    assert "no matching file" in result.stderr and "Available: Toy:desc-20Parcels (dseg)" in result.stderr
    unknown = run_cli(fmriprep_dataset, tmp_path / "out", "participant", "--participant-label", "03",
                      "--atlas", "Glasser", "--no-reports", "-w", tmp_path / "work", env=env)
    assert unknown.returncode == 66
    assert f"tpl-{TEMPLATE} has no atlas 'Glasser'" in unknown.stderr


def test_atlas_typo_names_the_closest_and_lists_the_local_atlases(fmriprep_dataset, templateflow_home, tmp_path):
    """An atlas name TemplateFlow's folder lacks: the closest names, then the atlases of the local
    home (downloaded apart from TemplateFlow's empty placeholders), in one line, exit 66."""
    result = run_cli(fmriprep_dataset, tmp_path / "out", "participant", "--participant-label", "03",
                     "--atlas", "Schaefer2019", "--no-reports", "-w", tmp_path / "work",
                     env={"TEMPLATEFLOW_HOME": str(templateflow_home), **OFFLINE})
    assert result.returncode == 66, result.stderr
    assert f"tpl-{TEMPLATE} has no atlas 'Schaefer2019'; did you mean 'Schaefer2018'?" in result.stderr
    assert f"Atlases in {templateflow_home}: Toy, ToyMaps." in result.stderr
    assert "Known to TemplateFlow, not downloaded yet: Schaefer2018." in result.stderr
    assert len([line for line in result.stderr.splitlines() if "Schaefer" in line]) == 1, result.stderr
    assert not (tmp_path / "out" / "sub-03").exists()


def test_offline_every_missing_atlas_is_named(fmriprep_dataset, templateflow_home, tmp_path):
    """Two placeholders: one message names both files (not only the first), so one pre-fetch suffices."""
    second = templateflow_home / f"tpl-{TEMPLATE}" / f"tpl-{TEMPLATE}_res-02_atlas-DiFuMo_desc-64dimensions_probseg.nii.gz"
    second.write_bytes(b"")
    try:
        result = run_cli(fmriprep_dataset, tmp_path / "out", "participant", "--participant-label", "03",
                         "--atlas", "Schaefer2018:desc-100Parcels7Networks", "DiFuMo:desc-64dimensions",
                         "Toy:desc-20Parcels", "--no-reports", "-w", tmp_path / "work",
                         env={"TEMPLATEFLOW_HOME": str(templateflow_home), **OFFLINE})
    finally:
        second.unlink()
    assert result.returncode == 66, result.stderr
    assert "2 atlases are not available here" in result.stderr
    assert "atlas-Schaefer2018_desc-100Parcels7Networks_dseg.nii.gz is not in TEMPLATEFLOW_HOME" in result.stderr
    assert "atlas-DiFuMo_desc-64dimensions_probseg.nii.gz is not in TEMPLATEFLOW_HOME" in result.stderr
    assert "Traceback" not in result.stderr
