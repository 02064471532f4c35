"""Carpet plots as pixels: each region's signal z-scored, one panel per cleaning step.

:func:`carpet_raster` pastes them into the frame drawn by
:func:`regionseries.report.figures.carpet_frame`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from ..model import RunReport
from .colors import colormapped
from .frames import RasterFigure, _figures, cached_frame, nearest_indices

__all__ = ["CARPET_LIMIT", "carpet_panels", "carpet_raster"]

#: Carpet plots show z-scores from -CARPET_LIMIT to CARPET_LIMIT.
CARPET_LIMIT = 2.0


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
        Folder of frames shared by jobs (:func:`cached_frame`); None: this process only.

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
