"""Cosine drift regressors: ``filter="cosine"`` adds DCT-II drift terms up to ``high_pass`` to the confounds.

:func:`cosine_drift` is the public helper (``nilearn.glm``'s drift model);
:func:`_add_cosine_drift` adds its columns to a run's confounds unless the
confounds already hold them. Frequencies are in Hz, times in seconds.
"""

from __future__ import annotations

import numpy as np

from .common import _warn
from .options import _check_optional_scalar


def _cosine_regressors(n_time, high_pass, t_r):
    """DCT-II drift regressors (no constant) on ``arange(n)·t_r``."""
    return cosine_drift(high_pass, np.arange(n_time) * t_r)[:, :-1]


def _drift_already_in_confounds(drift, confounds):
    """nilearn's test: any drift column correlates > 0.9 with any other column."""
    usable_rows = np.isfinite(confounds).all(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        correlation = np.corrcoef(drift[usable_rows].T, confounds[usable_rows].T)
    np.fill_diagonal(correlation, 0)
    return bool(np.any(correlation[: drift.shape[1]] > 0.9))


def _add_cosine_drift(confounds, n_time, high_pass, t_r):
    drift = _cosine_regressors(n_time, high_pass, t_r)
    if drift.shape[1] == 0:
        _warn(
            "Cosine filter was not created. The time series might be too "
            "short or the high pass filter is not suitable for the data.",
        )
        return confounds
    if confounds is None:
        return drift
    if _drift_already_in_confounds(drift, confounds):
        _warn(
            "Cosine filter(s) exist in user supplied confounds."
            "Use user supplied regressors only.",
        )
        return confounds
    return np.hstack((confounds, drift))


def cosine_drift(high_pass, frame_times):
    """DCT-II drift regressors up to ``high_pass``, plus a constant column.

    Parameters
    ----------
    high_pass : float
        Cutoff frequency in Hz (≥ 0).
    frame_times : array-like of shape (n_scans,)
        Acquisition times in seconds (assumed regular).

    Returns
    -------
    drift : ndarray of shape (n_scans, K + 1)
        Columns ``k = 1..K``: ``sqrt(2/n)·cos(π/n·(t + 0.5)·k)`` with
        ``K = min(n − 1, floor(2·n·high_pass·dt))``; the last column is 1.
    """
    _check_optional_scalar(high_pass, "high_pass")
    if high_pass is None or high_pass < 0:
        raise ValueError(f"high_pass must be a frequency >= 0 Hz; got {high_pass!r}.")
    frame_times = np.asarray(frame_times, dtype=np.float64)
    if frame_times.ndim != 1 or frame_times.size == 0:
        raise ValueError(f"frame_times must be a non-empty 1-D array; got shape {frame_times.shape}.")
    n_frames = frame_times.size
    n_times = np.arange(n_frames)
    order = 0
    if n_frames > 1:
        dt = (frame_times[-1] - frame_times[0]) / (n_frames - 1)
        if high_pass * dt >= 0.5:
            _warn(
                "High-pass filter will span all accessible frequencies "
                "and saturate the design matrix. "
                "You may want to reduce the high_pass value."
                f"The provided value is {high_pass} Hz",
            )
        order = int(np.minimum(n_frames - 1, int(np.floor(2 * n_frames * high_pass * dt))))
    drift = np.zeros((n_frames, order + 1))
    normalizer = np.sqrt(2.0 / n_frames)
    for k in range(1, order + 1):
        drift[:, k - 1] = normalizer * np.cos((np.pi / n_frames) * (n_times + 0.5) * k)
    drift[:, -1] = 1.0
    return drift
