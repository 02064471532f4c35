"""Fixtures of the SLURM system tests: the running one-node cluster, the demo data, timings.

These tests need root, a SLURM node on this machine (``system_tests/slurm/setup_slurm.sh``,
which ``make slurm-test`` runs first) and, for the container variant, the image of
``make container-image``. They are not part of ``make test``.
"""

from __future__ import annotations

import subprocess

import pytest

#: Node states in which the node runs jobs.
READY_STATES = {"idle", "mixed", "allocated", "completing"}


@pytest.fixture(scope="session")
def slurm_node() -> str:
    """Name of the SLURM node; fails the tests when no node is ready."""
    try:
        listing = subprocess.run(["sinfo", "--noheader", "--format=%n %T"], capture_output=True,
                                 text=True, timeout=30)
    except FileNotFoundError:
        pytest.fail("sinfo is not installed: run system_tests/slurm/setup_slurm.sh (make slurm-test does)")
    nodes = dict(line.split() for line in listing.stdout.splitlines() if line.strip())
    ready = [name for name, state in nodes.items() if state.rstrip("*~#") in READY_STATES]
    if listing.returncode != 0 or not ready:
        pytest.fail(f"no SLURM node is ready ({listing.stdout.strip() or listing.stderr.strip()}): "
                    "run system_tests/slurm/setup_slurm.sh (make slurm-test does)")
    return ready[0]


_TIMINGS: list[str] = []


@pytest.fixture(scope="session")
def timings() -> list[str]:
    """Lines printed after the test session: the measured SLURM timings."""
    return _TIMINGS


def pytest_terminal_summary(terminalreporter):
    if _TIMINGS:
        terminalreporter.section("SLURM timings")
        for line in _TIMINGS:
            terminalreporter.write_line(line)
