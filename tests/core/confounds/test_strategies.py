"""DenoiseStrategy, presets, get_strategy and strategy files (JSON and YAML)."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest
import yaml
from nilearn.interfaces.fmriprep import load_confounds_strategy as nilearn_load_confounds_strategy

from regionseries.confounds import (
    PRESET_NAMES,
    ConfoundsError,
    DenoiseStrategy,
    StrategyFileUnavailable,
    get_strategy,
    load_confounds,
    plan_denoising,
)

# --- presets = nilearn's load_confounds_strategy presets ------------------------------------

NILEARN_EQUIVALENT = {
    "simple": ("simple", {}),
    "simple+gsr": ("simple", {"global_signal": "basic"}),
    "scrubbing": ("scrubbing", {}),
    "scrubbing+gsr": ("scrubbing", {"global_signal": "basic"}),
    "compcor": ("compcor", {}),
    "compcor+gsr": ("compcor", {"global_signal": "basic"}),
    "ica_aroma": ("ica_aroma", {}),
    "ica_aroma+gsr": ("ica_aroma", {"global_signal": "basic"}),
}


@pytest.mark.parametrize("preset", sorted(NILEARN_EQUIVALENT))
def test_presets_match_nilearn(helpers, tmp_path, preset):
    data, metadata = helpers.synthetic_confounds()
    strategy = get_strategy(preset)
    bold_name = helpers.AROMA_NAME if strategy.requires_aroma_image else helpers.BOLD_NAME
    bold = helpers.write_run(tmp_path, data, metadata, bold_name=bold_name)
    nilearn_name, extra = NILEARN_EQUIVALENT[preset]
    expected, expected_mask = nilearn_load_confounds_strategy(str(bold), denoise_strategy=nilearn_name, **extra)
    ours, our_mask = load_confounds(str(bold), **strategy.load_confounds_kwargs())
    assert list(ours.columns) == list(expected.columns)
    np.testing.assert_allclose(ours.to_numpy(), expected.to_numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(our_mask, expected_mask)


def test_none_preset():
    strategy = get_strategy("none")
    assert strategy.components == () and not strategy.censors_motion
    assert strategy.desc == "none"


def test_preset_list_and_descs():
    assert PRESET_NAMES == (
        "none", "simple", "simple+gsr", "scrubbing", "scrubbing+gsr", "compcor", "compcor+gsr", "ica_aroma",
        "ica_aroma+gsr",
    )
    descs = [get_strategy(name).desc for name in PRESET_NAMES]
    assert descs == [
        "none", "simple", "simpleGSR", "scrubbing", "scrubbingGSR", "compcor", "compcorGSR", "icaAroma", "icaAromaGSR",
    ]
    assert all(desc.isalnum() for desc in descs)


def test_aroma_flag():
    assert get_strategy("ica_aroma").requires_aroma_image
    assert not get_strategy("simple").requires_aroma_image
    assert not DenoiseStrategy("x", components=("high_pass", "ica_aroma"), ica_aroma="basic").requires_aroma_image


def test_clean_kwargs_and_dict():
    strategy = get_strategy("scrubbing", low_pass=0.08, high_pass=0.01)
    assert strategy.clean_kwargs == {
        "detrend": True,
        "standardize": "zscore_sample",
        "standardize_confounds": True,
        "filter": "butterworth",
        "low_pass": 0.08,
        "high_pass": 0.01,
    }
    settings = strategy.to_dict()
    assert json.loads(json.dumps(settings)) == settings
    assert settings["desc"] == "scrubbing" and settings["components"] == ["high_pass", "motion", "wm_csf", "scrub"]


# --- overrides ---------------------------------------------------------------------------


def test_overrides():
    strategy = get_strategy("scrubbing", fd_threshold=0.2, std_dvars_threshold=None, filter=False, standardize="psc")
    assert (strategy.fd_threshold, strategy.std_dvars_threshold) == (0.2, 1.5)  # None = not given
    assert strategy.filter is False and strategy.standardize == "psc"
    assert strategy.name == "scrubbing"
    assert get_strategy(strategy) is strategy


def test_override_without_scrub_warns():
    with pytest.warns(UserWarning, match=r"\['fd_threshold'\] have no effect: strategy 'simple' does not censor"):
        get_strategy("simple", fd_threshold=0.3)


@pytest.mark.parametrize("name, value", [("ica_aroma", "orthaggr"), ("tedana", "aggressive")])
def test_component_setting_without_its_component_warns(name, value):
    with pytest.warns(UserWarning, match=rf"{name} \('{value}'\) has no effect: strategy 'scrubbing' has no "
                                         rf"'{name}' component"):
        strategy = get_strategy("scrubbing", **{name: value})
    assert getattr(strategy, name) == value  # set all the same (recorded only where used)


def test_unknown_override():
    with pytest.raises(TypeError, match=r"unknown override\(s\) \['fd'\]"):
        get_strategy("simple", fd=0.3)
    with pytest.raises(TypeError, match="unknown override"):
        get_strategy("simple", name="other")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (dict(fd_threshold=-0.5), "'fd_threshold' must be a positive number or null; -0.5"),
        (dict(high_pass=0.1, low_pass=0.05), r"'high_pass' \(0.1 Hz\) must be lower than 'low_pass' \(0.05 Hz\)"),
        (dict(filter="fir"), "'filter' must be one of"),
        (dict(standardize=True), "'standardize' must be one of"),
        (dict(detrend="yes"), "'detrend' must be true or false"),
        (dict(filter="cosine", low_pass=0.1), "'low_pass' is not available with filter 'cosine'"),
    ],
)
def test_invalid_override_values(override, message):
    with pytest.raises(ValueError, match=message):
        get_strategy("scrubbing", **override)


# --- names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "desc"),
    [("36P", "36P"), ("acompcor50", "acompcor50"), ("my-strategy+gsr", "myStrategyGSR"), ("a_b_c", "aBC")],
)
def test_desc_of_names(name, desc):
    assert DenoiseStrategy(name).desc == desc


@pytest.mark.parametrize("name", ["", "with space", "simple+", "+gsr", "dot.name", "ünï", "a__b", 5])
def test_invalid_names(name):
    with pytest.raises(ValueError, match="is not valid: use letters and digits"):
        DenoiseStrategy(name)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (dict(components=("motion", "nonsense")), "'components' must be one of"),
        (dict(components=("compcor",)), "component 'compcor' requires 'high_pass'"),
        (dict(components=("non_steady_state",)), "'non_steady_state' is not needed"),
        (dict(components=("tedana",), tedana="soft"), "'tedana' must be one of"),
        (dict(motion="cubic"), "'motion' must be one of"),
        (dict(compcor="anat"), "'compcor' must be one of"),
        (dict(n_compcor=0), "'n_compcor' must be 'all' or a positive integer"),
        (dict(ica_aroma="aggressive"), "'ica_aroma' must be one of"),
        (dict(min_segment_length=2.5), "'min_segment_length' must be an integer >= 0"),
        (dict(extra_column_patterns=("csf[",)), "not a valid regular expression"),
        (dict(extra_columns=("",)), "'extra_columns' must hold column names"),
        (dict(demean=1), "'demean' must be true or false"),
    ],
)
def test_invalid_settings(settings, message):
    with pytest.raises(ValueError, match=message):
        DenoiseStrategy("custom", **settings)


# --- strategy files ------------------------------------------------------------------------

CUSTOM = {
    "name": "36P",
    "description": "24 motion + 4 expansions each of WM, CSF and global signal",
    "components": ["motion", "wm_csf", "global_signal", "high_pass", "scrub"],
    "motion": "full",
    "wm_csf": "full",
    "global_signal": "full",
    "fd_threshold": 0.3,
    "std_dvars_threshold": None,
    "min_segment_length": 3,
    "extra_columns": ["rmsd"],
    "extra_column_patterns": ["aroma_motion_\\d+"],
    "low_pass": 0.08,
    "high_pass": 0.009,
    "standardize": "zscore_sample",
}


@pytest.mark.parametrize("suffix", [".json", ".yaml", ".yml"])
def test_custom_strategy_file(helpers, tmp_path, suffix):
    path = tmp_path / f"strategy{suffix}"
    path.write_text(json.dumps(CUSTOM) if suffix == ".json" else yaml.safe_dump(CUSTOM))
    strategy = get_strategy(path)
    assert strategy == DenoiseStrategy(**{**CUSTOM, "components": tuple(CUSTOM["components"])})
    assert strategy.desc == "36P"
    table_dir = tmp_path / "func"
    data, metadata = helpers.synthetic_confounds()
    helpers.write_run(table_dir, data, metadata)
    plan = plan_denoising(str(path), next(table_dir.glob("*.tsv")), helpers.N_SYNTH, t_r=2.0)
    assert "rmsd" in plan.confound_names
    assert {"aroma_motion_01", "aroma_motion_02"} <= set(plan.confound_names)
    assert len(plan.confound_names) == 24 + 8 + 4 + 4 + 1 + 2
    assert 40 not in plan.motion_outliers  # DVARS spike ignored: criterion disabled
    assert 10 in plan.motion_outliers


def test_yaml_strategy_with_base(helpers, tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        "# a stricter scrubbing\n"
        "name: scrubbing02\n"
        "base: scrubbing\n"
        "fd_threshold: 0.2\n"
        "extra_column_patterns:\n"
        "  - 't_comp_cor_0[01]'\n"
        "filter: null\n"
    )
    strategy = get_strategy(path)
    base = get_strategy("scrubbing")
    assert strategy == dataclasses.replace(
        base, name="scrubbing02", fd_threshold=0.2, extra_column_patterns=("t_comp_cor_0[01]",), filter=False
    )


def test_strategy_file_round_trip(tmp_path):
    original = get_strategy("compcor", high_pass=0.01, filter="cosine", n_compcor=5)
    original = dataclasses.replace(original, name="compcor5")
    path = tmp_path / "compcor5.json"
    path.write_text(json.dumps(original.to_dict()))
    assert get_strategy(path) == original


@pytest.mark.parametrize(
    ("filename", "text", "message"),
    [
        ("s.json", '{"name": "x", "motoin": "full"}', r"unknown strategy setting\(s\) \['motoin'\]"),
        ("s.json", '{"components": ["motion"]}', "the strategy has no 'name'"),
        ("s.json", '{"name": "my strategy"}', "strategy name 'my strategy' is not valid"),
        ("s.json", '{"name": "x", "components": ["compcor"]}', "component 'compcor' requires 'high_pass'"),
        ("s.json", '{"name": "x", "fd_threshold": "0.5"}', "'fd_threshold' must be a positive number"),
        ("s.json", '{"name": "x", "components": 3}', "'components' must be a list; 3 was provided"),
        ("s.json", '{"name": "x", "base": "simplest"}', "'base' must be one of"),
        ("s.json", '{"name": "x", "desc": "y"}', r"'desc' is derived from the name \('x'\); 'y' was provided"),
        ("s.json", '{"name": "x",', "the strategy file is not valid JSON"),
        ("s.yaml", "name: [x\n", "the strategy file is not valid YAML"),
        ("s.yaml", "- name: x\n", "a strategy file must hold a mapping of settings, not a list"),
    ],
)
def test_bad_strategy_files(tmp_path, filename, text, message):
    path = tmp_path / filename
    path.write_text(text)
    with pytest.raises(ConfoundsError, match=message) as error:
        get_strategy(path)
    assert str(error.value).startswith(str(path))


def test_missing_strategy_file(tmp_path):
    path = tmp_path / "absent.yaml"
    with pytest.raises(StrategyFileUnavailable, match=f"{path}: the strategy file cannot be read: file not found"):
        get_strategy(str(path))
    link = tmp_path / "mine.json"
    (tmp_path / ".git" / "annex" / "objects").mkdir(parents=True)
    link.symlink_to(".git/annex/objects/Xy/Zw/MD5E-s9--0f.json/MD5E-s9--0f.json")
    with pytest.raises(StrategyFileUnavailable, match=f"datalad get {link}"):
        get_strategy(link)


@pytest.mark.parametrize("content, message", [
    (b"", "the strategy file cannot be read: empty file (0 bytes)"),
    ('{"name": "r\u00e9sum\u00e9"}'.encode("latin-1"), "the strategy file cannot be read: not UTF-8 text"),
])
def test_strategy_file_content_problems_are_not_unavailability(tmp_path, content, message):
    """Empty or not UTF-8: the file is there but wrong (a usage error), not missing."""
    path = tmp_path / "mine.json"
    path.write_bytes(content)
    with pytest.raises(ConfoundsError, match=re.escape(message)) as error:
        get_strategy(path)
    assert not isinstance(error.value, StrategyFileUnavailable)


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_strategy_file_with_a_byte_order_mark(tmp_path, suffix):
    path = tmp_path / f"mine{suffix}"
    text = '{"name": "mine", "base": "simple"}' if suffix == ".json" else "name: mine\nbase: simple\n"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert get_strategy(path) == dataclasses.replace(get_strategy("simple"), name="mine")


def test_unknown_strategy_spec():
    with pytest.raises(ConfoundsError, match="unknown denoising strategy 'simplest': not a preset"):
        get_strategy("simplest")
    with pytest.raises(TypeError, match="a strategy is a preset name, a file path or a DenoiseStrategy"):
        get_strategy(3)
