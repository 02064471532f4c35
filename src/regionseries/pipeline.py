"""One BOLD run through the whole pipeline.

For a run and a set of atlases and strategies, :func:`process_run`:

1. plans the confounds of every strategy (:func:`regionseries.core.confounds.plan_denoising`);
   a strategy the run cannot support (every volume censored, too few kept
   volumes) is *excluded* — recorded with its reason, the others continue;
2. builds one extraction operator per atlas on the run's grid (atlases are
   resampled to the BOLD grid; operators are cached per grid within a
   process) and reads the BOLD **once** for all atlases
   (:func:`regionseries.core.extract.extract_signals`);
3. cleans the region signals once per strategy (:func:`regionseries.signal.clean`)
   — cleaning region signals equals cleaning voxels then averaging, for the
   linear steps the strategies use;
4. writes, per atlas and strategy, a time-series TSV with ONE ROW PER BOLD
   VOLUME (removed volumes are ``n/a``, so rows stay aligned with
   ``SamplingFrequency``) and its JSON sidecar, the connectivity matrices of
   the kept volumes, and a per-strategy QC record (``*_qc.json``), all
   atomically.

It never raises for a bad run: the returned :class:`RunResult` says what was
done, excluded or failed and why, and carries the arrays a report needs. A
run whose files cannot be read (:mod:`regionseries.bids.readable`) or that
fails for any other reason gets a ``*_qc.json`` per strategy with ``Status``
``"failed"`` and the ``Reason``. Only what must stop the whole job goes
through: an interruption (SIGINT, SIGTERM) or a full disk
(:class:`~regionseries.bids.outputs.DiskFull`); the files this run had
written are then removed, so each run's outputs are all there or absent.
"""

from __future__ import annotations

import functools
import gc
import logging
import math
import os
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ._version import __version__
from .atlases.base import Atlas
from .bids import readable
from .bids.inputs import RunInputs, relative_to_dataset
from .bids.names import BIDSName, bids_uri
from .bids.outputs import atomic_write_json, atomic_write_tsv, json_text, remove_stale_temporaries
from .bids.readable import UnreadableFile
from .core.atlas_images import (
    LABELS_INTERPOLATION,
    MAPS_INTERPOLATION,
    labels_operator,
    maps_operator,
)
from .core.connectivity import (
    MEASURE_NAMES,
    STAT_LABELS,
    ConnectivityError,
    connectivity_matrix,
)
from .core.image import check_same_fov, load_masker_mask, resample_img

LOGGER = logging.getLogger("regionseries")

STATUS_DONE = "done"
STATUS_SKIPPED = "skipped"
STATUS_FAILED = "failed"


class RunFailed(Exception):
    """A run that cannot give any output; ``str()`` is the reason, as the user reads it."""


@dataclass
class PipelineOptions:
    """Settings of the participant level shared by every run.

    Attributes
    ----------
    bids_dir, output_dir, work_dir : Path
    strategies : list of DenoiseStrategy
        Strategies with command-line overrides already applied.
    dummy_scans : None, int or "auto"
        Non-steady-state volumes (see ``plan_denoising``).
    smoothing_fwhm : float or None
        Spatial smoothing before extraction, mm.
    min_coverage : float
        Regions covered below this fraction are ``n/a``.
    connectivity : tuple of str
        Measures to compute (empty for none).
    estimator : str
        Covariance estimator (``empirical`` or ``ledoit-wolf``).
    overwrite : bool
        Recompute runs whose outputs exist.
    command_line : str
        For provenance.
    atlas_files : dict
        ``Atlas.key -> {"image", "table", "sidecar"}`` paths of the
        atlases in ``atlases/`` (relative to the output folder).
    keep_arrays : bool
        Return signals and matrices in the result (for reports).
    draw_run_figures : bool
        Draw each run's own report figures right after processing it (set
        with worker processes, so figures of several runs are drawn in
        parallel instead of all at the end; see :func:`draw_figures_ahead`).
    cache_dir : Path or None
        Folder of the extraction operators shared by the jobs of a study
        (``--cache-dir``); None: the work folder.
    """

    bids_dir: Path
    output_dir: Path
    work_dir: Path
    strategies: list
    dummy_scans: int | str | None = None
    smoothing_fwhm: float | None = None
    min_coverage: float = 0.5
    connectivity: tuple[str, ...] = ("correlation",)
    estimator: str = "empirical"
    overwrite: bool = False
    command_line: str = ""
    atlas_files: dict = field(default_factory=dict)
    keep_arrays: bool = True
    draw_run_figures: bool = False
    cache_dir: Path | None = None

    @property
    def operators_dir(self) -> Path:
        """Where extraction operators are kept between processes and jobs."""
        return (self.cache_dir or self.work_dir) / "operators"


@dataclass
class StrategyOutcome:
    """What happened to one strategy on one run.

    ``status`` is ``"done"``, ``"excluded"`` (the data cannot support the
    strategy, e.g. too many censored volumes: a scientific exclusion) or
    ``"failed"`` (an input problem, e.g. no confounds file).
    """

    name: str
    desc: str
    status: str
    reason: str | None = None
    plan: Any = None  # DenoisingPlan

    @property
    def summary(self) -> dict[str, Any]:
        return self.plan.summary() if self.plan is not None else {}


@dataclass
class AtlasOutcome:
    """Extraction facts of one atlas on one run."""

    name: str
    kind: str
    names: list[str]
    coverage: np.ndarray
    regions_below_coverage: list[str]
    missing_regions: list[str]
    n_voxels: np.ndarray


@dataclass
class RunResult:
    """The outcome of :func:`process_run` (a hook for reports and summaries)."""

    run: RunInputs
    status: str
    error: str | None = None
    n_volumes: int | None = None
    repetition_time: float | None = None
    strategies: list[StrategyOutcome] = field(default_factory=list)
    atlases: list[AtlasOutcome] = field(default_factory=list)
    outputs: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    fd: np.ndarray | None = None
    raw_signals: dict[str, np.ndarray] = field(default_factory=dict)
    clean_signals: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    connectivity: dict[tuple[str, str, str], np.ndarray] = field(default_factory=dict)
    seconds: float = 0.0
    atlas_objects: list = field(default_factory=list)
    #: The run's own report figures, drawn where the run was processed
    #: (``PipelineOptions.draw_run_figures``); see ``report.draw_run_figures``.
    report_figures: dict | None = None

    @property
    def failures(self) -> list[tuple[str, str]]:
        """``(file, reason)`` of every failure (whole run or strategy)."""
        if self.status == STATUS_FAILED:
            return [(str(self.run.bold), self.error or "unknown error")]
        return [(str(self.run.bold), f"strategy {s.name}: {s.reason}") for s in self.strategies if s.status == STATUS_FAILED]

    @property
    def exclusions(self) -> list[tuple[str, str]]:
        return [(str(self.run.bold), f"strategy {s.name}: {s.reason}") for s in self.strategies if s.status == "excluded"]


# --------------------------------------------------------------------------------------
# Output names
# --------------------------------------------------------------------------------------

def timeseries_name(run: RunInputs, atlas: str, strategy_desc: str) -> BIDSName:
    return run.base_name.replace(atlas=atlas, desc=strategy_desc, suffix="timeseries", extension=".tsv")


def relmat_name(run: RunInputs, atlas: str, strategy_desc: str, kind: str) -> BIDSName:
    return run.base_name.replace(atlas=atlas, stat=STAT_LABELS[kind], desc=strategy_desc,
                                 suffix="relmat", extension=".tsv")


def qc_name(run: RunInputs, strategy_desc: str) -> BIDSName:
    return run.base_name.replace(desc=strategy_desc, suffix="qc", extension=".json")


def expected_outputs(run: RunInputs, atlases: Sequence[Atlas], strategy_desc: str,
                     kinds: Sequence[str]) -> list[BIDSName]:
    """Time series and relmat names (TSV and JSON) of one run and strategy."""
    names = []
    for atlas in atlases:
        series = timeseries_name(run, atlas.name, strategy_desc)
        names += [series, series.replace(extension=".json")]
        for kind in kinds:
            matrix = relmat_name(run, atlas.name, strategy_desc, kind)
            names += [matrix, matrix.replace(extension=".json")]
    return names


def run_settings(strategy, options: PipelineOptions) -> dict[str, Any]:
    """The settings that decide a strategy's outputs, as recorded in its ``*_qc.json``.

    Atlases and connectivity measures are not included: outputs of other
    atlases or measures have other names, so :func:`is_finished` finds them
    missing anyway.
    """
    import json

    settings = {
        "Strategy": strategy.to_dict(),
        "DummyScans": options.dummy_scans,
        "SmoothingFWHM": options.smoothing_fwhm,
        "MinimumCoverage": options.min_coverage,
        "Estimator": options.estimator,
    }
    return json.loads(json_text(settings))  # as it reads back from the JSON file


def settings_changed(run: RunInputs, options: PipelineOptions) -> list[str]:
    """Strategies whose existing QC record was written with other settings.

    Records without settings (older versions) or unreadable ones count as
    unchanged.
    """
    import json

    changed = []
    for strategy in options.strategies:
        record = options.output_dir / qc_name(run, strategy.desc).relpath
        try:
            recorded = json.loads(record.read_text(encoding="utf-8")).get("Settings")
        except (OSError, ValueError):
            continue
        if recorded is not None and recorded != run_settings(strategy, options):
            changed.append(strategy.name)
    return changed


def is_finished(run: RunInputs, atlases: Sequence[Atlas], options: PipelineOptions) -> bool:
    """Whether every strategy of this run has complete outputs.

    A strategy is finished when its QC record exists and either says the run
    was excluded, or all its time series and matrices exist. Failed
    strategies (input problems) are retried.
    """
    import json

    out = options.output_dir
    for strategy in options.strategies:
        record = out / qc_name(run, strategy.desc).relpath
        if not record.exists():
            return False
        try:
            status = json.loads(record.read_text(encoding="utf-8")).get("Status")
        except (OSError, ValueError):
            return False
        if status == "excluded":
            continue
        if status != STATUS_DONE:
            return False
        for name in expected_outputs(run, atlases, strategy.desc, options.connectivity):
            if not (out / name.relpath).exists():
                return False
    return True


# --------------------------------------------------------------------------------------
# Operators (cached per process and grid)
# --------------------------------------------------------------------------------------

_OPERATOR_CACHE: dict[tuple, Any] = {}
_OPERATOR_CACHE_LIMIT = 16


def _grid_key(shape: Sequence[int], affine: np.ndarray) -> tuple:
    return tuple(int(n) for n in shape[:3]), np.round(np.asarray(affine, dtype=float), 6).tobytes()


def _operator_cache_path(cache_dir: Path, atlas: Atlas, grid: tuple, smoothing_fwhm) -> Path:
    """File of an operator in the work folder: a digest of everything it depends on."""
    from . import cache

    identity: list[Any] = [atlas.name, atlas.radius, grid, smoothing_fwhm, list(atlas.names)]
    if atlas.image is not None:
        interpolation = LABELS_INTERPOLATION if atlas.kind == "labels" else MAPS_INTERPOLATION
        identity += [cache.file_identity(atlas.image), interpolation]
    if atlas.kind == "labels":
        identity.append(atlas.table["index"].tolist())
    if atlas.coordinates is not None:
        identity.append(np.asarray(atlas.coordinates, dtype=float).tobytes().hex())
    return cache.cache_path(cache_dir, atlas.kind, *identity, suffix=".pickle")


def build_operator(atlas: Atlas, shape: Sequence[int], affine: np.ndarray, smoothing_fwhm: float | None,
                   cache_dir: Path | None = None):
    """The extraction operator of ``atlas`` on a BOLD grid (atlas resampled to it).

    Images go through :mod:`regionseries.core.atlas_images`, the path the
    maskers take too: labels resampled with nearest neighbour, maps with
    linear interpolation a few maps at a time, any dtype; spheres are placed
    by their coordinates. Operators are cached per grid in the process and,
    with ``cache_dir`` (the work folder), on disk, so other worker processes,
    the report and later jobs load them instead of rebuilding them.
    """
    from . import cache

    shape = tuple(int(n) for n in shape[:3])
    key = (atlas.name, atlas.kind, str(atlas.image), atlas.radius, _grid_key(shape, affine), smoothing_fwhm)
    if key in _OPERATOR_CACHE:
        return _OPERATOR_CACHE[key]
    cache_path = None
    operator = None
    if cache_dir is not None:
        cache_path = _operator_cache_path(Path(cache_dir), atlas, _grid_key(shape, affine), smoothing_fwhm)
        operator = cache.load_object(cache_path)
        if operator is not None:
            LOGGER.debug("atlas %s: operator on a %s grid loaded from %s", atlas.name, "x".join(map(str, shape)),
                         cache_path)
    if operator is None:
        operator = _new_operator(atlas, shape, affine, smoothing_fwhm)
        if cache_path is not None:
            cache.save_object(cache_path, operator)
    if len(_OPERATOR_CACHE) >= _OPERATOR_CACHE_LIMIT:
        _OPERATOR_CACHE.pop(next(iter(_OPERATOR_CACHE)))
    _OPERATOR_CACHE[key] = operator
    return operator


def _new_operator(atlas: Atlas, shape: tuple[int, int, int], affine: np.ndarray, smoothing_fwhm: float | None):
    from .core.extract import SpheresOperator

    source_name = f"atlas {atlas.name}"
    if atlas.kind == "spheres":
        return SpheresOperator(
            atlas.coordinates, atlas.radius, shape, affine, allow_overlap=True, names=atlas.names,
            smoothing_fwhm=smoothing_fwhm, empty="nan", source_name=source_name,
        )
    if atlas.kind == "labels":
        return labels_operator(str(atlas.image), shape, affine, label_values=atlas.table["index"].tolist(),
                               names=atlas.names, reduction="mean", smoothing_fwhm=smoothing_fwhm,
                               source_name=source_name)
    return maps_operator(str(atlas.image), shape, affine, names=atlas.names, smoothing_fwhm=smoothing_fwhm,
                         source_name=source_name)


# --------------------------------------------------------------------------------------
# Planning
# --------------------------------------------------------------------------------------

def _no_confounds_table(n_volumes: int):
    """An empty confounds table, for strategies without regressors on a run without confounds."""
    from .core.confounds import ConfoundsTable

    return ConfoundsTable(tsv_path=Path("(no confounds file)"), json_path=None,
                          data=pd.DataFrame(index=range(n_volumes)), metadata=None)


def _needs_confounds(strategy) -> bool:
    return bool(strategy.components) or bool(strategy.extra_columns) or bool(strategy.extra_column_patterns)


def plan_strategies(run: RunInputs, n_volumes: int, options: PipelineOptions,
                    messages: list[str]) -> tuple[list[StrategyOutcome], np.ndarray | None]:
    """Plan every strategy for a run; returns the outcomes and the FD series (mm)."""
    from .core.confounds import (
        ConfoundsError,
        RunExcluded,
        plan_denoising,
        read_confounds,
    )

    table = None
    table_error = None
    fd = None
    if run.confounds is not None:
        try:
            readable.check_file(run.confounds)
            # a bad sidecar fails only the strategies that need it (anatomical CompCor), with its reason
            table = read_confounds(run.confounds, run.confounds_json)
            if table.sidecar_problem is not None and not any(s.needs_sidecar for s in options.strategies):
                messages.append(f"confounds JSON sidecar ignored (no strategy needs it): {table.sidecar_problem}")
            if "framewise_displacement" in table.data.columns:
                fd = pd.to_numeric(table.data["framewise_displacement"], errors="coerce").to_numpy(float)
        except (UnreadableFile, ConfoundsError) as exc:
            table_error = str(exc)
    outcomes = []
    for strategy in options.strategies:
        source = table
        if source is None:
            if _needs_confounds(strategy):
                reason = table_error or f"no confounds file for {run.bold.name} (strategy {strategy.name} needs one)"
                outcomes.append(StrategyOutcome(strategy.name, strategy.desc, STATUS_FAILED, reason))
                continue
            if options.dummy_scans in (None, "auto"):
                without = "no confounds file" if table_error is None else f"confounds unusable ({table_error})"
                messages.append(
                    f"{run.bold.name}: {without}, so no non-steady-state volumes are known; "
                    f"strategy {strategy.name} keeps every volume (use --dummy-scans N to drop the first N)"
                )
            source = _no_confounds_table(n_volumes)
        try:
            plan = plan_denoising(strategy, source, n_volumes, dummy_scans=options.dummy_scans,
                                  t_r=run.repetition_time)
        except RunExcluded as exc:
            outcomes.append(StrategyOutcome(strategy.name, strategy.desc, "excluded", exc.reason))
            continue
        except (ConfoundsError, ValueError) as exc:
            outcomes.append(StrategyOutcome(strategy.name, strategy.desc, STATUS_FAILED, str(exc)))
            continue
        outcomes.append(StrategyOutcome(strategy.name, strategy.desc, STATUS_DONE, None, plan))
    return outcomes, fd


# --------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------

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
            _write_qc(run, outcome, options, result)
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


def draw_figures_ahead(result: RunResult, options: PipelineOptions) -> None:
    """Draw a processed run's own report figures now, into ``result.report_figures``.

    Called by worker processes (``PipelineOptions.draw_run_figures``) after
    :func:`process_run`, so that the figures of several runs are drawn in
    parallel; by then the run's outputs are complete, and stopping the job
    (SIGTERM) does not interrupt this step. A failure only means the page
    draws them later; it never fails the run.
    """
    if options.draw_run_figures and result.status == STATUS_DONE and result.n_volumes and result.atlases:
        result.report_figures = _draw_run_figures(result, result.atlas_objects, options)


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
    from .report import draw_run_figures

    try:
        report = run_report(result, atlases, options, overlays=False)
        return draw_run_figures(report, options.output_dir, result.run.entities.get("sub", ""),
                                frame_dir=report_frames_dir(options))
    except Exception as exc:  # noqa: BLE001 - the report must not cost the outputs
        # (a full disk included: the next output written, a run's or the report, stops the job)
        LOGGER.debug("figures of %s not drawn ahead: %s: %s", result.run.bold.name, type(exc).__name__, exc)
        return None


def _process(run: RunInputs, atlases: Sequence[Atlas], options: PipelineOptions, result: RunResult) -> None:
    from threadpoolctl import threadpool_limits

    from .core.extract import extract_signals

    if run.problems:
        raise RunFailed("; ".join(run.problems))
    img = readable.open_nifti(run.bold, ndim=4, what="a BOLD series")
    n_volumes = int(img.shape[3])
    result.n_volumes = n_volumes
    if run.repetition_time is None:
        raise RunFailed(f"{run.bold.name}: repetition time unknown (no RepetitionTime in the sidecar or header)")
    mask = _brain_mask_on_grid(run, img, result.warnings)

    outcomes, fd = plan_strategies(run, n_volumes, options, result.warnings)
    result.strategies = outcomes
    result.fd = fd
    for outcome in outcomes:
        if outcome.status != STATUS_DONE:
            _write_qc(run, outcome, options, result)

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

    operators = {atlas.name: build_operator(atlas, img.shape, img.affine, options.smoothing_fwhm,
                                            cache_dir=options.operators_dir) for atlas in atlases}
    # Cleaning and connectivity are small dense problems (T x k QR, K x K matrices): one BLAS
    # thread is faster; several only add synchronisation, costly when the cores are busy
    # (measured: a 400 x 40 QR took 381 ms with 2 OpenBLAS threads, 4.5 ms with 1).
    with threadpool_limits(limits=1, user_api="blas"):
        for source, source_outcomes in sources.items():
            # one pass over each input image for every atlas; normally only the preprocessed BOLD
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
                _clean_and_write(run, atlases, extracted, outcome, n_volumes, options, result, source)


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
    """fMRIPrep's ICA-AROMA denoised BOLD of the same run, space and resolution."""
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
            if source is None:
                reason = (f"strategy {outcome.name} (full ICA-AROMA) needs fMRIPrep's desc-smoothAROMAnonaggr_bold "
                          f"next to {run.bold.name}, in the same space (fMRIPrep < 23.1 with --use-aroma writes it "
                          "in MNI152NLin6Asym; newer fMRIPrep needs fMRIPost-AROMA)")
            else:
                try:
                    aroma_shape = readable.open_nifti(source, ndim=4, what="a BOLD series").shape
                except UnreadableFile as exc:
                    aroma_shape, reason = None, f"strategy {outcome.name} (full ICA-AROMA): {exc}"
                if aroma_shape is not None and aroma_shape != img.shape:
                    reason = f"{source.name} has shape {aroma_shape}, {run.bold.name} {img.shape}"
            if reason is not None:
                outcome.status, outcome.reason, outcome.plan = STATUS_FAILED, reason, None
                _write_qc(run, outcome, options, result)
                continue
        sources.setdefault(source, []).append(outcome)
    return sources


def _clean_and_write(run: RunInputs, atlases: Sequence[Atlas], extracted: dict, outcome: StrategyOutcome,
                     n_volumes: int, options: PipelineOptions, result: RunResult, source: Path) -> None:
    """Clean the extracted signals with one strategy and write its outputs."""
    from .signal import clean

    plan = outcome.plan
    for atlas in atlases:
        one = extracted[atlas.name]
        kept = clean(one.signals, confounds=plan.confounds, sample_mask=plan.sample_mask,
                     t_r=run.repetition_time, **plan.clean_kwargs)
        full = np.full((n_volumes, one.signals.shape[1]), np.nan)
        full[plan.sample_mask] = kept
        result.clean_signals[(atlas.name, outcome.desc)] = full
        _write_timeseries(run, atlas, one, outcome, full, options, result, source)
        for kind in options.connectivity:
            try:
                matrix = connectivity_matrix(kept, kind, estimator=options.estimator)
            except ConnectivityError as exc:
                result.warnings.append(f"{run.bold.name}, atlas {atlas.name}, strategy {outcome.name}: "
                                       f"no {kind} matrix: {exc}")
                continue
            result.connectivity[(atlas.name, outcome.desc, kind)] = matrix
            _write_relmat(run, atlas, outcome, kind, matrix, plan.n_kept, options, result)
    _write_qc(run, outcome, options, result)


# --------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------

def _sources(run: RunInputs, options: PipelineOptions, image: Path | None = None) -> list[str]:
    sources = [bids_uri(relative_to_dataset(image or run.bold, options.bids_dir), "preprocessed")]
    for path in (run.confounds, run.mask):
        if path is not None:
            sources.append(bids_uri(relative_to_dataset(path, options.bids_dir), "preprocessed"))
    return sources


def _atlas_description(atlas: Atlas, run: RunInputs, options: PipelineOptions) -> dict[str, Any]:
    files = options.atlas_files.get(atlas.key, {})
    description: dict[str, Any] = {
        "Name": atlas.name,
        "Kind": atlas.kind,
        "Specification": atlas.spec,
        "NumberOfRegions": atlas.n_regions,
        "Files": {key: bids_uri(value) for key, value in files.items()},
        "ResampledTo": f"the grid of {run.bold.name}",
        "Extraction": {"labels": "mean of the voxels of each label",
                       "maps": "least-squares fit of the maps to each volume",
                       "spheres": "mean of the voxels within each sphere"}[atlas.kind],
    }
    if atlas.kind == "spheres":
        description["RadiusMillimetres"] = atlas.radius
    return description


def _coverage_entries(one, names: Sequence[str]) -> dict[str, float]:
    return {name: round(float(c), 4) for name, c in zip(names, one.coverage)}


def _plan_fields(plan, run: RunInputs) -> dict[str, Any]:
    summary = plan.summary()
    return {
        "Strategy": summary["Strategy"],
        "ConfoundRegressors": summary["ConfoundRegressors"],
        "CleaningParameters": dict(plan.clean_kwargs, t_r=run.repetition_time),
        "NumberOfVolumes": plan.n_volumes,
        "NumberOfVolumesKept": plan.n_kept,
        "KeptVolumes": plan.sample_mask.tolist(),
        "NumberOfVolumesDiscardedByNonsteadyStatesDetector": int(plan.dummy_volumes.size),
        "NumberOfVolumesDiscardedByMotionScrubbing": int(plan.motion_outliers.size),
        "DummyVolumes": plan.dummy_volumes.tolist(),
        "MotionOutlierVolumes": plan.motion_outliers.tolist(),
        "MeanFramewiseDisplacement": None if math.isnan(plan.mean_fd) else plan.mean_fd,
        "DegreesOfFreedomLost": int(plan.dof_lost),
    }


def _write_timeseries(run: RunInputs, atlas: Atlas, one, outcome: StrategyOutcome, full: np.ndarray,
                      options: PipelineOptions, result: RunResult, source: Path | None = None) -> None:
    name = timeseries_name(run, atlas.name, outcome.desc)
    path = options.output_dir / name.relpath
    result.outputs += [path, path.with_suffix(".json")]  # before writing: an interrupted run removes them
    atomic_write_tsv(path, pd.DataFrame(full, columns=list(one.names)))
    atlas_files = options.atlas_files.get(atlas.key, {})
    sidecar: dict[str, Any] = {
        "Description": (
            f"Region time series of atlas {atlas.name} cleaned with strategy {outcome.name}: one row per BOLD "
            "volume, one column per region; removed volumes (non-steady-state, censored) and regions below "
            "the coverage threshold are n/a."
        ),
        "SamplingFrequency": 1.0 / run.repetition_time,
        "StartTime": run.start_time if run.start_time is not None else 0.0,
        "RepetitionTime": run.repetition_time,
        "Sources": _sources(run, options, source) + [bids_uri(v) for k, v in atlas_files.items() if k in ("image", "table")],
        "Atlas": _atlas_description(atlas, run, options),
        "SmoothingFWHM": options.smoothing_fwhm,
        **_plan_fields(outcome.plan, run),
        "MinimumCoverage": options.min_coverage,
        "RegionCoverage": _coverage_entries(one, one.names),
        "RegionsBelowCoverage": list(one.regions_below_coverage),
        "RegionsWithoutVoxels": list(one.missing_regions),
        "Software": {"Name": "regionseries", "Version": __version__},
        "CommandLine": options.command_line,
    }
    atomic_write_json(path.with_suffix(".json"), sidecar)


def _write_relmat(run: RunInputs, atlas: Atlas, outcome: StrategyOutcome, kind: str, matrix: np.ndarray,
                  n_kept: int, options: PipelineOptions, result: RunResult) -> None:
    name = relmat_name(run, atlas.name, outcome.desc, kind)
    path = options.output_dir / name.relpath
    names = atlas.names
    result.outputs += [path, path.with_suffix(".json")]  # before writing: an interrupted run removes them
    atomic_write_tsv(path, pd.DataFrame(matrix, index=pd.Index(names), columns=names), index_label="node")
    series = timeseries_name(run, atlas.name, outcome.desc)
    sidecar = {
        "RelationshipMeasure": MEASURE_NAMES[kind],
        "MeasureDescription": (
            f"{MEASURE_NAMES[kind]} between region time series, on the {n_kept} kept volumes "
            f"({options.estimator} covariance estimator)"
        ),
        "Weighted": True,
        "Directed": False,
        "ValidDiagonal": kind == "covariance",
        "StorageFormat": "Full",
        "NonNegative": False,
        "Estimator": options.estimator,
        "NumberOfVolumesUsed": int(n_kept),
        "RegionsWithoutSignal": [n for n, row in zip(names, matrix) if np.all(np.isnan(row))],
        "Sources": [bids_uri(series.relpath)],
        "Software": {"Name": "regionseries", "Version": __version__},
    }
    atomic_write_json(path.with_suffix(".json"), sidecar)


def _write_qc(run: RunInputs, outcome: StrategyOutcome, options: PipelineOptions, result: RunResult) -> None:
    name = qc_name(run, outcome.desc)
    path = options.output_dir / name.relpath
    record: dict[str, Any] = {
        "Status": outcome.status,
        "Reason": outcome.reason,
        "Bold": bids_uri(relative_to_dataset(run.bold, options.bids_dir), "preprocessed"),
        "Entities": {k: v for k, v in run.entities.items() if k != "desc"},
        "StrategyName": outcome.name,
        "RepetitionTime": run.repetition_time,
        "NumberOfVolumes": result.n_volumes,
    }
    if outcome.plan is not None:
        record.update(_plan_fields(outcome.plan, run))
    elif result.fd is not None and np.isfinite(result.fd).any():
        record["MeanFramewiseDisplacement"] = float(np.nanmean(result.fd))
    record["Atlases"] = {
        a.name: {"RegionsBelowCoverage": a.regions_below_coverage, "NumberOfRegions": len(a.names)}
        for a in result.atlases
    }
    strategy = next((s for s in options.strategies if s.desc == outcome.desc), None)
    if strategy is not None:
        record["Settings"] = run_settings(strategy, options)
    record["Software"] = {"Name": "regionseries", "Version": __version__}
    result.outputs.append(path)  # before writing: an interrupted run removes it
    atomic_write_json(path, record)


# --------------------------------------------------------------------------------------
# Reports hook: RunResult -> regionseries.report model
# --------------------------------------------------------------------------------------

def _reference_image(run: RunInputs):
    """The image drawn under the atlases: fMRIPrep's boldref, else the brain mask."""
    import nibabel as nib

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


def _atlas_on_grid(atlas: Atlas, shape, affine, smoothing_fwhm: float | None = None, cache_dir: Path | None = None):
    """The atlas on a BOLD grid for the report, as a 3D nibabel image (None for spheres).

    Drawn from the run's extraction operator (:func:`build_operator`; in
    memory or in the work folder after the run), so the overlay shows
    exactly the regions that were extracted, without resampling the atlas
    again: labels as their values, maps as the strongest map at each voxel
    (:func:`~regionseries.report.raster.strongest_map_index_of_weights`).
    """
    import nibabel as nib

    from .report.raster import strongest_map_index_of_weights

    if atlas.kind == "spheres" or atlas.image is None:
        return None
    affine = np.asarray(affine, dtype=float)
    operator = build_operator(atlas, shape, affine, smoothing_fwhm, cache_dir=cache_dir)
    if atlas.kind == "labels":
        data = operator.labels_volume().astype(np.int32)
    else:
        data = strongest_map_index_of_weights(operator.maps_matrix, operator.shape)
    return nib.Nifti1Image(data, affine)


def report_frames_dir(options: PipelineOptions) -> Path:
    """Where report figures' frames are kept (:func:`regionseries.report.raster.cached_frame`):
    next to the operators, so that the jobs of a study share them."""
    return (options.cache_dir or options.work_dir) / "report-frames"


def run_report(result: RunResult, atlases: Sequence[Atlas], options: PipelineOptions, overlays: bool = True):
    """Convert a processed run into the report model's :class:`~regionseries.report.RunReport`.

    ``overlays=False`` leaves out the atlases on the run's grid (only the
    shared overlay figures need them).
    """
    import nibabel as nib

    from .report import AtlasResult, RunReport, StrategyResult

    run = result.run
    img = nib.load(str(run.bold))
    voxel_volume = float(abs(np.linalg.det(img.affine[:3, :3])))
    strategies = []
    for outcome in result.strategies:
        if outcome.plan is None:
            strategies.append(StrategyResult(name=outcome.desc, kept_volumes=[], excluded=True,
                                             exclusion_reason=f"{outcome.status}: {outcome.reason}"))
            continue
        plan = outcome.plan
        strategy = plan.strategy
        strategies.append(StrategyResult(
            name=outcome.desc, kept_volumes=plan.sample_mask, dummy_volumes=plan.dummy_volumes,
            motion_censored_volumes=plan.motion_outliers,
            fd_threshold=strategy.fd_threshold if strategy.censors_motion else None,
            std_dvars_threshold=strategy.std_dvars_threshold if strategy.censors_motion else None,
            n_regressors=len(plan.confound_names), dof_lost=plan.dof_lost,
            parameters=strategy.to_dict(), confound_columns=plan.confound_names,
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
            size_mm3=sizes, relative_size_percent=100 * sizes / total if total > 0 else None,
            coverage=np.clip(outcome.coverage, 0, 1), regions_na=outcome.regions_below_coverage + [
                n for n in outcome.missing_regions if n not in outcome.regions_below_coverage],
            image=(_atlas_on_grid(atlas, img.shape, img.affine, options.smoothing_fwhm, options.operators_dir)
                   if overlays else None),
            sphere_coordinates_mm=atlas.coordinates, sphere_radius_mm=atlas.radius,
            description=atlas.spec,
        ))
    measure = options.connectivity[0] if options.connectivity else "correlation"
    connectivity = {(a, s): m for (a, s, kind), m in result.connectivity.items() if kind == measure}
    reference, reference_description = _reference_image(run)
    fd = result.fd if result.fd is not None and len(result.fd) == result.n_volumes else None
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
    )


@_sparing_the_collector
def write_participant_report(participant: str, results: Sequence[RunResult], options: PipelineOptions) -> Path | None:
    """Render ``sub-<participant>.html`` from the run results of one participant.

    Runs skipped because their outputs existed are listed as warnings (their
    arrays are not available); nothing is written when no run was processed.
    """
    remove_stale_temporaries(options.output_dir / f"sub-{participant}" / "figures")
    # Runs in file order, whatever order the worker processes finished them in.
    results = sorted(results, key=lambda r: str(r.run.bold))
    processed = [r for r in results if r.status == STATUS_DONE and r.n_volumes and r.atlases]
    failed = [r for r in results if r.status == STATUS_FAILED or (r.status == STATUS_DONE and not r.atlases)]
    skipped = [r for r in results if r.status == STATUS_SKIPPED]
    if not processed and not failed:
        return None
    # Imported here, not at the top: matplotlib is ~0.5 s of start-up that a job
    # with nothing to report (or --no-reports) does not need.
    from .report import FailedRun, ParticipantReport
    from .report import write_participant_report as render

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
