"""connected_regions and the random walker against nilearn 0.14.1 (section 8.6, items 5-6, 8).

Inputs: synthetic Gaussian blobs on a 3 mm grid (touching blobs the random walker must
split, a negative blob, noise), Gaussian maps on a 2 mm grid, and the NeuroVault
statistical map that ships inside nilearn's wheel (read in place). Every comparison
is exact: same region count, same index list, same region images.
"""

from __future__ import annotations

import warnings

import nibabel as nib
import numpy as np
import pytest
from nilearn._utils import segmentation as nilearn_segmentation
from nilearn.image import threshold_img as nilearn_threshold_img
from nilearn.regions import connected_regions as nilearn_connected_regions
from scipy import ndimage

from regionseries.core.image import get_data
from regionseries.core.regions import _drop_unreachable, _graph_laplacian, peak_local_max, random_walker
from regionseries.regions import connected_regions

EXTRACT_TYPES = ("connected_components", "local_regions")
SHAPE = (30, 32, 28)
AFFINE_3MM = np.array([[3.0, 0, 0, -45], [0, 3.0, 0, -48], [0, 0, 3.0, -40], [0, 0, 0, 1]])


def _quiet(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return func(*args, **kwargs)


def _blob(shape, centre, sigma, amplitude):
    grid = np.indices(shape).transpose(1, 2, 3, 0).astype(float)
    return amplitude * np.exp(-((grid - np.array(centre)) ** 2).sum(-1) / (2 * sigma**2))


def _blob_maps(seed=0):
    """Map 0: two touching blobs (peaks 15 voxels apart) plus a separate one, plus noise.
    Map 1: one positive and one negative blob plus noise. |values| < 0.3 are zeroed."""
    rng = np.random.default_rng(seed)
    map0 = (
        _blob(SHAPE, (5, 8, 8), 5.0, 1.0)
        + _blob(SHAPE, (20, 10, 9), 5.0, 0.9)
        + _blob(SHAPE, (10, 25, 20), 2.5, 1.2)
        + rng.normal(scale=0.1, size=SHAPE)
    )
    map1 = _blob(SHAPE, (15, 10, 20), 3, 1.0) - _blob(SHAPE, (22, 24, 8), 3, 1.0) + rng.normal(scale=0.1, size=SHAPE)
    maps = np.stack([map0, map1], axis=-1).astype(np.float32)
    maps[np.abs(maps) < 0.3] = 0
    return maps


BLOB_MAPS = _blob_maps()


def _compare(maps_img, **kwargs):
    theirs, their_index = _quiet(nilearn_connected_regions, maps_img, **kwargs)
    ours, our_index = _quiet(connected_regions, maps_img, **kwargs)
    if theirs is None:
        assert ours is None and our_index is None and their_index is None
        return None, None
    assert our_index == their_index
    ours_data, theirs_data = get_data(ours), get_data(theirs)
    assert ours_data.dtype == theirs_data.dtype
    assert ours_data.shape == theirs_data.shape
    np.testing.assert_array_equal(ours_data, theirs_data)
    np.testing.assert_array_equal(ours.affine, theirs.affine)
    return ours, our_index


@pytest.mark.parametrize("min_region_size", [0, 1080, 1350])
@pytest.mark.parametrize("extract_type", EXTRACT_TYPES)
def test_blob_maps_exact(extract_type, min_region_size):
    ours, index = _compare(
        nib.Nifti1Image(BLOB_MAPS, AFFINE_3MM), min_region_size=min_region_size, extract_type=extract_type
    )
    assert ours is not None and 1 in index and 0 in index


def test_random_walker_splits_touching_blobs():
    """The 8.6 input exercises the walker: map 0's big component becomes two regions."""
    img = nib.Nifti1Image(BLOB_MAPS[..., :1], AFFINE_3MM)
    components, _ = connected_regions(img, 1350, "connected_components")
    local, _ = connected_regions(img, 1350, "local_regions")
    assert local.shape[3] == components.shape[3] + 1


def test_local_regions_drop_purely_negative_blob():
    img = nib.Nifti1Image(BLOB_MAPS[..., 1:], AFFINE_3MM)
    components, _ = connected_regions(img, 1350, "connected_components")
    local, _ = connected_regions(img, 1350, "local_regions")
    assert (get_data(components) < 0).any()
    assert not (get_data(local) < 0).any()


@pytest.mark.parametrize("extract_type", EXTRACT_TYPES)
def test_min_region_size_is_strict(extract_type):
    img = nib.Nifti1Image(BLOB_MAPS, AFFINE_3MM)
    regions, _ = connected_regions(img, 0, extract_type)
    sizes = sorted({int((get_data(regions)[..., k] != 0).sum()) for k in range(regions.shape[3])})
    size = sizes[len(sizes) // 2]
    at_edge, _ = _compare(img, min_region_size=size * 27.0, extract_type=extract_type)
    at_edge_sizes = [int((get_data(at_edge)[..., k] != 0).sum()) for k in range(at_edge.shape[3])]
    assert min(at_edge_sizes) > size
    assert size not in at_edge_sizes


@pytest.mark.parametrize("extract_type", EXTRACT_TYPES)
def test_empty_map_warns_and_returns_none(extract_type):
    img = nib.Nifti1Image(np.zeros(SHAPE + (2,), np.float32), AFFINE_3MM)
    with pytest.warns(UserWarning, match="No supra threshold regions was found"):
        result = connected_regions(img, 0, extract_type)
    assert result == (None, None)
    _compare(img, min_region_size=0, extract_type=extract_type)


@pytest.mark.parametrize("extract_type", EXTRACT_TYPES)
def test_3d_input_is_one_map(extract_type):
    img = nib.Nifti1Image(BLOB_MAPS[..., 0], AFFINE_3MM)
    ours, index = _compare(img, min_region_size=1080, extract_type=extract_type)
    assert set(index) == {0} and ours.ndim == 4


@pytest.mark.parametrize("extract_type", EXTRACT_TYPES)
def test_mask_on_half_the_volume(extract_type):
    mask = np.zeros(SHAPE, np.uint8)
    mask[:15] = 1
    img = nib.Nifti1Image(BLOB_MAPS, AFFINE_3MM)
    ours, _ = _compare(img, min_region_size=500, extract_type=extract_type, mask_img=nib.Nifti1Image(mask, AFFINE_3MM))
    assert not get_data(ours)[15:].any()
    fine_mask = np.zeros((60, 64, 56), np.uint8)
    fine_mask[:31] = 1
    fine_affine = AFFINE_3MM.copy()
    fine_affine[:3, :3] /= 2
    _compare(img, min_region_size=500, extract_type=extract_type, mask_img=nib.Nifti1Image(fine_mask, fine_affine))


def test_int16_and_float64_maps_give_float32_regions():
    """nilearn concatenates the regions as float32 whatever the maps' dtype."""
    scaled = np.round(BLOB_MAPS * 100).astype(np.int16)
    ours, _ = _compare(nib.Nifti1Image(scaled, AFFINE_3MM), min_region_size=1080, extract_type="connected_components")
    assert get_data(ours).dtype == np.float32
    ours, _ = _compare(
        nib.Nifti1Image(BLOB_MAPS.astype(np.float64) * 1.1, AFFINE_3MM), min_region_size=1080, extract_type="local_regions"
    )
    assert get_data(ours).dtype == np.float32


def test_smoothing_fwhm_none_and_anisotropic_voxels():
    anisotropic = AFFINE_3MM.copy()
    anisotropic[2, 2] = 4.0
    img = nib.Nifti1Image(BLOB_MAPS, anisotropic)
    _compare(img, min_region_size=900, extract_type="local_regions", smoothing_fwhm=None)
    _compare(img, min_region_size=900, extract_type="local_regions", smoothing_fwhm=9)


@pytest.mark.parametrize("min_region_size", [200, 1350])
@pytest.mark.parametrize("extract_type", EXTRACT_TYPES)
def test_neurovault_statistical_map(nilearn_data_dir, extract_type, min_region_size):
    path = nilearn_data_dir / "image_10426.nii.gz"
    statistic = get_data(path).astype(np.float32)
    positive = get_data(_quiet(nilearn_threshold_img, str(path), "95%", two_sided=False)).astype(np.float32)
    maps = np.stack(
        [positive, np.where(statistic < -2, -statistic, 0), np.where(np.abs(statistic) > 2.5, statistic, 0)], axis=-1
    ).astype(np.float32)
    ours, index = _compare(
        nib.Nifti1Image(maps, nib.load(path).affine), min_region_size=min_region_size, extract_type=extract_type
    )
    assert len(index) >= 10 and set(index) == {0, 1, 2}


def test_gaussian_maps_2mm_local_regions():
    """Profiling-like probabilistic maps (two Gaussians each, thresholded at 0.05) on a 2 mm grid."""
    rng = np.random.default_rng(42)
    shape = (40, 46, 40)
    maps = np.zeros(shape + (2,), np.float32)
    for k in range(2):
        for _ in range(2):
            maps[..., k] += _blob(shape, rng.uniform(6, 34, 3), rng.uniform(3, 5), 1.0).astype(np.float32)
    maps[maps < 0.05] = 0
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = (-40, -46, -40)
    ours, index = _compare(nib.Nifti1Image(maps, affine), extract_type="local_regions")
    assert len(index) >= 3


def test_nan_in_maps_is_background():
    """Documented difference: nilearn keeps NaN, which spreads NaN into every region of the map."""
    maps = BLOB_MAPS.copy()
    maps[6, 8, 8, 0] = np.nan
    img = nib.Nifti1Image(maps, AFFINE_3MM)
    with pytest.warns(UserWarning, match="Non-finite values detected"):
        ours, index = connected_regions(img, 1080, "connected_components")
    zeroed = nib.Nifti1Image(np.nan_to_num(maps), AFFINE_3MM)
    reference, reference_index = _quiet(nilearn_connected_regions, zeroed, 1080, "connected_components")
    assert index == reference_index
    np.testing.assert_array_equal(get_data(ours), get_data(reference))
    theirs, _ = _quiet(nilearn_connected_regions, img, 1080, "connected_components")
    assert np.isnan(get_data(theirs)[..., 1]).any()  # NaN leaks into another region's volume


def test_argument_errors():
    img = nib.Nifti1Image(BLOB_MAPS, AFFINE_3MM)
    with pytest.raises(ValueError, match=r"extract_type must be one of \('connected_components', 'local_regions'\); got 'watershed'"):
        connected_regions(img, extract_type="watershed")
    with pytest.raises(TypeError, match=r"min_region_size must be a number \(mm³\); got str"):
        connected_regions(img, min_region_size="big")
    with pytest.raises(ValueError, match="Given mask is not made of 2 values"):
        connected_regions(img, mask_img=nib.Nifti1Image(np.resize(np.arange(3.0), SHAPE), AFFINE_3MM))
    with pytest.raises(ValueError, match="expected a 4D image, got a 5D image"):
        connected_regions(nib.Nifti1Image(np.zeros((3, 3, 3, 1, 2), np.float32), AFFINE_3MM))


# -- random walker and peaks -----------------------------------------------------------


def _seed_labels(data, seeds_at, inactive_below=None):
    labels = np.zeros(data.shape, np.int32)
    for value, position in seeds_at:
        labels[position] = value
    if inactive_below is not None:
        labels[data < inactive_below] = -1
    return labels


def _walker_cases():
    data = _blob((14, 15, 16), (4, 4, 5), 2.5, 1.0) + _blob((14, 15, 16), (9, 10, 10), 3.0, 0.8)
    noisy = (data + np.random.default_rng(1).normal(scale=0.05, size=data.shape)).astype(np.float32)
    cases = {
        "two_seeds_full_graph": (noisy, _seed_labels(noisy, [(1, (4, 4, 5)), (2, (9, 10, 10))])),
        "inactive_background": (noisy, _seed_labels(noisy, [(1, (4, 4, 5)), (2, (9, 10, 10))], 0.2)),
        "non_consecutive_labels": (noisy, _seed_labels(noisy, [(3, (4, 4, 5)), (7, (9, 10, 10)), (9, (4, 12, 3))], 0.1)),
        "float64_data": (noisy.astype(np.float64), _seed_labels(noisy, [(1, (4, 4, 5)), (2, (9, 10, 10))], 0.15)),
        "int16_data": ((noisy * 1000).astype(np.int16), _seed_labels(noisy, [(1, (4, 4, 5)), (2, (9, 10, 10))], 0.15)),
    }
    isolated = _seed_labels(noisy, [(1, (4, 4, 5)), (2, (9, 10, 10))], 0.2)
    isolated[0, 14, 15] = 3  # a seed surrounded by inactive voxels
    isolated[13, 0, 0] = 0  # an unlabelled voxel no seed can reach
    isolated[12, 0, 0] = -1
    isolated[13, 1, 0] = -1
    isolated[13, 0, 1] = -1
    cases["isolated_seed_and_voxel"] = (noisy, isolated)
    return cases


WALKER_CASES = _walker_cases()


@pytest.mark.parametrize("case", list(WALKER_CASES))
def test_random_walker_equals_nilearn(case):
    data, labels = WALKER_CASES[case]
    theirs = _quiet(nilearn_segmentation.random_walker, data, labels.copy())
    ours = random_walker(data, labels.copy())
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("masked", [False, True])
def test_laplacian_bit_identical_to_nilearn(masked):
    data, labels = WALKER_CASES["inactive_background"]
    labels = labels.copy()
    _drop_unreachable(labels)  # as random_walker does before building the graph
    active = labels >= 0 if masked else np.ones(data.shape, bool)
    ours = _graph_laplacian(data.copy(), active, 130.0)
    theirs = nilearn_segmentation._build_laplacian(
        data.copy()[..., np.newaxis], np.ones(3), mask=active if masked else None, beta=130.0
    )
    theirs.sum_duplicates()
    assert ours.shape == theirs.shape
    np.testing.assert_array_equal(ours.indptr, theirs.indptr)
    np.testing.assert_array_equal(ours.indices, theirs.indices)
    np.testing.assert_array_equal(ours.data, theirs.data)


def test_random_walker_nothing_to_do_warns():
    data = WALKER_CASES["two_seeds_full_graph"][0]
    all_seeds = np.ones(data.shape, np.int32)
    with pytest.warns(UserWarning, match="No zero valued areas in labels were found"):
        np.testing.assert_array_equal(random_walker(data, all_seeds), all_seeds)
    with pytest.warns(UserWarning, match="Random walker received no seed label"):
        random_walker(data, np.zeros(data.shape, np.int32))
    unreachable = np.full(data.shape, -1, np.int32)
    unreachable[0, 0, 0] = 0
    with pytest.warns(UserWarning, match="only contains isolated seeds and isolated pixels"):
        np.testing.assert_array_equal(random_walker(data, unreachable), unreachable)
    with pytest.raises(ValueError, match=r"needs a 3D image and labels of the same shape; got \(14, 15, 16\) and \(2, 2\)"):
        random_walker(data, np.zeros((2, 2), np.int32))


def test_peak_local_max_plateau_and_constant():
    image = np.zeros((25, 25, 25), np.float32)
    image[5, 5, 5:7] = 2.0  # a plateau gives two peak voxels
    image[20, 20, 20] = 0.1  # below 10 % of the highest peak
    image[20, 5, 20] = 1.0
    peaks = peak_local_max(image)
    assert {tuple(p) for p in np.argwhere(peaks)} == {(5, 5, 5), (5, 5, 6), (20, 5, 20)}
    assert not peak_local_max(np.full((5, 5, 5), 3.0)).any()
    labelled, count = ndimage.label(peaks)
    assert count == 2


@pytest.mark.slow
def test_scale_ten_gaussian_maps_2mm_mni_grid():
    """Section 8.6 item 8: ten two-blob probabilistic maps on the 97 x 115 x 97 2 mm grid."""
    rng = np.random.default_rng(42)
    shape = (97, 115, 97)
    axes = [np.arange(n, dtype=np.float32) for n in shape]
    maps = np.zeros(shape + (10,), np.float32)
    for k in range(10):
        for _ in range(2):
            centre = rng.uniform([20, 25, 20], [77, 90, 77])
            sigma = rng.uniform(4, 8)
            gx, gy, gz = (np.exp(-((axes[a] - centre[a]) ** 2) / (2 * sigma**2)).astype(np.float32) for a in range(3))
            maps[..., k] += gx[:, None, None] * gy[None, :, None] * gz[None, None, :]
    maps[maps < 0.05] = 0
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = (-96, -132, -78)
    ours, index = _compare(nib.Nifti1Image(maps, affine), extract_type="local_regions")
    assert len(index) == 20
