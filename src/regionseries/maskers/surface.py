"""``SurfaceLabelsMasker`` and ``SurfaceMapsMasker``: region signals of surface images.

nilearn 0.14.1's surface maskers over anything shaped like its
``SurfaceImage`` (``img.mesh.parts`` and ``img.data.parts``, one array per
hemisphere; :mod:`regionseries.core.image.surface`): the parts are stacked
side by side (one row per sample), the regions extracted by the command
line's own path for surface runs
(:func:`regionseries.core.extract.vertices.extract_vertex_signals`: the
one-pass engine with a labels or maps operator on the vertices, so reductions,
least squares and coverage cannot differ between the two) and cleaned by
:class:`.base.BaseMasker`'s ``transform`` (:func:`regionseries.signal.clean`,
nilearn's output dtype). Where a vertex holds NaN or an infinity, the values
are nilearn's (see :func:`_labels_with_non_finite`; maps: NaN for the sample).
``transform`` accepts one image (1D parts: one sample; 2D: vertices x
samples) or a list of them (concatenated along the samples in float32, as
nilearn's ``concat_imgs``).
"""

from __future__ import annotations

import copy
import warnings

import numpy as np

from ..core.extract import REDUCTIONS
from ..core.extract.surface import smooth_vertex_data
from ..core.extract.vertices import (
    extract_vertex_signals,
    vertex_labels_operator,
    vertex_maps_operator,
)
from ..core.image.masks import _finite_copy_with_warning
from ..core.image.surface import (
    check_compatible_meshes,
    concatenate_parts,
    data_parts,
    is_surface_image,
    mesh_parts,
    surface_image_like,
    surface_mask_parts,
)
from ..signal import high_variance_confounds
from .base import (
    BaseMasker,
    Extraction,
    NoAtlasError,
    check_inverse_input,
    output_dtype,
)
from .docs import fill_doc
from .lut import (
    LabelAttributesMixin,
    build_lut,
    check_labels_argument,
    plain_number,
    values_present,
)
from .report import ReportMixin
from .verbose import log_step

__all__ = ["SurfaceLabelsMasker", "SurfaceMapsMasker"]


class _SurfaceData:
    """The samples of a surface input: parts side by side, (n_samples, n_vertices), C-ordered.

    One row per sample, as :func:`~regionseries.core.extract.vertices.extract_vertex_signals`
    reads data fastest (the transposition is part of the one copy that stacks the parts).
    With ``smoothing_fwhm``, each part is smoothed on the image's mesh first
    (nilearn's ``smooth_img``: float64 once smoothed).
    """

    def __init__(self, imgs, part_names, smoothing_fwhm=None):
        images = imgs if isinstance(imgs, (list, tuple)) else [imgs]
        self.reference = images[0]
        self.one_sample = not isinstance(imgs, (list, tuple)) and all(
            np.ndim(values) == 1 for values in imgs.data.parts.values()
        )
        stacked = []
        for img in images:
            parts = data_parts(img)
            missing = set(part_names).symmetric_difference(parts)
            if missing:
                raise ValueError(f"PolyMeshes do not have the same keys. Offending keys: {missing}")
            columns = {name: values[:, np.newaxis] if values.ndim == 1 else values for name, values in parts.items()}
            if any(values.ndim != 2 for values in columns.values()):
                raise ValueError("SurfaceImage should only be 1D or 2D.")
            stacked.append(np.concatenate([columns[name].T for name in part_names], axis=1))
        # several images are concatenated as nilearn's concat_imgs does: in float32
        samples = np.concatenate(stacked, axis=0).astype(np.float32) if len(stacked) > 1 else stacked[0]
        if samples.shape[0] == 0:
            raise ValueError("The image is empty: it has no sample.")
        if smoothing_fwhm is not None:
            samples = self._smoothed(samples, mesh_parts(self.reference), part_names, smoothing_fwhm)
        self.samples = samples
        self.dtype = samples.dtype

    @staticmethod
    def _smoothed(samples, meshes, part_names, smoothing_fwhm) -> np.ndarray:
        smoothed, start = [], 0
        for name in part_names:
            mesh = meshes[name]
            stop = start + mesh.n_vertices
            part = smooth_vertex_data(samples[:, start:stop].T, mesh.coordinates, mesh.faces, smoothing_fwhm)
            smoothed.append(part.T)
            start = stop
        return np.concatenate(smoothed, axis=1)


def _check_surface_imgs(imgs) -> None:
    """nilearn's ``_check_imgs`` of the surface maskers: a surface image or an iterable of them."""
    if is_surface_image(imgs):
        return
    if isinstance(imgs, (list, tuple)) and imgs and all(is_surface_image(one) for one in imgs):
        return
    raise TypeError(
        f"'imgs' should be a SurfaceImage or an iterable of SurfaceImage.Got: {type(imgs).__name__}"
    )


def _load_surface_mask(mask_img) -> tuple[object, dict[str, np.ndarray]]:
    """``mask_img_`` (boolean 1D parts on the mask's mesh) and its parts, nilearn's ``_load_mask``.

    A 2D mask keeps the vertices that are non-zero in every column; NaN/inf
    count as 0 with a warning; the values must be binary (one non-zero value,
    or 0 and one other) and some vertex must be inside.
    """
    parts = data_parts(mask_img)
    if any(values.ndim == 2 for values in parts.values()):
        finite = _finite_copy_with_warning(concatenate_parts(parts))
        reduced, start = {}, 0
        for name, values in parts.items():
            stop = start + values.shape[0]
            reduced[name] = finite[start:stop].astype(bool)
            reduced[name] = reduced[name].all(axis=1) if reduced[name].ndim == 2 else reduced[name]
            start = stop
        parts = reduced
    inside = surface_mask_parts(parts)
    return surface_image_like(mask_img, inside), inside


def _labels_with_non_finite(signals, samples, vertex_labels, label_values, counts, strategy) -> np.ndarray:
    """The parcels' values where a vertex is NaN or infinite, as nilearn's ``scipy.ndimage`` reductions.

    The engine counts such a vertex as 0 (and not covered); nilearn's surface
    masker reduces the raw values: a mean or sum with NaN is NaN, with an
    infinity infinite. The other reductions give NaN there (``ndimage``'s
    median and minimum are inconsistent with NaN).

    Parameters
    ----------
    signals : numpy.ndarray, shape (T, K)
        The engine's signals (changed in place and returned).
    samples : numpy.ndarray, shape (T, N)
    vertex_labels : numpy.ndarray, shape (N,)
        Labels after the mask (vertices outside it are background).
    label_values : sequence
        The parcels in column order.
    counts : numpy.ndarray, shape (K,)
        Vertices per parcel inside the mask.
    strategy : str
    """
    bad_samples, bad_vertices = np.nonzero(~np.isfinite(samples))
    if len(bad_samples) == 0:
        return signals
    values = np.asarray(list(label_values))
    order = np.argsort(values, kind="stable")
    labels = vertex_labels[bad_vertices]
    position = np.clip(np.searchsorted(values[order], labels), 0, len(values) - 1)
    hit = values[order][position] == labels
    rows, columns = bad_samples[hit], order[position[hit]]
    raw = samples[rows, bad_vertices[hit]].astype(np.float64)
    if strategy in ("mean", "sum"):
        np.add.at(signals, (rows, columns), raw / counts[columns] if strategy == "mean" else raw)
    else:
        signals[rows, columns] = np.nan
    return signals


class _SurfaceMaskerMixin:
    """What both surface maskers change in :class:`.base.BaseMasker`: inputs, tags, mask, confounds."""

    def __sklearn_tags__(self):
        """nilearn's tags of a surface masker: ``surf_img=True``, ``niimg_like=False``."""
        tags = super().__sklearn_tags__()
        tags.input_tags.surf_img = True
        tags.input_tags.niimg_like = False
        return tags

    def _check_imgs(self, imgs) -> None:
        _check_surface_imgs(imgs)

    def _image_high_variance_confounds(self, imgs) -> np.ndarray:
        # nilearn's image-level function on the (unsmoothed) SurfaceImage: all vertices, samples as rows
        return high_variance_confounds(self._surface_data(imgs, smooth=False).samples)

    def fit(self, imgs=None, y=None):
        """Check the atlas (``labels_img`` or ``maps_img``) and load the mask.

        Parameters
        ----------
        imgs : surface image, list of them or None
            Checked against the atlas' mesh when given.
        y : None
            Ignored (scikit-learn compatibility).

        Returns
        -------
        self
        """
        del y
        self._fit_atlas(self._surface_fit_start(imgs, self._atlas_name))
        self._reports_at_fit_time = bool(self.reports)
        log_step(self, "Finished fit")
        return self

    def _surface_fit_start(self, imgs, atlas_name: str):
        """Checks common to both ``fit``: dtype, data, atlas present; load the mask. Returns the atlas."""
        self._check_dtype_parameter()
        for attribute in ("coverage_", "_lut_"):
            self.__dict__.pop(attribute, None)
        if imgs is not None:
            log_step(self, "Loading data from", about=imgs)
            _check_surface_imgs(imgs)
            for index, img in enumerate(imgs if isinstance(imgs, (list, tuple)) else [imgs]):
                n_samples = [1 if np.ndim(values) == 1 else np.shape(values)[1] for values in img.data.parts.values()]
                if 0 in n_samples:
                    raise ValueError("The image is empty: it has no sample.")
                if isinstance(imgs, (list, tuple)) and any(n != 1 for n in n_samples):
                    # nilearn fits on a list of single samples only
                    raise ValueError(f"Data for each part of imgs[{index}] should be 1D. Found: {max(n_samples)}.")
        atlas = getattr(self, atlas_name)
        if atlas is None:
            where = "to the masker" if atlas_name == "labels_img" else "during initialization"
            example = f"masker = {type(self).__name__}({atlas_name}={atlas_name})"
            raise NoAtlasError(f"Please provide a {atlas_name} {where}. For example, {example}")
        if not is_surface_image(atlas):
            raise TypeError(f"'{atlas_name}' should be a SurfaceImage. Got: {type(atlas).__name__}")
        self.clean_args_ = dict(self.clean_args or {})
        self.mask_img_ = None
        self._mask_parts = None
        if self.mask_img is not None:
            log_step(self, "Loading mask from", about=self.mask_img)
            self.mask_img_, self._mask_parts = _load_surface_mask(self.mask_img)
            check_compatible_meshes(mesh_parts(self.mask_img_), mesh_parts(atlas), stacklevel=4)
        if imgs is not None:
            for img in imgs if isinstance(imgs, (list, tuple)) else [imgs]:
                check_compatible_meshes(mesh_parts(img), mesh_parts(atlas), stacklevel=4)
        return atlas

    def _surface_data(self, imgs, smooth: bool = True) -> _SurfaceData:
        atlas = self.labels_img_ if hasattr(self, "labels_img_") else self.maps_img_
        for img in imgs if isinstance(imgs, (list, tuple)) else [imgs]:
            if img.mesh is not atlas.mesh:
                check_compatible_meshes(mesh_parts(img), mesh_parts(atlas), stacklevel=6)
        return _SurfaceData(imgs, list(atlas.data.parts), self.smoothing_fwhm if smooth else None)

    def _stacked_mask(self, part_names) -> np.ndarray | None:
        if self._mask_parts is None:
            return None
        return np.concatenate([self._mask_parts[name] for name in part_names])

    def _inverse_image(self, atlas, vertex_signals, signals, one_sample):
        """The surface image of ``inverse_transform``: (n_vertices, T) split back into the atlas' parts."""
        target = output_dtype(signals.dtype, self.dtype)
        parts, start = {}, 0
        for name, values in atlas.data.parts.items():
            stop = start + np.shape(values)[0]
            part = vertex_signals[start:stop].astype(target)
            parts[name] = part[:, 0] if one_sample else part
            start = stop
        return surface_image_like(atlas, parts)

    def _surface_extraction(self, surface: _SurfaceData, signals, coverage) -> Extraction:
        # a 1D image is one sample, squeezed by transform as a single 3D volume
        return Extraction(signals, 3 if surface.one_sample else 4, coverage, output_dtype(surface.dtype, self.dtype))

    def _inverse_input(self, signals) -> tuple[np.ndarray, bool]:
        """``inverse_transform``'s signals checked, as (T, n_regions), and whether they were 1-D."""
        self._check_fitted()
        log_step(self, "Computing image from signals")
        if hasattr(signals, "to_numpy"):
            signals = signals.to_numpy()  # a data frame: 2D, whatever its number of rows (nilearn)
        signals = check_inverse_input(signals, self.n_elements_, self.dtype)
        return np.atleast_2d(signals), signals.ndim == 1


@fill_doc
class SurfaceLabelsMasker(LabelAttributesMixin, ReportMixin, _SurfaceMaskerMixin, BaseMasker):
    """Region signals of surface images from a parcellation (nilearn's ``SurfaceLabelsMasker``).

    Each parcel's value is the ``strategy`` (mean by default) of its
    vertices, sample by sample. After ``fit``, ``n_elements_``,
    ``region_ids_``, ``region_names_`` and ``labels_`` describe the output
    columns (the labels left after the mask). ``fit_transform`` also sets
    ``coverage_`` (per parcel, the fraction of its vertices inside the mask
    with finite, non-constant signal; beyond nilearn).

    Parameters
    ----------
    labels_img : surface image or None, default=None
        Parcellation: one label per vertex, parts (hemispheres) of shape
        (n_vertices,). Required at ``fit``.
    labels : list of str or None, default=None
        Region names in the order of the sorted label values (background
        included if present). Exclusive with ``lut``.
    lut : pandas.DataFrame, str, pathlib.Path or None, default=None
        Look-up table (BIDS ``dseg.tsv`` layout) with at least the columns
        ``index`` and ``name``. Exclusive with ``labels``.
    background_label : int or float, default=0
        Label value of the background (not a region).
    mask_img : surface image or None, default=None
        Vertices outside the mask count as background. A 2D mask keeps the
        vertices non-zero in every column.
    %(surface_smoothing_cleaning)s
    %(memory_verbose_level1)s
    strategy : str, default="mean"
        How a parcel's vertices become one value: one of mean, median, sum,
        minimum, maximum, standard_deviation, variance.
    %(surface_reports_cmap_clean_args)s

    Attributes
    ----------
    %(clean_args_)s
    labels_img_ : surface image
        The labels, with the vertices outside the mask set to the background.
    lut_ : pandas.DataFrame
        Look-up table of the masked labels (``index``, ``name``, ...).
    mask_img_ : surface image or None
        The mask as boolean 1D parts, or None without ``mask_img``.
    """

    def __init__(
        self, labels_img=None, labels=None, lut=None, background_label=0, mask_img=None, smoothing_fwhm=None,
        standardize=False, standardize_confounds=True, detrend=False, high_variance_confounds=False,
        low_pass=None, high_pass=None, t_r=None, dtype=None, memory=None, memory_level=1, verbose=0,
        strategy="mean", reports=True, cmap="inferno", clean_args=None,
    ):  # one line per parameter would repeat the other maskers' signatures line for line
        self._store_parameters(locals())

    _atlas_name = "labels_img"

    def _fit_atlas(self, labels_img) -> None:
        """Apply the mask to the labels and build the look-up table."""
        if self.strategy not in REDUCTIONS:
            raise ValueError(
                f"Invalid strategy '{self.strategy}': 'strategy' must be one of {list(REDUCTIONS)}."
            )
        check_labels_argument(self.labels, self.lut)
        log_step(self, "Loading regions from", about=labels_img)
        part_names = list(labels_img.data.parts)
        labels_data = concatenate_parts(data_parts(labels_img))
        if np.all(labels_data == self.background_label):
            raise ValueError("Image has no label.")
        mask = self._stacked_mask(part_names)
        self._fitted_labels = np.where(mask, labels_data, self.background_label) if mask is not None else labels_data
        # the labels of every vertex, before the mask: the denominators of coverage_
        self._unmasked_labels = labels_data
        masked_parts, start = {}, 0
        for name in part_names:
            stop = start + np.shape(labels_img.data.parts[name])[0]
            masked_parts[name] = self._fitted_labels[start:stop].copy()
            start = stop
        self.labels_img_ = surface_image_like(labels_img, masked_parts)
        if mask is not None:
            after = {plain_number(value) for value in values_present(self._fitted_labels)}
            if after == {self.background_label}:
                raise ValueError("Image has no label left after masking.")
            before = {plain_number(value) for value in values_present(labels_data)}
            removed = before - after
            if removed:
                warnings.warn(
                    "After applying mask to the labels image, the following labels were "
                    f"removed: {removed}. Out of {len(before)} labels, the masked labels image only "
                    f"contains {len(after)} labels (including background).",
                    UserWarning,
                    stacklevel=2,
                )
        self.lut_ = build_lut(
            self._fitted_labels, self.background_label, copy.copy(self.labels), self.lut, rename_background=False
        )

    def _region_values(self) -> list:
        return [value for value in self.labels_ if value != self.background_label]

    def _extract(self, imgs):
        surface = self._surface_data(imgs)
        log_step(self, "Extracting region signals")
        values = self._region_values()
        # the labels of every vertex and the mask: the engine's coverage counts the vertices outside it
        operator = vertex_labels_operator(self._unmasked_labels, values, reduction=self.strategy,
                                          source_name="labels_img")
        mask = self._stacked_mask(list(self.labels_img_.data.parts))
        result = extract_vertex_signals(surface.samples, [operator], mask=mask, min_coverage=0.0,
                                        description="the surface image", warn_non_finite=False)[0]
        signals = _labels_with_non_finite(result.signals, surface.samples, self._fitted_labels, values,
                                          result.n_voxels, self.strategy)
        # nilearn reduces float32 data into a float32 array, anything else into float64
        extraction_dtype = np.float32 if surface.dtype == np.float32 else np.float64
        return self._surface_extraction(surface, signals.astype(extraction_dtype), result.coverage)

    def inverse_transform(self, signals):
        """Surface image whose vertices hold the signal of their parcel.

        Parameters
        ----------
        signals : numpy.ndarray or data frame, shape (n_regions,) or (T, n_regions)

        Returns
        -------
        surface image
            On the labels' mesh; parts of shape (n_vertices,) for 1-D input,
            else (n_vertices, T); vertices outside the parcels or the mask
            are 0.
        """
        signals, one_sample = self._inverse_input(signals)
        vertex_signals = np.zeros((self._fitted_labels.shape[0], signals.shape[0]), dtype=signals.dtype)
        for column, value in enumerate(self._region_values()):
            vertex_signals[self._fitted_labels == value] = signals[:, column]
        return self._inverse_image(self.labels_img_, vertex_signals, signals, one_sample)

    def _fitted_report(self, draw, **kwargs):
        """The region table: label value, name, vertices per part; no figure yet."""
        del draw, kwargs
        part_names = list(self.labels_img_.data.parts)
        lut = self._current_lut()
        rows = []
        for value, name in zip(lut["index"], lut["name"]):
            if value == self.background_label:
                continue
            counts = [int(np.sum(np.asarray(self.labels_img_.data.parts[part]) == value)) for part in part_names]
            rows.append([value, name, *counts])
        description = f"Signals of {len(rows)} parcels (strategy '{self.strategy}'); surface figures are not drawn yet."
        columns = ["label value", "region name", *[f"vertices ({part})" for part in part_names]]
        return description, columns, rows, None, []


@fill_doc
class SurfaceMapsMasker(ReportMixin, _SurfaceMaskerMixin, BaseMasker):
    """Region signals of surface images from (overlapping) maps (nilearn's ``SurfaceMapsMasker``).

    The signals of each sample are the least-squares fit of the maps to it,
    restricted to the mask. ``fit_transform`` also sets ``coverage_`` (per
    map, the fraction of its absolute weight on vertices inside the mask
    with finite, non-constant signal; beyond nilearn).

    Parameters
    ----------
    maps_img : surface image or None, default=None
        Maps: parts of shape (n_vertices, n_maps). Required at ``fit``.
    mask_img : surface image or None, default=None
        Vertices outside the mask are left out of the fit.
    allow_overlap : bool, default=True
        If False, ``transform`` raises when two maps are non-zero on the
        same vertex.
    %(surface_smoothing_cleaning)s
    %(memory_verbose_level1)s
    %(surface_reports_cmap_clean_args)s

    Attributes
    ----------
    %(clean_args_)s
    maps_img_ : surface image
        The maps (``maps_img`` itself).
    mask_img_ : surface image or None
        The mask as boolean 1D parts, or None without ``mask_img``.
    n_elements_ : int
        Number of maps.
    """

    def __init__(
        self, maps_img=None, mask_img=None, allow_overlap=True, smoothing_fwhm=None, standardize=False,
        standardize_confounds=True, detrend=False, high_variance_confounds=False, low_pass=None,
        high_pass=None, t_r=None, dtype=None, memory=None, memory_level=1, verbose=0, reports=True,
        cmap="inferno", clean_args=None,
    ):
        self._store_parameters(locals())

    _atlas_name = "maps_img"

    def _fit_atlas(self, maps_img) -> None:
        """Check that the maps are 2D and that some map is left inside the mask."""
        log_step(self, "Loading regions from", about=maps_img)
        parts = data_parts(maps_img)
        wrong = {name: values.ndim for name, values in parts.items() if values.ndim != 2}
        if wrong:
            found = ", ".join(f"{ndim}D for {name}" for name, ndim in wrong.items())
            raise ValueError(f"Data for each part of maps_img should be 2D. Found: {found}.")
        maps_data = concatenate_parts(parts)
        if np.all(maps_data == 0):
            raise ValueError("maps_img contains no map.")
        mask = self._stacked_mask(list(parts))
        if mask is not None and np.all(maps_data[mask] == 0):
            raise ValueError("No map left after applying mask to the maps image.")
        self.maps_img_ = maps_img
        self._maps_data = maps_data
        self.n_elements_ = int(maps_data.shape[1])

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "n_elements_")

    def _extract(self, imgs):
        surface = self._surface_data(imgs)
        maps_data = self._maps_data
        if not self.allow_overlap:
            support = (np.abs(maps_data) > np.finfo(float).eps).sum(axis=1) if maps_data.dtype.kind == "f" else (
                maps_data != 0
            ).sum(axis=1)
            if np.any(support > 1):
                raise ValueError("Overlap detected in the maps.")
        mask = self._stacked_mask(list(self.maps_img_.data.parts))
        log_step(self, "Extracting region signals")
        operator = vertex_maps_operator(maps_data, source_name="maps_img")
        result = extract_vertex_signals(surface.samples, [operator], mask=mask, min_coverage=0.0,
                                        description="the surface image", warn_non_finite=False)[0]
        # a map without weight inside the mask gets 0, lstsq's minimum-norm solution
        signals = np.where(np.isnan(result.signals), 0.0, result.signals)
        support = np.any(np.isfinite(maps_data) & (maps_data != 0), axis=1)
        if mask is not None:
            support &= mask
        # a sample with a non-finite value on the maps has no least-squares fit (nilearn's lstsq raises)
        signals[~np.isfinite(surface.samples[:, support]).all(axis=1)] = np.nan
        # nilearn's lstsq works in the common type of the maps and float32 data
        extraction_dtype = np.result_type(maps_data.dtype, np.float32)
        return self._surface_extraction(surface, signals.astype(extraction_dtype), result.coverage)

    def inverse_transform(self, region_signals):
        """Project region signals back on the vertices: ``maps @ signals``, 0 outside the mask.

        ``region_signals`` (numpy array or data frame) has shape (n_maps,) or
        (T, n_maps); the surface image returned is on the maps' mesh, with
        parts of shape (n_vertices,) for 1-D signals, else (n_vertices, T).
        """
        region_signals, one_sample = self._inverse_input(region_signals)
        maps_data = self._maps_data
        mask = self._stacked_mask(list(self.maps_img_.data.parts))
        if mask is not None:
            maps_data = np.where(mask[:, np.newaxis], maps_data, 0)
        vertex_signals = maps_data @ region_signals.T
        return self._inverse_image(self.maps_img_, vertex_signals, region_signals, one_sample)

    def _fitted_report(self, draw, **kwargs):
        """The map table: index and vertices with a non-zero weight per part; no figure yet."""
        del draw, kwargs
        part_names = list(self.maps_img_.data.parts)
        rows = []
        for index in range(self.n_elements_):
            counts = [int(np.count_nonzero(np.asarray(self.maps_img_.data.parts[part])[:, index])) for part in part_names]
            rows.append([index, *counts])
        description = f"Signals of {self.n_elements_} maps (least squares); surface figures are not drawn yet."
        columns = ["map", *[f"non-zero vertices ({part})" for part in part_names]]
        return description, columns, rows, None, []
