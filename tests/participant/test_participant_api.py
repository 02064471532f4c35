"""The Python API (``regionseries.run_participant``, ``regionseries.run_group``) against the command line.

Both levels run on the demo dataset once from Python and once through the
real command line with the same options: the same files must come out, the
TSVs byte for byte and the JSON files equal except ``CommandLine``, which says
how each was called (the shell command, or the Python call).
"""

from __future__ import annotations

import ast
import gc
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

from regionseries import run_group, run_participant
from regionseries.bids.inputs import NoInputFound
from regionseries.demo import (
    demo_dataset_spec,
    write_demo_atlas,
    write_fmriprep_dataset,
)
from regionseries.group import NoParticipantOutputs
from regionseries.job import OptionError

from ..conftest import run_cli
from ..ship.conftest import fenced_blocks

REPOSITORY = Path(__file__).resolve().parents[2]
STRATEGIES = ["simple", "scrubbing"]


@pytest.fixture(scope="module")
def demo_inputs(tmp_path_factory) -> tuple[Path, str]:
    """The demo dataset and the ``--atlas-file`` value of its atlas."""
    root = tmp_path_factory.mktemp("demo")
    write_fmriprep_dataset(root / "fmriprep", demo_dataset_spec())
    image, table = write_demo_atlas(root / "atlas")
    return root / "fmriprep", f"Demo={image}:{table}"


@pytest.fixture(scope="module")
def both_ways(demo_inputs, tmp_path_factory) -> dict:
    """Outputs of the participant and group levels from the command line and from Python."""
    bids, atlas_file = demo_inputs
    root = tmp_path_factory.mktemp("outputs")
    from_cli, from_python = root / "cli", root / "python"
    participant = run_cli(bids, from_cli, "participant", "--spheres", "Power2011", "--atlas-file", atlas_file,
                          "--strategy", *STRATEGIES, "--nprocs", "2")
    assert participant.returncode == 0, participant.stderr
    group = run_cli(bids, from_cli, "group")
    assert group.returncode == 0, group.stderr
    frozen_before = gc.get_freeze_count()
    participant_result = run_participant(bids, from_python, spheres="Power2011", atlas_files=[atlas_file],
                                         strategies=STRATEGIES, nprocs=2)
    frozen_after = gc.get_freeze_count()
    group_summary = run_group(bids, from_python)
    return {"cli": from_cli, "python": from_python, "participant": participant_result, "group": group_summary,
            "bids": bids, "atlas_file": atlas_file, "frozen": (frozen_before, frozen_after)}


def _files(root: Path) -> list[str]:
    """Relative paths of the files below ``root``, but the logs (named by time and process)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.parent.name != "logs")


def _without_command_line(value):
    if isinstance(value, dict):
        return {k: _without_command_line(v) for k, v in value.items() if k != "CommandLine"}
    if isinstance(value, list):
        return [_without_command_line(v) for v in value]
    return value


def _command_lines(value) -> list[str]:
    if isinstance(value, dict):
        found = [value["CommandLine"]] if "CommandLine" in value else []
        return found + [c for v in value.values() for c in _command_lines(v)]
    if isinstance(value, list):
        return [c for v in value for c in _command_lines(v)]
    return []


def test_the_api_writes_the_files_of_the_command_line(both_ways):
    cli_files, python_files = _files(both_ways["cli"]), _files(both_ways["python"])
    assert python_files == cli_files
    assert any(name.endswith("_timeseries.tsv") for name in cli_files)
    assert any(name.startswith("group/") and name.endswith("_qcfc.tsv") for name in cli_files)
    assert any(name.endswith(".html") for name in cli_files)
    for folder in ("cli", "python"):
        logs = sorted(p.name for p in (both_ways[folder] / "logs").iterdir())
        assert [name.split("_")[1] for name in logs] == ["group", "participant"]


def test_tsvs_are_byte_identical(both_ways):
    tsvs = [name for name in _files(both_ways["cli"]) if name.endswith(".tsv")]
    assert len(tsvs) > 20
    for name in tsvs:
        assert (both_ways["python"] / name).read_bytes() == (both_ways["cli"] / name).read_bytes(), name


def test_json_files_are_equal_but_for_how_they_were_called(both_ways):
    jsons = [name for name in _files(both_ways["cli"]) if name.endswith(".json")]
    assert len(jsons) > 20
    called_as = set()
    for name in jsons:
        from_cli = json.loads((both_ways["cli"] / name).read_text(encoding="utf-8"))
        from_python = json.loads((both_ways["python"] / name).read_text(encoding="utf-8"))
        assert _without_command_line(from_python) == _without_command_line(from_cli), name
        called_as.update(_command_lines(from_python))
    bids, atlas_file = both_ways["bids"], both_ways["atlas_file"]
    output = both_ways["python"]
    assert called_as == {
        (f"regionseries.run_participant({str(bids)!r}, {str(output)!r}, atlas_files=[{atlas_file!r}], "
         f"spheres='Power2011', strategies={STRATEGIES!r}, nprocs=2)"),
        f"regionseries.run_group({str(bids)!r}, {str(output)!r})",
    }


def test_the_results_say_what_was_done(both_ways):
    result, summary = both_ways["participant"], both_ways["group"]
    assert result.exit_status == 0 and summary.exit_status == 0
    assert result.failures == [] and summary.failures == []
    assert len(result.runs) == len(demo_dataset_spec().runs)  # the default space only
    assert set(result.statuses.values()) == {"done"}
    assert all(path.is_file() for path in result.outputs)
    assert sorted(str(p.relative_to(both_ways["python"])) for p in result.outputs) == sorted(
        name for name in _files(both_ways["python"])
        if name.startswith("sub-") and "/func/" in name)
    assert result.log_file.parent == both_ways["python"] / "logs" and result.log_file.is_file()
    assert summary.log_file.parent == both_ways["python"] / "logs" and summary.log_file.is_file()
    assert len(summary.qc_table) > 0


def test_the_caller_gets_its_garbage_collector_back(both_ways):
    """The engine exempts the job's long-lived objects from collection while it runs
    (gc.freeze); a Python caller's process is left as it was."""
    frozen_before, frozen_after = both_ways["frozen"]
    assert frozen_after == frozen_before


def test_a_second_call_skips_the_finished_runs(both_ways):
    result = run_participant(both_ways["bids"], both_ways["python"], spheres="Power2011",
                             atlas_files=both_ways["atlas_file"], strategies=STRATEGIES, participant_label="sub-02",
                             reports=False)
    assert set(result.statuses.values()) == {"skipped"} and len(result.runs) == 2
    assert result.exit_status == 0


def test_bad_input_raises_the_documented_exceptions(demo_inputs, tmp_path):
    bids, atlas_file = demo_inputs
    with pytest.raises(OptionError, match="--connectivity pearson: choose from"):
        run_participant(bids, tmp_path / "out", atlas_files=atlas_file, connectivity="pearson")
    with pytest.raises(NoInputFound, match="participant"):
        run_participant(bids, tmp_path / "out", atlas_files=atlas_file, participant_label="09")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        run_participant(tmp_path / "absent", tmp_path / "out", atlas_files=atlas_file)
    with pytest.raises(NoParticipantOutputs, match="run the participant level first"):
        run_group(bids, tmp_path / "empty")


@pytest.mark.parametrize("document", ["README.md", "docs/usage.md"])
def test_the_documented_calls_use_the_api_s_parameters(document):
    """The Python examples compile and call ``run_participant``/``run_group`` with their parameters."""
    text = (REPOSITORY / document).read_text(encoding="utf-8")
    calls = []
    for block in fenced_blocks(text, languages=("python",)):
        for node in ast.walk(ast.parse(block)):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("run_participant", "run_group"):
                calls.append(node)
    assert calls
    for call in calls:
        function = {"run_participant": run_participant, "run_group": run_group}[call.func.id]
        inspect.signature(function).bind(*call.args, **{k.arg: None for k in call.keywords})


def test_the_command_line_and_the_package_start_without_the_engines():
    """``regionseries --version`` stays fast: the engines (and numpy) are imported when they run."""
    code = ("import sys, regionseries, regionseries.cli; "
            "print(sorted(m for m in ('regionseries.participant', 'regionseries.group', 'numpy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
