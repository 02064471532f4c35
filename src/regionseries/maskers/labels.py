"""``NiftiLabelsMasker``: region signals from a label (parcellation) image.

nilearn's masker: the labels (and mask) are put on the data grid at ``fit``
(or the data on the labels' grid), the look-up table ``lut_`` is built
(:mod:`.lut`), and each transform reduces the voxels of every region with
``strategy`` (mean, median, sum, ...) in one pass over the image.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..core.atlas_images import labels_on_grid, load_labels_img
from ..core.extract import REDUCTIONS, LabelsOperator
from ..core.image import describe_img, get_data, new_img_like
from ..core.reader import BoldReader
from .base import BaseMasker, Extraction, check_inverse_input, inverse_image, no_atlas_error
from .docs import fill_doc
from .grids import grid_of, mask_bool, raise_fov_errors, resample_data, resample_mask, same_grid
from .lut import LabelAttributesMixin, build_lut, check_labels_argument, plain_number, values_present
from .report import ReportMixin, report_figure, voxel_volume
from .verbose import log_step

__all__ = ["NiftiLabelsMasker"]


@fill_doc
class NiftiLabelsMasker(LabelAttributesMixin, ReportMixin, BaseMasker):
    """Region signals from a label image (nilearn's ``NiftiLabelsMasker``).

    After ``fit``, the properties ``n_elements_`` (number of regions),
    ``region_ids_`` (column index -> label value, and ``"background"``),
    ``region_names_`` (column index -> name) and ``labels_`` (label values)
    describe the output columns on the grid of the extraction (the data's
    given to ``fit``, or the labels'), and ``region_atlas_`` is the masked
    labels image. ``fit_transform`` also sets ``coverage_`` (per region, the
    fraction of its voxels inside the mask with finite, non-constant signal;
    beyond nilearn). ``transform`` changes no attribute.

    Parameters
    ----------
    labels_img : 3D image, path or None, default=None
        Label (parcellation) image, one integer value per region; a 4D image
        with one volume is accepted. Required at ``fit``.
    labels : list of str or None, default=None
        Region names in the order of the sorted label values (background
        included if present, as in nilearn). Exclusive with ``lut``.
    lut : pandas.DataFrame, str, pathlib.Path or None, default=None
        Look-up table (BIDS ``dseg.tsv`` layout) with at least the columns
        ``index`` and ``name``. Exclusive with ``labels``.
    background_label : int or float, default=0
        Label value of the background (not a region).
    mask_img : 3D/4D image, path or None, default=None
        Voxels outside the mask count as background. A 4D mask keeps the
        voxels non-zero in every volume.
    %(smoothing_fwhm)s
    %(cleaning)s
    resampling_target : {"data", "labels", None}, default="data"
        Grid of the extraction: "data" resamples the labels (and mask) to the
        data, "labels" resamples the data (and mask) to the labels, None
        refuses different grids.
    %(memory_verbose_level1)s
    strategy : str, default="mean"
        How each region's voxels become one value: one of mean, median, sum,
        minimum, maximum, standard_deviation, variance.
    keep_masked_labels : bool, default=False
        Keep columns (of zeros) for labels removed by the mask (deprecated
        in nilearn; a FutureWarning says so).
    %(reports)s
    cmap : str, matplotlib colormap or None, default=None
        Accepted for compatibility with nilearn; the report draws the labels
        with its own colors.
    %(clean_args)s

    Attributes
    ----------
    %(clean_args_)s
    labels_img_ : nibabel.Nifti1Image
        The labels image, on the data grid when it was resampled at ``fit``.
    lut_ : pandas.DataFrame
        Look-up table of the labels image (``index``, ``name``, ``color``),
        built from ``labels``, ``lut`` or the label values.
    %(mask_img_)s
    region_atlas_ : nibabel.Nifti1Image
        The labels image on the extraction grid with the voxels outside the
        mask set to the background (int32); not set when the mask is only
        resampled at transform time.
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
        if self.strategy not in REDUCTIONS:
            raise ValueError(
                f"Invalid strategy '{self.strategy}': 'strategy' must be one of {list(REDUCTIONS)}."
            )
        if self.resampling_target not in ("data", "labels", None):
            raise ValueError(
                "invalid value for 'resampling_target' parameter: "
                f"{self.resampling_target!r}. 'resampling_target' must be one of ('data', 'labels', None)."
            )
        if self.labels_img is None:
            raise no_atlas_error("labels_img", type(self).__name__)
        log_step(self, "Loading regions from", about=self.labels_img)
        self.labels_img_ = load_labels_img(self.labels_img)
        check_labels_argument(self.labels, self.lut)
        labels_data = get_data(self.labels_img_)
        if np.all(labels_data == self.background_label):
            raise ValueError(f"Image has no label. ({describe_img(self.labels_img)})")
        self.lut_ = build_lut(labels_data, self.background_label, self.labels, self.lut)

        data_grid = None
        if imgs is not None:
            data_grid = grid_of(BoldReader(imgs))
        if self.resampling_target is None:
            raise_fov_errors(
                {"labels": self.labels_img_, "mask": self.mask_img_, "data": data_grid},
                {"labels": self.labels_img, "mask": self.mask_img, "data": imgs},
            )
        ref_grid = None
        if self.resampling_target == "data" and data_grid is not None:
            ref_grid = data_grid
            if not same_grid(self.labels_img_, *data_grid):
                log_step(self, "Resampling regions")
                self.labels_img_ = _resample_labels(
                    self.labels_img_, data_grid, self.background_label, self.labels_img
                )
        elif self.resampling_target == "labels":
            ref_grid = (self.labels_img_.shape[:3], self.labels_img_.affine)
        if self.mask_img_ is not None and ref_grid is not None:
            if not same_grid(self.mask_img_, *ref_grid):
                log_step(self, "Resampling mask")
            self.mask_img_ = resample_mask(self.mask_img_, *ref_grid)
            inside = get_data(self.labels_img_)[mask_bool(self.mask_img_)]
            if np.all(inside == 0):
                raise ValueError(
                    "No label left after applying mask to the labels image. "
                    f"({self._inputs_text()})"
                )
        self._fit_columns()
        self._finish_fit()
        return self

    def _labels_for_grid(self, shape, affine, *, warn: bool):
        labels_img = self.labels_img_
        mask_img = self.mask_img_
        if not same_grid(labels_img, shape, affine):
            if warn:
                warnings.warn(
                    "Resampling labels at transform time...\n"
                    "To avoid this warning, make sure to pass the images "
                    "you want to transform to fit() first, or directly use fit_transform().",
                    UserWarning,
                    stacklevel=5,
                )
            log_step(self, "Resampling regions")
            labels_img = _resample_labels(labels_img, (shape, affine), self.background_label, self.labels_img)
        if mask_img is not None and not same_grid(mask_img, shape, affine):
            if warn:
                warnings.warn(
                    "Resampling mask at transform time...", UserWarning, stacklevel=5
                )
            log_step(self, "Resampling mask")
            mask_img = resample_mask(mask_img, shape, affine)
            inside = get_data(labels_img)[mask_bool(mask_img)]
            if np.all(inside == 0):
                raise ValueError(
                    "No label left after applying mask to the labels image. "
                    f"({self._inputs_text()})"
                )
        return labels_img, mask_img

    def _extract(self, imgs):
        reader, data_dtype, ndim = self._prepare_data(imgs)
        shape, affine = grid_of(reader)
        source = reader
        if self.resampling_target is None:
            raise_fov_errors(
                {"labels": self.labels_img_, "mask": self.mask_img_, "data": (shape, affine)},
                {"labels": self.labels_img, "mask": self.mask_img, "data": imgs},
                at_transform=True,
            )
        if self.resampling_target == "labels" and not same_grid(self.labels_img_, shape, affine):
            warnings.warn(
                "Resampling images at transform time...", UserWarning, stacklevel=4
            )
            log_step(self, "Resampling images")
            source, shape, affine = resample_data(imgs, self.labels_img_, data_dtype)
        extraction_dtype = self._extraction_dtype(data_dtype, source if source is not reader else None)
        labels_img, mask_img = self._labels_for_grid(shape, affine, warn=self.resampling_target == "data")
        labels_data = np.asarray(get_data(labels_img))
        mask = mask_bool(mask_img)
        present_before, present_after, masked = self._present_labels(labels_data, mask)
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
                    f"removed: {set(plain_number(v) for v in removed)}. Out of "
                    f"{len(present_before) + 1} labels, the masked labels image only "
                    f"contains {len(present_after) + 1} labels (including background).",
                    UserWarning,
                    stacklevel=4,
                )
        if self.keep_masked_labels:
            warnings.warn(
                'In version 0.15.0, "keep_masked_labels" parameter will be removed '
                "(nilearn 0.15.0, whose API regionseries follows): labels removed by "
                "'mask_img' will then always be dropped.",
                FutureWarning,
                stacklevel=4,
            )
        columns = present_before if self.keep_masked_labels else present_after
        operator = LabelsOperator(
            labels_data,
            labels_img.affine,  # its own affine: the engine applies nilearn's strict check
            background_label=self.background_label,
            label_values=columns,
            reduction=self.strategy,  # nilearn's name for the reduction
            smoothing_fwhm=self.smoothing_fwhm,
            source_name=describe_img(self.labels_img),
        )
        result = self._extract_with(source, operator, mask)
        signals = result.signals
        if self.keep_masked_labels:
            signals = np.where(np.isnan(signals), 0.0, signals)
        output_dtype = np.float32 if extraction_dtype == np.float32 else np.float64
        return Extraction(signals.astype(output_dtype), ndim, result.coverage, data_dtype)

    def _present_labels(self, labels_data, mask):
        """Labels present before and after masking, and the masked labels array."""
        present_before = [v for v in values_present(labels_data) if v != self.background_label]
        masked = labels_data if mask is None else np.where(mask, labels_data, self.background_label)
        present_after = [v for v in values_present(masked) if v != self.background_label]
        return present_before, present_after, masked

    def _fit_columns(self) -> None:
        """``_lut_`` and ``region_atlas_`` for data on the fitted labels' grid.

        nilearn sets both at each transform (its issue #2720); here fit sets
        them for the grid extraction will use (the data's, given to fit, or
        the labels'), so that transform changes no attribute. Skipped when
        the mask is on another grid (resampled only at transform).
        """
        labels_data = np.asarray(get_data(self.labels_img_))
        mask = None
        if self.mask_img_ is not None:
            if not same_grid(self.mask_img_, labels_data.shape[:3], self.labels_img_.affine):
                return
            mask = mask_bool(self.mask_img_)
        present_before, present_after, masked = self._present_labels(labels_data, mask)
        columns = present_before if self.keep_masked_labels else present_after
        if not columns:
            return
        self._lut_ = self._transformed_lut(columns)
        self.region_atlas_ = new_img_like(self.labels_img_, masked.astype(np.int32), self.labels_img_.affine)

    def _transformed_lut(self, columns) -> pd.DataFrame:
        rows = []
        if self.background_label in values_present(get_data(self.labels_img_)):
            rows.append(self.lut_[self.lut_["index"] == self.background_label])
        for value in columns:
            rows.append(self.lut_[self.lut_["index"] == plain_number(value)])
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
        log_step(self, "Computing image from signals")
        signals = check_inverse_input(signals, self.n_elements_, self.dtype)
        labels_data = np.asarray(get_data(self.labels_img_))
        mask = mask_bool(self.mask_img_)
        if mask is not None and mask.shape == labels_data.shape:
            labels_data = np.where(mask, labels_data, self.background_label)
        # column k holds the region of the k-th label value of region_ids_
        values = [value for value in self.labels_ if value != self.background_label]
        out = np.zeros(labels_data.shape + signals.shape[:-1], dtype=signals.dtype)
        for column, value in enumerate(values):
            out[labels_data == value] = signals[..., column]
        if signals.dtype == np.int64:
            # nilearn first makes an image of the int64 signals (warning that
            # they are stored as int32), whatever the output dtype
            new_img_like(self.labels_img_, out, self.labels_img_.affine)
        return inverse_image(self.labels_img_, out, signals, self.dtype)

    def _fitted_report(self, draw, **kwargs):
        """The region table (label value, name, size in mm³ and %) and the labels drawn on cuts."""
        del kwargs
        labels_data = np.asarray(get_data(self.labels_img_))
        volume = voxel_volume(self.labels_img_.affine)
        non_background = np.sum(labels_data != self.background_label)
        rows = []
        lut = self._current_lut()
        for value, name in zip(lut["index"], lut["name"]):
            if value == self.background_label:
                continue
            count = int(np.sum(labels_data == value))
            relative = round(count / non_background * 100, 2) if non_background else 0.0
            rows.append([value, name, round(count * volume), relative])
        figure = None
        if draw:
            figure = report_figure(
                "plot_labels_overlay",
                labels_data,
                self.labels_img_.affine,
                [value for value in lut["index"] if value != self.background_label],
            )
        description = (
            f"Signals of {len(rows)} regions of {describe_img(self.labels_img)} "
            f"(strategy '{self.strategy}')."
        )
        columns = ["label value", "region name", "size (in mm^3)", "relative size (in %)"]
        return description, columns, rows, figure, []


def _resample_labels(labels_img, grid, background_label, source=None):
    shape, affine = grid
    before = set(values_present(get_data(labels_img)).tolist())
    resampled = labels_on_grid(labels_img, shape, affine)
    after_values = values_present(get_data(resampled))
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
