"""Is a file complete? A gzip-compressed NIfTI-1 image (the gzip trailer against the header's size),
a GIFTI file (XML that ends with its closing tag) or a CIFTI-2 file (NIfTI-2 of the size its header announces)."""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

from .home import is_complete

_CHUNK_BYTES = 1 << 20
_NIFTI1_HEADER_BYTES = 348
_NIFTI2_HEADER_BYTES = 540


def _nifti1_file_bytes(header: bytes) -> int | None:
    """Uncompressed size (bytes) a single-file NIfTI-1 image with this header has.

    ``vox_offset`` plus voxels x bytes per voxel; ``None`` when the header does not
    allow computing it (odd ``bitpix``, dimensions or offset), then no size check.
    """
    dims = struct.unpack("<8h", header[40:56])
    (bitpix,) = struct.unpack("<h", header[72:74])
    (vox_offset,) = struct.unpack("<f", header[108:112])
    n_dims = dims[0]
    shape = dims[1 : n_dims + 1]
    if not 1 <= n_dims <= 7 or bitpix <= 0 or bitpix % 8 or min(shape) < 1:
        return None
    if not math.isfinite(vox_offset) or vox_offset < _NIFTI1_HEADER_BYTES:
        return None
    return int(vox_offset) + math.prod(shape) * (bitpix // 8)


def nifti_gz_problem(path: Path) -> str | None:
    """Tell what is wrong with a file that should be a gzip-compressed NIfTI-1 image.

    Cheap for a good file: it decompresses the 348-byte header and reads the gzip
    trailer's ISIZE (the uncompressed size modulo 2**32), which must equal the size
    the header announces. Only when they differ (a truncated file, or a gzip file
    of several members) is the whole stream decompressed to decide.

    Parameters
    ----------
    path : Path
        The file (symbolic links are followed).

    Returns
    -------
    str or None
        ``None`` for a complete image, else what is wrong, e.g. ``not a gzip file
        (...)``, ``not a NIfTI-1 image`` or ``a truncated image (...)``.
    """
    try:
        with gzip.open(path, "rb") as stream:
            header = stream.read(_NIFTI1_HEADER_BYTES)
    except EOFError as error:
        return f"a truncated image ({error})"
    except (OSError, zlib.error) as error:
        return f"not a gzip file ({error})"
    size_field = int.from_bytes(header[:4], "little") if len(header) >= 4 else 0
    if len(header) < _NIFTI1_HEADER_BYTES or size_field != _NIFTI1_HEADER_BYTES or header[344:347] != b"n+1":
        return "not a NIfTI-1 image"
    expected = _nifti1_file_bytes(header)
    if expected is None:
        return None
    with open(path, "rb") as raw:
        raw.seek(-4, os.SEEK_END)
        if int.from_bytes(raw.read(4), "little") == expected % 2**32:
            return None
    decompressed = 0
    try:
        with gzip.open(path, "rb") as stream:
            while chunk := stream.read(_CHUNK_BYTES):
                decompressed += len(chunk)
    except EOFError:
        return f"a truncated image ({decompressed} of {expected} bytes once decompressed)"
    except (OSError, zlib.error) as error:
        return f"a corrupt gzip file ({error})"
    if decompressed < expected:
        return f"a truncated image ({decompressed} of {expected} bytes of NIfTI data)"
    return None


def gifti_problem(path: Path) -> str | None:
    """What is wrong with a file that should be a GIFTI file (``.label.gii``, ``.surf.gii``), None if nothing.

    A GIFTI file is XML: it must start with an XML declaration or ``<GIFTI`` and end
    with ``</GIFTI>`` (a truncated download does not).
    """
    with open(path, "rb") as stream:
        start = stream.read(512).lstrip()
        stream.seek(max(path.stat().st_size - 512, 0))
        end = stream.read().rstrip()
    if not (start.startswith(b"<?xml") or start.startswith(b"<GIFTI")):
        return "not a GIFTI file (no XML header)"
    if not end.endswith(b"</GIFTI>"):
        return "a truncated GIFTI file (no closing </GIFTI>)"
    return None


def cifti_problem(path: Path) -> str | None:
    """What is wrong with a file that should be a CIFTI-2 file (``.dlabel.nii``: uncompressed NIfTI-2)."""
    with open(path, "rb") as stream:
        header = stream.read(_NIFTI2_HEADER_BYTES)
    if len(header) < _NIFTI2_HEADER_BYTES or int.from_bytes(header[:4], "little") != _NIFTI2_HEADER_BYTES \
            or header[4:7] != b"n+2":
        return "not a NIfTI-2 (CIFTI-2) file"
    dims = struct.unpack("<8q", header[16:80])
    (bitpix,) = struct.unpack("<h", header[14:16])
    (vox_offset,) = struct.unpack("<q", header[168:176])
    shape = dims[1 : dims[0] + 1]
    if not 1 <= dims[0] <= 7 or bitpix <= 0 or bitpix % 8 or min(shape) < 1:
        return None
    expected = vox_offset + math.prod(shape) * (bitpix // 8)
    if path.stat().st_size < expected:
        return f"a truncated CIFTI-2 file ({path.stat().st_size} of {expected} bytes)"
    return None


#: What each kind of TemplateFlow file is checked for, by the end of its name.
_CHECKS = ((".nii.gz", nifti_gz_problem, "a gzip NIfTI-1 image"), (".gii", gifti_problem, "a GIFTI file"),
           (".nii", cifti_problem, "a CIFTI-2 file"))


def file_problem(path: Path, name: str | None = None) -> tuple[str, str | None]:
    """(what the file should be, what is wrong with it or None), by its name (or ``name``, the file
    it is a download of): :func:`nifti_gz_problem`, :func:`gifti_problem` or :func:`cifti_problem`."""
    name = name or path.name
    for ending, check, kind in _CHECKS:
        if name.endswith(ending):
            return kind, check(path)
    return "a file", None


def image_state(path: Path, *, validate: bool = True) -> tuple[str, str | None]:
    """State of one atlas image in a TemplateFlow home.

    Parameters
    ----------
    path : Path
        The image's path in the home.
    validate : bool
        Also check that a non-empty file is complete (:func:`file_problem`).

    Returns
    -------
    state : str
        ``present``, ``missing`` (no file, or a zero-byte placeholder) or ``corrupt``.
    problem : str or None
        What is wrong with a corrupt file (see :func:`nifti_gz_problem`).
    """
    if not is_complete(path):
        return "missing", None
    problem = file_problem(path)[1] if validate else None
    return ("corrupt", problem) if problem else ("present", None)
