"""``NiftiSpheresMasker``: mean signals in spheres around seed coordinates.

nilearn's masker: the seeds (mm) are validated at ``fit``; each transform
selects the voxels of every sphere on the data grid (nilearn's rule, inside
the mask if one is given) and averages them in one pass over the image.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..core.extract import SpheresOperator
from ..core.extract.spheres import _validate_seeds
from ..core.image import load_img, load_mask_img, new_img_like, resample_img
from .base import BaseMasker, check_inverse_input
from .grids import grid_of
from .report import (
    displayed_indices,
    render_report,
    report_figure,
    report_warnings,
    unfitted_report,
)
from .verbose import log_step

__all__ = ["NiftiSpheresMasker"]


class NiftiSpheresMasker(BaseMasker):
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
    smoothing_fwhm : float or None, default=None
        Full width at half maximum (mm) of the Gaussian smoothing of each
        volume before extraction; None: no smoothing.
    standardize : {"zscore_sample", "zscore", "psc", True, False, None}, default=False
        Standardization of the region signals (see
        :func:`regionseries.signal.clean`); False or None: none.
    standardize_confounds : bool, default=True
        Z-score the confounds before regressing them out.
    high_variance_confounds : bool, default=False
        Add 5 high-variance confounds computed on the whole image (nilearn's
        ``high_variance_confounds``) to the confounds.
    detrend : bool, default=False
        Remove the linear trend of each region signal.
    low_pass : float or None, default=None
        Low-pass cut-off frequency (Hz); None: no low-pass filter.
    high_pass : float or None, default=None
        High-pass cut-off frequency (Hz); None: no high-pass filter.
    t_r : float or None, default=None
        Repetition time (s), needed by the filters.
    dtype : numpy dtype, "auto" or None, default=None
        Data type the data are converted to before extraction, and of the
        output; "auto": int32 for integer data, float32 otherwise; None:
        unchanged.
    memory : None, str, pathlib.Path or joblib.Memory, default=None
        Accepted for compatibility with nilearn; nothing is cached
        (extraction reads the image once).
    memory_level : int, default=1
        Accepted for compatibility with nilearn (see ``memory``).
    verbose : bool or int, default=0
        0 or False: silent; 1 or True: print each step (loading, resampling,
        extracting, cleaning) with nilearn's words; 2: also describe the
        images in more detail (:mod:`regionseries.maskers.verbose`).
    reports : bool, default=True
        Whether ``generate_report`` may draw the report's figure; False
        gives a report without it, and a warning.
    clean_args : dict or None, default=None
        Extra keyword arguments of :func:`regionseries.signal.clean`.

    Attributes
    ----------
    clean_args_ : dict
        The keyword arguments ``clean`` receives (``clean_args`` or {}).
    mask_img_ : nibabel.Nifti1Image or None
        The binary mask (uint8) on the extraction grid, or None without
        ``mask_img``.
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
        log_step(self, "Computing image from signals")
        region_signals = check_inverse_input(region_signals, self.n_elements_)
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

    def generate_report(self, engine="matplotlib", title=None, displayed_spheres=10, **kwargs):
        """Return the HTML report: parameters, the seed table and the displayed spheres drawn on projections.

        nilearn's warnings (``reports=False``, not fitted, reports disabled at
        ``fit``, spheres asked for that do not exist) are issued as ``UserWarning`` and listed in the
        page; the figure is drawn only for a fitted masker whose ``reports``
        was and is True. Before ``fit`` the page has the parameters only.

        Parameters
        ----------
        engine : str, default="matplotlib"
            nilearn's figure engine; only "matplotlib" draws here (another
            value warns).
        title : str or None, default=None
            Title of the page; None: "<class name> report".
        displayed_spheres : int, "all", list of int or numpy.ndarray of int, default=10
            Spheres drawn in the figure: the first ``displayed_spheres``, all,
            or these indices (nilearn's argument; the table lists every seed).
        **kwargs
            Accepted for compatibility with nilearn; unused.

        Returns
        -------
        MaskerReport
        """
        del kwargs
        messages, draw = report_warnings(self, engine)
        if not self.__sklearn_is_fitted__():
            return unfitted_report(self, messages, title)
        shown, displayed_messages = displayed_indices(displayed_spheres, len(self.seeds_), "sphere")
        for message in displayed_messages:
            warnings.warn(message, UserWarning, stacklevel=2)
        rows = [
            [i, f"({x:g}, {y:g}, {z:g})", self.radius]
            for i, (x, y, z) in enumerate(self.seeds_)
        ]
        figure = None
        if draw and shown:
            seeds = np.asarray(self.seeds_, dtype=float)[shown]
            figure = report_figure("plot_spheres", seeds, self.radius)
        return render_report(
            self,
            f"Mean signals in {len(rows)} spheres of radius {self.radius} mm"
            + (f"; the figure shows spheres {shown}." if len(shown) < len(rows) else "."),
            ["seed", "coordinates (mm)", "radius (mm)"],
            rows,
            messages + displayed_messages,
            figure=figure,
            title=title,
        )
