"""The maskers' ``verbose`` messages: nilearn's steps, printed as nilearn prints them.

With ``verbose=0`` (or False) the maskers print nothing. From 1 (or True)
they print, to standard output, the steps nilearn 0.14.1's maskers announce,
with nilearn's words, each prefixed by the masker's class and the method the
user called (``[NiftiLabelsMasker.fit] Loading regions from atlas.nii.gz``):

* ``fit``: "Loading data from", "Loading mask from", "Loading regions from",
  "Resampling regions", "Resampling mask" (only when a grid changes),
  "Finished fit";
* ``transform``: "Loading data from", "Resampling images", "Resampling
  regions", "Resampling mask" (only when a grid changes), "Smoothing images"
  (with ``smoothing_fwhm``; the smoothing is part of the extraction),
  "Extracting region signals", "Cleaning extracted signals";
* ``inverse_transform``: "Computing image from signals".

From 2, images are described with their voxel size, and lists by their
first and last image. Unlike nilearn, nothing is printed through ``rich``
(plain ``print``), and images are named by their file, or by class and shape
when in memory, never by ``repr`` (no memory addresses).
"""

from __future__ import annotations

import sys

from ..core.image import describe_img
from .grids import describe_input

__all__ = ["describe_for_log", "log_step", "verbosity"]


def verbosity(masker) -> int:
    """The masker's ``verbose`` as a level: False is 0, True is 1."""
    verbose = getattr(masker, "verbose", 0)
    if verbose is None or verbose is False:
        return 0
    if verbose is True:
        return 1
    return int(verbose)


def _called_method(masker) -> str:
    """The outermost method of ``masker`` on the stack: the one the user called."""
    frame = sys._getframe(2)
    name = None
    while frame is not None:
        if frame.f_locals.get("self") is masker:
            name = frame.f_code.co_name
        frame = frame.f_back
    return f"{type(masker).__name__}.{name or 'fit'}"


def log_step(masker, message: str, *, about=None, level: int = 1) -> None:
    """Print ``[Class.method] message <about>`` when the masker's verbosity reaches ``level``.

    Parameters
    ----------
    masker : object with a ``verbose`` attribute
    message : str
        nilearn's words for the step ("Loading data from", ...).
    about : image, path, list of them or None
        What the step works on, described (:func:`describe_for_log`) only
        when the message is printed.
    level : int, default=1
        Lowest verbosity that prints the message.
    """
    verbose = verbosity(masker)
    if verbose < level:
        return
    text = message if about is None else f"{message} {describe_for_log(about, verbose)}"
    print(f"[{_called_method(masker)}] {text}")


def _detailed(img) -> str:
    text = describe_img(img)
    header = getattr(img, "header", None)
    if header is not None and hasattr(header, "get_zooms"):
        zooms = tuple(round(float(zoom), 3) for zoom in header.get_zooms()[:3])
        text += f" (voxel size {zooms} mm)"
    return text


def describe_for_log(imgs, verbose) -> str:
    """Name the images a step works on: more detail from ``verbose=2``."""
    if verbose is True or not verbose or int(verbose) < 2:
        return describe_input(imgs)
    if isinstance(imgs, (list, tuple)):
        if not imgs:
            return "an empty list"
        if len(imgs) == 1:
            return f"a list of 1 image: {_detailed(imgs[0])}"
        return f"a list of {len(imgs)} images, from {_detailed(imgs[0])} to {_detailed(imgs[-1])}"
    return _detailed(imgs)
