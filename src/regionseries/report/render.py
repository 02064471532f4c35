"""Render participant and group reports to self-contained HTML.

Pages are rendered with jinja2 with autoescaping on (region names, file names
and warnings are untrusted text), carry a Content-Security-Policy that only
allows the page's own inline style and script (by hash) and local images, and
reference their figures by relative paths: a report opens from ``file://`` on
a machine without network access, and can be copied with its folder.

Layout of the output directory::

    sub-<label>.html
    sub-<label>/figures/sub-<label>_..._desc-<figure>_<suffix>.png
    group.html
    group/figures/...
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from jinja2 import Environment, FileSystemBytecodeCache, PackageLoader, StrictUndefined
from markupsafe import Markup, escape

from . import raster
from .model import (
    QC_TABLE_COLUMNS,
    AtlasResult,
    GroupReport,
    ParticipantReport,
    QCFCResult,
    RunReport,
)

__all__ = [
    "GROUP_REPORT_NAME",
    "FigureWriter",
    "render_group_html",
    "render_participant_html",
    "write_group_report",
    "write_participant_report",
]


def _figures():
    """:mod:`regionseries.report.figures` (matplotlib), imported when a figure needs it: PNG
    pages are drawn from frames (:mod:`~regionseries.report.raster`) without matplotlib."""
    from . import figures

    return figures

logger = logging.getLogger(__name__)

#: File name of the group report in the output directory.
GROUP_REPORT_NAME = "group.html"

#: Region tables with at most this many rows are shown unfolded.
OPEN_TABLE_MAX_ROWS = 40


# ---------------------------------------------------------------------------
# Templates and static assets


class _CompiledTemplates(FileSystemBytecodeCache):
    """Compiled templates kept in a folder (jinja checks them against the template's
    source and the Python version); a folder that cannot be written only costs the
    compilation."""

    def dump_bytecode(self, bucket: Any) -> None:
        try:
            os.makedirs(self.directory, exist_ok=True)
            super().dump_bytecode(bucket)
        except OSError as exc:
            logger.debug("compiled report template not kept in %s: %s", self.directory, exc)


@lru_cache(maxsize=4)
def _environment(compiled_dir: str | None = None) -> Environment:
    """The templates' environment; ``compiled_dir`` keeps them compiled between jobs
    (compiling the participant page's templates took 20-40 ms of a report)."""
    environment = Environment(
        loader=PackageLoader("regionseries.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        bytecode_cache=None if compiled_dir is None else _CompiledTemplates(compiled_dir),
    )
    environment.filters["table_rows"] = table_rows
    return environment


def table_rows(rows: Sequence[Mapping[str, Any]]) -> Markup:
    """The ``<tr>`` elements of a data table (``{"css", "cells": [{"css", "sort", "text"}]}``).

    Written here rather than as a loop in the template: for the region
    tables of atlases with hundreds of regions, the template's loop over
    every cell was most of the time spent rendering a page. Every value is
    escaped, as the template escapes it.
    """
    parts = []
    for row in rows:
        parts.append(f'    <tr class="{escape(row["css"])}">\n')
        for cell in row["cells"]:
            sort = "" if cell["sort"] is None else f' data-sort="{escape(cell["sort"])}"'
            parts.append(f'<td class="{escape(cell["css"])}"{sort}>{escape(cell["text"])}</td>')
        parts.append("    </tr>\n")
    return Markup("".join(parts))


@lru_cache(maxsize=1)
def _static_assets() -> tuple[str, str, str]:
    """Return (css, js, Content-Security-Policy) of the report pages."""
    templates = resources.files("regionseries.report") / "templates"
    style_text = (templates / "report.css").read_text(encoding="utf-8")
    script_text = (templates / "report.js").read_text(encoding="utf-8")

    def digest(text: str) -> str:
        return base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")

    csp = (
        "default-src 'none'; "
        "img-src 'self' file: data:; "
        f"style-src 'sha256-{digest(style_text)}'; "
        f"script-src 'sha256-{digest(script_text)}'; "
        "base-uri 'none'; form-action 'none'"
    )
    return style_text, script_text, csp


def _page_context(version: str) -> dict[str, Any]:
    style_text, script_text, csp = _static_assets()
    return {
        # Our own static files, not user data: inserted verbatim (their hashes are in the CSP).
        "style_text": Markup(style_text),
        "script_text": Markup(script_text),
        "csp": csp,
        "version": version or _package_version(),
        "generated": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
    }


def _package_version() -> str:
    from .. import __version__

    return __version__


# ---------------------------------------------------------------------------
# Small formatting helpers (all return plain text; the templates escape it)


def _is_missing(value: Any) -> bool:
    """True for None, NaN, pandas.NA and NaT (scalars only)."""
    if value is None:
        return True
    if isinstance(value, (str, bytes, list, tuple, dict, set, np.ndarray)):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def format_number(value: Any, digits: int = 3) -> str:
    """Format a number for a table: ``n/a`` for None/NaN, ``%g`` otherwise.

    Parameters
    ----------
    value : number or None
    digits : int
        Significant digits.

    Returns
    -------
    str
    """
    if _is_missing(value):
        return "n/a"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return f"{float(value):.{digits}g}"


def format_value(value: Any) -> str:
    """Format a parameter value (lists, dicts, numbers, None) as short text."""
    if _is_missing(value):
        return "none"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, float, np.integer, np.floating)):
        return format_number(value, 6)
    if isinstance(value, Mapping):
        return json.dumps(value, default=str, sort_keys=False)
    if isinstance(value, (list, tuple, set, np.ndarray)):
        items = list(value)
        return ", ".join(format_value(item) for item in items) if items else "none"
    return str(value)


def _cell(text: Any, css: str = "", sort: Any = None) -> dict[str, Any]:
    return {"text": str(text), "css": css, "sort": None if sort is None else str(sort)}


def _num_cell(value: Any, digits: int = 3, scale: float = 1.0) -> dict[str, Any]:
    if _is_missing(value):
        return _cell("n/a", "num")
    return _cell(format_number(value * scale if scale != 1.0 else value, digits), "num", value)


def _column(title: str, numeric: bool = False) -> dict[str, Any]:
    return {"title": title, "numeric": numeric}


def safe_label(text: str) -> str:
    """Reduce untrusted text to a BIDS-style alphanumeric label for file names.

    Parameters
    ----------
    text : str

    Returns
    -------
    str
        Only ``[A-Za-z0-9]``; a short hash when nothing is left.
    """
    label = re.sub(r"[^A-Za-z0-9]", "", str(text))
    if not label:
        label = "x" + hashlib.sha1(str(text).encode("utf-8")).hexdigest()[:8]
    return label


def _anchor(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "run"


# ---------------------------------------------------------------------------
# Figures on disk


class FigureWriter:
    """Write figures under ``<html_dir>/<figures_subdir>`` and describe them for the page.

    Parameters
    ----------
    html_dir : path-like
        Folder of the HTML page (figure paths are relative to it).
    figures_subdir : str
        Relative folder of the figures, e.g. ``sub-01/figures``.
    figure_format : {"png", "svg"}
    dpi : float
        Resolution of PNG figures.
    frame_dir : path-like or None
        Folder where the frames of PNG figures are kept between jobs
        (:func:`regionseries.report.raster.cached_frame`); None: in this process only.

    Notes
    -----
    PNG files are compressed and written by a background thread while the
    next figures are drawn (zlib releases the GIL): call :meth:`finish` to
    wait for them before the page refers to them.
    """

    def __init__(
        self,
        html_dir: str | os.PathLike,
        figures_subdir: str,
        figure_format: str = "png",
        dpi: float = 100,
        frame_dir: str | os.PathLike | None = None,
    ):
        if figure_format not in raster.FIGURE_FORMATS:
            raise ValueError(
                f"figure_format must be one of {raster.FIGURE_FORMATS}, got {figure_format!r}"
            )
        self.html_dir = Path(html_dir)
        self.figures_subdir = figures_subdir
        self.figure_format = figure_format
        self.dpi = dpi
        self.frame_dir = frame_dir
        self.written: list[Path] = []
        self.seconds = 0.0
        self._used: set[str] = set()
        self._shared: dict[tuple, dict[str, Any] | None] = {}
        self._saver: ThreadPoolExecutor | None = None
        self._saving: list[Future] = []

    def adopt(self, paths: Sequence[str | os.PathLike], seconds: float = 0.0) -> None:
        """Count figures another writer drew into the same folder (their names are taken)."""
        for path in paths:
            path = Path(path)
            self.written.append(path)
            self._used.add(path.stem)
        self.seconds += seconds

    @property
    def raster(self) -> bool:
        """Whether figures are drawn from frames (PNG at the frames' 100 dpi)."""
        return self.figure_format == "png" and self.dpi == 100

    def write_shared(self, key: tuple, draw: Any, stem: str, caption: str = "",
                     shared_note: str = "") -> dict[str, Any] | None:
        """Like :meth:`write`, but a figure already written under ``key`` is reused.

        ``shared_note`` is appended to the caption of a figure that is reused.
        """
        if key in self._shared:
            first = self._shared[key]
            if first is None:
                return None
            return dict(first, caption=caption + first["note"])
        written = self.write(draw, stem, caption)
        self._shared[key] = None if written is None else dict(written, note=shared_note)
        return written

    def _unique_stem(self, stem: str) -> str:
        candidate, counter = stem, 2
        while candidate in self._used:
            candidate = f"{stem}{counter}"
            counter += 1
        self._used.add(candidate)
        return candidate

    def write(self, draw: Any, stem: str, caption: str = "") -> dict[str, Any] | None:
        """Draw a figure with ``draw()`` and save it as ``<stem>.<format>``.

        Parameters
        ----------
        draw : callable
            Returns a matplotlib figure (or None to skip).
        stem : str
            File name without suffix (already made of safe labels).
        caption : str

        Returns
        -------
        dict or None
            ``src`` (relative URL), ``width``/``height`` (px) and ``caption``.
        """
        start = time.perf_counter()
        figure = draw()
        if figure is None:
            return None
        stem = self._unique_stem(stem)
        relative = f"{self.figures_subdir}/{stem}.{self.figure_format}"
        path = self.html_dir / relative
        width, height = (figure.get_size_inches() * self.dpi).round().astype(int)
        if self.figure_format == "png":
            if not isinstance(figure, raster.RasterFigure):  # matplotlib draws in this thread only
                figure = _figures().rasterized(figure, self.dpi)
            self._save_in_background(figure, path)
        else:
            _figures().save_figure(figure, path, dpi=self.dpi)
        self.written.append(path)
        self.seconds += time.perf_counter() - start
        return {"src": relative, "width": int(width), "height": int(height), "caption": caption}

    def _save_in_background(self, figure: raster.RasterFigure, path: Path) -> None:
        if self._saver is None:
            self._saver = ThreadPoolExecutor(max_workers=1, thread_name_prefix="report-png")
        self._saving.append(self._saver.submit(raster.save_raster, figure, path))

    def finish(self, raise_errors: bool = True) -> None:
        """Wait until every figure is written; raise the first failure (e.g. a full disk).

        Parameters
        ----------
        raise_errors : bool
            False when the caller is already failing: only wait.
        """
        saving, self._saving = self._saving, []
        if self._saver is not None:
            self._saver.shutdown(wait=True)
            self._saver = None
        for future in saving:
            if raise_errors and future.exception() is not None:
                raise future.exception()


def _finished(writer: FigureWriter, draw: Any) -> Any:
    """``draw()``, then wait until ``writer`` has written every figure (see :meth:`FigureWriter.finish`)."""
    try:
        result = draw()
    except BaseException:
        writer.finish(raise_errors=False)
        raise
    writer.finish()
    return result


def _write_text_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------------------
# Participant report


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
    return rows


def _inputs(run: RunReport) -> list[tuple[str, str, bool]]:
    return [
        ("BOLD", run.bold_file, True),
        ("Confounds", run.confounds_file or "none", bool(run.confounds_file)),
        ("Brain mask", run.mask_file or "none", bool(run.mask_file)),
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
                                     frame_dir=writer.frame_dir) if writer.raster
        else _figures().plot_motion(run.n_volumes, run.repetition_time, run.strategies, run.fd),
        f"{prefix}_desc-censoring_motion",
        "Top: framewise displacement (FD) per volume with each strategy's threshold (dashed); "
        "volumes censored by any strategy are marked in red, dummy volumes shaded. "
        "Bottom: volumes kept and removed by each strategy.",
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
                            frame_dir=writer.frame_dir) if writer.raster
                        else _figures().plot_connectivity(matrices, atlas.region_names,
                                                          run.connectivity_measure),
                        f"{atlas_label}_stat-{safe_label(run.connectivity_measure)}_relmat",
                        f"{run.connectivity_measure.capitalize()} between regions in atlas "
                        f"table order, computed on kept volumes only ({kept}); one colour "
                        "scale for all strategies; grey: diagonal and regions set to n/a.",
                    ),
                }
            )
    return figures


def _run_view(run: RunReport, writer: FigureWriter, figures: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything the page shows of one run; ``figures`` from :func:`draw_run_figures` if drawn already."""
    prefix = _run_prefix(run)
    anchor = _anchor(prefix)
    view: dict[str, Any] = {
        "anchor": anchor,
        "label": run.run_label,
        "inputs": _inputs(run),
        "reference_description": run.reference_description,
        "warnings": [("", text) for text in run.warnings],
        "motion_summary": _motion_summary(run),
        "censoring_table": _censoring_table(run),
    }
    view.update(figures if figures is not None else _run_figures(run, writer))
    view["atlases"] = []
    for atlas in run.atlases:
        atlas_label = f"{prefix}_atlas-{safe_label(atlas.name)}"
        view["atlases"].append(
            {
                "name": atlas.name,
                "headline": _atlas_headline(atlas),
                "description": atlas.description,
                "na_names": _na_descriptions(atlas),
                "n_regions": atlas.n_regions,
                "open": atlas.n_regions <= OPEN_TABLE_MAX_ROWS,
                "table": _region_table(atlas),
                "figure": writer.write_shared(
                    _overlay_key(atlas, run.reference_image),
                    lambda atlas=atlas: raster.atlas_raster(
                        atlas, run.reference_image, frame_dir=writer.frame_dir) if writer.raster
                    else _figures().plot_atlas(atlas, run.reference_image),
                    f"{atlas_label}_desc-overlay_{'spheres' if atlas.kind == 'spheres' else 'dseg'}",
                    _atlas_caption(atlas, run.reference_description),
                    f" The same picture serves every run of this participant on this grid with "
                    f"the same regions set to n/a; it is drawn over the {run.reference_description}"
                    f" of {run.run_label}.",
                ),
            }
        )
    view["confound_columns"] = [
        (strategy.name, format_value(strategy.confound_columns)) for strategy in run.strategies
    ]
    return view


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


def _parameter_rows(parameters: Mapping[str, Any]) -> list[tuple[str, str, bool]]:
    return [(str(key), format_value(value), False) for key, value in parameters.items()]


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
    runs = [_run_view(run, writer, drawn.get(_run_prefix(run), {}).get("figures")) for run in report.runs]
    atlases: dict[str, AtlasResult] = {}
    for run in report.runs:
        for atlas in run.atlases:
            atlases.setdefault(atlas.name, atlas)
    strategies = report.strategy_names
    grid_rows = []
    n_exclusions = 0
    for run, view in zip(report.runs, runs):
        cells = []
        for name in strategies:
            matching = [s for s in run.strategies if s.name == name]
            if not matching:
                cells.append({"excluded": False, "label": None, "text": "not run"})
                continue
            label, text = _strategy_status(matching[0], run.n_volumes)
            n_exclusions += label is not None
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
            "strategies": strategies,
            "atlases": list(atlases),
        },
        "failed_runs": [(failed.bold_file, failed.reason) for failed in report.failed_runs],
        "warnings": warnings,
        "run_warnings": run_warnings,
        "exclusion_grid": {"strategies": strategies, "rows": grid_rows},
        "runs": runs,
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


# ---------------------------------------------------------------------------
# Group report


#: Readable titles of the group QC table's columns (others are shown as they are).
QC_COLUMN_TITLES = {
    "n_volumes": "volumes",
    "n_volumes_kept": "kept",
    "n_dummy_volumes": "dummy",
    "n_motion_censored": "censored",
    "mean_fd_mm": "mean FD (mm)",
    "dof_lost": "dof lost",
    "n_regions_na": "regions n/a",
    "exclusion_reason": "reason",
}

#: Columns of the QC table left out of the page (they stay in the TSV): long file
#: URIs, and the participant-level status that the exclusion reason repeats.
QC_HIDDEN_COLUMNS = ("bold", "status")


def _is_numeric_column(values: pd.Series) -> bool:
    """Whether every non-missing value of a column is a (non-boolean) number."""
    if pd.api.types.is_bool_dtype(values):
        return False
    present = [v for v in values if not _is_missing(v)]
    return bool(present) and all(
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
        for v in present
    )


def _display_qc_table(table: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The QC table as shown: hidden and constant columns removed (the latter listed)."""
    keep_always = {QC_TABLE_COLUMNS["excluded"], QC_TABLE_COLUMNS["reason"],
                   QC_TABLE_COLUMNS["strategy"]}
    shown = table.drop(columns=[c for c in QC_HIDDEN_COLUMNS if c in table.columns])
    constant = []
    if len(shown) > 1:
        for column in list(shown.columns):
            values = shown[column]
            if column in keep_always or values.map(_is_missing).any():
                continue
            if values.astype(str).nunique() == 1:
                constant.append(f"{QC_COLUMN_TITLES.get(column, column)} = {values.iloc[0]}")
                shown = shown.drop(columns=column)
    return shown, constant


def _dataframe_table(table: pd.DataFrame) -> dict[str, Any]:
    excluded_column = QC_TABLE_COLUMNS["excluded"]
    reason_column = QC_TABLE_COLUMNS["reason"]
    numeric = {column: _is_numeric_column(table[column]) for column in table.columns}
    columns = [_column(QC_COLUMN_TITLES.get(str(column), str(column)), numeric[column])
               for column in table.columns]
    rows = []
    for record in table.itertuples(index=False, name=None):
        values = dict(zip(table.columns, record))
        flag = values.get(excluded_column, False)
        excluded = not _is_missing(flag) and bool(flag)
        cells = []
        for column, value in values.items():
            if numeric[column]:
                cells.append(_num_cell(None if _is_missing(value) else value, 4))
            elif column == excluded_column:
                cells.append(_cell("yes" if excluded else "no", "status" if excluded else ""))
            else:
                if column == reason_column:
                    cells.append(_cell("" if _is_missing(value) else value, "reason"))
                else:
                    cells.append(_cell("n/a" if _is_missing(value) else value))
        rows.append({"css": "excluded" if excluded else "", "cells": cells})
    return {"columns": columns, "rows": rows}


def _dof_by_strategy(table: pd.DataFrame) -> dict[str, np.ndarray]:
    strategy_column = QC_TABLE_COLUMNS["strategy"]
    dof_column = QC_TABLE_COLUMNS["dof_lost"]
    atlas_column = QC_TABLE_COLUMNS["atlas"]
    if strategy_column not in table or dof_column not in table or table.empty:
        return {}
    if atlas_column in table:
        # dof lost does not depend on the atlas: count each run once.
        table = table[table[atlas_column] == table[atlas_column].iloc[0]]
    values = pd.to_numeric(table[dof_column], errors="coerce")
    return {
        str(name): group.to_numpy(dtype=float)
        for name, group in values.groupby(table[strategy_column], sort=False)
    }


def _comparison_table(report: GroupReport, dof: Mapping[str, np.ndarray]) -> dict[str, Any]:
    columns = [
        _column("strategy"),
        _column("atlas"),
        _column("runs", True),
        _column("median |QC-FC|", True),
        _column("distance dependence ρ", True),
        _column("runs excluded (%)", True),
        _column("median dof lost", True),
    ]
    rows = []
    for result in report.qcfc:
        fraction = report.excluded_fraction.get(result.strategy)
        dof_values = dof.get(result.strategy)
        median_dof = (
            float(np.nanmedian(dof_values))
            if dof_values is not None and np.isfinite(dof_values).any()
            else None
        )
        rows.append(
            {
                "css": "",
                "cells": [
                    _cell(result.strategy),
                    _cell(result.atlas),
                    _num_cell(result.n_runs),
                    _num_cell(result.median_abs_qcfc, 3),
                    _num_cell(result.distance_dependence, 3),
                    _num_cell(None if fraction is None else 100 * fraction, 3),
                    _num_cell(median_dof, 4),
                ],
            }
        )
    return {"columns": columns, "rows": rows}


def _group_context(report: GroupReport, writer: FigureWriter) -> dict[str, Any]:
    table = report.qc_table
    shown_table, constant_columns = _display_qc_table(table)
    dof = _dof_by_strategy(table)
    excluded_figure = None
    if report.excluded_fraction:
        excluded_figure = writer.write(
            lambda: _figures().plot_excluded_fraction(report.excluded_fraction),
            "group_desc-excluded_bar",
            "Fraction of runs excluded under each strategy.",
        )
    dof_figure = None
    if dof:
        dof_figure = writer.write(
            lambda: _figures().plot_dof_lost(dof),
            "group_desc-dofloss_box",
            "Temporal degrees of freedom lost by each strategy (one point per run).",
        )
    qcfc_views = []
    for atlas in report.atlas_names:
        results: list[QCFCResult] = [r for r in report.qcfc if r.atlas == atlas]
        label = safe_label(atlas)
        distance = None
        if any(r.edge_distances_mm is not None for r in results):
            distance = writer.write(
                lambda results=results: _figures().plot_distance_dependence(results),
                f"group_atlas-{label}_desc-distance_qcfc",
                "QC-FC of each edge against the distance between the two regions' centroids; "
                "red: least-squares line.",
            )
        qcfc_views.append(
            {
                "atlas": atlas,
                "distribution": writer.write(
                    lambda results=results: _figures().plot_qcfc_distributions(results),
                    f"group_atlas-{label}_desc-distribution_qcfc",
                    "Distribution of QC-FC over edges for each strategy (line: median).",
                ),
                "distance": distance,
            }
        )
    participant_column = next((c for c in ("participant", "participant_id", "subject", "sub")
                               if c in table), None)
    cards = []
    if participant_column:
        cards.append((table[participant_column].nunique(), "participants"))
    cards += [
        (len(report.strategy_names), "strategies"),
        (len(report.atlas_names), "atlases with QC-FC"),
        (len(table), "QC rows"),
    ]
    excluded_column = QC_TABLE_COLUMNS["excluded"]
    if excluded_column in table:
        cards.append((int(table[excluded_column].astype(bool).sum()), "excluded rows"))
    version = report.software_version
    summary_rows = [
        ("Strategies", format_value(report.strategy_names), False),
        ("Atlases", format_value(report.atlas_names), False),
        ("Software", f"regionseries {version or _package_version()}", False),
    ]
    if report.command_line:
        summary_rows.append(("Command line", report.command_line, True))
    context = {
        "nav": [("summary", "Summary"), ("strategies", "Choosing a strategy"),
                ("qcfc", "QC-FC"), ("qc-table", "QC table"), ("parameters", "Parameters")],
        "cards": cards,
        "summary_rows": summary_rows,
        "warnings": [("", text) for text in report.warnings],
        "exclusion_criteria": report.exclusion_criteria,
        "comparison": _comparison_table(report, dof),
        "excluded_figure": excluded_figure,
        "dof_figure": dof_figure,
        "qcfc": qcfc_views,
        "qc_table": _dataframe_table(shown_table),
        "qc_constant": constant_columns,
        "qc_has_strategy": QC_TABLE_COLUMNS["strategy"] in table,
        "parameters": _parameter_rows(report.parameters),
    }
    context.update(_page_context(version))
    return context


def render_group_html(report: GroupReport, writer: FigureWriter) -> str:
    """Draw the figures of the group report with ``writer`` and return the page.

    Parameters
    ----------
    report : GroupReport
    writer : FigureWriter

    Returns
    -------
    str
    """
    return _environment().get_template("group.html").render(_group_context(report, writer))


def write_group_report(
    report: GroupReport,
    output_dir: str | os.PathLike,
    figure_format: str = "png",
    dpi: float = 100,
) -> Path:
    """Write ``group.html`` and its figures (``group/figures/``) into ``output_dir``.

    Parameters
    ----------
    report : GroupReport
    output_dir : path-like
    figure_format : {"png", "svg"}
    dpi : float

    Returns
    -------
    pathlib.Path
        The HTML file.
    """
    output_dir = Path(output_dir)
    start = time.perf_counter()
    writer = FigureWriter(output_dir, "group/figures", figure_format, dpi)
    html = _finished(writer, lambda: render_group_html(report, writer))
    path = output_dir / GROUP_REPORT_NAME
    _write_text_atomically(path, html)
    logger.info(
        "Group report %s written in %.2f s (%d figures)",
        path, time.perf_counter() - start, len(writer.written),
    )
    return path
