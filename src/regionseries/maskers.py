"""nilearn-compatible maskers: ``NiftiLabelsMasker``, ``NiftiSpheresMasker``, ``NiftiMapsMasker``.

Scripts written for nilearn 0.14.1 port by changing the import::

    from regionseries.maskers import NiftiLabelsMasker

The parameters, methods (``fit``, ``transform``, ``fit_transform``,
``inverse_transform``, ``get_params``, ``set_params``, ``generate_report``)
and fitted attributes (``labels_img_``, ``mask_img_``, ``lut_``,
``n_elements_``, ``region_ids_``, ``seeds_``, ``maps_img_`` ...) are
nilearn's. Underneath, each transform reads the image **once**, in chunks of
volumes (:func:`regionseries.core.extract.extract_signals`), extracts the
region signals with a sparse operator and cleans them at the region level
with :func:`regionseries.signal.clean`. No scikit-learn is needed.

Numerical differences from nilearn (all documented in
``docs/differences-from-nilearn.md``, section "maskers and extraction"):
maps are fitted in float64 (nilearn: float32 LAPACK for float32 inputs),
sphere means of integer data are not truncated, the sphere "truncation"
voxel is not added, negative map weights are not zeroed when
``allow_overlap=False``, and ``dtype="auto"`` works on scaled files.

Beyond nilearn, every transform sets ``coverage_``: per region, the fraction
of its voxels (or map weight) inside the mask with finite, non-constant
signal.
"""

from __future__ import annotations

import inspect
import os
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from .core.extract import (
    STRATEGIES,
    LabelsOperator,
    MapsOperator,
    SpheresOperator,
    _validate_seeds,
    extract_signals,
)
from .core.atlas_images import labels_on_grid, load_labels_img, load_maps_img, maps_on_grid
from .core.image import (
    check_same_fov,
    describe_img,
    get_data,
    load_img,
    load_mask_img,
    load_masker_mask,
    new_img_like,
    resample_img,
)
from .core.reader import BoldReader
from .signal import clean, detrend as detrend_signals

__all__ = [
    "BaseMasker",
    "MaskerReport",
    "NiftiLabelsMasker",
    "NiftiMapsMasker",
    "NiftiSpheresMasker",
    "NotFittedError",
]


class NotFittedError(ValueError, AttributeError):
    """Raised when a masker is used before ``fit``."""


# ---------------------------------------------------------------------------
# Base class


class BaseMasker:
    """Parameters handling, fit/transform plumbing and cleaning shared by the maskers.

    Subclasses implement ``_fit(imgs)`` and ``_extract(imgs)``; the latter
    returns ``(signals, ndim)`` where ``signals`` is the T x K array in the
    dtype nilearn's extraction would give.
    """

    _fitted_attribute = "n_elements_"

    # -- estimator protocol -------------------------------------------------

    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [
            name
            for name, parameter in signature.parameters.items()
            if name != "self" and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
        ]

    def get_params(self, deep: bool = True) -> dict:
        """Return the constructor parameters as a dict.

        Parameters
        ----------
        deep : bool, default=True
            Accepted for scikit-learn compatibility; nested estimators are not
            used by the maskers.

        Returns
        -------
        dict
        """
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        """Set constructor parameters; return the masker.

        Raises
        ------
        ValueError
            For a name that is not a parameter of the masker.
        """
        valid = set(self._param_names())
        for name, value in params.items():
            if name not in valid:
                raise ValueError(
                    f"Invalid parameter {name!r} for estimator {type(self).__name__}. "
                    f"Valid parameters are: {sorted(valid)}."
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = {
            name: parameter.default
            for name, parameter in inspect.signature(type(self).__init__).parameters.items()
        }
        shown = []
        for name, value in self.get_params().items():
            default = defaults.get(name, inspect.Parameter.empty)
            try:
                same = value is default or (
                    not isinstance(value, (np.ndarray, pd.DataFrame)) and value == default
                )
            except Exception:  # noqa: BLE001 - comparison of arbitrary objects
                same = False
            if not same:
                shown.append(f"{name}={_short_repr(value)}")
        return f"{type(self).__name__}({', '.join(shown)})"

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "clean_args_")

    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' "
                "with appropriate arguments before using this estimator."
            )

    def fit_transform(self, imgs, y=None, confounds=None, sample_mask=None, **fit_params):
        """Fit to ``imgs``, then transform them.

        Parameters
        ----------
        imgs : 3D/4D image, path, or list of them
        y : None
            Ignored (scikit-learn compatibility).
        confounds, sample_mask :
            See ``transform``.

        Returns
        -------
        numpy.ndarray
            Region signals, (T, n_regions); (n_regions,) for a 3D image.
        """
        del y
        return self.fit(imgs, **fit_params).transform(
            imgs, confounds=confounds, sample_mask=sample_mask
        )

    # -- common fit ------------------------------------------------------------

    def _common_fit(self, imgs) -> None:
        if self.dtype is bool or (isinstance(self.dtype, np.dtype) and self.dtype == bool):
            raise TypeError("dtype=bool is not a valid output dtype for a masker.")
        if imgs is not None:
            _check_imgs_argument(imgs)
        self.clean_args_ = dict(self.clean_args or {})
        self.mask_img_ = None if self.mask_img is None else load_masker_mask(self.mask_img)

    # -- common transform ----------------------------------------------------------

    def transform(self, imgs, confounds=None, sample_mask=None):
        """Extract and clean region signals.

        Parameters
        ----------
        imgs : 3D/4D image, path, or list of them
            The data. A 3D image gives a 1-D result (0-d for one region).
        confounds : array, DataFrame, path, list of them, or None
            Confounds regressed out of the region signals (see
            :func:`regionseries.signal.clean`).
        sample_mask : array of int or bool, or None
            Volumes to keep (scrubbing).

        Returns
        -------
        numpy.ndarray
            (T, n_regions), or (n_regions,) for a 3D image.
        """
        self._check_fitted()
        _check_imgs_argument(imgs)
        all_confounds = confounds
        if self.high_variance_confounds:
            hv_confounds = high_variance_confounds_streaming(imgs)
            all_confounds = [hv_confounds]
            if confounds is not None:
                if isinstance(confounds, list):
                    all_confounds += confounds
                else:
                    all_confounds.append(confounds)
        signals, ndim = self._extract(imgs)
        signals = clean(
            signals,
            detrend=self.detrend,
            standardize=self.standardize,
            standardize_confounds=self.standardize_confounds,
            t_r=self.t_r,
            low_pass=self.low_pass,
            high_pass=self.high_pass,
            confounds=all_confounds,
            sample_mask=sample_mask,
            runs=None,
            **self.clean_args_,
        )
        if ndim == 3:
            signals = signals.squeeze()
        return self._cast_output(signals)

    def _inputs_text(self) -> str:
        """The atlas and mask the masker was given, named for error messages."""
        atlas_name = "labels_img" if hasattr(self, "labels_img") else "maps_img"
        parts = [f"{atlas_name}: {_describe_input(getattr(self, atlas_name, None))}"]
        if self.mask_img is not None:
            parts.append(f"mask_img: {_describe_input(self.mask_img)}")
        return "; ".join(parts)

    def _cast_output(self, signals):
        if self.dtype is None:
            return signals
        if isinstance(self.dtype, str) and self.dtype == "auto":
            return signals.astype(self._auto_dtype_)
        return signals.astype(self.dtype)

    def _data_dtype(self, reader: BoldReader) -> np.dtype:
        """dtype of the data as the extraction sees them (after ``dtype``)."""
        source = np.dtype(reader.dtype)
        if self.dtype is None:
            self._auto_dtype_ = None
            return source
        if isinstance(self.dtype, str) and self.dtype == "auto":
            # int32 for (unscaled) signed integer data, else float32 (unsigned
            # data too, as nilearn). A scaled integer file is float data:
            # nilearn 0.14.1 raises AttributeError here.
            self._auto_dtype_ = np.dtype(np.int32) if source.kind == "i" else np.dtype(np.float32)
            return self._auto_dtype_
        return np.dtype(self.dtype)

    def _prepare_data(self, imgs):
        """Reader over the data; cast in memory when ``dtype`` changes it."""
        reader = BoldReader(imgs)
        data_dtype = self._data_dtype(reader)
        if data_dtype != reader.dtype:
            img = load_img(imgs, ensure_ndim=None)
            data = np.asanyarray(img.dataobj).astype(data_dtype)
            return BoldReader(nib.Nifti1Image(data, img.affine, img.header)), data_dtype, reader.ndim
        return reader, data_dtype, reader.ndim

    def _extraction_dtype(self, data_dtype, resampled=None) -> np.dtype:
        """dtype of the data when nilearn extracts: after resampling and smoothing.

        Cubic resampling of the data (``resampled``, an in-memory image)
        turns signed integers into float32; smoothing turns any integer
        data into float32 (64-bit integers into float64). The output dtype
        of each masker follows from this dtype, as in nilearn.
        """
        dtype = np.dtype(data_dtype if resampled is None else resampled.dataobj.dtype)
        if self.smoothing_fwhm is not None and dtype.kind in "iu":
            dtype = np.dtype(np.float64 if dtype.itemsize == 8 else np.float32)
        return dtype

    def _extract_with(self, source, operator, mask):
        """Run the one-pass extraction; keep coverage for the user."""
        result = extract_signals(source, [operator], mask=mask, min_coverage=0.0)[0]
        self.coverage_ = result.coverage
        return result


def _short_repr(value) -> str:
    if isinstance(value, (nib.spatialimages.SpatialImage,)):
        return f"<{type(value).__name__} {tuple(value.shape)}>"
    if isinstance(value, np.ndarray):
        return f"<array {value.shape}>"
    if isinstance(value, pd.DataFrame):
        return f"<DataFrame {value.shape}>"
    text = repr(value)
    return text if len(text) < 60 else text[:57] + "..."


def _check_imgs_argument(imgs) -> None:
    if isinstance(imgs, (str, os.PathLike, nib.spatialimages.SpatialImage)):
        return
    if isinstance(imgs, (list, tuple)) and imgs and all(
        isinstance(one, (str, os.PathLike, nib.spatialimages.SpatialImage)) for one in imgs
    ):
        return
    raise TypeError(
        "Input imgs must be a Niimg-like object (a path or a nibabel image) or a "
        f"list of them; got {type(imgs).__name__}."
    )


def _grid_of(reader: BoldReader):
    return reader.spatial_shape, reader.affine


def _same_grid(img, shape, affine) -> bool:
    return check_same_fov(img, (shape, affine))


def _describe_input(img) -> str:
    """Name a masker input (file, in-memory image or list of them) for messages."""
    if isinstance(img, (list, tuple)):
        if not img:
            return "an empty list"
        first = describe_img(img[0])
        return first if len(img) == 1 else f"{first} and {len(img) - 1} more image(s)"
    return describe_img(img)


def _fov_errors(named: dict, sources: dict | None = None) -> None:
    """Raise nilearn's 'Following field of view errors' listing the mismatches.

    ``named`` maps a role ("labels", "mask", "data") to an image or a
    ``(shape, affine)`` grid; ``sources`` maps roles to the user's inputs,
    named at the end of the message.
    """
    names = [name for name, img in named.items() if img is not None]
    errors = []
    involved = []
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            a, b = named[first], named[second]
            shape_a = tuple(a[0]) if isinstance(a, tuple) else tuple(a.shape[:3])
            shape_b = tuple(b[0]) if isinstance(b, tuple) else tuple(b.shape[:3])
            affine_a = a[1] if isinstance(a, tuple) else a.affine
            affine_b = b[1] if isinstance(b, tuple) else b.affine
            if shape_a[:3] != shape_b[:3]:
                errors.append(
                    f"{first} and {second} do not have the same shape: {shape_a[:3]} vs {shape_b[:3]}"
                )
            elif not np.allclose(affine_a, affine_b):
                errors.append(f"{first} and {second} do not have the same affine")
            else:
                continue
            involved += [name for name in (first, second) if name not in involved]
    if errors:
        described = [
            f"{name}: {_describe_input(sources[name])}"
            for name in involved
            if sources is not None and sources.get(name) is not None
        ]
        raise ValueError(
            "Following field of view errors were detected:\n- "
            + "\n- ".join(errors)
            + "\nUse resampling_target='data' (or another target) to resample."
            + (f"\nImages: {'; '.join(described)}." if described else "")
        )


def _resample_mask(mask_img, shape, affine):
    """Binary mask resampled (nearest) to a grid, validated (0.4 rule)."""
    if _same_grid(mask_img, shape, affine):
        return mask_img
    resampled = resample_img(mask_img, affine, shape, interpolation="nearest")
    return load_masker_mask(resampled)


def _mask_bool(mask_img) -> np.ndarray | None:
    if mask_img is None:
        return None
    return np.asarray(get_data(mask_img)).astype(bool)


def _voxel_volume(affine) -> float:
    return float(abs(np.linalg.det(np.asarray(affine)[:3, :3])))


# ---------------------------------------------------------------------------
# High-variance confounds (streamed: two passes, bounded memory)


def high_variance_confounds_streaming(imgs, n_confounds: int = 5, percentile: float = 2.0):
    """nilearn's image-level ``high_variance_confounds`` in two streamed passes.

    Pass 1 accumulates, per voxel, the sums needed for the mean square of the
    linearly detrended series; pass 2 gathers the series of the voxels above
    the ``100 - percentile`` percentile, which are detrended and decomposed.

    Parameters
    ----------
    imgs : 4D image, path or list
    n_confounds : int, default=5
    percentile : float, default=2.0

    Returns
    -------
    numpy.ndarray, shape (T, n_confounds)
    """
    reader = BoldReader(imgs)
    n_time = reader.n_volumes
    ramp = np.arange(n_time, dtype=float)
    ramp -= ramp.mean()
    norm = np.sqrt(np.sum(ramp**2))
    if norm > 0:
        ramp /= norm
    sums = np.zeros(reader.n_voxels)
    ramp_sums = np.zeros(reader.n_voxels)
    squares = np.zeros(reader.n_voxels)
    for chunk in reader:
        block = chunk.voxels_by_volume().astype(np.float64)
        sums += block.sum(axis=1)
        ramp_sums += block @ ramp[chunk.start : chunk.stop]
        squares += np.einsum("ij,ij->i", block, block)
    residual = squares - sums**2 / n_time - ramp_sums**2
    mean_square = np.maximum(residual, 0.0) / n_time
    threshold = np.nanpercentile(mean_square, 100.0 - percentile)
    selected = np.flatnonzero(mean_square > threshold)
    series = np.empty((n_time, len(selected)))
    for chunk in BoldReader(imgs):
        series[chunk.start : chunk.stop] = np.take(
            chunk.voxels_by_volume(), selected, axis=0
        ).T
    series = detrend_signals(series)
    eigenvalues, eigenvectors = np.linalg.eigh(series @ series.T / n_time)
    order = np.argsort(eigenvalues)[::-1]
    return eigenvectors[:, order[:n_confounds]].copy()


# ---------------------------------------------------------------------------
# Reports


class MaskerReport:
    """A self-contained HTML report (parameters and region tables).

    Attributes
    ----------
    html : str
        The whole document.
    """

    def __init__(self, html_text: str):
        self.html = html_text

    def get_standalone(self) -> str:
        """Return the HTML document."""
        return self.html

    def save_as_html(self, path) -> None:
        """Write the HTML document to ``path``."""
        Path(path).write_text(self.html, encoding="utf-8")

    def _repr_html_(self) -> str:
        return self.html

    def __str__(self) -> str:
        return self.html


def _render_report(masker, description, region_columns, region_rows, warnings_list, figure=None):
    """The masker's report, built from the participant reports' building blocks.

    ``figure`` is a matplotlib figure from :mod:`regionseries.report.figures`
    (atlas overlay or spheres); it is embedded in the page, so the document
    works on its own.
    """
    from .report.standalone import embedded_figure, standalone_report

    name = type(masker).__name__
    parameters = [(key, _short_repr(value)) for key, value in masker.get_params().items()]
    html_text = standalone_report(
        title=f"{name} report",
        description=description,
        columns=region_columns,
        rows=region_rows,
        parameters=parameters,
        warnings=warnings_list,
        figure=embedded_figure(figure, alt=f"{name} regions"),
    )
    if figure is not None:
        import matplotlib.pyplot as plt

        plt.close(figure)
    return MaskerReport(html_text)


# ---------------------------------------------------------------------------
# Labels


def _check_labels_argument(labels, lut) -> None:
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
                "All elements of 'labels' must be strings; got "
                f"{', '.join(sorted({type(b).__name__ for b in bad}))}."
            )


def _values_present(data: np.ndarray) -> np.ndarray:
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


def _build_lut(labels_data, background_label, labels, lut) -> pd.DataFrame:
    """The look-up table ``lut_`` (section 3.2 step 6 of the reference)."""
    present = _values_present(labels_data)
    indices = [_plain_number(v) for v in present]
    background_present = background_label in indices
    if lut is not None:
        if isinstance(lut, (str, os.PathLike)):
            lut = pd.read_table(lut, sep=None, engine="python")
        if not isinstance(lut, pd.DataFrame) or not {"index", "name"} <= set(lut.columns):
            raise ValueError("lut must be a DataFrame (or TSV/CSV file) with 'index' and 'name' columns.")
        table = lut.copy()
    elif labels:
        if "background" in labels:
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


def _plain_number(value):
    value = np.asarray(value).item()
    return value


class _LabelAttributesMixin:
    """nilearn's label-derived attributes, read from ``_lut_`` after a transform."""

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


class NiftiLabelsMasker(_LabelAttributesMixin, BaseMasker):
    """Region signals from a label image (nilearn's ``NiftiLabelsMasker``).

    Parameters
    ----------
    labels_img : 3D image or path
        Label (parcellation) image; a 4D image with one volume is accepted.
    labels : list of str or None
        Region names in the order of the sorted label values (background
        included if present; see nilearn's documentation).
    lut : DataFrame, path or None
        Look-up table with ``index`` and ``name`` columns (exclusive with
        ``labels``).
    background_label : int or float, default=0
    mask_img : image, path or None
        Voxels outside the mask are background.
    smoothing_fwhm : float or None
        Spatial smoothing (mm) of each volume before extraction.
    standardize, standardize_confounds, detrend, low_pass, high_pass, t_r :
        Cleaning parameters of :func:`regionseries.signal.clean` (Hz, seconds).
    high_variance_confounds : bool, default=False
        Add 5 high-variance confounds computed on the whole image.
    dtype : dtype, "auto" or None
        Output dtype.
    resampling_target : {"data", "labels", None}, default="data"
    memory, memory_level, verbose :
        Accepted for compatibility; caching is not used (extraction is one pass).
    strategy : str, default="mean"
        One of mean, median, sum, minimum, maximum, standard_deviation, variance.
    keep_masked_labels : bool, default=False
        Keep columns (of zeros) for labels removed by the mask.
    reports : bool, default=True
    cmap : str or None
        Accepted for compatibility.
    clean_args : dict or None
        Extra arguments of ``clean``.
    """

    def __init__(
        self,
        labels_img=None,
        labels=None,
        lut=None,
        background_label=0,
        mask_img=None,
        smoothing_fwhm=None,
        standardize=False,
        standardize_confounds=True,
        high_variance_confounds=False,
        detrend=False,
        low_pass=None,
        high_pass=None,
        t_r=None,
        dtype=None,
        resampling_target="data",
        memory=None,
        memory_level=1,
        verbose=0,
        strategy="mean",
        keep_masked_labels=False,
        reports=True,
        cmap=None,
        clean_args=None,
    ):
        self.labels_img = labels_img
        self.labels = labels
        self.lut = lut
        self.background_label = background_label
        self.mask_img = mask_img
        self.smoothing_fwhm = smoothing_fwhm
        self.standardize = standardize
        self.standardize_confounds = standardize_confounds
        self.detrend = detrend
        self.high_variance_confounds = high_variance_confounds
        self.low_pass = low_pass
        self.high_pass = high_pass
        self.t_r = t_r
        self.dtype = dtype
        self.resampling_target = resampling_target
        self.memory = memory
        self.memory_level = memory_level
        self.verbose = verbose
        self.strategy = strategy
        self.keep_masked_labels = keep_masked_labels
        self.reports = reports
        self.cmap = cmap
        self.clean_args = clean_args

    def fit(self, imgs=None, y=None):
        """Prepare the labels (and mask) for extraction.

        Parameters
        ----------
        imgs : image, path, list or None
            Data whose grid the labels are resampled to (target "data").
        y : None
            Ignored.

        Returns
        -------
        self
        """
        del y
        for attribute in ("_lut_", "region_atlas_", "coverage_"):
            if hasattr(self, attribute):
                delattr(self, attribute)
        self._common_fit(imgs)
        if self.strategy not in STRATEGIES:
            raise ValueError(
                f"Invalid strategy '{self.strategy}'. Valid strategies are {list(STRATEGIES)}."
            )
        if self.resampling_target not in ("data", "labels", None):
            raise ValueError(
                "invalid value for 'resampling_target' parameter: "
                f"{self.resampling_target!r}. Choose 'data', 'labels' or None."
            )
        if self.labels_img is None:
            raise ValueError(
                "Please provide labels_img to the NiftiLabelsMasker: it has no default."
            )
        self.labels_img_ = load_labels_img(self.labels_img)
        _check_labels_argument(self.labels, self.lut)
        labels_data = get_data(self.labels_img_)
        if np.all(labels_data == self.background_label):
            raise ValueError(f"Image has no label. ({describe_img(self.labels_img)})")
        self.lut_ = _build_lut(labels_data, self.background_label, self.labels, self.lut)

        data_grid = None
        if imgs is not None:
            data_grid = _grid_of(BoldReader(imgs))
        if self.resampling_target is None:
            _fov_errors(
                {"labels": self.labels_img_, "mask": self.mask_img_, "data": data_grid},
                {"labels": self.labels_img, "mask": self.mask_img, "data": imgs},
            )
        ref_grid = None
        if self.resampling_target == "data" and data_grid is not None:
            ref_grid = data_grid
            if not _same_grid(self.labels_img_, *data_grid):
                self.labels_img_ = _resample_labels(
                    self.labels_img_, data_grid, self.background_label, self.labels_img
                )
        elif self.resampling_target == "labels":
            ref_grid = (self.labels_img_.shape[:3], self.labels_img_.affine)
        if self.mask_img_ is not None and ref_grid is not None:
            self.mask_img_ = _resample_mask(self.mask_img_, *ref_grid)
            inside = get_data(self.labels_img_)[_mask_bool(self.mask_img_)]
            if np.all(inside == 0):
                raise ValueError(
                    "No label left after applying mask to the labels image. "
                    f"({self._inputs_text()})"
                )
        return self

    def _labels_for_grid(self, shape, affine, *, warn: bool):
        labels_img = self.labels_img_
        mask_img = self.mask_img_
        if not _same_grid(labels_img, shape, affine):
            if warn:
                warnings.warn(
                    "Resampling labels at transform time...\n"
                    "To avoid this warning, make sure to pass the images "
                    "you want to transform to fit() first, or directly use fit_transform().",
                    UserWarning,
                    stacklevel=4,
                )
            labels_img = _resample_labels(labels_img, (shape, affine), self.background_label, self.labels_img)
        if mask_img is not None and not _same_grid(mask_img, shape, affine):
            if warn:
                warnings.warn(
                    "Resampling mask at transform time...", UserWarning, stacklevel=4
                )
            mask_img = _resample_mask(mask_img, shape, affine)
            inside = get_data(labels_img)[_mask_bool(mask_img)]
            if np.all(inside == 0):
                raise ValueError(
                    "No label left after applying mask to the labels image. "
                    f"({self._inputs_text()})"
                )
        return labels_img, mask_img

    def _extract(self, imgs):
        reader, data_dtype, ndim = self._prepare_data(imgs)
        shape, affine = _grid_of(reader)
        source = reader
        if self.resampling_target is None:
            _fov_errors(
                {"labels": self.labels_img_, "mask": self.mask_img_, "data": (shape, affine)},
                {"labels": self.labels_img, "mask": self.mask_img, "data": imgs},
            )
        if self.resampling_target == "labels" and not _same_grid(self.labels_img_, shape, affine):
            warnings.warn(
                "Resampling images at transform time...", UserWarning, stacklevel=3
            )
            source, shape, affine = _resample_data(imgs, self.labels_img_, data_dtype)
        extraction_dtype = self._extraction_dtype(data_dtype, source if source is not reader else None)
        labels_img, mask_img = self._labels_for_grid(shape, affine, warn=self.resampling_target == "data")
        labels_data = np.asarray(get_data(labels_img))
        mask = _mask_bool(mask_img)
        present_before = [v for v in _values_present(labels_data) if v != self.background_label]
        masked = labels_data if mask is None else np.where(mask, labels_data, self.background_label)
        present_after = [v for v in _values_present(masked) if v != self.background_label]
        if mask is not None and len(present_after) < len(present_before):
            removed = sorted(set(present_before) - set(present_after))
            if not self.keep_masked_labels:
                if len(present_after) == 0:
                    raise ValueError(
                        "No label left after applying mask to the labels image. "
                        f"({self._inputs_text()})"
                    )
                warnings.warn(
                    "After applying mask to the labels image, the following labels were "
                    f"removed: {set(_plain_number(v) for v in removed)}. Out of "
                    f"{len(present_before) + 1} labels, the masked labels image only "
                    f"contains {len(present_after) + 1} labels (including background).",
                    UserWarning,
                    stacklevel=3,
                )
        if self.keep_masked_labels:
            warnings.warn(
                "Applying 'mask_img' before extracting signals will be the default "
                "behavior; 'keep_masked_labels' will be removed.",
                FutureWarning,
                stacklevel=3,
            )
            columns = present_before
        else:
            columns = present_after
        operator = LabelsOperator(
            labels_data,
            labels_img.affine,  # its own affine: the engine applies nilearn's strict check
            background_label=self.background_label,
            label_values=columns,
            strategy=self.strategy,
            smoothing_fwhm=self.smoothing_fwhm,
            source_name=describe_img(self.labels_img),
        )
        result = self._extract_with(source, operator, mask)
        signals = result.signals
        if self.keep_masked_labels:
            signals = np.where(np.isnan(signals), 0.0, signals)
        output_dtype = np.float32 if extraction_dtype == np.float32 else np.float64
        self._lut_ = self._transformed_lut(labels_data, columns)
        self.region_atlas_ = new_img_like(
            labels_img, masked.astype(np.int32), labels_img.affine
        )
        return signals.astype(output_dtype), ndim

    def _transformed_lut(self, labels_data, columns) -> pd.DataFrame:
        rows = []
        if self.background_label in _values_present(get_data(self.labels_img_)):
            rows.append(self.lut_[self.lut_["index"] == self.background_label])
        for value in columns:
            rows.append(self.lut_[self.lut_["index"] == _plain_number(value)])
        return pd.concat(rows, ignore_index=True) if rows else self.lut_.iloc[:0]

    def inverse_transform(self, signals):
        """Image whose voxels hold the signal of their region.

        Parameters
        ----------
        signals : numpy.ndarray, shape (n_regions,) or (T, n_regions)

        Returns
        -------
        nibabel.Nifti1Image
            3D (for 1-D input) or 4D image on the labels grid; voxels outside
            the mask or the regions are 0.
        """
        self._check_fitted()
        signals = _check_inverse_input(signals, self.n_elements_)
        labels_data = np.asarray(get_data(self.labels_img_))
        mask = _mask_bool(self.mask_img_)
        if mask is not None and mask.shape == labels_data.shape:
            labels_data = np.where(mask, labels_data, self.background_label)
        values = [v for v in _values_present(labels_data) if v != self.background_label]
        out_shape = labels_data.shape + signals.shape[:-1][::-1]
        out = np.zeros(labels_data.shape + ((signals.shape[0],) if signals.ndim == 2 else ()), dtype=signals.dtype)
        del out_shape
        for column, value in enumerate(values[: signals.shape[-1]]):
            out[labels_data == value] = signals[..., column]
        out = out.astype(self.dtype if self.dtype not in (None, "auto") else signals.dtype)
        return new_img_like(self.labels_img_, out, self.labels_img_.affine)

    def generate_report(self):
        """Return a plain HTML report: parameters and the region table.

        The table lists label value, name, size (mm³, in the fitted labels
        image) and relative size (%) of every region.
        """
        self._check_fitted()
        labels_data = np.asarray(get_data(self.labels_img_))
        volume = _voxel_volume(self.labels_img_.affine)
        non_background = np.sum(labels_data != self.background_label)
        rows = []
        lut = self._current_lut()
        for value, name in zip(lut["index"], lut["name"]):
            if value == self.background_label:
                continue
            count = int(np.sum(labels_data == value))
            relative = round(count / non_background * 100, 2) if non_background else 0.0
            rows.append([value, name, round(count * volume), relative])
        return _render_report(
            self,
            f"Signals of {len(rows)} regions of {describe_img(self.labels_img)} "
            f"(strategy '{self.strategy}').",
            ["label value", "region name", "size (in mm^3)", "relative size (in %)"],
            rows,
            [],
            figure=_report_figure(
                "plot_labels_overlay",
                labels_data,
                self.labels_img_.affine,
                [value for value in lut["index"] if value != self.background_label],
            ),
        )


def _report_figure(function_name, *args, **kwargs):
    """Draw a report figure with :mod:`regionseries.report.figures` (Agg backend)."""
    from .report import figures

    return getattr(figures, function_name)(*args, **kwargs)


def _resample_labels(labels_img, grid, background_label, source=None):
    shape, affine = grid
    before = set(_values_present(get_data(labels_img)).tolist())
    resampled = labels_on_grid(labels_img, shape, affine)
    after_values = _values_present(get_data(resampled))
    if len(after_values) <= 1:
        raise ValueError(
            "No label left after resampling the labels image "
            f"({describe_img(labels_img if source is None else source)}) to the grid of shape {tuple(shape)}."
        )
    removed = before - set(after_values.tolist())
    if removed:
        warnings.warn(
            "After resampling the label image to the data image, the following labels "
            f"were removed: {removed}. Label image only contains {len(after_values)} "
            "labels (including background).",
            UserWarning,
            stacklevel=4,
        )
    return resampled


def _resample_data(imgs, target_img, data_dtype):
    """Data resampled (cubic) to a target grid, in memory (nilearn's path)."""
    img = load_img(imgs, ensure_ndim=4)
    if np.dtype(data_dtype) != np.asanyarray(img.dataobj[..., :1]).dtype:
        img = nib.Nifti1Image(np.asanyarray(img.dataobj).astype(data_dtype), img.affine, img.header)
    resampled = resample_img(
        img, target_img.affine, target_img.shape[:3], interpolation="continuous"
    )
    return resampled, tuple(target_img.shape[:3]), np.asarray(target_img.affine)


def _check_inverse_input(signals, n_elements):
    signals = np.asarray(signals)
    if signals.dtype == bool:
        warnings.warn("Data array used to create a new image is boolean; cast to float.", UserWarning, stacklevel=3)
        signals = signals.astype(np.float32)
    if signals.ndim not in (1, 2) or signals.shape[-1] != n_elements:
        expected = f"({n_elements},) or (n_samples, {n_elements})"
        raise ValueError(
            "Input to 'inverse_transform' has wrong shape. "
            f"Expected {expected}. Got {signals.shape}."
        )
    return signals


# ---------------------------------------------------------------------------
# Spheres


class NiftiSpheresMasker(BaseMasker):
    """Mean signals in spheres around seeds (nilearn's ``NiftiSpheresMasker``).

    Parameters
    ----------
    seeds : list of (x, y, z)
        Seed coordinates in world space (mm).
    radius : float or None
        Sphere radius (mm); None: the voxel nearest to each seed.
    mask_img : image, path or None
        Voxels outside the mask are not used.
    allow_overlap : bool, default=False
        If False, overlapping spheres raise an error naming the pairs.
    smoothing_fwhm, standardize, standardize_confounds, high_variance_confounds,
    detrend, low_pass, high_pass, t_r, dtype, memory, memory_level, verbose,
    reports, clean_args :
        As in :class:`NiftiLabelsMasker`.
    """

    _fitted_attribute = "seeds_"

    def __init__(
        self,
        seeds=None,
        radius=None,
        mask_img=None,
        allow_overlap=False,
        smoothing_fwhm=None,
        standardize=False,
        standardize_confounds=True,
        high_variance_confounds=False,
        detrend=False,
        low_pass=None,
        high_pass=None,
        t_r=None,
        dtype=None,
        memory=None,
        memory_level=1,
        verbose=0,
        reports=True,
        clean_args=None,
    ):
        self.seeds = seeds
        self.radius = radius
        self.mask_img = mask_img
        self.allow_overlap = allow_overlap
        self.smoothing_fwhm = smoothing_fwhm
        self.standardize = standardize
        self.standardize_confounds = standardize_confounds
        self.high_variance_confounds = high_variance_confounds
        self.detrend = detrend
        self.low_pass = low_pass
        self.high_pass = high_pass
        self.t_r = t_r
        self.dtype = dtype
        self.memory = memory
        self.memory_level = memory_level
        self.verbose = verbose
        self.reports = reports
        self.clean_args = clean_args

    def fit(self, imgs=None, y=None):
        """Validate the seeds and load the mask.

        Returns
        -------
        self
        """
        del y
        self._common_fit(imgs)
        seeds = _validate_seeds(self.seeds)
        self.seeds_ = [list(map(float, seed)) for seed in seeds]
        self.n_elements_ = len(self.seeds_)
        return self

    def _strict_mask(self, shape, affine):
        if self.mask_img is None:
            return None
        mask_img = load_img(self.mask_img, ensure_ndim=3)
        mask_img = resample_img(mask_img, affine, shape, interpolation="nearest")
        mask, _ = load_mask_img(mask_img)
        return mask

    def _operator(self, shape, affine, empty="raise"):
        return SpheresOperator(
            self.seeds_,
            self.radius,
            shape,
            affine,
            allow_overlap=self.allow_overlap,
            smoothing_fwhm=self.smoothing_fwhm,
            empty=empty,
        )

    def _extract(self, imgs):
        reader, data_dtype, ndim = self._prepare_data(imgs)
        shape, affine = _grid_of(reader)
        mask = self._strict_mask(shape, affine)
        operator = self._operator(shape, affine)
        result = self._extract_with(reader, operator, mask)
        if data_dtype.kind == "f":
            output_dtype = data_dtype
        else:
            output_dtype = np.float64 if data_dtype.itemsize == 8 else np.float32
        return result.signals.astype(output_dtype), ndim

    def inverse_transform(self, region_signals):
        """Image (on the mask grid) whose sphere voxels hold their sphere's signal.

        Voxels in several spheres hold the average of those spheres' signals
        when ``allow_overlap=True``.

        Raises
        ------
        ValueError
            Without ``mask_img`` (needed as the reference grid).
        """
        self._check_fitted()
        region_signals = _check_inverse_input(region_signals, self.n_elements_)
        if self.mask_img is None:
            raise ValueError(
                "Please provide mask_img at initialization to provide a reference for "
                "the inverse_transform."
            )
        mask, affine = load_mask_img(self.mask_img)
        operator = self._operator(mask.shape, affine)
        spheres = operator.sphere_voxels(mask)
        n_voxels = mask.size
        counts = np.zeros(n_voxels)
        signals_2d = np.atleast_2d(region_signals)
        total = np.zeros((n_voxels, signals_2d.shape[0]))
        for k, voxels in enumerate(spheres):
            counts[voxels] += 1
            total[voxels] += signals_2d[:, k]
        total /= np.maximum(counts, 1)[:, None]
        if region_signals.ndim == 1:
            data = total[:, 0].reshape(mask.shape, order="F")
        else:
            data = total.reshape(mask.shape + (signals_2d.shape[0],), order="F")
        return new_img_like(load_img(self.mask_img, ensure_ndim=3), data.astype(region_signals.dtype), affine)

    def generate_report(self):
        """Return a plain HTML report: parameters and the seed table."""
        self._check_fitted()
        rows = [
            [i, f"({x:g}, {y:g}, {z:g})", self.radius]
            for i, (x, y, z) in enumerate(self.seeds_)
        ]
        return _render_report(
            self,
            f"Mean signals in {len(rows)} spheres of radius {self.radius} mm.",
            ["seed", "coordinates (mm)", "radius (mm)"],
            rows,
            [],
            figure=_report_figure("plot_spheres", np.asarray(self.seeds_, dtype=float), self.radius),
        )


# ---------------------------------------------------------------------------
# Maps


class NiftiMapsMasker(BaseMasker):
    """Region signals from probabilistic maps by least squares (nilearn's ``NiftiMapsMasker``).

    Parameters
    ----------
    maps_img : 4D image or path
        One map per volume.
    mask_img : image, path or None
    allow_overlap : bool, default=True
        If False, maps sharing a voxel raise an error naming the pairs.
    resampling_target : {"data", "mask", "maps", None}, default="data"
    keep_masked_maps : bool, default=False
        Keep columns (of zeros) for maps removed by the mask.
    smoothing_fwhm, standardize, standardize_confounds, high_variance_confounds,
    detrend, low_pass, high_pass, t_r, dtype, memory, memory_level, verbose,
    reports, cmap, clean_args :
        As in :class:`NiftiLabelsMasker`.
    """

    def __init__(
        self,
        maps_img=None,
        mask_img=None,
        allow_overlap=True,
        smoothing_fwhm=None,
        standardize=False,
        standardize_confounds=True,
        high_variance_confounds=False,
        detrend=False,
        low_pass=None,
        high_pass=None,
        t_r=None,
        dtype=None,
        resampling_target="data",
        keep_masked_maps=False,
        memory=None,
        memory_level=0,
        verbose=0,
        reports=True,
        cmap="CMRmap_r",
        clean_args=None,
    ):
        self.maps_img = maps_img
        self.mask_img = mask_img
        self.allow_overlap = allow_overlap
        self.smoothing_fwhm = smoothing_fwhm
        self.standardize = standardize
        self.standardize_confounds = standardize_confounds
        self.high_variance_confounds = high_variance_confounds
        self.detrend = detrend
        self.low_pass = low_pass
        self.high_pass = high_pass
        self.t_r = t_r
        self.dtype = dtype
        self.resampling_target = resampling_target
        self.keep_masked_maps = keep_masked_maps
        self.memory = memory
        self.memory_level = memory_level
        self.verbose = verbose
        self.reports = reports
        self.cmap = cmap
        self.clean_args = clean_args

    def fit(self, imgs=None, y=None):
        """Prepare the maps (and mask) for extraction.

        Returns
        -------
        self
        """
        del y
        self._common_fit(imgs)
        if self.resampling_target not in ("data", "mask", "maps", None):
            raise ValueError(
                "invalid value for 'resampling_target' parameter: "
                f"{self.resampling_target!r}. Choose 'data', 'mask', 'maps' or None."
            )
        if self.resampling_target == "mask" and self.mask_img_ is None:
            raise ValueError(
                "resampling_target has been set to 'mask' but no mask has been provided.\n"
                "Set resampling_target to something else or provide a mask."
            )
        if self.maps_img is None:
            raise ValueError("Please provide maps_img to the NiftiMapsMasker: it has no default.")
        self.maps_img_ = load_maps_img(self.maps_img)

        data_grid = None if imgs is None else _grid_of(BoldReader(imgs))
        if self.resampling_target is None:
            _fov_errors(
                {"maps": self.maps_img_, "mask": self.mask_img_, "data": data_grid},
                {"maps": self.maps_img, "mask": self.mask_img, "data": imgs},
            )
        ref_grid = None
        if self.resampling_target == "data" and data_grid is not None:
            ref_grid = data_grid
        elif self.resampling_target == "mask":
            ref_grid = (self.mask_img_.shape[:3], self.mask_img_.affine)
        elif self.resampling_target == "maps":
            ref_grid = (self.maps_img_.shape[:3], self.maps_img_.affine)
        if ref_grid is not None and self.resampling_target != "maps":
            if not _same_grid(self.maps_img_, *ref_grid):
                self.maps_img_ = _resample_maps(self.maps_img_, ref_grid, self.maps_img)
        if self.mask_img_ is not None and ref_grid is not None:
            self.mask_img_ = _resample_mask(self.mask_img_, *ref_grid)
        maps_data = get_data(self.maps_img_)
        if not np.any(maps_data != 0):
            raise ValueError(f"maps_img contains no map. ({self._inputs_text()})")
        if self.mask_img_ is not None and ref_grid is not None:
            if not np.any(maps_data[_mask_bool(self.mask_img_)] != 0):
                raise ValueError(
                    f"No map left after applying mask to the maps image. ({self._inputs_text()})"
                )
        self.n_elements_ = int(self.maps_img_.shape[3])
        return self

    def _extract(self, imgs):
        reader, data_dtype, ndim = self._prepare_data(imgs)
        shape, affine = _grid_of(reader)
        source = reader
        maps_img, mask_img = self.maps_img_, self.mask_img_
        if self.resampling_target is None:
            _fov_errors(
                {"maps": maps_img, "mask": mask_img, "data": (shape, affine)},
                {"maps": self.maps_img, "mask": self.mask_img, "data": imgs},
            )
        if self.resampling_target in ("maps", "mask"):
            if not _same_grid(maps_img, shape, affine):
                if self.resampling_target == "maps":
                    warnings.warn("Resampling images at transform time...", UserWarning, stacklevel=3)
                source, shape, affine = _resample_data(imgs, maps_img, data_dtype)
        elif not _same_grid(maps_img, shape, affine):
            warnings.warn(
                "Resampling maps at transform time...\n"
                "To avoid this warning, make sure to pass the images you want to "
                "transform to fit() first, or directly use fit_transform().",
                UserWarning,
                stacklevel=3,
            )
            maps_img = _resample_maps(maps_img, (shape, affine), self.maps_img)
        if mask_img is not None and not _same_grid(mask_img, shape, affine):
            mask_img = _resample_mask(mask_img, shape, affine)
        maps_data = np.asarray(get_data(maps_img))
        mask = _mask_bool(mask_img)
        kept = np.arange(maps_data.shape[3])
        if mask is not None:
            totals = np.abs(maps_data[mask]).sum(axis=0)
            removed = np.flatnonzero(totals == 0)
            if len(removed) == maps_data.shape[3]:
                raise ValueError(
                    f"No map left after applying mask to the maps image. ({self._inputs_text()})"
                )
            if len(removed):
                if self.keep_masked_maps:
                    warnings.warn(
                        "Applying 'mask_img' before extracting signals will be the default "
                        "behavior; 'keep_masked_maps' will be removed.",
                        FutureWarning,
                        stacklevel=3,
                    )
                else:
                    warnings.warn(
                        "After applying mask to the maps image, maps with the following "
                        f"indices were removed: {set(removed.tolist())}. Out of "
                        f"{maps_data.shape[3]} maps, the masked map image only contains "
                        f"{maps_data.shape[3] - len(removed)} maps.",
                        UserWarning,
                        stacklevel=3,
                    )
                    kept = np.flatnonzero(totals > 0)
        operator = MapsOperator(
            maps_data,
            maps_img.affine,
            allow_overlap=self.allow_overlap,
            smoothing_fwhm=self.smoothing_fwhm,
            source_name=describe_img(self.maps_img),
        )
        result = self._extract_with(source, operator, mask)
        signals = result.signals[:, kept]
        signals = np.where(np.isnan(signals), 0.0, signals)
        self.coverage_ = result.coverage[kept]
        extraction_dtype = self._extraction_dtype(data_dtype, source if source is not reader else None)
        single = maps_data.dtype == np.float32 and extraction_dtype in (
            np.dtype(np.float32), np.dtype(np.int8), np.dtype(np.int16), np.dtype(np.uint8), np.dtype(np.uint16)
        )
        return signals.astype(np.float32 if single else np.float64), ndim

    def inverse_transform(self, region_signals):
        """Image ``signals @ maps^T`` on the maps grid (support of the masked maps).

        Returns
        -------
        nibabel.Nifti1Image
        """
        self._check_fitted()
        region_signals = _check_inverse_input(region_signals, self.n_elements_)
        maps_data = np.asarray(get_data(self.maps_img_))
        flat = maps_data.reshape(-1, maps_data.shape[3], order="F")
        mask = _mask_bool(self.mask_img_)
        if mask is not None and mask.shape == maps_data.shape[:3]:
            flat = flat * mask.reshape(-1, order="F")[:, None]
        signals_2d = np.atleast_2d(region_signals)
        data = flat @ signals_2d.T.astype(np.result_type(flat, signals_2d))
        if region_signals.ndim == 1:
            data = data[:, 0].reshape(maps_data.shape[:3], order="F")
        else:
            data = data.reshape(maps_data.shape[:3] + (signals_2d.shape[0],), order="F")
        return new_img_like(self.maps_img_, data.astype(region_signals.dtype), self.maps_img_.affine)

    def generate_report(self):
        """Return a plain HTML report: parameters and the map table."""
        self._check_fitted()
        maps_data = np.asarray(get_data(self.maps_img_))
        volume = _voxel_volume(self.maps_img_.affine)
        counts = np.count_nonzero(maps_data.reshape(-1, maps_data.shape[3]), axis=0)
        total = counts.sum()
        rows = [
            [k, int(counts[k]), round(float(counts[k]) * volume), round(counts[k] / total * 100, 2) if total else 0.0]
            for k in range(maps_data.shape[3])
        ]
        return _render_report(
            self,
            f"Least-squares signals of {len(rows)} maps of {describe_img(self.maps_img)}.",
            ["map", "support (voxels)", "support size (in mm^3)", "relative size (in %)"],
            rows,
            [],
            figure=_report_figure("plot_maps_overlay", maps_data, self.maps_img_.affine),
        )


def _resample_maps(maps_img, grid, source=None):
    shape, affine = grid
    resampled = maps_on_grid(maps_img, shape, affine)
    if not np.any(get_data(resampled) != 0):
        raise ValueError(
            f"No map left after resampling maps_img ({describe_img(maps_img if source is None else source)}) "
            f"to the grid of shape {tuple(shape)}."
        )
    return resampled
