"""The TemplateFlow home: where it is, the skeleton that fills a new one, and which of its files are complete."""

from __future__ import annotations

import importlib.util
import os
import zipfile
from pathlib import Path

from .errors import FetchError


def default_templateflow_home() -> Path:
    """Return the TemplateFlow home the client itself would use.

    Returns
    -------
    Path
        ``$TEMPLATEFLOW_HOME`` if set, else the platform's user cache folder for
        ``templateflow`` (``~/.cache/templateflow`` on Linux), as an absolute path.
    """
    if os.environ.get("TEMPLATEFLOW_HOME"):
        return Path(os.environ["TEMPLATEFLOW_HOME"]).absolute()
    from platformdirs import user_cache_dir  # a dependency of templateflow

    return Path(user_cache_dir("templateflow")).absolute()


def bundled_skeleton_zip() -> Path:
    """Locate the skeleton zip shipped with the installed templateflow client.

    Returns
    -------
    Path
        ``templateflow/conf/templateflow-skel.zip`` inside the installed package
        (found without importing ``templateflow``).

    Raises
    ------
    FetchError
        If templateflow is not installed or ships no skeleton.
    """
    spec = importlib.util.find_spec("templateflow")
    if spec is None or spec.origin is None:
        raise FetchError("the templateflow package is not installed; install regionseries with its dependencies")
    skeleton = Path(spec.origin).parent / "conf" / "templateflow-skel.zip"
    if not skeleton.is_file():
        raise FetchError(f"the installed templateflow ships no skeleton at {skeleton}")
    return skeleton


def skeleton_paths(skeleton_zip: Path) -> list[str]:
    """List the file paths (not folders) in a TemplateFlow skeleton zip.

    Parameters
    ----------
    skeleton_zip : Path
        The skeleton archive.

    Returns
    -------
    list of str
        POSIX paths relative to a TemplateFlow home, sorted.
    """
    with zipfile.ZipFile(skeleton_zip) as archive:
        return sorted(name for name in archive.namelist() if not name.endswith("/"))


def populate_skeleton(home: Path, skeleton_zip: Path) -> int:
    """Add the skeleton's files that ``home`` lacks; never overwrite a file.

    This is what the TemplateFlow client does when it finds an empty home
    (``_update_skeleton(..., overwrite=False)``), so a home filled here is a
    normal TemplateFlow home for every other tool (fMRIPrep shares it).

    Parameters
    ----------
    home : Path
        TemplateFlow home; created if missing.
    skeleton_zip : Path
        The skeleton archive.

    Returns
    -------
    int
        Number of files added.

    Raises
    ------
    FetchError
        If ``home`` cannot be created or written, or is a DataLad dataset.
    """
    if (home / ".datalad").exists():
        raise FetchError(
            f"{home} is a DataLad-managed TemplateFlow home; fetch files there with "
            "`datalad get`, or choose another --home"
        )
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise FetchError(f"cannot create the TemplateFlow home {home}: {error.strerror}") from error
    if not os.access(home, os.W_OK):
        raise FetchError(f"the TemplateFlow home {home} is not writable; choose another --home")
    added = 0
    with zipfile.ZipFile(skeleton_zip) as archive:
        for name in archive.namelist():
            target = home / name
            if name.endswith("/") or target.exists():
                continue
            archive.extract(name, path=home)
            added += 1
    return added


def is_complete(path: Path) -> bool:
    """Tell whether a TemplateFlow file is present and not a zero-byte placeholder."""
    return path.is_file() and path.stat().st_size > 0
