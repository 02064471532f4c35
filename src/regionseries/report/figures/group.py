"""The group report's figures: QC-FC distributions and distance dependence, excluded runs, dof lost, mean FD.

One row or panel per denoising strategy; drawn with matplotlib only (the
group report has no frames).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from ..model import QCFCResult
from ..raster.colors import COLOR_CENSORED, COLOR_FD
from ..raster.frames import FULL_WIDTH_IN
from .canvas import add_axes_inches, new_figure, styled, text_width_in

__all__ = [
    "plot_distance_dependence",
    "plot_dof_lost",
    "plot_excluded_fraction",
    "plot_fd_distribution",
    "plot_qcfc_distributions",
]


def _horizontal() -> dict[str, Any]:
    """Keyword making violin/box plots horizontal on old and new matplotlib."""
    major, minor = (int(part) for part in matplotlib.__version__.split(".")[:2])
    return {"orientation": "horizontal"} if (major, minor) >= (3, 10) else {"vert": False}


def _strategy_axes(figure: Figure, names: Sequence[str], right: float = 0.3,
                   bottom: float = 0.5, top: float = 0.15) -> Any:
    width, height = figure.get_size_inches()
    left = min(max(0.6, text_width_in(names) + 0.2), 2.5)
    return add_axes_inches(figure, left, bottom, width - left - right, height - bottom - top)


@styled
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
    across = "participants" if results and all(r.unit == "participant" for r in results) else "runs"
    axes.set_xlabel(f"QC-FC (correlation across {across} of edge strength with mean FD)")
    return figure


@styled
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
        axes = add_axes_inches(
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


@styled
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


@styled
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


@styled
def plot_fd_distribution(mean_fd_mm: np.ndarray, threshold_mm: float | None = None) -> Figure:
    """Histogram of the runs' mean framewise displacement, with the exclusion threshold.

    Parameters
    ----------
    mean_fd_mm : ndarray
        Mean FD of each run, mm (NaN: unknown, left out).
    threshold_mm : float or None
        Runs above it are excluded (drawn as a red line, the runs above it
        counted), mm.

    Returns
    -------
    matplotlib.figure.Figure
    """
    values = np.asarray(mean_fd_mm, dtype=float)
    values = values[np.isfinite(values)]
    figure = new_figure(5.0, 2.3)
    axes = add_axes_inches(figure, 0.6, 0.5, 4.2, 1.55)
    upper = max([float(values.max()) if values.size else 0.0, threshold_mm or 0.0]) * 1.08 or 1.0
    bins = np.linspace(0.0, upper, 31)
    axes.hist(values, bins=bins, color="#6a9fd4", edgecolor="white", linewidth=0.4)
    if threshold_mm is not None:
        above = int((values > threshold_mm).sum())
        axes.axvline(threshold_mm, color=COLOR_CENSORED, linewidth=1.4)
        axes.annotate(f"exclusion threshold {threshold_mm:g} mm\n{above} of {values.size} runs above",
                      xy=(threshold_mm, 1.0), xycoords=("data", "axes fraction"), xytext=(-4, -3),
                      textcoords="offset points", ha="right", va="top", fontsize=7.5, color=COLOR_CENSORED)
    axes.set_xlim(0.0, upper)
    axes.set_xlabel("mean framewise displacement of a run (mm)")
    axes.set_ylabel("runs")
    axes.yaxis.get_major_locator().set_params(integer=True)
    return figure
