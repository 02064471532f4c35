"""min_time (XCP-D's --min-time): runs whose kept volumes last less than it are excluded, with every rule listed."""

from __future__ import annotations

import json
import math

import pytest

from regionseries.confounds import (
    ConfoundsError,
    DenoiseStrategy,
    RunExcluded,
    get_strategy,
    plan_denoising,
)
from regionseries.core.confounds.plans import strategy_settings_used

N = 60
TR = 2.0


def tsv_of(bold):
    return next(bold.parent.glob("*_desc-confounds_*.tsv"))


def test_presets_and_new_strategies_have_no_minimum():
    assert DenoiseStrategy("custom").min_time == 0.0
    for preset in ("simple", "scrubbing", "compcor", "ica_aroma+gsr"):
        assert get_strategy(preset).min_time == 0.0
        assert "min_time" not in strategy_settings_used(get_strategy(preset))


def test_kept_duration_below_min_time_excludes_the_run(synthetic):
    tsv = tsv_of(synthetic[0])
    kept = plan_denoising("simple", tsv, N, t_r=TR).n_kept  # 58 volumes: 116 s
    assert kept == 58
    at_the_limit = plan_denoising(get_strategy("simple", min_time=kept * TR), tsv, N, t_r=TR)
    assert at_the_limit.n_kept == kept  # not below: kept
    with pytest.raises(RunExcluded) as caught:
        plan_denoising(get_strategy("simple", min_time=240), tsv, N, t_r=TR)
    assert caught.value.reason == "the 58 kept volumes last 116 s (TR 2 s), less than the minimum of 240 s (min_time)."
    assert caught.value.plan.n_kept == 58 and caught.value.plan.strategy.min_time == 240.0


def test_min_time_counts_censored_volumes_as_lost(synthetic):
    tsv = tsv_of(synthetic[0])
    scrubbed = plan_denoising("scrubbing", tsv, N, t_r=TR)
    assert scrubbed.n_kept < 58  # FD and DVARS outliers and short segments
    limit = (scrubbed.n_kept + 1) * TR
    assert plan_denoising(get_strategy("simple", min_time=limit), tsv, N, t_r=TR).n_kept == 58
    with pytest.raises(RunExcluded, match=rf"the {scrubbed.n_kept} kept volumes last {scrubbed.n_kept * 2} s"):
        plan_denoising(get_strategy("scrubbing", min_time=limit), tsv, N, t_r=TR)


def test_every_broken_rule_is_in_the_reason(helpers, tmp_path):
    data, metadata = helpers.synthetic_confounds()
    data["framewise_displacement"] = 5.0
    bold = helpers.write_run(tmp_path, data, metadata)
    with pytest.raises(RunExcluded) as caught:
        plan_denoising(get_strategy("scrubbing", min_time=60), tsv_of(bold), N, t_r=TR)
    assert caught.value.reason == (
        "all 60 volumes are censored (2 non-steady-state, 58 motion outliers at FD > 0.5 mm, std DVARS > 1.5, "
        "segments < 5 volumes); the 0 kept volumes last 0 s (TR 2 s), less than the minimum of 60 s (min_time)."
    )


def test_too_few_volumes_for_the_regressors_and_too_short(synthetic):
    tsv = tsv_of(synthetic[0])
    with pytest.raises(RunExcluded) as caught:
        plan_denoising(get_strategy("simple", min_time=100), tsv, N, dummy_scans=30, t_r=TR)
    first, second = caught.value.reason.split("; ")
    assert first.startswith("only 30 of 60 volumes are kept") and "not more than the 30 regressors" in first
    assert second == "the 30 kept volumes last 60 s (TR 2 s), less than the minimum of 100 s (min_time)."


def test_min_time_needs_the_repetition_time(synthetic):
    with pytest.raises(ValueError, match=r"t_r \(s\) must be a positive number .* 240 s of kept volumes"):
        plan_denoising(get_strategy("simple", min_time=240), tsv_of(synthetic[0]), N)


@pytest.mark.parametrize("value", [-1, math.nan, math.inf, True, "240"])
def test_invalid_min_time(value):
    with pytest.raises(ValueError, match="'min_time' must be a number of seconds >= 0"):
        DenoiseStrategy("custom", min_time=value)


def test_min_time_in_strategy_files_and_sidecar_settings(tmp_path):
    path = tmp_path / "abcd.json"
    path.write_text(json.dumps({"name": "abcd", "base": "scrubbing", "min_time": 240}))
    strategy = get_strategy(path)
    assert strategy.min_time == 240.0 and isinstance(strategy.min_time, float)
    assert strategy_settings_used(strategy)["min_time"] == 240.0
    assert get_strategy(path, min_time=0).min_time == 0.0  # the command line turns it off
    assert "min_time" not in strategy_settings_used(get_strategy(path, min_time=0))
    yaml_path = tmp_path / "short.yaml"
    yaml_path.write_text("name: short\nmin_time: 30.5\n")
    assert get_strategy(yaml_path).min_time == 30.5
    path.write_text(json.dumps({"name": "abcd", "min_time": -5}))
    with pytest.raises(ConfoundsError, match="'min_time' must be a number of seconds >= 0"):
        get_strategy(path)
    round_trip = tmp_path / "round_trip.json"
    round_trip.write_text(json.dumps(strategy.to_dict()))  # what the sidecars store reads back
    assert get_strategy(round_trip) == strategy
