"""Fixtures shared by the system tests (the image, the SLURM recipe).

These tests run the real podman and SLURM (``make container-test``,
``make slurm-test``); ``make test`` does not collect them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The project runs pytest with --import-mode=importlib, which puts no test folder on
# sys.path; the modules beside this file (compare_outputs) are imported by name.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from regionseries.demo import (
    demo_dataset_spec,
    write_demo_atlas,
    write_fmriprep_dataset,
)


@pytest.fixture(scope="session")
def demo_inputs(tmp_path_factory) -> Path:
    """The demo fMRIPrep dataset (``fmriprep/``) and labels atlas (``atlas/``) of ``make demo``."""
    root = tmp_path_factory.mktemp("demo")
    write_fmriprep_dataset(root / "fmriprep", demo_dataset_spec())
    write_demo_atlas(root / "atlas")
    return root
