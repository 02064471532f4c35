"""Single-file HTML reports (figure embedded), for the nilearn-style maskers.

``masker.generate_report()`` returns one HTML document that must work on its
own (saved anywhere, shown in a notebook), so the figure is embedded as a
``data:`` PNG instead of a file next to the page. The look, escaping and
Content-Security-Policy are those of the participant reports.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib import rc_context

from .figures.canvas import REPORT_STYLE
from .formatting import _is_missing, format_value
from .pages import _environment, _page_context
from .raster import RasterFigure
from .tables import _cell, _column, _num_cell

__all__ = ["embedded_figure", "standalone_report"]


def embedded_figure(figure: Any, alt: str, caption: str = "") -> dict[str, Any] | None:
    """A figure as a ``data:`` PNG for :func:`standalone_report`.

    Parameters
    ----------
    figure : matplotlib.figure.Figure, RasterFigure or None
    alt : str
        Text alternative of the image.
    caption : str

    Returns
    -------
    dict or None
    """
    if figure is None:
        return None
    buffer = io.BytesIO()
    if isinstance(figure, RasterFigure):
        from PIL import Image

        Image.fromarray(figure.pixels).save(buffer, format="PNG", compress_level=1)
    else:
        with rc_context(REPORT_STYLE):
            figure.savefig(buffer, format="png", dpi=figure.dpi, metadata={"Software": None})
    width, height = (figure.get_size_inches() * figure.dpi).round().astype(int)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return {"src": f"data:image/png;base64,{encoded}", "width": int(width),
            "height": int(height), "alt": alt, "caption": caption}


def _table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> dict[str, Any]:
    numeric = [
        all(isinstance(row[k], (int, float)) and not isinstance(row[k], bool)
            for row in rows if not _is_missing(row[k]))
        for k in range(len(columns))
    ]
    return {
        "columns": [_column(str(title), numeric[k]) for k, title in enumerate(columns)],
        "rows": [
            {"css": "", "cells": [
                _num_cell(value, 6) if numeric[k] and not _is_missing(value)
                else _cell("n/a" if _is_missing(value) else value)
                for k, value in enumerate(row)
            ]}
            for row in rows
        ],
    }


def standalone_report(
    title: str,
    description: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    parameters: Mapping[str, Any] | Sequence[tuple[str, Any]] = (),
    warnings: Sequence[str] = (),
    figure: dict[str, Any] | None = None,
    version: str = "",
) -> str:
    """Render a one-file HTML report: description, figure, region table, parameters.

    Parameters
    ----------
    title, description : str
        Untrusted text is escaped.
    columns : sequence of str
        Region table header.
    rows : sequence of sequences
        Region table rows (numbers are right-aligned and sortable).
    parameters : mapping or sequence of (name, value)
    warnings : sequence of str
    figure : dict or None
        From :func:`embedded_figure`.
    version : str
        Software version shown in the footer (the package's by default).

    Returns
    -------
    str
        The HTML document.
    """
    rows = [list(row) for row in rows]
    for row in rows:
        if len(row) != len(columns):
            raise ValueError(
                f"every region table row needs {len(columns)} values ({', '.join(columns)}), "
                f"got {len(row)}: {row!r}"
            )
    items = parameters.items() if isinstance(parameters, Mapping) else parameters
    context = {
        "title": title,
        "description": description,
        "warnings": [("", str(text)) for text in warnings],
        "figure": figure,
        "table": _table(columns, rows),
        "parameters": [(str(name), format_value(value), False) for name, value in items],
    }
    context.update(_page_context(version))
    return _environment().get_template("standalone.html").render(context)
