"""Per-parcel means over vertices (core.extract.vertices): coverage, labels on grayordinates, pairs."""

import warnings

import nibabel as nib
import numpy as np
import pytest

from regionseries.core.extract.vertices import (
    cifti_labels_on,
    extract_vertex_signals,
    gifti_pair_labels,
)


def test_means_and_coverage_of_vertices():
    rng = np.random.default_rng(0)
    data = rng.normal(100, 5, (30, 12))
    labels = np.array([1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 0, 0])
    data[:, 0] = np.nan  # parcel 1: 3 of 4 vertices valid
    data[:, 4:7] = 0.0  # parcel 2: 1 of 4 vertices valid (constant zeros are no signal)
    with pytest.warns(UserWarning, match=r"2 region\(s\) of atlas A have coverage below min_coverage=0.5 in run.gii"):
        result = extract_vertex_signals(data, {"A": (labels, [1, 2, 3, 4], ["a", "b", "c", "d"])}, 0.5,
                                        description="run.gii")["A"]
    np.testing.assert_allclose(result.coverage, [0.75, 0.25, 1.0, 0.0])
    assert result.regions_below_coverage == ["b", "d"] and result.missing_regions == ["d"]
    # NaN vertices count as 0 in the mean, as for voxels (nilearn's rule)
    np.testing.assert_allclose(result.signals[:, 0], np.nan_to_num(data[:, :4]).mean(axis=1))
    assert np.isnan(result.signals[:, 1]).all() and np.isnan(result.signals[:, 3]).all()
    np.testing.assert_allclose(result.signals[:, 2], data[:, 8:10].mean(axis=1))


def test_cifti_labels_are_matched_by_structure_and_vertex():
    left = np.array([True, True, False, True])
    run = (nib.cifti2.BrainModelAxis.from_mask(left, name="CortexLeft")
           + nib.cifti2.BrainModelAxis.from_mask(np.ones(3, bool), name="CortexRight"))
    # the atlas covers every vertex, right hemisphere first
    atlas = (nib.cifti2.BrainModelAxis.from_mask(np.ones(3, bool), name="CortexRight")
             + nib.cifti2.BrainModelAxis.from_mask(np.ones(4, bool), name="CortexLeft"))
    labels = np.array([7, 8, 9, 1, 2, 3, 4])
    np.testing.assert_array_equal(cifti_labels_on(atlas, labels, run), [1, 2, 4, 7, 8, 9])
    other = nib.cifti2.BrainModelAxis.from_mask(np.ones(5, bool), name="Cerebellum")
    with pytest.raises(ValueError, match="share no grayordinate"):
        cifti_labels_on(other, np.ones(5), run)


def test_gifti_pair_labels_shift_the_right_hemisphere():
    np.testing.assert_array_equal(gifti_pair_labels(np.array([0, 1, 2]), np.array([2, -1, 1]), (3, 3), 2),
                                  [0, 1, 2, 4, 0, 3])
    with pytest.raises(ValueError, match="right hemisphere of the atlas has 2 vertices, the run's 3"):
        gifti_pair_labels(np.array([0, 1, 2]), np.array([1, 1]), (3, 3), 2)


def test_91k_grayordinates_give_no_header_warning():
    # 91,282 columns do not fit a NIfTI-1 dimension: the series must not warn about nibabel's FreeSurfer hack
    rng = np.random.default_rng(1)
    data = rng.normal(size=(6, 91282)).astype(np.float32)
    labels = np.arange(91282) % 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = extract_vertex_signals(data, {"A": (labels, [1, 2, 3], ["a", "b", "c"])})["A"]
    np.testing.assert_allclose(result.signals[:, 2], data[:, labels == 3].astype(np.float64).mean(axis=1), rtol=1e-10)
