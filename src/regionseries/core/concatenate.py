"""Concatenating the cleaned region signals of several runs (``--combine-runs``).

Each run's signals are centred on its own kept volumes before they are
stacked, so that a difference between the runs' means never becomes
connectivity; their scale is left as the strategy made it (z-scored per run by
default, as XCP-D >= 26 does; ``psc`` and ``none`` keep their units). The
stacked series keeps one row per volume of every run, removed volumes ``NaN``,
and the indices of the kept rows, which the connectivity is computed on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def concatenate_runs(signals: Sequence[np.ndarray], kept_volumes: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Centre each run on its kept volumes and stack the runs in time.

    Parameters
    ----------
    signals : sequence of ndarray, shape (n_volumes_i, n_regions)
        One array per run, one row per volume (removed volumes may hold NaN),
        the same regions in the same column order; values in the strategy's
        units (z-scores, percent signal change, or BOLD units).
    kept_volumes : sequence of ndarray of int
        0-based indices of each run's kept volumes.

    Returns
    -------
    combined : ndarray, shape (sum of n_volumes_i, n_regions)
        float64; row ``offset_i + t`` is volume ``t`` of run ``i``; rows of
        removed volumes are NaN; a region that is NaN on a run's kept volumes
        (below the coverage threshold in that run) stays NaN in that run's rows.
    kept_rows : ndarray of int
        0-based rows of ``combined`` that hold kept volumes, in order.

    Raises
    ------
    ValueError
        No run, runs with different numbers of regions, or a kept index
        outside its run.
    """
    if len(signals) == 0:
        raise ValueError("no run to concatenate")
    if len(signals) != len(kept_volumes):
        raise ValueError(f"{len(signals)} runs of signals but {len(kept_volumes)} lists of kept volumes")
    n_regions = {np.shape(run)[1] for run in signals}
    if len(n_regions) != 1:
        raise ValueError(f"the runs have different numbers of regions: {sorted(n_regions)}")
    blocks, rows = [], []
    offset = 0
    for run, kept in zip(signals, kept_volumes):
        run = np.asarray(run, dtype=np.float64)
        kept = np.asarray(kept, dtype=int)
        if kept.size and (kept.min() < 0 or kept.max() >= run.shape[0]):
            raise ValueError(f"kept volume index outside a run of {run.shape[0]} volumes")
        block = np.full(run.shape, np.nan)
        if kept.size:
            values = run[kept]
            block[kept] = values - values.mean(axis=0)
        blocks.append(block)
        rows.append(offset + kept)
        offset += run.shape[0]
    return np.concatenate(blocks, axis=0), np.concatenate(rows).astype(int)
