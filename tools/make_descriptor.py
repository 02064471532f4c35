"""Generate ``descriptor.json`` (Boutiques 0.5) from regionseries' argument parser.

The inputs come from ``regionseries.cli.build_parser()`` so the descriptor cannot
drift from the command line; what argparse does not hold (ids required by the
BIDS Apps execution specification, value ranges of the parser's type functions,
exit codes, outputs, container) is written here.

Usage::

    python tools/make_descriptor.py           # rewrite descriptor.json
    python tools/make_descriptor.py --check   # exit 1 if descriptor.json is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from regionseries import __version__, cli

REPO_ROOT = Path(__file__).resolve().parents[1]
DESCRIPTOR_PATH = REPO_ROOT / "descriptor.json"

#: Input ids required or reserved by the BIDS Apps execution specification (draft),
#: keyed by the parser's ``dest``.
BIDS_EXEC_IDS = {
    "bids_dir": "InputDataset",
    "output_dir": "OutputLocation",
    "analysis_level": "AnalysisLevel",
    "help": "Help",
    "version": "ToolVersion",
    "participant_label": "SubjectLabel",
    "session_label": "SessionLabel",
    "task": "TaskLabel",
}

#: Display names of the positional arguments, keyed by ``dest``.
POSITIONAL_NAMES = {
    "bids_dir": "Input dataset (fMRIPrep derivatives)",
    "output_dir": "Output location",
    "analysis_level": "Analysis level",
}

#: Boutiques type and numeric constraints for each type function the parser uses.
#: A type function missing here stops the generator: add it rather than guess.
TYPE_SPECS: dict[Callable | type, dict[str, Any]] = {
    Path: {"type": "File"},
    str: {"type": "String"},
    cli._positive_int: {"type": "Number", "integer": True, "minimum": 1},
    cli._positive_float: {"type": "Number", "minimum": 0, "exclusive-minimum": True},
    cli._non_negative_float: {"type": "Number", "minimum": 0},
    cli._fraction: {"type": "Number", "minimum": 0, "maximum": 1},
    cli._dummy_scans: {"type": "String"},  # a number of volumes or "auto"
}

#: Values argparse checks after parsing (not with ``choices``), keyed by ``dest``.
EXTRA_VALUE_CHOICES = {"connectivity": list(cli.CONNECTIVITY_CHOICES)}

ERROR_CODES = {
    cli.EXIT_OK: "Success",
    cli.EXIT_FAILURE: "Runtime failure (for example some runs failed; the others' outputs are kept and the failures listed)",
    cli.EXIT_INVALID_DATASET: "The input folder is not a BIDS derivatives dataset",
    cli.EXIT_USAGE: "Usage error: wrong or inconsistent command-line arguments",
    cli.EXIT_NO_INPUT: "No input found: missing input folder, unknown participant, no preprocessed BOLD, or missing atlas",
    cli.EXIT_CANT_CREATE: "The output folder cannot be created or written (checked before the dataset is indexed)",
    cli.EXIT_IO_ERROR: "Disk or quota full: the job stops; finished runs are complete, no partial file is left",
    cli.EXIT_INTERRUPTED: "Interrupted by SIGINT (finished outputs are complete, unfinished ones were not written)",
    cli.EXIT_TERMINATED: "Terminated by SIGTERM (finished outputs are complete, unfinished ones were not written)",
}

METADATA = {
    "name": "regionseries",
    "tool-version": __version__,
    "schema-version": "0.5",
    "description": (
        "BIDS-App: region time series and connectivity from fMRIPrep derivatives. Labels, "
        "probabilistic maps, spheres and regions from statistical maps are extracted in one pass "
        "over each BOLD file and cleaned with one or more confound strategies; outputs are "
        "BIDS-Derivatives time series, connectivity matrices and HTML reports, then a group level."
    ),
    "author": "The regionseries developers",
    "container-image": {"type": "docker", "image": f"regionseries:{__version__}"},
    "tags": {"domain": ["neuroinformatics", "fmri", "bids-app", "connectivity"]},
    "custom": {"BIDSApplicationVersion": "2.0"},
}

OUTPUT_FILES = [
    {
        "id": "output_dir",
        "name": "Output dataset",
        "description": "BIDS-Derivatives dataset: time series, connectivity, atlases, reports, logs, group level.",
        "path-template": "[OUTPUT_LOCATION]",
        "optional": False,
    },
    {
        "id": "dataset_description",
        "name": "Dataset description",
        "description": "dataset_description.json of the output dataset (DatasetType derivative, GeneratedBy).",
        "path-template": "[OUTPUT_LOCATION]/dataset_description.json",
        "optional": False,
    },
]


def input_id(action: argparse.Action, flag: str) -> str:
    """Boutiques id (letters, digits, underscores): the execution-spec id, else CamelCase of the flag."""
    if flag == "--no-detrend":
        return "NoDetrend"
    if action.dest in BIDS_EXEC_IDS:
        return BIDS_EXEC_IDS[action.dest]
    return "".join(part.capitalize() for part in flag.lstrip("-").replace("_", "-").split("-"))


def value_key(identifier: str) -> str:
    """Bracketed upper-case value key; brackets keep one key from containing another."""
    snake = "".join(f"_{c}" if c.isupper() and i else c for i, c in enumerate(identifier)).upper()
    return f"[{snake}]"


def canonical_flag(action: argparse.Action) -> str:
    """The first long option (``--participant-label`` rather than ``--participant_label``)."""
    longs = [option for option in action.option_strings if option.startswith("--")]
    return (longs or action.option_strings)[0]


def describe_help(action: argparse.Action) -> str:
    text = (action.help or "").replace("%%", "%")
    return text if text.endswith(".") else f"{text}."


def type_spec(action: argparse.Action) -> dict[str, Any]:
    type_function = action.type or str
    if type_function in TYPE_SPECS:
        return dict(TYPE_SPECS[type_function])
    if getattr(type_function, "__qualname__", "").startswith("_strip_prefix."):  # sub-/ses-/task- labels
        return {"type": "String"}
    raise SystemExit(f"make_descriptor: no Boutiques type for {action.dest}'s type {type_function!r}; add it to TYPE_SPECS")


def is_flag(action: argparse.Action) -> bool:
    return action.nargs == 0 or isinstance(
        action, (argparse._StoreTrueAction, argparse._CountAction, argparse._HelpAction, argparse._VersionAction)
    )


def inputs_for(action: argparse.Action) -> list[dict[str, Any]]:
    """One Boutiques input per action; two for a ``--x/--no-x`` pair."""
    if isinstance(action, argparse.BooleanOptionalAction):
        return [_flag_input(action, flag) for flag in action.option_strings]
    if not action.option_strings:
        return [_positional_input(action)]
    if is_flag(action):
        return [_flag_input(action, canonical_flag(action))]
    return [_option_input(action)]


def _base(action: argparse.Action, identifier: str, name: str) -> dict[str, Any]:
    return {
        "id": identifier,
        "name": name,
        "description": describe_help(action),
        "value-key": value_key(identifier),
    }


def _flag_input(action: argparse.Action, flag: str) -> dict[str, Any]:
    identifier = input_id(action, flag)
    entry = _base(action, identifier, flag.lstrip("-").replace("-", " ").capitalize())
    entry.update({"type": "Flag", "command-line-flag": flag, "optional": True})
    if flag.startswith("--no-") and isinstance(action, argparse.BooleanOptionalAction):
        entry["description"] = f"Negates {action.option_strings[0]}: {describe_help(action)}"
    return entry


def _positional_input(action: argparse.Action) -> dict[str, Any]:
    identifier = input_id(action, action.dest)
    entry = _base(action, identifier, POSITIONAL_NAMES[action.dest])
    entry.update(type_spec(action))
    entry["optional"] = False
    if action.choices:
        entry["value-choices"] = list(action.choices)
    return entry


def _option_input(action: argparse.Action) -> dict[str, Any]:
    flag = canonical_flag(action)
    identifier = input_id(action, flag)
    entry = _base(action, identifier, flag.lstrip("-").replace("-", " ").capitalize())
    entry.update(type_spec(action))
    entry.update({"command-line-flag": flag, "optional": True})
    many = action.nargs in ("+", "*") or isinstance(action, argparse._ExtendAction)
    if many:
        entry["list"] = True
        if action.nargs == "+":
            entry["min-list-entries"] = 1
    choices = list(action.choices) if action.choices else EXTRA_VALUE_CHOICES.get(action.dest)
    if choices:
        entry["value-choices"] = choices
    default = action.default
    if default not in (None, [], argparse.SUPPRESS):
        entry["default-value"] = [str(value) if isinstance(value, Path) else value for value in default] if many else default
    return entry


def mutually_exclusive_groups(parser: argparse.ArgumentParser) -> list[dict[str, Any]]:
    groups = []
    for action in parser._actions:
        if isinstance(action, argparse.BooleanOptionalAction):
            members = [input_id(action, flag) for flag in action.option_strings]
            groups.append({
                "id": f"{members[0].lower()}_choice",
                "name": f"{action.option_strings[0]} or {action.option_strings[1]}",
                "members": members,
                "mutually-exclusive": True,
            })
    return groups


def build_descriptor(parser: argparse.ArgumentParser | None = None) -> dict[str, Any]:
    """Build the descriptor as a dict (inputs in the parser's order)."""
    parser = parser or cli.build_parser()
    inputs = [entry for action in parser._actions for entry in inputs_for(action)]
    positional = [entry for entry in inputs if "command-line-flag" not in entry]
    options = [entry for entry in inputs if "command-line-flag" in entry]
    command_line = " ".join(["regionseries"] + [entry["value-key"] for entry in positional + options])
    descriptor = dict(METADATA)
    descriptor.update({
        "command-line": command_line,
        "inputs": positional + options,
        "groups": mutually_exclusive_groups(parser),
        "output-files": OUTPUT_FILES,
        "error-codes": [{"code": code, "description": text} for code, text in sorted(ERROR_CODES.items())],
    })
    return descriptor


def render(descriptor: dict[str, Any]) -> str:
    return json.dumps(descriptor, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    arguments = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    arguments.add_argument("--check", action="store_true", help="exit 1 if descriptor.json differs from the parser")
    arguments.add_argument("--output", type=Path, default=DESCRIPTOR_PATH, help="where to write (default: descriptor.json)")
    options = arguments.parse_args(argv)
    text = render(build_descriptor())
    if options.check:
        current = options.output.read_text() if options.output.exists() else ""
        if current != text:
            print(f"{options.output} is stale: run python tools/make_descriptor.py", file=sys.stderr)
            return 1
        return 0
    options.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
