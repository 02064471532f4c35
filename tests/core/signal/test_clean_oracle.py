"""Oracle tests: regionseries.signal.clean against nilearn 0.14.1 (reference 8.1).

Numbering follows section 8.1 of the nilearn behaviour reference. Items whose
nilearn behaviour is a defect we fix (scrubbing interpolation, mask mutation,
runs) live in test_scrubbing.py and test_runs_and_nan.py.
"""

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest

from regionseries.signal import clean


def _quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(*args, **kwargs)


@pytest.fixture(scope="module")
def walk_data():
    """Item 3 data: random walk signals (80 × 5) + 100, random walk confounds (80 × 3)."""
    rng = np.random.default_rng(3)
    signals = np.cumsum(rng.standard_normal((80, 5)), axis=0) + 100
    confounds = np.cumsum(rng.standard_normal((80, 3)), axis=0)
    return signals, confounds


# --- 8.1.1 / 8.1.2 / 8.1.10: defaults, standardize, dtypes -------------------------


def test_float32_defaults_match(oracle, helpers):
    rng = np.random.default_rng(1)
    signals = rng.standard_normal((100, 4)).astype(np.float32) + 10
    ours = clean(signals)
    assert ours.dtype == np.float32 and ours.shape == (100, 4)
    helpers.assert_f32_pipeline(ours, oracle.clean(signals), zscored=True)
    # Issue 2: within 1e-6 of the signal's std (z-scored output: std 1); measured 2.4e-7.
    np.testing.assert_allclose(ours, oracle.clean(signals), rtol=0, atol=1e-6)


@pytest.mark.parametrize("detrend", [True, False])
@pytest.mark.parametrize("standardize", ["zscore_sample", "psc", None, True, False])
def test_standardize_options_match(oracle, helpers, standardize, detrend):
    rng = np.random.default_rng(2)
    signals = rng.standard_normal((100, 4)) + 10
    expected = _quiet(oracle.clean, signals, standardize=standardize, detrend=detrend)
    ours, warned = helpers.warning_messages(
        clean, signals, standardize=standardize, detrend=detrend
    )
    # Booleans are a supported spelling here: no FutureWarning (documented difference).
    assert warned == set()
    assert ours.dtype == np.float64
    helpers.assert_f64(ours, expected)


def test_boolean_standardize_warns_in_nilearn_only(oracle):
    signals = np.random.default_rng(2).standard_normal((30, 2))
    with pytest.warns(FutureWarning, match="boolean values for 'standardize'"):
        oracle.clean(signals, standardize=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clean(signals, standardize=True)


def test_zscore_is_population_std_extension(oracle, helpers):
    """"zscore" (rejected by nilearn 0.14) = zscore_sample scaled to ddof=0."""
    rng = np.random.default_rng(2)
    signals = rng.standard_normal((100, 4)) + 10
    with pytest.raises(ValueError, match="'standardize' must be one of"):
        oracle.clean(signals, standardize="zscore")
    ours = clean(signals, standardize="zscore")
    n_time = signals.shape[0]
    helpers.assert_f64(ours, oracle.clean(signals) * np.sqrt(n_time / (n_time - 1)))
    np.testing.assert_allclose(ours.std(axis=0), 1.0, rtol=1e-12)
    np.testing.assert_allclose(ours.mean(axis=0), 0.0, atol=1e-12)


@pytest.mark.parametrize(
    ("dtype", "expected_dtype"),
    [(np.int16, np.float32), (np.int64, np.float64), (np.int32, np.float32),
     (np.float32, np.float32), (np.float64, np.float64), (np.bool_, np.float32)],
)
def test_output_dtype_rule(oracle, helpers, dtype, expected_dtype):
    rng = np.random.default_rng(10)
    signals = (rng.standard_normal((40, 3)) * 100 + 500).astype(dtype)
    ours = clean(signals)
    expected = oracle.clean(signals)
    assert ours.dtype == expected_dtype == expected.dtype
    helpers.assert_f32_pipeline(ours, expected, zscored=True)
    # Issue 2: within 1e-6 of the signal's std (z-scored output: std 1); measured <= 3.6e-7.
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-6)


def test_float16_is_promoted_to_float32():
    signals = np.random.default_rng(4).standard_normal((40, 3)).astype(np.float16)
    assert clean(signals).dtype == np.float32


def test_input_is_not_modified():
    signals = np.random.default_rng(5).standard_normal((40, 3))
    confounds = np.random.default_rng(6).standard_normal((40, 2))
    before, confounds_before = signals.copy(), confounds.copy()
    clean(signals, confounds=confounds, low_pass=0.1, t_r=2, sample_mask=np.arange(2, 40))
    np.testing.assert_array_equal(signals, before)
    np.testing.assert_array_equal(confounds, confounds_before)


# --- 8.1.3: filters × confounds × standardize --------------------------------------


@pytest.mark.parametrize(
    ("low_pass", "high_pass", "standardize_confounds", "standardize"),
    list(itertools.product([None, 0.1], [None, 0.01], [True, False],
                           ["zscore_sample", None, "psc"])),
)
def test_filter_confound_grid_matches(
    oracle, helpers, walk_data, low_pass, high_pass, standardize_confounds, standardize
):
    signals, confounds = walk_data
    options = dict(
        confounds=confounds, t_r=2, low_pass=low_pass, high_pass=high_pass,
        standardize_confounds=standardize_confounds, standardize=standardize,
    )
    expected = _quiet(oracle.clean, signals, **options)
    helpers.assert_f64(_quiet(clean, signals, **options), expected)


@pytest.mark.parametrize("detrend", [True, False])
@pytest.mark.parametrize("standardize_confounds", [True, False])
def test_no_filter_and_detrend_off_match(oracle, helpers, walk_data, detrend,
                                         standardize_confounds):
    signals, confounds = walk_data
    options = dict(confounds=confounds, detrend=detrend, filter=False,
                   standardize_confounds=standardize_confounds, standardize=None)
    expected, expected_warnings = helpers.warning_messages(oracle.clean, signals, **options)
    ours, our_warnings = helpers.warning_messages(clean, signals, **options)
    helpers.assert_f64(ours, expected)
    assert our_warnings == expected_warnings


def test_confounds_warning_when_neither_detrend_nor_standardize(oracle, walk_data):
    signals, confounds = walk_data
    with pytest.warns(UserWarning, match="one must perform detrend and/or standardize"):
        clean(signals, confounds=confounds, detrend=False, standardize_confounds=False)


# --- 8.1.4 / 8.1.5: confound forms ---------------------------------------------------


def test_rank_deficient_confounds_match(oracle, helpers, walk_data):
    signals, confounds = walk_data
    degenerate = np.column_stack([confounds, np.full(80, 3.0), confounds[:, 1]])
    for standardize_confounds in (True, False):
        options = dict(confounds=degenerate, t_r=2, low_pass=0.1,
                       standardize_confounds=standardize_confounds)
        helpers.assert_f64(clean(signals, **options), oracle.clean(signals, **options))
        # Dropping the degenerate columns does not change the result.
        helpers.assert_f64(
            clean(signals, **options),
            clean(signals, **{**options, "confounds": confounds}),
        )


def test_confounds_with_nan_raise(oracle, walk_data):
    signals, confounds = walk_data
    with_nan = confounds.copy()
    with_nan[4, 2] = np.nan
    with pytest.raises(ValueError, match="infs or NaNs"):
        oracle.clean(signals, confounds=with_nan)
    with pytest.raises(
        ValueError,
        match=r"confounds contain NaN or infinite values in kept volumes "
        r"\(confound columns \[2\]\); fill them or censor those volumes with sample_mask",
    ):
        clean(signals, confounds=with_nan)


def test_confound_nan_in_censored_volume_is_harmless(oracle, helpers, walk_data):
    """fMRIPrep derivatives start with n/a: fine once that volume is censored."""
    signals, confounds = walk_data
    with_nan = confounds.copy()
    with_nan[0, :] = np.nan
    keep = np.arange(1, 80)
    for filter_options in ({"filter": False}, {"low_pass": 0.1, "t_r": 2},
                           {"filter": "cosine", "high_pass": 0.01, "t_r": 2}):
        ours = clean(signals, confounds=with_nan, sample_mask=keep, **filter_options)
        filled = confounds.copy()
        filled[0] = 123.0  # any value: the volume is censored
        helpers.assert_f64(ours, clean(signals, confounds=filled, sample_mask=keep,
                                       **filter_options))


def test_empty_confound_matrix_means_no_confounds(oracle, helpers, walk_data):
    signals, _ = walk_data
    empty = np.zeros((80, 0))
    with pytest.raises(Exception, match="gen_even_slices|n_packs|Got 0"):
        oracle.clean(signals, confounds=empty)
    helpers.assert_f64(clean(signals, confounds=empty), oracle.clean(signals))
    helpers.assert_f64(clean(signals, confounds=pd.DataFrame(index=range(80))),
                       oracle.clean(signals))
    helpers.assert_f64(clean(signals, confounds=[]), oracle.clean(signals))


def test_confound_containers_equal_ndarray(oracle, helpers, walk_data, tmp_path):
    signals, confounds = walk_data
    reference = clean(signals, confounds=confounds)
    helpers.assert_f64(reference, oracle.clean(signals, confounds=confounds))
    frame = pd.DataFrame(confounds, columns=["a", "b", "c"])
    helpers.assert_f64(clean(signals, confounds=frame), reference)
    helpers.assert_f64(
        clean(signals, confounds=[confounds[:, 0], frame[["b", "c"]]]), reference
    )
    helpers.assert_f64(
        clean(signals, confounds=(confounds[:, :2], confounds[:, 2])), reference
    )
    no_header = tmp_path / "confounds.csv"
    np.savetxt(no_header, confounds, delimiter=",")
    with_header = tmp_path / "confounds_header.tsv"
    frame.to_csv(with_header, sep="\t", index=False)
    spaces = tmp_path / "confounds.txt"
    np.savetxt(spaces, confounds)
    for path in (no_header, with_header, spaces):
        helpers.assert_f64(clean(signals, confounds=str(path)), reference)
        helpers.assert_f64(clean(signals, confounds=path), reference)
        helpers.assert_f64(oracle.clean(signals, confounds=str(path)), reference)


def test_single_column_confound_file(oracle, helpers, walk_data, tmp_path):
    """nilearn cannot use a one-column file (1-D genfromtxt result); we can."""
    signals, confounds = walk_data
    path = tmp_path / "one.csv"
    np.savetxt(path, confounds[:, 0])
    helpers.assert_f64(clean(signals, confounds=path),
                       oracle.clean(signals, confounds=confounds[:, 0]))


# --- 8.1.6 / 8.1.7: Nyquist handling and short series ------------------------------


@pytest.mark.parametrize(
    "cutoffs",
    [{"low_pass": 0.2}, {"low_pass": 0.3}, {"high_pass": 0.3},
     {"low_pass": 0.3, "high_pass": 0.25}, {"high_pass": -0.01},
     {"low_pass": 0.3, "high_pass": 0.05}, {"low_pass": 0.1, "high_pass": -0.01}],
)
def test_nyquist_adjustments_match(oracle, helpers, cutoffs):
    signals = np.random.default_rng(6).standard_normal((60, 3))
    expected, expected_warnings = helpers.warning_messages(
        oracle.clean, signals, t_r=2.5, **cutoffs
    )
    ours, our_warnings = helpers.warning_messages(clean, signals, t_r=2.5, **cutoffs)
    helpers.assert_f64(ours, expected)
    assert our_warnings == expected_warnings
    assert our_warnings  # every case here warns


@pytest.mark.filterwarnings("ignore:The frequency specified")
def test_nyquist_warning_texts():
    signals = np.random.default_rng(6).standard_normal((60, 3))
    with pytest.warns(UserWarning, match="too high to be handled by a digital filter"):
        clean(signals, t_r=2.5, low_pass=0.3)
    with pytest.warns(UserWarning, match="returned unfiltered because band-pass"):
        clean(signals, t_r=2.5, low_pass=0.3, high_pass=0.25)
    with pytest.warns(UserWarning, match=r"must be non-negative\)\. It has been set to eps"):
        clean(signals, t_r=2.5, high_pass=-0.01)


def test_equal_cutoffs_and_zero_high_pass_raise(oracle):
    signals = np.random.default_rng(6).standard_normal((60, 3))
    message = (r"High pass cutoff frequency \(0.1\) is greater than or equal to low pass "
               r"filter frequency \(0.1\)")
    with pytest.raises(ValueError, match=message):
        oracle.clean(signals, t_r=2.5, high_pass=0.1, low_pass=0.1)
    with pytest.raises(ValueError, match=message):
        clean(signals, t_r=2.5, high_pass=0.1, low_pass=0.1)
    with pytest.raises(ValueError, match="filter critical frequencies must be greater than 0"):
        oracle.clean(signals, t_r=2.5, high_pass=0)
    with pytest.raises(ValueError, match="filter critical frequencies must be greater than 0"):
        clean(signals, t_r=2.5, high_pass=0)


@pytest.mark.parametrize(
    ("n_time", "high_pass", "fails"),
    [(18, None, True), (19, None, False), (33, 0.01, True), (34, 0.01, False)],
)
def test_short_series_padlen(oracle, helpers, n_time, high_pass, fails):
    signals = np.random.default_rng(7).standard_normal((n_time, 2))
    options = dict(low_pass=0.1, t_r=2, high_pass=high_pass)
    padlen = 33 if high_pass else 18
    message = f"must be greater than padlen, which is {padlen}"
    if fails:
        with pytest.raises(ValueError, match=message):
            oracle.clean(signals, **options)
        with pytest.raises(ValueError, match=message):
            clean(signals, **options)
    else:
        helpers.assert_f64(clean(signals, **options), oracle.clean(signals, **options))


@pytest.mark.parametrize(
    "options",
    [{"butterworth__order": 3}, {"butterworth__padtype": "even"},
     {"butterworth__padlen": 10}, {"butterworth__padtype": None}],
)
def test_butterworth_kwargs_match(oracle, helpers, walk_data, options):
    signals, confounds = walk_data
    common = dict(confounds=confounds, low_pass=0.1, high_pass=0.01, t_r=2)
    helpers.assert_f64(clean(signals, **common, **options),
                       oracle.clean(signals, **common, **options))


# --- 8.1.8 / 8.1.9: constant signals, single rows, NaN ------------------------------


@pytest.mark.parametrize("standardize", ["zscore_sample", "psc"])
def test_constant_columns(oracle, helpers, standardize):
    rng = np.random.default_rng(8)
    signals = np.column_stack([np.full(40, 5.0), np.zeros(40), rng.standard_normal(40) + 3])
    expected, expected_warnings = helpers.warning_messages(
        oracle.clean, signals, standardize=standardize
    )
    ours, our_warnings = helpers.warning_messages(clean, signals, standardize=standardize)
    helpers.assert_f64(ours, expected)
    np.testing.assert_array_equal(ours[:, :2], 0.0)
    psc_warning = (UserWarning, "psc standardization strategy is meaningless for features "
                   "that have a mean of 0. These time series are set to 0.")
    assert (psc_warning in our_warnings) == (standardize == "psc")
    # nilearn also lets numpy's "invalid value" RuntimeWarnings through; we do not.
    assert {w for w in expected_warnings if w[0] is UserWarning} == our_warnings


def test_single_time_point(oracle):
    signals = np.array([[1.0, 2.0, 3.0]])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ours = clean(signals)
    messages = {str(w.message) for w in caught}
    assert messages == {
        "Detrending of 3D signal has been requested but would lead to zero values. Skipping.",
        "Standardization of 3D signal has been requested but would lead to zero values. "
        "Skipping.",
    }
    np.testing.assert_array_equal(ours, signals)
    np.testing.assert_array_equal(ours, _quiet(oracle.clean, signals))


def test_nan_propagates_per_column(oracle, helpers):
    rng = np.random.default_rng(9)
    signals = rng.standard_normal((50, 3)) + 4
    signals[3, 1] = np.nan
    expected = oracle.clean(signals)
    ours = clean(signals)
    assert np.isnan(ours[:, 1]).all() and np.isnan(expected[:, 1]).all()
    helpers.assert_f64(ours[:, [0, 2]], expected[:, [0, 2]])
    finite = clean(signals, ensure_finite=True)
    assert np.isfinite(finite).all()
    helpers.assert_f64(finite, oracle.clean(signals, ensure_finite=True))


# --- 8.1.13 / 8.1.14: censoring without Butterworth, cosine drift ------------------


def test_censoring_without_filter_is_censor_then_detrend(oracle, helpers):
    rng = np.random.default_rng(13)
    signals = np.cumsum(rng.standard_normal((60, 3)), axis=0)
    keep = np.setdiff1d(np.arange(60), [0, 1, 10, 11, 30, 59])
    ours = clean(signals, sample_mask=keep, filter=False, standardize=None)
    censored = signals[keep]
    ramp = np.arange(keep.size) - (keep.size - 1) / 2
    coefficients = np.linalg.lstsq(np.column_stack([np.ones(keep.size), ramp]), censored,
                                   rcond=None)[0]
    helpers.assert_f64(ours, censored - np.column_stack([np.ones(keep.size), ramp])
                       @ coefficients)
    np.testing.assert_array_equal(
        ours, oracle.clean(signals, sample_mask=keep, filter=False, standardize=None)
    )


@pytest.mark.parametrize("with_confounds", [True, False])
@pytest.mark.parametrize("censored", [[], [0, 1, 10, 11, 30, 59], [20, 39]])
def test_cosine_with_censoring_matches(oracle, helpers, walk_data, with_confounds, censored):
    signals, confounds = walk_data
    keep = np.setdiff1d(np.arange(80), censored)
    options = dict(filter="cosine", high_pass=0.01, t_r=2,
                   confounds=confounds if with_confounds else None,
                   sample_mask=keep if censored else None)
    helpers.assert_f64(clean(signals, **options), oracle.clean(signals, **options))


def test_cosine_appends_three_drift_regressors(oracle, helpers):
    rng = np.random.default_rng(14)
    signals = rng.standard_normal((80, 3))
    ours = clean(signals, filter="cosine", high_pass=0.01, t_r=2, standardize=None)
    helpers.assert_f64(ours, oracle.clean(signals, filter="cosine", high_pass=0.01, t_r=2,
                                          standardize=None))
    frame_times = np.arange(80) * 2.0
    drift = np.column_stack([
        np.sqrt(2 / 80) * np.cos(np.pi / 80 * (np.arange(80) + 0.5) * k) for k in (1, 2, 3)
    ])
    assert oracle.create_cosine_drift(0.01, frame_times).shape == (80, 4)
    centred = signals - signals.mean(0)
    detrended = clean(signals, filter=False, standardize=None)
    # The result is the detrended signal minus its projection on the (detrended) drifts.
    design = clean(drift, filter=False, standardize=None)
    projection = design @ np.linalg.lstsq(design, detrended, rcond=None)[0]
    helpers.assert_f64(ours, detrended - projection)
    assert not np.allclose(ours, centred)


def test_cosine_user_supplied_drift_warning(oracle, helpers):
    rng = np.random.default_rng(14)
    signals = rng.standard_normal((80, 3))
    drift = np.sqrt(2 / 80) * np.cos(np.pi / 80 * (np.arange(80) + 0.5))
    confounds = np.column_stack([rng.standard_normal(80), drift])
    options = dict(filter="cosine", high_pass=0.01, t_r=2, confounds=confounds)
    expected, expected_warnings = helpers.warning_messages(oracle.clean, signals, **options)
    ours, our_warnings = helpers.warning_messages(clean, signals, **options)
    assert (UserWarning, "Cosine filter(s) exist in user supplied confounds."
            "Use user supplied regressors only.") in our_warnings
    assert our_warnings == expected_warnings
    helpers.assert_f64(ours, expected)


def test_cosine_filter_not_created_warning(oracle, helpers):
    signals = np.random.default_rng(15).standard_normal((6, 2))
    options = dict(filter="cosine", high_pass=0.01, t_r=2)
    expected, expected_warnings = helpers.warning_messages(oracle.clean, signals, **options)
    ours, our_warnings = helpers.warning_messages(clean, signals, **options)
    assert (UserWarning, "Cosine filter was not created. The time series might be too "
            "short or the high pass filter is not suitable for the data.") in our_warnings
    assert our_warnings == expected_warnings
    helpers.assert_f64(ours, expected)


def test_cosine_low_pass_ignored_warning(oracle, helpers):
    signals = np.random.default_rng(15).standard_normal((60, 2))
    options = dict(filter="cosine", high_pass=0.01, low_pass=0.1, t_r=2)
    expected, expected_warnings = helpers.warning_messages(oracle.clean, signals, **options)
    ours, our_warnings = helpers.warning_messages(clean, signals, **options)
    assert (UserWarning, "low_pass is not implemented for filter='cosine'") in our_warnings
    assert our_warnings == expected_warnings
    helpers.assert_f64(ours, expected)


def test_cosine_saturating_high_pass_warning(oracle, helpers):
    signals = np.random.default_rng(15).standard_normal((60, 2))
    options = dict(filter="cosine", high_pass=0.3, t_r=2, standardize=None)
    expected, expected_warnings = helpers.warning_messages(oracle.clean, signals, **options)
    ours, our_warnings = helpers.warning_messages(clean, signals, **options)
    assert any("will span all accessible frequencies" in text for _, text in our_warnings)
    assert our_warnings == expected_warnings
    # 59 drift regressors on 60 volumes span everything but the mean: only
    # rounding noise is left (z-scoring it would compare noise with noise).
    scale = np.abs(signals).max()
    assert np.abs(ours).max() < 1e-12 * scale and np.abs(expected).max() < 1e-12 * scale


def test_filter_false_with_cutoffs_warns(oracle, helpers):
    signals = np.random.default_rng(15).standard_normal((60, 2))
    options = dict(filter=False, low_pass=0.1, t_r=2)
    expected, expected_warnings = helpers.warning_messages(oracle.clean, signals, **options)
    ours, our_warnings = helpers.warning_messages(clean, signals, **options)
    assert our_warnings == expected_warnings == {
        (UserWarning, "No filter type selected but cutoff frequency provided."
         "Will not perform filtering.")
    }
    helpers.assert_f64(ours, expected)


# --- Wide matrices: the vectorised path gives nilearn's per-column numbers ---------


def test_wide_matrix_matches(oracle, helpers):
    rng = np.random.default_rng(16)
    signals = rng.standard_normal((120, 1500)) + 50
    confounds = rng.standard_normal((120, 6))
    keep = np.setdiff1d(np.arange(120), [30, 31, 77])
    options = dict(confounds=confounds, low_pass=0.08, high_pass=0.01, t_r=2,
                   sample_mask=keep)
    prefilled = helpers.spline_prefilled(signals, keep, 2, False)
    prefilled_confounds = helpers.spline_prefilled(confounds, keep, 2, False)
    expected = oracle.clean(prefilled, **{**options, "confounds": prefilled_confounds,
                                         "sample_mask": keep.copy()})
    helpers.assert_f64(clean(signals, **options), expected)


def test_float32_is_computed_in_float64(oracle):
    """float32 input, float32 output, but float64 arithmetic inside.

    On BOLD-like magnitudes (mean 800) nilearn's float32 detrending is off by
    ~3e-5 on z-scored output; we stay within float32 rounding of the exact result.
    """
    rng = np.random.default_rng(17)
    signals = (rng.standard_normal((200, 20)) + 800).astype(np.float32)
    confounds = rng.standard_normal((200, 6))
    options = dict(confounds=confounds, low_pass=0.08, high_pass=0.01, t_r=2)
    ours = clean(signals, **options)
    exact = clean(signals.astype(np.float64), **options)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, exact, rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours, oracle.clean(signals, **options), rtol=0, atol=1e-4)
