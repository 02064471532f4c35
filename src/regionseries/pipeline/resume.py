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
from .model import STATUS_DONE, PipelineOptions
from .names import expected_outputs, qc_name


def run_settings(strategy, options: PipelineOptions) -> dict[str, Any]:
    """The settings that decide a strategy's outputs, as recorded in its ``*_qc.json``.

    Atlases and connectivity measures are not included: outputs of other
    atlases or measures have other names, so :func:`is_finished` finds them
    missing anyway.
    """
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
