"""What the console shows and what the job's log file keeps: ``-q``, Python warnings, one path for both.

Through the real command line, except the Python-warning hook, which no run of
the synthetic dataset triggers (its own warnings are caught where they arise):
it is checked in this process with the real console and log-file handlers.
"""

from __future__ import annotations

import logging
import warnings

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


@pytest.fixture
def ghost_table_atlas(demo_atlas, tmp_path):
    """The demo atlas with a label table row that the image lacks (an atlas-table warning)."""
    image, table_path = demo_atlas
    table = pd.read_csv(table_path, sep="\t")
    ghost = pd.DataFrame({"index": [999], "name": ["Ghost"]})
    path = tmp_path / "ghost_dseg.tsv"
    pd.concat([table[["index", "name"]], ghost]).to_csv(path, sep="\t", index=False)
    return f"Demo={image}:{path}"


def test_the_log_holds_every_console_line(fmriprep_dataset, ghost_table_atlas, tmp_path):
    """Indexing, atlas-table and coverage warnings, progress, summary: each console line is in the log
    (a shortened warning in full)."""
    output = tmp_path / "out"
    result = run_cli(fmriprep_dataset, output, "participant", "--participant-label", "01", "--spheres", "Power2011",
                     "--atlas-file", ghost_table_atlas, "--no-reports", "-w", tmp_path / "work")
    assert result.returncode == 0, result.stderr
    assert "999 'Ghost'" in result.stderr and "indexing" in result.stderr
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
