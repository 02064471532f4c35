"""Connectivity matrices from region signals, on kept volumes only.

Measures: Pearson correlation, partial correlation and covariance, estimated
either empirically (maximum likelihood, as scikit-learn's
``EmpiricalCovariance``) or with Ledoit-Wolf shrinkage (scikit-learn's
``LedoitWolf``, nilearn's ``ConnectivityMeasure`` default). Regions whose
signal is missing (NaN, e.g. below the coverage threshold) or constant on the
kept volumes get NaN rows and columns; the other regions are estimated as if
those regions were absent.

With the empirical estimator and ``kind="correlation"`` the result is the
plain Pearson correlation of the kept volumes; with the Ledoit-Wolf estimator
it equals ``nilearn.connectome.ConnectivityMeasure(kind=...)`` with its default
estimator.
"""

from __future__ import annotations

import numpy as np

#: Connectivity measures offered on the command line.
KINDS: tuple[str, ...] = ("correlation", "partial correlation", "covariance")

#: Covariance estimators.
ESTIMATORS: tuple[str, ...] = ("empirical", "ledoit-wolf")

#: BIDS-safe label of each measure (the ``stat-`` entity of relmat files).
STAT_LABELS: dict[str, str] = {
    "correlation": "correlation",
    "partial correlation": "partialcorrelation",
    "covariance": "covariance",
}

#: Human-readable measure names (``RelationshipMeasure`` of BEP017 sidecars).
MEASURE_NAMES: dict[str, str] = {
    "correlation": "Pearson correlation",
    "partial correlation": "Partial correlation",
    "covariance": "Covariance",
}


class ConnectivityError(ValueError):
    """A connectivity matrix cannot be estimated from the given signals."""


def _empirical_covariance(centered: np.ndarray) -> np.ndarray:
    """Maximum-likelihood covariance (divides by the number of samples)."""
    n_samples = centered.shape[0]
    return centered.T @ centered / n_samples


def ledoit_wolf_covariance(centered: np.ndarray) -> tuple[np.ndarray, float]:
    """Ledoit-Wolf shrunk covariance of centred samples.

    Implements the estimator of Ledoit & Wolf (2004, J. Multivar. Anal.
    88:365-411) in the form used by scikit-learn: the empirical covariance
    ``S`` is shrunk towards ``mu·I`` (``mu`` = mean variance) with the
    shrinkage that minimises the expected squared Frobenius error.

    Parameters
    ----------
    centered : ndarray, shape (n_samples, n_features)
        Samples with the column means already removed.

    Returns
    -------
    covariance : ndarray, shape (n_features, n_features)
    shrinkage : float
        Weight of ``mu·I``, in [0, 1].
    """
    n_samples, n_features = centered.shape
    if n_features == 1:
        return np.atleast_2d((centered**2).mean()), 0.0
    squared = centered**2
    empirical = _empirical_covariance(centered)
    mu = np.trace(empirical) / n_features
    # beta: how far the sample covariance scatters around its expectation
    beta_ = float(np.sum(squared.T @ squared))
    delta_ = float(np.sum(empirical**2))
    beta = (beta_ / n_samples - delta_) / n_samples
    # delta: distance between the sample covariance and the target mu*I
    delta = delta_ - 2.0 * mu * np.trace(empirical) + n_features * mu**2
    delta /= n_features
    beta /= n_features
    beta = min(beta, delta)
    shrinkage = 0.0 if beta == 0 else beta / delta
    shrunk = (1.0 - shrinkage) * empirical
    shrunk.flat[:: n_features + 1] += shrinkage * mu
    return shrunk, float(shrinkage)


def covariance_to_correlation(covariance: np.ndarray) -> np.ndarray:
    """Correlation matrix of a covariance matrix (diagonal exactly 1)."""
    scale = 1.0 / np.sqrt(np.diag(covariance))
    correlation = covariance * scale[:, None] * scale[None, :]
    np.fill_diagonal(correlation, 1.0)
    return correlation


def precision_to_partial_correlation(precision: np.ndarray) -> np.ndarray:
    """Partial correlation matrix of a precision (inverse covariance) matrix."""
    partial = -covariance_to_correlation(precision)
    np.fill_diagonal(partial, 1.0)
    return partial


def usable_regions(signals: np.ndarray) -> np.ndarray:
    """Boolean mask of regions with finite, non-constant signals.

    Parameters
    ----------
    signals : ndarray, shape (n_volumes, n_regions)
        Region signals of the kept volumes.
    """
    finite = np.all(np.isfinite(signals), axis=0)
    varying = np.zeros(signals.shape[1], dtype=bool)
    if signals.shape[0] > 1:
        with np.errstate(invalid="ignore"):
            varying[finite] = np.ptp(signals[:, finite], axis=0) > 0
    return finite & varying


def connectivity_matrix(signals: np.ndarray, kind: str = "correlation", *,
                        sample_mask: np.ndarray | None = None,
                        estimator: str = "empirical") -> np.ndarray:
    """Connectivity matrix between regions, from kept volumes only.

    Parameters
    ----------
    signals : ndarray, shape (n_volumes, n_regions)
        Region signals (already cleaned). Rows of removed volumes may hold NaN
        when ``sample_mask`` selects the kept rows.
    kind : {"correlation", "partial correlation", "covariance"}
        The measure.
    sample_mask : ndarray of int, optional
        Indices of the kept rows; all rows when None.
    estimator : {"empirical", "ledoit-wolf"}
        Covariance estimator. ``"empirical"`` gives Pearson correlation and
        the maximum-likelihood covariance (divided by the number of kept
        volumes, as nilearn/scikit-learn do); ``"ledoit-wolf"`` shrinks it.

    Returns
    -------
    ndarray, shape (n_regions, n_regions)
        The matrix in float64; rows and columns of regions with missing or
        constant signals are NaN (their diagonal too).

    Raises
    ------
    ConnectivityError
        Fewer than 2 kept volumes, or an empirical partial correlation with
        too few kept volumes for the number of usable regions (the empirical
        covariance is then singular).
    ValueError
        Unknown ``kind`` or ``estimator``.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown connectivity kind {kind!r}; choose from {', '.join(KINDS)}")
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown covariance estimator {estimator!r}; choose from {', '.join(ESTIMATORS)}")
    signals = np.asarray(signals, dtype=np.float64)
    if signals.ndim != 2:
        raise ValueError(f"signals must be 2D (volumes × regions), got shape {signals.shape}")
    kept = signals if sample_mask is None else signals[np.asarray(sample_mask, dtype=int)]
    n_volumes, n_regions = kept.shape
    if n_volumes < 2:
        raise ConnectivityError(f"connectivity needs at least 2 kept volumes, got {n_volumes}")
    result = np.full((n_regions, n_regions), np.nan)
    good = usable_regions(kept)
    n_good = int(good.sum())
    if n_good == 0:
        return result
    data = kept[:, good]
    centered = data - data.mean(axis=0)
    if kind == "correlation" and estimator == "empirical":
        # Pearson on z-scored columns: exact and well-conditioned
        scaled = centered / np.sqrt((centered**2).sum(axis=0))
        block = np.clip(scaled.T @ scaled, -1.0, 1.0)
        np.fill_diagonal(block, 1.0)
    else:
        if kind == "correlation":
            # nilearn standardises before estimating (shrinkage is not scale-free)
            centered = centered / centered.std(axis=0, ddof=1)
        if estimator == "empirical":
            covariance = _empirical_covariance(centered)
        else:
            covariance, _ = ledoit_wolf_covariance(centered)
        if kind == "covariance":
            block = covariance
        elif kind == "correlation":
            block = covariance_to_correlation(covariance)
        else:
            if estimator == "empirical" and n_volumes <= n_good:
                raise ConnectivityError(
                    f"partial correlation with the empirical estimator needs more kept volumes "
                    f"({n_volumes}) than usable regions ({n_good}); use the ledoit-wolf estimator"
                )
            try:
                precision = np.linalg.inv(covariance)
            except np.linalg.LinAlgError as exc:
                raise ConnectivityError(f"covariance matrix is singular: {exc}") from exc
            block = precision_to_partial_correlation(precision)
    index = np.flatnonzero(good)
    result[np.ix_(index, index)] = block
    return result


def fisher_z(r: np.ndarray) -> np.ndarray:
    """Fisher's z transform, ``arctanh(r)``, elementwise.

    Values of exactly ±1 (the diagonal of a correlation matrix) map to ±inf
    without a warning; NaN stays NaN.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.arctanh(np.asarray(r, dtype=np.float64))


def inverse_fisher_z(z: np.ndarray) -> np.ndarray:
    """Inverse of :func:`fisher_z` (``tanh``)."""
    return np.tanh(np.asarray(z, dtype=np.float64))
