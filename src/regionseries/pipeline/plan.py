"""Planning the confounds of every strategy for one run
(:func:`regionseries.core.confounds.plan_denoising`).

A strategy the run cannot support (every volume censored, too few kept
volumes) is *excluded* with its reason; one that lacks an input (no or an
unusable confounds file) *fails* with its reason; the others are planned.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..bids import readable
from ..bids.inputs import RunInputs
from ..bids.readable import UnreadableFile
from ..core.confounds import (
    ConfoundsError,
    ConfoundsTable,
    RunExcluded,
    plan_denoising,
    read_confounds,
)
from .linc import LINC_CONFOUND_COLUMNS
from .model import STATUS_DONE, STATUS_FAILED, PipelineOptions, StrategyOutcome


def _no_confounds_table(n_volumes: int):
    """An empty confounds table, for strategies without regressors on a run without confounds."""
    return ConfoundsTable(tsv_path=Path("(no confounds file)"), json_path=None,
                          data=pd.DataFrame(index=range(n_volumes)), metadata=None)


def _needs_confounds(strategy) -> bool:
    return bool(strategy.components) or bool(strategy.extra_columns) or bool(strategy.extra_column_patterns)


def plan_strategies(run: RunInputs, n_volumes: int, options: PipelineOptions,
                    messages: list[str], qc_columns: dict | None = None
                    ) -> tuple[list[StrategyOutcome], np.ndarray | None]:
    """Plan every strategy for a run; returns the outcomes and the FD series (mm).

    ``qc_columns``, when given, receives the confounds' columns that the LINC
    QC table reads (:data:`~.linc.LINC_CONFOUND_COLUMNS`, float arrays, NaN
    for ``n/a``), from the same reading of the table.
    """
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
            if qc_columns is not None:
                qc_columns.update({name: pd.to_numeric(table.data[name], errors="coerce").to_numpy(float)
                                   for name in LINC_CONFOUND_COLUMNS if name in table.data.columns})
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
            outcomes.append(StrategyOutcome(strategy.name, strategy.desc, "excluded", exc.reason,
                                            excluded_plan=exc.plan))
            continue
        except (ConfoundsError, ValueError) as exc:
            outcomes.append(StrategyOutcome(strategy.name, strategy.desc, STATUS_FAILED, str(exc)))
            continue
        outcomes.append(StrategyOutcome(strategy.name, strategy.desc, STATUS_DONE, None, plan))
    return outcomes, fd
