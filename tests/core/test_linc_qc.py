"""core.linc_qc: standardised DVARS over region signals, and the measures of a LINC QC row."""

from __future__ import annotations

import math

import numpy as np
import pytest

from regionseries.core.linc_qc import (
    COLUMN_DESCRIPTIONS,
    IQR_TO_STD,
    LINC_MEASURES,
    linc_measures,
    pearson,
    standardized_dvars,
)


def test_worked_example():
    # x = 0 1 0 1 0: IQR of the "lower" percentiles 1 - 0, demeaned lag-1 autocorrelation -0.96 / 1.2 = -0.8,
    # expected SD of the differences sqrt(2 x 1.8) / 1.349, every difference +-1 so DVARS = 1
    dvars = standardized_dvars(np.array([[0.0], [1.0], [0.0], [1.0], [0.0]]))
    assert math.isnan(dvars[0])
    np.testing.assert_allclose(dvars[1:], IQR_TO_STD / math.sqrt(3.6), rtol=1e-12)


def test_white_noise_has_a_standardised_dvars_near_one():
    rng = np.random.default_rng(0)
    dvars = standardized_dvars(rng.normal(0.0, 3.0, (2000, 200)))
    assert abs(np.nanmean(dvars) - 1.0) < 0.02


def test_invariant_to_offsets_and_a_common_scale():
    rng = np.random.default_rng(1)
    signals = np.cumsum(rng.normal(size=(120, 30)), axis=0)
    shifted = 250.0 * signals + rng.uniform(-1000, 1000, 30)
    np.testing.assert_allclose(standardized_dvars(shifted), standardized_dvars(signals), rtol=1e-9)


def test_columns_with_non_finite_or_constant_values_are_left_out():
    rng = np.random.default_rng(2)
    signals = rng.normal(size=(50, 6))
    with_bad = np.column_stack([signals, np.full(50, np.nan), np.full(50, 7.0)])
    with_bad[10, 2:3] = signals[10, 2]  # unchanged: column 2 stays usable
    np.testing.assert_array_equal(standardized_dvars(with_bad), standardized_dvars(signals))
    assert np.isnan(standardized_dvars(np.full((50, 2), 3.0))).all()
    assert np.isnan(standardized_dvars(np.ones((1, 3)))).all()
    with pytest.raises(ValueError, match="must be 2D"):
        standardized_dvars(np.ones(5))


def test_pearson():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=40), rng.normal(size=40)
    assert pearson(x, y) == pytest.approx(np.corrcoef(x, y)[0, 1], rel=1e-12)
    x[0], y[5] = np.nan, np.nan
    keep = np.isfinite(x) & np.isfinite(y)
    assert pearson(x, y) == pytest.approx(np.corrcoef(x[keep], y[keep])[0, 1], rel=1e-12)
    assert math.isnan(pearson([1.0, 2.0], [3.0, 4.0])) and math.isnan(pearson(np.ones(10), np.arange(10)))


def test_measures_of_a_run():
    rng = np.random.default_rng(4)
    n = 40
    fd = np.concatenate([[np.nan], rng.uniform(0.05, 0.3, n - 1)])
    fd[[20, 21]] = 1.5
    rmsd = np.concatenate([[np.nan], rng.uniform(0.01, 0.2, n - 1)])
    std_dvars = np.concatenate([[np.nan], rng.uniform(0.8, 1.4, n - 1)])
    dummies = np.array([0, 1, 2])
    kept = np.setdiff1d(np.arange(3, n), [19, 20, 21, 22])
    raw = np.cumsum(rng.normal(size=(n, 8)), axis=0) + 1000
    clean = rng.normal(size=(kept.size, 8))
    row = linc_measures(n, dummies, kept, 0.8, fd=fd, rmsd=rmsd, std_dvars=std_dvars, raw_signals=raw,
                        clean_signals=clean)
    assert tuple(row) == LINC_MEASURES
    assert row["mean_fd"] == pytest.approx(fd[3:].mean())  # the outliers count, the dummies do not
    assert row["mean_fd_post_censoring"] == pytest.approx(fd[kept].mean())
    assert row["mean_relative_rms"] == pytest.approx(rmsd[kept].mean())
    assert row["max_relative_rms"] == rmsd[kept].max()
    assert row["mean_dvars_initial"] == pytest.approx(std_dvars[3:].mean())
    assert row["fd_dvars_correlation_initial"] == pytest.approx(np.corrcoef(fd[3:], std_dvars[3:])[0, 1])
    initial, final = standardized_dvars(raw[3:]), standardized_dvars(clean)
    assert row["mean_region_dvars_initial"] == pytest.approx(np.nanmean(initial))
    assert row["mean_region_dvars_final"] == pytest.approx(np.nanmean(final))
    assert row["fd_region_dvars_correlation_initial"] == pytest.approx(pearson(fd[3:], initial))
    assert row["fd_region_dvars_correlation_final"] == pytest.approx(pearson(fd[kept], final))
    assert (row["num_dummy_volumes"], row["num_censored_volumes"], row["num_retained_volumes"]) == (3, 4, 33)
    assert row["retained_duration"] == pytest.approx(33 * 0.8)


def test_measures_without_confounds_or_signals_are_nan():
    row = linc_measures(10, [], np.arange(10), 2.0)
    assert all(math.isnan(row[name]) for name in LINC_MEASURES[:10])
    assert (row["num_retained_volumes"], row["retained_duration"]) == (10, 20.0)


def test_every_measure_is_described():
    assert set(LINC_MEASURES) <= set(COLUMN_DESCRIPTIONS)
    for name in LINC_MEASURES:
        assert COLUMN_DESCRIPTIONS[name]["Description"]
