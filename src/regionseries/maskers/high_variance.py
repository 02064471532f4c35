"""nilearn's ``high_variance_confounds`` of an image, streamed in two passes.

Used by the maskers' ``high_variance_confounds=True``: the confounds are the
leading principal components of the voxels with the highest variance, read
from the image in chunks of volumes so memory does not grow with its length.
"""

from __future__ import annotations

import numpy as np

from ..core.reader import BoldReader
from ..signal import detrend as detrend_signals

__all__ = ["high_variance_confounds_streaming"]


def high_variance_confounds_streaming(imgs, n_confounds: int = 5, percentile: float = 2.0):
    """nilearn's image-level ``high_variance_confounds`` in two streamed passes.

    Pass 1 accumulates, per voxel, the sums needed for the mean square of the
    linearly detrended series; pass 2 gathers the series of the voxels above
    the ``100 - percentile`` percentile, which are detrended and decomposed.

    Parameters
    ----------
    imgs : 4D image, path or list
    n_confounds : int, default=5
    percentile : float, default=2.0

    Returns
    -------
    numpy.ndarray, shape (T, n_confounds)
    """
    reader = BoldReader(imgs)
    n_time = reader.n_volumes
    ramp = np.arange(n_time, dtype=float)
    ramp -= ramp.mean()
    norm = np.sqrt(np.sum(ramp**2))
    if norm > 0:
        ramp /= norm
    sums = np.zeros(reader.n_voxels)
    ramp_sums = np.zeros(reader.n_voxels)
    squares = np.zeros(reader.n_voxels)
    for chunk in reader:
        block = chunk.voxels_by_volume().astype(np.float64)
        sums += block.sum(axis=1)
        ramp_sums += block @ ramp[chunk.start : chunk.stop]
        squares += np.einsum("ij,ij->i", block, block)
    residual = squares - sums**2 / n_time - ramp_sums**2
    mean_square = np.maximum(residual, 0.0) / n_time
    threshold = np.nanpercentile(mean_square, 100.0 - percentile)
    selected = np.flatnonzero(mean_square > threshold)
    series = np.empty((n_time, len(selected)))
    for chunk in BoldReader(imgs):
        series[chunk.start : chunk.stop] = np.take(
            chunk.voxels_by_volume(), selected, axis=0
        ).T
    series = detrend_signals(series)
    eigenvalues, eigenvectors = np.linalg.eigh(series @ series.T / n_time)
    order = np.argsort(eigenvalues)[::-1]
    return eigenvectors[:, order[:n_confounds]].copy()
