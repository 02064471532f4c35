"""Censored volumes replaced by a cubic spline through the kept ones, before Butterworth filtering.

Unlike nilearn, the interpolated values go into the censored rows themselves
(nilearn writes them into mirrored rows); see
``docs/differences-from-nilearn.md``, section ``signal.clean``.
"""

from __future__ import annotations

import numpy as np
import scipy  # submodules load on first use: scipy.interpolate costs 0.3 s and only interpolation needs it


def _interpolate_censored(x, keep, t_r, extrapolate):
    """Fill the censored volumes with a cubic spline through the kept ones.

    Parameters
    ----------
    x : ndarray of shape (n_timepoints, n_columns), float64
        Modified in place (censored rows are overwritten).
    keep : ndarray of int
        Sorted indices of the kept volumes.
    t_r : float
        Repetition time in seconds (spline abscissae are ``arange(n)·t_r``).
    extrapolate : bool
        If False, censored volumes before the first or after the last kept
        volume are dropped instead of extrapolated.

    Returns
    -------
    segment : ndarray
        The rows that go on to detrending and filtering.
    keep_in_segment : ndarray of int
        ``keep`` re-indexed into ``segment``.
    """
    n_time = x.shape[0]
    first, last = (0, n_time - 1) if extrapolate else (int(keep[0]), int(keep[-1]))
    is_kept = np.zeros(n_time, dtype=bool)
    is_kept[keep] = True
    censored = np.flatnonzero(~is_kept[first:last + 1]) + first
    if censored.size:
        if keep.size < 2:
            raise ValueError(
                "Interpolating censored volumes before Butterworth filtering needs at "
                f"least 2 kept volumes; the sample mask keeps {keep.size}."
            )
        frame_times = np.arange(n_time) * t_r
        if x.shape[1] <= keep.size:
            spline = scipy.interpolate.CubicSpline(frame_times[keep], x[keep], axis=0, extrapolate=extrapolate)
            x[censored] = spline(frame_times[censored])
        else:
            # The spline is linear in the data: for wide matrices, build the
            # (n_censored × n_kept) interpolation weights once and multiply.
            weights = scipy.interpolate.CubicSpline(frame_times[keep], np.eye(keep.size), axis=0,
                                  extrapolate=extrapolate)(frame_times[censored])
            x[censored] = weights @ x[keep]
    return x[first:last + 1], keep - first
