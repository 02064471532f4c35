"""The labels operator: region signals from a label (parcellation) image.

:class:`LabelsOperator` maps each voxel of a label image on the data grid to
its region (column). The reductions ``mean`` and ``sum`` are a sparse
region x voxel matrix applied in float64 (``mean`` divides the sum by the
voxel count, as ``scipy.ndimage.mean``); ``median``, ``minimum``,
``maximum``, ``variance`` and ``standard_deviation`` work on per-region voxel
groups. :data:`REDUCTIONS` lists them (nilearn's ``strategy`` of
``NiftiLabelsMasker``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import scipy  # submodules load on first use: a job with nothing left to do never imports them

from .base import _Operator
from .bound import _Bound, _BoundGroups, _BoundLinear

#: Reductions of a region's voxels by the labels operator (scipy.ndimage names).
REDUCTIONS = (
    "mean",
    "median",
    "sum",
    "minimum",
    "maximum",
    "standard_deviation",
    "variance",
)
_LINEAR_REDUCTIONS = ("mean", "sum")


class LabelsOperator(_Operator):
    """Region signals from a label image on the data grid.

    Parameters
    ----------
    labels : numpy.ndarray, 3D
        Label value of each voxel, on the data grid. Non-finite values are
        treated as background (nilearn replaces them by 0 with a warning).
    affine : array-like, shape (4, 4)
        Voxel-to-world affine of the grid (mm).
    background_label : int or float, default=0
        Label value that is not a region.
    label_values : sequence of numbers or None, default=None
        Regions (columns) to extract, in this order. None: every value present
        in ``labels`` except the background, ascending (nilearn's order).
        Values absent from ``labels`` give NaN columns and are reported in
        ``missing_regions`` (never silently dropped or shifted).
    names : sequence of str, mapping or None, default=None
        Region names: aligned with ``label_values`` (sequence) or a mapping
        label value -> name. Missing names default to the label value as text.
    reduction : str, default="mean"
        How a region's voxels become one value: one of :data:`REDUCTIONS`
        (nilearn's ``strategy`` of ``NiftiLabelsMasker``).
    smoothing_fwhm : float, sequence of 3 floats, "fast" or None, default=None
        Spatial smoothing (mm) applied to each volume before extraction, as
        nilearn does. For ``mean``/``sum`` it is composed into the weights.
    source_name : str, default="labels image"
        Name of the atlas for messages.

    Attributes
    ----------
    names : list of str
    region_ids : list
        Label values, one per column.
    missing_regions : list of str
        Names of requested labels with no voxel on this grid.
    voxel_counts : numpy.ndarray
        Voxels per region on the grid (no mask), used for coverage.
    """

    kind = "labels"

    def __init__(
        self,
        labels: np.ndarray,
        affine,
        *,
        background_label=0,
        label_values=None,
        names=None,
        reduction: str = "mean",
        smoothing_fwhm=None,
        source_name: str = "labels image",
    ):
        labels = np.asarray(labels)
        if labels.ndim == 4 and labels.shape[3] == 1:
            labels = labels[..., 0]
        if labels.ndim != 3:
            raise ValueError(
                f"{source_name}: a labels image must be 3D, got shape {labels.shape}. "
                "A 4D image of probabilistic maps needs MapsOperator / NiftiMapsMasker."
            )
        if reduction not in REDUCTIONS:
            raise ValueError(
                f"Invalid reduction '{reduction}'. Valid reductions are {list(REDUCTIONS)}."
            )
        labels_flat = labels.reshape(-1, order="F")
        if labels_flat.dtype.kind == "f":
            labels_flat = np.where(np.isfinite(labels_flat), labels_flat, background_label)
        present = np.unique(labels_flat)
        present = present[present != background_label]
        if label_values is None:
            label_values = present
        label_values = np.asarray(list(label_values))
        if len(np.unique(label_values)) != len(label_values):
            raise ValueError(f"{source_name}: label_values contains duplicates.")
        if isinstance(names, Mapping):
            region_names = [str(names.get(_plain(v), _plain(v))) for v in label_values]
        elif names is not None:
            names = [str(n) for n in names]
            if len(names) != len(label_values):
                raise ValueError(
                    f"{source_name}: {len(names)} names for {len(label_values)} regions."
                )
            region_names = names
        else:
            region_names = [str(_plain(v)) for v in label_values]
        super().__init__(
            labels.shape,
            affine,
            region_names,
            [_plain(v) for v in label_values],
            smoothing_fwhm,
            source_name,
        )
        self.reduction = reduction
        self.background_label = background_label
        # Voxel -> column: searchsorted on the sorted requested values.
        order = np.argsort(label_values, kind="stable")
        sorted_values = label_values[order]
        position = np.searchsorted(sorted_values, labels_flat)
        position = np.clip(position, 0, max(len(sorted_values) - 1, 0))
        if len(sorted_values):
            hit = sorted_values[position] == labels_flat
        else:
            hit = np.zeros(labels_flat.shape, dtype=bool)
        self._voxels = np.flatnonzero(hit).astype(np.int64)
        self._columns = order[position[hit]].astype(np.int64)
        self.voxel_counts = np.bincount(self._columns, minlength=self.n_regions)
        self.missing_regions = [
            name for name, count in zip(self.names, self.voxel_counts) if count == 0
        ]
        self.unlisted_values = [
            _plain(v) for v in present if not np.any(label_values == v)
        ]

    def __setstate__(self, state: dict) -> None:
        # Operators pickled in a work folder or --cache-dir before the reduction had its
        # name (same version, 0.1.0.dev0) hold it as "strategy".
        if "strategy" in state:
            state = dict(state)
            state["reduction"] = state.pop("strategy")
        self.__dict__.update(state)

    def labels_volume(self) -> np.ndarray:
        """The regions on the grid: each voxel's label value, the background elsewhere (3D)."""
        values = np.asarray(self.region_ids if self.region_ids else [self.background_label])
        volume = np.full(self.n_voxels_grid, self.background_label, dtype=values.dtype)
        volume[self._voxels] = values[self._columns]
        return volume.reshape(self.shape, order="F")

    def _membership(self, mask_flat):
        """Sparse 0/1 region x voxel matrix restricted to the mask."""
        keep = slice(None) if mask_flat is None else mask_flat[self._voxels]
        voxels = self._voxels[keep]
        columns = self._columns[keep]
        return scipy.sparse.csr_matrix(
            (np.ones(len(voxels)), (columns, voxels)),
            shape=(self.n_regions, self.n_voxels_grid),
        )

    def bind(self, mask=None) -> _Bound:
        mask_flat = self._mask_flat(mask)
        membership = self._membership(mask_flat)
        counts = np.asarray(membership.sum(axis=1)).ravel()
        if self.reduction in _LINEAR_REDUCTIONS:
            post = None
            if self.reduction == "mean":
                # Sum in float64, then divide by the count, as scipy.ndimage.mean.
                divisor = np.where(counts > 0, counts, 1.0)[:, None]

                def post(projected, divisor=divisor):
                    return projected / divisor

            bound = self._bind_linear_with_smoothing(_BoundLinear(membership, post))
        else:
            membership.sort_indices()
            groups = [
                membership.indices[membership.indptr[k] : membership.indptr[k + 1]].astype(np.int64)
                for k in range(self.n_regions)
            ]
            bound = _BoundGroups(groups, self.reduction)
            if self.smoothing_fwhm is not None:
                bound.source = self.smoothing_fwhm
        bound.empty = counts == 0
        return self._finish_bound(bound, membership, self.voxel_counts, counts)


def _plain(value):
    """A numpy scalar as the plain Python number (int when integral)."""
    value = np.asarray(value).item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
