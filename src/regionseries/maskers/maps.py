"""``NiftiMapsMasker``: region signals from probabilistic maps by least squares.

nilearn's masker: the maps (and mask) are put on the data grid at ``fit``
(or the data on the maps' or mask's grid); each transform fits the maps to
every volume by least squares in one pass over the image. Maps removed by
the mask are dropped (or kept as zero columns with ``keep_masked_maps``).
"""

from __future__ import annotations

import warnings

import numpy as np

from ..core.atlas_images import load_maps_img, maps_on_grid
from ..core.extract import MapsOperator
from ..core.image import describe_img, get_data
from ..core.reader import BoldReader
from .base import BaseMasker, Extraction, check_inverse_input, inverse_image, no_atlas_error
from .docs import fill_doc
from .grids import grid_of, mask_bool, raise_fov_errors, resample_data, resample_mask, same_grid
from .report import ReportMixin, displayed_indices, report_figure, voxel_volume
from .verbose import log_step

__all__ = ["NiftiMapsMasker"]


@fill_doc
class NiftiMapsMasker(ReportMixin, BaseMasker):
    """Region signals from probabilistic maps by least squares (nilearn's ``NiftiMapsMasker``).

    After a transform, ``coverage_`` holds, per map, the fraction of its
    weight inside the mask with finite, non-constant signal (beyond nilearn).

    Parameters
    ----------
    maps_img : 4D image, path or None, default=None
        One map per volume. Required at ``fit``.
    mask_img : 3D/4D image, path or None, default=None
        Voxels outside the mask are not used. A 4D mask keeps the voxels
        non-zero in every volume.
    allow_overlap : bool, default=True
        If False, maps sharing a voxel raise an error naming the pairs.
    %(smoothing_fwhm)s
    %(maps_cleaning_to_cmap)s
    %(clean_args)s

    Attributes
    ----------
    %(clean_args_)s
    maps_img_ : nibabel.Nifti1Image
        The maps, on the extraction grid when they were resampled at ``fit``.
    %(mask_img_)s
    n_elements_ : int
        Number of maps (output columns).
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
                f"{self.resampling_target!r}. 'resampling_target' must be one of "
                "('data', 'mask', 'maps', None)."
            )
        if self.resampling_target == "mask" and self.mask_img_ is None:
            raise ValueError(
                "resampling_target has been set to 'mask' but no mask has been provided.\n"
                "Set resampling_target to something else or provide a mask."
            )
        if self.maps_img is None:
            raise no_atlas_error("maps_img", type(self).__name__)
        log_step(self, "Loading regions from", about=self.maps_img)
        self.maps_img_ = load_maps_img(self.maps_img)

        data_grid = None if imgs is None else grid_of(BoldReader(imgs))
        if self.resampling_target is None:
            raise_fov_errors(
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
            if not same_grid(self.maps_img_, *ref_grid):
                log_step(self, "Resampling regions")
                self.maps_img_ = _resample_maps(self.maps_img_, ref_grid, self.maps_img)
        if self.mask_img_ is not None and ref_grid is not None:
            if not same_grid(self.mask_img_, *ref_grid):
                log_step(self, "Resampling mask")
            self.mask_img_ = resample_mask(self.mask_img_, *ref_grid)
        maps_data = get_data(self.maps_img_)
        if not np.any(maps_data != 0):
            raise ValueError(f"maps_img contains no map. ({self._inputs_text()})")
        if self.mask_img_ is not None and ref_grid is not None:
            if not np.any(maps_data[mask_bool(self.mask_img_)] != 0):
                raise ValueError(
                    f"No map left after applying mask to the maps image. ({self._inputs_text()})"
                )
        self.n_elements_ = int(self.maps_img_.shape[3])
        self._finish_fit()
        return self

    def _extract(self, imgs):
        reader, data_dtype, ndim = self._prepare_data(imgs)
        shape, affine = grid_of(reader)
        source = reader
        maps_img, mask_img = self.maps_img_, self.mask_img_
        if self.resampling_target is None:
            raise_fov_errors(
                {"maps": maps_img, "mask": mask_img, "data": (shape, affine)},
                {"maps": self.maps_img, "mask": self.mask_img, "data": imgs},
                at_transform=True,
            )
        if self.resampling_target in ("maps", "mask"):
            if not same_grid(maps_img, shape, affine):
                if self.resampling_target == "maps":
                    warnings.warn("Resampling images at transform time...", UserWarning, stacklevel=4)
                log_step(self, "Resampling images")
                source, shape, affine = resample_data(imgs, maps_img, data_dtype)
        elif not same_grid(maps_img, shape, affine):
            warnings.warn(
                "Resampling maps at transform time...\n"
                "To avoid this warning, make sure to pass the images you want to "
                "transform to fit() first, or directly use fit_transform().",
                UserWarning,
                stacklevel=4,
            )
            log_step(self, "Resampling regions")
            maps_img = _resample_maps(maps_img, (shape, affine), self.maps_img)
        if mask_img is not None and not same_grid(mask_img, shape, affine):
            log_step(self, "Resampling mask")
            mask_img = resample_mask(mask_img, shape, affine)
        maps_data = np.asarray(get_data(maps_img))
        mask = mask_bool(mask_img)
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
                        'Applying "mask_img" before signal extraction may result in empty '
                        "region signals in the output. These are currently kept.\n"
                        '"keep_masked_maps" parameter will be removed in version 0.15 '
                        "(nilearn 0.15, whose API regionseries follows). "
                        'Set "keep_masked_maps=False" to silence this warning.',
                        FutureWarning,
                        stacklevel=4,
                    )
                else:
                    warnings.warn(
                        "After applying mask to the maps image, maps with the following "
                        f"indices were removed: {set(removed.tolist())}. Out of "
                        f"{maps_data.shape[3]} maps, the masked map image only contains "
                        f"{maps_data.shape[3] - len(removed)} maps.",
                        UserWarning,
                        stacklevel=4,
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
        extraction_dtype = self._extraction_dtype(data_dtype, source if source is not reader else None)
        single = maps_data.dtype == np.float32 and extraction_dtype in (
            np.dtype(np.float32), np.dtype(np.int8), np.dtype(np.int16), np.dtype(np.uint8), np.dtype(np.uint16)
        )
        output_dtype = np.float32 if single else np.float64
        return Extraction(signals.astype(output_dtype), ndim, result.coverage[kept], data_dtype)

    def inverse_transform(self, region_signals):
        """Image ``signals @ maps^T`` on the maps grid (support of the masked maps).

        Returns
        -------
        nibabel.Nifti1Image
        """
        self._check_fitted()
        log_step(self, "Computing image from signals")
        region_signals = check_inverse_input(region_signals, self.n_elements_, self.dtype)
        maps_data = np.asarray(get_data(self.maps_img_))
        flat = maps_data.reshape(-1, maps_data.shape[3], order="F")
        mask = mask_bool(self.mask_img_)
        if mask is not None and mask.shape == maps_data.shape[:3]:
            flat = flat * mask.reshape(-1, order="F")[:, None]
        signals_2d = np.atleast_2d(region_signals)
        data = flat @ signals_2d.T.astype(np.result_type(flat, signals_2d))
        if region_signals.ndim == 1:
            data = data[:, 0].reshape(maps_data.shape[:3], order="F")
        else:
            data = data.reshape(maps_data.shape[:3] + (signals_2d.shape[0],), order="F")
        return inverse_image(self.maps_img_, data, region_signals, self.dtype)

    def _fitted_report(self, draw, displayed_maps=10, **kwargs):
        """The map table (support in voxels, mm³ and %) and the displayed maps drawn on cuts."""
        del kwargs
        maps_data = np.asarray(get_data(self.maps_img_))
        shown, messages = displayed_indices(displayed_maps, maps_data.shape[3])
        volume = voxel_volume(self.maps_img_.affine)
        counts = np.count_nonzero(maps_data.reshape(-1, maps_data.shape[3]), axis=0)
        total = counts.sum()
        rows = [
            [k, int(counts[k]), round(float(counts[k]) * volume), round(counts[k] / total * 100, 2) if total else 0.0]
            for k in range(maps_data.shape[3])
        ]
        figure = None
        if draw and shown:
            figure = report_figure("plot_maps_overlay", maps_data[..., shown], self.maps_img_.affine)
        description = f"Least-squares signals of {len(rows)} maps of {describe_img(self.maps_img)}" + (
            f"; the figure shows maps {shown}." if len(shown) < len(rows) else "."
        )
        columns = ["map", "support (voxels)", "support size (in mm^3)", "relative size (in %)"]
        return description, columns, rows, figure, messages


def _resample_maps(maps_img, grid, source=None):
    shape, affine = grid
    with warnings.catch_warnings():
        # maps whose voxels all hold one value look binary; the user cannot
        # choose the interpolation of maps, so nilearn silences this warning here
        warnings.filterwarnings(
            "ignore", message="Resampling binary images with continuous or linear interpolation",
            category=UserWarning,
        )
        resampled = maps_on_grid(maps_img, shape, affine)
    if not np.any(get_data(resampled) != 0):
        raise ValueError(
            f"No map left after resampling maps_img ({describe_img(maps_img if source is None else source)}) "
            f"to the grid of shape {tuple(shape)}."
        )
    return resampled
