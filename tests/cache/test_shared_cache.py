"""A study's atlas operators built once, not once per job (``--cache-dir``).

The jobs of a SLURM array each get their own work folder (docs/hpc.md); with
one cache folder for the study, the first job resamples an off-grid atlas
and every later job, in another work folder, loads the operator. Entries are
keyed by the atlas file's bytes, so a copy of the atlas elsewhere (another
bind mount) hits the same entry and an edited atlas misses it. A read-only
cache folder is used as it is.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess

import pytest

from ..conftest import run_cli

LOADED = "loaded from"


def _series_digests(output):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(output.rglob("*_timeseries.tsv"))}


def _job(dataset, output, work, atlas_image, *more, env=None):
    return run_cli(dataset, output, "participant", "--participant-label", "03", "--atlas-file",
                   f"Off={atlas_image}", "--spheres", "Power2011", "--strategy", "simple", "--no-reports",
                   "-v", "-w", work, *more, env=env)


@pytest.fixture
def off_grid_atlas(demo_atlas, tmp_path):
    """The demo labels atlas at 6 mm: off the 8 mm grid of the test dataset."""
    image = tmp_path / "atlas" / "off_grid_dseg.nii.gz"
    image.parent.mkdir()
    shutil.copy(demo_atlas[0], image)
    return image


def test_later_jobs_load_the_operators_the_first_built(fmriprep_dataset, off_grid_atlas, tmp_path):
    cache = tmp_path / "study-cache"
    first = _job(fmriprep_dataset, tmp_path / "out1", tmp_path / "work1", off_grid_atlas, "--cache-dir", cache)
    assert first.returncode == 0, first.stderr
    assert LOADED not in first.stderr
    assert len(list((cache / "operators").glob("*.pickle"))) == 2  # the labels atlas and the spheres
    assert not (tmp_path / "work1" / "operators").exists()

    # another job, its own work folder, the cache given by the environment, the atlas copied elsewhere
    copy = tmp_path / "elsewhere" / "same_atlas.nii.gz"
    copy.parent.mkdir()
    shutil.copy(off_grid_atlas, copy)
    second = _job(fmriprep_dataset, tmp_path / "out2", tmp_path / "work2", copy,
                  env={"REGIONSERIES_CACHE_DIR": str(cache)})
    assert second.returncode == 0, second.stderr
    assert second.stderr.count(LOADED) == 2, second.stderr
    assert _series_digests(tmp_path / "out2") == _series_digests(tmp_path / "out1")


def test_an_edited_atlas_is_not_served_from_the_cache(fmriprep_dataset, off_grid_atlas, tmp_path):
    cache = tmp_path / "study-cache"
    assert _job(fmriprep_dataset, tmp_path / "out1", tmp_path / "work1", off_grid_atlas,
                "--cache-dir", cache).returncode == 0
    import nibabel as nib
    import numpy as np

    img = nib.load(off_grid_atlas)
    labels = np.asarray(img.dataobj).copy()
    labels[labels == labels.max()] = 0  # one region fewer
    edited = tmp_path / "edited_dseg.nii.gz"
    nib.Nifti1Image(labels, img.affine, img.header).to_filename(edited)
    second = _job(fmriprep_dataset, tmp_path / "out2", tmp_path / "work2", edited, "--cache-dir", cache)
    assert second.returncode == 0, second.stderr
    assert second.stderr.count(LOADED) == 1  # the spheres only
    assert len(list((cache / "operators").glob("*.pickle"))) == 3


def test_a_read_only_cache_is_used_as_it_is(fmriprep_dataset, off_grid_atlas, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("a read-only bind mount needs root (CI runs as root)")
    cache = tmp_path / "study-cache"
    assert _job(fmriprep_dataset, tmp_path / "out1", tmp_path / "work1", off_grid_atlas,
                "--cache-dir", cache).returncode == 0
    mounted = subprocess.run(["mount", "--bind", str(cache), str(cache)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"mount failed: {mounted.stderr.strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(cache)], check=True)
        loaded = _job(fmriprep_dataset, tmp_path / "out2", tmp_path / "work2", off_grid_atlas, "--cache-dir", cache)
        # a new grid cannot be added to a read-only cache: built, used, not kept
        smoothed = _job(fmriprep_dataset, tmp_path / "out3", tmp_path / "work3", off_grid_atlas,
                        "--cache-dir", cache, "--smoothing-fwhm", "6")
    finally:
        subprocess.run(["umount", str(cache)], check=True)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stderr.count(LOADED) == 2
    assert smoothed.returncode == 0, smoothed.stderr
    assert "Traceback" not in smoothed.stderr
    assert len(list((cache / "operators").glob("*.pickle"))) == 2


def test_a_cache_inside_the_input_is_refused(fmriprep_dataset, off_grid_atlas, tmp_path):
    result = _job(fmriprep_dataset, tmp_path / "out", tmp_path / "work", off_grid_atlas,
                  "--cache-dir", fmriprep_dataset / "cache")
    assert result.returncode == 64
    assert "--cache-dir" in result.stderr and "inside BIDS_DIR" in result.stderr
    assert not (fmriprep_dataset / "cache").exists()
