"""Run concatenation (``--combine-runs``): one series and one matrix per participant, task,
session, space, atlas and strategy, joined from the runs' cleaned series.

Once every run of a participant is finished (processed or skipped),
:func:`combine_participant` groups its runs by their name without ``run-``
(:func:`~.names.combined_base`) and, per strategy, joins the runs the strategy
kept from the time series they have just written (``*_timeseries.tsv`` and
their sidecars' ``KeptVolumes``): the BOLD is not read again, a run skipped
because its outputs existed counts like one processed now, and only one atlas
of one group is in memory at a time (all volumes × regions of that group's
runs). Each run is centred on its kept volumes (:func:`~regionseries.core.
concatenate.concatenate_runs`), the matrices are computed on the kept volumes
of all runs, and the outputs are written atomically under the strategy's
``desc-`` label with :data:`~.names.COMBINED_DESC_SUFFIX`
(``desc-simpleConcat``), with a ``*_qc.json`` of the concatenation that the
group level reads like a run's.

Runs the strategy excluded, or that failed, are left out and listed with
their reason; a group with no run left gets only its ``*_qc.json``
(``excluded``, or ``failed`` when a run failed). A group is rebuilt when one of
its runs was processed by this job, with ``--overwrite``, or when its record,
its list of runs or one of its files does not match; otherwise it is skipped.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._version import __version__
from ..bids.inputs import relative_to_dataset
from ..bids.names import BIDSName, bids_uri
from ..bids.outputs import atomic_write_json, atomic_write_tsv
from ..core.concatenate import concatenate_runs
from ..core.connectivity import MEASURE_NAMES, ConnectivityError, connectivity_matrix
from .model import STATUS_DONE, STATUS_FAILED, STATUS_SKIPPED, PipelineOptions
from .names import combined_base, combined_name, qc_name, timeseries_name
from .resume import run_settings
from .run import _remove_outputs
from .writers import relmat_sidecar, write_matrix_table

if TYPE_CHECKING:
    from .model import RunResult

LOGGER = logging.getLogger("regionseries")

STATUS_EXCLUDED = "excluded"


@dataclass
class CombinedResult:
    """What :func:`combine_participant` did for one group of runs and one strategy.

    Attributes
    ----------
    qc : Path
        The concatenation's ``*_qc.json``.
    strategy : str
        Strategy name.
    status : str
        ``"done"``, ``"skipped"`` (outputs existed), ``"excluded"`` (no run
        the strategy kept) or ``"failed"``.
    reason : str or None
        Why it was excluded or failed.
    runs : list of str
        BOLD file names joined (in order).
    outputs : list of Path
        Files written.
    warnings : list of str
    seconds : float
        Wall time, s.
    """

    qc: Path
    strategy: str
    status: str = STATUS_DONE
    reason: str | None = None
    runs: list[str] = field(default_factory=list)
    outputs: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failures(self) -> list[tuple[str, str]]:
        return [(str(self.qc), f"strategy {self.strategy}: {self.reason}")] if self.status == STATUS_FAILED else []

    @property
    def exclusions(self) -> list[tuple[str, str]]:
        return [(str(self.qc), f"strategy {self.strategy}: {self.reason}")] if self.status == STATUS_EXCLUDED else []


class _CannotCombine(Exception):
    """A group that cannot be joined (a file missing or unreadable, runs that do not match)."""


def group_runs(results: Sequence[RunResult]) -> dict[BIDSName, list[RunResult]]:
    """The runs of ``results`` by the name they share without ``run-``, each group in run order."""
    groups: dict[BIDSName, list[RunResult]] = {}
    for result in results:
        groups.setdefault(combined_base(result.run), []).append(result)
    for members in groups.values():
        members.sort(key=_run_order)
    return groups


def _run_order(result: RunResult) -> tuple[int, str]:
    label = str(result.run.entities.get("run", ""))
    return (int(label) if label.isdigit() else -1, result.run.bold.name)


def combine_participant(results: Sequence[RunResult], options: PipelineOptions) -> list[CombinedResult]:
    """Join the runs of one participant, per group and strategy (see the module docstring).

    Parameters
    ----------
    results : sequence of RunResult
        Every run of the participant in this job, finished.
    options : PipelineOptions

    Returns
    -------
    list of CombinedResult
        One per group of runs and strategy. Never raises for a data problem
        (recorded as ``failed``); an interruption or a full disk removes the
        files of the group being written and goes through.
    """
    combined = []
    for base, members in sorted(group_runs(results).items(), key=lambda item: item[0].filename):
        processed_now = any(member.status != STATUS_SKIPPED for member in members)
        for strategy in options.strategies:
            combined.append(_combine_strategy(base, members, strategy, options, processed_now))
    return combined


def _bold_uri(result: RunResult, options: PipelineOptions) -> str:
    return bids_uri(relative_to_dataset(result.run.bold, options.bids_dir), "preprocessed")


def _atlas_names(members: Sequence[RunResult]) -> list[str]:
    names: list[str] = []
    for member in members:
        for atlas in member.atlas_objects:
            if atlas.name not in names:
                names.append(atlas.name)
    return names


def _expected(base: BIDSName, atlases: Sequence[str], desc: str, kinds: Sequence[str]) -> list[BIDSName]:
    names = []
    for atlas in atlases:
        series = combined_name(base, desc, "timeseries", atlas)
        names += [series, series.replace(extension=".json")]
        for kind in kinds:
            matrix = combined_name(base, desc, "relmat", atlas, kind)
            names += [matrix, matrix.replace(extension=".json")]
    return names


def _is_finished(qc_path: Path, base: BIDSName, members: Sequence[RunResult], strategy,
                 options: PipelineOptions) -> bool:
    """Whether the group's record is complete, of the same runs, and its files all exist."""
    try:
        record = json.loads(qc_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(record, dict) or record.get("Status") not in (STATUS_DONE, STATUS_EXCLUDED):
        return False
    if [run.get("Bold") for run in record.get("Runs") or []] != [_bold_uri(m, options) for m in members]:
        return False
    if record["Status"] == STATUS_EXCLUDED:
        return True
    expected = _expected(base, _atlas_names(members), strategy.desc, options.connectivity)
    return all((options.output_dir / name.relpath).exists() for name in expected)


def _combine_strategy(base: BIDSName, members: Sequence[RunResult], strategy, options: PipelineOptions,
                      processed_now: bool) -> CombinedResult:
    started = time.perf_counter()
    qc_path = options.output_dir / combined_name(base, strategy.desc, "qc").relpath
    result = CombinedResult(qc=qc_path, strategy=strategy.name)
    if not options.overwrite and not processed_now and _is_finished(qc_path, base, members, strategy, options):
        result.status = STATUS_SKIPPED
        result.seconds = time.perf_counter() - started
        return result
    try:
        try:
            _combine(base, members, strategy, options, result)
        except Exception as exc:  # noqa: BLE001 - one group that cannot be joined must not stop the others
            result.status = STATUS_FAILED
            result.reason = str(exc) if isinstance(exc, _CannotCombine) else f"{type(exc).__name__}: {exc}"
            _remove_outputs(result.outputs)
            result.outputs = []
            _remove_earlier(base, members, strategy, options)
            try:
                _write_record(qc_path, base, members, strategy, options, result,
                              _run_entries(members, strategy, options), [])
            except Exception as record_error:  # noqa: BLE001 - the failure is still reported on the console
                result.warnings.append(f"{qc_path.name}: the failure could not be recorded: "
                                       f"{type(record_error).__name__}: {record_error}")
    except BaseException:  # interrupted or disk full: nothing half-written stays
        _remove_outputs(result.outputs)
        raise
    result.seconds = time.perf_counter() - started
    return result


def _remove_earlier(base: BIDSName, members: Sequence[RunResult], strategy, options: PipelineOptions) -> None:
    """Remove the series and matrices an earlier job joined for this group, when it now gets none
    (excluded or failed): they would sit beside a record that says there is no concatenation."""
    names = _expected(base, _atlas_names(members), strategy.desc, options.connectivity)
    _remove_outputs([options.output_dir / name.relpath for name in names])


def _run_entries(members: Sequence[RunResult], strategy, options: PipelineOptions) -> list[dict[str, Any]]:
    """Each run's status and counts under ``strategy``, from its ``*_qc.json``."""
    entries = []
    for member in members:
        path = options.output_dir / qc_name(member.run, strategy.desc).relpath
        entry: dict[str, Any] = {"Bold": _bold_uri(member, options)}
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            record = {"Status": STATUS_FAILED, "Reason": f"its QC record {path.name} cannot be read ({exc})"}
        if not isinstance(record, dict):
            record = {"Status": STATUS_FAILED, "Reason": f"its QC record {path.name} is not a JSON object"}
        for key in ("Status", "Reason", "RepetitionTime", "NumberOfVolumes", "NumberOfVolumesKept",
                    "NumberOfVolumesDiscardedByNonsteadyStatesDetector", "NumberOfVolumesDiscardedByMotionScrubbing",
                    "MeanFramewiseDisplacement", "DegreesOfFreedomLost"):
            entry[key] = record.get(key)
        entry["_result"] = member
        entries.append(entry)
    return entries


def _public(entry: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in entry.items() if not key.startswith("_")}


def _sum(entries: Sequence[dict], key: str) -> int | None:
    values = [entry.get(key) for entry in entries]
    return None if any(v is None for v in values) else int(sum(values))


def _mean_fd(entries: Sequence[dict]) -> float | None:
    """Mean FD over all volumes of the runs with a known one (each run's mean weighted by its volumes), mm."""
    known = [(e["MeanFramewiseDisplacement"], e.get("NumberOfVolumes") or 0) for e in entries
             if e.get("MeanFramewiseDisplacement") is not None and e.get("NumberOfVolumes")]
    if not known:
        return None
    total = sum(n for _, n in known)
    return float(sum(fd * n for fd, n in known) / total)


def _write_record(qc_path: Path, base: BIDSName, members: Sequence[RunResult], strategy, options: PipelineOptions,
                  result: CombinedResult, entries: list[dict], included: list[dict]) -> None:
    """The concatenation's ``*_qc.json``: the keys of a run's record, summed over the runs joined."""
    counted = included or [e for e in entries if e.get("NumberOfVolumes") is not None and e["Status"] != STATUS_FAILED]
    record: dict[str, Any] = {
        "Status": result.status,
        "Reason": result.reason,
        "Concatenated": True,
        "Bold": "; ".join(e["Bold"] for e in entries),
        "Entities": base.entity_dict,
        "StrategyName": strategy.name,
        "NumberOfRunsConcatenated": len(included),
        "RepetitionTime": included[0]["RepetitionTime"] if included else None,
        "NumberOfVolumes": _sum(counted, "NumberOfVolumes"),
        "NumberOfVolumesKept": _sum(counted, "NumberOfVolumesKept"),
        "NumberOfVolumesDiscardedByNonsteadyStatesDetector":
            _sum(counted, "NumberOfVolumesDiscardedByNonsteadyStatesDetector"),
        "NumberOfVolumesDiscardedByMotionScrubbing": _sum(counted, "NumberOfVolumesDiscardedByMotionScrubbing"),
        "MeanFramewiseDisplacement": _mean_fd(counted),
        "DegreesOfFreedomLost": _sum(counted, "DegreesOfFreedomLost"),
        "Runs": [dict(_public(e), Included=any(e is i for i in included)) for e in entries],
        "Settings": dict(run_settings(strategy, options), CombineRuns=True),
        "Software": {"Name": "regionseries", "Version": __version__},
    }
    result.outputs.append(qc_path)
    atomic_write_json(qc_path, record)


def _read_series(path: Path) -> tuple[list[str], np.ndarray]:
    """Region names and values of a time-series TSV this app wrote (``n/a`` -> NaN)."""
    try:
        table = pd.read_csv(path, sep="\t", na_values=["n/a"], keep_default_na=False, dtype=np.float64)
    except FileNotFoundError:
        raise _CannotCombine(f"{path.name} is missing (the run's outputs are incomplete: rerun with --overwrite)") \
            from None
    return [str(column) for column in table.columns], table.to_numpy(dtype=np.float64)


def _normalisation(standardize: Any) -> dict[str, Any]:
    if standardize in ("zscore", "zscore_sample"):
        text = (f"each run z-scored over its kept volumes by the strategy (standardize={standardize}), then centred "
                "on them (no change up to rounding): every run weighs the same, as XCP-D >= 26 z-scores each run "
                "before concatenation")
    elif standardize == "psc":
        text = ("each run in percent signal change of its own mean (standardize=psc), centred on its kept volumes; "
                "runs keep their amplitudes (not z-scored)")
    else:
        text = ("each run centred on its kept volumes (standardize=none: the strategy's units); runs keep their "
                "amplitudes (not z-scored)")
    return {"Centred": True, "Standardize": standardize, "Description": text}


def _combine(base: BIDSName, members: Sequence[RunResult], strategy, options: PipelineOptions,
             result: CombinedResult) -> None:
    entries = _run_entries(members, strategy, options)
    included = [e for e in entries if e["Status"] == STATUS_DONE]
    left_out = [e for e in entries if e["Status"] != STATUS_DONE]
    qc_path = result.qc
    result.runs = [e["_result"].run.bold.name for e in included]
    for entry in left_out:
        if entry["Status"] == STATUS_FAILED:
            result.warnings.append(f"{qc_path.name}: {entry['_result'].run.bold.name} left out: it failed "
                                   f"({entry['Reason']})")
    if not included:
        result.status = STATUS_FAILED if any(e["Status"] == STATUS_FAILED for e in entries) else STATUS_EXCLUDED
        result.reason = "no run to concatenate: " + "; ".join(
            f"{e['_result'].run.bold.name} {e['Status']} ({e['Reason']})" for e in entries)
        _remove_earlier(base, members, strategy, options)
        _write_record(qc_path, base, members, strategy, options, result, entries, included)
        return
    repetition_times = {round(float(e["RepetitionTime"]), 6) for e in included if e["RepetitionTime"] is not None}
    if len(repetition_times) > 1:
        raise _CannotCombine(f"the runs have different repetition times ({', '.join(map(str, sorted(repetition_times)))}"
                             " s): they are not concatenated")
    for atlas in _atlas_names(members):
        _combine_atlas(base, atlas, included, left_out, strategy, options, result)
    _write_record(qc_path, base, members, strategy, options, result, entries, included)


def _combine_atlas(base: BIDSName, atlas: str, included: list[dict], left_out: list[dict], strategy,
                   options: PipelineOptions, result: CombinedResult) -> None:
    """Join one atlas's series of the included runs; write the series, its matrices and their sidecars."""
    signals, kept, sidecars, sources = [], [], [], []
    names: list[str] | None = None
    for entry in included:
        path = options.output_dir / timeseries_name(entry["_result"].run, atlas, strategy.desc).relpath
        these, values = _read_series(path)
        try:
            sidecar = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise _CannotCombine(f"{path.with_suffix('.json').name} cannot be read ({exc})") from None
        if names is None:
            names = these
        elif these != names:
            raise _CannotCombine(f"{path.name} has other regions than {sources[0].split('/')[-1]}")
        if values.shape[0] != sidecar.get("NumberOfVolumes", values.shape[0]):
            raise _CannotCombine(f"{path.name} has {values.shape[0]} rows, its sidecar says "
                                 f"{sidecar.get('NumberOfVolumes')} volumes")
        signals.append(values)
        kept.append(np.asarray(sidecar["KeptVolumes"], dtype=int))
        sidecars.append(sidecar)
        sources.append(bids_uri(path.relative_to(options.output_dir)))
    combined, kept_rows = concatenate_runs(signals, kept)
    series_name = combined_name(base, strategy.desc, "timeseries", atlas)
    series_path = options.output_dir / series_name.relpath
    result.outputs += [series_path, series_path.with_suffix(".json")]
    atomic_write_tsv(series_path, pd.DataFrame(combined, columns=names))
    first = sidecars[0]
    runs, row = [], 0
    for entry, sidecar, source, values in zip(included, sidecars, sources, signals):
        runs.append({"TimeSeries": source, "Bold": entry["Bold"], "FirstRow": row,
                     "NumberOfVolumes": int(values.shape[0]), "NumberOfVolumesKept": len(sidecar["KeptVolumes"]),
                     "MeanFramewiseDisplacement": sidecar.get("MeanFramewiseDisplacement"),
                     "RegionsBelowCoverage": sidecar.get("RegionsBelowCoverage", [])})
        row += values.shape[0]
    below = _union(s.get("RegionsBelowCoverage", []) for s in sidecars)
    without = _union(s.get("RegionsWithoutVoxels", []) for s in sidecars)
    standardize = (first.get("CleaningParameters") or {}).get("standardize")
    sidecar: dict[str, Any] = {
        "Description": (
            f"Region time series of atlas {atlas} cleaned with strategy {strategy.name}, {len(included)} run(s) "
            "concatenated in run order: one row per volume of each run (ConcatenatedRuns gives each run's first "
            "row), one column per region; removed volumes are n/a, and so is a region in the runs where it is "
            "below the coverage threshold. Each run is centred on its kept volumes (RunNormalisation)."
        ),
        "SamplingFrequency": first.get("SamplingFrequency"),
        "RepetitionTime": first.get("RepetitionTime"),
        "Sources": sources,
        "Atlas": dict(first.get("Atlas") or {}, ResampledTo="the grid of each run"),
        "SmoothingFWHM": first.get("SmoothingFWHM"),
        "Strategy": first.get("Strategy"),
        "CleaningParameters": first.get("CleaningParameters"),
        "RunNormalisation": _normalisation(standardize),
        "NumberOfRuns": len(included),
        "ConcatenatedRuns": runs,
        "RunsLeftOut": [{"Bold": e["Bold"], "Status": e["Status"], "Reason": e["Reason"]} for e in left_out],
        "NumberOfVolumes": int(combined.shape[0]),
        "NumberOfVolumesKept": int(kept_rows.size),
        "KeptVolumes": kept_rows.tolist(),
        "MinimumCoverage": first.get("MinimumCoverage"),
        "RegionsBelowCoverage": below,
        "RegionsWithoutVoxels": without,
        "Software": {"Name": "regionseries", "Version": __version__},
        "CommandLine": options.command_line,
    }
    atomic_write_json(series_path.with_suffix(".json"), sidecar)
    for kind in options.connectivity:
        try:
            matrix = connectivity_matrix(combined, kind, sample_mask=kept_rows, estimator=options.estimator)
        except ConnectivityError as exc:
            result.warnings.append(f"{series_name.filename}: no {kind} matrix: {exc}")
            continue
        path = options.output_dir / combined_name(base, strategy.desc, "relmat", atlas, kind).relpath
        write_matrix_table(path, matrix, names, result)
        description = (f"{MEASURE_NAMES[kind]} between region time series, on the {kept_rows.size} kept volumes of "
                       f"{len(included)} concatenated run(s), each centred on its kept volumes ({options.estimator} "
                       "covariance estimator); regions below the coverage threshold in any run are n/a")
        atomic_write_json(path.with_suffix(".json"), dict(
            relmat_sidecar(kind, matrix, names, kept_rows.size, options.estimator, description, series_name),
            NumberOfRuns=len(included)))


def _union(lists) -> list[str]:
    union: list[str] = []
    for names in lists:
        for name in names:
            if name not in union:
                union.append(name)
    return union


def describe(result: CombinedResult) -> str:
    """One log line for a concatenation."""
    name = result.qc.name.removesuffix("_qc.json")
    if result.status == STATUS_SKIPPED:
        return f"{name}: skipped (outputs exist)"
    if result.status == STATUS_DONE:
        return f"{name}: {len(result.runs)} run(s) concatenated ({result.seconds:.2f} s)"
    return f"{name}: {result.status}: {result.reason}"

