"""Denoising plan of one run: :func:`plan_denoising` and :class:`DenoisingPlan`.

:func:`plan_denoising` checks a run's :class:`~.table.ConfoundsTable`
against a :class:`~.strategies.DenoiseStrategy` and returns a
:class:`DenoisingPlan`: the confound matrix (float64, volumes x
regressors), the indices of the kept volumes (non-steady-state volumes and
motion outliers dropped), the arguments of
:func:`regionseries.signal.clean` and the degrees of freedom lost. A run
that cannot be denoised (every volume censored, or no more kept volumes
than regressors, the cosines ``clean`` will add included) raises
:class:`~.errors.RunExcluded`; a row count that is not the run's, missing
columns or n/a values beyond the first row raise
:class:`~.errors.ConfoundsError`.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .censoring import (
    _censoring_text,
    _check_row_count,
    _check_some_volume_kept,
    _drop_short_segments,
    _motion_outliers,
)
from .columns import (
    _as_float,
    _check_numeric,
    _columns_containing,
    _compcor_names_current,
    _fill_first_row,
    _Missing,
)
from .components import AROMA_ORTH_PATTERN, AROMA_RAW_PATTERN, ComponentTable
from .errors import ConfoundsError, RunExcluded
from .motion_filter import (
    design_motion_filter,
    filter_motion_parameters,
    framewise_displacement,
)
from .strategies import DenoiseStrategy, get_strategy
from .table import ConfoundsTable, _sidecar_needed_error, read_confounds
from .vocabulary import _DVARS_COLUMN, _FD_COLUMN, _GLOBAL_BASE, _MOTION_BASE, _NSS_KEY, _OUTLIER_KEY, _WM_CSF_BASE, _expand

__all__ = ["DenoisingPlan", "plan_denoising", "strategy_settings_used"]

#: Settings that matter only when the strategy has the component.
_COMPONENT_SETTINGS = {
    "motion": ("motion",),
    "wm_csf": ("wm_csf",),
    "global_signal": ("global_signal",),
    "compcor": ("compcor", "n_compcor"),
    "ica_aroma": ("ica_aroma",),
    "tedana": ("tedana",),
    "scrub": ("fd_threshold", "std_dvars_threshold", "min_segment_length"),
}
#: Settings of the motion filter, used only when it changes something (DenoiseStrategy.filters_motion).
_MOTION_FILTER_SETTINGS = ("motion_filter_type", "band_stop_min", "band_stop_max", "motion_filter_order")
#: fMRIPrep's motion regressors, every model (replaced by their filtered versions under a motion filter).
_MOTION_COLUMNS = frozenset(_expand(_MOTION_BASE, "full"))
#: Components that add confound regressors (ICA-AROMA only when "basic").
_REGRESSOR_COMPONENTS = ("motion", "wm_csf", "global_signal", "compcor", "high_pass")


def strategy_settings_used(strategy: DenoiseStrategy) -> dict[str, Any]:
    """The settings of a strategy that its outputs depend on, JSON-serialisable.

    :meth:`DenoiseStrategy.to_dict` without the settings the strategy does
    not use: those of components it does not have (e.g. ``global_signal``
    for ``scrubbing``), ``demean`` and ``standardize_confounds`` without
    any confound regressor, ``low_pass``/``high_pass`` without a filter,
    empty ``extra_columns``/``extra_column_patterns``, the motion filter's
    settings without a motion filter that changes something
    (``band_stop_max`` with "lp"). The identity keys
    (``name``, ``desc``, ``components``, ``description``) are always kept.
    """
    settings = strategy.to_dict()
    unused = {name for component, names in _COMPONENT_SETTINGS.items() if component not in strategy.components
              for name in names}
    regressors = (any(c in strategy.components for c in _REGRESSOR_COMPONENTS) or strategy.extra_columns
                  or strategy.extra_column_patterns
                  or ("ica_aroma" in strategy.components and strategy.ica_aroma != "full")
                  or ("tedana" in strategy.components and strategy.tedana == "aggressive"))
    if not regressors:
        unused |= {"demean", "standardize_confounds"}
    if strategy.filter is False:
        unused |= {"low_pass", "high_pass"}
    unused |= {name for name in ("extra_columns", "extra_column_patterns") if not settings[name]}
    if not strategy.min_time:
        unused.add("min_time")
    if not strategy.filters_motion:
        unused |= set(_MOTION_FILTER_SETTINGS)
    elif strategy.motion_filter_type == "lp":
        unused.add("band_stop_max")
    return {name: value for name, value in settings.items() if name not in unused}


@dataclass(frozen=True)
class DenoisingPlan:
    """What cleaning one run with one strategy needs, checked against the data.

    Attributes
    ----------
    strategy : DenoiseStrategy
    n_volumes : int
        Volumes in the BOLD run.
    confounds : numpy.ndarray or None
        float64, shape (n_volumes, k), columns sorted by name, row 0 NaN
        filled from row 1, demeaned over the kept volumes if the strategy
        says so; None when the strategy has no regressor.
    confound_names : list of str
        Column names of ``confounds`` (current fMRIPrep names; with a motion
        filter, the motion regressors are computed from the filtered
        parameters and named ``<fMRIPrep name>_filtered``, XCP-D's names).
    sample_mask : numpy.ndarray
        int64 indices of the kept volumes (always an array).
    dummy_volumes : numpy.ndarray
        int64 indices of the volumes dropped as non-steady-state.
    motion_outliers : numpy.ndarray
        int64 indices censored by FD/DVARS and the minimum-segment rule,
        dummy volumes excluded.
    mean_fd : float
        Mean framewise displacement in mm over all volumes that have one;
        NaN without an FD column.
    clean_kwargs : dict
        detrend, standardize, standardize_confounds, filter, low_pass,
        high_pass for :func:`regionseries.signal.clean`.
    dof_lost : int
        Degrees of freedom used up: censored volumes + confound columns
        (fMRIPrep cosines included) + cosine regressors ``clean`` will add
        (filter "cosine") + 2 for detrending (mean and slope) + the
        approximate number of DCT components a Butterworth filter removes
        over the kept volumes (see ``docs/strategies.md``).
    tsv_path : str
        The confounds file the plan comes from.
    motion_filter : dict or None
        The motion filter's design (:meth:`MotionFilterDesign.record`), None
        without a motion filter.
    filtered_fd : numpy.ndarray or None
        float64, shape (n_volumes,): framewise displacement in mm recomputed
        from the filtered motion parameters (NaN for the first volume and
        the non-steady-state volumes before the first kept one); FD
        censoring used it. None without a motion filter.
    component_records : dict
        Provenance of the fMRIPost-AROMA and tedana components used
        (``{"AromaComponents": {...}, "TedanaComponents": {...}}``; files,
        settings and numbers of components); empty when none is used.
    nonaggressive : tuple of (numpy.ndarray, numpy.ndarray) or None
        For tedana's non-aggressive denoising: every component (n_volumes x
        k, float64) and which are rejected (bool, k), for
        :func:`regionseries.core.signal.nonaggressive.remove_components_nonaggressively`
        before cleaning; None otherwise.
    """

    strategy: DenoiseStrategy
    n_volumes: int
    confounds: np.ndarray | None
    confound_names: list[str]
    sample_mask: np.ndarray
    dummy_volumes: np.ndarray
    motion_outliers: np.ndarray
    mean_fd: float
    clean_kwargs: dict[str, Any]
    dof_lost: int
    tsv_path: str = ""
    motion_filter: dict[str, Any] | None = None
    filtered_fd: np.ndarray | None = None
    component_records: dict[str, Any] = field(default_factory=dict)
    nonaggressive: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def n_kept(self) -> int:
        """Number of kept volumes."""
        return int(self.sample_mask.size)

    @property
    def n_censored(self) -> int:
        """Number of dropped volumes (dummies and motion outliers)."""
        return self.n_volumes - self.n_kept

    def summary(self) -> dict[str, Any]:
        """JSON-serialisable provenance for sidecars and reports."""
        return {
            "ConfoundsFile": self.tsv_path,
            "Strategy": strategy_settings_used(self.strategy),
            "NumberOfVolumes": self.n_volumes,
            "NumberOfDummyVolumes": int(self.dummy_volumes.size),
            "NumberOfMotionOutliers": int(self.motion_outliers.size),
            "NumberOfKeptVolumes": self.n_kept,
            "DummyVolumes": self.dummy_volumes.tolist(),
            "MotionOutliers": self.motion_outliers.tolist(),
            "MeanFramewiseDisplacement": None if math.isnan(self.mean_fd) else self.mean_fd,
            "ConfoundRegressors": list(self.confound_names),
            "DegreesOfFreedomLost": self.dof_lost,
            **self.motion_filter_summary(),
            **self.component_records,

        }

    def motion_filter_summary(self) -> dict[str, Any]:
        """The motion filter's sidecar entries (``MotionFilter``, ``MeanFramewiseDisplacementFiltered``);
        empty without a motion filter."""
        if self.motion_filter is None:
            return {}
        kept = self.filtered_fd[np.isfinite(self.filtered_fd)]
        return {"MotionFilter": self.motion_filter,
                "MeanFramewiseDisplacementFiltered": float(kept.mean()) if kept.size else None}


def plan_denoising(
    strategy: DenoiseStrategy | str,
    table: ConfoundsTable | str | os.PathLike,
    n_volumes: int,
    dummy_scans: int | str | None = None,
    t_r: float | None = None,
    aroma: ComponentTable | None = None,
    tedana: ComponentTable | None = None,
) -> DenoisingPlan:
    """Check a run's confounds against a strategy and plan its cleaning.

    Parameters
    ----------
    strategy : DenoiseStrategy or str
        A strategy, or a spec for :func:`get_strategy`.
    table : ConfoundsTable, str or os.PathLike
        The run's confounds (a path is read with :func:`read_confounds`).
    n_volumes : int
        Number of volumes of the BOLD run.
    dummy_scans : None, int or "auto", default=None
        Volumes dropped at the start as non-steady-state. None: the volumes
        flagged by fMRIPrep's ``non_steady_state_outlier*`` columns (as
        nilearn); an int N: the first N volumes (fMRIPrep's flags are then
        ignored); "auto": the first N volumes, N being the number of
        ``non_steady_state_outlier*`` columns (0 if there are none).
    t_r : float, optional
        Repetition time in seconds; required when the strategy filters
        (low_pass/high_pass), to count the filter's degrees of freedom, and
        when it has a ``min_time``, to measure the kept duration, and when it
        has a motion filter (designed for the run's sampling rate).
    aroma : ComponentTable, optional
        fMRIPost-AROMA's components of the run
        (:func:`~.components.read_aroma_timeseries`); required by
        ``ica_aroma: orthaggr``, and used by ``ica_aroma: basic`` instead of
        the confounds file's ``aroma`` columns.
    tedana : ComponentTable, optional
        tedana's accepted and rejected components of the run
        (:func:`~.components.read_tedana_components`); required by the
        ``tedana`` component.

    Returns
    -------
    DenoisingPlan

    Raises
    ------
    ConfoundsError
        If the table's row count differs from ``n_volumes``, columns the
        strategy needs are missing (all are listed), the JSON sidecar is
        missing while anatomical CompCor needs it, a selected column has
        n/a values beyond the first row, or the motion filter cannot be used
        at the run's repetition time.
    RunExcluded
        If every volume is censored, the kept volumes are not more than
        the regressors, or they last less than the strategy's ``min_time``
        (every rule the run breaks is in the reason).
    ValueError
        For invalid ``n_volumes``, ``dummy_scans`` or ``t_r``.
    """
    strategy = get_strategy(strategy)
    if not isinstance(table, ConfoundsTable):
        table = read_confounds(table)
    source = str(table.tsv_path)
    if isinstance(n_volumes, bool) or not isinstance(n_volumes, (int, np.integer)) or n_volumes < 1:
        raise ValueError(f"n_volumes must be a positive integer; {n_volumes!r} was provided.")
    n_volumes = int(n_volumes)
    _check_row_count(source, table.n_volumes, n_volumes)
    filtering = strategy.filter is not False and (strategy.low_pass is not None or strategy.high_pass is not None)
    if filtering and (t_r is None or not t_r > 0):
        raise ValueError(
            f"t_r (s) must be a positive number to plan strategy '{strategy.name}', which filters; "
            f"got {t_r!r}."
        )
    if strategy.min_time and (t_r is None or not t_r > 0):
        raise ValueError(
            f"t_r (s) must be a positive number to plan strategy '{strategy.name}', which needs "
            f"{strategy.min_time:g} s of kept volumes (min_time); got {t_r!r}."
        )

    if strategy.filters_motion and (t_r is None or not t_r > 0):
        raise ValueError(
            f"t_r (s) must be a positive number to plan strategy '{strategy.name}', which filters the motion "
            f"parameters; got {t_r!r}."
        )

    table, joined, records, nonaggressive = _join_components(strategy, table, n_volumes, aroma, tedana)
    data = table.data
    names = _strategy_columns(strategy, table, joined)
    dummies = _dummy_volumes(data, n_volumes, dummy_scans, source)
    motion_filter = filtered_fd = None
    if strategy.filters_motion:
        motion_filter, filtered_motion, filtered_fd = _filter_motion(strategy, data, dummies, t_r, source)
        # the filtered parameters replace fMRIPrep's motion regressors, and their FD its FD; only
        # the columns still read are kept (copying a whole fMRIPrep table costs more than the filter)
        still_read = dict.fromkeys([name for name in names if name not in _MOTION_COLUMNS]
                                   + [name for name in (_DVARS_COLUMN,) if name in data.columns])
        data = pd.concat([data.loc[:, list(still_read)], filtered_motion], axis=1)
        data[_FD_COLUMN] = filtered_fd
        names = sorted(f"{name}_filtered" if name in _MOTION_COLUMNS else name for name in names)
    censored_by_motion = np.array([], dtype=np.int64)
    if strategy.censors_motion:
        outliers = _motion_outliers(data, strategy.fd_threshold, strategy.std_dvars_threshold)
        if outliers.size:
            censored = np.union1d(outliers, dummies)
            if strategy.min_segment_length > 0:
                censored = _drop_short_segments(censored, n_volumes, strategy.min_segment_length)
            censored_by_motion = np.setdiff1d(censored, dummies).astype(np.int64)
    sample_mask = np.setdiff1d(np.arange(n_volumes), np.union1d(dummies, censored_by_motion)).astype(np.int64)

    n_cosines_from_clean = _clean_cosine_count(strategy, names, n_volumes, t_r)
    n_regressors = len(names) + n_cosines_from_clean
    # non-aggressive denoising fits every component (needs more kept volumes) and removes the rejected ones
    n_fitted = 0 if nonaggressive is None else int(nonaggressive[1].size)
    n_removed = 0 if nonaggressive is None else int(nonaggressive[1].sum())
    # fMRIPrep's FD (unfiltered, also with a motion filter: MeanFramewiseDisplacement is fMRIPrep's)
    fd = _as_float(table.data[_FD_COLUMN]) if _FD_COLUMN in table.data.columns else np.array([np.nan])

    mean_fd = float(np.mean(fd[~np.isnan(fd)])) if np.any(~np.isnan(fd)) else math.nan
    dof_lost = (
        (n_volumes - sample_mask.size)
        + n_regressors
        + n_removed
        + (2 if strategy.detrend else 0)
        + _butterworth_dof(strategy, sample_mask.size, t_r)
    )

    def plan_with(confounds: np.ndarray | None) -> DenoisingPlan:
        return DenoisingPlan(
            strategy=strategy,
            n_volumes=n_volumes,
            confounds=confounds,
            confound_names=list(names),
            sample_mask=sample_mask,
            dummy_volumes=dummies,
            motion_outliers=censored_by_motion,
            mean_fd=mean_fd,
            clean_kwargs=strategy.clean_kwargs,
            dof_lost=int(min(dof_lost, n_volumes)),
            tsv_path=source,
            motion_filter=motion_filter,
            filtered_fd=filtered_fd,
            component_records=records,
            nonaggressive=nonaggressive,
        )

    try:
        _check_not_excluded(strategy, source, n_volumes, sample_mask, dummies, censored_by_motion,
                            n_regressors + n_fitted, t_r)

    except RunExcluded as excluded:  # the exclusion keeps the run's counts (qc.json, group QC table)
        raise RunExcluded(excluded.path, excluded.reason, excluded.strategy, plan_with(None)) from None

    confounds = None
    if names:
        frame = data.loc[:, names].copy()
        _check_numeric(frame, source)
        _fill_first_row(frame)
        nan_rows = np.flatnonzero(frame.isna().to_numpy().any(axis=1))
        if nan_rows.size:
            bad = [name for name in names if frame[name].isna().any()]
            raise ConfoundsError(
                f"{source}: confound columns {bad} have n/a values in rows {nan_rows.tolist()} "
                "(only a missing first row can be filled)."
            )
        confounds = frame.to_numpy(dtype=np.float64)
        _check_finite_in_kept_volumes(confounds, names, sample_mask, source)
        if strategy.demean:
            confounds = confounds - confounds[sample_mask].mean(axis=0)

    return plan_with(confounds)


def _join_components(strategy: DenoiseStrategy, table: ConfoundsTable, n_volumes: int,
                     aroma: ComponentTable | None, tedana: ComponentTable | None):
    """The fMRIPost-AROMA and tedana components a strategy uses, joined to the table.

    Returns the table (with the regressor components as extra columns), the
    joined column names by component (``{"ica_aroma": [...], "tedana":
    [...]}``), the provenance records for sidecars and the non-aggressive
    (components, rejected) pair or None. Raises ConfoundsError when a file
    the strategy needs was not given or has another number of rows.
    """
    source = str(table.tsv_path)
    joined: dict[str, list[str]] = {}
    records: dict[str, Any] = {}
    frames = []
    nonaggressive = None
    uses_aroma = "ica_aroma" in strategy.components
    if strategy.needs_aroma_outputs and aroma is None:
        raise ConfoundsError(
            f"{source}: strategy '{strategy.name}' (ica_aroma 'orthaggr') needs fMRIPost-AROMA's "
            "desc-aroma_timeseries.tsv of this run (give fMRIPost-AROMA's output folder: --datasets aroma=PATH)."
        )
    if uses_aroma and aroma is not None:
        _check_row_count(str(aroma.files[0]), aroma.n_volumes, n_volumes)
        pattern = {"orthaggr": AROMA_ORTH_PATTERN, "basic": AROMA_RAW_PATTERN}.get(strategy.ica_aroma)
        columns = [] if pattern is None else [name for name in aroma.data.columns if pattern.match(name)]
        n_rejected = sum(1 for name in aroma.data.columns if AROMA_RAW_PATTERN.match(name))
        records["AromaComponents"] = {
            "Source": aroma.source, "Files": [str(path) for path in aroma.files], "IcaAroma": strategy.ica_aroma,
            "NumberOfRejectedComponents": n_rejected, "Regressors": columns,
        }
        if columns:
            joined["ica_aroma"] = columns
            frames.append(aroma.data.loc[:, columns])
        else:
            joined["ica_aroma"] = []
    if strategy.needs_tedana_outputs:
        if tedana is None:
            raise ConfoundsError(
                f"{source}: strategy '{strategy.name}' (component 'tedana') needs tedana's desc-ICA_mixing.tsv and "
                "desc-tedana_metrics.tsv of this run (give tedana's output folder: --datasets tedana=PATH)."
            )
        _check_row_count(str(tedana.files[0]), tedana.n_volumes, n_volumes)
        rejected = [name for name in tedana.data.columns if name in tedana.rejected]
        records["TedanaComponents"] = {
            "Source": tedana.source, "Files": [str(path) for path in tedana.files], "Tedana": strategy.tedana,
            "NumberOfRejectedComponents": len(rejected),
            "NumberOfAcceptedComponents": tedana.data.shape[1] - len(rejected),
        }
        if strategy.tedana == "aggressive":
            joined["tedana"] = rejected
            frames.append(tedana.data.loc[:, rejected])
        else:
            joined["tedana"] = []
            every = tedana.data.copy()
            _check_numeric(every, str(tedana.files[0]))
            _fill_first_row(every)
            nonaggressive = (every.to_numpy(dtype=np.float64),
                             np.array([name in tedana.rejected for name in every.columns], dtype=bool))
    if frames:
        clash = sorted({name for frame in frames for name in frame.columns if name in table.data.columns})
        if clash:
            raise ConfoundsError(
                f"{source}: columns {clash} are both in the confounds file and in the fMRIPost-AROMA or tedana "
                "files of the run; which to use is ambiguous."
            )
        data = pd.concat([table.data.reset_index(drop=True)] + [frame.reset_index(drop=True) for frame in frames],
                         axis=1)
        table = dataclasses.replace(table, data=data)
    return table, joined, records, nonaggressive


def _strategy_columns(strategy: DenoiseStrategy, table: ConfoundsTable,
                      joined: dict[str, list[str]] | None = None) -> list[str]:
    """Sorted confound column names of a strategy (current names).

    ``joined`` gives, by component (``ica_aroma``, ``tedana``), the columns
    that :func:`_join_components` added from fMRIPost-AROMA or tedana files
    (possibly none: a run without noise component).

    Raises ConfoundsError listing every missing column and component.
    """
    source = str(table.tsv_path)
    columns = table.data.columns
    joined = joined or {}
    missing = _Missing()
    selected: list[str] = []

    def require(names: list[str], component: str) -> list[str]:
        # unlike nilearn's message, list the names even when all are absent
        absent = [name for name in names if name not in columns]
        missing.columns.extend(absent)
        if not names or len(absent) == len(names):
            missing.components.append(component)
        return [] if absent else list(names)

    for component in strategy.components:
        if component == "motion":
            selected += require(_expand(_MOTION_BASE, strategy.motion), "motion")
        elif component == "wm_csf":
            selected += require(_expand(_WM_CSF_BASE, strategy.wm_csf), "wm_csf")
        elif component == "global_signal":
            selected += require(_expand(_GLOBAL_BASE, strategy.global_signal), "global_signal")
        elif component == "high_pass":
            cosines = _columns_containing(columns, "cosine")
            if not cosines and strategy.high_pass is None:
                warnings.warn(
                    f"{source}: no cosine columns, so the 'high_pass' component of strategy "
                    f"'{strategy.name}' adds no regressor and slow drifts are not removed "
                    "(set high_pass in Hz to filter them in cleaning).",
                    UserWarning,
                    stacklevel=3,
                )
            selected += cosines
        elif component == "compcor":
            if strategy.needs_sidecar and table.metadata is None:
                raise _sidecar_needed_error(table, strategy.compcor)
            names = _compcor_names_current(table, strategy.compcor, strategy.n_compcor)
            if strategy.needs_sidecar:
                _check_sidecar_has_anatomical_entries(table, strategy, names)
            selected += require(names, "compcor")
        elif component in joined:
            selected += joined[component]
        elif component == "ica_aroma" and strategy.ica_aroma == "basic":
            aroma = _columns_containing(columns, "aroma")
            if not aroma:
                missing.components.append("ica_aroma")
            selected += aroma
        elif component == "scrub":
            needed = []
            if strategy.fd_threshold is not None:
                needed.append(_FD_COLUMN)
            if strategy.std_dvars_threshold is not None:
                needed.append(_DVARS_COLUMN)
            missing.columns.extend(name for name in needed if name not in columns)
    absent_extras = [name for name in strategy.extra_columns if name not in columns]
    missing.columns.extend(absent_extras)
    selected += [name for name in strategy.extra_columns if name in columns]
    unmatched = []
    for pattern in strategy.extra_column_patterns:
        matches = [name for name in columns if re.fullmatch(pattern, name)]
        if not matches:
            unmatched.append(pattern)
        selected += matches
    if missing or unmatched:
        parts = []
        if missing.columns:
            parts.append(f"missing columns {missing.columns}")
        if missing.components:
            parts.append(f"nothing found for component(s) {missing.components}")
        if unmatched:
            parts.append(f"no column matches pattern(s) {unmatched}")
        raise ConfoundsError(
            f"{source}: strategy '{strategy.name}' cannot be applied: {'; '.join(parts)}. "
            f"Columns in the file: {list(columns)}."
        )
    # Outlier indicator columns censor volumes; they are never regressors.
    return sorted({name for name in selected if _NSS_KEY not in name and _OUTLIER_KEY not in name})


def _filter_motion(strategy: DenoiseStrategy, data: pd.DataFrame, dummies: np.ndarray, t_r: float,
                   source: str) -> tuple[dict[str, Any], pd.DataFrame, np.ndarray]:
    """Filter the realignment parameters with the strategy's motion filter.

    The filter runs from the first volume after the leading non-steady-state
    ones (:func:`filter_motion_parameters`); a missing first row is filled
    from the second, as for every regressor.

    Returns
    -------
    record : dict
        The filter's design (:meth:`MotionFilterDesign.record`).
    expansions : pandas.DataFrame
        The filtered parameters and their derivatives, squares and squared
        derivatives (fMRIPrep's models), named ``<fMRIPrep name>_filtered``;
        the derivatives' first row is n/a, as fMRIPrep's.
    filtered_fd : numpy.ndarray
        Framewise displacement of the filtered parameters, mm; NaN up to the
        first filtered volume included (no displacement is known there).

    Raises
    ------
    ConfoundsError
        If a parameter is missing, not numeric or not finite after the first
        row, or the filter does not fit the repetition time.
    """
    missing = [name for name in _MOTION_BASE if name not in data.columns]
    if missing:
        raise ConfoundsError(
            f"{source}: the motion filter of strategy '{strategy.name}' needs the six realignment parameters; "
            f"missing columns {missing}."
        )
    frame = data.loc[:, list(_MOTION_BASE)].copy()
    _check_numeric(frame, source)
    _fill_first_row(frame)
    parameters = frame.to_numpy(dtype=np.float64)
    start = int(np.sum(dummies == np.arange(dummies.size)))  # the leading non-steady-state volumes
    bad_rows, bad_columns = np.nonzero(~np.isfinite(parameters[start:]))
    if bad_rows.size:
        raise ConfoundsError(
            f"{source}: the motion filter of strategy '{strategy.name}' needs finite realignment parameters; "
            f"columns {sorted({_MOTION_BASE[i] for i in bad_columns})} have n/a or infinite values in rows "
            f"{np.unique(bad_rows + start).tolist()} (counted from 0; only a missing first row can be filled)."
        )
    design = design_motion_filter(strategy.motion_filter_type, strategy.band_stop_min, strategy.band_stop_max,
                                  strategy.motion_filter_order, t_r, where=source)
    filtered = filter_motion_parameters(parameters, design, start)
    filtered_fd = framewise_displacement(filtered)
    filtered_fd[:start + 1] = np.nan
    expansions = {}
    for column, name in enumerate(_MOTION_BASE):
        values = filtered[:, column]
        derivative = np.concatenate([[np.nan], np.diff(values)])
        for expanded, series in zip(_expand((name,), "full"), (values, derivative, values**2, derivative**2)):
            expansions[f"{expanded}_filtered"] = series
    return design.record(), pd.DataFrame(expansions, index=data.index), filtered_fd


def _check_finite_in_kept_volumes(confounds: np.ndarray, names: list[str], sample_mask: np.ndarray,
                                  source: str) -> None:
    """Refuse infinite values (``inf`` in the file) in the kept volumes of selected columns, by name."""
    kept = confounds[sample_mask]
    bad_columns = np.flatnonzero(~np.isfinite(kept).all(axis=0))
    if bad_columns.size:
        rows = np.unique(sample_mask[np.nonzero(~np.isfinite(kept[:, bad_columns]))[0]])
        raise ConfoundsError(
            f"{source}: confound columns {[names[i] for i in bad_columns]} hold infinite values in rows "
            f"{rows.tolist()} (counted from 0); regressors must be finite numbers."
        )


def _check_sidecar_has_anatomical_entries(table: ConfoundsTable, strategy: DenoiseStrategy,
                                          names: list[str]) -> None:
    """Refuse a sidecar without entries for the anatomical CompCor columns the table has.

    The components are chosen from the sidecar's entries (each gives its
    mask); a sidecar without any, next to a table with such columns, is the
    sidecar's fault (another run's file, or one emptied by a tool) and the
    message names it.
    """
    anatomical = re.compile(r"^[awc]_comp_cor_\d+$")
    if any(anatomical.match(name) for name in names):
        return
    in_table = [name for name in table.data.columns if anatomical.match(name)]
    if not in_table:
        return  # the table has none either: reported as a missing component
    raise ConfoundsError(
        f"{table.json_path}: the JSON sidecar of {table.tsv_path.name} has no entry for the anatomical CompCor "
        f"components (a_comp_cor_*, w_comp_cor_*, c_comp_cor_*) that CompCor '{strategy.compcor}' of strategy "
        f"'{strategy.name}' needs, although the confounds table has {len(in_table)} such columns; each entry "
        "gives a component's mask (is it the sidecar of another run, or emptied by a tool?)."
    )


def _dummy_volumes(data: pd.DataFrame, n_volumes: int, dummy_scans: Any, source: str) -> np.ndarray:
    """Indices of the non-steady-state volumes to drop."""
    nss = _columns_containing(data.columns, _NSS_KEY)
    if dummy_scans is None:
        if not nss:
            return np.array([], dtype=np.int64)
        _check_numeric(data[nss], source)
        flagged = data[nss].fillna(0).to_numpy(dtype=np.float64).sum(axis=1) != 0
        return np.flatnonzero(flagged).astype(np.int64)
    if dummy_scans == "auto":
        return np.arange(min(len(nss), n_volumes), dtype=np.int64)
    if isinstance(dummy_scans, bool) or not isinstance(dummy_scans, (int, np.integer)) or dummy_scans < 0:
        raise ValueError(f"dummy_scans must be None, 'auto' or an integer >= 0; {dummy_scans!r} was provided.")
    return np.arange(min(int(dummy_scans), n_volumes), dtype=np.int64)


def _clean_cosine_count(
    strategy: DenoiseStrategy, names: list[str], n_volumes: int, t_r: float | None
) -> int:
    """Cosine drift regressors ``clean(filter="cosine")`` will add.

    nilearn builds min(n - 1, floor(2 n high_pass t_r)) terms over the full
    run, and uses none when the confounds already hold cosines (fMRIPrep's).
    """
    if strategy.filter != "cosine" or strategy.high_pass is None:
        return 0
    if any("cosine" in name for name in names):
        return 0
    return int(min(n_volumes - 1, math.floor(2 * n_volumes * strategy.high_pass * t_r)))


def _butterworth_dof(strategy: DenoiseStrategy, n_kept: int, t_r: float | None) -> int:
    """Approximate degrees of freedom a Butterworth filter removes.

    The kept series of n volumes has n DCT frequencies spread evenly over
    [0, Nyquist]; the filter removes those outside [high_pass, low_pass].
    """
    if strategy.filter != "butterworth" or (strategy.low_pass is None and strategy.high_pass is None):
        return 0
    nyquist = 0.5 / t_r
    lower = min(strategy.high_pass or 0.0, nyquist)
    upper = min(strategy.low_pass, nyquist) if strategy.low_pass is not None else nyquist
    kept_fraction = max(upper - lower, 0.0) / nyquist
    return int(round(n_kept * (1.0 - kept_fraction)))


def _check_not_excluded(
    strategy: DenoiseStrategy,
    source: str,
    n_volumes: int,
    sample_mask: np.ndarray,
    dummies: np.ndarray,
    motion_outliers: np.ndarray,
    n_regressors: int,
    t_r: float | None = None,
) -> None:
    """Raise RunExcluded naming every rule the kept volumes break (joined by "; ")."""
    n_kept = int(sample_mask.size)
    reasons = []
    try:
        _check_some_volume_kept(
            source, strategy.name, n_volumes, n_kept, dummies.size, motion_outliers.size, _thresholds_text(strategy)
        )
    except RunExcluded as excluded:
        reasons.append(excluded.reason)
    else:
        if n_kept <= n_regressors:
            reasons.append(
                f"only {n_kept} of {n_volumes} volumes are kept ({dummies.size} non-steady-state, "
                f"{motion_outliers.size} motion outliers{_thresholds_text(strategy)}), which is not "
                f"more than the {n_regressors} regressors."
            )
    if strategy.min_time and n_kept * t_r < strategy.min_time:
        reasons.append(
            f"the {n_kept} kept volumes last {n_kept * t_r:g} s (TR {t_r:g} s), less than the "
            f"minimum of {strategy.min_time:g} s (min_time)."
        )
    if reasons:
        raise RunExcluded(source, "; ".join(reason.rstrip(".") for reason in reasons) + ".", strategy.name)


def _thresholds_text(strategy: DenoiseStrategy) -> str:
    if not strategy.censors_motion:
        return ""
    return _censoring_text(strategy.fd_threshold, strategy.std_dvars_threshold, strategy.min_segment_length)
