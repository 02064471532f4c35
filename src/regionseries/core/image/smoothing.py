"""Gaussian smoothing along the three spatial axes: :func:`smooth_array`.

The numbers of nilearn's ``_smooth_array``: a FWHM in millimetres turned into
one sigma per axis from the voxel sizes of the affine, ``scipy.ndimage``'s
``gaussian_filter1d`` along each axis, or nilearn's "fast" [0.2, 1, 0.2]
kernel. The 4th axis (time or maps) is never smoothed.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy  # submodules load on first use: a job with nothing left to do never imports them

_FWHM_TO_SIGMA = np.sqrt(8 * np.log(2))


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
