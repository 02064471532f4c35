"""What a participant job and a group job share: the folder checks, the log file, the stops.

:func:`regionseries.participant.run_participant` and
:func:`regionseries.group.run_group` both check their folders before reading
anything (:func:`job_folders`), keep a log in ``OUTPUT_DIR/logs``
(:func:`log_file`) and raise the exceptions below; the command line
(:mod:`regionseries.cli`) maps them to its exit codes.

Only the standard library is imported here: the command line imports this
module when it starts, and ``regionseries --version`` must stay fast
(docs/performance.md).
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

LOGGER = logging.getLogger("regionseries")

#: ``extra=`` of a message for the job's log file and not the console: the details of what
#: the console says in a summary line (the command line's console handler leaves these out).
FILE_ONLY = {"console": False}


def for_console(record: logging.LogRecord) -> bool:
    """Whether a record goes to the console (a :class:`logging.Filter` callable): not one
    logged with ``extra=FILE_ONLY``."""
    return getattr(record, "console", True)

#: The values of ``--connectivity`` (``connectivity=`` of the participant level).
CONNECTIVITY_CHOICES = ("correlation", "partial-correlation", "covariance", "none")


class OptionError(ValueError):
    """An option value the engine rejects (a command-line usage error, exit 64)."""


class OutputNotWritable(Exception):
    """OUTPUT_DIR (or the work folder) cannot be created or written into (exit 73)."""


class Terminated(BaseException):
    """The job received SIGTERM; handled like :class:`KeyboardInterrupt` (exit 143).

    A :class:`BaseException` so that the ``except Exception`` blocks isolating
    one run's failure let it through.
    """


#: Stops whose signal handler ran while the main thread was in a finaliser
#: (``__del__``, run by the garbage collector or when the last reference goes):
#: Python cannot raise from there, so it prints "Exception ignored in ..." and
#: goes on. :func:`keep_swallowed_stop` keeps them; :func:`raise_swallowed_stop`
#: raises them between runs.
_SWALLOWED_STOPS: list[BaseException] = []


def keep_swallowed_stop(unraisable) -> None:
    """:data:`sys.unraisablehook` of the command line: keep a swallowed :class:`KeyboardInterrupt`
    or :class:`Terminated` for :func:`raise_swallowed_stop`; anything else goes to Python's hook."""
    if isinstance(unraisable.exc_value, (KeyboardInterrupt, Terminated)):
        _SWALLOWED_STOPS.append(unraisable.exc_value)
    else:
        sys.__unraisablehook__(unraisable)


def raise_swallowed_stop() -> None:
    """Raise the stop (SIGINT, SIGTERM) that a finaliser swallowed since the job started, if any."""
    if _SWALLOWED_STOPS:
        stop = _SWALLOWED_STOPS[0]
        _SWALLOWED_STOPS.clear()
        raise stop


#: Attribute set on a stopping exception (SIGINT, SIGTERM, full disk) once the engine
#: has logged why the job stopped and which runs are complete: the caller need not say it again.
REPORTED = "regionseries_reported"


def is_stop(exc: BaseException) -> bool:
    """Whether ``exc`` stops the whole job: an interruption, SIGTERM or a full disk."""
    from .bids.outputs import DiskFull  # numpy: see the module docstring

    return isinstance(exc, (KeyboardInterrupt, Terminated, DiskFull))


def stop_message(exc: BaseException) -> str:
    """Why the job stopped, for a stopping exception (see :func:`is_stop`)."""
    from .bids.outputs import DiskFull  # numpy: see the module docstring

    if isinstance(exc, DiskFull):
        return f"stopped: {exc}"
    unfinished = "finished outputs are complete, unfinished ones were not written"
    if isinstance(exc, Terminated):
        return f"terminated (SIGTERM): {unfinished}"
    return f"interrupted: {unfinished}"


def strip_label_prefix(value: str, prefix: str) -> str:
    """A BIDS label without its entity prefix (``"sub-01"`` -> ``"01"``).

    Raises
    ------
    OptionError
        The label is empty or holds other characters than letters and digits.
    """
    value = value.strip()
    value = value.removeprefix(prefix)
    if not value or not value.isalnum():
        raise OptionError(f"invalid label {value!r}: only letters and digits")
    return value


def as_list(value: str | os.PathLike | Sequence | None) -> list | None:
    """``None`` stays None; one string or path becomes a list of one; a sequence a list."""
    if value is None:
        return None
    if isinstance(value, (str, os.PathLike)):
        return [value]
    return list(value)


def python_call(function: Callable, arguments: dict[str, Any]) -> str:
    """How a function of the Python API was called, for provenance (``CommandLine``).

    Parameters
    ----------
    function : callable
        The API function (its qualified name is written as ``regionseries.<name>``).
    arguments : dict
        Every parameter's value; those equal to their default are left out.

    Returns
    -------
    str
        E.g. ``regionseries.run_participant('/data/fmriprep', '/data/out', participant_label=['01'])``.
    """
    parameters = inspect.signature(function).parameters
    positional, keywords = [], []
    for name, parameter in parameters.items():
        value = arguments[name]
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if parameter.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD:
            positional.append(repr(value))
        elif value is not parameter.default and value != parameter.default:
            keywords.append(f"{name}={value!r}")
    return f"regionseries.{function.__name__}({', '.join(positional + keywords)})"


# --------------------------------------------------------------------------------------
# Folders
# --------------------------------------------------------------------------------------

@contextlib.contextmanager
def output_errors(folder: Path, name: str = "OUTPUT_DIR") -> Iterator[None]:
    """Errors of creating or writing into ``folder`` (OUTPUT_DIR, the work folder) raised
    in the block become :class:`DiskFull` (exit 74) or :class:`OutputNotWritable` (exit 73)."""
    # Imported here: bids.outputs brings numpy, and the command line imports this module at start-up.
    from .bids.outputs import DISK_FULL_ERRNOS, DiskFull, disk_full_message

    try:
        yield
    except OSError as exc:
        if exc.errno in DISK_FULL_ERRNOS:
            raise DiskFull(disk_full_message(exc.filename or folder, exc)) from exc
        raise OutputNotWritable(
            f"{name} {folder} cannot be created or written into: {exc.strerror or exc}"
            + (f" ({exc.filename})" if exc.filename else "")
            + ". Choose a folder this user can write (mounted read-write in a container)."
        ) from exc


def check_output_dir(output_dir: Path) -> None:
    """Create OUTPUT_DIR if needed and make sure a file can be written into it.

    Done before the dataset is indexed, so a read-only or missing mount stops
    the job at once (exit 73) rather than after the indexing.
    """
    with output_errors(output_dir):
        output_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=output_dir, prefix=".regionseries-write-test-") as probe:
            probe.write(b"regionseries")
            probe.flush()
            os.fsync(probe.fileno())


def _is_within(path: Path, parent: Path) -> bool:
    try:
        path.resolve().relative_to(parent.resolve())
        return True
    except ValueError:
        return False


def _check_paths(bids_dir: Path, output_dir: Path, work_dir: Path | None, cache_dir: Path | None) -> None:
    if not bids_dir.is_dir():
        raise FileNotFoundError(f"BIDS_DIR {bids_dir} does not exist or is not a folder")
    if _is_within(output_dir, bids_dir):
        raise OptionError(
            f"OUTPUT_DIR {output_dir} is inside BIDS_DIR {bids_dir}; the input must not be written. "
            f"Use a sibling folder such as {bids_dir.resolve().parent / 'regionseries'}"
        )
    if work_dir is not None and _is_within(work_dir, bids_dir):
        raise OptionError(f"--work-dir {work_dir} is inside BIDS_DIR {bids_dir}; the input must not be written")
    if cache_dir is not None and _is_within(cache_dir, bids_dir):
        raise OptionError(f"--cache-dir {cache_dir} is inside BIDS_DIR {bids_dir}; the input must not be written")


@contextlib.contextmanager
def job_folders(bids_dir: Path, output_dir: Path, work_dir: Path | None,
                cache_dir: Path | None = None) -> Iterator[Path]:
    """Check the job's folders and yield its work folder.

    Without ``work_dir`` a temporary work folder is made in ``$TMPDIR`` and
    removed when the block ends, whatever ends it.

    Raises
    ------
    FileNotFoundError
        ``bids_dir`` is not a folder.
    OptionError
        ``output_dir``, ``work_dir`` or ``cache_dir`` is inside ``bids_dir``.
    OutputNotWritable, DiskFull
        The work folder cannot be created.
    """
    own_work_dir = work_dir is None
    try:
        with output_errors(Path(tempfile.gettempdir()), "the temporary folder ($TMPDIR)"):
            work_dir = Path(tempfile.mkdtemp(prefix="regionseries-work-")) if own_work_dir else work_dir
        _check_paths(bids_dir, output_dir, None if own_work_dir else work_dir, cache_dir)
        if not own_work_dir:
            with output_errors(work_dir, "--work-dir"):
                work_dir.mkdir(parents=True, exist_ok=True)
        yield work_dir
    finally:
        if own_work_dir and work_dir is not None:
            shutil.rmtree(work_dir, ignore_errors=True)


# --------------------------------------------------------------------------------------
# The job's log file
# --------------------------------------------------------------------------------------

class _LogFileHandler(logging.FileHandler):
    """The job's log file; when it can no longer be written (a full disk), it says so
    once on the console and stops, instead of printing a traceback per message."""

    def handleError(self, record: logging.LogRecord) -> None:
        error = sys.exc_info()[1]
        if not isinstance(error, OSError):
            super().handleError(record)
            return
        LOGGER.removeHandler(self)
        try:
            self.close()  # closes the file even though its last flush fails
        except OSError:
            pass
        sys.stderr.write(f"regionseries: cannot write the log file {self.baseFilename} ({error.strerror or error}); "
                         "messages go to the console only from now on\n")


@contextlib.contextmanager
def log_file(output_dir: Path, level_name: str, participants: Sequence[str] | None) -> Iterator[Path]:
    """Keep the job's log in ``OUTPUT_DIR/logs`` while the block runs; yields its path.

    Every message of the ``regionseries`` logger goes to the file (debug
    included). An exception leaving the block is written to the file before
    it is closed, so the log says why the job stopped.

    Raises
    ------
    OutputNotWritable, DiskFull
        The log file cannot be created.
    """
    stamp = time.strftime("%Y%m%d-%H%M%S")
    who = "-".join(participants[:3]) if participants else "all"
    path = output_dir / "logs" / f"regionseries_{level_name}_{who}_{stamp}_{os.getpid()}.log"
    with output_errors(output_dir):
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = _LogFileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    LOGGER.addHandler(handler)
    try:
        yield path
    except BaseException as exc:
        if handler in LOGGER.handlers and not getattr(exc, REPORTED, False):  # the console has it from the caller
            message = stop_message(exc) if is_stop(exc) else str(exc)
            handler.handle(LOGGER.makeRecord(LOGGER.name, logging.ERROR, __file__, 0, "regionseries: %s",
                                             (message,), None))
        raise
    finally:
        LOGGER.removeHandler(handler)
        with contextlib.suppress(OSError):
            handler.close()
