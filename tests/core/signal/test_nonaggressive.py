"""Non-aggressive removal of rejected ICA components from region signals."""

from __future__ import annotations

import numpy as np
import pytest

from regionseries.core.signal.nonaggressive import remove_components_nonaggressively

N_VOLUMES = 200


def _components(rng, n_accepted=3, n_rejected=2, shared=0.6):
    accepted = rng.standard_normal((N_VOLUMES, n_accepted))
    # noise components share variance with the first signal component, as real ones do
    rejected = shared * accepted[:, :1] + rng.standard_normal((N_VOLUMES, n_rejected))
    components = np.hstack([rejected, accepted]) + 0.3
    return components, np.array([True] * n_rejected + [False] * n_accepted)


def _coefficients(signals, components, rows):
    design = components[rows] - components[rows].mean(axis=0)
    return np.linalg.lstsq(design, signals[rows] - signals[rows].mean(axis=0), rcond=None)[0]


def test_rejected_part_removed_accepted_part_kept():
    """Refitting the output on every component: rejected coefficients are zero, accepted ones unchanged."""
    rng = np.random.default_rng(0)
    components, rejected = _components(rng)
    signals = 900 + components @ rng.standard_normal((5, 4)) * 10 + rng.standard_normal((N_VOLUMES, 4))
    rows = np.arange(N_VOLUMES)
    out = remove_components_nonaggressively(signals, components, rejected)
    before, after = _coefficients(signals, components, rows), _coefficients(out, components, rows)
    np.testing.assert_allclose(after[rejected], 0, atol=1e-10)
    np.testing.assert_allclose(after[~rejected], before[~rejected], rtol=1e-10)
    np.testing.assert_allclose(out.mean(axis=0), signals.mean(axis=0), rtol=1e-12)  # means unchanged


def test_shared_variance_stays_unlike_aggressive_regression():
    rng = np.random.default_rng(1)
    components, rejected = _components(rng, shared=0.9)
    neural = components[:, 2]  # an accepted component that noise components partly follow
    signals = (100 + 5 * neural)[:, None]
    out = remove_components_nonaggressively(signals, components, rejected)
    noise = components[:, rejected] - components[:, rejected].mean(axis=0)
    aggressive = signals - noise @ np.linalg.lstsq(noise, signals - signals.mean(), rcond=None)[0]
    assert np.corrcoef(out[:, 0], neural)[0, 1] > 0.999
    assert np.corrcoef(aggressive[:, 0], neural)[0, 1] < 0.9


def test_region_means_of_denoised_voxels_are_denoised_region_means():
    """Linear in the signals: denoising region means equals averaging denoised voxels (the one-pass claim)."""
    rng = np.random.default_rng(2)
    components, rejected = _components(rng)
    voxels = 800 + components @ rng.standard_normal((5, 30)) * 4 + rng.standard_normal((N_VOLUMES, 30))
    labels = np.repeat(np.arange(3), 10)
    means = np.stack([voxels[:, labels == k].mean(axis=1) for k in range(3)], axis=1)
    denoised_voxels = remove_components_nonaggressively(voxels, components, rejected)
    expected = np.stack([denoised_voxels[:, labels == k].mean(axis=1) for k in range(3)], axis=1)
    np.testing.assert_allclose(remove_components_nonaggressively(means, components, rejected), expected, rtol=1e-10)


def test_censored_volumes_do_not_drive_the_fit():
    rng = np.random.default_rng(3)
    components, rejected = _components(rng)
    signals = 900 + components @ rng.standard_normal((5, 2)) + rng.standard_normal((N_VOLUMES, 2))
    spiked = signals.copy()
    spiked[[10, 11, 50]] += 1e4  # motion spikes, censored
    kept = np.setdiff1d(np.arange(N_VOLUMES), [10, 11, 50])
    clean = remove_components_nonaggressively(signals, components, rejected, sample_mask=kept)
    with_spikes = remove_components_nonaggressively(spiked, components, rejected, sample_mask=kept)
    np.testing.assert_allclose(with_spikes[kept], clean[kept], rtol=1e-12)
    after = _coefficients(with_spikes, components, kept)
    np.testing.assert_allclose(after[rejected], 0, atol=1e-9)


def test_regions_without_signal_are_left_alone_and_nothing_rejected_is_a_copy():
    rng = np.random.default_rng(4)
    components, rejected = _components(rng)
    signals = 900 + components @ rng.standard_normal((5, 3))
    signals[:, 1] = np.nan  # a region below coverage
    out = remove_components_nonaggressively(signals, components, rejected)
    assert np.isnan(out[:, 1]).all() and np.isfinite(out[:, [0, 2]]).all()
    np.testing.assert_allclose(out[:, [0, 2]], remove_components_nonaggressively(signals[:, [0, 2]], components,
                                                                                 rejected))
    same = remove_components_nonaggressively(signals, components, np.zeros(5, dtype=bool))
    np.testing.assert_array_equal(same, signals)
    assert same is not signals


def test_shapes_are_checked():
    signals = np.zeros((10, 2))
    with pytest.raises(ValueError, match="one row per volume"):
        remove_components_nonaggressively(signals, np.zeros((9, 3)), np.ones(3, dtype=bool))
    with pytest.raises(ValueError, match="one entry per component"):
        remove_components_nonaggressively(signals, np.zeros((10, 3)), np.ones(2, dtype=bool))
