"""The report's view of a surface run: which mesh vertices have a signal, by the extraction's rule."""

import nibabel as nib
import numpy as np

from regionseries.core.extract.vertices import SurfaceSeries
from regionseries.pipeline.report_hook import covered_vertices


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
    covered = covered_vertices(SurfaceSeries(data, brain_models=models))
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
    covered = covered_vertices(SurfaceSeries(data, hemisphere_sizes=(3, 4)))
    np.testing.assert_array_equal(covered["left"], [True, False, True])
    np.testing.assert_array_equal(covered["right"], [True, True, False, True])
    volume_only = nib.cifti2.BrainModelAxis.from_mask(np.ones((2, 2, 2), dtype=bool), name="ThalamusLeft",
                                                      affine=np.eye(4))
    assert covered_vertices(SurfaceSeries(np.ones((4, 8), np.float32), brain_models=volume_only)) is None
