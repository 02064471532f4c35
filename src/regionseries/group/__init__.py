"""Group level: QC table, mean connectivity, QC-FC and exclusions from participant outputs.

``regionseries BIDS_DIR OUTPUT_DIR group`` reads only OUTPUT_DIR (the
per-run ``*_qc.json`` records, time-series sidecars, connectivity matrices and
``atlases/`` tables written by the participant level) and writes, into
``OUTPUT_DIR/group/``, for every task, space, atlas and strategy:

* ``…_qc.tsv`` — one row per run: volumes kept, mean framewise displacement
  (FD), degrees of freedom lost, regions set to n/a, excluded or not and why;
* ``…_exclusions.tsv`` — the excluded runs and the reasons;
* ``…_stat-<measure>_desc-<strategy>_relmat.tsv`` — the group-average matrix of
  the included runs: correlations (and partial correlations) are averaged as
  Fisher z and written back as r; the mean z itself is written as
  ``stat-fisherz`` (``stat-partialcorrelationfisherz``); covariances are
  averaged arithmetically;
* ``…_qcfc.tsv`` and ``…_qcfc.json`` — QC-FC: for each edge, the Pearson
  correlation across included runs between the edge's Fisher-z connectivity
  and the run's mean FD, its p-value, and the Euclidean distance between the
  two regions' centroids; the JSON summarises the distribution (median
  |QC-FC|, fraction of edges with p < 0.05) and its distance dependence
  (Spearman correlation between QC-FC and distance).

Exclusion criteria (documented in docs/outputs.md, recorded in every JSON):

1. the participant level excluded the run for this strategy (e.g. too few
   volumes left after censoring) or failed on it (e.g. no confounds file);
2. mean FD above ``--max-mean-fd`` (default 0.55 mm, the lenient criterion of
   Parkes et al. 2018, NeuroImage 171:415-436);
3. fewer than ``--min-kept-fraction`` (default 0.5) of the volumes kept after
   removing non-steady-state and censored volumes.

Reading the matrices is most of the time: each is read from the binary copy
the participant level writes beside its TSV (:mod:`regionseries.bids.relmat`;
symmetric matrices as their upper triangle), or parsed from its text
(:func:`read_relmat`) when the copy is missing or out of date; ``--nprocs``
processes read chunks of at least :data:`CHUNK_RUNS` runs whose
:class:`RunningEdges` sums are merged in order
(identical outputs whatever ``--nprocs``), and ``--incremental`` keeps the
sums in ``group/.incremental/`` (:class:`GroupCache`) so that a later group
run reads only the runs that joined or left the averages.
The package, one job per module, in the order of the work:

* :mod:`.engine` — :func:`run_group` (folders, log) and :func:`aggregate`;
* :mod:`.options` — :class:`GroupOptions`, :class:`GroupSummary`, :class:`NoParticipantOutputs`;
* :mod:`.reading` — the participant outputs: QC records, sidecars, :func:`read_relmat`, centroids;
* :mod:`.exclusions` — :func:`exclusion_reasons` and the QC table;
* :mod:`.edges` — :class:`RunningEdges` and :func:`edge_correlation_with` (means, QC-FC);
* :mod:`.accumulate` — the runs' matrices read into sums, from scratch or from the cache;
* :mod:`.cache` — :class:`GroupCache` (``--incremental``);
* :mod:`.parallel` — the reader processes and the chunks they read in order;
* :mod:`.outputs` — the files of ``OUTPUT_DIR/group/`` and the group report.
"""

from ..core.qc import spearman  # noqa: F401 - group.spearman was its home before core.qc
from .cache import GroupCache
from .edges import MIN_RUNS_QCFC, RunningEdges, edge_correlation_with
from .engine import aggregate, run_group
from .exclusions import RUN_ENTITIES, exclusion_reasons
from .options import GroupOptions, GroupSummary, NoParticipantOutputs
from .parallel import CHUNK_RUNS
from .reading import (
    RECORD_KEYS,
    MalformedMatrix,
    _regions_na,  # noqa: F401 - tests/app/test_group_reading.py
    atlas_centroids,
    collect_qc_records,
    read_relmat,
)

__all__ = [
    "CHUNK_RUNS",
    "MIN_RUNS_QCFC",
    "RECORD_KEYS",
    "RUN_ENTITIES",
    "GroupCache",
    "GroupOptions",
    "GroupSummary",
    "MalformedMatrix",
    "NoParticipantOutputs",
    "RunningEdges",
    "aggregate",
    "atlas_centroids",
    "collect_qc_records",
    "edge_correlation_with",
    "exclusion_reasons",
    "read_relmat",
    "run_group",
]
