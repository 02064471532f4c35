"""core.image.surface: surface parts as plain arrays (known answers, nilearn's mesh as oracle)."""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import nibabel as nib
import numpy as np
import pytest
from nilearn.datasets import load_fsaverage
from nilearn.surface import InMemoryMesh, PolyMesh, SurfaceImage
from nilearn.surface.surface import compute_adjacency_matrix

from regionseries.core.image.surface import (
    PartMesh,
    check_compatible_meshes,
    concatenate_parts,
    data_parts,
    is_surface_image,
    mesh_parts,
    remove_small_clusters,
    surface_image_like,
    surface_mask_parts,
    vertex_adjacency,
)

# A strip of 4 triangles over 6 vertices: 0-1-2 on top, 3-4-5 below.
#   0---1---2
#   | \ | \ |
#   3---4---5
STRIP_FACES = np.array([[0, 3, 4], [0, 4, 1], [1, 4, 5], [1, 5, 2]])
STRIP_EDGES = {(0, 1), (1, 2), (3, 4), (4, 5), (0, 3), (0, 4), (1, 4), (1, 5), (2, 5)}
# Two triangles that share no vertex: 0-1-2 and 3-4-5.
TWO_ISLANDS_FACES = np.array([[0, 1, 2], [3, 4, 5]])


@pytest.fixture(scope="module")
def fsaverage5_pial():
    return load_fsaverage("fsaverage5")["pial"]


def test_vertex_adjacency_of_a_strip():
    adjacency = vertex_adjacency(STRIP_FACES, 6)
    assert adjacency.dtype == bool
    edges = {(int(i), int(j)) for i, j in zip(*adjacency.nonzero()) if i < j}
    assert edges == STRIP_EDGES
    assert (adjacency != adjacency.T).nnz == 0
    assert not adjacency.diagonal().any()


def test_vertex_adjacency_is_nilearns_on_fsaverage5(fsaverage5_pial):
    mesh = fsaverage5_pial.parts["left"]
    ours = vertex_adjacency(mesh.faces, mesh.n_vertices)
    theirs = compute_adjacency_matrix(mesh).astype(bool)
    assert ours.shape == (10242, 10242)
    assert (ours != theirs).nnz == 0


def test_remove_small_clusters_known_answer():
    # Positive cluster {0, 1, 2} and negative cluster {3, 4, 5}, 3 vertices each.
    values = np.array([1.0, 2.0, 5.0, -1.0, -2.0, -3.0])
    remove_small_clusters(values, STRIP_FACES, 3)
    np.testing.assert_array_equal(values, [1.0, 2.0, 5.0, -1.0, -2.0, -3.0])
    remove_small_clusters(values, STRIP_FACES, 4)
    np.testing.assert_array_equal(values, np.zeros(6))


def test_remove_small_clusters_counts_each_sign_apart():
    # 0, 1 positive and 3, 4 negative all touch each other: one cluster of 4 vertices if signs
    # were merged, two clusters of 2 per sign.
    values = np.array([1.0, 1.0, 0.0, -1.0, -1.0, 0.0])
    remove_small_clusters(values, STRIP_FACES, 3)
    np.testing.assert_array_equal(values, np.zeros(6))
    values = np.array([1.0, 1.0, 0.0, -1.0, -1.0, 0.0])
    remove_small_clusters(values, STRIP_FACES, 2)
    np.testing.assert_array_equal(values, [1.0, 1.0, 0.0, -1.0, -1.0, 0.0])


def test_remove_small_clusters_per_sample_in_place_any_dtype():
    values = np.array([[1, 1], [1, 0], [1, 0], [0, 0], [0, 1], [0, 1]], dtype=np.uint8)
    remove_small_clusters(values, TWO_ISLANDS_FACES, 3)
    assert values.dtype == np.uint8
    # Sample 0: island {0, 1, 2} complete (3 vertices); sample 1: {0} and {4, 5}, both too small.
    np.testing.assert_array_equal(values, [[1, 0], [1, 0], [1, 0], [0, 0], [0, 0], [0, 0]])


def test_remove_small_clusters_refuses_3d():
    with pytest.raises(ValueError, match="1D or 2D"):
        remove_small_clusters(np.ones((6, 2, 2)), STRIP_FACES, 2)


def test_surface_mask_parts_known_answer_and_input_untouched():
    mask = {"left": np.array([0.0, 2.0, np.nan]), "right": np.array([2.0, 0.0])}
    with pytest.warns(UserWarning, match="Non-finite values detected. These values will be replaced with zeros."):
        inside = surface_mask_parts(mask)
    assert list(inside) == ["left", "right"]
    np.testing.assert_array_equal(inside["left"], [False, True, False])
    np.testing.assert_array_equal(inside["right"], [True, False])
    assert inside["left"].dtype == bool
    assert np.isnan(mask["left"][2])


@pytest.mark.parametrize(
    "left, right, message",
    [
        (np.zeros(3), np.zeros(2), "The mask is invalid as it is empty: it masks all data. Mask: mask_img."),
        (np.array([1, 2, 1]), np.ones(2), r"Background of the mask must be represented with 0. Given mask contains: \[1. 2.\]"),
        (np.array([0, 1, 2]), np.ones(2), "Given mask is not made of 2 values"),
        (np.ones((3, 1)), np.ones((2, 1)), "Data for each part of img should be 1D. Found: 2D for left, 2D for right."),
    ],
)
def test_surface_mask_parts_nilearn_rule(left, right, message):
    with pytest.raises(ValueError, match=message):
        surface_mask_parts({"left": left, "right": right})


def test_surface_mask_parts_single_value_is_a_full_mask():
    inside = surface_mask_parts({"right": np.full(4, 3.0)})
    np.testing.assert_array_equal(inside["right"], np.ones(4, bool))


def test_check_compatible_meshes():
    strip = PartMesh(np.arange(18.0).reshape(6, 3), STRIP_FACES)
    moved = PartMesh(strip.coordinates + 1.0, STRIP_FACES)
    smaller = PartMesh(np.zeros((5, 3)), STRIP_FACES[:2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_compatible_meshes({"left": strip}, {"left": PartMesh(strip.coordinates.copy(), STRIP_FACES.copy())})
    with pytest.warns(RuntimeWarning, match="Meshes are not identical but have compatible number of vertices."):
        check_compatible_meshes({"left": moved, "right": strip}, {"left": strip, "right": strip})
    with pytest.raises(ValueError, match=r"PolyMeshes do not have the same keys. Offending keys: \{'right'\}"):
        check_compatible_meshes({"left": strip}, {"left": strip, "right": strip})
    with pytest.raises(ValueError, match="Number of vertices do not match for between meshes.\npart 'left': 5 and 6"):
        check_compatible_meshes({"left": smaller}, {"left": strip})


def test_concatenate_parts_keeps_the_dict_order():
    parts = {"right": np.array([[3, 4]]), "left": np.array([[1, 2], [5, 6]])}
    np.testing.assert_array_equal(concatenate_parts(parts), [[3, 4], [1, 2], [5, 6]])


def _strip_surface(values):
    mesh = PolyMesh(left=InMemoryMesh(np.arange(18.0).reshape(6, 3), STRIP_FACES))
    return SurfaceImage(mesh, {"left": values})


def test_the_surface_image_is_recognised_by_its_shape():
    img = _strip_surface(np.arange(6.0))
    assert is_surface_image(img)
    assert not is_surface_image(nib.Nifti1Image(np.zeros((2, 2, 2), np.float32), np.eye(4)))
    assert not is_surface_image(SimpleNamespace(mesh=SimpleNamespace(parts={}), data=np.zeros(3)))
    assert not is_surface_image("lh.pial.gii")
    duck = SimpleNamespace(mesh=SimpleNamespace(parts={}), data=SimpleNamespace(parts={}))
    assert is_surface_image(duck)


def test_parts_and_image_like_on_nilearns_surface_image():
    img = _strip_surface(np.arange(6.0))
    parts = data_parts(img)
    assert parts["left"] is img.data.parts["left"]
    meshes = mesh_parts(img)
    assert meshes["left"].n_vertices == 6
    np.testing.assert_array_equal(meshes["left"].faces, STRIP_FACES)
    new = surface_image_like(img, {"left": np.ones(6)})
    assert type(new) is SurfaceImage
    assert new.mesh is img.mesh
    np.testing.assert_array_equal(new.data.parts["left"], np.ones(6))
    np.testing.assert_array_equal(img.data.parts["left"], np.arange(6.0))


def test_surface_image_like_builds_the_inputs_own_class():
    class OwnSurface:
        def __init__(self, mesh, data):
            self.mesh = mesh
            self.data = SimpleNamespace(parts=data)

    img = OwnSurface(SimpleNamespace(parts={}), {"left": np.zeros(2)})
    new = surface_image_like(img, {"left": np.ones(2)})
    assert type(new) is OwnSurface and new.mesh is img.mesh
    np.testing.assert_array_equal(new.data.parts["left"], np.ones(2))
