"""Mask images read with nilearn's two rules.

:func:`load_masker_mask` is the maskers' lenient rule (a voxel is in the mask
if it is non-zero in every volume); :func:`load_mask_img` is the strict rule
of ``nilearn.masking.load_mask_img`` (3D, two values one of which is 0).
Both set NaN/inf to 0 with nilearn's warning and refuse an empty mask.
"""

from __future__ import annotations

import warnings

import nibabel as nib
import numpy as np

from .loading import describe_img, get_data, load_img, new_img_like

_EMPTY_MASK_MESSAGE = "The mask is invalid as it is empty: it masks all data."


def _finite_copy_with_warning(data: np.ndarray) -> np.ndarray:
    """Data with non-finite values set to 0 (copy only when needed), warning as nilearn."""
    if data.dtype.kind == "f" or data.dtype.kind == "c":
        non_finite = ~np.isfinite(data)
        if non_finite.any():
            warnings.warn(
                "Non-finite values detected. These values will be replaced with zeros.",
                UserWarning,
                stacklevel=3,
            )
            data = np.array(data, copy=True)
            data[non_finite] = 0
    return data


def load_masker_mask(mask_img) -> nib.Nifti1Image:
    """Load a mask as nilearn's maskers do (lenient rule).

    The mask is read as 4D (a 3D mask is one volume); NaN/inf become 0 (with a
    warning); a voxel is in the mask iff it is non-zero in **every** volume,
    so any non-zero value counts (e.g. {0, 1, 3} or {0, 2.5}).

    Parameters
    ----------
    mask_img : nibabel image or path

    Returns
    -------
    nibabel.Nifti1Image
        3D uint8 image (1 inside) on the mask's grid, header copied.

    Raises
    ------
    ValueError
        ``"The mask is invalid as it is empty: it masks all data."`` (followed
        by the mask's name) when no voxel is in the mask.
    """
    img = load_img(mask_img, ensure_ndim=4)
    data = _finite_copy_with_warning(get_data(img))
    inside = data.astype(bool).all(axis=3)
    if not inside.any():
        raise ValueError(f"{_EMPTY_MASK_MESSAGE} Mask: {describe_img(mask_img)}.")
    return new_img_like(img, inside, img.affine, copy_header=True)


def load_mask_img(mask_img, *, allow_empty: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Load a mask with nilearn's strict rule (``nilearn.masking.load_mask_img``).

    The mask must be 3D (a 4D image with one volume is squeezed), NaN/inf are
    set to 0 (with a warning), and its values must be a single non-zero value
    or two values one of which is 0.

    Parameters
    ----------
    mask_img : nibabel image or path
    allow_empty : bool, default=False
        Accept a mask of zeros.

    Returns
    -------
    mask : numpy.ndarray of bool, 3D
    affine : numpy.ndarray, shape (4, 4)

    Raises
    ------
    ValueError
        Empty mask; background not 0; more than two values; not 3D.
    """
    img = load_img(mask_img, ensure_ndim=3)
    data = _finite_copy_with_warning(get_data(img))
    check_mask_values(data, describe_img(mask_img), allow_empty=allow_empty)
    return np.asarray(data, dtype=bool), img.affine


def check_mask_values(data: np.ndarray, name: str, *, allow_empty: bool = False) -> None:
    """Check nilearn's strict mask rule on finite values (``nilearn.masking.load_mask_img``).

    The values must be a single non-zero value, or two values one of which is 0.

    Parameters
    ----------
    data : numpy.ndarray
        Mask values (any shape), already finite.
    name : str
        How the mask is named in the messages.
    allow_empty : bool, default=False
        Accept a mask of zeros.

    Raises
    ------
    ValueError
        Empty mask; background not 0; more than two values.
    """
    values = np.unique(data)
    if len(values) == 1:
        if values[0] == 0 and not allow_empty:
            raise ValueError(f"{_EMPTY_MASK_MESSAGE} Mask: {name}.")
    elif len(values) == 2:
        if 0 not in values:
            raise ValueError(
                "Background of the mask must be represented with 0. "
                f"Given mask contains: {values}. Mask: {name}."
            )
    else:
        raise ValueError(
            f"Given mask is not made of 2 values: {values}. "
            f"Cannot interpret as true or false. Mask: {name}."
        )
