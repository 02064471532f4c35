"""The report pages' plumbing: jinja2 templates, inline style and script, atomic writing.

Pages are rendered with jinja2 with autoescaping on (region names, file names
and warnings are untrusted text), carry a Content-Security-Policy that only
allows the page's own inline style and script (by hash) and local images, and
reference their figures by relative paths: a report opens from ``file://`` on
a machine without network access, and can be copied with its folder.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import logging
import os
import tempfile
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemBytecodeCache, PackageLoader, StrictUndefined
from markupsafe import Markup

from .tables import table_rows

logger = logging.getLogger(__name__)


class _CompiledTemplates(FileSystemBytecodeCache):
    """Compiled templates kept in a folder (jinja checks them against the template's
    source and the Python version); a folder that cannot be written only costs the
    compilation."""

    def dump_bytecode(self, bucket: Any) -> None:
        try:
            os.makedirs(self.directory, exist_ok=True)
            super().dump_bytecode(bucket)
        except OSError as exc:
            logger.debug("compiled report template not kept in %s: %s", self.directory, exc)


@lru_cache(maxsize=4)
def _environment(compiled_dir: str | None = None) -> Environment:
    """The templates' environment; ``compiled_dir`` keeps them compiled between jobs
    (compiling the participant page's templates took 20-40 ms of a report)."""
    environment = Environment(
        loader=PackageLoader("regionseries.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        bytecode_cache=None if compiled_dir is None else _CompiledTemplates(compiled_dir),
    )
    environment.filters["table_rows"] = table_rows
    return environment


@lru_cache(maxsize=1)
def _static_assets() -> tuple[str, str, str]:
    """Return (css, js, Content-Security-Policy) of the report pages."""
    templates = resources.files("regionseries.report") / "templates"
    style_text = (templates / "report.css").read_text(encoding="utf-8")
    script_text = (templates / "report.js").read_text(encoding="utf-8")

    def digest(text: str) -> str:
        return base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")

    csp = (
        "default-src 'none'; "
        "img-src 'self' file: data:; "
        f"style-src 'sha256-{digest(style_text)}'; "
        f"script-src 'sha256-{digest(script_text)}'; "
        "base-uri 'none'; form-action 'none'"
    )
    return style_text, script_text, csp


def _page_context(version: str) -> dict[str, Any]:
    style_text, script_text, csp = _static_assets()
    return {
        # Our own static files, not user data: inserted verbatim (their hashes are in the CSP).
        "style_text": Markup(style_text),
        "script_text": Markup(script_text),
        "csp": csp,
        "version": version or _package_version(),
        "generated": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
    }


def _package_version() -> str:
    from .. import __version__

    return __version__


def _write_text_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
