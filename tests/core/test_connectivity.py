"""Connectivity measures against nilearn's ConnectivityMeasure / scikit-learn (the oracles)."""

from __future__ import annotations

import numpy as np
import pytest
from nilearn.connectome import ConnectivityMeasure
from sklearn.covariance import EmpiricalCovariance, LedoitWolf

from regionseries.core.connectivity import (
    ConnectivityError,
    connectivity_matrix,
    fisher_z,
    inverse_fisher_z,
    ledoit_wolf_covariance,
)


def _signals(seed: int = 0, n_volumes: int = 120, n_regions: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mixing = rng.standard_normal((n_regions, n_regions))
    return rng.standard_normal((n_volumes, n_regions)) @ mixing + 5.0


@pytest.mark.parametrize("kind", ["correlation", "partial correlation", "covariance"])
@pytest.mark.parametrize("estimator", ["empirical", "ledoit-wolf"])
def test_matches_nilearn(kind, estimator):
    signals = _signals()
    sk = EmpiricalCovariance() if estimator == "empirical" else LedoitWolf(store_precision=False)
    expected = ConnectivityMeasure(kind=kind, cov_estimator=sk).fit_transform([signals])[0]
    ours = connectivity_matrix(signals, kind, estimator=estimator)
    np.testing.assert_allclose(ours, expected, rtol=1e-9, atol=1e-9 * np.abs(expected).max())


def test_ledoit_wolf_shrinkage_matches_sklearn():
    signals = _signals(seed=3, n_volumes=20, n_regions=30)  # fewer volumes than regions
    centered = signals - signals.mean(axis=0)
    covariance, shrinkage = ledoit_wolf_covariance(centered)
    reference = LedoitWolf().fit(signals)
    assert shrinkage == pytest.approx(reference.shrinkage_, rel=1e-10)
    np.testing.assert_allclose(covariance, reference.covariance_, rtol=1e-10)


def test_pearson_on_kept_volumes_only():
    signals = _signals(seed=1)
    keep = np.setdiff1d(np.arange(120), [0, 1, 40, 41, 42, 90])
    with_nan = signals.copy()
    with_nan[np.setdiff1d(np.arange(120), keep)] = np.nan
    ours = connectivity_matrix(with_nan, "correlation", sample_mask=keep)
    np.testing.assert_allclose(ours, np.corrcoef(signals[keep].T), atol=1e-12)


def test_nan_and_constant_regions_get_nan_rows():
    signals = _signals(seed=2)
    signals[:, 2] = np.nan
    signals[:, 5] = 3.0
    ours = connectivity_matrix(signals, "correlation")
    for region in (2, 5):
        assert np.isnan(ours[region]).all() and np.isnan(ours[:, region]).all()
    good = [0, 1, 3, 4, 6]
    np.testing.assert_allclose(ours[np.ix_(good, good)], np.corrcoef(signals[:, good].T), atol=1e-12)


def test_partial_correlation_needs_volumes_with_empirical_estimator():
    signals = _signals(seed=4, n_volumes=10, n_regions=12)
    with pytest.raises(ConnectivityError, match=r"needs more kept volumes \(10\) than usable regions \(12\); "
                                                r"use the ledoit-wolf estimator"):
        connectivity_matrix(signals, "partial correlation")
    shrunk = connectivity_matrix(signals, "partial correlation", estimator="ledoit-wolf")
    assert np.isfinite(shrunk).all()


def test_errors():
    with pytest.raises(ConnectivityError, match="at least 2 kept volumes, got 1"):
        connectivity_matrix(np.ones((1, 3)), "correlation")
    with pytest.raises(ValueError, match="unknown connectivity kind 'tangent'"):
        connectivity_matrix(_signals(), "tangent")
    with pytest.raises(ValueError, match="unknown covariance estimator 'oas'"):
        connectivity_matrix(_signals(), estimator="oas")
    with pytest.raises(ValueError, match=r"must be 2D \(volumes × regions\)"):
        connectivity_matrix(np.ones(5))


def test_fisher_z_round_trip_and_diagonal():
    r = np.array([[1.0, 0.5], [0.5, 1.0]])
    z = fisher_z(r)
    assert np.isinf(z[0, 0]) and z[0, 1] == pytest.approx(np.arctanh(0.5))
    np.testing.assert_allclose(inverse_fisher_z(z), r)
