"""Group level numbers recomputed independently from the participant outputs.

The group-average correlation must be the inverse Fisher transform of the
mean Fisher z over the *included* runs, and QC-FC the Pearson correlation
(scipy) across included participants between each edge's mean Fisher z over
the participant's runs and the mean of their mean framewise displacements
(``--qcfc-unit run``: across runs, each run's own values). The exclusion options of the group level
(``--max-mean-fd``, ``--min-kept-fraction``, ``--participant-label``) are
exercised through the real command line.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from regionseries.core.qc import summarize_qcfc
from regionseries.group import GroupOptions, aggregate
from regionseries.report.model import QCFCResult

from ..conftest import run_cli
from .test_group_parallel_incremental import clone_participant

PREFIX = "task-rest_space-MNI152NLin2009cAsym_atlas-Demo"


@pytest.fixture(scope="module")
def participant_outputs(fmriprep_dataset, demo_atlas, tmp_path_factory):
    """Participant level of sub-01 (three runs) and sub-03 (one run), strategy simple."""
    image, table = demo_atlas
    output = tmp_path_factory.mktemp("group-numbers") / "out"
    result = run_cli(fmriprep_dataset, output, "participant", "--participant-label", "01", "03",
                     "--atlas-file", f"Demo={image}:{table}", "--strategy", "simple", "--no-reports",
                     "-w", tmp_path_factory.mktemp("group-numbers-work"))
    assert result.returncode == 0, result.stderr
    return output


def _run_group(bids: Path, output: Path, *options: str) -> pd.DataFrame:
    result = run_cli(bids, output, "group", "--no-reports", *options)
    assert result.returncode == 0, result.stderr
    return pd.read_csv(output / "group" / f"{PREFIX}_desc-simple_qc.tsv", sep="\t", dtype={"sub": str, "ses": str,
                                                                                          "run": str})


def _run_outputs(output: Path, bold_uri: str) -> tuple[np.ndarray, float, dict]:
    """A run's correlation matrix, mean FD and QC record, found from its BOLD URI."""
    stem = bold_uri.split(":", 2)[2].replace("_desc-preproc_bold.nii.gz", "")
    matrix = pd.read_csv(output / f"{stem}_atlas-Demo_stat-correlation_desc-simple_relmat.tsv", sep="\t",
                         index_col=0, na_values="n/a", keep_default_na=False).to_numpy(float)
    record = json.loads((output / f"{stem}_desc-simple_qc.json").read_text())
    return matrix, record["MeanFramewiseDisplacement"], record


def _read_matrix(path: Path) -> np.ndarray:
    return pd.read_csv(path, sep="\t", index_col=0, na_values="n/a", keep_default_na=False).to_numpy(float)


def test_mean_connectivity_and_qcfc_recomputed(fmriprep_dataset, participant_outputs):
    output = participant_outputs
    qc = _run_group(fmriprep_dataset, output, "--qcfc-unit", "run")
    assert len(qc) == 4 and not qc["excluded"].any(), qc
    matrices, fds = zip(*[_run_outputs(output, bold)[:2] for bold in qc["bold"]])
    with np.errstate(divide="ignore"):  # the unit diagonal
        z = np.arctanh(np.stack(matrices))
    off_diagonal = ~np.eye(z.shape[1], dtype=bool)
    expected_r = np.tanh(z.mean(axis=0))
    group = output / "group"
    mean_r = _read_matrix(group / f"{PREFIX}_stat-correlation_desc-simple_relmat.tsv")
    mean_z = _read_matrix(group / f"{PREFIX}_stat-correlationfisherz_desc-simple_relmat.tsv")
    np.testing.assert_allclose(mean_r[off_diagonal], expected_r[off_diagonal], rtol=0, atol=1e-8)
    np.testing.assert_allclose(mean_z[off_diagonal], z.mean(axis=0)[off_diagonal], rtol=0, atol=1e-8)
    np.testing.assert_allclose(np.diag(mean_r), 1.0)

    qcfc = pd.read_csv(group / f"{PREFIX}_desc-simple_qcfc.tsv", sep="\t")
    upper = np.triu_indices(z.shape[1], k=1)
    edges = z[:, upper[0], upper[1]]
    expected = [stats.pearsonr(fds, edges[:, k]) for k in range(edges.shape[1])]
    np.testing.assert_allclose(qcfc["qcfc"], [e.statistic for e in expected], rtol=0, atol=1e-8)
    np.testing.assert_allclose(qcfc["p_value"], [e.pvalue for e in expected], rtol=1e-6)
    assert (qcfc["n_runs"] == 4).all()
    summary = json.loads((group / f"{PREFIX}_desc-simple_qcfc.json").read_text())
    assert summary["MedianAbsoluteQCFC"] == pytest.approx(np.median(np.abs(qcfc["qcfc"])), abs=1e-8)
    rho = stats.spearmanr(qcfc["qcfc"], qcfc["distance_mm"]).statistic
    assert summary["DistanceDependence"]["SpearmanRho"] == pytest.approx(rho, abs=1e-9)


def test_exclusion_options_and_participant_selection(fmriprep_dataset, participant_outputs):
    output = participant_outputs
    everything = _run_group(fmriprep_dataset, output)
    fds = everything["mean_fd_mm"].to_numpy(float)
    limit = float(np.median(fds))  # excludes the runs above the median
    qc = _run_group(fmriprep_dataset, output, "--max-mean-fd", f"{limit}", "--min-kept-fraction", "0.99")
    kept_fraction = qc["n_volumes_kept"] / qc["n_volumes"]
    assert (kept_fraction < 0.99).all(), "every run drops its 2 dummy volumes"
    for _, row in qc.iterrows():
        assert row["excluded"]
        assert f"({row['n_volumes_kept'] / row['n_volumes']:.0%} < 99%)" in row["exclusion_reason"]
        assert ("mean FD" in row["exclusion_reason"]) == (row["mean_fd_mm"] > limit)
    # every run excluded: no average, and none left over from the previous group run
    leftovers = sorted(p.name for p in (output / "group").glob(f"{PREFIX}_*") if "_relmat." in p.name or "_qcfc." in p.name)
    assert leftovers == []

    included = _run_group(fmriprep_dataset, output, "--max-mean-fd", f"{limit}")
    survivors = included[~included["excluded"]]
    assert 0 < len(survivors) < 4 and (survivors["mean_fd_mm"] <= limit).all()
    matrices = [_run_outputs(output, bold)[0] for bold in survivors["bold"]]
    with np.errstate(divide="ignore"):
        expected = np.tanh(np.arctanh(np.stack(matrices)).mean(axis=0))
    mean_r = _read_matrix(output / "group" / f"{PREFIX}_stat-correlation_desc-simple_relmat.tsv")
    off_diagonal = ~np.eye(mean_r.shape[0], dtype=bool)
    np.testing.assert_allclose(mean_r[off_diagonal], expected[off_diagonal], rtol=0, atol=1e-8)
    exclusions = pd.read_csv(output / "group" / f"{PREFIX}_desc-simple_exclusions.tsv", sep="\t", dtype=str)
    assert sorted(exclusions["bold"]) == sorted(included.loc[included["excluded"], "bold"])

    only_three = _run_group(fmriprep_dataset, output, "--participant-label", "sub-03")
    assert only_three["sub"].tolist() == ["03"]


def test_qcfc_json_takes_its_numbers_from_summarize_qcfc(participant_outputs, tmp_path):
    """The QC-FC summary written by the group level is, to the bit, the one of core.qc (and the report's)."""
    output = tmp_path / "out"
    shutil.copytree(participant_outputs, output, ignore=shutil.ignore_patterns("group"))
    summary = aggregate(output, GroupOptions(reports=False, qcfc_unit="run"))  # two participants: too few
    (item,) = summary.qcfc
    r, distances = item["edge_correlations"], item["edge_distances_mm"]
    assert np.isfinite(r).sum() > 3 and np.isfinite(distances).all()
    expected = summarize_qcfc(r, distances)
    written = json.loads((output / "group" / f"{PREFIX}_desc-simple_qcfc.json").read_text())
    assert written["MedianAbsoluteQCFC"] == expected.median_abs_qcfc == item["median_abs_qcfc"]
    assert written["DistanceDependence"] == {"SpearmanRho": expected.distance_dependence,
                                             "PValue": expected.distance_dependence_p}
    assert item["distance_dependence"] == expected.distance_dependence
    report = QCFCResult("Demo", "simple", r, distances)
    assert (report.median_abs_qcfc, report.distance_dependence) == (expected.median_abs_qcfc,
                                                                     expected.distance_dependence)


def test_qcfc_across_participants_recomputed(fmriprep_dataset, participant_outputs, tmp_path):
    """By default QC-FC correlates participants: the mean Fisher z of each one's runs against their mean FD."""
    output = tmp_path / "out"
    shutil.copytree(participant_outputs, output, ignore=shutil.ignore_patterns("group"))
    rng = np.random.default_rng(2)
    for label in ("201", "202", "203"):  # three more participants of three runs: 13 runs of 5 participants
        clone_participant(output, "01", label, rng)
    qc = _run_group(fmriprep_dataset, output)
    assert len(qc) == 13 and not qc["excluded"].any()
    runs: dict[str, list[tuple[np.ndarray, float]]] = {}
    for bold, participant in zip(qc["bold"], qc["sub"]):
        matrix, fd, _ = _run_outputs(output, bold)
        with np.errstate(divide="ignore"):
            runs.setdefault(participant, []).append((np.arctanh(matrix), fd))
    z = np.stack([np.mean([values for values, _ in items], axis=0) for items in runs.values()])
    fds = np.array([np.mean([fd for _, fd in items]) for items in runs.values()])
    upper = np.triu_indices(z.shape[1], k=1)
    expected = [stats.pearsonr(fds, z[:, upper[0][k], upper[1][k]]) for k in range(len(upper[0]))]
    qcfc = pd.read_csv(output / "group" / f"{PREFIX}_desc-simple_qcfc.tsv", sep="\t")
    np.testing.assert_allclose(qcfc["qcfc"], [e.statistic for e in expected], rtol=0, atol=1e-8)
    np.testing.assert_allclose(qcfc["p_value"], [e.pvalue for e in expected], rtol=1e-6)
    assert (qcfc["n_participants"] == 5).all() and (qcfc["n_runs"] == 13).all()
    summary = json.loads((output / "group" / f"{PREFIX}_desc-simple_qcfc.json").read_text())
    assert (summary["QCFCUnit"], summary["NumberOfParticipants"], summary["NumberOfRuns"]) == ("participant", 5, 13)
    assert summary["Participants"] == sorted(runs)
    assert summary["MedianAbsoluteQCFC"] == pytest.approx(np.median(np.abs(qcfc["qcfc"])), abs=1e-8)
    assert summary["Warnings"] == ["QC-FC rests on 5 participants (fewer than 20): its values are noisy and "
                                   "differences between strategies may be chance."]
    # the mean connectome is still the mean over runs
    mean_z = _read_matrix(output / "group" / f"{PREFIX}_stat-correlationfisherz_desc-simple_relmat.tsv")
    every_run = np.concatenate([[values for values, _ in items] for items in runs.values()])
    np.testing.assert_allclose(mean_z[upper], every_run.mean(axis=0)[upper], rtol=0, atol=1e-8)

    _run_group(fmriprep_dataset, output, "--qcfc-unit", "run")
    per_run = json.loads((output / "group" / f"{PREFIX}_desc-simple_qcfc.json").read_text())
    assert (per_run["QCFCUnit"], per_run["NumberOfParticipants"], per_run["NumberOfRuns"]) == ("run", 5, 13)
    assert "n_participants" not in pd.read_csv(output / "group" / f"{PREFIX}_desc-simple_qcfc.tsv", sep="\t")
    assert any("Runs of one participant are treated as independent samples" in text for text in per_run["Warnings"])
    print(f"median |QC-FC| over 13 runs of 5 participants: per run {per_run['MedianAbsoluteQCFC']:.3f}, "
          f"per participant {summary['MedianAbsoluteQCFC']:.3f}")
