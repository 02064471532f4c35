"""The centres of probabilistic maps are computed once and kept in the work folder."""

from __future__ import annotations

import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from regionseries.atlases import base
from regionseries.atlases.registry import AtlasRegistry


@pytest.fixture
def maps_file(tmp_path) -> Path:
    rng = np.random.default_rng(11)
    maps = np.clip(rng.normal(size=(9, 10, 8, 5)), 0, None).astype(np.float32)
    path = tmp_path / "maps.nii.gz"
    nib.save(nib.Nifti1Image(maps, np.diag([3.0, 3.0, 3.0, 1.0])), path)
    return path


def _resolve(maps_file: Path, work_dir: Path):
    registry = AtlasRegistry.from_specs(atlas_file=[f"Blobs={maps_file}"], work_dir=work_dir)
    (atlas,) = registry.resolve("MNI152NLin2009cAsym", 3.0)
    return atlas


def test_second_job_reads_the_centres(tmp_path, maps_file, count_calls):
    calls = count_calls(base, "_streamed_map_centroids")
    work = tmp_path / "work"
    first = _resolve(maps_file, work)
    second = _resolve(maps_file, work)  # a new registry: another job sharing the work folder
    assert len(calls) == 1
    assert len(list((work / "atlas-cache").glob("map-centroids-*.npy"))) == 1
    assert not list((work / "atlas-cache").glob("*.partial"))
    expected = base.map_centroids(np.asarray(nib.load(maps_file).dataobj), nib.load(maps_file).affine)
    for atlas in (first, second):
        np.testing.assert_allclose(atlas.table[["x", "y", "z"]].to_numpy(), np.round(expected, 3))


def test_a_changed_atlas_is_not_served_stale(tmp_path, maps_file, count_calls):
    calls = count_calls(base, "_streamed_map_centroids")
    work = tmp_path / "work"
    _resolve(maps_file, work)
    img = nib.load(maps_file)
    shifted = np.roll(np.asarray(img.dataobj), 2, axis=0)
    nib.save(nib.Nifti1Image(shifted, img.affine), maps_file)
    stat = maps_file.stat()
    os.utime(maps_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    atlas = _resolve(maps_file, work)
    assert len(calls) == 2
    np.testing.assert_allclose(atlas.table[["x", "y", "z"]].to_numpy(),
                               np.round(base.map_centroids(shifted, img.affine), 3))


def test_unusable_cache_only_costs_the_computation(tmp_path, maps_file, count_calls):
    calls = count_calls(base, "_streamed_map_centroids")
    work = tmp_path / "work"
    (work / "atlas-cache").mkdir(parents=True)
    (work / "atlas-cache").chmod(0o500)  # read-only (root ignores this; the damaged file below still applies)
    try:
        _resolve(maps_file, work)
    finally:
        (work / "atlas-cache").chmod(0o700)
    for cached in (work / "atlas-cache").glob("*.npy"):
        cached.write_bytes(b"not an array")
    atlas = _resolve(maps_file, work)
    assert len(calls) == 2
    assert np.isfinite(atlas.table[["x", "y", "z"]].to_numpy()).all()
