"""The one-pass extraction: every operator fed from a single read of a BOLD series.

:func:`extract_signals` reads a BOLD series **once**, in chunks of volumes
(:class:`~regionseries.core.reader.BoldReader`), binds each operator to the
run's brain mask, gathers per chunk the union of the voxels all operators
read, applies the linear ones as one stacked sparse product and the others on
the same block, and returns one :class:`ExtractionResult` per operator with
each region's *coverage* (the fraction of its atlas voxels, or map weight,
inside the mask with finite, non-constant signal); regions below
``min_coverage`` get NaN signals and a warning naming them. Memory does not
grow with the number of volumes.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import scipy  # submodules load on first use: a job with nothing left to do never imports them
from threadpoolctl import threadpool_limits

from ..image import check_strict_affine, describe_img, load_masker_mask, smooth_array
from ..reader import BoldReader
from ..surface_reader import CiftiSeriesReader, GiftiPairReader
from .base import _Operator
from .bound import _Bound, _BoundLinear
from .grid import _positions_in, _sorted_union


@dataclass
class ExtractionResult:
    """Region signals of one operator for one BOLD series.

    Attributes
    ----------
    signals : numpy.ndarray, shape (T, K), float64
        One column per region, in the operator's region order. Regions with
        no voxel, or with coverage below ``min_coverage``, are NaN.
    names : list of str
        Region names (column labels).
    region_ids : list
        Label values (labels), seed indices (spheres) or map indices (maps).
    coverage : numpy.ndarray, shape (K,), float64
        Fraction (0-1) of each region's atlas voxels -- or of its map weight,
        for maps -- inside the brain mask with finite, non-constant signal.
        With a single volume (3D input) constancy is not judged.
    regions_below_coverage : list of str
        Names of the regions whose coverage is below ``min_coverage`` (their
        columns are NaN).
    missing_regions : list of str
        Names of regions that have no voxel on the data grid (labels absent
        from the resampled atlas) or none left inside the mask.
    kind : str
        ``"labels"``, ``"spheres"`` or ``"maps"``.
    reduction : str
        How each region's voxels became one value (``"mean"`` for spheres,
        ``"lstsq"`` for maps).
    n_voxels : numpy.ndarray, shape (K,), int
        Voxels used per region (inside the mask; for maps, the support of the
        map inside the mask).
    covered_voxels : numpy.ndarray of int or None
        Flat indices (in the grid's C order) of the voxels, among the regions'
        voxels of every operator of the pass, whose signal counts (finite, not
        constant, inside the mask): what ``coverage`` is made of. The same
        array for every result of one pass.
    """

    signals: np.ndarray
    names: list[str]
    region_ids: list
    coverage: np.ndarray
    regions_below_coverage: list[str]
    missing_regions: list[str]
    kind: str
    reduction: str
    n_voxels: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    covered_voxels: np.ndarray | None = None


def _load_mask_flat(mask, shape, affine, bold_name) -> tuple[np.ndarray | None, str | None]:
    if mask is None:
        return None, None
    if isinstance(mask, np.ndarray):
        mask_array = np.asarray(mask)
        if mask_array.shape != tuple(shape):
            raise ValueError(
                f"The mask array of shape {mask_array.shape} does not match the grid "
                f"{tuple(shape)} of {bold_name}."
            )
        inside = np.isfinite(mask_array) & (mask_array != 0) if mask_array.dtype.kind == "f" else mask_array != 0
        if not inside.any():
            raise ValueError("The mask is invalid as it is empty: it masks all data.")
        return inside, "mask array"
    mask_img = load_masker_mask(mask)
    check_strict_affine(
        mask_img.affine,
        affine,
        mask_img.shape,
        shape,
        name_a=describe_img(mask),
        name_b=bold_name,
    )
    return np.asarray(mask_img.dataobj).astype(bool), describe_img(mask)


def extract_signals(
    bold,
    operators,
    mask=None,
    chunk_volumes: int | None = None,
    min_coverage: float = 0.5,
    *,
    decompressor=None,
    max_chunk_bytes: int | None = None,
    warn_non_finite: bool = True,
):
    """Extract region signals for several operators in one pass over a BOLD series.

    Parameters
    ----------
    bold : str, os.PathLike, nibabel image, list of them, or BoldReader
        3D or 4D image(s). A ``.nii.gz`` file is decompressed once,
        sequentially (see :mod:`regionseries.core.reader`). A
        :class:`~regionseries.core.reader.BoldReader` is used as it is (its
        chunking wins over ``chunk_volumes``).
    operators : sequence or mapping of operators
        :class:`LabelsOperator`, :class:`SpheresOperator` or
        :class:`MapsOperator` instances built on the BOLD grid.
    mask : nibabel image, path, numpy.ndarray or None, default=None
        Brain mask on the BOLD grid (any non-zero value is inside). Voxels
        outside do not enter any region and count as uncovered.
    chunk_volumes : int or None, default=None
        Volumes read per chunk (None: about 4 MiB of raw data, at least one volume).
    min_coverage : float, default=0.5
        Regions whose coverage is below this fraction get NaN signals and a
        warning naming them. 0 disables the rule.
    decompressor : {"auto", "isal", "zlib", "gzip"} or callable or None
        gzip decompressor (see :func:`regionseries.core.reader.open_decompressed`).
    max_chunk_bytes : int or None
        Raw-data budget per chunk in bytes when ``chunk_volumes`` is None.
    warn_non_finite : bool, default=True
        Warn (once) when non-finite voxel values are replaced by 0.

    Returns
    -------
    list or dict of ExtractionResult
        One result per operator, in the same order (or under the same keys
        when ``operators`` is a mapping). Signals are float64, T x K.

    Raises
    ------
    ValueError
        If an operator was built for another grid, the mask is empty or on
        another grid, or the mask leaves an operator without any region.

    Notes
    -----
    Non-finite voxel values are replaced by 0 before averaging, as nilearn
    does; such voxels do not count toward coverage. Voxels whose value never
    changes over the run (e.g. zeros outside the brain) do not count toward
    coverage either, unless the series has a single volume.
    """
    if not 0.0 <= float(min_coverage) <= 1.0:
        raise ValueError(f"min_coverage must be between 0 and 1, got {min_coverage}.")
    keys = None
    if isinstance(operators, Mapping):
        keys = list(operators)
        operator_list = [operators[key] for key in keys]
    elif isinstance(operators, _Operator):
        operator_list = [operators]
    else:
        operator_list = list(operators)
    if not operator_list:
        raise ValueError("extract_signals needs at least one operator.")
    for op in operator_list:
        if not isinstance(op, _Operator):
            raise TypeError(f"Expected extraction operators, got {type(op).__name__}.")

    reader_kwargs = {"decompressor": decompressor}
    if max_chunk_bytes is not None:
        reader_kwargs["max_chunk_bytes"] = max_chunk_bytes
    if isinstance(bold, (BoldReader, CiftiSeriesReader, GiftiPairReader)):
        reader = bold
    else:
        reader = BoldReader(bold, chunk_volumes, prefetch=True, **reader_kwargs)
    for op in operator_list:
        check_strict_affine(
            op.affine,
            reader.affine,
            op.shape,
            reader.spatial_shape,
            name_a=op.source_name,
            name_b=reader.description,
        )
    mask_3d, mask_name = _load_mask_flat(mask, reader.spatial_shape, reader.affine, reader.description)
    # The dense linear algebra here is tiny (K x K solves per volume); a
    # multi-threaded BLAS only adds synchronisation, which costs milliseconds
    # per call on a busy machine (measured: a 400 x 40 QR 381 ms with 2
    # OpenBLAS threads vs 4.5 ms with 1 under load).
    with threadpool_limits(limits=1, user_api="blas"):
        bound = []
        for op in operator_list:
            one = op.bind(mask_3d)
            if mask_3d is not None and np.all(one.empty):
                raise ValueError(
                    f"The mask ({mask_name}) does not intersect any region of "
                    f"{op.source_name}: no {op.kind} region has a voxel inside the mask."
                )
            bound.append(one)

        if isinstance(reader, CiftiSeriesReader):  # stored grayordinate by grayordinate
            signals = _stream_voxel_blocks(reader, bound, warn_non_finite)
        else:
            signals = _stream(reader, bound, warn_non_finite)
    coverage_inputs = signals.pop("coverage")

    results = []
    for op, one, values in zip(operator_list, bound, signals["values"]):
        coverage = _coverage(one, coverage_inputs)
        values[:, one.empty] = np.nan
        below = np.flatnonzero(coverage < min_coverage)
        below_names = [op.names[k] for k in below]
        if len(below):
            values[:, below] = np.nan
            shown = ", ".join(f"{op.names[k]!r} ({coverage[k]:.2f})" for k in below[:20])
            if len(below) > 20:
                shown += f", ... ({len(below)} regions)"
            warnings.warn(
                f"{len(below)} region(s) of {op.source_name} have coverage below "
                f"min_coverage={min_coverage} in {reader.description} and are set to NaN: "
                f"{shown} (NaN is written n/a in TSV files).",
                UserWarning,
                stacklevel=2,
            )
        missing = [op.names[k] for k in np.flatnonzero(one.empty)]
        results.append(
            ExtractionResult(
                signals=values,
                names=list(op.names),
                region_ids=list(op.region_ids),
                coverage=coverage,
                regions_below_coverage=below_names,
                missing_regions=missing,
                kind=op.kind,
                reduction=op.reduction,
                n_voxels=one.n_voxels,
                covered_voxels=coverage_inputs,
            )
        )
    if keys is not None:
        return dict(zip(keys, results))
    return results


class _StackedLinear:
    """The linear bound operators of one source, applied as one sparse product.

    Their relocated weights are stacked into a single CSR matrix, so every
    chunk costs one pass of ``csr @ block`` whatever the number of atlases,
    and each operator then finishes (mean divisor, least-squares solve) on
    its own rows of the product.
    """

    def __init__(self, members: list[_BoundLinear]):
        self.members = members
        self.matrix = scipy.sparse.vstack([one.local for one in members], format="csr")
        bounds = np.cumsum([0] + [one.local.shape[0] for one in members])
        self.rows = list(zip(bounds[:-1], bounds[1:]))

    def compute(self, block: np.ndarray) -> list[np.ndarray]:
        projected = self.matrix @ block
        return [one.finish(projected[a:b]) for one, (a, b) in zip(self.members, self.rows)]


def _gather(chunk, union: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Voxels ``union`` of every volume of the chunk: a (c x n_union) array.

    For a Fortran-ordered chunk (what the file reader yields) each volume is
    contiguous, so gathering volume by volume reads memory in order; the
    dtype stays that of the data (no float64 copy of the whole chunk).
    """
    by_volume = chunk.voxels_by_volume().T  # (c, V), C-contiguous for F-ordered chunks
    if out is not None and out.dtype == by_volume.dtype:
        view = out[: chunk.n_volumes]
        # mode="clip" writes straight into ``out`` (indices are in range).
        np.take(by_volume, union, axis=1, out=view, mode="clip")
        return view
    return np.take(by_volume, union, axis=1)


def _stream(reader: BoldReader, bound: list[_Bound], warn_non_finite: bool) -> dict:
    """The single pass: read chunks, gather voxels, feed every bound operator.

    Per chunk, the voxels of the union of all supports are gathered once in
    the data's dtype, checked for non-finite values and constancy, and cast
    to one float64 (n_union x c) block (sums are accumulated in float64, as
    ``scipy.ndimage.mean`` does). All linear operators read the block
    through one stacked sparse matrix; non-linear summaries (median, ...)
    read it directly.
    """
    n_voxels = reader.n_voxels
    coverage_voxels = _sorted_union([one.coverage_weights.indices for one in bound], n_voxels)
    sources: dict = {}
    for one in bound:
        sources.setdefault(_source_key(one.source), []).append(one)
    unions = {}
    for key, members in sources.items():
        parts = [one.support for one in members]
        if key is None:
            parts.append(coverage_voxels)
        unions[key] = _sorted_union(parts, n_voxels)
        for one in members:
            one.relocate(unions[key])
    if None not in unions:
        unions[None] = coverage_voxels
    raw_union = unions[None]
    coverage_positions = _positions_in(raw_union, coverage_voxels, n_voxels)
    plans = {}
    for key, members in sources.items():
        linear = [one for one in members if isinstance(one, _BoundLinear)]
        others = [one for one in members if not isinstance(one, _BoundLinear)]
        plans[key] = (_StackedLinear(linear) if linear else None, linear, others)

    n_volumes = reader.n_volumes
    values = {id(one): np.empty((n_volumes, one.n_regions)) for one in bound}
    non_finite_any = np.zeros(len(raw_union), dtype=bool)
    varies = np.zeros(len(raw_union), dtype=bool)
    first_values = None
    warned = False
    gathered = None  # reused (c x n_union) buffer in the data's dtype
    block = None  # reused (n_union x c) float64 buffer
    for chunk in reader:
        if gathered is None or gathered.shape[0] < chunk.n_volumes or gathered.dtype != chunk.data.dtype:
            gathered = np.empty((chunk.n_volumes, len(raw_union)), dtype=chunk.data.dtype)
        raw = _gather(chunk, raw_union, gathered)
        raw, bad_voxels = _zero_non_finite(raw, axis=0)
        if bad_voxels is not None:
            non_finite_any |= bad_voxels
            if warn_non_finite and not warned:
                _warn_non_finite(reader.description)
                warned = True
        if first_values is None:
            first_values = raw[0].copy()
        varies |= np.any(raw != first_values, axis=0)
        c = chunk.n_volumes
        if block is None or block.shape[1] != c:
            block = np.empty((len(raw_union), c))
        block[...] = raw.T  # one transposing cast to float64
        blocks = {None: block}
        for key in sources:
            if key is None:
                continue
            fwhm = sources[key][0].source
            smoothed = smooth_array(chunk.data, reader.affine, fwhm, ensure_finite=True)
            smoothed_flat = smoothed.reshape((-1, chunk.n_volumes), order="F")
            blocks[key] = np.take(smoothed_flat, unions[key], axis=0).astype(np.float64, order="C")
        for key, (stacked, linear, others) in plans.items():
            if stacked is not None:
                for one, result in zip(linear, stacked.compute(blocks[key])):
                    values[id(one)][chunk.start : chunk.stop] = result
            for one in others:
                values[id(one)][chunk.start : chunk.stop] = one.compute(blocks[key])
    valid = ~non_finite_any
    if n_volumes > 1:
        valid &= varies
    valid_voxels = coverage_voxels[valid[coverage_positions]]
    return {"values": [values[id(one)] for one in bound], "coverage": valid_voxels}


def _zero_non_finite(raw: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray | None]:
    """``raw`` with its non-finite values replaced by 0 (a float64 copy if there are any), and
    which voxels had one (reduced over ``axis``, the volumes); None when all are finite."""
    if raw.dtype.kind != "f" or np.isfinite(raw).all():
        return raw, None
    raw = raw.astype(np.float64)
    bad = ~np.isfinite(raw)
    raw[bad] = 0.0
    return raw, bad.any(axis=axis)


def _warn_non_finite(description: str) -> None:
    warnings.warn(
        f"Non-finite values detected. These values will be replaced with zeros. ({description})",
        UserWarning,
        stacklevel=4,  # the caller of extract_signals
    )


def _stream_voxel_blocks(reader: CiftiSeriesReader, bound: list[_Bound], warn_non_finite: bool) -> dict:
    """The single pass over a series stored voxel by voxel, each voxel's whole series contiguous
    (a CIFTI ``dtseries``): read in blocks of voxels, each adding its share to the projections.

    The linear operators' stacked weights are split by columns (CSC), and each
    block of voxels x volumes (float64) adds ``W[:, block] @ block`` to the
    (rows x T) projections, which the operators finish once at the end. Validity
    (finite, non-constant) is judged per voxel on its whole series, as
    :func:`_stream` does per chunk. Sums are the same as :func:`_stream`'s up to
    the order of the additions (float64 rounding). Non-linear summaries
    (median, ...) need whole volumes and are refused.
    """
    if any(not isinstance(one, _BoundLinear) or one.source is not None for one in bound):
        raise ValueError(f"{reader.description} is read grayordinate by grayordinate: only means, sums and "
                         "least-squares fits (no median, minimum, maximum, variance, or smoothing) apply to it")
    n_voxels, n_volumes = reader.n_voxels, reader.n_volumes
    coverage_voxels = _sorted_union([one.coverage_weights.indices for one in bound], n_voxels)
    union = _sorted_union([one.support for one in bound] + [coverage_voxels], n_voxels)
    for one in bound:
        one.relocate(union)
    stacked = _StackedLinear(bound)
    by_column = stacked.matrix.tocsc()
    projected = np.zeros((by_column.shape[0], n_volumes))
    valid = np.zeros(len(union), dtype=bool)
    warned = False
    for start, block in reader.vertex_blocks():
        first, last = np.searchsorted(union, [start, start + len(block)])
        if first == last:
            continue
        raw, bad_voxels = _zero_non_finite(block[union[first:last] - start], axis=1)
        if bad_voxels is not None and warn_non_finite and not warned:
            _warn_non_finite(reader.description)
            warned = True
        valid[first:last] = True if bad_voxels is None else ~bad_voxels
        if n_volumes > 1:
            valid[first:last] &= np.any(raw != raw[:, :1], axis=1)
        projected += by_column[:, first:last] @ raw.astype(np.float64, copy=False)
    values = [np.ascontiguousarray(one.finish(projected[a:b])) for one, (a, b) in zip(bound, stacked.rows)]
    valid_voxels = coverage_voxels[valid[_positions_in(union, coverage_voxels, n_voxels)]]
    return {"values": values, "coverage": valid_voxels}


def _source_key(source):
    if source is None:
        return None
    if isinstance(source, str):
        return source
    return tuple(np.atleast_1d(np.asarray(source, dtype=float)).tolist())


def _coverage(one: _Bound, valid_voxels: np.ndarray) -> np.ndarray:
    """Per-region fraction of atlas voxels (or weight) that is valid and in the mask."""
    weights = one.coverage_weights
    valid = np.zeros(weights.shape[1], dtype=bool)
    valid[valid_voxels] = True
    covered = np.asarray(weights @ valid.astype(float)).ravel()
    totals = one.coverage_totals
    return np.divide(covered, totals, out=np.zeros(len(totals)), where=totals > 0)
