"""descriptor.json (Boutiques 0.5): valid, generated from the parser, and simulated
command lines are accepted by the real parser."""

from __future__ import annotations

import argparse
import importlib.util
import json
import shlex
from pathlib import Path

import pytest
from boutiques import bosh

import regionseries
from regionseries import cli

REPO_ROOT = Path(__file__).resolve().parents[2]
DESCRIPTOR_PATH = REPO_ROOT / "descriptor.json"
DESCRIPTOR = json.loads(DESCRIPTOR_PATH.read_text())


def load_generator():
    spec = importlib.util.spec_from_file_location("make_descriptor", REPO_ROOT / "tools" / "make_descriptor.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GENERATOR = load_generator()


def coverage_problems(parser: argparse.ArgumentParser, descriptor: dict) -> list[str]:
    """What the parser has that the descriptor lacks, and the other way round."""
    inputs = descriptor["inputs"]
    flags = {entry["command-line-flag"] for entry in inputs if "command-line-flag" in entry}
    positional_ids = [entry["id"] for entry in inputs if "command-line-flag" not in entry]
    problems = []
    parser_options = set()
    positionals = []
    for action in parser._actions:
        if not action.option_strings:
            positionals.append(action.dest)
            continue
        parser_options.update(action.option_strings)
        wanted = action.option_strings if isinstance(action, argparse.BooleanOptionalAction) else None
        if wanted:
            problems += [f"descriptor lacks {flag}" for flag in wanted if flag not in flags]
        elif not flags & set(action.option_strings):
            problems.append(f"descriptor lacks {'/'.join(action.option_strings)}")
    problems += [f"parser lacks {flag}" for flag in sorted(flags - parser_options)]
    if len(positionals) != len(positional_ids):
        problems.append(f"positional arguments differ: parser {positionals}, descriptor {positional_ids}")
    return problems


def simulate(invocation: dict, tmp_path: Path) -> list[str]:
    """Run ``bosh exec simulate`` on an invocation; return the command as argv."""
    path = tmp_path / "invocation.json"
    path.write_text(json.dumps(invocation))
    result = bosh(["exec", "simulate", str(DESCRIPTOR_PATH), "-i", str(path)])
    assert result.exit_code == 0, result.error_message
    return shlex.split(result.shell_command)


def test_descriptor_is_what_the_generator_makes_from_the_parser():
    assert DESCRIPTOR_PATH.read_text() == GENERATOR.render(GENERATOR.build_descriptor()), (
        "descriptor.json is stale: run python tools/make_descriptor.py"
    )
    assert GENERATOR.main(["--check"]) == 0


def test_generator_check_reports_a_stale_file(tmp_path, capsys):
    stale = tmp_path / "descriptor.json"
    stale.write_text("{}\n")
    assert GENERATOR.main(["--check", "--output", str(stale)]) == 1
    assert f"{stale} is stale: run python tools/make_descriptor.py" in capsys.readouterr().err


def test_bosh_validate_accepts_the_descriptor():
    assert bosh(["validate", str(DESCRIPTOR_PATH)]) is None  # raises DescriptorValidationError otherwise


def test_bosh_validate_rejects_a_broken_descriptor(tmp_path):
    from boutiques.validator import DescriptorValidationError

    broken = dict(DESCRIPTOR, inputs=[dict(DESCRIPTOR["inputs"][0], id="input-dataset")] + DESCRIPTOR["inputs"][1:])
    path = tmp_path / "descriptor.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(DescriptorValidationError):
        bosh(["validate", str(path)])


def test_metadata_required_by_the_bids_apps_execution_spec():
    assert DESCRIPTOR["schema-version"] == "0.5"
    assert DESCRIPTOR["tool-version"] == regionseries.__version__
    assert DESCRIPTOR["custom"]["BIDSApplicationVersion"] == "2.0"
    assert DESCRIPTOR["container-image"] == {"type": "docker", "image": f"regionseries:{regionseries.__version__}"}
    assert DESCRIPTOR["command-line"].startswith("regionseries [INPUT_DATASET] [OUTPUT_LOCATION] [ANALYSIS_LEVEL] ")
    ids = {entry["id"] for entry in DESCRIPTOR["inputs"]}
    assert {"InputDataset", "OutputLocation", "AnalysisLevel", "Help", "ToolVersion", "SubjectLabel"} <= ids
    assert [entry["path-template"] for entry in DESCRIPTOR["output-files"]] == [
        "[OUTPUT_LOCATION]", "[OUTPUT_LOCATION]/dataset_description.json"
    ]


def test_error_codes_are_the_cli_exit_codes():
    codes = {entry["code"] for entry in DESCRIPTOR["error-codes"]}
    exits = {value for name, value in vars(cli).items() if name.startswith("EXIT_")}
    assert codes == exits
    assert {0, 1, 64, 66} <= codes


def test_every_cli_option_is_in_the_descriptor_and_back():
    assert coverage_problems(cli.build_parser(), DESCRIPTOR) == []


def test_coverage_check_catches_a_missing_option_either_way():
    parser = cli.build_parser()
    parser.add_argument("--brand-new-option", type=int)
    assert coverage_problems(parser, DESCRIPTOR) == ["descriptor lacks --brand-new-option"]

    without_nprocs = dict(DESCRIPTOR, inputs=[e for e in DESCRIPTOR["inputs"] if e["id"] != "Nprocs"])
    assert coverage_problems(cli.build_parser(), without_nprocs) == ["descriptor lacks --nprocs/--nthreads/--n-cpus/--n_cpus"]

    extra = dict(DESCRIPTOR, inputs=DESCRIPTOR["inputs"] + [dict(DESCRIPTOR["inputs"][-1], id="Gone", **{"command-line-flag": "--gone"})])
    assert coverage_problems(cli.build_parser(), extra) == ["parser lacks --gone"]


def test_choices_and_defaults_match_the_parser():
    by_flag = {entry.get("command-line-flag"): entry for entry in DESCRIPTOR["inputs"]}
    for action in cli.build_parser()._actions:
        if not action.option_strings or isinstance(action, argparse.BooleanOptionalAction):
            continue
        entry = by_flag.get(GENERATOR.canonical_flag(action))
        if action.choices:
            assert entry["value-choices"] == list(action.choices), action.dest
        if entry["type"] != "Flag" and action.default not in (None, []):
            assert entry["default-value"] == action.default, action.dest


def test_unknown_type_function_stops_the_generator():
    parser = cli.build_parser()
    parser.add_argument("--odd", type=lambda text: text)
    with pytest.raises(SystemExit, match=r"no Boutiques type for odd's type"):
        GENERATOR.build_descriptor(parser)


INVOCATIONS = {
    "minimal participant": (
        {"InputDataset": "/data/fmriprep", "OutputLocation": "/data/regionseries", "AnalysisLevel": "participant"},
        {"bids_dir": Path("/data/fmriprep"), "analysis_level": "participant", "nprocs": 1, "strategy": ["simple"]},
    ),
    "full participant": (
        {
            "InputDataset": "/data/fmriprep", "OutputLocation": "/out", "AnalysisLevel": "participant",
            "SubjectLabel": ["01", "sub-02"], "SessionLabel": ["1"], "TaskLabel": ["rest"],
            "Space": ["MNI152NLin6Asym:res-2"], "BidsFilterFile": "/filters.json", "WorkDir": "/work",
            "Atlas": ["Schaefer2018:desc-400Parcels7Networks", "DiFuMo:desc-64dimensions"],
            "AtlasFile": ["Mine=/atlases/mine_dseg.nii.gz:/atlases/mine_dseg.tsv"],
            "Spheres": ["Power2011"], "Radius": 6, "RegionsFrom": ["Motor=/maps/zstat1.nii.gz"],
            "Threshold": "97%", "MinRegionSize": 500, "ExtractType": "connected_components",
            "Strategy": ["simple", "scrubbing"], "LowPass": 0.08, "HighPass": 0.01, "Filter": "butterworth",
            "NoDetrend": True, "Standardize": "zscore_sample", "FdThreshold": 0.5, "StdDvarsThreshold": 1.5,
            "DummyScans": "auto", "SmoothingFwhm": 6, "MinCoverage": 0.7,
            "Connectivity": ["correlation", "partial-correlation"], "ConnectivityEstimator": "ledoit-wolf",
            "Nprocs": 4, "Overwrite": True, "SkipBidsValidation": True, "NoReports": True, "Verbose": True,
        },
        {
            "participant_label": ["01", "02"], "session_label": ["1"], "task": ["rest"], "detrend": False,
            "atlas": ["Schaefer2018:desc-400Parcels7Networks", "DiFuMo:desc-64dimensions"], "threshold": "97%",
            "dummy_scans": "auto", "connectivity": ["correlation", "partial-correlation"], "nprocs": 4,
            "radius": 6.0, "work_dir": Path("/work"), "overwrite": True, "no_reports": True, "verbose": 1,
        },
    ),
    "group": (
        {"InputDataset": "/data/fmriprep", "OutputLocation": "/out", "AnalysisLevel": "group",
         "MaxMeanFd": 0.3, "MinKeptFraction": 0.6},
        {"analysis_level": "group", "max_mean_fd": 0.3, "min_kept_fraction": 0.6},
    ),
}


@pytest.mark.parametrize("name", list(INVOCATIONS))
def test_simulated_command_lines_are_accepted_by_the_parser(name, tmp_path):
    invocation, expected = INVOCATIONS[name]
    argv = simulate(invocation, tmp_path)
    assert argv[0] == "regionseries"
    namespace = cli.build_parser().parse_args(argv[1:])  # SystemExit(64) if rejected
    for dest, value in expected.items():
        assert getattr(namespace, dest) == value, dest


def test_bosh_example_invocation_simulates_to_an_accepted_command(tmp_path):
    example = json.loads(str(bosh(["example", str(DESCRIPTOR_PATH)])))
    argv = simulate(example, tmp_path)
    namespace = cli.build_parser().parse_args(argv[1:])
    assert namespace.analysis_level == example["AnalysisLevel"]


def test_negatable_flags_form_a_mutually_exclusive_group():
    assert DESCRIPTOR["groups"] == [{
        "id": "detrend_choice", "name": "--detrend or --no-detrend",
        "members": ["Detrend", "NoDetrend"], "mutually-exclusive": True,
    }]
