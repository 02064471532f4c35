"""The maskers' ``generate_report()``: one self-contained HTML page per masker.

:class:`MaskerReport` is what ``generate_report`` returns (nilearn's
interface: ``save_as_html``, ``get_standalone``, ``get_iframe``, ``resize``,
``width``/``height``, ``open_in_browser``, shown in notebooks);
:func:`render_report` fills it from the participant reports' building blocks
(:mod:`regionseries.report.standalone`) with the masker's parameters, its
region table and a figure from :mod:`regionseries.report.figures`.

:func:`report_warnings` gives nilearn's report warnings (reports disabled,
masker not fitted, reports disabled at fit time, an engine other than
matplotlib), issued as ``UserWarning`` and listed in the page;
:func:`displayed_indices` reads nilearn's ``displayed_maps`` /
``displayed_spheres`` arguments.
"""

from __future__ import annotations

import html
import tempfile
import warnings
import webbrowser
from pathlib import Path

import numpy as np

from .base import short_repr

__all__ = [
    "MaskerReport",
    "ReportMixin",
    "displayed_indices",
    "render_report",
    "report_figure",
    "report_warnings",
    "unfitted_report",
    "voxel_volume",
]

#: nilearn's report warnings (nilearn/reporting), word for word
REPORTS_NOT_ENABLED = "\nReport generation not enabled!\nNo visual outputs created."
NOT_FITTED = "\nThis estimator has not been fit yet.\nMake sure to run `fit` before inspecting reports."
REPORTS_DISABLED_AT_FIT = (
    "\nReport generation was disabled when fit was run. No reporting data is available.\n"
    "Make sure to set self.reports=True before fit."
)
WIDTH_DEFAULT, HEIGHT_DEFAULT = 800, 800  # pixels, nilearn's HTMLDocument defaults


class _Pixels:
    """A frame size in pixels: a value that is not a number warns and becomes the default (nilearn's rule)."""

    def __init__(self, default: int):
        self.default = default

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, report, owner=None):
        return self if report is None else report.__dict__[self.name]

    def __set__(self, report, value):
        try:
            report.__dict__[self.name] = int(value)
        except (TypeError, ValueError):
            warnings.warn(
                f"Invalid {self.name} {value=}. Using default instead {self.default}", UserWarning, stacklevel=2
            )
            report.__dict__[self.name] = self.default


class MaskerReport:
    """A self-contained HTML report (parameters and region tables).

    Attributes
    ----------
    html : str
        The whole document.
    """

    def __init__(self, html_text: str, width=WIDTH_DEFAULT, height=HEIGHT_DEFAULT):
        self.html = html_text
        self.width = width
        self.height = height

    #: size (pixels) of the inline frame of :meth:`get_iframe`
    width = _Pixels(WIDTH_DEFAULT)
    height = _Pixels(HEIGHT_DEFAULT)

    def resize(self, width, height) -> MaskerReport:
        """Set the size (pixels) of the inline frame; return the report."""
        self.width = width
        self.height = height
        return self

    def get_iframe(self, width=None, height=None) -> str:
        """The document in an inline frame (``srcdoc``), to insert in another page.

        Parameters
        ----------
        width, height : int or None, default=None
            Frame size (pixels); None: the report's ``width`` / ``height``.
        """
        width = self.width if width is None else width
        height = self.height if height is None else height
        return (
            f'<iframe srcdoc="{html.escape(self.html, quote=True)}" '
            f'width="{width}" height="{height}" frameBorder="0"></iframe>'
        )

    def open_in_browser(self, file_name=None) -> None:
        """Write the document to ``file_name`` (a temporary file by default) and open it."""
        if file_name is None:
            with tempfile.NamedTemporaryFile("w", suffix=".html", delete=False, encoding="utf-8") as file:
                file.write(self.html)
                file_name = file.name
        else:
            self.save_as_html(file_name)
        webbrowser.open(Path(file_name).resolve().as_uri())

    def get_standalone(self) -> str:
        """Return the HTML document."""
        return self.html

    def save_as_html(self, path) -> None:
        """Write the HTML document to ``path``."""
        Path(path).write_text(self.html, encoding="utf-8")

    @property
    def body(self) -> str:
        """The HTML a notebook shows (nilearn's ``HTMLReport.body``): the whole page here."""
        return self.html

    def _repr_html_(self) -> str:
        return self.body

    def __str__(self) -> str:
        return self.html


def report_warnings(masker, engine="matplotlib") -> tuple[list[str], bool]:
    """nilearn's report warnings for ``masker``, issued, and whether to draw the figure.

    The figure is drawn only for a fitted masker whose ``reports`` was True
    at ``fit`` and still is. Each warning is issued as a ``UserWarning`` (as
    nilearn does) and returned, to be listed in the page.

    Parameters
    ----------
    masker : a masker of :mod:`regionseries.maskers`
    engine : str, default="matplotlib"
        nilearn's plotting engine; only matplotlib draws here.

    Returns
    -------
    list of str, bool
    """
    messages = []
    if not masker.reports:
        messages.append(REPORTS_NOT_ENABLED)
    fitted = masker.__sklearn_is_fitted__()
    if not fitted:
        messages.append(NOT_FITTED)
    elif not getattr(masker, "_reports_at_fit_time", True):
        messages.append(REPORTS_DISABLED_AT_FIT)
    if engine != "matplotlib":
        messages.append(f"The report figure is drawn with matplotlib; engine={engine!r} is not available.")
    for message in messages:
        warnings.warn(message, UserWarning, stacklevel=3)
    draw = fitted and bool(masker.reports) and getattr(masker, "_reports_at_fit_time", True)
    return messages, draw


def displayed_indices(displayed, n_maps: int, name: str = "map") -> tuple[list[int], list[str]]:
    """nilearn's ``displayed_maps`` / ``displayed_spheres``: which maps the figure shows.

    Parameters
    ----------
    displayed : int, "all", list of int or numpy.ndarray of int
        The first ``displayed`` maps, all of them, or these indices.
    n_maps : int
    name : {"map", "sphere"}

    Returns
    -------
    list of int, list of str
        The indices shown, and nilearn's warnings (not issued here) about
        those that do not exist.

    Raises
    ------
    TypeError
        For another type, with nilearn's message.
    """
    argument = f"displayed_{name}s"
    bad_list = isinstance(displayed, list) and not all(
        isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in displayed
    )
    bad_array = isinstance(displayed, np.ndarray) and displayed.dtype.kind not in "iu"
    bad_string = isinstance(displayed, str) and displayed != "all"
    if bad_list or bad_array or bad_string or not isinstance(displayed, (list, np.ndarray, int, str)):
        kind = type(displayed).__name__
        if isinstance(displayed, (list, np.ndarray)):
            kind += f" of { {type(i).__name__ for i in displayed} }"
        raise TypeError(
            f"Parameter '{argument}' of ``generate_report()`` should be either 'all' or "
            f"a positive 'int', or a list/array of ints. You provided a {kind}."
        )
    messages = []
    if isinstance(displayed, str):
        displayed = n_maps
    if isinstance(displayed, (int, np.integer)):
        if displayed > n_maps:
            messages.append(
                f"`generate_report()` received '{argument}={displayed}' to be displayed. "
                f"But masker only has {n_maps} {name}(s). '{argument}' was set to {n_maps}."
            )
            displayed = n_maps
        displayed = list(range(int(displayed)))
    requested = [int(i) for i in displayed]
    shown = [i for i in requested if 0 <= i < n_maps]
    missing = [i for i in requested if not 0 <= i < n_maps]
    if missing:
        messages.append(
            f"`generate_report()` received '{argument}={shown}' to be displayed. "
            f"Report cannot display the following {name} {missing} because "
            f"masker only has {n_maps} {name}(s)."
        )
    return shown, messages


def render_report(
    masker, description, region_columns, region_rows, warnings_list, figure=None, title=None
):
    """The masker's report, built from the participant reports' building blocks.

    ``figure`` is a matplotlib figure from :mod:`regionseries.report.figures`
    (atlas overlay or spheres); it is embedded in the page, so the document
    works on its own. ``title`` replaces the default "<class> report".
    """
    # Imported here: regionseries.report.standalone brings jinja2 and matplotlib, about
    # 0.3 s (python -X importtime), more than importing the maskers themselves (0.25 s).
    from ..report.standalone import embedded_figure, standalone_report

    name = type(masker).__name__
    parameters = [(key, short_repr(value)) for key, value in masker.get_params().items()]
    html_text = standalone_report(
        title=f"{name} report" if title is None else str(title),
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


class ReportMixin:
    """``generate_report`` with nilearn's arguments and warnings; a masker draws in ``_fitted_report``.

    ``_fitted_report(draw, **kwargs)`` returns the description, the region
    table's columns and rows, the figure (None when ``draw`` is False) and
    the warnings about ``kwargs`` (not issued yet).
    """

    def generate_report(self, engine="matplotlib", title=None, **kwargs) -> MaskerReport:
        """Return the HTML report: the parameters, the region table and the regions drawn.

        nilearn's warnings (``reports=False``, not fitted, reports disabled at
        ``fit``, maps or spheres asked for that do not exist) are issued as
        ``UserWarning`` and listed in the page; the figure is drawn only for
        a fitted masker whose ``reports`` was and is True. Before ``fit``
        the page has the parameters only.

        Parameters
        ----------
        engine : str, default="matplotlib"
            nilearn's figure engine; only "matplotlib" draws here (another
            value warns).
        title : str or None, default=None
            Title of the page; None: "<class name> report".
        **kwargs
            nilearn's arguments of some maskers: ``displayed_maps``
            (NiftiMapsMasker, RegionExtractor) and ``displayed_spheres``
            (NiftiSpheresMasker), default 10: the maps or spheres drawn in
            the figure, the first ones, "all", or a list of indices (the
            table lists all). Others are ignored, as in nilearn.

        Returns
        -------
        MaskerReport
        """
        messages, draw = report_warnings(self, engine)
        if not self.__sklearn_is_fitted__():
            return unfitted_report(self, messages, title)
        description, columns, rows, figure, kwargs_messages = self._fitted_report(draw, **kwargs)
        for message in kwargs_messages:
            warnings.warn(message, UserWarning, stacklevel=2)
        return render_report(
            self, description, columns, rows, messages + kwargs_messages, figure=figure, title=title
        )


def unfitted_report(masker, warnings_list, title=None) -> MaskerReport:
    """The report of a masker not fitted yet: its parameters and the warnings."""
    return render_report(
        masker,
        f"This {type(masker).__name__} is not fitted: its regions are known after fit.",
        [],
        [],
        warnings_list,
        title=title,
    )


def report_figure(function_name, *args, **kwargs):
    """Draw a report figure with :mod:`regionseries.report.figures` (Agg backend)."""
    # matplotlib: imported when a report is asked for (see render_report)
    from ..report import figures

    return getattr(figures, function_name)(*args, **kwargs)


def voxel_volume(affine) -> float:
    return float(abs(np.linalg.det(np.asarray(affine)[:3, :3])))
