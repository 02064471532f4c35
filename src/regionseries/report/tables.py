"""The data tables of the report pages: cells, columns, parameter rows, and their ``<tr>`` elements.

A table is ``{"columns": [...], "rows": [{"css", "cells": [...]}]}``, built
from :func:`_column` and :func:`_cell` / :func:`_num_cell` and written by
:func:`table_rows` (the templates' ``table_rows`` filter).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup, escape

from .formatting import _is_missing, format_number, format_value

__all__ = ["table_rows"]


def _cell(text: Any, css: str = "", sort: Any = None) -> dict[str, Any]:
    return {"text": str(text), "css": css, "sort": None if sort is None else str(sort)}


def _num_cell(value: Any, digits: int = 3, scale: float = 1.0) -> dict[str, Any]:
    if _is_missing(value):
        return _cell("n/a", "num")
    return _cell(format_number(value * scale if scale != 1.0 else value, digits), "num", value)


def _column(title: str, numeric: bool = False) -> dict[str, Any]:
    return {"title": title, "numeric": numeric}


def _parameter_rows(parameters: Mapping[str, Any]) -> list[tuple[str, str, bool]]:
    return [(str(key), format_value(value), False) for key, value in parameters.items()]


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
