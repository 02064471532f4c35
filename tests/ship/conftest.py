"""Fixtures for the shipping tests: a fake TemplateFlow server on 127.0.0.1.

The server lays files out like the TemplateFlow S3 bucket (``/<tpl-X>/<file>``,
URL-quoted, as ``templateflow.client._s3_get`` requests them) and can be told to
misbehave for given paths, so download failures are tested without the network.
"""

from __future__ import annotations

import gzip
import http.server
import re
import shlex
import threading
import urllib.parse
from collections import defaultdict
from dataclasses import dataclass
import nibabel as nib
import numpy as np
import pytest

def tiny_nifti_gz(value: int) -> bytes:
    """A gzip-compressed 2x2x2 int16 NIfTI-1 image filled with ``value``."""
    image = nib.Nifti1Image(np.full((2, 2, 2), value, dtype=np.int16), np.eye(4))
    return gzip.compress(image.to_bytes(), mtime=0)


class FakeTemplateFlowServer:
    """An HTTP server answering like the TemplateFlow S3 bucket.

    Attributes
    ----------
    files : dict of str to bytes
        Body for each path relative to the bucket root.
    faults : dict of str to list of str
        Per path, behaviours used (and consumed) by the next requests before the
        normal answer: ``"500"`` (server error), ``"truncate"`` (announces the full
        ``Content-Length``, sends half, closes), ``"html"`` (200 with an HTML page).
    requests : list of str
        Every requested path, in order.
    """

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.faults: dict[str, list[str]] = defaultdict(list)
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path).lstrip("/")
                server.requests.append(path)
                fault = server.faults[path].pop(0) if server.faults.get(path) else None
                body = server.files.get(path)
                if fault == "500":
                    self.send_error(500, "Internal Server Error")
                elif fault == "html":
                    self._answer(200, b"<html><body>Maintenance</body></html>", "text/html")
                elif body is None:
                    self._answer(404, b"<?xml version='1.0'?><Error><Code>NoSuchKey</Code></Error>", "application/xml")
                elif fault == "truncate":
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    self.close_connection = True
                else:
                    self._answer(200, body, "application/octet-stream")

            def _answer(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def serve(self, relpaths) -> dict[str, bytes]:
        """Serve a distinct tiny NIfTI image at each path; return path -> body."""
        for offset, relpath in enumerate(sorted(relpaths), start=len(self.files) + 1):
            self.files[relpath] = tiny_nifti_gz(offset)
        return {relpath: self.files[relpath] for relpath in relpaths}

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def fake_templateflow(monkeypatch):
    """A running :class:`FakeTemplateFlowServer`; proxies are disabled for the test."""
    for variable in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    server = FakeTemplateFlowServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def closed_port_url():
    """URL of a 127.0.0.1 port with nothing listening (connections are refused)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


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
