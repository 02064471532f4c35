""".circleci/config.yml: schema-valid, and the jobs do what the shipping issue asks.

CircleCI itself cannot run here; the config is checked against the CircleCI schema
vendored in check-jsonschema, and its structure and shell commands are read and
asserted: the app command lines go through the real argument parser, the helper
scripts run on small inputs.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import sysconfig
from pathlib import Path, PurePosixPath

import pytest
from ruamel.yaml import YAML

import regionseries

REPO_ROOT = Path(__file__).resolve().parents[2]
CIRCLECI = REPO_ROOT / ".circleci"
CONFIG_PATH = CIRCLECI / "config.yml"
CONFIG = YAML(typ="safe").load(CONFIG_PATH.read_text())


def check_jsonschema(path: Path) -> subprocess.CompletedProcess:
    executable = Path(sysconfig.get_path("scripts")) / "check-jsonschema"
    assert executable.is_file(), "check-jsonschema is missing: install the test extras"
    return subprocess.run(
        [str(executable), "--builtin-schema", "vendor.circle-ci", str(path)],
        capture_output=True, text=True, timeout=60,
    )


def job_scripts(job: str) -> list[str]:
    """The shell scripts of a job's ``run`` steps (commands expanded)."""
    steps = list(CONFIG["jobs"][job]["steps"])
    expanded = []
    for step in steps:
        name = step if isinstance(step, str) else next(iter(step))
        if name in CONFIG.get("commands", {}):
            expanded += CONFIG["commands"][name]["steps"]
        else:
            expanded.append(step)
    scripts = []
    for step in expanded:
        if isinstance(step, dict) and "run" in step:
            run = step["run"]
            scripts.append(run if isinstance(run, str) else run["command"])
    return scripts


def step_names(job: str) -> list[str]:
    return [step if isinstance(step, str) else next(iter(step)) for step in CONFIG["jobs"][job]["steps"]]


def test_config_passes_the_circleci_schema():
    completed = check_jsonschema(CONFIG_PATH)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "ok -- validation done" in completed.stdout


def test_schema_check_catches_a_misspelled_key(tmp_path):
    broken = tmp_path / "config.yml"
    broken.write_text(CONFIG_PATH.read_text().replace("    steps:\n", "    step:\n", 1))
    completed = check_jsonschema(broken)
    assert completed.returncode == 1, completed.stdout


def test_workflow_jobs_exist_and_deploy_runs_only_on_release_tags():
    workflow = CONFIG["workflows"]["build_test_deploy"]["jobs"]
    entries = {next(iter(job)): next(iter(job.values())) for job in workflow}
    assert set(entries) == set(CONFIG["jobs"]) == {"build", "unit_tests", "demo", "deploy"}
    for name, settings in entries.items():
        for required in settings.get("requires", []):
            assert required in entries, f"{name} requires unknown job {required}"
        # a tag-triggered workflow runs a job only if it and all its upstream jobs accept tags
        assert "only" in settings["filters"]["tags"], name
    deploy = entries["deploy"]
    assert deploy["filters"]["branches"] == {"ignore": "/.*/"}
    assert set(deploy["requires"]) == {"unit_tests", "demo"}
    assert deploy["context"] == "dockerhub"
    import re

    tag_pattern = re.compile(deploy["filters"]["tags"]["only"].strip("/"))
    assert tag_pattern.match(f"v{regionseries.__version__.split('.dev')[0]}")
    assert tag_pattern.match("0.2.0") and not tag_pattern.match("latest")


def test_jobs_build_on_a_machine_executor_with_docker():
    executor = CONFIG["executors"]["docker-machine"]
    assert "machine" in executor, "building images needs the machine executor"
    for job in CONFIG["jobs"].values():
        assert job["executor"] == "docker-machine"


def test_version_extraction_matches_the_package(parse_shell_commands):
    """build and deploy read the version with sed; it must give regionseries.__version__."""
    for job in ("build", "deploy"):
        assignments = [line for script in job_scripts(job) for line in script.splitlines() if line.strip().startswith("VERSION=")]
        assert len(assignments) == 1, job
        completed = subprocess.run(
            ["bash", "-c", f"set -euo pipefail; {assignments[0].strip()}; printf %s \"$VERSION\""],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=30,
        )
        assert completed.stdout == regionseries.__version__, completed.stderr


def test_deploy_refuses_a_tag_that_differs_from_the_version():
    script = job_scripts("deploy")[-1]
    guard = script.split("echo \"${DOCKER_PASS}\"")[0]  # everything before the login
    for tag, status in ((f"v{regionseries.__version__}", 0), (regionseries.__version__, 0), ("v9.9.9", 1)):
        completed = subprocess.run(
            ["bash", "-c", f"set -euo pipefail\n{guard}"], cwd=REPO_ROOT, capture_output=True, text=True,
            env={"CIRCLE_TAG": tag, "PATH": "/usr/bin:/bin"}, timeout=30,
        )
        assert completed.returncode == status, (tag, completed.stderr)
    assert "does not match the package version" in completed.stderr


def test_image_is_passed_between_jobs_through_the_workspace():
    assert "persist_to_workspace" in step_names("build")
    for job in ("unit_tests", "demo", "deploy"):
        assert "load_image" in step_names(job), job
    loads = [line for line in job_scripts("demo") if "docker load" in line]
    assert loads == ["docker load --input /tmp/workspace/regionseries.tar.gz"]


def test_unit_tests_run_inside_the_image_on_the_installed_package(parse_container_runs):
    (run,) = [r for script in job_scripts("unit_tests") for r in parse_container_runs(script)]
    assert run.image == "regionseries:ci"
    assert run.values("--entrypoint") == ["/bin/bash"]
    assert run.arguments == ["/src/.circleci/unit_tests_in_image.sh", "/results"]
    assert run.binds()["/src:ro"] == "${PWD}"
    assert "store_test_results" in step_names("unit_tests")
    script = (CIRCLECI / "unit_tests_in_image.sh").read_text()
    entrypoint = json.loads(next(line.split(None, 1)[1] for line in (REPO_ROOT / "Dockerfile").read_text().splitlines()
                                 if line.startswith("ENTRYPOINT")))[0]
    image_python = str(PurePosixPath(entrypoint).parent / "python")
    assert f"python={image_python}" in script, "tests must run on the image's own installation"
    assert "/src/tests" in script and "pip install -e" not in script


def test_unit_test_script_is_valid_bash_and_reads_the_test_extras(tmp_path):
    script = CIRCLECI / "unit_tests_in_image.sh"
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True, timeout=30).returncode == 0
    extraction = script.read_text().split("<<'PY'\n", 1)[1].split("\nPY\n", 1)[0]
    completed = subprocess.run(
        ["python3", "-c", extraction.replace("/src/pyproject.toml", str(REPO_ROOT / "pyproject.toml"))],
        capture_output=True, text=True, timeout=30,
    )
    import tomllib

    extras = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["test"]
    assert completed.stdout.splitlines() == extras


def app_runs(parse_container_runs, job: str):
    return [
        run for script in job_scripts(job) for run in parse_container_runs(script)
        if run.image == "regionseries:ci" and not run.values("--entrypoint")
    ]


@pytest.mark.parametrize("job", ["build", "demo"])
def test_app_runs_read_only_without_network_as_the_calling_user(parse_container_runs, job):
    runs = app_runs(parse_container_runs, job)
    assert runs, job
    for run in runs:
        flags = {option for option, _ in run.options}
        assert {"--read-only", "--rm"} <= flags
        assert run.values("--network") == ["none"]
        assert run.values("-u") == ["$(id -u):$(id -g)"]
        assert run.values("--tmpfs") == ["/tmp"]


def test_demo_runs_participant_then_group_with_input_read_only(parse_container_runs):
    participant, group = app_runs(parse_container_runs, "demo")
    assert participant.arguments[:3] == ["/data", "/out", "participant"]
    assert group.arguments[:3] == ["/data", "/out", "group"]
    for run in (participant, group):
        binds = run.binds()
        assert "/data:ro" in binds and "/out" in binds and "/work" in binds
        for argument in run.arguments:
            if argument.startswith("/"):
                assert any(argument.split(":")[0].startswith(target.split(":")[0]) for target in binds), argument
    assert "--atlas" in participant.arguments, "pre-fetched TemplateFlow atlases must be used offline"


def test_app_command_lines_are_accepted_by_the_parser(parse_container_runs):
    from regionseries import cli

    (smoke,) = app_runs(parse_container_runs, "build")
    assert smoke.arguments == ["--version"]
    participant, group = app_runs(parse_container_runs, "demo")
    arguments = cli.build_parser().parse_args(participant.arguments)
    assert arguments.atlas == ["Schaefer2018:desc-100Parcels7Networks", "DiFuMo:desc-64dimensions"]
    assert arguments.strategy == ["simple", "scrubbing"] and arguments.work_dir == Path("/work")
    assert cli.build_parser().parse_args(group.arguments).analysis_level == "group"


def test_list_outputs_script_lists_relative_sorted_paths_without_logs(tmp_path):
    for relpath in ("sub-01/func/b.tsv", "sub-01/func/B.tsv", "logs/run_20260101.log", "dataset_description.json",
                    ".bidsignore", "sub-01/figures/a.png", "sub-01/figures/b.svg", "group/figures/c.png"):
        (tmp_path / relpath).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relpath).write_text("")
    (tmp_path / "sub-02" / "figures").mkdir(parents=True)  # an empty figures folder is not listed
    completed = subprocess.run(
        [str(CIRCLECI / "list_outputs.sh"), str(tmp_path)], capture_output=True, text=True, check=True, timeout=30
    )
    assert completed.stdout.splitlines() == [".bidsignore", "dataset_description.json", "group/figures/",
                                             "sub-01/figures/", "sub-01/func/B.tsv", "sub-01/func/b.tsv"]


def test_demo_output_list_is_the_local_demo_plus_the_templateflow_atlases(parse_container_runs):
    """The CI list = the list pinned by tests/demo/test_demo.py (checked against a real local
    demo run) + the outputs of the TemplateFlow atlases only CI has + one line per figures folder.
    Keeps the two lists from drifting apart (CI cannot be run here)."""
    from regionseries.atlases.templateflow import TemplateFlowRequest

    participant, _ = app_runs(parse_container_runs, "demo")
    arguments = participant.arguments
    specs = arguments[arguments.index("--atlas") + 1:]
    specs = specs[:next((k for k, a in enumerate(specs) if a.startswith("--")), len(specs))]
    labels = [TemplateFlowRequest.parse(spec).label for spec in specs]
    assert labels == ["Schaefer2018100Parcels7Networks", "DiFuMo64dimensions"]
    listing = (CIRCLECI / "demo_outputs.txt").read_text().splitlines()
    local = (REPO_ROOT / "tests" / "demo" / "data" / "demo_outputs.txt").read_text().split()
    figure_folders = [line for line in listing if line.endswith("/figures/")]
    assert figure_folders == ["group/figures/", "sub-01/figures/", "sub-02/figures/", "sub-03/figures/"]
    templateflow = [line for line in listing if any(f"atlas-{label}_" in line for label in labels)]
    for label in labels:
        assert len([line for line in templateflow if f"atlas-{label}_" in line]) > 20, label
    assert sorted(set(listing) - set(templateflow) - set(figure_folders)) == sorted(local)


def test_demo_output_list_is_compared_and_outputs_are_stored():
    compare = next(script for script in job_scripts("demo") if "diff -u" in script)
    assert "diff -u .circleci/demo_outputs.txt /tmp/demo_outputs.txt" in compare
    assert "store_artifacts" in step_names("demo")
    listing = (CIRCLECI / "demo_outputs.txt").read_text().splitlines()
    assert listing, "the expected demo output list is empty"
    assert listing == sorted(listing, key=lambda line: line.encode()), "must be sorted as LC_ALL=C sort"
    assert not [line for line in listing if line.startswith("logs/")], "logs are excluded from the comparison"
    assert "dataset_description.json" in listing


def test_demo_data_script_uses_the_demo_generators():
    import regionseries.demo as demo

    assert list(inspect.signature(demo.write_fmriprep_dataset).parameters) == ["root", "spec"]
    assert list(inspect.signature(demo.demo_dataset_spec).parameters) == []
    assert list(inspect.signature(demo.write_demo_atlas).parameters)[0] == "folder"
    completed = subprocess.run(
        [sys.executable, str(CIRCLECI / "make_demo_data.py")], capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 64
    assert completed.stderr == "usage: python make_demo_data.py OUTDIR\n"
