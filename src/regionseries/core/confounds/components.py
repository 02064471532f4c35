"""ICA component tables written beside fMRIPrep's: fMRIPost-AROMA and tedana.

fMRIPrep >= 23.1 no longer runs ICA-AROMA; fMRIPost-AROMA writes, per run,
``*_desc-aroma_timeseries.tsv`` (the components ICA-AROMA rejected:
``aroma_motion_NN`` raw, ``aroma_orth_motion_NN`` z-scored and
orthogonalised with respect to the accepted components; rows of the
non-steady-state volumes are zeros, so there is one row per BOLD volume)
and ``*_desc-aroma_metrics.tsv`` (one row per component, with its
``classification``). tedana writes ``*_desc-ICA_mixing.tsv`` (one column
``ICA_NN`` per component, one row per volume) and
``*_desc-tedana_metrics.tsv`` (``Component`` and ``classification``).

:func:`read_aroma_timeseries` and :func:`read_tedana_components` read them
into a :class:`ComponentTable` whose columns are joined to the fMRIPrep
confounds by :func:`~.plans.plan_denoising`; tedana's columns are named as
nilearn's ``load_confounds(strategy=("tedana",))`` names them
(``rejected_ICA_07``). Problems are :class:`~.errors.ConfoundsError`\\ s
naming the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .columns import _check_numeric
from .errors import ConfoundsError
from .table import _read_tsv

__all__ = ["ComponentTable", "read_aroma_timeseries", "read_tedana_components",
           "AROMA_RAW_PATTERN", "AROMA_ORTH_PATTERN"]

#: fMRIPost-AROMA's rejected components, as MELODIC gave them.
AROMA_RAW_PATTERN = re.compile(r"^aroma_motion_\d+$")
#: fMRIPost-AROMA's rejected components, z-scored and orthogonalised to the accepted ones.
AROMA_ORTH_PATTERN = re.compile(r"^aroma_orth_motion_\d+$")


@dataclass(frozen=True)
class ComponentTable:
    """Component time series of one run, from fMRIPost-AROMA or tedana.

    Attributes
    ----------
    source : {"fMRIPost-AROMA", "tedana"}
        The software that wrote the files.
    data : pandas.DataFrame
        One row per volume, one float column per component, sorted by name.
    files : tuple of Path
        The files read (timeseries; or mixing matrix and metrics).
    rejected : tuple of str
        Columns of ``data`` classified as noise.
    """

    source: str
    data: pd.DataFrame
    files: tuple[Path, ...]
    rejected: tuple[str, ...]

    @property
    def n_volumes(self) -> int:
        """Rows (volumes) of the table."""
        return len(self.data)


def read_aroma_timeseries(path: str | Path) -> ComponentTable:
    """Read fMRIPost-AROMA's ``*_desc-aroma_timeseries.tsv``.

    Parameters
    ----------
    path : str or Path
        The file. A run in which ICA-AROMA rejected no component has a
        single ``intercept`` column: the table then has no column.

    Returns
    -------
    ComponentTable
        The ``aroma_motion_*`` and ``aroma_orth_motion_*`` columns (both
        count as rejected).

    Raises
    ------
    ConfoundsError
        If the file cannot be read as a table, has neither kind of column
        (nor the ``intercept`` of a run without noise component), or holds
        values that are not numbers.
    """
    path = Path(path)
    data = _read_tsv(path)
    names = sorted(name for name in data.columns if AROMA_RAW_PATTERN.match(name) or AROMA_ORTH_PATTERN.match(name))
    if not names and list(data.columns) != ["intercept"]:
        raise ConfoundsError(
            f"{path}: no aroma_motion_* or aroma_orth_motion_* column; is it fMRIPost-AROMA's "
            f"desc-aroma_timeseries.tsv? Columns: {list(data.columns)}."
        )
    components = data.loc[:, names]
    _check_numeric(components, str(path))
    return ComponentTable("fMRIPost-AROMA", components.astype(float), (path,), tuple(names))


def _normalised_ica_name(name: str) -> str:
    """``ICA_007`` -> ``ICA_7`` (tedana versions differ in zero padding)."""
    return re.sub(r"ICA_0*(\d+)$", lambda match: f"ICA_{int(match.group(1))}", name)


def read_tedana_components(mixing_path: str | Path, metrics_path: str | Path,
                           classes: tuple[str, ...] = ("accepted", "rejected")) -> ComponentTable:
    """Read tedana's mixing matrix, keeping the components of some classifications.

    Parameters
    ----------
    mixing_path : str or Path
        ``*_desc-ICA_mixing.tsv``: one ``ICA_NN`` column per component.
    metrics_path : str or Path
        ``*_desc-tedana_metrics.tsv``: ``Component`` and ``classification``.
    classes : tuple of str
        Classifications kept (tedana's ``accepted``, ``rejected``; nilearn's
        choice by tedana type is ``vocabulary._TEDANA_CLASSES``).

    Returns
    -------
    ComponentTable
        Columns ``<classification>_<mixing column>`` (nilearn's names),
        sorted; ``rejected`` lists the ``rejected_*`` ones.

    Raises
    ------
    ConfoundsError
        If a file cannot be read as a table, lacks the expected columns, or
        the kept components hold values that are not numbers.
    """
    mixing_path, metrics_path = Path(mixing_path), Path(metrics_path)
    mixing = _read_tsv(mixing_path)
    metrics = _read_tsv(metrics_path)
    if not any(str(name).startswith("ICA_") for name in mixing.columns) or not {
        "Component",
        "classification",
    } <= set(metrics.columns):
        raise ConfoundsError(
            "The confound file does not contain the expected columns for TEDANA output. Expected "
            "'ICA_xx' for mixing.tsv and 'Component' and 'classification' for the metrics.tsv "
            f"columns ({mixing_path}, {metrics_path})."
        )
    original_by_normalised = {_normalised_ica_name(name): name for name in mixing.columns}
    classification = {
        _normalised_ica_name(str(component)): label
        for component, label in zip(metrics["Component"], metrics["classification"])
        if label in classes
    }
    chosen = sorted(name for name in classification if name in original_by_normalised)
    components = mixing[[original_by_normalised[name] for name in chosen]].copy()
    components.columns = [f"{classification[name]}_{original_by_normalised[name]}" for name in chosen]
    _check_numeric(components, str(mixing_path))
    components = components[sorted(components.columns)]
    rejected = tuple(name for name in components.columns if name.startswith("rejected_"))
    return ComponentTable("tedana", components, (mixing_path, metrics_path), rejected)
