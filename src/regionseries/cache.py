"""What the work folder keeps between jobs.

Jobs that share a work folder (``--work-dir``) or, across a whole study, a
cache folder (``--cache-dir``, ``REGIONSERIES_CACHE_DIR``) reuse what an
earlier job computed from an atlas file: the extraction operators on a BOLD
grid (pickles, which the report also draws its atlas overlays from) and the
centres of probabilistic maps (arrays). The report keeps the frames of its
figures in the same folder (``report-frames/``, :mod:`regionseries.report.raster`). Entries are keyed by a digest of
the file's bytes and everything else they depend on, so an edited atlas is
never served stale. A cache that cannot be
read or written only costs the computation.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Callable

import numpy as np

from ._version import __version__

LOGGER = logging.getLogger("regionseries")


def file_identity(path: str | os.PathLike) -> list[Any]:
    """What an entry computed from a file depends on: a digest of the file's bytes.

    Keyed by content, not by path, so that jobs of a study share entries
    whatever the path their atlas has (another bind mount, a copy on each
    node), and an edited file is never served stale.
    """
    stat = os.stat(path)
    return [_content_digest(os.fspath(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)]


@functools.lru_cache(maxsize=64)
def _content_digest(path: str, size: int, mtime_ns: int) -> str:
    """SHA-256 of a file (memoised per path, size and modification time: once per process)."""
    del size, mtime_ns  # part of the memo key only
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_path(cache_dir: str | os.PathLike, prefix: str, *identity: Any, suffix: str = ".npy") -> Path:
    """The file of an entry: ``prefix`` and a digest of ``identity`` and the version."""
    digest = hashlib.sha256(repr([__version__, prefix, *identity]).encode()).hexdigest()[:32]
    return Path(cache_dir) / f"{prefix}-{digest}{suffix}"


def load_array(path: Path, shape: tuple[int, ...] | None = None) -> np.ndarray | None:
    """The cached array, or None if absent, unreadable or not of ``shape``."""
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if shape is not None and array.shape != tuple(shape):
        return None
    return array


def save_array(path: Path, array: np.ndarray) -> None:
    """Store ``array`` atomically (concurrent jobs may write the same entry)."""
    _store(path, lambda stream: np.save(stream, array, allow_pickle=False))


def load_object(path: Path) -> Any | None:
    """A pickled entry (an extraction operator), or None if absent or unreadable."""
    try:
        with open(path, "rb") as handle:
            return pickle.load(handle)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        return None


def save_object(path: Path, value: Any) -> None:
    """Pickle ``value`` atomically (concurrent workers may write the same entry)."""
    _store(path, lambda stream: pickle.dump(value, stream, protocol=pickle.HIGHEST_PROTOCOL))


def _store(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write an entry through a temporary file and ``os.replace``; a failure is only logged."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".partial")
        try:
            with os.fdopen(handle, "wb") as stream:
                write(stream)
            os.replace(temporary, path)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
    except OSError as exc:  # a read-only or full work folder only costs the computation next time
        LOGGER.debug("could not cache %s: %s", path, exc)
