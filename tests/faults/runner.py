"""Running a case: the workspace, the command line, the environment procedures, and what is observed.

A procedure prepares the environment fault (if any), runs the real command
line (``python -m regionseries`` in a subprocess) and returns an
:class:`Observation`. The checks of the expectations are in
``test_faults.py``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .dataset import OTHERS, copy_inputs, job_arguments

#: Drop the capabilities that let root read and write whatever the file modes say.
WITHOUT_DAC_OVERRIDE = ["setpriv", "--inh-caps=-dac_override,-dac_read_search",
                        "--bounding-set=-dac_override,-dac_read_search"]
#: Name of OUTPUT_DIR in every workspace (messages about the output folder must name it).
OUTPUT_NAME = "regionseries-out"
#: Extra runs of the signal cases: enough that a signal after the second run lands mid-job
#: (each takes ~0.05 s, so the rest of the job lasts ~2 s; the test asserts the job was
#: still running when signalled).
EXTRA_RUNS_FOR_SIGNALS = 48


@dataclass
class Workspace:
    """The folders of one case: a copy of the clean inputs, OUTPUT_DIR and a private TMPDIR."""

    root: Path
    inputs: Path
    output: Path
    tmpdir: Path

    @classmethod
    def create(cls, root: Path, clean_inputs: Path) -> Workspace:
        tmpdir = root / "tmp"
        tmpdir.mkdir(parents=True)
        return cls(root=root, inputs=copy_inputs(clean_inputs, root / "inputs"), output=root / OUTPUT_NAME,
                   tmpdir=tmpdir)

    def arguments(self, *extra: str) -> list[str]:
        return [*job_arguments(self.inputs, self.output), *extra]


@dataclass
class Job:
    """One finished command line."""

    returncode: int
    stderr: str


@dataclass
class Observation:
    """What a procedure saw: the jobs of the case (usually one) and, after recovery, a rerun."""

    jobs: list[Job]
    rerun: Job | None = None
    #: TMPDIR listing right after the jobs (a SIGKILLed job cannot remove its work folder).
    tmpdir_after_jobs: list[str] = field(default_factory=list)


def environment(workspace: Workspace) -> dict[str, str]:
    env = dict(os.environ, TMPDIR=str(workspace.tmpdir), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1")
    return env


def command(arguments: list[str], unprivileged: bool = False) -> list[str]:
    prefix = WITHOUT_DAC_OVERRIDE if unprivileged else []
    return [*prefix, sys.executable, "-m", "regionseries", *arguments]


def run(workspace: Workspace, arguments: list[str], unprivileged: bool = False, timeout: float = 120) -> Job:
    done = subprocess.run(command(arguments, unprivileged), check=False, capture_output=True, text=True,
                          env=environment(workspace), timeout=timeout)
    return Job(done.returncode, done.stderr)


def tree_state(root: Path) -> dict[str, tuple]:
    """Relative path -> (kind, mode, size, mtime_ns, sha1 or link target) of everything below ``root``."""
    state = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        if path.is_symlink():
            content = os.readlink(path)
        elif path.is_file():
            content = hashlib.sha1(path.read_bytes()).hexdigest() if info.st_mode & 0o444 else "unreadable"
        else:
            content = ""
        state[str(path.relative_to(root))] = (info.st_mode, info.st_size, info.st_mtime_ns, content)
    return state


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


# --------------------------------------------------------------------------------------
# Procedures
# --------------------------------------------------------------------------------------


def run_job(workspace: Workspace, unprivileged: bool = False) -> Observation:
    """The default procedure: the job once, as is."""
    job = run(workspace, workspace.arguments(), unprivileged=unprivileged)
    return Observation([job], tmpdir_after_jobs=listing(workspace.tmpdir))


def _mount(*arguments: str) -> None:
    """``mount ARGUMENTS``; the case is skipped, saying why, where mounting is not allowed
    (not root, or a container without CAP_SYS_ADMIN; CI runs as root on a machine that can)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a read-only folder or a small tmpfs needs root (CI runs as root)")
    result = subprocess.run(["mount", *arguments], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"mount {' '.join(arguments)} failed: {result.stderr.strip()}")


@contextmanager
def read_only_mount(folder: Path):
    """``folder`` bind-mounted read-only onto itself (root cannot write there either)."""
    _mount("--bind", str(folder), str(folder))
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=True)
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@contextmanager
def small_tmpfs(folder: Path, size_kib: int):
    folder.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(folder))
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def read_only_output(workspace: Workspace) -> Observation:
    """OUTPUT_DIR exists, on a read-only mount (a scratch quota, a read-only bind mount in a container)."""
    workspace.output.mkdir()
    with read_only_mount(workspace.output):
        return run_job(workspace)


def read_only_parent(workspace: Workspace) -> Observation:
    """OUTPUT_DIR does not exist and its parent is read-only."""
    parent = workspace.root / "readonly-parent"
    parent.mkdir()
    workspace.output = parent / OUTPUT_NAME
    with read_only_mount(parent):
        return run_job(workspace)


def output_is_a_file(workspace: Workspace) -> Observation:
    """OUTPUT_DIR names an existing regular file."""
    workspace.output.write_text("not a folder\n")
    return run_job(workspace)


#: Room on the small file system: the dataset-level files, the atlases and about one run (4 KiB blocks).
DISK_FULL_SIZE_KIB = 160


def disk_full(workspace: Workspace) -> Observation:
    """OUTPUT_DIR on a tmpfs too small for all the outputs."""
    with small_tmpfs(workspace.output, DISK_FULL_SIZE_KIB):
        observation = run_job(workspace)
        # what was written must be checked while the file system is still mounted: copy it out
        kept = workspace.root / "disk-full-contents"
        shutil.copytree(workspace.output, kept, symlinks=True)
    shutil.rmtree(workspace.output)
    kept.rename(workspace.output)
    return observation


def add_runs_for_signals(dataset: Path) -> None:
    """``sub-03`` with many copies of ``sub-02``'s run (hard links), so that the job lasts a few seconds."""
    source = dataset / OTHERS[1].folder
    target = dataset / "sub-03" / "func"
    target.mkdir(parents=True)
    for number in range(1, EXTRA_RUNS_FOR_SIGNALS + 1):
        for path in source.iterdir():
            name = path.name.replace("sub-02_", "sub-03_").replace("run-1_", f"run-{number}_")
            os.link(path, target / name)
    (dataset / "sub-03.html").write_text("<html></html>")


def _default_sigint() -> None:
    """In the job's process before exec: Ctrl-C as in a terminal's foreground job.

    A process inherits an ignored SIGINT, and Python then keeps ignoring it, as
    it should: a non-interactive shell starts its background commands that way
    (``cmd &``). The test suite itself may run like that (a CI script started in
    the background: the job then ran all its runs and exited 0, reproduced by
    running this case under a parent that ignores SIGINT), so the job is started
    with the disposition a user's Ctrl-C meets.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _signal_mid_job(workspace: Workspace, signum: int) -> Observation:
    """The job, signalled when the second run is done; then the same job again (the dataset has extra runs)."""
    log = workspace.root / "signalled-job.stderr"
    with open(log, "w") as stderr:
        process = subprocess.Popen(command(workspace.arguments()), stderr=stderr, text=True,
                                   env=environment(workspace), preexec_fn=_default_sigint)
        while process.poll() is None and "\n[2/" not in log.read_text():
            time.sleep(0.02)
        assert process.poll() is None, "the job ended before it could be signalled: the test must make it longer"
        process.send_signal(signum)
        process.wait(timeout=120)
    job = Job(process.returncode, log.read_text())
    after_jobs = listing(workspace.tmpdir)
    rerun = run(workspace, workspace.arguments())
    return Observation([job], rerun=rerun, tmpdir_after_jobs=after_jobs)


def sigterm_mid_job(workspace: Workspace) -> Observation:
    """SIGTERM (SLURM, docker stop, Kubernetes) after two runs are finished, then the same job again."""
    return _signal_mid_job(workspace, signal.SIGTERM)


def sigkill_mid_job(workspace: Workspace) -> Observation:
    """SIGKILL (out-of-memory killer, SLURM after the grace period), then the same job again."""
    return _signal_mid_job(workspace, signal.SIGKILL)


def sigint_mid_job(workspace: Workspace) -> Observation:
    """Ctrl-C after two runs are finished, then the same job again."""
    return _signal_mid_job(workspace, signal.SIGINT)


def _concurrent(workspace: Workspace, labels: list[str]) -> Observation:
    processes = [subprocess.Popen(command(workspace.arguments("--participant-label", label)),
                                  stderr=subprocess.PIPE, text=True, env=environment(workspace))
                 for label in labels]
    jobs = []
    for process in processes:
        _, stderr = process.communicate(timeout=120)
        jobs.append(Job(process.returncode, stderr))
    return Observation(jobs, tmpdir_after_jobs=listing(workspace.tmpdir))


def concurrent_participants(workspace: Workspace) -> Observation:
    """Two participant jobs (a job array) writing into one OUTPUT_DIR at the same time."""
    return _concurrent(workspace, ["01", "02"])


def concurrent_same_participant(workspace: Workspace) -> Observation:
    """The same participant submitted twice at the same time (a resubmitted array task)."""
    return _concurrent(workspace, ["01", "01", "02"])
