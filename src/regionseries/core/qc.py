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
