"""Atlases on cortical surfaces: parcels and their coverage on lateral and medial views of both hemispheres.

:func:`plot_surface_labels` and :func:`plot_surface_coverage` take plain
arrays (a mesh per hemisphere, a label per vertex); :func:`plot_surface_atlas`
draws a report's :class:`~regionseries.report.model.AtlasResult` holding a
:class:`~regionseries.report.model.SurfaceAtlas`. The views are rendered
by :func:`regionseries.report.raster.surface.render_view` (numpy, no
OpenGL) and placed in one axes in mm, like the slice montages;
:func:`surface_frame` and :func:`surface_coverage_frame` draw the figures
without their views, for :func:`~regionseries.report.raster.surface.surface_labels_raster`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from ..model import AtlasResult
from ..raster.colors import COLOR_NA
from ..raster.frames import FULL_WIDTH_IN, Frame
from ..raster.surface import (
    SURFACE_VIEWS,
    UNCOVERED_GREY,
    SurfacePaint,
    paint_coverage,
    paint_labels,
    surface_panels,
    view_spans,
)
from .canvas import add_axes_inches, colormap_table, frame_from, new_figure, styled

__all__ = [
    "plot_surface_atlas",
    "plot_surface_coverage",
    "plot_surface_labels",
    "surface_coverage_frame",
    "surface_frame",
]

#: Resolution (dots per inch) the views are rendered at in figures drawn with matplotlib.
RENDER_DPI = 200
_GAP_MM = 6.0  # between the two views of a hemisphere
_HEMISPHERE_GAP_MM = 14.0
_COLORBAR_IN = 1.6  # room on the right of the coverage figure


def _coverage_colormap():
    return colormaps["viridis"].with_extremes(bad="#d9d9d9")


@styled
def _surface_figure(spans: Sequence[tuple[float, float, float, float]], right_in: float = 0.0,
                    transparent: bool = False) -> tuple[Figure, Any, list]:
    """The four views' titles and A/P letters in one axes (mm), without the views.

    Returns the figure, its axes and the rectangle (x0, x1, y0, y1) of each
    view (:data:`~regionseries.report.raster.surface.SURFACE_VIEWS`) in data
    coordinates.
    """
    widths = [span[1] - span[0] for span in spans]
    heights = [span[3] - span[2] for span in spans]
    gaps = [_GAP_MM, _HEMISPHERE_GAP_MM, _GAP_MM]
    total_width = sum(widths) + sum(gaps)
    panels_width_in = FULL_WIDTH_IN - right_in
    points_per_mm = panels_width_in * 72 / total_width
    fontsize = float(np.clip(3.0 * points_per_mm, 7, 9))
    title_band = 2.0 * fontsize / points_per_mm
    letter_band = 1.6 * fontsize / points_per_mm
    total_height = max(heights) + title_band + letter_band
    figure = new_figure(FULL_WIDTH_IN, panels_width_in * total_height / total_width)
    if transparent:
        figure.patch.set_alpha(0.0)
    axes = add_axes_inches(figure, 0, 0, panels_width_in, figure.get_size_inches()[1])
    axes.set_axis_off()
    rectangles = []
    x0 = 0.0
    for position, ((hemisphere, side), width, height) in enumerate(zip(SURFACE_VIEWS, widths,
                                                                       heights)):
        bottom = letter_band + (max(heights) - height) / 2
        rectangles.append((x0, x0 + width, bottom, bottom + height))
        axes.text(x0 + width / 2, total_height - 0.35 * title_band, f"{hemisphere} {side}",
                  ha="center", va="top", fontsize=fontsize + 0.5)
        anterior_left = (hemisphere == "left") == (side == "lateral")
        for text, x, align in (("A" if anterior_left else "P", x0, "left"),
                               ("P" if anterior_left else "A", x0 + width, "right")):
            axes.text(x, 0.15 * letter_band, text, ha=align, va="bottom", fontsize=fontsize - 1,
                      color="#555555")
        x0 += width + (gaps[position] if position < len(gaps) else 0)
    axes.set_xlim(0, total_width)
    axes.set_ylim(0, total_height)
    axes.set_aspect("equal")
    return figure, axes, rectangles


def _add_coverage_colorbar(figure: Figure, min_coverage: float | None) -> None:
    """Colour bar of the coverage (0 to 100 %), the threshold marked, and the legend of the rest."""
    _, height = figure.get_size_inches()
    bar_height = max(height - 0.9, 0.6)
    axes = add_axes_inches(figure, FULL_WIDTH_IN - _COLORBAR_IN + 0.4, 0.55, 0.14, bar_height)
    colorbar = figure.colorbar(ScalarMappable(Normalize(0, 100), _coverage_colormap()), cax=axes)
    colorbar.set_label("coverage (%)", labelpad=2)
    if min_coverage is not None:
        axes.axhline(100 * min_coverage, color=COLOR_NA, linewidth=1.5)
        axes.text(-0.4, 100 * min_coverage, "min", color=COLOR_NA,
                  transform=axes.get_yaxis_transform(), va="center", ha="right", fontsize=7)
    figure.text((FULL_WIDTH_IN - _COLORBAR_IN + 0.05) / FULL_WIDTH_IN, 0.12 / height,
                "red outline: n/a", color=COLOR_NA, fontsize=7, ha="left", va="bottom")
    figure.text((FULL_WIDTH_IN - _COLORBAR_IN + 0.05) / FULL_WIDTH_IN, 0.3 / height,
                "dark: no signal", color=UNCOVERED_GREY, fontsize=7, ha="left", va="bottom")


def surface_frame(spans: Sequence[tuple[float, float, float, float]]) -> Frame:
    """The surface figure without its views: titles and letters, a box per view."""
    figure, axes, rectangles = _surface_figure(spans)
    return frame_from(figure, [(axes, rectangle) for rectangle in rectangles])


@styled
def surface_coverage_frame(spans: Sequence[tuple[float, float, float, float]],
                           min_coverage: float | None) -> Frame:
    """The coverage figure without its views; its tables hold the colour map (``colors``, ``bad``)."""
    figure, axes, rectangles = _surface_figure(spans, right_in=_COLORBAR_IN)
    _add_coverage_colorbar(figure, min_coverage)
    return frame_from(figure, [(axes, rectangle) for rectangle in rectangles],
                      tables=colormap_table(_coverage_colormap()))


def _render_into(figure: Figure, axes: Any, rectangles: list, meshes: Mapping[str, Any],
                 paint: SurfacePaint, spans: Sequence[tuple[float, float, float, float]],
                 dpi: float) -> Figure:
    """Render the views at ``dpi`` and show each in its rectangle."""
    scale = dpi / figure.dpi
    shapes = []
    for x0, x1, y0, y1 in rectangles:
        (left, low), (right, high) = axes.transData.transform([(x0, y0), (x1, y1)])
        shapes.append((max(int(round((high - low) * scale)), 1),
                       max(int(round((right - left) * scale)), 1)))
    images = surface_panels(meshes, paint, shapes, spans)
    for rectangle, image in zip(rectangles, images):
        axes.imshow(image, interpolation="nearest", extent=rectangle)
    return figure


def plot_surface_labels(
    meshes: Mapping[str, tuple[np.ndarray, np.ndarray]],
    vertex_labels: Mapping[str, np.ndarray],
    label_values: Sequence[int],
    na_flags: Sequence[bool] | None = None,
    sulcal_depth: Mapping[str, np.ndarray] | None = None,
    dpi: float = RENDER_DPI,
) -> Figure:
    """A labels atlas on lateral and medial views of both hemispheres.

    Regions are filled with the colours of the volume overlays
    (:func:`~regionseries.report.raster.label_colors`, in atlas order) and
    outlined; regions set to n/a are outlined in red with a faint red fill.
    Vertices without a listed label (the medial wall, label 0) stay grey.

    Parameters
    ----------
    meshes : mapping
        ``{"left": (coordinates, faces), "right": (coordinates, faces)}``:
        vertex positions (n_vertices, 3) in mm and triangles (n_faces, 3) of
        the surface to draw on (inflated, or pial when there is none).
    vertex_labels : mapping
        ``{"left": labels, "right": labels}``: the label value of each vertex
        (0 or any value not in ``label_values`` for none). A hemisphere
        missing here is drawn grey.
    label_values : sequence of int
        Label value of each region, in atlas table order.
    na_flags : sequence of bool or None
        True for the regions set to n/a (same order as ``label_values``).
    sulcal_depth : mapping or None
        Per hemisphere, the sulcal depth of each vertex (FreeSurfer's sign:
        positive in sulci) for the shading of the bare cortex.
    dpi : float
        Resolution the views are rendered at.

    Returns
    -------
    matplotlib.figure.Figure
    """
    paint = paint_labels(meshes, vertex_labels, label_values, na_flags, sulcal_depth)
    spans = view_spans(meshes)
    figure, axes, rectangles = _surface_figure(spans)
    return _render_into(figure, axes, rectangles, meshes, paint, spans, dpi)


def plot_surface_coverage(
    meshes: Mapping[str, tuple[np.ndarray, np.ndarray]],
    vertex_labels: Mapping[str, np.ndarray],
    label_values: Sequence[int],
    coverage: Sequence[float],
    min_coverage: float | None = None,
    na_flags: Sequence[bool] | None = None,
    vertex_covered: Mapping[str, np.ndarray] | None = None,
    sulcal_depth: Mapping[str, np.ndarray] | None = None,
    dpi: float = RENDER_DPI,
) -> Figure:
    """Each region's coverage on the surface; regions set to n/a outlined in red.

    Parameters
    ----------
    meshes, vertex_labels, label_values, sulcal_depth, dpi
        As for :func:`plot_surface_labels`.
    coverage : sequence of float
        Fraction of each region's vertices (grayordinates) with a usable
        signal, in [0, 1], in atlas order.
    min_coverage : float or None
        The run's ``--min-coverage`` (fraction), marked on the colour bar.
    na_flags : sequence of bool or None
        True for the regions set to n/a.
    vertex_covered : mapping or None
        Per hemisphere, False for the vertices whose signal does not count
        (zero, constant or NaN): drawn dark grey inside their region.

    Returns
    -------
    matplotlib.figure.Figure
    """
    paint = paint_coverage(meshes, vertex_labels, label_values, coverage,
                           colormap_table(_coverage_colormap()), na_flags, vertex_covered,
                           sulcal_depth)
    spans = view_spans(meshes)
    figure, axes, rectangles = _surface_figure(spans, right_in=_COLORBAR_IN)
    styled(_add_coverage_colorbar)(figure, min_coverage)
    return _render_into(figure, axes, rectangles, meshes, paint, spans, dpi)


def plot_surface_atlas(atlas: AtlasResult, coverage_view: bool = False,
                       min_coverage: float | None = None,
                       vertex_covered: Mapping[str, Any] | None = None) -> Figure | None:
    """Draw a surface atlas of a run: its parcels, or (``coverage_view``) their coverage.

    Parameters
    ----------
    atlas : AtlasResult
        An atlas with a :class:`~regionseries.report.model.SurfaceAtlas`.
    coverage_view : bool
        Draw each region's coverage (:func:`plot_surface_coverage`) instead
        of the regions (:func:`plot_surface_labels`).
    min_coverage : float or None
        The run's ``--min-coverage`` (fraction), for the coverage view.
    vertex_covered : mapping or None
        Per hemisphere, False for vertices without a usable signal; the
        surface's own when None.

    Returns
    -------
    matplotlib.figure.Figure or None
        None for an atlas without a surface (or, for the coverage view,
        without coverage).

    See Also
    --------
    regionseries.report.raster.surface_labels_raster, regionseries.report.raster.surface_coverage_raster :
        the same pictures from frames.
    """
    surface = atlas.surface
    if surface is None or (coverage_view and atlas.coverage is None):
        return None
    if coverage_view:
        return plot_surface_coverage(
            surface.meshes, surface.vertex_labels, surface.label_values(atlas), atlas.coverage,
            min_coverage, atlas.na_mask,
            surface.vertex_covered if vertex_covered is None else vertex_covered,
            surface.sulcal_depth)
    return plot_surface_labels(surface.meshes, surface.vertex_labels, surface.label_values(atlas),
                               atlas.na_mask, surface.sulcal_depth)
