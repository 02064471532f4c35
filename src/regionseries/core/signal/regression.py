"""Confounds regressed out of the signals, and confounds derived from the signals.

:func:`_regress_out` projects the signals onto the orthogonal of the
(standardized) confounds with a pivoted thin QR, ``X − Q (Qᵀ X)``;
:func:`_check_finite_confounds` refuses confounds with NaN in kept volumes;
:func:`high_variance_confounds` is nilearn's CompCor-like helper.
"""

from __future__ import annotations

import numpy as np
import scipy  # submodules load on first use: scipy.linalg only when confounds are regressed out

from .common import _EPS64
from .detrending import _detrend_step
from .inputs import _as_signal_matrix
from .options import _check_bool
from .standardizing import _zscore_columns


def _regress_out(x, confounds, standardize_confounds):
    """Project the columns of ``x`` onto the orthogonal of the confounds (in place)."""
    if standardize_confounds:
        confounds = _zscore_columns(confounds, ddof=1)
    else:
        scale = np.max(np.abs(confounds), axis=0)
        scale[scale == 0] = 1
        confounds = confounds / scale
    q, r, _ = scipy.linalg.qr(confounds, mode="economic", pivoting=True)
    q = q[:, np.abs(np.diag(r)) > _EPS64 * 100.0]
    x -= q @ (q.T @ x)
    return x


def _check_finite_confounds(confounds, keep, run_text):
    used = confounds if keep is None else confounds[keep]
    bad_columns = np.flatnonzero(~np.isfinite(used).all(axis=0))
    if bad_columns.size:
        raise ValueError(
            f"confounds contain NaN or infinite values in kept volumes{run_text} "
            f"(confound columns {bad_columns.tolist()}); fill them or censor those "
            "volumes with sample_mask."
        )


def high_variance_confounds(series, n_confounds=5, percentile=2.0, detrend=True):
    """Principal time courses of the highest-variance features (CompCor-like).

    Parameters
    ----------
    series : ndarray of shape (n_timepoints, n_features)
        One time series per column.
    n_confounds : int, default=5
        Number of time courses returned.
    percentile : float, default=2.0
        Keep the features whose mean square is strictly above the
        ``100 − percentile`` percentile (0 ≤ percentile ≤ 100).
    detrend : bool, default=True
        Detrend the series (mean and linear trend) first.

    Returns
    -------
    confounds : ndarray of shape (n_timepoints, n_confounds), float64
        Eigenvectors of ``S Sᵀ / n_timepoints`` (S: selected columns) for the
        largest eigenvalues, in decreasing order; each has unit norm and an
        arbitrary sign.
    """
    if isinstance(n_confounds, (bool, np.bool_)) or not isinstance(n_confounds, (int, np.integer)) \
            or n_confounds < 1:
        raise ValueError(f"n_confounds must be a positive integer; got {n_confounds!r}.")
    if not 0 <= percentile <= 100:
        raise ValueError(f"percentile must be between 0 and 100; got {percentile!r}.")
    _check_bool(detrend, "detrend")
    x = _as_signal_matrix(series).astype(np.float64)
    if detrend:
        x = _detrend_step(x)
    mean_square = np.mean(x**2, axis=0)
    threshold = np.nanpercentile(mean_square, 100.0 - percentile)
    selected = x[:, mean_square > threshold]
    if selected.shape[1] == 0:
        raise ValueError(
            f"No feature has a mean square strictly above its {100.0 - percentile}th "
            "percentile (all features have the same variance?); cannot compute "
            "high-variance confounds."
        )
    eigenvalues, eigenvectors = scipy.linalg.eigh(selected @ selected.T / selected.shape[0])
    largest_first = np.argsort(eigenvalues)[::-1]
    return eigenvectors[:, largest_first[:n_confounds]].copy()
