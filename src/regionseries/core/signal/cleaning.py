"""``clean``: the order of the cleaning steps, per run, and the columns that are not finite.

:func:`clean` validates the options once (:mod:`.options`), reads the inputs
(:mod:`.inputs`, :mod:`.sample_masks`) and cleans each run with
:func:`_clean_run`: censored volumes interpolated (:mod:`.interpolation`) or
dropped, detrend (:mod:`.detrending`), Butterworth filter (:mod:`.filtering`)
or cosine drift regressors (:mod:`.cosine`), confound regression
(:mod:`.regression`), standardize (:mod:`.standardizing`).
"""

from __future__ import annotations

import numpy as np

from .common import _warn
from .cosine import _add_cosine_drift
from .detrending import _detrend_step, _remove_trend_inplace
from .filtering import _butterworth_sos, _filter_columns
from .inputs import _as_signal_matrix, _output_dtype, _read_confounds
from .interpolation import _interpolate_censored
from .options import (
    _butterworth_options,
    _check_bool,
    _check_ensure_finite,
    _check_optional_scalar,
    _CleanPlan,
    _effective_filter,
    _resolve_standardize,
)
from .regression import _check_finite_confounds, _regress_out
from .sample_masks import _run_partition, _sample_masks
from .standardizing import _standardize_step


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
