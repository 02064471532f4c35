"""Raster figures and their frames: a figure drawn once without its data, kept, and pasted into.

A participant page shows the same kinds of figure for every run: only the
data change, not the axes, ticks, labels, legends and colour bars around
them. A *frame* (:class:`Frame`) is that figure drawn without its data, by
matplotlib (:mod:`regionseries.report.figures`), plus where (in pixels) its
data panels are; each run's figure is the frame with its data pasted in as
pixels (a :class:`RasterFigure`), and written as PNG with Pillow
(:func:`save_raster`).

Frames depend only on what they show (titles, axis ranges, the grid, ...),
never on the data, so they are kept (:func:`cached_frame`): in the process,
and in a folder given as ``frame_dir`` (the pipeline uses the study's cache
folder), where the jobs of a study share them. A job whose frames are all
there never imports matplotlib: this module only needs numpy and Pillow, and
imports :mod:`~regionseries.report.figures` only to draw a missing frame
(:func:`_figures`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

__all__ = [
    "FIGURE_FORMATS",
    "FULL_WIDTH_IN",
    "PNG_COMPRESS_LEVEL",
    "Frame",
    "RasterFigure",
    "cached_frame",
    "frame_file",
    "nearest_indices",
    "save_raster",
    "write_replacing",
]

LOGGER = logging.getLogger(__name__)

#: Formats figures are written in.
FIGURE_FORMATS = ("png", "svg")

#: Width of full-width figures in inches (the page column is ~1050 px; 100 dpi).
FULL_WIDTH_IN = 10.0

#: zlib level of the PNG files. Measured on the benchmark's figures (the carpets
#: and matrices are noise, which compresses little): level 1 writes them in a
#: third of the time of Pillow's default 6 for files 4-9 % larger; see
#: docs/performance.md.
PNG_COMPRESS_LEVEL = 1


@dataclass
class RasterFigure:
    """A figure held as RGB pixels (written as PNG only).

    Attributes
    ----------
    pixels : numpy.ndarray, shape (height, width, 3), uint8
    dpi : float
        Dots per inch the pixels were drawn at.
    """

    pixels: np.ndarray
    dpi: float = 100.0

    def get_size_inches(self) -> np.ndarray:
        """(width, height) in inches, as :meth:`matplotlib.figure.Figure.get_size_inches`."""
        height, width = self.pixels.shape[:2]
        return np.array([width, height], dtype=float) / self.dpi


def nearest_indices(n_source: int, n_target: int) -> np.ndarray:
    """Which of ``n_source`` samples each of ``n_target`` pixels shows (nearest, pixel centres)."""
    return np.minimum(((np.arange(n_target) + 0.5) * n_source / n_target).astype(int), n_source - 1)


@dataclass
class Frame:
    """A figure drawn without its data, and where (in pixels) the data go.

    Attributes
    ----------
    pixels : numpy.ndarray, shape (height, width, 3), uint8
        The figure with its data panels empty.
    boxes : list of (row0, row1, column0, column1)
        Pixel boxes of the data panels, in the order :meth:`paste` takes the images.
    dpi : float
    layer : numpy.ndarray, shape (height, width, 4), uint8, or None
        What is drawn over the data (text and markers of the atlas overlays),
        RGBA with straight alpha; ``pixels`` already holds it over white.
    tables : dict of numpy.ndarray
        Colour tables the data are drawn with (e.g. the colour map of a carpet
        plot, as matplotlib maps it), so that pasting needs no matplotlib.
    """

    pixels: np.ndarray
    boxes: list[tuple[int, int, int, int]]
    dpi: float
    layer: np.ndarray | None = None
    tables: dict[str, np.ndarray] = field(default_factory=dict)
    _boxes_under_layer: list[bool] | None = field(default=None, repr=False, compare=False)

    def box_shape(self, index: int) -> tuple[int, int]:
        """(height, width) in pixels of data panel ``index``."""
        row0, row1, col0, col1 = self.boxes[index]
        return max(row1 - row0, 0), max(col1 - col0, 0)

    def _fitted(self, index: int, image: np.ndarray | None) -> np.ndarray | None:
        """``image`` resized (nearest) to box ``index``; None when there is nothing to paste."""
        height, width = self.box_shape(index)
        if image is None or height == 0 or width == 0 or image.size == 0:
            return None
        if image.shape[:2] != (height, width):
            image = image[nearest_indices(image.shape[0], height)][
                :, nearest_indices(image.shape[1], width)]
        return image

    def paste(self, images: Sequence[np.ndarray | None]) -> RasterFigure:
        """Return the frame with one RGB image resized (nearest) into each panel box.

        Images already of the box's size are copied as they are; None leaves a
        box empty. The layer, if any, is drawn over the pasted images.
        """
        pixels = self.pixels.copy()
        for index, image in enumerate(images):
            image = self._fitted(index, image)
            if image is None:
                continue
            row0, row1, col0, col1 = self.boxes[index]
            if self.layer is None or not self._layer_in_box(index):
                pixels[row0:row1, col0:col1] = image
            else:
                pixels[row0:row1, col0:col1] = _over(self.layer[row0:row1, col0:col1], image)
        return RasterFigure(pixels, self.dpi)

    def _layer_in_box(self, index: int) -> bool:
        """Whether the layer draws anything in box ``index`` (most boxes of an overlay: no)."""
        if self._boxes_under_layer is None:
            self._boxes_under_layer = [bool(self.layer[row0:row1, col0:col1, 3].any())
                                       for row0, row1, col0, col1 in self.boxes]
        return self._boxes_under_layer[index]

    def underlay(self, images: Sequence[np.ndarray | None]) -> np.ndarray:
        """What goes under the layer: white, with the images pasted into their boxes."""
        pixels = np.full(self.pixels.shape, 255, dtype=np.uint8)
        for index, image in enumerate(images):
            image = self._fitted(index, image)
            if image is not None:
                row0, row1, col0, col1 = self.boxes[index]
                pixels[row0:row1, col0:col1] = image
        return pixels

    def over(self, underlay: np.ndarray) -> RasterFigure:
        """The layer drawn over ``underlay`` (see :meth:`underlay`)."""
        return RasterFigure(_over(self.layer, underlay), self.dpi)


def _over(layer: np.ndarray, image: np.ndarray) -> np.ndarray:
    """RGBA ``layer`` (straight alpha) composited over RGB ``image``, as uint8."""
    alpha = layer[..., 3:].astype(np.float32) / 255
    return (layer[..., :3] * alpha + image * (1 - alpha) + 0.5).astype(np.uint8)


#: Frames kept per process (a few MB each); keys describe everything drawn in them.
FRAME_CACHE_SIZE = 16
_FRAME_CACHE: OrderedDict = OrderedDict()

#: Bump when a frame drawn by the same code must be drawn anew (the file layout changed).
FRAME_FILE_VERSION = 1


@lru_cache(maxsize=1)
def _drawing_code_digest() -> str:
    """Digest of the code that draws frames (every module of :mod:`regionseries.report.raster`
    and :mod:`regionseries.report.figures`): an edited figure never reuses an old frame."""
    digest = hashlib.sha256()
    report = Path(__file__).parent.parent
    modules = sorted({Path(__file__), *(report / "raster").glob("*.py")})
    for path in [*modules, *sorted((report / "figures").glob("*.py"))]:
        try:
            digest.update(path.relative_to(report).as_posix().encode() + b"\0" + path.read_bytes())
        except OSError:  # not installed as files (a zip): rely on the version
            from ..._version import __version__

            digest.update(__version__.encode())
    return digest.hexdigest()


def frame_file(frame_dir: str | os.PathLike, key: tuple) -> Path:
    """The file of the frame described by ``key`` in ``frame_dir``."""
    identity = repr((FRAME_FILE_VERSION, _drawing_code_digest(), key)).encode()
    return Path(frame_dir) / f"frame-{hashlib.sha256(identity).hexdigest()[:32]}.npz"


def _load_frame(path: Path) -> Frame | None:
    """The frame stored in ``path``, or None when absent or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            names = set(stored.files)
            frame = Frame(
                pixels=stored["pixels"],
                boxes=[tuple(int(v) for v in box) for box in stored["boxes"].reshape(-1, 4)],
                dpi=float(stored["dpi"]),
                layer=stored["layer"] if "layer" in names else None,
                tables={name[len("table_"):]: stored[name] for name in names
                        if name.startswith("table_")},
            )
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    if frame.pixels.ndim != 3 or frame.pixels.dtype != np.uint8:
        return None
    return frame


def _store_frame(path: Path, frame: Frame) -> None:
    """Write ``frame`` to ``path`` atomically; a folder that cannot be written only costs the reuse."""
    arrays = {"pixels": frame.pixels, "boxes": np.asarray(frame.boxes, dtype=np.int64).reshape(-1, 4),
              "dpi": np.float64(frame.dpi)}
    if frame.layer is not None:
        arrays["layer"] = frame.layer
    arrays.update({f"table_{name}": table for name, table in frame.tables.items()})

    def write_npz(stream: BinaryIO) -> None:
        # An .npz (np.load reads it) at zlib level 1: half the time of savez_compressed's
        # level for files 15 % larger (frames are mostly white).
        with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
            for name, array in arrays.items():
                with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)

    try:
        write_replacing(path, write_npz)
    except OSError as exc:
        LOGGER.debug("report frame not kept in %s: %s", path.parent, exc)


def cached_frame(key: tuple, build: Callable[[], Frame], frame_dir: str | os.PathLike | None = None) -> Frame:
    """The frame described by ``key``: from the process, then ``frame_dir``, else ``build()``.

    Parameters
    ----------
    key : tuple
        Everything drawn in the frame (plain str, int, float, bool, bytes, None).
    build : callable
        Draws the frame (with matplotlib) when it is in neither cache.
    frame_dir : path-like or None
        Folder of frames shared by processes and jobs; None: this process only.

    Returns
    -------
    Frame
    """
    frame = _FRAME_CACHE.get(key)
    if frame is not None:
        _FRAME_CACHE.move_to_end(key)
        return frame
    path = None if frame_dir is None else frame_file(frame_dir, key)
    if path is not None:
        frame = _load_frame(path)
    if frame is None:
        LOGGER.debug("drawing the %s frame of a report figure (none in %s)", key[0], frame_dir)
        frame = build()
        if path is not None:
            _store_frame(path, frame)
    _FRAME_CACHE[key] = frame
    while len(_FRAME_CACHE) > FRAME_CACHE_SIZE:
        _FRAME_CACHE.popitem(last=False)
    return frame


def _figures():
    """:mod:`regionseries.report.figures`, imported only when a figure needs matplotlib: a frame
    that no cache holds, or a figure not drawn from frames (SVG, another dpi); importing
    matplotlib costs about 0.2 s, more than drawing all figures of a run from frames."""
    from .. import figures

    return figures


def _file_mode() -> int:
    """Permissions of a new file under the process umask (mkstemp uses 0600)."""
    umask = os.umask(0o022)  # read it (the only way), then put it back at once
    os.umask(umask)
    return 0o666 & ~umask


#: Read once at import: changing the umask briefly is not safe once threads run.
_FILE_MODE = _file_mode()


def save_raster(figure: RasterFigure, path: str | os.PathLike) -> Path:
    """Write a raster figure to ``path`` (``.png``) atomically.

    Parameters
    ----------
    figure : RasterFigure
    path : path-like
        Target file ending in ``.png``.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in FIGURE_FORMATS:
        raise ValueError(f"cannot write figure {path}: format must be one of {FIGURE_FORMATS}")
    if fmt != "png":
        raise ValueError(f"cannot write figure {path}: a raster figure can only be written as PNG")
    dots = (round(figure.dpi), round(figure.dpi))
    return write_replacing(path, lambda stream: Image.fromarray(figure.pixels).save(
        stream, format="PNG", dpi=dots, compress_level=PNG_COMPRESS_LEVEL))


def write_replacing(path: Path, write: Callable[[BinaryIO], None]) -> Path:
    """Create ``path`` from what ``write`` writes into a binary stream, atomically.

    The stream is a hidden temporary sibling, given the permissions of a new
    file under the umask (``mkstemp`` makes it 0600) and renamed over
    ``path``; it is removed if anything fails. Report figures and the frame
    cache are written this way.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
        os.chmod(temporary, _FILE_MODE)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
