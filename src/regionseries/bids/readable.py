"""Why an input file cannot be read, said in words a researcher understands.

Every file of a run (the BOLD series, its brain mask, the confounds table and
its JSON sidecar, the BOLD's JSON sidecar) is opened through this module, so
that whatever is wrong with it — a 0-byte file, a DataLad dataset whose
annexed content was never fetched, a truncated copy, a text file with a
``.nii.gz`` name, a 3D image where a 4D series is expected — becomes one
:class:`UnreadableFile` naming the file and the problem, and the run fails
alone (see "What happens when a file is bad" in docs/usage.md).

Reading itself is nibabel's and :mod:`regionseries.core.reader`'s; this
module only looks at the file before and translates their errors after.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import json
import os
import stat
import struct
import zlib
from pathlib import Path
from typing import Any, Iterator

#: Part of the target of a git-annex symlink (locked files, as DataLad creates them:
#: ``.git/annex/objects/...``, or ``.git/modules/<name>/annex/objects/...`` in a submodule).
ANNEX_OBJECTS = "/annex/objects/"
#: Start of the pointer file git-annex leaves for an unlocked file whose content is absent.
ANNEX_POINTER = b"/annex/objects/"

#: Sizes of the NIfTI-1 and NIfTI-2 headers (bytes), the first 4 bytes of a NIfTI file.
_NIFTI_HEADER_SIZES = (348, 540)


class UnreadableFile(Exception):
    """An input file that cannot be read; ``str()`` is ``"<path>: <problem>"``.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    problem : str
        What is wrong with it, e.g. ``"empty file (0 bytes)"``.
    """

    def __init__(self, path: str | os.PathLike, problem: str):
        super().__init__(f"{os.fspath(path)}: {problem}")
        self.path = os.fspath(path)
        self.problem = problem

    def __reduce__(self):  # keeps both arguments through a worker process's pickling
        return type(self), (self.path, self.problem)


class UnavailableFile(UnreadableFile):
    """An input file that is not there to be read, whatever its content.

    Missing, a broken symbolic link, annexed content not fetched, a folder
    or other non-regular file, permission denied, an error of the operating
    system while reading. A file named on the command line with such a
    problem is "no input" (exit 66); one whose content is wrong (empty, not
    UTF-8, not valid JSON) is an :class:`UnreadableFile` only.
    """


# --------------------------------------------------------------------------------------
# Any file
# --------------------------------------------------------------------------------------

def _os_problem(exc: OSError) -> str:
    """An operating-system error of reading, in words."""
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied: this user cannot read it (check the file's and its folders' permissions)"
    if exc.errno == errno.ENOENT:
        return "file not found"
    if exc.errno == errno.ELOOP:
        return "symbolic link loop (the link points back to itself)"
    if exc.errno == errno.EIO:
        return "input/output error while reading (a failing disk or network file system?)"
    if exc.errno == errno.EISDIR:
        return "a folder, not a file"
    return f"cannot be read ({exc.strerror or exc})"


def _annexed_content_missing(path: Path) -> str:
    return (f"annexed file whose content is not present (a git-annex/DataLad placeholder): "
            f"run `datalad get {path}` (or `git annex get`) first")


def file_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be opened for reading, or None when it can.

    Looks at the file only (never reads more than a small pointer file):
    missing, broken symbolic link (a git-annex link into ``.git/annex/objects``
    whose content was not fetched is named as such), folder or other
    non-regular file, empty, an unlocked git-annex pointer file, permission
    denied.
    """
    return _file_problem(Path(path))[0]


def _file_problem(path: Path) -> tuple[str | None, bool]:
    """:func:`file_problem`'s reason, and whether the file is unavailable
    (True) rather than present with a bad content (False: an empty file)."""
    try:
        info = os.lstat(path)
    except OSError as exc:
        return _os_problem(exc), True
    if stat.S_ISLNK(info.st_mode):
        target = os.readlink(path)
        try:
            info = os.stat(path)
        except FileNotFoundError:
            if ANNEX_OBJECTS in "/" + target.replace(os.sep, "/"):
                return _annexed_content_missing(path), True
            return f"broken symbolic link: its target {target} does not exist", True
        except OSError as exc:
            return _os_problem(exc), True
    if stat.S_ISDIR(info.st_mode):
        return "a folder, not a file", True
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file (a pipe, socket or device)", True
    if info.st_size == 0:
        return "empty file (0 bytes)", False
    try:
        with open(path, "rb") as handle:
            start = handle.read(len(ANNEX_POINTER)) if info.st_size < 1024 else b""
    except OSError as exc:
        return _os_problem(exc), True
    if start == ANNEX_POINTER:
        return _annexed_content_missing(path), True
    return None, False


def check_file(path: str | os.PathLike) -> Path:
    """``path`` as a Path if it can be opened for reading.

    Raises
    ------
    UnavailableFile
        With :func:`file_problem`'s reason (missing, not fetched, permission denied...).
    UnreadableFile
        The file is empty.
    """
    problem, unavailable = _file_problem(Path(path))
    if problem is not None:
        raise (UnavailableFile if unavailable else UnreadableFile)(path, problem)
    return Path(path)


def read_text(path: str | os.PathLike) -> str:
    """The content of a UTF-8 text file (a byte-order mark is accepted and dropped).

    Raises
    ------
    UnavailableFile
        The file cannot be opened (:func:`check_file`).
    UnreadableFile
        The file is empty or not UTF-8 text.
    """
    path = check_file(path)
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        byte = exc.object[exc.start]
        raise UnreadableFile(path, f"not UTF-8 text (byte {byte:#04x} at position {exc.start})") from None
    except OSError as exc:
        raise UnavailableFile(path, _os_problem(exc)) from None


def read_json(path: str | os.PathLike) -> Any:
    """The content of a JSON file (UTF-8, a byte-order mark is accepted).

    Raises
    ------
    UnavailableFile
        The file cannot be opened (:func:`check_file`).
    UnreadableFile
        The file is empty, not UTF-8 text or not valid JSON.
    """
    text = read_text(path)
    try:
        return json.loads(text)
    except ValueError as exc:
        line, column = getattr(exc, "lineno", None), getattr(exc, "colno", None)
        where = f"line {line}, column {column}: " if line is not None else ""
        raise UnreadableFile(path, f"not valid JSON ({where}{getattr(exc, 'msg', exc)})") from None


# --------------------------------------------------------------------------------------
# NIfTI images
# --------------------------------------------------------------------------------------

def _decode_errors() -> tuple[type[BaseException], ...]:
    """Exceptions of a truncated or corrupt gzip stream (imported when an image is read)."""
    from ..core.reader import DECODE_ERRORS

    return DECODE_ERRORS


def _first_bytes(path: Path, count: int) -> tuple[bytes, bool, str | None]:
    """The first ``count`` bytes of the file, decompressed if it is gzip.

    Returns ``(data, is_gzip, decode_problem)``; ``decode_problem`` says why
    the gzip stream could not be decoded that far (None when it could).
    """
    with open(path, "rb") as handle:
        is_gzip = handle.read(2) == b"\x1f\x8b"
    if not is_gzip:
        with open(path, "rb") as handle:
            return handle.read(count), False, None
    try:
        with gzip.open(path, "rb") as stream:
            return stream.read(count), True, None
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        return b"", True, str(exc)


def _undecodable(detail: str) -> str:
    return f"truncated or corrupt: the compressed data cannot be decoded ({detail}); an incomplete copy or download?"


def _nifti_header_size(first_bytes: bytes) -> int | None:
    """The header size a NIfTI file starts with (348 or 540, either byte order), or None."""
    if len(first_bytes) < 4:
        return None
    for byte_order in "<>":
        size = struct.unpack(byte_order + "i", first_bytes[:4])[0]
        if size in _NIFTI_HEADER_SIZES:
            return size
    return None


def _not_an_image_problem(path: Path) -> str:
    """Why nibabel could not make out an image, found from the file's first bytes."""
    data, is_gzip, decode_problem = _first_bytes(path, max(_NIFTI_HEADER_SIZES))
    if path.name.endswith(".gz") and not is_gzip:
        return ("not gzip-compressed, although its name ends in .gz "
                "(an uncompressed file renamed, or not an image at all?)")
    if decode_problem is not None:
        return _undecodable(decode_problem)
    header_size = _nifti_header_size(data)
    if header_size is not None and len(data) < header_size:
        return f"truncated: the file ends inside its NIfTI header ({len(data)} of {header_size} bytes)"
    if header_size is not None and is_gzip and not path.name.endswith(".gz"):
        return "gzip-compressed, although its name does not end in .gz (rename it to .nii.gz)"
    return "not a NIfTI image (no NIfTI-1 or NIfTI-2 header at the start of the file)"


def _describe_read_error(exc: BaseException) -> str:
    """A decoding or operating-system error met while reading an image, in words."""
    if isinstance(exc, _decode_errors()):
        return _undecodable(str(exc))
    if isinstance(exc, OSError) and exc.errno is not None:
        return _os_problem(exc)
    return str(exc)


def open_nifti(path: str | os.PathLike, ndim: int | tuple[int, ...] | None = None, what: str = "the image"):
    """Open a NIfTI image (header only; the data stay on disk) or say why not.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.nii`` or ``.nii.gz`` file.
    ndim : int or tuple of int, optional
        Accepted numbers of dimensions (e.g. 4 for a BOLD series).
    what : str
        What the image is, for the message (``"a BOLD series"``).

    Returns
    -------
    nibabel image
        As :func:`nibabel.load` returns it.

    Raises
    ------
    UnreadableFile
        Anything :func:`file_problem` finds; not an image or not gzip
        although named ``.gz``; truncated (in its header, or an uncompressed
        file shorter than its header says); no voxels; another number of
        dimensions than ``ndim``.
    """
    import nibabel as nib
    import numpy as np
    from nibabel.filebasedimages import ImageFileError

    path = check_file(path)
    try:
        img = nib.load(str(path))
    except ImageFileError:
        raise UnreadableFile(path, _not_an_image_problem(path)) from None
    except (OSError, *_decode_errors()) as exc:
        raise UnreadableFile(path, _describe_read_error(exc)) from None
    shape = tuple(int(n) for n in img.shape)
    dimensions = f"shape {' x '.join(map(str, shape))}"
    accepted = (ndim,) if isinstance(ndim, int) else ndim
    if accepted is not None and len(shape) not in accepted:
        expected = " or ".join(f"{n}D" for n in accepted)
        raise UnreadableFile(path, f"has {len(shape)} dimensions ({dimensions}); {what} must be {expected}")
    if 0 in shape:
        raise UnreadableFile(path, f"holds no voxels ({dimensions})")
    if not path.name.endswith(".gz") and hasattr(img, "dataobj") and hasattr(img.dataobj, "offset"):
        expected_bytes = int(img.dataobj.offset) + int(np.prod(shape)) * img.get_data_dtype().itemsize
        size = path.stat().st_size
        if size < expected_bytes:
            raise UnreadableFile(path, f"truncated: {size} bytes, but its header describes {expected_bytes} "
                                       "(header and data); an incomplete copy or download?")
    return img


def read_nifti_data(path: str | os.PathLike, ndim: int | tuple[int, ...] | None = None, what: str = "the image"):
    """Open a (small) NIfTI image and read all its data once, to find any damage now.

    For brain masks and other 3D images; a BOLD series is checked while it is
    streamed (:func:`reading`). Returns the image with the data it read in
    memory (scaled as nibabel scales them), so that using it reads nothing again.

    Raises
    ------
    UnreadableFile
        As :func:`open_nifti`, or the data are truncated or corrupt.
    """
    import numpy as np

    img = open_nifti(path, ndim, what)
    with reading(path):
        data = np.asanyarray(img.dataobj)
    in_memory = img.__class__(data, img.affine, img.header)
    in_memory.set_filename(img.get_filename())  # messages keep naming the file
    return in_memory


@contextlib.contextmanager
def reading(path: str | os.PathLike) -> Iterator[None]:
    """Translate errors of reading ``path`` raised in the block into :class:`UnreadableFile`.

    Decoding errors (truncated or corrupt gzip data), the streaming reader's
    own "truncated or corrupt" errors and operating-system read errors
    become ``UnreadableFile(path, ...)``; every other error goes through
    unchanged. Use it around reading only (never around writes).
    """
    try:
        yield
    except UnreadableFile:
        raise
    except (OSError, *_decode_errors()) as exc:
        problem = _describe_read_error(exc)
        prefix = f"{os.fspath(path)}: "
        raise UnreadableFile(path, problem[len(prefix):] if problem.startswith(prefix) else problem) from exc
