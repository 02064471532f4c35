"""Fixtures of the image tests: the built image, the demo data, the small
TemplateFlow folder the image was built from, and the timings they report.

The image is built beforehand by ``build_image.sh`` (``make container-image``);
these tests run it the way users do and compare it with the host's install.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

# The project runs pytest with --import-mode=importlib, which puts no test folder
# on sys.path; the modules beside this file are imported by name.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from image_helpers import IMAGE, podman
from small_templateflow import write_small_templateflow

_TIMINGS: dict[str, tuple[float, float]] = {}


@pytest.fixture(scope="session")
def image() -> str:
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed: run `make container-test` (it installs and builds)")
    if podman("image", "exists", IMAGE).returncode != 0:
        pytest.fail(f"the image {IMAGE} does not exist: run `make container-image` first")
    return IMAGE


@pytest.fixture(scope="session")
def small_templateflow(tmp_path_factory) -> Path:
    """The same small TemplateFlow folder the image was built from."""
    home = tmp_path_factory.mktemp("templateflow")
    write_small_templateflow(home)
    return home


@pytest.fixture(scope="session")
def timings() -> dict[str, tuple[float, float]]:
    """Wall times (s) on the host and in the container, printed at the end."""
    return _TIMINGS


def pytest_terminal_summary(terminalreporter):
    if not _TIMINGS:
        return
    terminalreporter.section("the same command on the host and in the container (wall time)")
    for what, (host_seconds, container_seconds) in _TIMINGS.items():
        terminalreporter.write_line(
            f"{what}: host {host_seconds:.1f} s, container {container_seconds:.1f} s "
            f"({container_seconds / host_seconds:.2f}x)"
        )
