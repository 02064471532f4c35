"""Property-based invariants of clean() (hypothesis)."""

import warnings

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from scipy.interpolate import CubicSpline

from regionseries.signal import clean

T_R = 2.0


@st.composite
def cleaning_problems(draw, min_time=40, max_time=72):
    """Random signals, confounds, a sample mask and filter settings."""
    n_time = draw(st.integers(min_time, max_time))
    n_features = draw(st.integers(1, 4))
    n_confounds = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    signals = np.cumsum(rng.standard_normal((n_time, n_features)), axis=0) + rng.uniform(-50, 50)
    confounds = rng.standard_normal((n_time, n_confounds))
    if draw(st.booleans()):
        confounds = np.cumsum(confounds, axis=0)
    n_censored = draw(st.integers(0, n_time // 5))
    censored = rng.choice(n_time, size=n_censored, replace=False)
    extrapolate = draw(st.booleans())
    if not extrapolate:  # keep the filtered segment longer than the band-pass padding
        censored = censored[(censored > 1) & (censored < n_time - 2)]
    keep = np.setdiff1d(np.arange(n_time), censored)
    filter_options = draw(st.sampled_from([
        dict(filter="butterworth", low_pass=0.1, high_pass=0.01),
        dict(filter="butterworth", low_pass=0.15),
        dict(filter="butterworth", high_pass=0.02),
        dict(filter="cosine", high_pass=0.01),
        dict(filter=False),
    ]))
    options = dict(
        t_r=T_R, extrapolate=extrapolate, detrend=draw(st.booleans()),
        standardize_confounds=draw(st.booleans()), **filter_options,
    )
    return signals, confounds, keep, options


def _quiet_clean(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return clean(*args, **kwargs)


@given(cleaning_problems())
def test_residuals_orthogonal_to_processed_confounds(problem):
    signals, confounds, keep, options = problem
    if not options["detrend"] and not options["standardize_confounds"]:
        options["detrend"] = True  # the one combination nilearn warns is meaningless
    residuals = _quiet_clean(signals, confounds=confounds, sample_mask=keep, standardize=None,
                             **options)
    # The confounds after the same interpolation, detrending, filtering and censoring.
    processed = _quiet_clean(confounds, sample_mask=keep, standardize=None,
                             **dict(options, filter=options["filter"] if options["filter"]
                                    != "cosine" else False))
    if options["standardize_confounds"]:
        processed = processed - processed.mean(axis=0)
    assert residuals.shape == (keep.size, signals.shape[1])
    scale = np.linalg.norm(processed, axis=0)[:, None] * np.linalg.norm(signals - signals.mean(0),
                                                                        axis=0)[None, :]
    assert np.all(np.abs(processed.T @ residuals) <= 1e-8 * scale + 1e-10)


@given(cleaning_problems(), st.floats(-3, 3), st.floats(-3, 3))
def test_linear_in_the_signals(problem, a, b):
    signals, confounds, keep, options = problem
    other = np.random.default_rng(7).standard_normal(signals.shape).cumsum(axis=0)
    common = dict(confounds=confounds, sample_mask=keep, standardize=None, **options)
    combined = _quiet_clean(a * signals + b * other, **common)
    expected = a * _quiet_clean(signals, **common) + b * _quiet_clean(other, **common)
    scale = np.abs(a * signals).max() + np.abs(b * other).max() + 1.0
    np.testing.assert_allclose(combined, expected, rtol=0, atol=1e-9 * scale)


@given(cleaning_problems())
def test_censored_rows_absent_and_kept_rows_in_order(problem):
    signals, _, keep, _ = problem
    censored_only = clean(signals, sample_mask=keep, detrend=False, standardize=None,
                          filter=False)
    np.testing.assert_array_equal(censored_only, signals[keep])


@given(cleaning_problems(min_time=45))
def test_butterworth_censoring_is_interpolate_filter_select(problem):
    """Censoring with Butterworth = spline-fill, filter the (trimmed) series, select kept rows.

    Also shows that kept rows come out in order and that the values in censored
    volumes have no influence.
    """
    signals, confounds, keep, options = problem
    options = dict(options, filter="butterworth", low_pass=0.1, high_pass=0.01, standardize=None)
    n_time = signals.shape[0]
    censored = np.setdiff1d(np.arange(n_time), keep)
    garbage, garbage_confounds = signals.copy(), confounds.copy()
    garbage[censored] = 1e6
    garbage_confounds[censored] = -1e6
    cleaned = _quiet_clean(garbage, confounds=garbage_confounds, sample_mask=keep, **options)
    assert cleaned.shape == (keep.size, signals.shape[1])

    frame_times = np.arange(n_time) * T_R
    filled_signals, filled_confounds = signals.copy(), confounds.copy()
    if censored.size:
        for filled in (filled_signals, filled_confounds):
            filled[censored] = CubicSpline(frame_times[keep], filled[keep],
                                           extrapolate=True)(frame_times[censored])
    first, last = (0, n_time - 1) if options["extrapolate"] else (keep[0], keep[-1])
    segment, kept_in_segment = slice(first, last + 1), keep - first
    filter_only = dict(detrend=options["detrend"], filter="butterworth", low_pass=0.1,
                       high_pass=0.01, t_r=T_R, standardize=None)
    signals_filtered = _quiet_clean(filled_signals[segment], **filter_only)[kept_in_segment]
    confounds_filtered = _quiet_clean(filled_confounds[segment], **filter_only)[kept_in_segment]
    if options["standardize_confounds"]:
        confounds_filtered -= confounds_filtered.mean(axis=0)
    coefficients = np.linalg.lstsq(confounds_filtered, signals_filtered, rcond=None)[0]
    expected = signals_filtered - confounds_filtered @ coefficients
    np.testing.assert_allclose(cleaned, expected, rtol=0, atol=1e-8 * np.abs(signals).max())


@given(cleaning_problems(), st.sampled_from(["zscore_sample", "zscore"]))
def test_zscore_outputs_are_standardized(problem, standardize):
    signals, confounds, keep, options = problem
    cleaned = _quiet_clean(signals, confounds=confounds, sample_mask=keep,
                           standardize=standardize, **options)
    std = cleaned.std(axis=0, ddof=1 if standardize == "zscore_sample" else 0)
    is_constant = std < 1e-8  # a column entirely explained by the confounds
    np.testing.assert_allclose(cleaned.mean(axis=0), 0, atol=1e-9)
    np.testing.assert_allclose(std[~is_constant], 1, rtol=1e-9)
