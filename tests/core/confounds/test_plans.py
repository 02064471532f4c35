"""plan_denoising: confound matrix, censoring, dummy scans, exclusions, errors."""

from __future__ import annotations

import json
import math
import pickle
import re
import warnings

import numpy as np
import pytest
from nilearn.interfaces.fmriprep import load_confounds as nilearn_load_confounds
from nilearn.interfaces.fmriprep import load_confounds_strategy as nilearn_load_confounds_strategy

from regionseries.confounds import (
    ConfoundsError,
    DenoiseStrategy,
    RunExcluded,
    get_strategy,
    plan_denoising,
    read_confounds,
)
from regionseries.core.confounds.plans import strategy_settings_used

N = 60


def tsv_of(bold):
    return next(bold.parent.glob("*_desc-confounds_*.tsv"))


def assert_matrix_close(ours, expected_frame):
    expected = expected_frame.to_numpy()
    np.testing.assert_allclose(ours, expected, rtol=1e-10, atol=1e-10 * np.abs(expected).max())


# --- agreement with nilearn's presets -----------------------------------------------------


def test_simple_plan(helpers, synthetic):
    bold, data, _ = synthetic
    plan = plan_denoising("simple", tsv_of(bold), N)
    expected, expected_mask = nilearn_load_confounds_strategy(str(bold), denoise_strategy="simple")
    assert plan.confound_names == list(expected.columns)
    assert plan.confounds.dtype == np.float64 and plan.confounds.shape == (N, 30)
    assert_matrix_close(plan.confounds, expected)
    np.testing.assert_array_equal(plan.sample_mask, expected_mask)
    assert plan.sample_mask.dtype == np.int64
    np.testing.assert_array_equal(plan.dummy_volumes, [0, 1])
    assert plan.motion_outliers.size == 0 and plan.motion_outliers.dtype == np.int64
    assert plan.mean_fd == pytest.approx(np.nanmean(data["framewise_displacement"]), rel=1e-12)
    assert plan.clean_kwargs == get_strategy("simple").clean_kwargs
    assert plan.dof_lost == 2 + 30 + 2  # censored + regressors + detrend
    assert (plan.n_kept, plan.n_censored) == (58, 2)


def test_scrubbing_plan(helpers, synthetic):
    bold, _, _ = synthetic
    plan = plan_denoising("scrubbing", tsv_of(bold), N)
    expected, expected_mask = nilearn_load_confounds_strategy(str(bold), denoise_strategy="scrubbing")
    assert plan.confound_names == list(expected.columns)
    assert_matrix_close(plan.confounds, expected)
    np.testing.assert_array_equal(plan.sample_mask, expected_mask)
    assert plan.motion_outliers.tolist() == [10, 11, 12, 13, 30, 31, 40, 50, 57, 58, 59]
    assert plan.dof_lost == 13 + 36 + 2
    summary = plan.summary()
    assert json.loads(json.dumps(summary)) == summary
    assert summary["NumberOfKeptVolumes"] == 47 and summary["MotionOutliers"][0] == 10


@pytest.mark.parametrize("pre21", [False, True])
def test_compcor_plan(helpers, tmp_path, pre21):
    data, metadata = helpers.synthetic_confounds()
    if pre21:
        data, metadata = helpers.to_pre21_naming(data, metadata)
    bold = helpers.write_run(tmp_path, data, metadata)
    plan = plan_denoising("compcor", tsv_of(bold), N)
    expected, _ = nilearn_load_confounds_strategy(str(bold), denoise_strategy="compcor")
    assert plan.confound_names == list(expected.columns)
    assert {"a_comp_cor_00", "a_comp_cor_01"} <= set(plan.confound_names)
    assert_matrix_close(plan.confounds, expected)


@pytest.mark.parametrize("fixture", ["v14_bold", "v21_bold"])
def test_separated_compcor_uses_current_names(helpers, request, fixture):
    """Same values as nilearn; pre-21 a_comp_cor (WM/CSF) appear as w_/c_comp_cor."""
    bold = request.getfixturevalue(fixture)
    table = read_confounds(tsv_of(bold))
    strategy = DenoiseStrategy("sep", components=("high_pass", "compcor"), compcor="anat_separated", n_compcor=3)
    plan = plan_denoising(strategy, table, table.n_volumes)
    expected, expected_mask = nilearn_load_confounds(
        str(bold), strategy=("high_pass", "compcor"), compcor="anat_separated", n_compcor=3
    )
    expected = expected.rename(columns=table.renamed)
    assert sum(name.startswith("w_comp_cor") for name in plan.confound_names) == 3
    assert sum(name.startswith("c_comp_cor") for name in plan.confound_names) == 3
    assert plan.confound_names == sorted(expected.columns)
    assert_matrix_close(plan.confounds, expected[plan.confound_names])
    np.testing.assert_array_equal(plan.sample_mask, expected_mask)


def test_real_file_presets(helpers, v14_bold, v21_bold):
    for bold in (v14_bold, v21_bold):
        table = read_confounds(tsv_of(bold))
        plan = plan_denoising("ica_aroma", table, 30)
        expected, expected_mask = nilearn_load_confounds(str(bold), strategy=("high_pass", "wm_csf"))
        assert plan.confound_names == list(expected.columns)
        assert_matrix_close(plan.confounds, expected)
        np.testing.assert_array_equal(plan.sample_mask, expected_mask)
        assert plan_denoising("none", table, 30).confounds is None


def test_first_row_na_is_filled(helpers, synthetic):
    bold, _, _ = synthetic
    plan = plan_denoising("simple", tsv_of(bold), N)
    derivative = [i for i, name in enumerate(plan.confound_names) if "derivative1" in name]
    assert derivative
    np.testing.assert_array_equal(plan.confounds[0, derivative], plan.confounds[1, derivative])
    assert np.isfinite(plan.confounds).all()


def test_demean_over_kept_volumes(helpers, synthetic):
    bold, _, _ = synthetic
    plan = plan_denoising("scrubbing", tsv_of(bold), N)
    np.testing.assert_allclose(plan.confounds[plan.sample_mask].mean(axis=0), 0, atol=1e-9)
    raw = plan_denoising(DenoiseStrategy("raw", components=("motion",), demean=False), tsv_of(bold), N)
    table = read_confounds(tsv_of(bold))
    np.testing.assert_array_equal(raw.confounds[5:], table.data[raw.confound_names].to_numpy()[5:])


# --- dummy scans ------------------------------------------------------------------------------


def test_dummy_scans_modes(helpers, synthetic, no_nss_bold):
    tsv = tsv_of(synthetic[0])
    assert plan_denoising("simple", tsv, N, dummy_scans=None).dummy_volumes.tolist() == [0, 1]
    assert plan_denoising("simple", tsv, N, dummy_scans="auto").dummy_volumes.tolist() == [0, 1]
    four = plan_denoising("simple", tsv, N, dummy_scans=4)
    assert four.dummy_volumes.tolist() == [0, 1, 2, 3]
    np.testing.assert_array_equal(four.sample_mask, np.arange(4, N))
    zero = plan_denoising("simple", tsv, N, dummy_scans=0)
    np.testing.assert_array_equal(zero.sample_mask, np.arange(N))
    no_nss = read_confounds(tsv_of(no_nss_bold))
    for mode in (None, "auto"):
        assert plan_denoising("none", no_nss, 30, dummy_scans=mode).dummy_volumes.size == 0


@pytest.mark.parametrize("dummy_scans", [-1, 2.5, "all", True])
def test_invalid_dummy_scans(synthetic, dummy_scans):
    with pytest.raises(ValueError, match="dummy_scans must be None, 'auto' or an integer >= 0"):
        plan_denoising("simple", tsv_of(synthetic[0]), N, dummy_scans=dummy_scans)


def test_short_segment_after_dummies_is_censored(helpers, tmp_path):
    """nilearn ignores non-steady-state volumes in its minimum-segment rule, so
    it keeps the 4 volumes 2-5 between the dummies and an outlier at 6. A
    plan censors every kept run shorter than min_segment_length."""
    data, metadata = helpers.synthetic_confounds()
    data["framewise_displacement"] = data["framewise_displacement"].clip(upper=0.3)
    data["std_dvars"] = 1.0
    data.loc[6, "framewise_displacement"] = 1.5
    bold = helpers.write_run(tmp_path, data, metadata)
    _, nilearn_mask = nilearn_load_confounds_strategy(str(bold), denoise_strategy="scrubbing")
    assert nilearn_mask[:4].tolist() == [2, 3, 4, 5]
    plan = plan_denoising("scrubbing", tsv_of(bold), N)
    assert plan.motion_outliers.tolist() == [2, 3, 4, 5, 6]
    assert plan.sample_mask[0] == 7
    np.testing.assert_array_equal(plan.sample_mask, nilearn_mask[4:])


def test_segment_rule_with_integer_dummies(helpers, tmp_path):
    data, metadata = helpers.synthetic_confounds()
    data["framewise_displacement"] = data["framewise_displacement"].clip(upper=0.3)
    data["std_dvars"] = 1.0
    data.loc[[9, 55], "framewise_displacement"] = 1.5
    bold = helpers.write_run(tmp_path, data, metadata)
    plan = plan_denoising("scrubbing", tsv_of(bold), N, dummy_scans=3)
    assert plan.dummy_volumes.tolist() == [0, 1, 2]
    assert plan.motion_outliers.tolist() == [9, 55, 56, 57, 58, 59]  # 3-8 is 6 volumes long: kept
    no_rule = plan_denoising(get_strategy("scrubbing", min_segment_length=0), tsv_of(bold), N, dummy_scans=3)
    assert no_rule.motion_outliers.tolist() == [9, 55]


# --- exclusions ------------------------------------------------------------------------------------


def test_every_volume_censored(helpers, tmp_path):
    data, metadata = helpers.synthetic_confounds()
    data["framewise_displacement"] = 5.0
    bold = helpers.write_run(tmp_path, data, metadata)
    with pytest.raises(RunExcluded) as caught:
        plan_denoising("scrubbing", tsv_of(bold), N)
    error = caught.value
    assert isinstance(error, ValueError)  # as the Python API's refusals (test_nilearn_api_refusals.py)
    assert error.path == str(tsv_of(bold)) and error.strategy == "scrubbing"
    assert error.reason == (
        "all 60 volumes are censored (2 non-steady-state, 58 motion outliers at FD > 0.5 mm, "
        "std DVARS > 1.5, segments < 5 volumes)."
    )
    assert str(error).startswith(f"{tsv_of(bold)}: run excluded with strategy 'scrubbing': all 60")
    again = pickle.loads(pickle.dumps(error))
    assert (again.path, again.reason, again.strategy) == (error.path, error.reason, error.strategy)


def test_all_dummies(synthetic):
    with pytest.raises(RunExcluded, match=r"all 60 volumes are censored \(60 non-steady-state, 0 motion outliers\)"):
        plan_denoising("none", tsv_of(synthetic[0]), N, dummy_scans=75)


def test_fewer_kept_volumes_than_regressors(synthetic):
    tsv = tsv_of(synthetic[0])
    censor_only = plan_denoising(DenoiseStrategy("censor", components=("scrub",), fd_threshold=0.2), tsv, N)
    assert censor_only.confounds is None and censor_only.confound_names == []
    with pytest.raises(RunExcluded) as caught:
        plan_denoising(get_strategy("scrubbing", fd_threshold=0.2), tsv, N)
    match = re.fullmatch(
        r"only (\d+) of 60 volumes are kept \(2 non-steady-state, (\d+) motion outliers at FD > 0.2 mm, "
        r"std DVARS > 1.5, segments < 5 volumes\), which is not more than the 36 regressors.",
        caught.value.reason,
    )
    assert match, caught.value.reason
    kept, outliers = int(match.group(1)), int(match.group(2))
    assert kept == censor_only.n_kept and outliers == censor_only.motion_outliers.size
    assert kept <= 36


def test_excluded_run_keeps_its_counts(synthetic):
    tsv = tsv_of(synthetic[0])
    censor_only = plan_denoising(DenoiseStrategy("censor", components=("scrub",), fd_threshold=0.2), tsv, N)
    with pytest.raises(RunExcluded) as caught:
        plan_denoising(get_strategy("scrubbing", fd_threshold=0.2), tsv, N)
    counts = caught.value.plan
    assert counts.confounds is None and len(counts.confound_names) == 36  # the regressors of the reason
    np.testing.assert_array_equal(counts.sample_mask, censor_only.sample_mask)
    np.testing.assert_array_equal(counts.motion_outliers, censor_only.motion_outliers)
    assert counts.mean_fd == censor_only.mean_fd
    assert counts.dof_lost == N  # 36 regressors, 2 for detrending and the censored volumes exceed the run
    again = pickle.loads(pickle.dumps(caught.value))
    np.testing.assert_array_equal(again.plan.sample_mask, counts.sample_mask)
    with pytest.raises(RunExcluded) as every_volume:
        plan_denoising("none", tsv, N, dummy_scans=75)
    assert every_volume.value.plan.n_kept == 0 and every_volume.value.plan.dummy_volumes.size == N


def test_kept_equal_to_regressors_is_excluded(helpers, synthetic):
    tsv = tsv_of(synthetic[0])
    # 30 regressors (simple); keep exactly 30 volumes with 30 dummy scans
    with pytest.raises(RunExcluded, match="only 30 of 60 volumes are kept .* not more than the 30 regressors"):
        plan_denoising("simple", tsv, N, dummy_scans=30)
    assert plan_denoising("simple", tsv, N, dummy_scans=29).n_kept == 31


# --- bad input --------------------------------------------------------------------------------------


def test_row_count_mismatch(synthetic):
    tsv = tsv_of(synthetic[0])
    with pytest.raises(ConfoundsError, match=f"{tsv}: the confounds file has 60 rows but the BOLD run has 61 volumes"):
        plan_denoising("simple", tsv, 61)


@pytest.mark.parametrize("n_volumes", [0, -3, 60.0, "60"])
def test_invalid_n_volumes(synthetic, n_volumes):
    with pytest.raises(ValueError, match="n_volumes must be a positive integer"):
        plan_denoising("simple", tsv_of(synthetic[0]), n_volumes)


def test_missing_columns_are_all_listed(helpers, tmp_path):
    data, metadata = helpers.synthetic_confounds()
    gs = [name for name in data.columns if name.startswith("global_signal")]
    data = data.drop(columns=["trans_x_power2", "csf", *gs])
    bold = helpers.write_run(tmp_path, data, metadata)
    with pytest.raises(ConfoundsError) as caught:
        plan_denoising("simple+gsr", tsv_of(bold), N)
    message = str(caught.value)
    assert message.startswith(f"{tsv_of(bold)}: strategy 'simple+gsr' cannot be applied: ")
    assert (
        "missing columns ['trans_x_power2', 'csf', 'global_signal'];"
        " nothing found for component(s) ['global_signal']"
    ) in message
    assert "Columns in the file: [" in message


def test_missing_scrubbing_columns(helpers, tmp_path):
    data, metadata = helpers.synthetic_confounds()
    bold = helpers.write_run(tmp_path, data.drop(columns=["std_dvars"]), metadata)
    with pytest.raises(ConfoundsError, match=r"missing columns \['std_dvars'\]"):
        plan_denoising("scrubbing", tsv_of(bold), N)
    fd_only = DenoiseStrategy("fdonly", components=("motion", "scrub"), std_dvars_threshold=None)
    plan = plan_denoising(fd_only, tsv_of(bold), N)
    assert 10 in plan.motion_outliers and 40 not in plan.motion_outliers


def test_missing_sidecar_for_compcor(helpers, tmp_path):
    data, _ = helpers.synthetic_confounds()
    bold = helpers.write_run(tmp_path, data, None)
    tsv = tsv_of(bold)
    with pytest.raises(ConfoundsError, match=re.escape(
        f"{tsv}: CompCor 'anat_combined' needs the JSON sidecar {tsv.with_suffix('.json')}"
    )):
        plan_denoising("compcor", tsv, N)
    temporal = DenoiseStrategy("tcc", components=("high_pass", "compcor"), compcor="temporal", n_compcor=2)
    plan = plan_denoising(temporal, tsv, N)
    assert plan.confound_names == ["cosine00", "cosine01", "cosine02", "cosine03", "t_comp_cor_00", "t_comp_cor_01"]


@pytest.mark.parametrize("content, problem", [(b"", "empty file (0 bytes)"), (b'{"a_comp_cor_00": ', "not valid JSON")])
def test_a_bad_sidecar_fails_only_anatomical_compcor(helpers, tmp_path, content, problem):
    data, _ = helpers.synthetic_confounds()
    bold = helpers.write_run(tmp_path, data, None)
    tsv = tsv_of(bold)
    tsv.with_suffix(".json").write_bytes(content)
    table = read_confounds(tsv)
    with pytest.raises(ConfoundsError, match=re.escape(
        f"{tsv}: CompCor 'anat_combined' needs the JSON sidecar (it gives the mask of "
        f"each anatomical CompCor component), which cannot be used: {tsv.with_suffix('.json')}: {problem}"
    )):
        plan_denoising("compcor", table, N)
    assert plan_denoising("simple", table, N).confound_names == plan_denoising("simple", tsv, N).confound_names
    temporal = DenoiseStrategy("tcc", components=("high_pass", "compcor"), compcor="temporal", n_compcor=1)
    assert plan_denoising(temporal, table, N).confound_names[-1] == "t_comp_cor_00"


def test_sidecar_without_compcor_entries_is_named(helpers, tmp_path):
    data, metadata = helpers.synthetic_confounds()
    bold = helpers.write_run(tmp_path, data, {key: value for key, value in metadata.items() if "comp_cor" not in key})
    tsv = tsv_of(bold)
    with pytest.raises(ConfoundsError, match=re.escape(
        f"{tsv.with_suffix('.json')}: the JSON sidecar of {tsv.name} has no entry for the anatomical CompCor "
        "components"
    )):
        plan_denoising("compcor", tsv, N)


def test_infinite_value_names_the_file_and_column(helpers, tmp_path):
    data, metadata = helpers.synthetic_confounds()
    data.loc[10, "trans_y"] = np.inf
    bold = helpers.write_run(tmp_path, data, metadata)
    tsv = tsv_of(bold)
    with pytest.raises(ConfoundsError, match=re.escape(
        f"{tsv}: confound columns ['trans_y'] hold infinite values in rows [10]"
    )):
        plan_denoising("simple", tsv, N)
    censored = DenoiseStrategy("x", components=("motion",), motion="basic")
    plan = plan_denoising(censored, tsv, N, dummy_scans=11)  # row 10 is not kept: nothing to refuse
    assert 10 not in plan.sample_mask


def test_extra_columns_errors(synthetic):
    tsv = tsv_of(synthetic[0])
    with pytest.raises(ConfoundsError, match=r"missing columns \['heart_rate'\]"):
        plan_denoising(DenoiseStrategy("x", extra_columns=("heart_rate",)), tsv, N)
    with pytest.raises(ConfoundsError, match=r"no column matches pattern\(s\) \['resp_.\*'\]"):
        plan_denoising(DenoiseStrategy("x", extra_column_patterns=("resp_.*",)), tsv, N)
    plan = plan_denoising(DenoiseStrategy("x", extra_column_patterns=("a_comp_cor_0[0-9]", "rot_.")), tsv, N)
    assert plan.confound_names == ["a_comp_cor_00", "a_comp_cor_01", "rot_x", "rot_y", "rot_z"]


def test_na_beyond_first_row(helpers, tmp_path):
    data, metadata = helpers.synthetic_confounds()
    data.loc[[7, 9], "rmsd"] = np.nan
    bold = helpers.write_run(tmp_path, data, metadata)
    with pytest.raises(ConfoundsError, match=r"confound columns \['rmsd'\] have n/a values in rows \[7, 9\]"):
        plan_denoising(DenoiseStrategy("x", extra_columns=("rmsd",)), tsv_of(bold), N)


def test_run_without_cosines(helpers, tmp_path):
    data, metadata = helpers.synthetic_confounds()
    data = data.drop(columns=[name for name in data.columns if name.startswith("cosine")])
    bold = helpers.write_run(tmp_path, data, metadata)
    with pytest.warns(UserWarning, match="no cosine columns, so the 'high_pass' component of strategy 'simple'"):
        plan = plan_denoising("simple", tsv_of(bold), N)
    expected, _ = nilearn_load_confounds_strategy(str(bold), denoise_strategy="simple")
    assert plan.confound_names == list(expected.columns) and len(plan.confound_names) == 26
    assert_matrix_close(plan.confounds, expected)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # filtering in cleaning: nothing to warn about
        plan_denoising(get_strategy("simple", high_pass=0.01), tsv_of(bold), N, t_r=2.0)


# --- filtering and degrees of freedom ------------------------------------------------------------------


def test_t_r_needed_for_filtering(synthetic):
    with pytest.raises(ValueError, match="t_r \\(s\\) must be a positive number to plan strategy 'simple', which filters"):
        plan_denoising(get_strategy("simple", low_pass=0.1), tsv_of(synthetic[0]), N)


def test_dof_with_butterworth(synthetic):
    tsv = tsv_of(synthetic[0])
    plan = plan_denoising(get_strategy("none", low_pass=0.08, high_pass=0.01), tsv, N, t_r=2.0)
    # Nyquist 0.25 Hz; the pass band keeps 0.07/0.25 of the 58 kept volumes' DCT frequencies
    assert plan.dof_lost == 2 + 0 + 2 + round(58 * (1 - 0.07 / 0.25))
    assert plan.clean_kwargs["low_pass"] == 0.08
    capped = plan_denoising(get_strategy("simple", low_pass=0.08, high_pass=0.01), tsv, N, t_r=2.0)
    assert capped.dof_lost == N


def test_dof_with_cosine_filter(synthetic):
    tsv = tsv_of(synthetic[0])
    cosine = get_strategy("none", filter="cosine", high_pass=0.01, detrend=False)
    plan = plan_denoising(cosine, tsv, N, t_r=2.0)
    assert plan.dof_lost == 2 + math.floor(2 * 60 * 0.01 * 2.0)
    # fMRIPrep cosines already in the confounds: clean adds none
    with_cosines = plan_denoising(get_strategy("simple", filter="cosine", high_pass=0.01), tsv, N, t_r=2.0)
    assert with_cosines.dof_lost == 2 + 30 + 2


def test_mean_fd_without_fd_column(helpers, tmp_path):
    data, metadata = helpers.synthetic_confounds()
    bold = helpers.write_run(tmp_path, data.drop(columns=["framewise_displacement"]), metadata)
    plan = plan_denoising("simple", tsv_of(bold), N)
    assert math.isnan(plan.mean_fd)
    assert plan.summary()["MeanFramewiseDisplacement"] is None


def test_plan_of_camelcase_run(helpers, tmp_path):
    raw = helpers.camelcase_confounds()
    path = tmp_path / "sub-01_task-rest_bold_confounds.tsv"
    raw.to_csv(path, sep="\t", index=False, na_rep="n/a")
    plan = plan_denoising(DenoiseStrategy("old", components=("motion", "high_pass", "wm_csf", "scrub"),
                                          motion="basic"), path, len(raw))
    assert plan.dummy_volumes.tolist() == [0]
    assert plan.motion_outliers.tolist() == [15, 16]
    assert "trans_x" in plan.confound_names and "cosine01" in plan.confound_names


def test_plan_on_an_empty_table():
    """A run without confounds file: the pipeline plans 'none' on an empty table."""
    from pathlib import Path

    import pandas as pd

    from regionseries.confounds import ConfoundsTable

    table = ConfoundsTable(tsv_path=Path("(no confounds file)"), json_path=None,
                           data=pd.DataFrame(index=range(N)), metadata=None)
    plan = plan_denoising("none", table, N)
    np.testing.assert_array_equal(plan.sample_mask, np.arange(N))
    assert plan.confounds is None and math.isnan(plan.mean_fd) and plan.dof_lost == 2
    assert plan_denoising("none", table, N, dummy_scans=3).sample_mask[0] == 3
    with pytest.raises(ConfoundsError) as caught, pytest.warns(UserWarning, match="no cosine columns"):
        plan_denoising("simple", table, N)
    assert str(caught.value) == (
        "(no confounds file): strategy 'simple' cannot be applied: missing columns ['trans_x', 'trans_y', "
        "'trans_z', 'rot_x', 'rot_y', 'rot_z', 'trans_x_derivative1', 'trans_x_power2', "
        "'trans_x_derivative1_power2', 'trans_y_derivative1', 'trans_y_power2', "
        "'trans_y_derivative1_power2', 'trans_z_derivative1', 'trans_z_power2', "
        "'trans_z_derivative1_power2', 'rot_x_derivative1', 'rot_x_power2', 'rot_x_derivative1_power2', "
        "'rot_y_derivative1', 'rot_y_power2', 'rot_y_derivative1_power2', 'rot_z_derivative1', "
        "'rot_z_power2', 'rot_z_derivative1_power2', 'csf', 'white_matter']; nothing found for "
        "component(s) ['motion', 'wm_csf']. Columns in the file: []."
    )


# --- settings recorded --------------------------------------------------------------------------------


def test_strategy_settings_used(synthetic):
    scrubbing = strategy_settings_used(get_strategy("scrubbing"))
    assert set(get_strategy("scrubbing").to_dict()) - set(scrubbing) == {
        "global_signal", "compcor", "n_compcor", "ica_aroma", "tedana", "extra_columns", "extra_column_patterns",
        "min_time",  # min_time 0 (off) is not a setting the outputs depend on
        "motion_filter_type", "band_stop_min", "band_stop_max", "motion_filter_order"}  # no motion filter

    assert scrubbing == {k: v for k, v in get_strategy("scrubbing").to_dict().items() if k in scrubbing}
    assert "fd_threshold" not in strategy_settings_used(get_strategy("simple"))
    assert strategy_settings_used(get_strategy("simple+gsr"))["global_signal"] == "basic"
    # no regressor: demeaning and standardising confounds do nothing; no filter: no cut-offs
    bare = strategy_settings_used(DenoiseStrategy("bare", components=("scrub",), filter=False, low_pass=0.1))
    assert not {"demean", "standardize_confounds", "low_pass", "high_pass", "motion"} & set(bare)
    assert bare["fd_threshold"] == 0.5 and bare["filter"] is False
    extra = strategy_settings_used(DenoiseStrategy("extra", extra_columns=("csf",)))
    assert extra["extra_columns"] == ["csf"] and extra["demean"] is True
    assert plan_denoising("scrubbing", tsv_of(synthetic[0]), N).summary()["Strategy"] == scrubbing
