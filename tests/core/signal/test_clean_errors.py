"""Every bad-input path of clean() and the helpers: error type and message."""

import re

import numpy as np
import pandas as pd
import pytest

from regionseries.signal import butterworth, clean, cosine_drift, detrend, high_variance_confounds

SIGNALS = np.random.default_rng(0).standard_normal((60, 3))


def _raises(error, message, **options):
    with pytest.raises(error, match=message):
        clean(SIGNALS, **options)


# --- parameter types (nilearn's messages) -------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "got"),
    [("detrend", 1, "int"), ("detrend", "yes", "str"), ("standardize_confounds", None, "NoneType"),
     ("extrapolate", 1, "int")],
)
def test_boolean_parameters(name, value, got):
    _raises(TypeError, re.escape(f"'{name}' must be of type(s): '<class 'bool'>'.\nGot: '{got}'"),
            **{name: value})


@pytest.mark.parametrize("name", ["low_pass", "high_pass", "t_r"])
@pytest.mark.parametrize(("value", "got"), [("0.1", "str"), (True, "bool"), ([0.1], "list")])
def test_scalar_parameters(name, value, got):
    message = (f"'{name}' must be of type(s): 'float | numpy.floating | int | numpy.integer "
               f"| None'.\nGot: '{got}'")
    _raises(TypeError, re.escape(message), **{name: value})


@pytest.mark.parametrize("value", ["zscore_population", "PSC", 1, 0.0])
def test_standardize_values(value):
    message = ("'standardize' must be one of ('zscore_sample', 'zscore', 'psc', True, False, "
               f"None).\n'{value}' was provided.")
    _raises(ValueError, re.escape(message), standardize=value)


@pytest.mark.parametrize("value", ["fft", None, 0, True])
def test_filter_values(value):
    _raises(ValueError, re.escape(f"Filter method {value} not implemented."), filter=value)


def test_cosine_needs_t_r_and_high_pass():
    message = ("Repetition time (t_r) and low cutoff frequency (high_pass) must be specified "
               "for cosine filtering. Got: 't_r=None' and 'high_pass=0.01'")
    _raises(ValueError, re.escape(message), filter="cosine", t_r=None, high_pass=0.01)
    message = "Got: 't_r=2' and 'high_pass=None'"
    _raises(ValueError, re.escape(message), filter="cosine", t_r=2)


def test_butterworth_needs_t_r():
    message = ("Repetition time (t_r) must be specified for butterworth filtering. "
               "Got: 't_r=None'")
    _raises(ValueError, re.escape(message), low_pass=0.1, t_r=None)


@pytest.mark.parametrize("t_r", [0, -2.0, float("nan")])
def test_t_r_must_be_positive(t_r):
    message = "Repetition time (t_r) must be a positive number of seconds for butterworth"
    _raises(ValueError, re.escape(message), low_pass=0.1, t_r=t_r)
    message = "Repetition time (t_r) must be a positive number of seconds for cosine"
    _raises(ValueError, re.escape(message), filter="cosine", high_pass=0.01, t_r=t_r)


@pytest.mark.parametrize("key", ["butterworth__foo", "order", "clean__detrend"])
def test_unknown_keyword_arguments(key):
    message = (f"clean() got an unexpected keyword argument '{key}'. Extra keyword arguments "
               "must be Butterworth options: 'butterworth__order', 'butterworth__padtype', "
               "'butterworth__padlen'.")
    _raises(TypeError, re.escape(message), **{key: 3})


@pytest.mark.parametrize("value", ["yes", 2, None])
def test_ensure_finite_values(value):
    message = f"'ensure_finite' must be one of [True, False].\n'{value}' was provided."
    _raises(ValueError, re.escape(message), ensure_finite=value)


# --- signals ----------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(60,), (5, 6, 2), ()])
def test_signals_must_be_2d(shape):
    with pytest.raises(ValueError, match=re.escape(
            f"signals must be a 2-D array of shape (n_timepoints, n_features); got an array "
            f"with {len(shape)} dimension(s) and shape {shape}.")):
        clean(np.zeros(shape))


def test_signals_without_time_points():
    with pytest.raises(ValueError, match=re.escape("signals has no time points (shape (0, 3))")):
        clean(np.zeros((0, 3)))


def test_complex_signals():
    with pytest.raises(TypeError, match="signals must be real-valued; got complex dtype"):
        clean(SIGNALS.astype(complex))


# --- runs --------------------------------------------------------------------------


@pytest.mark.parametrize("runs", [np.zeros(59), np.zeros((60, 1)), np.zeros(61)])
def test_runs_length(runs):
    length = runs.size
    message = f"The length of the run vector ({length}) does not match the length of the signals (60)"
    _raises(ValueError, re.escape(message), runs=runs)


# --- confounds ---------------------------------------------------------------------


def test_confound_type():
    message = ("'confounds' must be of type(s): 'list, tuple, str, pathlib.Path, numpy.ndarray, "
               "pandas.DataFrame'.\nGot: 'int'")
    _raises(TypeError, re.escape(message), confounds=3)


def test_confound_list_element_type():
    _raises(TypeError, re.escape("confound has an unhandled type: <class 'dict'>"),
            confounds=[np.zeros(60), {"a": 1}])


def test_confound_dimensions():
    _raises(ValueError, "confound array has an incorrect number of dimensions: 3",
            confounds=np.zeros((60, 2, 2)))


def test_confound_length():
    _raises(ValueError, re.escape("Confound signal has an incorrect length. Signal length: 60; "
                                  "confound length: 59."), confounds=np.zeros((59, 2)))


def test_confound_file_length_names_the_file(tmp_path):
    path = tmp_path / "short.tsv"
    pd.DataFrame({"a": np.arange(50.0)}).to_csv(path, sep="\t", index=False)
    message = ("Confound signal has an incorrect length. \nSignal length: 60; confound length: "
               f"50 (file: {path}).")
    _raises(ValueError, re.escape(message), confounds=path)


def test_confound_file_missing_and_empty(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.tsv"):
        clean(SIGNALS, confounds=tmp_path / "missing.tsv")
    empty = tmp_path / "empty.tsv"
    empty.write_text("\n")
    _raises(ValueError, re.escape(f"Confounds file {empty} is empty."), confounds=str(empty))


def test_confound_file_unreadable(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("1,2\n3\n" + "4,5\n" * 58)
    _raises(ValueError, re.escape(f"Could not read confounds file {path}:"), confounds=path)


def test_confound_dataframe_not_numeric():
    frame = pd.DataFrame({"a": ["x"] * 60})
    _raises(ValueError, "confounds DataFrame has non-numeric values", confounds=frame)


def test_confound_complex():
    _raises(TypeError, "confounds must be real-valued; got complex dtype",
            confounds=np.zeros((60, 1), dtype=complex))


def test_confound_nan_in_kept_volume_names_run():
    confounds = np.zeros((60, 2))
    confounds[40, 1] = np.nan
    message = ("confounds contain NaN or infinite values in kept volumes of run 1 "
               "(confound columns [1])")
    _raises(ValueError, re.escape(message), confounds=confounds,
            runs=np.repeat([0, 1], 30))


# --- sample_mask -------------------------------------------------------------------


def test_sample_mask_type():
    message = ("'sample_masks' must be of type(s): '<class 'list'>, <class 'tuple'>, "
               "<class 'numpy.ndarray'>'.\nGot: 'int'")
    _raises(TypeError, re.escape(message), sample_mask=3)


def test_sample_mask_negative():
    _raises(ValueError, re.escape("sample_mask should not contain negative values."),
            sample_mask=np.array([-1, 2, 3]))


def test_sample_mask_float():
    _raises(TypeError, re.escape("sample_mask must hold integer volume indices or booleans; "
                                 "got dtype float64."), sample_mask=np.array([1.0, 2.0]))


def test_sample_mask_2d():
    _raises(ValueError, re.escape("Each sample_mask must be 1-D (volume indices or booleans); "
                                  "got shape (2, 3)."), sample_mask=np.ones((2, 3), dtype=int))


def test_sample_mask_count():
    _raises(ValueError, re.escape("Number of sample_mask (2) not matching number of runs (1)."),
            sample_mask=[np.arange(10), np.arange(10)])


def test_sample_mask_boolean_length():
    message = ("sample_mask 1 of 1 is boolean with 59 entries, but the run has 60 timepoints: "
               "a boolean mask needs one entry per volume.")
    _raises(ValueError, re.escape(message), sample_mask=np.ones(59, dtype=bool))


@pytest.mark.parametrize("mask", [np.array([], dtype=int), np.zeros(60, dtype=bool), []])
def test_sample_mask_empty(mask):
    message = ("sample_mask 1 of 1 keeps no volume: every volume of the run is censored, so "
               "there is nothing to clean.")
    _raises(ValueError, re.escape(message), sample_mask=mask)


def test_sample_mask_too_long():
    message = ("sample_mask 1 of 1 has more timepoints than the current run; sample_mask "
               "contains 61 indices but the run has 60 timepoints.")
    _raises(IndexError, re.escape(message), sample_mask=np.arange(61))


@pytest.mark.parametrize("index", [60, 61])
def test_sample_mask_index_out_of_run(index):
    message = f"sample_mask 1 of 1 contains invalid index [{index}]. The signal contains 60 time points."
    _raises(IndexError, re.escape(message), sample_mask=np.array([0, 1, index]))


@pytest.mark.parametrize("mask", [[3, 1, 2], [1, 1, 2]])
def test_sample_mask_order(mask):
    message = ("sample_mask 1 of 1 must list the kept volumes in strictly increasing order "
               "(sorted, without repeats).")
    _raises(ValueError, re.escape(message), sample_mask=np.array(mask))


def test_sample_mask_run_index_in_message():
    runs = np.repeat([0, 1], 30)
    message = "sample_mask 2 of 2 contains invalid index [30]. The signal contains 30 time points."
    _raises(IndexError, re.escape(message), runs=runs,
            sample_mask=[np.arange(30), np.array([0, 30])])


# --- numerical limits ----------------------------------------------------------------


def test_series_shorter_than_padding():
    with pytest.raises(ValueError, match="greater than padlen, which is 18"):
        clean(SIGNALS[:18], low_pass=0.1, t_r=2)


# --- helpers -------------------------------------------------------------------------


def test_butterworth_helper_errors():
    with pytest.raises(ValueError, match=re.escape(
            "sampling_rate must be a positive frequency in Hz; got 0.")):
        butterworth(SIGNALS.copy(), 0, low_pass=0.1)
    with pytest.raises(TypeError, match=re.escape(
            "butterworth(copy=False) filters in place and needs a floating-point numpy array; "
            "pass copy=True.")):
        butterworth(np.zeros((60, 2), dtype=int), 0.5, low_pass=0.1)
    with pytest.raises(ValueError, match=re.escape("signals must be 1-D or 2-D; got shape")):
        butterworth(np.zeros((60, 2, 2)), 0.5, low_pass=0.1, copy=True)
    with pytest.raises(TypeError, match="'low_pass' must be of type"):
        butterworth(SIGNALS.copy(), 0.5, low_pass="0.1")
    with pytest.raises(ValueError, match="is greater than or equal to low pass"):
        butterworth(SIGNALS.copy(), 0.5, low_pass=0.1, high_pass=0.2)


def test_detrend_helper_errors():
    with pytest.raises(ValueError, match=re.escape("kind must be 'linear' or 'constant'; got 'quadratic'.")):
        detrend(SIGNALS, kind="quadratic")
    with pytest.raises(TypeError, match=re.escape(
            "detrend(inplace=True) needs a floating-point numpy array to write into.")):
        detrend(np.zeros((10, 2), dtype=int), inplace=True)


@pytest.mark.parametrize("n_confounds", [0, -1, 2.5, True])
def test_high_variance_confounds_count(n_confounds):
    with pytest.raises(ValueError, match=re.escape(
            f"n_confounds must be a positive integer; got {n_confounds!r}.")):
        high_variance_confounds(SIGNALS, n_confounds=n_confounds)


@pytest.mark.parametrize("percentile", [-1, 101])
def test_high_variance_confounds_percentile(percentile):
    with pytest.raises(ValueError, match=re.escape(
            f"percentile must be between 0 and 100; got {percentile!r}.")):
        high_variance_confounds(SIGNALS, percentile=percentile)


def test_high_variance_confounds_nothing_selected():
    with pytest.raises(ValueError, match="No feature has a mean square strictly above"):
        high_variance_confounds(np.ones((20, 4)), detrend=False)


def test_cosine_drift_errors():
    with pytest.raises(ValueError, match=re.escape("high_pass must be a frequency >= 0 Hz; got -0.1.")):
        cosine_drift(-0.1, np.arange(10.0))
    with pytest.raises(ValueError, match=re.escape(
            "frame_times must be a non-empty 1-D array; got shape (0,).")):
        cosine_drift(0.01, [])
