"""Fixtures for the shipping tests: the shell blocks of the Markdown docs and the commands in them.

``fenced_blocks`` reads a Markdown text's code blocks; ``parse_shell_commands``
and ``parse_container_runs`` split a script into commands and ``docker run`` /
``apptainer run`` calls. The fake TemplateFlow server that the documented
download commands run against is in tests/conftest.py (the atlas tests use it too).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

import pytest


def fenced_blocks(markdown: str, languages=("bash", "sh")) -> list[str]:
    """Bodies of the fenced code blocks of a Markdown text in the given languages."""
    blocks, body, language = [], None, None
    for line in markdown.splitlines():
        fence = line.strip()
        if body is None and fence.startswith("```"):
            language, body = fence[3:].strip(), []
        elif body is not None and fence == "```":
            if language in languages:
                blocks.append("\n".join(body) + "\n")
            body = None
        elif body is not None:
            body.append(line)
    assert body is None, "unclosed code fence"
    return blocks


@pytest.fixture(scope="session")
def shell_blocks():
    """``shell_blocks(path)`` -> the bash blocks of a Markdown file."""
    return lambda path: fenced_blocks(path.read_text())


#: Options of ``docker run`` / ``apptainer run`` that take no value (the others take one).
CONTAINER_FLAGS = {
    "docker": {"--rm", "--read-only", "-t", "-i", "-it", "--init"},
    "apptainer": {"--cleanenv", "-e", "--containall", "-c", "--contain", "--net", "--writable-tmpfs", "--nv"},
}
CONTAINER_FLAGS["singularity"] = CONTAINER_FLAGS["apptainer"]


@dataclass
class ContainerRun:
    """One ``docker run`` / ``apptainer run`` command, split into its parts."""

    engine: str
    options: list[tuple[str, str | None]]
    image: str
    arguments: list[str]

    def values(self, *names: str) -> list[str]:
        return [value for option, value in self.options if option in names]

    def binds(self) -> dict[str, str]:
        """Container path -> host path (with any ``:ro`` suffix kept on the container side)."""
        out = {}
        for spec in self.values("-v", "--volume", "-B", "--bind"):
            host, container = spec.split(":", 1)
            out[container] = host
        return out


def shell_commands(script: str) -> list[list[str]]:
    """Split a shell script into commands (lines joined at trailing backslashes)."""
    joined = re.sub(r"\\\n\s*", " ", script)
    commands = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            commands.append(shlex.split(line, comments=True))
    return commands


def container_runs(script: str) -> list[ContainerRun]:
    """Every ``docker run`` / ``apptainer run`` command of a shell script."""
    runs = []
    for tokens in shell_commands(script):
        for start in range(len(tokens) - 1):
            if tokens[start] in ("docker", "apptainer", "singularity") and tokens[start + 1] == "run":
                runs.append(_split_container_run(tokens[start], tokens[start + 2:]))
    return runs


def _split_container_run(engine: str, tokens: list[str]) -> ContainerRun:
    options, position = [], 0
    while position < len(tokens) and tokens[position].startswith("-"):
        option = tokens[position]
        if "=" in option:
            name, value = option.split("=", 1)
            options.append((name, value))
            position += 1
        elif option in CONTAINER_FLAGS[engine]:
            options.append((option, None))
            position += 1
        else:
            options.append((option, tokens[position + 1]))
            position += 2
    return ContainerRun(engine, options, tokens[position], tokens[position + 1:])


@pytest.fixture(scope="session")
def parse_container_runs():
    """``parse_container_runs(script)`` -> the :class:`ContainerRun` commands in a shell script."""
    return container_runs


@pytest.fixture(scope="session")
def parse_shell_commands():
    """``parse_shell_commands(script)`` -> the commands of a shell script as token lists."""
    return shell_commands
