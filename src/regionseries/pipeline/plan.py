"""Planning the confounds of every strategy for one run
(:func:`regionseries.core.confounds.plan_denoising`).

A strategy the run cannot support (every volume censored, too few kept
volumes) is *excluded* with its reason; one that lacks an input (no or an
unusable confounds file) *fails* with its reason; the others are planned.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from ..bids import readable
from ..bids.datasets import DATASET_NAMES
from ..bids.inputs import RunInputs, relative_to_dataset
from ..bids.names import bids_uri
from ..bids.readable import UnreadableFile
from ..core.confounds import (
    ConfoundsError,
    ConfoundsTable,
    RunExcluded,
    plan_denoising,
    read_confounds,
)
from ..core.confounds.components import (
    ComponentTable,
    read_aroma_timeseries,
    read_tedana_components,
)
from .linc import LINC_CONFOUND_COLUMNS
from .model import STATUS_DONE, STATUS_FAILED, PipelineOptions, StrategyOutcome


def _no_confounds_table(n_volumes: int):
    """An empty confounds table, for strategies without regressors on a run without confounds."""
    return ConfoundsTable(tsv_path=Path("(no confounds file)"), json_path=None,
                          data=pd.DataFrame(index=range(n_volumes)), metadata=None)


def _needs_confounds(strategy) -> bool:
    return bool(strategy.components) or bool(strategy.extra_columns) or bool(strategy.extra_column_patterns)


def _component_tables(run: RunInputs, options: PipelineOptions) -> dict[str, ComponentTable | str]:
    """fMRIPost-AROMA's and tedana's components of the run that some strategy uses, read once.

    ``{"aroma": table or reason, "tedana": table or reason}``; a reason (text
    naming the run) says why the files cannot be used: none given, none
    found, several found, or unreadable.
    """
    uses_aroma = any("ica_aroma" in s.components for s in options.strategies)
    uses_tedana = any(s.needs_tedana_outputs for s in options.strategies)
    tables: dict[str, ComponentTable | str] = {}
    for name, used, kinds, what in (
        ("aroma", uses_aroma, ("aroma_timeseries",), "fMRIPost-AROMA's desc-aroma_timeseries.tsv"),
        ("tedana", uses_tedana, ("tedana_mixing", "tedana_metrics"),
         "tedana's desc-ICA_mixing.tsv and desc-tedana_metrics.tsv"),
    ):
        if not used:
            continue
        several = [problem for problem in run.dataset_problems if any(kind.replace("_", " ") in problem
                                                                       for kind in kinds)]
        paths = [getattr(run, kind) for kind in kinds]
        if name not in options.datasets:
            tables[name] = (f"this strategy needs {what} of {run.bold.name}: give the {DATASET_NAMES[name]} "
                            f"folder with --datasets {name}=PATH")
        elif several:
            tables[name] = "; ".join(several)
        elif any(path is None for path in paths):
            tables[name] = (f"no {what} for {run.bold.name} in {options.datasets[name]} (matched by the "
                            "run's entities: sub, ses, task, acq, ce, rec, dir, run, echo, part)")
        else:
            try:
                for path in paths:
                    readable.check_file(path)
                tables[name] = read_aroma_timeseries(*paths) if name == "aroma" else read_tedana_components(*paths)
            except (UnreadableFile, ConfoundsError) as exc:
                tables[name] = str(exc)
    return tables


def _components_of(strategy, tables: dict[str, ComponentTable | str], aroma_given: bool) -> tuple[dict, str | None]:
    """The plan_denoising keyword arguments of a strategy's component tables, or why it cannot run.

    ``ica_aroma`` 'full' does without fMRIPost-AROMA's table, and so does 'basic' when no fMRIPost-AROMA
    folder is given (fMRIPrep < 23.1's confounds columns); 'orthaggr' and the ``tedana`` component need theirs.
    """
    kwargs = {}
    if "ica_aroma" in strategy.components and "aroma" in tables:
        aroma = tables["aroma"]
        if isinstance(aroma, str):
            if strategy.needs_aroma_outputs or (aroma_given and strategy.ica_aroma == "basic"):
                return {}, aroma
        else:
            kwargs["aroma"] = aroma
    if strategy.needs_tedana_outputs:
        tedana = tables["tedana"]
        if isinstance(tedana, str):
            return {}, tedana
        kwargs["tedana"] = tedana
    return kwargs, None


def _with_dataset_uris(plan, datasets: dict[str, Path]):
    """The plan with the files of its component records as BIDS URIs of their ``--datasets`` folder."""
    if not plan.component_records:
        return plan
    records = {}
    for key, record in plan.component_records.items():
        name = "aroma" if key == "AromaComponents" else "tedana"
        root = datasets.get(name)
        files = [bids_uri(relative_to_dataset(Path(path), root), name) if root is not None else path
                 for path in record["Files"]]
        records[key] = {**record, "Files": files}
    return dataclasses.replace(plan, component_records=records)


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
    component_tables = _component_tables(run, options)
    outcomes = []
    for strategy in options.strategies:
        components, problem = _components_of(strategy, component_tables, "aroma" in options.datasets)
        if problem is not None:
            outcomes.append(StrategyOutcome(strategy.name, strategy.desc, STATUS_FAILED, problem))
            continue
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
                                  t_r=run.repetition_time, **components)
        except RunExcluded as exc:
            outcomes.append(StrategyOutcome(strategy.name, strategy.desc, "excluded", exc.reason,
                                            excluded_plan=exc.plan))
            continue
        except (ConfoundsError, ValueError) as exc:
            outcomes.append(StrategyOutcome(strategy.name, strategy.desc, STATUS_FAILED, str(exc)))
            continue
        outcomes.append(StrategyOutcome(strategy.name, strategy.desc, STATUS_DONE, None,
                                        _with_dataset_uris(plan, options.datasets)))
    return outcomes, fd
