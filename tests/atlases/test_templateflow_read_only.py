"""``--atlas`` with a TemplateFlow home that cannot be written (a container's ``/templateflow``).

Each home is a real read-only bind mount (``mount --bind`` then ``remount,ro``: as
root, file permissions would not stop a write) and the real command line runs on
it, offline (proxies point at a closed port). Nothing may be written into the
home, and a missing atlas must stop the run with exit code 66 and a message that
names the home, says it is read-only, names the file and says how to get it.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import nibabel as nib
import pandas as pd
import pytest

from regionseries.atlases import fetch
from regionseries.demo import (
    brain_mask_from_coordinates,
    parcel_labels,
    parcel_seeds,
    template_grid,
    voxel_coordinates,
)

from ..conftest import file_listing, run_cli

TEMPLATE = "MNI152NLin2009cAsym"
SCHAEFER = f"tpl-{TEMPLATE}/tpl-{TEMPLATE}_res-02_atlas-Schaefer2018_desc-100Parcels7Networks_dseg.nii.gz"
SCHAEFER_TABLE = f"tpl-{TEMPLATE}/tpl-{TEMPLATE}_atlas-Schaefer2018_desc-100Parcels7Networks_dseg.tsv"
FETCH_COMMAND = (f"regionseries-fetch-atlases --home /path/to/templateflow --template {TEMPLATE} "
                 "--atlas Schaefer2018 --desc 100Parcels7Networks --resolution 2")
OFFLINE = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
           "https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9", "NO_PROXY": "", "no_proxy": ""}

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="read-only bind mounts need root (CI runs as root)")


@pytest.fixture
def read_only(tmp_path):
    """``read_only(folder)`` -> a read-only bind mount of ``folder`` (unmounted at teardown)."""
    mounts: list[Path] = []

    def mount(folder: Path) -> Path:
        target = tmp_path / f"ro-{len(mounts)}"
        target.mkdir()
        subprocess.run(["mount", "--bind", str(folder), str(target)], check=True)
        mounts.append(target)
        subprocess.run(["mount", "-o", "remount,bind,ro", str(target)], check=True)
        return target

    yield mount
    for target in reversed(mounts):
        subprocess.run(["umount", str(target)], check=True)


def _schaefer_image(path: Path) -> None:
    """A 100-parcel labels image in place of the Schaefer2018 file (6 mm voxels, coarse but real)."""
    shape, affine = template_grid(TEMPLATE, 6.0)
    xyz = voxel_coordinates(shape, affine)
    labels = parcel_labels(xyz, parcel_seeds(50), brain_mask_from_coordinates(xyz))
    nib.Nifti1Image(labels, affine).to_filename(path)


@pytest.fixture(scope="module")
def skeleton_home(tmp_path_factory) -> Path:
    """The MNI152NLin2009cAsym part of TemplateFlow's real skeleton: tables real, images zero-byte placeholders."""
    home = tmp_path_factory.mktemp("skeleton") / "templateflow"
    with zipfile.ZipFile(fetch.bundled_skeleton_zip()) as archive:
        archive.extractall(home, members=[n for n in archive.namelist() if n.startswith(f"tpl-{TEMPLATE}/")])
    assert (home / SCHAEFER).stat().st_size == 0
    return home


@pytest.fixture(scope="module")
def prefetched_home(tmp_path_factory, skeleton_home) -> Path:
    """The skeleton with the Schaefer2018 100-parcel image filled in."""
    home = tmp_path_factory.mktemp("prefetched") / "templateflow"
    with zipfile.ZipFile(fetch.bundled_skeleton_zip()) as archive:
        archive.extractall(home, members=[n for n in archive.namelist() if n.startswith(f"tpl-{TEMPLATE}/")])
    _schaefer_image(home / SCHAEFER)
    return home


def _run_schaefer(dataset: Path, tmp_path: Path, home: Path):
    return run_cli(dataset, tmp_path / "out", "participant", "--participant-label", "03",
                   "--atlas", "Schaefer2018:desc-100Parcels7Networks", "--strategy", "simple", "--no-reports",
                   "-w", tmp_path / "work", env={"TEMPLATEFLOW_HOME": str(home), **OFFLINE})


def _assert_clear_refusal(result, home: Path, state: str) -> None:
    assert result.returncode == 66, result.stderr
    assert "Traceback" not in result.stderr and "Warning" not in result.stderr
    assert f"atlas Schaefer2018:desc-100Parcels7Networks: {SCHAEFER} is not in TEMPLATEFLOW_HOME={home}" in result.stderr
    assert state in result.stderr and "read-only" in result.stderr
    assert f"On a machine with network access, fetch it into a folder:\n  {FETCH_COMMAND}\n" in result.stderr
    assert (f"bind it at {home} (docker run -v /path/to/templateflow:{home}:ro, "
            f"apptainer run -B /path/to/templateflow:{home})") in result.stderr
    assert 'or copy it to this machine and set TEMPLATEFLOW_HOME to it (see docs/hpc.md, "Atlases without network")' \
        in result.stderr


def test_missing_home_that_cannot_be_created(fmriprep_dataset, tmp_path, read_only):
    parent = tmp_path / "parent"
    parent.mkdir()
    home = read_only(parent) / "templateflow"
    result = _run_schaefer(fmriprep_dataset, tmp_path, home)
    _assert_clear_refusal(result, home, f"which does not exist and cannot be created ({home.parent} is read-only)")
    assert list(parent.iterdir()) == []


def test_empty_read_only_home_then_the_advice_works(fmriprep_dataset, tmp_path, read_only, prefetched_home):
    empty = tmp_path / "empty"
    empty.mkdir()
    home = read_only(empty)
    result = _run_schaefer(fmriprep_dataset, tmp_path, home)
    _assert_clear_refusal(result, home, "which is empty and read-only, so TemplateFlow can neither set it up "
                                        "nor download into it (nothing was written there)")
    assert list(empty.iterdir()) == [], "the templateflow client wrote into the home"

    # the advice as printed: fetch into a folder (here copied from a pre-fetched one, offline), bind it at the home
    fetched = tmp_path / "fetched"
    argv = shlex.split(FETCH_COMMAND.replace("/path/to/templateflow", str(fetched)))[1:]
    completed = subprocess.run(
        [sys.executable, "-m", "regionseries.atlases.fetch", *argv, "--source-home", str(prefetched_home)],
        capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    subprocess.run(["umount", str(home)], check=True)
    subprocess.run(["mount", "--bind", str(fetched), str(home)], check=True)
    subprocess.run(["mount", "-o", "remount,bind,ro", str(home)], check=True)
    rerun = _run_schaefer(fmriprep_dataset, tmp_path, home)
    assert rerun.returncode == 0, rerun.stderr


def test_read_only_skeleton_with_a_placeholder(fmriprep_dataset, tmp_path, read_only, skeleton_home):
    before = file_listing(skeleton_home)
    home = read_only(skeleton_home)
    result = _run_schaefer(fmriprep_dataset, tmp_path, home)
    _assert_clear_refusal(result, home, f"(only TemplateFlow's empty placeholder is), and {home / f'tpl-{TEMPLATE}'} "
                                        "is read-only, so it cannot be downloaded there (nothing was written)")
    assert file_listing(skeleton_home) == before


def test_read_only_home_with_the_atlas_works_and_stays_untouched(fmriprep_dataset, tmp_path, read_only,
                                                                 prefetched_home):
    before = file_listing(prefetched_home)
    hidden_before = sorted(p.name for p in prefetched_home.rglob(".*"))
    home = read_only(prefetched_home)
    result = _run_schaefer(fmriprep_dataset, tmp_path, home)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "Warning" not in result.stderr
    timeseries = pd.read_csv(tmp_path / "out" / "sub-03" / "func" /
                             f"sub-03_task-rest_space-{TEMPLATE}_atlas-Schaefer2018100Parcels7Networks_desc-simple_"
                             "timeseries.tsv", sep="\t")
    table = pd.read_csv(prefetched_home / SCHAEFER_TABLE, sep="\t")
    assert set(timeseries.columns) <= set(table["name"]) and len(timeseries.columns) > 50
    assert file_listing(prefetched_home) == before
    assert sorted(p.name for p in prefetched_home.rglob(".*")) == hidden_before
