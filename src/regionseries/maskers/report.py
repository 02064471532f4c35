"""The maskers' ``generate_report()``: one self-contained HTML page per masker.

:class:`MaskerReport` is what ``generate_report`` returns (nilearn's
interface: ``save_as_html``, ``get_standalone``, shown in notebooks);
:func:`render_report` fills it from the participant reports' building blocks
(:mod:`regionseries.report.standalone`) with the masker's parameters, its
region table and a figure from :mod:`regionseries.report.figures`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import short_repr

__all__ = ["MaskerReport", "render_report", "report_figure", "voxel_volume"]


class MaskerReport:
    """A self-contained HTML report (parameters and region tables).

    Attributes
    ----------
    html : str
        The whole document.
    """

    def __init__(self, html_text: str):
        self.html = html_text

    def get_standalone(self) -> str:
        """Return the HTML document."""
        return self.html

    def save_as_html(self, path) -> None:
        """Write the HTML document to ``path``."""
        Path(path).write_text(self.html, encoding="utf-8")

    def _repr_html_(self) -> str:
        return self.html

    def __str__(self) -> str:
        return self.html


def render_report(masker, description, region_columns, region_rows, warnings_list, figure=None):
    """The masker's report, built from the participant reports' building blocks.

    ``figure`` is a matplotlib figure from :mod:`regionseries.report.figures`
    (atlas overlay or spheres); it is embedded in the page, so the document
    works on its own.
    """
    # Imported here: regionseries.report.standalone brings jinja2 and matplotlib, about
    # 0.3 s (python -X importtime), more than importing the maskers themselves (0.25 s).
    from ..report.standalone import embedded_figure, standalone_report

    name = type(masker).__name__
    parameters = [(key, short_repr(value)) for key, value in masker.get_params().items()]
    html_text = standalone_report(
        title=f"{name} report",
        description=description,
        columns=region_columns,
        rows=region_rows,
        parameters=parameters,
        warnings=warnings_list,
        figure=embedded_figure(figure, alt=f"{name} regions"),
    )
    if figure is not None:
        import matplotlib.pyplot as plt

        plt.close(figure)
    return MaskerReport(html_text)


def report_figure(function_name, *args, **kwargs):
    """Draw a report figure with :mod:`regionseries.report.figures` (Agg backend)."""
    # matplotlib: imported when a report is asked for (see render_report)
    from ..report import figures

    return getattr(figures, function_name)(*args, **kwargs)


def voxel_volume(affine) -> float:
    return float(abs(np.linalg.det(np.asarray(affine)[:3, :3])))
