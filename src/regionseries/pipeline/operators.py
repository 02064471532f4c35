"""Extraction operators of the atlases on a BOLD grid, cached.

:func:`build_operator` resamples an atlas to a run's grid once: the operator
is kept in a module-global cache per process (``_OPERATOR_CACHE``, at most
``_OPERATOR_CACHE_LIMIT`` grids and atlases, oldest dropped first) and, with
a ``cache_dir``, on disk for other worker processes, the report and later
jobs. :func:`atlas_image_on_grid` draws the report's atlas overlay from the same
operator.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from .. import cache
from ..atlases.base import Atlas
from ..core.atlas_images import (
    LABELS_INTERPOLATION,
    MAPS_INTERPOLATION,
    labels_operator,
    maps_operator,
)
from ..core.extract import SpheresOperator

LOGGER = logging.getLogger("regionseries")


_OPERATOR_CACHE: dict[tuple, Any] = {}
_OPERATOR_CACHE_LIMIT = 16


def _grid_key(shape: Sequence[int], affine: np.ndarray) -> tuple:
    return tuple(int(n) for n in shape[:3]), np.round(np.asarray(affine, dtype=float), 6).tobytes()


def _operator_cache_path(cache_dir: Path, atlas: Atlas, grid: tuple, smoothing_fwhm) -> Path:
    """File of an operator in the work folder: a digest of everything it depends on."""
    identity: list[Any] = [atlas.name, atlas.radius, grid, smoothing_fwhm, list(atlas.names)]
    if atlas.image is not None:
        interpolation = LABELS_INTERPOLATION if atlas.kind == "labels" else MAPS_INTERPOLATION
        identity += [cache.file_identity(atlas.image), interpolation]
    if atlas.kind == "labels":
        identity.append(atlas.table["index"].tolist())
    if atlas.coordinates is not None:
        identity.append(np.asarray(atlas.coordinates, dtype=float).tobytes().hex())
    return cache.cache_path(cache_dir, atlas.kind, *identity, suffix=".pickle")


def build_operator(atlas: Atlas, shape: Sequence[int], affine: np.ndarray, smoothing_fwhm: float | None,
                   cache_dir: Path | None = None):
    """The extraction operator of ``atlas`` on a BOLD grid (atlas resampled to it).

    Images go through :mod:`regionseries.core.atlas_images`, the path the
    maskers take too: labels resampled with nearest neighbour, maps with
    linear interpolation a few maps at a time, any dtype; spheres are placed
    by their coordinates. Operators are cached per grid in the process and,
    with ``cache_dir`` (the work folder), on disk, so other worker processes,
    the report and later jobs load them instead of rebuilding them.
    """
    shape = tuple(int(n) for n in shape[:3])
    key = (atlas.name, atlas.kind, str(atlas.image), atlas.radius, _grid_key(shape, affine), smoothing_fwhm)
    if key in _OPERATOR_CACHE:
        return _OPERATOR_CACHE[key]
    cache_path = None
    operator = None
    if cache_dir is not None:
        cache_path = _operator_cache_path(Path(cache_dir), atlas, _grid_key(shape, affine), smoothing_fwhm)
        operator = cache.load_object(cache_path)
        if operator is not None:
            LOGGER.debug("atlas %s: operator on a %s grid loaded from %s", atlas.name, "x".join(map(str, shape)),
                         cache_path)
    if operator is None:
        operator = _new_operator(atlas, shape, affine, smoothing_fwhm)
        if cache_path is not None:
            cache.save_object(cache_path, operator)
    if len(_OPERATOR_CACHE) >= _OPERATOR_CACHE_LIMIT:
        _OPERATOR_CACHE.pop(next(iter(_OPERATOR_CACHE)))
    _OPERATOR_CACHE[key] = operator
    return operator


def _new_operator(atlas: Atlas, shape: tuple[int, int, int], affine: np.ndarray, smoothing_fwhm: float | None):
    source_name = f"atlas {atlas.name}"
    if atlas.kind == "spheres":
        return SpheresOperator(
            atlas.coordinates, atlas.radius, shape, affine, allow_overlap=True, names=atlas.names,
            smoothing_fwhm=smoothing_fwhm, empty="nan", source_name=source_name,
        )
    if atlas.kind == "labels":
        return labels_operator(str(atlas.image), shape, affine, label_values=atlas.table["index"].tolist(),
                               names=atlas.names, reduction="mean", smoothing_fwhm=smoothing_fwhm,
                               source_name=source_name)
    return maps_operator(str(atlas.image), shape, affine, names=atlas.names, smoothing_fwhm=smoothing_fwhm,
                         source_name=source_name)


def atlas_image_on_grid(atlas: Atlas, shape, affine, smoothing_fwhm: float | None = None,
                        cache_dir: Path | None = None):
    """The atlas on a BOLD grid for the report, as a 3D nibabel image (None for spheres).

    The atlas is resampled to a BOLD grid in one place, :func:`build_operator`;
    the report's overlay is read from that operator (in memory, or in the
    work folder after the run), so it shows exactly the regions that were
    extracted: labels as their values, maps as the strongest map at each
    voxel (:func:`~regionseries.report.raster.strongest_map_index_of_weights`).
    """
    # Imported here, not at the top: regionseries.report loads jinja2 and the report model,
    # start-up that a job with --no-reports does not need.
    from ..report.raster import strongest_map_index_of_weights

    if atlas.kind == "spheres" or atlas.image is None:
        return None
    affine = np.asarray(affine, dtype=float)
    operator = build_operator(atlas, shape, affine, smoothing_fwhm, cache_dir=cache_dir)
    if atlas.kind == "labels":
        data = operator.labels_volume().astype(np.int32)
    else:
        data = strongest_map_index_of_weights(operator.maps_matrix, operator.shape)
    return nib.Nifti1Image(data, affine)
