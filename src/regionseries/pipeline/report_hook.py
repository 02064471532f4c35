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
from ..atlases.surfaces import read_surface_labels
from ..atlases.templateflow import (
    SurfaceUnavailable,
    TemplateSurface,
    find_template_surface,
    surface_template_of,
    templateflow_home,
)
from ..bids import readable
from ..bids.inputs import RunInputs
from ..bids.outputs import remove_stale_temporaries
from ..bids.readable import UnreadableFile
from ..core.confounds.plans import strategy_settings_used
from ..core.extract.vertices import SURFACE_BACKGROUND, hemisphere_labels
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
        surface, surface_note, volume_part = None, "", None
        if overlays and run.surface:
            surface, surface_note, volume_part = _surface_pictures(run, atlas, result.vertex_covered)
        atlas_results.append(AtlasResult(
            name=atlas.name, kind=atlas.kind, region_names=outcome.names,
            label_values=atlas.table["index"].tolist() if atlas.kind == "labels" else list(range(atlas.n_regions)),
            size_mm3=None if img is None else sizes,
            relative_size_percent=100 * sizes / total if total > 0 else None,
            coverage=np.clip(outcome.coverage, 0, 1), regions_na=outcome.regions_below_coverage + [
                n for n in outcome.missing_regions if n not in outcome.regions_below_coverage],
            image=(atlas_image_on_grid(atlas, img.shape, img.affine, options.smoothing_fwhm, options.operators_dir)
                   if overlays and img is not None else volume_part),
            sphere_coordinates_mm=atlas.coordinates, sphere_radius_mm=atlas.radius,
            description=atlas.spec, surface=surface, surface_note=surface_note,
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


_CORTEX = (("left", "CIFTI_STRUCTURE_CORTEX_LEFT"), ("right", "CIFTI_STRUCTURE_CORTEX_RIGHT"))


def covered_vertices(usable: np.ndarray, brain_models: nib.cifti2.BrainModelAxis | None = None,
                     hemisphere_sizes: tuple[int, ...] = ()) -> dict[str, np.ndarray] | None:
    """Per hemisphere, True for the mesh vertices whose signal counts, as the extraction judged it.

    Parameters
    ----------
    usable : numpy.ndarray of bool, shape (N,)
        Per vertex (grayordinate) of the run, whether its signal counts:
        :attr:`~regionseries.core.extract.ExtractionResult.covered_voxels` of the
        run's one pass (finite and not constant; vertices in no region are False).
    brain_models : nibabel.cifti2.BrainModelAxis or None
        The grayordinates of a CIFTI run; vertices it does not hold (the medial
        wall) are False.
    hemisphere_sizes : tuple of int
        Vertices of the left and right hemispheres of a GIFTI pair.

    Returns
    -------
    dict or None
        ``{"left": ..., "right": ...}``; None for CIFTI grayordinates without both cortices.
    """
    if brain_models is None:
        n_left = hemisphere_sizes[0]
        return {"left": usable[:n_left], "right": usable[n_left:]}
    try:
        return _cifti_cortex_values(brain_models, usable, False)
    except KeyError:  # grayordinates without both cortices: no surface to show them on
        return None


def _cifti_cortex_values(models, values: np.ndarray, fill) -> dict[str, np.ndarray]:
    """``values`` (one per grayordinate) on the vertices of each cortex's mesh, ``fill`` elsewhere.

    Raises
    ------
    KeyError
        The grayordinates hold no cortex of one hemisphere.
    """
    names, vertices = np.asarray(models.name), np.asarray(models.vertex)
    per_hemisphere = {}
    for side, structure in _CORTEX:
        on_cortex = names == structure
        if not on_cortex.any():
            raise KeyError(structure)
        mesh = np.full(int(models.nvertices[structure]), fill, dtype=np.asarray(values).dtype)
        mesh[vertices[on_cortex]] = values[on_cortex]
        per_hemisphere[side] = mesh
    return per_hemisphere


@functools.lru_cache(maxsize=4)
def _template_surface(template: str, density: str, home: Path) -> TemplateSurface | str:
    """The template's surface files, or why there are none (logged once per process)."""
    try:
        return find_template_surface(template, density, home)
    except SurfaceUnavailable as exc:
        LOGGER.warning("reports: no surface picture of %s den-%s runs: %s", template, density, exc)
        return str(exc)


def _read_meshes(surface: TemplateSurface) -> tuple[dict, dict | None]:
    """``({"left": (coordinates, faces), ...}, sulcal depth per hemisphere or None)`` of a template
    surface, read once per process and template density (again when a file changed)."""
    files = tuple(sorted(surface.files.items())) + tuple(sorted((surface.sulcal_depth or {}).items()))
    stats = [(side, path, path.stat()) for side, path in files]
    return _read_mesh_files(tuple((side, str(path), stat.st_size, stat.st_mtime_ns) for side, path, stat in stats),
                            len(surface.files))


@functools.lru_cache(maxsize=4)
def _read_mesh_files(files: tuple, n_meshes: int) -> tuple[dict, dict | None]:
    meshes = {}
    for side, path, _, _ in files[:n_meshes]:
        img = nib.load(path)
        coordinates = img.get_arrays_from_intent("NIFTI_INTENT_POINTSET")
        faces = img.get_arrays_from_intent("NIFTI_INTENT_TRIANGLE")
        if len(coordinates) != 1 or len(faces) != 1:
            raise ValueError(f"{path} holds no single mesh (one point set, one triangle array)")
        meshes[side] = (np.asarray(coordinates[0].data, dtype=np.float32),
                        np.asarray(faces[0].data, dtype=np.int32))
    depth = {side: np.asarray(nib.load(path).darrays[0].data, dtype=np.float32).ravel()
             for side, path, _, _ in files[n_meshes:]}
    return meshes, depth or None


def _surface_pictures(run: RunInputs, atlas: Atlas, vertex_covered: dict | None):
    """The atlas on the template surface of a surface run, for the report.

    Returns
    -------
    surface : SurfaceAtlas or None
    note : str
        Empty, or the sentence saying why there is no surface picture.
    volume_part : nibabel image or None
        A CIFTI atlas's subcortical parcels on their voxel grid (drawn as slices).
    """
    from ..report import SurfaceAtlas

    if atlas.kind != "labels" or not atlas.surface_files:
        return None, "No surface picture: only label atlases are drawn on the surface yet.", None
    labels = read_surface_labels(atlas.name, atlas.surface_files)
    volume_part = None
    try:
        if labels.kind == "cifti":
            values = np.asarray(labels.labels[0])
            vertex_labels = _cifti_cortex_values(labels.brain_models, np.where(
                np.isin(values, SURFACE_BACKGROUND), 0, values), 0)
            volume_part = _cifti_volume_labels(labels.brain_models, values)
        else:
            vertex_labels = dict(zip(("left", "right"),
                                     hemisphere_labels(labels.labels[0], labels.labels[1], labels.right_offset)))
    except KeyError as exc:
        return None, f"No surface picture: the atlas file has no {exc.args[0]} vertices.", volume_part
    space, density = run.entities.get("space", ""), run.entities.get("den")
    try:
        template, mesh_density = surface_template_of(space, density, run.surface)
    except SurfaceUnavailable as exc:
        return None, f"No surface picture: {exc}.", volume_part
    found = _template_surface(template, mesh_density, templateflow_home())
    if isinstance(found, str):
        return None, f"No surface picture: {found}.", volume_part
    try:
        meshes, depth = _read_meshes(found)
    except Exception as exc:  # noqa: BLE001 - a damaged mesh costs the picture only
        LOGGER.warning("reports: the %s meshes cannot be read: %s: %s", found.description, type(exc).__name__, exc)
        return None, f"No surface picture: the {found.description} meshes cannot be read ({type(exc).__name__}).", \
            volume_part
    sizes = {side: len(meshes[side][0]) for side in meshes}
    wrong = [f"{side} {len(vertex_labels[side])} in the atlas, {sizes[side]} in the mesh"
             for side in sizes if len(vertex_labels[side]) != sizes[side]]
    if wrong:
        return None, (f"No surface picture: the {found.description} meshes do not have the atlas's vertices "
                      f"({'; '.join(wrong)})."), volume_part
    if vertex_covered is not None and any(len(vertex_covered[side]) != sizes[side] for side in sizes):
        vertex_covered = None
    if depth is not None and any(len(depth[side]) != sizes[side] for side in sizes):
        depth = None
    return SurfaceAtlas(meshes, vertex_labels, found.description, vertex_covered, depth), "", volume_part


def _cifti_volume_labels(models, values: np.ndarray):
    """The labels of a CIFTI atlas's voxel structures on their grid, None when it has none."""
    in_volume = np.asarray(models.volume_mask)
    if not in_volume.any() or not np.any(values[in_volume] > 0):
        return None
    data = np.zeros(tuple(models.volume_shape), dtype=np.int32)
    voxels = np.asarray(models.voxel)[in_volume].astype(int)
    data[tuple(voxels.T)] = np.where(values[in_volume] > 0, values[in_volume], 0)
    return nib.Nifti1Image(data, models.affine)


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
