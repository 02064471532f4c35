"""The vertex extraction functions against numpy and scipy, on plain arrays."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from scipy import ndimage

from regionseries.core.extract import REDUCTIONS
from regionseries.core.extract.surface import (
    valid_vertices,
    vertex_coverage,
    vertex_labels_signals,
    vertex_maps_signals,
    vertex_membership,
)


@pytest.fixture
def vertex_data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((500, 7))


@pytest.fixture
def vertex_labels():
    return np.random.default_rng(1).integers(0, 6, 500)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_labels_signals_are_scipy_ndimage_reductions(vertex_data, vertex_labels, reduction):
    values = [5, 1, 3, 2, 4]  # any column order
    got = vertex_labels_signals(vertex_data, vertex_labels, values, reduction)
    assert got.shape == (7, 5) and got.dtype == np.float64
    expected = np.array(
        [getattr(ndimage, reduction)(sample, labels=vertex_labels, index=values) for sample in vertex_data.T]
    )
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_labels_signals_one_sample_absent_label_and_nan(vertex_data, vertex_labels):
    got = vertex_labels_signals(vertex_data[:, 0], vertex_labels, [1, 9])
    assert got.shape == (1, 2)
    assert got[0, 0] == pytest.approx(vertex_data[vertex_labels == 1, 0].mean())
    assert np.isnan(got[0, 1])  # label 9 has no vertex
    data = vertex_data.copy()
    data[np.flatnonzero(vertex_labels == 2)[0], 3] = np.nan
    got = vertex_labels_signals(data, vertex_labels, [2, 3])
    assert np.isnan(got[3, 0]) and np.isfinite(np.delete(got, 3, axis=0)).all() and np.isfinite(got[:, 1]).all()
    with pytest.raises(ValueError, match="Invalid reduction"):
        vertex_labels_signals(vertex_data, vertex_labels, [1], "mode")
    with pytest.raises(ValueError, match="vertex labels for data"):
        vertex_labels_signals(vertex_data, vertex_labels[:-1], [1])


def test_maps_signals_are_lstsq(vertex_data):
    rng = np.random.default_rng(2)
    maps = rng.random((500, 4)) * (rng.random((500, 4)) > 0.5)
    got = vertex_maps_signals(vertex_data, maps)
    np.testing.assert_allclose(got, scipy.linalg.lstsq(maps, vertex_data)[0].T, rtol=1e-10, atol=1e-12)
    # an empty map gets 0 (the minimum-norm solution); rank-deficient maps too, as gelsd
    maps[:, 1] = 0
    maps[:, 3] = 2 * maps[:, 2]
    got = vertex_maps_signals(vertex_data, maps)
    np.testing.assert_allclose(got, scipy.linalg.lstsq(maps, vertex_data)[0].T, rtol=1e-8, atol=1e-10)
    assert np.all(got[:, 1] == 0)


def test_valid_vertices_and_coverage(vertex_data, vertex_labels):
    data = vertex_data.copy()
    data[0] = 3.0  # constant
    data[1, 2] = np.inf
    valid = valid_vertices(data)
    assert not valid[0] and not valid[1] and valid[2:].all()
    assert valid_vertices(np.full(5, 3.0)).all()  # one sample: constant is fine
    membership = vertex_membership(vertex_labels, [vertex_labels[0], 7])
    coverage = vertex_coverage(membership, valid)
    in_region = vertex_labels == vertex_labels[0]
    assert coverage[0] == pytest.approx(valid[in_region].mean())
    assert coverage[1] == 0.0  # no vertex
