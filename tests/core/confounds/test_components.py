"""fMRIPost-AROMA and tedana component tables, and plan_denoising with them.

tedana's columns are checked against nilearn's load_confounds(strategy=("tedana",)) on
nilearn's own tedana files (the oracle).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from nilearn.interfaces.fmriprep import load_confounds as nilearn_load_confounds

from regionseries.core.confounds import (
    ConfoundsError,
    DenoiseStrategy,
    RunExcluded,
    plan_denoising,
    read_confounds,
)
from regionseries.core.confounds.components import (
    read_aroma_timeseries,
    read_tedana_components,
)
from regionseries.core.confounds.table import ConfoundsTable

N_VOLUMES = 30  # rows of nilearn's tedana mixing matrix and of its confounds files


def _empty_table(n_volumes: int) -> ConfoundsTable:
    return ConfoundsTable(tsv_path=Path("none.tsv"), json_path=None,
                          data=pd.DataFrame(index=range(n_volumes)), metadata=None)


@pytest.fixture
def tedana_files(helpers):
    return helpers.NILEARN_DATA / "test_desc-ICA_mixing.tsv", helpers.NILEARN_DATA / "test_desc-tedana_metrics.tsv"


@pytest.fixture
def optcom(helpers, tmp_path, tedana_files):
    """An optcom image path next to nilearn's tedana files (70 components for 30 volumes)."""
    stem = helpers.BOLD_ENTITIES
    (tmp_path / f"{stem}_desc-ICA_mixing.tsv").symlink_to(tedana_files[0])
    (tmp_path / f"{stem}_desc-tedana_metrics.tsv").symlink_to(tedana_files[1])
    return tmp_path / f"{stem}_space-MNI152NLin2009cAsym_desc-optcom_bold.nii.gz"


#: Classifications of the small tedana run: 3 rejected, 4 accepted, 1 "ignored" (older tedana), not in order.
SMALL_CLASSES = ["accepted", "rejected", "accepted", "ignored", "rejected", "accepted", "rejected", "accepted"]


@pytest.fixture
def small_tedana(helpers, tmp_path):
    """A tedana run that a 30-volume run can support: 8 components; the metrics name them without the
    zero padding of the mixing matrix (tedana versions differ). Returns (optcom path, mixing, metrics)."""
    rng = np.random.default_rng(4)
    folder = tmp_path / "tedana"
    folder.mkdir()
    stem = helpers.BOLD_ENTITIES
    mixing = folder / f"{stem}_desc-ICA_mixing.tsv"
    metrics = folder / f"{stem}_desc-tedana_metrics.tsv"
    pd.DataFrame(rng.standard_normal((N_VOLUMES, 8)) + 0.5, columns=[f"ICA_{i:02d}" for i in range(8)]).to_csv(
        mixing, sep="\t", index=False)
    pd.DataFrame({"Component": [f"ICA_{i}" for i in range(8)], "kappa": rng.uniform(10, 80, 8),
                  "classification": SMALL_CLASSES}).to_csv(metrics, sep="\t", index=False)
    return folder / f"{stem}_space-MNI152NLin2009cAsym_desc-optcom_bold.nii.gz", mixing, metrics


def _aroma_file(tmp_path, n_volumes=20, n_rejected=3, n_dummy=2, seed=0):
    rng = np.random.default_rng(seed)
    values = rng.standard_normal((n_volumes, 2 * n_rejected))
    values[:n_dummy] = 0.0
    numbers = [f"{i + 1:02d}" for i in range(n_rejected)]
    frame = pd.DataFrame(values, columns=[f"aroma_motion_{n}" for n in numbers]
                         + [f"aroma_orth_motion_{n}" for n in numbers])
    path = tmp_path / "sub-01_task-rest_desc-aroma_timeseries.tsv"
    frame.to_csv(path, sep="\t", index=False)
    return path, frame


# --- reading ---------------------------------------------------------------------------------


def test_read_aroma_timeseries(tmp_path):
    path, frame = _aroma_file(tmp_path)
    table = read_aroma_timeseries(path)
    assert table.source == "fMRIPost-AROMA" and table.files == (path,) and table.n_volumes == 20
    assert list(table.data.columns) == sorted(frame.columns)
    np.testing.assert_allclose(table.data[frame.columns].to_numpy(), frame.to_numpy(), rtol=1e-12)


def test_read_aroma_timeseries_without_noise_component(tmp_path):
    """fMRIPost-AROMA writes a single 'intercept' column when no component was rejected."""
    path = tmp_path / "sub-01_task-rest_desc-aroma_timeseries.tsv"
    pd.DataFrame({"intercept": np.ones(10, dtype=int)}).to_csv(path, sep="\t", index=False)
    table = read_aroma_timeseries(path)
    assert table.data.shape == (10, 0) and table.rejected == ()


def test_read_aroma_timeseries_refuses_another_table(tmp_path, helpers):
    with pytest.raises(ConfoundsError, match="no aroma_motion_\\* or aroma_orth_motion_\\* column"):
        read_aroma_timeseries(helpers.V21_TSV)


@pytest.mark.parametrize("tedana", ["aggressive", "non-aggressive"])
def test_tedana_components_are_nilearns(optcom, tedana_files, tedana):
    """Same column names, order and values as nilearn's load_confounds (before demeaning)."""
    classes = ("rejected",) if tedana == "aggressive" else ("accepted", "rejected")
    ours = read_tedana_components(*tedana_files, classes)
    theirs, _ = nilearn_load_confounds(str(optcom), strategy=("tedana",), tedana=tedana, demean=False)
    assert list(ours.data.columns) == list(theirs.columns)
    np.testing.assert_allclose(ours.data.to_numpy(), theirs.to_numpy(), rtol=0, atol=1e-12)
    assert ours.rejected == tuple(name for name in theirs.columns if name.startswith("rejected_"))


# --- plans -----------------------------------------------------------------------------------


def test_tedana_aggressive_plan_is_nilearns(small_tedana):
    optcom, *tedana_files = small_tedana
    tedana = read_tedana_components(*tedana_files)
    plan = plan_denoising(DenoiseStrategy("ted", components=("tedana",)), _empty_table(N_VOLUMES), N_VOLUMES,
                          tedana=tedana)
    theirs, _ = nilearn_load_confounds(str(optcom), strategy=("tedana",), tedana="aggressive")
    assert plan.confound_names == list(theirs.columns)
    np.testing.assert_allclose(plan.confounds, theirs.to_numpy(), rtol=0, atol=1e-12)
    assert plan.nonaggressive is None
    record = plan.summary()["TedanaComponents"]
    assert record["NumberOfRejectedComponents"] == theirs.shape[1] == 3
    assert record["NumberOfAcceptedComponents"] == 4 and record["Tedana"] == "aggressive"
    assert record["Files"] == [str(path) for path in tedana_files]


def test_tedana_with_fmriprep_motion_is_nilearns_columns_side_by_side(helpers, small_tedana):
    """nilearn gives tedana components alone; the engine joins them to the strategy's other columns,
    with the values each nilearn call gives (no non-steady-state volume: both demean every row)."""
    table = read_confounds(helpers.NO_NSS_TSV)
    strategy = DenoiseStrategy("tedMotion", components=("motion", "tedana"), motion="basic")
    optcom, *tedana_files = small_tedana
    plan = plan_denoising(strategy, table, N_VOLUMES, tedana=read_tedana_components(*tedana_files))
    nilearn_dir = optcom.parent.parent / "fmriprep"
    bold = helpers.link_run(nilearn_dir, helpers.NO_NSS_TSV, None, suffix="regressors")
    motion, _ = nilearn_load_confounds(str(bold), strategy=("motion",), motion="basic")
    ted, _ = nilearn_load_confounds(str(optcom), strategy=("tedana",))
    expected = pd.concat([motion, ted], axis=1)
    expected = expected[sorted(expected.columns)]
    assert plan.confound_names == list(expected.columns)
    np.testing.assert_allclose(plan.confounds, expected.to_numpy(), rtol=0, atol=1e-10)


def test_tedana_non_aggressive_plan(small_tedana):
    optcom, *tedana_files = small_tedana
    tedana = read_tedana_components(*tedana_files)
    strategy = DenoiseStrategy("ted", components=("tedana",), tedana="non-aggressive")
    plan = plan_denoising(strategy, _empty_table(N_VOLUMES), N_VOLUMES, tedana=tedana)
    assert plan.confounds is None and plan.confound_names == []
    components, rejected = plan.nonaggressive
    theirs, _ = nilearn_load_confounds(str(optcom), strategy=("tedana",), tedana="non-aggressive", demean=False)
    np.testing.assert_allclose(components, theirs.to_numpy(), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(rejected, [name.startswith("rejected_") for name in theirs.columns])
    assert rejected.sum() == 3 and components.shape == (N_VOLUMES, 7)  # "ignored" is in neither
    # degrees of freedom: the 3 removed components (not the accepted ones) and the detrending
    assert plan.dof_lost == 3 + 2
    assert plan.summary()["TedanaComponents"]["Tedana"] == "non-aggressive"


def test_tedana_non_aggressive_needs_more_kept_volumes_than_components(tedana_files):
    """The fit uses all 70 components: 30 volumes cannot support it."""
    strategy = DenoiseStrategy("ted", components=("tedana",), tedana="non-aggressive")
    with pytest.raises(RunExcluded, match="not more than the 70 regressors"):
        plan_denoising(strategy, _empty_table(N_VOLUMES), N_VOLUMES, tedana=read_tedana_components(*tedana_files))


def test_tedana_strategy_without_tedana_files_is_refused():
    with pytest.raises(ConfoundsError, match="needs tedana's desc-ICA_mixing.tsv .* --datasets tedana=PATH"):
        plan_denoising(DenoiseStrategy("ted", components=("tedana",)), _empty_table(10), 10)


def test_tedana_rows_must_match_the_run(tedana_files):
    """The message names the mixing matrix (its rows are the optimally combined image's volumes)."""
    with pytest.raises(ConfoundsError, match="test_desc-ICA_mixing.tsv: the confounds file has 30 rows but the "
                                             "BOLD run has 31 volumes"):
        plan_denoising(DenoiseStrategy("ted", components=("tedana",)), _empty_table(31), 31,
                       tedana=read_tedana_components(*tedana_files))


@pytest.mark.parametrize(("ica_aroma", "prefix"), [("orthaggr", "aroma_orth_motion_"), ("basic", "aroma_motion_")])
def test_aroma_columns_from_fmripost_aroma(tmp_path, ica_aroma, prefix):
    path, frame = _aroma_file(tmp_path)
    table = ConfoundsTable(tsv_path=tmp_path / "c.tsv", json_path=None, metadata=None,
                           data=pd.DataFrame({"csf": np.arange(20.0), "non_steady_state_outlier00": [1] + [0] * 19,
                                              "non_steady_state_outlier01": [0, 1] + [0] * 18}))
    strategy = DenoiseStrategy("aroma", components=("ica_aroma",), ica_aroma=ica_aroma, extra_columns=("csf",))
    plan = plan_denoising(strategy, table, 20, aroma=read_aroma_timeseries(path))
    names = [f"{prefix}{n:02d}" for n in (1, 2, 3)]
    assert plan.confound_names == sorted(names + ["csf"])
    kept = plan.sample_mask
    np.testing.assert_array_equal(kept, np.arange(2, 20))
    expected = frame[names].to_numpy() - frame[names].to_numpy()[kept].mean(axis=0)  # demeaned over kept volumes
    np.testing.assert_allclose(plan.confounds[:, [plan.confound_names.index(n) for n in names]], expected,
                               rtol=0, atol=1e-12)
    record = plan.summary()["AromaComponents"]
    assert record == {"Source": "fMRIPost-AROMA", "Files": [str(path)], "IcaAroma": ica_aroma,
                      "NumberOfRejectedComponents": 3, "Regressors": names}


def test_aroma_basic_without_fmripost_aroma_reads_the_confounds_file(tmp_path):
    """fMRIPrep < 23.1 layout: ica_aroma 'basic' takes the confounds file's aroma columns, as before."""
    table = ConfoundsTable(tsv_path=tmp_path / "c.tsv", json_path=None, metadata=None,
                           data=pd.DataFrame({"aroma_motion_01": np.arange(10.0), "csf": np.ones(10)}))
    plan = plan_denoising(DenoiseStrategy("aroma", components=("ica_aroma",), ica_aroma="basic"), table, 10)
    assert plan.confound_names == ["aroma_motion_01"] and "AromaComponents" not in plan.summary()


def test_aroma_orthaggr_without_fmripost_aroma_is_refused(tmp_path):
    with pytest.raises(ConfoundsError, match="needs fMRIPost-AROMA's desc-aroma_timeseries.tsv"):
        plan_denoising(DenoiseStrategy("aroma", components=("ica_aroma",), ica_aroma="orthaggr"),
                       _empty_table(10), 10)


def test_aroma_without_noise_component_adds_no_regressor(tmp_path):
    path = tmp_path / "sub-01_task-rest_desc-aroma_timeseries.tsv"
    pd.DataFrame({"intercept": np.ones(10, dtype=int)}).to_csv(path, sep="\t", index=False)
    plan = plan_denoising(DenoiseStrategy("aroma", components=("ica_aroma",), ica_aroma="orthaggr"),
                          _empty_table(10), 10, aroma=read_aroma_timeseries(path))
    assert plan.confounds is None
    assert plan.summary()["AromaComponents"]["NumberOfRejectedComponents"] == 0


def test_aroma_column_also_in_the_confounds_file_is_refused(tmp_path):
    path, _ = _aroma_file(tmp_path, n_volumes=10)
    table = ConfoundsTable(tsv_path=tmp_path / "c.tsv", json_path=None, metadata=None,
                           data=pd.DataFrame({"aroma_motion_01": np.arange(10.0)}))
    with pytest.raises(ConfoundsError, match=r"columns \['aroma_motion_01'\] are both in the confounds file"):
        plan_denoising(DenoiseStrategy("aroma", components=("ica_aroma",), ica_aroma="basic"), table, 10,
                       aroma=read_aroma_timeseries(path))
