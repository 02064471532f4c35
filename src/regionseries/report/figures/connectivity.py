"""Connectivity matrices of one atlas side by side (one panel per strategy), on one colour scale.

:func:`plot_connectivity` draws them with their data;
:func:`connectivity_frame` draws them without, for
:func:`regionseries.report.raster.connectivity_raster`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..raster.connectivity import (
    _check_matrices,
    _matrix_for_display,
    connectivity_limit,
)
from ..raster.frames import Frame
from .canvas import (
    add_axes_inches,
    colormap_table,
    frame_from,
    new_figure,
    styled,
    text_width_in,
)

__all__ = ["connectivity_frame", "plot_connectivity"]


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
    label_margin = text_width_in(short, fontsize) + 0.15 if labelled else 0.75
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
        axes = add_axes_inches(figure, left + column * (side + gap), bottom, side, side)
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
    bar_axes = add_axes_inches(figure, width - right + 0.2, height - title_band - side * 0.85,
                         0.13, side * 0.8)
    mappable = ScalarMappable(Normalize(-limit, limit), _connectivity_colormap())
    figure.colorbar(mappable, cax=bar_axes).set_label(measure)
    return figure, panel_axes


@styled
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
    figure, panel_axes = styled(_connectivity_figure)(
        titles, region_names, measure, limit, max_labelled_regions, max_columns)
    return frame_from(figure, panel_axes, tables=colormap_table(_connectivity_colormap()))
