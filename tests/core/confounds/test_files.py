"""find_confounds_file: the confounds TSV of a BOLD file (core/confounds/files.py)."""

from __future__ import annotations

import pytest

from regionseries.confounds import ConfoundsError, find_confounds_file


def test_find_drops_space_and_res(helpers, synthetic):
    bold, _, _ = synthetic
    found = find_confounds_file(bold)
    assert found == bold.parent / f"{helpers.BOLD_ENTITIES}_desc-confounds_timeseries.tsv"


def test_find_regressors_suffix(helpers, v14_bold):
    assert find_confounds_file(str(v14_bold)).name == f"{helpers.BOLD_ENTITIES}_desc-confounds_regressors.tsv"


def test_find_with_echo_and_part_entities(tmp_path):
    (tmp_path / "sub-01_task-rest_part-mag_desc-confounds_timeseries.tsv").write_text("csf\n1\n")
    (tmp_path / "sub-01_task-rest_run-2_desc-confounds_timeseries.tsv").write_text("csf\n1\n")
    bold = tmp_path / "sub-01_task-rest_part-mag_space-T1w_desc-preproc_bold.nii.gz"
    assert find_confounds_file(bold).name == "sub-01_task-rest_part-mag_desc-confounds_timeseries.tsv"


def test_find_does_not_pair_another_run(tmp_path):
    """A run without confounds must not get another run's file (xcp_d#1062)."""
    (tmp_path / "sub-01_task-rest_run-2_desc-confounds_timeseries.tsv").write_text("csf\n1\n")
    bold = tmp_path / "sub-01_task-rest_run-1_space-T1w_desc-preproc_bold.nii.gz"
    with pytest.raises(ConfoundsError, match=f"Could not find associated confound file.*BOLD file: {bold}"):
        find_confounds_file(bold)


def test_find_legacy_name(tmp_path):
    legacy = tmp_path / "sub-01_task-rest_bold_confounds.tsv"
    legacy.write_text("X\n1\n")
    bold = tmp_path / "sub-01_task-rest_bold_space-MNI152NLin2009cAsym_preproc.nii.gz"
    assert find_confounds_file(bold) == legacy


def test_find_ambiguous(tmp_path):
    for suffix in ("timeseries", "regressors"):
        (tmp_path / f"sub-01_task-rest_desc-confounds_{suffix}.tsv").write_text("csf\n1\n")
    bold = tmp_path / "sub-01_task-rest_desc-preproc_bold.nii.gz"
    with pytest.raises(ConfoundsError, match="Found more than one confound file") as error:
        find_confounds_file(bold)
    assert f"BOLD file: {bold}" in str(error.value)
