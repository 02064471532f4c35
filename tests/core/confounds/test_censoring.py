"""The minimum-segment rule equals nilearn's optimize_scrub (property test)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from nilearn.interfaces.fmriprep.load_confounds_scrub import optimize_scrub

from regionseries.core.confounds.censoring import _drop_short_segments


@st.composite
def outlier_sets(draw):
    n_volumes = draw(st.integers(min_value=1, max_value=80))
    outliers = draw(st.sets(st.integers(min_value=0, max_value=n_volumes - 1), min_size=1))
    min_length = draw(st.integers(min_value=1, max_value=10))
    return n_volumes, np.array(sorted(outliers), dtype=np.int64), min_length


@given(outlier_sets())
def test_same_as_nilearn(case):
    n_volumes, outliers, min_length = case
    ours = _drop_short_segments(outliers, n_volumes, min_length)
    expected = optimize_scrub(outliers, n_volumes, min_length)
    np.testing.assert_array_equal(ours, expected)
    kept = np.setdiff1d(np.arange(n_volumes), ours)
    # every remaining run of kept volumes is at least min_length long
    if kept.size:
        breaks = np.flatnonzero(np.diff(kept) > 1)
        lengths = np.diff(np.concatenate(([0], breaks + 1, [kept.size])))
        assert lengths.min() >= min_length
