"""Non-aggressive ICA denoising of region signals (tedana's and ICA-AROMA's rule).

The signals are fitted by least squares to *every* ICA component (accepted
and rejected) at once, and only the part explained by the rejected ones is
subtracted: variance that a noise component shares with a signal component
stays in the data, unlike aggressive regression of the rejected components
alone. Region signals are means (or least-squares fits) of voxel signals,
which are linear in the voxels, so denoising the region signals gives the
region signals of the voxel-wise denoised image.
"""

from __future__ import annotations

import numpy as np

__all__ = ["remove_components_nonaggressively"]


def remove_components_nonaggressively(signals: np.ndarray, components: np.ndarray, rejected: np.ndarray,
                                      sample_mask: np.ndarray | None = None) -> np.ndarray:
    """Subtract the fitted contribution of the rejected ICA components.

    Parameters
    ----------
    signals : numpy.ndarray
        Shape (n_volumes, n_regions), any unit (BOLD intensity).
    components : numpy.ndarray
        Shape (n_volumes, n_components): the time series of every component
        (tedana's mixing matrix columns), accepted and rejected.
    rejected : numpy.ndarray
        Boolean, shape (n_components,): which components are noise.
    sample_mask : numpy.ndarray, optional
        int indices of the volumes the fit uses (the kept volumes; censored
        and non-steady-state volumes must not drive it). All volumes when None.

    Returns
    -------
    numpy.ndarray
        float64, same shape as ``signals``: ``signals - C_r B_r`` where
        ``B`` are the least-squares coefficients of the demeaned signals on
        the demeaned components over the fitted volumes and ``C_r`` the
        rejected components demeaned with the same means (so the signal
        means are unchanged). Regions whose fitted volumes are not all
        finite are returned unchanged (they are NaN after cleaning anyway).
    """
    signals = np.asarray(signals, dtype=np.float64)
    components = np.asarray(components, dtype=np.float64)
    rejected = np.asarray(rejected, dtype=bool)
    if components.ndim != 2 or components.shape[0] != signals.shape[0]:
        raise ValueError(f"components must have one row per volume ({signals.shape[0]}); "
                         f"got shape {components.shape}.")
    if rejected.shape != (components.shape[1],):
        raise ValueError(f"rejected must have one entry per component ({components.shape[1]}); "
                         f"got shape {rejected.shape}.")
    denoised = signals.copy()
    if not rejected.any():
        return denoised
    rows = np.arange(signals.shape[0]) if sample_mask is None else np.asarray(sample_mask)
    fitted = components[rows]
    means = fitted.mean(axis=0)
    design = fitted - means
    finite = np.isfinite(signals[rows]).all(axis=0)
    targets = signals[rows][:, finite]
    coefficients = np.linalg.lstsq(design, targets - targets.mean(axis=0), rcond=None)[0]
    noise = (components[:, rejected] - means[rejected]) @ coefficients[rejected]
    denoised[:, finite] -= noise
    return denoised
