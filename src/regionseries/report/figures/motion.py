"""The motion and censoring figure of a run: framewise displacement and each strategy's kept volumes.

:func:`plot_motion` draws it with its data; :func:`motion_frame` draws it
without them, for :func:`regionseries.report.raster.motion_raster`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..model import StrategyResult
from ..raster.colors import (
    COLOR_CENSORED,
    COLOR_DUMMY,
    COLOR_DVARS,
    COLOR_FD,
    COLOR_FD_FILTERED,
    COLOR_KEPT,
    COLOR_OTHER,
    STATE_COLORS,
)
from ..raster.frames import FULL_WIDTH_IN, Frame
from ..raster.motion import _motion_parts
from .canvas import add_axes_inches, frame_from, new_figure, styled, text_width_in

__all__ = ["motion_frame", "plot_motion"]


#: The traces of the motion figure, top to bottom: (y label, legend label,
#: StrategyResult attribute of its threshold, threshold text, threshold legend).
TRACES = (
    ("FD (mm)", "framewise displacement (mm)", "fd_threshold", "{:g} mm", "FD threshold"),
    ("std DVARS", "standardized DVARS", "std_dvars_threshold", "{:g}", "std DVARS threshold"),
)


def _motion_figure(
    n_volumes: int, repetition_time: float, strategies: Sequence[StrategyResult],
    fd_top: float | None, any_censored: bool, any_other: bool, dvars_top: float | None = None,
    filtered_fd: bool = False,
) -> tuple[Figure, list, Any]:
    """Axes, thresholds, labels and legend of the motion figure, without the data.

    Returns the figure, the trace axes present (FD, then std DVARS; each None
    when its values are not available) and the volume-mask axes.
    ``filtered_fd``: the FD panel also shows the FD of motion-filtered
    parameters (its legend entry).
    """
    n_rows = max(len(strategies), 1)
    left = min(max(0.75, text_width_in([s.name + " (excluded)" * s.excluded
                                         for s in strategies]) + 0.25), 2.6)
    right, top, legend_band, gap = 0.3, 0.5, 0.85, 0.12
    mask_height = 0.26 * n_rows
    tops = [fd_top, dvars_top]
    trace_height = 1.3
    n_traces = sum(value is not None for value in tops)
    height = top + n_traces * (trace_height + gap) + mask_height + legend_band
    figure = new_figure(FULL_WIDTH_IN, height)
    width = FULL_WIDTH_IN - left - right
    mask_axes = add_axes_inches(figure, left, legend_band, width, mask_height)
    mask_axes.set_xlim(-0.5, n_volumes - 0.5)
    mask_axes.set_ylim(n_rows - 0.5, -0.5)
    mask_axes.set_yticks(range(len(strategies)),
                         [f"{s.name} (excluded)" if s.excluded else s.name for s in strategies])
    mask_axes.tick_params(axis="y", length=0)
    mask_axes.spines[:].set_visible(False)
    mask_axes.set_xlabel("volume", labelpad=1)
    handles = []
    time_axes = mask_axes
    trace_axes: list = [None, None]
    bottom = legend_band + mask_height + gap
    for index in reversed(range(len(TRACES))):  # from the bottom up: DVARS, then FD
        if tops[index] is None:
            continue
        ylabel, legend, attribute, text, threshold_legend = TRACES[index]
        axes = add_axes_inches(figure, left, bottom, width, trace_height, sharex=mask_axes)
        bottom += trace_height + gap
        axes.set_ylim(0, tops[index])
        axes.set_ylabel(ylabel)
        axes.tick_params(labelbottom=False)
        handles.insert(0, Line2D([], [], color=COLOR_FD if index == 0 else COLOR_DVARS,
                                 linewidth=0.9, label=legend))
        if index == 0 and filtered_fd:
            handles.insert(1, Line2D([], [], color=COLOR_FD_FILTERED, linewidth=0.9,
                                     label="FD of the motion-filtered parameters (mm)"))
        thresholds = sorted({getattr(s, attribute) for s in strategies
                             if getattr(s, attribute) is not None})
        for threshold in thresholds:
            users = ", ".join(s.name for s in strategies if getattr(s, attribute) == threshold)
            axes.axhline(threshold, color=COLOR_CENSORED, linestyle="--", linewidth=0.8)
            axes.annotate(
                f"{text.format(threshold)} ({users})", xy=(1.0, threshold),
                xycoords=("axes fraction", "data"), xytext=(-2, 2), textcoords="offset points",
                ha="right", va="bottom", color=COLOR_CENSORED, fontsize=7.5,
            )
        trace_axes[index] = axes
        time_axes = axes
    if any(axes is not None for axes in trace_axes):
        if any(getattr(s, TRACES[index][2]) is not None for s in strategies
               for index, axes in enumerate(trace_axes) if axes is not None):
            handles.append(Line2D([], [], color=COLOR_CENSORED, linestyle="--", linewidth=0.8,
                                  label="threshold"))
        if any_censored:
            handles.append(Line2D([], [], color=COLOR_CENSORED, marker="o", markersize=3,
                                  linestyle="", label="above a threshold: censored"))
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
    return figure, trace_axes, mask_axes


@styled
def plot_motion(
    n_volumes: int,
    repetition_time: float,
    strategies: Sequence[StrategyResult],
    fd: np.ndarray | None = None,
    std_dvars: np.ndarray | None = None,
) -> Figure:
    """Framewise displacement and standardized DVARS over time with each strategy's removed volumes.

    Top panels: FD (mm) and std DVARS (unitless) per volume, each strategy's
    thresholds as dashed lines, the volumes censored because they are above a
    threshold marked on the trace that censored them, dummy volumes shaded.
    When strategies have a motion filter, the FD of their filtered motion
    parameters (``StrategyResult.filtered_fd``, which their FD censoring
    used) is drawn over fMRIPrep's, their censored volumes marked on it.
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
    std_dvars : numpy.ndarray or None
        Standardized DVARS, one value per volume.

    Returns
    -------
    matplotlib.figure.Figure

    See Also
    --------
    regionseries.report.raster.motion_raster : the same picture from a frame.
    """
    parts = _motion_parts(n_volumes, strategies, fd, std_dvars)
    states, dummies = parts.states, parts.dummies
    figure, trace_axes, mask_axes = _motion_figure(
        n_volumes, repetition_time, strategies, parts.tops[0], parts.any_marked,
        bool(np.any(states == 3)), parts.tops[1], filtered_fd=bool(parts.filtered))
    mask_axes.imshow(
        states, aspect="auto", interpolation="nearest", cmap=ListedColormap(STATE_COLORS),
        vmin=-0.5, vmax=3.5, extent=(-0.5, n_volumes - 0.5, len(states) - 0.5, -0.5),
    )
    for row in range(1, len(states)):
        mask_axes.axhline(row - 0.5, color="white", linewidth=1.5)
    for panel, (axes, values, marked, color) in enumerate(zip(trace_axes, (fd, std_dvars), parts.marked,
                                                              (COLOR_FD, COLOR_DVARS))):
        if axes is None:
            continue
        if dummies.size:
            axes.axvspan(-0.5, dummies.max() + 0.5, color=COLOR_DUMMY, alpha=0.25, linewidth=0)
        traces = [(values, marked, color)] if values is not None else []
        if panel == 0:
            traces += [(trace, trace_marked, COLOR_FD_FILTERED) for trace, trace_marked in parts.filtered]
        for trace, trace_marked, trace_color in traces:
            axes.plot(np.arange(trace.size), trace, color=trace_color, linewidth=0.9)
            if trace_marked.size:
                axes.scatter(trace_marked, trace[trace_marked], s=9, color=COLOR_CENSORED, zorder=3)
    return figure


def motion_frame(n_volumes: int, repetition_time: float, strategies: Sequence[StrategyResult],
                 fd_top: float | None, any_censored: bool, any_other: bool,
                 dvars_top: float | None = None, filtered_fd: bool = False) -> Frame:
    """The motion figure without its data: volume mask, then the FD and DVARS panels present."""
    figure, trace_axes, mask_axes = styled(_motion_figure)(
        n_volumes, repetition_time, strategies, fd_top, any_censored, any_other, dvars_top, filtered_fd)
    return frame_from(figure, [mask_axes] + [axes for axes in trace_axes if axes is not None])
