"""Censoring (sample_mask) with Butterworth filtering: reference items 8.1.11 and 8.1.12.

nilearn 0.14.1 writes the spline interpolation of censored volumes into the
*mirrored* rows (``X[~keep] = Y[~keep]`` with an integer ``keep``). We write it
into the censored rows. Strict oracle: once the censored rows already hold the
correct interpolation, nilearn's mirrored writes change nothing, so nilearn on
pre-filled data must equal us on raw data.
"""

import numpy as np
import pytest

from regionseries.signal import clean

N_TIME = 60
T_R = 2.0
REMOVAL_SETS = {
    "mixed": [0, 1, 10, 11, 12, 30, 58, 59],
    "interior": [5, 6, 7],
    "head": [0, 1, 2],
    "tail": [57, 58, 59],
    "mirrored_pair": [20, 39],
    "both_edges": [0, 1, 58, 59],  # nilearn: nothing dropped, yet the mask is shifted by 2
}
# Sets where some censored volume's mirror (n − 1 − i) is also censored: nilearn
# leaves the raw value of those volumes in the filtered series.
MIRROR_AFFECTED = {"mixed", "mirrored_pair", "both_edges"}


@pytest.fixture(scope="module")
def scrub_data():
    rng = np.random.default_rng(11)
    signals = np.cumsum(rng.standard_normal((N_TIME, 3)), axis=0) + 20
    confounds = np.cumsum(rng.standard_normal((N_TIME, 2)), axis=0)
    return signals, confounds


def _keep(name):
    return np.setdiff1d(np.arange(N_TIME), REMOVAL_SETS[name])


def _nilearn_on_prefilled(oracle, helpers, signals, confounds, keep, extrapolate, **options):
    return oracle.clean(
        helpers.spline_prefilled(signals, keep, T_R, extrapolate),
        confounds=None if confounds is None else helpers.spline_prefilled(
            confounds, keep, T_R, extrapolate),
        sample_mask=keep.copy(), t_r=T_R, extrapolate=extrapolate, **options,
    )


@pytest.mark.parametrize("extrapolate", [False, True])
@pytest.mark.parametrize("removal", sorted(REMOVAL_SETS))
def test_scrubbing_matches_nilearn_on_prefilled_data(oracle, helpers, scrub_data, removal,
                                                     extrapolate):
    signals, confounds = scrub_data
    keep = _keep(removal)
    options = dict(low_pass=0.1, standardize=None)
    ours = clean(signals, sample_mask=keep, t_r=T_R, extrapolate=extrapolate, **options)
    assert ours.shape == (keep.size, 3)
    helpers.assert_f64(
        ours, _nilearn_on_prefilled(oracle, helpers, signals, None, keep, extrapolate, **options)
    )
    with_confounds = dict(options, high_pass=0.01, standardize="zscore_sample")
    ours = clean(signals, confounds=confounds, sample_mask=keep, t_r=T_R,
                 extrapolate=extrapolate, **with_confounds)
    helpers.assert_f64(ours, _nilearn_on_prefilled(oracle, helpers, signals, confounds, keep,
                                                   extrapolate, **with_confounds))


@pytest.mark.parametrize("removal", sorted(REMOVAL_SETS))
def test_nilearn_mirror_defect_on_raw_data(oracle, helpers, scrub_data, removal):
    """On raw data nilearn differs from us exactly when a censored volume has a censored mirror."""
    signals, _ = scrub_data
    keep = _keep(removal)
    options = dict(low_pass=0.1, standardize=None, t_r=T_R)
    ours = clean(signals, sample_mask=keep, **options)
    theirs = oracle.clean(signals, sample_mask=keep.copy(), **options)
    if removal in MIRROR_AFFECTED:
        assert np.abs(ours - theirs).max() > 1e-3 * signals.std()
    else:
        helpers.assert_f64(ours, theirs)


def test_censored_values_do_not_matter(oracle, scrub_data):
    """A spike in a censored volume changes nothing for us, but leaks into nilearn's output."""
    signals, confounds = scrub_data
    keep = _keep("mirrored_pair")
    spiked = signals.copy()
    spiked[[20, 39]] += 500.0
    spiked_confounds = confounds.copy()
    spiked_confounds[[20, 39]] -= 300.0
    options = dict(low_pass=0.1, high_pass=0.01, t_r=T_R, sample_mask=keep)
    np.testing.assert_allclose(
        clean(spiked, confounds=spiked_confounds, **options),
        clean(signals, confounds=confounds, **options), rtol=0, atol=1e-9,
    )
    theirs = oracle.clean(spiked, **dict(options, sample_mask=keep.copy()))
    theirs_clean = oracle.clean(signals, **dict(options, sample_mask=keep.copy()))
    assert np.abs(theirs - theirs_clean).max() > 0.1


@pytest.mark.parametrize("extrapolate", [False, True])
def test_boolean_and_index_masks_agree(scrub_data, extrapolate):
    signals, confounds = scrub_data
    keep = _keep("mixed")
    boolean = np.zeros(N_TIME, dtype=bool)
    boolean[keep] = True
    options = dict(confounds=confounds, low_pass=0.1, t_r=T_R, extrapolate=extrapolate)
    by_index = clean(signals, sample_mask=keep, **options)
    np.testing.assert_array_equal(clean(signals, sample_mask=boolean, **options), by_index)
    np.testing.assert_array_equal(clean(signals, sample_mask=list(keep), **options), by_index)
    np.testing.assert_array_equal(
        clean(signals, sample_mask=[bool(b) for b in boolean], **options), by_index
    )
    assert by_index.shape == (keep.size, 3)


def test_caller_mask_is_never_modified(oracle, scrub_data):
    signals, _ = scrub_data
    mask = np.arange(2, N_TIME, dtype=np.int32)
    clean(signals, sample_mask=mask, low_pass=0.1, t_r=T_R)
    np.testing.assert_array_equal(mask, np.arange(2, N_TIME))
    # nilearn 0.14.1 shifts the caller's int32 array in place (documented difference).
    oracle.clean(signals, sample_mask=mask, low_pass=0.1, t_r=T_R)
    assert mask[0] == 0


def test_interpolation_needs_two_kept_volumes(scrub_data):
    signals, _ = scrub_data
    with pytest.raises(ValueError, match="needs at least 2 kept volumes; the sample mask keeps 1"):
        clean(signals, sample_mask=np.array([30]), low_pass=0.1, t_r=T_R, extrapolate=True)


def test_edge_censoring_shortens_the_filtered_series(scrub_data):
    """Without extrapolation, head/tail censored volumes are left out of the filtering."""
    signals, _ = scrub_data
    keep = np.arange(30, N_TIME)  # 30 kept volumes: fewer than band-pass padlen 33 + 1
    with pytest.raises(ValueError, match="greater than padlen, which is 33"):
        clean(signals, sample_mask=keep, low_pass=0.1, high_pass=0.01, t_r=T_R)
    result = clean(signals, sample_mask=keep, low_pass=0.1, high_pass=0.01, t_r=T_R,
                   extrapolate=True)
    assert result.shape == (30, 3)


def test_linear_steps_commute_with_averaging():
    """clean(mean of voxels) == mean of clean(voxels) for a fixed sample mask.

    Interpolation, detrending, Butterworth band-pass, censoring and confound
    regression are linear in the signals, so a region's cleaned mean signal
    can be computed from its raw mean signal.
    """
    rng = np.random.default_rng(21)
    n_voxels, n_regions, n_time = 40, 4, 90
    voxels = np.cumsum(rng.standard_normal((n_time, n_voxels)), axis=0) + 100
    confounds = rng.standard_normal((n_time, 5))
    averaging = np.zeros((n_voxels, n_regions))
    averaging[np.arange(n_voxels), np.arange(n_voxels) % n_regions] = 1.0 / (n_voxels // n_regions)
    keep = np.setdiff1d(np.arange(n_time), [0, 3, 17, 18, 40, 41, 42, 89])
    for filter_options in (
        dict(filter="butterworth", low_pass=0.08, high_pass=0.01, t_r=2.0),
        dict(filter="butterworth", low_pass=0.08, high_pass=0.01, t_r=2.0, extrapolate=True),
        dict(filter="cosine", high_pass=0.01, t_r=2.0),
        dict(filter=False),
    ):
        options = dict(detrend=True, standardize=None, confounds=confounds,
                       sample_mask=keep, **filter_options)
        region_first = clean(voxels @ averaging, **options)
        voxel_first = clean(voxels, **options) @ averaging
        assert region_first.shape == (keep.size, n_regions)
        np.testing.assert_allclose(region_first, voxel_first, rtol=0,
                                   atol=1e-10 * np.abs(voxel_first).max())
