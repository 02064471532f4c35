"""Whether a run's outputs already exist and with which settings.

:func:`run_settings` is what a strategy's ``*_qc.json`` records under
``Settings``; :func:`is_finished` decides whether a run is skipped (outputs
complete), :func:`settings_changed` which skipped strategies were made with
other settings.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..atlases.base import Atlas
from ..bids.inputs import RunInputs
from ..bids.outputs import json_text
from ..core.confounds.plans import strategy_settings_used
from .model import STATUS_DONE, PipelineOptions
from .names import expected_outputs, linc_qc_name, qc_name


def run_settings(strategy, options: PipelineOptions) -> dict[str, Any]:
    """The settings that decide a strategy's outputs, as recorded in its ``*_qc.json``.

    Atlases and connectivity measures are not included: outputs of other
    atlases or measures have other names, so :func:`is_finished` finds them
    missing anyway. Only the strategy settings it uses are recorded
    (:func:`strategy_settings_used`).
    """
    settings = {
        "Strategy": strategy_settings_used(strategy),
        "DummyScans": options.dummy_scans,
        "SmoothingFWHM": options.smoothing_fwhm,
        "MinimumCoverage": options.min_coverage,
        "Estimator": options.estimator,
    }
    return json.loads(json_text(settings))  # as it reads back from the JSON file


def settings_changed(run: RunInputs, options: PipelineOptions) -> list[str]:
    """Strategies whose existing QC record was written with other settings.

    Records without settings (older versions) or unreadable ones count as
    unchanged. Only the strategy settings used now are compared: records of
    versions that wrote every setting of the strategy, and settings the
    strategy does not use, do not count as a change.
    """
    changed = []
    for strategy in options.strategies:
        record = options.output_dir / qc_name(run, strategy.desc).relpath
        try:
            recorded = json.loads(record.read_text(encoding="utf-8")).get("Settings")
        except (OSError, ValueError):
            continue
        if recorded is not None and not _same_settings(recorded, run_settings(strategy, options)):
            changed.append(strategy.name)
    return changed


_ABSENT = object()  # a setting the record does not have: never equal to a recorded value


def _same_settings(recorded: Any, current: dict[str, Any]) -> bool:
    if not isinstance(recorded, dict) or not isinstance(recorded.get("Strategy"), dict):
        return recorded == current
    recorded_strategy = recorded["Strategy"]
    used = {name: recorded_strategy.get(name, _ABSENT) for name in current["Strategy"]}
    return {**recorded, "Strategy": used} == current



def is_finished(run: RunInputs, atlases: Sequence[Atlas], options: PipelineOptions) -> bool:
    """Whether every strategy of this run has complete outputs.

    A strategy is finished when its QC record exists and either says the run
    was excluded, or all its time series and matrices exist. Failed
    strategies (input problems) are retried.
    """
    out = options.output_dir
    for strategy in options.strategies:
        record = out / qc_name(run, strategy.desc).relpath
        if not record.exists():
            return False
        try:
            status = json.loads(record.read_text(encoding="utf-8")).get("Status")
        except (OSError, ValueError):
            return False
        if options.linc_qc and not (out / linc_qc_name(run, strategy.desc).relpath).exists():
            return False  # asked for now, not written then
        if status == "excluded":
            continue
        if status != STATUS_DONE:
            return False
        for name in expected_outputs(run, atlases, strategy.desc, options.connectivity):
            if not (out / name.relpath).exists():
                return False
    return True
