"""detrend, butterworth, high_variance_confounds, cosine_drift against nilearn 0.14.1."""

import warnings

import numpy as np
import pytest

from regionseries import signal as rs_signal
from regionseries.core import signal as core_signal


def test_facade_exports_core():
    for name in ("clean", "detrend", "butterworth", "high_variance_confounds", "cosine_drift"):
        assert getattr(rs_signal, name) is getattr(core_signal, name)
    assert sorted(rs_signal.__all__) == sorted(core_signal.__all__)


@pytest.mark.parametrize("n_features", [3, 700])  # nilearn batches columns from 500 on
@pytest.mark.parametrize("kind", ["linear", "constant"])
def test_detrend_matches(oracle, helpers, n_features, kind):
    from nilearn.signal import _detrend

    rng = np.random.default_rng(30)
    signals = np.cumsum(rng.standard_normal((50, n_features)), axis=0) + 7
    ours = rs_signal.detrend(signals, kind=kind)
    helpers.assert_f64(ours, _detrend(signals, type=kind))
    np.testing.assert_allclose(ours.mean(axis=0), 0, atol=1e-12)
    if kind == "linear":
        ramp = np.arange(50) - 24.5
        np.testing.assert_allclose(ramp @ ours, 0, atol=1e-9)


def test_detrend_inplace_and_float32(oracle, helpers):
    from nilearn.signal import _detrend

    rng = np.random.default_rng(31)
    signals = (rng.standard_normal((40, 4)) + 100).astype(np.float32)
    ours = rs_signal.detrend(signals)
    assert ours.dtype == np.float32 == _detrend(signals.copy()).dtype
    # We compute in float64 and round once: within float32 rounding of the exact
    # result. (nilearn computes in float32 and is off by ~1.5e-5 here.)
    exact = _detrend(signals.astype(np.float64))
    np.testing.assert_allclose(ours, exact, rtol=2e-6, atol=2e-6 * np.abs(exact).max())
    target = signals.copy()
    returned = rs_signal.detrend(target, inplace=True)
    assert returned is target
    np.testing.assert_array_equal(target, ours)


def test_detrend_single_row_warns():
    row = np.array([[1.0, 2.0]])
    with pytest.warns(UserWarning, match="Detrending of 3D signal has been requested") as record:
        np.testing.assert_array_equal(rs_signal.detrend(row), row)
    assert record[0].filename == __file__  # points at the caller, not at our internals


def test_clean_warnings_point_at_the_caller():
    signals = np.random.default_rng(3).standard_normal((60, 2))
    with pytest.warns(UserWarning) as record:
        rs_signal.clean(signals, filter="cosine", high_pass=0.01, t_r=2, low_pass=0.1)
        rs_signal.clean(signals[:6], filter="cosine", high_pass=0.01, t_r=2)
        rs_signal.clean(signals, t_r=2.5, low_pass=0.3)
    assert len(record) == 3
    assert {warning.filename for warning in record} == {__file__}


def test_detrend_removes_exact_linear_trend():
    t = np.arange(30.0)
    signals = np.column_stack([3 + 2 * t, -1 - 0.5 * t])
    np.testing.assert_allclose(rs_signal.detrend(signals), 0, atol=1e-12)


@pytest.mark.parametrize(
    "cutoffs",
    [dict(low_pass=0.1), dict(high_pass=0.01), dict(low_pass=0.1, high_pass=0.01),
     dict(low_pass=0.3), dict(low_pass=0.3, high_pass=0.25)],
)
def test_butterworth_matches(oracle, helpers, cutoffs):
    rng = np.random.default_rng(32)
    signals = rng.standard_normal((80, 6))
    expected, expected_warnings = helpers.warning_messages(
        oracle.butterworth, signals.copy(), 0.5, **cutoffs)
    ours, our_warnings = helpers.warning_messages(
        rs_signal.butterworth, signals, 0.5, copy=True, **cutoffs)
    helpers.assert_f64(ours, expected)
    assert our_warnings == expected_warnings
    one_dimensional, _ = helpers.warning_messages(
        rs_signal.butterworth, signals[:, 2].copy(), 0.5, **cutoffs)
    helpers.assert_f64(one_dimensional, expected[:, 2])


def test_butterworth_in_place_and_dtypes(oracle, helpers):
    rng = np.random.default_rng(33)
    signals = rng.standard_normal((80, 3)).astype(np.float32)
    expected = oracle.butterworth(signals.copy(), 0.5, low_pass=0.1)  # in place, float32
    target = signals.copy()
    returned = rs_signal.butterworth(target, 0.5, low_pass=0.1)
    assert returned is target and target.dtype == np.float32
    np.testing.assert_array_equal(target, expected)
    copied = rs_signal.butterworth(signals, 0.5, low_pass=0.1, copy=True)
    assert copied.dtype == np.float32  # nilearn's copy=True returns float64 here
    np.testing.assert_array_equal(copied, expected)
    unfiltered = rs_signal.butterworth(signals, 0.5, copy=True)
    np.testing.assert_array_equal(unfiltered, signals)
    assert unfiltered is not signals


@pytest.mark.parametrize("options", [dict(order=3), dict(padtype="even"), dict(padlen=5)])
def test_butterworth_options_match(oracle, helpers, options):
    signals = np.random.default_rng(34).standard_normal((60, 2))
    helpers.assert_f64(
        rs_signal.butterworth(signals, 1.0, low_pass=0.2, copy=True, **options),
        oracle.butterworth(signals, 1.0, low_pass=0.2, copy=True, **options),
    )


def test_butterworth_attenuates_stop_band():
    t = np.arange(400) * 2.0  # seconds, t_r = 2 s
    slow, fast = np.sin(2 * np.pi * 0.02 * t), np.sin(2 * np.pi * 0.2 * t)
    filtered = rs_signal.butterworth((slow + fast)[:, None], 0.5, low_pass=0.08, copy=True)[:, 0]
    middle = slice(50, 350)
    np.testing.assert_allclose(filtered[middle], slow[middle], atol=1e-2)


@pytest.mark.parametrize("detrend", [True, False])
@pytest.mark.parametrize(("n_confounds", "percentile"), [(5, 2.0), (3, 10.0), (1, 50.0)])
def test_high_variance_confounds_match(oracle, n_confounds, percentile, detrend):
    rng = np.random.default_rng(35)
    series = rng.standard_normal((60, 800)) * rng.uniform(0.5, 3, 800)
    ours = rs_signal.high_variance_confounds(series, n_confounds, percentile, detrend)
    expected = oracle.high_variance_confounds(series, n_confounds, percentile, detrend)
    assert ours.shape == expected.shape == (60, n_confounds)
    signs = np.sign(np.sum(ours * expected, axis=0))  # eigenvector signs are arbitrary
    np.testing.assert_allclose(ours * signs, expected, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(ours.T @ ours, np.eye(n_confounds), atol=1e-12)


def test_high_variance_confounds_recovers_dominant_component():
    rng = np.random.default_rng(36)
    component = np.sin(np.linspace(0, 6, 100))
    series = 0.01 * rng.standard_normal((100, 300))
    series[:, :30] += np.outer(component, rng.uniform(5, 6, 30))
    found = rs_signal.high_variance_confounds(series, n_confounds=1, percentile=10.0,
                                              detrend=False)[:, 0]
    assert abs(np.corrcoef(found, component)[0, 1]) > 0.999


@pytest.mark.parametrize(
    ("high_pass", "n_frames", "t_r"), [(0.01, 80, 2.0), (0.008, 300, 0.8), (0.0, 10, 2.0),
                                       (0.3, 20, 2.0), (0.01, 6, 2.0)],
)
def test_cosine_drift_matches(oracle, helpers, high_pass, n_frames, t_r):
    frame_times = np.arange(n_frames) * t_r
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = oracle.create_cosine_drift(high_pass, frame_times)
        ours = rs_signal.cosine_drift(high_pass, frame_times)
    assert ours.shape == expected.shape
    helpers.assert_f64(ours, expected)
    np.testing.assert_array_equal(ours[:, -1], 1.0)


def test_cosine_drift_basis_is_orthonormal():
    drift = rs_signal.cosine_drift(0.01, np.arange(80) * 2.0)[:, :-1]
    assert drift.shape == (80, 3)  # floor(2 · 80 · 0.01 · 2) = 3
    np.testing.assert_allclose(drift.T @ drift, np.eye(3), atol=1e-12)


def test_cosine_drift_single_frame_and_saturation_warning():
    assert rs_signal.cosine_drift(0.01, [0.0]).shape == (1, 1)
    with pytest.warns(UserWarning, match="High-pass filter will span all accessible frequencies"):
        rs_signal.cosine_drift(0.3, np.arange(20) * 2.0)
