"""The look-up table of a label image (``lut_``) and the attributes read from it.

:func:`build_lut` makes nilearn's table of label values (``index``) and
region names (``name``) from the image and the user's ``labels`` or ``lut``;
:class:`LabelAttributesMixin` derives ``n_elements_``, ``labels_``,
``region_names_``, ``region_ids_`` and ``get_feature_names_out`` from it, for
:class:`~regionseries.maskers.NiftiLabelsMasker`.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pandas as pd

__all__ = [
    "LabelAttributesMixin",
    "build_lut",
    "check_labels_argument",
    "plain_number",
    "values_present",
]


def check_labels_argument(labels, lut) -> None:
    if labels is not None and lut is not None:
        raise ValueError(
            "Pass either labels or a lookup table (lut) to the masker, but not both."
        )
    if labels is not None:
        if not isinstance(labels, list):
            raise TypeError(f"'labels' must be a list of strings; got {type(labels).__name__}.")
        bad = [label for label in labels if not isinstance(label, str)]
        if bad:
            raise TypeError(
                "All elements of 'labels' must be a string; got "
                f"{', '.join(sorted({type(b).__name__ for b in bad}))}."
            )


def values_present(data: np.ndarray) -> np.ndarray:
    values = np.unique(data)
    return values[np.isfinite(values)] if values.dtype.kind == "f" else values


def _lut_from_names(names: list[str], indices: list, background_label, background_present):
    """nilearn's look-up table from a list of names and the image's indices."""
    names = list(names)
    if background_present and "Background" not in names:
        names.insert(indices.index(background_label), "Background")
    if len(names) < len(indices):
        warnings.warn(
            "Too many indices for the names. Padding 'names' with 'unknown'.",
            UserWarning,
            stacklevel=4,
        )
        names += ["unknown"] * (len(indices) - len(names))
    elif len(names) > len(indices):
        warnings.warn(
            "Too many names for the indices. Dropping excess names values.",
            UserWarning,
            stacklevel=4,
        )
        names = names[: len(indices)]
    return pd.DataFrame({"index": indices, "name": names})


def build_lut(labels_data, background_label, labels, lut, *, rename_background: bool = True) -> pd.DataFrame:
    """The look-up table ``lut_`` (section 3.2 step 6 of the reference).

    ``rename_background``: a name "background" in ``labels`` becomes
    "Background" (nilearn's ``NiftiLabelsMasker``; its ``SurfaceLabelsMasker``
    keeps the name as given, so that it names the label at its position).
    """
    present = values_present(labels_data)
    indices = [plain_number(v) for v in present]
    background_present = background_label in indices
    if lut is not None:
        if isinstance(lut, (str, os.PathLike)):
            lut = pd.read_table(lut, sep=None, engine="python")
        if not isinstance(lut, pd.DataFrame) or not {"index", "name"} <= set(lut.columns):
            raise ValueError("lut must be a DataFrame (or TSV/CSV file) with 'index' and 'name' columns.")
        table = lut.copy()
    elif labels:
        if rename_background and "background" in labels:
            labels[labels.index("background")] = "Background"
        table = _lut_from_names(labels, indices, background_label, background_present)
    else:
        names = [
            "Background" if (background_present and v == background_label) else str(v)
            for v in indices
        ]
        table = pd.DataFrame({"index": indices, "name": names})
    is_background = table["index"] == background_label
    if is_background.any():
        table = pd.concat([table[is_background], table[~is_background]], ignore_index=True)
        table.loc[0, "name"] = "Background"
    else:
        first = {"name": "Background", "index": background_label, "color": "FFFFFF"}
        first = {column: first.get(column, np.nan) for column in table.columns}
        table = pd.concat([pd.DataFrame([first]), table], ignore_index=True)
    table = table[table["index"].isin(indices)]
    missing = sorted(set(indices) - set(table["index"].tolist()))
    if missing:
        table = pd.concat(
            [table, pd.DataFrame({"name": ["unknown"] * len(missing), "index": missing})],
            ignore_index=True,
        )
    return table.sort_values("index").reset_index(drop=True)


def plain_number(value):
    value = np.asarray(value).item()
    return value


class LabelAttributesMixin:
    """nilearn's label-derived attributes, read from ``_lut_`` (set at fit for the fitted grid)."""

    def _current_lut(self) -> pd.DataFrame:
        self._check_fitted()
        return self._lut_ if hasattr(self, "_lut_") else self.lut_

    @property
    def n_elements_(self) -> int:
        """Number of regions (non-background rows of the look-up table)."""
        lut = self._current_lut()
        return int(np.sum(lut["index"] != self.background_label))

    @property
    def labels_(self) -> list:
        """Label values of the regions, background included if present."""
        return self._current_lut()["index"].to_list()

    @property
    def region_names_(self) -> dict:
        """Column index -> region name."""
        valid = [i for i in self.labels_ if i != self.background_label]
        table = self.lut_[self.lut_["index"].isin(valid)]
        return table["name"].reset_index(drop=True).to_dict()

    @property
    def region_ids_(self) -> dict:
        """Column index -> label value, plus ``"background"`` -> background label."""
        index = self.labels_
        ids = {}
        if self.background_label in index:
            index.pop(index.index(self.background_label))
            ids["background"] = self.background_label
        for i, value in enumerate(index):
            ids[i] = value
        return ids

    def get_feature_names_out(self, input_features=None) -> list[str]:
        """Region names, one per output column."""
        del input_features
        return list(self.region_names_.values())
