"""Images in and out: loading (and concatenating), reading voxel data, new images like a reference.

:func:`load_img` reads no voxel data for a path unless the dimensionality has
to change; :func:`get_data` returns the data as nilearn reads them
(``np.asanyarray(img.dataobj)``); :func:`new_img_like` builds an image of the
class of a reference, with nilearn's header and dtype rules;
:func:`describe_img` names an image in error messages.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np


def describe_img(img) -> str:
    """Name an image for error messages.

    Parameters
    ----------
    img : str, os.PathLike or nibabel image
        The image (or its path).

    Returns
    -------
    str
        The file name when there is one, otherwise a short description of the
        in-memory image (class and shape).
    """
    if isinstance(img, (str, os.PathLike)):
        return os.fspath(img)
    get_filename = getattr(img, "get_filename", None)
    filename = get_filename() if callable(get_filename) else None
    if filename:
        return str(filename)
    shape = getattr(img, "shape", None)
    if shape is not None:
        return f"in-memory {type(img).__name__} of shape {tuple(shape)}"
    return f"object of type {type(img).__name__}"


def _load_one(img) -> nib.spatialimages.SpatialImage:
    if isinstance(img, (str, os.PathLike)):
        path = Path(img)
        if not path.exists():
            raise FileNotFoundError(f"Image file not found: {path}")
        try:
            return nib.load(path)
        except Exception as exc:  # nibabel raises several types
            raise ValueError(f"Cannot read image file {path}: {exc}") from exc
    if isinstance(img, nib.spatialimages.SpatialImage):
        return img
    raise TypeError(
        "Expected a NIfTI image (nibabel SpatialImage) or a path to one, "
        f"got {describe_img(img)}."
    )


def _concatenate(imgs: Sequence) -> nib.Nifti1Image:
    """Concatenate 3D or 4D images along time (the first one sets the grid)."""
    if len(imgs) == 0:
        raise ValueError("Cannot load an empty list of images.")
    loaded = [_load_one(one) for one in imgs]
    first = loaded[0]
    for one in loaded[1:]:
        if one.shape[:3] != first.shape[:3] or not np.allclose(one.affine, first.affine):
            raise ValueError(
                f"Cannot concatenate {describe_img(one)} with {describe_img(first)}: "
                "they are not on the same grid (shape "
                f"{one.shape[:3]} vs {first.shape[:3]} or different affines)."
            )
        if len(one.shape) not in (3, 4):
            raise ValueError(
                f"Cannot concatenate {describe_img(one)}: it is a "
                f"{len(one.shape)}D image, expected 3D or 4D."
            )
    arrays = [get_data(one) for one in loaded]
    arrays = [arr[..., np.newaxis] if arr.ndim == 3 else arr for arr in arrays]
    data = np.concatenate(arrays, axis=3)
    return new_img_like(first, np.asfortranarray(data), first.affine, copy_header=True)


def load_img(img, *, ensure_ndim: int | None = None) -> nib.spatialimages.SpatialImage:
    """Load an image from a path, an image object or a list of them.

    No voxel data are read for a path unless the dimensionality has to change.

    Parameters
    ----------
    img : str, os.PathLike, nibabel image, or list/tuple of those
        The image. A list is concatenated along the 4th (time) axis.
    ensure_ndim : {None, 3, 4}, optional
        ``3``: a 4D image with a single volume is squeezed to 3D.
        ``4``: a 3D image is promoted to 4D with one volume.
        Any other mismatch raises ``ValueError``.

    Returns
    -------
    nibabel.spatialimages.SpatialImage
        The loaded image (the input object itself when nothing changes).

    Raises
    ------
    TypeError
        If ``img`` is not an image, a path or a list of them.
    FileNotFoundError
        If a path does not exist.
    ValueError
        If the dimensionality does not match ``ensure_ndim``.
    """
    if ensure_ndim not in (None, 3, 4):
        raise ValueError(f"ensure_ndim must be None, 3 or 4, got {ensure_ndim!r}.")
    if isinstance(img, (list, tuple)):
        loaded = _concatenate(img)
    else:
        loaded = _load_one(img)
    ndim = len(loaded.shape)
    if ensure_ndim == 3 and ndim == 4 and loaded.shape[3] == 1:
        volume = np.asanyarray(loaded.dataobj[..., 0])
        loaded = new_img_like(loaded, volume, loaded.affine, copy_header=True)
    elif ensure_ndim == 4 and ndim == 3:
        dataobj = loaded.dataobj
        reshaped = dataobj.reshape(loaded.shape + (1,))
        loaded = _img_from_dataobj(loaded, reshaped)
    ndim = len(loaded.shape)
    if ensure_ndim is not None and ndim != ensure_ndim:
        raise ValueError(
            f"Image {describe_img(img)} has incompatible dimensionality: "
            f"expected a {ensure_ndim}D image, got a {ndim}D image of shape "
            f"{tuple(loaded.shape)}."
        )
    return loaded


def _img_from_dataobj(ref, dataobj) -> nib.spatialimages.SpatialImage:
    """New image of the class of ``ref`` around ``dataobj`` (array or proxy), header kept."""
    header = ref.header.copy() if ref.header is not None else None
    return _image_class(ref)(dataobj, ref.affine, header=header)


def _image_class(ref) -> type:
    """Class for a new image like ``ref`` (a bare NIfTI pair becomes a Nifti1Image)."""
    if isinstance(ref, nib.Nifti1Pair) and not isinstance(ref, nib.Nifti1Image):
        return nib.Nifti1Image
    return type(ref)


def get_data(img) -> np.ndarray:
    """Voxel data as nilearn reads them (``np.asanyarray(img.dataobj)``).

    An unscaled integer file keeps its on-disk dtype (int16 stays int16); a
    scaled integer file (slope/intercept not (1, 0)) comes back as float64; an
    uncompressed ``.nii`` comes back as a read-only memory map. The data are not
    cached on the image, so hold on to the returned array to reuse it.

    Parameters
    ----------
    img : nibabel image or path

    Returns
    -------
    numpy.ndarray
    """
    img = _load_one(img)
    dataobj = img.dataobj
    if isinstance(dataobj, np.ndarray):
        return dataobj
    return np.asanyarray(dataobj)


def _downcast_int64(data: np.ndarray) -> np.ndarray:
    if data.dtype not in (np.int64, np.uint64):
        return data
    info = np.iinfo(np.int32)
    if data.size == 0 or (info.min <= data.min() and data.max() <= info.max):
        warnings.warn(
            "Data array used to create a new image contains 64-bit ints; "
            "they fit in 32-bit ints, so for compatibility with other tools "
            "the data has been converted to int32.",
            UserWarning,
            stacklevel=3,
        )
        return data.astype(np.int32)
    warnings.warn(
        "Data array used to create a new image contains 64-bit ints too large "
        "for 32-bit ints; the image keeps 64-bit ints, which some tools "
        "cannot read.",
        UserWarning,
        stacklevel=3,
    )
    return data


def new_img_like(ref, data, affine=None, copy_header: bool = False) -> nib.spatialimages.SpatialImage:
    """Create an image of the class of ``ref`` holding ``data``.

    Parameters
    ----------
    ref : nibabel image, path, or list of them (the first is used)
        Reference image: gives the class, the affine (unless ``affine`` is
        given) and optionally the header.
    data : numpy.ndarray
        Voxel data. Booleans are stored as uint8; int64 values that fit in
        int32 are stored as int32 (with a warning).
    affine : array-like, shape (4, 4), optional
        Voxel-to-world affine (mm). Defaults to ``ref``'s affine.
    copy_header : bool, default=False
        Copy ``ref``'s header. The copy has its scaling reset, ``glmax = 0``,
        ``cal_min``/``cal_max`` set to the data range, and its data dtype set
        to ``data``'s dtype (so a saved file keeps the values).

    Returns
    -------
    nibabel.spatialimages.SpatialImage
    """
    if isinstance(ref, (list, tuple)):
        if not ref:
            raise TypeError("The reference image list is empty.")
        ref = ref[0]
    ref = _load_one(ref)
    data = np.asanyarray(data)
    if affine is None:
        affine = ref.affine
    if data.dtype == bool:
        data = data.astype(np.uint8)
    data = _downcast_int64(data)
    header = None
    if copy_header and ref.header is not None:
        header = ref.header.copy()
        for key in ("scl_slope", "scl_inter", "glmax"):
            if key in header:
                header[key] = 0.0
        for key, reducer in (("cal_max", np.max), ("cal_min", np.min)):
            if key in header:
                header[key] = reducer(data) if data.size > 0 else 0.0
        try:
            header.set_data_dtype(data.dtype)
        except Exception:  # dtype the format cannot store: nibabel decides on save
            pass
    klass = _image_class(ref)
    if data.dtype in (np.int64, np.uint64) and issubclass(klass, nib.Nifti1Pair):
        # nibabel refuses 64-bit ints unless the dtype is explicit.
        return klass(data, affine, header=header, dtype=data.dtype)
    return klass(data, affine, header=header)
