"""The image built from the repository's Dockerfile, run the way users run it.

Every container here runs with ``--read-only --network none`` as a user that
exists neither in the image nor on the host, and is compared with the host's
own install running the same command on the same files.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from compare_outputs import (
    is_relmat_copy,
    same_relmat_copies,
    to_host_paths,
    without_generation_time,
)
from image_helpers import (
    CONTAINER_USER,
    PARTICIPANT_ARGUMENTS,
    REPO_ROOT,
    container_command,
    host_command,
    pip_trust_options,
    podman,
    run,
    writable_folder,
)
from small_templateflow import ATLAS_SELECTION

import regionseries

#: OpenBLAS picks its kernel from the processor unless told; this machine kind
#: tells it (OPENBLAS_CORETYPE), so the container is told the same to compute
#: bit for bit what the host computes.
BLAS_ENVIRONMENT = tuple(f"--env={name}" for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if name in os.environ)

#: What ``podman diff`` may list after a run: the mount points podman creates,
#: and /etc, where it bind-mounts hosts, hostname, passwd and group (it lists
#: "C /etc" after `true` too).
ALLOWED_CHANGES = {"A /data", "A /atlas", "A /out", "A /work", "C /etc"}


def run_container(name: str, arguments: list[str], timings: dict | None = None):
    """Run a named container, return its result and ``podman diff``; remove it."""
    try:
        completed = podman(*arguments)
        changes = podman("diff", name)
        assert changes.returncode == 0, changes.explain()
        return completed, set(changes.stdout.split("\n")) - {""}
    finally:
        podman("rm", "--force", "--ignore", name)


def test_version_and_help(image):
    options = ["--rm", "--read-only", "--network", "none", "-u", f"{CONTAINER_USER[0]}:{CONTAINER_USER[1]}"]
    version = podman("run", *options, image, "--version")
    assert version.returncode == 0, version.explain()
    assert version.stdout.strip().endswith(regionseries.__version__)
    host = run([sys.executable, "-m", "regionseries", "--version"])
    assert version.stdout.split()[-1] == host.stdout.split()[-1]
    usage = podman("run", *options, image, "--help")
    assert usage.returncode == 0, usage.explain()
    assert "participant" in usage.stdout and "--atlas" in usage.stdout


def test_labels_name_the_base_the_version_and_the_atlases(image):
    inspected = podman("image", "inspect", "--format", "{{json .Labels}}", image)
    labels = json.loads(inspected.stdout)
    base = labels["org.opencontainers.image.base.name"]
    assert podman("image", "exists", base).returncode == 0, f"label names a base that is not here: {base}"
    assert labels["org.opencontainers.image.version"] == regionseries.__version__
    head = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0:
        assert labels["org.opencontainers.image.revision"] == head.stdout.strip()
    assert labels["org.regionseries.atlas-selection"] == " ".join(ATLAS_SELECTION)


def _output_files(root: Path) -> set[str]:
    return {path.relative_to(root).as_posix() for path in root.rglob("*")
            if path.is_file() and path.relative_to(root).parts[0] != "logs"}


def assert_same_outputs(host_output: Path, container_output: Path, paths: dict[str, str]) -> int:
    """Same files; tables, images and figures byte for byte; JSON and HTML equal
    once the container's paths are read as the host's (and, in HTML, whatever the
    minute each report was written in). Returns the files compared."""
    host_files, container_files = _output_files(host_output), _output_files(container_output)
    assert host_files == container_files, (
        f"only on the host: {sorted(host_files - container_files)[:10]}; "
        f"only from the container: {sorted(container_files - host_files)[:10]}"
    )
    different = []
    for relpath in sorted(host_files):
        host_bytes = (host_output / relpath).read_bytes()
        container_bytes = (container_output / relpath).read_bytes()
        if relpath.endswith(".json"):
            same = json.loads(host_bytes) == to_host_paths(json.loads(container_bytes), paths)
        elif relpath.endswith(".html"):
            same = (without_generation_time(host_bytes.decode())
                    == without_generation_time(to_host_paths(container_bytes.decode(), paths)))
        elif is_relmat_copy(relpath):
            same = same_relmat_copies(host_output / relpath, container_output / relpath)
        else:
            same = host_bytes == container_bytes
        if not same:
            different.append(relpath)
    assert not different, f"{len(different)} of {len(host_files)} files differ, e.g. {different[:5]}"
    return len(host_files)


def assert_owned_by(root: Path, user) -> None:
    others = [path for path in [root, *root.rglob("*")]
              if (path.lstat().st_uid, path.lstat().st_gid) != tuple(user)]
    assert not others, f"{len(others)} paths not owned by {user}, e.g. {others[:3]}"


def test_participant_and_group_levels_equal_a_host_run(image, demo_inputs, small_templateflow,
                                                       tmp_path_factory, timings):
    host_root = tmp_path_factory.mktemp("host")
    host_env = dict(os.environ, TEMPLATEFLOW_HOME=str(small_templateflow))
    host_participant = run(host_command(demo_inputs, host_root / "out", host_root / "work", PARTICIPANT_ARGUMENTS),
                           env=host_env)
    assert host_participant.returncode == 0, host_participant.explain()
    host_group = run(host_command(demo_inputs, host_root / "out", host_root / "work", ["group"]), env=host_env)
    assert host_group.returncode == 0, host_group.explain()

    root = tmp_path_factory.mktemp("container")
    output, work = writable_folder(root / "out"), writable_folder(root / "work")
    name = f"regionseries-test-participant-{os.getpid()}"
    participant, changes = run_container(name, container_command(
        image, output, work, demo_inputs, PARTICIPANT_ARGUMENTS, name=name, extra_options=BLAS_ENVIRONMENT))
    assert participant.returncode == 0, participant.explain()
    assert changes <= ALLOWED_CHANGES, f"written outside the mounts: {sorted(changes - ALLOWED_CHANGES)}"
    name = f"regionseries-test-group-{os.getpid()}"
    group, changes = run_container(name, container_command(
        image, output, work, demo_inputs, ["group"], name=name, extra_options=BLAS_ENVIRONMENT))
    assert group.returncode == 0, group.explain()
    assert changes <= ALLOWED_CHANGES, f"written outside the mounts: {sorted(changes - ALLOWED_CHANGES)}"

    compared = assert_same_outputs(host_root / "out", output, {
        "/data": str(demo_inputs / "fmriprep"), "/atlas": str(demo_inputs / "atlas"),
        "/out": str(host_root / "out"), "/work": str(host_root / "work"),
        "/templateflow": str(small_templateflow),
    })
    assert compared > 200
    assert_owned_by(output, CONTAINER_USER)
    assert_owned_by(work, CONTAINER_USER)
    timings["demo, participant level (3 participants, 7 runs, --nprocs 2)"] = (
        host_participant.seconds, participant.seconds)
    timings["demo, group level"] = (host_group.seconds, group.seconds)


def test_the_image_holds_exactly_its_selection_of_atlases(image):
    options = ["--rm", "--read-only", "--network", "none", "-u", f"{CONTAINER_USER[0]}:{CONTAINER_USER[1]}",
               "--entrypoint", "regionseries-fetch-atlases"]
    selected = podman("run", *options, image, "--check", *ATLAS_SELECTION)
    assert selected.returncode == 0, selected.explain()
    default_set = podman("run", *options, image, "--check")
    assert default_set.returncode != 0, "the default set is not in an image built with a small selection"
    assert "missing" in default_set.stdout + default_set.stderr


def test_an_atlas_missing_from_the_read_only_templateflow_home_is_named(image, demo_inputs, tmp_path):
    output, work = writable_folder(tmp_path / "out"), writable_folder(tmp_path / "work")
    name = f"regionseries-test-missing-atlas-{os.getpid()}"
    missing, changes = run_container(name, container_command(
        image, output, work, demo_inputs,
        ["participant", "--participant-label", "02", "--atlas", "Schaefer2018:desc-400Parcels7Networks"],
        name=name))
    assert missing.returncode == 66, missing.explain()
    message = missing.stderr + missing.stdout
    assert "/templateflow" in message and "400Parcels7Networks" in message, message
    assert "Traceback" not in message and "Read-only file system" not in message, message
    assert changes <= ALLOWED_CHANGES
    assert not list(output.rglob("*.tsv"))


def test_the_atlas_stage_builds_from_a_mirror(image, small_templateflow, tmp_path):
    """TEMPLATEFLOW_SOURCE as a mirror URL: an HTTP server on loopback serving the
    small TemplateFlow folder; the stage's files are the served ones, byte for byte."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(small_templateflow))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = json.loads(podman("image", "inspect", "--format", "{{json .Labels}}", image).stdout)[
        "org.opencontainers.image.base.name"]
    stage_image = f"localhost/regionseries-atlases:test-{os.getpid()}"
    try:
        built = podman(
            "build", "--quiet", "--layers", "--network", "host", "--target", "atlases",
            *pip_trust_options(tmp_path),
            "--build-arg", f"BASE_IMAGE={base}",
            "--build-arg", f"TEMPLATEFLOW_SOURCE=http://127.0.0.1:{server.server_port}",
            "--build-arg", f"ATLAS_SELECTION={' '.join(ATLAS_SELECTION)}",
            "--tag", stage_image, str(REPO_ROOT),
        )
        assert built.returncode == 0, built.explain()
        listing = podman("run", "--rm", "--network", "none", "--entrypoint", "sh", stage_image, "-c",
                         "cd /templateflow && find . -name '*.nii.gz' -size +0 | sort | xargs sha256sum")
        assert listing.returncode == 0, listing.explain()
    finally:
        server.shutdown()
        podman("rmi", "--force", stage_image)
    in_stage = dict(reversed(line.split(maxsplit=1)) for line in listing.stdout.splitlines())
    served = {
        "./" + path.relative_to(small_templateflow).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in small_templateflow.rglob("*.nii.gz") if path.stat().st_size
    }
    assert in_stage == served
