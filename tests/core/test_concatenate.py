"""core/concatenate.py: runs centred on their kept volumes, stacked with their removed rows."""

from __future__ import annotations

import numpy as np
import pytest

from regionseries.core.concatenate import concatenate_runs


def _run(rng, n_volumes, n_regions, offset, scale):
    return offset + scale * rng.standard_normal((n_volumes, n_regions))


def test_each_run_is_centred_on_its_kept_volumes_and_keeps_its_scale():
    rng = np.random.default_rng(0)
    first, second = _run(rng, 30, 4, 5.0, 1.0), _run(rng, 20, 4, -3.0, 4.0)
    kept_first, kept_second = np.arange(2, 30), np.array([0, 1, 2, 5, 6, 7, 8, 9, 15, 19])
    first[:2] = np.nan  # removed volumes are n/a in the runs' series
    combined, kept_rows = concatenate_runs([first, second], [kept_first, kept_second])
    assert combined.shape == (50, 4)
    np.testing.assert_array_equal(kept_rows, np.concatenate([kept_first, 30 + kept_second]))
    np.testing.assert_allclose(combined[kept_first], first[kept_first] - first[kept_first].mean(axis=0))
    np.testing.assert_allclose(combined[30 + kept_second], second[kept_second] - second[kept_second].mean(axis=0))
    removed = np.setdiff1d(np.arange(50), kept_rows)
    assert np.isnan(combined[removed]).all()
    # the scale is left as it is: the second run's spread stays about 4 times the first's
    assert 2.5 < combined[30 + kept_second].std() / combined[kept_first].std() < 6


def test_a_region_missing_in_one_run_stays_missing_there_only():
    rng = np.random.default_rng(1)
    first, second = _run(rng, 10, 3, 0.0, 1.0), _run(rng, 12, 3, 0.0, 1.0)
    second[:, 1] = np.nan  # below the coverage threshold in the second run
    combined, kept_rows = concatenate_runs([first, second], [np.arange(10), np.arange(12)])
    assert np.isfinite(combined[:10]).all()
    assert np.isnan(combined[10:, 1]).all() and np.isfinite(combined[10:, [0, 2]]).all()


def test_a_run_without_kept_volumes_adds_only_removed_rows():
    rng = np.random.default_rng(2)
    combined, kept_rows = concatenate_runs([_run(rng, 5, 2, 1, 1), _run(rng, 4, 2, 1, 1)],
                                           [np.arange(5), np.array([], dtype=int)])
    np.testing.assert_array_equal(kept_rows, np.arange(5))
    assert combined.shape == (9, 2) and np.isnan(combined[5:]).all()


@pytest.mark.parametrize(("signals", "kept", "message"), [
    ([], [], "no run"),
    ([np.zeros((3, 2)), np.zeros((3, 3))], [np.arange(3), np.arange(3)], "different numbers of regions"),
    ([np.zeros((3, 2))], [np.array([0, 3])], "outside a run of 3 volumes"),
    ([np.zeros((3, 2))], [], "1 runs of signals but 0 lists"),
])
def test_errors(signals, kept, message):
    with pytest.raises(ValueError, match=message):
        concatenate_runs(signals, kept)
