"""regionseries.core.qc: the one Spearman correlation and the one QC-FC summary.

The group level (``*_qcfc.json``) and the report model (:class:`QCFCResult`)
both take their numbers from here; the group side is checked on real outputs
in tests/group/test_group_numbers.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import spearmanr

from regionseries.core.qc import (
    QCFC_ADVISED_PARTICIPANTS,
    qcfc_caveats,
    spearman,
    summarize_qcfc,
)
from regionseries.report.model import QCFCResult


def test_spearman_matches_scipy_and_ignores_nan():
    generator = np.random.default_rng(0)
    x, y = generator.normal(size=50), generator.normal(size=50)
    y[:10] += 3 * x[:10]
    assert spearman(x, y)[0] == pytest.approx(spearmanr(x, y).statistic)
    x_nan = np.append(x, np.nan)
    assert spearman(x_nan, np.append(y, 1.0))[0] == pytest.approx(spearmanr(x, y).statistic)
    assert math.isnan(spearman([1, 2], [3, 4])[0])
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3])[0])


def test_spearman_is_scipy_on_the_finite_pairs_to_the_bit():
    generator = np.random.default_rng(3)
    x, y = np.round(generator.normal(size=500), 1), generator.uniform(0, 150, 500)  # ties in x
    x[::7], y[::11] = np.nan, np.inf
    finite = np.isfinite(x) & np.isfinite(y)
    expected = spearmanr(x[finite], y[finite])
    assert spearman(x, y) == (expected.statistic, expected.pvalue)
    assert all(math.isnan(v) for v in spearman(x, np.full_like(y, 2.0)))


def test_summarize_qcfc():
    correlations = np.array([-0.4, 0.1, 0.2, np.nan, 0.3])
    distances = np.array([10.0, 20, 30, 40, 50])
    summary = summarize_qcfc(correlations, distances)
    assert summary.median_abs_qcfc == pytest.approx(0.25)
    assert summary.distance_dependence == pytest.approx(1.0)
    assert summary.distance_dependence_p == pytest.approx(0.0, abs=1e-12)
    without_distances = summarize_qcfc(correlations)
    assert without_distances.median_abs_qcfc == summary.median_abs_qcfc
    assert math.isnan(without_distances.distance_dependence) and math.isnan(without_distances.distance_dependence_p)
    assert math.isnan(summarize_qcfc([np.nan, np.nan]).median_abs_qcfc)
    assert math.isnan(summarize_qcfc(correlations, np.full(5, np.nan)).distance_dependence)


def test_report_model_takes_its_qcfc_numbers_from_summarize_qcfc():
    """What the report shows is, to the bit, what the group level writes (the former formulas of group.py)."""
    generator = np.random.default_rng(7)
    correlations = generator.normal(0.05, 0.1, 4950)
    distances = generator.uniform(5, 150, 4950)
    correlations[::97] = np.nan
    result = QCFCResult("demo", "simple", correlations, distances, n_runs=30)
    summary = summarize_qcfc(correlations, distances)
    assert (result.median_abs_qcfc, result.distance_dependence) == (summary.median_abs_qcfc,
                                                                     summary.distance_dependence)
    finite = np.isfinite(correlations)
    assert summary.median_abs_qcfc == float(np.median(np.abs(correlations[finite])))
    assert summary.distance_dependence == float(spearmanr(correlations[finite], distances[finite]).statistic)


def test_qcfc_caveats_say_what_qcfc_rests_on():
    assert qcfc_caveats("participant", QCFC_ADVISED_PARTICIPANTS, 3 * QCFC_ADVISED_PARTICIPANTS) == []
    (few,) = qcfc_caveats("participant", 5, 13)
    assert few.startswith("QC-FC rests on 5 participants (fewer than 20)")
    assert qcfc_caveats("run", 30, 30) == []  # one run per participant: nothing pooled
    (pooled,) = qcfc_caveats("run", 30, 60)
    assert pooled.startswith("Runs of one participant are treated as independent samples")
    assert len(qcfc_caveats("run", 5, 13)) == 2
