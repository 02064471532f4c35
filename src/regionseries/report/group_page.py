"""The group page (``group.html``): strategies compared, mean connectomes, motion, QC-FC, the QC table.

Layout of the output directory::

    group.html
    group/figures/...
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..core.qc import qcfc_caveats
from . import raster
from .figure_writer import FigureWriter, _finished
from .formatting import _is_missing, format_value, safe_label
from .model import QC_TABLE_COLUMNS, GroupReport, QCFCResult
from .pages import _environment, _package_version, _page_context, _write_text_atomically
from .raster.frames import _figures
from .tables import _cell, _column, _num_cell, _parameter_rows

__all__ = ["GROUP_REPORT_NAME", "render_group_html", "write_group_report"]

logger = logging.getLogger(__name__)

#: File name of the group report in the output directory.
GROUP_REPORT_NAME = "group.html"


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

#: The most rows of the QC table the page lists (about 1.5 KB of HTML each); a longer
#: table is summarised: counts per strategy and atlas, the excluded runs, links to the TSVs.
QC_TABLE_MAX_ROWS = 2000

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


def _excluded_runs_table(table: pd.DataFrame) -> dict[str, Any] | None:
    """The excluded rows once per run and strategy (the QC table repeats them for every atlas), or None."""
    excluded_column = QC_TABLE_COLUMNS["excluded"]
    if excluded_column not in table or table.empty or not table[excluded_column].astype(bool).any():
        return None
    excluded = table[table[excluded_column].astype(bool)]
    per_atlas = [QC_TABLE_COLUMNS["atlas"], "n_regions_na", excluded_column, *QC_HIDDEN_COLUMNS]
    excluded = excluded.drop(columns=[c for c in per_atlas if c in excluded.columns])
    excluded = excluded.astype(object).where(excluded.notna(), None).drop_duplicates()
    shown = _dataframe_table(excluded)
    for row in shown["rows"]:
        row["css"] = ""  # every row here is excluded: no highlight
    return shown


def _qc_counts_table(table: pd.DataFrame) -> dict[str, Any] | None:
    """Rows and excluded rows of the QC table per strategy and atlas (for a table too long to list), or None."""
    keys = [QC_TABLE_COLUMNS[key] for key in ("strategy", "atlas") if QC_TABLE_COLUMNS[key] in table]
    excluded_column = QC_TABLE_COLUMNS["excluded"]
    if not keys or excluded_column not in table:
        return None
    excluded = table[excluded_column].astype(bool)
    counts = excluded.groupby([table[key].fillna("n/a") for key in keys], sort=False).agg(["size", "sum"])
    columns = [_column(key) for key in keys] + [_column("rows", True), _column("excluded", True),
                                                 _column("excluded (%)", True)]
    rows = []
    for index, (size, n_excluded) in counts.iterrows():
        labels = index if isinstance(index, tuple) else (index,)
        rows.append({"css": "", "cells": [_cell(str(label)) for label in labels]
                     + [_num_cell(int(size)), _num_cell(int(n_excluded)), _num_cell(100 * n_excluded / size, 3)]})
    return {"columns": columns, "rows": rows}


def _has_qcfc_values(result: QCFCResult) -> bool:
    """Whether any edge of ``result`` has a QC-FC value (none when fewer than 3 samples)."""
    return bool(np.isfinite(np.asarray(result.edge_correlations, dtype=float)).any())


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


def _qcfc_sample(result: QCFCResult) -> str:
    """What one QC-FC rests on, in words: ``12 participants (24 runs averaged per participant)``."""
    runs = f"{result.n_runs} run{'s' if result.n_runs != 1 else ''}"
    if result.n_participants is None:
        return f"{runs} (participants not known)"
    participants = f"{result.n_participants} participant{'s' if result.n_participants != 1 else ''}"
    if result.unit == "participant":
        return f"{participants} ({runs}, averaged per participant)"
    return f"{runs} of {participants}, each run a sample"


def _caveats(result: QCFCResult) -> list[str]:
    """The plain warnings about what ``result`` rests on (see :func:`regionseries.core.qc.qcfc_caveats`)."""
    if result.n_participants is None:
        return ["The runs' participants are not known: runs of one participant may be pooled as "
                "independent samples."] if result.unit == "run" else []
    return qcfc_caveats(result.unit, result.n_participants, result.n_runs)


def _grouped_caveats(results: Sequence[QCFCResult], leave_out: Sequence[str] = ()) -> list[tuple[str, str]]:
    """The caveats of ``results`` but ``leave_out``, each once with the strategies and atlases it applies to
    (none named when it applies to all)."""
    where: dict[str, list[str]] = {}
    for result in results:
        for text in _caveats(result):
            if text not in leave_out:
                where.setdefault(text, []).append(f"{result.strategy} · {result.atlas}")
    return [("" if len(names) == len(results) else ", ".join(names), text) for text, names in where.items()]


def _comparison_table(report: GroupReport, dof: Mapping[str, np.ndarray]) -> dict[str, Any]:
    columns = [
        _column("strategy"),
        _column("atlas"),
        _column("runs", True),
        _column("median |QC-FC|", True),
        _column("distance dependence ρ", True),
        _column("runs excluded (%)", True),
        _column("median dof lost", True),
        _column("participants", True),
        _column("QC-FC across"),
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
                    _num_cell(result.n_participants),
                    _cell("participants" if result.unit == "participant" else "runs (pooled)"),
                ],
            }
        )
    return {"columns": columns, "rows": rows}


def _run_mean_fd(table: pd.DataFrame) -> np.ndarray:
    """Mean FD of each run once (the QC table repeats a run for every atlas and strategy), mm."""
    fd_column = QC_TABLE_COLUMNS["mean_fd"]
    if fd_column not in table or table.empty:
        return np.empty(0)
    for key in (QC_TABLE_COLUMNS["atlas"], QC_TABLE_COLUMNS["strategy"]):
        present = table[key].dropna() if key in table else ()
        if len(present):
            table = table[table[key] == present.iloc[0]]
    return pd.to_numeric(table[fd_column], errors="coerce").to_numpy(dtype=float)


def _mean_connectome_views(report: GroupReport, writer: FigureWriter) -> list[dict[str, Any]]:
    """One figure per atlas and strategy, grouped by atlas."""
    views: dict[str, list[dict[str, Any]]] = {}
    for item in report.mean_connectomes:
        title = f"{item.strategy} · mean of {item.n_runs} run{'s' if item.n_runs != 1 else ''}"
        figure = writer.write(
            lambda item=item, title=title: raster.connectivity_raster(
                [(title, item.matrix)], item.region_names, item.measure, frame_dir=writer.frame_dir)
            if writer.raster else _figures().plot_connectivity([(title, item.matrix)], item.region_names,
                                                               item.measure),
            f"group_atlas-{safe_label(item.atlas)}_desc-{safe_label(item.strategy)}_relmat",
            f"Group-average {item.measure} of atlas {item.atlas}, strategy {item.strategy}: mean Fisher z "
            f"over {item.n_runs} included runs, transformed back; regions in atlas table order; grey: "
            "diagonal and entries without a value.",
        )
        views.setdefault(item.atlas, []).append({"strategy": item.strategy, "figure": figure})
    return [{"atlas": atlas, "figures": figures} for atlas, figures in views.items()]


def _group_context(report: GroupReport, writer: FigureWriter) -> dict[str, Any]:
    table = report.qc_table
    listed = len(table) <= QC_TABLE_MAX_ROWS
    shown_table, constant_columns = _display_qc_table(table) if listed else (None, [])
    if report.excluded_rows is not None:
        hidden = [c for c in QC_HIDDEN_COLUMNS if c in report.excluded_rows.columns]
        excluded_runs = _excluded_runs_table(report.excluded_rows.drop(columns=hidden))
    else:
        excluded_runs = _excluded_runs_table(shown_table if listed else table)
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
    mean_fd = _run_mean_fd(table)
    fd_figure = None
    if np.isfinite(mean_fd).any():
        fd_figure = writer.write(
            lambda: _figures().plot_fd_distribution(mean_fd, report.max_mean_fd_mm),
            "group_desc-meanfd_hist",
            "Mean framewise displacement of each run"
            + ("; red line: the exclusion threshold." if report.max_mean_fd_mm is not None else "."),
        )
    caveats = _grouped_caveats(report.qcfc)
    everywhere = [text for where, text in caveats if not where]  # said once, under the comparison table
    qcfc_views = []
    for atlas in report.atlas_names:
        results: list[QCFCResult] = [r for r in report.qcfc if r.atlas == atlas]
        label = safe_label(atlas)
        samples = [(result.strategy, _qcfc_sample(result)) for result in results]
        caveats_here = _grouped_caveats(results, leave_out=everywhere)
        if not any(_has_qcfc_values(result) for result in results):
            # Empty axes with "nan" medians say nothing: say why there is no value instead.
            qcfc_views.append({"atlas": atlas, "samples": samples, "caveats": caveats_here,
                               "distribution": None, "distance": None,
                               "no_values": "participants" if results[0].unit == "participant" else "runs"})
            continue
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
                "samples": samples,
                "caveats": caveats_here,
                "distribution": writer.write(
                    lambda results=results: _figures().plot_qcfc_distributions(results),
                    f"group_atlas-{label}_desc-distribution_qcfc",
                    "Distribution of QC-FC over edges for each strategy (line: median).",
                ),
                "distance": distance,
                "no_values": None,
            }
        )
    participant_column = next((c for c in ("participant", "participant_id", "subject", "sub")
                               if c in table), None)
    cards = []
    if participant_column:
        cards.append((table[participant_column].nunique(), "participants"))
    cards += [
        (len(report.strategy_names), "strategies"),
        (len({r.atlas for r in report.qcfc if _has_qcfc_values(r)}), "atlases with QC-FC"),
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
                ("connectomes", "Mean connectomes"), ("motion", "Motion"),
                ("qcfc", "QC-FC"), ("qc-table", "QC table"), ("parameters", "Parameters")],
        "cards": cards,
        "summary_rows": summary_rows,
        "warnings": [("", text) for text in report.warnings],
        "exclusion_criteria": report.exclusion_criteria,
        "comparison": _comparison_table(report, dof),
        "qcfc_caveats": caveats,
        "connectomes": _mean_connectome_views(report, writer),
        "fd_figure": fd_figure,
        "max_mean_fd": report.max_mean_fd_mm,
        "excluded_figure": excluded_figure,
        "dof_figure": dof_figure,
        "qcfc": qcfc_views,
        "qc_table": _dataframe_table(shown_table) if listed else None,
        "qc_counts": None if listed else _qc_counts_table(table),
        "qc_max_rows": QC_TABLE_MAX_ROWS,
        "qc_files": report.qc_table_files,
        "qc_rows": len(table),
        "qc_excluded_rows": int(table[excluded_column].astype(bool).sum()) if excluded_column in table else 0,
        "excluded_runs": excluded_runs,
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
