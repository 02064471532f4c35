"""RegionExtractor against nilearn 0.14.1 (section 8.6 item 7) and its error paths."""

from __future__ import annotations

import warnings

import nibabel as nib
import numpy as np
import pytest
from nilearn.regions import RegionExtractor as NilearnRegionExtractor

from regionseries.core.image import get_data
from regionseries.regions import NoRegionFoundError, RegionExtractor

SHAPE = (30, 32, 28)
AFFINE = np.array([[3.0, 0, 0, -45], [0, 3.0, 0, -48], [0, 0, 3.0, -40], [0, 0, 0, 1]])


def _quiet(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return func(*args, **kwargs)


def _blob(centre, sigma, amplitude):
    grid = np.indices(SHAPE).transpose(1, 2, 3, 0).astype(float)
    return amplitude * np.exp(-((grid - np.array(centre)) ** 2).sum(-1) / (2 * sigma**2))


def _maps():
    rng = np.random.default_rng(0)
    map0 = _blob((5, 8, 8), 5.0, 1.0) + _blob((20, 10, 9), 5.0, 0.9) + _blob((10, 25, 20), 2.5, 1.2)
    map1 = _blob((15, 10, 20), 3, 1.0) - _blob((22, 24, 8), 3, 1.0)
    maps = np.stack([map0, map1], axis=-1) + rng.normal(scale=0.1, size=SHAPE + (2,))
    maps = maps.astype(np.float32)
    maps[np.abs(maps) < 0.3] = 0
    return nib.Nifti1Image(maps, AFFINE)


MAPS = _maps()
DATA = nib.Nifti1Image(
    np.random.default_rng(1).normal(50, 1, SHAPE + (10,)).astype(np.float32), AFFINE
)

STRATEGIES = [("ratio_n_voxels", 1.0), ("img_value", 0.5), ("percentile", 90)]


@pytest.mark.parametrize("extractor", ["connected_components", "local_regions"])
@pytest.mark.parametrize("strategy, threshold", STRATEGIES, ids=[s for s, _ in STRATEGIES])
def test_region_extractor_matches_nilearn(strategy, threshold, extractor):
    kwargs = dict(threshold=threshold, thresholding_strategy=strategy, extractor=extractor, min_region_size=100)
    theirs = _quiet(NilearnRegionExtractor(MAPS, **kwargs).fit)
    ours = _quiet(RegionExtractor(MAPS, **kwargs).fit)
    assert ours.index_ == theirs.index_
    np.testing.assert_array_equal(get_data(ours.regions_img_), get_data(theirs.regions_img_))
    assert ours.n_elements_ == theirs.n_elements_ == len(ours.index_)
    expected = _quiet(theirs.transform, DATA)
    signals = _quiet(ours.transform, DATA)
    assert signals.shape == expected.shape and signals.dtype == expected.dtype
    np.testing.assert_allclose(signals, expected, rtol=2e-6, atol=2e-6 * np.abs(expected).max())


def test_mask_restricts_regions_like_nilearn():
    mask = np.zeros(SHAPE, np.uint8)
    mask[:16] = 1
    mask_img = nib.Nifti1Image(mask, AFFINE)
    kwargs = dict(mask_img=mask_img, threshold=0.4, thresholding_strategy="img_value",
                  extractor="connected_components", min_region_size=100)
    theirs = _quiet(NilearnRegionExtractor(MAPS, **kwargs).fit)
    ours = _quiet(RegionExtractor(MAPS, **kwargs).fit)
    assert ours.index_ == theirs.index_
    np.testing.assert_array_equal(get_data(ours.regions_img_), get_data(theirs.regions_img_))
    assert not get_data(ours.regions_img_)[16:].any()


def test_second_fit_with_percentile_works():
    """Documented difference: nilearn overwrites self.threshold with "90%" and its second fit fails."""
    ours = RegionExtractor(MAPS, threshold=90, thresholding_strategy="percentile",
                           extractor="connected_components", min_region_size=100)
    first = _quiet(ours.fit).index_
    assert ours.threshold == 90
    assert _quiet(ours.fit).index_ == first
    theirs = NilearnRegionExtractor(MAPS, threshold=90, thresholding_strategy="percentile",
                                    extractor="connected_components", min_region_size=100)
    _quiet(theirs.fit)
    with pytest.raises(ValueError, match="The given input to threshold is not valid"):
        _quiet(theirs.fit)


def test_get_params_reports_the_user_maps():
    extractor = _quiet(RegionExtractor(MAPS, threshold=0.5, thresholding_strategy="img_value",
                                       extractor="connected_components", min_region_size=100).fit)
    assert extractor.get_params()["maps_img"] is MAPS
    assert extractor.get_params()["min_region_size"] == 100


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(threshold=3), ValueError,
         r"threshold given as ratio to the number of voxels must be Real number .* n_maps=2\. You provided 3"),
        (dict(threshold=0), ValueError, r"n_maps=2\. You provided 0"),
        (dict(threshold=None), ValueError, "The given input to threshold is not valid"),
        (dict(threshold="90%", thresholding_strategy="percentile"), ValueError, "The given input to threshold is not valid"),
        (dict(thresholding_strategy="otsu"), ValueError,
         r"'thresholding_strategy' must be one of \('ratio_n_voxels', 'img_value', 'percentile'\); got 'otsu'"),
        (dict(extractor="watershed"), ValueError, "extract_type must be one of"),
    ],
)
def test_fit_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        _quiet(RegionExtractor(MAPS, **kwargs).fit)


def test_no_region_found_is_a_clear_error():
    extractor = RegionExtractor(MAPS, min_region_size=1e9, extractor="connected_components")
    with pytest.warns(UserWarning, match="No supra threshold regions was found"):
        with pytest.raises(NoRegionFoundError, match=r"No region of .* survived the threshold 1\.0 \(ratio_n_voxels\)"):
            extractor.fit()
    assert issubclass(NoRegionFoundError, TypeError) and issubclass(NoRegionFoundError, ValueError)
    with pytest.raises(TypeError):  # nilearn's failure at the same point
        _quiet(NilearnRegionExtractor(MAPS, min_region_size=1e9, extractor="connected_components").fit)


def test_missing_maps():
    with pytest.raises(ValueError, match="Please provide maps_img to the RegionExtractor"):
        RegionExtractor().fit()


def test_3d_maps_image_is_one_map():
    """nilearn requires 4D maps here; a 3D image is accepted as a single map."""
    single = nib.Nifti1Image(get_data(MAPS)[..., 0], AFFINE)
    ours = _quiet(RegionExtractor(single, threshold=0.5, thresholding_strategy="img_value",
                                  extractor="connected_components", min_region_size=100).fit)
    four_d = _quiet(RegionExtractor(nib.Nifti1Image(get_data(MAPS)[..., :1], AFFINE), threshold=0.5,
                                    thresholding_strategy="img_value", extractor="connected_components",
                                    min_region_size=100).fit)
    assert set(ours.index_) == {0}
    np.testing.assert_array_equal(get_data(ours.regions_img_), get_data(four_d.regions_img_))
