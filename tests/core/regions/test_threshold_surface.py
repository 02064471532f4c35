"""threshold_img on surface images against nilearn 0.14.1 (fsaverage5 from nilearn's wheel)."""

from __future__ import annotations

import copy
from fractions import Fraction
from types import SimpleNamespace

import nibabel as nib
import numpy as np
import pytest
from nilearn.datasets import load_fsaverage, load_fsaverage_data
from nilearn.image import threshold_img as nilearn_threshold_img
from nilearn.surface import InMemoryMesh, PolyMesh, SurfaceImage
from nilearn.surface.surface import find_surface_clusters
from scipy.stats import scoreatpercentile

from regionseries.image import threshold_img


@pytest.fixture(scope="module")
def mesh():
    return load_fsaverage("fsaverage5")["pial"]


@pytest.fixture(scope="module")
def sulcal(mesh):
    """fsaverage5's sulcal depth (float32, 1D parts), on the pial mesh."""
    data = load_fsaverage_data(mesh="fsaverage5", data_type="sulcal")
    return SurfaceImage(mesh, {name: values.copy() for name, values in data.data.parts.items()})


def _random(mesh, n_samples=None, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    shape = lambda n: (n,) if n_samples is None else (n, n_samples)  # noqa: E731
    return SurfaceImage(
        mesh,
        {name: rng.normal(size=shape(part.n_vertices)).astype(dtype) for name, part in mesh.parts.items()},
    )


def _front_mask(mesh, dtype=np.uint8):
    """1 for the vertices in front of y = -20 mm (about half of each hemisphere)."""
    return SurfaceImage(
        mesh, {name: (part.coordinates[:, 1] > -20).astype(dtype) for name, part in mesh.parts.items()}
    )


def _assert_same(ours, theirs):
    assert type(ours) is type(theirs)
    assert list(ours.data.parts) == list(theirs.data.parts)
    for name, values in theirs.data.parts.items():
        assert ours.data.parts[name].dtype == values.dtype
        np.testing.assert_array_equal(ours.data.parts[name], values)


CASES = [
    (1.0, True), (1.0, False), (-1.0, False), ("97%", True), ("97%", False),
    ("50%", False), ("0%", True), ("100%", True), (0, True),
]


@pytest.mark.parametrize("with_mask", [False, True], ids=["no-mask", "mask"])
@pytest.mark.parametrize("threshold, two_sided", CASES, ids=[f"{t}-{s}" for t, s in CASES])
def test_threshold_surface_exact(mk, mesh, sulcal, threshold, two_sided, with_mask):
    mask = _front_mask(mesh) if with_mask else None
    for img in (sulcal, _random(mesh, n_samples=3, seed=1)):
        ours = threshold_img(img, threshold, two_sided=two_sided, mask_img=mask)
        theirs = mk.nilearn_quiet(nilearn_threshold_img, copy.deepcopy(img), threshold, two_sided=two_sided,
                        mask_img=copy.deepcopy(mask))
        _assert_same(ours, theirs)


def test_percentile_is_taken_over_all_parts_together():
    left = np.array([0.0, 1.0, 2.0, 3.0])
    right = np.array([0.0, 10.0, 20.0, 30.0, 40.0])
    img = _tiny_surface(left, right)
    # Over both parts the median is 3 (left alone it would be 1.5 and keep 2 and 3).
    cutoff = scoreatpercentile(np.concatenate([left, right]), 50) + 1e-5
    assert cutoff == 3 + 1e-5
    ours = threshold_img(img, "50%")
    np.testing.assert_array_equal(ours.data.parts["left"], np.zeros(4))
    np.testing.assert_array_equal(ours.data.parts["right"], [0.0, 10.0, 20.0, 30.0, 40.0])


def _tiny_surface(left, right):
    """nilearn's test mesh: a tetrahedron (left) and a pyramid (right)."""
    tetrahedron = InMemoryMesh(
        np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]),
        np.array([[1, 0, 2], [0, 1, 3], [0, 3, 2], [1, 2, 3]]),
    )
    pyramid = InMemoryMesh(
        np.array([[0.0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1]]) + 2.0,
        np.array([[0, 1, 4], [0, 3, 1], [1, 3, 2], [1, 2, 4], [2, 3, 4], [0, 4, 3]]),
    )
    return SurfaceImage(PolyMesh(left=tetrahedron, right=pyramid), {"left": left, "right": right})


def test_float_above_the_maximum_warns_as_nilearn(mk, sulcal):
    with pytest.warns(UserWarning, match=r"The given float value must not exceed .* threshold=100.0"):
        ours = threshold_img(sulcal, 100.0)
    _assert_same(ours, mk.nilearn_quiet(nilearn_threshold_img, sulcal, 100.0))
    assert not any(values.any() for values in ours.data.parts.values())


@pytest.mark.parametrize("threshold", [0.5, 1.5, "90%"])
def test_cluster_threshold_equals_nilearn_when_one_sign_survives(mk, mesh, sulcal, threshold):
    for img in (sulcal, _random(mesh, seed=2)):
        ours = threshold_img(img, threshold, two_sided=False, cluster_threshold=5)
        theirs = mk.nilearn_quiet(nilearn_threshold_img, img, threshold, two_sided=False, cluster_threshold=5)
        _assert_same(ours, theirs)
        without = threshold_img(img, threshold, two_sided=False)
        removed = sum(int(((without.data.parts[n] != 0) & (ours.data.parts[n] == 0)).sum()) for n in mesh.parts)
        assert removed > 0


def _per_sign_clusters(mesh, values, cluster_threshold):
    """Independent filter with nilearn's surface clustering run on each sign apart."""
    out = values.copy()
    for selected in (values > 0, values < 0):
        clusters, labels = find_surface_clusters(mesh, selected)
        small = clusters.loc[clusters["size"] < cluster_threshold, "index"]
        out[np.isin(labels, list(small))] = 0
    return out


def test_cluster_threshold_counts_each_sign_apart(mk, mesh):
    """nilearn joins touching positive and negative vertices into one surface cluster (documented difference)."""
    img = _random(mesh, seed=3)
    ours = threshold_img(img, 1.0, cluster_threshold=4)
    voxelwise = threshold_img(img, 1.0)
    for name, part in mesh.parts.items():
        expected = _per_sign_clusters(part, voxelwise.data.parts[name], 4)
        np.testing.assert_array_equal(ours.data.parts[name], expected)
        assert (expected > 0).any() and (expected < 0).any()
    theirs = mk.nilearn_quiet(nilearn_threshold_img, img, 1.0, cluster_threshold=4)
    assert any(not np.array_equal(ours.data.parts[n], theirs.data.parts[n]) for n in mesh.parts)


def test_cluster_threshold_on_samples_is_per_sample(mk, mesh):
    """nilearn fails with an IndexError on (n_vertices, n_samples) parts (documented difference)."""
    img = _random(mesh, n_samples=3, seed=4)
    ours = threshold_img(img, 1.5, cluster_threshold=3)
    for sample in range(3):
        one = SurfaceImage(mesh, {name: values[:, sample].copy() for name, values in img.data.parts.items()})
        single = threshold_img(one, 1.5, cluster_threshold=3)
        # The cut-off is a value, so each sample alone gives the same voxel-wise result.
        for name in mesh.parts:
            np.testing.assert_array_equal(ours.data.parts[name][:, sample], single.data.parts[name])
    with pytest.raises(IndexError):
        mk.nilearn_quiet(nilearn_threshold_img, img, 1.5, cluster_threshold=3)


def test_non_finite_values_become_zero(mk, mesh):
    """nilearn warns that they "will be replaced with zeros" but returns them (documented difference)."""
    img = _random(mesh, seed=5, dtype=np.float32)
    img.data.parts["left"][[3, 7]] = [np.nan, np.inf]
    with pytest.warns(UserWarning, match="Non-finite values detected. These values will be replaced with zeros."):
        ours = threshold_img(img, "80%")
    assert ours.data.parts["left"][3] == 0 and ours.data.parts["left"][7] == 0
    assert np.isnan(img.data.parts["left"][3])  # copy=True leaves the input alone
    theirs = mk.nilearn_quiet(nilearn_threshold_img, copy.deepcopy(img), "80%")
    assert np.isnan(theirs.data.parts["left"][3])
    finite = {n: np.nan_to_num(v, nan=0.0, posinf=0.0) for n, v in img.data.parts.items()}
    _assert_same(ours, mk.nilearn_quiet(nilearn_threshold_img, SurfaceImage(mesh, finite), "80%"))


def test_copy_false_thresholds_the_input_arrays_in_place(mesh):
    img = _random(mesh, seed=6)
    arrays = dict(img.data.parts)
    result = threshold_img(img, 1.0, copy=False)
    for name, values in arrays.items():
        assert result.data.parts[name] is values
        assert img.data.parts[name] is values
        assert not ((np.abs(values) < 1.0) & (values != 0)).any()


def test_copy_true_leaves_the_input_and_keeps_its_class_and_mesh(mesh):
    img = _random(mesh, seed=7)
    before = copy.deepcopy(img.data.parts)
    result = threshold_img(img, 1.0)
    assert type(result) is SurfaceImage
    assert result.mesh is img.mesh
    for name, values in before.items():
        np.testing.assert_array_equal(img.data.parts[name], values)
        assert not np.shares_memory(result.data.parts[name], img.data.parts[name])


def test_the_mask_is_never_modified(mk, mesh, sulcal):
    """nilearn turns the caller's mask parts into booleans in place."""
    mask = _front_mask(mesh, dtype=np.float64)
    threshold_img(sulcal, "50%", mask_img=mask)
    assert all(values.dtype == np.float64 for values in mask.data.parts.values())
    theirs_mask = _front_mask(mesh, dtype=np.float64)
    mk.nilearn_quiet(nilearn_threshold_img, sulcal, "50%", mask_img=theirs_mask)
    assert all(values.dtype == bool for values in theirs_mask.data.parts.values())


def test_mask_on_another_mesh_of_the_same_size_warns(mesh, sulcal):
    inflated = load_fsaverage("fsaverage5")["inflated"]
    mask = _front_mask(mesh)
    on_inflated = SurfaceImage(inflated, mask.data)
    with pytest.warns(RuntimeWarning, match="Meshes are not identical but have compatible number of vertices."):
        ours = threshold_img(sulcal, 0.5, mask_img=on_inflated)
    _assert_same(ours, threshold_img(sulcal, 0.5, mask_img=mask))


@pytest.mark.parametrize("bad_mask", ["one hemisphere", "two samples"])
def test_mask_errors_as_nilearn(mk, mesh, sulcal, bad_mask):
    if bad_mask == "one hemisphere":
        mask = SurfaceImage(PolyMesh(left=mesh.parts["left"]), {"left": np.ones(10242, np.uint8)})
        message = r"PolyMeshes do not have the same keys. Offending keys: \{'right'\}"
    else:
        mask = SurfaceImage(mesh, {name: np.ones((p.n_vertices, 2), np.uint8) for name, p in mesh.parts.items()})
        message = "Data for each part of img should be 1D. Found: 2D for left, 2D for right."
    with pytest.raises(ValueError, match=message):
        threshold_img(sulcal, 0.5, mask_img=mask)
    with pytest.raises(ValueError, match=message):
        mk.nilearn_quiet(nilearn_threshold_img, sulcal, 0.5, mask_img=copy.deepcopy(mask))


def test_a_surface_of_another_class_is_thresholded_without_nilearn():
    class OwnSurface:
        def __init__(self, mesh, data):
            self.mesh = mesh
            self.data = SimpleNamespace(parts=data)

    faces = np.array([[0, 1, 2], [1, 2, 3]])
    part_mesh = SimpleNamespace(coordinates=np.zeros((4, 3)), faces=faces)
    img = OwnSurface(SimpleNamespace(parts={"left": part_mesh}), {"left": np.array([0.5, 2.0, -3.0, 1.0])})
    result = threshold_img(img, 1.0, two_sided=False)
    assert type(result) is OwnSurface
    np.testing.assert_array_equal(result.data.parts["left"], [0.0, 2.0, 0.0, 1.0])
    np.testing.assert_array_equal(img.data.parts["left"], [0.5, 2.0, -3.0, 1.0])


def _volume():
    return nib.Nifti1Image(np.random.default_rng(8).normal(size=(5, 6, 7)).astype(np.float32), np.eye(4))


@pytest.mark.parametrize(
    "make_args, message",
    [
        (lambda m, s: (1, None), r"'img' should be a 3D/4D Niimg-like object or a SurfaceImage. Got int."),
        (lambda m, s: ([_volume(), _volume()], None),
         r"'img' should be a 3D/4D Niimg-like object or a SurfaceImage. Got list."),
        (lambda m, s: (_volume(), _front_mask(m)), "Mask and input images must be of compatible types."),
        (lambda m, s: (s, nib.Nifti1Image(np.ones((5, 6, 7), np.uint8), np.eye(4))),
         "Mask and input images must be of compatible types."),
    ],
    ids=["int", "list", "volume-with-surface-mask", "surface-with-volume-mask"],
)
def test_input_type_errors_as_nilearn(mk, mesh, sulcal, make_args, message):
    img, mask = make_args(mesh, sulcal)
    with pytest.raises(TypeError, match=message):
        threshold_img(img, 1.0, mask_img=mask)
    with pytest.raises(TypeError, match=message):
        mk.nilearn_quiet(nilearn_threshold_img, img, 1.0, mask_img=mask)


@pytest.mark.parametrize("threshold", [object(), Fraction(1, 2), [1.0], np.bool_(True)],
                         ids=["object", "fraction", "list", "numpy-bool"])
def test_threshold_of_another_type_as_nilearn(mk, sulcal, threshold):
    message = r"'threshold' must be of type\(s\): 'float \| numpy.floating \| int \| numpy.integer \| None \| str'"
    for img in (sulcal, _volume()):
        with pytest.raises(TypeError, match=message):
            threshold_img(img, threshold)
        with pytest.raises(TypeError, match=message):
            mk.nilearn_quiet(nilearn_threshold_img, img, threshold)
