"""``--regions-from`` end to end: regions extracted from a statistical map (``regionseries.atlases.from_statmap``)."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pandas as pd

from regionseries.demo import template_grid, voxel_coordinates

from ..conftest import run_cli


def _statmap(path, centres, voxel_size=6.0):
    shape, affine = template_grid("MNI152NLin2009cAsym", voxel_size)
    xyz = voxel_coordinates(shape, affine)
    data = sum(4.0 * np.exp(-((xyz - np.asarray(c)) ** 2).sum(-1) / (2 * 10.0**2)) for c in centres)
    nib.Nifti1Image(data.astype(np.float32), affine).to_filename(path)


def test_regions_from_statmap(fmriprep_dataset, tmp_path):
    statmap = tmp_path / "zstat.nii.gz"
    _statmap(statmap, [(-30, -20, 20), (30, -20, 20), (0, 40, 10)])
    output = tmp_path / "out"
    result = run_cli(fmriprep_dataset, output, "participant", "--participant-label", "03",
                     "--regions-from", f"Blobs={statmap}", "--threshold", "2", "--min-region-size", "500",
                     "--extract-type", "connected_components", "--strategy", "simple", "--no-reports",
                     "-w", tmp_path / "work")
    assert result.returncode == 0, result.stderr
    series = pd.read_csv(output / "sub-03/func/sub-03_task-rest_space-MNI152NLin2009cAsym_atlas-Blobs_desc-simple_"
                                  "timeseries.tsv", sep="\t", na_values="n/a", keep_default_na=False)
    assert list(series.columns) == ["Blobs001", "Blobs002", "Blobs003"]
    regions = nib.load(output / "atlases" / "atlas-Blobs_probseg.nii.gz")
    assert regions.shape[3] == 3
    sidecar = json.loads((output / "atlases" / "atlas-Blobs_probseg.json").read_text())
    assert sidecar["Source"]["Threshold"] == 2.0 and sidecar["Source"]["ExtractType"] == "connected_components"
    table = pd.read_csv(output / "atlases" / "atlas-Blobs_probseg.tsv", sep="\t")
    assert table["source_map"].tolist() == [0, 0, 0]


def test_regions_from_with_nothing_above_threshold(fmriprep_dataset, tmp_path):
    statmap = tmp_path / "flat.nii.gz"
    _statmap(statmap, [(0, 0, 0)])
    result = run_cli(fmriprep_dataset, tmp_path / "out", "participant", "--participant-label", "03",
                     "--regions-from", f"Flat={statmap}", "--threshold", "100", "--no-reports",
                     "-w", tmp_path / "work")
    assert result.returncode == 66
    assert f"no voxel of {statmap} is above the threshold 100.0" in result.stderr
