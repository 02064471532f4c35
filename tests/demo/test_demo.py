"""``make demo`` end to end: the demo's outputs match the pinned file list and pass the BIDS validator.

The pinned list (tests/demo/data/demo_outputs.txt) holds every output file of
the demo relative to the output folder, except the log files (their names
carry a time stamp) and the report figures (files under ``*/figures/``, owned
by the report layout), whose folders must exist and be non-empty. To update
it after an intended change of the outputs:

    .venv/bin/python -m regionseries.demo /tmp/demo && \
    (cd /tmp/demo/regionseries && find . -type f | sed 's|^\\./||' | grep -v '^logs/' | grep -v '/figures/' | sort) \
    > tests/demo/data/demo_outputs.txt
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXPECTED = Path(__file__).parent / "data" / "demo_outputs.txt"
MAKEFILE = Path(__file__).parents[2] / "Makefile"


def _make_demo_command(outdir: Path) -> list[str]:
    """The command of the Makefile's ``demo`` target, with this Python and ``outdir``."""
    lines = MAKEFILE.read_text().splitlines()
    recipe = lines[lines.index(next(line for line in lines if line.startswith("demo:"))) + 1].split()
    assert recipe[0] == "$(PY)" and recipe[-1] == "demo_output", recipe
    return [sys.executable, *recipe[1:-1], str(outdir)]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("demo")
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    command = _make_demo_command(outdir)
    assert command[1:3] == ["-m", "regionseries.demo"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    return outdir, result


def _listing(root: Path) -> list[str]:
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*")
        if p.is_file() and not str(p.relative_to(root)).startswith("logs/") and "/figures/" not in str(p)
    )


def test_demo_runs_and_says_where_things_are(demo):
    outdir, result = demo
    assert result.returncode == 0, result.stdout + result.stderr
    output = outdir / "regionseries"
    assert f"Outputs:                                {output}" in result.stdout
    assert f"{output / 'sub-01.html'}" in result.stdout
    assert f"  {output / 'group.html'}" in result.stdout  # listed under Reports
    assert "[7/7]" in result.stderr


def test_demo_prints_no_warning_on_its_own_data(demo):
    """A new user's first run: nothing to act on, on the console or in the logs."""
    outdir, result = demo
    assert result.returncode == 0, result.stdout + result.stderr
    console = result.stdout + result.stderr
    for word in ("warning", "coverage"):
        assert word not in console.lower(), console
    logs = sorted((outdir / "regionseries" / "logs").glob("*.log"))
    assert len(logs) == 2
    for log in logs:
        flagged = [line for line in log.read_text().splitlines()
                   if any(level in line for level in ("WARNING", "ERROR", "CRITICAL"))]
        assert flagged == [], log.name


def test_demo_outputs_match_the_pinned_list(demo):
    outdir, _ = demo
    output = outdir / "regionseries"
    expected = EXPECTED.read_text().split()
    actual = _listing(output)
    missing = sorted(set(expected) - set(actual))
    unexpected = sorted(set(actual) - set(expected))
    assert not missing and not unexpected, f"missing: {missing}\nunexpected: {unexpected}"
    logs = sorted(p.name for p in (output / "logs").glob("*.log"))
    assert len(logs) == 2 and logs[0].startswith("regionseries_group_") and logs[1].startswith("regionseries_participant_")
    for participant in ("01", "02", "03"):
        assert any((output / f"sub-{participant}" / "figures").iterdir())


def test_demo_outputs_are_valid_bids(demo):
    outdir, _ = demo
    validator = Path(sys.executable).parent / "bids-validator-deno"
    checked = subprocess.run([str(validator), str(outdir / "regionseries"), "--datasetTypes", "derivative",
                              "--format", "json"], capture_output=True, text=True, timeout=120)
    issues = json.loads(checked.stdout)["issues"]["issues"]
    errors = [i for i in issues if i["severity"] == "error"]
    assert checked.returncode == 0 and not errors, errors


def test_demo_group_level_shows_the_high_motion_exclusions(demo):
    outdir, _ = demo
    group = outdir / "regionseries" / "group"
    import pandas as pd

    qc = pd.read_csv(group / "task-rest_space-MNI152NLin2009cAsym_atlas-Demo_desc-simple_qc.tsv", sep="\t",
                     dtype={"sub": str})
    assert len(qc) == 7
    high = qc[qc["sub"] == "03"]
    assert high["excluded"].item() and "mean FD" in high["exclusion_reason"].item()
    qcfc = json.loads((group / "task-rest_space-MNI152NLin2009cAsym_atlas-Demo_desc-simple_qcfc.json").read_text())
    assert qcfc["NumberOfRuns"] == int((~qc["excluded"]).sum()) >= 3
