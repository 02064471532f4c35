"""``NiftiSpheresMasker``: mean signals in spheres around seed coordinates.

nilearn's masker: the seeds (mm) are validated at ``fit``; each transform
selects the voxels of every sphere on the data grid (nilearn's rule, inside
the mask if one is given) and averages them in one pass over the image.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np

from ..core.extract import SpheresOperator
from ..core.extract.spheres import _validate_seeds
from ..core.image import load_img, load_mask_img, resample_img
from ..core.reader import BoldReader
from .base import BaseMasker, Extraction, check_inverse_input, inverse_image
from .docs import fill_doc
from .grids import grid_of
from .report import ReportMixin, displayed_indices, report_figure
from .verbose import log_step

__all__ = ["NiftiSpheresMasker"]


@fill_doc
class NiftiSpheresMasker(ReportMixin, BaseMasker):
    """Mean signals in spheres around seeds (nilearn's ``NiftiSpheresMasker``).

    After a transform, ``coverage_`` holds, per sphere, the fraction of its
    voxels inside the image and mask with finite, non-constant signal
    (beyond nilearn).

    Parameters
    ----------
    seeds : list of (x, y, z) or None, default=None
        Seed coordinates in world space (mm). Required at ``fit``.
    radius : float or None, default=None
        Sphere radius (mm); None: the voxel nearest to each seed.
    mask_img : 3D image, path or None, default=None
        Voxels outside the mask are not used; also the grid of
        ``inverse_transform``.
    allow_overlap : bool, default=False
        If False, overlapping spheres raise an error naming the pairs.
    %(smoothing_fwhm)s
    %(cleaning)s
    %(memory_verbose_level1)s
    %(reports)s
    %(clean_args)s

    Attributes
    ----------
    %(clean_args_)s
    %(mask_img_)s
    n_elements_ : int
        Number of spheres (output columns).
    seeds_ : list of list of float
        The seeds' coordinates (mm), as validated at ``fit``.
    """

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
        # the grid of the data seen at fit (the header only): inverse_transform's
        # reference when there is no mask_img
        self._data_grid = None if imgs is None else grid_of(BoldReader(imgs))
        self._finish_fit()
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
        shape, affine = grid_of(reader)
        mask = self._strict_mask(shape, affine)
        operator = self._operator(shape, affine)
        result = self._extract_with(reader, operator, mask)
        if data_dtype.kind == "f":
            output_dtype = data_dtype
        else:
            output_dtype = np.float64 if data_dtype.itemsize == 8 else np.float32
        return Extraction(result.signals.astype(output_dtype), ndim, result.coverage, data_dtype)

    def inverse_transform(self, region_signals):
        """Image whose sphere voxels hold their sphere's signal.

        The image is on the grid of ``mask_img`` (voxels outside it are 0),
        as in nilearn; without ``mask_img``, on the grid of the data given to
        ``fit`` (nilearn raises). Voxels in several spheres hold the average
        of those spheres' signals when ``allow_overlap=True``.

        Parameters
        ----------
        region_signals : numpy.ndarray or data frame, (n_spheres,) or (T, n_spheres)

        Returns
        -------
        nibabel.Nifti1Image
            3D for 1-D signals, else 4D.

        Raises
        ------
        ValueError
            Without ``mask_img`` when ``fit`` saw no data (no reference grid),
            or when spheres overlap and ``allow_overlap=False``.
        """
        self._check_fitted()
        log_step(self, "Computing image from signals")
        region_signals = check_inverse_input(region_signals, self.n_elements_, self.dtype)
        if self.mask_img is not None:
            mask, affine = load_mask_img(self.mask_img)
            ref_img = load_img(self.mask_img, ensure_ndim=3)
        elif getattr(self, "_data_grid", None) is not None:
            shape, affine = self._data_grid
            mask = np.ones(shape, dtype=bool)
            ref_img = nib.Nifti1Image(np.zeros((1, 1, 1), dtype=np.uint8), affine)
        else:
            raise ValueError(
                "Please provide mask_img at initialization to provide a reference for "
                "the inverse_transform (or give the data to fit: their grid is the reference)."
            )
        # refuses empty and (allow_overlap=False) overlapping spheres, as nilearn
        membership, _ = self._operator(mask.shape, affine).membership(mask)
        # voxel values: the mean of the signals of the spheres holding the voxel
        n_spheres_per_voxel = np.asarray(membership.sum(axis=0)).ravel()
        signals_2d = np.atleast_2d(region_signals).astype(np.float64)
        total = membership.T @ signals_2d.T
        total /= np.maximum(n_spheres_per_voxel, 1)[:, None]
        if region_signals.ndim == 1:
            data = total[:, 0].reshape(mask.shape, order="F")
        else:
            data = total.reshape(mask.shape + (signals_2d.shape[0],), order="F")
        return inverse_image(ref_img, data, region_signals, self.dtype, affine)

    def _fitted_report(self, draw, displayed_spheres=10, **kwargs):
        """The seed table (coordinates and radius, mm) and the displayed spheres drawn on projections."""
        del kwargs
        shown, messages = displayed_indices(displayed_spheres, len(self.seeds_), "sphere")
        rows = [
            [i, f"({x:g}, {y:g}, {z:g})", self.radius]
            for i, (x, y, z) in enumerate(self.seeds_)
        ]
        figure = None
        if draw and shown:
            figure = report_figure("plot_spheres", np.asarray(self.seeds_, dtype=float)[shown], self.radius)
        description = f"Mean signals in {len(rows)} spheres of radius {self.radius} mm" + (
            f"; the figure shows spheres {shown}." if len(shown) < len(rows) else "."
        )
        return description, ["seed", "coordinates (mm)", "radius (mm)"], rows, figure, messages
