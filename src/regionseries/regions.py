"""Region extraction with nilearn's names: ``from regionseries.regions import connected_regions``.

Public façade over :mod:`regionseries.core.regions`, plus :class:`RegionExtractor`,
which chains thresholding, region extraction and map-based signal extraction
like ``nilearn.regions.RegionExtractor``.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np

from .core.image import describe_img, get_data, load_img, load_masker_mask, new_img_like
from .core.regions import connected_regions, random_walker, score_at_percentile, threshold_img
from .maskers import NiftiMapsMasker
from .maskers.base import _check_imgs_argument, no_atlas_error
from .maskers.docs import fill_doc

__all__ = [
    "NoRegionFoundError",
    "RegionExtractor",
    "connected_regions",
    "random_walker",
    "threshold_img",
]

THRESHOLDING_STRATEGIES = ("ratio_n_voxels", "img_value", "percentile")


class NoRegionFoundError(ValueError, TypeError):
    """No region survived thresholding and the minimum size.

    A ValueError; also a TypeError because nilearn fails with a TypeError at
    this point, so code written for nilearn keeps catching it.
    """


def _threshold_maps_ratio(maps_img, ratio) -> object:
    """Keep the largest |values| of all maps: on average ``ratio`` maps' worth of voxels.

    The cut-off is the ``100 − 100·ratio/n_maps`` percentile of ``|maps|`` over
    the whole 4D array (zeros included); values with ``|x|`` below it become 0.
    """
    n_maps = maps_img.shape[3]
    if (
        isinstance(ratio, bool)
        or not isinstance(ratio, numbers.Real)
        or ratio <= 0
        or ratio > n_maps
    ):
        raise ValueError(
            "threshold given as ratio to the number of voxels must be Real number "
            "and should be positive and between 0 and total number of maps i.e. "
            f"n_maps={n_maps}. You provided {ratio}"
        )
    maps = np.array(get_data(maps_img), copy=True)
    if maps.dtype.kind in ("f", "c"):
        non_finite = ~np.isfinite(maps)
        if non_finite.any():
            warnings.warn(
                "Non-finite values detected. These values will be replaced with zeros.",
                UserWarning,
                stacklevel=3,
            )
            maps[non_finite] = 0
    magnitude = np.abs(maps)
    cutoff = score_at_percentile(magnitude, 100.0 - (100.0 / n_maps) * ratio)
    maps[magnitude < cutoff] = 0
    return new_img_like(maps_img, maps, maps_img.affine, copy_header=True)


@fill_doc
class RegionExtractor(NiftiMapsMasker):
    """Regions from probabilistic maps, then their signals (nilearn's ``RegionExtractor``).

    ``fit`` thresholds the maps, splits them into regions with
    :func:`connected_regions`, and fits a :class:`NiftiMapsMasker` on the
    regions; ``transform`` returns least-squares region signals (T × regions).

    Parameters
    ----------
    maps_img : 4D image, path or None, default=None
        Probabilistic maps, one per volume. Required at ``fit``.
    mask_img : 3D/4D image, path or None, default=None
        Restricts thresholding, regions and extraction.
    min_region_size : float, default=1350
        Minimum region volume (mm³); regions must be strictly larger.
    threshold : float, default=1.0
        Meaning depends on ``thresholding_strategy``.
    thresholding_strategy : {"ratio_n_voxels", "img_value", "percentile"}, default="ratio_n_voxels"
        "ratio_n_voxels": keep the largest ``|values|`` of all maps together, as
        many voxels as ``threshold`` maps would fill (0 < threshold ≤ n_maps).
        "img_value": :func:`threshold_img` at the value ``threshold``.
        "percentile": :func:`threshold_img` at ``f"{threshold}%"``.
    two_sided : bool, default=False
        Passed to :func:`threshold_img` (False removes negative values).
    extractor : {"local_regions", "connected_components"}, default="local_regions"
        Passed to :func:`connected_regions`.
    smoothing_fwhm : float or None, default=6
        FWHM (mm) used both to find peaks and, as in nilearn, to smooth the
        data before signal extraction.
    %(maps_cleaning_to_cmap)s
    allow_overlap : bool, default=True
        If False, regions sharing a voxel raise an error naming the pairs.
    %(clean_args)s

    Attributes
    ----------
    %(clean_args_)s
    index_ : list of int
        Index of the source map of each region.
    maps_img_ : nibabel.Nifti1Image
        The regions, on the extraction grid, as fitted by the maps masker.
    %(mask_img_)s
    n_elements_ : int
        Number of regions (output columns).
    regions_img_ : nibabel.Nifti1Image
        4D image of the extracted regions, one per volume.
    """

    def __init__(
        self,
        maps_img=None,
        mask_img=None,
        min_region_size=1350,
        threshold=1.0,
        thresholding_strategy="ratio_n_voxels",
        two_sided=False,
        extractor="local_regions",
        smoothing_fwhm=6,
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
        allow_overlap=True,
        clean_args=None,
    ):
        super().__init__(
            maps_img=maps_img,
            mask_img=mask_img,
            allow_overlap=allow_overlap,
            smoothing_fwhm=smoothing_fwhm,
            standardize=standardize,
            standardize_confounds=standardize_confounds,
            high_variance_confounds=high_variance_confounds,
            detrend=detrend,
            low_pass=low_pass,
            high_pass=high_pass,
            t_r=t_r,
            dtype=dtype,
            resampling_target=resampling_target,
            keep_masked_maps=keep_masked_maps,
            memory=memory,
            memory_level=memory_level,
            verbose=verbose,
            reports=reports,
            cmap=cmap,
            clean_args=clean_args,
        )
        self.min_region_size = min_region_size
        self.threshold = threshold
        self.thresholding_strategy = thresholding_strategy
        self.two_sided = two_sided
        self.extractor = extractor

    def _thresholded_maps(self, maps_img, mask_img):
        if self.thresholding_strategy not in THRESHOLDING_STRATEGIES:
            raise ValueError(
                f"'thresholding_strategy' must be one of {THRESHOLDING_STRATEGIES}; "
                f"got {self.thresholding_strategy!r}."
            )
        if (
            self.threshold is None
            or isinstance(self.threshold, (str, bool))
            or not isinstance(self.threshold, numbers.Number)
        ):
            raise ValueError(
                "The given input to threshold is not valid. Please submit a valid "
                f"number specific to either of the strategy in {list(THRESHOLDING_STRATEGIES)}; "
                f"got {self.threshold!r}."
            )
        if self.thresholding_strategy == "ratio_n_voxels":
            return _threshold_maps_ratio(maps_img, self.threshold)
        # nilearn rewrites self.threshold to "<t>%" here, which breaks a second
        # fit; the percentile string is built locally instead.
        threshold = self.threshold
        if self.thresholding_strategy == "percentile":
            threshold = f"{self.threshold}%"
        return threshold_img(
            maps_img, threshold, two_sided=self.two_sided, mask_img=mask_img, copy=True
        )

    def fit(self, imgs=None, y=None):
        """Threshold the maps, extract the regions and prepare signal extraction.

        Parameters
        ----------
        imgs : 3D/4D image, path, list of them, or None
            Data whose grid the regions are resampled to (``resampling_target="data"``).
        y : None
            Ignored.

        Returns
        -------
        self

        Raises
        ------
        NoRegionFoundError
            When no region survives (a ValueError, and a TypeError as in nilearn).
        """
        del y
        if imgs is not None:
            _check_imgs_argument(imgs)  # before the maps are thresholded, as nilearn
        if self.maps_img is None:
            raise no_atlas_error("maps_img", type(self).__name__)
        maps_img = load_img(self.maps_img, ensure_ndim=4)
        mask_img = None if self.mask_img is None else load_masker_mask(self.mask_img)
        thresholded = self._thresholded_maps(maps_img, mask_img)
        regions_img, index = connected_regions(
            thresholded,
            self.min_region_size,
            self.extractor,
            self.smoothing_fwhm,
            mask_img=mask_img,
        )
        if regions_img is None:
            raise NoRegionFoundError(
                f"No region of {describe_img(self.maps_img)} survived the threshold "
                f"{self.threshold!r} ({self.thresholding_strategy}) and the minimum "
                f"size of {self.min_region_size} mm³; lower either of them."
            )
        self.regions_img_ = regions_img
        self.index_ = index
        user_maps = self.maps_img
        self.maps_img = regions_img
        try:
            super().fit(imgs)
        finally:
            self.maps_img = user_maps
        return self
