"""Image operations with nilearn's names: ``from regionseries.image import threshold_img``.

Public façade over :mod:`regionseries.core.image` and
:mod:`regionseries.core.regions`; the numbers are those of nilearn 0.14.1.
"""

from __future__ import annotations

from .core.image import (
    check_same_fov,
    get_data,
    load_img,
    new_img_like,
    resample_img,
    resample_to_img,
    smooth_array,
)
from .core.regions import threshold_img

__all__ = [
    "check_same_fov",
    "get_data",
    "load_img",
    "new_img_like",
    "resample_img",
    "resample_to_img",
    "smooth_img",
    "threshold_img",
]


def smooth_img(imgs, fwhm):
    """Smooth images with a Gaussian kernel along the three spatial axes.

    Parameters
    ----------
    imgs : nibabel image, path, or list/tuple of them
        3D or 4D images; the 4th axis is never smoothed.
    fwhm : float, sequence of 3 floats, "fast" or None
        Full width at half maximum (mm); see
        :func:`regionseries.core.image.smooth_array`.

    Returns
    -------
    nibabel.Nifti1Image or list of nibabel.Nifti1Image
        One smoothed image per input (a list for a list input); non-finite
        values are replaced by 0; integer data become float32.
    """
    single = not isinstance(imgs, (list, tuple))
    smoothed = []
    for img in [imgs] if single else imgs:
        loaded = load_img(img)
        data = smooth_array(get_data(loaded), loaded.affine, fwhm, ensure_finite=True, copy=True)
        smoothed.append(new_img_like(loaded, data, loaded.affine, copy_header=True))
    return smoothed[0] if single else smoothed
