"""Atlases on cortical surfaces as pixels: an orthographic renderer of triangle meshes in numpy.

A hemisphere is drawn seen from the side (lateral) or from the midline
(medial), without perspective: every triangle is rasterised at the pixel
centres it covers, the nearest triangle wins each pixel (a z-buffer), and a
pixel takes the colour of the triangle's vertex nearest to it (parcels keep
sharp borders) shaded by the interpolated vertex normal against a light from
the viewer. No OpenGL, no matplotlib: :func:`render_view` returns an RGB
array that a frame (:func:`surface_raster`) or an ``imshow``
(:mod:`regionseries.report.figures.surface`) places in the figure.

Views are named ``(hemisphere, side)`` with hemisphere ``"left"``/``"right"``
and side ``"lateral"``/``"medial"``; the anterior end of the brain is on the
left of a left lateral and a right medial view, as in FreeSurfer's and
nilearn's pictures.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from ..model import AtlasResult
from .colors import COLOR_NA, _uint8, colormapped, label_colors
from .frames import RasterFigure, _figures, cached_frame
from .overlays import _label_boundaries

__all__ = [
    "SURFACE_VIEWS",
    "SurfacePaint",
    "paint_coverage",
    "paint_labels",
    "render_view",
    "surface_coverage_raster",
    "surface_labels_raster",
    "surface_panels",
    "surface_region_indices",
    "view_span",
    "view_spans",
]

#: The panels of a surface figure, left to right.
SURFACE_VIEWS = (("left", "lateral"), ("left", "medial"), ("right", "medial"), ("right", "lateral"))

#: Grey of the cortex where no region is drawn (medial wall, unlabelled vertices), as the
#: lightest and darkest grey of the sulcal-depth shading (gyri light, sulci dark).
SURFACE_GREY = 0.78
SURFACE_GREY_RANGE = (0.62, 0.86)
#: Light: ambient part and the part that follows the angle to the viewer.
_AMBIENT, _DIFFUSE = 0.38, 0.62
#: Opacity of a region's colour over the grey cortex; outlines are darkened as in the volume overlays.
SURFACE_FILL_ALPHA = 0.9
_OUTLINE_DARKENING = 0.55
_NA_FILL_ALPHA = 0.35
#: Vertices of a region whose signal does not count (zero, constant or NaN) in the coverage view.
UNCOVERED_GREY = (0.25, 0.25, 0.25)


def _view_axes(hemisphere: str, side: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit vectors of the screen's horizontal (right), vertical (up) and depth (towards the viewer).

    The viewer of a left lateral view stands at -x looking towards +x, up is
    +z, so the screen's right is -y (posterior): the frontal lobe is on the left.
    """
    if hemisphere not in ("left", "right") or side not in ("lateral", "medial"):
        raise ValueError(f"unknown surface view {(hemisphere, side)!r}")
    viewer_at_minus_x = (hemisphere == "left") == (side == "lateral")
    towards_viewer = np.array([-1.0, 0.0, 0.0]) if viewer_at_minus_x else np.array([1.0, 0.0, 0.0])
    up = np.array([0.0, 0.0, 1.0])
    right = np.cross(-towards_viewer, up)
    return right, up, towards_viewer


def view_span(coordinates: np.ndarray, hemisphere: str, side: str,
              margin_mm: float = 2.0) -> tuple[float, float, float, float]:
    """(left, right, bottom, top) of a mesh on the screen of a view, in mm with a margin."""
    right, up, _ = _view_axes(hemisphere, side)
    horizontal = np.asarray(coordinates, float) @ right
    vertical = np.asarray(coordinates, float) @ up
    return (float(horizontal.min() - margin_mm), float(horizontal.max() + margin_mm),
            float(vertical.min() - margin_mm), float(vertical.max() + margin_mm))


def _face_normals(coordinates: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(n_faces, 3) normals of the triangles, as long as twice their area, turned outwards.

    Meshes wind their triangles one way or the other; the normals are turned
    so that, summed over the mesh, they point away from its centre.
    """
    corners = coordinates[faces]
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    outwards = np.einsum("ij,ij->", normals, corners.mean(axis=1) - coordinates.mean(axis=0))
    return -normals if outwards < 0 else normals


def _vertex_normals(coordinates: np.ndarray, faces: np.ndarray,
                    face_normals: np.ndarray) -> np.ndarray:
    """Unit normals at the vertices: the area-weighted sum of the normals of their triangles."""
    normals = np.column_stack([
        np.bincount(faces.ravel(), weights=np.repeat(face_normals[:, axis], 3),
                    minlength=len(coordinates))
        for axis in range(3)])
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return normals / np.where(length > 0, length, 1.0)


def _rasterize(screen: np.ndarray, depth: np.ndarray, faces: np.ndarray, height: int,
               width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The front triangle at each pixel centre: (pixel index, face index, barycentric weights).

    ``screen`` holds the vertices in pixel units (column, row from the top),
    ``depth`` their distance towards the viewer. Pixels no triangle covers
    are left out.
    """
    corners = screen[faces]  # (n_faces, 3, 2)
    low = np.floor(corners.min(axis=1) - 0.5).astype(np.int64) + 1
    high = np.floor(corners.max(axis=1) - 0.5).astype(np.int64)
    low = np.maximum(low, 0)
    high = np.minimum(high, [width - 1, height - 1])
    columns = np.maximum(high[:, 0] - low[:, 0] + 1, 0)
    rows = np.maximum(high[:, 1] - low[:, 1] + 1, 0)
    counts = columns * rows
    face = np.repeat(np.arange(faces.shape[0]), counts)
    offset = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    column = low[face, 0] + offset % columns[face]
    row = low[face, 1] + offset // columns[face]
    a, b, c = corners[face, 0], corners[face, 1], corners[face, 2]
    x = column + 0.5
    y = row + 0.5
    determinant = (b[:, 1] - c[:, 1]) * (a[:, 0] - c[:, 0]) + (c[:, 0] - b[:, 0]) * (a[:, 1] - c[:, 1])
    usable = np.abs(determinant) > 1e-12
    determinant = np.where(usable, determinant, 1.0)
    weight_a = ((b[:, 1] - c[:, 1]) * (x - c[:, 0]) + (c[:, 0] - b[:, 0]) * (y - c[:, 1])) / determinant
    weight_b = ((c[:, 1] - a[:, 1]) * (x - c[:, 0]) + (a[:, 0] - c[:, 0]) * (y - c[:, 1])) / determinant
    weight_c = 1.0 - weight_a - weight_b
    tolerance = -1e-9
    inside = usable & (weight_a >= tolerance) & (weight_b >= tolerance) & (weight_c >= tolerance)
    weights = np.column_stack([weight_a, weight_b, weight_c])[inside]
    face, pixel = face[inside], (row * width + column)[inside]
    pixel_depth = np.einsum("ij,ij->i", weights, depth[faces[face]])
    order = np.lexsort((-pixel_depth, pixel))
    first = np.ones(order.size, dtype=bool)
    first[1:] = pixel[order][1:] != pixel[order][:-1]
    front = order[first]
    return pixel[front], face[front], weights[front]


def render_view(
    coordinates: np.ndarray,
    faces: np.ndarray,
    vertex_rgb: np.ndarray,
    hemisphere: str,
    side: str,
    height: int,
    width: int,
    span: tuple[float, float, float, float] | None = None,
    vertex_regions: np.ndarray | None = None,
    outline_rgb: np.ndarray | None = None,
    background: Sequence[float] = (1.0, 1.0, 1.0),
) -> tuple[np.ndarray, np.ndarray]:
    """One view of a mesh, shaded, as an RGB image.

    Parameters
    ----------
    coordinates : numpy.ndarray, shape (n_vertices, 3)
        Vertex positions (mm), RAS.
    faces : numpy.ndarray of int, shape (n_faces, 3)
    vertex_rgb : numpy.ndarray, shape (n_vertices, 3)
        Colour of each vertex in [0, 1], before shading.
    hemisphere, side : str
        The view (:data:`SURFACE_VIEWS`).
    height, width : int
        Size of the image in pixels.
    span : (left, right, bottom, top) or None
        The screen rectangle (mm) mapped onto the image
        (:func:`view_span`); the mesh's own by default. Keep the aspect
        ratio of ``width``/``height`` for undistorted pictures.
    vertex_regions : numpy.ndarray of int, shape (n_vertices,), or None
        Region of each vertex (0 for none): pixels on the border between two
        regions, or between a region and the rest, take ``outline_rgb``.
    outline_rgb : numpy.ndarray, shape (n_regions + 1, 3), or None
        Outline colour by region (row 0 unused); needed with ``vertex_regions``.
    background : (r, g, b)
        Colour where the mesh is not seen.

    Returns
    -------
    image : numpy.ndarray, shape (height, width, 3), uint8
    regions : numpy.ndarray of int, shape (height, width)
        Region shown at each pixel (from ``vertex_regions``; 0 for none), -1
        where the mesh is not seen.
    """
    coordinates = np.asarray(coordinates, dtype=float)
    faces = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    right, up, towards_viewer = _view_axes(hemisphere, side)
    left, right_edge, bottom, top = span if span is not None else view_span(coordinates, hemisphere, side)
    column_per_mm = width / (right_edge - left)
    row_per_mm = height / (top - bottom)
    screen = np.column_stack([(coordinates @ right - left) * column_per_mm,
                              (top - coordinates @ up) * row_per_mm])
    face_normals = _face_normals(coordinates, faces)
    # A closed surface seen from outside shows only the triangles that face the viewer.
    front_faces = np.flatnonzero(face_normals @ towards_viewer > 0)
    pixel, face, weights = _rasterize(screen, coordinates @ towards_viewer, faces[front_faces],
                                      height, width)
    corners = faces[front_faces[face]]
    nearest = corners[np.arange(corners.shape[0]), np.argmax(weights, axis=1)]
    vertex_normals = _vertex_normals(coordinates, faces, face_normals)
    normals = np.einsum("ij,ijk->ik", weights, vertex_normals[corners])
    length = np.linalg.norm(normals, axis=1)
    facing = np.abs(normals @ towards_viewer) / np.where(length > 0, length, 1.0)
    shade = _AMBIENT + _DIFFUSE * facing
    rgb = np.empty((height * width, 3))
    rgb[:] = background
    rgb[pixel] = np.asarray(vertex_rgb, dtype=float)[nearest] * shade[:, None]
    regions = np.full(height * width, -1, dtype=np.int64)
    if vertex_regions is not None:
        regions[pixel] = np.asarray(vertex_regions, dtype=np.int64)[nearest]
        shown = regions.reshape(height, width)
        border = (_label_boundaries(shown) & (shown > 0)).ravel()
        outline = np.asarray(outline_rgb, dtype=float)[regions[border]]
        rgb[border] = outline * shade[np.searchsorted(pixel, np.flatnonzero(border))][:, None]
    else:
        regions[pixel] = 0
    return _uint8(np.clip(rgb, 0, 1)).reshape(height, width, 3), regions.reshape(height, width)


def surface_region_indices(vertex_labels: np.ndarray, label_values: Sequence[int]) -> np.ndarray:
    """1-based position in ``label_values`` of each vertex's label, 0 for labels not listed (e.g. 0)."""
    vertex_labels = np.asarray(vertex_labels).astype(np.int64).ravel()
    label_values = np.asarray(label_values, dtype=np.int64)
    if label_values.size == 0:
        return np.zeros(vertex_labels.size, dtype=np.int64)
    order = np.argsort(label_values, kind="stable")
    sorted_values = label_values[order]
    position = np.clip(np.searchsorted(sorted_values, vertex_labels), 0, sorted_values.size - 1)
    return np.where(sorted_values[position] == vertex_labels, order[position] + 1, 0)


def _cortex_grey(n_vertices: int, sulcal_depth: np.ndarray | None) -> np.ndarray:
    """(n_vertices,) grey level of the bare cortex: light on gyri, dark in sulci when the depth is known."""
    if sulcal_depth is None:
        return np.full(n_vertices, SURFACE_GREY)
    depth = np.asarray(sulcal_depth, dtype=float).ravel()
    finite = np.isfinite(depth)
    if not finite.any():
        return np.full(n_vertices, SURFACE_GREY)
    low, high = np.percentile(depth[finite], [2, 98])
    scaled = np.clip((np.where(finite, depth, low) - low) / max(high - low, 1e-12), 0, 1)
    dark, light = SURFACE_GREY_RANGE
    return light - (light - dark) * scaled


class SurfacePaint(NamedTuple):
    """What a surface figure shows at each vertex, per hemisphere (``"left"``, ``"right"``).

    Attributes
    ----------
    colors : dict of numpy.ndarray, (n_vertices, 3)
        Colour of each vertex in [0, 1], before shading.
    regions : dict of numpy.ndarray of int, (n_vertices,)
        1-based region (atlas order) of each vertex, 0 for none.
    outline : numpy.ndarray, shape (n_regions + 1, 3)
        Outline colour of each region (row 0 unused).
    """

    colors: dict[str, np.ndarray]
    regions: dict[str, np.ndarray]
    outline: np.ndarray


def _paint(n_vertices: Mapping[str, int], vertex_labels: Mapping[str, Any],
           label_values: np.ndarray, fill: np.ndarray, alpha: np.ndarray, outline: np.ndarray,
           sulcal_depth: Mapping[str, Any] | None) -> SurfacePaint:
    """Each region's fill at its opacity over the grey cortex, hemisphere by hemisphere."""
    colors, regions = {}, {}
    for hemisphere in ("left", "right"):
        labels = vertex_labels.get(hemisphere)
        region = (np.zeros(n_vertices[hemisphere], np.int64) if labels is None
                  else surface_region_indices(labels, label_values))
        grey = _cortex_grey(n_vertices[hemisphere],
                            None if sulcal_depth is None else sulcal_depth.get(hemisphere))
        rgb = np.repeat(grey[:, None], 3, axis=1)
        inside = region > 0
        opacity = alpha[region[inside] - 1][:, None]
        rgb[inside] = rgb[inside] * (1 - opacity) + fill[region[inside] - 1] * opacity
        colors[hemisphere], regions[hemisphere] = rgb, region
    return SurfacePaint(colors, regions, outline)


def _vertex_counts(meshes: Mapping[str, Any], **per_vertex: Mapping[str, Any] | None) -> dict[str, int]:
    """Vertices of each hemisphere's mesh; raises if one is missing or ``per_vertex`` disagrees."""
    counts = {}
    for hemisphere in ("left", "right"):
        if hemisphere not in meshes:
            raise ValueError(f"surface figure: no {hemisphere} hemisphere mesh")
        counts[hemisphere] = n_vertices = len(meshes[hemisphere][0])
        for name, values in per_vertex.items():
            given = None if values is None else values.get(hemisphere)
            if given is not None and np.size(given) != n_vertices:
                raise ValueError(
                    f"surface figure: {name.replace('_', ' ')} of the {hemisphere} hemisphere has "
                    f"{np.size(given)} values for {n_vertices} vertices")
    return counts


def _flags(na_flags: Sequence[bool] | None, n_regions: int) -> np.ndarray:
    return np.zeros(n_regions, bool) if na_flags is None else np.asarray(na_flags, dtype=bool)


def paint_labels(
    meshes: Mapping[str, Any],
    vertex_labels: Mapping[str, Any],
    label_values: Sequence[int],
    na_flags: Sequence[bool] | None = None,
    sulcal_depth: Mapping[str, Any] | None = None,
) -> SurfacePaint:
    """A labels atlas as colours: its regions in :func:`label_colors`, n/a regions faint red.

    Arguments as for :func:`regionseries.report.figures.plot_surface_labels`.
    """
    counts = _vertex_counts(meshes, labels=vertex_labels, sulcal_depth=sulcal_depth)
    label_values = np.asarray(label_values, dtype=np.int64)
    na_flags = _flags(na_flags, label_values.size)
    fill = label_colors(label_values.size)
    alpha = np.full(label_values.size, SURFACE_FILL_ALPHA)
    fill[na_flags] = COLOR_NA
    alpha[na_flags] = _NA_FILL_ALPHA
    outline = np.vstack([np.zeros(3), fill * _OUTLINE_DARKENING])
    outline[1:][na_flags] = COLOR_NA
    return _paint(counts, vertex_labels, label_values, fill, alpha, outline, sulcal_depth)


def paint_coverage(
    meshes: Mapping[str, Any],
    vertex_labels: Mapping[str, Any],
    label_values: Sequence[int],
    coverage: Sequence[float],
    colormap: Mapping[str, np.ndarray],
    na_flags: Sequence[bool] | None = None,
    vertex_covered: Mapping[str, Any] | None = None,
    sulcal_depth: Mapping[str, Any] | None = None,
) -> SurfacePaint:
    """Each region in the colour of its coverage; n/a regions outlined in red; uncovered vertices dark.

    ``colormap`` holds the colour map's ``colors`` (N, 3) uint8 and ``bad``
    colour (:func:`~regionseries.report.figures.canvas.colormap_table`);
    the other arguments as for
    :func:`regionseries.report.figures.plot_surface_coverage`.
    """
    counts = _vertex_counts(meshes, labels=vertex_labels, covered_vertices=vertex_covered,
                            sulcal_depth=sulcal_depth)
    label_values = np.asarray(label_values, dtype=np.int64)
    fill = colormapped(coverage, colormap["colors"], colormap["bad"], 0.0, 1.0) / 255
    outline = np.vstack([np.zeros(3), fill * _OUTLINE_DARKENING])
    outline[1:][_flags(na_flags, label_values.size)] = COLOR_NA
    paint = _paint(counts, vertex_labels, label_values, fill, np.ones(label_values.size), outline,
                   sulcal_depth)
    for hemisphere in ("left", "right"):
        covered = None if vertex_covered is None else vertex_covered.get(hemisphere)
        if covered is not None:
            uncovered = ~np.asarray(covered, dtype=bool).ravel()
            paint.colors[hemisphere][uncovered & (paint.regions[hemisphere] > 0)] = UNCOVERED_GREY
    return paint


def surface_panels(meshes: Mapping[str, Any], paint: SurfacePaint,
                   box_shapes: Sequence[tuple[int, int]],
                   spans: Sequence[tuple[float, float, float, float]]) -> list[np.ndarray]:
    """The four views (:data:`SURFACE_VIEWS`) rendered at the pixel sizes of their boxes."""
    images = []
    for (hemisphere, side), (height, width), span in zip(SURFACE_VIEWS, box_shapes, spans):
        coordinates, faces = meshes[hemisphere]
        image, _ = render_view(coordinates, faces, paint.colors[hemisphere], hemisphere, side,
                               height, width, span, paint.regions[hemisphere], paint.outline)
        images.append(image)
    return images


def view_spans(meshes: Mapping[str, Any]) -> list[tuple[float, float, float, float]]:
    """:func:`view_span` of each view of :data:`SURFACE_VIEWS`."""
    return [view_span(meshes[hemisphere][0], hemisphere, side)
            for hemisphere, side in SURFACE_VIEWS]


def _paste(frame: Any, meshes: Mapping[str, Any], paint: SurfacePaint,
           spans: Sequence[tuple[float, float, float, float]]) -> RasterFigure:
    shapes = [frame.box_shape(index) for index in range(len(SURFACE_VIEWS))]
    return frame.paste(surface_panels(meshes, paint, shapes, spans))


def _spans_key(spans: Sequence[tuple[float, float, float, float]]) -> tuple:
    """What the frame of a surface figure depends on: the screen spans of the views (0.1 mm)."""
    return tuple(np.round(span, 1).tobytes() for span in spans)


def surface_labels_raster(atlas: AtlasResult,
                          frame_dir: str | os.PathLike | None = None) -> RasterFigure:
    """:func:`~regionseries.report.figures.plot_surface_atlas` as pixels, from a frame.

    Parameters
    ----------
    atlas : AtlasResult
        An atlas with a :class:`~regionseries.report.model.SurfaceAtlas`.
    frame_dir : path-like or None
        Folder of frames shared by jobs (:func:`~.frames.cached_frame`).

    Returns
    -------
    RasterFigure
    """
    surface = atlas.surface
    paint = paint_labels(surface.meshes, surface.vertex_labels, surface.label_values(atlas),
                         atlas.na_mask, surface.sulcal_depth)
    spans = view_spans(surface.meshes)
    frame = cached_frame(("surface", _spans_key(spans)),
                         lambda: _figures().surface_frame(spans), frame_dir)
    return _paste(frame, surface.meshes, paint, spans)


def surface_coverage_raster(atlas: AtlasResult, min_coverage: float | None = None,
                            vertex_covered: Mapping[str, Any] | None = None,
                            frame_dir: str | os.PathLike | None = None) -> RasterFigure:
    """The coverage view of :func:`~regionseries.report.figures.plot_surface_atlas` as pixels.

    Parameters
    ----------
    atlas : AtlasResult
        An atlas with a surface and a coverage.
    min_coverage : float or None
        The run's ``--min-coverage`` (fraction), marked on the colour bar.
    vertex_covered : mapping or None
        Per hemisphere, False for vertices without a usable signal; the
        surface's own (:attr:`SurfaceAtlas.vertex_covered`) when None.
    frame_dir : path-like or None

    Returns
    -------
    RasterFigure
    """
    surface = atlas.surface
    spans = view_spans(surface.meshes)
    key = ("surface-coverage", _spans_key(spans),
           None if min_coverage is None else float(min_coverage))
    frame = cached_frame(key, lambda: _figures().surface_coverage_frame(spans, min_coverage),
                         frame_dir)
    paint = paint_coverage(surface.meshes, surface.vertex_labels, surface.label_values(atlas),
                           atlas.coverage, frame.tables, atlas.na_mask,
                           surface.vertex_covered if vertex_covered is None else vertex_covered,
                           surface.sulcal_depth)
    return _paste(frame, surface.meshes, paint, spans)
