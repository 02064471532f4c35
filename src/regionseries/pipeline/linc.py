"""The LINC-style QC table of one run and strategy (``--linc-qc``): one row per atlas, written with its sidecar.

``<source>_space-<space>_stat-linc_desc-<strategy>_qc.tsv`` holds the
measures of :func:`regionseries.core.linc_qc.linc_measures` (XCP-D's
``*_desc-linc_qc.tsv`` columns, see ``docs/outputs.md``) for every atlas of
the run, computed from the confounds table and the region signals of the one
pass. A run the strategy excluded gets its rows too, with its reason and no
region measures (it was not cleaned). The JSON sidecar of the same name
describes every column (:data:`regionseries.core.linc_qc.COLUMN_DESCRIPTIONS`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._version import __version__
from ..bids.inputs import RunInputs
from ..bids.outputs import atomic_write_json, atomic_write_tsv
from ..core.linc_qc import COLUMN_DESCRIPTIONS, LINC_MEASURES, linc_measures
from .model import PipelineOptions, RunResult, StrategyOutcome
from .names import linc_qc_name

__all__ = ["COLUMN_DESCRIPTIONS", "LINC_CONFOUND_COLUMNS", "LINC_MEASURES", "linc_rows", "write_linc_qc"]

#: fMRIPrep confounds columns the table reads (kept by :func:`~.plan.plan_strategies`).
LINC_CONFOUND_COLUMNS = ("framewise_displacement", "rmsd", "std_dvars")

def linc_rows(run: RunInputs, outcome: StrategyOutcome, atlas_names: Sequence[str], n_volumes: int,
              confound_columns: dict[str, np.ndarray], signals: dict[str, tuple[Any, Any]] | None = None
              ) -> list[dict[str, Any]]:
    """The rows of one run and strategy, one per atlas.

    Parameters
    ----------
    outcome : StrategyOutcome
        ``done`` (its plan) or ``excluded`` (its counts, ``excluded_plan``).
    atlas_names : sequence of str
    n_volumes : int
    confound_columns : dict
        :data:`LINC_CONFOUND_COLUMNS` present in the confounds, float arrays.
    signals : dict, optional
        Atlas name -> (raw region signals (n_volumes x K), cleaned signals of
        the kept volumes); None or a missing atlas: no region measures.
    """
    plan = outcome.plan if outcome.plan is not None else outcome.excluded_plan
    entities = {key: value for key, value in run.base_name.entity_dict.items() if key != "desc"}
    rows = []
    for atlas in atlas_names:
        raw, clean = (signals or {}).get(atlas, (None, None))
        measures = linc_measures(
            n_volumes, plan.dummy_volumes, plan.sample_mask, run.repetition_time,
            fd=confound_columns.get("framewise_displacement"), rmsd=confound_columns.get("rmsd"),
            std_dvars=confound_columns.get("std_dvars"), raw_signals=raw, clean_signals=clean)
        rows.append({**entities, "strategy": outcome.desc, "atlas": atlas, "status": outcome.status,
                     "reason": outcome.reason if outcome.status != "done" else None, **measures})
    return rows


def write_linc_qc(run: RunInputs, outcome: StrategyOutcome, rows: list[dict[str, Any]], options: PipelineOptions,
                  result: RunResult) -> None:
    """Write the table of one run and strategy and its sidecar (atomically, paths recorded first)."""
    path = options.output_dir / linc_qc_name(run, outcome.desc).relpath
    result.outputs += [path, path.with_suffix(".json")]  # before writing: an interrupted run removes them
    table = pd.DataFrame(rows)
    integer_columns = [c for c in ("num_dummy_volumes", "num_censored_volumes", "num_retained_volumes")
                       if c in table.columns]
    table[integer_columns] = table[integer_columns].astype(int)
    atomic_write_tsv(path, table)
    sidecar: dict[str, Any] = {
        "Description": (f"LINC-style QC (XCP-D's desc-linc_qc.tsv measures) of strategy {outcome.name}: one row per "
                        "atlas. DVARS after denoising is computed on the atlas's region signals, not on voxels."),
        **{column: COLUMN_DESCRIPTIONS[column] for column in table.columns if column in COLUMN_DESCRIPTIONS},
        "RepetitionTime": run.repetition_time,
        "Software": {"Name": "regionseries", "Version": __version__},
    }
    atomic_write_json(path.with_suffix(".json"), sidecar)
