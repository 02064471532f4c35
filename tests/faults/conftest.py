"""Session fixtures of the fault-injection suite: the clean inputs and the clean run's outputs (built once per worker)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .dataset import build_clean_inputs, job_arguments


@pytest.fixture(scope="session")
def clean_inputs(tmp_path_factory) -> Path:
    """The clean inputs (dataset and job files); cases copy them with hard links, never write them."""
    return build_clean_inputs(tmp_path_factory.mktemp("faults") / "clean")


@pytest.fixture(scope="session")
def reference_output(clean_inputs: Path, tmp_path_factory) -> Path:
    """OUTPUT_DIR of the clean job, the reference every case's untouched runs must equal."""
    output = tmp_path_factory.mktemp("faults-reference") / "out"
    done = subprocess.run([sys.executable, "-m", "regionseries", *job_arguments(clean_inputs, output)],
                          check=False, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    return output
