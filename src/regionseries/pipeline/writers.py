"""The files of one run, written atomically, with their sidecars: a time-series
TSV per atlas and strategy with ONE ROW PER BOLD VOLUME (removed volumes are
``n/a``, so rows stay aligned with ``SamplingFrequency``), the connectivity
matrices of the kept volumes, and a per-strategy QC record (``*_qc.json``).

Each writer adds its paths to ``RunResult.outputs`` before writing, so that an
interrupted run removes them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._version import __version__
from ..atlases.base import Atlas
from ..bids.inputs import RunInputs, relative_to_dataset
from ..bids.names import bids_uri
from ..bids.outputs import atomic_write_json, atomic_write_tsv, tsv_text
from ..bids.relmat import copy_path, write_relmat_tsv
from ..core.connectivity import MEASURE_NAMES
from ..core.extract.vertices import write_parcellated_cifti
from .model import PipelineOptions, RunResult, StrategyOutcome
from .names import qc_name, relmat_name, timeseries_name
from .resume import run_settings


def _sources(run: RunInputs, options: PipelineOptions, image: Path | None = None) -> list[str]:
    if run.hemispheres and image in (None, run.bold):  # a GIFTI run: both hemispheres were read
        return [bids_uri(relative_to_dataset(path, options.bids_dir), "preprocessed")
                for path in (*run.hemispheres, run.confounds) if path is not None]
    image = image or run.bold
    # the image read may be fMRIPost-AROMA's denoised BOLD, in the --datasets aroma folder
    dataset = next((name for name, root in options.datasets.items() if Path(image).is_relative_to(root)), None)
    if dataset is None:
        sources = [bids_uri(relative_to_dataset(image, options.bids_dir), "preprocessed")]
    else:
        sources = [bids_uri(relative_to_dataset(image, options.datasets[dataset]), dataset)]
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
    if atlas.surface == "cifti":
        description["ResampledTo"] = f"none: matched to the grayordinates of {run.bold.name} by structure and vertex"
        description["Extraction"] = {
            "labels": "mean of the grayordinates (cortical vertices, subcortical voxels) of each label",
            "maps": "least-squares fit of the maps to each volume, over the grayordinates (cortical vertices, "
                    "subcortical voxels)"}[atlas.kind]
    elif atlas.surface == "gifti":
        description["ResampledTo"] = f"none: the vertices of {' and '.join(p.name for p in run.bold_files)}"
        description["Extraction"] = {"labels": "mean of the vertices of each label",
                                     "maps": "least-squares fit of the maps to each volume, over the vertices of "
                                             "both hemispheres"}[atlas.kind]
    if atlas.source.get("Coverage"):  # a cortex-only TemplateFlow dlabel on 91k grayordinates
        description["Coverage"] = atlas.source["Coverage"]
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
        "KeptDuration": plan.n_kept * run.repetition_time,  # seconds
        **({"MinTime": plan.strategy.min_time} if plan.strategy.min_time else {}),  # seconds
        **plan.motion_filter_summary(),
        **plan.component_records,  # fMRIPost-AROMA / tedana files and component counts, when used

    }


def write_timeseries(run: RunInputs, atlas: Atlas, one, outcome: StrategyOutcome, full: np.ndarray,
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
        "Sources": _sources(run, options, source) + [bids_uri(v) for k, v in atlas_files.items()
                                                     if k in ("image", "image_L", "image_R", "table")],
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


def relmat_sidecar(kind: str, matrix: np.ndarray, names: Sequence[str], n_kept: int, estimator: str,
                   description: str, series) -> dict[str, Any]:
    """A matrix's BEP017 sidecar: ``kind`` over ``n_kept`` volumes of the time series named ``series`` (a BIDSName)."""
    return {
        "RelationshipMeasure": MEASURE_NAMES[kind],
        "MeasureDescription": description,
        "Weighted": True,
        "Directed": False,
        "ValidDiagonal": kind == "covariance",
        "StorageFormat": "Full",
        "NonNegative": False,
        "Estimator": estimator,
        "NumberOfVolumesUsed": int(n_kept),
        "RegionsWithoutSignal": [n for n, row in zip(names, matrix) if np.all(np.isnan(row))],
        "Sources": [bids_uri(series.relpath)],
        "Software": {"Name": "regionseries", "Version": __version__},
    }


def write_relmat(run: RunInputs, atlas: Atlas, outcome: StrategyOutcome, kind: str, matrix: np.ndarray,
                  n_kept: int, options: PipelineOptions, result: RunResult) -> None:
    name = relmat_name(run, atlas.name, outcome.desc, kind)
    path = options.output_dir / name.relpath
    names = atlas.names
    write_matrix_table(path, matrix, names, result)
    series = timeseries_name(run, atlas.name, outcome.desc)
    description = (f"{MEASURE_NAMES[kind]} between region time series, on the {n_kept} kept volumes "
                   f"({options.estimator} covariance estimator)")
    sidecar = relmat_sidecar(kind, matrix, names, n_kept, options.estimator, description, series)
    atomic_write_json(path.with_suffix(".json"), sidecar)


def write_matrix_table(path: Path, matrix: np.ndarray, names: Sequence[str], result: RunResult) -> None:
    """A connectivity matrix's TSV and its binary copy (:mod:`regionseries.bids.relmat`), with the sidecar's
    path listed among the run's outputs before anything is written (an interrupted run removes them)."""
    result.outputs += [path, copy_path(path), path.with_suffix(".json")]
    write_relmat_tsv(path, tsv_text(pd.DataFrame(matrix, index=pd.Index(names), columns=names), index_label="node"))


def write_parcellated(path: Path, values: np.ndarray, parcels, result: RunResult,
                      repetition_time: float | None = None) -> None:
    """A CIFTI run's series (``ptseries.nii``, with ``repetition_time``) or matrix
    (``pconn.nii``) beside its TSV, atomically (a temporary name, then a rename)."""
    result.outputs.append(path)  # before writing: an interrupted run removes it
    extension = "." + path.name.split(".", 1)[1]  # nibabel names the CIFTI intent from it
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}{extension}")
    try:
        write_parcellated_cifti(temporary, values, parcels, repetition_time)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_qc(run: RunInputs, outcome: StrategyOutcome, options: PipelineOptions, result: RunResult) -> None:
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
    plan = outcome.plan if outcome.plan is not None else outcome.excluded_plan
    if plan is not None:
        record.update(_plan_fields(plan, run))
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
