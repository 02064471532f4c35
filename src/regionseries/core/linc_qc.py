"""The measures of a LINC-style QC row (XCP-D's ``*_desc-linc_qc.tsv``) from a run's confounds and region signals.

XCP-D's LINC QC table summarises one run's motion and how much of it is
left after denoising: mean framewise displacement (FD) before and after
censoring, relative RMS displacement, DVARS before and after denoising and
the FD–DVARS correlation before and after, and the volume counts. XCP-D
computes its DVARS on the voxels of the preprocessed and of the denoised
BOLD; here nothing reads the BOLD again, so:

* DVARS *before* is fMRIPrep's voxel-wise standardised DVARS (``std_dvars``
  column of the confounds, the same algorithm as XCP-D's), under XCP-D's
  names;
* DVARS *after* cannot be voxel-wise (the cleaned voxels never exist: cleaning
  is applied to the region signals), so it is the standardised DVARS of the
  cleaned **region signals**, under names with ``region`` in them
  (``mean_region_dvars_final``), next to the same measure on the raw region
  signals (``mean_region_dvars_initial``) for a like-for-like comparison.

:func:`standardized_dvars` is the DVARS of Nichols (2017) as nipype's
``compute_dvars`` (and so fMRIPrep and XCP-D) computes it, over any columns;
:func:`linc_measures` gives the row's numbers. ``docs/outputs.md`` defines
every column and ``docs/strategies.md`` lists the differences from XCP-D.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["COLUMN_DESCRIPTIONS", "IQR_TO_STD", "LINC_MEASURES", "linc_measures", "pearson", "standardized_dvars"]

#: Interquartile range of a standard normal distribution: robust SD = IQR / 1.349 (as FSL and nipype).
IQR_TO_STD = 1.349
#: Below this robust SD a column counts as constant and is left out (nipype's ``variance_tol``).
_CONSTANT_SD = 1e-7

#: The measures of :func:`linc_measures`, in the column order of the table.
LINC_MEASURES = (
    "mean_fd", "mean_fd_post_censoring", "mean_relative_rms", "max_relative_rms",
    "mean_dvars_initial", "fd_dvars_correlation_initial",
    "mean_region_dvars_initial", "mean_region_dvars_final",
    "fd_region_dvars_correlation_initial", "fd_region_dvars_correlation_final",
    "num_dummy_volumes", "num_censored_volumes", "num_retained_volumes", "retained_duration",
)

_TERM_FD = "https://doi.org/10.1016/j.neuroimage.2011.10.018"
_TERM_DVARS = "https://doi.org/10.1016/j.neuroimage.2011.02.073"
_REGION_DVARS = ("standardised DVARS (Nichols 2017, as nipype's compute_dvars) of the region signals of the atlas "
                 "(the mean signal of each region, not the voxels: XCP-D's DVARS is voxel-wise)")

#: What every column of a LINC QC table holds (the sidecars's content; ``docs/outputs.md`` says the same).
COLUMN_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "strategy": {"Description": "The denoising strategy (its desc- label)."},
    "atlas": {"Description": "The atlas whose region signals the region_dvars columns are computed from."},
    "status": {"Description": "done, or excluded when the strategy cannot be applied to the run (see reason)."},
    "reason": {"Description": "Why the participant level excluded the run; n/a when it was not excluded."},
    "mean_fd": {
        "LongName": "Mean Framewise Displacement",
        "Description": "Mean of fMRIPrep's framewise_displacement (Power's definition) over the volumes after the "
                       "non-steady-state ones, motion outliers included; the first volume's n/a is left out.",
        "Units": "mm", "TermURL": _TERM_FD},
    "mean_fd_post_censoring": {
        "LongName": "Mean Framewise Displacement After Censoring",
        "Description": "Mean of fMRIPrep's framewise_displacement over the kept volumes.",
        "Units": "mm", "TermURL": _TERM_FD},
    "mean_relative_rms": {
        "LongName": "Mean Relative Root Mean Squared",
        "Description": "Mean of fMRIPrep's rmsd (root mean square displacement relative to the previous volume) "
                       "over the kept volumes.",
        "Units": "mm"},
    "max_relative_rms": {
        "LongName": "Maximum Relative Root Mean Squared",
        "Description": "Maximum of fMRIPrep's rmsd over the kept volumes.",
        "Units": "mm"},
    "mean_dvars_initial": {
        "LongName": "Mean DVARS Before Postprocessing",
        "Description": "Mean of fMRIPrep's std_dvars (voxel-wise standardised DVARS of the preprocessed BOLD) over "
                       "the volumes after the non-steady-state ones; the first volume's n/a is left out.",
        "Units": "arbitrary", "TermURL": _TERM_DVARS},
    "fd_dvars_correlation_initial": {
        "LongName": "FD-DVARS Correlation Before Postprocessing",
        "Description": "Pearson correlation between framewise_displacement and std_dvars over the volumes after the "
                       "non-steady-state ones (volumes where either is n/a left out)."},
    "mean_region_dvars_initial": {
        "LongName": "Mean Region DVARS Before Denoising",
        "Description": f"Mean {_REGION_DVARS} before cleaning, over the volumes after the non-steady-state ones.",
        "Units": "arbitrary", "TermURL": _TERM_DVARS},
    "mean_region_dvars_final": {
        "LongName": "Mean Region DVARS After Denoising",
        "Description": f"Mean {_REGION_DVARS} after cleaning, over the kept volumes taken one after the other "
                       "(a difference may span censored volumes, as in XCP-D's censored output). Not comparable "
                       "with XCP-D's mean_dvars_final, which is voxel-wise.",
        "Units": "arbitrary", "TermURL": _TERM_DVARS},
    "fd_region_dvars_correlation_initial": {
        "LongName": "FD-Region DVARS Correlation Before Denoising",
        "Description": "Pearson correlation between framewise_displacement and mean_region_dvars_initial's series, "
                       "over the volumes after the non-steady-state ones."},
    "fd_region_dvars_correlation_final": {
        "LongName": "FD-Region DVARS Correlation After Denoising",
        "Description": "Pearson correlation between framewise_displacement of the kept volumes and the region DVARS "
                       "of the cleaned signals (mean_region_dvars_final's series). XCP-D's "
                       "fd_dvars_correlation_final is voxel-wise."},
    "num_dummy_volumes": {
        "LongName": "Number of Dummy Volumes",
        "Description": "Non-steady-state volumes dropped (--dummy-scans)."},
    "num_censored_volumes": {
        "LongName": "Number of Censored Volumes",
        "Description": "Volumes censored as motion outliers (FD, std DVARS, short segments); dummies not included."},
    "num_retained_volumes": {
        "LongName": "Number of Retained Volumes",
        "Description": "Volumes kept (neither dummy nor censored)."},
    "retained_duration": {
        "LongName": "Retained Duration",
        "Description": "num_retained_volumes x RepetitionTime (compared with --min-time).",
        "Units": "s"},
}


def standardized_dvars(signals: Any) -> np.ndarray:
    """Standardised DVARS of a time series of several columns (regions or voxels).

    DVARS(t) is the root mean square over columns of the difference between
    volume t and volume t - 1; it is divided by its expected value under
    stationarity, the mean over columns of sqrt(2 (1 - ar1)) x robust SD
    (robust SD = interquartile range / 1.349 with the "lower" percentiles,
    ar1 the lag-1 autocorrelation of the demeaned column, Yule-Walker), as
    nipype's ``compute_dvars``.

    Parameters
    ----------
    signals : array-like, shape (n_volumes, n_columns)
        Any unit (the result is unitless). Columns with a non-finite value,
        or a robust SD below 1e-7 (constant), are left out.

    Returns
    -------
    numpy.ndarray, shape (n_volumes,), float64
        NaN for the first volume (it has no predecessor; nipype writes 0
        there), and everywhere when fewer than 2 volumes or no usable column
        are left.
    """
    data = np.asarray(signals, dtype=np.float64)
    if data.ndim != 2:
        raise ValueError(f"signals must be 2D (volumes x columns); shape {data.shape} was provided.")
    dvars = np.full(data.shape[0], np.nan)
    if data.shape[0] < 2:
        return dvars
    data = data[:, np.isfinite(data).all(axis=0)]
    if data.shape[1] == 0:
        return dvars
    lower_quartile, upper_quartile = np.percentile(data, [25, 75], axis=0, method="lower")
    robust_sd = (upper_quartile - lower_quartile) / IQR_TO_STD
    varying = robust_sd > _CONSTANT_SD
    data, robust_sd = data[:, varying], robust_sd[varying]
    if data.shape[1] == 0:
        return dvars
    centred = data - data.mean(axis=0)
    lag0 = np.einsum("tk,tk->k", centred, centred)
    lag1 = np.einsum("tk,tk->k", centred[1:], centred[:-1])
    ar1 = np.divide(lag1, lag0, out=np.zeros_like(lag1), where=lag0 > 0)
    expected_sd = np.sqrt(2.0 * (1.0 - ar1)) * robust_sd
    differences = np.diff(data, axis=0)
    dvars[1:] = np.sqrt(np.mean(differences**2, axis=1)) / expected_sd.mean()
    return dvars


def pearson(x: Any, y: Any) -> float:
    """Pearson correlation over the pairs where both are finite; NaN with fewer than 3 or a constant side."""
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    finite = np.isfinite(x) & np.isfinite(y)
    if finite.sum() < 3 or np.ptp(x[finite]) == 0 or np.ptp(y[finite]) == 0:
        return math.nan
    return float(np.corrcoef(x[finite], y[finite])[0, 1])


def _mean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else math.nan


def _max(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.max()) if finite.size else math.nan


def linc_measures(
    n_volumes: int,
    dummy_volumes: Any,
    sample_mask: Any,
    repetition_time: float,
    fd: Any = None,
    rmsd: Any = None,
    std_dvars: Any = None,
    raw_signals: Any = None,
    clean_signals: Any = None,
) -> dict[str, float | int]:
    """The numbers of one LINC QC row (:data:`LINC_MEASURES`).

    Parameters
    ----------
    n_volumes : int
        Volumes of the run.
    dummy_volumes : array-like of int
        Indices of the non-steady-state volumes dropped.
    sample_mask : array-like of int
        Indices of the kept volumes (dummies and censored volumes removed).
    repetition_time : float
        Seconds.
    fd, rmsd : array-like, shape (n_volumes,), optional
        fMRIPrep's ``framewise_displacement`` and ``rmsd`` columns, mm (NaN
        for n/a). Without them the measures that need them are NaN.
    std_dvars : array-like, shape (n_volumes,), optional
        fMRIPrep's ``std_dvars`` column (voxel-wise standardised DVARS).
    raw_signals : array-like, shape (n_volumes, n_regions), optional
        The region signals as extracted, before cleaning.
    clean_signals : array-like, shape (len(sample_mask), n_regions), optional
        The cleaned region signals of the kept volumes, in order.

    Returns
    -------
    dict
        ``mean_fd`` (mm, non-dummy volumes), ``mean_fd_post_censoring`` (mm,
        kept volumes), ``mean_relative_rms`` and ``max_relative_rms`` (mm,
        kept volumes), ``mean_dvars_initial`` (fMRIPrep's std DVARS, non-dummy
        volumes), ``fd_dvars_correlation_initial`` (Pearson, non-dummy
        volumes), ``mean_region_dvars_initial`` / ``_final`` (standardised
        DVARS of the raw region signals over the non-dummy volumes / of the
        cleaned ones over the kept volumes), ``fd_region_dvars_correlation_initial``
        / ``_final`` (their Pearson correlation with FD over the same
        volumes), ``num_dummy_volumes``, ``num_censored_volumes`` (dummies
        excluded), ``num_retained_volumes``, ``retained_duration`` (s).
    """
    dummies = np.asarray(dummy_volumes, dtype=np.int64)
    kept = np.asarray(sample_mask, dtype=np.int64)
    after_dummies = np.setdiff1d(np.arange(n_volumes), dummies)
    missing = np.full(n_volumes, np.nan)
    fd = missing if fd is None else np.asarray(fd, dtype=np.float64)
    rmsd = missing if rmsd is None else np.asarray(rmsd, dtype=np.float64)
    std_dvars = missing if std_dvars is None else np.asarray(std_dvars, dtype=np.float64)
    region_initial = region_final = np.full(0, np.nan)
    if raw_signals is not None:
        region_initial = standardized_dvars(np.asarray(raw_signals, dtype=np.float64)[after_dummies])
    if clean_signals is not None:
        region_final = standardized_dvars(clean_signals)
    return {
        "mean_fd": _mean(fd[after_dummies]),
        "mean_fd_post_censoring": _mean(fd[kept]),
        "mean_relative_rms": _mean(rmsd[kept]),
        "max_relative_rms": _max(rmsd[kept]),
        "mean_dvars_initial": _mean(std_dvars[after_dummies]),
        "fd_dvars_correlation_initial": pearson(fd[after_dummies], std_dvars[after_dummies]),
        "mean_region_dvars_initial": _mean(region_initial),
        "mean_region_dvars_final": _mean(region_final),
        "fd_region_dvars_correlation_initial": (pearson(fd[after_dummies], region_initial)
                                                if region_initial.size else math.nan),
        "fd_region_dvars_correlation_final": pearson(fd[kept], region_final) if region_final.size else math.nan,
        "num_dummy_volumes": int(dummies.size),
        "num_censored_volumes": int(n_volumes - dummies.size - kept.size),
        "num_retained_volumes": int(kept.size),
        "retained_duration": float(kept.size * repetition_time),
    }
