"""From run results to the HTML reports (:mod:`regionseries.report`).

:func:`run_report` converts a :class:`~.model.RunResult` into the report
model's ``RunReport``; :func:`draw_figures_ahead` draws a run's own figures
in the worker process that ran it; :func:`write_participant_report` renders
``sub-<label>.html``. The report package is imported inside the functions
that draw (matplotlib and jinja2 are start-up a job without reports does not
need, see docs/performance.md "Reports"); garbage collection is spared the
objects that already exist while a report is drawn
(:func:`_sparing_the_collector`).
"""

from __future__ import annotations

import functools
import gc
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from .._version import __version__
from ..atlases.base import Atlas
from ..bids import readable
from ..bids.inputs import RunInputs
from ..bids.outputs import remove_stale_temporaries
from ..bids.readable import UnreadableFile
from ..core.confounds.plans import strategy_settings_used
from .model import (
    STATUS_DONE,
    STATUS_FAILED,
    STATUS_SKIPPED,
    PipelineOptions,
    RunResult,
)
from .operators import atlas_image_on_grid

LOGGER = logging.getLogger("regionseries")


def draw_figures_ahead(result: RunResult, options: PipelineOptions) -> None:
    """Draw a processed run's own report figures now, into ``result.report_figures``.

    Called by worker processes (``PipelineOptions.draw_run_figures``) after
    :func:`process_run`, so that the figures of several runs are drawn in
    parallel; by then the run's outputs are complete, and stopping the job
    (SIGTERM) does not interrupt this step. A failure only means the page
    draws them later; it never fails the run.
    """
    if options.draw_run_figures and _reportable(result):
        result.report_figures = _draw_run_figures(result, result.atlas_objects, options)


def _reportable(result: RunResult) -> bool:
    """Whether a run gets its section of the participant page: it was processed, or every
    strategy excluded it (a scientific exclusion, not a failure: its QC figures are shown)."""
    return result.status == STATUS_DONE and bool(result.n_volumes) and bool(
        result.atlases or (result.strategies and all(s.status == "excluded" for s in result.strategies)))


def _sparing_the_collector(function):
    """Run ``function`` with the objects that exist already exempt from garbage collection.

    By the time a report is drawn the process holds the dataset's index and
    the libraries (about 140,000 tracked objects); the report's allocations
    set off a full collection over all of them: 80-110 ms, a fifth of a
    run's report. ``gc.freeze`` exempts them until the report is written;
    what the report allocates is collected as usual.
    """
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        frozen_already = gc.get_freeze_count() > 0  # then leave them frozen, as whoever froze them
        gc.freeze()
        try:
            return function(*args, **kwargs)
        finally:
            if not frozen_already:
                gc.unfreeze()

    return wrapper


@_sparing_the_collector
def _draw_run_figures(result: RunResult, atlases: Sequence[Atlas], options: PipelineOptions) -> dict | None:
    # Imported here, not at the top: see write_participant_report.
    from ..report import draw_run_figures

    try:
        report = run_report(result, atlases, options, overlays=False)
        return draw_run_figures(report, options.output_dir, result.run.entities.get("sub", ""),
                                frame_dir=report_frames_dir(options))
    except Exception as exc:  # noqa: BLE001 - the report must not cost the outputs
        # (a full disk included: the next output written, a run's or the report, stops the job)
        LOGGER.debug("figures of %s not drawn ahead: %s: %s", result.run.bold.name, type(exc).__name__, exc)
        return None


def _reference_image(run: RunInputs):
    """The image drawn under the atlases: fMRIPrep's boldref, else the brain mask."""
    name = run.bold.name
    for marker in ("_desc-preproc_bold.nii.gz", "_desc-preproc_bold.nii"):
        if name.endswith(marker):
            candidate = run.bold.with_name(name[: -len(marker)] + "_boldref" + marker[len("_desc-preproc_bold"):])
            if os.path.lexists(candidate):
                try:
                    return readable.read_nifti_data(candidate, ndim=(3, 4)), "BOLD reference (fMRIPrep boldref)"
                except UnreadableFile as exc:
                    LOGGER.warning("%s; the report draws the atlases over the brain mask instead", exc)
    if run.mask is not None:
        return nib.load(str(run.mask)), "brain mask"
    return None, ""


def report_frames_dir(options: PipelineOptions) -> Path:
    """Where report figures' frames are kept (:func:`regionseries.report.raster.cached_frame`):
    next to the operators, so that the jobs of a study share them."""
    return (options.cache_dir or options.work_dir) / "report-frames"


def run_report(result: RunResult, atlases: Sequence[Atlas], options: PipelineOptions, overlays: bool = True):
    """Convert a processed run into the report model's :class:`~regionseries.report.RunReport`.

    ``overlays=False`` leaves out the atlases on the run's grid (only the
    shared overlay figures need them).
    """
    # Imported here, not at the top: see write_participant_report.
    from ..report import AtlasResult, RunReport, StrategyResult

    run = result.run
    # a surface run has vertices, not voxels: no size in mm3 and no overlay on a grid (yet)
    img = None if run.surface else nib.load(str(run.bold))
    voxel_volume = np.nan if img is None else float(abs(np.linalg.det(img.affine[:3, :3])))
    std_dvars = _std_dvars(run, result.n_volumes)
    fd = result.fd if result.fd is not None and len(result.fd) == result.n_volumes else None
    by_desc = {strategy.desc: strategy for strategy in options.strategies}
    # Non-steady-state volumes do not depend on the strategy: those of a planned one serve the others.
    dummies = next((o.plan.dummy_volumes for o in result.strategies if o.plan is not None), None)
    strategies = []
    for outcome in result.strategies:
        if outcome.plan is None:
            strategies.append(_unplanned_strategy(outcome, by_desc.get(outcome.desc), fd, std_dvars, dummies))
            continue
        plan = outcome.plan
        strategy = plan.strategy
        strategies.append(StrategyResult(
            name=outcome.desc, kept_volumes=plan.sample_mask, dummy_volumes=plan.dummy_volumes,
            motion_censored_volumes=plan.motion_outliers,
            fd_threshold=strategy.fd_threshold if strategy.censors_motion else None,
            std_dvars_threshold=strategy.std_dvars_threshold if strategy.censors_motion else None,
            n_regressors=len(plan.confound_names), dof_lost=plan.dof_lost,
            parameters=strategy_settings_used(strategy), confound_columns=plan.confound_names,
            filtered_fd=plan.filtered_fd,

        ))
    by_name = {a.name: a for a in atlases}
    atlas_results = []
    for outcome in result.atlases:
        atlas = by_name[outcome.name]
        sizes = np.asarray(outcome.n_voxels, dtype=float) * voxel_volume
        total = sizes.sum()
        atlas_results.append(AtlasResult(
            name=atlas.name, kind=atlas.kind, region_names=outcome.names,
            label_values=atlas.table["index"].tolist() if atlas.kind == "labels" else list(range(atlas.n_regions)),
            size_mm3=None if img is None else sizes,
            relative_size_percent=100 * sizes / total if total > 0 else None,
            coverage=np.clip(outcome.coverage, 0, 1), regions_na=outcome.regions_below_coverage + [
                n for n in outcome.missing_regions if n not in outcome.regions_below_coverage],
            image=(atlas_image_on_grid(atlas, img.shape, img.affine, options.smoothing_fwhm, options.operators_dir)
                   if overlays and img is not None else None),
            sphere_coordinates_mm=atlas.coordinates, sphere_radius_mm=atlas.radius,
            description=atlas.spec,
        ))
    measure = options.connectivity[0] if options.connectivity else "correlation"
    connectivity = {(a, s): m for (a, s, kind), m in result.connectivity.items() if kind == measure}
    reference, reference_description = _reference_image(run)
    return RunReport(
        participant=run.entities.get("sub", ""), session=run.entities.get("ses"),
        entities={k: v for k, v in run.entities.items() if k not in ("sub", "ses", "desc")},
        bold_file=str(run.bold), confounds_file=str(run.confounds) if run.confounds else None,
        mask_file=str(run.mask) if run.mask else None, space=run.entities.get("space"),
        repetition_time=run.repetition_time, n_volumes=result.n_volumes, fd=fd,
        strategies=strategies, atlases=atlas_results, reference_image=reference,
        reference_description=reference_description, raw_signals=result.raw_signals,
        clean_signals=result.clean_signals, connectivity=connectivity,
        connectivity_measure=measure, warnings=result.warnings, software_version=__version__,
        parameters={"smoothing_fwhm_mm": options.smoothing_fwhm, "min_coverage": options.min_coverage,
                    "connectivity": list(options.connectivity), "estimator": options.estimator,
                    "dummy_scans": options.dummy_scans},
        std_dvars=std_dvars,
    )


def _std_dvars(run: RunInputs, n_volumes: int) -> np.ndarray | None:
    """The run's standardized DVARS per volume (fMRIPrep's ``std_dvars``), None when unknown.

    Read here, from the confounds file the run was planned with, rather than
    carried in the :class:`RunResult` (only the report draws it).
    """
    if run.confounds is None:
        return None
    try:
        table = pd.read_csv(run.confounds, sep="\t", usecols=lambda name: name == "std_dvars",
                            na_values=["n/a"], keep_default_na=True)
    except (OSError, ValueError) as exc:
        LOGGER.debug("std_dvars of %s not read for the report: %s", run.confounds, exc)
        return None
    if "std_dvars" not in table or len(table) != n_volumes:
        return None
    return pd.to_numeric(table["std_dvars"], errors="coerce").to_numpy(float)


def _unplanned_strategy(outcome, strategy, fd: np.ndarray | None, std_dvars: np.ndarray | None,
                        dummies: np.ndarray | None):
    """A strategy that excluded or failed the run, for the report.

    It kept nothing; its thresholds are shown with the volumes above them
    (censored for FD or DVARS; the minimum-segment rule is not applied), so
    that the figures show why it excluded the run. ``dummies``: the run's
    non-steady-state volumes when another strategy planned them (None: unknown).
    """
    from ..report import StrategyResult

    reason = f"{outcome.status}: {outcome.reason}"
    if strategy is None or outcome.status != "excluded" or not strategy.censors_motion:
        return StrategyResult(name=outcome.desc, kept_volumes=[], excluded=True, exclusion_reason=reason,
                              parameters=strategy_settings_used(strategy) if strategy is not None else {})
    filtered_fd = outcome.excluded_plan.filtered_fd if outcome.excluded_plan is not None else None
    if filtered_fd is not None:  # its FD censoring used the FD of the motion-filtered parameters
        fd = filtered_fd
    above = np.zeros(len(fd) if fd is not None else len(std_dvars) if std_dvars is not None else 0, bool)
    for values, threshold in ((fd, strategy.fd_threshold), (std_dvars, strategy.std_dvars_threshold)):
        if values is not None and threshold is not None:
            with np.errstate(invalid="ignore"):
                above |= values > threshold
    dummies = np.asarray(dummies if dummies is not None else [], dtype=np.int64)
    return StrategyResult(
        name=outcome.desc, kept_volumes=[], dummy_volumes=dummies,
        motion_censored_volumes=np.setdiff1d(np.flatnonzero(above), dummies),
        fd_threshold=strategy.fd_threshold, std_dvars_threshold=strategy.std_dvars_threshold,
        excluded=True, exclusion_reason=reason, parameters=strategy_settings_used(strategy),
        filtered_fd=filtered_fd)



@_sparing_the_collector
def write_participant_report(participant: str, results: Sequence[RunResult], options: PipelineOptions) -> Path | None:
    """Render ``sub-<participant>.html`` from the run results of one participant.

    Runs skipped because their outputs existed are listed as warnings (their
    arrays are not available); nothing is written when no run was processed.
    """
    remove_stale_temporaries(options.output_dir / f"sub-{participant}" / "figures")
    # Runs in file order, whatever order the worker processes finished them in.
    results = sorted(results, key=lambda r: str(r.run.bold))
    processed = [r for r in results if _reportable(r)]
    failed = [r for r in results if r.status == STATUS_FAILED or (r.status == STATUS_DONE and not _reportable(r))]
    skipped = [r for r in results if r.status == STATUS_SKIPPED]
    if not processed and not failed:
        return None
    # Imported here, not at the top: matplotlib is ~0.5 s of start-up that a job
    # with nothing to report (or --no-reports) does not need.
    from ..report import FailedRun, ParticipantReport
    from ..report import write_participant_report as render

    runs = [run_report(r, r.atlas_objects, options) for r in processed]
    failed_runs = [FailedRun(str(r.run.bold), r.error or "; ".join(
        f"strategy {s.name}: {s.status}: {s.reason}" for s in r.strategies if s.status != STATUS_DONE))
        for r in failed]
    warnings = [f"{r.run.bold.name}: not reprocessed (outputs existed); rerun with --overwrite to include it"
                for r in skipped]
    report = ParticipantReport(participant=participant, runs=runs, failed_runs=failed_runs,
                               software_version=__version__, command_line=options.command_line,
                               warnings=warnings)
    drawn = {r.report_figures["prefix"]: r.report_figures for r in processed if r.report_figures}
    return render(report, options.output_dir, drawn=drawn, frame_dir=report_frames_dir(options))
