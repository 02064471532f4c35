"""Runs (reference 8.1.15) and non-finite columns (region signals with no coverage)."""

import warnings

import numpy as np
import pytest

from regionseries.signal import clean


@pytest.fixture(scope="module")
def two_runs():
    rng = np.random.default_rng(15)
    signals = np.cumsum(rng.standard_normal((60, 3)), axis=0) + 10
    confounds = rng.standard_normal((60, 2))
    return signals, confounds


# --- runs -----------------------------------------------------------------------


def test_runs_are_stacked_in_label_order(oracle, helpers, two_runs):
    signals, confounds = two_runs
    runs = np.array([1] * 30 + [0] * 30)
    options = dict(low_pass=0.1, t_r=2)
    ours = clean(signals, runs=runs, confounds=confounds, **options)
    helpers.assert_f64(ours, oracle.clean(signals, runs=runs, confounds=confounds, **options))
    helpers.assert_f64(ours[:30], clean(signals[30:], confounds=confounds[30:], **options))
    helpers.assert_f64(ours[30:], clean(signals[:30], confounds=confounds[:30], **options))


def test_runs_with_masks_match_nilearn(oracle, helpers, two_runs):
    signals, confounds = two_runs
    runs = np.array([0] * 30 + [1] * 30)
    masks = [np.setdiff1d(np.arange(30), [0, 5]), np.setdiff1d(np.arange(30), [29])]
    for options in (dict(filter=False), dict(filter="cosine", high_pass=0.01, t_r=2)):
        ours = clean(signals, runs=runs, sample_mask=masks, confounds=confounds, **options)
        assert ours.shape == (28 + 29, 3)
        helpers.assert_f64(ours, oracle.clean(signals, runs=runs, sample_mask=masks,
                                              confounds=confounds, **options))


def test_run_labels_need_not_be_0_to_n(oracle, helpers, two_runs):
    signals, _ = two_runs
    masks = [np.arange(2, 30), np.arange(0, 28)]
    with pytest.raises(IndexError, match="has more timepoints than the current run"):
        oracle.clean(signals, runs=np.array([1] * 30 + [2] * 30), sample_mask=masks,
                     filter=False)
    for labels in ([1, 2], [7, 3], ["b", "a"]):
        runs = np.array([labels[0]] * 30 + [labels[1]] * 30)
        ours = clean(signals, runs=runs, sample_mask=masks, filter=False)
        first, second = (slice(0, 30), slice(30, 60))
        if sorted(labels) != labels:
            first, second = second, first
        expected = np.vstack([clean(signals[first], sample_mask=masks[0], filter=False),
                              clean(signals[second], sample_mask=masks[1], filter=False)])
        helpers.assert_f64(ours, expected)


def test_single_run_labelled_zero_with_mask(oracle, helpers, two_runs):
    """nilearn fails here (it unwraps the mask list and indexes a scalar); we do not."""
    signals, _ = two_runs
    keep = np.arange(3, 60)
    ours = clean(signals, runs=np.zeros(60), sample_mask=[keep], filter=False)
    helpers.assert_f64(ours, clean(signals, sample_mask=keep, filter=False))


@pytest.mark.parametrize(
    "option",
    [{"standardize_confounds": False}, {"extrapolate": True},
     {"butterworth__order": 3}, {"butterworth__padtype": "even"}],
)
def test_runs_honour_every_option(oracle, helpers, two_runs, option):
    """nilearn silently resets these when runs are given; we pass them on."""
    signals, confounds = two_runs
    runs = np.array([0] * 30 + [1] * 30)
    masks = [np.arange(2, 30), np.arange(0, 27)]
    common = dict(confounds=confounds, low_pass=0.2, t_r=1, sample_mask=masks)
    ours = clean(signals, runs=runs, **common, **option)
    per_run = np.vstack([
        clean(signals[rows], confounds=confounds[rows], low_pass=0.2, t_r=1,
              sample_mask=mask, **option)
        for rows, mask in ((slice(0, 30), masks[0]), (slice(30, 60), masks[1]))
    ])
    helpers.assert_f64(ours, per_run)
    assert not np.allclose(ours, clean(signals, runs=runs, **common))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nilearn_with = oracle.clean(signals, runs=runs, **common, **option)
        nilearn_without = oracle.clean(signals, runs=runs, **common)
    np.testing.assert_array_equal(nilearn_with, nilearn_without)  # the option was dropped


def test_runs_apply_ensure_finite_before_splitting(helpers, two_runs):
    signals, _ = two_runs
    with_nan = signals.copy()
    with_nan[40, 1] = np.nan
    runs = np.array([0] * 30 + [1] * 30)
    replaced = with_nan.copy()
    replaced[40, 1] = 0.0
    helpers.assert_f64(clean(with_nan, runs=runs, ensure_finite=True),
                       clean(replaced, runs=runs))


# --- non-finite columns ---------------------------------------------------------


CLEANING_SETUPS = {
    "defaults": {},
    "bandpass_scrub_confounds": dict(low_pass=0.1, high_pass=0.01, t_r=2, with_confounds=True,
                                     keep=np.setdiff1d(np.arange(60), [0, 1, 20, 39, 59])),
    "cosine_scrub": dict(filter="cosine", high_pass=0.01, t_r=2,
                         keep=np.setdiff1d(np.arange(60), [5, 6])),
    "psc": dict(standardize="psc", with_confounds=True),
    "no_detrend_zscore": dict(detrend=False, filter=False),
}


def _run_setup(signals, confounds, setup, **extra):
    setup = dict(setup)
    keep = setup.pop("keep", None)
    if setup.pop("with_confounds", False):
        setup["confounds"] = confounds
    return clean(signals, sample_mask=keep, **setup, **extra)


@pytest.mark.parametrize("setup_name", sorted(CLEANING_SETUPS))
def test_all_nan_columns_stay_nan_and_do_not_touch_others(helpers, two_runs, setup_name):
    signals, confounds = two_runs
    setup = CLEANING_SETUPS[setup_name]
    with_gaps = np.column_stack([signals[:, 0], np.full(60, np.nan), signals[:, 1:],
                                 np.full(60, np.nan)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from the NaN columns
        result = _run_setup(with_gaps, confounds, setup)
    assert np.isnan(result[:, [1, 4]]).all()
    helpers.assert_f64(result[:, [0, 2, 3]], _run_setup(signals, confounds, setup))


def test_psc_global_ratio_ignores_nan_columns(oracle, helpers, two_runs):
    """nilearn's psc mean check is a global ratio that a NaN column turns into NaN."""
    signals, _ = two_runs
    with_gap = np.column_stack([signals, np.full(60, np.nan)])
    ours = clean(with_gap, standardize="psc")
    helpers.assert_f64(ours[:, :3], oracle.clean(signals, standardize="psc"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = oracle.clean(with_gap, standardize="psc")
    assert not np.allclose(theirs[:, :3], ours[:, :3])


def test_inf_in_kept_volume_gives_nan_column(two_runs):
    signals, _ = two_runs
    with_inf = signals.copy()
    with_inf[7, 2] = np.inf
    result = clean(with_inf, low_pass=0.1, t_r=2)
    assert np.isnan(result[:, 2]).all()
    np.testing.assert_allclose(result[:, :2], clean(signals[:, :2], low_pass=0.1, t_r=2),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "options",
    [dict(filter=False), dict(low_pass=0.1, t_r=2), dict(filter="cosine", high_pass=0.01, t_r=2),
     dict(low_pass=0.1, t_r=2, extrapolate=True)],
)
def test_nan_in_censored_volume_is_harmless(helpers, two_runs, options):
    signals, _ = two_runs
    keep = np.setdiff1d(np.arange(60), [0, 25, 59])
    with_nan = signals.copy()
    with_nan[[0, 25, 59], 1] = np.nan
    replaced = signals.copy()
    replaced[[0, 25, 59], 1] = -40.0
    result = clean(with_nan, sample_mask=keep, **options)
    assert np.isfinite(result).all()
    helpers.assert_f64(result, clean(replaced, sample_mask=keep, **options))


def test_nan_passes_through_when_nothing_mixes_timepoints(oracle, two_runs):
    signals, _ = two_runs
    with_nan = signals.copy()
    with_nan[4, 0] = np.nan
    keep = np.arange(2, 60)
    options = dict(detrend=False, standardize=None, filter=False)
    ours = clean(with_nan, sample_mask=keep, **options)
    np.testing.assert_array_equal(ours, with_nan[keep])
    np.testing.assert_array_equal(ours, oracle.clean(with_nan, sample_mask=keep, **options))


def test_all_columns_nan(two_runs):
    result = clean(np.full((40, 3), np.nan), low_pass=0.1, t_r=2, standardize="psc")
    assert result.shape == (40, 3) and np.isnan(result).all()
