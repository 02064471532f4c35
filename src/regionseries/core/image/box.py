"""Resampling one volume within the bounding box of its non-zero voxels.

With nearest or linear interpolation (orders 0 and 1, no spline prefilter) a
target voxel reads only the source voxels next to its coordinate, so a map
that is zero outside a small box resamples to zero outside a small box of the
target grid. This module computes the target voxels of that box only,
with scipy's own interpolation (``map_coordinates``) at source coordinates
computed with the very floating-point operations scipy uses for the whole grid
(``NI_ZoomShift``: ``(o + offset / zoom) * zoom`` per axis for a diagonal
matrix; ``NI_GeometricTransform``: ``((offset[h] + o0*M[h,0]) + o1*M[h,1]) +
o2*M[h,2]`` otherwise, in scipy 1.17). Both C routines share the edge rule of mode
"constant" (a coordinate outside ``[0, n - 1]`` gives ``cval``) and the
interpolation loop, so every target voxel gets the value the full-grid pass
gives it, bit for bit, and every other voxel is 0 in both.

:func:`nonzero_bounds` finds the box of a volume, :func:`_target_box` the
target voxels that may read it, :func:`_resample_box` interpolates them;
:func:`~regionseries.core.image.resampling.resample_img` takes this route
when the box covers at most :data:`_BOX_MAX_SHARE` of the target grid.
"""

from __future__ import annotations

import numpy as np
import scipy  # submodules load on first use: a job with nothing left to do never imports them

#: Largest share of the target grid that the box of a volume may cover for the
#: box route to be taken. Per target voxel, scipy's full-grid zoom/shift pass
#: (weights precomputed per axis) is 1.3 (linear) to 2.2 (nearest) times as
#: cheap as ``map_coordinates`` with a coordinate array (measured on a 1 mm
#: float32 volume), so the box route wins up to about half (nearest) or three
#: quarters (linear) of the grid; a quarter leaves a margin. Dense volumes
#: (BOLD runs, whole-brain labels) keep the full-grid pass.
_BOX_MAX_SHARE = 0.25


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
