"""Every BOLD encoding nibabel writes gives the float32 run's time series, end to end.

A tiny fMRIPrep dataset holds one float32 run whose values are integers
0..119 (the demo BOLD divided by 16 and rounded), so every encoding of the
matrix can hold them: uint8, int8, int16, uint16, int32, float32, float64,
without and with scl_slope/scl_inter (int16 with fMRIPrep-like 0.01/100,
uint8 with slope 0.5, ...), as .nii.gz and .nii, plus two big-endian files.
Each encoding is a copy of the run under another participant label with its
BOLD re-encoded; one participant-level command line processes them all
(labels, probabilistic maps and spheres; smoothing on) and every time series
must equal the float32 run's within the quantisation of its encoding (0 for
the exact ones, the float32 rounding of 0.01 and 0.001 for the others).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from regionseries.demo import DatasetSpec, RunSpec, write_demo_atlas, write_fmriprep_dataset

from ..conftest import TEST_N_VOLUMES, TEST_VOXEL_SIZE, run_cli

DTYPES = ("uint8", "int8", "int16", "uint16", "int32", "float32", "float64")
ENCODINGS = [
    (dtype, scaled, extension)
    for dtype in DTYPES
    for scaled in (False, True)
    for extension in (".nii.gz", ".nii")
] + [(">i2", True, ".nii.gz"), (">f4", False, ".nii")]
STRATEGIES = ("none", "simple")


def participant_label(dtype: str, scaled: bool, extension: str) -> str:
    """e.g. ``int16sgz`` (scaled, .nii.gz) or ``beint16sgz`` (big-endian)."""
    byte_order = "be" if np.dtype(dtype).byteorder == ">" else ""
    return f"{byte_order}{np.dtype(dtype).name}{'s' if scaled else 'u'}{'gz' if extension == '.nii.gz' else 'nii'}"


def copy_run(dataset: Path, source: str, target: str) -> Path:
    """Copy participant ``source``'s files as participant ``target``; return its folder."""
    folder = dataset / f"sub-{target}"
    shutil.copytree(dataset / f"sub-{source}", folder)
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            path.rename(path.with_name(path.name.replace(f"sub-{source}", f"sub-{target}")))
    return folder


@pytest.fixture(scope="module")
def encoded_runs(tmp_path_factory, write_encoded_bold):
    """The participant level on the reference run and its re-encoded copies.

    Returns (output folder, {label: quantisation of its encoding}).
    """
    root = tmp_path_factory.mktemp("bold-dtypes")
    dataset = root / "fmriprep"
    spec = DatasetSpec(runs=[RunSpec("ref", None, "rest", None)], n_volumes=TEST_N_VOLUMES,
                       voxel_size=TEST_VOXEL_SIZE, seed=5)
    (reference_bold,) = write_fmriprep_dataset(dataset, spec)
    source = nib.load(str(reference_bold))
    values = np.rint(source.get_fdata() / 16.0)
    assert values.max() <= 127
    write_encoded_bold(reference_bold, values, source.affine, "float32", False, header=source.header)

    quantisation = {}
    for dtype, scaled, extension in ENCODINGS:
        label = participant_label(dtype, scaled, extension)
        folder = copy_run(dataset, "ref", label)
        (bold,) = folder.rglob("*_desc-preproc_bold.nii.gz")
        bold.unlink()
        target = bold.with_name(bold.name.replace(".nii.gz", extension))
        quantisation[label] = write_encoded_bold(target, values, source.affine, dtype, scaled, header=source.header)

    atlas_image, atlas_table = write_demo_atlas(root / "atlas", voxel_size=6.0)
    atlas = nib.load(str(atlas_image))
    parcels = np.asarray(atlas.dataobj)
    # disjoint weighted maps: the least-squares signal of each map is a weighted mean
    maps = np.stack([(parcels == value) * (0.5 + 0.1 * k) for k, value in enumerate(np.unique(parcels)[1:5])], axis=-1)
    maps_path = root / "atlas" / "maps.nii.gz"
    nib.Nifti1Image(maps.astype(np.float32), atlas.affine).to_filename(str(maps_path))
    seeds_path = root / "atlas" / "seeds.tsv"
    pd.DataFrame({"x": [0.0, 30.0, -30.0], "y": [-18.0, -18.0, -40.0], "z": [10.0, 10.0, 20.0]}).to_csv(
        seeds_path, sep="\t", index=False)

    output = root / "out"
    result = run_cli(dataset, output, "participant", "--atlas-file", f"Demo={atlas_image}:{atlas_table}",
                     f"Maps={maps_path}", "--spheres", f"Seeds={seeds_path}", "--radius", "10",
                     "--strategy", *STRATEGIES, "--no-detrend", "--standardize", "none", "--filter", "none",
                     "--smoothing-fwhm", "6", "--no-reports", "--skip-bids-validation", "-w", root / "work")
    assert result.returncode == 0, result.stderr
    return output, quantisation


def read_series(path: Path) -> np.ndarray:
    return pd.read_csv(path, sep="\t", na_values="n/a", keep_default_na=False).to_numpy(float)


@pytest.mark.parametrize(("dtype", "scaled", "extension"), ENCODINGS,
                         ids=[participant_label(*encoding) for encoding in ENCODINGS])
def test_encoding_gives_the_float32_time_series(encoded_runs, dtype, scaled, extension):
    output, quantisation = encoded_runs
    label = participant_label(dtype, scaled, extension)
    references = sorted((output / "sub-ref").rglob("*_timeseries.tsv"))
    assert len(references) == 3 * len(STRATEGIES)  # Demo, Maps, Seeds
    for reference in references:
        encoded = Path(str(reference).replace("sub-ref", f"sub-{label}"))
        expected, got = read_series(reference), read_series(encoded)
        assert got.shape == expected.shape == (TEST_N_VOLUMES, got.shape[1])
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
        kept = ~np.isnan(expected)
        assert kept.any(axis=0).all(), f"{reference.name}: a region without signal"
        # means (and the disjoint maps' weighted means) of values off by at most q
        # are off by at most q; confound regression is a projection, which can
        # concentrate the error of the T volumes in one: sqrt(T) q. The TSV holds
        # 9 significant digits.
        scale = np.abs(expected[kept]).max()
        tolerance = np.sqrt(TEST_N_VOLUMES) * quantisation[label] + 1e-8 * scale
        np.testing.assert_allclose(got[kept], expected[kept], rtol=0, atol=tolerance)
        sidecar = json.loads(encoded.with_suffix(".json").read_text())
        assert any(f"sub-{label}_" in source and source.endswith(f"_desc-preproc_bold{extension}")
                   for source in sidecar["Sources"]), sidecar["Sources"]
