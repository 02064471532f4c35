"""Streaming reader for 3D/4D NIfTI images: one sequential pass, bounded memory.

A BOLD series is read volume chunk by volume chunk. For a compressed
``.nii.gz`` file the gzip stream is opened once and decompressed
sequentially: the header bytes up to ``vox_offset`` are skipped, then exactly
``n_voxels * itemsize * n_volumes_in_chunk`` bytes are decoded into one
reusable buffer and viewed as a Fortran-ordered ``(X, Y, Z, c)`` array. The
file is therefore decompressed exactly once, whatever the number of atlases
or strategies that consume the chunks, and memory stays at a few chunk
buffers whatever the number of volumes.

nibabel's per-slice proxy access (``img.dataobj[..., t]``) is deliberately
not used on gzip files: every such call re-decompresses the stream from its
start, which makes a volume-by-volume loop quadratic in the number of
volumes.

Scaling (``scl_slope``/``scl_inter``) is applied with nibabel's own
:func:`nibabel.volumeutils.apply_read_scaling`, with the same scale-factor
dtypes as ``np.asanyarray(img.dataobj)``, so every chunk holds exactly the
values and dtype that nibabel (and therefore nilearn) would load.

The decompressor is pluggable (``decompressor=``): ``"isal"`` (ISA-L
through the ``isal`` package: its C gzip reader inflates straight into the
chunk buffer and releases the GIL), ``"zlib"`` (the standard library,
large-block streaming inflate), ``"gzip"`` (:func:`gzip.open`), or any
callable that takes a path and returns a binary file object yielding the
decompressed bytes. The default, ``"auto"``, is ``"isal"`` when the package
can be imported and ``"zlib"`` otherwise; both give identical bytes, ISA-L
1.7 times as fast on fMRIPrep-like float32 BOLD (``docs/performance.md``).

With ``prefetch=True`` a background thread decompresses the next chunk into
a second buffer while the caller works on the current one (zlib and ISA-L
release the GIL while they inflate), so decompression and extraction
overlap on two cores.
"""

from __future__ import annotations

import gzip
import os
import queue
import threading
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

import nibabel as nib
import numpy as np
from nibabel.arrayproxy import ArrayProxy
from nibabel.volumeutils import apply_read_scaling

__all__ = [
    "DECODE_ERRORS",
    "DEFAULT_CHUNK_BYTES",
    "BoldReader",
    "DimensionError",
    "VolumeChunk",
    "available_decompressors",
    "default_decompressor",
    "iter_volume_chunks",
    "open_decompressed",
]

#: Default budget for one chunk of raw voxel data, in bytes (4 MiB); a chunk
#: holds at least one volume. For a 97 x 115 x 97 float32 grid (4.3 MB per
#: volume) this gives one volume per chunk: with the prefetch thread, a
#: volume is then still in the CPU caches when it is extracted, which
#: measured fastest and smallest (1 volume: 0.84 s and +42 MiB for a
#: T=100 run with three atlases; 15 volumes: 1.89 s and +268 MiB; see
#: docs/performance.md).
DEFAULT_CHUNK_BYTES = 4 * 2**20

_GZIP_MAGIC = b"\x1f\x8b"


class DimensionError(ValueError, TypeError):
    """An image of more than 4 dimensions where a 3D or 4D series is expected.

    A ValueError, as regionseries raised before; also a TypeError, as
    nilearn's ``DimensionError`` of the same name, whose message it contains.
    """
_COMPRESSED_BLOCK_BYTES = 4 * 2**20


class ZlibStream:
    """Sequential gzip decoder with large-block reads (multi-member aware).

    Parameters
    ----------
    path : str or os.PathLike
        Path of a gzip-compressed file.

    Notes
    -----
    The standard library's :class:`gzip.GzipFile` inflates in small blocks
    behind an :class:`io.BufferedReader`; this class feeds zlib 4 MiB of
    compressed input at a time and copies the output straight into the
    caller's buffer, which is measurably faster for whole-file streaming.
    Concatenated gzip members (as written by some parallel compressors) are
    decoded one after the other, as :mod:`gzip` does.
    """

    def __init__(self, path: str | os.PathLike):
        self._file = open(path, "rb")  # noqa: SIM115 - closed in close()
        self._inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        self._pending = b""  # compressed bytes not yet given to zlib
        self._decoded = b""  # decompressed bytes not yet handed out
        self._decoded_pos = 0
        self._between_members = False  # a member ended; zero padding may follow, as gzip allows

    def _refill(self, max_length: int) -> bool:
        """Decode up to ``max_length`` more bytes; False at end of file."""
        while True:
            if not self._pending:
                self._pending = self._file.read(_COMPRESSED_BLOCK_BYTES)
                if not self._pending:
                    if self._between_members:
                        return False
                    tail = self._inflater.flush()
                    if not self._inflater.eof:
                        raise EOFError("Compressed file ended before the end-of-stream marker was reached")
                    self._decoded, self._decoded_pos = tail, 0
                    return bool(tail)
            if self._between_members:
                self._pending = self._pending.lstrip(b"\0")
                if not self._pending:
                    continue
                self._between_members = False
            out = self._inflater.decompress(self._pending, max_length)
            self._pending = self._inflater.unconsumed_tail
            if self._inflater.eof:
                # Start the next gzip member, if any, with the leftover input.
                leftover = self._inflater.unused_data
                self._inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
                self._pending = leftover
                self._between_members = True
            if out:
                self._decoded, self._decoded_pos = out, 0
                return True

    def readinto(self, buffer) -> int:
        """Fill ``buffer`` with decompressed bytes; return the count written."""
        view = memoryview(buffer).cast("B")
        filled = 0
        wanted = len(view)
        while filled < wanted:
            available = len(self._decoded) - self._decoded_pos
            if available == 0:
                if not self._refill(wanted - filled):
                    break
                continue
            take = min(available, wanted - filled)
            view[filled : filled + take] = self._decoded[
                self._decoded_pos : self._decoded_pos + take
            ]
            self._decoded_pos += take
            filled += take
        return filled

    def read(self, size: int) -> bytes:
        """Return up to ``size`` decompressed bytes."""
        buffer = bytearray(size)
        n = self.readinto(buffer)
        return bytes(buffer[:n])

    def close(self) -> None:
        """Close the underlying file."""
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _open_isal(path: str | os.PathLike) -> BinaryIO:
    try:
        from isal import igzip
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "decompressor='isal' needs the package 'isal' (pip install isal)."
        ) from err
    try:
        from isal.isal_zlib import _GzipReader
    except ImportError:  # pragma: no cover - a future isal without it
        return igzip.open(path, "rb")
    return _IsalStream(path, _GzipReader)


class _IsalStream:
    """ISA-L's C gzip reader on a file, without the ``io.BufferedReader`` around it.

    ``isal.igzip.open`` wraps the C reader (``isal_zlib._GzipReader``, the
    class igzip itself uses; it decodes concatenated members and releases
    the GIL) in a ``BufferedReader``; reading whole volumes straight into
    the caller's buffer skips that layer: 0.47 s instead of 0.50–0.54 s for
    the 413 MiB of a T = 100 benchmark run.
    """

    def __init__(self, path: str | os.PathLike, reader_class):
        self._file = open(path, "rb", buffering=0)  # noqa: SIM115 - closed in close()
        try:
            self._reader = reader_class(self._file, 512 * 1024)
        except BaseException:
            self._file.close()
            raise

    def readinto(self, buffer) -> int:
        return self._reader.readinto(buffer)

    def read(self, size: int = -1) -> bytes:
        return self._reader.read(size)

    def close(self) -> None:
        try:
            self._reader.close()
        finally:
            self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _decode_errors() -> tuple[type[BaseException], ...]:
    """Exceptions the decompressors raise on a truncated or corrupt stream."""
    errors: list[type[BaseException]] = [EOFError, zlib.error, gzip.BadGzipFile]
    try:
        from isal import isal_zlib

        errors.append(isal_zlib.error)
    except ImportError:  # pragma: no cover - depends on the environment
        pass
    return tuple(errors)


def _isal_available() -> bool:
    try:
        import isal.igzip  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the environment
        return False
    return True


_DECOMPRESSORS: dict[str, Callable[[str | os.PathLike], BinaryIO]] = {
    "zlib": ZlibStream,
    "gzip": lambda path: gzip.open(path, "rb"),
    "isal": _open_isal,
}


#: Exceptions of a truncated or corrupt gzip stream (also used to name such files in messages).
DECODE_ERRORS = _decode_errors()


def default_decompressor() -> str:
    """The decompressor ``"auto"`` stands for: ``"isal"`` if importable, else ``"zlib"``."""
    return "isal" if _isal_available() else "zlib"


def available_decompressors() -> list[str]:
    """Names of the gzip decompressors usable in this environment.

    Returns
    -------
    list of str
        A subset of ``["zlib", "gzip", "isal"]``.
    """
    names = ["zlib", "gzip"]
    if _isal_available():
        names.append("isal")
    return names


def _is_gzip(path: str | os.PathLike) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == _GZIP_MAGIC


def open_decompressed(
    path: str | os.PathLike,
    decompressor: str | Callable[[str | os.PathLike], BinaryIO] | None = None,
) -> BinaryIO:
    """Open a file for sequential reading of its (decompressed) bytes.

    Parameters
    ----------
    path : str or os.PathLike
        Path of a ``.nii`` or gzip-compressed ``.nii.gz`` file. Compression is
        detected from the file's first two bytes, not from its name.
    decompressor : {"auto", "isal", "zlib", "gzip"} or callable or None, default=None
        How to decompress a gzip file; None and ``"auto"`` mean
        :func:`default_decompressor`. A callable receives the path and must
        return a binary file object with ``readinto`` (or ``read``) and
        ``close``.

    Returns
    -------
    file object
        Binary stream positioned at byte 0 of the decompressed content.
    """
    if not _is_gzip(path):
        return open(path, "rb")  # noqa: SIM115 - the caller closes it
    if decompressor is None or decompressor == "auto":
        decompressor = default_decompressor()
    if callable(decompressor):
        return decompressor(path)
    try:
        opener = _DECOMPRESSORS[decompressor]
    except KeyError:
        raise ValueError(
            f"Unknown decompressor {decompressor!r}; "
            f"choose one of {sorted(_DECOMPRESSORS) + ['auto']} or pass a callable."
        ) from None
    return opener(path)


def _read_exactly(stream: BinaryIO, buffer: bytearray | memoryview) -> int:
    """Fill ``buffer`` from ``stream``; return the number of bytes read."""
    view = memoryview(buffer).cast("B")
    filled = 0
    readinto = getattr(stream, "readinto", None)
    while filled < len(view):
        if readinto is not None:
            n = readinto(view[filled:])
        else:
            block = stream.read(len(view) - filled)
            n = len(block)
            view[filled : filled + n] = block
        if not n:
            break
        filled += n
    return filled


def _read_to_end(stream: BinaryIO, description: str) -> None:
    """Read past the last volume to the end of the stream.

    A gzip reader verifies a member's trailer (CRC-32 and length) only on
    reaching its end: without this, a corrupted block that still inflates
    would go unnoticed (nibabel, which reads only the bytes of the data,
    does not notice). Zero padding after the stream is accepted, as gzip
    does; a wrong checksum or length, a missing trailer or bytes that are
    not gzip after the stream fail, with the file named.
    """
    scratch = bytearray(64 * 1024)
    try:
        while _read_exactly(stream, scratch) == len(scratch):
            pass
    except DECODE_ERRORS as exc:
        raise OSError(
            f"{description}: the data fail the gzip integrity check ({type(exc).__name__}: {exc}); "
            "the file is truncated or corrupt."
        ) from exc


def _skip_bytes(stream: BinaryIO, count: int) -> int:
    """Read and discard ``count`` bytes; return how many were skipped."""
    skipped = 0
    scratch = bytearray(min(max(count, 1), 2**20))
    while skipped < count:
        want = min(len(scratch), count - skipped)
        n = _read_exactly(stream, memoryview(scratch)[:want])
        skipped += n
        if n < want:
            break
    return skipped


@dataclass(frozen=True)
class VolumeChunk:
    """A run of consecutive volumes of a BOLD series.

    Attributes
    ----------
    start : int
        Index of the first volume of the chunk in the series.
    data : numpy.ndarray
        Array of shape ``(X, Y, Z, c)``, Fortran-ordered when read from a file,
        with the values and dtype nibabel would load (scaling applied). The
        array may be a view of a buffer that the reader reuses for the next
        chunk: copy anything that must outlive the iteration step.
    """

    start: int
    data: np.ndarray

    @property
    def stop(self) -> int:
        """Index one past the last volume of the chunk."""
        return self.start + self.data.shape[3]

    @property
    def n_volumes(self) -> int:
        """Number of volumes in the chunk."""
        return self.data.shape[3]

    def voxels_by_volume(self) -> np.ndarray:
        """Return the chunk as a ``(n_voxels, c)`` array in Fortran voxel order.

        Voxel ``(i, j, k)`` is row ``i + X*j + X*Y*k``. No copy is made for
        Fortran-ordered chunks.
        """
        return self.data.reshape((-1, self.data.shape[3]), order="F")


def _describe(source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    filename = None
    if isinstance(source, nib.spatialimages.SpatialImage):
        filename = source.get_filename()
    return filename or f"<in-memory {type(source).__name__}>"


class _ImageSource:
    """One image of the series: header facts plus a way to stream its data."""

    def __init__(self, img, decompressor):
        self.description = _describe(img)
        if isinstance(img, (str, os.PathLike)):
            if not os.path.exists(img):
                raise FileNotFoundError(f"BOLD image not found: {os.fspath(img)}")
            img = nib.load(img)
        if not isinstance(img, nib.spatialimages.SpatialImage):
            raise TypeError(
                "Expected a path to a NIfTI file or a nibabel image, got "
                f"{type(img).__name__}."
            )
        self.img = img
        self.decompressor = decompressor
        shape = tuple(int(n) for n in img.shape)
        if len(shape) > 4 and any(n != 1 for n in shape[4:]):
            raise DimensionError(
                "Input data has incompatible dimensionality: Expected dimension is 4D "
                f"and you provided a {len(shape)}D image. ({self.description}: image of "
                f"shape {shape} has more than 4 non-singleton dimensions; expected a 3D or 4D image.)"
            )
        if len(shape) < 3:
            raise ValueError(
                f"{self.description}: image of shape {shape} is not 3D or 4D."
            )
        if 0 in shape:
            raise ValueError(f"The image is empty: {self.description} has shape {shape}.")
        self.ndim = min(len(shape), 4)
        self.spatial_shape = shape[:3]
        self.n_volumes = shape[3] if len(shape) > 3 else 1
        self.affine = np.asarray(img.affine, dtype=float)
        proxy = img.dataobj
        self._stream_file = None
        if (
            isinstance(proxy, ArrayProxy)
            and isinstance(proxy.file_like, (str, os.PathLike))
            and getattr(proxy, "order", "F") == "F"
        ):
            self._stream_file = os.fspath(proxy.file_like)
            self._raw_dtype = np.dtype(proxy.dtype)
            self._offset = int(proxy.offset)
            self._slope = np.asanyarray(proxy.slope)
            self._inter = np.asanyarray(proxy.inter)
            probe = apply_read_scaling(
                np.zeros(1, dtype=self._raw_dtype), self._slope, self._inter
            )
            self.dtype = probe.dtype
        else:
            self.dtype = np.asanyarray(proxy[(0,) * len(shape)]).dtype
        if self.dtype.kind not in "biuf":
            kind = {"c": "complex", "V": "RGB colour"}.get(self.dtype.kind, "non-numeric")
            raise ValueError(
                f"{self.description}: the image holds {kind} values (data type {self.dtype}); "
                "region signals need real numbers (an integer or floating-point data type)."
            )
        self.n_voxels = int(np.prod(self.spatial_shape))

    def iter_chunks(
        self, chunk_volumes: int, first_index: int, prefetch: bool = False
    ) -> Iterator[VolumeChunk]:
        if self._stream_file is None:
            yield from self._iter_in_memory(chunk_volumes, first_index)
        elif prefetch and self.n_volumes > chunk_volumes:
            yield from self._iter_stream_prefetched(chunk_volumes, first_index)
        else:
            yield from self._iter_stream(chunk_volumes, first_index)

    def _iter_in_memory(self, chunk_volumes, first_index):
        data = np.asanyarray(self.img.dataobj)
        data = data.reshape(self.spatial_shape + (self.n_volumes,), order="A")
        for start in range(0, self.n_volumes, chunk_volumes):
            stop = min(start + chunk_volumes, self.n_volumes)
            yield VolumeChunk(first_index + start, data[..., start:stop])

    def _chunk_buffer(self, chunk_volumes: int) -> np.ndarray:
        # np.empty, not bytearray: no time spent zero-filling bytes that the
        # decompressor overwrites anyway.
        volume_bytes = self.n_voxels * self._raw_dtype.itemsize
        return np.empty(volume_bytes * min(chunk_volumes, self.n_volumes), dtype=np.uint8)

    def _fill(self, chunk_volumes: int, buffers: Iterator[np.ndarray]) -> Iterator[tuple[int, int, np.ndarray]]:
        """Decode the file chunk by chunk into the buffers ``buffers`` yields.

        Yields ``(start, count, buffer)``: volumes ``start`` to
        ``start + count`` are in the first bytes of ``buffer``.
        """
        volume_bytes = self.n_voxels * self._raw_dtype.itemsize
        with open_decompressed(self._stream_file, self.decompressor) as stream:
            skipped = _skip_bytes(stream, self._offset)
            if skipped < self._offset:
                raise OSError(
                    f"{self.description}: file ends before its data offset "
                    f"({skipped} of {self._offset} bytes); the file is truncated."
                )
            for start in range(0, self.n_volumes, chunk_volumes):
                buffer = next(buffers, None)
                if buffer is None:  # the consumer stopped early
                    return
                count = min(chunk_volumes, self.n_volumes - start)
                want = volume_bytes * count
                try:
                    got = _read_exactly(stream, memoryview(buffer)[:want])
                except DECODE_ERRORS as exc:
                    volumes = f"volume {start + 1}" if count == 1 else f"volumes {start + 1}-{start + count}"
                    raise OSError(
                        f"{self.description}: cannot decompress {volumes} of {self.n_volumes} "
                        f"({type(exc).__name__}: {exc}); the file is truncated or corrupt."
                    ) from exc
                if got < want:
                    complete = start + got // volume_bytes
                    raise OSError(
                        f"{self.description}: file ends after {complete} of "
                        f"{self.n_volumes} volumes; the file is truncated or corrupt."
                    )
                yield start, count, buffer
            _read_to_end(stream, self.description)

    def _as_chunk(self, first_index: int, start: int, count: int, buffer: np.ndarray) -> VolumeChunk:
        raw = np.frombuffer(buffer, dtype=self._raw_dtype, count=self.n_voxels * count)
        raw = raw.reshape(self.spatial_shape + (count,), order="F")
        scaled = apply_read_scaling(raw, self._slope, self._inter)
        return VolumeChunk(first_index + start, scaled)

    def _iter_stream(self, chunk_volumes, first_index):
        buffer = self._chunk_buffer(chunk_volumes)

        def same_buffer():
            while True:
                yield buffer

        for start, count, filled in self._fill(chunk_volumes, same_buffer()):
            yield self._as_chunk(first_index, start, count, filled)

    def _iter_stream_prefetched(self, chunk_volumes, first_index):
        """Like ``_iter_stream``, decoding the next chunk in a thread (two buffers).

        The producer thread may only refill a buffer once the consumer has
        asked for the chunk after the one it holds, so a chunk's data stay
        valid for one iteration step, as without prefetching.
        """
        free: queue.Queue = queue.Queue()
        for _ in range(2):
            free.put(self._chunk_buffer(chunk_volumes))
        ready: queue.Queue = queue.Queue()
        stop = threading.Event()
        done = object()

        def free_buffers():
            while True:
                buffer = free.get()
                if buffer is None or stop.is_set():
                    return
                yield buffer

        def produce():
            try:
                for item in self._fill(chunk_volumes, free_buffers()):
                    ready.put(item)
                    if stop.is_set():
                        return
            except BaseException as exc:  # handed to the consumer
                ready.put(exc)
            else:
                ready.put(done)

        worker = threading.Thread(
            target=produce, name=f"regionseries-reader:{self.description}", daemon=True
        )
        worker.start()
        held = None
        try:
            while True:
                if held is not None:
                    free.put(held)  # the caller asked for the next chunk: refill this one
                    held = None
                item = ready.get()
                if item is done:
                    break
                if isinstance(item, BaseException):
                    raise item
                start, count, buffer = item
                held = buffer
                yield self._as_chunk(first_index, start, count, buffer)
        finally:
            stop.set()
            free.put(None)  # wake the producer if it waits for a buffer
            worker.join()


class BoldReader:
    """One sequential pass over a 3D/4D image (or a list of images) in volume chunks.

    Parameters
    ----------
    imgs : str, os.PathLike, nibabel image, or sequence of them
        The series. A 3D image counts as one volume; a sequence is read as
        the concatenation of its images along time (like nilearn), and all
        must share the spatial shape and affine.
    chunk_volumes : int or None, default=None
        Number of volumes per chunk. None chooses the largest count whose raw
        data fit in ``max_chunk_bytes``.
    max_chunk_bytes : int, default=DEFAULT_CHUNK_BYTES
        Budget for one chunk of raw voxel data, in bytes, when
        ``chunk_volumes`` is None.
    decompressor : {"auto", "isal", "zlib", "gzip"} or callable or None, default=None
        See :func:`open_decompressed`.
    prefetch : bool, default=False
        Decompress the next chunk of a file in a background thread while the
        caller works on the current one. This holds two chunk buffers
        instead of one; a chunk's data stay valid until the caller asks for
        the next chunk, as without prefetching.

    Attributes
    ----------
    spatial_shape : tuple of int
        ``(X, Y, Z)``.
    affine : numpy.ndarray
        4 x 4 voxel-to-world affine (mm) of the first image.
    n_volumes : int
        Total number of volumes (T).
    ndim : int
        3 if the input is a single 3D image, else 4.
    dtype : numpy.dtype
        dtype of the chunks (as nibabel would load the first image).
    chunk_volumes : int
        Volumes per chunk.
    description : str
        File name (or a description of an in-memory image) for messages.

    Raises
    ------
    FileNotFoundError
        If a path does not exist.
    ValueError
        If an image is not 3D/4D, is empty, holds complex or RGB values, or
        the images of a list are on different grids.
    """

    def __init__(
        self,
        imgs,
        chunk_volumes: int | None = None,
        *,
        max_chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        decompressor: str | Callable | None = None,
        prefetch: bool = False,
    ):
        self.prefetch = bool(prefetch)
        if isinstance(imgs, (str, os.PathLike, nib.spatialimages.SpatialImage)):
            items = [imgs]
            single = True
        elif isinstance(imgs, Sequence) and not isinstance(imgs, (bytes, np.ndarray)):
            items = list(imgs)
            single = False
            if not items:
                raise ValueError("Empty list of images: nothing to read.")
        else:
            raise TypeError(
                "Expected a path to a NIfTI file, a nibabel image or a list of "
                f"them, got {type(imgs).__name__}."
            )
        self._sources = [_ImageSource(item, decompressor) for item in items]
        first = self._sources[0]
        for other in self._sources[1:]:
            if other.spatial_shape != first.spatial_shape or not np.allclose(
                other.affine, first.affine
            ):
                raise ValueError(
                    f"Images of the series do not share one grid: {first.description} "
                    f"has shape {first.spatial_shape}, {other.description} has shape "
                    f"{other.spatial_shape} (or their affines differ)."
                )
        self.spatial_shape = first.spatial_shape
        self.affine = first.affine
        self.n_volumes = sum(source.n_volumes for source in self._sources)
        self.ndim = first.ndim if single else 4
        self.dtype = np.result_type(*[source.dtype for source in self._sources])
        self.description = (
            first.description
            if single
            else f"{first.description} (+{len(self._sources) - 1} more images)"
        )
        self.n_voxels = first.n_voxels
        if chunk_volumes is None:
            itemsize = max(source.dtype.itemsize for source in self._sources)
            chunk_volumes = max(1, int(max_chunk_bytes) // (self.n_voxels * itemsize))
        chunk_volumes = int(chunk_volumes)
        if chunk_volumes < 1:
            raise ValueError(f"chunk_volumes must be a positive integer, got {chunk_volumes}.")
        self.chunk_volumes = chunk_volumes

    @property
    def header(self):
        """The nibabel header of the first image."""
        return self._sources[0].img.header

    def __iter__(self) -> Iterator[VolumeChunk]:
        """Yield the chunks in time order, each read exactly once."""
        first_index = 0
        for source in self._sources:
            yield from source.iter_chunks(self.chunk_volumes, first_index, self.prefetch)
            first_index += source.n_volumes


def iter_volume_chunks(
    imgs,
    chunk_volumes: int | None = None,
    *,
    max_chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    decompressor: str | Callable | None = None,
) -> Iterator[VolumeChunk]:
    """Iterate over an image series in chunks of volumes, reading it once.

    Parameters
    ----------
    imgs : str, os.PathLike, nibabel image, or sequence of them
        See :class:`BoldReader`.
    chunk_volumes : int or None, default=None
        Volumes per chunk (None: fit ``max_chunk_bytes``).
    max_chunk_bytes : int, default=DEFAULT_CHUNK_BYTES
        Raw-data budget per chunk, in bytes.
    decompressor : {"auto", "isal", "zlib", "gzip"} or callable or None, default=None
        See :func:`open_decompressed`.

    Yields
    ------
    VolumeChunk
        Consecutive chunks; ``chunk.data`` has shape ``(X, Y, Z, c)``.
    """
    yield from BoldReader(
        imgs,
        chunk_volumes,
        max_chunk_bytes=max_chunk_bytes,
        decompressor=decompressor,
    )
