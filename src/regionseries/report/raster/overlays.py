"""An atlas and the run's reference image on one RAS grid, and the slices an overlay shows.

:func:`overlay_volumes` reorients both to RAS, puts the atlas on the
reference's grid (nearest neighbour, through
:func:`regionseries.core.image.resample_img`), maps label values or the
strongest map to region indices, and chooses the slices
(:func:`overlay_cuts`); :class:`OverlayVolumes` blends them with the
reference's grey levels. Both the frames (:mod:`.atlas`) and matplotlib
(:mod:`regionseries.report.figures.atlas`) draw from these.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .colors import COLOR_NA
from .maps import strongest_map_index

__all__ = ["OverlayVolumes", "overlay_cuts", "overlay_volumes"]


def _canonical(data: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reorient an array to the closest RAS+ orientation; return (data, affine)."""
    import nibabel as nib

    orientation = nib.orientations.io_orientation(affine)
    target = nib.orientations.axcodes2ornt("RAS")
    transform = nib.orientations.ornt_transform(orientation, target)
    reoriented = nib.orientations.apply_orientation(data, transform)
    new_affine = affine @ nib.orientations.inv_ornt_aff(transform, data.shape[:3])
    return np.asarray(reoriented), new_affine


def _resample_nearest(
    data: np.ndarray, affine: np.ndarray, shape: tuple[int, ...], target_affine: np.ndarray
) -> np.ndarray:
    """A 3D or 4D array on another grid, nearest neighbour; 0 outside the array.

    The resampling that puts a labels atlas on the BOLD grid for its
    extraction operator (:func:`regionseries.core.atlas_images.labels_on_grid`:
    :func:`regionseries.core.image.resample_img`, ``interpolation="nearest"``),
    so that an overlay shows the voxels the operator averages, ties (voxel
    centres half-way between two atlas voxels) included. Maps are resampled
    the same way, volume by volume.
    """
    # Imported here: nibabel and core.image add about 0.14 s to importing this package,
    # and a report of atlases on the reference's grid (the pipeline's) never resamples.
    import nibabel as nib

    from ...core.image import resample_img
    from ...core.image.fov import _transformed_bounds

    data = np.asarray(data)
    if data.dtype.kind == "f" and not np.isfinite(data).all():
        data = np.nan_to_num(data)  # what an overlay shows of them, without resample_img's warning
    if data.dtype.kind in "iu" and data.dtype.itemsize == 8 and data.size and (
            np.iinfo(np.int32).min <= data.min() and data.max() <= np.iinfo(np.int32).max):
        data = data.astype(np.int32)  # the image resample_img returns would be cast, with a warning
    # resample_img refuses a source whose voxel centres all lie before the target grid along
    # some axis (as nilearn does, core.image.fov); an overlay shows nothing of it
    _, upper = _transformed_bounds(data.shape[:3], np.linalg.inv(np.asarray(target_affine, float))
                                   @ np.asarray(affine, float))
    if np.any(upper < 0):
        return np.zeros(tuple(shape[:3]) + data.shape[3:], dtype=data.dtype)  # no atlas voxel shows
    image = nib.Nifti1Image(data, np.asarray(affine, dtype=float), dtype=data.dtype)
    resampled = resample_img(image, np.asarray(target_affine, dtype=float),
                             tuple(int(n) for n in shape[:3]), interpolation="nearest", copy=False)
    return np.asarray(resampled.dataobj)


class _Grid:
    """A RAS-reoriented voxel grid with world (mm) coordinates along each axis."""

    def __init__(self, affine: np.ndarray, shape: tuple[int, ...]):
        self.shape = tuple(int(n) for n in shape[:3])
        self.origin = np.asarray(affine, dtype=float)[:3, 3]
        self.step = np.abs(np.diag(np.asarray(affine, dtype=float)[:3, :3])).copy()
        self.step[self.step == 0] = 1.0

    def world(self, axis: int, index: float) -> float:
        """World coordinate (mm) of voxel ``index`` along ``axis``."""
        return float(self.origin[axis] + index * self.step[axis])

    def span(self, axis: int) -> tuple[float, float]:
        """World extent (mm) of the grid along ``axis``, voxel edges included."""
        return self.world(axis, -0.5), self.world(axis, self.shape[axis] - 0.5)

    @property
    def key(self) -> tuple:
        """What figures drawn on this grid depend on (shape, origin and steps, mm)."""
        return (self.shape, tuple(round(float(v), 6) for v in self.origin),
                tuple(round(float(v), 6) for v in self.step))


#: (name, slicing axis, displayed axes (horizontal, vertical), coordinate letter)
_VIEWS = (
    ("axial", 2, (0, 1), "z"),
    ("coronal", 1, (0, 2), "y"),
    ("sagittal", 0, (1, 2), "x"),
)


def _slice(volume: np.ndarray, axis: int, index: int) -> np.ndarray:
    """2-D slice of a 3D volume, transposed for imshow(origin='lower').

    A view (``np.take`` would first copy a whole Fortran-ordered volume, as
    nibabel's are, for every slice).
    """
    return volume[(slice(None),) * axis + (int(index),)].T


def _cut_indices(extent_mask: np.ndarray, axis: int, n_cuts: int) -> np.ndarray:
    """Evenly spaced slice indices inside the non-empty part of ``extent_mask``."""
    other = tuple(a for a in range(3) if a != axis)
    filled = np.flatnonzero(extent_mask.any(axis=other))
    if filled.size == 0:
        low, high = 0, extent_mask.shape[axis] - 1
    else:
        low, high = filled[0], filled[-1]
    return np.unique(np.round(np.linspace(low, high, n_cuts + 2)[1:-1]).astype(int))


def overlay_cuts(indices: np.ndarray, reference_extent: Callable[[], np.ndarray] | None,
                 n_cuts: int) -> tuple[tuple[int, ...], ...]:
    """Slice indices of each view (:data:`_VIEWS` order): evenly spaced through the atlas.

    The cuts span the atlas's regions (the reference image's extent only
    when the atlas has none on this grid), so that every slice shows
    regions, and so that the overlays of all participants in one space share
    their cuts (and their frame).

    Parameters
    ----------
    indices : numpy.ndarray, 3D
        Region of each voxel (0: none).
    reference_extent : callable or None
        Returns where the reference image is drawn (non-background, bool 3D).
    n_cuts : int

    Returns
    -------
    tuple of tuple of int
    """
    extent = indices > 0
    if not extent.any() and reference_extent is not None:
        extent = reference_extent()
    return tuple(tuple(int(i) for i in _cut_indices(extent, axis, n_cuts))
                 for _, axis, _, _ in _VIEWS)


def _grey_range(reference: np.ndarray) -> tuple[float, float]:
    """(low, high) mapped to black and white: 2nd and 98th percentiles of the non-zero voxels."""
    finite = np.where(np.isfinite(reference), reference, 0.0)
    values = finite[finite != 0]
    if values.size == 0:
        return 0.0, 1.0
    low, high = np.percentile(values, [2, 98])
    low = min(float(low), 0.0)
    if high <= low:
        high = low + 1.0
    return low, float(high)


def _grey(reference: np.ndarray, grey_range: tuple[float, float], brightness: float = 1.0) -> np.ndarray:
    """Grey levels in [0, 1] of (part of) the reference, for its ``grey_range``."""
    low, high = grey_range
    finite = np.where(np.isfinite(reference), reference, 0.0)
    return np.clip((finite - low) / (high - low), 0, 1) * brightness


def _grey_levels(reference: np.ndarray | None, shape: tuple[int, ...],
                 brightness: float = 1.0) -> np.ndarray:
    """Reference scaled to [0, 1] grey levels (2nd–98th percentile of non-zero voxels)."""
    if reference is None:
        return np.zeros(shape[:3])
    finite = np.where(np.isfinite(reference), reference, 0.0)
    if not (finite != 0).any():
        return np.zeros(shape[:3])
    return _grey(reference, _grey_range(reference), brightness)


def _silhouette(indices: np.ndarray) -> np.ndarray:
    """Light grey where the atlas has regions: the background when there is no reference."""
    return np.where(indices > 0, 0.8, 0.0)


def _label_boundaries(index_slice: np.ndarray) -> np.ndarray:
    """Pixels whose region differs from a 4-neighbour's (parcel outlines)."""
    boundary = np.zeros(index_slice.shape, dtype=bool)
    vertical = index_slice[1:, :] != index_slice[:-1, :]
    horizontal = index_slice[:, 1:] != index_slice[:, :-1]
    boundary[1:, :] |= vertical
    boundary[:-1, :] |= vertical
    boundary[:, 1:] |= horizontal
    boundary[:, :-1] |= horizontal
    return boundary & (index_slice != 0)


def _blend_slice(
    grey_slice: np.ndarray,
    index_slice: np.ndarray,
    colors: np.ndarray,
    na_flags: np.ndarray,
    fill_alpha: float,
) -> np.ndarray:
    """RGB slice: grey background, regions filled and outlined, n/a regions in red."""
    rgb = np.repeat(grey_slice[..., None], 3, axis=2)
    inside = index_slice > 0
    region = index_slice[inside] - 1
    color = colors[region].copy()
    alpha = np.full(region.size, fill_alpha)
    boundary = _label_boundaries(index_slice)[inside]
    color[boundary] *= 0.55
    alpha[boundary] = 0.95
    is_na = na_flags[region]
    color[is_na] = COLOR_NA
    alpha[is_na] = np.where(boundary[is_na], 1.0, 0.35)
    rgb[inside] = rgb[inside] * (1 - alpha[:, None]) + color * alpha[:, None]
    return rgb


def _prepare_volumes(
    atlas_data: np.ndarray,
    atlas_affine: np.ndarray,
    reference: np.ndarray | None,
    reference_affine: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray | None, _Grid]:
    """Put atlas and reference on one RAS grid (the reference's when given).

    An atlas on another grid is resampled (:func:`_resample_nearest`) as it
    is stored onto the reference's grid as it is stored, as the pipeline puts
    an atlas on the BOLD grid, and then reoriented with the reference.
    """
    atlas_affine = np.asarray(atlas_affine, float)
    canonical_atlas, canonical_atlas_affine = _canonical(atlas_data, atlas_affine)
    if reference is None:
        return canonical_atlas, None, _Grid(canonical_atlas_affine, canonical_atlas.shape)
    reference, reference_affine = np.asarray(reference, dtype=float), np.asarray(reference_affine, float)
    canonical_reference, canonical_reference_affine = _canonical(reference, reference_affine)
    if canonical_atlas.shape[:3] != canonical_reference.shape or not np.allclose(
        canonical_atlas_affine, canonical_reference_affine, atol=1e-3
    ):
        on_grid = _resample_nearest(atlas_data, atlas_affine, reference.shape, reference_affine)
        canonical_atlas, _ = _canonical(on_grid, reference_affine)
    return canonical_atlas, canonical_reference, _Grid(canonical_reference_affine,
                                                       canonical_reference.shape)


#: Label values spanning at most this many integers are looked up in a table.
_LOOKUP_TABLE_MAX = 1 << 22


def _region_indices(labels: np.ndarray, label_values: np.ndarray) -> np.ndarray:
    """Map label values to 1-based region positions (0 for background/unknown)."""
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu":
        labels = np.rint(np.nan_to_num(labels)).astype(np.int64)
    label_values = np.asarray(label_values, dtype=np.int64)
    if labels.size == 0 or label_values.size == 0:
        return np.zeros(labels.shape, dtype=np.int64)
    low, high = int(labels.min()), int(labels.max())
    if high - low < _LOOKUP_TABLE_MAX:
        table = np.zeros(high - low + 1, dtype=np.int32 if label_values.size < 2**31 else np.int64)
        present = (label_values >= low) & (label_values <= high)
        positions = np.flatnonzero(present)[::-1]  # the first of repeated values wins
        table[label_values[positions] - low] = positions + 1
        # Integer labels index the table as they are (no int64 copy of the volume) when
        # they start at 0, as label images do.
        return table[labels] if low == 0 else table[labels.astype(np.int64) - low]
    labels = labels.astype(np.int64, copy=False)
    order = np.argsort(label_values, kind="stable")
    sorted_values = label_values[order]
    position = np.clip(np.searchsorted(sorted_values, labels), 0, sorted_values.size - 1)
    known = sorted_values[position] == labels
    indices = np.zeros(labels.shape, dtype=np.int64)
    indices[known] = order[position[known]] + 1
    return indices


class OverlayVolumes:
    """An atlas's regions and the reference on one RAS grid, and the slices an overlay shows.

    Parameters
    ----------
    indices : numpy.ndarray, 3D int
        Region of each voxel (1-based position in the atlas table; 0: none).
    reference : numpy.ndarray or None
        The reference on the same grid (None: the atlas's silhouette is drawn).
    grid : _Grid
    n_cuts : int
        Slices per view.
    grey_range : (float, float) or None
        The reference's :func:`_grey_range`, if known.
    """

    def __init__(self, indices: np.ndarray, reference: np.ndarray | None, grid: _Grid, n_cuts: int,
                 grey_range: tuple[float, float] | None = None):
        self.indices = indices
        self.reference = reference
        self.grid = grid
        self.n_cuts = n_cuts
        if reference is not None and grey_range is None:
            grey_range = _grey_range(reference)
        self.grey_range = grey_range
        self.cuts = overlay_cuts(indices, None if reference is None else self._reference_extent,
                                 n_cuts)

    def _reference_extent(self) -> np.ndarray:
        return np.where(np.isfinite(self.reference), self.reference, 0.0) > self.grey_range[0]

    def grey_slice(self, axis: int, index: int) -> np.ndarray:
        """Grey levels in [0, 1] of one slice (as :func:`_slice` orients it)."""
        if self.reference is None:
            return _silhouette(_slice(self.indices, axis, index))
        return _grey(_slice(self.reference, axis, index), self.grey_range)

    def slices(self, colors: np.ndarray, na_flags: np.ndarray, fill_alpha: float):
        """The blended RGB slices in [0, 1], view by view, as :func:`_blend_slice` draws them."""
        for (_, axis, _, _), cuts in zip(_VIEWS, self.cuts):
            for index in cuts:
                yield _blend_slice(self.grey_slice(axis, index), _slice(self.indices, axis, index),
                                   colors, na_flags, fill_alpha)


def overlay_volumes(atlas_data: np.ndarray, affine: np.ndarray, reference: np.ndarray | None,
                    reference_affine: np.ndarray | None, n_cuts: int,
                    label_values: Sequence[int] | None = None, min_fraction: float = 0.1,
                    grey_range: tuple[float, float] | None = None) -> OverlayVolumes:
    """:class:`OverlayVolumes` of a labels image (``label_values``) or of 4D maps (None)."""
    if label_values is None:
        maps, reference, grid = _prepare_volumes(np.asarray(atlas_data, dtype=np.float32), affine,
                                                 reference, reference_affine)
        indices = strongest_map_index(maps, min_fraction)
    else:
        labels, reference, grid = _prepare_volumes(np.asarray(atlas_data), affine, reference,
                                                   reference_affine)
        indices = _region_indices(labels, np.asarray(label_values, dtype=np.int64))
    return OverlayVolumes(indices, reference, grid, n_cuts, grey_range)


#: The last reference image seen and its arrays: the overlays of a run's atlases share it.
_LAST_REFERENCE: list = []


def _reference_arrays(reference_image: Any) -> tuple[np.ndarray | None, np.ndarray | None,
                                                     tuple[float, float] | None]:
    """(data, affine, :func:`_grey_range`) of a nibabel reference image (Nones for None)."""
    if reference_image is None:
        return None, None, None
    if _LAST_REFERENCE and _LAST_REFERENCE[0] is reference_image:
        return _LAST_REFERENCE[1]
    data = np.asarray(reference_image.dataobj, dtype=float)
    arrays = (data, np.asarray(reference_image.affine, dtype=float), _grey_range(data))
    _LAST_REFERENCE[:] = [reference_image, arrays]
    return arrays
