"""Exit codes of the environment's faults (docs/usage.md, "Exit codes").

* 73: OUTPUT_DIR cannot be written (a read-only bind mount), whether it
  exists or is to be created, found before the dataset is indexed;
* 74: the disk is full (a small tmpfs as OUTPUT_DIR): a message saying so
  and where, no partial file, each run complete or absent, nothing left in
  $TMPDIR;
* 143: SIGTERM mid-job (what SLURM, ``docker stop`` and Kubernetes send),
  with one process and with worker processes: finished runs complete,
  unfinished runs absent, the work folder removed, no worker left behind;
  a rerun completes the rest.

The mounts need root (CI runs as root); without it these tests are skipped.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from regionseries import cli, job
from regionseries.demo import DatasetSpec, RunSpec, write_fmriprep_dataset

from ..conftest import TEST_N_VOLUMES, TEST_VOXEL_SIZE, leftover_files, run_cli

N_RUNS = 8
SPACE = "MNI152NLin2009cAsym"
REPOSITORY = Path(__file__).resolve().parents[2]
EXIT_CODES = sorted(value for name, value in vars(cli).items() if name.startswith("EXIT_") and isinstance(value, int))


@pytest.mark.parametrize("document", ["README.md", "docs/usage.md"])
def test_every_exit_code_is_in_the_documentation_tables(document):
    text = (REPOSITORY / document).read_text(encoding="utf-8")
    assert sorted(int(code) for code in re.findall(r"^\| (\d+) \|", text, flags=re.MULTILINE)) == EXIT_CODES


def test_every_exit_code_is_in_the_help_and_the_module_docstring():
    assert [code for code, _ in cli.DOCUMENTED_EXIT_CODES] == EXIT_CODES
    epilog = cli.build_parser().epilog
    assert all(f"{code} " in epilog for code in EXIT_CODES)
    assert all(re.search(rf"\b{code}\b", cli.__doc__) for code in EXIT_CODES)


@pytest.fixture(scope="module")
def eight_runs(tmp_path_factory) -> Path:
    """One participant with eight small runs."""
    root = tmp_path_factory.mktemp("eight-runs") / "fmriprep"
    runs = [RunSpec("01", None, "rest", str(k)) for k in range(1, N_RUNS + 1)]
    write_fmriprep_dataset(root, DatasetSpec(runs=runs, n_volumes=TEST_N_VOLUMES, voxel_size=TEST_VOXEL_SIZE, seed=2))
    return root


def _arguments(dataset: Path, output: Path, demo_atlas) -> list:
    image, table = demo_atlas
    return [dataset, output, "participant", "--atlas-file", f"Demo={image}:{table}", "--strategy", "simple",
            "--no-reports"]


def _mount(*arguments) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a read-only folder or a small tmpfs needs root (CI runs as root)")
    result = subprocess.run(["mount", *map(str, arguments)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"mount {' '.join(map(str, arguments))} failed: {result.stderr.strip()}")


def _unmount(target: Path) -> None:
    subprocess.run(["umount", str(target)], check=True)


@pytest.fixture
def read_only_folder(tmp_path):
    """An existing folder mounted read-only (a bind mount; root ignores file permissions)."""
    source, target = tmp_path / "source", tmp_path / "read-only"
    source.mkdir()
    target.mkdir()
    _mount("--bind", source, target)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(target)], check=True)
        yield target
    finally:
        _unmount(target)


@contextlib.contextmanager
def _tmpfs(target: Path, size: str):
    target.mkdir()
    _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", target)
    try:
        yield target
    finally:
        _unmount(target)


@pytest.fixture
def small_disk(tmp_path):
    """A 128 KiB tmpfs: room for the dataset-level files and a couple of runs."""
    with _tmpfs(tmp_path / "small-disk", "128k") as target:
        yield target


@pytest.fixture
def tiny_disk(tmp_path):
    """A 16 KiB tmpfs: too small for the pybids index."""
    with _tmpfs(tmp_path / "tiny-disk", "16k") as target:
        yield target


def _run_stems(output: Path) -> dict[str, list[Path]]:
    """Output files per run (``run-K``) below ``output``."""
    stems: dict[str, list[Path]] = {}
    for path in (output / "sub-01" / "func").glob("sub-01_task-rest_run-*"):
        stems.setdefault(path.name.split("_")[2], []).append(path)
    return stems


def _complete(files: list[Path]) -> bool:
    """The five outputs of one run (time series, matrix, QC) with a 'done' QC record."""
    qc = [p for p in files if p.name.endswith("_qc.json")]
    return len(files) == 5 and len(qc) == 1 and json.loads(qc[0].read_text())["Status"] == "done"


def _assert_each_run_complete_or_absent(output: Path) -> list[str]:
    """Every run's outputs are complete or absent, with no temporary file anywhere; the complete runs."""
    leftovers = leftover_files(output)
    assert not leftovers, f"partial files left: {leftovers}"
    stems = _run_stems(output)
    for run, files in stems.items():
        assert _complete(files), f"{run} is partial: {sorted(p.name for p in files)}"
    return sorted(stems)


# --------------------------------------------------------------------------------------
# 73: OUTPUT_DIR not writable
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("where", ["existing", "to be created"])
def test_read_only_output_exits_73_before_indexing(eight_runs, demo_atlas, read_only_folder, tmp_path, where):
    output = read_only_folder if where == "existing" else read_only_folder / "derivatives" / "regionseries"
    result = run_cli(*_arguments(eight_runs, output, demo_atlas), "-w", tmp_path / "work")
    assert result.returncode == 73, result.stderr
    assert f"OUTPUT_DIR {output} cannot be created or written into: Read-only file system" in result.stderr
    assert "indexing" not in result.stderr and not (tmp_path / "work" / "pybids").exists()
    assert "Traceback" not in result.stderr


def test_read_only_work_folder_exits_73(eight_runs, demo_atlas, read_only_folder, tmp_path):
    result = run_cli(*_arguments(eight_runs, tmp_path / "out", demo_atlas), "-w", read_only_folder / "work")
    assert result.returncode == 73, result.stderr
    assert f"--work-dir {read_only_folder / 'work'} cannot be created or written into: Read-only file system" \
        in result.stderr


def test_group_level_into_a_read_only_folder_exits_73(eight_runs, read_only_folder):
    result = run_cli(eight_runs, read_only_folder, "group")
    assert result.returncode == 73, result.stderr
    assert "cannot be created or written into: Read-only file system" in result.stderr


# --------------------------------------------------------------------------------------
# 74: disk full
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("nprocs", [1, 2])
def test_full_disk_exits_74_leaving_no_partial_file(eight_runs, demo_atlas, small_disk, tmp_path, nprocs):
    """With 2 processes the workers also draw report figures when the disk fills."""
    temporary = tmp_path / "tmpdir"
    temporary.mkdir()
    arguments = _arguments(eight_runs, small_disk, demo_atlas)
    if nprocs > 1:
        arguments = [a for a in arguments if a != "--no-reports"] + ["--nprocs", str(nprocs)]
    result = run_cli(*arguments, env={"TMPDIR": str(temporary)})
    assert result.returncode == 74, result.stderr
    assert "regionseries: stopped: disk full: no room to write" in result.stderr
    assert f"into {small_disk}" in result.stderr
    assert "Traceback" not in result.stderr
    complete = _assert_each_run_complete_or_absent(small_disk)
    assert len(complete) < N_RUNS
    assert f"{len(complete)} of {N_RUNS} run(s) complete; the {N_RUNS - len(complete)} unfinished" in result.stderr
    for run in complete:
        assert f"  complete: sub-01_task-rest_{run}_space-{SPACE}_desc-preproc_bold.nii.gz" in result.stderr
    assert not list(temporary.iterdir()), "the work folder is removed"


def test_full_work_folder_costs_only_the_caches(eight_runs, demo_atlas, tiny_disk, tmp_path):
    """$TMPDIR (where the default work folder goes) is full: the index is in memory and the
    operator cache is best effort, so the job finishes and leaves nothing behind."""
    filler = tiny_disk / "filler"
    with filler.open("wb") as stream, contextlib.suppress(OSError):
        stream.write(b"x" * 64 * 1024)
    result = run_cli(*_arguments(eight_runs, tmp_path / "out", demo_atlas), env={"TMPDIR": str(tiny_disk)})
    assert result.returncode == 0, result.stderr
    assert len(_assert_each_run_complete_or_absent(tmp_path / "out")) == N_RUNS
    assert list(tiny_disk.iterdir()) == [filler], "the work folder is removed"


def test_full_disk_for_the_shared_pybids_index_exits_74(eight_runs, demo_atlas, tiny_disk, tmp_path):
    database = tiny_disk / "pybids-db"
    result = run_cli(*_arguments(eight_runs, tmp_path / "out", demo_atlas), "--bids-database-dir", database)
    assert result.returncode == 74, result.stderr
    assert f"disk full: no room for the pybids index in {tiny_disk}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tiny_disk.iterdir()), "no half-written index is left"


# --------------------------------------------------------------------------------------
# 143: SIGTERM
# --------------------------------------------------------------------------------------

def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("nprocs", [1, 2])
def test_sigterm_mid_job_exits_143_and_a_rerun_completes(eight_runs, demo_atlas, tmp_path, nprocs):
    temporary = tmp_path / "tmpdir"
    temporary.mkdir()
    output = tmp_path / "out"
    arguments = [str(a) for a in _arguments(eight_runs, output, demo_atlas)] + ["--nprocs", str(nprocs)]
    env = dict(os.environ, TMPDIR=str(temporary), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    job = subprocess.Popen([sys.executable, "-m", "regionseries", *arguments], stderr=subprocess.PIPE, text=True,
                           env=env)
    console = []
    for line in job.stderr:
        console.append(line)
        if line.startswith("[1/"):
            # Stop the job where it is, so that it cannot finish before SIGTERM arrives.
            job.send_signal(signal.SIGSTOP)
            break
    workers = _children(job.pid)
    job.send_signal(signal.SIGTERM)
    job.send_signal(signal.SIGCONT)
    console += job.stderr.readlines()
    returncode = job.wait(timeout=120)
    stderr = "".join(console)
    assert returncode == 143, stderr
    assert "terminated (SIGTERM)" in stderr and "Traceback" not in stderr
    complete = _assert_each_run_complete_or_absent(output)
    assert 1 <= len(complete) < N_RUNS
    assert f"{len(complete)} of {N_RUNS} run(s) complete; the {N_RUNS - len(complete)} unfinished" in stderr
    assert not list(temporary.iterdir()), "the work folder is removed"
    deadline = time.monotonic() + 10
    while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in workers if _running(pid)], "worker processes outlived the job"

    rerun = run_cli(*arguments, env={"TMPDIR": str(temporary)})
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stderr.count("skipped (outputs exist)") == len(complete)
    assert _assert_each_run_complete_or_absent(output) == sorted(f"run-{k}" for k in range(1, N_RUNS + 1))



# A signal whose handler runs while the main thread is in a finaliser (``__del__``):
# the exception raised there is swallowed by Python ("Exception ignored in ...").
_STOP_IN_FINALISER = """
import signal, sys
from regionseries import cli, job

stop, hook = sys.argv[1:]
if hook == "hook":
    sys.unraisablehook = job.keep_swallowed_stop
if stop == "sigint":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signum, caught = signal.SIGINT, KeyboardInterrupt
else:
    signal.signal(signal.SIGTERM, cli._raise_terminated)
    signum, caught = signal.SIGTERM, job.Terminated


class Finalised:
    def __del__(self):
        signal.raise_signal(signum)  # its handler runs here, inside the finaliser


try:
    Finalised()
    print("went on")
    job.raise_swallowed_stop()  # between two runs
    print("finished")
except caught:
    print("stopped")
"""


@pytest.mark.parametrize("stop", ["sigint", "sigterm"])
def test_a_stop_swallowed_by_a_finaliser_is_raised_between_runs(stop):
    """A SIGINT or SIGTERM whose handler ran inside a ``__del__`` (during a garbage
    collection, in one CI run) still stops the job, at the end of the run it came in."""
    kept = subprocess.run([sys.executable, "-c", _STOP_IN_FINALISER, stop, "hook"],
                          capture_output=True, text=True, timeout=60)
    assert kept.stdout.split() == ["went", "on", "stopped"], kept.stderr
    assert "Exception ignored" not in kept.stderr
    # Python's own behaviour, which the hook corrects: the stop is printed and lost.
    lost = subprocess.run([sys.executable, "-c", _STOP_IN_FINALISER, stop, "none"],
                          capture_output=True, text=True, timeout=60)
    assert lost.stdout.split() == ["went", "on", "finished"]
    assert "Exception ignored" in lost.stderr


def test_the_command_line_keeps_swallowed_stops_and_gives_the_hook_back(monkeypatch, tmp_path):
    hooks = []
    monkeypatch.setattr(cli, "_main", lambda *args: hooks.append(sys.unraisablehook) or 0)
    before = sys.unraisablehook
    assert cli.main([str(tmp_path / "bids"), str(tmp_path / "out"), "participant"]) == 0
    assert hooks == [job.keep_swallowed_stop]
    assert sys.unraisablehook is before
