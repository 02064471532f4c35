"""Extraction operators cached in the work folder (issue 6).

``pipeline.build_operator(..., cache_dir=...)`` stores each operator it
builds, keyed by everything the operator depends on, so other worker
processes and later jobs load it instead of resampling the atlas again.
These tests pin that the cached operator is the one that would be built,
that a changed input is never served from a stale file, and that a broken
cache only costs a rebuild.
"""

from __future__ import annotations

import os

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from regionseries import cache as cache_module
from regionseries.atlases.base import Atlas
from regionseries.core.extract import extract_signals
from regionseries.pipeline import operators

SHAPE = (12, 13, 11)
AFFINE = np.array([[3.0, 0, 0, -18], [0, 3.0, 0, -20], [0, 0, 3.0, -15], [0, 0, 0, 1]])


@pytest.fixture()
def atlases(tmp_path):
    rng = np.random.default_rng(1)
    labels = np.zeros(SHAPE, dtype=np.int16)
    labels[2:6, 2:7, 2:6] = 1
    labels[6:10, 3:9, 2:8] = 2
    labels_path = tmp_path / "labels.nii.gz"
    nib.save(nib.Nifti1Image(labels, AFFINE), labels_path)
    maps = rng.random(SHAPE + (3,)).astype(np.float32)
    maps[maps < 0.6] = 0
    maps_path = tmp_path / "maps.nii.gz"
    nib.save(nib.Nifti1Image(maps, AFFINE), maps_path)
    table = pd.DataFrame({"index": [1, 2], "name": ["left", "right"]})
    return {
        "labels": Atlas(name="L", kind="labels", spec="L", table=table, image=labels_path),
        "maps": Atlas(name="M", kind="maps", spec="M", image=maps_path,
                      table=pd.DataFrame({"index": [1, 2, 3], "name": ["a", "b", "c"]})),
        "spheres": Atlas(name="S", kind="spheres", spec="S", coordinates=np.array([[0.0, 0, 0], [6.0, 3, 0]]),
                         radius=5.0, table=pd.DataFrame({"index": [1, 2], "name": ["s1", "s2"]})),
    }


@pytest.fixture(autouse=True)
def _empty_process_cache(monkeypatch):
    monkeypatch.setattr(operators, "_OPERATOR_CACHE", {})


def _bold(tmp_path):
    rng = np.random.default_rng(2)
    path = tmp_path / "bold.nii.gz"
    nib.save(nib.Nifti1Image((rng.standard_normal(SHAPE + (6,)) * 3 + 50).astype(np.float32), AFFINE), path)
    return path


@pytest.mark.parametrize("kind", ["labels", "maps", "spheres"])
def test_cached_operator_is_loaded_and_gives_the_same_signals(tmp_path, atlases, kind, monkeypatch):
    cache = tmp_path / "work" / "operators"
    built = operators.build_operator(atlases[kind], SHAPE, AFFINE, None, cache_dir=cache)
    files = list(cache.iterdir())
    assert len(files) == 1 and files[0].name.startswith(f"{kind}-")

    operators._OPERATOR_CACHE.clear()  # as in another worker process

    def no_rebuild(*args, **kwargs):
        raise AssertionError("the operator should come from the work folder")

    monkeypatch.setattr(operators, "_new_operator", no_rebuild)
    loaded = operators.build_operator(atlases[kind], SHAPE, AFFINE, None, cache_dir=cache)
    assert loaded is not built
    bold = _bold(tmp_path)
    a, b = extract_signals(bold, [built, loaded])
    np.testing.assert_array_equal(a.signals, b.signals)
    assert a.names == b.names


def test_changed_inputs_get_new_files(tmp_path, atlases):
    cache = tmp_path / "operators"
    atlas = atlases["labels"]
    operators.build_operator(atlas, SHAPE, AFFINE, None, cache_dir=cache)
    operators._OPERATOR_CACHE.clear()
    operators.build_operator(atlas, SHAPE, AFFINE, 6.0, cache_dir=cache)  # smoothing
    other_grid = AFFINE.copy()
    other_grid[0, 3] += 1.5
    operators.build_operator(atlas, SHAPE, other_grid, None, cache_dir=cache)  # grid
    labels = np.asarray(nib.load(atlas.image).dataobj)
    labels[labels == 2] = 1
    nib.save(nib.Nifti1Image(labels, AFFINE), atlas.image)
    os.utime(atlas.image, ns=(1, 1))  # the file changed (mtime and content)
    operators._OPERATOR_CACHE.clear()
    rebuilt = operators.build_operator(atlas, SHAPE, AFFINE, None, cache_dir=cache)
    assert len(list(cache.iterdir())) == 4
    assert rebuilt.missing_regions == ["right"]  # built from the changed file, not the old cache


def test_broken_cache_file_is_rebuilt(tmp_path, atlases):
    cache = tmp_path / "operators"
    atlas = atlases["maps"]
    first = operators.build_operator(atlas, SHAPE, AFFINE, None, cache_dir=cache)
    (path,) = cache.iterdir()
    path.write_bytes(b"not a pickle")
    operators._OPERATOR_CACHE.clear()
    again = operators.build_operator(atlas, SHAPE, AFFINE, None, cache_dir=cache)
    assert (again.maps_matrix != first.maps_matrix).nnz == 0
    operators._OPERATOR_CACHE.clear()
    assert cache_module.load_object(path) is not None  # rewritten


def test_unwritable_cache_folder_still_builds(tmp_path, atlases):
    blocker = tmp_path / "operators"
    blocker.write_text("a file where the folder should be")
    operator = operators.build_operator(atlases["spheres"], SHAPE, AFFINE, None, cache_dir=blocker)
    assert operator.n_regions == 2
