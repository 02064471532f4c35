"""plan_denoising with a motion filter: filtered FD censors, filtered motion regressors, records."""

from __future__ import annotations

import dataclasses
import json
import warnings

import numpy as np
import pandas as pd
import pytest

from regionseries.confounds import (
    ConfoundsError,
    DenoiseStrategy,
    get_strategy,
    plan_denoising,
)
from regionseries.core.confounds.motion_filter import framewise_displacement
from regionseries.core.confounds.plans import strategy_settings_used

from .conftest import BOLD_ENTITIES, write_run

TR = 0.8  # s, a multiband run: Nyquist 0.625 Hz, breathing at 0.3 Hz is resolved
N = 300
N_DUMMY = 2
JERK = 200  # a 1 mm head jerk between volumes 199 and 200
BREATHING_HZ = 0.3
MOTION = ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z")
CENSORING = DenoiseStrategy(name="fdonly", components=("motion", "scrub"), fd_threshold=0.3,
                            std_dvars_threshold=None, min_segment_length=0)
NOTCH = {"motion_filter_type": "notch", "band_stop_min": 12.0, "band_stop_max": 24.0}  # 0.2-0.4 Hz


def planted_motion(seed=0, n=N, t_r=TR, breathing_mm=0.25, jerk=JERK):
    """Realignment parameters: slow drift, 0.3 Hz breathing in trans_y (the phase-encoding
    axis) strong enough for FD to cross 0.3 mm, a 1 mm jerk in trans_z at volume ``jerk``."""
    rng = np.random.default_rng(seed)
    steps = rng.standard_normal((n, 6)) * np.array([0.01, 0.01, 0.01, 0.0001, 0.0001, 0.0001])
    steps[0] = 0
    motion = np.cumsum(steps, axis=0)
    motion[:, 1] += breathing_mm * np.sin(2 * np.pi * BREATHING_HZ * t_r * np.arange(n))
    motion[jerk:, 2] += 1.0
    return motion


def confounds_frame(motion, n_dummy=N_DUMMY):
    """An fMRIPrep-like table of the motion parameters (with expansions), their FD and dummies."""
    columns = {}
    for k, name in enumerate(MOTION):
        values = motion[:, k]
        derivative = np.concatenate([[np.nan], np.diff(values)])
        columns.update({name: values, f"{name}_derivative1": derivative, f"{name}_power2": values**2,
                        f"{name}_derivative1_power2": derivative**2})
    columns["framewise_displacement"] = framewise_displacement(motion)
    columns["std_dvars"] = np.concatenate([[np.nan], np.ones(len(motion) - 1)])
    for k in range(n_dummy):
        columns[f"non_steady_state_outlier{k:02d}"] = np.eye(len(motion))[k]
    return pd.DataFrame(columns)


@pytest.fixture
def planted(tmp_path):
    """The confounds TSV of the planted run."""
    write_run(tmp_path / "func", confounds_frame(planted_motion()), None)
    return tmp_path / "func" / f"{BOLD_ENTITIES}_desc-confounds_timeseries.tsv"


def test_notch_uncensors_breathing_and_keeps_the_jerk_censored(planted):
    raw = plan_denoising(CENSORING, planted, N, t_r=TR)
    filtered = plan_denoising(dataclasses.replace(CENSORING, **NOTCH), planted, N, t_r=TR)
    # without the filter, breathing censors a large part of the run, the jerk included
    assert raw.motion_outliers.size > 50 and JERK in raw.motion_outliers
    # with it, the jerk is the only volume censored
    np.testing.assert_array_equal(filtered.motion_outliers, [JERK])
    np.testing.assert_array_equal(filtered.dummy_volumes, [0, 1])
    assert filtered.n_kept == N - N_DUMMY - 1
    fd = filtered.filtered_fd
    assert np.isnan(fd[: N_DUMMY + 1]).all() and np.isfinite(fd[N_DUMMY + 1:]).all()
    # away from the jerk (which the notch spreads over its neighbours at a lower amplitude) the
    # filtered FD is small; fMRIPrep's crosses the threshold there
    away = np.setdiff1d(np.arange(N_DUMMY + 1, N), np.arange(JERK - 5, JERK + 6))
    assert fd[away].max() < 0.15 < 0.3 < raw_fd(planted)[away].max()
    assert fd[JERK] > 0.6 and np.nanmax(np.delete(fd, JERK)) < 0.3
    # mean FD stays fMRIPrep's (unfiltered, as XCP-D's QC); the filtered one is recorded next to it
    assert filtered.mean_fd == raw.mean_fd
    summary = filtered.summary()
    assert summary["MeanFramewiseDisplacementFiltered"] == pytest.approx(np.nanmean(fd))
    assert summary["MotionFilter"]["BandStopHertz"] == pytest.approx([0.2, 0.4])
    assert summary["MotionFilter"]["Type"] == "notch" and summary["MotionFilter"]["Order"] == 4
    assert raw.filtered_fd is None and raw.motion_filter is None and "MotionFilter" not in raw.summary()


def raw_fd(tsv):
    return pd.read_csv(tsv, sep="\t", na_values="n/a")["framewise_displacement"].to_numpy(float)


def test_motion_regressors_come_from_the_filtered_parameters(planted):
    strategy = dataclasses.replace(CENSORING, **NOTCH)
    plan = plan_denoising(strategy, planted, N, t_r=TR)
    assert plan.confound_names == sorted(f"{name}{suffix}_filtered" for name in MOTION
                                         for suffix in ("", "_derivative1", "_power2", "_derivative1_power2"))
    trans_y = plan.confounds[:, plan.confound_names.index("trans_y_filtered")]
    kept = plan.sample_mask
    # the breathing is gone from the regressor (centred over the kept volumes, strategy.demean)
    spectrum = np.abs(np.fft.rfft(trans_y[kept] - trans_y[kept].mean()))
    frequencies = np.fft.rfftfreq(kept.size, TR)
    raw_plan = plan_denoising(CENSORING, planted, N, t_r=TR)
    raw_trans_y = raw_plan.confounds[:, raw_plan.confound_names.index("trans_y")]
    raw_spectrum = np.abs(np.fft.rfft(raw_trans_y[kept] - raw_trans_y[kept].mean()))
    band = np.abs(frequencies - BREATHING_HZ) < 0.02
    assert spectrum[band].max() < 0.01 * raw_spectrum[band].max()
    # expansions recomputed from the filtered parameters; the first derivative row filled from the second
    strategy = dataclasses.replace(strategy, demean=False)
    plan = plan_denoising(strategy, planted, N, t_r=TR)
    column = {name: plan.confounds[:, i] for i, name in enumerate(plan.confound_names)}
    np.testing.assert_allclose(column["trans_y_derivative1_filtered"][1:], np.diff(column["trans_y_filtered"]))
    np.testing.assert_allclose(column["trans_y_power2_filtered"], column["trans_y_filtered"] ** 2)
    np.testing.assert_allclose(column["trans_y_derivative1_power2_filtered"],
                               column["trans_y_derivative1_filtered"] ** 2)
    assert column["trans_y_derivative1_filtered"][0] == column["trans_y_derivative1_filtered"][1]
    assert np.isfinite(plan.confounds).all()


def test_filter_with_only_censoring_keeps_fmriprep_regressors(planted):
    strategy = DenoiseStrategy(name="wmcsf", components=("wm_csf", "scrub"), fd_threshold=0.3,
                               std_dvars_threshold=None, min_segment_length=0, **NOTCH)
    frame = confounds_frame(planted_motion())
    frame["csf"] = np.linspace(0, 1, N)
    frame["white_matter"] = np.cos(np.arange(N))
    write_run(planted.parent, frame, None)
    plan = plan_denoising(strategy, planted, N, t_r=TR)
    assert plan.confound_names == ["csf", "white_matter"]
    np.testing.assert_array_equal(plan.motion_outliers, [JERK])


def test_low_pass_also_uncensors_breathing_but_spreads_a_jerk(planted):
    """A 0.1 Hz low-pass (Gratton et al. 2020) removes the breathing, and smooths the 1 mm jerk
    into a ramp of several volumes: its displacement is kept, spread below the threshold."""
    strategy = dataclasses.replace(CENSORING, motion_filter_type="lp", band_stop_min=6.0)
    plan = plan_denoising(strategy, planted, N, t_r=TR)
    assert plan.motion_filter["CutoffHertz"] == pytest.approx(0.1)
    assert plan.motion_outliers.size == 0
    assert 0.9 < plan.filtered_fd[JERK - 8:JERK + 9].sum() < 1.3
    away = np.setdiff1d(np.arange(N_DUMMY + 1, N), np.arange(JERK - 8, JERK + 9))
    assert plan.filtered_fd[away].max() < 0.1


def test_filter_through_a_pass_band_gives_fmriprep_s_fd(planted):
    """A notch far from anything in the parameters changes nothing: the recomputed FD is fMRIPrep's."""
    time = np.arange(N) * TR
    slow = np.column_stack([0.3 * np.sin(2 * np.pi * f * time + f) for f in (0.01, 0.02, 0.03, 0.04, 0.05, 0.06)])
    slow[:, 3:] /= 50  # rotations in rad
    quiet = confounds_frame(slow)
    write_run(planted.parent, quiet, None)
    strategy = dataclasses.replace(CENSORING, motion_filter_type="notch", band_stop_min=24.0, band_stop_max=30.0)
    plan = plan_denoising(strategy, planted, N, t_r=TR)
    fmriprep = quiet["framewise_displacement"].to_numpy()
    middle = slice(N // 5, -N // 5)  # away from the edges of the finite series
    np.testing.assert_allclose(plan.filtered_fd[middle], fmriprep[middle], rtol=0.01)


def test_dummy_volumes_are_not_filtered(planted):
    """Wrong realignment of the non-steady-state volumes does not ring into the kept ones."""
    motion = planted_motion()
    frame = confounds_frame(motion)
    write_run(planted.parent, frame, None)
    before = plan_denoising(dataclasses.replace(CENSORING, **NOTCH), planted, N, t_r=TR)
    motion[:N_DUMMY] += 3.0
    write_run(planted.parent, confounds_frame(motion), None)
    after = plan_denoising(dataclasses.replace(CENSORING, **NOTCH), planted, N, t_r=TR)
    np.testing.assert_array_equal(before.filtered_fd, after.filtered_fd)
    kept = after.sample_mask
    np.testing.assert_allclose(before.confounds[kept], after.confounds[kept], atol=1e-12)


def test_missing_first_row_of_the_parameters_is_filled(planted):
    frame = confounds_frame(planted_motion(), n_dummy=0)
    frame.loc[0, "trans_x"] = np.nan
    write_run(planted.parent, frame, None)
    plan = plan_denoising(dataclasses.replace(CENSORING, **NOTCH), planted, N, t_r=TR)
    np.testing.assert_array_equal(plan.motion_outliers, [JERK])


def test_n_a_in_the_parameters_is_an_error_naming_file_and_column(planted):
    frame = confounds_frame(planted_motion())
    frame.loc[50, "rot_y"] = np.nan
    write_run(planted.parent, frame, None)
    strategy = DenoiseStrategy(name="scrubonly", components=("scrub",), std_dvars_threshold=None, **NOTCH)
    with pytest.raises(ConfoundsError, match=rf"^{planted}: the motion filter .* \['rot_y'\] .* rows \[50\]"):
        plan_denoising(strategy, planted, N, t_r=TR)


def test_missing_parameters_are_named(planted):
    write_run(planted.parent, confounds_frame(planted_motion()).drop(columns=["rot_z"]), None)
    strategy = DenoiseStrategy(name="scrubonly", components=("scrub",), std_dvars_threshold=None, **NOTCH)
    with pytest.raises(ConfoundsError, match=r"needs the six realignment parameters; missing columns \['rot_z'\]"):
        plan_denoising(strategy, planted, N, t_r=TR)


def test_low_pass_above_nyquist_names_the_file(planted):
    strategy = dataclasses.replace(CENSORING, motion_filter_type="lp", band_stop_min=48.0)  # 0.8 Hz
    with pytest.raises(ConfoundsError, match=rf"^{planted}: the low-pass motion filter's cut-off 48"):
        plan_denoising(strategy, planted, N, t_r=TR)


def test_motion_filter_needs_the_repetition_time(planted):
    with pytest.raises(ValueError, match="filters the motion parameters"):
        plan_denoising(dataclasses.replace(CENSORING, **NOTCH), planted, N)


def test_settings_used_list_the_filter_only_when_it_acts():
    assert not set(strategy_settings_used(CENSORING)) & {"motion_filter_type", "band_stop_min", "band_stop_max",
                                                          "motion_filter_order"}
    notch = strategy_settings_used(dataclasses.replace(CENSORING, **NOTCH))
    assert (notch["motion_filter_type"], notch["band_stop_min"], notch["band_stop_max"],
            notch["motion_filter_order"]) == ("notch", 12.0, 24.0, 4)
    low_pass = strategy_settings_used(dataclasses.replace(CENSORING, motion_filter_type="lp", band_stop_min=6.0,
                                                          band_stop_max=20.0))
    assert low_pass["band_stop_min"] == 6.0 and "band_stop_max" not in low_pass
    # no motion regressor and no FD censoring: the filter changes nothing
    none = DenoiseStrategy(name="wm", components=("wm_csf",), **NOTCH)
    assert "motion_filter_type" not in strategy_settings_used(none)


def test_strategy_validates_the_filter_settings():
    with pytest.raises(ValueError, match="needs 'band_stop_max'"):
        DenoiseStrategy(name="x", motion_filter_type="notch", band_stop_min=12.0)
    with pytest.raises(ValueError, match="multiple of 4"):
        DenoiseStrategy(name="x", motion_filter_type="notch", band_stop_min=12.0, band_stop_max=18.0,
                        motion_filter_order=2)
    assert DenoiseStrategy(name="x", motion_filter_type=False).motion_filter_type is None


def test_overrides_and_their_warnings():
    strategy = get_strategy("scrubbing", **NOTCH)
    assert strategy.filters_motion and strategy.band_stop_max == 24.0
    with pytest.warns(UserWarning, match="have no effect: strategy 'scrubbing' has no motion filter"):
        get_strategy("scrubbing", band_stop_min=12.0)
    with pytest.warns(UserWarning, match="not Hz"):
        get_strategy("scrubbing", motion_filter_type="notch", band_stop_min=0.2, band_stop_max=0.4)
    with pytest.warns(UserWarning, match="not used by the 'lp' motion filter"):
        get_strategy(get_strategy("scrubbing", **NOTCH), motion_filter_type="lp", band_stop_max=30.0)
    with pytest.warns(UserWarning, match="no effect on strategy 'none'"):
        get_strategy("none", **NOTCH)
    with warnings.catch_warnings():  # planning a made strategy does not warn again
        warnings.simplefilter("error")
        get_strategy(get_strategy("scrubbing", **NOTCH))


def test_strategy_file_with_a_motion_filter(tmp_path):
    path = tmp_path / "breathing.yaml"
    path.write_text("name: breathing\nbase: scrubbing\nmotion_filter_type: notch\nband_stop_min: 12\n"
                    "band_stop_max: 18\nmotion_filter_order: 8\n")
    strategy = get_strategy(path)
    assert (strategy.motion_filter_type, strategy.band_stop_min, strategy.band_stop_max,
            strategy.motion_filter_order) == ("notch", 12, 18, 8)
    written = tmp_path / "written.json"  # the Strategy record of the sidecars reads back
    written.write_text(json.dumps(strategy.to_dict()))
    assert get_strategy(written).to_dict() == strategy.to_dict()
    assert get_strategy(path, motion_filter_type=False).motion_filter_type is None  # --motion-filter-type none
