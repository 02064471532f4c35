"""Removal of each column's mean and least-squares linear trend.

:func:`_remove_trend_inplace` is the ``detrend=True`` step of
:func:`~regionseries.core.signal.clean` (signals and confounds alike);
:func:`detrend` is the public helper (``nilearn.signal._detrend``).
"""

from __future__ import annotations

import numpy as np

from .common import _EPS64, _warn_single_timepoint
from .inputs import _as_signal_matrix, _output_dtype


def _remove_trend_inplace(x, kind="linear"):
    """Remove each column's mean and (``kind="linear"``) its linear trend, in place."""
    x -= x.mean(axis=0)
    if kind == "linear":
        ramp = np.arange(x.shape[0], dtype=x.dtype)
        ramp -= ramp.mean()
        norm = np.sqrt((ramp**2).sum())
        if not norm < _EPS64:
            ramp /= norm
        x -= ramp[:, np.newaxis] * (ramp @ x)
    return x


def _detrend_step(x):
    if x.shape[0] == 1:
        _warn_single_timepoint("Detrending")
        return x
    return _remove_trend_inplace(x)


def detrend(signals, kind="linear", inplace=False):
    """Remove the mean (and the linear trend) of each column.

    Parameters
    ----------
    signals : ndarray of shape (n_timepoints, n_features)
        One time series per column.
    kind : {"linear", "constant"}, default="linear"
        "constant" removes the mean only; "linear" also removes the
        least-squares linear trend over the sample index.
    inplace : bool, default=False
        Write the result into ``signals`` (which must then be a floating-point
        ndarray) instead of returning a new array.

    Returns
    -------
    detrended : ndarray of shape (n_timepoints, n_features)
        Same float dtype as the input (nilearn's float rule for other types).
        A single time point is returned unchanged, with a warning.
    """
    if kind not in ("linear", "constant"):
        raise ValueError(f"kind must be 'linear' or 'constant'; got {kind!r}.")
    array = _as_signal_matrix(signals)
    if inplace and not (isinstance(signals, np.ndarray) and signals.dtype.kind == "f"):
        raise TypeError(
            "detrend(inplace=True) needs a floating-point numpy array to write into."
        )
    if array.shape[0] == 1:
        _warn_single_timepoint("Detrending")
        return signals if inplace else array.astype(_output_dtype(array.dtype))
    result = _remove_trend_inplace(array.astype(np.float64), kind)
    if inplace:
        signals[...] = result
        return signals
    return result.astype(_output_dtype(array.dtype), copy=False)
