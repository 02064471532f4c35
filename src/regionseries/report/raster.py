"""Report figures as pixels: a frame drawn once, the data pasted in with numpy.

A participant page shows the same kinds of figure for every run: only the
data change, not the axes, ticks, labels, legends and colour bars around
them. A *frame* is that figure drawn without its data, by matplotlib
(:mod:`regionseries.report.figures`), plus where (in pixels) its data panels
are; each run's figure is the frame with its data pasted in as pixels, and
written as PNG with Pillow.

Frames depend only on what they show (titles, axis ranges, the grid, ...),
never on the data, so they are kept: in the process, and in a folder given
as ``frame_dir`` (the pipeline uses the study's cache folder), where the jobs
of a study share them. A job whose frames are all there never imports
matplotlib: this module only needs numpy and Pillow, and imports
:mod:`~regionseries.report.figures` only to draw a missing frame.

Atlas overlays are frames too: their text (view names, slice coordinates,
sphere numbers) and spheres are drawn on a transparent layer, the slices or
projections of the run's reference image are pasted under it.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import tempfile
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image, ImageDraw
from scipy import sparse

from .model import AtlasResult, RunReport, StrategyResult

__all__ = [
    "FIGURE_FORMATS",
    "Frame",
    "RasterFigure",
    "atlas_raster",
    "carpet_panels",
    "carpet_raster",
    "connectivity_limit",
    "connectivity_raster",
    "label_colors",
    "motion_raster",
    "save_raster",
    "write_replacing",
    "strongest_map_index",
    "strongest_map_index_of_weights",
]

LOGGER = logging.getLogger(__name__)

#: Formats figures are written in.
FIGURE_FORMATS = ("png", "svg")

#: Width of full-width figures in inches (the page column is ~1050 px; 100 dpi).
FULL_WIDTH_IN = 10.0

#: Colours used consistently across figures.
COLOR_KEPT = "#cfe8cf"
COLOR_DUMMY = "#7f7f7f"
COLOR_CENSORED = "#d62728"
COLOR_OTHER = "#f2b134"
COLOR_FD = "#1f4e79"
COLOR_NA = (0.84, 0.15, 0.16)

#: Volume states of the motion figure, in the order of their codes (see :func:`_volume_states`).
STATE_COLORS = (COLOR_KEPT, COLOR_DUMMY, COLOR_CENSORED, COLOR_OTHER)

#: Spheres: one colour when they are too many to number, alpha, white edge width (points),
#: and the background of the views without a reference image.
SPHERE_COLOR = (0.16, 0.47, 0.71)
SPHERE_ALPHA = 0.9
SPHERE_EDGE_PT = 0.6
SPHERES_BACKGROUND = "#303030"

#: Carpet plots show z-scores from -CARPET_LIMIT to CARPET_LIMIT.
CARPET_LIMIT = 2.0

#: zlib level of the PNG files. Measured on the benchmark's figures (the carpets
#: and matrices are noise, which compresses little): level 1 writes them in a
#: third of the time of Pillow's default 6 for files 4-9 % larger; see
#: docs/performance.md.
PNG_COMPRESS_LEVEL = 1


def hex_rgb(color: str) -> tuple[float, float, float]:
    """``"#rrggbb"`` as (r, g, b) in [0, 1]."""
    value = color.lstrip("#")
    return tuple(int(value[k:k + 2], 16) / 255 for k in (0, 2, 4))


def _uint8(rgb: Sequence[float]) -> np.ndarray:
    return (np.asarray(rgb, dtype=float) * 255 + 0.5).astype(np.uint8)


def _hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    """(n, 3) HSV in [0, 1] to RGB in [0, 1], as :func:`matplotlib.colors.hsv_to_rgb`."""
    hue, saturation, value = hsv[:, 0], hsv[:, 1], hsv[:, 2]
    sector = np.floor(hue * 6.0).astype(int)
    fraction = hue * 6.0 - sector
    p = value * (1.0 - saturation)
    q = value * (1.0 - saturation * fraction)
    t = value * (1.0 - saturation * (1.0 - fraction))
    sector %= 6
    choices = [(value, t, p), (q, value, p), (p, value, t), (p, q, value), (t, p, value),
               (value, p, q)]
    rgb = np.empty_like(hsv)
    for channel in range(3):
        rgb[:, channel] = np.select([sector == k for k in range(6)],
                                    [choice[channel] for choice in choices])
    grey = saturation == 0
    rgb[grey] = value[grey, None]
    return rgb


def label_colors(n: int) -> np.ndarray:
    """Return ``n`` distinct RGB colours (golden-ratio hue steps).

    Neighbouring labels (consecutive values) get very different hues, which
    keeps adjacent parcels apart in overlays.

    Parameters
    ----------
    n : int
        Number of colours.

    Returns
    -------
    numpy.ndarray, shape (n, 3)
        RGB in [0, 1].
    """
    golden = (math.sqrt(5) - 1) / 2
    hues = (0.11 + golden * np.arange(n)) % 1.0
    saturation = np.where(np.arange(n) % 2 == 0, 0.75, 0.55)
    value = np.where(np.arange(n) % 3 == 0, 0.95, 0.82)
    return _hsv_to_rgb(np.column_stack([hues, saturation, value]))


# ---------------------------------------------------------------------------
# Raster figures and frames


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
    """Digest of the code that draws frames: an edited figure never reuses an old frame."""
    digest = hashlib.sha256()
    here = Path(__file__).parent
    for path in [here / "raster.py", *sorted((here / "figures").glob("*.py"))]:
        try:
            digest.update(path.relative_to(here).as_posix().encode() + b"\0" + path.read_bytes())
        except OSError:  # not installed as files (a zip): rely on the version
            from .._version import __version__

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
    """:mod:`regionseries.report.figures`, imported only to draw a frame that no cache holds
    (importing matplotlib costs about 0.2 s, more than drawing all figures of a run from frames)."""
    from . import figures

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


def colormapped(values: np.ndarray, table: np.ndarray, bad: np.ndarray, vmin: float,
                vmax: float) -> np.ndarray:
    """RGB uint8 image of ``values`` as matplotlib draws it with a colour map.

    Parameters
    ----------
    values : numpy.ndarray
    table : numpy.ndarray, shape (N, 3), uint8
        The colour map's N colours (``figures.colormap_table``).
    bad : numpy.ndarray, shape (3,), uint8
        Colour of non-finite values.
    vmin, vmax : float
        Values mapped to the first and last colour.

    Returns
    -------
    numpy.ndarray, shape values.shape + (3,), uint8
    """
    n_colors = len(table)
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    with np.errstate(invalid="ignore"):
        scaled = (np.where(finite, values, vmin) - vmin) / (vmax - vmin)
    index = np.clip((scaled * n_colors).astype(np.int64), 0, n_colors - 1)
    image = table[index]
    image[~finite] = bad
    return image


# ---------------------------------------------------------------------------
# Motion and censoring


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 (× a power of ten) that is >= value."""
    if not value > 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if step * power >= value * (1 - 1e-9):
            return round(step * power, 12)
    return round(10 * power, 12)


def _volume_states(n_volumes: int, strategies: Sequence[StrategyResult]) -> np.ndarray:
    """(strategies, volumes) codes: 0 kept, 1 dummy, 2 censored for motion, 3 other."""
    states = np.zeros((max(len(strategies), 1), n_volumes), dtype=np.int8)
    for row, strategy in enumerate(strategies):
        states[row, :] = 3  # neither kept nor explicitly removed
        states[row, strategy.kept_volumes] = 0
        states[row, strategy.dummy_volumes] = 1
        states[row, strategy.motion_censored_volumes] = 2
    return states


def _fd_top(fd: np.ndarray, strategies: Sequence[StrategyResult]) -> float:
    finite = fd[np.isfinite(fd)]
    thresholds = [s.fd_threshold for s in strategies if s.fd_threshold is not None]
    return _nice_ceiling(1.1 * max([finite.max() if finite.size else 0.0, *thresholds, 0.1]))


def _all_indices(strategies: Sequence[StrategyResult], attribute: str) -> np.ndarray:
    return np.unique(np.concatenate(
        [getattr(s, attribute) for s in strategies] + [np.empty(0, dtype=np.int64)]))


def _motion_parts(n_volumes: int, strategies: Sequence[StrategyResult], fd: np.ndarray | None):
    states = _volume_states(n_volumes, strategies)
    censored = _all_indices(strategies, "motion_censored_volumes")
    fd_top = None if fd is None else _fd_top(fd, strategies)
    if fd is not None:
        censored = censored[censored < fd.size]
    return states, censored, _all_indices(strategies, "dummy_volumes"), fd_top


def motion_raster(
    n_volumes: int,
    repetition_time: float,
    strategies: Sequence[StrategyResult],
    fd: np.ndarray | None = None,
    supersampling: int = 4,
    frame_dir: str | os.PathLike | None = None,
) -> RasterFigure:
    """:func:`~regionseries.report.figures.plot_motion` as pixels, from a frame.

    The FD trace and the censored volumes are drawn ``supersampling`` times
    larger and reduced (anti-aliased); the volume mask is pasted as an image.

    Parameters
    ----------
    n_volumes, repetition_time, strategies, fd
        As for :func:`~regionseries.report.figures.plot_motion`.
    supersampling : int
        Oversampling factor of the drawn FD trace.
    frame_dir : path-like or None
        Folder of frames shared by jobs (:func:`cached_frame`).

    Returns
    -------
    RasterFigure
    """
    states, censored, dummies, fd_top = _motion_parts(n_volumes, strategies, fd)
    any_other = bool(np.any(states == 3))
    key = ("motion", n_volumes, float(repetition_time),
           tuple((s.name, s.excluded, s.fd_threshold) for s in strategies),
           fd_top, bool(censored.size), any_other)
    frame = cached_frame(key, lambda: _figures().motion_frame(
        n_volumes, repetition_time, strategies, fd_top, bool(censored.size), any_other), frame_dir)
    colors = np.array([_uint8(hex_rgb(c)) for c in STATE_COLORS])
    raster = frame.paste([colors[states]])
    pixels = raster.pixels
    row0, row1, col0, col1 = frame.boxes[0]
    for row in range(1, len(states)):  # white lines between strategies
        middle = row0 + int(round(row * (row1 - row0) / len(states)))
        pixels[max(middle - 1, row0):middle + 1, col0:col1] = 255
    if fd is None:
        return raster
    row0, row1, col0, col1 = frame.boxes[1]
    height, width = row1 - row0, col1 - col0
    box = pixels[row0:row1, col0:col1].astype(float)

    def x_pixel(volume: np.ndarray) -> np.ndarray:
        return (np.asarray(volume, dtype=float) + 0.5) / n_volumes * width

    if dummies.size:
        right = int(round(x_pixel(dummies.max() + 0.5)))
        box[:, :right] = 0.75 * box[:, :right] + 0.25 * np.array(hex_rgb(COLOR_DUMMY)) * 255
    scale = supersampling
    image = Image.fromarray(box.round().astype(np.uint8)).resize(
        (width * scale, height * scale), Image.NEAREST)
    draw = ImageDraw.Draw(image)
    xs = x_pixel(np.arange(fd.size)) * scale
    ys = (1 - fd / fd_top) * height * scale
    finite = np.isfinite(ys)
    line_width = max(1, int(round(0.9 / 72 * frame.dpi * scale)))
    fd_color = tuple(int(v) for v in _uint8(hex_rgb(COLOR_FD)))
    for segment in np.split(np.arange(fd.size), np.flatnonzero(~finite)):
        segment = segment[finite[segment]]
        if segment.size >= 2:
            draw.line(list(zip(xs[segment], ys[segment])), fill=fd_color, width=line_width,
                      joint="curve")
    radius = 2.0 / 72 * frame.dpi * scale  # scatter s=9 pt²: 3 pt wide, plus its 1 pt edge
    red = tuple(int(v) for v in _uint8(hex_rgb(COLOR_CENSORED)))
    for volume in censored:
        if np.isfinite(ys[volume]):
            draw.ellipse([xs[volume] - radius, ys[volume] - radius,
                          xs[volume] + radius, ys[volume] + radius], fill=red)
    pixels[row0:row1, col0:col1] = np.asarray(image.reduce(scale))
    return raster


# ---------------------------------------------------------------------------
# Carpet plots


def _zscore_columns(signals: np.ndarray) -> np.ndarray:
    """Z-score each column over its finite values; constant or empty columns become NaN/0."""
    signals = np.asarray(signals, dtype=float)
    finite = np.isfinite(signals)
    counts = finite.sum(axis=0)
    filled = np.where(finite, signals, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = filled.sum(axis=0) / counts
        deviation = np.where(finite, signals - mean, 0.0)
        std = np.sqrt((deviation**2).sum(axis=0) / counts)
        scores = deviation / np.where(std > 0, std, np.inf)
    return np.where(finite, scores, np.nan)


def _check_panels(panels: Sequence[tuple[str, np.ndarray]]) -> tuple[int, int]:
    if not panels:
        raise ValueError("plot_carpet needs at least one panel")
    shapes = {np.shape(signals) for _, signals in panels}
    if len(shapes) != 1:
        raise ValueError(f"carpet panels must all have the same shape, got {sorted(shapes)}")
    n_volumes, n_regions = shapes.pop()
    return n_volumes, n_regions


def carpet_raster(
    panels: Sequence[tuple[str, np.ndarray]],
    repetition_time: float,
    region_axis_label: str = "regions",
    frame_dir: str | os.PathLike | None = None,
) -> RasterFigure:
    """:func:`~regionseries.report.figures.plot_carpet` as pixels, from a frame.

    Only the regions and volumes that land on a pixel are colour-mapped (the
    nearest to each pixel centre, as matplotlib's ``nearest`` interpolation
    shows them); each region is z-scored over all its volumes first.

    Parameters
    ----------
    panels, repetition_time, region_axis_label
        As for :func:`~regionseries.report.figures.plot_carpet`.
    frame_dir : path-like or None
        Folder of frames shared by jobs (:func:`cached_frame`).

    Returns
    -------
    RasterFigure
    """
    n_volumes, n_regions = _check_panels(panels)
    titles = tuple(title for title, _ in panels)
    key = ("carpet", titles, n_volumes, n_regions, float(repetition_time), region_axis_label)
    frame = cached_frame(key, lambda: _figures().carpet_frame(
        titles, n_volumes, n_regions, repetition_time, region_axis_label), frame_dir)
    images = []
    for index, (_, signals) in enumerate(panels):
        height, width = frame.box_shape(index)
        scores = _zscore_columns(signals)[nearest_indices(n_volumes, width)][
            :, nearest_indices(n_regions, height)]
        images.append(colormapped(scores.T, frame.tables["colors"], frame.tables["bad"],
                                  -CARPET_LIMIT, CARPET_LIMIT))
    return frame.paste(images)


def carpet_panels(run: RunReport, atlas_name: str) -> list[tuple[str, np.ndarray]]:
    """The carpet panels of one atlas of a run: before cleaning, then each strategy.

    Parameters
    ----------
    run : RunReport
    atlas_name : str

    Returns
    -------
    list of (title, signals)
    """
    panels = []
    if atlas_name in run.raw_signals:
        panels.append(("before cleaning", run.raw_signals[atlas_name]))
    for strategy in run.strategies:
        key = (atlas_name, strategy.name)
        if key in run.clean_signals:
            suffix = " (run excluded)" if strategy.excluded else ""
            panels.append((f"after cleaning: {strategy.name}{suffix}", run.clean_signals[key]))
    return panels


# ---------------------------------------------------------------------------
# Connectivity


def connectivity_limit(matrices: Sequence[np.ndarray], measure: str = "correlation") -> float:
    """Symmetric colour limit shared by several matrices (99th percentile of |off-diagonal|).

    For correlation-type measures the limit is rounded up to a multiple of
    0.1 and capped at 1, so that figures of different runs share a scale
    (and a frame).

    Parameters
    ----------
    matrices : sequence of numpy.ndarray
    measure : str

    Returns
    -------
    float
    """
    values = []
    for matrix in matrices:
        matrix = np.asarray(matrix, dtype=float)
        off_diagonal = matrix[~np.eye(matrix.shape[0], dtype=bool)]
        values.append(np.abs(off_diagonal[np.isfinite(off_diagonal)]))
    values = np.concatenate(values) if values else np.empty(0)
    if values.size == 0:
        return 1.0
    limit = float(np.percentile(values, 99))
    if "correlation" in measure:
        return float(np.clip(math.ceil(round(limit * 10, 6)) / 10, 0.1, 1.0))
    return limit if limit > 0 else 1.0


def _matrix_for_display(matrix: np.ndarray) -> np.ndarray:
    shown = np.array(matrix, dtype=float)
    np.fill_diagonal(shown, np.nan)
    return shown


def _check_matrices(matrices: Sequence[tuple[str, np.ndarray]], n_regions: int) -> None:
    if not matrices:
        raise ValueError("plot_connectivity needs at least one matrix")
    for title, matrix in matrices:
        if np.shape(matrix) != (n_regions, n_regions):
            raise ValueError(
                f"connectivity matrix {title!r} must be {n_regions}×{n_regions} "
                f"(one row per region name), got {np.shape(matrix)}"
            )


def connectivity_raster(
    matrices: Sequence[tuple[str, np.ndarray]],
    region_names: Sequence[str],
    measure: str = "correlation",
    max_labelled_regions: int = 30,
    max_columns: int = 3,
    frame_dir: str | os.PathLike | None = None,
) -> RasterFigure:
    """:func:`~regionseries.report.figures.plot_connectivity` as pixels, from a frame.

    Parameters
    ----------
    matrices, region_names, measure, max_labelled_regions, max_columns
        As for :func:`~regionseries.report.figures.plot_connectivity`.
    frame_dir : path-like or None
        Folder of frames shared by jobs (:func:`cached_frame`).

    Returns
    -------
    RasterFigure
    """
    _check_matrices(matrices, len(region_names))
    limit = connectivity_limit([m for _, m in matrices], measure)
    titles = tuple(title for title, _ in matrices)
    n_regions = len(region_names)
    names_key = tuple(region_names) if n_regions <= max_labelled_regions else n_regions
    key = ("connectivity", titles, names_key, measure, limit, max_labelled_regions, max_columns)
    frame = cached_frame(key, lambda: _figures().connectivity_frame(
        titles, region_names, measure, limit, max_labelled_regions, max_columns), frame_dir)
    images = []
    for index, (_, matrix) in enumerate(matrices):
        height, width = frame.box_shape(index)
        shown = _matrix_for_display(matrix)
        shown = shown[nearest_indices(n_regions, height)][:, nearest_indices(n_regions, width)]
        images.append(colormapped(shown, frame.tables["colors"], frame.tables["bad"], -limit, limit))
    return frame.paste(images)


# ---------------------------------------------------------------------------
# Atlases over the reference image


def _canonical(data: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reorient an array to the closest RAS+ orientation; return (data, affine)."""
    import nibabel as nib

    orientation = nib.orientations.io_orientation(affine)
    target = nib.orientations.axcodes2ornt("RAS")
    transform = nib.orientations.ornt_transform(orientation, target)
    reoriented = nib.orientations.apply_orientation(data, transform)
    new_affine = affine @ nib.orientations.inv_ornt_aff(transform, data.shape[:3])
    return np.asarray(reoriented), new_affine


def _resample_nearest(
    data: np.ndarray, affine: np.ndarray, shape: tuple[int, ...], target_affine: np.ndarray
) -> np.ndarray:
    """Nearest-neighbour resampling of a 3D/4D array onto another grid (display only)."""
    from scipy.ndimage import map_coordinates

    grid = np.indices(shape[:3]).reshape(3, -1)
    world = target_affine[:3, :3] @ grid + target_affine[:3, 3:4]
    source = np.linalg.solve(affine[:3, :3], world - affine[:3, 3:4])
    volumes = data[..., None] if data.ndim == 3 else data
    out = np.stack(
        [
            map_coordinates(volumes[..., k], source, order=0, mode="constant", cval=0).reshape(
                shape[:3]
            )
            for k in range(volumes.shape[3])
        ],
        axis=-1,
    )
    return out[..., 0] if data.ndim == 3 else out


class _Grid:
    """A RAS-reoriented voxel grid with world (mm) coordinates along each axis."""

    def __init__(self, affine: np.ndarray, shape: tuple[int, ...]):
        self.shape = tuple(int(n) for n in shape[:3])
        self.origin = np.asarray(affine, dtype=float)[:3, 3]
        self.step = np.abs(np.diag(np.asarray(affine, dtype=float)[:3, :3])).copy()
        self.step[self.step == 0] = 1.0

    def world(self, axis: int, index: float) -> float:
        """World coordinate (mm) of voxel ``index`` along ``axis``."""
        return float(self.origin[axis] + index * self.step[axis])

    def span(self, axis: int) -> tuple[float, float]:
        """World extent (mm) of the grid along ``axis``, voxel edges included."""
        return self.world(axis, -0.5), self.world(axis, self.shape[axis] - 0.5)

    @property
    def key(self) -> tuple:
        """What figures drawn on this grid depend on (shape, origin and steps, mm)."""
        return (self.shape, tuple(round(float(v), 6) for v in self.origin),
                tuple(round(float(v), 6) for v in self.step))


#: (name, slicing axis, displayed axes (horizontal, vertical), coordinate letter)
_VIEWS = (
    ("axial", 2, (0, 1), "z"),
    ("coronal", 1, (0, 2), "y"),
    ("sagittal", 0, (1, 2), "x"),
)


def _slice(volume: np.ndarray, axis: int, index: int) -> np.ndarray:
    """2-D slice of a 3D volume, transposed for imshow(origin='lower').

    A view (``np.take`` would first copy a whole Fortran-ordered volume, as
    nibabel's are, for every slice).
    """
    return volume[(slice(None),) * axis + (int(index),)].T


def _cut_indices(extent_mask: np.ndarray, axis: int, n_cuts: int) -> np.ndarray:
    """Evenly spaced slice indices inside the non-empty part of ``extent_mask``."""
    other = tuple(a for a in range(3) if a != axis)
    filled = np.flatnonzero(extent_mask.any(axis=other))
    if filled.size == 0:
        low, high = 0, extent_mask.shape[axis] - 1
    else:
        low, high = filled[0], filled[-1]
    return np.unique(np.round(np.linspace(low, high, n_cuts + 2)[1:-1]).astype(int))


def overlay_cuts(indices: np.ndarray, reference_extent: Callable[[], np.ndarray] | None,
                 n_cuts: int) -> tuple[tuple[int, ...], ...]:
    """Slice indices of each view (:data:`_VIEWS` order): evenly spaced through the atlas.

    The cuts span the atlas's regions (the reference image's extent only
    when the atlas has none on this grid), so that every slice shows
    regions, and so that the overlays of all participants in one space share
    their cuts (and their frame).

    Parameters
    ----------
    indices : numpy.ndarray, 3D
        Region of each voxel (0: none).
    reference_extent : callable or None
        Returns where the reference image is drawn (non-background, bool 3D).
    n_cuts : int

    Returns
    -------
    tuple of tuple of int
    """
    extent = indices > 0
    if not extent.any() and reference_extent is not None:
        extent = reference_extent()
    return tuple(tuple(int(i) for i in _cut_indices(extent, axis, n_cuts))
                 for _, axis, _, _ in _VIEWS)


def _grey_range(reference: np.ndarray) -> tuple[float, float]:
    """(low, high) mapped to black and white: 2nd and 98th percentiles of the non-zero voxels."""
    finite = np.where(np.isfinite(reference), reference, 0.0)
    values = finite[finite != 0]
    if values.size == 0:
        return 0.0, 1.0
    low, high = np.percentile(values, [2, 98])
    low = min(float(low), 0.0)
    if high <= low:
        high = low + 1.0
    return low, float(high)


def _grey(reference: np.ndarray, grey_range: tuple[float, float], brightness: float = 1.0) -> np.ndarray:
    """Grey levels in [0, 1] of (part of) the reference, for its ``grey_range``."""
    low, high = grey_range
    finite = np.where(np.isfinite(reference), reference, 0.0)
    return np.clip((finite - low) / (high - low), 0, 1) * brightness


def _grey_levels(reference: np.ndarray | None, shape: tuple[int, ...],
                 brightness: float = 1.0) -> np.ndarray:
    """Reference scaled to [0, 1] grey levels (2nd–98th percentile of non-zero voxels)."""
    if reference is None:
        return np.zeros(shape[:3])
    finite = np.where(np.isfinite(reference), reference, 0.0)
    if not (finite != 0).any():
        return np.zeros(shape[:3])
    return _grey(reference, _grey_range(reference), brightness)


def _silhouette(indices: np.ndarray) -> np.ndarray:
    """Light grey where the atlas has regions: the background when there is no reference."""
    return np.where(indices > 0, 0.8, 0.0)


def _label_boundaries(index_slice: np.ndarray) -> np.ndarray:
    """Pixels whose region differs from a 4-neighbour's (parcel outlines)."""
    boundary = np.zeros(index_slice.shape, dtype=bool)
    vertical = index_slice[1:, :] != index_slice[:-1, :]
    horizontal = index_slice[:, 1:] != index_slice[:, :-1]
    boundary[1:, :] |= vertical
    boundary[:-1, :] |= vertical
    boundary[:, 1:] |= horizontal
    boundary[:, :-1] |= horizontal
    return boundary & (index_slice != 0)


def _blend_slice(
    grey_slice: np.ndarray,
    index_slice: np.ndarray,
    colors: np.ndarray,
    na_flags: np.ndarray,
    fill_alpha: float,
) -> np.ndarray:
    """RGB slice: grey background, regions filled and outlined, n/a regions in red."""
    rgb = np.repeat(grey_slice[..., None], 3, axis=2)
    inside = index_slice > 0
    region = index_slice[inside] - 1
    color = colors[region].copy()
    alpha = np.full(region.size, fill_alpha)
    boundary = _label_boundaries(index_slice)[inside]
    color[boundary] *= 0.55
    alpha[boundary] = 0.95
    is_na = na_flags[region]
    color[is_na] = COLOR_NA
    alpha[is_na] = np.where(boundary[is_na], 1.0, 0.35)
    rgb[inside] = rgb[inside] * (1 - alpha[:, None]) + color * alpha[:, None]
    return rgb


def _prepare_volumes(
    atlas_data: np.ndarray,
    atlas_affine: np.ndarray,
    reference: np.ndarray | None,
    reference_affine: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray | None, _Grid]:
    """Put atlas and reference on one RAS grid (the reference's when given)."""
    atlas_data, atlas_affine = _canonical(atlas_data, np.asarray(atlas_affine, float))
    if reference is None:
        return atlas_data, None, _Grid(atlas_affine, atlas_data.shape)
    reference, reference_affine = _canonical(np.asarray(reference, dtype=float),
                                             np.asarray(reference_affine, float))
    if atlas_data.shape[:3] != reference.shape or not np.allclose(
        atlas_affine, reference_affine, atol=1e-3
    ):
        atlas_data = _resample_nearest(atlas_data, atlas_affine, reference.shape, reference_affine)
    return atlas_data, reference, _Grid(reference_affine, reference.shape)


#: Label values spanning at most this many integers are looked up in a table.
_LOOKUP_TABLE_MAX = 1 << 22


def _region_indices(labels: np.ndarray, label_values: np.ndarray) -> np.ndarray:
    """Map label values to 1-based region positions (0 for background/unknown)."""
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu":
        labels = np.rint(np.nan_to_num(labels)).astype(np.int64)
    label_values = np.asarray(label_values, dtype=np.int64)
    if labels.size == 0 or label_values.size == 0:
        return np.zeros(labels.shape, dtype=np.int64)
    low, high = int(labels.min()), int(labels.max())
    if high - low < _LOOKUP_TABLE_MAX:
        table = np.zeros(high - low + 1, dtype=np.int32 if label_values.size < 2**31 else np.int64)
        present = (label_values >= low) & (label_values <= high)
        positions = np.flatnonzero(present)[::-1]  # the first of repeated values wins
        table[label_values[positions] - low] = positions + 1
        # Integer labels index the table as they are (no int64 copy of the volume) when
        # they start at 0, as label images do.
        return table[labels] if low == 0 else table[labels.astype(np.int64) - low]
    labels = labels.astype(np.int64, copy=False)
    order = np.argsort(label_values, kind="stable")
    sorted_values = label_values[order]
    position = np.clip(np.searchsorted(sorted_values, labels), 0, sorted_values.size - 1)
    known = sorted_values[position] == labels
    indices = np.zeros(labels.shape, dtype=np.int64)
    indices[known] = order[position[known]] + 1
    return indices


class OverlayVolumes:
    """An atlas's regions and the reference on one RAS grid, and the slices an overlay shows.

    Parameters
    ----------
    indices : numpy.ndarray, 3D int
        Region of each voxel (1-based position in the atlas table; 0: none).
    reference : numpy.ndarray or None
        The reference on the same grid (None: the atlas's silhouette is drawn).
    grid : _Grid
    n_cuts : int
        Slices per view.
    grey_range : (float, float) or None
        The reference's :func:`_grey_range`, if known.
    """

    def __init__(self, indices: np.ndarray, reference: np.ndarray | None, grid: _Grid, n_cuts: int,
                 grey_range: tuple[float, float] | None = None):
        self.indices = indices
        self.reference = reference
        self.grid = grid
        self.n_cuts = n_cuts
        if reference is not None and grey_range is None:
            grey_range = _grey_range(reference)
        self.grey_range = grey_range
        self.cuts = overlay_cuts(indices, None if reference is None else self._reference_extent,
                                 n_cuts)

    def _reference_extent(self) -> np.ndarray:
        return np.where(np.isfinite(self.reference), self.reference, 0.0) > self.grey_range[0]

    def grey_slice(self, axis: int, index: int) -> np.ndarray:
        """Grey levels in [0, 1] of one slice (as :func:`_slice` orients it)."""
        if self.reference is None:
            return _silhouette(_slice(self.indices, axis, index))
        return _grey(_slice(self.reference, axis, index), self.grey_range)

    def slices(self, colors: np.ndarray, na_flags: np.ndarray, fill_alpha: float):
        """The blended RGB slices in [0, 1], view by view, as :func:`_blend_slice` draws them."""
        for (_, axis, _, _), cuts in zip(_VIEWS, self.cuts):
            for index in cuts:
                yield _blend_slice(self.grey_slice(axis, index), _slice(self.indices, axis, index),
                                   colors, na_flags, fill_alpha)


def overlay_volumes(atlas_data: np.ndarray, affine: np.ndarray, reference: np.ndarray | None,
                    reference_affine: np.ndarray | None, n_cuts: int,
                    label_values: Sequence[int] | None = None, min_fraction: float = 0.1,
                    grey_range: tuple[float, float] | None = None) -> OverlayVolumes:
    """:class:`OverlayVolumes` of a labels image (``label_values``) or of 4D maps (None)."""
    if label_values is None:
        maps, reference, grid = _prepare_volumes(np.asarray(atlas_data, dtype=np.float32), affine,
                                                 reference, reference_affine)
        indices = strongest_map_index(maps, min_fraction)
    else:
        labels, reference, grid = _prepare_volumes(np.asarray(atlas_data), affine, reference,
                                                   reference_affine)
        indices = _region_indices(labels, np.asarray(label_values, dtype=np.int64))
    return OverlayVolumes(indices, reference, grid, n_cuts, grey_range)


#: The last reference image seen and its arrays: the overlays of a run's atlases share it.
_LAST_REFERENCE: list = []


def _reference_arrays(reference_image: Any) -> tuple[np.ndarray | None, np.ndarray | None,
                                                     tuple[float, float] | None]:
    """(data, affine, :func:`_grey_range`) of a nibabel reference image (Nones for None)."""
    if reference_image is None:
        return None, None, None
    if _LAST_REFERENCE and _LAST_REFERENCE[0] is reference_image:
        return _LAST_REFERENCE[1]
    data = np.asarray(reference_image.dataobj, dtype=float)
    arrays = (data, np.asarray(reference_image.affine, dtype=float), _grey_range(data))
    _LAST_REFERENCE[:] = [reference_image, arrays]
    return arrays


def cuts_raster(volumes: OverlayVolumes, colors: np.ndarray, na_flags: np.ndarray,
                fill_alpha: float, frame_dir: str | os.PathLike | None = None) -> RasterFigure:
    """The slices of an overlay pasted under their frame (names and coordinates)."""
    key = ("cuts", volumes.grid.key, volumes.cuts, volumes.n_cuts)
    frame = cached_frame(key, lambda: _figures().cuts_frame(volumes.grid, volumes.cuts,
                                                            volumes.n_cuts), frame_dir)
    images = [_uint8_image(rgb[::-1]) for rgb in volumes.slices(colors, na_flags, fill_alpha)]
    return frame.paste(images)


def _uint8_image(rgb: np.ndarray) -> np.ndarray:
    """RGB in [0, 1] as uint8, as matplotlib converts an RGB float image (truncating)."""
    return (np.clip(rgb, 0, 1) * 255).astype(np.uint8)


def sphere_colors(n: int, na_flags: np.ndarray, max_numbered: int) -> np.ndarray:
    """(n, 3) RGB in [0, 1] of the spheres: one colour each when they are numbered, else
    one colour for all (hundreds of colours carry no information); n/a spheres red."""
    colors = label_colors(n) if n <= max_numbered else np.tile(np.array(SPHERE_COLOR), (n, 1))
    return np.where(np.asarray(na_flags, dtype=bool)[:, None], np.array(COLOR_NA), colors)


def _draw_spheres(pixels: np.ndarray, centres: np.ndarray, radius: float, colors: np.ndarray,
                  supersampling: int = 4) -> np.ndarray:
    """Spheres drawn as matplotlib's EllipseCollection draws them (filled, white edge, alpha),
    on a ``supersampling`` times larger image reduced again (anti-aliasing).

    Parameters
    ----------
    pixels : numpy.ndarray, (height, width, 3) uint8
    centres : numpy.ndarray, (views, n, 2)
        Centres in pixels (column, row), drawn view after view.
    radius : float
        Radius in pixels.
    colors : numpy.ndarray, (n, 3)
        Fill colours in [0, 1].
    """
    if centres.size == 0:
        return pixels
    scale = supersampling
    edge = SPHERE_EDGE_PT / 72 * 100 * scale  # the frames are drawn at 100 dpi
    outer = radius * scale + edge / 2
    # Only the rectangle holding the spheres is enlarged (whole pixels, within the image).
    low = np.maximum(np.floor(centres.reshape(-1, 2).min(axis=0) - outer / scale) - 1, 0).astype(int)
    high = np.minimum(np.ceil(centres.reshape(-1, 2).max(axis=0) + outer / scale) + 1,
                      [pixels.shape[1], pixels.shape[0]]).astype(int)
    (col0, row0), (col1, row1) = low, high
    part = pixels[row0:row1, col0:col1]
    image = Image.fromarray(part).resize((part.shape[1] * scale, part.shape[0] * scale),
                                         Image.NEAREST)
    draw = ImageDraw.Draw(image, "RGBA")  # blends each sphere over what is under it
    alpha = int(round(255 * SPHERE_ALPHA))
    fills = [tuple(int(v) for v in _uint8(color)) + (alpha,) for color in colors]
    for view in centres:
        for (column, row), fill in zip((view - low) * scale, fills):
            draw.ellipse([column - outer, row - outer, column + outer, row + outer], fill=fill,
                         outline=(255, 255, 255, alpha), width=max(1, int(round(edge))))
    pixels = pixels.copy()
    pixels[row0:row1, col0:col1] = np.asarray(image.reduce(scale))
    return pixels


def spheres_raster(coordinates_mm: np.ndarray, radius_mm: float | None,
                   na_flags: Sequence[bool] | None = None, reference: np.ndarray | None = None,
                   reference_affine: np.ndarray | None = None, max_numbered: int = 40,
                   frame_dir: str | os.PathLike | None = None,
                   grey_range: tuple[float, float] | None = None) -> RasterFigure:
    """:func:`~regionseries.report.figures.plot_spheres` as pixels: the reference's
    projections, the spheres drawn over them, and a frame of their names and numbers.

    Parameters
    ----------
    coordinates_mm, radius_mm, na_flags, reference, reference_affine, max_numbered
        As for :func:`~regionseries.report.figures.plot_spheres`.
    frame_dir : path-like or None
        Folder of frames shared by jobs (:func:`cached_frame`).
    grey_range : (float, float) or None
        The reference's :func:`_grey_range`, if known.

    Returns
    -------
    RasterFigure
    """
    coordinates = np.asarray(coordinates_mm, dtype=float).reshape(-1, 3)
    na_flags = (np.zeros(len(coordinates), bool) if na_flags is None
                else np.asarray(na_flags, dtype=bool))
    grid = None
    if reference is not None:
        reference, reference_affine = _canonical(np.asarray(reference, float),
                                                 np.asarray(reference_affine, float))
        grid = _Grid(reference_affine, reference.shape)
    key = ("spheres", coordinates.tobytes(), None if radius_mm is None else float(radius_mm),
           max_numbered, None if grid is None else grid.key)
    frame = cached_frame(key, lambda: _figures().spheres_frame(
        coordinates, radius_mm, grid, max_numbered), frame_dir)
    if reference is None:
        background = np.array(_uint8(hex_rgb(SPHERES_BACKGROUND)))
        images = [np.broadcast_to(background, frame.box_shape(k) + (3,)) for k in range(len(_VIEWS))]
    else:
        grey_range = grey_range or _grey_range(reference)
        finite = np.where(np.isfinite(reference), reference, 0.0)
        table = frame.tables["grey"]
        images = []
        for _, axis, _, _ in _VIEWS:
            # Grey levels grow with the values: the projection of the grey levels is the grey
            # levels of the projection, computed on a plane instead of the volume.
            grey = _grey(finite.max(axis=axis).T[::-1], grey_range, 0.7)
            images.append(table[np.clip((grey * len(table)).astype(int), 0, len(table) - 1)])
    pixels = _draw_spheres(frame.underlay(images), frame.tables["centres"],
                           float(frame.tables["radius"][0]),
                           sphere_colors(len(coordinates), na_flags, max_numbered))
    return frame.over(pixels)


def atlas_raster(atlas: AtlasResult, reference_image: Any = None, n_cuts: int = 7,
                 frame_dir: str | os.PathLike | None = None) -> RasterFigure | None:
    """:func:`~regionseries.report.figures.plot_atlas` as pixels, from a frame.

    Parameters
    ----------
    atlas : AtlasResult
    reference_image : nibabel image or None
        3D reference (mean BOLD or brain mask) on the BOLD grid.
    n_cuts : int
        Slices per view of a labels or maps atlas.
    frame_dir : path-like or None
        Folder of frames shared by jobs (:func:`cached_frame`).

    Returns
    -------
    RasterFigure or None
        None for a labels/maps atlas without an image.
    """
    reference, reference_affine, grey_range = _reference_arrays(reference_image)
    if atlas.kind == "spheres":
        return spheres_raster(atlas.sphere_coordinates_mm, atlas.sphere_radius_mm, atlas.na_mask,
                              reference, reference_affine, frame_dir=frame_dir,
                              grey_range=grey_range)
    if atlas.image is None:
        return None
    data = np.asarray(atlas.image.dataobj)
    n_regions = atlas.n_regions
    if atlas.kind == "labels":
        volumes = overlay_volumes(data, atlas.image.affine, reference, reference_affine, n_cuts,
                                  label_values=atlas.label_values, grey_range=grey_range)
    elif data.ndim == 3:  # a maps atlas given as its strongest map at each voxel
        volumes = overlay_volumes(data, atlas.image.affine, reference, reference_affine, n_cuts,
                                  label_values=np.arange(1, n_regions + 1), grey_range=grey_range)
    else:
        volumes = overlay_volumes(data, atlas.image.affine, reference, reference_affine, n_cuts,
                                  grey_range=grey_range)
        n_regions = data.shape[3]
    na_flags = np.asarray(atlas.na_mask, dtype=bool)
    if na_flags.size != n_regions:
        na_flags = np.zeros(n_regions, dtype=bool)
    return cuts_raster(volumes, label_colors(n_regions), na_flags,
                       0.5 if atlas.kind == "labels" else 0.55, frame_dir)


def strongest_map_index(maps: Any, min_fraction: float = 0.1) -> np.ndarray:
    """1-based index of the strongest map at each voxel (0 where none counts), map by map.

    A map "counts" at a voxel when its absolute weight there is at least
    ``min_fraction`` of its own peak; the strongest is the largest such
    relative weight. Maps are read one at a time, so a large set (e.g. DiFuMo
    1024 on a 2 mm grid) never has to be held as one 4D array.

    Parameters
    ----------
    maps : numpy.ndarray (x, y, z, n) or iterable of 3D arrays
    min_fraction : float

    Returns
    -------
    numpy.ndarray of int32, 3D
    """
    if isinstance(maps, np.ndarray) and maps.ndim == 4:
        stack = maps
        maps = (stack[..., k] for k in range(stack.shape[3]))
    best = strongest = None
    for position, one_map in enumerate(maps):
        magnitude = np.abs(np.nan_to_num(np.asarray(one_map, dtype=np.float32)))
        peak = float(magnitude.max()) if magnitude.size else 0.0
        relative = magnitude / peak if peak > 0 else np.zeros_like(magnitude)
        if best is None:
            best = np.zeros(relative.shape, dtype=np.float32)
            strongest = np.zeros(relative.shape, dtype=np.int32)
        better = (relative > best) & (relative >= min_fraction)
        best[better] = relative[better]
        strongest[better] = position + 1
    if strongest is None:
        raise ValueError("strongest_map_index needs at least one map")
    return strongest


def strongest_map_index_of_weights(weights, shape: tuple[int, int, int], min_fraction: float = 0.1) -> np.ndarray:
    """:func:`strongest_map_index` of maps given as a sparse (maps × voxels) matrix.

    The maps of an extraction operator
    (:attr:`regionseries.core.extract.MapsOperator.maps_matrix`, voxels in
    Fortran order): only each map's non-zero weights are visited, so DiFuMo
    1024 on a 2 mm grid takes milliseconds, not the seconds of 1024 dense maps.

    Parameters
    ----------
    weights : scipy.sparse matrix, shape (n_maps, X * Y * Z)
    shape : tuple of 3 int
        The grid.
    min_fraction : float

    Returns
    -------
    numpy.ndarray of int32, 3D
    """
    weights = sparse.csr_matrix(weights)
    n_voxels = int(np.prod(shape))
    if weights.shape[1] != n_voxels:
        raise ValueError(f"weights have {weights.shape[1]} voxels, the grid {shape} has {n_voxels}")
    best = np.zeros(n_voxels, dtype=np.float32)
    strongest = np.zeros(n_voxels, dtype=np.int32)
    for position in range(weights.shape[0]):
        row = slice(weights.indptr[position], weights.indptr[position + 1])
        voxels = weights.indices[row]
        magnitude = np.abs(np.nan_to_num(weights.data[row].astype(np.float32)))
        peak = float(magnitude.max()) if magnitude.size else 0.0
        if peak <= 0:
            continue
        relative = magnitude / np.float32(peak)
        better = (relative > best[voxels]) & (relative >= min_fraction)
        best[voxels[better]] = relative[better]
        strongest[voxels[better]] = position + 1
    return strongest.reshape(shape, order="F")
