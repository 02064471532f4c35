"""Choosing and preparing the regressor columns of a confounds table.

Shared by the nilearn-compatible loader (:mod:`.nilearn_api`) and the
denoising plans (:mod:`.plans`): what a component asks for and the file
lacks (:class:`_Missing`, :func:`_present_or_missing`), the CompCor
columns chosen as nilearn 0.14.1 chooses them from the sidecar's key count
(:func:`_compcor_names_nilearn`) or from the current names
(:func:`_compcor_names_current`), row 0 of derivative columns filled from
row 1 (:func:`_fill_first_row`), a column's values as float64 with n/a
as NaN (:func:`_as_float`), and the check that the chosen columns hold
numbers (:func:`_check_numeric`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import ConfoundsError
from .table import _COMPCOR_NAME, ConfoundsTable
from .vocabulary import _ACOMPCOR_MASKS, _ACOMPCOR_PREFIX_BY_MASK, _COMPCOR_PREFIXES


@dataclass
class _Missing:
    """What a strategy asked for and the file lacks."""

    columns: list[str] = field(default_factory=list)
    components: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.columns or self.components)


def _present_or_missing(
    names: Sequence[str], columns: pd.Index, component: str, missing: _Missing
) -> list[str]:
    """Return ``names`` if all are columns; else record what is missing.

    None present -> the component is missing; some present -> the absent
    names are missing (nilearn raises a raw KeyError for the latter case
    except for motion; we always report the names).
    """
    absent = [name for name in names if name not in columns]
    if not names or len(absent) == len(names):
        missing.components.append(component)
        return []
    if absent:
        missing.columns.extend(absent)
        return []
    return list(names)


def _columns_containing(columns: pd.Index, keyword: str) -> list[str]:
    return [name for name in columns if keyword in name]


def _compcor_names_nilearn(
    metadata: Mapping | None, compcor: str, n_compcor: int | str, source: str
) -> list[str]:
    """CompCor column names chosen exactly as nilearn 0.14.1 chooses them.

    For each prefix, the number N of sidecar keys containing
    ``{prefix}_comp_cor`` is counted and the names ``{prefix}_comp_cor_00``
    ... ``_{N-1}`` are generated; the ``a`` prefix is filtered by the JSON
    ``Mask`` (substring test, as nilearn) mask by mask, and ``n_compcor`` is
    taken per mask and per prefix.
    """
    keys = list(metadata) if metadata is not None else []
    masks = _ACOMPCOR_MASKS[compcor]
    chosen: list[str] = []
    for prefix in _COMPCOR_PREFIXES[compcor]:
        count = sum(f"{prefix}_comp_cor" in key for key in keys)
        generated = [f"{prefix}_comp_cor_{number:02d}" for number in range(count)]
        if prefix == "a":
            for mask in masks:
                in_mask = [name for name in generated if _sidecar_mask(metadata, name, source) in mask]
                chosen.extend(_first(in_mask, n_compcor))
        else:
            chosen.extend(_first(generated, n_compcor))
    return chosen


def _sidecar_mask(metadata: Mapping, name: str, source: str) -> str:
    entry = metadata.get(name)
    if not isinstance(entry, Mapping):
        raise ConfoundsError(
            f"{source}: the JSON sidecar counts anatomical CompCor components up to "
            f"{name} but has no entry for {name}."
        )
    mask = entry.get("Mask")
    if not isinstance(mask, str):
        raise ConfoundsError(f"{source}: the JSON sidecar entry of {name} has no 'Mask' field.")
    return mask


def _compcor_names_current(table: ConfoundsTable, compcor: str, n_compcor: int | str) -> list[str]:
    """CompCor column names from the sidecar's real keys (current names).

    anat_combined -> ``a_comp_cor_*``; anat_separated -> ``w_comp_cor_*``
    then ``c_comp_cor_*``; temporal -> ``t_comp_cor_*`` (from the sidecar,
    or the TSV when there is no sidecar). ``n_compcor`` applies per mask.
    """
    prefixes = []
    for prefix in _COMPCOR_PREFIXES[compcor]:
        if prefix == "a":
            for mask in _ACOMPCOR_MASKS[compcor]:
                prefix_of_mask = _ACOMPCOR_PREFIX_BY_MASK[mask]
                if prefix_of_mask not in prefixes:
                    prefixes.append(prefix_of_mask)
        elif prefix not in prefixes:
            prefixes.append(prefix)
    pool = list(table.metadata) if table.metadata is not None else list(table.data.columns)
    chosen: list[str] = []
    for prefix in prefixes:
        numbered = []
        for name in pool:
            match = _COMPCOR_NAME.match(name)
            if match and match.group(1) == prefix:
                numbered.append((int(match.group(2)), name))
        chosen.extend(_first([name for _, name in sorted(numbered)], n_compcor))
    return chosen


def _first(names: list[str], n_compcor: int | str) -> list[str]:
    return list(names) if n_compcor == "all" else list(names[:n_compcor])


def _as_float(column: pd.Series) -> np.ndarray:
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)


def _fill_first_row(confounds: pd.DataFrame) -> None:
    """Replace NaN in row 0 (derivatives, FD) by row 1, in place (nilearn)."""
    first = confounds.to_numpy(dtype=np.float64)[0, :]
    nan_columns = np.flatnonzero(np.isnan(first))
    if nan_columns.size and len(confounds) > 1:
        confounds.iloc[0, nan_columns] = confounds.iloc[1, nan_columns]


def _check_numeric(confounds: pd.DataFrame, source: str) -> None:
    bad = [name for name in confounds.columns if not pd.api.types.is_numeric_dtype(confounds[name])]
    if bad:
        raise ConfoundsError(f"{source}: columns hold values that are not numbers or 'n/a': {bad}.")
