"""The signals and confounds given to :func:`~regionseries.core.signal.clean`, as float arrays.

:func:`_as_signal_matrix` checks the (time × features) shape,
:func:`_output_dtype` applies nilearn's float rule to the result, and
:func:`_read_confounds` turns arrays, pandas DataFrames, delimited text files
(an optional header row and the delimiter decided as nilearn does) or lists of them into one
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


_MISSING_SPELLINGS = ("", "n/a", "NA", "nan", "NaN")


def _sniff_delimiter(first_line):
    """nilearn's guess: the one of ``,;<tab><space>`` csv.Sniffer finds, or None."""
    try:
        return csv.Sniffer().sniff(first_line, delimiters=",;\t ").delimiter
    except csv.Error:
        return None


def _split_fields(line, delimiter):
    """The fields of one line as genfromtxt splits them (``None``: runs of whitespace)."""
    text = line.split("#", 1)[0].rstrip("\r\n")
    return text.split() if delimiter is None else text.split(delimiter)


def _is_number_or_missing(field):
    text = field.strip()
    if text in _MISSING_SPELLINGS:
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


def _parse_table(path, delimiter, skip_header):
    """The rows of ``path`` after ``skip_header`` lines, float64 (rows × columns).

    nilearn's ``csv_to_array``: whitespace-separated numbers first, strictly
    (any token that is not a number fails); otherwise ``delimiter``, fields
    that are not numbers becoming NaN. Beyond nilearn: a file whose sniffed
    delimiter is one space but whose rows are aligned with several is read as
    whitespace-separated.
    """
    options = {"skip_header": skip_header, "dtype": np.float64, "ndmin": 2, "encoding": None}
    try:
        return np.genfromtxt(path, loose=False, **options)
    except ValueError:
        pass
    for attempt in [delimiter, None] if delimiter == " " else [delimiter]:
        try:
            return np.genfromtxt(
                path, delimiter=attempt, missing_values=_MISSING_SPELLINGS,
                filling_values=np.nan, **options,
            )
        except ValueError as error:
            last_error = error
    raise ValueError(f"Could not read confounds file {path}: {last_error}") from last_error


def _read_confounds_file(path, n_time):
    """Read a delimited text file of confounds (optional header row), as nilearn does.

    The delimiter is nilearn's: whitespace when every token is a number,
    otherwise the one sniffed from the first line (comma, semicolon, tab or
    space; nilearn sniffs a leading comment line, we the first line of
    values). That first line of values is a header when, as in nilearn, its
    first field is empty or NaN (pandas' ``to_csv`` writes the index column's
    header as an empty field: ``,0,1,2``), or, beyond nilearn, when one of its
    fields is text (``1,b,c``). A pandas index column is read as a confound,
    as in nilearn.
    """
    path = Path(path)
    with path.open() as handle:
        lines = handle.readlines()
    content_indices = [index for index, line in enumerate(lines) if _split_fields(line, None)]
    if not content_indices:
        raise ValueError(f"Confounds file {path} is empty.")
    first_line = lines[content_indices[0]]
    try:
        np.genfromtxt(path, loose=False, dtype=np.float64, encoding=None)
        delimiter = None  # numbers separated by whitespace
    except ValueError:
        delimiter = _sniff_delimiter(first_line.split("#", 1)[0])
    fields = _split_fields(first_line, delimiter)
    first_is_missing = fields[0].strip() in _MISSING_SPELLINGS
    has_header = first_is_missing or not all(_is_number_or_missing(field) for field in fields)
    skip_header = content_indices[0] + 1 if has_header else 0
    table = _parse_table(path, delimiter, skip_header)
    if table.shape[0] != n_time:
        header_note = (
            "; its first row was read as a header, its first value being empty or NaN"
            if first_is_missing else ""
        )
        raise ValueError(
            "Confound signal has an incorrect length. \n"
            f"Signal length: {n_time}; confound length: {table.shape[0]} "
            f"(file: {path}{header_note})."
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
