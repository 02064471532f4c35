"""Connectivity matrices as pixels, with one colour limit shared by a run's matrices.

:func:`connectivity_raster` pastes them into the frame drawn by
:func:`regionseries.report.figures.connectivity_frame`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np

from .colors import colormapped
from .frames import RasterFigure, _figures, cached_frame, nearest_indices

__all__ = ["connectivity_limit", "connectivity_raster"]


def connectivity_limit(matrices: Sequence[np.ndarray], measure: str = "correlation") -> float:
    """Symmetric colour limit shared by several matrices (99th percentile of |off-diagonal|).

    For correlation-type measures the limit is rounded up to a multiple of
    0.1 and capped at 1, so that figures of different runs share a scale
    (and a frame).

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


def connectivity_raster(matrices: Sequence[tuple[str, np.ndarray]], region_names: Sequence[str],
                        measure: str = "correlation", max_labelled_regions: int = 30, max_columns: int = 3,
                        frame_dir: str | os.PathLike | None = None) -> RasterFigure:
    """:func:`~regionseries.report.figures.plot_connectivity` as pixels, from a frame.

    Parameters
    ----------
    matrices, region_names, measure, max_labelled_regions, max_columns
        As for :func:`~regionseries.report.figures.plot_connectivity`.
    frame_dir : path-like or None
        Folder of frames shared by jobs (:func:`cached_frame`).

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
    frame = cached_frame(key, lambda: _figures().connectivity_frame(
        titles, region_names, measure, limit, max_labelled_regions, max_columns), frame_dir)
    images = []
    for index, (_, matrix) in enumerate(matrices):
        height, width = frame.box_shape(index)
        shown = _matrix_for_display(matrix)
        shown = shown[nearest_indices(n_regions, height)][:, nearest_indices(n_regions, width)]
        images.append(colormapped(shown, frame.tables["colors"], frame.tables["bad"], -limit, limit))
    return frame.paste(images)
