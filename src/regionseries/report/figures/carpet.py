"""Carpet plots: region signals (regions x time, z-scored, grey) of a run, one panel per entry.

:func:`plot_carpet` draws them with their data; :func:`carpet_frame` draws
them without, for :func:`regionseries.report.raster.carpet_raster`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from ..raster.carpet import CARPET_LIMIT, _check_panels, _zscore_columns
from ..raster.frames import FULL_WIDTH_IN, Frame
from .canvas import add_axes_inches, colormap_table, frame_from, new_figure, styled

__all__ = ["carpet_frame", "plot_carpet"]


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
        axes = add_axes_inches(figure, left, panel_bottom, width, panel_height,
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
    bar_axes = add_axes_inches(figure, FULL_WIDTH_IN - right + 0.15, height - title_band - 1.2,
                         0.12, min(1.2, height - title_band - bottom))
    mappable = ScalarMappable(Normalize(-CARPET_LIMIT, CARPET_LIMIT), _carpet_colormap())
    figure.colorbar(mappable, cax=bar_axes).set_label("z-score")
    return figure, panel_axes


@styled
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
    figure, panel_axes = styled(_carpet_figure)(titles, n_volumes, n_regions, repetition_time,
                                                 region_axis_label)
    return frame_from(figure, panel_axes, tables=colormap_table(_carpet_colormap()))
