"""Render participant and group reports to self-contained HTML.

One module per job: :mod:`.pages` (templates, inline assets and their
Content-Security-Policy, atomic writing), :mod:`.formatting` (numbers
and values as text), :mod:`.tables` (table cells and rows), :mod:`.figure_writer` (figures on disk),
:mod:`.participant_page` and :mod:`.group_page`. This module gathers their
public names (and, as ``_name as _name``, the helpers tests/report/test_render.py
checks).

Layout of the output directory::

    sub-<label>.html
    sub-<label>/figures/sub-<label>_..._desc-<figure>_<suffix>.png
    group.html
    group/figures/...
"""

from .figure_writer import FigureWriter
from .formatting import format_number, format_value, safe_label
from .group_page import GROUP_REPORT_NAME, render_group_html, write_group_report
from .pages import _environment as _environment
from .participant_page import (
    draw_run_figures,
    render_participant_html,
    write_participant_report,
)
from .tables import _cell as _cell
from .tables import _num_cell as _num_cell
from .tables import table_rows

__all__ = [
    "GROUP_REPORT_NAME",
    "FigureWriter",
    "draw_run_figures",
    "format_number",
    "format_value",
    "render_group_html",
    "render_participant_html",
    "safe_label",
    "table_rows",
    "write_group_report",
    "write_participant_report",
]
