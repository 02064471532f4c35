"""Surface images as parts: one array of per-vertex values per hemisphere.

A surface image here is anything shaped like nilearn 0.14.1's ``SurfaceImage``
(nilearn is never imported): ``img.mesh.parts`` and ``img.data.parts`` are
dicts keyed by part name (``"left"``, ``"right"``). Each mesh part has
``coordinates`` (n_vertices × 3, mm) and ``faces`` (n_faces × 3 vertex
indices); each data part is an array of shape (n_vertices,) or
(n_vertices, n_samples). :func:`is_surface_image`, :func:`data_parts`,
:func:`mesh_parts` and :func:`surface_image_like` deal with the object; the
other functions work on plain dicts of part name -> array, so that readers of
GIFTI/CIFTI files can use them without any image class.

Sizes of clusters are in vertices; two vertices are neighbours when they
share an edge of a face.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from .masks import _finite_copy_with_warning, check_mask_values

__all__ = [
    "PartMesh",
    "is_surface_image",
    "data_parts",
    "mesh_parts",
    "surface_image_like",
    "concatenate_parts",
    "check_compatible_meshes",
    "surface_mask_parts",
    "vertex_adjacency",
    "remove_small_clusters",
]


class PartMesh(NamedTuple):
    """The mesh of one part (hemisphere).

    Attributes
    ----------
    coordinates : numpy.ndarray, shape (n_vertices, 3)
        Vertex positions (mm).
    faces : numpy.ndarray of int, shape (n_faces, 3)
        Indices of the three vertices of each triangle.
    """

    coordinates: np.ndarray
    faces: np.ndarray

    @property
    def n_vertices(self) -> int:
        """Number of vertices."""
        return int(self.coordinates.shape[0])


def _has_parts(obj) -> bool:
    return isinstance(getattr(obj, "parts", None), dict)


def is_surface_image(obj) -> bool:
    """Whether ``obj`` is shaped like a surface image (``.mesh.parts`` and ``.data.parts``).

    Parameters
    ----------
    obj : object

    Returns
    -------
    bool
        True for nilearn's ``SurfaceImage`` and any object with a ``mesh`` and
        a ``data`` attribute that each hold a ``parts`` dict.
    """
    return _has_parts(getattr(obj, "mesh", None)) and _has_parts(getattr(obj, "data", None))


def data_parts(img) -> dict[str, np.ndarray]:
    """The data of a surface image, part by part (the image's own arrays, not copies).

    Parameters
    ----------
    img : surface image
        See :func:`is_surface_image`.

    Returns
    -------
    dict of str to numpy.ndarray
        Part name -> array of shape (n_vertices,) or (n_vertices, n_samples).
    """
    return {name: np.asarray(values) for name, values in img.data.parts.items()}


def mesh_parts(img) -> dict[str, PartMesh]:
    """Part name -> coordinates and faces of a surface image's mesh.

    A part that nilearn reads from a file (``FileMesh``) is loaded here, once.

    Parameters
    ----------
    img : surface image (see :func:`is_surface_image`)

    Returns
    -------
    dict of str to PartMesh
    """
    return {
        name: PartMesh(np.asarray(mesh.coordinates), np.asarray(mesh.faces))
        for name, mesh in img.mesh.parts.items()
    }


def surface_image_like(img, parts: dict[str, np.ndarray]):
    """A new surface image of ``img``'s class, on ``img``'s mesh, holding ``parts``.

    Built as ``type(img)(mesh=img.mesh, data=parts)``, the constructor of
    nilearn's ``SurfaceImage`` (the mesh object is shared, not copied).

    Parameters
    ----------
    img : surface image
        Reference image; see :func:`is_surface_image`.
    parts : dict of str to numpy.ndarray
        Part name -> data, one row per vertex of that part of the mesh.

    Returns
    -------
    object of the class of ``img``
    """
    return type(img)(mesh=img.mesh, data=dict(parts))


def concatenate_parts(parts: dict[str, np.ndarray]) -> np.ndarray:
    """The parts stacked along the vertex axis, in the dict's order (a copy).

    Parameters
    ----------
    parts : dict of str to numpy.ndarray
        Arrays of shape (n_vertices,) or (n_vertices, n_samples), all of the
        same number of dimensions.

    Returns
    -------
    numpy.ndarray
        Shape (total n_vertices,) or (total n_vertices, n_samples).
    """
    return np.concatenate(list(parts.values()), axis=0)


def check_compatible_meshes(
    meshes: dict[str, PartMesh], reference: dict[str, PartMesh], *, stacklevel: int = 2
) -> None:
    """Check that two meshes have the same parts with the same numbers of vertices.

    The rule of nilearn's ``check_polymesh_equal``, with its messages.

    Parameters
    ----------
    meshes, reference : dict of str to PartMesh
    stacklevel : int, default=2
        Passed to :func:`warnings.warn` (2: the line that calls this function).

    Raises
    ------
    ValueError
        If the part names differ, or a part has another number of vertices.

    Warns
    -----
    RuntimeWarning
        If the numbers of vertices agree but coordinates or faces differ.
    """
    offending = set(meshes).symmetric_difference(reference)
    if offending:
        raise ValueError(f"PolyMeshes do not have the same keys. Offending keys: {offending}")
    identical = True
    for name, mesh in meshes.items():
        other = reference[name]
        if mesh.n_vertices != other.n_vertices:
            raise ValueError(
                "Number of vertices do not match for between meshes.\n"
                f"part {name!r}: {mesh.n_vertices} and {other.n_vertices} vertices."
            )
        identical = (
            identical
            and np.array_equal(mesh.coordinates, other.coordinates)
            and np.array_equal(mesh.faces, other.faces)
        )
    if not identical:
        warnings.warn(
            "Meshes are not identical but have compatible number of vertices.",
            RuntimeWarning,
            stacklevel=stacklevel,
        )


def surface_mask_parts(mask_parts: dict[str, np.ndarray], name: str = "mask_img") -> dict[str, np.ndarray]:
    """Validate a surface mask with nilearn's strict rule and make it boolean.

    Each part must be 1D (one value per vertex); NaN/±inf count as 0 (with
    nilearn's "Non-finite values detected" warning); over all parts together
    the values must be one non-zero value, or two values one of which is 0.
    The input arrays are not modified.

    Parameters
    ----------
    mask_parts : dict of str to numpy.ndarray
    name : str, default="mask_img"
        How the mask is named in messages.

    Returns
    -------
    dict of str to numpy.ndarray of bool
        Part name -> True for the vertices inside the mask.

    Raises
    ------
    ValueError
        A part that is not 1D; an empty mask; background not 0; more than two values.
    """
    if any(np.ndim(values) != 1 for values in mask_parts.values()):
        found = ", ".join(f"{np.ndim(values)}D for {part}" for part, values in mask_parts.items())
        raise ValueError(f"Data for each part of img should be 1D. Found: {found}. Mask: {name}.")
    finite = _finite_copy_with_warning(concatenate_parts(mask_parts))
    check_mask_values(finite, name)
    inside = finite.astype(bool)
    boundaries = np.cumsum([len(values) for values in mask_parts.values()])[:-1]
    return dict(zip(mask_parts, np.split(inside, boundaries)))


def vertex_adjacency(faces: np.ndarray, n_vertices: int) -> sparse.csr_matrix:
    """Boolean vertex adjacency of a triangle mesh (symmetric, no self-loops).

    Parameters
    ----------
    faces : numpy.ndarray of int, shape (n_faces, 3)
        Vertex indices of each triangle.
    n_vertices : int

    Returns
    -------
    scipy.sparse.csr_matrix of bool, shape (n_vertices, n_vertices)
        True where two vertices share an edge.
    """
    faces = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    sources = faces[:, [0, 0, 1]].ravel()
    targets = faces[:, [1, 2, 2]].ravel()
    edges = np.ones(2 * sources.size, dtype=bool)
    rows = np.concatenate([sources, targets])
    cols = np.concatenate([targets, sources])
    adjacency = sparse.coo_matrix((edges, (rows, cols)), shape=(n_vertices, n_vertices)).tocsr()
    adjacency.setdiag(False)
    adjacency.eliminate_zeros()
    return adjacency


def remove_small_clusters(values: np.ndarray, faces: np.ndarray, cluster_threshold: int) -> None:
    """Zero, in place, the clusters of fewer than ``cluster_threshold`` vertices.

    A cluster is a set of vertices of the same sign connected through edges of
    the mesh; positive and negative clusters are evaluated separately (as
    nilearn does for volumes), and each sample (column) on its own.

    Parameters
    ----------
    values : numpy.ndarray, shape (n_vertices,) or (n_vertices, n_samples)
        Thresholded values (0 is background); modified in place.
    faces : numpy.ndarray of int, shape (n_faces, 3)
    cluster_threshold : int
        Minimum cluster size (vertices).

    Raises
    ------
    ValueError
        If ``values`` is not 1D or 2D.
    """
    if values.ndim not in (1, 2):
        raise ValueError(f"Surface data must be 1D or 2D (vertices × samples), got shape {values.shape}.")
    adjacency = vertex_adjacency(faces, values.shape[0])
    samples = values[:, np.newaxis] if values.ndim == 1 else values
    for index in range(samples.shape[1]):
        sample = samples[:, index]
        for selected in (np.flatnonzero(sample > 0), np.flatnonzero(sample < 0)):
            if selected.size == 0:
                continue
            _, cluster_of_vertex = connected_components(adjacency[selected][:, selected], directed=False)
            sizes = np.bincount(cluster_of_vertex)
            sample[selected[sizes[cluster_of_vertex] < cluster_threshold]] = 0
