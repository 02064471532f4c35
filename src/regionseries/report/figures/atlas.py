"""Atlases over the run's reference image: labels and maps on slice montages, spheres on projections.

:func:`plot_labels_overlay`, :func:`plot_maps_overlay` and
:func:`plot_spheres` take plain arrays (the maskers' reports use them);
:func:`plot_atlas` draws a report's :class:`~regionseries.report.model.AtlasResult`.
:func:`cuts_frame` and :func:`spheres_frame` draw the montages without their
slices or projections, for :func:`regionseries.report.raster.atlas_raster`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps, patheffects
from matplotlib.collections import EllipseCollection
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..model import AtlasResult
from ..raster.atlas import (
    SPHERE_ALPHA,
    SPHERE_EDGE_PT,
    SPHERES_BACKGROUND,
    sphere_colors,
)
from ..raster.colors import label_colors
from ..raster.frames import FULL_WIDTH_IN, Frame
from ..raster.overlays import (
    _VIEWS,
    OverlayVolumes,
    _canonical,
    _grey_levels,
    _Grid,
    overlay_volumes,
)
from .canvas import colormap_table, frame_from, new_figure, styled
from .surface import plot_surface_atlas

__all__ = [
    "cuts_frame",
    "plot_atlas",
    "plot_labels_overlay",
    "plot_maps_overlay",
    "plot_spheres",
    "spheres_frame",
]

_OUTLINE = [patheffects.withStroke(linewidth=2, foreground="white")]


def _montage_axes(figure: Figure) -> Any:
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_axis_off()
    return axes


@styled
def _cuts_figure(grid: _Grid, cuts: Sequence[Sequence[int]], n_cuts: int,
                 transparent: bool = False) -> tuple[Figure, Any, list]:
    """Rows of axial, coronal and sagittal cuts in one axes (mm units), without the slices.

    Returns the figure, its axes and the rectangle (x0, x1, y0, y1) of each
    slice in data coordinates, view by view; the view names, each slice's
    coordinate and the L/R letters (drawn over the slices) are drawn.
    """
    gap = 4.0  # mm between slices
    rows = []
    for (view, axis, (horizontal, vertical), letter), view_cuts in zip(_VIEWS, cuts):
        rows.append((view, axis, letter, view_cuts, np.ptp(grid.span(horizontal)),
                     np.ptp(grid.span(vertical))))
    left_band = 14.0  # mm for the view names
    total_width = left_band + max(n_cuts * (row[4] + gap) for row in rows)
    points_per_mm = FULL_WIDTH_IN * 72 / total_width
    fontsize = float(np.clip(3.0 * points_per_mm, 7, 9))
    label_band = 1.5 * fontsize / points_per_mm  # mm above each slice for its coordinate
    total_height = sum(row[5] + label_band + gap for row in rows)
    figure = new_figure(FULL_WIDTH_IN, FULL_WIDTH_IN * total_height / total_width)
    if transparent:
        figure.patch.set_alpha(0.0)
    axes = _montage_axes(figure)
    rectangles = []
    top = total_height
    for view, axis, letter, view_cuts, width, height in rows:
        row_bottom = top - label_band - height
        axes.text(left_band / 2, row_bottom + height / 2, view, rotation=90, ha="center",
                  va="center", fontsize=fontsize + 0.5)
        for column, index in enumerate(view_cuts):
            x0 = left_band + column * (width + gap)
            rectangles.append((x0, x0 + width, row_bottom, row_bottom + height))
            axes.text(x0 + width / 2, row_bottom + height + 0.2 * label_band,
                      f"{letter} = {grid.world(axis, int(index)):.0f} mm",
                      ha="center", va="bottom", fontsize=fontsize)
            if column == 0 and view != "sagittal":
                for text, x, align in (("L", x0 + 1.5, "left"), ("R", x0 + width - 1.5, "right")):
                    axes.text(x, row_bottom + 0.15 * label_band, text, color="white", ha=align,
                              va="bottom", fontsize=fontsize)
        top = row_bottom - gap
    axes.set_xlim(0, total_width)
    axes.set_ylim(0, total_height)
    axes.set_aspect("equal")
    return figure, axes, rectangles


def cuts_frame(grid: _Grid, cuts: Sequence[Sequence[int]], n_cuts: int) -> Frame:
    """The slice montage without its slices: text on a transparent layer, a box per slice."""
    figure, axes, rectangles = _cuts_figure(grid, cuts, n_cuts, transparent=True)
    return frame_from(figure, [(axes, rectangle) for rectangle in rectangles], layered=True)


def _plot_cuts(volumes: OverlayVolumes, colors: np.ndarray, na_flags: np.ndarray,
               fill_alpha: float) -> Figure:
    """The slices of ``volumes`` with the overlay, in one axes (mm units)."""
    figure, axes, rectangles = _cuts_figure(volumes.grid, volumes.cuts, volumes.n_cuts)
    for rectangle, rgb in zip(rectangles, volumes.slices(colors, na_flags, fill_alpha)):
        axes.imshow(rgb, origin="lower", interpolation="nearest", extent=rectangle)
    return figure


def plot_labels_overlay(
    labels: np.ndarray,
    affine: np.ndarray,
    label_values: Sequence[int],
    na_flags: Sequence[bool] | None = None,
    reference: np.ndarray | None = None,
    reference_affine: np.ndarray | None = None,
    n_cuts: int = 7,
) -> Figure:
    """A labels atlas over a reference image on axial, coronal and sagittal cuts.

    Regions are filled with distinct colours and outlined; regions set to n/a
    are outlined in red with a faint red fill. The cuts are spread evenly
    through the atlas's regions (:func:`~regionseries.report.raster.overlay_cuts`).

    Parameters
    ----------
    labels : numpy.ndarray
        3D integer label image.
    affine : numpy.ndarray
        (4, 4) voxel-to-world affine of ``labels`` (mm).
    label_values : sequence of int
        Label value of each region, in atlas table order.
    na_flags : sequence of bool or None
        True for the regions set to n/a (same order as ``label_values``).
    reference : numpy.ndarray or None
        3D background image (mean BOLD or brain mask).
    reference_affine : numpy.ndarray or None
        Affine of ``reference``; the atlas is drawn on its grid.
    n_cuts : int
        Number of slices per view.

    Returns
    -------
    matplotlib.figure.Figure
    """
    label_values = np.asarray(label_values, dtype=np.int64)
    na_flags = (np.zeros(label_values.size, dtype=bool) if na_flags is None
                else np.asarray(na_flags, dtype=bool))
    volumes = overlay_volumes(np.asarray(labels), affine, reference, reference_affine, n_cuts,
                              label_values=label_values)
    return _plot_cuts(volumes, label_colors(label_values.size), na_flags, fill_alpha=0.5)


def plot_maps_overlay(
    maps: np.ndarray,
    affine: np.ndarray,
    na_flags: Sequence[bool] | None = None,
    reference: np.ndarray | None = None,
    reference_affine: np.ndarray | None = None,
    n_cuts: int = 7,
    min_fraction: float = 0.1,
) -> Figure:
    """A probabilistic (maps) atlas drawn as its strongest map at each voxel.

    Each voxel takes the colour of the map with the largest weight there
    (relative to each map's peak), when that is at least ``min_fraction``.

    Parameters
    ----------
    maps : numpy.ndarray
        4D image (x, y, z, n_maps).
    affine : numpy.ndarray
        (4, 4) affine of ``maps`` (mm).
    na_flags : sequence of bool or None
        True for the maps set to n/a.
    reference, reference_affine : numpy.ndarray or None
        Background image and its affine.
    n_cuts : int
        Number of slices per view.
    min_fraction : float
        Voxels below this fraction of every map's peak are not coloured.

    Returns
    -------
    matplotlib.figure.Figure
    """
    n_maps = np.shape(maps)[3]
    na_flags = np.zeros(n_maps, bool) if na_flags is None else np.asarray(na_flags, dtype=bool)
    volumes = overlay_volumes(maps, affine, reference, reference_affine, n_cuts,
                              min_fraction=min_fraction)
    return _plot_cuts(volumes, label_colors(n_maps), na_flags, fill_alpha=0.55)


@styled
def _spheres_figure(coordinates: np.ndarray, radius_mm: float | None, na_flags: np.ndarray,
                    grid: _Grid | None, max_numbered: int,
                    frame: bool = False) -> tuple[Figure, Any, list, list]:
    """Spheres and their numbers on three views, without what is drawn under them.

    Returns the figure, its axes, the rectangle (x0, x1, y0, y1) of each
    view in data coordinates (where the reference's projection goes, or a
    dark background without a reference) and the sphere centres of each view
    (n, 2) in data coordinates. ``frame=True`` leaves the spheres out too and
    draws on a transparent background (:func:`spheres_frame`).
    """
    radius = float(radius_mm) if radius_mm else 2.0
    if grid is not None:
        spans = [grid.span(axis) for axis in range(3)]
    else:
        margin = radius + 10
        spans = [(coordinates[:, axis].min() - margin, coordinates[:, axis].max() + margin)
                 for axis in range(3)]
    gap, title_band = 8.0, 10.0
    widths = [np.ptp(spans[horizontal]) for _, _, (horizontal, _), _ in _VIEWS]
    heights = [np.ptp(spans[vertical]) for _, _, (_, vertical), _ in _VIEWS]
    total_width = sum(widths) + gap * (len(_VIEWS) - 1)
    total_height = max(heights) + title_band
    margin_mm = 6.0  # room for spheres and numbers at the edge of the grid
    figure = new_figure(FULL_WIDTH_IN, FULL_WIDTH_IN * (total_height + margin_mm)
                        / (total_width + 2 * margin_mm))
    if frame:
        figure.patch.set_alpha(0.0)
    axes = _montage_axes(figure)
    fontsize = float(np.clip(3.2 * FULL_WIDTH_IN * 72 / total_width, 7, 9))
    x0 = 0.0
    numbered = len(coordinates) <= max_numbered
    face_colors = sphere_colors(len(coordinates), na_flags, max_numbered)
    rectangles, centres_of_views = [], []
    for (view, axis, (horizontal, vertical), _), width, height in zip(_VIEWS, widths, heights):
        h_low, v_low = spans[horizontal][0], spans[vertical][0]
        rectangles.append((x0, x0 + width, 0, height))
        centres = np.column_stack([x0 + coordinates[:, horizontal] - h_low,
                                   coordinates[:, vertical] - v_low])
        centres_of_views.append(centres)
        if not frame:
            # One collection for all spheres: adding hundreds of patches one by one is slow.
            axes.add_collection(EllipseCollection(
                widths=2 * radius, heights=2 * radius, angles=0, units="xy", offsets=centres,
                offset_transform=axes.transData, facecolors=face_colors, edgecolors="white",
                linewidths=SPHERE_EDGE_PT, alpha=SPHERE_ALPHA, zorder=3,
            ))
        if numbered:
            for position, (x, y) in enumerate(centres):
                axes.text(x + 0.8 * radius, y + 0.8 * radius, str(position), ha="left",
                          va="bottom", fontsize=fontsize, color="black", zorder=4,
                          path_effects=_OUTLINE)
        axes.text(x0 + width / 2, height + 2, view, ha="center", va="bottom",
                  fontsize=fontsize + 0.5)
        x0 += width + gap
    axes.set_xlim(-margin_mm, total_width + margin_mm)
    axes.set_ylim(-margin_mm, total_height)
    axes.set_aspect("equal")
    return figure, axes, rectangles, centres_of_views


def spheres_frame(coordinates: np.ndarray, radius_mm: float | None, grid: _Grid | None,
                  max_numbered: int) -> Frame:
    """The spheres figure without its data: view names and sphere numbers on a transparent layer.

    The boxes are the views (projections or dark backgrounds go there); the
    tables hold the grey colour map, the sphere centres of each view in
    pixels (``centres``: views × spheres × (column, row)) and the sphere
    radius in pixels (``radius``): the spheres are drawn between the
    projections and the layer (:func:`~regionseries.report.raster.spheres_raster`),
    so that the frame does not depend on which spheres are set to n/a.
    """
    figure, axes, rectangles, centres = _spheres_figure(
        coordinates, radius_mm, np.zeros(len(coordinates), bool), grid, max_numbered, frame=True)
    drawn = frame_from(figure, [(axes, rectangle) for rectangle in rectangles], layered=True,
                        tables={"grey": colormap_table(colormaps["gray"])["colors"]})
    height = drawn.pixels.shape[0]
    pixels = [axes.transData.transform(view) for view in centres]
    drawn.tables["centres"] = np.stack([np.column_stack([xy[:, 0], height - xy[:, 1]])
                                        for xy in pixels]).reshape(len(centres), -1, 2)
    radius = float(radius_mm) if radius_mm else 2.0
    (left, _), (right, _) = axes.transData.transform([(0.0, 0.0), (radius, 0.0)])
    drawn.tables["radius"] = np.array([right - left])
    return drawn


def plot_spheres(
    coordinates_mm: np.ndarray,
    radius_mm: float | None,
    na_flags: Sequence[bool] | None = None,
    reference: np.ndarray | None = None,
    reference_affine: np.ndarray | None = None,
    max_numbered: int = 40,
) -> Figure:
    """Spheres drawn at their coordinates over projections of the reference.

    Three orthogonal maximum-intensity projections of the reference (dimmed),
    with every sphere as a circle of its radius (mm) at its centre, numbered
    as in the region table when there are at most ``max_numbered`` spheres;
    spheres set to n/a are red.

    Parameters
    ----------
    coordinates_mm : numpy.ndarray, shape (n, 3)
        Sphere centres in world coordinates (mm).
    radius_mm : float or None
        Sphere radius in mm; None or 0 draws 2 mm dots (single-voxel seeds).
    na_flags : sequence of bool or None
        True for the spheres set to n/a.
    reference, reference_affine : numpy.ndarray or None
        Background image and its affine.
    max_numbered : int
        Number the spheres when there are at most this many.

    Returns
    -------
    matplotlib.figure.Figure
    """
    coordinates = np.asarray(coordinates_mm, dtype=float).reshape(-1, 3)
    na_flags = (np.zeros(len(coordinates), bool) if na_flags is None
                else np.asarray(na_flags, dtype=bool))
    grid = grey = None
    if reference is not None:
        reference, reference_affine = _canonical(np.asarray(reference, float),
                                                 np.asarray(reference_affine, float))
        grid = _Grid(reference_affine, reference.shape)
        grey = _grey_levels(reference, reference.shape, brightness=0.7)
    figure, axes, rectangles, _ = _spheres_figure(coordinates, radius_mm, na_flags, grid,
                                                  max_numbered)
    for (_, axis, _, _), rectangle in zip(_VIEWS, rectangles):
        if grey is None:
            x0, x1, y0, y1 = rectangle
            axes.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, color=SPHERES_BACKGROUND))
        else:
            axes.imshow(grey.max(axis=axis).T, cmap="gray", vmin=0, vmax=1, origin="lower",
                        interpolation="nearest", extent=rectangle)
    return figure


def plot_atlas(atlas: AtlasResult, reference_image: Any = None) -> Figure | None:
    """Draw an atlas of a run over its reference image.

    Parameters
    ----------
    atlas : AtlasResult
    reference_image : nibabel image or None
        3D reference (mean BOLD or brain mask) on the BOLD grid.

    Returns
    -------
    matplotlib.figure.Figure or None
        None for a labels/maps atlas without an image; an atlas with a
        surface is drawn on it (:func:`~.surface.plot_surface_atlas`).

    See Also
    --------
    regionseries.report.raster.atlas_raster : the same picture from a frame.
    """
    if atlas.surface is not None:
        return plot_surface_atlas(atlas)
    reference = reference_affine = None
    if reference_image is not None:
        reference = np.asarray(reference_image.dataobj, dtype=float)
        reference_affine = reference_image.affine
    if atlas.kind == "spheres":
        return plot_spheres(atlas.sphere_coordinates_mm, atlas.sphere_radius_mm, atlas.na_mask,
                            reference, reference_affine)
    if atlas.image is None:
        return None
    data = np.asarray(atlas.image.dataobj)
    if atlas.kind == "maps" and data.ndim == 3:  # already the strongest map at each voxel
        return plot_labels_overlay(data, atlas.image.affine, np.arange(1, atlas.n_regions + 1),
                                   atlas.na_mask, reference, reference_affine)
    if atlas.kind == "labels":
        return plot_labels_overlay(data, atlas.image.affine, atlas.label_values, atlas.na_mask,
                                   reference, reference_affine)
    return plot_maps_overlay(data, atlas.image.affine, atlas.na_mask, reference,
                             reference_affine)
