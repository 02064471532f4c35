"""Fixtures shared by the system tests (the image, the SLURM recipe).

These tests run the real podman and SLURM (``make container-test``,
``make slurm-test``); ``make test`` does not collect them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

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
