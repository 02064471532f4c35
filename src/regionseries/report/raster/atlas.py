"""Atlases over the run's reference image as pixels: label and map slices, spheres on projections.

:func:`atlas_raster` draws a report's
:class:`~regionseries.report.model.AtlasResult`: the slices of
:class:`~.overlays.OverlayVolumes` under their frame (:func:`cuts_raster`),
or spheres over the reference's projections (:func:`spheres_raster`). The
text (view names, slice coordinates, sphere numbers) is a transparent layer
of the frame drawn by :mod:`regionseries.report.figures.atlas`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from ..model import AtlasResult
from .colors import COLOR_NA, _uint8, hex_rgb, label_colors
from .frames import RasterFigure, _figures, cached_frame
from .overlays import (
    _VIEWS,
    OverlayVolumes,
    _canonical,
    _grey,
    _grey_range,
    _Grid,
    _reference_arrays,
    overlay_volumes,
)
from .surface import surface_labels_raster

__all__ = ["atlas_raster", "cuts_raster", "sphere_colors", "spheres_raster"]

#: Spheres: one colour when they are too many to number, alpha, white edge width (points),
#: and the background of the views without a reference image.
SPHERE_COLOR = (0.16, 0.47, 0.71)
SPHERE_ALPHA = 0.9
SPHERE_EDGE_PT = 0.6
SPHERES_BACKGROUND = "#303030"


def cuts_raster(volumes: OverlayVolumes, colors: np.ndarray, na_flags: np.ndarray,
                fill_alpha: float, frame_dir: str | os.PathLike | None = None) -> RasterFigure:
    """The slices of an overlay pasted under their frame (names and coordinates)."""
    key = ("cuts", volumes.grid.key, volumes.cuts, volumes.n_cuts)
    frame = cached_frame(key, lambda: _figures().cuts_frame(volumes.grid, volumes.cuts,
                                                            volumes.n_cuts), frame_dir)
    images = [_uint8_image(rgb[::-1]) for rgb in volumes.slices(colors, na_flags, fill_alpha)]
    return frame.paste(images)


def _uint8_image(rgb: np.ndarray) -> np.ndarray:
    """RGB in [0, 1] as uint8, as matplotlib converts an RGB float image (truncating)."""
    return (np.clip(rgb, 0, 1) * 255).astype(np.uint8)


def sphere_colors(n: int, na_flags: np.ndarray, max_numbered: int) -> np.ndarray:
    """(n, 3) RGB in [0, 1] of the spheres: one colour each when they are numbered, else
    one colour for all (hundreds of colours carry no information); n/a spheres red."""
    colors = label_colors(n) if n <= max_numbered else np.tile(np.array(SPHERE_COLOR), (n, 1))
    return np.where(np.asarray(na_flags, dtype=bool)[:, None], np.array(COLOR_NA), colors)


def _draw_spheres(pixels: np.ndarray, centres: np.ndarray, radius: float, colors: np.ndarray,
                  supersampling: int = 4) -> np.ndarray:
    """Spheres drawn as matplotlib's EllipseCollection draws them (filled, white edge, alpha),
    on a ``supersampling`` times larger image reduced again (anti-aliasing).

    Parameters
    ----------
    pixels : numpy.ndarray, (height, width, 3) uint8
    centres : numpy.ndarray, (views, n, 2)
        Centres in pixels (column, row), drawn view after view.
    radius : float
        Radius in pixels.
    colors : numpy.ndarray, (n, 3)
        Fill colours in [0, 1].
    """
    if centres.size == 0:
        return pixels
    scale = supersampling
    edge = SPHERE_EDGE_PT / 72 * 100 * scale  # the frames are drawn at 100 dpi
    outer = radius * scale + edge / 2
    # Only the rectangle holding the spheres is enlarged (whole pixels, within the image).
    low = np.maximum(np.floor(centres.reshape(-1, 2).min(axis=0) - outer / scale) - 1, 0).astype(int)
    high = np.minimum(np.ceil(centres.reshape(-1, 2).max(axis=0) + outer / scale) + 1,
                      [pixels.shape[1], pixels.shape[0]]).astype(int)
    (col0, row0), (col1, row1) = low, high
    part = pixels[row0:row1, col0:col1]
    image = Image.fromarray(part).resize((part.shape[1] * scale, part.shape[0] * scale),
                                         Image.NEAREST)
    draw = ImageDraw.Draw(image, "RGBA")  # blends each sphere over what is under it
    alpha = int(round(255 * SPHERE_ALPHA))
    fills = [tuple(int(v) for v in _uint8(color)) + (alpha,) for color in colors]
    for view in centres:
        for (column, row), fill in zip((view - low) * scale, fills):
            draw.ellipse([column - outer, row - outer, column + outer, row + outer], fill=fill,
                         outline=(255, 255, 255, alpha), width=max(1, int(round(edge))))
    pixels = pixels.copy()
    pixels[row0:row1, col0:col1] = np.asarray(image.reduce(scale))
    return pixels


def spheres_raster(coordinates_mm: np.ndarray, radius_mm: float | None,
                   na_flags: Sequence[bool] | None = None, reference: np.ndarray | None = None,
                   reference_affine: np.ndarray | None = None, max_numbered: int = 40,
                   frame_dir: str | os.PathLike | None = None,
                   grey_range: tuple[float, float] | None = None) -> RasterFigure:
    """:func:`~regionseries.report.figures.plot_spheres` as pixels: the reference's
    projections, the spheres drawn over them, and a frame of their names and numbers.

    Parameters
    ----------
    coordinates_mm, radius_mm, na_flags, reference, reference_affine, max_numbered
        As for :func:`~regionseries.report.figures.plot_spheres`.
    frame_dir : path-like or None
        Folder of frames shared by jobs (:func:`cached_frame`).
    grey_range : (float, float) or None
        The reference's :func:`_grey_range`, if known.

    Returns
    -------
    RasterFigure
    """
    coordinates = np.asarray(coordinates_mm, dtype=float).reshape(-1, 3)
    na_flags = (np.zeros(len(coordinates), bool) if na_flags is None
                else np.asarray(na_flags, dtype=bool))
    grid = None
    if reference is not None:
        reference, reference_affine = _canonical(np.asarray(reference, float),
                                                 np.asarray(reference_affine, float))
        grid = _Grid(reference_affine, reference.shape)
    key = ("spheres", coordinates.tobytes(), None if radius_mm is None else float(radius_mm),
           max_numbered, None if grid is None else grid.key)
    frame = cached_frame(key, lambda: _figures().spheres_frame(
        coordinates, radius_mm, grid, max_numbered), frame_dir)
    if reference is None:
        background = np.array(_uint8(hex_rgb(SPHERES_BACKGROUND)))
        images = [np.broadcast_to(background, frame.box_shape(k) + (3,)) for k in range(len(_VIEWS))]
    else:
        grey_range = grey_range or _grey_range(reference)
        finite = np.where(np.isfinite(reference), reference, 0.0)
        table = frame.tables["grey"]
        images = []
        for _, axis, _, _ in _VIEWS:
            # Grey levels grow with the values: the projection of the grey levels is the grey
            # levels of the projection, computed on a plane instead of the volume.
            grey = _grey(finite.max(axis=axis).T[::-1], grey_range, 0.7)
            images.append(table[np.clip((grey * len(table)).astype(int), 0, len(table) - 1)])
    pixels = _draw_spheres(frame.underlay(images), frame.tables["centres"],
                           float(frame.tables["radius"][0]),
                           sphere_colors(len(coordinates), na_flags, max_numbered))
    return frame.over(pixels)


def atlas_raster(atlas: AtlasResult, reference_image: Any = None, n_cuts: int = 7,
                 frame_dir: str | os.PathLike | None = None) -> RasterFigure | None:
    """:func:`~regionseries.report.figures.plot_atlas` as pixels, from a frame.

    Parameters
    ----------
    atlas : AtlasResult
    reference_image : nibabel image or None
        3D reference (mean BOLD or brain mask) on the BOLD grid.
    n_cuts : int
        Slices per view of a labels or maps atlas.
    frame_dir : path-like or None
        Folder of frames shared by jobs (:func:`cached_frame`).

    Returns
    -------
    RasterFigure or None
        None for a labels/maps atlas without an image; an atlas with a
        surface (:class:`~regionseries.report.model.SurfaceAtlas`) is drawn on
        it (:func:`~.surface.surface_labels_raster`), without the reference.
    """
    if atlas.surface is not None:
        return surface_labels_raster(atlas, frame_dir=frame_dir)
    reference, reference_affine, grey_range = _reference_arrays(reference_image)
    if atlas.kind == "spheres":
        return spheres_raster(atlas.sphere_coordinates_mm, atlas.sphere_radius_mm, atlas.na_mask,
                              reference, reference_affine, frame_dir=frame_dir,
                              grey_range=grey_range)
    if atlas.image is None:
        return None
    data = np.asarray(atlas.image.dataobj)
    n_regions = atlas.n_regions
    if atlas.kind == "labels":
        volumes = overlay_volumes(data, atlas.image.affine, reference, reference_affine, n_cuts,
                                  label_values=atlas.label_values, grey_range=grey_range)
    elif data.ndim == 3:  # a maps atlas given as its strongest map at each voxel
        volumes = overlay_volumes(data, atlas.image.affine, reference, reference_affine, n_cuts,
                                  label_values=np.arange(1, n_regions + 1), grey_range=grey_range)
    else:
        volumes = overlay_volumes(data, atlas.image.affine, reference, reference_affine, n_cuts,
                                  grey_range=grey_range)
        n_regions = data.shape[3]
    na_flags = np.asarray(atlas.na_mask, dtype=bool)
    if na_flags.size != n_regions:
        na_flags = np.zeros(n_regions, dtype=bool)
    return cuts_raster(volumes, label_colors(n_regions), na_flags,
                       0.5 if atlas.kind == "labels" else 0.55, frame_dir)
