"""Shared fixtures of the image building-block tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def nilearn_data_dir() -> Path:
    """Folder of the images shipped inside nilearn's wheel (read in place, never copied)."""
    spec = importlib.util.find_spec("nilearn")
    assert spec is not None and spec.origin is not None, "nilearn (test extra) is not installed"
    return Path(spec.origin).parent / "datasets" / "data"
