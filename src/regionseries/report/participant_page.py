"""The participant page (``sub-<label>.html``): each run's tables and figures, the atlases, the settings.

:func:`draw_run_figures` draws a run's own figures (motion, carpets,
connectivity) as soon as the run is processed; :func:`write_participant_report`
draws what the runs share (atlas overlays) and renders the page.

Layout of the output directory::

    sub-<label>.html
    sub-<label>/figures/sub-<label>_..._desc-<figure>_<suffix>.png
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from . import raster
from .figure_writer import FigureWriter, _finished
from .formatting import _anchor, format_number, format_value, safe_label
from .model import AtlasResult, ParticipantReport, RunReport
from .pages import _environment, _package_version, _page_context, _write_text_atomically
from .raster.frames import _figures
from .tables import _cell, _column, _num_cell, _parameter_rows

__all__ = ["draw_run_figures", "render_participant_html", "write_participant_report"]

logger = logging.getLogger(__name__)

#: Region tables with at most this many rows are shown unfolded.
OPEN_TABLE_MAX_ROWS = 40

#: Connectivity matrices of at most this many regions have the names on their axes
#: (``max_labelled_regions`` of the figures); larger ones get a list of names by index.
MATRIX_LABELLED_REGIONS = 30


def _run_prefix(run: RunReport) -> str:
    return "_".join(f"{key}-{safe_label(value)}" for key, value in run.all_entities.items())


def _strategy_status(strategy: Any, n_volumes: int) -> tuple[str | None, str]:
    """(``"excluded"``/``"failed"``/None, text) of a strategy on a run, for display.

    A reason starting with "failed" marks an input problem rather than an
    exclusion by the data; the leading word is moved into the label.
    """
    if not strategy.excluded:
        return None, f"kept {strategy.n_kept}/{n_volumes} volumes"
    reason = (strategy.exclusion_reason or "no reason given").strip()
    label = "failed" if reason.lower().startswith("failed") else "excluded"
    if reason.lower().startswith(label):
        reason = reason[len(label):].lstrip(" :-—") or "no reason given"
    return label, reason


def _censoring_table(run: RunReport) -> dict[str, Any]:
    columns = [
        _column("strategy"),
        _column("FD threshold (mm)", True),
        _column("std DVARS threshold", True),
        _column("dummy volumes", True),
        _column("censored for motion", True),
        _column("kept volumes", True),
        _column("kept (%)", True),
        _column("regressors", True),
        _column("dof lost", True),
        _column("status"),
    ]
    rows = []
    for strategy in run.strategies:
        label, text = _strategy_status(strategy, run.n_volumes)
        rows.append(
            {
                "css": "excluded" if label else "",
                "cells": [
                    _cell(strategy.name),
                    _num_cell(strategy.fd_threshold),
                    _num_cell(strategy.std_dvars_threshold),
                    _num_cell(strategy.n_dummy),
                    _num_cell(strategy.n_motion_censored),
                    _num_cell(strategy.n_kept),
                    _num_cell(100 * strategy.n_kept / run.n_volumes, 3),
                    _num_cell(strategy.n_regressors),
                    _num_cell(strategy.dof_lost),
                    _cell(f"{label}: {text}" if label else "ok", "status"),
                ],
            }
        )
    return {"columns": columns, "rows": rows}


def _motion_summary(run: RunReport) -> list[tuple[str, str, bool]]:
    if run.fd is None:
        return [("Framewise displacement", "not available (no confounds)", False)]
    finite = run.fd[np.isfinite(run.fd)]
    rows = [
        ("Mean FD", f"{format_number(run.mean_fd)} mm", False),
        ("Max FD", f"{format_number(finite.max() if finite.size else None)} mm", False),
    ]
    for threshold in sorted({s.fd_threshold for s in run.strategies if s.fd_threshold}):
        above = int(np.sum(finite > threshold))
        rows.append((f"Volumes with FD > {threshold:g} mm", f"{above} of {run.n_volumes}", False))
    thresholds = sorted({s.std_dvars_threshold for s in run.strategies
                         if s.std_dvars_threshold is not None})
    if run.std_dvars is None:
        if thresholds:
            rows.append(("Standardized DVARS", "not available (no std_dvars column)", False))
        return rows
    dvars = run.std_dvars[np.isfinite(run.std_dvars)]
    rows.append(("Max std DVARS", format_number(dvars.max() if dvars.size else None), False))
    for threshold in thresholds:
        above = int(np.sum(dvars > threshold))
        rows.append((f"Volumes with std DVARS > {threshold:g}", f"{above} of {run.n_volumes}", False))
    return rows


def _reason_counts(run: RunReport) -> list[tuple[str, str, bool]]:
    """One line per strategy: how many volumes it removed for each reason."""
    rows = []
    for strategy in run.strategies:
        reasons = run.volume_reasons(strategy)
        if not reasons:
            continue
        counts: dict[str, int] = {}
        for names in reasons.values():
            for name in names:
                counts[name] = counts.get(name, 0) + 1
        text = ", ".join(f"{name}: {count}" for name, count in counts.items())
        if sum(counts.values()) > len(reasons):
            text += "; a volume can have several reasons"
        rows.append((f"Removed by {strategy.name}", f"{len(reasons)} volumes ({text})", False))
    return rows


def _reasons_table(run: RunReport) -> dict[str, Any] | None:
    """Every volume removed by a strategy, with its FD, std DVARS and reason(s)."""
    columns = [_column("strategy"), _column("volume", True), _column("time (s)", True),
               _column("FD (mm)", True), _column("std DVARS", True), _column("reason(s)")]
    rows = []
    for strategy in run.strategies:
        for volume, reasons in run.volume_reasons(strategy).items():
            rows.append({"css": "", "cells": [
                _cell(strategy.name), _num_cell(volume),
                _num_cell(volume * run.repetition_time, 4),
                _num_cell(None if run.fd is None else run.fd[volume], 3),
                _num_cell(None if run.std_dvars is None else run.std_dvars[volume], 3),
                _cell(" + ".join(reasons)),
            ]})
    return {"columns": columns, "rows": rows} if rows else None


def _dataset_root(paths: list[str]) -> str:
    """The folder the inputs' paths are shown relative to: above their ``sub-*`` folder
    (the dataset root), or their common folder; "" when they share none or are relative."""
    roots = []
    for path in paths:
        parts = PurePath(path).parts
        index = next((k for k, part in enumerate(parts[:-1]) if part.startswith("sub-")), len(parts) - 1)
        roots.append(str(PurePath(*parts[:index])) if index else "")
    if not roots or not all(PurePath(root).is_absolute() for root in roots):
        return ""
    try:
        return os.path.commonpath(roots)
    except ValueError:  # different drives
        return ""


def _relative(path: str, root: str) -> str:
    return os.path.relpath(path, root) if root and PurePath(path).is_absolute() else path


def _inputs(run: RunReport, root: str = "") -> list[tuple[str, str, bool]]:
    return [
        ("BOLD", _relative(run.bold_file, root), True),
        ("Confounds", _relative(run.confounds_file, root) if run.confounds_file else "none",
         bool(run.confounds_file)),
        ("Brain mask", _relative(run.mask_file, root) if run.mask_file else "none",
         bool(run.mask_file)),
        ("Space", run.space or "not given", False),
        ("Repetition time", f"{format_number(run.repetition_time, 4)} s", False),
        ("Volumes", f"{run.n_volumes} ({format_number(run.duration_s, 4)} s)", False),
    ]


def _region_table(atlas: AtlasResult) -> dict[str, Any]:
    na = atlas.na_mask
    if atlas.kind == "spheres":
        columns = [
            _column("sphere", True),
            _column("region name"),
            _column("x (mm)", True),
            _column("y (mm)", True),
            _column("z (mm)", True),
            _column("radius (mm)", True),
        ]
    else:
        first = "label value" if atlas.kind == "labels" else "map"
        columns = [_column(first, True), _column("region name")]
    columns += [
        _column("size (mm³)", True),
        _column("relative size (%)", True),
        _column("coverage (%)", True),
        _column("status"),
    ]
    rows = []
    for position, name in enumerate(atlas.region_names):
        cells = [_num_cell(atlas.label_values[position]), _cell(name)]
        if atlas.kind == "spheres":
            x, y, z = atlas.sphere_coordinates_mm[position]
            cells += [_num_cell(x, 4), _num_cell(y, 4), _num_cell(z, 4),
                      _num_cell(atlas.sphere_radius_mm, 3)]
        cells += [
            _num_cell(None if atlas.size_mm3 is None else round(float(atlas.size_mm3[position])), 8),
            _num_cell(None if atlas.relative_size_percent is None
                      else atlas.relative_size_percent[position], 3),
            _num_cell(None if atlas.coverage is None else 100 * atlas.coverage[position], 4),
            _cell("n/a" if na[position] else "ok", "status"),
        ]
        rows.append({"css": "na" if na[position] else "", "cells": cells})
    return {"columns": columns, "rows": rows}


def _na_descriptions(atlas: AtlasResult) -> list[str]:
    """Names of the regions set to n/a, with their coverage when known."""
    if atlas.coverage is None:
        return list(atlas.regions_na)
    coverage = dict(zip(atlas.region_names, atlas.coverage))
    return [f"{name} ({100 * coverage[name]:.0f} % covered)" for name in atlas.regions_na]


def _atlas_headline(atlas: AtlasResult) -> str:
    parts = [f"{atlas.kind} atlas", f"{atlas.n_regions} regions"]
    if atlas.kind == "spheres" and atlas.sphere_radius_mm:
        parts.append(f"radius {atlas.sphere_radius_mm:g} mm")
    if atlas.coverage is not None:
        parts.append(f"median coverage {100 * float(np.median(atlas.coverage)):.1f} %")
    parts.append(f"{len(atlas.regions_na)} set to n/a")
    return ", ".join(parts)


def _run_figures(run: RunReport, writer: FigureWriter) -> dict[str, Any]:
    """Draw the figures that belong to this run alone: motion, carpets, connectivity.

    They depend on nothing but the run, so they can be drawn as soon as the
    run is processed, in the process that processed it
    (:func:`draw_run_figures`); the atlas overlays, shared by the runs of a
    participant, are drawn with the page.
    """
    prefix = _run_prefix(run)
    figures: dict[str, Any] = {"signals": [], "connectivity": []}
    figures["motion_figure"] = writer.write(
        lambda: raster.motion_raster(run.n_volumes, run.repetition_time, run.strategies, run.fd,
                                     frame_dir=writer.frame_dir, std_dvars=run.std_dvars)
        if writer.raster
        else _figures().plot_motion(run.n_volumes, run.repetition_time, run.strategies, run.fd,
                                    run.std_dvars),
        f"{prefix}_desc-censoring_motion",
        "Top: framewise displacement (FD, mm) and standardized DVARS per volume with each "
        "strategy's thresholds (dashed); a red dot marks a volume censored because it is above "
        "the threshold of that trace; dummy (non-steady-state) volumes shaded. Bottom: volumes "
        "kept and removed by each strategy (a censored volume without a dot was censored because "
        "its segment of kept volumes was too short; see \u201cCensored volumes and why\u201d)."
        + (" Green: FD recomputed from the motion-filtered parameters, which the strategies with a motion "
           "filter censored on (fMRIPrep's FD in blue)." if any(s.filtered_fd is not None for s in run.strategies)
           else ""),
    )
    for atlas in run.atlases:
        atlas_label = f"{prefix}_atlas-{safe_label(atlas.name)}"
        panels = raster.carpet_panels(run, atlas.name)
        if panels:
            figures["signals"].append(
                {
                    "atlas": atlas.name,
                    "figure": writer.write(
                        lambda panels=panels: raster.carpet_raster(
                            panels, run.repetition_time, frame_dir=writer.frame_dir) if writer.raster
                        else _figures().plot_carpet(panels, run.repetition_time),
                        f"{atlas_label}_desc-carpet_timeseries",
                        "Each row is a region in atlas order, z-scored over time (grey scale "
                        "from −2 to 2); pale red marks removed volumes and regions set to n/a.",
                    ),
                }
            )
        matrices = [
            (strategy.name + (" (run excluded)" if strategy.excluded else ""),
             run.connectivity[(atlas.name, strategy.name)])
            for strategy in run.strategies
            if (atlas.name, strategy.name) in run.connectivity
        ]
        if matrices:
            kept = ", ".join(
                f"{strategy.name}: {strategy.n_kept}" for strategy in run.strategies
                if (atlas.name, strategy.name) in run.connectivity
            )
            figures["connectivity"].append(
                {
                    "atlas": atlas.name,
                    "figure": writer.write(
                        lambda matrices=matrices, atlas=atlas: raster.connectivity_raster(
                            matrices, atlas.region_names, run.connectivity_measure,
                            max_labelled_regions=MATRIX_LABELLED_REGIONS,
                            frame_dir=writer.frame_dir) if writer.raster
                        else _figures().plot_connectivity(
                            matrices, atlas.region_names, run.connectivity_measure,
                            max_labelled_regions=MATRIX_LABELLED_REGIONS),
                        f"{atlas_label}_stat-{safe_label(run.connectivity_measure)}_relmat",
                        f"{run.connectivity_measure.capitalize()} between regions in atlas "
                        f"table order, computed on kept volumes only ({kept}); one colour "
                        "scale for all strategies; grey: diagonal and regions set to n/a.",
                    ),
                }
            )
    return figures


def _run_view(run: RunReport, writer: FigureWriter, figures: dict[str, Any] | None = None,
              root: str = "") -> dict[str, Any]:
    """Everything the page shows of one run; ``figures`` from :func:`draw_run_figures` if drawn already."""
    prefix = _run_prefix(run)
    anchor = _anchor(prefix)
    view: dict[str, Any] = {
        "anchor": anchor,
        "label": run.run_label,
        "inputs": _inputs(run, root),
        "reference_description": run.reference_description,
        "warnings": [("", text) for text in run.warnings],
        "motion_summary": _motion_summary(run) + _reason_counts(run),
        "reasons_table": _reasons_table(run),
        "censoring_table": _censoring_table(run),
    }
    view.update(figures if figures is not None else _run_figures(run, writer))
    view["region_index"] = {
        atlas.name: atlas.region_names for atlas in run.atlases
        if atlas.n_regions > MATRIX_LABELLED_REGIONS
    }
    view["exclusions"] = [
        (f"{label} under {strategy.name}", text)
        for strategy in run.strategies
        for label, text in [_strategy_status(strategy, run.n_volumes)] if label
    ]
    view["status"] = _run_status(run)
    view["confound_columns"] = [
        (strategy.name, format_value(strategy.confound_columns)) for strategy in run.strategies
    ]
    return view


def _run_status(run: RunReport) -> str:
    """One line for a run's collapsed heading: volumes, mean FD and its strategies' verdicts."""
    parts = [f"{run.n_volumes} volumes"]
    if run.mean_fd is not None:
        parts.append(f"mean FD {format_number(run.mean_fd)} mm")
    excluded = [s.name for s in run.strategies if s.excluded]
    parts.append(f"excluded under {', '.join(excluded)}" if excluded else "kept under every strategy")
    if run.warnings:
        parts.append(f"{len(run.warnings)} warning{'s' if len(run.warnings) != 1 else ''}")
    return " · ".join(parts)


def _atlas_views(report: ParticipantReport, writer: FigureWriter) -> list[dict[str, Any]]:
    """The atlas material once per atlas and grid: overlay, region table, regions set to n/a.

    Runs whose atlas overlay is the same picture (same grid, same regions set
    to n/a, :func:`_overlay_key`) share one entry; its coverage column is the
    lowest over those runs.
    """
    groups: dict[tuple, list[tuple[RunReport, AtlasResult]]] = {}
    for run in report.runs:
        for atlas in run.atlases:
            groups.setdefault(_overlay_key(atlas, run.reference_image), []).append((run, atlas))
    names = [key[1] for key in groups]
    short = dict(zip((run.run_label for run in report.runs), _short_run_labels(report.runs)))
    views = []
    for key, members in groups.items():
        run, atlas = members[0]
        coverages = [a.coverage for _, a in members if a.coverage is not None]
        shown = atlas if len(coverages) < 2 else replace(
            atlas, coverage=np.min(coverages, axis=0), image=None)
        labels = [short[r.run_label] for r, _ in members]
        many = names.count(atlas.name) > 1
        views.append({
            "anchor": _anchor(f"atlas-{atlas.name}" + (f"-{len(views)}" if many else "")),
            "name": atlas.name,
            "headline": _atlas_headline(shown),
            "description": atlas.description,
            "runs": labels,
            "all_runs": len(labels) == len(report.runs),
            "na_names": _na_descriptions(shown),
            "n_regions": atlas.n_regions,
            "open": atlas.n_regions <= OPEN_TABLE_MAX_ROWS,
            "coverage_note": "lowest coverage over these runs" if len(coverages) > 1 else "",
            "table": _region_table(shown),
            "reference_description": run.reference_description,
            "figure_alt": (f"Atlas {atlas.name} on the {_surface_name(atlas)}"
                           if atlas.surface is not None
                           else f"Atlas {atlas.name} over the {run.reference_description}"),
            "figure": writer.write_shared(
                key,
                lambda atlas=atlas, run=run: raster.atlas_raster(
                    atlas, run.reference_image, frame_dir=writer.frame_dir) if writer.raster
                else _figures().plot_atlas(atlas, run.reference_image),
                f"{_run_prefix(run)}_atlas-{safe_label(atlas.name)}_desc-"
                f"{'surface' if atlas.surface is not None else 'overlay'}_"
                f"{'spheres' if atlas.kind == 'spheres' else 'dseg'}",
                _surface_caption(atlas, len(members) > 1) if atlas.surface is not None else (
                    _atlas_caption(atlas, run.reference_description)
                    + (" The same picture serves the runs listed above (same grid, same regions "
                       "set to n/a); it" if len(members) > 1 else " It")
                    + f" is drawn over the {run.reference_description} of {run.run_label}."),
            ),
            "coverage_figure": _surface_coverage_figure(writer, run, shown, members),
            "surface_note": atlas.surface_note if atlas.surface is None else "",
            "volume_figure": None if atlas.surface is None or atlas.image is None else writer.write(
                lambda atlas=atlas, run=run: raster.atlas_raster(
                    replace(atlas, surface=None), run.reference_image, frame_dir=writer.frame_dir)
                if writer.raster else _figures().plot_atlas(replace(atlas, surface=None),
                                                            run.reference_image),
                f"{_run_prefix(run)}_atlas-{safe_label(atlas.name)}_desc-overlay_dseg",
                _atlas_caption(atlas, run.reference_description)
                + " Only the regions in the volume are drawn here (the subcortical structures of "
                  f"CIFTI grayordinates), over the {run.reference_description} of {run.run_label}.",
            ),
        })
    return views


def _surface_name(atlas: AtlasResult) -> str:
    return f"{atlas.surface.mesh_description or 'cortical'} surface"


def _surface_caption(atlas: AtlasResult, shared: bool) -> str:
    what = "Regions" if atlas.kind == "labels" else "Strongest map at each vertex"
    return (
        f"{what} on the {_surface_name(atlas)}, lateral and medial views of each hemisphere "
        f"(A: anterior, P: posterior); vertices outside every region (the medial wall) are grey; "
        f"regions set to n/a in red."
        + (" The same picture serves the runs listed above (same regions set to n/a)."
           if shared else "")
    )


def _surface_coverage_figure(writer: FigureWriter, run: RunReport, shown: AtlasResult,
                             members: list[tuple[RunReport, AtlasResult]]) -> dict[str, Any] | None:
    """Coverage of a surface atlas's regions on the surface, over the runs sharing its picture.

    With several runs the colours are each region's lowest coverage over them
    (as the region table) and the vertices without signal in any of them are dark.
    """
    if shown.surface is None or shown.coverage is None:
        return None
    covered = [a.surface.vertex_covered for _, a in members
               if a.surface is not None and a.surface.vertex_covered is not None]
    vertex_covered = None if not covered else {
        hemisphere: np.logical_and.reduce([c[hemisphere] for c in covered])
        for hemisphere in ("left", "right")}
    min_coverage = run.parameters.get("min_coverage")
    min_coverage = None if min_coverage is None else float(min_coverage)
    several = len(members) > 1

    def draw() -> Any:
        if writer.raster:
            return raster.surface_coverage_raster(shown, min_coverage, vertex_covered,
                                                  frame_dir=writer.frame_dir)
        return _figures().plot_surface_atlas(shown, True, min_coverage, vertex_covered)

    threshold = ("" if min_coverage is None
                 else f" (--min-coverage {min_coverage:g}, marked on the colour bar)")
    return writer.write(
        draw,
        f"{_run_prefix(run)}_atlas-{safe_label(shown.name)}_desc-coverage_dseg",
        f"Coverage of each region on the {_surface_name(shown)}: the fraction of its vertices "
        f"with a usable signal{' (lowest over the runs listed above)' if several else ''}; "
        f"regions set to n/a outlined in red{threshold}"
        + ("; dark vertices have no usable signal (zero, constant or NaN"
           + (" in at least one of these runs)." if several else ").")
           if vertex_covered is not None else "."),
    )


def draw_run_figures(run: RunReport, output_dir: str | os.PathLike, participant: str,
                     figure_format: str = "png", dpi: float = 100,
                     frame_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Draw one run's own figures into ``sub-<participant>/figures/`` ahead of its page.

    Worker processes call this right after processing a run, so the figures
    of several runs are drawn in parallel; :func:`write_participant_report`
    then takes them (``drawn``) and only draws what runs share. ``frame_dir``
    as for :class:`FigureWriter`.

    Returns
    -------
    dict
        ``prefix`` (the run's key in ``drawn``), ``figures`` (for the page),
        ``written`` (file paths) and ``seconds`` (drawing time).
    """
    writer = FigureWriter(output_dir, f"sub-{safe_label(participant)}/figures", figure_format, dpi,
                          frame_dir)
    figures = _finished(writer, lambda: _run_figures(run, writer))
    return {"prefix": _run_prefix(run), "figures": figures, "written": [str(p) for p in writer.written],
            "seconds": writer.seconds, "format": figure_format, "dpi": dpi}


def _grid_signature(image: Any) -> tuple | None:
    if image is None:
        return None
    return tuple(image.shape), np.round(np.asarray(image.affine, dtype=float), 4).tobytes()


def _overlay_key(atlas: AtlasResult, reference_image: Any) -> tuple:
    """What an atlas overlay depends on, apart from the reference image's intensities.

    Runs of a participant on the same grid share one overlay picture when the
    atlas (its data on that grid, or its spheres) and the regions set to n/a
    are the same.
    """
    content = None
    if atlas.image is not None:
        content = hashlib.sha1(np.ascontiguousarray(np.asarray(atlas.image.dataobj))).hexdigest()
    if atlas.surface is not None:
        digest = hashlib.sha1()
        for hemisphere in ("left", "right"):
            coordinates, faces = atlas.surface.meshes[hemisphere]
            for array in (coordinates, faces, atlas.surface.vertex_labels[hemisphere]):
                digest.update(np.ascontiguousarray(array).tobytes())
        # A surface picture does not depend on the run's reference image.
        return ("surface", atlas.name, atlas.kind, tuple(atlas.label_values),
                tuple(atlas.regions_na), digest.hexdigest(), content)
    spheres = None
    if atlas.sphere_coordinates_mm is not None:
        spheres = (np.asarray(atlas.sphere_coordinates_mm, dtype=float).tobytes(),
                   atlas.sphere_radius_mm)
    return ("overlay", atlas.name, atlas.kind, tuple(atlas.label_values), tuple(atlas.regions_na),
            _grid_signature(atlas.image), _grid_signature(reference_image), content, spheres)


def _atlas_caption(atlas: AtlasResult, reference_description: str) -> str:
    if atlas.kind == "spheres":
        return (
            f"Spheres at their centres over maximum-intensity projections of the "
            f"{reference_description}; spheres set to n/a in red."
        )
    what = "Regions" if atlas.kind == "labels" else "Strongest map at each voxel"
    return (
        f"{what} over the {reference_description} on the BOLD grid (axial, coronal and "
        f"sagittal cuts, neurological convention: left is left); regions set to n/a in red."
    )


def _participant_parameters(report: ParticipantReport) -> list[dict[str, Any]]:
    tables = []
    run_parameters = [run.parameters for run in report.runs]
    if run_parameters and all(params == run_parameters[0] for params in run_parameters):
        tables.append({"title": "Run settings", "rows": _parameter_rows(run_parameters[0])})
    else:
        for run in report.runs:
            tables.append({"title": f"Run settings: {run.run_label}",
                           "rows": _parameter_rows(run.parameters)})
    seen: dict[str, Any] = {}
    for run in report.runs:
        for strategy in run.strategies:
            seen.setdefault(strategy.name, strategy)
    for name, strategy in seen.items():
        rows = _parameter_rows(strategy.parameters)
        tables.append({"title": f"Strategy: {name}", "rows": rows})
    if report.command_line:
        tables.append({"title": "Command line", "rows": [("command", report.command_line, True)]})
    return tables


def _short_run_labels(runs: list[RunReport]) -> list[str]:
    """Run names for the navigation bar: only the entities that differ between runs."""
    entities = [{k: v for k, v in run.all_entities.items() if k != "sub"} for run in runs]
    keys = list(dict.fromkeys(key for items in entities for key in items))
    varying = [key for key in keys if len({items.get(key) for items in entities}) > 1]
    shown = [key for key in keys if key in varying or key == "task"]
    labels = [" ".join(f"{key}-{items[key]}" for key in shown if key in items) for items in entities]
    return [label or run.run_label for label, run in zip(labels, runs)]


def _participant_context(report: ParticipantReport, writer: FigureWriter,
                         drawn: Mapping[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    drawn = drawn or {}
    root = _dataset_root([path for run in report.runs
                          for path in (run.bold_file, run.confounds_file, run.mask_file) if path]
                         + [failed.bold_file for failed in report.failed_runs])
    runs = [_run_view(run, writer, drawn.get(_run_prefix(run), {}).get("figures"), root)
            for run in report.runs]
    atlas_views = _atlas_views(report, writer)
    atlases: dict[str, AtlasResult] = {}
    for run in report.runs:
        for atlas in run.atlases:
            atlases.setdefault(atlas.name, atlas)
    strategies = report.strategy_names
    grid_rows = []
    n_exclusions = n_strategy_failures = 0
    for run, view in zip(report.runs, runs):
        cells = []
        for name in strategies:
            matching = [s for s in run.strategies if s.name == name]
            if not matching:
                cells.append({"excluded": False, "label": None, "text": "not run"})
                continue
            label, text = _strategy_status(matching[0], run.n_volumes)
            n_exclusions += label == "excluded"
            n_strategy_failures += label == "failed"
            cells.append({"excluded": label is not None, "label": label, "text": text})
        grid_rows.append({"label": view["label"], "anchor": view["anchor"], "cells": cells})
    version = report.software_version or next(
        (run.software_version for run in report.runs if run.software_version), ""
    )
    summary_rows = [
        ("Participant", f"sub-{report.participant}", False),
        ("Sessions", format_value(report.sessions), False),
        ("Strategies", format_value(strategies), False),
        ("Atlases", "; ".join(
            f"{name} ({atlas.kind}, {atlas.n_regions} regions)" for name, atlas in atlases.items()
        ) or "none", False),
        ("Software", f"regionseries {version or _package_version()}", False),
    ]
    if root:
        summary_rows.insert(2, ("Input folder", f"{root} (the runs' file paths below are relative to it)",
                                True))
    warnings = [("", text) for text in report.warnings]
    run_warnings = [
        {"anchor": view["anchor"], "label": view["label"], "count": len(run.warnings)}
        for run, view in zip(report.runs, runs)
        if run.warnings
    ]
    nav = [("summary", "Summary")] + [
        (view["anchor"], label) for view, label in zip(runs, _short_run_labels(report.runs))
    ] + [
        ("parameters", "Parameters")
    ]
    context = {
        "participant": report.participant,
        "nav": nav,
        "summary": {
            "rows": summary_rows,
            "n_runs": len(report.runs),
            "n_failed": len(report.failed_runs),
            "n_exclusions": n_exclusions,
            "n_strategy_failures": n_strategy_failures,
            "strategies": strategies,
            "atlases": list(atlases),
        },
        "failed_runs": [(_relative(failed.bold_file, root), failed.reason) for failed in report.failed_runs],
        "warnings": warnings,
        "run_warnings": run_warnings,
        "exclusion_grid": {"strategies": strategies, "rows": grid_rows},
        "runs": runs,
        "runs_open": len(runs) == 1,
        "atlases": atlas_views,
        "parameters": _participant_parameters(report),
    }
    context.update(_page_context(version))
    return context


def render_participant_html(report: ParticipantReport, writer: FigureWriter,
                            drawn: Mapping[str, dict[str, Any]] | None = None) -> str:
    """Draw the figures of a participant report with ``writer`` and return the page.

    Parameters
    ----------
    report : ParticipantReport
    writer : FigureWriter
    drawn : mapping, optional
        Figures already drawn per run (:func:`draw_run_figures`), by ``prefix``.

    Returns
    -------
    str
        The HTML page.
    """
    context = _participant_context(report, writer, drawn)
    compiled_dir = None if writer.frame_dir is None else str(Path(writer.frame_dir) / "templates")
    return _environment(compiled_dir).get_template("participant.html").render(context)


def write_participant_report(
    report: ParticipantReport,
    output_dir: str | os.PathLike,
    figure_format: str = "png",
    dpi: float = 100,
    drawn: Mapping[str, dict[str, Any]] | None = None,
    frame_dir: str | os.PathLike | None = None,
) -> Path:
    """Write ``sub-<label>.html`` and its figures (``sub-<label>/figures/``).

    Parameters
    ----------
    report : ParticipantReport
    output_dir : path-like
        The BIDS-Derivatives output folder.
    figure_format : {"png", "svg"}
    dpi : float
        Resolution of PNG figures.
    drawn : mapping, optional
        Runs' own figures drawn beforehand (:func:`draw_run_figures`), by
        their ``prefix``; those drawn with another format or resolution are
        drawn again.
    frame_dir : path-like or None
        Folder where the frames of PNG figures are kept between jobs
        (:func:`regionseries.report.raster.cached_frame`); None: in this process only.

    Returns
    -------
    pathlib.Path
        The HTML file.
    """
    output_dir = Path(output_dir)
    label = safe_label(report.participant)
    start = time.perf_counter()
    writer = FigureWriter(output_dir, f"sub-{label}/figures", figure_format, dpi, frame_dir)
    usable = {prefix: item for prefix, item in (drawn or {}).items()
              if item.get("format") == figure_format and item.get("dpi") == dpi}
    for item in usable.values():
        writer.adopt(item["written"], item["seconds"])
    html = _finished(writer, lambda: render_participant_html(report, writer, usable))
    path = output_dir / f"sub-{label}.html"
    _write_text_atomically(path, html)
    logger.info(
        "Report %s written in %.2f s (%d figures, %.2f s drawing)",
        path, time.perf_counter() - start, len(writer.written), writer.seconds,
    )
    return path
