"""Report figures drawn with matplotlib's Agg canvas (no display, no pyplot).

Every ``plot_*`` function returns a :class:`matplotlib.figure.Figure` bound to
an Agg canvas; :func:`save_figure` writes it atomically. Nothing here touches
pyplot's global state, so figures can be drawn from worker processes or
threads on a headless HPC node.

The reports draw their PNG figures from *frames* instead
(:mod:`regionseries.report.raster`): each ``*_frame`` function here draws a
figure without its data, once, and the data are pasted in as pixels. Both
paths lay out the figures with the same functions, so a PNG and an SVG
report show the same figure. Axes are placed in inches by hand (no
constrained or tight layout), and slice montages are drawn as images
blended with numpy in a single axes rather than one axes per slice.

The low-level functions take plain arrays (so the maskers can use them); the
functions taking report-model objects are thin wrappers.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from functools import wraps
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps, patheffects, rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.collections import EllipseCollection
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MaxNLocator

from .model import AtlasResult, QCFCResult, StrategyResult
from .raster import (
    _VIEWS,
    CARPET_LIMIT,
    COLOR_CENSORED,
    COLOR_DUMMY,
    COLOR_FD,
    COLOR_KEPT,
    COLOR_NA,
    COLOR_OTHER,
    FIGURE_FORMATS,
    FULL_WIDTH_IN,
    SPHERE_ALPHA,
    SPHERE_EDGE_PT,
    SPHERES_BACKGROUND,
    STATE_COLORS,
    Frame,
    OverlayVolumes,
    RasterFigure,
    _canonical,
    _check_matrices,
    _check_panels,
    _grey_levels,
    _Grid,
    _matrix_for_display,
    _motion_parts,
    _zscore_columns,
    atlas_raster,
    carpet_panels,
    carpet_raster,
    connectivity_limit,
    connectivity_raster,
    label_colors,
    motion_raster,
    overlay_volumes,
    save_raster,
    sphere_colors,
    strongest_map_index,
    strongest_map_index_of_weights,
    write_replacing,
)

__all__ = [
    "CARPET_LIMIT",
    "COLOR_CENSORED",
    "COLOR_DUMMY",
    "COLOR_FD",
    "COLOR_KEPT",
    "COLOR_NA",
    "COLOR_OTHER",
    "FIGURE_FORMATS",
    "FULL_WIDTH_IN",
    "RasterFigure",
    "atlas_raster",
    "carpet_frame",
    "carpet_panels",
    "carpet_raster",
    "colormap_table",
    "connectivity_frame",
    "connectivity_limit",
    "connectivity_raster",
    "cuts_frame",
    "label_colors",
    "motion_frame",
    "motion_raster",
    "new_figure",
    "plot_atlas",
    "plot_carpet",
    "plot_connectivity",
    "plot_distance_dependence",
    "plot_dof_lost",
    "plot_excluded_fraction",
    "plot_labels_overlay",
    "plot_maps_overlay",
    "plot_motion",
    "plot_qcfc_distributions",
    "plot_spheres",
    "rasterized",
    "save_figure",
    "spheres_frame",
    "strongest_map_index",
    "strongest_map_index_of_weights",
]

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

    PNG files are drawn by Agg and written by Pillow at the compression level
    of the raster figures (:data:`~regionseries.report.raster.PNG_COMPRESS_LEVEL`).

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
    if isinstance(figure, RasterFigure):
        return save_raster(figure, path)
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in FIGURE_FORMATS:
        raise ValueError(f"cannot write figure {path}: format must be one of {FIGURE_FORMATS}")
    if fmt == "png":
        return save_raster(rasterized(figure, dpi or figure.dpi), path)
    with rc_context(_STYLE):
        return write_replacing(path, lambda stream: figure.savefig(
            stream, format=fmt, metadata={"Date": None, "Creator": None}))


def _draw(figure: Figure) -> np.ndarray:
    """The figure's RGBA pixels as Agg draws them at its dpi."""
    with rc_context(_STYLE):
        figure.canvas.draw()
    return np.asarray(figure.canvas.buffer_rgba())


def rasterized(figure: Figure, dpi: float) -> RasterFigure:
    """The figure's pixels at ``dpi`` (as ``savefig`` draws them)."""
    original = figure.dpi
    if dpi != original:
        figure.set_dpi(dpi)
    try:
        return RasterFigure(_draw(figure)[..., :3].copy(), dpi)
    finally:
        if dpi != original:
            figure.set_dpi(original)


def _horizontal() -> dict[str, Any]:
    """Keyword making violin/box plots horizontal on old and new matplotlib."""
    import matplotlib

    major, minor = (int(part) for part in matplotlib.__version__.split(".")[:2])
    return {"orientation": "horizontal"} if (major, minor) >= (3, 10) else {"vert": False}


def _text_width_in(texts: Sequence[str], points: float = 7.5) -> float:
    """Rough width in inches of the longest text at the given font size."""
    longest = max((len(text) for text in texts), default=0)
    return longest * points * 0.62 / 72



# ---------------------------------------------------------------------------
# Frames: figures without their data (see regionseries.report.raster)


def colormap_table(colormap: Any) -> dict[str, np.ndarray]:
    """A colour map's colours and bad colour as imshow draws them (uint8), for :class:`Frame`."""
    colors = np.asarray(colormap(np.arange(colormap.N), bytes=True))[:, :3]
    bad = np.asarray(colormap(np.ma.masked_invalid([np.nan]), bytes=True))[0, :3]
    return {"colors": colors, "bad": bad}


def _frame_from(figure: Figure, panels: Sequence[Any], layered: bool = False,
                tables: dict[str, np.ndarray] | None = None) -> Frame:
    """Draw a figure and record where (in pixel rows/columns) its data panels are.

    Parameters
    ----------
    figure : matplotlib.figure.Figure
    panels : sequence
        Axes (the data fill the axes) or (axes, (x0, x1, y0, y1)): a rectangle
        in the axes' data coordinates.
    layered : bool
        The figure was drawn on a transparent background, to go over the data
        (:attr:`Frame.layer`).
    tables : dict or None
        Colour tables stored with the frame.

    Returns
    -------
    Frame
    """
    rgba = _draw(figure)
    height = rgba.shape[0]
    boxes = []
    for panel in panels:
        if isinstance(panel, tuple):
            axes, (x0, x1, y0, y1) = panel
            (left, low), (right, high) = axes.transData.transform([(x0, y0), (x1, y1)])
        else:
            extent = panel.get_window_extent()
            left, low, right, high = extent.x0, extent.y0, extent.x1, extent.y1
        left, right = sorted((left, right))
        low, high = sorted((low, high))
        boxes.append((height - int(round(high)), height - int(round(low)),
                      int(round(left)), int(round(right))))
    if not layered:
        return Frame(rgba[..., :3].copy(), boxes, figure.dpi, None, dict(tables or {}))
    layer = rgba.copy()
    alpha = layer[..., 3:].astype(np.float32) / 255
    over_white = (layer[..., :3] * alpha + 255 * (1 - alpha) + 0.5).astype(np.uint8)
    return Frame(over_white, boxes, figure.dpi, layer, dict(tables or {}))


# ---------------------------------------------------------------------------
# Motion and censoring


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
    regionseries.report.raster.motion_raster : the same picture from a frame.
    """
    states, censored, dummies, fd_top = _motion_parts(n_volumes, strategies, fd)
    figure, fd_axes, mask_axes = _motion_figure(
        n_volumes, repetition_time, strategies, fd_top, bool(censored.size), bool(np.any(states == 3)))
    mask_axes.imshow(
        states, aspect="auto", interpolation="nearest", cmap=ListedColormap(STATE_COLORS),
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


def motion_frame(n_volumes: int, repetition_time: float, strategies: Sequence[StrategyResult],
                 fd_top: float | None, any_censored: bool, any_other: bool) -> Frame:
    """The motion figure without its data: volume mask, then the FD panel (if any)."""
    figure, fd_axes, mask_axes = _styled(_motion_figure)(
        n_volumes, repetition_time, strategies, fd_top, any_censored, any_other)
    return _frame_from(figure, [mask_axes] + ([fd_axes] if fd_axes is not None else []))


# ---------------------------------------------------------------------------
# Carpet plots


def _carpet_colormap():
    """Grey z-scores, pale red for NaN."""
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
    regionseries.report.raster.carpet_raster : the same picture from a frame.
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


def carpet_frame(titles: Sequence[str], n_volumes: int, n_regions: int, repetition_time: float,
                 region_axis_label: str) -> Frame:
    """The carpet plot without its data: one box per panel, and its colour map."""
    figure, panel_axes = _styled(_carpet_figure)(titles, n_volumes, n_regions, repetition_time,
                                                 region_axis_label)
    return _frame_from(figure, panel_axes, tables=colormap_table(_carpet_colormap()))


# ---------------------------------------------------------------------------
# Atlases over the reference image


def _montage_axes(figure: Figure) -> Any:
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_axis_off()
    return axes


@_styled
def _cuts_figure(grid: _Grid, cuts: Sequence[Sequence[int]], n_cuts: int,
                 transparent: bool = False) -> tuple[Figure, Any, list]:
    """Rows of axial, coronal and sagittal cuts in one axes (mm units), without the slices.

    Returns the figure, its axes and the rectangle (x0, x1, y0, y1) of each
    slice in data coordinates, view by view; the view names, each slice's
    coordinate and the L/R letters (drawn over the slices) are drawn.
    """
    gap = 4.0  # mm between slices
    rows = []
    for (view, axis, (horizontal, vertical), letter), view_cuts in zip(_VIEWS, cuts):
        rows.append((view, axis, letter, view_cuts, np.ptp(grid.span(horizontal)),
                     np.ptp(grid.span(vertical))))
    left_band = 14.0  # mm for the view names
    total_width = left_band + max(n_cuts * (row[4] + gap) for row in rows)
    points_per_mm = FULL_WIDTH_IN * 72 / total_width
    fontsize = float(np.clip(3.0 * points_per_mm, 7, 9))
    label_band = 1.5 * fontsize / points_per_mm  # mm above each slice for its coordinate
    total_height = sum(row[5] + label_band + gap for row in rows)
    figure = new_figure(FULL_WIDTH_IN, FULL_WIDTH_IN * total_height / total_width)
    if transparent:
        figure.patch.set_alpha(0.0)
    axes = _montage_axes(figure)
    rectangles = []
    top = total_height
    for view, axis, letter, view_cuts, width, height in rows:
        row_bottom = top - label_band - height
        axes.text(left_band / 2, row_bottom + height / 2, view, rotation=90, ha="center",
                  va="center", fontsize=fontsize + 0.5)
        for column, index in enumerate(view_cuts):
            x0 = left_band + column * (width + gap)
            rectangles.append((x0, x0 + width, row_bottom, row_bottom + height))
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
    return figure, axes, rectangles


def cuts_frame(grid: _Grid, cuts: Sequence[Sequence[int]], n_cuts: int) -> Frame:
    """The slice montage without its slices: text on a transparent layer, a box per slice."""
    figure, axes, rectangles = _cuts_figure(grid, cuts, n_cuts, transparent=True)
    return _frame_from(figure, [(axes, rectangle) for rectangle in rectangles], layered=True)


def _plot_cuts(volumes: OverlayVolumes, colors: np.ndarray, na_flags: np.ndarray,
               fill_alpha: float) -> Figure:
    """The slices of ``volumes`` with the overlay, in one axes (mm units)."""
    figure, axes, rectangles = _cuts_figure(volumes.grid, volumes.cuts, volumes.n_cuts)
    for rectangle, rgb in zip(rectangles, volumes.slices(colors, na_flags, fill_alpha)):
        axes.imshow(rgb, origin="lower", interpolation="nearest", extent=rectangle)
    return figure


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
    are outlined in red with a faint red fill. The cuts are spread evenly
    through the atlas's regions (:func:`~regionseries.report.raster.overlay_cuts`).

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
    volumes = overlay_volumes(np.asarray(labels), affine, reference, reference_affine, n_cuts,
                              label_values=label_values)
    return _plot_cuts(volumes, label_colors(label_values.size), na_flags, fill_alpha=0.5)


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
    n_maps = np.shape(maps)[3]
    na_flags = np.zeros(n_maps, bool) if na_flags is None else np.asarray(na_flags, dtype=bool)
    volumes = overlay_volumes(maps, affine, reference, reference_affine, n_cuts,
                              min_fraction=min_fraction)
    return _plot_cuts(volumes, label_colors(n_maps), na_flags, fill_alpha=0.55)


@_styled
def _spheres_figure(coordinates: np.ndarray, radius_mm: float | None, na_flags: np.ndarray,
                    grid: _Grid | None, max_numbered: int,
                    frame: bool = False) -> tuple[Figure, Any, list, list]:
    """Spheres and their numbers on three views, without what is drawn under them.

    Returns the figure, its axes, the rectangle (x0, x1, y0, y1) of each
    view in data coordinates (where the reference's projection goes, or a
    dark background without a reference) and the sphere centres of each view
    (n, 2) in data coordinates. ``frame=True`` leaves the spheres out too and
    draws on a transparent background (:func:`spheres_frame`).
    """
    radius = float(radius_mm) if radius_mm else 2.0
    if grid is not None:
        spans = [grid.span(axis) for axis in range(3)]
    else:
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
    if frame:
        figure.patch.set_alpha(0.0)
    axes = _montage_axes(figure)
    fontsize = float(np.clip(3.2 * FULL_WIDTH_IN * 72 / total_width, 7, 9))
    x0 = 0.0
    numbered = len(coordinates) <= max_numbered
    face_colors = sphere_colors(len(coordinates), na_flags, max_numbered)
    rectangles, centres_of_views = [], []
    for (view, axis, (horizontal, vertical), _), width, height in zip(_VIEWS, widths, heights):
        h_low, v_low = spans[horizontal][0], spans[vertical][0]
        rectangles.append((x0, x0 + width, 0, height))
        centres = np.column_stack([x0 + coordinates[:, horizontal] - h_low,
                                   coordinates[:, vertical] - v_low])
        centres_of_views.append(centres)
        if not frame:
            # One collection for all spheres: adding hundreds of patches one by one is slow.
            axes.add_collection(EllipseCollection(
                widths=2 * radius, heights=2 * radius, angles=0, units="xy", offsets=centres,
                offset_transform=axes.transData, facecolors=face_colors, edgecolors="white",
                linewidths=SPHERE_EDGE_PT, alpha=SPHERE_ALPHA, zorder=3,
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
    return figure, axes, rectangles, centres_of_views


def spheres_frame(coordinates: np.ndarray, radius_mm: float | None, grid: _Grid | None,
                  max_numbered: int) -> Frame:
    """The spheres figure without its data: view names and sphere numbers on a transparent layer.

    The boxes are the views (projections or dark backgrounds go there); the
    tables hold the grey colour map, the sphere centres of each view in
    pixels (``centres``: views × spheres × (column, row)) and the sphere
    radius in pixels (``radius``): the spheres are drawn between the
    projections and the layer (:func:`~regionseries.report.raster.spheres_raster`),
    so that the frame does not depend on which spheres are set to n/a.
    """
    figure, axes, rectangles, centres = _spheres_figure(
        coordinates, radius_mm, np.zeros(len(coordinates), bool), grid, max_numbered, frame=True)
    drawn = _frame_from(figure, [(axes, rectangle) for rectangle in rectangles], layered=True,
                        tables={"grey": colormap_table(colormaps["gray"])["colors"]})
    height = drawn.pixels.shape[0]
    pixels = [axes.transData.transform(view) for view in centres]
    drawn.tables["centres"] = np.stack([np.column_stack([xy[:, 0], height - xy[:, 1]])
                                        for xy in pixels]).reshape(len(centres), -1, 2)
    radius = float(radius_mm) if radius_mm else 2.0
    (left, _), (right, _) = axes.transData.transform([(0.0, 0.0), (radius, 0.0)])
    drawn.tables["radius"] = np.array([right - left])
    return drawn


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
    grid = grey = None
    if reference is not None:
        reference, reference_affine = _canonical(np.asarray(reference, float),
                                                 np.asarray(reference_affine, float))
        grid = _Grid(reference_affine, reference.shape)
        grey = _grey_levels(reference, reference.shape, brightness=0.7)
    figure, axes, rectangles, _ = _spheres_figure(coordinates, radius_mm, na_flags, grid,
                                                  max_numbered)
    for (_, axis, _, _), rectangle in zip(_VIEWS, rectangles):
        if grey is None:
            x0, x1, y0, y1 = rectangle
            axes.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, color=SPHERES_BACKGROUND))
        else:
            axes.imshow(grey.max(axis=axis).T, cmap="gray", vmin=0, vmax=1, origin="lower",
                        interpolation="nearest", extent=rectangle)
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

    See Also
    --------
    regionseries.report.raster.atlas_raster : the same picture from a frame.
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
    regionseries.report.raster.connectivity_raster : the same picture from a frame.
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


def connectivity_frame(titles: Sequence[str], region_names: Sequence[str], measure: str,
                       limit: float, max_labelled_regions: int, max_columns: int) -> Frame:
    """The connectivity panels without their data, and the colour map."""
    figure, panel_axes = _styled(_connectivity_figure)(
        titles, region_names, measure, limit, max_labelled_regions, max_columns)
    return _frame_from(figure, panel_axes, tables=colormap_table(_connectivity_colormap()))


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
