"""Runs and sample masks: which rows of the signals form each run, which volumes are kept.

:func:`_run_partition` groups the rows by run label (ascending);
:func:`_sample_masks` validates ``sample_mask`` (indices or booleans, one
mask per run) into one sorted int64 index array per run, never modifying the
caller's arrays.
"""

from __future__ import annotations

import numpy as np


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
