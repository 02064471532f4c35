"""read_confounds: naming across fMRIPrep versions, bad files (core/confounds/table.py)."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from nilearn.interfaces.fmriprep import load_confounds as nilearn_load_confounds

from regionseries.confounds import ConfoundsError, load_confounds, read_confounds

# --- naming normalisation ------------------------------------------------------------


def test_current_file_is_unchanged(helpers):
    table = read_confounds(helpers.V21_TSV)
    raw = pd.read_csv(helpers.V21_TSV, sep="\t")
    assert table.naming == "current"
    assert table.renamed == {}
    assert table.json_path == helpers.V21_JSON
    assert table.n_volumes == 30
    pd.testing.assert_frame_equal(table.data, raw)
    assert table.metadata == json.loads(helpers.V21_JSON.read_text())


def test_pre21_acompcor_is_split_by_mask(helpers):
    """fMRIPrep 1.4 wrote all aCompCor as a_comp_cor_NN (combined, CSF, WM blocks)."""
    table = read_confounds(helpers.V14_TSV)
    raw = pd.read_csv(helpers.V14_TSV, sep="\t")
    raw_metadata = json.loads(helpers.V14_JSON.read_text())
    assert table.naming == "fmriprep<21"
    prefixes = {prefix: sorted(c for c in table.data.columns if c.startswith(f"{prefix}_comp_cor_")) for prefix in "awct"}
    assert [len(prefixes[p]) for p in "awct"] == [57, 56, 13, 6]
    for prefix, mask in (("a", "combined"), ("w", "WM"), ("c", "CSF")):
        assert prefixes[prefix][0] == f"{prefix}_comp_cor_00"
        assert prefixes[prefix][-1] == f"{prefix}_comp_cor_{len(prefixes[prefix]) - 1:02d}"
        assert {table.metadata[name]["Mask"] for name in prefixes[prefix]} == {mask}
    # CSF components were a_comp_cor_57..69, WM ones a_comp_cor_70..125
    np.testing.assert_array_equal(table.data["c_comp_cor_00"], raw["a_comp_cor_57"])
    np.testing.assert_array_equal(table.data["w_comp_cor_55"], raw["a_comp_cor_125"])
    np.testing.assert_array_equal(table.data["a_comp_cor_56"], raw["a_comp_cor_56"])
    assert table.renamed["a_comp_cor_70"] == "w_comp_cor_00"
    assert table.metadata["w_comp_cor_00"] == raw_metadata["a_comp_cor_70"]
    # every other column is untouched, and the file names come back intact
    data, metadata = table.with_file_names()
    pd.testing.assert_frame_equal(data, raw)
    assert metadata == raw_metadata


def test_both_generations_read_the_same(helpers, tmp_path):
    data, metadata = helpers.synthetic_confounds()
    old_data, old_metadata = helpers.to_pre21_naming(data, metadata)
    assert "w_comp_cor_00" not in old_data.columns
    helpers.write_run(tmp_path / "new", data, metadata)
    helpers.write_run(tmp_path / "old", old_data, old_metadata, suffix="regressors")
    new = read_confounds(next((tmp_path / "new").glob("*.tsv")))
    old = read_confounds(next((tmp_path / "old").glob("*.tsv")))
    assert (old.naming, new.naming) == ("fmriprep<21", "current")
    pd.testing.assert_frame_equal(old.data[sorted(old.data.columns)], new.data[sorted(new.data.columns)])
    assert old.metadata == new.metadata


def test_na_in_first_rows_is_nan(helpers):
    table = read_confounds(helpers.V14_TSV)
    assert np.isnan(table.data.loc[0, "trans_x_derivative1"])
    assert np.isnan(table.data.loc[0, "framewise_displacement"])
    assert table.data["trans_x_derivative1"].iloc[1:].notna().all()
    assert table.data.dtypes["trans_x_derivative1"] == np.float64


def test_camelcase_file_is_renamed(helpers, tmp_path):
    raw = helpers.camelcase_confounds()
    path = tmp_path / "sub-01_task-rest_bold_confounds.tsv"
    raw.to_csv(path, sep="\t", index=False, na_rep="n/a")
    table = read_confounds(path)
    assert table.naming == "fmriprep<1.2"
    assert table.json_path is None and table.metadata is None
    expected = {
        "X": "trans_x",
        "RotZ": "rot_z",
        "CSF": "csf",
        "WhiteMatter": "white_matter",
        "GlobalSignal": "global_signal",
        "FramewiseDisplacement": "framewise_displacement",
        "stdDVARS": "std_dvars",
        "non-stdDVARS": "dvars",
        "aCompCor03": "a_comp_cor_03",
        "tCompCor00": "t_comp_cor_00",
        "Cosine01": "cosine01",
        "NonSteadyStateOutlier00": "non_steady_state_outlier00",
        "AROMAAggrComp04": "aroma_motion_04",
    }
    for old, new in expected.items():
        assert table.renamed[old] == new
        np.testing.assert_array_equal(table.data[new].to_numpy(), raw[old].to_numpy())
    assert "vx-wisestdDVARS" in table.data.columns  # no current equivalent: kept
    assert table.with_file_names()[0].columns.tolist() == raw.columns.tolist()


def test_camelcase_file_with_load_confounds(helpers, tmp_path):
    """nilearn refuses fMRIPrep < 1.2 files; we read them with current names."""
    raw = helpers.camelcase_confounds()
    raw.to_csv(tmp_path / "sub-01_task-rest_bold_confounds.tsv", sep="\t", index=False, na_rep="n/a")
    # the same table written under a BIDS-derivative name, so nilearn can find it
    bold = tmp_path / "sub-01_task-rest_desc-preproc_bold.nii.gz"
    raw.to_csv(tmp_path / "sub-01_task-rest_desc-confounds_regressors.tsv", sep="\t", index=False, na_rep="n/a")
    with pytest.raises(ValueError, match="header in camel case"):
        nilearn_load_confounds(str(bold))
    confounds, sample_mask = load_confounds(str(bold), strategy=("motion", "high_pass", "wm_csf"), motion="basic")
    assert list(confounds.columns) == sorted(["cosine00", "cosine01", "csf", "white_matter", *[
        f"{kind}_{axis}" for kind in ("trans", "rot") for axis in "xyz"]])
    np.testing.assert_array_equal(sample_mask, np.arange(1, len(raw)))


def test_unread_camelcase_names_are_named_with_nilearns_words(helpers, tmp_path):
    """CamelCase names that are not fMRIPrep < 1.2's: the missing-columns error says so."""
    data, metadata = helpers.synthetic_confounds()
    camel = {"trans_x": "TransX", "trans_y": "TransY", "trans_z": "TransZ"}  # fMRIPrep 1.0 wrote X, Y, Z
    bold = helpers.write_run(tmp_path, data[[*camel, "rot_x", "rot_y", "rot_z", "csf", "white_matter"]]
                             .rename(columns=camel), metadata)
    with pytest.raises(ValueError, match="contains header in camel case"):
        nilearn_load_confounds(str(bold))
    tsv = tmp_path / f"{helpers.BOLD_ENTITIES}_desc-confounds_timeseries.tsv"
    message = (
        "The following keywords or parameters are missing:  ['trans_x', 'trans_y', 'trans_z'] []. "
        "You may want to try a different denoising strategy. The confound file contains header in "
        "camel case: ['TransX', 'TransY', 'TransZ']. Only the CamelCase names of fMRIPrep 1.0.x "
        f"and 1.1.x (X, RotX, CSF, aCompCor00, ...) are read, under current names. (confounds file: {tsv})"
    )
    with pytest.raises(ConfoundsError, match=f"^{re.escape(message)}$"):
        load_confounds(str(bold), strategy=("motion",), motion="basic")
    # the file's other components are read
    confounds, _ = load_confounds(str(bold), strategy=("wm_csf",), wm_csf="basic")
    assert list(confounds.columns) == ["csf", "white_matter"]


# --- bad files ---------------------------------------------------------------------------


def test_missing_tsv(tmp_path):
    path = tmp_path / "sub-01_desc-confounds_timeseries.tsv"
    with pytest.raises(ConfoundsError, match=f"{path}: confounds file not found"):
        read_confounds(path)


def test_missing_explicit_json(helpers, tmp_path):
    path = tmp_path / "nothing.json"
    with pytest.raises(ConfoundsError, match=f"{path}: JSON sidecar of test-v21_desc-confounds_timeseries.tsv not found"):
        read_confounds(helpers.V21_TSV, path)


def test_explicit_json(helpers):
    table = read_confounds(helpers.NO_NSS_TSV, helpers.V14_JSON)
    assert table.json_path == helpers.V14_JSON and table.naming == "fmriprep<21"


def test_no_header(tmp_path):
    path = tmp_path / "x_desc-confounds_timeseries.tsv"
    path.write_text("0.1\t0.2\n0.3\t0.4\n")
    message = (f"{path}: The confound file contains no header. Is this an old version fMRIprep "
               "output? Its first line starts with the number '0.1'; fMRIPrep confounds files "
               "name their columns.")
    with pytest.raises(ConfoundsError, match=f"^{re.escape(message)}$"):
        read_confounds(path)


def test_empty_file(tmp_path):
    path = tmp_path / "x_desc-confounds_timeseries.tsv"
    path.write_text("")
    with pytest.raises(ConfoundsError, match=f"{path}: .*empty"):
        read_confounds(path)


def test_repeated_columns(tmp_path):
    path = tmp_path / "x_desc-confounds_timeseries.tsv"
    path.write_text("csf\ttrans_x\tcsf\n1\t2\t3\n")
    with pytest.raises(ConfoundsError, match=r"column names appear more than once: \['csf'\]"):
        read_confounds(path)


def test_ragged_rows(tmp_path):
    path = tmp_path / "x_desc-confounds_timeseries.tsv"
    path.write_text("csf\ttrans_x\n1\t2\n3\t4\t5\t6\n")
    with pytest.raises(ConfoundsError, match=f"{path}: cannot be read as a tab-separated table"):
        read_confounds(path)


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"{not json", "not valid JSON (line 1, column 2: Expecting property name enclosed in double quotes)"),
        (b"", "empty file (0 bytes)"),
        (b"[1, 2]", "the JSON sidecar must hold an object keyed by column name, not a list"),
        ('{"a_comp_cor_00": {"Mask": "r\u00e9sum\u00e9"}}'.encode("latin-1"), "not UTF-8 text (byte 0xe9"),
    ],
)
def test_bad_json_is_kept_for_the_strategies_that_need_it(tmp_path, content, problem):
    """The table is read; the sidecar's problem (file and words) waits for a strategy that needs the sidecar."""
    path = tmp_path / "x_desc-confounds_timeseries.tsv"
    path.write_text("csf\n1\n")
    path.with_suffix(".json").write_bytes(content)
    table = read_confounds(path)
    assert table.metadata is None and list(table.data.columns) == ["csf"]
    assert table.sidecar_problem.startswith(f"{path.with_suffix('.json')}: {problem}")


def test_json_with_a_byte_order_mark(helpers, tmp_path):
    path = tmp_path / "x_desc-confounds_timeseries.tsv"
    path.write_text("csf\n1\n")
    path.with_suffix(".json").write_bytes(b"\xef\xbb\xbf" + helpers.V21_JSON.read_bytes())
    table = read_confounds(path)
    assert table.sidecar_problem is None
    assert table.metadata == json.loads(helpers.V21_JSON.read_text())


def test_annexed_sidecar_says_datalad_get(tmp_path):
    """A git-annex link whose content was not fetched is the sidecar, with the command that fetches it."""
    path = tmp_path / "x_desc-confounds_timeseries.tsv"
    path.write_text("csf\n1\n")
    (tmp_path / ".git" / "annex" / "objects").mkdir(parents=True)
    path.with_suffix(".json").symlink_to(".git/annex/objects/Xy/Zw/MD5E-s9--0f.json/MD5E-s9--0f.json")
    table = read_confounds(path)
    assert table.json_path == path.with_suffix(".json")
    assert f"datalad get {path.with_suffix('.json')}" in table.sidecar_problem


def test_non_numeric_column_is_reported(helpers, tmp_path):
    data, metadata = helpers.synthetic_confounds()
    data["csf"] = data["csf"].astype(object)
    data.loc[5, "csf"] = "oops"
    bold = helpers.write_run(tmp_path, data, metadata)
    with pytest.raises(ConfoundsError, match=r"columns hold values that are not numbers or 'n/a': \['csf'\]"):
        load_confounds(str(bold))
