"""One BOLD run: plan, extract once, clean per strategy, write (:func:`process_run`).

Skips a run whose outputs are complete (:mod:`.resume`), plans every strategy
(:mod:`.plan`), builds one operator per atlas on the run's grid
(:mod:`.operators`), reads the BOLD **once** for all atlases
(:func:`regionseries.core.extract.extract_signals`; strategies on full
ICA-AROMA read fMRIPrep's denoised BOLD instead), cleans the region signals
once per strategy (:func:`regionseries.signal.clean`) and writes the outputs
(:mod:`.writers`).

It never raises for a bad run: failures are recorded in the
:class:`~.model.RunResult` and in a ``*_qc.json`` per strategy with
``Status`` ``"failed"``. Only an interruption (SIGINT, SIGTERM) or a full
disk goes through, after removing the files this run had written.
"""

from __future__ import annotations

import logging
import os
import time
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from ..atlases.base import Atlas
from ..atlases.surfaces import read_surface_labels, read_surface_maps
from ..bids import readable
from ..bids.inputs import RunInputs
from ..bids.outputs import remove_stale_temporaries
from ..bids.readable import UnreadableFile
from ..core.atlas_images import finite_values
from ..core.connectivity import ConnectivityError, connectivity_matrix
from ..core.extract import extract_signals
from ..core.extract.vertices import (
    CiftiParcels,
    SurfaceSeries,
    cifti_labels_on,
    cifti_maps_on,
    extract_vertex_signals,
    gifti_pair_labels,
    gifti_pair_maps,
    parcels_axis,
    read_cifti_series,
    read_gifti_pair,
    vertex_labels_operator,
    vertex_maps_operator,
)
from ..core.image import check_same_fov, load_masker_mask, resample_img
from ..core.signal import clean
from ..core.signal.nonaggressive import remove_components_nonaggressively
from .linc import linc_rows, write_linc_qc
from .model import (
    STATUS_DONE,
    STATUS_FAILED,
    STATUS_SKIPPED,
    AtlasOutcome,
    PipelineOptions,
    RunFailed,
    RunResult,
    StrategyOutcome,
)
from .names import (
    CIFTI_MATRIX_EXTENSION,
    CIFTI_SERIES_EXTENSION,
    qc_name,
    relmat_name,
    timeseries_name,
)
from .operators import build_operator
from .plan import plan_strategies
from .report_hook import covered_vertices
from .resume import is_finished, settings_changed
from .writers import write_parcellated, write_qc, write_relmat, write_timeseries

LOGGER = logging.getLogger("regionseries")


class _ListHandler(logging.Handler):
    def __init__(self, sink: list[str]):
        super().__init__(level=logging.WARNING)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(record.getMessage())


def process_run(run: RunInputs, atlases: Sequence[Atlas], options: PipelineOptions) -> RunResult:
    """Process one BOLD run: plan, extract once, clean per strategy, write.

    Parameters
    ----------
    run : RunInputs
        The BOLD run and its companions.
    atlases : sequence of Atlas
        Atlases resolved for the run's space and voxel size.
    options : PipelineOptions

    Returns
    -------
    RunResult
        Never raises for data problems: failures are in ``status``/``error``
        and in the strategy outcomes.
    """
    started = time.perf_counter()
    result = RunResult(run=run, status=STATUS_DONE, repetition_time=run.repetition_time,
                       atlas_objects=list(atlases))
    result.warnings.extend(run.warnings)
    remove_stale_temporaries((options.output_dir / run.base_name.relpath).parent)
    if not options.overwrite and is_finished(run, atlases, options):
        result.status = STATUS_SKIPPED
        changed = settings_changed(run, options)
        if changed:
            result.warnings.append(
                f"{run.bold.name}: outputs of strategy {', '.join(changed)} exist but were made with other settings "
                "(see their *_qc.json 'Settings'); they were kept as they are: rerun with --overwrite, or write "
                "into another OUTPUT_DIR"
            )
        result.seconds = time.perf_counter() - started
        return result
    handler = _ListHandler(result.warnings)
    LOGGER.addHandler(handler)
    try:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                _process(run, atlases, options, result)
            for item in caught:
                message = str(item.message)
                if message not in result.warnings:
                    result.warnings.append(message)
        except (UnreadableFile, RunFailed) as exc:
            result.status, result.error = STATUS_FAILED, str(exc)
        except Exception as exc:  # noqa: BLE001 - one bad run must not stop the others
            result.status, result.error = STATUS_FAILED, f"{type(exc).__name__}: {exc}"
            LOGGER.debug("run %s failed:\n%s", run.bold, traceback.format_exc())
        if result.status == STATUS_FAILED:
            _record_failed_run(run, options, result)
    except BaseException:  # interrupted (SIGINT, SIGTERM) or disk full: the job stops here
        _remove_outputs(result.outputs)
        raise
    finally:
        LOGGER.removeHandler(handler)
    if not options.keep_arrays:
        result.raw_signals, result.clean_signals, result.connectivity = {}, {}, {}
    result.seconds = time.perf_counter() - started
    return result


def _record_failed_run(run: RunInputs, options: PipelineOptions, result: RunResult) -> None:
    """Write a ``*_qc.json`` with ``Status`` "failed" and the run's error for every
    strategy that has no record from this run yet (strategies that failed or were
    excluded on their own, or finished before the failure, keep theirs)."""
    recorded = {outcome.desc: outcome for outcome in result.strategies}
    for strategy in options.strategies:
        if options.output_dir / qc_name(run, strategy.desc).relpath in result.outputs:
            continue
        outcome = StrategyOutcome(strategy.name, strategy.desc, STATUS_FAILED, result.error)
        if strategy.desc in recorded:
            recorded[strategy.desc].status, recorded[strategy.desc].reason = STATUS_FAILED, result.error
        try:
            write_qc(run, outcome, options, result)
        except Exception as exc:  # noqa: BLE001 - the failure is still reported on the console
            LOGGER.warning("%s: the failure could not be recorded in its *_qc.json: %s: %s",
                           run.bold.name, type(exc).__name__, exc)


def _remove_outputs(paths: Sequence[Path]) -> None:
    """Remove the files an unfinished run wrote (or was writing)."""
    for path in paths:
        try:
            Path(path).unlink(missing_ok=True)
        except OSError as exc:
            LOGGER.warning("could not remove %s of an unfinished run: %s", path, exc)


def _process(run: RunInputs, atlases: Sequence[Atlas], options: PipelineOptions, result: RunResult) -> None:
    if run.problems:
        raise RunFailed("; ".join(run.problems))
    surface_series = img = mask = parcels = None
    if run.surface:
        surface_series = _read_surface_run(run)
        n_volumes = surface_series.n_volumes
    else:
        img = readable.open_nifti(run.bold, ndim=4, what="a BOLD series")
        n_volumes = int(img.shape[3])
    result.n_volumes = n_volumes
    if run.repetition_time is None:
        raise RunFailed(f"{run.bold.name}: repetition time unknown (no RepetitionTime in the sidecar or header)")
    if img is not None:
        mask = _brain_mask_on_grid(run, img, result.warnings)

    outcomes, fd = plan_strategies(run, n_volumes, options, result.warnings,
                                   qc_columns=result.confound_qc if options.linc_qc else None)
    result.strategies = outcomes
    result.fd = fd
    for outcome in outcomes:
        if outcome.status != STATUS_DONE:
            write_qc(run, outcome, options, result)
        if options.linc_qc and outcome.status == "excluded":  # its rows say why, without region measures
            write_linc_qc(run, outcome, linc_rows(run, outcome, [a.name for a in atlases], n_volumes,
                                                  result.confound_qc), options, result)

    runnable = [o for o in outcomes if o.status == STATUS_DONE]
    sources = _group_by_input_image(run, img, runnable, options, result)
    runnable = [o for o in outcomes if o.status == STATUS_DONE]
    if not runnable:
        if all(o.status == "excluded" for o in outcomes):
            return
        failed = [o for o in outcomes if o.status == STATUS_FAILED]
        if len({o.reason for o in failed}) == 1:  # e.g. one unusable confounds file
            raise RunFailed(failed[0].reason)
        raise RunFailed("; ".join(f"strategy {o.name}: {o.reason}" for o in failed))

    if surface_series is None:
        operators = {atlas.name: build_operator(atlas, img.shape, img.affine, options.smoothing_fwhm,
                                                cache_dir=options.operators_dir) for atlas in atlases}
    else:
        if options.smoothing_fwhm:
            result.warnings.append(f"{run.bold.name}: --smoothing-fwhm is not applied to surface runs")
        operators, vertex_labels = _surface_operators(run, atlases, surface_series)
        if run.surface == "cifti":  # maps are no sets of grayordinates: labels atlases only
            parcels = {name: CiftiParcels(parcels_axis(surface_series.brain_models, *labels))
                       for name, labels in vertex_labels.items()}
    # Cleaning and connectivity are small dense problems (T x k QR, K x K matrices): one BLAS
    # thread is faster; several only add synchronisation, costly when the cores are busy
    # (measured: a 400 x 40 QR took 381 ms with 2 OpenBLAS threads, 4.5 ms with 1).
    with threadpool_limits(limits=1, user_api="blas"):
        for source, source_outcomes in sources.items():
            # one pass over each input image for every atlas; normally only the preprocessed BOLD
            if surface_series is not None:
                with readable.reading(run.bold):
                    extracted = extract_vertex_signals(surface_series.reader, operators,
                                                       min_coverage=options.min_coverage, description=run.bold.name)
                if options.keep_arrays and extracted:  # the coverage on the surface in the report
                    usable = np.zeros(surface_series.reader.n_voxels, dtype=bool)
                    usable[next(iter(extracted.values())).covered_voxels] = True
                    result.vertex_covered = covered_vertices(usable, surface_series.brain_models,
                                                             surface_series.hemisphere_sizes)
            else:
                with readable.reading(source):
                    extracted = extract_signals(source, operators, mask=mask, min_coverage=options.min_coverage)
            if not result.atlases:
                for atlas in atlases:
                    one = extracted[atlas.name]
                    result.atlases.append(AtlasOutcome(
                        atlas.name, atlas.kind, list(one.names), np.asarray(one.coverage),
                        list(one.regions_below_coverage), list(one.missing_regions), np.asarray(one.n_voxels)))
                    result.raw_signals[atlas.name] = one.signals
            for outcome in source_outcomes:
                _clean_and_write(run, atlases, extracted, outcome, n_volumes, options, result, source, parcels)


def _read_surface_run(run: RunInputs) -> SurfaceSeries:
    """The header of a CIFTI or GIFTI run (its data are streamed later); a file nibabel cannot read fails the run."""
    try:
        if run.surface == "cifti":
            return read_cifti_series(run.bold)
        return read_gifti_pair(*run.hemispheres)
    except ValueError as exc:
        raise RunFailed(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - nibabel raises many types for a damaged file
        raise RunFailed(f"{', '.join(str(path) for path in run.bold_files)}: cannot be read as "
                        f"{'CIFTI-2' if run.surface == 'cifti' else 'GIFTI'}: {type(exc).__name__}: {exc}") from None


def _surface_operators(run: RunInputs, atlases: Sequence[Atlas], series: SurfaceSeries) -> tuple[dict, dict]:
    """The extraction operators of the atlases on the run's vertices, and for the labels atlases
    ``name -> (label per vertex of the run, label values, names)`` (their CIFTI parcels).

    Non-finite map weights count as 0, with the warning of volumetric maps
    (:mod:`regionseries.core.atlas_images`).

    Raises
    ------
    RunFailed
        An atlas is on another surface, density or volume grid than the run.
    """
    operators, vertex_labels = {}, {}
    for atlas in atlases:
        try:
            if atlas.kind == "maps":
                found = read_surface_maps(atlas.name, atlas.surface_files)
                if run.surface == "cifti":
                    maps = cifti_maps_on(found.brain_models, found.maps[0], series.brain_models)
                else:
                    maps = gifti_pair_maps(found.maps[0], found.maps[1], series.hemisphere_sizes)
                what = f"the maps of atlas {atlas.name} ({', '.join(path.name for path in atlas.surface_files)})"
                operators[atlas.name] = vertex_maps_operator(finite_values(maps, what), atlas.names,
                                                             source_name=f"atlas {atlas.name}")
                continue
            labels = read_surface_labels(atlas.name, atlas.surface_files)
            if run.surface == "cifti":
                on_run = cifti_labels_on(labels.brain_models, labels.labels[0], series.brain_models)
            else:
                on_run = gifti_pair_labels(labels.labels[0], labels.labels[1], series.hemisphere_sizes,
                                           labels.right_offset)
        except ValueError as exc:  # also MapsOperator's: no map left with a weight on the run's vertices
            files = ", ".join(str(path) for path in atlas.surface_files)
            raise RunFailed(f"atlas {atlas.name} ({files}) does not fit {run.bold.name}: {exc}") from None
        vertex_labels[atlas.name] = (on_run, atlas.table["index"].tolist(), atlas.names)
        operators[atlas.name] = vertex_labels_operator(*vertex_labels[atlas.name], source_name=f"atlas {atlas.name}")
    return operators, vertex_labels


def _brain_mask_on_grid(run: RunInputs, img, messages: list[str]) -> np.ndarray | None:
    """The run's brain mask as a boolean array on the BOLD's grid (None without a mask).

    Read in full now, so that a damaged mask fails the run with its own name.
    A mask on another grid (e.g. stored LAS beside a RAS BOLD) is resampled
    to the BOLD's with nearest neighbour, as nilearn's maskers do, and said so.

    Raises
    ------
    UnreadableFile
        The mask cannot be read, or has more than one volume.
    ValueError
        The mask is empty.
    """
    if run.mask is None:
        return None
    mask_img = readable.read_nifti_data(run.mask, ndim=(3, 4), what="a brain mask")
    if len(mask_img.shape) == 4 and mask_img.shape[3] != 1:
        raise UnreadableFile(run.mask, f"has {mask_img.shape[3]} volumes (shape "
                                       f"{' x '.join(map(str, mask_img.shape))}); a brain mask must be 3D")
    mask_img = load_masker_mask(mask_img)
    shape, affine = tuple(img.shape[:3]), img.affine
    if not check_same_fov(mask_img, (shape, affine)):
        messages.append(f"{run.mask.name} is not on the grid of {run.bold.name}: resampled to it "
                        "(nearest neighbour)")
        mask_img = resample_img(mask_img, affine, shape, interpolation="nearest")
    return np.asarray(mask_img.dataobj).astype(bool)


def _aroma_image(run: RunInputs) -> Path | None:
    """The ICA-AROMA non-aggressively denoised BOLD of the same run, space and resolution:
    fMRIPost-AROMA's ``desc-nonaggrDenoised_bold`` (``--datasets aroma``), else fMRIPrep's."""
    if run.aroma_bold is not None:
        return run.aroma_bold
    for marker in ("_desc-preproc_bold.nii.gz", "_desc-preproc_bold.nii"):
        if run.bold.name.endswith(marker):
            candidate = run.bold.with_name(run.bold.name[: -len(marker)] + "_desc-smoothAROMAnonaggr_bold"
                                           + marker[len("_desc-preproc_bold"):])
            return candidate if os.path.lexists(candidate) else None  # a broken link is reported as such
    return None


def _group_by_input_image(run: RunInputs, img, runnable: list[StrategyOutcome], options: PipelineOptions,
                          result: RunResult) -> dict[Path, list[StrategyOutcome]]:
    """Which image each strategy reads: the preprocessed BOLD, or (full ICA-AROMA) fMRIPrep's
    non-aggressively denoised ``desc-smoothAROMAnonaggr_bold`` of the same run and space."""
    sources: dict[Path, list[StrategyOutcome]] = {}
    for outcome in runnable:
        source = run.bold
        if outcome.plan.strategy.requires_aroma_image:
            source = _aroma_image(run)
            reason = None
            if source is None and "aroma" in options.datasets:
                reason = (f"strategy {outcome.name} (full ICA-AROMA) needs fMRIPost-AROMA's desc-nonaggrDenoised_bold "
                          f"of {run.bold.name} in the same space and resolution: there is none in "
                          f"{options.datasets['aroma']}, nor fMRIPrep's desc-smoothAROMAnonaggr_bold next to it "
                          "(fMRIPost-AROMA writes it with --denoising-method nonaggr, in MNI152NLin6Asym res-2 by "
                          "default); ica_aroma 'orthaggr' or 'basic' need no image")
            elif source is None:
                reason = (f"strategy {outcome.name} (full ICA-AROMA) needs fMRIPrep's desc-smoothAROMAnonaggr_bold "
                          f"next to {run.bold.name}, in the same space (fMRIPrep < 23.1 with --use-aroma writes it "
                          "in MNI152NLin6Asym; newer fMRIPrep needs fMRIPost-AROMA: give its output folder with "
                          "--datasets aroma=PATH, where its desc-nonaggrDenoised_bold in this space is read, or use "
                          "ica_aroma 'orthaggr' or 'basic', which need no image)")
            elif img is None:
                reason = (f"strategy {outcome.name} (full ICA-AROMA) reads a denoised volumetric BOLD; {run.bold.name} "
                          "is a surface run: use ica_aroma 'orthaggr' or 'basic', which need no image")
            else:
                try:
                    aroma_shape = readable.open_nifti(source, ndim=4, what="a BOLD series").shape
                except UnreadableFile as exc:
                    aroma_shape, reason = None, f"strategy {outcome.name} (full ICA-AROMA): {exc}"
                if aroma_shape is not None and aroma_shape != img.shape:
                    reason = f"{source.name} has shape {aroma_shape}, {run.bold.name} {img.shape}"
            if reason is not None:
                outcome.status, outcome.reason, outcome.plan = STATUS_FAILED, reason, None
                write_qc(run, outcome, options, result)
                continue
        sources.setdefault(source, []).append(outcome)
    return sources


def _clean_and_write(run: RunInputs, atlases: Sequence[Atlas], extracted: dict, outcome: StrategyOutcome,
                     n_volumes: int, options: PipelineOptions, result: RunResult, source: Path,
                     parcels: dict | None = None) -> None:
    """Clean the extracted signals with one strategy and write its outputs (and, for a CIFTI
    run, the ``ptseries.nii``/``pconn.nii`` of each labels atlas's ``parcels`` axis)."""
    plan = outcome.plan
    linc_signals = {}
    for atlas in atlases:
        one = extracted[atlas.name]
        signals = one.signals
        if plan.nonaggressive is not None:
            signals = remove_components_nonaggressively(signals, *plan.nonaggressive, sample_mask=plan.sample_mask)
        kept = clean(signals, confounds=plan.confounds, sample_mask=plan.sample_mask,
                     t_r=run.repetition_time, **plan.clean_kwargs)
        if options.linc_qc:
            linc_signals[atlas.name] = (one.signals, kept)
        full = np.full((n_volumes, one.signals.shape[1]), np.nan)
        full[plan.sample_mask] = kept
        result.clean_signals[(atlas.name, outcome.desc)] = full
        write_timeseries(run, atlas, one, outcome, full, options, result, source)
        if parcels is not None and atlas.name in parcels:
            write_parcellated(options.output_dir / timeseries_name(run, atlas.name, outcome.desc).replace(
                extension=CIFTI_SERIES_EXTENSION).relpath, full, parcels[atlas.name], result, run.repetition_time)
        for kind in options.connectivity:
            try:
                matrix = connectivity_matrix(kept, kind, estimator=options.estimator)
            except ConnectivityError as exc:
                result.warnings.append(f"{run.bold.name}, atlas {atlas.name}, strategy {outcome.name}: "
                                       f"no {kind} matrix: {exc}")
                continue
            result.connectivity[(atlas.name, outcome.desc, kind)] = matrix
            write_relmat(run, atlas, outcome, kind, matrix, plan.n_kept, options, result)
            if parcels is not None and atlas.name in parcels:
                write_parcellated(options.output_dir / relmat_name(run, atlas.name, outcome.desc, kind).replace(
                    extension=CIFTI_MATRIX_EXTENSION).relpath, matrix, parcels[atlas.name], result)
    if options.linc_qc:
        write_linc_qc(run, outcome, linc_rows(run, outcome, [a.name for a in atlases], n_volumes,
                                              result.confound_qc, linc_signals), options, result)
    write_qc(run, outcome, options, result)
