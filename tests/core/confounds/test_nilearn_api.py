"""load_confounds / load_confounds_strategy against nilearn 0.14.1 (reference 8.2).

Every comparison checks column names and order, index, values (relative
difference <= 1e-10 of the largest magnitude), the sample mask and the
warnings (category and message); errors must have nilearn's type (ours is a
subclass) and contain nilearn's message. Where nilearn censors every volume
(an empty sample mask), ours must raise RunExcluded instead (a deliberate
difference, docs/differences-from-nilearn.md).
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd
import pytest
from nilearn.interfaces.fmriprep import load_confounds as nilearn_load_confounds
from nilearn.interfaces.fmriprep import load_confounds_strategy as nilearn_load_confounds_strategy

from regionseries.confounds import ConfoundsError, RunExcluded, load_confounds, load_confounds_strategy

MOTION_BASE = ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"]
MODELS = ("basic", "power2", "derivatives", "full")
COMPCOR_TYPES = ("anat_combined", "anat_separated", "temporal", "temporal_anat_combined", "temporal_anat_separated")


def assert_same_output(ours, theirs):
    """Same (confounds, sample_mask) as nilearn, lists included."""
    if isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs)
        for one, other in zip(ours, theirs):
            assert_same_output(one, other)
        return
    if theirs is None:
        assert ours is None
        return
    if isinstance(theirs, np.ndarray):
        assert isinstance(ours, np.ndarray)
        assert ours.dtype == theirs.dtype
        np.testing.assert_array_equal(ours, theirs)
        return
    assert isinstance(ours, pd.DataFrame)
    assert list(ours.columns) == list(theirs.columns)
    assert ours.shape == theirs.shape
    assert ours.index.equals(theirs.index)
    assert list(ours.dtypes) == list(theirs.dtypes)
    if theirs.size:
        reference = theirs.to_numpy(dtype=float)
        finite = np.abs(reference[np.isfinite(reference)])
        scale = finite.max() if finite.size else 0.0
        np.testing.assert_allclose(ours.to_numpy(dtype=float), reference, rtol=1e-10, atol=1e-10 * scale)


def censors_everything(result) -> bool:
    """Whether a nilearn result has an empty sample mask (for one of its images)."""
    if isinstance(result, Exception):
        return False
    masks = result[1] if isinstance(result[1], list) else [result[1]]
    return any(mask is not None and mask.size == 0 for mask in masks)


def assert_same_call(helpers, ours_function, nilearn_function, *args, **kwargs):
    """Call both; compare results, or errors, and warnings. Return ours."""
    ours, our_warnings = helpers.call_recording_warnings(ours_function, *args, **kwargs)
    theirs, their_warnings = helpers.call_recording_warnings(nilearn_function, *args, **kwargs)
    if censors_everything(theirs):
        assert isinstance(ours, RunExcluded), ours
        assert re.search(r"all \d+ volumes are censored", str(ours)), ours
        # nilearn's "All volumes were marked ..." and empty-mean RuntimeWarnings are not ours
        assert our_warnings == [item for item in their_warnings if item[0] is not RuntimeWarning]
        return ours
    if isinstance(theirs, Exception):
        assert isinstance(ours, type(theirs)), (ours, theirs)
        assert str(theirs) in str(ours)
    else:
        assert not isinstance(ours, Exception), ours
        assert_same_output(ours[0], theirs[0])
        assert_same_output(ours[1], theirs[1])
    assert our_warnings == their_warnings
    return ours


def compare(helpers, *args, **kwargs):
    return assert_same_call(helpers, load_confounds, nilearn_load_confounds, *args, **kwargs)


# --- 8.2.1 defaults ---------------------------------------------------------------


def test_defaults_known_answer(helpers, synthetic):
    bold, data, _ = synthetic
    confounds, sample_mask = compare(helpers, str(bold))
    assert confounds.shape == (helpers.N_SYNTH, 30)
    assert list(confounds.columns) == sorted(confounds.columns)
    np.testing.assert_array_equal(sample_mask, np.arange(2, helpers.N_SYNTH))
    expected = data[list(confounds.columns)].copy()
    expected.iloc[0] = expected.iloc[0].fillna(expected.iloc[1])
    expected = expected - expected.iloc[2:].mean()
    np.testing.assert_allclose(confounds.to_numpy(), expected.to_numpy(), rtol=0, atol=1e-12)


def test_path_objects_are_accepted(helpers, synthetic):
    bold, _, _ = synthetic
    by_path = load_confounds(bold)
    by_string = load_confounds(str(bold))
    assert_same_output(by_path[0], by_string[0])


# --- 8.2.2 expansion models ---------------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
def test_expansion_models(helpers, synthetic, model):
    bold, _, _ = synthetic
    suffixes = {
        "basic": [],
        "power2": ["_power2"],
        "derivatives": ["_derivative1"],
        "full": ["_derivative1", "_power2", "_derivative1_power2"],
    }[model]
    for component, base in (
        ("motion", MOTION_BASE),
        ("wm_csf", ["csf", "white_matter"]),
        ("global_signal", ["global_signal"]),
    ):
        confounds, _ = compare(helpers, str(bold), strategy=(component,), **{component: model})
        expected = sorted(name + suffix for name in base for suffix in ["", *suffixes])
        assert list(confounds.columns) == expected


# --- 8.2.3 CompCor ----------------------------------------------------------------

PRE21_EXPECTED = {
    ("anat_combined", "all"): ["a_comp_cor_00", "a_comp_cor_01"],
    ("anat_separated", "all"): ["a_comp_cor_02", "a_comp_cor_03", "a_comp_cor_04"],
    ("anat_separated", 1): ["a_comp_cor_02", "a_comp_cor_03"],
    ("temporal", "all"): ["t_comp_cor_00", "t_comp_cor_01", "t_comp_cor_02"],
    ("temporal_anat_combined", 2): ["a_comp_cor_00", "a_comp_cor_01", "t_comp_cor_00", "t_comp_cor_01"],
}


@pytest.mark.parametrize(("compcor", "n_compcor"), list(itertools.product(COMPCOR_TYPES, ("all", 1, 2))))
def test_compcor_synthetic_both_namings(helpers, tmp_path, compcor, n_compcor):
    data, metadata = helpers.synthetic_confounds()
    current = helpers.write_run(tmp_path / "current", data, metadata)
    old_data, old_metadata = helpers.to_pre21_naming(data, metadata)
    old = helpers.write_run(tmp_path / "old", old_data, old_metadata, suffix="regressors")
    for bold in (current, old):
        confounds, _ = compare(
            helpers, str(bold), strategy=("high_pass", "compcor"), compcor=compcor, n_compcor=n_compcor
        )
    if (compcor, n_compcor) in PRE21_EXPECTED:
        names = [name for name in confounds.columns if "comp_cor" in name]
        assert names == PRE21_EXPECTED[(compcor, n_compcor)]


@pytest.mark.parametrize("fixture", ["v14_bold", "v21_bold"])
@pytest.mark.parametrize("compcor", COMPCOR_TYPES)
def test_compcor_real_files(helpers, request, fixture, compcor):
    bold = request.getfixturevalue(fixture)
    for n_compcor in ("all", 1, 3):
        compare(helpers, str(bold), strategy=("high_pass", "compcor"), compcor=compcor, n_compcor=n_compcor)


# --- real fMRIPrep files, a grid of strategies ---------------------------------------

REAL_STRATEGIES = [
    dict(strategy=("motion", "high_pass", "wm_csf")),
    dict(strategy=("motion", "wm_csf", "global_signal"), motion="power2", wm_csf="full", global_signal="derivatives"),
    dict(strategy=("high_pass", "compcor", "motion"), compcor="temporal_anat_separated", n_compcor=2),
    dict(strategy=("high_pass", "wm_csf", "ica_aroma"), ica_aroma="basic"),
    dict(strategy=("motion", "high_pass", "scrub"), scrub=0, fd_threshold=0.2, std_dvars_threshold=3),
    dict(strategy=("motion", "scrub"), scrub=5, fd_threshold=0.3),
    dict(strategy=("scrub",), fd_threshold=0.2),
    dict(strategy=("global_signal",), demean=False),
    dict(strategy=("motion", "high_pass"), demean=False),
]


@pytest.mark.parametrize("fixture", ["v14_bold", "v21_bold", "no_nss_bold"])
@pytest.mark.parametrize("kwargs", REAL_STRATEGIES, ids=lambda kwargs: "-".join(kwargs["strategy"]))
def test_real_files(helpers, request, fixture, kwargs):
    bold = request.getfixturevalue(fixture)
    compare(helpers, str(bold), **kwargs)


def test_no_nss_no_scrub_demeans_over_all_rows(helpers, no_nss_bold):
    confounds, sample_mask = compare(helpers, str(no_nss_bold), strategy=("motion",))
    assert sample_mask is None
    np.testing.assert_allclose(confounds.mean().to_numpy(), 0, atol=1e-9)


# --- 8.2.4 scrubbing ------------------------------------------------------------


def test_scrub_zero_gives_raw_outliers(helpers, synthetic):
    bold, _, _ = synthetic
    _, sample_mask = compare(helpers, str(bold), strategy=("motion", "scrub"), scrub=0)
    censored = set(range(helpers.N_SYNTH)) - set(sample_mask.tolist())
    assert censored == {0, 1, 10, 13, 30, 31, 40, 50, 57}


def test_scrub_five_removes_short_segments(helpers, synthetic):
    bold, _, _ = synthetic
    _, sample_mask = compare(helpers, str(bold), strategy=("motion", "scrub"), scrub=5)
    censored = set(range(helpers.N_SYNTH)) - set(sample_mask.tolist())
    # 11, 12 lie between outliers 10 and 13; 58, 59 follow outlier 57.
    assert censored == {0, 1, 10, 11, 12, 13, 30, 31, 40, 50, 57, 58, 59}


def test_heavy_scrubbing_keeps_only_long_segments(helpers, synthetic):
    bold, _, _ = synthetic
    _, sample_mask = compare(helpers, str(bold), strategy=("motion", "scrub"), fd_threshold=0.2)
    assert sample_mask.size < 40
    kept = np.zeros(helpers.N_SYNTH, dtype=bool)
    kept[sample_mask] = True
    # nilearn's minimum-segment rule ignores the non-steady-state volumes:
    # counted as kept, every kept run is >= 5 volumes long...
    kept_ignoring_dummies = kept.copy()
    kept_ignoring_dummies[[0, 1]] = True
    runs = [len(list(group)) for value, group in itertools.groupby(kept_ignoring_dummies) if value]
    assert runs and min(runs) >= 5
    # ...so a shorter run can survive right after them (here 2-4).
    assert kept[2:5].all() and not kept[5]


@pytest.mark.parametrize("scrub", [0, 1, 3, 5, 8])
def test_scrub_lengths(helpers, synthetic, scrub):
    bold, _, _ = synthetic
    compare(helpers, str(bold), strategy=("high_pass", "scrub"), scrub=scrub, fd_threshold=0.25)


# --- 8.2.5 strategy shapes and validation ------------------------------------------------


def test_scrub_alone_gives_empty_frame(helpers, synthetic):
    bold, _, _ = synthetic
    confounds, sample_mask = compare(helpers, str(bold), strategy=("scrub",))
    assert confounds.shape == (helpers.N_SYNTH, 0)
    assert 10 not in sample_mask


def test_full_aroma_without_nss_gives_zero_by_zero(helpers, tmp_path):
    data, metadata = helpers.synthetic_confounds()
    data = data.drop(columns=[name for name in data.columns if "non_steady" in name])
    bold = helpers.write_run(tmp_path, data, metadata, bold_name=helpers.AROMA_NAME)
    confounds, sample_mask = compare(helpers, str(bold), strategy=("ica_aroma",))
    assert confounds.shape == (0, 0)
    assert sample_mask is None


def test_empty_strategy_warns_and_returns_none(helpers, synthetic):
    bold, _, _ = synthetic
    confounds, sample_mask = compare(helpers, str(bold), strategy=())
    assert confounds is None
    np.testing.assert_array_equal(sample_mask, np.arange(2, helpers.N_SYNTH))


def test_non_steady_state_in_strategy_warns(helpers, synthetic):
    bold, _, _ = synthetic
    compare(helpers, str(bold), strategy=("motion", "non_steady_state"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(strategy="motion"), "strategy needs to be a tuple or list of strings"),
        (dict(strategy=("compcor",)), "When using compcor, `high_pass` must be included"),
        (dict(strategy=("motion", "nonsense")), "'strategy' must be one of"),
        (dict(strategy=("motion",), motion="cubic"), "'motion' must be one of"),
        (dict(strategy=("wm_csf",), wm_csf="cubic"), "'wm_csf' must be one of"),
        (dict(strategy=("global_signal",), global_signal="x"), "'global_signal' must be one of"),
        (dict(strategy=("high_pass", "compcor"), compcor="anat"), "'compcor' must be one of"),
    ],
)
def test_invalid_parameters(helpers, synthetic, kwargs, message):
    bold, _, _ = synthetic
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        load_confounds(str(bold), **kwargs)
    compare(helpers, str(bold), **kwargs)


def test_invalid_n_compcor(synthetic):
    bold, _, _ = synthetic
    with pytest.raises(ValueError, match="'n_compcor' must be 'all' or a positive integer; '2' was provided"):
        load_confounds(str(bold), strategy=("high_pass", "compcor"), n_compcor="2")


def test_image_name_checks(helpers, synthetic):
    bold, _, _ = synthetic
    wrong = bold.parent / "sub-01_ses-1_task-rest_run-1_space-MNI_desc-brain_mask.nii.gz"
    compare(helpers, str(wrong))
    compare(helpers, str(bold), strategy=("ica_aroma",))  # full AROMA needs the AROMA image
    compare(helpers, str(bold).replace(".nii.gz", ".mgz"))


# --- 8.2.6 missing columns and files -----------------------------------------------------


def _write_without(helpers, tmp_path, drop=(), metadata=True):
    data, sidecar = helpers.synthetic_confounds()
    return helpers.write_run(tmp_path, data.drop(columns=list(drop)), sidecar if metadata else None)


def test_partially_missing_motion_is_aggregated(helpers, tmp_path):
    bold = _write_without(helpers, tmp_path, drop=["trans_x_power2", "rot_z_derivative1"])
    compare(helpers, str(bold))
    with pytest.raises(ConfoundsError, match=r"missing:  \['trans_x_power2', 'rot_z_derivative1'\] \[\]") as error:
        load_confounds(str(bold))
    assert "sub-01_ses-1_task-rest_run-1_desc-confounds_timeseries.tsv" in str(error.value)


def test_absent_component_is_a_missing_keyword(helpers, tmp_path):
    bold = _write_without(helpers, tmp_path, drop=["global_signal"] + [f"global_signal_{s}" for s in ("derivative1", "power2", "derivative1_power2")])
    compare(helpers, str(bold), strategy=("global_signal",))
    with pytest.raises(ConfoundsError, match=r"missing:  \[\] \['global_signal'\]"):
        load_confounds(str(bold), strategy=("global_signal",))


@pytest.mark.parametrize(
    ("drop", "kwargs", "listed"),
    [
        (["csf_power2"], dict(strategy=("wm_csf",), wm_csf="full"), "csf_power2"),
        (["global_signal_derivative1"], dict(strategy=("global_signal",), global_signal="derivatives"), "global_signal_derivative1"),
        (["a_comp_cor_01"], dict(strategy=("high_pass", "compcor")), "a_comp_cor_01"),
        (["std_dvars"], dict(strategy=("scrub",)), "std_dvars"),
        (["framewise_displacement"], dict(strategy=("scrub",)), "framewise_displacement"),
    ],
)
def test_nilearn_keyerror_cases_give_clear_errors(helpers, tmp_path, drop, kwargs, listed):
    """nilearn raises a raw KeyError here (QUIRK); we list the missing columns."""
    bold = _write_without(helpers, tmp_path, drop=drop)
    with pytest.raises(KeyError):
        nilearn_load_confounds(str(bold), **kwargs)
    with pytest.raises(ConfoundsError, match=f"missing:  \\['{listed}'\\]") as error:
        load_confounds(str(bold), **kwargs)
    assert "desc-confounds_timeseries.tsv" in str(error.value)


def test_missing_json_with_anatomical_compcor(helpers, tmp_path):
    bold = _write_without(helpers, tmp_path, metadata=False)
    with pytest.raises(ValueError, match="Could not find associated json file"):
        nilearn_load_confounds(str(bold), strategy=("high_pass", "compcor"))
    with pytest.raises(ConfoundsError, match="Could not find associated json file .*desc-confounds_timeseries.json"):
        load_confounds(str(bold), strategy=("high_pass", "compcor"))
    # temporal CompCor without sidecar: both report the compcor keyword missing
    compare(helpers, str(bold), strategy=("high_pass", "compcor"), compcor="temporal")
    # strategies without anatomical CompCor do not need the sidecar
    compare(helpers, str(bold))


def test_missing_confounds_file(helpers, tmp_path):
    bold = tmp_path / helpers.BOLD_NAME
    compare(helpers, str(bold))
    with pytest.raises(ConfoundsError, match=f"Could not find associated confound file.*BOLD file: {bold}"):
        load_confounds(str(bold))


def test_two_confounds_files(helpers, tmp_path):
    data, metadata = helpers.synthetic_confounds()
    helpers.write_run(tmp_path, data, metadata, suffix="regressors")
    bold = helpers.write_run(tmp_path, data, metadata, suffix="timeseries")
    with pytest.raises(ValueError, match="Found more than one confound file:"):
        nilearn_load_confounds(str(bold))
    with pytest.raises(ConfoundsError, match="Found more than one confound file:") as error:
        load_confounds(str(bold))
    for suffix in ("regressors", "timeseries"):
        assert f"{helpers.BOLD_ENTITIES}_desc-confounds_{suffix}.tsv" in str(error.value)
    assert f"BOLD file: {bold}" in str(error.value)


# --- 8.2.7 everything censored: refused, see test_nilearn_api_refusals.py --------------------


# --- 8.2.8 presets ------------------------------------------------------------------------------


def compare_strategy(helpers, *args, **kwargs):
    return assert_same_call(helpers, load_confounds_strategy, nilearn_load_confounds_strategy, *args, **kwargs)


@pytest.mark.parametrize("preset", ["simple", "scrubbing", "compcor"])
def test_presets(helpers, synthetic, v14_bold, v21_bold, preset):
    for bold in (synthetic[0], v14_bold, v21_bold):
        compare_strategy(helpers, str(bold), denoise_strategy=preset)
        compare_strategy(helpers, str(bold), denoise_strategy=preset, global_signal="full")


def test_aroma_preset(helpers, tmp_path):
    data, metadata = helpers.synthetic_confounds()
    aroma_bold = helpers.write_run(tmp_path, data, metadata, bold_name=helpers.AROMA_NAME)
    confounds, _ = compare_strategy(helpers, str(aroma_bold), denoise_strategy="ica_aroma")
    assert list(confounds.columns) == ["cosine00", "cosine01", "cosine02", "cosine03", "csf", "white_matter"]
    # ica_aroma cannot be overridden: ignored with a warning
    compare_strategy(helpers, str(aroma_bold), denoise_strategy="ica_aroma", ica_aroma="basic")
    # the preprocessed (non-AROMA) image is refused
    compare_strategy(helpers, str(tmp_path / helpers.BOLD_NAME), denoise_strategy="ica_aroma")


def test_preset_global_signal_and_ignored_parameters(helpers, synthetic):
    bold, _, _ = synthetic
    confounds, _ = compare_strategy(helpers, str(bold), denoise_strategy="simple", global_signal="basic")
    assert "global_signal" in confounds.columns
    with pytest.warns(UserWarning, match=r"not needed for the selected strategy 'simple': \['fd_threshold'\]"):
        load_confounds_strategy(str(bold), denoise_strategy="simple", fd_threshold=0.3)
    compare_strategy(helpers, str(bold), denoise_strategy="simple", fd_threshold=0.3, motion=None)
    compare_strategy(helpers, str(bold), denoise_strategy="scrubbing", fd_threshold=0.3, std_dvars_threshold=None)
    compare_strategy(helpers, str(bold), denoise_strategy="compcor", n_compcor=1, compcor="anat_separated")


def test_unknown_preset(helpers, synthetic):
    bold, _, _ = synthetic
    for function in (nilearn_load_confounds_strategy, load_confounds_strategy):
        with pytest.raises(ValueError, match="'denoise_strategy' must be one of .*'simple', 'scrubbing'.*\n'gsr' was provided"):
            function(str(bold), denoise_strategy="gsr")


# --- 8.2.9 several inputs ------------------------------------------------------------------


def test_list_of_images(helpers, synthetic, v21_bold):
    bold, _, _ = synthetic
    confounds, masks = compare(helpers, [str(bold), str(v21_bold)], strategy=("motion", "high_pass"))
    assert isinstance(confounds, list) and len(confounds) == 2 and len(masks) == 2
    single = compare(helpers, [str(bold)])
    assert isinstance(single[0], pd.DataFrame)


def test_gifti_pair_and_cifti(helpers, synthetic):
    bold, _, _ = synthetic
    stem = str(bold.parent / "sub-01_ses-1_task-rest_run-1")
    pair = [f"{stem}_hemi-L_space-fsaverage5_bold.func.gii", f"{stem}_hemi-R_space-fsaverage5_bold.func.gii"]
    confounds, _ = compare(helpers, pair)
    assert isinstance(confounds, pd.DataFrame)
    compare(helpers, [pair, pair], strategy=("motion",))
    compare(helpers, f"{stem}_space-fsLR_den-91k_bold.dtseries.nii")
    compare(helpers, [f"{stem}_hemi-L_space-fsaverage5_bold.func.gii", str(bold)])


# --- tedana ---------------------------------------------------------------------------------


@pytest.fixture
def tedana_bold(helpers, tmp_path):
    stem = tmp_path / helpers.BOLD_ENTITIES
    (tmp_path / f"{stem.name}_desc-ICA_mixing.tsv").symlink_to(helpers.NILEARN_DATA / "test_desc-ICA_mixing.tsv")
    (tmp_path / f"{stem.name}_desc-tedana_metrics.tsv").symlink_to(helpers.NILEARN_DATA / "test_desc-tedana_metrics.tsv")
    return tmp_path / f"{stem.name}_space-MNI152NLin2009cAsym_desc-optcom_bold.nii.gz"


@pytest.mark.parametrize("tedana", ["aggressive", "non-aggressive"])
def test_tedana(helpers, tedana_bold, tedana):
    confounds, sample_mask = compare(helpers, str(tedana_bold), strategy=("tedana",), tedana=tedana)
    assert sample_mask is None
    assert all(name.startswith(("rejected_ICA_", "accepted_ICA_")) for name in confounds.columns)
    assert confounds.shape[1] == (37 if tedana == "aggressive" else 70)
    compare(helpers, str(tedana_bold), strategy=("tedana", "motion"), tedana=tedana, demean=False)


def test_tedana_errors(helpers, tedana_bold, synthetic):
    compare(helpers, str(tedana_bold), strategy=("tedana",), tedana="soft")
    compare(helpers, str(synthetic[0]), strategy=("tedana",))  # not an optcom image
    compare(helpers, str(tedana_bold).replace("optcom", "denoised"), strategy=("tedana",))
    lonely = synthetic[0].parent / "sub-01_ses-1_task-rest_run-1_desc-optcom_bold.nii.gz"
    compare(helpers, str(lonely), strategy=("tedana",))  # no tedana files
    with pytest.raises(ConfoundsError, match=f"Could not find associated confound file.*BOLD file: {lonely}"):
        load_confounds(str(lonely), strategy=("tedana",))


def test_tedana_ignores_anatomical_compcor(helpers, tedana_bold):
    """nilearn looks for a JSON named after the *list* of tedana files and fails
    (QUIRK); we ignore the other components as nilearn's warning says."""
    with pytest.raises(ValueError, match="Could not find associated json file"), pytest.warns(UserWarning):
        nilearn_load_confounds(str(tedana_bold), strategy=("tedana", "high_pass", "compcor"))
    with pytest.warns(UserWarning, match="will NOT be applied for the Tedana confounds"):
        ours, _ = load_confounds(str(tedana_bold), strategy=("tedana", "high_pass", "compcor"))
    expected, _ = nilearn_load_confounds(str(tedana_bold), strategy=("tedana",))
    assert_same_output(ours, expected)


def test_tedana_in_a_folder_named_like_its_files(helpers, tmp_path, tedana_bold):
    """nilearn takes as mixing matrix the first tedana file whose *path* contains
    "mixing", so in a folder such as "ica_mixing/" it reads the metrics table
    (70 components) as the mixing matrix and returns a (70, 0) frame; we match
    the file names' suffixes."""
    folder = tmp_path / "ica_mixing"
    folder.mkdir()
    stem = helpers.BOLD_ENTITIES
    (folder / f"{stem}_desc-ICA_mixing.tsv").symlink_to(helpers.NILEARN_DATA / "test_desc-ICA_mixing.tsv")
    (folder / f"{stem}_desc-tedana_metrics.tsv").symlink_to(helpers.NILEARN_DATA / "test_desc-tedana_metrics.tsv")
    optcom = folder / f"{stem}_space-MNI152NLin2009cAsym_desc-optcom_bold.nii.gz"
    theirs, _ = nilearn_load_confounds(str(optcom), strategy=("tedana",))
    assert theirs.shape == (70, 0)
    ours, _ = load_confounds(str(optcom), strategy=("tedana",))
    expected, _ = nilearn_load_confounds(str(tedana_bold), strategy=("tedana",))  # same files, another folder
    assert expected.shape == (30, 37)  # 30 volumes, the rejected components
    assert_same_output(ours, expected)


# --- sidecar problems -------------------------------------------------------------------------


def test_sidecar_entry_without_mask(helpers, tmp_path):
    """nilearn raises a raw KeyError('Mask'); we name the file and the entry."""
    data, metadata = helpers.synthetic_confounds()
    del metadata["a_comp_cor_01"]["Mask"]
    bold = helpers.write_run(tmp_path, data, metadata)
    with pytest.raises(KeyError):
        nilearn_load_confounds(str(bold), strategy=("high_pass", "compcor"))
    with pytest.raises(ConfoundsError, match="the JSON sidecar entry of a_comp_cor_01 has no 'Mask' field"):
        load_confounds(str(bold), strategy=("high_pass", "compcor"))


def test_sidecar_path_with_tsv_in_directory_name(helpers, tmp_path):
    """nilearn replaces every "tsv" in the path by "json" to find the sidecar,
    so a directory named like "tsv_exports" hides it; we replace the extension."""
    data, metadata = helpers.synthetic_confounds()
    bold = helpers.write_run(tmp_path / "tsv_exports", data, metadata)
    with pytest.raises(ValueError, match="Could not find associated json file .*json_exports"):
        nilearn_load_confounds(str(bold), strategy=("high_pass", "compcor"))
    confounds, _ = load_confounds(str(bold), strategy=("high_pass", "compcor"))
    assert {"a_comp_cor_00", "a_comp_cor_01"} <= set(confounds.columns)
