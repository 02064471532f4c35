"""Getting the images into the home: downloaded (with retries) or copied, always checked, written atomically."""

from __future__ import annotations

import http.client
import ipaddress
import os
import shutil
import stat
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .errors import FetchError, OfflineError
from .home import bundled_skeleton_zip, is_complete, populate_skeleton, skeleton_paths
from .selection import (
    DEFAULT_ATLASES,
    DEFAULT_RESOLUTIONS,
    DEFAULT_TEMPLATES,
    AtlasImage,
    select_atlas_images,
)
from .validation import _CHUNK_BYTES, file_problem

#: Where the TemplateFlow client downloads files from (``CacheConfig.s3_root``).
TEMPLATEFLOW_S3_ROOT = "https://templateflow.s3.amazonaws.com"


#: Seconds to wait for the server before a download attempt counts as failed.
DEFAULT_TIMEOUT_S = 30.0

#: Download attempts per file for transient failures (no answer, HTTP 5xx).
DEFAULT_ATTEMPTS = 3

#: Seconds to wait before the second attempt; doubled for each further one.
DEFAULT_BACKOFF_S = 2.0


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


def _check_file(path: Path, destination: Path, url: str) -> None:
    """Raise FetchError unless ``path`` (the download of ``destination``) is complete: a gzip
    NIfTI-1 image, a GIFTI or a CIFTI-2 file, as ``destination``'s name says
    (:func:`~.validation.file_problem`)."""
    kind, problem = file_problem(path, destination.name)
    if problem is not None:
        raise FetchError(f"{url} did not return {kind}: {problem}")


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
    """Download one atlas file (NIfTI image, GIFTI or CIFTI-2 file) atomically.

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
        _check_file(part, destination, url)
        os.chmod(part, _readable_file_mode())
        os.replace(part, destination)
        return written
    finally:
        part.unlink(missing_ok=True)


def copy_file(source: Path, destination: Path) -> int:
    """Copy one atlas file (NIfTI image, GIFTI or CIFTI-2 file) atomically from a pre-fetched TemplateFlow folder.

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
        problem = file_problem(part, destination.name)[1]
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
    densities: Sequence[str] | None = None,
    segs: Sequence[str] | None = None,
    scales: Sequence[str] | None = None,
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
    templates, atlases, resolutions, descs, densities, segs, scales
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
    selected = select_atlas_images(skeleton_paths(skeleton_zip), templates, atlases, resolutions, descs,
                                   densities, segs, scales)
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
