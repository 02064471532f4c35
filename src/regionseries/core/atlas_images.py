"""Atlas images onto a data grid: the one path from an atlas file to an extraction operator.

The maskers (:mod:`regionseries.maskers`), the command line's pipeline and
the participant report all load, cast and resample atlases here, so that a
file the Python API accepts the command line accepts too, with the same
numbers. The rules are nilearn 0.14.1's:

* a **labels** image is 3D (a 4D image with one volume is squeezed); its
  non-finite voxels become background, with a warning; it is resampled to a
  data grid with **nearest-neighbour** interpolation;
* a **maps** image is 4D (a 3D image is one map); its non-finite voxels
  become 0, with a warning; integer data (``uint8`` percentages, scaled
  ``int16`` ...) are cast to floating point (:func:`maps_dtype`) *before*
  resampling, which is **linear**, map by map.

Any dtype nibabel reads works, with or without ``scl_slope``/``scl_inter``
(nibabel applies the scaling; the scaled values are what is resampled).

Two routes give the same operator: in memory (:func:`load_maps_img`, then
:func:`maps_on_grid`, as the maskers keep the resampled image as a fitted
attribute) and streamed (:func:`maps_operator`, which reads a file a few maps
at a time so that DiFuMo 1024 never has to fit in memory, as the pipeline
needs). ``tests/core/test_atlas_images.py`` pins their equality for every
dtype.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Sequence

import nibabel as nib
import numpy as np
import scipy  # submodules load on first use: a job with nothing left to do never imports them

from .extract import LabelsOperator, MapsOperator
from .image import (
    _check_fov_overlap,
    _is_binary,
    _resample_box,
    _resampling_transform,
    _target_box,
    _warn_binary_interpolation,
    check_same_fov,
    describe_img,
    get_data,
    load_img,
    new_img_like,
    nonzero_bounds,
    resample_img,
)
from .reader import BoldReader

__all__ = [
    "finite_values",
    "iter_maps_on_grid",
    "labels_on_grid",
    "labels_operator",
    "load_labels_img",
    "load_maps_img",
    "maps_dtype",
    "maps_on_grid",
    "maps_operator",
]

#: Interpolation of each atlas kind when it is resampled to a data grid (nilearn's maskers).
LABELS_INTERPOLATION = "nearest"
MAPS_INTERPOLATION = "linear"


def maps_dtype(dtype) -> np.dtype:
    """The floating-point dtype maps of ``dtype`` are resampled and fitted in.

    Floating-point data keep their dtype; integer data (``uint8``
    percentages as FSL ships Harvard-Oxford, ``int16`` ...) become float32,
    64-bit integers float64.
    """
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return dtype
    return np.dtype(np.float64 if dtype.itemsize == 8 else np.float32)


def _warn_non_finite(what: str) -> None:
    warnings.warn(
        f"Non-finite values detected in {what}. These values will be replaced with zeros.",
        UserWarning,
        stacklevel=4,  # the caller of load_labels_img / load_maps_img
    )


def finite_values(data: np.ndarray, what: str, replacement=0) -> np.ndarray:
    """``data`` with non-finite values replaced (and the atlas warning naming ``what``), else
    ``data`` itself; the rule of every atlas image, also used for surface maps."""
    if data.dtype.kind == "f" and not np.all(np.isfinite(data)):
        _warn_non_finite(what)
        return np.where(np.isfinite(data), data, replacement).astype(data.dtype)
    return data


# --------------------------------------------------------------------------------------
# Labels
# --------------------------------------------------------------------------------------

def load_labels_img(labels_img, what: str = "the labels image"):
    """Load a labels image as 3D, non-finite voxels set to 0 (with a warning).

    Parameters
    ----------
    labels_img : str, os.PathLike or nibabel image
        3D labels, or 4D with a single volume.
    what : str
        How messages name the image.

    Returns
    -------
    nibabel image
        3D, in the file's dtype (scaled files: the scaled values).

    Raises
    ------
    ValueError
        The image is not 3D (a 4D atlas of probabilistic maps needs the maps route).
    """
    img = load_img(labels_img)
    if len(img.shape) == 4 and img.shape[3] == 1:
        img = load_img(img, ensure_ndim=3)
    if len(img.shape) != 3:
        raise ValueError(
            f"labels_img must be a 3D label image; {describe_img(labels_img)} has shape "
            f"{tuple(img.shape)}. A 4D atlas of probabilistic maps needs NiftiMapsMasker."
        )
    data = get_data(img)
    finite = finite_values(data, what)
    if finite is not data:
        img = new_img_like(img, finite, img.affine, copy_header=True)
    return img


def labels_on_grid(labels_img, shape: Sequence[int], affine):
    """The labels image on a data grid (nearest neighbour); unchanged if already on it.

    Parameters
    ----------
    labels_img : nibabel image
        As returned by :func:`load_labels_img`.
    shape : sequence of 3 int
        Grid shape (voxels).
    affine : array-like, shape (4, 4)
        Grid voxel-to-world affine (mm).

    Returns
    -------
    nibabel image
    """
    if check_same_fov(labels_img, (shape, affine)):
        return labels_img
    return resample_img(labels_img, np.asarray(affine, dtype=float), tuple(int(n) for n in shape[:3]),
                        interpolation=LABELS_INTERPOLATION)


def labels_operator(labels_img, shape: Sequence[int], affine, *, label_values=None, names=None,
                    background_label=0, reduction: str = "mean", smoothing_fwhm=None,
                    source_name: str | None = None) -> LabelsOperator:
    """The extraction operator of a labels atlas on a data grid.

    Parameters
    ----------
    labels_img : str, os.PathLike or nibabel image
    shape, affine :
        The data grid (voxels; mm).
    label_values, names, background_label, reduction, smoothing_fwhm :
        As for :class:`~regionseries.core.extract.LabelsOperator`.
    source_name : str or None
        Name for messages (default: the file name).

    Returns
    -------
    LabelsOperator
    """
    if source_name is None:
        source_name = describe_img(labels_img)
    img = labels_on_grid(load_labels_img(labels_img, source_name), shape, affine)
    return LabelsOperator(get_data(img), affine, background_label=background_label, label_values=label_values,
                          names=names, reduction=reduction, smoothing_fwhm=smoothing_fwhm, source_name=source_name)


# --------------------------------------------------------------------------------------
# Maps
# --------------------------------------------------------------------------------------

def load_maps_img(maps_img, what: str = "the maps image"):
    """Load a maps image as 4D floating point, non-finite voxels set to 0 (with a warning).

    Parameters
    ----------
    maps_img : str, os.PathLike or nibabel image
        4D (one map per volume) or 3D (one map).
    what : str
        How messages name the image.

    Returns
    -------
    nibabel.Nifti1Image
        4D, dtype :func:`maps_dtype` of the file's (scaled) data.
    """
    img = load_img(maps_img, ensure_ndim=None)
    if len(img.shape) == 3:
        img = load_img(img, ensure_ndim=4)
    data = finite_values(np.asarray(get_data(img)), what)
    data = data.astype(maps_dtype(data.dtype), copy=False)
    return new_img_like(img, data, img.affine)


def maps_on_grid(maps_img, shape: Sequence[int], affine):
    """The maps image on a data grid (linear, each map on its own); unchanged if already on it."""
    if check_same_fov(maps_img, (shape, affine)):
        return maps_img
    return resample_img(maps_img, np.asarray(affine, dtype=float), tuple(int(n) for n in shape[:3]),
                        interpolation=MAPS_INTERPOLATION)


def _maps_reader(maps_img, chunk_maps: int) -> BoldReader:
    if isinstance(maps_img, (str, os.PathLike)) and not os.path.exists(maps_img):
        raise FileNotFoundError(f"maps image not found: {os.fspath(maps_img)}")
    return BoldReader(maps_img, chunk_volumes=chunk_maps)


def iter_maps_on_grid(maps_img, shape: Sequence[int] | None = None, affine=None, *, chunk_maps: int = 2,
                      what: str | None = None) -> Iterator[np.ndarray]:
    """Maps on a data grid, a few at a time, in one sequential read of the file.

    Each chunk equals the same maps of ``maps_on_grid(load_maps_img(maps_img), shape, affine)``,
    but memory holds ``chunk_maps`` maps at once instead of all of them (64
    maps of the MNI 2 mm grid are 277 MB in float32; DiFuMo's 1024 are 4.4 GB).

    Parameters
    ----------
    maps_img : str, os.PathLike or nibabel image
    shape, affine : optional
        The data grid (voxels; mm); None: the image's own.
    chunk_maps : int, default=2
        Maps read (and resampled) at a time.
    what : str or None
        How the non-finite warning names the image (default: the file name).

    Yields
    ------
    numpy.ndarray, shape (X, Y, Z, c)
        ``c <= chunk_maps`` maps, dtype :func:`maps_dtype` of the file's.
    """
    reader = _maps_reader(maps_img, chunk_maps)
    what = what or reader.description
    dtype = maps_dtype(reader.dtype)
    if shape is None or affine is None:
        shape, affine = reader.spatial_shape, reader.affine
    shape = tuple(int(n) for n in shape[:3])
    affine = np.asarray(affine, dtype=float)
    on_grid = check_same_fov((reader.spatial_shape, reader.affine), (shape, affine))
    warned = False
    for chunk in reader:
        data = np.asarray(chunk.data).astype(dtype, copy=False)
        if data.dtype.kind == "f" and not np.all(np.isfinite(data)):
            if not warned:
                _warn_non_finite(what)
                warned = True
            data = np.where(np.isfinite(data), data, 0).astype(dtype)
        if not on_grid:
            resampled = resample_img(nib.Nifti1Image(data, reader.affine), affine, shape,
                                     interpolation=MAPS_INTERPOLATION, clip=False)
            data = np.asarray(resampled.dataobj)
            if data.ndim == 3:
                data = data[..., np.newaxis]
        yield data


def _map_weights_on_grid(volume, bounds, dtype, matrix, offset, shape) -> tuple[np.ndarray, np.ndarray]:
    """Non-zero weights of one finite map resampled (linear) onto a grid: Fortran voxel indices, float64 values.

    Only the target voxels near the map's non-zero voxels (``bounds``, from
    :func:`regionseries.core.image.nonzero_bounds`) are interpolated; they
    get exactly the values of the full-grid resampling of the map cast to
    ``dtype``, as :func:`maps_on_grid` computes them, and every other voxel is
    0 there.
    """
    if bounds is None:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    box = _target_box(*bounds, matrix, offset, shape)
    if box is None:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    values = np.empty(tuple(part.stop - part.start for part in box), dtype=dtype, order="F")
    _resample_box(volume, matrix, offset, box, 1, values)
    flat = values.reshape(-1, order="F")
    local = np.flatnonzero(flat)
    box_x, box_y = values.shape[0], values.shape[1]
    x = local % box_x + box[0].start
    y = (local // box_x) % box_y + box[1].start
    z = local // (box_x * box_y) + box[2].start
    return x + shape[0] * (y + shape[1] * z), flat[local].astype(np.float64)


def _maps_weights_off_grid(reader: BoldReader, shape, affine, what: str) -> scipy.sparse.csr_matrix:
    """K x V weights of the maps of ``reader`` resampled (linear) onto another grid, map by map.

    The operator of ``maps_on_grid(load_maps_img(...), shape, affine)``, with
    its warnings (non-finite values, binary maps) and its field-of-view error,
    without any map on the whole target grid: each map is interpolated over the
    target voxels near its non-zero voxels only, in its stored dtype (integers
    are read as float64 by scipy either way), into :func:`maps_dtype`.
    """
    dtype = maps_dtype(reader.dtype)
    _check_fov_overlap(reader.spatial_shape, reader.affine, affine, what)
    matrix, offset = _resampling_transform(reader.affine, affine)
    indices, values = [], []
    warned_non_finite = binary_seen = False
    for chunk in reader:
        for volume in np.moveaxis(chunk.data, 3, 0):
            bounds, finite = nonzero_bounds(volume)
            if not finite:
                if not warned_non_finite:
                    _warn_non_finite(what)
                    warned_non_finite = True
                volume = np.where(np.isfinite(volume), volume, 0).astype(volume.dtype, order="F")
                bounds, _ = nonzero_bounds(volume)
            binary_seen = binary_seen or bounds is None or _is_binary(
                volume[tuple(slice(lo, hi + 1) for lo, hi in zip(*bounds))])
            voxels, weights = _map_weights_on_grid(volume, bounds, dtype, matrix, offset, shape)
            indices.append(voxels)
            values.append(weights)
    if binary_seen:
        _warn_binary_interpolation(stacklevel=3)  # the caller of maps_operator
    indptr = np.concatenate([[0], np.cumsum([len(part) for part in indices])])
    n_voxels = int(np.prod(shape))
    return scipy.sparse.csr_matrix((np.concatenate(values), np.concatenate(indices), indptr),
                             shape=(len(indices), n_voxels))


def maps_operator(maps_img, shape: Sequence[int] | None = None, affine=None, *, names=None,
                  allow_overlap: bool = True, smoothing_fwhm=None, source_name: str | None = None,
                  chunk_maps: int = 2) -> MapsOperator:
    """The extraction operator of a maps atlas on a data grid, read a few maps at a time.

    The same operator as ``MapsOperator(maps_on_grid(load_maps_img(maps_img), shape, affine))``
    (see :func:`iter_maps_on_grid`).

    Parameters
    ----------
    maps_img : str, os.PathLike or nibabel image
    shape, affine : optional
        The data grid (voxels; mm); None: the image's own.
    names, allow_overlap, smoothing_fwhm :
        As for :class:`~regionseries.core.extract.MapsOperator`.
    source_name : str or None
        Name for messages (default: the file name).
    chunk_maps : int, default=2

    Returns
    -------
    MapsOperator
    """
    if source_name is None:
        source_name = describe_img(maps_img)
    reader = _maps_reader(maps_img, chunk_maps)
    if shape is None or affine is None:
        shape, affine = reader.spatial_shape, reader.affine
    shape = tuple(int(n) for n in shape[:3])
    affine = np.asarray(affine, dtype=float)
    if check_same_fov((reader.spatial_shape, reader.affine), (shape, affine)):
        chunks = iter_maps_on_grid(maps_img, shape, affine, chunk_maps=chunk_maps, what=source_name)
        return MapsOperator.from_chunks(chunks, shape, affine, names=names, allow_overlap=allow_overlap,
                                        smoothing_fwhm=smoothing_fwhm, source_name=source_name)
    weights = _maps_weights_off_grid(reader, shape, affine, source_name)
    return MapsOperator.from_weights(weights, shape, affine, names=names, allow_overlap=allow_overlap,
                                     smoothing_fwhm=smoothing_fwhm, source_name=source_name)
