"""The SLURM recipe of hpc/slurm/ runs the commands docs/hpc.md shows.

The scripts run here with fake ``sbatch``, ``apptainer``, ``podman``, ``docker`` and
``regionseries`` that record their arguments, so no SLURM is needed; ``make slurm-test``
(system_tests/slurm) runs the same scripts for real on a one-node SLURM.
"""

from __future__ import annotations

import os
import pwd
import shlex
import stat
import subprocess
from pathlib import Path

import pytest

from regionseries import cli

REPO_ROOT = Path(__file__).resolve().parents[2]
RECIPE = REPO_ROOT / "hpc" / "slurm"
HPC_MD = REPO_ROOT / "docs" / "hpc.md"
FAKE_COMMANDS = ("sbatch", "apptainer", "podman", "docker", "regionseries")


def localise(text: str, root: Path) -> str:
    """Point the documented host paths into ``root``."""
    return text.replace("/data/ds000001", str(root / "ds000001")).replace("/scratch/", f"{root}/scratch/")


def hpc_block(shell_blocks, marker: str) -> str:
    (block,) = [block for block in shell_blocks(HPC_MD) if marker in block]
    return block


def documented_settings(shell_blocks, root: Path, user: str = "alice") -> dict[str, str]:
    """The variables exported by the documented submission block, and the folders below
    /scratch/<user> that the scripts use by default, moved into ``root``."""
    settings = {}
    for line in hpc_block(shell_blocks, "hpc/slurm/submit.sh\n").splitlines():
        tokens = shlex.split(line)
        if tokens and tokens[0] == "export":
            settings.update(token.split("=", 1) for token in tokens[1:])
    settings.update(REGIONSERIES_WORK_ROOT=f"/scratch/{user}/regionseries-work",
                    REGIONSERIES_CACHE_DIR=f"/scratch/{user}/regionseries-cache")
    return {name: localise(value, root) for name, value in settings.items()}


@pytest.mark.parametrize("script", ["participant.sh", "group.sh"])
def test_default_folders_are_the_documented_ones(script):
    """documented_settings() moves these defaults into the test folder."""
    text = (RECIPE / script).read_text()
    assert "user=${USER:-$(id -un)}" in text
    assert "work_root=${REGIONSERIES_WORK_ROOT:-/scratch/${user}/regionseries-work}" in text
    rows = HPC_MD.read_text()
    assert "| `/scratch/${USER:-$(id -un)}/regionseries-work` |" in rows
    if script == "participant.sh":
        assert "cache_dir=${REGIONSERIES_CACHE_DIR:-/scratch/${user}/regionseries-cache}" in text
        assert "| `/scratch/${USER:-$(id -un)}/regionseries-cache` |" in rows


def documented_command(shell_blocks, marker: str, root: Path) -> list[str]:
    """The tokens of the one command of the documented block containing ``marker``."""
    return shlex.split(localise(hpc_block(shell_blocks, marker), root).replace("\\\n", " "))


@pytest.fixture
def study(tmp_path) -> Path:
    """A folder to submit from: participants.txt, the fMRIPrep folder and fake commands in bin/."""
    (tmp_path / "participants.txt").write_text("01\n02\n03\n")
    (tmp_path / "ds000001" / "derivatives" / "fmriprep").mkdir(parents=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in FAKE_COMMANDS:
        path = bin_dir / name
        # sbatch answers job IDs 4242, 4243, ...; every fake records its arguments.
        body = (f'echo "$*" >> {tmp_path}/sbatch-calls.txt; echo $((4241 + $(wc -l < {tmp_path}/sbatch-calls.txt)))'
                if name == "sbatch" else f'printf "%s\\n" "$@" > {tmp_path}/{name}-argv.txt')
        path.write_text(f"#!/bin/bash\n{body}\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return tmp_path


def run(study: Path, command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run ``command`` in ``study`` with the fakes first on PATH and only ``env`` besides."""
    return subprocess.run(command, cwd=study, capture_output=True, text=True, timeout=30,
                          env={"PATH": f"{study / 'bin'}:{os.environ['PATH']}", **env})


def recorded(study: Path, name: str) -> list[str]:
    return (study / f"{name}-argv.txt").read_text().splitlines()


def test_participant_task_runs_the_documented_apptainer_command(study, shell_blocks):
    settings = documented_settings(shell_blocks, study)
    task = {"SLURM_ARRAY_TASK_ID": "2", "SLURM_CPUS_PER_TASK": "2", "USER": "alice"}
    completed = run(study, ["bash", str(RECIPE / "participant.sh")], {**settings, **task})
    assert completed.returncode == 0, completed.stderr
    documented = documented_command(shell_blocks, "participant --participant-label 02", study)
    assert ["apptainer", *recorded(study, "apptainer")] == documented
    assert (study / "scratch" / "alice" / "regionseries-work" / "sub-02").is_dir()
    assert (study / "scratch" / "alice" / "regionseries-cache").is_dir()


def test_group_job_runs_the_documented_apptainer_command(study, shell_blocks):
    settings = documented_settings(shell_blocks, study)
    completed = run(study, ["bash", str(RECIPE / "group.sh")],
                    {**settings, "SLURM_CPUS_PER_TASK": "2", "USER": "alice"})
    assert completed.returncode == 0, completed.stderr
    documented = documented_command(shell_blocks, "/out group", study)
    assert ["apptainer", *recorded(study, "apptainer")] == documented
    assert cli.build_parser().parse_args(documented[documented.index("regionseries.sif") + 1:]).incremental


@pytest.mark.parametrize("script", ["participant.sh", "group.sh"])
def test_jobs_without_user_use_the_account_name(study, shell_blocks, script):
    """Some sites start jobs without USER; under set -u the scripts must not need it."""
    account = pwd.getpwuid(os.getuid()).pw_name
    settings = documented_settings(shell_blocks, study, user=account)
    completed = run(study, ["bash", str(RECIPE / script)], {**settings, "SLURM_ARRAY_TASK_ID": "1"})
    assert completed.returncode == 0, completed.stderr
    assert f"with apptainer, user {account}" in completed.stdout
    work = study / "scratch" / account / "regionseries-work" / ("sub-01" if script == "participant.sh" else "group")
    assert f"{work}:/work" in recorded(study, "apptainer")


def test_submit_runs_the_documented_sbatch_commands(study, shell_blocks):
    settings = documented_settings(shell_blocks, study)
    documented = localise(hpc_block(shell_blocks, "sbatch --parsable"), study)
    completed = run(study, ["bash", "-euo", "pipefail", "-c", documented], settings)
    assert completed.returncode == 0, completed.stderr
    documented_calls = (study / "sbatch-calls.txt").read_text()
    (study / "sbatch-calls.txt").unlink()

    completed = run(study, [str(RECIPE / "submit.sh")], settings)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == "4242 4243\n"
    calls = (study / "sbatch-calls.txt").read_text().replace(f"{RECIPE}/", "hpc/slurm/")
    assert calls == documented_calls
    assert calls.splitlines() == [
        "--parsable --array=1-3 --cpus-per-task=2 --mem=1G --time=00:30:00 hpc/slurm/participant.sh",
        "--parsable --dependency=afterok:4242 --kill-on-invalid-dep=yes --cpus-per-task=2 --mem=1G "
        "--time=01:00:00 hpc/slurm/group.sh",
    ]
    assert (study / "logs").is_dir() and (study / "ds000001" / "derivatives" / "regionseries").is_dir()


def test_submit_resubmits_only_the_given_indices(study, shell_blocks):
    settings = documented_settings(shell_blocks, study)
    settings["REGIONSERIES_PARTICIPANT_SBATCH"] = "--cpus-per-task=1 --time=00:05:00"
    completed = run(study, [str(RECIPE / "submit.sh"), "3,17"], settings)
    assert completed.returncode == 0, completed.stderr
    calls = (study / "sbatch-calls.txt").read_text().replace(f"{RECIPE}/", "").splitlines()
    assert calls[0] == "--parsable --array=3,17 --cpus-per-task=1 --time=00:05:00 participant.sh"
    assert calls[1].startswith("--parsable --dependency=afterok:4242 --kill-on-invalid-dep=yes ")
    assert "hpc/slurm/submit.sh 3,17" in HPC_MD.read_text()


@pytest.mark.parametrize("engine", ["podman", "docker"])
def test_image_engines_run_read_only_without_network_as_the_user(study, shell_blocks, parse_container_runs, engine):
    settings = {**documented_settings(shell_blocks, study), "REGIONSERIES_ENGINE": engine,
                "REGIONSERIES_IMAGE": "localhost/regionseries:dev", "REGIONSERIES_ATLAS_DIR": str(study),
                "REGIONSERIES_CONTAINER_OPTIONS": "--env=OPENBLAS_CORETYPE=Haswell --memory 2g"}
    completed = run(study, ["bash", str(RECIPE / "participant.sh")],
                    {**settings, "SLURM_ARRAY_TASK_ID": "2", "SLURM_CPUS_PER_TASK": "2", "USER": "alice"})
    assert completed.returncode == 0, completed.stderr
    # podman takes docker's options; parse it as docker
    (container,) = parse_container_runs(shlex.join(["docker", *recorded(study, engine)]))
    assert ("--rm", None) in container.options and ("--read-only", None) in container.options
    assert container.values("--network") == ["none"] and container.values("--tmpfs") == ["/tmp"]
    assert container.values("-u") == [f"{os.getuid()}:{os.getgid()}"]
    assert container.values("--env") == ["OPENBLAS_CORETYPE=Haswell"] and container.values("--memory") == ["2g"]
    binds = container.binds()
    assert binds["/data:ro"] == str(study / "ds000001" / "derivatives" / "fmriprep")
    assert binds["/atlas:ro"] == str(study)
    assert set(binds) == {"/data:ro", "/out", "/work", "/cache", "/atlas:ro"}
    documented = documented_command(shell_blocks, "participant --participant-label 02", study)
    assert container.image == "localhost/regionseries:dev"
    assert container.arguments == documented[documented.index("regionseries.sif") + 1:]

    completed = run(study, ["bash", str(RECIPE / "group.sh")],
                    {**settings, "REGIONSERIES_CONTAINER_USER": "1234:1234"})
    assert completed.returncode == 0, completed.stderr
    (container,) = parse_container_runs(shlex.join(["docker", *recorded(study, engine)]))
    assert container.values("-u") == ["1234:1234"] and ("--read-only", None) in container.options
    assert container.values("--env") == ["OPENBLAS_CORETYPE=Haswell"] and container.values("--memory") == ["2g"]
    assert container.arguments[:3] == ["/data", "/out", "group"]


def test_native_engine_gives_regionseries_the_host_paths(study, shell_blocks):
    settings = {**documented_settings(shell_blocks, study), "REGIONSERIES_ENGINE": "native",
                "REGIONSERIES_ARGS": "", "REGIONSERIES_WORK_ROOT": str(study / "work"),
                "REGIONSERIES_CACHE_DIR": str(study / "cache")}
    completed = run(study, ["bash", str(RECIPE / "participant.sh")], {**settings, "SLURM_ARRAY_TASK_ID": "3"})
    assert completed.returncode == 0, completed.stderr
    fmriprep = study / "ds000001" / "derivatives"
    assert recorded(study, "regionseries") == [
        str(fmriprep / "fmriprep"), str(fmriprep / "regionseries"), "participant", "--participant-label", "03",
        "--work-dir", str(study / "work" / "sub-03"), "--cache-dir", str(study / "cache"), "--nprocs", "1"]


@pytest.mark.parametrize(("change", "message"), [
    ({"REGIONSERIES_ENGINE": "singularity"}, "REGIONSERIES_ENGINE must be native, apptainer, podman or docker"),
    ({"SLURM_ARRAY_TASK_ID": "4"}, "no participant on line 4 of participants.txt"),
])
def test_participant_task_refuses_what_it_cannot_run(study, shell_blocks, change, message):
    settings = {**documented_settings(shell_blocks, study), "SLURM_ARRAY_TASK_ID": "1", **change}
    completed = run(study, ["bash", str(RECIPE / "participant.sh")], settings)
    assert completed.returncode == 64
    assert message in completed.stderr
