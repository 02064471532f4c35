"""What the image tests share: podman with this folder's settings, the commands
users run (in the container and on the host), timing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]

#: The image `make container-image` builds.
IMAGE = os.environ.get("REGIONSERIES_TEST_IMAGE", "localhost/regionseries:test")

#: A user that exists neither in the image nor on the host, as on a cluster.
CONTAINER_USER = (1234, 1234)

#: The participant level of the tests, with paths inside the container; the host
#: runs the same arguments with its own paths.
PARTICIPANT_ARGUMENTS = (
    "participant",
    "--atlas", "Schaefer2018:desc-100Parcels7Networks", "DiFuMo:desc-64dimensions",
    "--atlas-file", "Demo=/atlas/demo_dseg.nii.gz:/atlas/demo_dseg.tsv",
    "--spheres", "Power2011",
    "--strategy", "simple", "scrubbing",
    "--nprocs", "2",
)


@dataclass
class Completed:
    """One command that ran: its exit status, output and wall time (s)."""

    command: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def explain(self) -> str:
        return f"$ {' '.join(self.command)}\nexit {self.returncode}\n{self.stdout[-3000:]}\n{self.stderr[-6000:]}"


def run(command: list[str], *, env: dict | None = None, timeout: float = 600) -> Completed:
    """Run a command, capturing its output and timing it."""
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
    return Completed(command, completed.returncode, completed.stdout, completed.stderr,
                     time.perf_counter() - started)


def podman_environment() -> dict[str, str]:
    environment = dict(os.environ)
    environment.setdefault("CONTAINERS_CONF", str(HERE / "containers.conf"))
    return environment


def podman(*arguments: str, timeout: float = 600) -> Completed:
    """Run ``podman ARGUMENTS`` with the repository's containers.conf."""
    return run(["podman", *arguments], env=podman_environment(), timeout=timeout)


def host_command(demo_inputs: Path, output: Path, work: Path, level_arguments) -> list[str]:
    """The host's ``regionseries`` with the container's paths replaced by host paths."""
    replaced = [argument.replace("/atlas/", f"{demo_inputs / 'atlas'}/") for argument in level_arguments]
    return [sys.executable, "-m", "regionseries", str(demo_inputs / "fmriprep"), str(output),
            *replaced, "--work-dir", str(work)]


def container_command(image: str, output: Path, work: Path, demo_inputs: Path, level_arguments,
                      *, name: str, user=CONTAINER_USER, extra_options=()) -> list[str]:
    """``podman run`` as users are told to: read-only, no network, an arbitrary user."""
    return [
        "run", "--name", name, "--read-only", "--network", "none", "-u", f"{user[0]}:{user[1]}",
        "-v", f"{demo_inputs / 'fmriprep'}:/data:ro",
        "-v", f"{demo_inputs / 'atlas'}:/atlas:ro",
        "-v", f"{output}:/out",
        "-v", f"{work}:/work",
        *extra_options,
        image, "/data", "/out", *level_arguments, "--work-dir", "/work",
    ]


def writable_folder(path: Path, user=CONTAINER_USER) -> Path:
    """An empty folder owned by ``user`` (as a job's scratch folder is)."""
    path.mkdir(parents=True)
    os.chown(path, *user)
    return path


#: The CA bundle of a Debian host; pip inside a build must trust what the host trusts.
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def pip_trust_options(folder: Path) -> list[str]:
    """``podman build`` volumes giving pip the host's CA bundle, with a pip.conf written into ``folder``.

    ``build_image.sh`` runs this file as a script for the same options
    (``python image_helpers.py --pip-trust-options FOLDER``, one per line).
    """
    if not HOST_CA_BUNDLE.is_file() or not HOST_CA_BUNDLE.stat().st_size:
        return []
    pip_conf = folder / "pip.conf"
    pip_conf.write_text(f"[global]\ncert = {HOST_CA_BUNDLE}\n")
    return ["--volume", f"{HOST_CA_BUNDLE}:{HOST_CA_BUNDLE}:ro", "--volume", f"{pip_conf}:/etc/pip.conf:ro"]


if __name__ == "__main__":
    if sys.argv[1:2] != ["--pip-trust-options"] or len(sys.argv) != 3:
        sys.exit("usage: image_helpers.py --pip-trust-options FOLDER")
    for option in pip_trust_options(Path(sys.argv[2])):
        print(option)
