"""Output file names of one run, over :class:`regionseries.bids.names.BIDSName`:
time series, connectivity matrices (``relmat``) and QC records.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..atlases.base import Atlas
from ..bids.inputs import RunInputs
from ..bids.names import BIDSName
from ..core.connectivity import STAT_LABELS


def timeseries_name(run: RunInputs, atlas: str, strategy_desc: str) -> BIDSName:
    return run.base_name.replace(atlas=atlas, desc=strategy_desc, suffix="timeseries", extension=".tsv")


def relmat_name(run: RunInputs, atlas: str, strategy_desc: str, kind: str) -> BIDSName:
    return run.base_name.replace(atlas=atlas, stat=STAT_LABELS[kind], desc=strategy_desc,
                                 suffix="relmat", extension=".tsv")


def qc_name(run: RunInputs, strategy_desc: str) -> BIDSName:
    return run.base_name.replace(desc=strategy_desc, suffix="qc", extension=".json")


def linc_qc_name(run: RunInputs, strategy_desc: str) -> BIDSName:
    """The LINC QC table (``stat-linc``, so that its sidecar is not taken for the ``*_qc.json`` record)."""
    return run.base_name.replace(stat="linc", desc=strategy_desc, suffix="qc", extension=".tsv")


#: Appended to the strategy's ``desc-`` label in the outputs of concatenated runs
#: (``--combine-runs``): ``desc-simpleConcat`` beside the runs' ``desc-simple``. The
#: ``run`` entity alone cannot tell them apart: a participant's only run may have none.
COMBINED_DESC_SUFFIX = "Concat"


def combined_base(run: RunInputs) -> BIDSName:
    """Name stem shared by the runs a concatenation joins: the run's without ``run-``."""
    return run.base_name.replace(run=None)


def combined_name(base: BIDSName, strategy_desc: str, suffix: str, atlas: str | None = None,
                  kind: str | None = None) -> BIDSName:
    """Output name of concatenated runs: ``timeseries``/``relmat`` (``.tsv``) or ``qc`` (``.json``)."""
    return base.replace(atlas=atlas, stat=None if kind is None else STAT_LABELS[kind],
                        desc=strategy_desc + COMBINED_DESC_SUFFIX, suffix=suffix,
                        extension=".json" if suffix == "qc" else ".tsv")



#: Parcellated CIFTI-2 files written beside the TSVs of a CIFTI run (Workbench opens them).
CIFTI_SERIES_EXTENSION = ".ptseries.nii"
CIFTI_MATRIX_EXTENSION = ".pconn.nii"


def expected_outputs(run: RunInputs, atlases: Sequence[Atlas], strategy_desc: str,
                     kinds: Sequence[str]) -> list[BIDSName]:
    """Time series and relmat names (TSV and JSON) of one run and strategy."""
    names = []
    for atlas in atlases:
        series = timeseries_name(run, atlas.name, strategy_desc)
        names += [series, series.replace(extension=".json")]
        parcellated = run.surface == "cifti" and atlas.kind == "labels"  # a map is no set of grayordinates
        if parcellated:
            names.append(series.replace(extension=CIFTI_SERIES_EXTENSION))
        for kind in kinds:
            matrix = relmat_name(run, atlas.name, strategy_desc, kind)
            names += [matrix, matrix.replace(extension=".json")]
            if parcellated:
                names.append(matrix.replace(extension=CIFTI_MATRIX_EXTENSION))
    return names
