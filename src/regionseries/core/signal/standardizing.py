"""The ``standardize`` step of :func:`~regionseries.core.signal.clean`.

"zscore_sample" and "zscore" centre each column and divide it by its sample
(ddof=1) or population (ddof=0) standard deviation; "psc" gives the percent
signal change relative to the mean before detrending. :func:`_zscore_columns`
also standardizes the confounds before the regression.
"""

from __future__ import annotations

import numpy as np

from .common import _EPS64, _warn, _warn_single_timepoint


def _zscore_columns(x, ddof):
    """Centre and scale columns (std < eps → 1); 1-row input is returned as is."""
    if x.shape[0] == 1:
        _warn_single_timepoint("Standardization")
        return x
    x = x - x.mean(axis=0)
    std = x.std(axis=0, ddof=ddof)
    std[std < _EPS64] = 1.0
    x /= std
    return x


def _percent_signal_change(x, original_mean):
    """nilearn's "psc": 100·(x − mean)/|mean|, restoring the mean if it was removed."""
    if x.shape[0] == 1:
        _warn_single_timepoint("Standardization")
        return x
    if x.shape[1]:
        with np.errstate(divide="ignore", invalid="ignore"):
            # One global ratio over all (finite) columns, as in nilearn.
            mean_was_removed = (
                np.abs(x.mean(axis=0)).mean() / np.abs(original_mean).mean() < 1e-1
            )
        if mean_was_removed:
            x = x + original_mean
    mean = x.mean(axis=0)
    is_zero_mean = np.abs(mean) < _EPS64
    with np.errstate(divide="ignore", invalid="ignore"):
        x = (x - mean) / np.abs(mean) * 100
    if np.any(is_zero_mean):
        _warn(
            "psc standardization strategy is meaningless "
            "for features that have a mean of 0. "
            "These time series are set to 0.",
        )
        x[:, is_zero_mean] = 0
    return x


def _standardize_step(x, method, original_mean):
    if method is None:
        return x
    if method == "psc":
        return _percent_signal_change(x, original_mean)
    return _zscore_columns(x, ddof=1 if method == "zscore_sample" else 0)
