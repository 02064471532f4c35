"""What a run takes and gives: the participant level's options, the outcome of
each strategy and atlas, and :class:`RunResult`, the record of one run that
summaries and reports read.

``status`` values are :data:`STATUS_DONE`, :data:`STATUS_SKIPPED` (outputs
existed) and :data:`STATUS_FAILED`; a strategy can also be ``"excluded"``
(the data cannot support it). :class:`RunFailed` is how a run that cannot give
any output says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..bids.inputs import RunInputs

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
    linc_qc : bool
        Write a LINC-style QC table per run and strategy (``--linc-qc``,
        :mod:`.linc`).
    datasets : dict
        ``{"aroma": folder, "tedana": folder}`` given with ``--datasets``
        (fMRIPost-AROMA and tedana outputs; empty when none).
    combine_runs : bool
        Also join each participant's runs of a task (``--combine-runs``,
        :mod:`.combine`) once they are all finished.
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
    linc_qc: bool = False
    datasets: dict = field(default_factory=dict)
    combine_runs: bool = False

    @property
    def operators_dir(self) -> Path:
        """Where extraction operators are kept between processes and jobs."""
        return (self.cache_dir or self.work_dir) / "operators"


@dataclass
class StrategyOutcome:
    """What happened to one strategy on one run.

    ``status`` is ``"done"``, ``"excluded"`` (the data cannot support the
    strategy, e.g. too many censored volumes: a scientific exclusion) or
    ``"failed"`` (an input problem, e.g. no confounds file). ``plan`` is
    the :class:`DenoisingPlan` of a strategy that runs; ``excluded_plan`` the
    counts of an excluded one (kept and censored volumes, mean FD, degrees
    of freedom lost; no confound matrix), which its ``*_qc.json`` records.
    """

    name: str
    desc: str
    status: str
    reason: str | None = None
    plan: Any = None  # DenoisingPlan
    excluded_plan: Any = None  # DenoisingPlan without confounds, of an excluded strategy

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
    #: The confounds' columns the LINC QC table reads (``--linc-qc``), float arrays by name.
    confound_qc: dict[str, np.ndarray] = field(default_factory=dict)
    raw_signals: dict[str, np.ndarray] = field(default_factory=dict)
    clean_signals: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    connectivity: dict[tuple[str, str, str], np.ndarray] = field(default_factory=dict)
    seconds: float = 0.0
    atlas_objects: list = field(default_factory=list)
    #: Surface runs, for the report: per hemisphere, True for the mesh vertices whose
    #: signal counts (``report_hook.covered_vertices``); None otherwise.
    vertex_covered: dict | None = None
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
