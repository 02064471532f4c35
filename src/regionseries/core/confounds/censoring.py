"""Which volumes a run keeps, and the refusals load_confounds and plan_denoising share.

Motion outliers are the volumes whose framewise displacement (mm) or
standardised DVARS exceeds a threshold (:func:`_motion_outliers`), and
nilearn's ``scrub`` rule also censors every run of kept volumes shorter
than a minimum length (:func:`_drop_short_segments`). Both
:func:`~.nilearn_api.load_confounds` and :func:`~.plans.plan_denoising`
refuse a confounds table whose row count is not the run's volume count
(:func:`_check_row_count`, a :class:`~.errors.ConfoundsError`) and a run
whose every volume is censored (:func:`_check_some_volume_kept`, a
:class:`~.errors.RunExcluded`), with the same messages.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .columns import _as_float
from .errors import ConfoundsError, RunExcluded
from .vocabulary import _DVARS_COLUMN, _FD_COLUMN


def _motion_outliers(
    data: pd.DataFrame,
    fd_threshold: float | None,
    std_dvars_threshold: float | None,
) -> np.ndarray:
    """Volumes with FD > threshold (mm) or standardised DVARS > threshold.

    Both comparisons are strict; NaN (the first row) never counts. A
    threshold of None disables that criterion.
    """
    flagged = np.zeros(len(data), dtype=bool)
    if fd_threshold is not None:
        flagged |= _as_float(data[_FD_COLUMN]) > fd_threshold
    if std_dvars_threshold is not None:
        flagged |= _as_float(data[_DVARS_COLUMN]) > std_dvars_threshold
    return np.flatnonzero(flagged)


def _drop_short_segments(censored: np.ndarray, n_volumes: int, min_length: int) -> np.ndarray:
    """Censor every run of kept volumes shorter than ``min_length``.

    Parameters
    ----------
    censored : numpy.ndarray
        Sorted indices of censored volumes (at least one).
    n_volumes : int
    min_length : int
        Minimum number of consecutive kept volumes (nilearn's ``scrub``).

    Returns
    -------
    numpy.ndarray
        Sorted int64 indices of censored volumes.

    Notes
    -----
    For censored volumes made of motion outliers only, this is exactly
    nilearn's rule (head segment before the first outlier, tail segment
    after the last one, and the gaps between outliers).
    """
    keep = np.ones(n_volumes, dtype=bool)
    keep[censored] = False
    padded = np.concatenate(([False], keep, [False])).astype(np.int8)
    edges = np.diff(padded)
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1)
    for start, stop in zip(starts, stops):
        if stop - start < min_length:
            keep[start:stop] = False
    return np.flatnonzero(~keep).astype(np.int64)


def _check_row_count(source: str, n_rows: int, n_volumes: int, bold: str | None = None) -> None:
    """Refuse a confounds table whose row count is not the run's volume count.

    Parameters
    ----------
    source : str
        The confounds file, named first in the message.
    n_rows : int
        Rows of the confounds table (one per volume).
    n_volumes : int
        Volumes of the BOLD run.
    bold : str, optional
        The BOLD file, named in the message when known.

    Raises
    ------
    ConfoundsError
        If the two counts differ.
    """
    if n_rows != n_volumes:
        run = "the BOLD run" if bold is None else f"the BOLD run {bold}"
        raise ConfoundsError(
            f"{source}: the confounds file has {n_rows} rows but {run} has {n_volumes} volumes; "
            "they must match (is it the confounds file of this run?)."
        )


def _check_some_volume_kept(
    source: str,
    strategy_name: str,
    n_volumes: int,
    n_kept: int,
    n_dummies: int,
    n_motion_outliers: int,
    censoring: str,
) -> None:
    """Refuse a run whose every volume is censored.

    Parameters
    ----------
    source : str
        The confounds file.
    strategy_name : str
        The strategy (preset name, or components joined by ``+``).
    n_volumes, n_kept, n_dummies, n_motion_outliers : int
        Volumes of the run, kept, dropped as non-steady-state, and censored
        as motion outliers (dummies excluded).
    censoring : str
        The censoring thresholds (:func:`_censoring_text`), or "".

    Raises
    ------
    RunExcluded
        If ``n_kept`` is 0.
    """
    if n_kept == 0:
        raise RunExcluded(
            source,
            f"all {n_volumes} volumes are censored ({n_dummies} non-steady-state, "
            f"{n_motion_outliers} motion outliers{censoring}).",
            strategy_name,
        )


def _censoring_text(fd_threshold: float | None, std_dvars_threshold: float | None, min_segment_length: int) -> str:
    """`` at FD > 0.5 mm, std DVARS > 1.5, segments < 5 volumes`` for messages."""
    parts = []
    if fd_threshold is not None:
        parts.append(f"FD > {fd_threshold} mm")
    if std_dvars_threshold is not None:
        parts.append(f"std DVARS > {std_dvars_threshold}")
    parts.append(f"segments < {min_segment_length} volumes")
    return " at " + ", ".join(parts)
