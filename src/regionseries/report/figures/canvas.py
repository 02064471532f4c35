"""What every report figure is drawn on: the Agg canvas, the report style, saving, frames.

:func:`new_figure` makes a figure bound to an Agg canvas (no pyplot, no
layout engine), :func:`add_axes_inches` places axes in inches,
:func:`styled` draws inside the report's matplotlib style
(:data:`REPORT_STYLE`), :func:`save_figure` writes PNG or SVG atomically
and :func:`rasterized` gives a figure's pixels. :func:`frame_from` turns a
figure drawn without its data into a :class:`~regionseries.report.raster.Frame`
(the data are pasted in as pixels by :mod:`regionseries.report.raster`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import wraps
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..raster.frames import (
    FIGURE_FORMATS,
    Frame,
    RasterFigure,
    save_raster,
    write_replacing,
)

__all__ = [
    "REPORT_STYLE",
    "add_axes_inches",
    "colormap_table",
    "frame_from",
    "new_figure",
    "rasterized",
    "save_figure",
    "styled",
    "text_width_in",
]

#: matplotlib settings of every report figure (:func:`styled`).
REPORT_STYLE = {
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


def add_axes_inches(figure: Figure, left: float, bottom: float, width: float, height: float,
              **kwargs: Any) -> Any:
    """Add axes placed in inches from the figure's bottom-left corner."""
    figure_width, figure_height = figure.get_size_inches()
    return figure.add_axes(
        (left / figure_width, bottom / figure_height, width / figure_width,
         height / figure_height),
        **kwargs,
    )


def styled(function: Callable[..., Figure]) -> Callable[..., Figure]:
    """Draw inside the report's matplotlib style (and only there)."""

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Figure:
        with rc_context(REPORT_STYLE):
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
    with rc_context(REPORT_STYLE):
        return write_replacing(path, lambda stream: figure.savefig(
            stream, format=fmt, metadata={"Date": None, "Creator": None}))


def _draw(figure: Figure) -> np.ndarray:
    """The figure's RGBA pixels as Agg draws them at its dpi."""
    with rc_context(REPORT_STYLE):
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


def text_width_in(texts: Sequence[str], points: float = 7.5) -> float:
    """Rough width in inches of the longest text at the given font size."""
    longest = max((len(text) for text in texts), default=0)
    return longest * points * 0.62 / 72


def colormap_table(colormap: Any) -> dict[str, np.ndarray]:
    """A colour map's colours and bad colour as imshow draws them (uint8), for :class:`Frame`."""
    colors = np.asarray(colormap(np.arange(colormap.N), bytes=True))[:, :3]
    bad = np.asarray(colormap(np.ma.masked_invalid([np.nan]), bytes=True))[0, :3]
    return {"colors": colors, "bad": bad}


def frame_from(figure: Figure, panels: Sequence[Any], layered: bool = False,
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
