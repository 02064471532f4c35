"""The motion figure as pixels: volumes kept, dummy and censored per strategy, the FD and DVARS traces
(and the FD of the motion-filtered parameters, when a strategy has a motion filter).

:func:`motion_raster` pastes them into the frame drawn by
:func:`regionseries.report.figures.motion_frame`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from ..model import StrategyResult
from .colors import (
    COLOR_CENSORED,
    COLOR_DUMMY,
    COLOR_DVARS,
    COLOR_FD,
    COLOR_FD_FILTERED,
    STATE_COLORS,
    _uint8,
    hex_rgb,
)
from .frames import RasterFigure, _figures, cached_frame

__all__ = ["motion_raster"]


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


def _trace_top(values: np.ndarray, thresholds: Sequence[float], floor: float) -> float:
    """A round upper limit above the largest value and threshold (at least ``floor``)."""
    finite = values[np.isfinite(values)]
    return _nice_ceiling(1.1 * max([finite.max() if finite.size else 0.0, *thresholds, floor]))


def _fd_top(fd: np.ndarray, strategies: Sequence[StrategyResult]) -> float:
    return _trace_top(_outside_dummies(fd, strategies),
                      [s.fd_threshold for s in strategies if s.fd_threshold is not None], 0.1)


def _outside_dummies(values: np.ndarray, strategies: Sequence[StrategyResult]) -> np.ndarray:
    """``values`` without the dummy volumes: a non-steady-state spike (std DVARS of 10 or
    more is common) would squash the scale the thresholds are read on; it runs off the top."""
    return np.delete(values, _all_indices(strategies, "dummy_volumes"))


def _all_indices(strategies: Sequence[StrategyResult], attribute: str) -> np.ndarray:
    return np.unique(np.concatenate(
        [getattr(s, attribute) for s in strategies] + [np.empty(0, dtype=np.int64)]))


def _above_and_censored(values: np.ndarray | None, strategies: Sequence[StrategyResult],
                        attribute: str) -> np.ndarray:
    """Volumes some strategy censored because ``values`` exceed its threshold ``attribute``."""
    if values is None:
        return np.empty(0, dtype=np.int64)
    marked = [s.motion_censored_volumes[values[s.motion_censored_volumes] > getattr(s, attribute)]
              for s in strategies if getattr(s, attribute) is not None]
    return np.unique(np.concatenate(marked + [np.empty(0, dtype=np.int64)]))


def _filtered_fd_traces(strategies: Sequence[StrategyResult]) -> list[np.ndarray]:
    """The distinct FD series of the strategies' motion-filtered parameters (one per filter used)."""
    traces: list[np.ndarray] = []
    for strategy in strategies:
        if strategy.filtered_fd is not None and not any(
                np.array_equal(strategy.filtered_fd, trace, equal_nan=True) for trace in traces):
            traces.append(strategy.filtered_fd)
    return traces


@dataclass
class _MotionParts:
    """The data of the motion figure, split as it is drawn."""

    states: np.ndarray  # (strategies, volumes) codes, see _volume_states
    dummies: np.ndarray  # dummy volumes of any strategy
    tops: tuple  # upper limits of the FD and DVARS panels (None: no panel)
    marked: tuple  # volumes marked on the FD and DVARS traces
    filtered: tuple = ()  # (FD of motion-filtered parameters, volumes marked on it), drawn in the FD panel

    @property
    def any_marked(self) -> bool:
        return any(marked.size for marked in self.marked) or any(marked.size for _, marked in self.filtered)


def _motion_parts(n_volumes: int, strategies: Sequence[StrategyResult], fd: np.ndarray | None,
                  std_dvars: np.ndarray | None = None) -> _MotionParts:
    dvars_top = None if std_dvars is None else _trace_top(
        _outside_dummies(std_dvars, strategies), [s.std_dvars_threshold for s in strategies if s.std_dvars_threshold is not None],
        1.0)
    filtered = _filtered_fd_traces(strategies)
    fd_traces = [values for values in (fd, *filtered) if values is not None]
    # each strategy's FD censoring is marked on the FD it used: fMRIPrep's, or its filtered one
    return _MotionParts(
        states=_volume_states(n_volumes, strategies),
        dummies=_all_indices(strategies, "dummy_volumes"),
        tops=(max(_fd_top(values, strategies) for values in fd_traces) if fd_traces else None, dvars_top),
        marked=(_above_and_censored(fd, [s for s in strategies if s.filtered_fd is None], "fd_threshold"),
                _above_and_censored(std_dvars, strategies, "std_dvars_threshold")),
        filtered=tuple((trace, _above_and_censored(trace, [
            s for s in strategies if s.filtered_fd is not None
            and np.array_equal(s.filtered_fd, trace, equal_nan=True)], "fd_threshold")) for trace in filtered),
    )


def motion_raster(
    n_volumes: int,
    repetition_time: float,
    strategies: Sequence[StrategyResult],
    fd: np.ndarray | None = None,
    supersampling: int = 4,
    frame_dir: str | os.PathLike | None = None,
    std_dvars: np.ndarray | None = None,
) -> RasterFigure:
    """:func:`~regionseries.report.figures.plot_motion` as pixels, from a frame.

    The FD and DVARS traces and the censored volumes are drawn
    ``supersampling`` times larger and reduced (anti-aliased); the volume
    mask is pasted as an image.

    Parameters
    ----------
    n_volumes, repetition_time, strategies, fd, std_dvars
        As for :func:`~regionseries.report.figures.plot_motion`.
    supersampling : int
        Oversampling factor of the drawn traces.
    frame_dir : path-like or None
        Folder of frames shared by jobs (:func:`cached_frame`).

    Returns
    -------
    RasterFigure
    """
    parts = _motion_parts(n_volumes, strategies, fd, std_dvars)
    states = parts.states
    any_other = bool(np.any(states == 3))
    key = ("motion", n_volumes, float(repetition_time),
           tuple((s.name, s.excluded, s.fd_threshold, s.std_dvars_threshold) for s in strategies),
           parts.tops, parts.any_marked, any_other) + (("filtered FD",) if parts.filtered else ())
    frame = cached_frame(key, lambda: _figures().motion_frame(
        n_volumes, repetition_time, strategies, parts.tops[0], parts.any_marked, any_other,
        parts.tops[1], filtered_fd=bool(parts.filtered)), frame_dir)
    colors = np.array([_uint8(hex_rgb(c)) for c in STATE_COLORS])
    raster = frame.paste([colors[states]])
    pixels = raster.pixels
    row0, row1, col0, col1 = frame.boxes[0]
    for row in range(1, len(states)):  # white lines between strategies
        middle = row0 + int(round(row * (row1 - row0) / len(states)))
        pixels[max(middle - 1, row0):middle + 1, col0:col1] = 255
    boxes = iter(frame.boxes[1:])  # the panels present, top to bottom as in motion_frame
    for panel, (values, top, marked, color) in enumerate(zip((fd, std_dvars), parts.tops, parts.marked,
                                                             (COLOR_FD, COLOR_DVARS))):
        if top is None:
            continue
        traces = [(values, marked, color)] if values is not None else []
        if panel == 0:
            traces += [(trace, trace_marked, COLOR_FD_FILTERED) for trace, trace_marked in parts.filtered]
        _draw_trace(pixels, next(boxes), traces, top, parts.dummies, n_volumes, frame.dpi, supersampling)
    return raster


def _draw_trace(pixels: np.ndarray, box_rows_cols: tuple, traces: Sequence[tuple], top: float,
                dummies: np.ndarray, n_volumes: int, dpi: float, scale: int) -> None:
    """Draw the traces of one panel (FD, or DVARS), then their marked volumes, into ``pixels``.

    ``traces``: ``(values, marked volumes, colour)``, drawn in this order;
    every mark is drawn over every line, as matplotlib's scatter (zorder 3).
    """
    row0, row1, col0, col1 = box_rows_cols
    height, width = row1 - row0, col1 - col0
    box = pixels[row0:row1, col0:col1].astype(float)

    def x_pixel(volume: np.ndarray) -> np.ndarray:
        return (np.asarray(volume, dtype=float) + 0.5) / n_volumes * width

    if dummies.size:
        right = int(round(x_pixel(dummies.max() + 0.5)))
        box[:, :right] = 0.75 * box[:, :right] + 0.25 * np.array(hex_rgb(COLOR_DUMMY)) * 255
    image = Image.fromarray(box.round().astype(np.uint8)).resize(
        (width * scale, height * scale), Image.NEAREST)
    draw = ImageDraw.Draw(image)
    line_width = max(1, int(round(0.9 / 72 * dpi * scale)))
    points = []
    for values, marked, color in traces:
        xs = x_pixel(np.arange(values.size)) * scale
        ys = (1 - values / top) * height * scale
        finite = np.isfinite(ys)
        line_color = tuple(int(v) for v in _uint8(hex_rgb(color)))
        for segment in np.split(np.arange(values.size), np.flatnonzero(~finite)):
            segment = segment[finite[segment]]
            if segment.size >= 2:
                draw.line(list(zip(xs[segment], ys[segment])), fill=line_color, width=line_width,
                          joint="curve")
        points += [(xs[volume], ys[volume]) for volume in marked if np.isfinite(ys[volume])]
    radius = 2.0 / 72 * dpi * scale  # scatter s=9 pt²: 3 pt wide, plus its 1 pt edge
    red = tuple(int(v) for v in _uint8(hex_rgb(COLOR_CENSORED)))
    for x, y in points:
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=red)
    pixels[row0:row1, col0:col1] = np.asarray(image.reduce(scale))
