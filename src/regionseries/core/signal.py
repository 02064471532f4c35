"""Signal cleaning on (time × features) arrays.

This module re-implements ``nilearn.signal.clean`` (nilearn 0.14.1) and its
helpers on numpy/scipy: same parameters, same order of operations and the
same numbers, except where nilearn is wrong (see
``docs/differences-from-nilearn.md``, section ``signal.clean``):

* censored volumes are interpolated in the censored rows (nilearn writes the
  interpolation into mirrored rows);
* the caller's ``sample_mask`` is never modified;
* with ``runs``, every option (``standardize_confounds``, ``extrapolate``,
  ``butterworth__*``) is honoured and run labels need not be ``0..n-1``;
* a column holding NaN or infinite values in a kept volume comes out as NaN
  without influencing the other columns.

All work is vectorised over the feature axis (one ``sosfiltfilt`` call per
block of columns, a thin-QR projection ``Q @ (Qᵀ @ X)``), so cleaning stays
fast for tens of thousands of columns.

Frequencies are in Hz, repetition times in seconds.
"""

from __future__ import annotations

import csv
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy  # submodules load on first use: scipy.interpolate costs 0.3 s and only interpolation needs it

__all__ = [
    "butterworth",
    "clean",
    "cosine_drift",
    "detrend",
    "high_variance_confounds",
]

_EPS64 = np.finfo(np.float64).eps
_EPS32 = np.finfo(np.float32).eps
_STANDARDIZE_CHOICES = ("zscore_sample", "zscore", "psc", True, False, None)
_BUTTERWORTH_OPTIONS = ("order", "padtype", "padlen")
# Columns filtered per sosfiltfilt call: bounds the temporary memory and is
# faster than one call on a very wide matrix (better cache use).
_FILTER_BLOCK_COLUMNS = 4096
_SCALAR_TYPES_TEXT = "float | numpy.floating | int | numpy.integer | None"



def _scipy_signal():
    """``scipy.signal``, imported when a filter is first used.

    Importing it costs ~23 MiB of resident memory in every process, which
    runs without temporal filtering (the default strategies) do not need.
    """
    from scipy import signal

    return signal

def _warn(message, category=UserWarning):
    """Warn with the location of the first caller outside this module."""
    level = 1
    frame = sys._getframe(0)
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)


# ---------------------------------------------------------------------------
# Parameter validation
# ---------------------------------------------------------------------------


def _check_bool(value, name):
    if not isinstance(value, bool):
        raise TypeError(
            f"'{name}' must be of type(s): '<class 'bool'>'.\n"
            f"Got: '{value.__class__.__name__}'"
        )


def _check_optional_scalar(value, name):
    is_number = isinstance(value, (int, float, np.integer, np.floating))
    if value is not None and (isinstance(value, (bool, np.bool_)) or not is_number):
        raise TypeError(
            f"'{name}' must be of type(s): '{_SCALAR_TYPES_TEXT}'.\n"
            f"Got: '{value.__class__.__name__}'"
        )


def _resolve_standardize(standardize):
    """Map ``standardize`` to "zscore_sample", "zscore", "psc" or None."""
    if standardize is True:
        return "zscore_sample"
    if standardize is False or standardize is None:
        return None
    if isinstance(standardize, str) and standardize in ("zscore_sample", "zscore", "psc"):
        return str(standardize)
    raise ValueError(
        f"'standardize' must be one of {_STANDARDIZE_CHOICES}.\n"
        f"'{standardize}' was provided."
    )


def _check_ensure_finite(ensure_finite):
    if not isinstance(ensure_finite, (bool, np.bool_)):
        raise ValueError(
            f"'ensure_finite' must be one of [True, False].\n'{ensure_finite}' was provided."
        )


def _butterworth_options(kwargs):
    """Extract the ``butterworth__*`` options; reject anything else."""
    options = {}
    for key, value in kwargs.items():
        name = key[len("butterworth__"):] if key.startswith("butterworth__") else None
        if name not in _BUTTERWORTH_OPTIONS:
            raise TypeError(
                f"clean() got an unexpected keyword argument '{key}'. Extra keyword "
                "arguments must be Butterworth options: "
                + ", ".join(f"'butterworth__{option}'" for option in _BUTTERWORTH_OPTIONS)
                + "."
            )
        options[name] = value
    return options


def _check_positive_t_r(t_r, purpose):
    if not np.isfinite(t_r) or t_r <= 0:
        raise ValueError(
            f"Repetition time (t_r) must be a positive number of seconds for {purpose}. "
            f"Got: 't_r={t_r}'"
        )


def _effective_filter(filter, low_pass, high_pass, t_r):
    """Validate the filter options and return the filter actually applied.

    Returns "butterworth", "cosine" or None (no temporal filter).
    """
    if not (filter is False or (isinstance(filter, str) and filter in ("butterworth", "cosine"))):
        raise ValueError(f"Filter method {filter} not implemented.")
    if filter is False:
        if low_pass is not None or high_pass is not None:
            _warn(
                "No filter type selected but cutoff frequency provided."
                "Will not perform filtering.",
            )
        return None
    if filter == "cosine":
        if t_r is None or high_pass is None:
            raise ValueError(
                "Repetition time (t_r) and low cutoff frequency (high_pass) "
                "must be specified for cosine filtering. "
                f"Got: 't_r={t_r!r}' and 'high_pass={high_pass!r}'"
            )
        _check_positive_t_r(t_r, "cosine filtering")
        return "cosine"
    if low_pass is None and high_pass is None:
        return None
    if t_r is None:
        raise ValueError(
            "Repetition time (t_r) must be specified for butterworth filtering. "
            f"Got: 't_r={t_r!r}'"
        )
    _check_positive_t_r(t_r, "butterworth filtering")
    return "butterworth"


def _adjust_cutoff(btype, frequency, nyquist):
    """Pull a cutoff inside (0, Nyquist) as nilearn does, with its warnings."""
    if frequency >= nyquist:
        adjusted = nyquist - nyquist * 10 * _EPS32
        _warn(
            f"The frequency specified for the {btype} pass filter is "
            "too high to be handled by a digital filter "
            "(superior to Nyquist frequency). "
            f"It has been lowered to {adjusted} (Nyquist frequency).",
        )
        return adjusted
    if frequency < 0.0:
        adjusted = nyquist * _EPS32
        _warn(
            f"The frequency specified for the {btype} pass filter is too "
            "low to be handled by a digital filter (must be non-negative). "
            f"It has been set to eps: {adjusted}.",
        )
        return adjusted
    if frequency == 0.0:
        raise ValueError(
            f"The frequency specified for the {btype} pass filter is 0 Hz: "
            "filter critical frequencies must be greater than 0."
        )
    return frequency


def _butterworth_sos(sampling_rate, low_pass, high_pass, order):
    """Design the zero-phase Butterworth filter (second-order sections).

    Parameters
    ----------
    sampling_rate : float
        Sampling frequency in Hz (1 / t_r).
    low_pass, high_pass : float or None
        Cutoff frequencies in Hz.
    order : int
        Filter order (band-pass filters get ``2·order`` poles).

    Returns
    -------
    sos : ndarray of shape (n_sections, 6) or None
        None when no filtering must happen (no cutoff, or a band-pass whose
        two cutoffs collapse onto the same value below Nyquist).
    """
    if low_pass is None and high_pass is None:
        return None
    if low_pass is not None and high_pass is not None and high_pass >= low_pass:
        raise ValueError(
            f"High pass cutoff frequency ({high_pass}) is greater than or "
            f"equal to low pass filter frequency ({low_pass}). "
            "This case is not handled by this function."
        )
    nyquist = sampling_rate * 0.5
    cutoffs = []
    if high_pass is not None:
        btype = "high"
        cutoffs.append(_adjust_cutoff("high", high_pass, nyquist))
    if low_pass is not None:
        btype = "low"
        cutoffs.append(_adjust_cutoff("low", low_pass, nyquist))
    if len(cutoffs) == 2:
        btype = "band"
        if cutoffs[0] == cutoffs[1]:
            _warn(
                "Signals are returned unfiltered because band-pass critical "
                "frequencies are equal. Please check that inputs for "
                "sampling_rate, low_pass, and high_pass are valid.",
            )
            return None
        critical = cutoffs
    else:
        critical = cutoffs[0]
    return _scipy_signal().butter(N=order, Wn=critical, btype=btype, output="sos", fs=sampling_rate)


@dataclass(frozen=True)
class _CleanPlan:
    """Validated options of one ``clean`` call, shared by all runs."""

    detrend: bool
    standardize: str | None
    standardize_confounds: bool
    filter: str | None
    high_pass: float | None
    t_r: float | None
    extrapolate: bool
    sos: np.ndarray | None
    padtype: str | None
    padlen: int | None


# ---------------------------------------------------------------------------
# Input sanitising
# ---------------------------------------------------------------------------


def _output_dtype(dtype):
    """nilearn's float rule: floats stay, 8-byte non-floats → f64, others → f32.

    float16 is promoted to float32 (nilearn would compute in float16).
    """
    if dtype.kind == "c":
        raise TypeError(f"signals must be real-valued; got complex dtype {dtype}.")
    if dtype.kind == "f":
        return np.dtype(np.float32) if dtype.itemsize < 4 else dtype
    return np.dtype(np.float64) if dtype.itemsize == 8 else np.dtype(np.float32)


def _as_signal_matrix(signals):
    array = np.asarray(signals)
    if array.ndim != 2:
        raise ValueError(
            "signals must be a 2-D array of shape (n_timepoints, n_features); "
            f"got an array with {array.ndim} dimension(s) and shape {array.shape}. "
            "Reshape a single time series with signals.reshape(-1, 1)."
        )
    if array.shape[0] == 0:
        raise ValueError(f"signals has no time points (shape {array.shape}).")
    return array


def _sniff_delimiter(first_line):
    try:
        return csv.Sniffer().sniff(first_line, delimiters=",;\t ").delimiter
    except csv.Error:
        return None


def _line_is_numeric(fields):
    for field in fields:
        text = field.strip()
        if text in ("", "n/a", "NA", "nan", "NaN"):
            continue
        try:
            float(text)
        except ValueError:
            return False
    return True


def _read_confounds_file(path, n_time):
    """Read a delimited text file of confounds (optional one-line header)."""
    path = Path(path)
    with path.open() as handle:
        first_line = handle.readline()
    if not first_line.strip():
        raise ValueError(f"Confounds file {path} is empty.")
    delimiter = _sniff_delimiter(first_line)
    if delimiter == " ":
        delimiter = None  # any run of whitespace
    fields = first_line.strip().split(delimiter)
    skip_header = 0 if _line_is_numeric(fields) else 1
    try:
        table = np.genfromtxt(
            path, delimiter=delimiter, skip_header=skip_header, dtype=np.float64,
            ndmin=2, missing_values=("n/a", "NA", ""), filling_values=np.nan,
        )
    except ValueError as error:
        raise ValueError(f"Could not read confounds file {path}: {error}") from error
    if table.shape[0] != n_time:
        raise ValueError(
            "Confound signal has an incorrect length. \n"
            f"Signal length: {n_time}; confound length: {table.shape[0]} "
            f"(file: {path})."
        )
    return table


def _confound_piece(confound, n_time):
    """One element of ``confounds`` as a float64 (n_time, k) array."""
    import pandas as pd

    if isinstance(confound, (str, Path)):
        return _read_confounds_file(confound, n_time)
    if isinstance(confound, pd.DataFrame):
        try:
            confound = confound.to_numpy(dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise ValueError(f"confounds DataFrame has non-numeric values: {error}") from error
    elif not isinstance(confound, np.ndarray):
        raise TypeError(f"confound has an unhandled type: {confound.__class__}")
    if confound.ndim == 1:
        confound = confound[:, np.newaxis]
    elif confound.ndim != 2:
        raise ValueError(f"confound array has an incorrect number of dimensions: {confound.ndim}")
    if confound.shape[0] != n_time:
        raise ValueError(
            "Confound signal has an incorrect length. "
            f"Signal length: {n_time}; confound length: {confound.shape[0]}."
        )
    if confound.dtype.kind == "c":
        raise TypeError(f"confounds must be real-valued; got complex dtype {confound.dtype}.")
    return confound.astype(np.float64)


def _read_confounds(confounds, n_time):
    """All confounds as one float64 (n_time, k) array, or None when k = 0."""
    import pandas as pd

    if confounds is None:
        return None
    if not isinstance(confounds, (list, tuple, str, Path, np.ndarray, pd.DataFrame)):
        raise TypeError(
            "'confounds' must be of type(s): 'list, tuple, str, pathlib.Path, "
            "numpy.ndarray, pandas.DataFrame'.\n"
            f"Got: '{confounds.__class__.__name__}'"
        )
    pieces = confounds if isinstance(confounds, (list, tuple)) else [confounds]
    matrices = [_confound_piece(piece, n_time) for piece in pieces]
    if not matrices:
        return None
    stacked = np.hstack(matrices)
    return stacked if stacked.shape[1] else None


def _run_partition(runs, n_time):
    """Row indices of each run, in ascending order of run label."""
    if runs is None:
        return None, [np.arange(n_time)]
    runs = np.asarray(runs)
    if runs.ndim != 1 or len(runs) != n_time:
        raise ValueError(
            f"The length of the run vector ({len(runs) if runs.ndim else runs.size}) "
            f"does not match the length of the signals ({n_time})"
        )
    labels, inverse = np.unique(runs, return_inverse=True)
    return labels, [np.flatnonzero(inverse == i) for i in range(len(labels))]


def _is_scalar_entry(entry):
    return isinstance(entry, (bool, int, np.bool_, np.integer))


def _mask_as_array(mask):
    """One mask as (1-D int64 index array or bool array); checks sign and dtype."""
    array = np.asarray(mask)
    if array.ndim != 1:
        raise ValueError(
            f"Each sample_mask must be 1-D (volume indices or booleans); got shape {array.shape}."
        )
    if array.dtype == np.bool_:
        return array.copy()
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if array.dtype.kind not in "iu":
        raise TypeError(
            "sample_mask must hold integer volume indices or booleans; "
            f"got dtype {array.dtype}."
        )
    if array.min() < 0:
        raise ValueError("sample_mask should not contain negative values.")
    return array.astype(np.int64)  # always a copy: the caller's array is never touched


def _sample_masks(sample_mask, run_lengths):
    """Validate ``sample_mask`` into one sorted int64 index array per run."""
    if sample_mask is None:
        return None
    if not isinstance(sample_mask, (list, tuple, np.ndarray)):
        raise TypeError(
            "'sample_masks' must be of type(s): "
            "'<class 'list'>, <class 'tuple'>, <class 'numpy.ndarray'>'.\n"
            f"Got: '{sample_mask.__class__.__name__}'"
        )
    single_mask = isinstance(sample_mask, np.ndarray) or all(
        _is_scalar_entry(entry) for entry in sample_mask
    )  # an empty list is one empty mask
    masks = [_mask_as_array(sample_mask)] if single_mask else [
        _mask_as_array(mask) for mask in sample_mask
    ]
    n_runs = len(run_lengths)
    if len(masks) != n_runs:
        raise ValueError(
            f"Number of sample_mask ({len(masks)}) not matching number of runs ({n_runs})."
        )
    return [
        _check_mask_against_run(mask, i, n_runs, run_length)
        for i, (mask, run_length) in enumerate(zip(masks, run_lengths))
    ]


def _check_mask_against_run(mask, i, n_runs, run_length):
    label = f"sample_mask {i + 1} of {n_runs}"
    if mask.dtype == np.bool_:
        if mask.size != run_length:
            raise ValueError(
                f"{label} is boolean with {mask.size} entries, but the run has "
                f"{run_length} timepoints: a boolean mask needs one entry per volume."
            )
        mask = np.flatnonzero(mask)
    if mask.size == 0:
        raise ValueError(
            f"{label} keeps no volume: every volume of the run is censored, "
            "so there is nothing to clean."
        )
    if mask.size > run_length:
        raise IndexError(
            f"{label} has more timepoints than the current run; sample_mask "
            f"contains {mask.size} indices but the run has {run_length} timepoints."
        )
    invalid = mask[mask >= run_length]
    if invalid.size:
        raise IndexError(
            f"{label} contains invalid index {invalid}. "
            f"The signal contains {run_length} time points."
        )
    if np.any(np.diff(mask) <= 0):
        raise ValueError(
            f"{label} must list the kept volumes in strictly increasing order "
            "(sorted, without repeats)."
        )
    return mask


# ---------------------------------------------------------------------------
# Numerical steps (float64 arrays, modified in place where stated)
# ---------------------------------------------------------------------------


def _remove_trend_inplace(x, kind="linear"):
    """Remove each column's mean and (``kind="linear"``) its linear trend, in place."""
    x -= x.mean(axis=0)
    if kind == "linear":
        ramp = np.arange(x.shape[0], dtype=x.dtype)
        ramp -= ramp.mean()
        norm = np.sqrt((ramp**2).sum())
        if not norm < _EPS64:
            ramp /= norm
        x -= ramp[:, np.newaxis] * (ramp @ x)
    return x


def _warn_single_timepoint(what):
    _warn(
        f"{what} of 3D signal has been requested but would lead to zero values. Skipping.",
    )


def _detrend_step(x):
    if x.shape[0] == 1:
        _warn_single_timepoint("Detrending")
        return x
    return _remove_trend_inplace(x)


def _filter_columns(x, sos, padtype, padlen):
    """Zero-phase filter every column (``sosfiltfilt`` along time, in blocks)."""
    filtered = np.empty_like(x)
    for start in range(0, max(x.shape[1], 1), _FILTER_BLOCK_COLUMNS):
        block = slice(start, start + _FILTER_BLOCK_COLUMNS)
        filtered[:, block] = _scipy_signal().sosfiltfilt(
            sos, x[:, block], axis=0, padtype=padtype, padlen=padlen
        )
    return filtered


def _interpolate_censored(x, keep, t_r, extrapolate):
    """Fill the censored volumes with a cubic spline through the kept ones.

    Parameters
    ----------
    x : ndarray of shape (n_timepoints, n_columns), float64
        Modified in place (censored rows are overwritten).
    keep : ndarray of int
        Sorted indices of the kept volumes.
    t_r : float
        Repetition time in seconds (spline abscissae are ``arange(n)·t_r``).
    extrapolate : bool
        If False, censored volumes before the first or after the last kept
        volume are dropped instead of extrapolated.

    Returns
    -------
    segment : ndarray
        The rows that go on to detrending and filtering.
    keep_in_segment : ndarray of int
        ``keep`` re-indexed into ``segment``.
    """
    n_time = x.shape[0]
    first, last = (0, n_time - 1) if extrapolate else (int(keep[0]), int(keep[-1]))
    is_kept = np.zeros(n_time, dtype=bool)
    is_kept[keep] = True
    censored = np.flatnonzero(~is_kept[first:last + 1]) + first
    if censored.size:
        if keep.size < 2:
            raise ValueError(
                "Interpolating censored volumes before Butterworth filtering needs at "
                f"least 2 kept volumes; the sample mask keeps {keep.size}."
            )
        frame_times = np.arange(n_time) * t_r
        if x.shape[1] <= keep.size:
            spline = scipy.interpolate.CubicSpline(frame_times[keep], x[keep], axis=0, extrapolate=extrapolate)
            x[censored] = spline(frame_times[censored])
        else:
            # The spline is linear in the data: for wide matrices, build the
            # (n_censored × n_kept) interpolation weights once and multiply.
            weights = scipy.interpolate.CubicSpline(frame_times[keep], np.eye(keep.size), axis=0,
                                  extrapolate=extrapolate)(frame_times[censored])
            x[censored] = weights @ x[keep]
    return x[first:last + 1], keep - first


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


def _cosine_regressors(n_time, high_pass, t_r):
    """DCT-II drift regressors (no constant) on ``arange(n)·t_r``."""
    return cosine_drift(high_pass, np.arange(n_time) * t_r)[:, :-1]


def _drift_already_in_confounds(drift, confounds):
    """nilearn's test: any drift column correlates > 0.9 with any other column."""
    usable_rows = np.isfinite(confounds).all(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        correlation = np.corrcoef(drift[usable_rows].T, confounds[usable_rows].T)
    np.fill_diagonal(correlation, 0)
    return bool(np.any(correlation[: drift.shape[1]] > 0.9))


def _add_cosine_drift(confounds, n_time, high_pass, t_r):
    drift = _cosine_regressors(n_time, high_pass, t_r)
    if drift.shape[1] == 0:
        _warn(
            "Cosine filter was not created. The time series might be too "
            "short or the high pass filter is not suitable for the data.",
        )
        return confounds
    if confounds is None:
        return drift
    if _drift_already_in_confounds(drift, confounds):
        _warn(
            "Cosine filter(s) exist in user supplied confounds."
            "Use user supplied regressors only.",
        )
        return confounds
    return np.hstack((confounds, drift))


def _check_finite_confounds(confounds, keep, run_text):
    used = confounds if keep is None else confounds[keep]
    bad_columns = np.flatnonzero(~np.isfinite(used).all(axis=0))
    if bad_columns.size:
        raise ValueError(
            f"confounds contain NaN or infinite values in kept volumes{run_text} "
            f"(confound columns {bad_columns.tolist()}); fill them or censor those "
            "volumes with sample_mask."
        )


def _clean_finite(x, confounds, keep, plan):
    """The cleaning pipeline on finite columns (float64; ``x`` may be modified)."""
    if keep is not None and plan.filter == "butterworth":
        x, keep_in_segment = _interpolate_censored(x, keep, plan.t_r, plan.extrapolate)
        if confounds is not None:
            confounds, _ = _interpolate_censored(confounds, keep, plan.t_r, plan.extrapolate)
        keep = keep_in_segment
    elif keep is not None:
        x = x[keep]
        confounds = None if confounds is None else confounds[keep]
        keep = None
    original_mean = x.mean(axis=0)
    if plan.detrend:
        x = _detrend_step(x)
        if confounds is not None:
            confounds = _remove_trend_inplace(confounds) if confounds.shape[0] > 1 else confounds
    if plan.filter == "butterworth":
        if plan.sos is not None:
            x = _filter_columns(x, plan.sos, plan.padtype, plan.padlen)
            if confounds is not None:
                confounds = _filter_columns(confounds, plan.sos, plan.padtype, plan.padlen)
        if keep is not None:
            x = x[keep]
            confounds = None if confounds is None else confounds[keep]
    if confounds is not None:
        x = _regress_out(x, confounds, plan.standardize_confounds)
    return _standardize_step(x, plan.standardize, original_mean)


def _clean_run(x, confounds, keep, plan, run_text):
    """Clean one run; columns that are not finite in kept volumes come out NaN.

    Parameters
    ----------
    x : ndarray of shape (n_timepoints, n_features), float64
        The run's signals (our own copy; may be modified).
    confounds : ndarray of shape (n_timepoints, n_confounds), float64, or None
    keep : ndarray of int or None
        Sorted indices of the kept volumes within the run.
    plan : _CleanPlan
    run_text : str
        Names the run in error messages ("" without runs).
    """
    if plan.filter == "cosine":
        confounds = _add_cosine_drift(confounds, x.shape[0], plan.high_pass, plan.t_r)
    if confounds is not None:
        _check_finite_confounds(confounds, keep, run_text)
    kept_rows = x if keep is None else x[keep]
    is_finite_column = np.isfinite(kept_rows).all(axis=0)
    if is_finite_column.all():
        return _clean_finite(x, confounds, keep, plan)
    mixes_timepoints = (
        plan.detrend
        or plan.filter == "butterworth"
        or confounds is not None
        or plan.standardize is not None
    )
    cleaned = np.full(kept_rows.shape, np.nan)
    if not mixes_timepoints:
        cleaned[:, ~is_finite_column] = kept_rows[:, ~is_finite_column]
    cleaned[:, is_finite_column] = _clean_finite(
        x[:, is_finite_column], confounds, keep, plan
    )
    return cleaned


def clean(
    signals,
    runs=None,
    detrend=True,
    standardize="zscore_sample",
    sample_mask=None,
    confounds=None,
    standardize_confounds=True,
    filter="butterworth",
    low_pass=None,
    high_pass=None,
    t_r=2.5,
    ensure_finite=False,
    extrapolate=False,
    **kwargs,
):
    """Detrend, filter, censor, regress confounds out of and standardize signals.

    Drop-in equivalent of ``nilearn.signal.clean`` (nilearn 0.14.1). Each
    column of ``signals`` is one time series. Without ``sample_mask`` the
    steps are: detrend → Butterworth filter → confound regression →
    standardize; the same detrending and filtering are applied to the
    confounds so that the regression stays orthogonal to the filter
    (Lindquist et al., 2018).

    With ``sample_mask`` and ``filter="butterworth"``, censored volumes are
    first replaced by a cubic-spline interpolation through the kept volumes
    (along time, abscissae ``arange(n)·t_r``), then detrending and filtering
    run on the full series, and the censored volumes are removed before the
    confound regression. With ``filter="cosine"`` or ``False`` the censored
    volumes are removed first (the cosine drift regressors being built on
    the full run length).

    Parameters
    ----------
    signals : array-like of shape (n_timepoints, n_features)
        Time series, one per column. Never modified.
    runs : array-like of shape (n_timepoints,) or None, default=None
        Run label of each time point. Runs are cleaned independently and the
        results stacked in ascending order of run label.
    detrend : bool, default=True
        Remove the mean and the linear trend of signals and confounds.
    standardize : {"zscore_sample", "zscore", "psc", True, False, None}, \
            default="zscore_sample"
        "zscore_sample": zero mean, unit sample std (ddof=1). "zscore":
        zero mean, unit population std (ddof=0). "psc": percent signal
        change relative to the (pre-detrending) mean. None/False: no
        scaling. True means "zscore_sample".
    sample_mask : array-like of int or bool, list of them, or None, default=None
        Volumes to KEEP: sorted indices, or a boolean mask with one entry per
        volume. With ``runs``, a list with one mask per run (in ascending order
        of run label, indices relative to the run). The caller's array is
        never modified.
    confounds : ndarray, pandas.DataFrame, str, Path, or list of them, or None
        Confound time series of shape (n_timepoints, n_confounds) or
        (n_timepoints,); a str/Path is a delimited text file with an optional
        one-line header; a list is stacked column-wise. A matrix with no
        column means no confounds. Values in censored volumes may be NaN.
    standardize_confounds : bool, default=True
        True: z-score the confounds before the regression. False: scale each
        by its maximum absolute value.
    filter : {"butterworth", "cosine", False}, default="butterworth"
        Temporal filter. "cosine" adds DCT-II drift regressors up to
        ``high_pass`` to the confounds.
    low_pass : float or None, default=None
        Low-pass cutoff in Hz (Butterworth only).
    high_pass : float or None, default=None
        High-pass cutoff in Hz.
    t_r : float or None, default=2.5
        Repetition time in seconds.
    ensure_finite : bool, default=False
        Replace NaN and infinite values of ``signals`` by 0 before cleaning.
        Otherwise a column with a non-finite value in a kept volume is
        returned as all-NaN (the other columns are unaffected).
    extrapolate : bool, default=False
        With Butterworth filtering and censoring: extrapolate censored volumes
        before the first / after the last kept volume (True) or leave them out
        of the filtering (False).
    **kwargs
        ``butterworth__order`` (default 5), ``butterworth__padtype``
        (default "odd") and ``butterworth__padlen`` (default: scipy's).

    Returns
    -------
    cleaned : ndarray of shape (n_kept, n_features)
        ``n_kept`` is the number of kept volumes (all runs). float32 input
        gives float32; float64 gives float64; other inputs follow nilearn's
        rule (8-byte types → float64, else float32).

    Raises
    ------
    TypeError, ValueError, IndexError
        On invalid parameters, with nilearn's messages where they exist.
    """
    _check_bool(detrend, "detrend")
    method = _resolve_standardize(standardize)
    _check_bool(standardize_confounds, "standardize_confounds")
    for name, value in (("low_pass", low_pass), ("high_pass", high_pass), ("t_r", t_r)):
        _check_optional_scalar(value, name)
    _check_bool(extrapolate, "extrapolate")
    butterworth_options = _butterworth_options(kwargs)
    if confounds is not None and not detrend and not standardize_confounds:
        _warn(
            "When confounds are provided, one must perform detrend "
            "and/or standardize confounds. "
            f"You provided detrend={detrend}, "
            f"standardize_confounds={standardize_confounds}. "
            "If confounds were not standardized or demeaned "
            "before passing to signal.clean signal "
            "will not be correctly cleaned. ",
        )
    effective_filter = _effective_filter(filter, low_pass, high_pass, t_r)
    if effective_filter == "cosine" and low_pass is not None:
        _warn(
            "low_pass is not implemented for filter='cosine'"
        )
    sos = None
    if effective_filter == "butterworth":
        sos = _butterworth_sos(
            1.0 / t_r, low_pass, high_pass, butterworth_options.get("order", 5)
        )

    array = _as_signal_matrix(signals)
    n_time = array.shape[0]
    run_labels, run_rows = _run_partition(runs, n_time)
    confound_matrix = _read_confounds(confounds, n_time)
    masks = _sample_masks(sample_mask, [rows.size for rows in run_rows])
    _check_ensure_finite(ensure_finite)
    output_dtype = _output_dtype(array.dtype)
    x = array.astype(np.float64)  # always a copy
    if ensure_finite:
        x[~np.isfinite(x)] = 0

    plan = _CleanPlan(
        detrend=detrend,
        standardize=method,
        standardize_confounds=standardize_confounds,
        filter=effective_filter,
        high_pass=high_pass,
        t_r=t_r,
        extrapolate=extrapolate,
        sos=sos,
        padtype=butterworth_options.get("padtype", "odd"),
        padlen=butterworth_options.get("padlen"),
    )
    if run_labels is None:
        keep = None if masks is None else masks[0]
        cleaned = _clean_run(x, confound_matrix, keep, plan, "")
    else:
        blocks = []
        for i, (label, rows) in enumerate(zip(run_labels, run_rows)):
            run_confounds = None if confound_matrix is None else confound_matrix[rows]
            keep = None if masks is None else masks[i]
            label = label.item() if isinstance(label, np.generic) else label
            blocks.append(_clean_run(x[rows], run_confounds, keep, plan, f" of run {label!r}"))
        cleaned = np.vstack(blocks)
    return cleaned.astype(output_dtype, copy=False)


# ---------------------------------------------------------------------------
# Public helpers
# ---------------------------------------------------------------------------


def detrend(signals, kind="linear", inplace=False):
    """Remove the mean (and the linear trend) of each column.

    Parameters
    ----------
    signals : ndarray of shape (n_timepoints, n_features)
        One time series per column.
    kind : {"linear", "constant"}, default="linear"
        "constant" removes the mean only; "linear" also removes the
        least-squares linear trend over the sample index.
    inplace : bool, default=False
        Write the result into ``signals`` (which must then be a floating-point
        ndarray) instead of returning a new array.

    Returns
    -------
    detrended : ndarray of shape (n_timepoints, n_features)
        Same float dtype as the input (nilearn's float rule for other types).
        A single time point is returned unchanged, with a warning.
    """
    if kind not in ("linear", "constant"):
        raise ValueError(f"kind must be 'linear' or 'constant'; got {kind!r}.")
    array = _as_signal_matrix(signals)
    if inplace and not (isinstance(signals, np.ndarray) and signals.dtype.kind == "f"):
        raise TypeError(
            "detrend(inplace=True) needs a floating-point numpy array to write into."
        )
    if array.shape[0] == 1:
        _warn_single_timepoint("Detrending")
        return signals if inplace else array.astype(_output_dtype(array.dtype))
    result = _remove_trend_inplace(array.astype(np.float64), kind)
    if inplace:
        signals[...] = result
        return signals
    return result.astype(_output_dtype(array.dtype), copy=False)


def butterworth(
    signals,
    sampling_rate,
    low_pass=None,
    high_pass=None,
    order=5,
    padtype="odd",
    padlen=None,
    copy=False,
):
    """Zero-phase low-, high- or band-pass Butterworth filter along time.

    Same design as ``nilearn.signal.butterworth``: cutoffs at or above the
    Nyquist frequency are lowered just below it, negative ones raised to
    ``nyquist·eps(float32)`` (with warnings); the filter is applied forward
    and backward with ``scipy.signal.sosfiltfilt`` (odd padding by default).

    Parameters
    ----------
    signals : ndarray of shape (n_timepoints,) or (n_timepoints, n_features)
        Time series along the first axis.
    sampling_rate : float
        Sampling frequency in Hz (1 / t_r).
    low_pass, high_pass : float or None, default=None
        Cutoff frequencies in Hz. Both None: nothing is done.
    order : int, default=5
        Butterworth order (a band-pass has ``2·order`` poles).
    padtype : {"odd", "even", "constant", None}, default="odd"
        Padding used by ``sosfiltfilt``.
    padlen : int or None, default=None
        Padding length (None: scipy's default, 18 for low/high-pass and 33
        for band-pass at order 5).
    copy : bool, default=False
        False: filter ``signals`` in place (it must be a floating-point
        ndarray) and return it. True: return a new array of the same float
        dtype.

    Returns
    -------
    filtered : ndarray, same shape as ``signals``
    """
    _check_optional_scalar(low_pass, "low_pass")
    _check_optional_scalar(high_pass, "high_pass")
    if not np.isfinite(sampling_rate) or sampling_rate <= 0:
        raise ValueError(f"sampling_rate must be a positive frequency in Hz; got {sampling_rate}.")
    sos = _butterworth_sos(sampling_rate, low_pass, high_pass, order)
    array = np.asarray(signals)
    if array.ndim not in (1, 2):
        raise ValueError(f"signals must be 1-D or 2-D; got shape {array.shape}.")
    if not copy and not (isinstance(signals, np.ndarray) and signals.dtype.kind == "f"):
        raise TypeError(
            "butterworth(copy=False) filters in place and needs a floating-point "
            "numpy array; pass copy=True."
        )
    if sos is None:
        return array.astype(_output_dtype(array.dtype)) if copy else signals
    matrix = array.reshape(array.shape[0], -1)
    filtered = _filter_columns(matrix, sos, padtype, padlen).reshape(array.shape)
    if copy:
        return filtered.astype(_output_dtype(array.dtype), copy=False)
    signals[...] = filtered
    return signals


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


def cosine_drift(high_pass, frame_times):
    """DCT-II drift regressors up to ``high_pass``, plus a constant column.

    Parameters
    ----------
    high_pass : float
        Cutoff frequency in Hz (≥ 0).
    frame_times : array-like of shape (n_scans,)
        Acquisition times in seconds (assumed regular).

    Returns
    -------
    drift : ndarray of shape (n_scans, K + 1)
        Columns ``k = 1..K``: ``sqrt(2/n)·cos(π/n·(t + 0.5)·k)`` with
        ``K = min(n − 1, floor(2·n·high_pass·dt))``; the last column is 1.
    """
    _check_optional_scalar(high_pass, "high_pass")
    if high_pass is None or high_pass < 0:
        raise ValueError(f"high_pass must be a frequency >= 0 Hz; got {high_pass!r}.")
    frame_times = np.asarray(frame_times, dtype=np.float64)
    if frame_times.ndim != 1 or frame_times.size == 0:
        raise ValueError(f"frame_times must be a non-empty 1-D array; got shape {frame_times.shape}.")
    n_frames = frame_times.size
    n_times = np.arange(n_frames)
    order = 0
    if n_frames > 1:
        dt = (frame_times[-1] - frame_times[0]) / (n_frames - 1)
        if high_pass * dt >= 0.5:
            _warn(
                "High-pass filter will span all accessible frequencies "
                "and saturate the design matrix. "
                "You may want to reduce the high_pass value."
                f"The provided value is {high_pass} Hz",
            )
        order = int(np.minimum(n_frames - 1, int(np.floor(2 * n_frames * high_pass * dt))))
    drift = np.zeros((n_frames, order + 1))
    normalizer = np.sqrt(2.0 / n_frames)
    for k in range(1, order + 1):
        drift[:, k - 1] = normalizer * np.cos((np.pi / n_frames) * (n_times + 0.5) * k)
    drift[:, -1] = 1.0
    return drift
