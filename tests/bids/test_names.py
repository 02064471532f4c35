"""regionseries.bids.names: the one BIDS file name used to read inputs and write outputs.

Entity order, labels, names parsed as spelled. The tests of names moved here
from the former tests/app/test_bids_and_atlas_helpers.py with the code.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from regionseries.bids import names, outputs
from regionseries.bids.names import BIDSName, bids_label, bids_uri, is_bids_label, parse_entities


def test_entity_order_puts_atlas_before_res_and_stat_before_desc():
    name = BIDSName.create("relmat", ".tsv", sub="01", desc="simpleGSR", stat="correlation", res="2",
                           atlas="Schaefer2018", space="MNI152NLin2009cAsym", run="1", task="rest", ses="1")
    assert name.filename == ("sub-01_ses-1_task-rest_run-1_space-MNI152NLin2009cAsym_atlas-Schaefer2018_res-2_"
                             "stat-correlation_desc-simpleGSR_relmat.tsv")
    assert name.relpath == Path("sub-01/ses-1/func") / name.filename
    assert name.replace(stat=None, suffix="timeseries").filename.endswith("res-2_desc-simpleGSR_timeseries.tsv")


def test_bids_name_errors():
    with pytest.raises(ValueError, match="invalid BIDS label 'simple\\+gsr' for entity 'desc'"):
        BIDSName.create("timeseries", ".tsv", sub="01", desc="simple+gsr")
    with pytest.raises(ValueError, match="unknown BIDS entity 'meas'"):
        BIDSName.create("relmat", ".tsv", sub="01", meas="r")
    with pytest.raises(ValueError, match="cannot make a BIDS label out of '\\+\\+'"):
        bids_label("++")
    assert bids_label("Schaefer2018 400Parcels_7Networks") == "Schaefer2018400Parcels7Networks"


def test_parse_entities_keeps_labels_as_spelled():
    assert parse_entities("sub-01_ses-02_task-rest_run-01_space-MNI_res-2_desc-preproc_bold.nii.gz") == {
        "sub": "01", "ses": "02", "task": "rest", "run": "01", "space": "MNI", "res": "2", "desc": "preproc"}


def test_is_bids_label_accepts_letters_and_digits_only():
    assert is_bids_label("Schaefer2018") and is_bids_label("01")
    for text in ("", "simple+gsr", "res-2", "a_b", "a b", "é"):
        assert not is_bids_label(text), text


def test_bids_uri_is_posix_relative_to_the_named_dataset():
    assert bids_uri(Path("sub-01") / "func" / "x_bold.nii.gz", "preprocessed") == "bids:preprocessed:sub-01/func/x_bold.nii.gz"
    assert bids_uri("atlases/atlas-Demo_dseg.tsv") == "bids::atlases/atlas-Demo_dseg.tsv"


def test_bids_outputs_keeps_the_names_it_used_to_hold():
    for name in ("BIDSName", "ENTITY_ORDER", "SOURCE_ENTITIES", "bids_label", "bids_uri", "parse_entities"):
        assert getattr(outputs, name) is getattr(names, name), name
