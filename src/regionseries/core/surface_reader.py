"""Streaming readers of surface runs: a CIFTI-2 ``dtseries`` and a GIFTI pair, in bounded memory.

Both present a run of N vertices (grayordinates, or the left then the right
hemisphere's vertices) and T volumes to the one-pass engine
(:func:`regionseries.core.extract.extract_signals`) as an N x 1 x 1 grid
with an identity affine, as :func:`~regionseries.core.extract.vertices.extract_vertex_signals`
lays out an in-memory array; they never hold the whole run.

* :class:`CiftiSeriesReader`: a ``dtseries.nii`` is a NIfTI-2 whose T x N
  matrix is stored with time varying fastest (nibabel's ``order="F"``), so
  each grayordinate's whole series is contiguous in the file and one volume
  is spread over all of it. The file is read once, sequentially, in blocks
  of whole grayordinate series (:meth:`CiftiSeriesReader.vertex_blocks`),
  and the engine adds each block's share to the region sums. Reading
  volumes instead would touch every page of the file once per chunk of
  volumes (measured on 91k x 1,200 volumes: 0.07 s for one sequential pass
  in 8 MiB blocks, 7.8 s for memory-mapped chunks of 11 volumes with the
  pages released after each).
* :class:`GiftiPairReader`: a ``func.gii`` holds one data array per volume
  (usually base64 of gzip). nibabel's own GIFTI parser (its expat handlers
  and :func:`nibabel.gifti.parse_gifti_fast.read_data_block`, so values and
  dtypes are nibabel's) is fed 1 MiB of XML at a time; each data array is
  handed on when its element closes and then dropped, and the two
  hemispheres are parsed in step, so memory holds one chunk of volumes.
  A file with a single (vertices x volumes) data array is read whole.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Callable, Iterator
from xml.parsers.expat import ExpatError

import nibabel as nib
import numpy as np
from nibabel.arrayproxy import ArrayProxy
from nibabel.gifti.parse_gifti_fast import GiftiImageParser
from nibabel.volumeutils import apply_read_scaling

from .reader import (
    DEFAULT_CHUNK_BYTES,
    VolumeChunk,
    _read_exactly,
    _skip_bytes,
    open_decompressed,
)

__all__ = ["CiftiSeriesReader", "GiftiPairReader"]

#: Bytes of XML given to the GIFTI parser at a time.
_XML_BLOCK_BYTES = 2**20


class CiftiSeriesReader:
    """A CIFTI-2 dense time series (``.dtseries.nii``), read once in blocks of grayordinates.

    Parameters
    ----------
    path : str or os.PathLike
        The file. Only its header is read here (nibabel parses the CIFTI XML).
    max_block_bytes : int
        Raw-data budget of one block (whole series of as many grayordinates as fit, at least one).
    decompressor : str or callable or None
        For a gzip-compressed file (unusual for CIFTI), see
        :func:`regionseries.core.reader.open_decompressed`.

    Attributes
    ----------
    n_volumes, n_voxels : int
        T and N (grayordinates).
    spatial_shape : tuple of int
        ``(N, 1, 1)``: the grid the engine's operators are built on.
    affine : numpy.ndarray
        Identity (the grid is not in mm).
    brain_models : nibabel.cifti2.BrainModelAxis
        The grayordinates.
    repetition_time : float or None
        Seconds, from the SeriesAxis (None if its unit is not seconds).
    description : str
        The path, for messages.

    Raises
    ------
    ValueError
        The file is not CIFTI-2, or not a dense time series (SeriesAxis x BrainModelAxis).
    """

    def __init__(self, path: str | os.PathLike, max_block_bytes: int = DEFAULT_CHUNK_BYTES,
                 decompressor: str | Callable | None = None):
        self.description = os.fspath(path)
        img = nib.load(self.description)
        if not isinstance(img, nib.Cifti2Image):
            raise ValueError(f"{self.description} is not a CIFTI-2 file")
        rows, columns = img.header.get_axis(0), img.header.get_axis(1)
        if not isinstance(rows, nib.cifti2.SeriesAxis) or not isinstance(columns, nib.cifti2.BrainModelAxis):
            raise ValueError(f"{self.description} is not a dense time series: its axes are {type(rows).__name__} x "
                             f"{type(columns).__name__}, expected SeriesAxis x BrainModelAxis (a .dtseries.nii)")
        step = float(rows.step)
        self.repetition_time = step if rows.unit.upper() == "SECOND" and step > 0 else None
        self.brain_models = columns
        self.n_volumes, self.n_voxels = (int(n) for n in img.shape)
        self.spatial_shape = (self.n_voxels, 1, 1)
        self.affine = np.eye(4)
        self.decompressor = decompressor
        proxy = img.dataobj
        self._img = None
        if isinstance(proxy, ArrayProxy) and getattr(proxy, "order", "F") == "F":
            self._raw_dtype = np.dtype(proxy.dtype)
            self._offset = int(proxy.offset)
            self._slope, self._inter = np.asanyarray(proxy.slope), np.asanyarray(proxy.inter)
            self.dtype = apply_read_scaling(np.zeros(1, self._raw_dtype), self._slope, self._inter).dtype
        else:  # an image built in memory, or another layout: its array is read as nibabel gives it
            self._img = img
            self._raw_dtype = self.dtype = np.asanyarray(proxy[:1, :1]).dtype
        self.block_vertices = max(1, int(max_block_bytes) // (self.n_volumes * self._raw_dtype.itemsize))

    def vertex_blocks(self) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(first grayordinate, block)``: the whole series of consecutive grayordinates.

        ``block`` has shape ``(n, T)`` (one row per grayordinate), the values and
        dtype nibabel would load; it may be a view of a buffer reused for the next block.

        Raises
        ------
        OSError
            The file ends before its last grayordinate (truncated).
        """
        if self._img is not None:
            data = np.asanyarray(self._img.dataobj)
            for start in range(0, self.n_voxels, self.block_vertices):
                yield start, data[:, start:start + self.block_vertices].T
            return
        series_bytes = self.n_volumes * self._raw_dtype.itemsize
        buffer = np.empty(series_bytes * min(self.block_vertices, self.n_voxels), dtype=np.uint8)
        with open_decompressed(self.description, self.decompressor) as stream:
            if _skip_bytes(stream, self._offset) < self._offset:
                raise OSError(f"{self.description}: the file ends before its data; it is truncated.")
            for start in range(0, self.n_voxels, self.block_vertices):
                count = min(self.block_vertices, self.n_voxels - start)
                got = _read_exactly(stream, memoryview(buffer)[:series_bytes * count])
                if got < series_bytes * count:
                    raise OSError(f"{self.description}: the file ends after {start + got // series_bytes} of "
                                  f"{self.n_voxels} grayordinates; it is truncated.")
                raw = np.frombuffer(buffer, dtype=self._raw_dtype, count=self.n_volumes * count)
                yield start, apply_read_scaling(raw.reshape((count, self.n_volumes)), self._slope, self._inter)

    def read_all(self) -> np.ndarray:
        """The whole run, shape (T, N) (for small runs and tests; the engine streams)."""
        data = np.empty((self.n_volumes, self.n_voxels), dtype=self.dtype)
        for start, block in self.vertex_blocks():
            data[:, start:start + len(block)] = block.T
        return data


class _GiftiDataArrays(GiftiImageParser):
    """nibabel's GIFTI parser fed 1 MiB at a time, handing on each data array when its element closes."""

    def __init__(self, path: str | os.PathLike):
        super().__init__(buffer_size=_XML_BLOCK_BYTES, mmap=False)
        self.path = os.fspath(path)
        self._closed: collections.deque = collections.deque()

    def EndElementHandler(self, name):  # noqa: N802 - nibabel's (expat's) name
        if name == "GIFTI":  # the image keeps no data arrays: the reader counts them (nibabel would warn)
            self.flush_chardata()
            self.fsm_state.pop()
            return
        super().EndElementHandler(name)
        if name == "DataArray":  # handed on, and not kept in the image
            self._closed.append(self.img.darrays.pop())

    def __iter__(self) -> Iterator[nib.gifti.GiftiDataArray]:
        """The file's data arrays in order, each decoded when its element closes and then forgotten."""
        self.fname = self.path  # where read_data_block looks for external data files
        parser = self._create_parser()
        for name in self.HANDLER_NAMES:
            setattr(parser, name, getattr(self, name))
        with open(self.path, "rb") as xml:
            while True:
                block = xml.read(_XML_BLOCK_BYTES)
                try:
                    parser.Parse(block, not block)
                except ExpatError as exc:
                    raise ValueError(f"{self.path}: not readable as GIFTI XML ({exc}); the file is truncated "
                                     "or damaged") from None
                while self._closed:
                    yield self._closed.popleft()
                if not block:
                    return

    def declared_count(self) -> int | None:
        """``NumberOfDataArrays`` of the root element (known once parsing started)."""
        return getattr(self, "expected_numDA", None)


class _GiftiHemisphere:
    """One ``func.gii`` file: its header facts from its first data array, and its volumes."""

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        darrays = _GiftiDataArrays(self.path)
        first = next(iter(darrays), None)
        if first is None:
            raise ValueError(f"{self.path} holds no GIFTI data array")
        declared = darrays.declared_count()
        self.whole = None
        if first.data.ndim == 2 and declared in (1, None):  # one (vertices x volumes) array
            self.whole = np.asarray(first.data).T
            self.n_volumes, self.n_vertices = self.whole.shape
        elif first.data.ndim == 1:
            self.n_vertices = len(first.data)
            self.n_volumes = declared if declared is not None else sum(1 for _ in _GiftiDataArrays(self.path))
        else:
            raise ValueError(f"{self.path}: expected one vector of vertex values per volume")
        self.dtype = first.data.dtype
        step = first.meta.get("TimeStep")  # milliseconds
        try:
            self.repetition_time = float(step) / 1000.0 if step is not None else None
        except ValueError:
            self.repetition_time = None

    def volumes(self) -> Iterator[np.ndarray]:
        """Each volume's vertex values in turn.

        Raises
        ------
        ValueError
            A data array is not a vector of ``n_vertices`` values, or the file holds
            another number of data arrays than its ``NumberOfDataArrays``.
        """
        if self.whole is not None:
            yield from self.whole
            return
        count = 0
        for darray in _GiftiDataArrays(self.path):
            values = darray.data
            if values.ndim != 1 or len(values) != self.n_vertices:
                raise ValueError(f"{self.path}: expected one vector of vertex values per volume (data array "
                                 f"{count + 1} has shape {values.shape}, the first ({self.n_vertices},))")
            count += 1
            if count > self.n_volumes:
                raise ValueError(f"{self.path}: holds more data arrays than the {self.n_volumes} of its header "
                                 "(NumberOfDataArrays)")
            yield values
        if count < self.n_volumes:
            raise ValueError(f"{self.path}: holds {count} data arrays, its header says {self.n_volumes} "
                             "(NumberOfDataArrays); the file is truncated or damaged")


class GiftiPairReader:
    """The two hemispheres of a GIFTI run (``*_hemi-L/R_..._bold.func.gii``), read once in chunks of volumes.

    Iterating yields :class:`~regionseries.core.reader.VolumeChunk` objects
    whose data are ``(N, 1, 1, c)``, Fortran-ordered: the left hemisphere's
    vertices, then the right's, for ``c`` consecutive volumes, as
    :class:`~regionseries.core.reader.BoldReader` yields volumes.

    Parameters
    ----------
    left, right : str or os.PathLike
        The hemispheres' files. Only their first data arrays are decoded here.
    max_chunk_bytes : int
        Raw-data budget of one chunk of volumes (at least one volume).

    Attributes
    ----------
    n_volumes, n_voxels : int
        T and N (both hemispheres' vertices).
    hemisphere_sizes : tuple of int
        Vertices of the left and of the right hemisphere.
    spatial_shape, affine, description
        As :class:`CiftiSeriesReader`'s.
    repetition_time : float or None
        Seconds, from the left file's first ``TimeStep`` (ms).

    Raises
    ------
    ValueError
        A file holds no data array or not one vector per volume, or the
        hemispheres have different numbers of volumes.
    """

    def __init__(self, left: str | os.PathLike, right: str | os.PathLike,
                 max_chunk_bytes: int = DEFAULT_CHUNK_BYTES):
        self.hemispheres = (_GiftiHemisphere(left), _GiftiHemisphere(right))
        first, second = self.hemispheres
        if first.n_volumes != second.n_volumes:
            raise ValueError(f"the hemispheres of a GIFTI run have different numbers of volumes: "
                             f"{first.n_volumes} in {first.path}, {second.n_volumes} in {second.path}")
        self.description = first.path
        self.n_volumes = first.n_volumes
        self.hemisphere_sizes = (first.n_vertices, second.n_vertices)
        self.n_voxels = sum(self.hemisphere_sizes)
        self.spatial_shape = (self.n_voxels, 1, 1)
        self.affine = np.eye(4)
        self.dtype = np.result_type(first.dtype, second.dtype)
        self.repetition_time = first.repetition_time if first.repetition_time and first.repetition_time > 0 else None
        self.chunk_volumes = max(1, int(max_chunk_bytes) // (self.n_voxels * self.dtype.itemsize))

    def __iter__(self) -> Iterator[VolumeChunk]:
        """Yield the chunks in time order; a chunk's array is reused for the next one."""
        split = self.hemisphere_sizes[0]
        lefts, rights = (hemisphere.volumes() for hemisphere in self.hemispheres)
        buffer = np.empty((self.n_voxels, min(self.chunk_volumes, self.n_volumes)), dtype=self.dtype, order="F")
        for start in range(0, self.n_volumes, self.chunk_volumes):
            count = min(self.chunk_volumes, self.n_volumes - start)
            for column, left, right in zip(range(count), lefts, rights):
                buffer[:split, column] = left
                buffer[split:, column] = right
            yield VolumeChunk(start, buffer[:, :count].reshape((self.n_voxels, 1, 1, count), order="F"))
        for rest in (lefts, rights):  # runs each file to its end: a surplus data array fails there
            for _ in rest:
                pass

    def read_all(self) -> np.ndarray:
        """The whole run, shape (T, N) (for small runs and tests; the engine streams)."""
        data = np.empty((self.n_volumes, self.n_voxels), dtype=self.dtype)
        for chunk in self:
            data[chunk.start:chunk.stop] = chunk.voxels_by_volume().T
        return data
