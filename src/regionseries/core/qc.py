"""The QC-FC summary: how much motion is left in the connectivity edges, in two numbers.

QC-FC is, for each edge, the correlation across runs between the edge's
connectivity and the run's mean framewise displacement (computed at the group
level, :mod:`regionseries.group`). It is summarised by the median of its
absolute value over edges and by its distance dependence, the Spearman
correlation between QC-FC and the distance between the two regions (Ciric et
al. 2017, NeuroImage 154:174-187). The group level writes these numbers in its
``*_qcfc.json`` and the group report shows them; both take them from here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy  # submodules load on first use: scipy.stats only when a correlation is computed


def spearman(x: Any, y: Any) -> tuple[float, float]:
    """Spearman rank correlation and its two-sided p-value over the pairs where both are finite.

    Parameters
    ----------
    x, y : array-like of float
        Same length.

    Returns
    -------
    rho, p_value : float
        As :func:`scipy.stats.spearmanr` on the finite pairs; both NaN with
        fewer than 3 finite pairs or a constant input.
    """
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    finite = np.isfinite(x) & np.isfinite(y)
    if finite.sum() < 3 or np.ptp(x[finite]) == 0 or np.ptp(y[finite]) == 0:
        return math.nan, math.nan
    result = scipy.stats.spearmanr(x[finite], y[finite])
    return float(result.statistic), float(result.pvalue)


@dataclass(frozen=True)
class QCFCSummary:
    """The QC-FC of one (atlas, strategy) in two numbers.

    Attributes
    ----------
    median_abs_qcfc : float
        Median of |QC-FC| over the edges with a finite QC-FC; NaN when none.
    distance_dependence : float
        Spearman correlation between QC-FC and edge distance (see
        :func:`spearman`); NaN without distances.
    distance_dependence_p : float
        Its two-sided p-value; NaN without distances.
    """

    median_abs_qcfc: float
    distance_dependence: float
    distance_dependence_p: float


def summarize_qcfc(edge_correlations: Any, edge_distances_mm: Any = None) -> QCFCSummary:
    """Median |QC-FC| and distance dependence of one (atlas, strategy).

    Parameters
    ----------
    edge_correlations : array-like of float
        QC-FC of each edge (any fixed order); NaN edges are left out.
    edge_distances_mm : array-like of float or None
        Distance between the two regions' centroids of each edge, mm, in the
        same order; NaN where unknown.

    Returns
    -------
    QCFCSummary
    """
    correlations = np.asarray(edge_correlations, dtype=float).ravel()
    finite = correlations[np.isfinite(correlations)]
    median_abs = float(np.median(np.abs(finite))) if finite.size else math.nan
    if edge_distances_mm is None:
        return QCFCSummary(median_abs, math.nan, math.nan)
    return QCFCSummary(median_abs, *spearman(correlations, edge_distances_mm))


#: Participants below which QC-FC gets a warning: with n samples an edge's
#: correlation has a standard error of about 1 / sqrt(n − 3) (0.24 at 20), the
#: size of the QC-FC values that separate strategies (Parkes et al. 2018).
QCFC_ADVISED_PARTICIPANTS = 20

#: What QC-FC correlates across: participants (their runs averaged) or runs.
QCFC_UNITS = ("participant", "run")


def qcfc_caveats(unit: str, n_participants: int, n_runs: int) -> list[str]:
    """Plain warnings about what one QC-FC rests on (empty when none applies).

    Parameters
    ----------
    unit : {"participant", "run"}
        The samples of the correlation (:data:`QCFC_UNITS`).
    n_participants : int
        Participants with at least one run in the correlation.
    n_runs : int
        Runs in the correlation.

    Returns
    -------
    list of str
        One sentence per caveat: fewer than :data:`QCFC_ADVISED_PARTICIPANTS`
        participants; runs of one participant pooled as independent samples.
    """
    caveats = []
    if n_participants < QCFC_ADVISED_PARTICIPANTS:
        caveats.append(f"QC-FC rests on {n_participants} participant{'s' if n_participants != 1 else ''} "
                       f"(fewer than {QCFC_ADVISED_PARTICIPANTS}): its values are noisy and differences "
                       "between strategies may be chance.")
    if unit == "run" and n_runs > n_participants:
        caveats.append("Runs of one participant are treated as independent samples (--qcfc-unit run): they are "
                       "alike, so QC-FC overstates the evidence; the default --qcfc-unit participant averages "
                       "them first.")
    return caveats
