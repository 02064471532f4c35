"""Region signals of vertex (surface or grayordinate) data: plain functions over arrays.

The extraction of :class:`~regionseries.maskers.SurfaceLabelsMasker` and
:class:`~regionseries.maskers.SurfaceMapsMasker`, written over arrays so that
any reader of vertex data (GIFTI hemispheres, the brain models of a CIFTI
dtseries, nilearn-style ``SurfaceImage`` parts) can call it:

* :func:`vertex_labels_signals` -- one value per parcel and sample: the mean
  (or another of :data:`~regionseries.core.extract.REDUCTIONS`) of the
  parcel's vertices, as nilearn's ``SurfaceLabelsMasker`` (``scipy.ndimage``
  reductions); the linear reductions are one sparse product in float64;
* :func:`vertex_maps_signals` -- the least-squares fit of the maps to each
  sample, as nilearn's ``SurfaceMapsMasker`` (``scipy.linalg.lstsq``), through
  the same K x K normal-matrix solver as the volumetric maps
  (:class:`~regionseries.core.extract.MapsOperator`);
* :func:`valid_vertices` and :func:`vertex_coverage` -- the coverage rule of
  the volumetric extraction on vertices: a vertex counts when its series is
  finite and (for more than one sample) not constant;
* :func:`smooth_vertex_data` -- nilearn's surface smoothing (``smooth_img`` on
  a ``SurfaceImage``, FreeSurfer's iterated neighbour averaging), per mesh part.

Conventions: data are vertex-major, shape (n_vertices, n_samples), the parts
(hemispheres, brain models) concatenated along the vertex axis in a fixed
order; a CIFTI dtseries array (n_samples, n_grayordinates) is its transpose.
Results are (n_samples, n_regions), float64. A mask is applied by the caller
(labels of vertices outside it set to the background; rows of maps and data
outside it dropped).
"""

from __future__ import annotations

import math

import numpy as np
import scipy  # submodules load on first use

from ..image.surface import vertex_adjacency
from .bound import _BoundGroups
from .labels import _LINEAR_REDUCTIONS, REDUCTIONS
from .maps import _least_squares_solver

__all__ = [
    "smooth_vertex_data",
    "smoothing_iterations",
    "valid_vertices",
    "vertex_coverage",
    "vertex_labels_signals",
    "vertex_maps_signals",
    "vertex_membership",
]


def _as_vertex_samples(data) -> np.ndarray:
    data = np.asarray(data)
    if data.ndim == 1:
        data = data[:, np.newaxis]
    if data.ndim != 2:
        raise ValueError(f"Vertex data must be 1D or 2D (vertices x samples), got shape {data.shape}.")
    return data


def vertex_membership(vertex_labels, label_values) -> scipy.sparse.csr_matrix:
    """Sparse 0/1 region x vertex matrix: row k marks the vertices labelled ``label_values[k]``.

    Parameters
    ----------
    vertex_labels : numpy.ndarray, shape (n_vertices,)
        Label value of each vertex.
    label_values : sequence of numbers
        The regions (rows), in this order; a value absent from
        ``vertex_labels`` gives an empty row.

    Returns
    -------
    scipy.sparse.csr_matrix of float64, shape (n_regions, n_vertices)
    """
    vertex_labels = np.asarray(vertex_labels).ravel()
    label_values = np.asarray(list(label_values))
    if len(label_values) == 0:
        return scipy.sparse.csr_matrix((0, vertex_labels.size))
    order = np.argsort(label_values, kind="stable")
    sorted_values = label_values[order]
    position = np.clip(np.searchsorted(sorted_values, vertex_labels), 0, len(sorted_values) - 1)
    hit = sorted_values[position] == vertex_labels
    vertices = np.flatnonzero(hit)
    rows = order[position[hit]]
    return scipy.sparse.csr_matrix(
        (np.ones(len(vertices)), (rows, vertices)), shape=(len(label_values), vertex_labels.size)
    )


def vertex_labels_signals(data, vertex_labels, label_values, reduction: str = "mean") -> np.ndarray:
    """Per-parcel reduction of vertex data, sample by sample (nilearn's ``SurfaceLabelsMasker``).

    Parameters
    ----------
    data : numpy.ndarray, shape (n_vertices,) or (n_vertices, n_samples)
        Vertex values (any real dtype; reduced in float64).
    vertex_labels : numpy.ndarray, shape (n_vertices,)
        Parcel label of each vertex; vertices outside a mask should hold a
        value not in ``label_values`` (the background).
    label_values : sequence of numbers
        The parcels (columns), in this order.
    reduction : str, default="mean"
        One of :data:`~regionseries.core.extract.REDUCTIONS` (``mean``,
        ``median``, ``sum``, ``minimum``, ``maximum``,
        ``standard_deviation``, ``variance``: population statistics, as
        ``scipy.ndimage``).

    Returns
    -------
    numpy.ndarray of float64, shape (n_samples, n_regions)
        NaN for a parcel with no vertex; NaN in a parcel's data propagates to
        its value.

    Raises
    ------
    ValueError
        For an unknown reduction, or labels and data of different lengths.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"Invalid reduction '{reduction}'. Valid reductions are {list(REDUCTIONS)}.")
    data = _as_vertex_samples(data)
    vertex_labels = np.asarray(vertex_labels).ravel()
    if vertex_labels.shape[0] != data.shape[0]:
        raise ValueError(f"{vertex_labels.shape[0]} vertex labels for data of {data.shape[0]} vertices.")
    membership = vertex_membership(vertex_labels, label_values)
    counts = np.diff(membership.indptr)
    if reduction in _LINEAR_REDUCTIONS:
        sums = membership @ data.astype(np.float64, copy=False)
        if reduction == "mean":
            sums = np.divide(sums, counts[:, np.newaxis], out=np.full(sums.shape, np.nan), where=counts[:, np.newaxis] > 0)
        else:
            sums[counts == 0] = np.nan
        return np.ascontiguousarray(sums.T)
    groups = [membership.indices[membership.indptr[k] : membership.indptr[k + 1]] for k in range(len(counts))]
    bound = _BoundGroups([group.astype(np.int64) for group in groups], reduction)
    bound.relocate(np.arange(data.shape[0]))
    return bound.compute(data.astype(np.float64, copy=False))


def vertex_maps_signals(data, maps) -> np.ndarray:
    """Least-squares fit of the maps to each sample (nilearn's ``SurfaceMapsMasker``).

    For each sample ``y`` the signals ``x`` minimise ``||maps @ x - y||``;
    maps without any non-zero weight get 0 (the minimum-norm solution, as
    ``scipy.linalg.lstsq``). Solved in float64 through the K x K normal
    matrix (SVD of the maps when it is ill-conditioned), as the volumetric
    maps extraction.

    Parameters
    ----------
    data : numpy.ndarray, shape (n_vertices,) or (n_vertices, n_samples)
    maps : numpy.ndarray, shape (n_vertices, n_maps)
        Map weights per vertex; non-finite weights count as 0.

    Returns
    -------
    numpy.ndarray of float64, shape (n_samples, n_maps)
    """
    data = _as_vertex_samples(data)
    maps = np.asarray(maps)
    if maps.ndim == 1:
        maps = maps[:, np.newaxis]
    if maps.shape[0] != data.shape[0]:
        raise ValueError(f"Maps of {maps.shape[0]} vertices for data of {data.shape[0]} vertices.")
    weights = scipy.sparse.csr_matrix(np.where(np.isfinite(maps), maps, 0.0).astype(np.float64).T)
    weights.eliminate_zeros()
    signals = np.zeros((maps.shape[1], data.shape[1]))
    kept = np.flatnonzero(np.diff(weights.indptr))
    if len(kept):
        kept_weights = weights[kept]
        solve = _least_squares_solver(kept_weights)
        signals[kept] = solve(kept_weights @ data.astype(np.float64, copy=False))
    return np.ascontiguousarray(signals.T)


def valid_vertices(data) -> np.ndarray:
    """Vertices whose series can be used: finite, and not constant when there are several samples.

    Parameters
    ----------
    data : numpy.ndarray, shape (n_vertices,) or (n_vertices, n_samples)

    Returns
    -------
    numpy.ndarray of bool, shape (n_vertices,)
    """
    data = _as_vertex_samples(data)
    valid = np.all(np.isfinite(data), axis=1)
    if data.shape[1] > 1:
        valid &= np.any(data != data[:, :1], axis=1)
    return valid


def vertex_coverage(weights, valid) -> np.ndarray:
    """Per region, the fraction of its weight on valid vertices.

    Parameters
    ----------
    weights : scipy.sparse matrix or numpy.ndarray, shape (n_regions, n_vertices)
        Non-negative region weights: :func:`vertex_membership` (labels,
        masked) or the absolute map weights (zero outside the mask).
    valid : numpy.ndarray of bool, shape (n_vertices,)
        See :func:`valid_vertices`.

    Returns
    -------
    numpy.ndarray of float64, shape (n_regions,)
        0 for a region without weight.
    """
    weights = scipy.sparse.csr_matrix(weights)
    covered = np.asarray(weights @ np.asarray(valid, dtype=float)).ravel()
    totals = np.asarray(weights.sum(axis=1)).ravel()
    return np.divide(covered, totals, out=np.zeros(len(totals)), where=totals > 0)


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
