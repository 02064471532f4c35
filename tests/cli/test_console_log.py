"""What the console shows and what the job's log file keeps: ``-q``, Python warnings, one path for both.

Through the real command line (on a pseudo-terminal for the progress bar and the
wrapping), except the Python-warning hook, which no run of the synthetic dataset
triggers (its own warnings are caught where they arise): it is checked in this
process with the real console and log-file handlers.
"""

from __future__ import annotations

import fcntl
import itertools
import json
import logging
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import warnings

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from regionseries import cli
from regionseries.job import log_file

from ..conftest import run_cli

#: What the console formatter appends to a warning it shortens (cli._ConsoleFormatter).
SHORTENED = " ... (full text in the log)"


def _log_text(output) -> str:
    (path,) = (output / "logs").glob("regionseries_participant_*.log")
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def corner_spheres(fmriprep_dataset, tmp_path_factory):
    """``Corners=COORDS.tsv``: 4 spheres inside the synthetic brain and 8 in the corners of the
    BOLD's field of view, outside the brain (regions below --min-coverage in every run)."""
    bold = next(fmriprep_dataset.glob("sub-01/**/*_desc-preproc_bold.nii.gz"))
    img = nib.load(bold)
    last = np.array(img.shape[:3]) - 1
    corners = [nib.affines.apply_affine(img.affine, last * np.array(choice))
               for choice in itertools.product((0, 1), repeat=3)]
    inside = [(0.0, 0.0, 0.0), (-30.0, -20.0, 10.0), (30.0, -20.0, 10.0), (0.0, -50.0, 20.0)]
    coordinates = pd.DataFrame([*inside, *corners], columns=["x", "y", "z"])
    coordinates.insert(0, "name", [f"inside{k}" for k in range(4)] + [f"corner{k}" for k in range(8)])
    path = tmp_path_factory.mktemp("spheres") / "corners.tsv"
    coordinates.to_csv(path, sep="\t", index=False)
    return f"Corners={path}"


@pytest.fixture
def ghost_table_atlas(demo_atlas, tmp_path):
    """The demo atlas with a label table row that the image lacks (an atlas-table warning)."""
    image, table_path = demo_atlas
    table = pd.read_csv(table_path, sep="\t")
    ghost = pd.DataFrame({"index": [999], "name": ["Ghost"]})
    path = tmp_path / "ghost_dseg.tsv"
    pd.concat([table[["index", "name"]], ghost]).to_csv(path, sep="\t", index=False)
    return f"Demo={image}:{path}"


def test_the_log_holds_every_console_line(fmriprep_dataset, ghost_table_atlas, corner_spheres, tmp_path):
    """Indexing, atlas-table and coverage warnings, progress, summary: each console line is in the log
    (a shortened warning in full)."""
    output = tmp_path / "out"
    result = run_cli(fmriprep_dataset, output, "participant", "--participant-label", "01", "--spheres", corner_spheres,
                     "--atlas-file", ghost_table_atlas, "--no-reports", "-w", tmp_path / "work")
    assert result.returncode == 0, result.stderr
    assert "999 'Ghost'" in result.stderr and "indexing" in result.stderr
    assert "atlas Corners: 8 of 12 regions below coverage" in result.stderr
    log = _log_text(output)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) >= 6
    for line in lines:
        assert line.removesuffix(SHORTENED) in log, line


def test_quiet_shows_only_warnings(fmriprep_dataset, ghost_table_atlas, tmp_path):
    output = tmp_path / "out"
    result = run_cli(fmriprep_dataset, output, "participant", "--participant-label", "03", "--spheres", "Power2011",
                     "--atlas-file", ghost_table_atlas, "--no-reports", "-q", "-w", tmp_path / "work")
    assert result.returncode == 0, result.stderr
    assert "999 'Ghost'" in result.stderr  # a warning
    for info in ("indexing", "found 1 BOLD run", "[1/1]", "Finished"):
        assert info not in result.stderr
        assert info in _log_text(output)


def test_quiet_and_verbose_exclude_each_other(fmriprep_dataset, tmp_path):
    result = run_cli(fmriprep_dataset, tmp_path / "out", "participant", "--spheres", "Power2011", "-q", "-v")
    assert result.returncode == 64
    assert "argument -v/--verbose: not allowed with argument -q/--quiet" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.fixture
def console_of_the_command_line():
    """The command line's console set-up in this process; the logger and the warning hook restored after."""
    logger = logging.getLogger("regionseries")
    saved = (list(logger.handlers), logger.level, logger.propagate, warnings.showwarning)
    yield cli._configure_console
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    for handler in saved[0]:
        logger.addHandler(handler)
    logger.setLevel(saved[1])
    logger.propagate = saved[2]
    warnings.showwarning = saved[3]


def test_python_warnings_reach_console_and_log(console_of_the_command_line, tmp_path, capsys):
    """A library's warning (as pybids' while indexing) is one line on the console and in the log file."""
    console_of_the_command_line(0, quiet=True)
    with log_file(tmp_path, "participant", ["01"]) as path:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("an index option is deprecated", FutureWarning, stacklevel=1)
    console = capsys.readouterr().err
    assert console.startswith("FutureWarning: an index option is deprecated (")
    assert console.count("\n") == 1
    assert "WARNING FutureWarning: an index option is deprecated (" in path.read_text(encoding="utf-8")


def test_coverage_warnings_are_one_line_per_atlas_on_the_console(fmriprep_dataset, corner_spheres, tmp_path):
    """The per-run lists of regions below --min-coverage stay in the log file and the sidecars;
    the console says it once per atlas, with the counts, also under -q."""
    output = tmp_path / "out"
    result = run_cli(fmriprep_dataset, output, "participant", "--participant-label", "01", "--spheres", corner_spheres,
                     "--no-reports", "-q", "-w", tmp_path / "work")
    assert result.returncode == 0, result.stderr
    log = _log_text(output)
    per_run = [line for line in log.splitlines() if "region(s) of atlas Corners have coverage below" in line]
    assert len(per_run) == 3  # one per run of sub-01, in full
    sidecars = sorted(output.glob("sub-01/**/*atlas-Corners*_timeseries.json"))
    below = [set(json.loads(path.read_text())["RegionsBelowCoverage"]) for path in sidecars]
    assert below == [{f"corner{k}" for k in range(8)}] * 3
    coverage = json.loads(sidecars[0].read_text())["RegionCoverage"]
    assert all(coverage[f"corner{k}"] < 0.5 for k in range(8)) and all(coverage[f"inside{k}"] >= 0.5 for k in range(4))
    assert "have coverage below" not in result.stderr
    (log_path,) = (output / "logs").glob("*.log")
    summary = (f"atlas Corners: 8 of 12 regions below coverage in 3 of 3 run(s), set to n/a; "
               f"details in {log_path} "
               "and the time-series sidecars (RegionsBelowCoverage)")
    assert result.stderr.strip().splitlines() == [summary]
    assert summary in log


def run_cli_on_a_terminal(*args, columns: int = 80, timeout: float = 300) -> tuple[int, str]:
    """``python -m regionseries ARGS`` with its stdout and stderr on a pseudo-terminal of
    ``columns`` columns, as a user at an interactive shell runs it; the exit code and what it showed."""
    master, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = dict(os.environ, COLUMNS=str(columns), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    process = subprocess.Popen([sys.executable, "-m", "regionseries", *map(str, args)], stdin=subprocess.DEVNULL,
                               stdout=terminal, stderr=terminal, env=env)
    os.close(terminal)
    shown = bytearray()
    try:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the process closed the terminal's last end
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(master)
    return process.wait(timeout=timeout), shown.decode()


def test_terminal_gets_a_progress_bar_and_wrapped_warnings(fmriprep_dataset, corner_spheres, tmp_path):
    """On a terminal: a bar over the runs with the time elapsed and left instead of the per-run
    lines (those are in the log), and warnings wrapped to the terminal's width."""
    output = tmp_path / "out"
    returncode, shown = run_cli_on_a_terminal(fmriprep_dataset, output, "participant", "--participant-label", "01",
                                              "--spheres", corner_spheres, "--no-reports", "-w", tmp_path / "work",
                                              columns=72)
    assert returncode == 0, shown
    screens = [part for line in shown.split("\r\n") for part in line.split("\r")]
    bars = [part for part in screens if part.startswith("runs:")]
    assert any(" 0/3 [" in bar for bar in bars) and any("100%" in bar and " 3/3 [" in bar for bar in bars), shown
    assert all(" elapsed, " in bar and " left]" in bar and len(bar) <= 72 for bar in bars)
    assert "[1/3]" not in shown and "[3/3]" in _log_text(output)
    summary = next(k for k, line in enumerate(screens) if line.startswith("atlas Corners:"))
    assert screens[summary + 1].startswith("    ") and all(len(line) <= 72 for line in screens[summary:summary + 3])
    assert "Finished: 3 run(s) processed" in shown


def test_batch_console_gets_one_line_per_run_with_the_time_left(fmriprep_dataset, tmp_path):
    """Not a terminal (a SLURM log, a pipe): plain per-run lines, with the time left, no bar and no wrapping."""
    result = run_cli(fmriprep_dataset, tmp_path / "out", "participant", "--participant-label", "01",
                     "--spheres", "Power2011", "--no-reports", "-w", tmp_path / "work")
    assert result.returncode == 0, result.stderr
    runs = [line for line in result.stderr.splitlines() if line.startswith("[")]
    assert len(runs) == 3
    for line in runs[:2]:
        assert re.fullmatch(r"\[[12]/3\] sub-01_\S+_bold\.nii\.gz: simple done \(\d+\.\d s\), "
                            r"(about \d+ s|less than a second) left", line), line
    assert re.fullmatch(r"\[3/3\] sub-01_\S+: simple done \(\d+\.\d s\)", runs[2])
    assert "runs:" not in result.stderr and "\r" not in result.stderr
    assert "processing 3 run(s)" in result.stderr


def test_group_level_shows_its_progress_over_tables(fmriprep_dataset, tmp_path):
    """The group level: one line per task x space x strategy x atlas table in a batch log, a bar
    over the tables on a terminal (the lines then in the log only)."""
    output = tmp_path / "out"
    result = run_cli(fmriprep_dataset, output, "participant", "--participant-label", "01", "03", "--spheres",
                     "Dosenbach2010", "--strategy", "simple", "scrubbing", "--no-reports", "-w", tmp_path / "work")
    assert result.returncode == 0, result.stderr
    batch = run_cli(fmriprep_dataset, output, "group", "--no-reports", "-w", tmp_path / "work")
    assert batch.returncode == 0, batch.stderr
    lines = [line for line in batch.stderr.splitlines() if line.startswith("[")]
    assert [line.split("]")[0] for line in lines] == ["[1/2", "[2/2"]
    for line, strategy in zip(lines, ("scrubbing", "simple")):
        assert re.fullmatch(rf"\[\d/2\] task-rest space-MNI152NLin2009cAsym desc-{strategy} atlas-Dosenbach2010: "
                            r"\d+ run\(s\) \(\d+\.\d s\)", line), line
    assert "aggregating 2 table(s)" in batch.stderr
    returncode, shown = run_cli_on_a_terminal(fmriprep_dataset, output, "group", "--no-reports",
                                              "-w", tmp_path / "work", columns=72)
    assert returncode == 0, shown
    screens = [part for line in shown.split("\r\n") for part in line.split("\r")]
    bars = [part for part in screens if part.startswith("tables:")]
    assert any("100%" in bar and " 2/2 [" in bar for bar in bars), shown
    assert "[1/2]" not in shown
    (log,) = sorted((output / "logs").glob("regionseries_group_*.log"))[-1:]
    assert "[2/2] task-rest" in log.read_text(encoding="utf-8")
