"""--datasets: parsing, and pairing each run with its fMRIPost-AROMA and tedana files."""

from __future__ import annotations

import pytest

from regionseries.bids.datasets import DatasetFiles, parse_datasets
from regionseries.bids.names import parse_entities

BOLD = "sub-01_ses-1_task-rest_run-1_space-MNI152NLin6Asym_res-2_desc-preproc_bold.nii.gz"


def _touch(root, *names):
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    return root


def _entities(name):
    return parse_entities(name)


def test_parse_datasets(tmp_path):
    (tmp_path / "aroma").mkdir()
    (tmp_path / "ted").mkdir()
    assert parse_datasets([f"aroma={tmp_path / 'aroma'}", f"tedana={tmp_path / 'ted'}"]) == {
        "aroma": (tmp_path / "aroma").resolve(), "tedana": (tmp_path / "ted").resolve()}
    assert parse_datasets([]) == {}


@pytest.mark.parametrize(("value", "message"), [
    ("aroma", "expected NAME=PATH"),
    ("=x", "expected NAME=PATH"),
    ("fmriprep={tmp}", "unknown dataset name 'fmriprep'; known: aroma (fMRIPost-AROMA output), tedana"),
    ("aroma={tmp}/absent", "is not a folder"),
])
def test_parse_datasets_refusals(tmp_path, value, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_datasets([value.format(tmp=tmp_path)])
    with pytest.raises(ValueError, match="aroma given twice"):
        parse_datasets([f"aroma={tmp_path}", f"aroma={tmp_path}"])


def test_files_matched_by_acquisition_entities(tmp_path):
    root = _touch(
        tmp_path / "aroma",
        "sub-01/ses-1/func/sub-01_ses-1_task-rest_run-1_desc-aroma_timeseries.tsv",
        "sub-01/ses-1/func/sub-01_ses-1_task-rest_run-2_desc-aroma_timeseries.tsv",
        "sub-01/ses-1/func/sub-01_ses-1_task-rest_run-1_space-MNI152NLin6Asym_res-2_desc-nonaggrDenoised_bold.nii.gz",
        "sub-01/ses-1/func/sub-01_ses-1_task-rest_run-1_space-MNI152NLin2009cAsym_desc-nonaggrDenoised_bold.nii.gz",
        "sub-01/ses-1/func/sub-01_ses-1_task-rest_run-1_desc-aroma_metrics.tsv",
    )
    files = DatasetFiles({"aroma": root})
    found = files.of(_entities(BOLD))
    assert found == {
        "aroma_timeseries": [root / "sub-01/ses-1/func/sub-01_ses-1_task-rest_run-1_desc-aroma_timeseries.tsv"],
        "aroma_bold": [root / "sub-01/ses-1/func/sub-01_ses-1_task-rest_run-1_space-MNI152NLin6Asym_res-2_"
                              "desc-nonaggrDenoised_bold.nii.gz"],
    }
    # the denoised image must be in the BOLD's space and resolution; the time series need not
    other_space = files.of(_entities(BOLD.replace("MNI152NLin6Asym_res-2", "MNI152NLin6Asym_res-1")))
    assert set(other_space) == {"aroma_timeseries"}
    assert files.of(_entities(BOLD.replace("ses-1", "ses-2"))) == {}


def test_run_labels_compared_as_numbers_and_participants_restricted(tmp_path):
    root = _touch(
        tmp_path / "ted",
        "sub-01/func/sub-01_task-rest_run-01_desc-ICA_mixing.tsv",
        "sub-01/func/sub-01_task-rest_run-01_desc-tedana_metrics.tsv",
        "sub-02/func/sub-02_task-rest_run-1_desc-ICA_mixing.tsv",
    )
    found = DatasetFiles({"tedana": root}, participants=["01"]).of(_entities("sub-01_task-rest_run-1_desc-preproc_bold"))
    assert sorted(found) == ["tedana_metrics", "tedana_mixing"]
    assert DatasetFiles({"tedana": root}, participants=["01"]).of(_entities("sub-02_task-rest_run-1_bold")) == {}
    assert set(DatasetFiles({"tedana": root}).of(_entities("sub-02_task-rest_run-1_bold"))) == {"tedana_mixing"}


def test_several_matches_are_all_returned(tmp_path):
    """Two tedana outputs for one run (e.g. a copy in another folder): the caller refuses them."""
    root = _touch(
        tmp_path / "ted",
        "a/sub-01_task-rest_desc-ICA_mixing.tsv",
        "b/sub-01_task-rest_desc-ICA_mixing.tsv",
    )
    found = DatasetFiles({"tedana": root}).of(_entities("sub-01_task-rest_space-X_desc-preproc_bold.nii.gz"))
    assert len(found["tedana_mixing"]) == 2
