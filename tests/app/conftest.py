"""Shared fixtures of the BIDS-App tests: small generated fMRIPrep datasets and a CLI runner.

Every end-to-end test goes through the real command line
(``python -m regionseries ...`` in a subprocess), as a new user would.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from regionseries.demo import DatasetSpec, RunSpec, write_demo_atlas, write_fmriprep_dataset

#: Voxel size of the test datasets (mm): coarse, so every run is tiny.
TEST_VOXEL_SIZE = 8.0
#: Volumes per run: enough for the scrubbing strategy's 33 regressors.
TEST_N_VOLUMES = 48


def small_dataset_spec() -> DatasetSpec:
    """Three participants: sessions and runs, int16 data, a second space, a run without confounds."""
    runs = [
        RunSpec("01", "1", "rest", "1", ("MNI152NLin2009cAsym", "MNI152NLin6Asym:res-2"), motion_scale=0.5),
        RunSpec("01", "1", "rest", "2", int16=True, motion_scale=1.0),
        RunSpec("01", "2", "rest", "1", motion_scale=0.8),
        RunSpec("02", None, "rest", "1", motion_scale=1.5, int16=True),
        RunSpec("02", None, "rest", "2", with_confounds=False),
        RunSpec("03", None, "rest", None, motion_scale=0.7),
    ]
    return DatasetSpec(runs=runs, n_volumes=TEST_N_VOLUMES, voxel_size=TEST_VOXEL_SIZE, seed=3)


def run_cli(*args: str | os.PathLike, env: dict | None = None, cwd: Path | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``python -m regionseries ARGS`` and capture its output."""
    full_env = dict(os.environ)
    full_env.setdefault("OMP_NUM_THREADS", "1")
    full_env.setdefault("OPENBLAS_NUM_THREADS", "1")
    if env:
        full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "regionseries", *map(str, args)],
        capture_output=True, text=True, env=full_env, cwd=cwd, timeout=timeout,
    )


def make_read_only(root: Path) -> None:
    """Remove write permission from every file and folder below ``root``."""
    for path in [root, *root.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def make_writable(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)


def file_listing(root: Path) -> dict[str, tuple[int, int]]:
    """Relative path -> (size, mtime_ns) of every file below ``root``."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="session")
def fmriprep_dataset(tmp_path_factory) -> Path:
    """A small fMRIPrep-like derivatives dataset, shared (read only) by the tests."""
    root = tmp_path_factory.mktemp("data") / "fmriprep"
    write_fmriprep_dataset(root, small_dataset_spec())
    return root


@pytest.fixture(scope="session")
def demo_atlas(tmp_path_factory) -> tuple[Path, Path]:
    """The demo labels atlas (image, label table)."""
    return write_demo_atlas(tmp_path_factory.mktemp("atlas"), voxel_size=6.0)


@pytest.fixture(scope="session")
def read_only_dataset(fmriprep_dataset: Path):
    """The dataset with write permission removed (restored at the end of the session)."""
    make_read_only(fmriprep_dataset)
    yield fmriprep_dataset
    make_writable(fmriprep_dataset)
