"""The group-level statistics against scipy: edge correlations, running sums, Spearman, exclusions."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from scipy import stats

from regionseries.bids.relmat import FULL, UPPER, TriangleLayout
from regionseries.group import (
    CHUNK_RUNS,
    GroupOptions,
    RunningEdges,
    edge_correlation_with,
    exclusion_reasons,
    spearman,
)
from regionseries.group.accumulate import _unit_chunks, _units
from regionseries.group.edges import stored_edges


def test_edge_correlation_matches_scipy():
    rng = np.random.default_rng(0)
    fd = rng.random(12)
    values = rng.standard_normal((12, 5)) + fd[:, None] * np.array([0, 1, 2, -1, 0.5])
    values[3, 2] = np.nan  # pairwise deletion for that edge
    r, p, n = edge_correlation_with(values, fd)
    for edge in range(5):
        finite = np.isfinite(values[:, edge])
        expected = stats.pearsonr(fd[finite], values[finite, edge])
        assert r[edge] == pytest.approx(expected.statistic, rel=1e-10)
        assert p[edge] == pytest.approx(expected.pvalue, rel=1e-8)
        assert n[edge] == finite.sum()
    few, _, _ = edge_correlation_with(values[:2], fd[:2])
    assert np.isnan(few).all()


@pytest.mark.parametrize("offset", [0.0, 1e4])
def test_running_edges_equal_the_stacked_computation(offset):
    """One matrix at a time gives the numbers of the whole stack (mean, QC-FC), NaN and inf included."""
    rng = np.random.default_rng(5)
    n_runs, n_regions = 40, 9
    fd = rng.random(n_runs) * 0.5 + 0.1
    fd[7] = np.nan  # a run without mean FD: in the means, not in the correlation
    stack = offset + rng.standard_normal((n_runs, n_regions, n_regions)) * 0.01
    stack += fd[:, None, None] * rng.standard_normal((n_regions, n_regions)) * 0.01
    stack[3, 1, 2] = np.nan
    stack[5, 4, 6] = np.inf
    stack[:, 0, 8] = np.nan  # an edge missing in every run
    running = RunningEdges(n_regions, covariate_shift=float(np.nanmean(fd)))
    for matrix, covariate in zip(stack, fd):
        running.add(matrix, covariate)

    mean, count = running.mean()
    finite = np.isfinite(stack)
    expected_count = finite.sum(axis=0)
    with np.errstate(invalid="ignore"):
        expected_mean = np.where(finite, stack, 0).sum(axis=0) / expected_count
    np.testing.assert_array_equal(count, expected_count)
    np.testing.assert_allclose(mean, expected_mean, rtol=1e-12, equal_nan=True)

    upper = np.triu_indices(n_regions, k=1)
    r, p, n = running.correlation()
    expected_r, expected_p, expected_n = edge_correlation_with(stack[:, upper[0], upper[1]], fd)
    np.testing.assert_array_equal(n, expected_n)
    np.testing.assert_allclose(r, expected_r, rtol=1e-9, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(p, expected_p, rtol=1e-7, atol=1e-15, equal_nan=True)
    assert np.isnan(r[list(zip(*upper)).index((0, 8))])


def test_spearman_matches_scipy():
    rng = np.random.default_rng(1)
    x, y = rng.random(30), rng.random(30)
    rho, p = spearman(x, y)
    expected = stats.spearmanr(x, y)
    assert rho == pytest.approx(expected.statistic) and p == pytest.approx(expected.pvalue)
    assert np.isnan(spearman(x[:2], y[:2])[0])


def test_exclusion_reasons():
    options = GroupOptions(max_mean_fd=0.3, min_kept_fraction=0.8)
    record = {"Status": "done", "MeanFramewiseDisplacement": 0.45, "NumberOfVolumes": 100, "NumberOfVolumesKept": 70}
    assert exclusion_reasons(record, options) == ["mean FD 0.450 mm > 0.3 mm", "70 of 100 volumes kept (70% < 80%)"]
    assert exclusion_reasons({"Status": "excluded", "Reason": "too few volumes"}, options) == [
        "participant level: excluded: too few volumes"]
    good = {"Status": "done", "MeanFramewiseDisplacement": 0.1, "NumberOfVolumes": 100, "NumberOfVolumesKept": 98}
    assert exclusion_reasons(good, options) == []


def test_unit_chunks_keep_participants_whole():
    """Chunks of whole units: at most CHUNK_RUNS runs unless one unit is larger; one-run units: CHUNK_RUNS a chunk."""
    participants = [f"{k // 3:02d}" for k in range(60)] + ["big"] * (CHUNK_RUNS + 5) + ["last"]
    units = _units(participants, by_participant=True)
    assert [len(unit) for unit in units] == [3] * 20 + [CHUNK_RUNS + 5, 1]
    chunks = list(_unit_chunks(units))
    assert [k for chunk in chunks for unit in chunk for k in unit] == list(range(len(participants)))
    assert all(sum(map(len, chunk)) <= CHUNK_RUNS or len(chunk) == 1 for chunk in chunks)
    runs = list(_unit_chunks(_units(participants, by_participant=False)))
    assert [sum(map(len, chunk)) for chunk in runs[:-1]] == [CHUNK_RUNS] * (len(runs) - 1)


def test_participant_means_enter_the_correlation_once():
    """add_to_mean per run plus add_to_correlation per participant equals the stacked per-participant computation."""
    rng = np.random.default_rng(11)
    n_regions, sizes = 5, [1, 3, 2, 4, 2]
    stacks = [rng.standard_normal((size, n_regions, n_regions)) * 0.1 for size in sizes]
    fds = [rng.random(size) * 0.4 for size in sizes]
    stacks[1][0, 0, 2] = np.nan  # an edge missing in one run: that participant's mean of the others
    running = RunningEdges(n_regions, covariate_shift=0.2)
    upper = np.triu_indices(n_regions, 1)
    for stack, fd in zip(stacks, fds):
        for matrix in stack:
            running.add_to_mean(matrix)
        edges = stack[:, upper[0], upper[1]]
        running.add_to_correlation(np.nanmean(edges, axis=0), fd.mean(), runs=np.isfinite(edges).sum(axis=0))
    means = np.stack([np.nanmean(stack[:, upper[0], upper[1]], axis=0) for stack in stacks])
    expected_r, _, expected_n = edge_correlation_with(means, np.array([fd.mean() for fd in fds]))
    r, _, n = running.correlation()
    np.testing.assert_allclose(r, expected_r, rtol=1e-9)
    np.testing.assert_array_equal(n, expected_n)
    assert running.runs[0] == sum(sizes)
    assert running.runs[list(zip(*upper)).index((0, 2))] == sum(sizes) - 1
    np.testing.assert_array_equal(running.mean()[1], np.isfinite(np.concatenate(stacks)).sum(axis=0))


def test_symmetric_matrices_added_as_their_triangle_give_the_same_numbers():
    """add_stored(UPPER, triangle) gives the numbers of add(full) bit for bit; mixed with full matrices
    and merged from saved chunks (the group cache's state), the same up to round-off."""
    rng = np.random.default_rng(11)
    n_runs, n_regions = 12, 7
    triangle = TriangleLayout.of(n_regions)
    stack = rng.standard_normal((n_runs, n_regions, n_regions)) * 0.1
    stack = (stack + stack.transpose(0, 2, 1)) / 2
    stack[2, 1, 3] = stack[2, 3, 1] = np.nan
    stack[4, 0, 0] = np.inf
    fd = rng.random(n_runs)
    shifts = (0.3, stack[0][np.triu_indices(n_regions, 1)])

    whole = RunningEdges(n_regions, *shifts)
    packed = RunningEdges(n_regions, *shifts)
    for matrix, covariate in zip(stack, fd):
        whole.add(matrix, covariate)
        values = matrix[triangle.rows_columns]
        packed.add_stored(UPPER, values)
        packed.add_to_correlation(stored_edges(UPPER, values, n_regions), covariate)
    for got, expected in zip(packed.mean() + packed.correlation(), whole.mean() + whole.correlation()):
        np.testing.assert_array_equal(got, expected)

    asymmetric = stack[0].copy()
    asymmetric[0, 1] += 0.5
    whole.add(asymmetric, 0.2)
    mixed = RunningEdges(n_regions, *shifts)
    mixed.add_stored(FULL, asymmetric)
    mixed.add_to_correlation(stored_edges(FULL, asymmetric, n_regions), 0.2)
    chunk = RunningEdges(n_regions, *shifts)
    for matrix, covariate in zip(stack, fd):
        values = matrix[triangle.rows_columns]
        chunk.add_stored(UPPER, values)
        chunk.add_to_correlation(stored_edges(UPPER, values, n_regions), covariate)
    mixed.merge(RunningEdges.from_state(chunk.state()))
    sent = pickle.loads(pickle.dumps(chunk))  # as the reader processes send their sums
    assert sent.count.shape == (n_regions, n_regions) and not sent.count.any()
    for got, expected in zip(sent.mean() + sent.correlation(), chunk.mean() + chunk.correlation()):
        np.testing.assert_array_equal(got, expected)
    mean, count = mixed.mean()
    np.testing.assert_array_equal(count, whole.mean()[1])
    np.testing.assert_allclose(mean, whole.mean()[0], rtol=1e-13, equal_nan=True)
    assert mean[0, 1] != mean[1, 0]
    for got, expected in zip(mixed.correlation(), whole.correlation()):
        np.testing.assert_allclose(got, expected, rtol=1e-12, equal_nan=True)
