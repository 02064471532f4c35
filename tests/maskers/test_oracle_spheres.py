"""NiftiSpheresMasker and SpheresOperator against nilearn 0.14.1 (reference section 8.4)."""

from __future__ import annotations

import warnings

import nibabel as nib
import numpy as np
import pytest
from nilearn import maskers as nilearn_maskers
from nilearn.maskers.nifti_spheres_masker import apply_mask_and_get_affinity

from regionseries.core.extract import SpheresOperator
from regionseries.maskers import NiftiSpheresMasker

OFFSET = (-30.0, -31.5, -27.0)


def nilearn_voxel_sets(seeds, img, radius, mask_img=None):
    """Voxel (i, j, k) sets of nilearn's spheres."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, adjacency = apply_mask_and_get_affinity(seeds, img, radius, True, mask_img=mask_img)
    shape = img.shape[:3]
    if mask_img is None:
        candidates = np.array(list(np.ndindex(shape)))
    else:
        candidates = np.array(np.nonzero(np.asanyarray(mask_img.dataobj))).T
    return [{tuple(candidates[c]) for c in row} for row in adjacency.rows]


def our_voxel_sets(seeds, shape, affine, radius, mask=None, quirk=False):
    op = SpheresOperator(seeds, radius, shape, affine, allow_overlap=True, nilearn_truncation_quirk=quirk)
    return [
        {tuple(v) for v in np.array(np.unravel_index(flat, shape, order="F")).T}
        for flat in op.sphere_voxels(mask)
    ]


def transform_both(imgs, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = nilearn_maskers.NiftiSpheresMasker(**params).fit_transform(imgs)
    got = NiftiSpheresMasker(**params).fit_transform(imgs)
    return got, expected


@pytest.fixture
def img(mk):
    return nib.Nifti1Image(mk.random_bold(n_volumes=8), mk.grid_affine(3.0, OFFSET))


@pytest.mark.parametrize(
    "seed, radius",
    [((0, 0, 0), None), ((0, 0, 0), 3.0), ((0, 0, 0), 4.0), ((1.4, -2.0, 3.3), 6.0), ((1.5, 1.5, 1.5), None),
     ((-20.2, 10.7, 8.0), 9.5), ((26.0, 30.0, 20.0), 7.0)],
)
def test_voxel_sets_are_exactly_nilearn(mk, img, seed, radius):
    expected = nilearn_voxel_sets([seed], img, radius)
    assert our_voxel_sets([seed], mk.SHAPE, img.affine, radius) == expected
    got, reference = transform_both(img, seeds=[seed], radius=radius)
    np.testing.assert_allclose(got, reference, rtol=2e-6)
    assert got.dtype == reference.dtype == np.float32


@pytest.mark.parametrize("radius", [3.0, 6.0, 9.5])
@pytest.mark.parametrize("with_mask", [False, True])
def test_float64_means_are_bit_identical(mk, radius, with_mask):
    """float64 data: nilearn's np.mean to the bit (voxels summed in nilearn's C order, then divided)."""
    data = mk.random_bold(n_volumes=6, dtype=np.float64)
    img = nib.Nifti1Image(data, mk.grid_affine(3.0, OFFSET))
    mask_img = None
    if with_mask:
        mask = np.zeros(mk.SHAPE, np.int8)
        mask[:, ::2] = 1
        mask_img = nib.Nifti1Image(mask, img.affine)
    seeds = [(0.0, 0.0, 0.0), (1.4, -2.0, 3.3), (-20.2, 10.7, 8.0)]
    got, expected = transform_both(img, seeds=seeds, radius=radius, mask_img=mask_img, allow_overlap=True)
    assert got.dtype == expected.dtype == np.float64
    np.testing.assert_array_equal(got, expected)


def test_voxel_sets_with_a_mask(mk, img):
    mask = np.ones(mk.SHAPE, dtype=np.uint8)
    mask[:10] = 0
    mask_img = nib.Nifti1Image(mask, img.affine)
    seeds = [(0.0, 0.0, 0.0), (3.0, -6.0, 4.0), (10.0, 10.0, 10.0)]
    assert our_voxel_sets(seeds, mk.SHAPE, img.affine, 6.0, mask.astype(bool)) == nilearn_voxel_sets(
        seeds, img, 6.0, mask_img
    )
    got, expected = transform_both(img, seeds=seeds, radius=6.0, mask_img=mask_img, allow_overlap=True)
    np.testing.assert_allclose(got, expected, rtol=2e-6)


def test_inclusive_boundary_counts(mk):
    affine = mk.grid_affine(3.0, (0.0, 0.0, 0.0))
    img = nib.Nifti1Image(np.zeros(mk.SHAPE + (1,), np.float32), affine)
    for radius, count in [(3.0, 7), (2.9999999, 1), (3 * np.sqrt(2), 19), (3 * np.sqrt(3), 27), (6.0, 33)]:
        expected = nilearn_voxel_sets([(30.0, 30.0, 30.0)], img, radius)
        assert our_voxel_sets([(30.0, 30.0, 30.0)], mk.SHAPE, affine, radius) == expected
        assert len(expected[0]) == count


def test_truncation_quirk_on_a_1mm_grid(mk):
    """nilearn adds the voxel whose truncated world coordinates equal the seed's."""
    shape = (11, 11, 11)
    affine = mk.grid_affine(1.0, (-5.0, -5.0, -5.0))
    data = np.random.default_rng(3).normal(50, 1, shape + (6,)).astype(np.float32)
    img = nib.Nifti1Image(data, affine)
    seeds = [(0.7, 0.7, 0.7), (-0.7, -0.7, -0.7), (2.6, 0.2, 0.2)]
    expected = nilearn_voxel_sets(seeds, img, None)
    assert all(len(voxels) == 2 for voxels in expected)
    assert our_voxel_sets(seeds, shape, affine, None, quirk=True) == expected
    ours = our_voxel_sets(seeds, shape, affine, None)
    assert all(len(voxels) == 1 for voxels in ours)  # the nearest voxel only (documented difference)
    assert all(a <= b for a, b in zip(ours, expected))
    # With a radius >= sqrt(3) mm the quirk voxel is always in the sphere: no difference.
    assert our_voxel_sets(seeds, shape, affine, 1.8) == nilearn_voxel_sets(seeds, img, 1.8)


def test_seed_outside_the_image_and_in_the_masked_out_area(mk, img):
    with pytest.raises(ValueError, match=r"These spheres are empty: \[0\].*\(500, 0, 0\) mm"):
        NiftiSpheresMasker([(500.0, 0.0, 0.0)], radius=5.0).fit_transform(img)
    mask = np.ones(mk.SHAPE, dtype=np.uint8)
    mask[:10] = 0
    with pytest.raises(ValueError, match=r"These spheres are empty: \[0\]. No voxel .* inside the mask"):
        NiftiSpheresMasker([(-20.0, 0.0, 0.0)], radius=5.0, mask_img=nib.Nifti1Image(mask, img.affine)).fit_transform(img)


def test_overlapping_spheres(mk, img):
    seeds = [(0.0, 0.0, 0.0), (3.0, 0.0, 0.0)]
    first, second = nilearn_voxel_sets(seeds, img, 6.0)
    shared = len(first & second)
    assert shared > 0
    with pytest.raises(ValueError, match=f"Overlap detected between spheres: 'seed 0' and 'seed 1' share {shared} voxels"):
        NiftiSpheresMasker(seeds, radius=6.0).fit_transform(img)
    got, expected = transform_both(img, seeds=seeds, radius=6.0, allow_overlap=True)
    np.testing.assert_allclose(got, expected, rtol=2e-6)


def test_nan_in_the_data(mk, img):
    data = np.asanyarray(img.dataobj).copy()
    data[10, 11, 9, :] = np.nan
    nan_img = nib.Nifti1Image(data, img.affine)
    with pytest.warns(UserWarning, match="Non-finite values detected"):
        got = NiftiSpheresMasker([(0.0, 0.0, 0.0)], radius=6.0).fit_transform(nan_img)
    _, expected = transform_both(nan_img, seeds=[(0.0, 0.0, 0.0)], radius=6.0)
    np.testing.assert_allclose(got, expected, rtol=2e-6)


def test_int16_means_are_not_truncated(mk, img):
    """nilearn truncates int16 sphere means toward zero (QUIRK); we keep the mean."""
    data = np.round(np.asanyarray(img.dataobj) * 2).astype(np.int16)
    int_img = nib.Nifti1Image(data, img.affine)
    got, expected = transform_both(int_img, seeds=[(0.0, 0.0, 0.0)], radius=6.0)
    assert got.dtype == expected.dtype == np.float32
    (voxels,) = our_voxel_sets([(0.0, 0.0, 0.0)], mk.SHAPE, img.affine, 6.0)
    true_mean = np.mean([data[v] for v in voxels], axis=0, dtype=np.float64)
    np.testing.assert_allclose(got[:, 0], true_mean, rtol=1e-6)
    np.testing.assert_array_equal(expected[:, 0], np.trunc(true_mean).astype(np.float32))


def test_3d_input_shapes(mk, img):
    volume = nib.Nifti1Image(np.asanyarray(img.dataobj)[..., 0], img.affine)
    got, expected = transform_both(volume, seeds=[(0.0, 0.0, 0.0), (15.0, 15.0, 15.0)], radius=3.0)
    assert got.shape == expected.shape == (2,)
    got, expected = transform_both(volume, seeds=[(0.0, 0.0, 0.0)], radius=3.0)
    assert got.shape == expected.shape == ()
    np.testing.assert_allclose(got, expected, rtol=2e-6)


def test_inverse_transform_averages_overlaps(mk, img):
    mask = np.ones(mk.SHAPE, dtype=np.uint8)
    mask[:6] = 0
    mask_img = nib.Nifti1Image(mask, img.affine)
    params = dict(seeds=[(0.0, 0.0, 0.0), (3.0, 0.0, 0.0)], radius=6.0, mask_img=mask_img, allow_overlap=True)
    signals = np.array([[1.0, 3.0], [2.0, 6.0]], dtype=np.float32)
    ours = NiftiSpheresMasker(**params).fit()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = nilearn_maskers.NiftiSpheresMasker(**params).fit()
        expected = theirs.inverse_transform(signals)
    image = ours.inverse_transform(signals)
    np.testing.assert_allclose(np.asanyarray(image.dataobj), np.asanyarray(expected.dataobj))
    with pytest.raises(ValueError, match="Please provide mask_img at initialization"):
        NiftiSpheresMasker(seeds=[(0.0, 0.0, 0.0)], radius=6.0).fit().inverse_transform(signals[:, :1])


def test_seed_validation_errors():
    with pytest.raises(ValueError, match="Given seed list is of type: <class 'int'>"):
        NiftiSpheresMasker(seeds=3).fit()
    with pytest.raises(ValueError, match="Seed #0 is of length 2 instead of 3"):
        NiftiSpheresMasker(seeds=[(1, 2)]).fit()
