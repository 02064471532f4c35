"""The index helpers of the extraction setup equal the plain scipy/numpy forms."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from regionseries.core.extract.grid import _keep_columns, _positions_in


def test_positions_in_equals_searchsorted():
    rng = np.random.default_rng(3)
    union = np.unique(rng.integers(0, 50_000, size=8_000))
    indices = rng.choice(union, size=20_000)
    np.testing.assert_array_equal(_positions_in(union, indices, 50_000), np.searchsorted(union, indices))


def test_keep_columns_equals_diagonal_product():
    rng = np.random.default_rng(4)
    matrix = sparse.random(12, 300, density=0.2, format="csr", random_state=5)
    matrix.data = rng.normal(size=matrix.nnz)
    keep = rng.random(300) > 0.4
    before = matrix.copy()
    expected = sparse.csr_matrix(matrix @ sparse.diags(keep.astype(float)))
    expected.eliminate_zeros()
    ours = _keep_columns(matrix, keep)
    assert (ours != expected).nnz == 0
    assert ours.nnz == expected.nnz
    assert (matrix != before).nnz == 0 and matrix.nnz == before.nnz  # the input is not modified
    assert ours.nnz < matrix.nnz
    np.testing.assert_array_equal(ours.toarray(), matrix.toarray() * keep)
