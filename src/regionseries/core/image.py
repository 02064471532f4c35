"""Image building blocks: loading, field-of-view checks, resampling, smoothing, masks.

Every function here reproduces the numbers of the corresponding nilearn 0.14.1
building block (see section 0 of the nilearn behaviour reference) on
nibabel/numpy/scipy only. The functions work on arrays where they can and
never copy 4D data unless asked to.

Affines are 4×4 voxel-to-world matrices in millimetres; shapes are voxel counts.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np
import scipy  # submodules load on first use: a job with nothing left to do never imports them

__all__ = [
    "load_img",
    "get_data",
    "describe_img",
    "check_same_fov",
    "check_strict_affine",
    "resample_img",
    "resample_to_img",
    "smooth_array",
    "load_masker_mask",
    "load_mask_img",
    "new_img_like",
    "nonzero_bounds",
    "STRICT_AFFINE_TOLERANCE",
]

#: Largest element-wise affine difference (mm) accepted by the strict check
#: of nilearn's extraction functions: 1000 · eps(float32) ≈ 1.192e-4.
STRICT_AFFINE_TOLERANCE = 1000 * float(np.finfo(np.float32).eps)

_INTERPOLATION_ORDERS = {"continuous": 3, "linear": 1, "nearest": 0}
_FWHM_TO_SIGMA = np.sqrt(8 * np.log(2))


# ---------------------------------------------------------------------------
# Loading


def describe_img(img) -> str:
    """Name an image for error messages.

    Parameters
    ----------
    img : str, os.PathLike or nibabel image
        The image (or its path).

    Returns
    -------
    str
        The file name when there is one, otherwise a short description of the
        in-memory image (class and shape).
    """
    if isinstance(img, (str, os.PathLike)):
        return os.fspath(img)
    get_filename = getattr(img, "get_filename", None)
    filename = get_filename() if callable(get_filename) else None
    if filename:
        return str(filename)
    shape = getattr(img, "shape", None)
    if shape is not None:
        return f"in-memory {type(img).__name__} of shape {tuple(shape)}"
    return f"object of type {type(img).__name__}"


def _load_one(img) -> nib.spatialimages.SpatialImage:
    if isinstance(img, (str, os.PathLike)):
        path = Path(img)
        if not path.exists():
            raise FileNotFoundError(f"Image file not found: {path}")
        try:
            return nib.load(path)
        except Exception as exc:  # nibabel raises several types
            raise ValueError(f"Cannot read image file {path}: {exc}") from exc
    if isinstance(img, nib.spatialimages.SpatialImage):
        return img
    raise TypeError(
        "Expected a NIfTI image (nibabel SpatialImage) or a path to one, "
        f"got {describe_img(img)}."
    )


def _concatenate(imgs: Sequence) -> nib.Nifti1Image:
    """Concatenate 3D or 4D images along time (the first one sets the grid)."""
    if len(imgs) == 0:
        raise ValueError("Cannot load an empty list of images.")
    loaded = [_load_one(one) for one in imgs]
    first = loaded[0]
    for one in loaded[1:]:
        if one.shape[:3] != first.shape[:3] or not np.allclose(one.affine, first.affine):
            raise ValueError(
                f"Cannot concatenate {describe_img(one)} with {describe_img(first)}: "
                "they are not on the same grid (shape "
                f"{one.shape[:3]} vs {first.shape[:3]} or different affines)."
            )
        if len(one.shape) not in (3, 4):
            raise ValueError(
                f"Cannot concatenate {describe_img(one)}: it is a "
                f"{len(one.shape)}D image, expected 3D or 4D."
            )
    arrays = [get_data(one) for one in loaded]
    arrays = [arr[..., np.newaxis] if arr.ndim == 3 else arr for arr in arrays]
    data = np.concatenate(arrays, axis=3)
    return new_img_like(first, np.asfortranarray(data), first.affine, copy_header=True)


def load_img(img, *, ensure_ndim: int | None = None) -> nib.spatialimages.SpatialImage:
    """Load an image from a path, an image object or a list of them.

    No voxel data are read for a path unless the dimensionality has to change.

    Parameters
    ----------
    img : str, os.PathLike, nibabel image, or list/tuple of those
        The image. A list is concatenated along the 4th (time) axis.
    ensure_ndim : {None, 3, 4}, optional
        ``3``: a 4D image with a single volume is squeezed to 3D.
        ``4``: a 3D image is promoted to 4D with one volume.
        Any other mismatch raises ``ValueError``.

    Returns
    -------
    nibabel.spatialimages.SpatialImage
        The loaded image (the input object itself when nothing changes).

    Raises
    ------
    TypeError
        If ``img`` is not an image, a path or a list of them.
    FileNotFoundError
        If a path does not exist.
    ValueError
        If the dimensionality does not match ``ensure_ndim``.
    """
    if ensure_ndim not in (None, 3, 4):
        raise ValueError(f"ensure_ndim must be None, 3 or 4, got {ensure_ndim!r}.")
    if isinstance(img, (list, tuple)):
        loaded = _concatenate(img)
    else:
        loaded = _load_one(img)
    ndim = len(loaded.shape)
    if ensure_ndim == 3 and ndim == 4 and loaded.shape[3] == 1:
        volume = np.asanyarray(loaded.dataobj[..., 0])
        loaded = new_img_like(loaded, volume, loaded.affine, copy_header=True)
    elif ensure_ndim == 4 and ndim == 3:
        dataobj = loaded.dataobj
        reshaped = dataobj.reshape(loaded.shape + (1,))
        loaded = _img_from_dataobj(loaded, reshaped)
    ndim = len(loaded.shape)
    if ensure_ndim is not None and ndim != ensure_ndim:
        raise ValueError(
            f"Image {describe_img(img)} has incompatible dimensionality: "
            f"expected a {ensure_ndim}D image, got a {ndim}D image of shape "
            f"{tuple(loaded.shape)}."
        )
    return loaded


def _img_from_dataobj(ref, dataobj) -> nib.spatialimages.SpatialImage:
    """New image of the class of ``ref`` around ``dataobj`` (array or proxy), header kept."""
    header = ref.header.copy() if ref.header is not None else None
    return _image_class(ref)(dataobj, ref.affine, header=header)


def _image_class(ref) -> type:
    """Class for a new image like ``ref`` (a bare NIfTI pair becomes a Nifti1Image)."""
    if isinstance(ref, nib.Nifti1Pair) and not isinstance(ref, nib.Nifti1Image):
        return nib.Nifti1Image
    return type(ref)


def get_data(img) -> np.ndarray:
    """Voxel data as nilearn reads them (``np.asanyarray(img.dataobj)``).

    An unscaled integer file keeps its on-disk dtype (int16 stays int16); a
    scaled integer file (slope/intercept not (1, 0)) comes back as float64; an
    uncompressed ``.nii`` comes back as a read-only memory map. The data are not
    cached on the image, so hold on to the returned array to reuse it.

    Parameters
    ----------
    img : nibabel image or path

    Returns
    -------
    numpy.ndarray
    """
    img = _load_one(img)
    dataobj = img.dataobj
    if isinstance(dataobj, np.ndarray):
        return dataobj
    return np.asanyarray(dataobj)


# ---------------------------------------------------------------------------
# Field-of-view checks


def _shape_and_affine(img_or_pair) -> tuple[tuple[int, ...], np.ndarray]:
    if isinstance(img_or_pair, tuple) and len(img_or_pair) == 2 and not isinstance(
        img_or_pair[0], (str, os.PathLike, nib.spatialimages.SpatialImage)
    ):
        shape, affine = img_or_pair
        return tuple(int(n) for n in shape), np.asarray(affine)
    img = _load_one(img_or_pair)
    return tuple(img.shape), img.affine


def check_same_fov(a, b) -> bool:
    """Whether two images sample the same grid, with nilearn's tolerance.

    The first three dimensions of the shapes must be equal and the affines
    must satisfy ``np.allclose`` (rtol=1e-5, atol=1e-8, element-wise). This is
    the test that decides whether a masker resamples anything.

    Parameters
    ----------
    a, b : nibabel image, path, or (shape, affine) tuple

    Returns
    -------
    bool
    """
    shape_a, affine_a = _shape_and_affine(a)
    shape_b, affine_b = _shape_and_affine(b)
    if shape_a[:3] != shape_b[:3]:
        return False
    if affine_a.shape != affine_b.shape:
        return False
    return bool(np.allclose(affine_a, affine_b))


def check_strict_affine(
    affine_a,
    affine_b,
    shape_a,
    shape_b,
    *,
    name_a: str | None = None,
    name_b: str | None = None,
) -> None:
    """Strict grid check of nilearn's extraction functions.

    Parameters
    ----------
    affine_a, affine_b : array-like, shape (4, 4)
        Affines (mm).
    shape_a, shape_b : sequence of int
        Shapes; only the first three dimensions are compared.
    name_a, name_b : str, optional
        Names of the two images, appended to the error message.

    Raises
    ------
    ValueError
        ``"Images have incompatible shapes."`` when the spatial shapes differ;
        ``"Images have different affine matrices."`` when the affines differ in
        shape or by more than 1000·eps(float32) ≈ 1.19e-4 in any element.
    """
    detail = ""
    if name_a is not None or name_b is not None:
        detail = f" ({name_a} vs {name_b})"
    if tuple(shape_a)[:3] != tuple(shape_b)[:3]:
        raise ValueError(
            "Images have incompatible shapes." + (
                detail or f" ({tuple(shape_a)[:3]} vs {tuple(shape_b)[:3]})"
            )
        )
    affine_a = np.asarray(affine_a)
    affine_b = np.asarray(affine_b)
    if affine_a.shape != affine_b.shape or (
        np.abs(affine_a - affine_b).max() > STRICT_AFFINE_TOLERANCE
    ):
        raise ValueError("Images have different affine matrices." + detail)


# ---------------------------------------------------------------------------
# New images


def _downcast_int64(data: np.ndarray) -> np.ndarray:
    if data.dtype not in (np.int64, np.uint64):
        return data
    info = np.iinfo(np.int32)
    if data.size == 0 or (info.min <= data.min() and data.max() <= info.max):
        warnings.warn(
            "Data array used to create a new image contains 64-bit ints; "
            "they fit in 32-bit ints and were converted to int32 for "
            "compatibility with other tools.",
            UserWarning,
            stacklevel=3,
        )
        return data.astype(np.int32)
    warnings.warn(
        "Data array used to create a new image contains 64-bit ints too large "
        "for 32-bit ints; the image keeps 64-bit ints, which some tools "
        "cannot read.",
        UserWarning,
        stacklevel=3,
    )
    return data


def new_img_like(ref, data, affine=None, copy_header: bool = False) -> nib.spatialimages.SpatialImage:
    """Create an image of the class of ``ref`` holding ``data``.

    Parameters
    ----------
    ref : nibabel image, path, or list of them (the first is used)
        Reference image: gives the class, the affine (unless ``affine`` is
        given) and optionally the header.
    data : numpy.ndarray
        Voxel data. Booleans are stored as uint8; int64 values that fit in
        int32 are stored as int32 (with a warning).
    affine : array-like, shape (4, 4), optional
        Voxel-to-world affine (mm). Defaults to ``ref``'s affine.
    copy_header : bool, default=False
        Copy ``ref``'s header. The copy has its scaling reset, ``glmax = 0``,
        ``cal_min``/``cal_max`` set to the data range, and its data dtype set
        to ``data``'s dtype (so a saved file keeps the values).

    Returns
    -------
    nibabel.spatialimages.SpatialImage
    """
    if isinstance(ref, (list, tuple)):
        if not ref:
            raise TypeError("The reference image list is empty.")
        ref = ref[0]
    ref = _load_one(ref)
    data = np.asanyarray(data)
    if affine is None:
        affine = ref.affine
    if data.dtype == bool:
        data = data.astype(np.uint8)
    data = _downcast_int64(data)
    header = None
    if copy_header and ref.header is not None:
        header = ref.header.copy()
        for key in ("scl_slope", "scl_inter", "glmax"):
            if key in header:
                header[key] = 0.0
        for key, reducer in (("cal_max", np.max), ("cal_min", np.min)):
            if key in header:
                header[key] = reducer(data) if data.size > 0 else 0.0
        try:
            header.set_data_dtype(data.dtype)
        except Exception:  # dtype the format cannot store: nibabel decides on save
            pass
    klass = _image_class(ref)
    if data.dtype in (np.int64, np.uint64) and issubclass(klass, nib.Nifti1Pair):
        # nibabel refuses 64-bit ints unless the dtype is explicit.
        return klass(data, affine, header=header, dtype=data.dtype)
    return klass(data, affine, header=header)


# ---------------------------------------------------------------------------
# Resampling


def _check_affine_invertible(affine: np.ndarray, what: str) -> None:
    if affine.shape != (4, 4):
        raise ValueError(f"The affine of {what} must be 4x4, got shape {affine.shape}.")
    if not np.all(np.isfinite(affine)):
        raise ValueError(f"The affine of {what} contains non-finite values:\n{affine}")
    determinant = np.linalg.det(affine[:3, :3])
    if not np.isfinite(determinant) or abs(determinant) < 1e-12:
        raise ValueError(
            f"The affine of {what} is singular (determinant of its 3x3 part = "
            f"{determinant:g}), so its voxels cannot be mapped to world "
            f"coordinates:\n{affine}"
        )


def _resampled_dtype(dtype: np.dtype, interpolation: str) -> np.dtype:
    """Output dtype of nilearn's resample_img (signed ints → float for splines)."""
    out = dtype
    if interpolation == "continuous" and dtype.kind == "i":
        name = dtype.name.replace("int", "float")
        if name in ("float8", "float16"):
            name = "float32"
        warnings.warn(f"Casting data from {dtype.name} to {name}", UserWarning, stacklevel=3)
        out = np.dtype(name)
    if not out.isnative:
        out = out.newbyteorder("=")
    return out


def _extrapolate_out_mask(data: np.ndarray, mask: np.ndarray, iterations: int):
    """Fill voxels outside ``mask`` by the mean of their in-mask 6-neighbours.

    Each iteration fills the one-voxel shell around the mask and grows the mask;
    voxels still outside after ``iterations`` are 0. Arithmetic in float64, with
    the neighbours summed in the order +x, −x, +y, −y, +z, −z (as nilearn).

    Returns
    -------
    data : numpy.ndarray (float64)
    mask : numpy.ndarray (bool)
    """
    if iterations > 1:
        data, mask = _extrapolate_out_mask(data, mask, iterations - 1)
    grown = scipy.ndimage.binary_dilation(mask)
    padded = np.full(tuple(np.array(mask.shape) + 2), np.nan)
    padded[1:-1, 1:-1, 1:-1] = np.where(mask, data, np.nan)
    shell_x, shell_y, shell_z = np.nonzero(grown & ~mask)
    total = np.zeros(shell_x.size)
    count = np.zeros(shell_x.size, dtype=np.int64)
    for dx, dy, dz in ((1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)):
        values = padded[shell_x + 1 + dx, shell_y + 1 + dy, shell_z + 1 + dz]
        finite = np.isfinite(values)
        total = total + np.where(finite, values, 0.0)
        count += finite
    with np.errstate(invalid="ignore", divide="ignore"):
        filled = total / count
    filled[~np.isfinite(filled)] = 0.0
    out = np.zeros(mask.shape)
    out[shell_x, shell_y, shell_z] = filled
    out[mask] = data[mask]
    return out, grown


def _is_binary(data: np.ndarray) -> bool:
    """Whether every value is 0 or 1 (nilearn's test before warning about binary images)."""
    if data.dtype.kind in "ub":
        return data.size == 0 or bool(np.max(data) <= 1)
    flat = np.ravel(data, order="K")  # no copy of a Fortran-ordered volume
    block = 1_000_000
    for start in range(0, flat.size, block):
        part = flat[start : start + block]
        if not np.all((part == 0) | (part == 1)):
            return False
    return True


def _warn_binary_interpolation(stacklevel: int) -> None:
    warnings.warn(
        "Resampling binary images with continuous or linear interpolation. "
        "This might lead to unexpected results. You might consider using "
        "nearest interpolation instead.",
        UserWarning,
        stacklevel=stacklevel + 1,
    )


# ---------------------------------------------------------------------------
# Resampling one volume within the bounding box of its non-zero voxels
#
# With nearest or linear interpolation (orders 0 and 1, no spline prefilter) a
# target voxel reads only the source voxels next to its coordinate, so a map
# that is zero outside a small box resamples to zero outside a small box of the
# target grid. The route below computes the target voxels of that box only,
# with scipy's own interpolation (``map_coordinates``) at source coordinates
# computed with the very floating-point operations scipy uses for the whole grid
# (``NI_ZoomShift``: ``(o + offset / zoom) * zoom`` per axis for a diagonal
# matrix; ``NI_GeometricTransform``: ``((offset[h] + o0*M[h,0]) + o1*M[h,1]) +
# o2*M[h,2]`` otherwise, in scipy 1.17). Both C routines share the edge rule of mode
# "constant" (a coordinate outside ``[0, n - 1]`` gives ``cval``) and the
# interpolation loop, so every target voxel gets the value the full-grid pass
# gives it, bit for bit, and every other voxel is 0 in both.

#: Largest share of the target grid that the box of a volume may cover for the
#: box route to be taken. Per target voxel, scipy's full-grid zoom/shift pass
#: (weights precomputed per axis) is 1.3 (linear) to 2.2 (nearest) times as
#: cheap as ``map_coordinates`` with a coordinate array (measured on a 1 mm
#: float32 volume), so the box route wins up to about half (nearest) or three
#: quarters (linear) of the grid; a quarter leaves a margin. Dense volumes
#: (BOLD runs, whole-brain labels) keep the full-grid pass.
_BOX_MAX_SHARE = 0.25


def _resampling_transform(source_affine, target_affine) -> tuple[np.ndarray, np.ndarray]:
    """``(matrix, offset)`` from target voxel indices to source voxel indices, as nilearn passes them to scipy.

    The identity when the affines are exactly equal; ``matrix`` is a vector of
    3 zooms when ``inv(source) @ target`` has a diagonal 3×3 part (scipy's
    zoom/shift path), else 3×3.
    """
    source_affine = np.asarray(source_affine)
    target_affine = np.asarray(target_affine)
    if np.all(target_affine == source_affine):
        transform = np.eye(4)
    else:
        transform = np.dot(scipy.linalg.inv(source_affine), target_affine)
    matrix = transform[:3, :3]
    offset = transform[:3, 3]
    if np.all(np.diag(np.diag(matrix)) == matrix):
        matrix = np.diag(matrix)
    return matrix, offset


def _check_fov_overlap(source_shape, source_affine, target_affine, name: str) -> None:
    """Raise nilearn's error when the target grid lies wholly on the negative side of the data."""
    _, upper = _transformed_bounds(tuple(source_shape)[:3], np.linalg.inv(target_affine) @ source_affine)
    if np.any(upper < 0):
        raise ValueError(
            f"The field of view given by the target affine does not contain any of the data of {name}."
        )


def nonzero_bounds(volume: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray] | None, bool]:
    """Inclusive voxel-index bounds of the voxels of a 3D volume that are not 0, and whether all values are finite.

    Returns ``((lower, upper), finite)``, or ``(None, finite)`` when every
    voxel is 0. Non-finite voxels count as non-zero. One pass over the volume
    (element-wise extrema of its z slices, a vectorised reduction that NaN and
    infinities propagate through) and one over the rows that hold data.
    """
    if volume.dtype.kind in "ub":
        column = np.maximum.reduce(volume, axis=2) != 0
        finite = True
    else:
        column_max = np.maximum.reduce(volume, axis=2)
        column_min = np.minimum.reduce(volume, axis=2)
        finite = volume.dtype.kind == "i" or bool(np.isfinite(column_max).all() and np.isfinite(column_min).all())
        column = (column_max != 0) | (column_min != 0)
    rows_x = np.flatnonzero(column.any(axis=1))
    if rows_x.size == 0:
        return None, finite
    rows_y = np.flatnonzero(column.any(axis=0))
    block = volume[rows_x[0] : rows_x[-1] + 1, rows_y[0] : rows_y[-1] + 1, :]
    if volume.dtype.kind in "ub":
        profile = np.maximum.reduce(block, axis=(0, 1)) != 0
    else:
        profile = (block != 0).any(axis=(0, 1))
    rows_z = np.flatnonzero(profile)
    lower = np.array([rows_x[0], rows_y[0], rows_z[0]])
    upper = np.array([rows_x[-1], rows_y[-1], rows_z[-1]])
    return (lower, upper), finite


def _target_box(lower, upper, matrix, offset, target_shape) -> tuple[slice, slice, slice] | None:
    """Target voxels whose nearest or linear interpolation may read a source voxel in ``[lower, upper]``.

    A superset: every target voxel outside it samples the source where the
    volume is 0 (or outside the source, where mode "constant" gives 0).
    None when the box is empty.
    """
    lower = np.asarray(lower, dtype=np.float64) - 1
    upper = np.asarray(upper, dtype=np.float64) + 1
    box = []
    if matrix.ndim == 1:
        shift = offset / matrix
        for axis in range(3):
            coordinates = (np.arange(target_shape[axis], dtype=np.float64) + shift[axis]) * matrix[axis]
            inside = np.flatnonzero((coordinates >= lower[axis]) & (coordinates <= upper[axis]))
            if inside.size == 0:
                return None
            box.append(slice(int(inside[0]), int(inside[-1]) + 1))  # monotonic: one run
        return tuple(box)
    corners = np.array([[x, y, z] for x in (lower[0], upper[0]) for y in (lower[1], upper[1])
                        for z in (lower[2], upper[2])]).T
    inverse = np.linalg.inv(matrix)
    target = inverse @ (corners - offset[:, np.newaxis])
    start = np.floor(target.min(axis=1)) - 1  # one voxel for rounding
    stop = np.ceil(target.max(axis=1)) + 2
    for axis in range(3):
        first = int(max(start[axis], 0))
        last = int(min(stop[axis], target_shape[axis]))
        if first >= last:
            return None
        box.append(slice(first, last))
    return tuple(box)


def _box_coordinates(matrix, offset, box) -> np.ndarray:
    """Source coordinates of the target voxels of ``box``, with scipy's own arithmetic (shape (3, bx, by, bz))."""
    indices = [np.arange(part.start, part.stop, dtype=np.float64) for part in box]
    coordinates = np.empty((3,) + tuple(len(index) for index in indices))
    if matrix.ndim == 1:
        shift = offset / matrix  # as scipy.ndimage.affine_transform passes it to NI_ZoomShift
        for axis in range(3):
            along = (indices[axis] + shift[axis]) * matrix[axis]
            coordinates[axis] = along.reshape([-1 if other == axis else 1 for other in range(3)])
    else:
        o_x = indices[0][:, np.newaxis, np.newaxis]
        o_y = indices[1][np.newaxis, :, np.newaxis]
        o_z = indices[2][np.newaxis, np.newaxis, :]
        for axis in range(3):  # NI_GeometricTransform's order of operations
            coordinates[axis] = ((offset[axis] + o_x * matrix[axis, 0]) + o_y * matrix[axis, 1]) + o_z * matrix[axis, 2]
    return coordinates


def _resample_box(volume, matrix, offset, box, order, out) -> np.ndarray:
    """Resample ``volume`` at the target voxels of ``box`` into ``out`` (shape of the box, any strides)."""
    scipy.ndimage.map_coordinates(volume, _box_coordinates(matrix, offset, box), output=out, order=order,
                    mode="constant", cval=0.0, prefilter=False)
    return out


def _box_size(box) -> int:
    return int(np.prod([part.stop - part.start for part in box]))


def _resample_volume(volume, matrix, offset, target_shape, order, out, fill_value):
    """Resample one 3D volume into ``out`` (nilearn's per-volume step); ``out`` holds zeros on entry.

    Returns whether the volume is binary (0 and 1 only) and was interpolated
    (order > 0), for nilearn's warning.
    """
    if order <= 1 and fill_value == 0:
        bounds, finite = nonzero_bounds(volume)
        if finite and bounds is None:  # all zero: zero everywhere on the target grid
            return order != 0
        if finite:
            lower, upper = bounds
            support = volume[lower[0] : upper[0] + 1, lower[1] : upper[1] + 1, lower[2] : upper[2] + 1]
            box = _target_box(lower, upper, matrix, offset, target_shape)
            if box is None:
                return order != 0 and _is_binary(support)
            if _box_size(box) <= _BOX_MAX_SHARE * np.prod(target_shape):
                _resample_box(volume, matrix, offset, box, order, out[box])
                return order != 0 and _is_binary(support)
        non_finite = None if finite else ~np.isfinite(volume)
    else:  # cubic splines: the prefilter spreads every voxel over the whole grid
        non_finite = None
        if volume.dtype.kind not in ("i", "u"):
            non_finite = ~np.isfinite(volume)
            if not non_finite.any():
                non_finite = None
    if non_finite is not None:
        warnings.warn(
            "NaNs or infinite values are present in the data passed to "
            "resample. They are filled from their neighbours before "
            "interpolation and set back to NaN afterwards.",
            RuntimeWarning,
            stacklevel=4,
        )
        volume = _extrapolate_out_mask(volume, ~non_finite, iterations=2)[0]
    binary = order != 0 and _is_binary(volume)
    scipy.ndimage.affine_transform(
        volume,
        matrix,
        offset=offset,
        output_shape=target_shape,
        output=out,
        cval=fill_value,
        order=order,
    )
    if non_finite is not None:
        resampled_non_finite = scipy.ndimage.affine_transform(
            non_finite, matrix, offset=offset, output_shape=target_shape, order=0
        )
        out[resampled_non_finite] = np.nan
    return binary


def _transformed_bounds(shape, transform):
    corners = np.array(
        [[x, y, z, 1.0] for x in (0, shape[0] - 1) for y in (0, shape[1] - 1) for z in (0, shape[2] - 1)]
    ).T
    world = transform @ corners
    return world[:3].min(axis=1), world[:3].max(axis=1)


def resample_img(
    img,
    target_affine,
    target_shape,
    interpolation: str = "continuous",
    clip: bool = True,
    fill_value: float = 0,
    *,
    copy: bool = True,
    copy_header: bool = True,
) -> nib.Nifti1Image:
    """Resample an image onto a grid, with nilearn's numbers.

    Parameters
    ----------
    img : nibabel image or path (3D or 4D)
        Image to resample.
    target_affine : array-like, shape (4, 4)
        Voxel-to-world affine (mm) of the target grid.
    target_shape : sequence of 3 int
        Spatial shape (voxels) of the target grid.
    interpolation : {"continuous", "linear", "nearest"}, default="continuous"
        Cubic B-spline (order 3), trilinear (order 1) or nearest neighbour.
    clip : bool, default=True
        Clip the output to ``[min(min(data), 0), max(max(data), 0)]`` computed
        over the whole input (all volumes, NaN ignored).
    fill_value : float, default=0
        Value outside the input field of view.
    copy : bool, default=True
        When no resampling is needed, return a copy (True) or the input image
        itself (False; avoids copying 4D data).
    copy_header : bool, default=True
        Copy the input header to the output (scaling reset).

    Returns
    -------
    nibabel.Nifti1Image
        Output dtype: the input dtype, except "continuous" on signed integers
        (int8/int16/int32 → float32, int64 → float64, with a warning).

    Raises
    ------
    ValueError
        For an unknown interpolation, a target shape that is not 3D, a target
        affine that is not 4×4, a singular affine, or a target grid that does
        not overlap the data.

    Notes
    -----
    Reproduces nilearn 0.14.1: no interpolation when the grids already agree
    (``allclose``); ``T = inv(source affine) @ target affine`` (identity when
    the affines are exactly equal); a diagonal ``T[:3, :3]`` is passed to
    ``scipy.ndimage.affine_transform`` as a vector (its zoom/shift path);
    non-finite voxels are filled from their neighbours, interpolated, and set
    back to NaN through a nearest-neighbour resampling of their mask; 4D data
    are resampled volume by volume.
    """
    if interpolation not in _INTERPOLATION_ORDERS:
        raise ValueError(
            "interpolation must be one of 'continuous', 'linear' or 'nearest', "
            f"got {interpolation!r}."
        )
    if target_shape is None or len(target_shape) != 3:
        raise ValueError(
            "The shape specified should be the shape of the 3D grid, and thus "
            f"of length 3. {target_shape} was specified."
        )
    target_shape = tuple(int(n) for n in target_shape)
    if any(n <= 0 for n in target_shape):
        raise ValueError(f"The target shape must be positive, got {target_shape}.")
    target_affine = np.asarray(target_affine, dtype=np.float64)
    source = load_img(img)
    name = describe_img(img)
    _check_affine_invertible(target_affine, "the target grid")
    _check_affine_invertible(np.asarray(source.affine), f"image {name}")
    if len(source.shape) < 3:
        raise ValueError(
            f"Image {name} has {len(source.shape)} dimensions; resampling needs a 3D or 4D image."
        )

    if isinstance(source, nib.Nifti1Image) or isinstance(source, nib.Nifti2Image):
        if not source.header.get_sform(coded=True)[1]:
            warnings.warn(
                f"The image {name} has no sform in its header. Please check "
                "the provided file. Results may not be as expected.",
                UserWarning,
                stacklevel=2,
            )

    source_affine = source.affine
    if tuple(source.shape[:3]) == target_shape and np.allclose(target_affine, source_affine):
        if not copy:
            return source
        return new_img_like(
            source, np.array(get_data(source), copy=True), source_affine.copy(), copy_header=True
        )

    data = get_data(source)
    _check_fov_overlap(data.shape, source_affine, target_affine, name)
    matrix, offset = _resampling_transform(source_affine, target_affine)

    out_dtype = _resampled_dtype(data.dtype, interpolation)
    order = _INTERPOLATION_ORDERS[interpolation]
    extra_shape = data.shape[3:]
    resampled = np.zeros(target_shape + extra_shape, order="F", dtype=out_dtype)
    all_space = (slice(None),) * 3
    binary_seen = False
    for index in np.ndindex(*extra_shape):
        binary_seen |= _resample_volume(
            data[all_space + index],
            matrix,
            offset,
            target_shape,
            order,
            resampled[all_space + index],
            fill_value,
        )
    if binary_seen:
        _warn_binary_interpolation(stacklevel=2)
    if clip:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN input
            vmin = min(np.nanmin(data), 0)
            vmax = max(np.nanmax(data), 0)
        resampled.clip(vmin, vmax, out=resampled)
    return new_img_like(source, resampled, target_affine, copy_header=copy_header)


def resample_to_img(
    source_img,
    target_img,
    interpolation: str = "continuous",
    clip: bool = False,
    fill_value: float = 0,
    *,
    copy: bool = True,
    copy_header: bool = True,
) -> nib.Nifti1Image:
    """Resample ``source_img`` onto the grid of ``target_img``.

    Same as :func:`resample_img` with the target's affine and first three
    dimensions; note that ``clip`` defaults to False here, as in nilearn.

    Parameters
    ----------
    source_img : nibabel image or path
        Image to resample (nilearn's parameter name).
    target_img : nibabel image or path
        Image giving the target grid (only its shape and affine are used).
    interpolation, clip, fill_value, copy, copy_header
        See :func:`resample_img`.

    Returns
    -------
    nibabel.Nifti1Image
    """
    target = load_img(target_img)
    return resample_img(
        source_img,
        target_affine=target.affine,
        target_shape=target.shape[:3],
        interpolation=interpolation,
        clip=clip,
        fill_value=fill_value,
        copy=copy,
        copy_header=copy_header,
    )


# ---------------------------------------------------------------------------
# Smoothing


def _fast_smooth(arr: np.ndarray) -> np.ndarray:
    """[0.2, 1, 0.2] smoothing along the three spatial axes, normalised by 1 + 6·0.2."""
    neighbour_weight = 0.2
    scale = 1 + 6 * neighbour_weight
    smoothed = arr.copy()
    weighted = neighbour_weight * arr
    smoothed[:-1] += weighted[1:]
    smoothed[1:] += weighted[:-1]
    smoothed[:, :-1] += weighted[:, 1:]
    smoothed[:, 1:] += weighted[:, :-1]
    smoothed[:, :, :-1] += weighted[:, :, 1:]
    smoothed[:, :, 1:] += weighted[:, :, :-1]
    smoothed /= scale
    return smoothed


def smooth_array(arr, affine, fwhm, ensure_finite: bool = True, copy: bool = True) -> np.ndarray:
    """Gaussian smoothing along the three spatial axes (nilearn's numbers).

    Parameters
    ----------
    arr : numpy.ndarray, 3D or 4D
        Data; the 4th axis (time or maps) is never smoothed. Integer data are
        converted to float32 (int64/uint64 to float64).
    affine : array-like, shape (4, 4) or (3, 3)
        Voxel-to-world affine; the voxel size along axis k is
        ``||affine[:3, k]||`` (mm). Unused when ``fwhm="fast"``.
    fwhm : float, sequence of 3 floats (or None entries), "fast", or None
        Full width at half maximum of the kernel (mm), one value for all axes
        or one per axis. ``sigma_k = fwhm_k / (sqrt(8 ln 2) · voxel_size_k)``;
        axes with sigma 0 are skipped. "fast" uses a [0.2, 1, 0.2] kernel.
        0 warns and does not smooth; None does not smooth.
    ensure_finite : bool, default=True
        Replace NaN and ±inf by 0 (silently) before filtering.
    copy : bool, default=True
        Leave ``arr`` untouched (False filters float input in place).

    Returns
    -------
    numpy.ndarray
        The filtered array (float).
    """
    if isinstance(fwhm, (int, float)) and not isinstance(fwhm, bool) and fwhm == 0.0:
        warnings.warn(
            f"The parameter 'fwhm' for smoothing is specified as {fwhm}. "
            "Setting it to None (no smoothing will be performed)",
            UserWarning,
            stacklevel=2,
        )
        fwhm = None
    arr = np.asarray(arr)
    if arr.dtype.kind in ("i", "u", "b"):
        target = np.float64 if arr.dtype in (np.int64, np.uint64) else np.float32
        arr = arr.astype(target)  # already a copy
    elif copy:
        arr = arr.copy()
    if ensure_finite:
        arr[~np.isfinite(arr)] = 0
    if isinstance(fwhm, str):
        if fwhm != "fast":
            raise ValueError(f"fwhm must be a number, a sequence of numbers, 'fast' or None; got {fwhm!r}.")
        return _fast_smooth(arr)
    if fwhm is None:
        return arr
    fwhm_per_axis = np.asarray([fwhm], dtype=object).ravel()
    fwhm_per_axis = np.asarray([0.0 if value is None else value for value in fwhm_per_axis], dtype=float)
    if np.any(fwhm_per_axis < 0) or not np.all(np.isfinite(fwhm_per_axis)):
        raise ValueError(f"fwhm must be finite and non-negative (mm), got {fwhm!r}.")
    if fwhm_per_axis.size not in (1, 3):
        raise ValueError(f"fwhm must be one value or one value per spatial axis (3), got {fwhm!r}.")
    scale_part = np.asarray(affine)[:3, :3]
    voxel_size = np.sqrt(np.sum(scale_part**2, axis=0))
    sigma = fwhm_per_axis / (_FWHM_TO_SIGMA * voxel_size)
    for axis, axis_sigma in enumerate(sigma):
        if axis_sigma > 0.0:
            scipy.ndimage.gaussian_filter1d(arr, axis_sigma, output=arr, axis=axis)
    return arr


# ---------------------------------------------------------------------------
# Masks

_EMPTY_MASK_MESSAGE = "The mask is invalid as it is empty: it masks all data."


def _finite_copy_with_warning(data: np.ndarray) -> np.ndarray:
    """Data with non-finite values set to 0 (copy only when needed), warning as nilearn."""
    if data.dtype.kind == "f" or data.dtype.kind == "c":
        non_finite = ~np.isfinite(data)
        if non_finite.any():
            warnings.warn(
                "Non-finite values detected. These values will be replaced with zeros.",
                UserWarning,
                stacklevel=3,
            )
            data = np.array(data, copy=True)
            data[non_finite] = 0
    return data


def load_masker_mask(mask_img) -> nib.Nifti1Image:
    """Load a mask as nilearn's maskers do (lenient rule).

    The mask is read as 4D (a 3D mask is one volume); NaN/inf become 0 (with a
    warning); a voxel is in the mask iff it is non-zero in **every** volume,
    so any non-zero value counts (e.g. {0, 1, 3} or {0, 2.5}).

    Parameters
    ----------
    mask_img : nibabel image or path

    Returns
    -------
    nibabel.Nifti1Image
        3D uint8 image (1 inside) on the mask's grid, header copied.

    Raises
    ------
    ValueError
        ``"The mask is invalid as it is empty: it masks all data."`` (followed
        by the mask's name) when no voxel is in the mask.
    """
    img = load_img(mask_img, ensure_ndim=4)
    data = _finite_copy_with_warning(get_data(img))
    inside = data.astype(bool).all(axis=3)
    if not inside.any():
        raise ValueError(f"{_EMPTY_MASK_MESSAGE} Mask: {describe_img(mask_img)}.")
    return new_img_like(img, inside, img.affine, copy_header=True)


def load_mask_img(mask_img, *, allow_empty: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Load a mask with nilearn's strict rule (``nilearn.masking.load_mask_img``).

    The mask must be 3D (a 4D image with one volume is squeezed), NaN/inf are
    set to 0 (with a warning), and its values must be a single non-zero value
    or two values one of which is 0.

    Parameters
    ----------
    mask_img : nibabel image or path
    allow_empty : bool, default=False
        Accept a mask of zeros.

    Returns
    -------
    mask : numpy.ndarray of bool, 3D
    affine : numpy.ndarray, shape (4, 4)

    Raises
    ------
    ValueError
        Empty mask; background not 0; more than two values; not 3D.
    """
    img = load_img(mask_img, ensure_ndim=3)
    data = _finite_copy_with_warning(get_data(img))
    values = np.unique(data)
    name = describe_img(mask_img)
    if len(values) == 1:
        if values[0] == 0 and not allow_empty:
            raise ValueError(f"{_EMPTY_MASK_MESSAGE} Mask: {name}.")
    elif len(values) == 2:
        if 0 not in values:
            raise ValueError(
                "Background of the mask must be represented with 0. "
                f"Given mask contains: {values}. Mask: {name}."
            )
    else:
        raise ValueError(
            f"Given mask is not made of 2 values: {values}. "
            f"Cannot interpret as true or false. Mask: {name}."
        )
    return np.asarray(data, dtype=bool), img.affine


# ---------------------------------------------------------------------------
# Chunked reading of 4D images
