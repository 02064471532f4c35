"""Resampling onto another grid with nilearn's numbers: :func:`resample_img`, :func:`resample_to_img`.

Reproduces nilearn 0.14.1's ``resample_img``: the transform passed to
``scipy.ndimage.affine_transform`` (:func:`_resampling_transform`), the
output dtype, the filling of non-finite voxels from their neighbours
(:func:`_extrapolate_out_mask`), the warning for binary images, and clipping.
Sparse volumes with nearest or linear interpolation are resampled within
their bounding box (:mod:`.box`), bit for bit as on the whole grid.
"""

from __future__ import annotations

import warnings

import nibabel as nib
import numpy as np
import scipy  # submodules load on first use: a job with nothing left to do never imports them

from .box import _BOX_MAX_SHARE, _box_size, _resample_box, _target_box, nonzero_bounds
from .fov import _check_fov_overlap
from .loading import describe_img, get_data, load_img, new_img_like

_INTERPOLATION_ORDERS = {"continuous": 3, "linear": 1, "nearest": 0}


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
