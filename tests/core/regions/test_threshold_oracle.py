"""threshold_img against nilearn 0.14.1 (section 8.6, items 1-4): exact arrays, messages."""

from __future__ import annotations

import warnings

import nibabel as nib
import numpy as np
import pytest
from hypothesis import given, strategies as st
from nilearn.image import threshold_img as nilearn_threshold_img
from scipy.ndimage import generate_binary_structure, label
from scipy.stats import scoreatpercentile

from regionseries.core.image import get_data
from regionseries.core.regions import score_at_percentile
from regionseries.image import threshold_img

SHAPE = (15, 16, 17)


def _quiet(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return func(*args, **kwargs)


def _noise_img(seed=0, shape=SHAPE, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return nib.Nifti1Image(rng.normal(size=shape).astype(dtype), np.diag([3.0, 3.0, 3.0, 1.0]))


def _assert_same(ours, theirs):
    ours_data, theirs_data = get_data(ours), get_data(theirs)
    assert ours_data.dtype == theirs_data.dtype
    np.testing.assert_array_equal(ours_data, theirs_data)


CASES = [
    (1.0, True), (1.0, False), (-1.0, False), ("97%", True), ("97%", False),
    ("97.5%", False), ("0%", True), ("0%", False), ("100%", True), (0, True),
]


@pytest.mark.parametrize("cluster_threshold", [0, 5])
@pytest.mark.parametrize("threshold, two_sided", CASES, ids=[f"{t}-{s}" for t, s in CASES])
def test_threshold_img_exact(threshold, two_sided, cluster_threshold):
    img = _noise_img()
    theirs = _quiet(nilearn_threshold_img, img, threshold, cluster_threshold=cluster_threshold, two_sided=two_sided)
    ours = threshold_img(img, threshold, cluster_threshold=cluster_threshold, two_sided=two_sided)
    _assert_same(ours, theirs)


def _manual_clusters(data, cluster_threshold):
    """Independent per-sign 6-connectivity cluster filter (section 8.6 item 2)."""
    out = data.copy()
    faces = generate_binary_structure(3, 1)
    for sign in (1, -1):
        ids, n = label(out * sign > 0, faces)
        for cluster in range(1, n + 1):
            if (ids == cluster).sum() < cluster_threshold:
                out[ids == cluster] = 0
    return out


def test_cluster_threshold_against_manual_implementation():
    img = _noise_img(3)
    data = get_data(img)
    voxelwise = np.where(np.abs(data) >= 1.0, data, 0)
    ours = get_data(threshold_img(img, 1.0, cluster_threshold=5))
    np.testing.assert_array_equal(ours, _manual_clusters(voxelwise, 5))
    assert (ours > 0).any() and (ours < 0).any()


def test_float_above_max_warns_and_removes_everything():
    img = _noise_img()
    with pytest.warns(UserWarning, match=r"The given float value must not exceed .*threshold=10.0"):
        ours = threshold_img(img, 10.0)
    _assert_same(ours, _quiet(nilearn_threshold_img, img, 10.0))
    assert not get_data(ours).any()


def test_negative_below_min_warns():
    img = _noise_img()
    with pytest.warns(UserWarning, match=r"must not be less than .*threshold=-50.0"):
        threshold_img(img, -50.0, two_sided=False)


def test_mask_percentile_uses_in_mask_values_only():
    img = _noise_img(1)
    mask = np.zeros(SHAPE, np.uint8)
    mask[:8] = 1
    mask_img = nib.Nifti1Image(mask, img.affine)
    ours = threshold_img(img, "90%", mask_img=mask_img)
    _assert_same(ours, _quiet(nilearn_threshold_img, img, "90%", mask_img=mask_img))
    in_mask = get_data(img)[mask == 1]
    cutoff = scoreatpercentile(np.abs(in_mask), 90) + 1e-5
    assert np.array_equal(get_data(ours)[mask == 1] != 0, np.abs(in_mask) >= np.float32(cutoff))
    assert not get_data(ours)[mask == 0].any()


def test_mask_on_another_grid_is_resampled_nearest():
    img = _noise_img(2)
    fine = np.diag([1.5, 1.5, 1.5, 1.0])
    mask = np.zeros((30, 32, 34), np.float32)
    mask[:15, 4:20, :] = 1
    mask_img = nib.Nifti1Image(mask, fine)
    ours = threshold_img(img, "80%", mask_img=mask_img, two_sided=False)
    _assert_same(ours, _quiet(nilearn_threshold_img, img, "80%", mask_img=mask_img, two_sided=False))


def test_4d_percentile_and_clusters_per_volume():
    rng = np.random.default_rng(4)
    img = nib.Nifti1Image(rng.normal(size=SHAPE + (3,)).astype(np.float32), np.eye(4))
    mask = np.zeros(SHAPE, np.uint8)
    mask[2:12, 3:14, 1:16] = 1
    mask_img = nib.Nifti1Image(mask, np.eye(4))
    ours = threshold_img(img, "85%", cluster_threshold=3, mask_img=mask_img)
    _assert_same(ours, _quiet(nilearn_threshold_img, img, "85%", cluster_threshold=3, mask_img=mask_img))
    single = threshold_img(nib.Nifti1Image(get_data(img)[..., 1], np.eye(4)), 1.2, cluster_threshold=3)
    np.testing.assert_array_equal(
        get_data(threshold_img(img, 1.2, cluster_threshold=3))[..., 1], get_data(single)
    )


def test_nan_becomes_zero_with_warning_and_int16_stays_int16():
    data = np.random.default_rng(5).normal(size=SHAPE).astype(np.float32)
    data[3, 3, 3] = np.nan
    img = nib.Nifti1Image(data, np.eye(4))
    with pytest.warns(UserWarning, match="Non-finite values detected. These values will be replaced with zeros."):
        ours = threshold_img(img, "50%")
    assert get_data(ours)[3, 3, 3] == 0
    assert np.isnan(data[3, 3, 3])  # copy=True leaves the input alone
    _assert_same(ours, _quiet(nilearn_threshold_img, nib.Nifti1Image(data.copy(), np.eye(4)), "50%"))

    int_img = nib.Nifti1Image(np.nan_to_num(data * 100).astype(np.int16), np.eye(4))
    for threshold in (60, "90%", 60.5):
        ours = threshold_img(int_img, threshold)
        assert get_data(ours).dtype == np.int16
        _assert_same(ours, _quiet(nilearn_threshold_img, int_img, threshold))


def test_scaled_file_and_copy_false(tmp_path):
    data = (np.random.default_rng(6).normal(size=SHAPE) * 100).astype(np.int16)
    scaled = nib.Nifti1Image(data, np.eye(4), dtype=np.int16)
    scaled.header.set_slope_inter(0.01, 0.0)
    path = tmp_path / "zmap.nii.gz"
    nib.save(scaled, path)
    _assert_same(threshold_img(path, "95%"), _quiet(nilearn_threshold_img, str(path), "95%"))

    in_memory = _noise_img(7)
    array = get_data(in_memory)
    result = threshold_img(in_memory, 1.5, copy=False)
    assert np.shares_memory(get_data(result), array)
    assert not ((np.abs(array) < 1.5) & (array != 0)).any()


@pytest.mark.parametrize(
    "threshold, two_sided, error, message",
    [
        (-1.0, True, ValueError, '"threshold" should not be a negative value when two_sided=True.'),
        ("-5%", False, ValueError, '"threshold" should not be a negative percentile value.'),
        ("-5%", True, ValueError, '"threshold" should not be a negative value when two_sided=True.'),
        ("x%", True, ValueError, r'If "threshold" is given as string it should be a number followed by the percent sign'),
        ("97", True, ValueError, r'If "threshold" is given as string it should be a number followed by the percent sign'),
        (None, True, TypeError, "threshold should be either a number or a string finishing with a percent sign"),
        (True, True, TypeError, "threshold should be either a number or a string finishing with a percent sign"),
        ("150%", True, ValueError, r"percentile must be in the range \[0, 100\]"),
        (float("nan"), True, ValueError, '"threshold" must not be NaN.'),
    ],
)
def test_threshold_errors(threshold, two_sided, error, message):
    img = _noise_img()
    with pytest.raises(error, match=message):
        threshold_img(img, threshold, two_sided=two_sided)
    if threshold is not True and not (isinstance(threshold, float) and np.isnan(threshold)):
        with pytest.raises(error):
            _quiet(nilearn_threshold_img, img, threshold, two_sided=two_sided)


def test_other_argument_errors():
    img = _noise_img()
    with pytest.raises(TypeError, match="cluster_threshold must be an integer number of voxels, got float 5.0"):
        threshold_img(img, 1.0, cluster_threshold=5.0)
    with pytest.raises(TypeError):
        _quiet(nilearn_threshold_img, img, 1.0, cluster_threshold=5.0)
    with pytest.raises(ValueError, match="cluster_threshold must be >= 0 voxels, got -1"):
        threshold_img(img, 1.0, cluster_threshold=-1)
    with pytest.raises(TypeError, match="Expected a NIfTI image"):
        threshold_img(np.zeros(SHAPE), 1.0)
    with pytest.raises(ValueError, match="3D or 4D image"):
        threshold_img(nib.Nifti1Image(np.zeros((3, 3), np.float32), np.eye(4)), 1.0)
    bad_mask = nib.Nifti1Image(np.resize(np.array([0, 1, 2], np.float32), SHAPE), img.affine)
    with pytest.raises(ValueError, match="Given mask is not made of 2 values"):
        threshold_img(img, 1.0, mask_img=bad_mask)


def test_one_sided_percentile_without_non_negative_values_removes_everything():
    """nilearn gets a NaN cut-off here and keeps the negative values (documented difference)."""
    img = nib.Nifti1Image(-np.abs(get_data(_noise_img())) - 0.1, np.eye(4))
    ours = threshold_img(img, "50%", two_sided=False)
    assert not get_data(ours).any()
    theirs = _quiet(nilearn_threshold_img, img, "50%", two_sided=False)
    assert get_data(theirs).any()


@given(
    values=st.lists(st.floats(-1e6, 1e6, allow_nan=False, width=32), min_size=1, max_size=60),
    percentile=st.floats(0, 100),
)
def test_score_at_percentile_is_scipy(values, percentile):
    array = np.asarray(values, dtype=np.float32)
    assert score_at_percentile(array, percentile) == scoreatpercentile(array, percentile)
