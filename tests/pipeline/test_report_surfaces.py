"""The report's view of a surface run: which mesh vertices have a signal, as the run's one pass judged it."""

import nibabel as nib
import numpy as np

from regionseries.core.extract.vertices import (
    extract_vertex_signals,
    vertex_labels_operator,
)
from regionseries.pipeline.report_hook import covered_vertices


def _usable(data: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per vertex, whether the extraction counted its signal (what the engine gives the report)."""
    operator = vertex_labels_operator(labels, sorted(set(labels.tolist()) - {0}))
    result = extract_vertex_signals(data, [operator], min_coverage=0, warn_non_finite=False)[0]
    usable = np.zeros(data.shape[1], dtype=bool)
    usable[result.covered_voxels] = True
    return usable


def test_cifti_vertices_without_signal_and_outside_the_grayordinates_are_not_covered():
    cortex = np.ones(12, dtype=bool)
    cortex[:2] = False  # the medial wall: not in the grayordinates
    models = (nib.cifti2.BrainModelAxis.from_mask(cortex, name="CortexLeft")
              + nib.cifti2.BrainModelAxis.from_mask(np.ones(8, dtype=bool), name="CortexRight")
              + nib.cifti2.BrainModelAxis.from_mask(np.ones((2, 2, 2), dtype=bool), name="ThalamusLeft",
                                                    affine=np.eye(4)))
    data = np.random.default_rng(0).standard_normal((30, len(models))).astype(np.float32)
    data[:, 0] = 0.0  # left vertex 2: zeros throughout
    data[7, 3] = np.nan  # left vertex 5: one NaN
    data[:, 10] = 3.0  # right vertex 0: constant
    labels = np.ones(len(models), dtype=int)
    labels[-1] = 0  # a thalamus voxel in no region: not judged, so not covered
    covered = covered_vertices(_usable(data, labels), brain_models=models)
    assert sorted(covered) == ["left", "right"]
    expected_left = cortex.copy()
    expected_left[[2, 5]] = False
    expected_right = np.ones(8, dtype=bool)
    expected_right[0] = False
    np.testing.assert_array_equal(covered["left"], expected_left)
    np.testing.assert_array_equal(covered["right"], expected_right)


def test_gifti_pair_is_split_by_hemisphere_and_grayordinates_without_cortex_have_none():
    data = np.ones((5, 7), dtype=np.float32) * np.arange(5)[:, None]
    data[:, 1] = 0.0
    data[2, 5] = np.inf
    labels = np.array([1, 1, 2, 2, 2, 2, 0])  # the last vertex is in no region
    covered = covered_vertices(_usable(data, labels), hemisphere_sizes=(3, 4))
    np.testing.assert_array_equal(covered["left"], [True, False, True])
    np.testing.assert_array_equal(covered["right"], [True, True, False, False])
    volume_only = nib.cifti2.BrainModelAxis.from_mask(np.ones((2, 2, 2), dtype=bool), name="ThalamusLeft",
                                                      affine=np.eye(4))
    assert covered_vertices(np.ones(8, dtype=bool), brain_models=volume_only) is None
