"""The signals and confounds given to :func:`~regionseries.core.signal.clean`, as float arrays.

:func:`_as_signal_matrix` checks the (time × features) shape,
:func:`_output_dtype` applies nilearn's float rule to the result, and
:func:`_read_confounds` turns arrays, pandas DataFrames, delimited text files
(optional one-line header, delimiter sniffed) or lists of them into one
float64 (n_timepoints, n_confounds) matrix.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np


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
    import pandas as pd  # here, not at the top: importing pandas takes ~0.25 s, not needed at start-up

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
    import pandas as pd  # here, not at the top: importing pandas takes ~0.25 s, not needed at start-up

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
