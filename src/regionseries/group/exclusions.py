"""The exclusion criteria and the QC table that records, per run, whether and why it is excluded."""

from __future__ import annotations

from typing import Any

import pandas as pd

from .options import GroupOptions
from .parallel import _chunks, _in_order
from .reading import _regions_na, _series_sidecar_path

#: Entities identifying a run in the QC table.
RUN_ENTITIES = ("sub", "ses", "task", "acq", "ce", "rec", "dir", "run", "echo", "part", "space", "res", "den")


def exclusion_reasons(record: dict, options: GroupOptions) -> list[str]:
    """Reasons to exclude one run under one strategy (empty when included)."""
    reasons = []
    status = record.get("Status")
    if status != "done":
        reasons.append(f"participant level: {status}: {str(record.get('Reason')).rstrip('.')}")
        if status != "excluded":  # a failed run has no counts; an excluded one has them, and can break more rules
            return reasons
    mean_fd = record.get("MeanFramewiseDisplacement")
    if mean_fd is not None and mean_fd > options.max_mean_fd:
        reasons.append(f"mean FD {mean_fd:.3f} mm > {options.max_mean_fd:g} mm")
    n_volumes = record.get("NumberOfVolumes") or 0
    kept = record.get("NumberOfVolumesKept")
    if n_volumes and kept is not None and kept / n_volumes < options.min_kept_fraction:
        reasons.append(f"{kept} of {n_volumes} volumes kept ({kept / n_volumes:.0%} < {options.min_kept_fraction:.0%})")
    return reasons


def _qc_table(members: list[dict], atlas: str | None, options: GroupOptions, executor=None) -> pd.DataFrame:
    rows = []
    sidecars = [_series_sidecar_path(record, atlas) if atlas else None for record in members]
    regions_na = [count for chunk in _in_order(executor, _regions_na, ((c,) for c in _chunks(sidecars, 256)))
                  for count in chunk]
    for record, n_regions_na in zip(members, regions_na):
        entities = record["_entities"]
        reasons = exclusion_reasons(record, options)
        row: dict[str, Any] = {key: entities.get(key) for key in RUN_ENTITIES if key in entities}
        row.update({
            "atlas": atlas,
            "strategy": entities.get("desc"),
            "status": record.get("Status"),
            "n_volumes": record.get("NumberOfVolumes"),
            "n_volumes_kept": record.get("NumberOfVolumesKept"),
            "n_dummy_volumes": record.get("NumberOfVolumesDiscardedByNonsteadyStatesDetector"),
            "n_motion_censored": record.get("NumberOfVolumesDiscardedByMotionScrubbing"),
            "mean_fd_mm": record.get("MeanFramewiseDisplacement"),
            "dof_lost": record.get("DegreesOfFreedomLost"),
            "n_regions_na": n_regions_na,
            "excluded": bool(reasons),
            "exclusion_reason": "; ".join(reasons) if reasons else None,
            "bold": record.get("Bold"),
        })
        if record.get("Concatenated"):  # --combine-runs: one row per participant, task, session (and space)
            row["n_runs_concatenated"] = record.get("NumberOfRunsConcatenated")
        rows.append(row)
    table = pd.DataFrame(rows)
    for key in ("sub", "ses", "run"):
        if key in table.columns:
            table[key] = table[key].astype("string")
    order = [c for c in RUN_ENTITIES if c in table.columns]
    return table.sort_values(order).reset_index(drop=True) if order else table


def _sorted_like(members: list[dict], table: pd.DataFrame) -> list[dict]:
    """Records in the row order of the QC table (matched by BOLD URI)."""
    by_bold = {record.get("Bold"): record for record in members}
    return [by_bold[b] for b in table["bold"]]
