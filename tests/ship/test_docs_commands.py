"""Every command in docs/containers.md and docs/hpc.md is exercised where it can be.

* all bash blocks pass ``bash -n``;
* every ``docker run`` / ``apptainer run`` of the app: its arguments are accepted by
  the real argument parser, every container path it names is bound, the input is
  bound read-only, and Docker runs are read-only, network-less and non-root;
* ``regionseries-fetch-atlases`` commands run against a fake TemplateFlow server;
* the participant list command runs; the SLURM commands are those of hpc/slurm/
  (test_slurm_recipe.py).

* the documented ``bosh`` commands run on descriptor.json.

Not runnable here: docker/apptainer build, docker save, pip install (checked
against the Dockerfile in test_dockerfile.py).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

from regionseries import cli
from regionseries.atlases import fetch

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTAINERS_MD = REPO_ROOT / "docs" / "containers.md"
HPC_MD = REPO_ROOT / "docs" / "hpc.md"
APP_IMAGES = {"regionseries:dev", "regionseries-dev.sif", "regionseries.sif"}


@pytest.mark.parametrize("document", ["README.md", "docs/containers.md", "docs/hpc.md"])
def test_bash_blocks_are_valid_bash(document, shell_blocks):
    blocks = shell_blocks(REPO_ROOT / document)
    assert blocks
    for block in blocks:
        completed = subprocess.run(["bash", "-n"], input=block, capture_output=True, text=True, timeout=30)
        assert completed.returncode == 0, f"{document}:\n{block}\n{completed.stderr}"


def documented_runs(shell_blocks, parse_container_runs):
    return [
        run
        for document in (CONTAINERS_MD, HPC_MD)
        for block in shell_blocks(document)
        for run in parse_container_runs(block)
    ]


def test_documented_container_runs_parse_and_bind_what_they_use(shell_blocks, parse_container_runs):
    runs = documented_runs(shell_blocks, parse_container_runs)
    app_runs = [run for run in runs if not run.values("--entrypoint")]
    # the SLURM scripts' commands are checked against hpc/slurm/ in test_slurm_recipe.py
    assert len(app_runs) == 6
    for run in app_runs:
        assert run.image in APP_IMAGES, run.image
        arguments = cli.build_parser().parse_args(run.arguments)  # exits 64 if the docs are wrong
        binds = run.binds()
        targets = [target.split(":")[0] for target in binds]
        assert "/data:ro" in binds, f"input must be bound read-only: {run.arguments}"
        assert str(arguments.bids_dir) == "/data" and str(arguments.output_dir) == "/out"
        for argument in run.arguments:
            for path in argument.replace("=", ":").split(":"):
                if path.startswith("/"):
                    assert any(Path(path).is_relative_to(t) for t in targets), f"{path} is not bound in {run}"
        if run.engine == "docker":
            assert ("--read-only", None) in run.options and run.values("--network") == ["none"]
            assert run.values("-u") == ["$(id -u):$(id -g)"] and run.values("--tmpfs") == ["/tmp"]
        else:
            assert ("--cleanenv", None) in run.options


def test_documented_atlas_listing_uses_the_fetch_script(shell_blocks, parse_container_runs):
    (listing,) = [r for r in documented_runs(shell_blocks, parse_container_runs) if r.values("--entrypoint")]
    assert listing.values("--entrypoint") == ["regionseries-fetch-atlases"]
    assert fetch.build_parser().parse_args(listing.arguments).check


def fetch_commands(shell_blocks) -> list[list[str]]:
    return [
        shlex.split(line)
        for block in shell_blocks(HPC_MD)
        for line in block.replace("\\\n", " ").splitlines()
        if line.strip().startswith("regionseries-fetch-atlases")
    ]


def test_documented_fetch_commands_run_against_a_fake_server(tmp_path, fake_templateflow, shell_blocks, capsys):
    """In order: fetch all, fetch a subset, --dry-run, --check, from a mirror, from a source folder.

    The mirror is the fake server; the source folder is the home the first commands
    filled, copied into a second, empty home (as a lab copies its TemplateFlow folder).
    """
    commands = fetch_commands(shell_blocks)
    assert [command[:3] for command in commands] == [["regionseries-fetch-atlases", "--home", "/shared/templateflow"]] * 6
    assert [command[3:] for command in commands[2:]] == [
        ["--dry-run"], ["--check"], ["--s3-root", "https://mirror.example.org/templateflow"],
        ["--source-home", "/lab/templateflow"],
    ]
    served = fake_templateflow.serve(
        image.relpath for image in fetch.select_atlas_images(fetch.skeleton_paths(fetch.bundled_skeleton_zip()))
    )
    home, copy = tmp_path / "templateflow", tmp_path / "copied"
    places = {"/shared/templateflow": str(home), "https://mirror.example.org/templateflow": fake_templateflow.url}
    for command in commands[:5]:
        argv = [places.get(token, token) for token in command[1:]]
        extra = [] if {"--dry-run", "--check", "--s3-root"} & set(argv) else ["--s3-root", fake_templateflow.url]
        assert fetch.main(argv + extra) == 0, capsys.readouterr().err
    copy_argv = [{"/shared/templateflow": str(copy), "/lab/templateflow": str(home)}.get(token, token)
                 for token in commands[5][1:]]
    requests = len(fake_templateflow.requests)
    assert fetch.main(copy_argv) == 0, capsys.readouterr().err
    assert len(fake_templateflow.requests) == requests, "--source-home used the network"
    summary = capsys.readouterr().out.strip().splitlines()
    assert summary[0].startswith(f"122 atlas images ready in {home} (122 downloaded")
    assert summary[1] == f"2 atlas images ready in {home} (0 downloaded, 0.0 MB; 2 already present)"
    assert summary[124] == f"122 atlas images selected in {home}: 122 present, 0 to download"
    assert summary[-3] == f"check passed: all 122 selected atlas images are present and valid in {home}"
    assert summary[-2] == f"122 atlas images ready in {home} (0 downloaded, 0.0 MB; 122 already present)"
    assert summary[-1].startswith(f"122 atlas images ready in {copy} (122 copied from {home}, ")
    assert all((copy / relpath).read_bytes() == body for relpath, body in served.items())


def test_documented_check_exit_status_is_the_real_one(tmp_path, capsys):
    text = HPC_MD.read_text()
    assert "exits with status\n66 when anything is missing" in text
    assert "66 (`--check`) something missing or corrupt" in text
    assert fetch.main(["--home", str(tmp_path / "empty"), "--check"]) == fetch.EXIT_MISSING == 66
    assert capsys.readouterr().out.splitlines()[-1].startswith("check failed: 122 of 122 selected atlas images are missing")


def test_documented_offline_message_is_the_one_users_get(closed_port_url, tmp_path, capsys):
    text = HPC_MD.read_text()
    assert "`cannot reach https://templateflow.s3.amazonaws.com/...`" in text
    assert fetch.main(["--home", str(tmp_path), "--atlas", "HOSPA", "--attempts", "1", "--s3-root", closed_port_url]) == 1
    assert f"cannot reach {closed_port_url}/tpl-" in capsys.readouterr().err


def hpc_block(shell_blocks, marker: str) -> str:
    (block,) = [block for block in shell_blocks(HPC_MD) if marker in block]
    return block


def localise(script: str, tmp_path: Path) -> str:
    """Point the documented host paths into tmp_path."""
    return script.replace("/data/ds000001", str(tmp_path / "ds000001")).replace("/scratch/", f"{tmp_path}/scratch/")


def test_participant_list_command(tmp_path, shell_blocks):
    fmriprep = tmp_path / "ds000001" / "derivatives" / "fmriprep"
    for folder in ("sub-10", "sub-02", "logs"):
        (fmriprep / folder).mkdir(parents=True)
    for file in ("sub-02.html", "sub-10.html", "dataset_description.json"):
        (fmriprep / file).write_text("")
    script = localise(hpc_block(shell_blocks, "participants.txt\n"), tmp_path)
    subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, check=True, timeout=30)
    assert (tmp_path / "participants.txt").read_text() == "02\n10\n"


def test_resource_table_holds_measured_numbers():
    """The sizing table was filled from the benchmark (issue 6): every row has a time and a memory."""
    text = HPC_MD.read_text()
    section = text.split("## Resource sizing", 1)[1]
    assert "Placeholder" not in section and "to be measured" not in section
    assert "benchmarks/run_benchmark.py" in section and "benchmarks/results/" in section
    rows = [line for line in section.splitlines() if line.startswith("|") and "---" not in line][1:]
    assert len(rows) >= 4
    for row in rows:
        _, job, nprocs, wall, memory, _ = row.split("|")
        assert nprocs.strip() in {"1", "2"}, row
        assert re.search(r"\d s\b", wall) or "same as" in wall, row
        assert re.search(r"\d+(\.\d+)? (MiB|GiB)", memory), row


def test_documented_bosh_commands_run(tmp_path, shell_blocks):
    (block,) = [block for block in shell_blocks(CONTAINERS_MD) if "bosh " in block]
    shutil.copy(REPO_ROOT / "descriptor.json", tmp_path / "descriptor.json")
    (tmp_path / "invocation.json").write_text(json.dumps(
        {"InputDataset": "/data", "OutputLocation": "/out", "AnalysisLevel": "participant", "SubjectLabel": ["01"]}
    ))
    bin_dir = Path(sysconfig.get_path("scripts"))
    completed = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block], cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
    )
    assert completed.returncode == 0, completed.stderr
    command = next(line for line in completed.stdout.splitlines() if line.startswith("regionseries "))
    assert cli.build_parser().parse_args(shlex.split(command)[1:]).participant_label == ["01"]
