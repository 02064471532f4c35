"""Pre-fetch TemplateFlow atlases for offline use.

``regionseries-fetch-atlases`` downloads the atlas images that regionseries uses by
default into a TemplateFlow home (``$TEMPLATEFLOW_HOME``), so that later runs need
no network: the Docker image runs it at build time into ``/templateflow``, and on an
HPC cluster whose compute nodes are offline you run it once on a login node (or any
machine with network) and point ``TEMPLATEFLOW_HOME`` at the folder it filled.

How the TemplateFlow client (templateflow >= 24) stores files, which this module
follows so that ``templateflow.api.get`` later finds the files without downloading:

* the home is ``$TEMPLATEFLOW_HOME`` (default: the platform's user cache folder,
  ``~/.cache/templateflow`` on Linux);
* a fresh home is filled from the *skeleton* zip bundled with the client: every
  ``.json``/``.tsv`` in it is real, every ``.nii.gz`` is a zero-byte placeholder;
* ``get`` downloads a placeholder from ``<S3 root>/<path relative to the home>``,
  with the S3 root ``https://templateflow.s3.amazonaws.com``; a file that exists and
  is not empty is used as it is.

This module fills a missing home from the same skeleton (never overwriting a file),
selects atlas images by their TemplateFlow file names, and downloads the ones that
are still placeholders, writing each one atomically (temporary file, then rename)
after checking its size and NIfTI header — an interrupted download never leaves a
truncated file that TemplateFlow would later take for complete.

Where the images come from:

* by default, TemplateFlow's server; ``--s3-root URL`` names another server with
  the same layout (``<URL>/tpl-<T>/<file>``): an institution's mirror, or a plain
  ``python -m http.server`` serving a TemplateFlow home, ``http://`` or ``https://``
  (a server on the loopback interface is asked directly, never through the
  ``http_proxy`` of the environment, which ``podman build`` passes on);
* ``--source-home DIR`` copies them from a folder with TemplateFlow's layout
  instead (another TemplateFlow home, a DataLad/git-annex clone whose content was
  fetched: symbolic links are followed and the content is copied), with the same
  atomic write and the same checks as a download, and without any network.

``--dry-run`` lists the selection and the state of each image and changes nothing;
``--check`` does the same and exits with :data:`EXIT_MISSING` (66) when an image
is missing, a zero-byte placeholder or corrupt (not a complete gzip-compressed
NIfTI-1 image), or a label table or template description of the selection is
missing, ending with the command that would fetch what is missing; the Docker
build runs it after the fetch so that an incomplete image cannot be built.

Exit status: 0 done (``--check``: everything present); 1 a download or copy
failed; 2 usage error or a selection that matches nothing; 66 (``--check`` only)
something selected is missing or corrupt.

It does not import ``templateflow``: importing it populates the home named by the
environment at import time, which is exactly what a command with ``--home`` must
not do. It needs only the standard library and the installed ``templateflow``
package's skeleton, so the Docker build runs this file as a standalone script.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import importlib.util
import ipaddress
import math
import os
import re
import shlex
import shutil
import stat
import struct
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: Where the TemplateFlow client downloads files from (``CacheConfig.s3_root``).
TEMPLATEFLOW_S3_ROOT = "https://templateflow.s3.amazonaws.com"

#: Output spaces of fMRIPrep that regionseries supports with TemplateFlow atlases.
DEFAULT_TEMPLATES = ("MNI152NLin2009cAsym", "MNI152NLin6Asym")

#: Schaefer2018 (100-1000 parcels x 7/17 networks), DiFuMo (64-1024 dimensions),
#: Harvard-Oxford cortical (HOCPA), cortical lateralised (HOCPAL), subcortical (HOSPA).
DEFAULT_ATLASES = ("Schaefer2018", "DiFuMo", "HOCPA", "HOCPAL", "HOSPA")

#: TemplateFlow resolution indices to fetch; ``None`` = every index an atlas has
#: (1 and 2 mm; DiFuMo 2 and 3 mm in MNI152NLin2009cAsym, 2 mm in MNI152NLin6Asym).
#: All of them, because regionseries picks the index whose voxel size is closest
#: to the BOLD's, and a missing one cannot be downloaded on an offline node.
DEFAULT_RESOLUTIONS = None

#: Seconds to wait for the server before a download attempt counts as failed.
DEFAULT_TIMEOUT_S = 30.0

#: Download attempts per file for transient failures (no answer, HTTP 5xx).
DEFAULT_ATTEMPTS = 3

#: Seconds to wait before the second attempt; doubled for each further one.
DEFAULT_BACKOFF_S = 2.0

EXIT_OK = 0
EXIT_FETCH_FAILED = 1
EXIT_USAGE = 2
#: ``--check``: a selected image is missing, a placeholder or corrupt (``EX_NOINPUT``,
#: the status regionseries itself exits with when an atlas is not available).
EXIT_MISSING = 66

_ATLAS_IMAGE = re.compile(
    r"^tpl-(?P<template>[A-Za-z0-9]+)/tpl-(?P=template)"
    r"_res-(?P<resolution>[0-9]+)"
    r"_atlas-(?P<atlas>[A-Za-z0-9]+)"
    r"(?:_desc-(?P<desc>[A-Za-z0-9]+))?"
    r"_(?P<suffix>dseg|probseg)\.nii\.gz$"
)

_CHUNK_BYTES = 1 << 20
_NIFTI1_HEADER_BYTES = 348


class FetchError(RuntimeError):
    """A selection or download problem, with a message meant for the user."""


class SelectionError(FetchError):
    """The requested templates, atlases, resolutions or descs match no image."""


class OfflineError(FetchError):
    """The TemplateFlow server could not be reached at all."""


@dataclass(frozen=True, order=True)
class AtlasImage:
    """One atlas image of TemplateFlow, named by its path in a TemplateFlow home.

    Attributes
    ----------
    relpath : str
        POSIX path relative to the TemplateFlow home, also the path on the server.
    template, atlas, desc, suffix : str
        The file's entities (``desc`` is ``None`` when the name has none).
    resolution : int
        TemplateFlow resolution index (``res-02`` -> 2); an index, not millimetres.
    """

    relpath: str
    template: str = field(compare=False)
    resolution: int = field(compare=False)
    atlas: str = field(compare=False)
    desc: str | None = field(compare=False)
    suffix: str = field(compare=False)


@dataclass
class FetchReport:
    """What :func:`fetch_atlases` did.

    Attributes
    ----------
    home : Path
        The TemplateFlow home that was filled.
    selected : list of AtlasImage
        Every image of the selection.
    downloaded : list of AtlasImage
        Images downloaded by this call.
    already_present : list of AtlasImage
        Images that were already complete (not placeholders) and were left alone.
    downloaded_bytes : int
        Bytes written by this call.
    """

    home: Path
    selected: list[AtlasImage]
    downloaded: list[AtlasImage] = field(default_factory=list)
    already_present: list[AtlasImage] = field(default_factory=list)
    downloaded_bytes: int = 0


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


def parse_atlas_image(relpath: str) -> AtlasImage | None:
    """Parse a TemplateFlow volumetric atlas image path.

    Parameters
    ----------
    relpath : str
        POSIX path relative to a TemplateFlow home, e.g.
        ``tpl-MNI152NLin6Asym/tpl-MNI152NLin6Asym_res-02_atlas-HOSPA_desc-th25_dseg.nii.gz``.

    Returns
    -------
    AtlasImage or None
        ``None`` if the path is not a ``res-``/``atlas-`` ``dseg``/``probseg`` image.
    """
    match = _ATLAS_IMAGE.match(relpath)
    if match is None:
        return None
    return AtlasImage(
        relpath=relpath,
        template=match["template"],
        resolution=int(match["resolution"]),
        atlas=match["atlas"],
        desc=match["desc"],
        suffix=match["suffix"],
    )


def select_atlas_images(
    available_paths: Iterable[str],
    templates: Sequence[str] = DEFAULT_TEMPLATES,
    atlases: Sequence[str] = DEFAULT_ATLASES,
    resolutions: Sequence[int] | None = DEFAULT_RESOLUTIONS,
    descs: Sequence[str] | None = None,
) -> list[AtlasImage]:
    """Select atlas images by template, atlas, resolution index and ``desc``.

    Parameters
    ----------
    available_paths : iterable of str
        Paths relative to a TemplateFlow home (the skeleton's file list).
    templates, atlases : sequence of str
        TemplateFlow template and atlas identifiers (case-sensitive).
    resolutions : sequence of int, optional
        TemplateFlow resolution indices (all if None); a combination without an
        image (DiFuMo has no ``res-01``) is not an error as long as the atlas has
        an image at one of the requested resolutions.
    descs : sequence of str, optional
        Keep only these ``desc-`` values (e.g. ``400Parcels7Networks``); all if None.

    Returns
    -------
    list of AtlasImage
        Sorted by path.

    Raises
    ------
    SelectionError
        If a template has no file at all, an atlas has no image in the requested
        templates and resolutions, or a requested ``desc`` matches nothing.
    """
    available_paths = list(available_paths)
    images = [image for image in map(parse_atlas_image, available_paths) if image is not None]
    known_templates = sorted({path.split("/", 1)[0].removeprefix("tpl-") for path in available_paths})
    for template in templates:
        if template not in known_templates:
            raise SelectionError(
                f"TemplateFlow has no template {template!r}; known templates: {', '.join(known_templates)}"
            )
    in_templates = [image for image in images if image.template in templates]
    selected: list[AtlasImage] = []
    for atlas in atlases:
        of_atlas = [image for image in in_templates if image.atlas == atlas]
        if not of_atlas:
            known = sorted({image.atlas for image in in_templates})
            raise SelectionError(
                f"TemplateFlow has no atlas {atlas!r} in {', '.join(templates)}; "
                f"atlases there: {', '.join(known)}"
            )
        at_resolution = [image for image in of_atlas if resolutions is None or image.resolution in resolutions]
        if not at_resolution:
            known = sorted({image.resolution for image in of_atlas})
            raise SelectionError(
                f"atlas {atlas!r} has no image at resolution index "
                f"{', '.join(map(str, resolutions))} in {', '.join(templates)}; "
                f"it has resolution index {', '.join(map(str, known))}"
            )
        selected.extend(at_resolution)
    if descs is not None:
        unmatched = sorted(set(descs) - {image.desc for image in selected})
        if unmatched:
            raise SelectionError(
                f"no selected atlas image has desc {', '.join(map(repr, unmatched))}; "
                f"descs of the selected atlases: {', '.join(sorted({str(i.desc) for i in selected}))}"
            )
        selected = [image for image in selected if image.desc in descs]
    return sorted(set(selected))


def is_complete(path: Path) -> bool:
    """Tell whether a TemplateFlow file is present and not a zero-byte placeholder."""
    return path.is_file() and path.stat().st_size > 0


def image_url(s3_root: str, image: AtlasImage) -> str:
    """Build the download URL of an image the way the TemplateFlow client does.

    Parameters
    ----------
    s3_root : str
        Server root, e.g. :data:`TEMPLATEFLOW_S3_ROOT`.
    image : AtlasImage
        The image.

    Returns
    -------
    str
        ``<s3_root>/<url-quoted relative path>``.
    """
    return f"{s3_root.rstrip('/')}/{urllib.parse.quote(image.relpath)}"


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


def _check_nifti_gz(path: Path, url: str) -> None:
    """Raise FetchError unless ``path`` is a complete gzip-compressed NIfTI-1 image."""
    problem = nifti_gz_problem(path)
    if problem is not None:
        raise FetchError(f"{url} did not return a gzip NIfTI-1 image: {problem}")


def _readable_file_mode() -> int:
    """Mode a new file would get from open() under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


class _IncompleteBody(Exception):
    """The connection ended before the whole body arrived (transient)."""


def download_file(
    url: str,
    destination: Path,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    attempts: int = DEFAULT_ATTEMPTS,
    backoff_s: float = DEFAULT_BACKOFF_S,
) -> int:
    """Download one NIfTI image atomically.

    The body goes to a hidden temporary file next to ``destination`` (TemplateFlow
    ignores hidden files), is checked (``Content-Length`` when the server sends one,
    gzip + NIfTI-1 header), then renamed over the placeholder.

    Parameters
    ----------
    url : str
        Where to download from.
    destination : Path
        Final path; its folder must exist.
    timeout_s : float
        Seconds to wait for the server on each attempt.
    attempts : int
        Attempts for transient failures (no answer, HTTP 5xx, short body).
    backoff_s : float
        Seconds to wait before the second attempt; doubled for each further one.

    Returns
    -------
    int
        Bytes written.

    Raises
    ------
    OfflineError
        If the server could not be reached in any attempt.
    FetchError
        If the server answers with an HTTP error that is not transient (e.g. 404),
        or keeps sending an incomplete or non-NIfTI body.
    """
    last_problem = ""
    for attempt in range(attempts):
        if attempt:
            time.sleep(backoff_s * 2 ** (attempt - 1))
        try:
            return _download_once(url, destination, timeout_s)
        except urllib.error.HTTPError as error:
            if error.code < 500:
                raise FetchError(f"{url}: the server answered HTTP {error.code} {error.reason}") from error
            last_problem = f"HTTP {error.code} {error.reason}"
        except (_IncompleteBody, http.client.HTTPException) as error:
            last_problem = f"incomplete answer ({error!r})"
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            reason = getattr(error, "reason", error)
            last_problem = f"no answer ({reason})"
            if attempt == attempts - 1:
                raise OfflineError(f"cannot reach {url}: {last_problem}") from error
    raise FetchError(f"{url}: failed after {attempts} attempts, last: {last_problem}")


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _opener(url: str) -> urllib.request.OpenerDirector:
    """The URL opener for ``url``: without proxies for a mirror on this machine.

    A proxy (``http_proxy`` in the environment, which ``podman build`` passes into
    the build) cannot reach a server on the loopback interface of this machine.
    """
    if _is_loopback(urllib.parse.urlsplit(url).hostname):
        return urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener()


def _download_once(url: str, destination: Path, timeout_s: float) -> int:
    handle = tempfile.NamedTemporaryFile(
        dir=destination.parent, prefix=f".{destination.name}.", suffix=".part", delete=False
    )
    part = Path(handle.name)
    try:
        with handle, _opener(url).open(url, timeout=timeout_s) as response:
            expected = response.headers.get("Content-Length")
            written = 0
            while chunk := response.read(_CHUNK_BYTES):
                handle.write(chunk)
                written += len(chunk)
        if expected is not None and written != int(expected):
            raise _IncompleteBody(f"received {written} of {expected} bytes")
        _check_nifti_gz(part, url)
        os.chmod(part, _readable_file_mode())
        os.replace(part, destination)
        return written
    finally:
        part.unlink(missing_ok=True)


def copy_file(source: Path, destination: Path) -> int:
    """Copy one NIfTI image atomically from a pre-fetched TemplateFlow folder.

    Symbolic links are followed (DataLad/git-annex keep the content in
    ``.git/annex``): the content is copied, never the link. The copy goes to a
    hidden temporary file next to ``destination``, is checked (as many bytes as
    the source, gzip-compressed NIfTI-1 of the size its header announces), then
    renamed over the placeholder.

    Parameters
    ----------
    source : Path
        The image in the source folder.
    destination : Path
        Final path; its folder must exist.

    Returns
    -------
    int
        Bytes written.

    Raises
    ------
    FetchError
        If the source is missing (or a link to content that was never fetched), a
        zero-byte placeholder, unreadable, or not a complete gzip NIfTI-1 image.
    """
    try:
        source_stat = source.stat()
    except FileNotFoundError:
        if source.is_symlink():
            raise FetchError(
                f"{source} is a symbolic link to {os.readlink(source)}, which does not exist "
                "(a DataLad/git-annex file whose content was not fetched? run `datalad get` on it there)"
            ) from None
        raise FetchError(f"{source} does not exist") from None
    except OSError as error:
        raise FetchError(f"{source}: {error.strerror}") from error
    if not stat.S_ISREG(source_stat.st_mode):
        raise FetchError(f"{source} is not a file")
    if source_stat.st_size == 0:
        raise FetchError(f"{source} is an empty placeholder (TemplateFlow's skeleton), not the image")
    try:
        stream = open(source, "rb")
    except OSError as error:
        raise FetchError(f"{source}: {error.strerror}") from error
    handle = tempfile.NamedTemporaryFile(
        dir=destination.parent, prefix=f".{destination.name}.", suffix=".part", delete=False
    )
    part = Path(handle.name)
    try:
        with handle, stream:
            shutil.copyfileobj(stream, handle, _CHUNK_BYTES)
        written = part.stat().st_size
        if written != source_stat.st_size:
            raise FetchError(f"{source}: copied {written} of {source_stat.st_size} bytes (did it change meanwhile?)")
        problem = nifti_gz_problem(part)
        if problem is not None:
            raise FetchError(f"{source} is {problem}")
        os.chmod(part, _readable_file_mode())
        os.replace(part, destination)
        return written
    finally:
        part.unlink(missing_ok=True)


def fetch_atlases(
    home: Path,
    templates: Sequence[str] = DEFAULT_TEMPLATES,
    atlases: Sequence[str] = DEFAULT_ATLASES,
    resolutions: Sequence[int] | None = DEFAULT_RESOLUTIONS,
    descs: Sequence[str] | None = None,
    *,
    s3_root: str = TEMPLATEFLOW_S3_ROOT,
    source_home: Path | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    attempts: int = DEFAULT_ATTEMPTS,
    backoff_s: float = DEFAULT_BACKOFF_S,
    skeleton_zip: Path | None = None,
    log=None,
) -> FetchReport:
    """Fill ``home`` with the selected atlas images.

    Parameters
    ----------
    home : Path
        TemplateFlow home to fill (created and completed from the skeleton if needed).
    templates, atlases, resolutions, descs
        The selection, see :func:`select_atlas_images`.
    s3_root : str
        Server to download from: TemplateFlow's, or a mirror with the same layout.
    source_home : Path, optional
        Copy the images from this folder with TemplateFlow's layout instead of
        downloading them (see :func:`copy_file`); ``s3_root`` is then not used.
    timeout_s, attempts, backoff_s
        See :func:`download_file`.
    skeleton_zip : Path, optional
        Skeleton archive; default: the one bundled with templateflow.
    log : callable, optional
        Called with one line of progress text per file.

    Returns
    -------
    FetchReport
        ``downloaded`` and ``downloaded_bytes`` count copied images too.

    Raises
    ------
    OfflineError
        At the first file whose server cannot be reached (the rest would fail too).
    SelectionError
        If the selection matches no image (before anything is written).
    FetchError
        For an unwritable home or a source folder that does not exist (before
        anything is written), or after all files were tried when some could not
        be downloaded or copied (their URLs or source paths are in the message).
    """
    log = log or (lambda line: None)
    skeleton_zip = skeleton_zip or bundled_skeleton_zip()
    selected = select_atlas_images(skeleton_paths(skeleton_zip), templates, atlases, resolutions, descs)
    if source_home is not None and not source_home.is_dir():
        raise FetchError(f"the source folder {source_home} does not exist or is not a folder")
    populate_skeleton(home, skeleton_zip)
    report = FetchReport(home=home, selected=selected)
    failures: list[str] = []
    for number, image in enumerate(selected, start=1):
        destination = home / image.relpath
        if is_complete(destination):
            report.already_present.append(image)
            continue
        log(f"[{number}/{len(selected)}] {image.relpath}")
        try:
            if source_home is not None:
                report.downloaded_bytes += copy_file(source_home / image.relpath, destination)
            else:
                report.downloaded_bytes += download_file(
                    image_url(s3_root, image), destination, timeout_s=timeout_s, attempts=attempts, backoff_s=backoff_s
                )
        except OfflineError:
            raise
        except FetchError as error:
            failures.append(str(error))
            continue
        report.downloaded.append(image)
    if failures:
        how = "fetched" if source_home is None else f"copied from {source_home}"
        raise FetchError(
            f"{len(failures)} of {len(selected)} atlas images could not be {how}:\n  " + "\n  ".join(failures)
        )
    return report


def _offline_advice(home: Path) -> str:
    return (
        "This machine cannot reach the TemplateFlow server. Run the same command with "
        f"--home {home} on a machine with network access, copy that folder here, and "
        "set TEMPLATEFLOW_HOME to it (see docs/hpc.md)."
    )


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Build the ``regionseries-fetch-atlases`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="regionseries-fetch-atlases",
        description=(
            "Download TemplateFlow atlas images into a TemplateFlow home so that "
            "regionseries runs without network (Docker build, offline HPC nodes), "
            "or copy them from a pre-fetched folder, or check that they are there."
        ),
        epilog=(
            f"Exit status: {EXIT_OK} all selected images are present; {EXIT_FETCH_FAILED} a download or "
            f"copy failed (offline, or the server or source folder lacks a file); {EXIT_USAGE} usage error "
            f"or bad selection; {EXIT_MISSING} (--check) a selected image is missing, a zero-byte "
            "placeholder or corrupt, or a label table of the selection is missing."
        ),
    )
    parser.add_argument(
        "--home",
        type=Path,
        default=None,
        help="TemplateFlow home to fill (default: $TEMPLATEFLOW_HOME, else TemplateFlow's user cache folder)",
    )
    parser.add_argument(
        "--template",
        nargs="+",
        default=list(DEFAULT_TEMPLATES),
        metavar="TEMPLATE",
        help=f"TemplateFlow templates (default: {' '.join(DEFAULT_TEMPLATES)})",
    )
    parser.add_argument(
        "--atlas",
        nargs="+",
        default=list(DEFAULT_ATLASES),
        metavar="ATLAS",
        help=f"TemplateFlow atlases (default: {' '.join(DEFAULT_ATLASES)})",
    )
    parser.add_argument(
        "--resolution",
        nargs="+",
        type=int,
        default=DEFAULT_RESOLUTIONS,
        metavar="INDEX",
        help=(
            "TemplateFlow resolution indices, not mm: res-02 is 2 mm in both MNI templates, "
            "MNI152NLin6Asym res-03 is 0.5 mm (default: every index the atlas has, since "
            "regionseries uses the one closest to the BOLD voxel size)"
        ),
    )
    parser.add_argument(
        "--desc",
        nargs="+",
        default=None,
        metavar="DESC",
        help="keep only these desc- values, e.g. 400Parcels7Networks 64dimensions th25 (default: all)",
    )
    listing = parser.add_mutually_exclusive_group()
    listing.add_argument(
        "--dry-run",
        action="store_true",
        help="list the selected images and whether each is present; change and download nothing",
    )
    listing.add_argument(
        "--check",
        action="store_true",
        help=(
            "list like --dry-run (change and download nothing), also check that each present image is a "
            "complete gzip NIfTI-1 file and that the selection's label tables are there; exit "
            f"{EXIT_MISSING} if anything is missing or corrupt, with the command that fetches it"
        ),
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--s3-root",
        default=TEMPLATEFLOW_S3_ROOT,
        metavar="URL",
        help=(
            "server to download from: TemplateFlow's, or a mirror with the same layout "
            "(URL/tpl-<template>/<file>, http:// or https://, e.g. `python3 -m http.server` run in a "
            f"TemplateFlow home) (default: {TEMPLATEFLOW_S3_ROOT})"
        ),
    )
    source.add_argument(
        "--source-home",
        type=Path,
        default=None,
        metavar="DIR",
        help=(
            "copy the images from DIR, a folder with TemplateFlow's layout (another TemplateFlow home, "
            "a DataLad clone with its content fetched: links are followed), instead of downloading; "
            "no network is used"
        ),
    )
    parser.add_argument(
        "--attempts",
        type=_positive_int,
        default=DEFAULT_ATTEMPTS,
        metavar="N",
        help=f"download attempts per file when the server does not answer (default: {DEFAULT_ATTEMPTS})",
    )
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help=f"seconds to wait for the server per attempt (default: {DEFAULT_TIMEOUT_S:g})",
    )
    return parser


def image_state(path: Path, *, validate: bool = True) -> tuple[str, str | None]:
    """State of one atlas image in a TemplateFlow home.

    Parameters
    ----------
    path : Path
        The image's path in the home.
    validate : bool
        Also check that a non-empty file is a complete gzip NIfTI-1 image.

    Returns
    -------
    state : str
        ``present``, ``missing`` (no file, or a zero-byte placeholder) or ``corrupt``.
    problem : str or None
        What is wrong with a corrupt file (see :func:`nifti_gz_problem`).
    """
    if not is_complete(path):
        return "missing", None
    problem = nifti_gz_problem(path) if validate else None
    return ("corrupt", problem) if problem else ("present", None)


def selection_metadata_paths(available_paths: Iterable[str], selected: Sequence[AtlasImage]) -> list[str]:
    """The skeleton's non-image files the selection needs at run time.

    Parameters
    ----------
    available_paths : iterable of str
        Paths relative to a TemplateFlow home (the skeleton's file list).
    selected : sequence of AtlasImage
        The selected images.

    Returns
    -------
    list of str
        ``template_description.json`` of each selected template (voxel sizes of the
        resolution indices) and the label tables and sidecars (``.tsv``/``.json``)
        of the selected atlases in those templates (with the selected ``desc``, or
        without any), sorted.
    """
    templates = {image.template for image in selected}
    atlas_descs = {(image.atlas, image.desc) for image in selected}
    atlases = {image.atlas for image in selected}
    needed = []
    for relpath in available_paths:
        folder, _, name = relpath.partition("/")
        if folder.removeprefix("tpl-") not in templates or "/" in name or not name.endswith((".tsv", ".json")):
            continue
        atlas = re.search(r"_atlas-([A-Za-z0-9]+)_", name)
        desc = re.search(r"_desc-([A-Za-z0-9]+)_", name)
        if name == "template_description.json":
            needed.append(relpath)
        elif atlas is not None and atlas[1] in atlases and (desc is None or (atlas[1], desc[1]) in atlas_descs):
            needed.append(relpath)
    return sorted(needed)


def _list_selection(home: Path, selected: list[AtlasImage], out) -> tuple[int, int]:
    """Print one line per image (state and path) and the summary; return (missing, corrupt)."""
    missing = corrupt = 0
    for image in selected:
        state, problem = image_state(home / image.relpath)
        missing += state == "missing"
        corrupt += state == "corrupt"
        print(f"{state}  {image.relpath}" + (f"  ({problem})" if problem else ""), file=out)
    print(
        f"{len(selected)} atlas images selected in {home}: "
        f"{len(selected) - missing - corrupt} present, {missing} to download"
        + (f", {corrupt} corrupt" if corrupt else ""),
        file=out,
    )
    return missing, corrupt


def _fetch_command(home: Path, args: argparse.Namespace) -> str:
    """The command that fetches the selection of ``args`` into ``home``."""
    words = ["regionseries-fetch-atlases", "--home", str(home)]
    if args.template != list(DEFAULT_TEMPLATES):
        words += ["--template", *args.template]
    if args.atlas != list(DEFAULT_ATLASES):
        words += ["--atlas", *args.atlas]
    if args.resolution is not None:
        words += ["--resolution", *map(str, args.resolution)]
    if args.desc is not None:
        words += ["--desc", *args.desc]
    if args.source_home is not None:
        words += ["--source-home", str(args.source_home)]
    elif args.s3_root != TEMPLATEFLOW_S3_ROOT:
        words += ["--s3-root", args.s3_root]
    return shlex.join(words)


def _check(home: Path, available_paths: list[str], selected: list[AtlasImage], args, out) -> int:
    """``--check``: list the selection, then exit status and a last line saying what to do."""
    missing, corrupt = _list_selection(home, selected, out)
    absent_metadata = [
        relpath for relpath in selection_metadata_paths(available_paths, selected) if not (home / relpath).is_file()
    ]
    for relpath in absent_metadata:
        print(f"missing  {relpath}", file=out)
    if not (missing or corrupt or absent_metadata):
        print(f"check passed: all {len(selected)} selected atlas images are present and valid in {home}", file=out)
        return EXIT_OK
    problems = []
    if missing or corrupt:
        problems.append(
            f"{missing + corrupt} of {len(selected)} selected atlas images are "
            + " or ".join(word for word, count in (("missing", missing), ("corrupt", corrupt)) if count)
        )
    if absent_metadata:
        problems.append(f"{len(absent_metadata)} label tables or template descriptions are missing")
    advice = f"fetch them with: {_fetch_command(home, args)}"
    if corrupt:
        advice = "delete the corrupt files (a fetch leaves non-empty files alone), then " + advice
    print(f"check failed: {' and '.join(problems)} in {home}; {advice}", file=out)
    return EXIT_MISSING


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``regionseries-fetch-atlases``.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        Exit status: 0 done (``--check``: all present), 1 a download or copy
        failed, 2 usage error / bad selection, 66 ``--check`` found something
        missing or corrupt.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    home = (args.home or default_templateflow_home()).absolute()
    source_home = args.source_home.absolute() if args.source_home is not None else None
    try:
        skeleton_zip = bundled_skeleton_zip()
        if args.dry_run or args.check:
            available_paths = skeleton_paths(skeleton_zip)
            selected = select_atlas_images(available_paths, args.template, args.atlas, args.resolution, args.desc)
            if args.check:
                return _check(home, available_paths, selected, args, sys.stdout)
            _list_selection(home, selected, sys.stdout)
            return EXIT_OK
        report = fetch_atlases(
            home,
            args.template,
            args.atlas,
            args.resolution,
            args.desc,
            s3_root=args.s3_root,
            source_home=source_home,
            timeout_s=args.timeout,
            attempts=args.attempts,
            skeleton_zip=skeleton_zip,
            log=lambda line: print(line, file=sys.stderr, flush=True),
        )
    except OfflineError as error:
        print(f"regionseries-fetch-atlases: error: {error}\n{_offline_advice(home)}", file=sys.stderr)
        return EXIT_FETCH_FAILED
    except SelectionError as error:
        parser.print_usage(sys.stderr)
        print(f"regionseries-fetch-atlases: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except FetchError as error:
        print(f"regionseries-fetch-atlases: error: {error}", file=sys.stderr)
        return EXIT_FETCH_FAILED
    how = "downloaded" if source_home is None else f"copied from {source_home}"
    print(
        f"{len(report.selected)} atlas images ready in {home} "
        f"({len(report.downloaded)} {how}, {report.downloaded_bytes / 1e6:.1f} MB; "
        f"{len(report.already_present)} already present)"
    )
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
