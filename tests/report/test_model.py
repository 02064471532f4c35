"""The report data model: conversions, derived values and every bad-input error."""

from __future__ import annotations

import math

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from regionseries.report.model import (
    AtlasResult,
    GroupReport,
    ParticipantReport,
    QCFCResult,
    ReportDataError,
    RunReport,
    StrategyResult,
)


def _strategy(**changes):
    values = dict(name="simple", kept_volumes=range(3, 10), dummy_volumes=[0, 1, 2])
    values.update(changes)
    return StrategyResult(**values)


def _atlas(**changes):
    values = dict(name="demo", kind="labels", region_names=["a", "b", "c"],
                  label_values=[1, 2, 5])
    values.update(changes)
    return AtlasResult(**values)


def _run(**changes):
    values = dict(
        participant="sub-01", session="ses-2", entities={"run": "1", "task": "rest"},
        bold_file="bold.nii.gz", confounds_file=None, mask_file=None, space="MNI",
        repetition_time=2.0, n_volumes=10, fd=np.linspace(0, 0.9, 10),
        strategies=[_strategy()], atlases=[_atlas()],
    )
    values.update(changes)
    return RunReport(**values)


# --- StrategyResult -------------------------------------------------------


def test_strategy_indices_are_sorted_unique_int_and_counted():
    strategy = _strategy(kept_volumes=[9, 3, 3, 4.0], motion_censored_volumes=(6, 5))
    assert strategy.kept_volumes.dtype == np.int64
    assert strategy.kept_volumes.tolist() == [3, 4, 9]
    assert (strategy.n_kept, strategy.n_dummy, strategy.n_motion_censored) == (3, 3, 2)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": ""}, "strategy name must be a non-empty string"),
        ({"kept_volumes": [1.5]}, "kept_volumes: volume indices must be whole numbers"),
        ({"kept_volumes": [np.nan]}, "volume indices must be whole numbers"),
        ({"kept_volumes": [2, 3]}, "a volume cannot be both kept and removed"),
        ({"motion_censored_volumes": [4]}, "a volume cannot be both kept and removed"),
        ({"fd_threshold": 0}, "fd_threshold must be a positive number of mm"),
        ({"fd_threshold": -0.5}, "fd_threshold must be a positive number of mm"),
    ],
)
def test_strategy_rejects_bad_input(changes, message):
    with pytest.raises(ReportDataError, match=message):
        _strategy(**changes)


# --- AtlasResult ----------------------------------------------------------


def test_atlas_defaults_and_na_mask():
    atlas = _atlas(label_values=None, regions_na=["c"])
    assert atlas.label_values == [0, 1, 2]
    assert atlas.na_mask.tolist() == [False, False, True]
    assert atlas.n_regions == 3


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": ""}, "atlas name must be a non-empty string"),
        ({"kind": "mesh"}, "kind must be one of"),
        ({"region_names": []}, "atlas 'demo' has no regions"),
        ({"label_values": [1, 2]}, "2 label values for 3 region names"),
        ({"size_mm3": [1, 2]}, "size_mm3: expected 3 values"),
        ({"relative_size_percent": [1, 2, 3, 4]}, "relative_size_percent: expected 3 values"),
        ({"coverage": [0.5, 1.2, 1]}, "coverage must be a fraction in"),
        ({"regions_na": ["zz"]}, r"regions set to n/a are not in the atlas: \['zz'\]"),
        ({"kind": "spheres"}, "spheres atlas 'demo' needs sphere_coordinates_mm"),
        ({"kind": "spheres", "sphere_coordinates_mm": np.zeros((2, 3))},
         r"must have shape \(3, 3\), got \(2, 3\)"),
        ({"kind": "spheres", "sphere_coordinates_mm": np.zeros((3, 3)), "sphere_radius_mm": -1},
         "radius must be >= 0 mm"),
        ({"image": nib.Nifti1Image(np.zeros((2, 2, 2, 2)), np.eye(4))},
         "labels atlas 'demo': the image must be 3D"),
        ({"kind": "maps", "image": nib.Nifti1Image(np.zeros((2, 2, 2, 2)), np.eye(4))},
         r"the image must be 4D with 3 maps, or 3D \(the strongest map"),
    ],
)
def test_atlas_rejects_bad_input(changes, message):
    with pytest.raises(ReportDataError, match=message):
        _atlas(**changes)


# --- RunReport ------------------------------------------------------------


def test_run_strips_prefixes_and_orders_entities_the_bids_way():
    run = _run(entities={"space": "MNI", "run": "1", "task": "rest", "acq": "mb"})
    assert run.participant == "01" and run.session == "2"
    assert list(run.all_entities) == ["sub", "ses", "task", "acq", "run", "space"]
    assert run.run_label == "ses-2 task-rest acq-mb run-1 space-MNI"
    assert run.duration_s == 20.0
    assert run.mean_fd == pytest.approx(0.45)


def test_run_accepts_numpy_numbers():
    run = _run(repetition_time=np.float32(0.8), n_volumes=np.int64(10))
    assert run.repetition_time == pytest.approx(0.8) and run.n_volumes == 10
    assert isinstance(run.repetition_time, float) and isinstance(run.n_volumes, int)


def test_run_without_session_or_fd():
    run = _run(session=None, fd=None, entities={"ses": "9", "task": "rest"})
    assert "ses" not in run.all_entities
    assert run.mean_fd is None


def test_clean_signals_on_kept_volumes_are_expanded_with_nan():
    kept_only = np.arange(21, dtype=float).reshape(7, 3)
    run = _run(clean_signals={("demo", "simple"): kept_only},
               raw_signals={"demo": np.ones((10, 3))},
               connectivity={("demo", "simple"): np.eye(3)})
    full = run.clean_signals[("demo", "simple")]
    assert full.shape == (10, 3)
    assert np.isnan(full[:3]).all()
    np.testing.assert_array_equal(full[3:], kept_only)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"participant": "sub-"}, "participant label must not be empty"),
        ({"repetition_time": 0}, "repetition_time must be a positive number of seconds"),
        ({"repetition_time": "2"}, "repetition_time must be a positive number of seconds"),
        ({"n_volumes": 0}, "n_volumes must be a positive integer"),
        ({"n_volumes": 2.5}, "n_volumes must be a positive integer"),
        ({"n_volumes": None}, "n_volumes must be a positive integer, got None"),
        ({"repetition_time": True}, "repetition_time must be a positive number of seconds"),
        ({"fd": np.zeros(9)}, r"fd must have one value per volume \(10\), got 9"),
        ({"strategies": [_strategy(), _strategy()]}, "strategy names must be unique"),
        ({"atlases": [_atlas(), _atlas()]}, "atlas names must be unique"),
        ({"strategies": [_strategy(kept_volumes=[3, 12])]},
         "kept_volumes go up to 12 but the run has 10 volumes"),
        ({"reference_image": nib.Nifti1Image(np.zeros((2, 2)), np.eye(4))},
         "the reference image must be 3D"),
        ({"raw_signals": {"other": np.zeros((10, 3))}}, "has no atlas 'other'"),
        ({"raw_signals": {"demo": np.zeros((10, 2))}},
         r"signals of atlas 'demo' before cleaning must be \(volumes, 3 regions\)"),
        ({"raw_signals": {"demo": np.zeros((9, 3))}}, "must have 10 rows, got 9"),
        ({"clean_signals": {("demo", "nope"): np.zeros((10, 3))}}, "has no strategy 'nope'"),
        ({"clean_signals": {("demo", "simple"): np.zeros((8, 3))}},
         r"must have 10 rows \(all volumes\) or 7 rows \(kept volumes\), got 8"),
        ({"connectivity": {("demo", "simple"): np.zeros((3, 2))}},
         "must be 3×3, got"),
    ],
)
def test_run_rejects_bad_input(changes, message):
    with pytest.raises(ReportDataError, match=message):
        _run(**changes)


def test_error_names_the_bold_file():
    with pytest.raises(ReportDataError, match="run 'bold.nii.gz'"):
        _run(fd=np.zeros(3))


# --- ParticipantReport ----------------------------------------------------


def test_participant_report_collects_names_in_first_seen_order():
    first = _run(entities={"task": "rest", "run": "1"})
    second = _run(entities={"task": "rest", "run": "2"}, session="3",
                  strategies=[_strategy(name="scrub"), _strategy()],
                  atlases=[_atlas(name="other"), _atlas()])
    report = ParticipantReport("01", [first, second])
    assert report.strategy_names == ["simple", "scrub"]
    assert report.atlas_names == ["demo", "other"]
    assert report.sessions == ["2", "3"]


def test_participant_report_rejects_foreign_and_duplicate_runs():
    with pytest.raises(ReportDataError, match="belongs to sub-02, not sub-01"):
        ParticipantReport("01", [_run(participant="02")])
    with pytest.raises(ReportDataError, match="two runs share the entities"):
        ParticipantReport("01", [_run(), _run()])
    with pytest.raises(ReportDataError, match="participant label must not be empty"):
        ParticipantReport("", [])


# --- QC-FC and group --------------------------------------------------------


def test_qcfc_derives_median_and_distance_dependence():
    correlations = np.array([-0.4, 0.1, 0.2, np.nan, 0.3])
    distances = np.array([10.0, 20, 30, 40, 50])
    result = QCFCResult("demo", "simple", correlations, distances, n_runs=5)
    assert result.median_abs_qcfc == pytest.approx(0.25)
    assert result.distance_dependence == pytest.approx(1.0)
    given = QCFCResult("demo", "simple", correlations, distances, median_abs_qcfc=0.7,
                       distance_dependence=-0.1)
    assert (given.median_abs_qcfc, given.distance_dependence) == (0.7, -0.1)
    assert QCFCResult("demo", "simple", correlations).distance_dependence is None
    assert math.isnan(QCFCResult("demo", "simple", [np.nan]).median_abs_qcfc)
    with pytest.raises(ReportDataError, match="4 distances for 5 edges"):
        QCFCResult("demo", "simple", correlations, distances[:4])


def test_group_report_computes_excluded_fraction_from_the_qc_table():
    table = pd.DataFrame({
        "strategy": ["a", "a", "b", "b", "b", "a"],
        "excluded": [True, False, False, False, True, False],
    })
    report = GroupReport(table, [QCFCResult("x", "b", [0.1])])
    assert report.excluded_fraction == pytest.approx({"a": 1 / 3, "b": 1 / 3})
    assert report.strategy_names == ["b", "a"]
    assert GroupReport(pd.DataFrame({"x": [1]})).excluded_fraction == {}


def test_group_report_rejects_bad_input():
    with pytest.raises(ReportDataError, match="qc_table must be a pandas DataFrame, got dict"):
        GroupReport({"strategy": []})
    with pytest.raises(ReportDataError, match="QC-FC given twice"):
        GroupReport(pd.DataFrame(), [QCFCResult("x", "a", [0.1]), QCFCResult("x", "a", [0.2])])
    with pytest.raises(ReportDataError, match="excluded fraction of strategy 'a' must be in"):
        GroupReport(pd.DataFrame(), excluded_fraction={"a": 1.5})


# --- why volumes were removed ---------------------------------------------


def test_volume_reasons_name_fd_dvars_short_segments_and_dummies():
    fd = np.array([0, 0.1, 0.9, 0.1, 0.1, 0.2, 0.8, 0.1, 0.1, 0.1])
    std_dvars = np.array([np.nan, 1, 2.5, 1, 3.0, 1, 1, 1, 1, 1])
    scrubbing = _strategy(name="scrubbing", kept_volumes=[7, 8, 9], dummy_volumes=[0],
                          motion_censored_volumes=[1, 2, 3, 4, 5, 6], fd_threshold=0.5,
                          std_dvars_threshold=1.5)
    run = _run(fd=fd, std_dvars=std_dvars, strategies=[scrubbing])
    assert run.volume_reasons(scrubbing) == {
        0: ["non-steady-state"], 1: ["segment too short"], 2: ["FD", "DVARS"],
        3: ["segment too short"], 4: ["DVARS"], 5: ["segment too short"], 6: ["FD"],
    }
    without_dvars = _run(fd=fd, strategies=[scrubbing])
    assert without_dvars.volume_reasons(scrubbing)[4] == ["motion (values not available)"]
    assert _run().volume_reasons(_run().strategies[0]) == {v: ["non-steady-state"] for v in (0, 1, 2)}


def test_std_dvars_needs_one_value_per_volume():
    with pytest.raises(ReportDataError, match=r"std_dvars must have one value per volume \(10\), got 9"):
        _run(std_dvars=np.ones(9))
