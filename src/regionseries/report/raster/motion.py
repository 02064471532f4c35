"""The motion figure as pixels: volumes kept, dummy and censored per strategy, and the FD trace.

:func:`motion_raster` pastes them into the frame drawn by
:func:`regionseries.report.figures.motion_frame`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from ..model import StrategyResult
from .colors import COLOR_CENSORED, COLOR_DUMMY, COLOR_FD, STATE_COLORS, _uint8, hex_rgb
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
