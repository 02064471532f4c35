"""nilearn's surface smoothing, as plain functions over vertex arrays.

:func:`smooth_vertex_data` is nilearn's ``smooth_img`` on a ``SurfaceImage``
(FreeSurfer's iterated neighbour averaging), per mesh part, for
:class:`~regionseries.maskers.SurfaceLabelsMasker` and
:class:`~regionseries.maskers.SurfaceMapsMasker`;
:func:`smoothing_iterations` is its number of steps.

The region signals of vertex data (surface runs of the command line and the
surface maskers alike) are extracted in
:mod:`regionseries.core.extract.vertices`, by the one-pass engine.

Conventions: data are vertex-major, shape (n_vertices, n_samples).
"""

from __future__ import annotations

import math

import numpy as np
import scipy  # submodules load on first use

from ..image.surface import vertex_adjacency

__all__ = [
    "smooth_vertex_data",
    "smoothing_iterations",
]


def smoothing_iterations(coordinates, faces, fwhm) -> int:
    """Number of neighbour-averaging steps that approximate a Gaussian of ``fwhm`` mm on a mesh.

    FreeSurfer's empirical rule (``MRISfwhm2niters``), as nilearn:
    ``floor(1.14 * 4 pi sigma^2 / (7 * mean vertex area) + 0.5)`` with
    ``sigma = fwhm / sqrt(log 256)`` and the mean vertex area the mesh's
    total triangle area over its number of vertices.

    Parameters
    ----------
    coordinates : numpy.ndarray, shape (n_vertices, 3)
        Vertex positions (mm).
    faces : numpy.ndarray of int, shape (n_faces, 3)
    fwhm : float or None
        Full width at half maximum (mm); None or 0: no smoothing.

    Returns
    -------
    int
    """
    if fwhm is None or fwhm == 0:
        return 0
    coordinates = np.asarray(coordinates, dtype=np.float64)
    corners = coordinates[np.asarray(faces, dtype=np.int64)]
    cross = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    mean_vertex_area = 0.5 * np.sum(np.sqrt(np.sum(cross**2, axis=1))) / coordinates.shape[0]
    sigma = fwhm / math.sqrt(math.log(256.0))
    return math.floor(1.14 * (4 * math.pi * sigma**2) / (7 * mean_vertex_area) + 0.5)


def smooth_vertex_data(data, coordinates, faces, fwhm) -> np.ndarray:
    """Smooth vertex data along one mesh part, as nilearn's ``smooth_img`` on a surface image.

    Non-finite values become 0 (without warning, as nilearn); then each step
    replaces every vertex by half its value plus half the mean of its
    neighbours (vertices sharing an edge), :func:`smoothing_iterations`
    times. Each sample (column) is smoothed on its own.

    Parameters
    ----------
    data : numpy.ndarray, shape (n_vertices,) or (n_vertices, n_samples)
    coordinates : numpy.ndarray, shape (n_vertices, 3)
    faces : numpy.ndarray of int, shape (n_faces, 3)
    fwhm : float or None
        Full width at half maximum (mm), a scalar.

    Returns
    -------
    numpy.ndarray
        Same shape as ``data``; float64 when at least one step is applied,
        else a copy of ``data`` in its dtype.

    Raises
    ------
    TypeError
        If ``fwhm`` is a sequence (one value per axis has no meaning on a mesh).
    """
    if fwhm is not None and np.ndim(fwhm) > 0:
        raise TypeError("For surface data, 'fwhm' must be a scalar.")
    smoothed = np.array(data, copy=True)
    if smoothed.dtype.kind in "fc":
        smoothed[~np.isfinite(smoothed)] = 0
    n_steps = smoothing_iterations(coordinates, faces, fwhm)
    if n_steps == 0:
        return smoothed
    adjacency = vertex_adjacency(faces, smoothed.shape[0]).astype(np.float64)
    n_neighbours = np.asarray(adjacency.sum(axis=1)).ravel()
    surround = np.divide(0.5, n_neighbours, out=np.zeros(len(n_neighbours)), where=n_neighbours > 0)
    step = scipy.sparse.csr_matrix(adjacency.multiply(surround[:, np.newaxis]))
    step.setdiag(0.5)
    for _ in range(n_steps):
        smoothed = step @ smoothed
    return np.asarray(smoothed)
