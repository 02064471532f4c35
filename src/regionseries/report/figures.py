"""Report figures drawn with matplotlib's Agg canvas (no display, no pyplot).

Every ``plot_*`` function returns a :class:`matplotlib.figure.Figure` bound to
an Agg canvas; :func:`save_figure` writes it atomically. Nothing here touches
pyplot's global state, so figures can be drawn from worker processes or
threads on a headless HPC node.

Reports must cost a small fraction of a run's time, so the figures avoid
matplotlib's slow paths: axes are placed in inches by hand (no constrained or
tight layout), and slice montages are drawn as images blended with numpy in a
single axes rather than one axes per slice.

The low-level functions take plain arrays (so the maskers can use them); the
functions taking report-model objects are thin wrappers.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps, patheffects, rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import ListedColormap, Normalize, hsv_to_rgb, to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.collections import EllipseCollection
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MaxNLocator
from scipy import sparse

from .model import AtlasResult, QCFCResult, RunReport, StrategyResult

__all__ = [
    "FIGURE_FORMATS",
    "RasterFigure",
    "carpet_panels",
    "carpet_raster",
    "connectivity_raster",
    "label_colors",
    "new_figure",
    "plot_atlas",
    "plot_carpet",
    "plot_connectivity",
    "plot_distance_dependence",
    "plot_dof_lost",
    "plot_excluded_fraction",
    "plot_labels_overlay",
    "plot_maps_overlay",
    "motion_raster",
    "plot_motion",
    "plot_qcfc_distributions",
    "plot_spheres",
    "save_figure",
    "strongest_map_index",
    "strongest_map_index_of_weights",
]

#: Formats :func:`save_figure` writes.
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

_STYLE = {
    "font.size": 8.5,
    "axes.titlesize": 9.5,
    "axes.labelsize": 8.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "xtick.labelsize": 7.5,
    "ytick.labelsize": 7.5,
    "svg.hashsalt": "regionseries",
    "svg.fonttype": "none",
}

_OUTLINE = [patheffects.withStroke(linewidth=2, foreground="white")]


def new_figure(width_in: float, height_in: float, dpi: float = 100) -> Figure:
    """Return an empty figure drawn on an Agg canvas (no layout engine).

    Parameters
    ----------
    width_in, height_in : float
        Size in inches.
    dpi : float
        Dots per inch used when the figure is saved as PNG.

    Returns
    -------
    matplotlib.figure.Figure
    """
    figure = Figure(figsize=(width_in, height_in), dpi=dpi)
    FigureCanvasAgg(figure)
    return figure


def _add_axes(figure: Figure, left: float, bottom: float, width: float, height: float,
              **kwargs: Any) -> Any:
    """Add axes placed in inches from the figure's bottom-left corner."""
    figure_width, figure_height = figure.get_size_inches()
    return figure.add_axes(
        (left / figure_width, bottom / figure_height, width / figure_width,
         height / figure_height),
        **kwargs,
    )


def _styled(function: Callable[..., Figure]) -> Callable[..., Figure]:
    """Draw inside the report's matplotlib style (and only there)."""

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Figure:
        with rc_context(_STYLE):
            return function(*args, **kwargs)

    return wrapper


def save_figure(figure: Figure | RasterFigure, path: str | os.PathLike,
                dpi: float | None = None) -> Path:
    """Write ``figure`` to ``path`` atomically; the format is the path's suffix.

    Parameters
    ----------
    figure : matplotlib.figure.Figure or RasterFigure
        A :class:`RasterFigure` can only be written as PNG (at its own dpi).
    path : path-like
        Target file ending in ``.png`` or ``.svg``.
    dpi : float or None
        Resolution for PNG output of a matplotlib figure; its own dpi when None.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in FIGURE_FORMATS:
        raise ValueError(f"cannot write figure {path}: format must be one of {FIGURE_FORMATS}")
    is_raster = isinstance(figure, RasterFigure)
    if is_raster and fmt != "png":
        raise ValueError(f"cannot write figure {path}: a raster figure can only be written as PNG")
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"Software": None} if fmt == "png" else {"Date": None, "Creator": None}
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream, rc_context(_STYLE):
            if is_raster:
                from PIL import Image

                dots = (round(figure.dpi), round(figure.dpi))
                # Level 1: twice as fast as the default 6, files barely larger (noisy data).
                Image.fromarray(figure.pixels).save(stream, format="PNG", dpi=dots,
                                                    compress_level=1)
            else:
                figure.savefig(stream, format=fmt, dpi=dpi or figure.dpi, metadata=metadata)
        os.chmod(temporary, _FILE_MODE)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _file_mode() -> int:
    """Permissions of a new file under the process umask (mkstemp uses 0600)."""
    umask = os.umask(0o022)  # read it (the only way), then put it back at once
    os.umask(umask)
    return 0o666 & ~umask


#: Read once at import: changing the umask briefly is not safe once threads run.
_FILE_MODE = _file_mode()


def _horizontal() -> dict[str, Any]:
    """Keyword making violin/box plots horizontal on old and new matplotlib."""
    import matplotlib

    major, minor = (int(part) for part in matplotlib.__version__.split(".")[:2])
    return {"orientation": "horizontal"} if (major, minor) >= (3, 10) else {"vert": False}


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
    """
    golden = (math.sqrt(5) - 1) / 2
    hues = (0.11 + golden * np.arange(n)) % 1.0
    saturation = np.where(np.arange(n) % 2 == 0, 0.75, 0.55)
    value = np.where(np.arange(n) % 3 == 0, 0.95, 0.82)
    return hsv_to_rgb(np.column_stack([hues, saturation, value]))


def _text_width_in(texts: Sequence[str], points: float = 7.5) -> float:
    """Rough width in inches of the longest text at the given font size."""
    longest = max((len(text) for text in texts), default=0)
    return longest * points * 0.62 / 72


# ---------------------------------------------------------------------------
# Raster figures: a frame drawn once by matplotlib, data pasted in as pixels


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


@dataclass
class _Frame:
    """A drawn figure without data, and the pixel boxes (rows, columns) of its data panels."""

    pixels: np.ndarray
    boxes: list[tuple[int, int, int, int]]
    dpi: float

    def paste(self, images: Sequence[np.ndarray]) -> RasterFigure:
        """Return the frame with one RGB image resized (nearest) into each panel box."""
        pixels = self.pixels.copy()
        for (row0, row1, col0, col1), image in zip(self.boxes, images):
            height, width = row1 - row0, col1 - col0
            if height <= 0 or width <= 0 or image.size == 0:
                continue
            rows = np.minimum(((np.arange(height) + 0.5) * image.shape[0] / height).astype(int),
                              image.shape[0] - 1)
            columns = np.minimum(((np.arange(width) + 0.5) * image.shape[1] / width).astype(int),
                                 image.shape[1] - 1)
            pixels[row0:row1, col0:col1] = image[rows][:, columns]
        return RasterFigure(pixels, self.dpi)


#: Frames kept per process (a few MB each); keys describe everything drawn in them.
FRAME_CACHE_SIZE = 16
_FRAME_CACHE: OrderedDict = OrderedDict()


def _frame_from(figure: Figure, panel_axes: Sequence[Any]) -> _Frame:
    """Draw a figure and record where (in pixel rows/columns) its data panels are."""
    with rc_context(_STYLE):
        figure.canvas.draw()
    rgba = np.asarray(figure.canvas.buffer_rgba())
    height = rgba.shape[0]
    boxes = []
    for axes in panel_axes:
        box = axes.get_window_extent()
        boxes.append((height - int(round(box.y1)), height - int(round(box.y0)),
                      int(round(box.x0)), int(round(box.x1))))
    return _Frame(rgba[..., :3].copy(), boxes, figure.dpi)


def _cached_frame(key: tuple, build: Callable[[], tuple[Figure, list]]) -> _Frame:
    """The frame for ``key`` (built with ``build()`` on first use); least recently used dropped."""
    frame = _FRAME_CACHE.get(key)
    if frame is None:
        frame = _frame_from(*build())
        _FRAME_CACHE[key] = frame
        while len(_FRAME_CACHE) > FRAME_CACHE_SIZE:
            _FRAME_CACHE.popitem(last=False)
    else:
        _FRAME_CACHE.move_to_end(key)
    return frame


def _colormapped(values: np.ndarray, colormap: Any, vmin: float, vmax: float) -> np.ndarray:
    """RGB uint8 image of ``values`` as matplotlib draws it (256-colour table, bad colour for NaN)."""
    table = (np.asarray(colormap(np.arange(colormap.N)))[:, :3] * 255 + 0.5).astype(np.uint8)
    bad = (np.asarray(colormap.get_bad())[:3] * 255 + 0.5).astype(np.uint8)
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    with np.errstate(invalid="ignore"):
        scaled = (np.where(finite, values, vmin) - vmin) / (vmax - vmin)
    index = np.clip((scaled * colormap.N).astype(np.int64), 0, colormap.N - 1)
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


_STATE_COLORS = (COLOR_KEPT, COLOR_DUMMY, COLOR_CENSORED, COLOR_OTHER)


def _fd_top(fd: np.ndarray, strategies: Sequence[StrategyResult]) -> float:
    finite = fd[np.isfinite(fd)]
    thresholds = [s.fd_threshold for s in strategies if s.fd_threshold is not None]
    return _nice_ceiling(1.1 * max([finite.max() if finite.size else 0.0, *thresholds, 0.1]))


def _all_indices(strategies: Sequence[StrategyResult], attribute: str) -> np.ndarray:
    return np.unique(np.concatenate(
        [getattr(s, attribute) for s in strategies] + [np.empty(0, dtype=np.int64)]))


def _motion_figure(
    n_volumes: int, repetition_time: float, strategies: Sequence[StrategyResult],
    fd_top: float | None, any_censored: bool, any_other: bool,
) -> tuple[Figure, Any, Any]:
    """Axes, thresholds, labels and legend of the motion figure, without the data.

    Returns the figure, the FD axes (None without FD) and the volume-mask axes.
    """
    n_rows = max(len(strategies), 1)
    left = min(max(0.75, _text_width_in([s.name + " (excluded)" * s.excluded
                                         for s in strategies]) + 0.25), 2.6)
    right, top, legend_band, gap = 0.3, 0.5, 0.85, 0.12
    mask_height = 0.26 * n_rows
    fd_height = 1.6 if fd_top is not None else 0.0
    height = top + fd_height + (gap if fd_top is not None else 0) + mask_height + legend_band
    figure = new_figure(FULL_WIDTH_IN, height)
    width = FULL_WIDTH_IN - left - right
    mask_axes = _add_axes(figure, left, legend_band, width, mask_height)
    mask_axes.set_xlim(-0.5, n_volumes - 0.5)
    mask_axes.set_ylim(n_rows - 0.5, -0.5)
    mask_axes.set_yticks(range(len(strategies)),
                         [f"{s.name} (excluded)" if s.excluded else s.name for s in strategies])
    mask_axes.tick_params(axis="y", length=0)
    mask_axes.spines[:].set_visible(False)
    mask_axes.set_xlabel("volume", labelpad=1)
    handles = []
    time_axes = mask_axes
    if fd_top is not None:
        fd_axes = _add_axes(figure, left, legend_band + mask_height + gap, width, fd_height,
                            sharex=mask_axes)
        fd_axes.set_ylim(0, fd_top)
        fd_axes.set_ylabel("FD (mm)")
        fd_axes.tick_params(labelbottom=False)
        handles.append(Line2D([], [], color=COLOR_FD, linewidth=0.9,
                              label="framewise displacement (mm)"))
        thresholds = sorted({s.fd_threshold for s in strategies if s.fd_threshold is not None})
        for threshold in thresholds:
            users = ", ".join(s.name for s in strategies if s.fd_threshold == threshold)
            fd_axes.axhline(threshold, color=COLOR_CENSORED, linestyle="--", linewidth=0.8)
            fd_axes.annotate(
                f"{threshold:g} mm ({users})", xy=(1.0, threshold),
                xycoords=("axes fraction", "data"), xytext=(-2, 2), textcoords="offset points",
                ha="right", va="bottom", color=COLOR_CENSORED, fontsize=7.5,
            )
        if thresholds:
            handles.append(Line2D([], [], color=COLOR_CENSORED, linestyle="--", linewidth=0.8,
                                  label="FD threshold"))
        if any_censored:
            handles.append(Line2D([], [], color=COLOR_CENSORED, marker="o", markersize=3,
                                  linestyle="", label="censored (any strategy)"))
        time_axes = fd_axes
    else:
        fd_axes = None
    handles += [
        Patch(color=COLOR_KEPT, label="kept"),
        Patch(color=COLOR_DUMMY, label="dummy (non-steady state)"),
        Patch(color=COLOR_CENSORED, label="censored for motion"),
    ]
    if any_other:
        handles.append(Patch(color=COLOR_OTHER, label="not kept (other reason)"))
    top_axis = time_axes.secondary_xaxis(
        "top", functions=(lambda v: v * repetition_time, lambda t: t / repetition_time))
    top_axis.set_xlabel("time (s)")
    columns = len(handles) if len(handles) <= 5 else math.ceil(len(handles) / 2)
    figure.legend(handles=handles, loc="lower center", ncols=columns,
                  bbox_to_anchor=(0.5, 0.0))
    return figure, fd_axes, mask_axes


def _motion_parts(n_volumes: int, strategies: Sequence[StrategyResult], fd: np.ndarray | None):
    states = _volume_states(n_volumes, strategies)
    censored = _all_indices(strategies, "motion_censored_volumes")
    fd_top = None if fd is None else _fd_top(fd, strategies)
    if fd is not None:
        censored = censored[censored < fd.size]
    return states, censored, _all_indices(strategies, "dummy_volumes"), fd_top


@_styled
def plot_motion(
    n_volumes: int,
    repetition_time: float,
    strategies: Sequence[StrategyResult],
    fd: np.ndarray | None = None,
) -> Figure:
    """Framewise displacement over time with each strategy's removed volumes.

    Top panel: FD (mm) per volume, each strategy's FD threshold as a dashed
    line, the volumes censored by any strategy marked, dummy volumes shaded.
    Bottom panel: one row per strategy, each volume coloured as kept, dummy
    (non-steady-state) or censored for motion.

    Parameters
    ----------
    n_volumes : int
        Number of volumes in the run.
    repetition_time : float
        Repetition time in seconds (for the time axis on top).
    strategies : sequence of StrategyResult
    fd : numpy.ndarray or None
        Framewise displacement in mm, one value per volume.

    Returns
    -------
    matplotlib.figure.Figure

    See Also
    --------
    motion_raster : the same picture as pixels, several times faster.
    """
    states, censored, dummies, fd_top = _motion_parts(n_volumes, strategies, fd)
    figure, fd_axes, mask_axes = _motion_figure(
        n_volumes, repetition_time, strategies, fd_top, bool(censored.size), bool(np.any(states == 3)))
    mask_axes.imshow(
        states, aspect="auto", interpolation="nearest", cmap=ListedColormap(_STATE_COLORS),
        vmin=-0.5, vmax=3.5, extent=(-0.5, n_volumes - 0.5, len(states) - 0.5, -0.5),
    )
    for row in range(1, len(states)):
        mask_axes.axhline(row - 0.5, color="white", linewidth=1.5)
    if fd_axes is not None:
        if dummies.size:
            fd_axes.axvspan(-0.5, dummies.max() + 0.5, color=COLOR_DUMMY, alpha=0.25, linewidth=0)
        fd_axes.plot(np.arange(fd.size), fd, color=COLOR_FD, linewidth=0.9)
        if censored.size:
            fd_axes.scatter(censored, fd[censored], s=9, color=COLOR_CENSORED, zorder=3)
    return figure


def motion_raster(
    n_volumes: int,
    repetition_time: float,
    strategies: Sequence[StrategyResult],
    fd: np.ndarray | None = None,
    supersampling: int = 4,
) -> RasterFigure:
    """:func:`plot_motion` as pixels: the frame is drawn once, the data with PIL.

    The FD trace and the censored volumes are drawn ``supersampling`` times
    larger and reduced (anti-aliased); the volume mask is pasted as an image.

    Parameters
    ----------
    n_volumes, repetition_time, strategies, fd
        As for :func:`plot_motion`.
    supersampling : int
        Oversampling factor of the drawn FD trace.

    Returns
    -------
    RasterFigure
    """
    from PIL import Image, ImageDraw

    states, censored, dummies, fd_top = _motion_parts(n_volumes, strategies, fd)
    any_other = bool(np.any(states == 3))
    key = ("motion", n_volumes, float(repetition_time),
           tuple((s.name, s.excluded, s.fd_threshold) for s in strategies),
           fd_top, bool(censored.size), any_other)

    def build() -> tuple[Figure, list]:
        figure, fd_axes, mask_axes = _styled(_motion_figure)(
            n_volumes, repetition_time, strategies, fd_top, bool(censored.size), any_other)
        return figure, [mask_axes] + ([fd_axes] if fd_axes is not None else [])

    frame = _cached_frame(key, build)
    colors = (np.array([to_rgb(c) for c in _STATE_COLORS]) * 255 + 0.5).astype(np.uint8)
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
        box[:, :right] = 0.75 * box[:, :right] + 0.25 * np.array(to_rgb(COLOR_DUMMY)) * 255
    scale = supersampling
    image = Image.fromarray(box.round().astype(np.uint8)).resize(
        (width * scale, height * scale), Image.NEAREST)
    draw = ImageDraw.Draw(image)
    xs = x_pixel(np.arange(fd.size)) * scale
    ys = (1 - fd / fd_top) * height * scale
    finite = np.isfinite(ys)
    line_width = max(1, int(round(0.9 / 72 * frame.dpi * scale)))
    fd_color = tuple(int(round(255 * c)) for c in to_rgb(COLOR_FD))
    for segment in np.split(np.arange(fd.size), np.flatnonzero(~finite)):
        segment = segment[finite[segment]]
        if segment.size >= 2:
            draw.line(list(zip(xs[segment], ys[segment])), fill=fd_color, width=line_width,
                      joint="curve")
    radius = 2.0 / 72 * frame.dpi * scale  # scatter s=9 pt²: 3 pt wide, plus its 1 pt edge
    red = tuple(int(round(255 * c)) for c in to_rgb(COLOR_CENSORED))
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


#: Colour map of the carpet plots: grey z-scores, pale red for NaN.
CARPET_LIMIT = 2.0


def _carpet_colormap():
    return colormaps["gray"].with_extremes(bad="#f4b6b6")


def _carpet_figure(
    titles: Sequence[str], n_volumes: int, n_regions: int, repetition_time: float,
    region_axis_label: str,
) -> tuple[Figure, list]:
    """Axes, titles, labels and colour bar of a carpet plot, without the data."""
    panel_height = float(np.clip(0.6 + 0.004 * n_regions, 0.8, 1.8))
    left, right, bottom, title_band = 0.8, 0.95, 0.45, 0.28
    height = bottom + len(titles) * (panel_height + title_band)
    figure = new_figure(FULL_WIDTH_IN, height)
    width = FULL_WIDTH_IN - left - right
    duration = n_volumes * repetition_time
    panel_axes = []
    for index, title in enumerate(titles):
        panel_bottom = height - (index + 1) * (panel_height + title_band)
        axes = _add_axes(figure, left, panel_bottom, width, panel_height,
                         sharex=panel_axes[0] if panel_axes else None)
        axes.set_xlim(0, duration)
        axes.set_ylim(n_regions - 0.5, -0.5)
        axes.spines[:].set_visible(False)
        axes.set_title(title, loc="left", pad=3)
        axes.set_ylabel(f"{region_axis_label}\n({n_regions})", fontsize=7.5)
        axes.set_yticks([])
        if index < len(titles) - 1:
            axes.tick_params(labelbottom=False)
        else:
            axes.set_xlabel("time (s)", labelpad=1)
        panel_axes.append(axes)
    bar_axes = _add_axes(figure, FULL_WIDTH_IN - right + 0.15, height - title_band - 1.2,
                         0.12, min(1.2, height - title_band - bottom))
    mappable = ScalarMappable(Normalize(-CARPET_LIMIT, CARPET_LIMIT), _carpet_colormap())
    figure.colorbar(mappable, cax=bar_axes).set_label("z-score")
    return figure, panel_axes


def _check_panels(panels: Sequence[tuple[str, np.ndarray]]) -> tuple[int, int]:
    if not panels:
        raise ValueError("plot_carpet needs at least one panel")
    shapes = {np.shape(signals) for _, signals in panels}
    if len(shapes) != 1:
        raise ValueError(f"carpet panels must all have the same shape, got {sorted(shapes)}")
    n_volumes, n_regions = shapes.pop()
    return n_volumes, n_regions


@_styled
def plot_carpet(
    panels: Sequence[tuple[str, np.ndarray]],
    repetition_time: float,
    region_axis_label: str = "regions",
) -> Figure:
    """Carpet plots: one panel of region signals (regions × time) per entry.

    Each region is z-scored over its finite values and drawn in grey
    (−2 to 2); NaN values (removed volumes, regions set to n/a) are drawn in
    a pale red.

    Parameters
    ----------
    panels : sequence of (title, signals)
        ``signals`` is (n_volumes, n_regions) in atlas order; all panels share
        the time axis.
    repetition_time : float
        Repetition time in seconds.
    region_axis_label : str
        Label of the vertical axis.

    Returns
    -------
    matplotlib.figure.Figure

    See Also
    --------
    carpet_raster : the same picture as pixels, several times faster.
    """
    n_volumes, n_regions = _check_panels(panels)
    figure, panel_axes = _carpet_figure([t for t, _ in panels], n_volumes, n_regions,
                                        repetition_time, region_axis_label)
    duration = n_volumes * repetition_time
    for axes, (_, signals) in zip(panel_axes, panels):
        axes.imshow(
            _zscore_columns(signals).T, aspect="auto", interpolation="nearest",
            cmap=_carpet_colormap(), vmin=-CARPET_LIMIT, vmax=CARPET_LIMIT,
            extent=(0, duration, n_regions - 0.5, -0.5),
        )
    return figure


def carpet_raster(
    panels: Sequence[tuple[str, np.ndarray]],
    repetition_time: float,
    region_axis_label: str = "regions",
) -> RasterFigure:
    """:func:`plot_carpet` as pixels: the frame is drawn once and reused.

    Parameters
    ----------
    panels, repetition_time, region_axis_label
        As for :func:`plot_carpet`.

    Returns
    -------
    RasterFigure
    """
    n_volumes, n_regions = _check_panels(panels)
    titles = tuple(title for title, _ in panels)
    key = ("carpet", titles, n_volumes, n_regions, float(repetition_time), region_axis_label)
    frame = _cached_frame(key, lambda: _styled(_carpet_figure)(
        titles, n_volumes, n_regions, repetition_time, region_axis_label))
    colormap = _carpet_colormap()
    images = [_colormapped(_zscore_columns(signals).T, colormap, -CARPET_LIMIT, CARPET_LIMIT)
              for _, signals in panels]
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
        self.shape = shape[:3]
        self.origin = affine[:3, 3]
        self.step = np.abs(np.diag(affine[:3, :3])).copy()
        self.step[self.step == 0] = 1.0

    def world(self, axis: int, index: float) -> float:
        """World coordinate (mm) of voxel ``index`` along ``axis``."""
        return float(self.origin[axis] + index * self.step[axis])

    def span(self, axis: int) -> tuple[float, float]:
        """World extent (mm) of the grid along ``axis``, voxel edges included."""
        return self.world(axis, -0.5), self.world(axis, self.shape[axis] - 0.5)


#: (name, slicing axis, displayed axes (horizontal, vertical), coordinate letter)
_VIEWS = (
    ("axial", 2, (0, 1), "z"),
    ("coronal", 1, (0, 2), "y"),
    ("sagittal", 0, (1, 2), "x"),
)


def _slice(volume: np.ndarray, axis: int, index: int) -> np.ndarray:
    """2-D slice of a 3D volume, transposed for imshow(origin='lower')."""
    return np.take(volume, index, axis=axis).T


def _cut_indices(extent_mask: np.ndarray, axis: int, n_cuts: int) -> np.ndarray:
    """Evenly spaced slice indices inside the non-empty part of ``extent_mask``."""
    other = tuple(a for a in range(3) if a != axis)
    filled = np.flatnonzero(extent_mask.any(axis=other))
    if filled.size == 0:
        low, high = 0, extent_mask.shape[axis] - 1
    else:
        low, high = filled[0], filled[-1]
    return np.unique(np.round(np.linspace(low, high, n_cuts + 2)[1:-1]).astype(int))


def _grey_levels(reference: np.ndarray | None, shape: tuple[int, ...],
                 brightness: float = 1.0) -> np.ndarray:
    """Reference scaled to [0, 1] grey levels (2nd–98th percentile of non-zero voxels)."""
    if reference is None:
        return np.zeros(shape[:3])
    finite = np.where(np.isfinite(reference), reference, 0.0)
    values = finite[finite != 0]
    if values.size == 0:
        return np.zeros(shape[:3])
    low, high = np.percentile(values, [2, 98])
    low = min(float(low), 0.0)
    if high <= low:
        high = low + 1.0
    return np.clip((finite - low) / (high - low), 0, 1) * brightness


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


def _montage_axes(figure: Figure) -> Any:
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_axis_off()
    return axes


@_styled
def _plot_cuts(
    grey: np.ndarray,
    indices: np.ndarray,
    colors: np.ndarray,
    na_flags: np.ndarray,
    grid: _Grid,
    n_cuts: int,
    fill_alpha: float,
) -> Figure:
    """Rows of axial, coronal and sagittal cuts with the overlay, in one axes (mm units)."""
    extent_mask = (grey > 0) | (indices > 0)
    gap = 4.0  # mm between slices
    rows = []
    for view, axis, (horizontal, vertical), letter in _VIEWS:
        width = np.ptp(grid.span(horizontal))
        height = np.ptp(grid.span(vertical))
        rows.append((view, axis, horizontal, vertical, letter, width, height))
    left_band = 14.0  # mm for the view names
    total_width = left_band + max(n_cuts * (r[5] + gap) for r in rows)
    points_per_mm = FULL_WIDTH_IN * 72 / total_width
    fontsize = float(np.clip(3.0 * points_per_mm, 7, 9))
    label_band = 1.5 * fontsize / points_per_mm  # mm above each slice for its coordinate
    total_height = sum(r[6] + label_band + gap for r in rows)
    figure = new_figure(FULL_WIDTH_IN, FULL_WIDTH_IN * total_height / total_width)
    axes = _montage_axes(figure)
    top = total_height
    for view, axis, horizontal, vertical, letter, width, height in rows:
        row_bottom = top - label_band - height
        axes.text(left_band / 2, row_bottom + height / 2, view, rotation=90, ha="center",
                  va="center", fontsize=fontsize + 0.5)
        for column, index in enumerate(_cut_indices(extent_mask, axis, n_cuts)):
            x0 = left_band + column * (width + gap)
            rgb = _blend_slice(
                _slice(grey, axis, int(index)), _slice(indices, axis, int(index)),
                colors, na_flags, fill_alpha,
            )
            axes.imshow(rgb, origin="lower", interpolation="nearest",
                        extent=(x0, x0 + width, row_bottom, row_bottom + height))
            axes.text(x0 + width / 2, row_bottom + height + 0.2 * label_band,
                      f"{letter} = {grid.world(axis, int(index)):.0f} mm",
                      ha="center", va="bottom", fontsize=fontsize)
            if column == 0 and view != "sagittal":
                for text, x, align in (("L", x0 + 1.5, "left"), ("R", x0 + width - 1.5, "right")):
                    axes.text(x, row_bottom + 0.15 * label_band, text, color="white", ha=align,
                              va="bottom", fontsize=fontsize)
        top = row_bottom - gap
    axes.set_xlim(0, total_width)
    axes.set_ylim(0, total_height)
    axes.set_aspect("equal")
    return figure


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


def _region_indices(labels: np.ndarray, label_values: np.ndarray) -> np.ndarray:
    """Map label values to 1-based region positions (0 for background/unknown)."""
    labels = np.rint(np.nan_to_num(labels)).astype(np.int64)
    order = np.argsort(label_values)
    sorted_values = label_values[order]
    position = np.clip(np.searchsorted(sorted_values, labels), 0, sorted_values.size - 1)
    known = sorted_values[position] == labels
    indices = np.zeros(labels.shape, dtype=np.int64)
    indices[known] = order[position[known]] + 1
    return indices


def plot_labels_overlay(
    labels: np.ndarray,
    affine: np.ndarray,
    label_values: Sequence[int],
    na_flags: Sequence[bool] | None = None,
    reference: np.ndarray | None = None,
    reference_affine: np.ndarray | None = None,
    n_cuts: int = 7,
) -> Figure:
    """A labels atlas over a reference image on axial, coronal and sagittal cuts.

    Regions are filled with distinct colours and outlined; regions set to n/a
    are outlined in red with a faint red fill.

    Parameters
    ----------
    labels : numpy.ndarray
        3D integer label image.
    affine : numpy.ndarray
        (4, 4) voxel-to-world affine of ``labels`` (mm).
    label_values : sequence of int
        Label value of each region, in atlas table order.
    na_flags : sequence of bool or None
        True for the regions set to n/a (same order as ``label_values``).
    reference : numpy.ndarray or None
        3D background image (mean BOLD or brain mask).
    reference_affine : numpy.ndarray or None
        Affine of ``reference``; the atlas is drawn on its grid.
    n_cuts : int
        Number of slices per view.

    Returns
    -------
    matplotlib.figure.Figure
    """
    label_values = np.asarray(label_values, dtype=np.int64)
    na_flags = (np.zeros(label_values.size, dtype=bool) if na_flags is None
                else np.asarray(na_flags, dtype=bool))
    labels, reference, grid = _prepare_volumes(np.asarray(labels), affine, reference,
                                               reference_affine)
    indices = _region_indices(labels, label_values)
    grey = _grey_levels(reference, indices.shape) if reference is not None else _silhouette(indices)
    return _plot_cuts(grey, indices, label_colors(label_values.size), na_flags, grid, n_cuts,
                      fill_alpha=0.5)


def plot_maps_overlay(
    maps: np.ndarray,
    affine: np.ndarray,
    na_flags: Sequence[bool] | None = None,
    reference: np.ndarray | None = None,
    reference_affine: np.ndarray | None = None,
    n_cuts: int = 7,
    min_fraction: float = 0.1,
) -> Figure:
    """A probabilistic (maps) atlas drawn as its strongest map at each voxel.

    Each voxel takes the colour of the map with the largest weight there
    (relative to each map's peak), when that is at least ``min_fraction``.

    Parameters
    ----------
    maps : numpy.ndarray
        4D image (x, y, z, n_maps).
    affine : numpy.ndarray
        (4, 4) affine of ``maps`` (mm).
    na_flags : sequence of bool or None
        True for the maps set to n/a.
    reference, reference_affine : numpy.ndarray or None
        Background image and its affine.
    n_cuts : int
        Number of slices per view.
    min_fraction : float
        Voxels below this fraction of every map's peak are not coloured.

    Returns
    -------
    matplotlib.figure.Figure
    """
    maps = np.asarray(maps, dtype=np.float32)
    n_maps = maps.shape[3]
    na_flags = np.zeros(n_maps, bool) if na_flags is None else np.asarray(na_flags, dtype=bool)
    maps, reference, grid = _prepare_volumes(maps, affine, reference, reference_affine)
    indices = strongest_map_index(maps, min_fraction)
    grey = _grey_levels(reference, indices.shape) if reference is not None else _silhouette(indices)
    return _plot_cuts(grey, indices, label_colors(n_maps), na_flags, grid, n_cuts,
                      fill_alpha=0.55)


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


@_styled
def plot_spheres(
    coordinates_mm: np.ndarray,
    radius_mm: float | None,
    na_flags: Sequence[bool] | None = None,
    reference: np.ndarray | None = None,
    reference_affine: np.ndarray | None = None,
    max_numbered: int = 40,
) -> Figure:
    """Spheres drawn at their coordinates over projections of the reference.

    Three orthogonal maximum-intensity projections of the reference (dimmed),
    with every sphere as a circle of its radius (mm) at its centre, numbered
    as in the region table when there are at most ``max_numbered`` spheres;
    spheres set to n/a are red.

    Parameters
    ----------
    coordinates_mm : numpy.ndarray, shape (n, 3)
        Sphere centres in world coordinates (mm).
    radius_mm : float or None
        Sphere radius in mm; None or 0 draws 2 mm dots (single-voxel seeds).
    na_flags : sequence of bool or None
        True for the spheres set to n/a.
    reference, reference_affine : numpy.ndarray or None
        Background image and its affine.
    max_numbered : int
        Number the spheres when there are at most this many.

    Returns
    -------
    matplotlib.figure.Figure
    """
    coordinates = np.asarray(coordinates_mm, dtype=float).reshape(-1, 3)
    na_flags = (np.zeros(len(coordinates), bool) if na_flags is None
                else np.asarray(na_flags, dtype=bool))
    radius = float(radius_mm) if radius_mm else 2.0
    colors = label_colors(len(coordinates))
    if reference is not None:
        reference, reference_affine = _canonical(np.asarray(reference, float),
                                                 np.asarray(reference_affine, float))
        grid = _Grid(reference_affine, reference.shape)
        spans = [grid.span(axis) for axis in range(3)]
        grey = _grey_levels(reference, reference.shape, brightness=0.7)
    else:
        grey = None
        margin = radius + 10
        spans = [(coordinates[:, axis].min() - margin, coordinates[:, axis].max() + margin)
                 for axis in range(3)]
    gap, title_band = 8.0, 10.0
    widths = [np.ptp(spans[horizontal]) for _, _, (horizontal, _), _ in _VIEWS]
    heights = [np.ptp(spans[vertical]) for _, _, (_, vertical), _ in _VIEWS]
    total_width = sum(widths) + gap * (len(_VIEWS) - 1)
    total_height = max(heights) + title_band
    margin_mm = 6.0  # room for spheres and numbers at the edge of the grid
    figure = new_figure(FULL_WIDTH_IN, FULL_WIDTH_IN * (total_height + margin_mm)
                        / (total_width + 2 * margin_mm))
    axes = _montage_axes(figure)
    fontsize = float(np.clip(3.2 * FULL_WIDTH_IN * 72 / total_width, 7, 9))
    x0 = 0.0
    numbered = len(coordinates) <= max_numbered
    if not numbered:  # hundreds of colours carry no information: one colour, n/a in red
        colors = np.tile(np.array([0.16, 0.47, 0.71]), (len(coordinates), 1))
    face_colors = np.where(na_flags[:, None], np.array(COLOR_NA), colors)
    for (view, axis, (horizontal, vertical), _), width, height in zip(_VIEWS, widths, heights):
        h_low, v_low = spans[horizontal][0], spans[vertical][0]
        if grey is not None:
            projection = grey.max(axis=axis).T
            axes.imshow(projection, cmap="gray", vmin=0, vmax=1, origin="lower",
                        interpolation="nearest", extent=(x0, x0 + width, 0, height))
        else:
            axes.add_patch(Rectangle((x0, 0), width, height, color="#303030"))
        centres = np.column_stack([x0 + coordinates[:, horizontal] - h_low,
                                   coordinates[:, vertical] - v_low])
        # One collection for all spheres: adding hundreds of patches one by one is slow.
        axes.add_collection(EllipseCollection(
            widths=2 * radius, heights=2 * radius, angles=0, units="xy", offsets=centres,
            offset_transform=axes.transData, facecolors=face_colors, edgecolors="white",
            linewidths=0.6, alpha=0.9, zorder=3,
        ))
        if numbered:
            for position, (x, y) in enumerate(centres):
                axes.text(x + 0.8 * radius, y + 0.8 * radius, str(position), ha="left",
                          va="bottom", fontsize=fontsize, color="black", zorder=4,
                          path_effects=_OUTLINE)
        axes.text(x0 + width / 2, height + 2, view, ha="center", va="bottom",
                  fontsize=fontsize + 0.5)
        x0 += width + gap
    axes.set_xlim(-margin_mm, total_width + margin_mm)
    axes.set_ylim(-margin_mm, total_height)
    axes.set_aspect("equal")
    return figure


def plot_atlas(atlas: AtlasResult, reference_image: Any = None) -> Figure | None:
    """Draw an atlas of a run over its reference image.

    Parameters
    ----------
    atlas : AtlasResult
    reference_image : nibabel image or None
        3D reference (mean BOLD or brain mask) on the BOLD grid.

    Returns
    -------
    matplotlib.figure.Figure or None
        None for a labels/maps atlas without an image.
    """
    reference = reference_affine = None
    if reference_image is not None:
        reference = np.asarray(reference_image.dataobj, dtype=float)
        reference_affine = reference_image.affine
    if atlas.kind == "spheres":
        return plot_spheres(atlas.sphere_coordinates_mm, atlas.sphere_radius_mm, atlas.na_mask,
                            reference, reference_affine)
    if atlas.image is None:
        return None
    data = np.asarray(atlas.image.dataobj)
    if atlas.kind == "maps" and data.ndim == 3:  # already the strongest map at each voxel
        return plot_labels_overlay(data, atlas.image.affine, np.arange(1, atlas.n_regions + 1),
                                   atlas.na_mask, reference, reference_affine)
    if atlas.kind == "labels":
        return plot_labels_overlay(data, atlas.image.affine, atlas.label_values, atlas.na_mask,
                                   reference, reference_affine)
    return plot_maps_overlay(data, atlas.image.affine, atlas.na_mask, reference,
                             reference_affine)


# ---------------------------------------------------------------------------
# Connectivity


def connectivity_limit(matrices: Sequence[np.ndarray], measure: str = "correlation") -> float:
    """Symmetric colour limit shared by several matrices (99th percentile of |off-diagonal|).

    For correlation-type measures the limit is rounded up to a multiple of
    0.1 and capped at 1, so that figures of different runs share a scale
    (and a cached frame).

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


def _connectivity_colormap():
    return colormaps["RdBu_r"].with_extremes(bad="#d9d9d9")


def _connectivity_figure(
    titles: Sequence[str], region_names: Sequence[str], measure: str, limit: float,
    max_labelled_regions: int, max_columns: int,
) -> tuple[Figure, list]:
    """Axes, labels and colour bar of the connectivity panels, without the data."""
    n_regions = len(region_names)
    labelled = n_regions <= max_labelled_regions
    columns = min(len(titles), max_columns)
    rows = math.ceil(len(titles) / columns)
    short = [name if len(name) <= 24 else name[:22] + "…" for name in region_names]
    fontsize = 7.0 if n_regions <= 15 else 6.0
    label_margin = _text_width_in(short, fontsize) + 0.15 if labelled else 0.75
    side = 3.0
    gap, title_band, right = 0.35, 0.3, 1.0
    left = label_margin
    bottom_band = label_margin if labelled else 0.5
    width = left + columns * side + (columns - 1) * gap + right
    height = rows * (side + title_band + bottom_band)
    figure = new_figure(width, height)
    panel_axes = []
    for position, title in enumerate(titles):
        row, column = divmod(position, columns)
        bottom = height - (row + 1) * (side + title_band) - row * bottom_band
        axes = _add_axes(figure, left + column * (side + gap), bottom, side, side)
        axes.set_xlim(-0.5, n_regions - 0.5)
        axes.set_ylim(n_regions - 0.5, -0.5)
        axes.set_title(title, pad=4)
        axes.spines[:].set_visible(False)
        if labelled:
            axes.set_xticks(range(n_regions), short, rotation=90, fontsize=fontsize)
            if column == 0:
                axes.set_yticks(range(n_regions), short, fontsize=fontsize)
            else:
                axes.set_yticks(range(n_regions))
                axes.tick_params(left=False, labelleft=False)
        else:
            axes.xaxis.set_major_locator(MaxNLocator(5, integer=True))
            axes.yaxis.set_major_locator(MaxNLocator(5, integer=True))
            axes.set_xlabel("region (atlas order)", labelpad=1)
            if column == 0:
                axes.set_ylabel("region (atlas order)")
        panel_axes.append(axes)
    bar_axes = _add_axes(figure, width - right + 0.2, height - title_band - side * 0.85,
                         0.13, side * 0.8)
    mappable = ScalarMappable(Normalize(-limit, limit), _connectivity_colormap())
    figure.colorbar(mappable, cax=bar_axes).set_label(measure)
    return figure, panel_axes


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


@_styled
def plot_connectivity(
    matrices: Sequence[tuple[str, np.ndarray]],
    region_names: Sequence[str],
    measure: str = "correlation",
    max_labelled_regions: int = 30,
    max_columns: int = 3,
) -> Figure:
    """Connectivity matrices of one atlas side by side, in atlas table order.

    All panels share one colour scale (:func:`connectivity_limit`). The
    diagonal is hidden; NaN entries (regions set to n/a) are grey. Regions are
    named on the axes when there are at most ``max_labelled_regions``.

    Parameters
    ----------
    matrices : sequence of (title, matrix)
        (n_regions, n_regions) matrices, e.g. one per strategy.
    region_names : sequence of str
        Names in the matrices' order.
    measure : str
        What the values are (colour bar label).
    max_labelled_regions : int
    max_columns : int
        Panels per row.

    Returns
    -------
    matplotlib.figure.Figure

    See Also
    --------
    connectivity_raster : the same picture as pixels, several times faster.
    """
    _check_matrices(matrices, len(region_names))
    limit = connectivity_limit([m for _, m in matrices], measure)
    figure, panel_axes = _connectivity_figure([t for t, _ in matrices], region_names, measure,
                                              limit, max_labelled_regions, max_columns)
    for axes, (_, matrix) in zip(panel_axes, matrices):
        axes.imshow(_matrix_for_display(matrix), cmap=_connectivity_colormap(), vmin=-limit,
                    vmax=limit, interpolation="nearest")
        n_regions = len(region_names)
        axes.set_xlim(-0.5, n_regions - 0.5)
        axes.set_ylim(n_regions - 0.5, -0.5)
    return figure


def connectivity_raster(
    matrices: Sequence[tuple[str, np.ndarray]],
    region_names: Sequence[str],
    measure: str = "correlation",
    max_labelled_regions: int = 30,
    max_columns: int = 3,
) -> RasterFigure:
    """:func:`plot_connectivity` as pixels: the frame is drawn once and reused.

    Parameters
    ----------
    matrices, region_names, measure, max_labelled_regions, max_columns
        As for :func:`plot_connectivity`.

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
    frame = _cached_frame(key, lambda: _styled(_connectivity_figure)(
        titles, region_names, measure, limit, max_labelled_regions, max_columns))
    colormap = _connectivity_colormap()
    images = [_colormapped(_matrix_for_display(matrix), colormap, -limit, limit)
              for _, matrix in matrices]
    return frame.paste(images)


# ---------------------------------------------------------------------------
# Group level


def _strategy_axes(figure: Figure, names: Sequence[str], right: float = 0.3,
                   bottom: float = 0.5, top: float = 0.15) -> Any:
    width, height = figure.get_size_inches()
    left = min(max(0.6, _text_width_in(names) + 0.2), 2.5)
    return _add_axes(figure, left, bottom, width - left - right, height - bottom - top)


@_styled
def plot_qcfc_distributions(results: Sequence[QCFCResult]) -> Figure:
    """QC-FC distribution of each strategy (violins with medians), with median |QC-FC|.

    Parameters
    ----------
    results : sequence of QCFCResult
        One per strategy (usually of one atlas).

    Returns
    -------
    matplotlib.figure.Figure
    """
    names = [r.strategy for r in results]
    figure = new_figure(FULL_WIDTH_IN * 0.75, 0.8 + 0.55 * max(len(results), 2))
    axes = _strategy_axes(figure, names, right=1.9)
    positions = np.arange(len(results))
    data = [r.edge_correlations[np.isfinite(r.edge_correlations)] for r in results]
    drawable = [k for k, values in enumerate(data) if values.size > 1 and np.ptp(values) > 0]
    if drawable:
        parts = axes.violinplot([data[k] for k in drawable], positions=positions[drawable],
                                showmedians=True, showextrema=False, widths=0.8, **_horizontal())
        for body in parts["bodies"]:
            body.set_facecolor("#6a9fd4")
            body.set_alpha(0.6)
        parts["cmedians"].set_color(COLOR_FD)
    axes.axvline(0, color="k", linewidth=0.6)
    for position, result in zip(positions, results):
        axes.annotate(
            f"median |QC-FC| = {result.median_abs_qcfc:.3f}", xy=(1.0, position),
            xycoords=("axes fraction", "data"), xytext=(6, 0), textcoords="offset points",
            va="center", fontsize=7.5, annotation_clip=False,
        )
    axes.set_yticks(positions, names)
    axes.set_ylim(len(results) - 0.4, -0.6)
    axes.set_xlabel("QC-FC (correlation across runs of edge strength with mean FD)")
    return figure


@_styled
def plot_distance_dependence(results: Sequence[QCFCResult]) -> Figure:
    """QC-FC against edge distance, one panel per strategy, with Spearman ρ.

    Parameters
    ----------
    results : sequence of QCFCResult
        Results without ``edge_distances_mm`` are skipped.

    Returns
    -------
    matplotlib.figure.Figure
    """
    with_distance = [r for r in results if r.edge_distances_mm is not None]
    n_panels = max(len(with_distance), 1)
    columns = min(n_panels, 4)
    rows = math.ceil(n_panels / columns)
    left, right, gap, bottom, title_band = 0.65, 0.2, 0.25, 0.45, 0.45
    panel_width = (FULL_WIDTH_IN - left - right - gap * (columns - 1)) / columns
    panel_height = min(2.2, panel_width * 0.8)
    height = rows * (panel_height + title_band + bottom)
    figure = new_figure(FULL_WIDTH_IN, height)
    correlations = np.concatenate([r.edge_correlations for r in with_distance] or [np.zeros(1)])
    correlations = correlations[np.isfinite(correlations)]
    limit = float(np.max(np.abs(correlations))) * 1.05 if correlations.size else 1.0
    first = None
    for position, result in enumerate(with_distance):
        row, column = divmod(position, columns)
        axes = _add_axes(
            figure, left + column * (panel_width + gap),
            height - (row + 1) * (panel_height + title_band) - row * bottom,
            panel_width, panel_height, sharex=first, sharey=first,
        )
        first = first or axes
        distance, qcfc = result.edge_distances_mm, result.edge_correlations
        finite = np.isfinite(distance) & np.isfinite(qcfc)
        if finite.sum() > 3000:
            axes.hexbin(distance[finite], qcfc[finite], gridsize=40, cmap="Blues", mincnt=1)
        else:
            axes.scatter(distance[finite], qcfc[finite], s=5, alpha=0.55, color="#1f77b4",
                         linewidths=0)
        if finite.sum() >= 2 and np.ptp(distance[finite]) > 0:
            slope, intercept = np.polyfit(distance[finite], qcfc[finite], 1)
            span = np.array([distance[finite].min(), distance[finite].max()])
            axes.plot(span, intercept + slope * span, color=COLOR_CENSORED, linewidth=1.2)
        axes.axhline(0, color="k", linewidth=0.5)
        rho = result.distance_dependence
        rho_text = "n/a" if rho is None or not np.isfinite(rho) else f"{rho:.3f}"
        axes.set_title(f"{result.strategy}\nSpearman ρ = {rho_text}", fontsize=8.5)
        axes.set_xlabel("edge distance (mm)", labelpad=1)
        if column == 0:
            axes.set_ylabel("QC-FC")
        else:
            axes.tick_params(labelleft=False)
        axes.set_ylim(-limit, limit)
    return figure


@_styled
def plot_excluded_fraction(excluded_fraction: dict[str, float]) -> Figure:
    """Fraction of excluded runs per strategy (horizontal bars, in %).

    Parameters
    ----------
    excluded_fraction : dict
        Strategy name → fraction of runs excluded, in [0, 1].

    Returns
    -------
    matplotlib.figure.Figure
    """
    names = list(excluded_fraction)
    percent = np.array([100 * excluded_fraction[name] for name in names])
    figure = new_figure(5.0, 0.8 + 0.42 * max(len(names), 2))
    axes = _strategy_axes(figure, names, right=0.5)
    positions = np.arange(len(names))
    axes.barh(positions, percent, color="#c0504d", height=0.6)
    for position, value in zip(positions, percent):
        axes.annotate(f"{value:.1f} %", (value, position), xytext=(3, 0),
                      textcoords="offset points", va="center", fontsize=7.5)
    axes.set_yticks(positions, names)
    axes.set_ylim(len(names) - 0.5, -0.5)
    axes.set_xlim(0, 100.0 if percent.size and percent.max() > 40 else 50.0)
    axes.set_xlabel("runs excluded (%)")
    return figure


@_styled
def plot_dof_lost(dof_lost: dict[str, np.ndarray]) -> Figure:
    """Temporal degrees of freedom lost per strategy across runs (box + points).

    Parameters
    ----------
    dof_lost : dict
        Strategy name → dof lost of each run.

    Returns
    -------
    matplotlib.figure.Figure
    """
    names = list(dof_lost)
    values = [np.asarray(dof_lost[name], dtype=float) for name in names]
    values = [v[np.isfinite(v)] for v in values]
    figure = new_figure(5.0, 0.8 + 0.42 * max(len(names), 2))
    axes = _strategy_axes(figure, names)
    positions = np.arange(len(names))
    axes.boxplot(values, positions=positions, widths=0.5, showfliers=False,
                 medianprops={"color": "k"}, **_horizontal())
    generator = np.random.default_rng(0)
    for position, run_values in zip(positions, values):
        jitter = generator.uniform(-0.15, 0.15, run_values.size)
        axes.scatter(run_values, position + jitter, s=8, color="#1f77b4", alpha=0.7, zorder=3,
                     linewidths=0)
    axes.set_yticks(positions, names)
    axes.set_ylim(len(names) - 0.5, -0.5)
    axes.set_xlabel("temporal degrees of freedom lost (per run)")
    return figure
