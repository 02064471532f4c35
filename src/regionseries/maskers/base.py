"""What the three maskers share: nilearn's estimator protocol, fit and transform plumbing.

:class:`BaseMasker` holds the parameter handling (``get_params``,
``set_params``, ``repr``), the checks common to every ``fit``, and
``transform``: extract with the subclass's ``_extract`` (one pass over the
image, :func:`regionseries.core.extract.extract_signals`), then clean the
region signals with :func:`regionseries.signal.clean` and cast them to the
output dtype nilearn would give. Subclasses (:mod:`.labels`, :mod:`.spheres`,
:mod:`.maps`) implement ``fit`` (starting with ``_common_fit``) and ``_extract``.

The scikit-learn estimator protocol is nilearn 0.14.1's without inheriting
from scikit-learn: ``__sklearn_tags__`` (nilearn's tags, ``niimg_like`` and
``surf_img`` included), ``__sklearn_is_fitted__``, ``set_output`` (pandas,
polars), ``get_feature_names_out`` and ``NotFittedError``, which *is*
``sklearn.exceptions.NotFittedError``. scikit-learn is imported only when one
of these is used: importing it at start-up would cost more (about 0.6 s) than
importing the maskers themselves (docs/differences-from-nilearn.md).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
import sys
import warnings
from typing import NamedTuple

import nibabel as nib
import numpy as np
import pandas as pd

from ..core.extract import extract_signals
from ..core.image import load_img, load_masker_mask, new_img_like
from ..core.reader import BoldReader
from ..signal import clean
from .grids import describe_input
from .high_variance import high_variance_confounds_streaming
from .verbose import log_step

__all__ = [
    "BaseMasker",
    "Extraction",
    "NoAtlasError",
    "check_inverse_input",
    "inverse_image",
    "no_atlas_error",
    "not_fitted_error_class",
    "output_dtype",
    "short_repr",
]


class NoAtlasError(TypeError, ValueError):
    """``fit`` without the atlas (``labels_img``, ``maps_img``), which has no default.

    A TypeError, as nilearn raises for a missing image; also a ValueError,
    which regionseries raised before, so that code catching either keeps working.
    """


def no_atlas_error(name: str, owner: str) -> NoAtlasError:
    """The error for a missing atlas ``name`` of ``owner``, with nilearn's text."""
    return NoAtlasError(
        f"Please provide {name} to the {owner}: it has no default "
        "(input should be a NiftiLike object or an iterable of NiftiLike object. Got: NoneType)."
    )


class _NotFittedErrorWithoutSklearn(ValueError, AttributeError):
    """Raised when a masker is used before ``fit`` and scikit-learn is not installed."""


def not_fitted_error_class() -> type[Exception]:
    """The exception raised by a masker used before ``fit``.

    ``sklearn.exceptions.NotFittedError`` (a ValueError and an
    AttributeError), as in nilearn, so that ``except NotFittedError`` in
    scikit-learn code catches ours; a class with the same bases when
    scikit-learn is not installed.
    """
    try:
        # imported here, not at the top: scikit-learn costs ~0.6 s to import
        from sklearn.exceptions import NotFittedError as sklearn_not_fitted_error
    except ImportError:
        return _NotFittedErrorWithoutSklearn
    return sklearn_not_fitted_error


@functools.cache
def _nilearn_input_tags_class():
    """nilearn's ``InputTags``: scikit-learn's plus ``niimg_like`` and ``surf_img``."""
    from sklearn.utils import InputTags

    @dataclasses.dataclass
    class NilearnInputTags(InputTags):
        # estimator accepts a path to a .nii[.gz] file or a nibabel image
        niimg_like: bool = True
        # estimator accepts nilearn's SurfaceImage
        surf_img: bool = False

    NilearnInputTags.__name__ = NilearnInputTags.__qualname__ = "InputTags"
    return NilearnInputTags


_SUPPORTED_OUTPUTS = ("default", "pandas", "polars")

#: the nilearn release whose API the maskers reproduce (its documentation is theirs)
NILEARN_API_VERSION = "0.14.1"


class BaseMasker:
    """Parameters handling, fit/transform plumbing and cleaning shared by the maskers.

    Subclasses implement ``fit(imgs)`` and ``_extract(imgs)``; the latter
    returns an :class:`Extraction` whose ``signals`` is the T x K array in
    the dtype nilearn's extraction would give. ``transform`` changes no
    attribute (nilearn's ``check_img_estimator_dict_unchanged``): what one
    call finds (coverage, the ``"auto"`` dtype) stays in its ``Extraction``.
    """

    # -- estimator protocol -------------------------------------------------

    # scikit-learn < 1.6 reads the estimator type here; nilearn sets it too
    _estimator_type = "masker"

    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [
            name
            for name, parameter in signature.parameters.items()
            if name != "self" and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
        ]

    def _store_parameters(self, values: dict) -> None:
        """Set each constructor parameter as the attribute of its name (``__init__``'s ``locals()``)."""
        for name in self._param_names():
            setattr(self, name, values[name])

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
                shown.append(f"{name}={short_repr(value)}")
        return f"{type(self).__name__}({', '.join(shown)})"

    def __sklearn_is_fitted__(self) -> bool:
        """Whether ``fit`` has run (read by ``sklearn.utils.validation.check_is_fitted``)."""
        return hasattr(self, "clean_args_")

    def __sklearn_tags__(self):
        """scikit-learn estimator tags, equal to nilearn 0.14.1's for its maskers.

        A transformer of estimator type ``"masker"`` whose input tags add
        nilearn's ``niimg_like=True`` and ``surf_img=False``. Imports
        scikit-learn (>= 1.6), the caller of this method.

        Returns
        -------
        sklearn.utils.Tags
        """
        from sklearn.utils import Tags, TargetTags, TransformerTags

        return Tags(
            estimator_type="masker",
            target_tags=TargetTags(required=False),
            transformer_tags=TransformerTags(),
            input_tags=_nilearn_input_tags_class()(),
        )

    def _more_tags(self):
        """The tags, by the name scikit-learn < 1.6 used (nilearn keeps both)."""
        return self.__sklearn_tags__()

    def _get_doc_link(self) -> str:
        """URL of the nilearn API page of this class, which documents its parameters.

        scikit-learn's HTML representation of an estimator links there;
        nilearn's estimator checks read it.
        """
        public_module = type(self).__module__.split(".")[1]
        return (
            f"https://nilearn.github.io/{NILEARN_API_VERSION}/modules/generated/"
            f"nilearn.{public_module}.{type(self).__name__}.html"
        )

    def set_output(self, *, transform=None):
        """Choose the container ``transform`` and ``fit_transform`` return, as scikit-learn's.

        Parameters
        ----------
        transform : {"default", "pandas", "polars"} or None, default=None
            ``"default"``: numpy arrays; ``"pandas"`` / ``"polars"``: a data
            frame with one column per region, named by
            ``get_feature_names_out()``; None leaves the configuration
            unchanged. Once set (even to ``"default"``), a 3D image gives a
            (1, n_regions) result instead of (n_regions,), as in nilearn.
            The value is checked at ``transform`` time, as in scikit-learn.

        Returns
        -------
        self
        """
        if transform is None:
            return self
        if not hasattr(self, "_sklearn_output_config"):
            self._sklearn_output_config = {}
        self._sklearn_output_config["transform"] = transform
        return self

    def get_feature_names_out(self, input_features=None):
        """Names of the output columns: ``<class name in lower case><index>``, as nilearn.

        Parameters
        ----------
        input_features : None
            Ignored (scikit-learn compatibility).

        Returns
        -------
        numpy.ndarray of str (object dtype), (n_regions,)
        """
        del input_features
        self._check_fitted()
        prefix = type(self).__name__.lower()
        return np.asarray([f"{prefix}{index}" for index in range(self.n_elements_)], dtype=object)

    def _output_container(self) -> str:
        """The configured output: the masker's ``set_output``, else scikit-learn's global one."""
        config = getattr(self, "_sklearn_output_config", {})
        if "transform" in config:
            output = config["transform"]
        elif "sklearn" in sys.modules:
            # a global sklearn.set_config(transform_output=...) can only have
            # been made once scikit-learn is imported
            from sklearn import get_config

            output = get_config()["transform_output"]
        else:
            output = "default"
        if output not in _SUPPORTED_OUTPUTS:
            raise ValueError(f"output config must be in {sorted(_SUPPORTED_OUTPUTS)}, got {output}")
        return output

    def _wrap_output(self, signals):
        """``signals`` in the container chosen by ``set_output`` (scikit-learn's adapters)."""
        output = self._output_container()
        if output == "default":
            return signals
        columns = self.get_feature_names_out()
        if output == "pandas":
            frame = pd.DataFrame(signals)
            frame.columns = columns
            return frame
        try:
            import polars
        except ImportError as error:
            raise ImportError("Setting output container to 'polars' requires polars to be installed") from error
        columns = columns.tolist() if isinstance(columns, np.ndarray) else columns
        return polars.DataFrame(signals, schema=columns, orient="row")

    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise not_fitted_error_class()(
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
        numpy.ndarray or data frame
            Region signals, (T, n_regions); (n_regions,) for a 3D image. A
            data frame after ``set_output(transform="pandas"|"polars")``.
        """
        del y
        self.fit(imgs, **fit_params)
        signals, extraction = self._transform(imgs, confounds=confounds, sample_mask=sample_mask)
        signals = self._wrap_output(signals)
        # part of fitting: the coverage of the data fitted on (transform sets nothing)
        self.coverage_ = extraction.coverage
        return signals

    # -- common fit ------------------------------------------------------------

    def _check_dtype_parameter(self) -> None:
        if self.dtype is bool or (isinstance(self.dtype, np.dtype) and self.dtype == bool):
            raise TypeError("'dtype' cannot be bool: dtype=bool is not a valid output dtype for a masker.")

    def _check_imgs(self, imgs) -> None:
        """Refuse data the masker cannot read (TypeError); the surface maskers override it."""
        _check_imgs_argument(imgs)

    def _image_high_variance_confounds(self, imgs) -> np.ndarray:
        """nilearn's ``high_variance_confounds`` of the data, (T, 5); the surface maskers override it."""
        return high_variance_confounds_streaming(imgs)

    def _common_fit(self, imgs) -> None:
        self._check_dtype_parameter()
        if imgs is not None:
            _check_imgs_argument(imgs)
            log_step(self, "Loading data from", about=imgs)
        self.__dict__.pop("coverage_", None)  # set by fit_transform, of the data fitted on
        self.clean_args_ = dict(self.clean_args or {})
        self.mask_img_ = None
        if self.mask_img is not None:
            log_step(self, "Loading mask from", about=self.mask_img)
            self.mask_img_ = load_masker_mask(self.mask_img)

    def _finish_fit(self) -> None:
        """End ``fit``: fitted images hold their data as nilearn's do; say "Finished fit".

        Also records ``reports`` at fit time: ``generate_report`` draws no
        figure when it was False then (nilearn's rule).
        """
        self._reports_at_fit_time = bool(self.reports)
        for name in ("mask_img_", "labels_img_", "maps_img_", "regions_img_"):
            img = getattr(self, name, None)
            if img is not None:
                _fill_data_cache(img)
        log_step(self, "Finished fit")

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
        numpy.ndarray or data frame
            (T, n_regions), or (n_regions,) for a 3D image. After
            ``set_output`` (any value), a 3D image gives (1, n_regions), and
            ``"pandas"`` / ``"polars"`` give a data frame whose columns are
            ``get_feature_names_out()``, as in nilearn.
        """
        signals, _ = self._transform(imgs, confounds=confounds, sample_mask=sample_mask)
        return self._wrap_output(signals)

    def transform_single_imgs(self, imgs, confounds=None, sample_mask=None):
        """Extract and clean the region signals of one image, as nilearn's method.

        ``transform`` without its extras: no high-variance confounds are
        added (``transform`` adds them when ``high_variance_confounds`` is
        set) and the result is always a numpy array, whatever ``set_output``
        says.

        Parameters
        ----------
        imgs : 3D/4D image, path, or list of them
            The data.
        confounds : array, DataFrame, path, list of them, or None
            Confounds regressed out of the region signals, used as given.
        sample_mask : array of int or bool, or None
            Volumes to keep (scrubbing).

        Returns
        -------
        numpy.ndarray
            (T, n_regions), or (n_regions,) for a 3D image ((1, n_regions)
            once ``set_output`` was called, as ``transform``).
        """
        signals, _ = self._transform(imgs, confounds, sample_mask, add_high_variance_confounds=False)
        return signals

    def _transform(self, imgs, confounds=None, sample_mask=None, add_high_variance_confounds=True):
        """The cleaned signals in the output dtype (before ``set_output``) and their :class:`Extraction`.

        ``transform`` and ``transform_single_imgs`` call it at the same depth, so
        the warnings of ``_extract`` point at the user's call with one ``stacklevel``.
        """
        self._check_fitted()
        self._check_imgs(imgs)
        all_confounds = confounds
        if add_high_variance_confounds and self.high_variance_confounds:
            hv_confounds = self._image_high_variance_confounds(imgs)
            all_confounds = [hv_confounds]
            if confounds is not None:
                if isinstance(confounds, list):
                    all_confounds += confounds
                else:
                    all_confounds.append(confounds)
        log_step(self, "Loading data from", about=imgs)
        extraction = self._extract(imgs)
        log_step(self, "Cleaning extracted signals")
        signals = clean(
            extraction.signals,
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
        # nilearn keeps a 3D image's row once set_output has been called
        if extraction.ndim == 3 and getattr(self, "_sklearn_output_config", None) is None:
            signals = signals.squeeze()
        return self._cast_output(signals, extraction.data_dtype), extraction

    def _inputs_text(self) -> str:
        """The atlas and mask the masker was given, named for error messages."""
        atlas_name = "labels_img" if hasattr(self, "labels_img") else "maps_img"
        parts = [f"{atlas_name}: {describe_input(getattr(self, atlas_name, None))}"]
        if self.mask_img is not None:
            parts.append(f"mask_img: {describe_input(self.mask_img)}")
        return "; ".join(parts)

    def _cast_output(self, signals, data_dtype):
        if self.dtype is None:
            return signals
        if isinstance(self.dtype, str) and self.dtype == "auto":
            return signals.astype(data_dtype)  # the "auto" dtype of the data (_data_dtype)
        return signals.astype(self.dtype)

    def _data_dtype(self, reader: BoldReader) -> np.dtype:
        """dtype of the data as the extraction sees them (after ``dtype``)."""
        # "auto": int32 for (unscaled) signed integer data, else float32 (unsigned
        # data too, as nilearn). A scaled integer file is float data: nilearn
        # 0.14.1 raises AttributeError here.
        return output_dtype(reader.dtype, self.dtype)

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
        """Run the one-pass extraction (signals and coverage of one operator)."""
        if self.smoothing_fwhm is not None:
            # composed into the extraction operator, not a separate pass
            log_step(self, "Smoothing images")
        log_step(self, "Extracting region signals")
        return extract_signals(source, [operator], mask=mask, min_coverage=0.0)[0]


class Extraction(NamedTuple):
    """What one ``_extract`` call found; ``transform`` keeps it out of the masker's attributes."""

    signals: np.ndarray  # (T, n_regions), before cleaning
    ndim: int  # 3 for a single 3D image or a 1D surface image (one sample: squeezed), else 4
    coverage: np.ndarray  # (n_regions,), see ``coverage_``
    data_dtype: np.dtype  # dtype of the data as extracted (the "auto" output dtype)


def _fill_data_cache(img) -> None:
    """Fill nibabel's data cache of an in-memory image with its own array (no copy).

    nilearn's fitted images have it filled (nilearn reads them through its
    ``get_data``, which fills it), so reading them again does not change them,
    nor their ``joblib.hash``: a ``joblib.Memory`` cache keyed on a fitted
    image (nilearn's ``memory``) then hits from the first repeated call. An
    image backed by a file is left as it is (filling would load it).
    """
    if getattr(img, "_data_cache", False) is None and isinstance(img.dataobj, np.ndarray):
        img._data_cache = img.dataobj


def short_repr(value) -> str:
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


def check_inverse_input(signals, n_elements, dtype=None):
    """The signals given to ``inverse_transform`` as an array, checked as nilearn's maskers do.

    A data frame (``set_output``) becomes its values, squeezed; a 0-d array
    (one region of a 3D image) becomes 1-D; booleans are cast to ``dtype``
    (int32 when None) with nilearn's warning.

    Parameters
    ----------
    signals : array-like or data frame, (n_elements,) or (n_samples, n_elements)
    n_elements : int
        Number of regions of the fitted masker.
    dtype : dtype, "auto" or None
        The masker's ``dtype``.

    Returns
    -------
    numpy.ndarray, 1-D or 2-D
    """
    if hasattr(signals, "to_numpy"):  # pandas or polars data frame
        signals = signals.to_numpy().squeeze()
    signals = np.atleast_1d(np.asarray(signals))
    if signals.ndim > 2 or signals.shape[-1] != n_elements:
        expected = f"({n_elements},) or (n_samples, {n_elements})"
        raise ValueError(
            "Input to 'inverse_transform' has wrong shape. "
            f"Expected {expected}. Got {signals.shape}."
        )
    if signals.dtype == bool:
        target = np.int32 if dtype is None else dtype
        warnings.warn(f"Casting boolean input to {target}", UserWarning, stacklevel=3)  # nilearn's words
        signals = signals.astype(output_dtype(signals.dtype, target))
    return signals


def output_dtype(input_dtype, dtype) -> np.dtype:
    """The dtype a masker's ``dtype`` parameter gives to data of ``input_dtype``, nilearn's rule.

    The masker's ``dtype`` if set (``"auto"``: int32 for signed integer
    data, else float32), else ``input_dtype``. Used for the data extracted
    by ``transform`` and for the image ``inverse_transform`` returns.
    """
    input_dtype = np.dtype(input_dtype)
    if dtype is None:
        return input_dtype
    if isinstance(dtype, str) and dtype == "auto":
        return np.dtype(np.int32) if input_dtype.kind == "i" else np.dtype(np.float32)
    return np.dtype(dtype)


def inverse_image(ref_img, data, signals, dtype, affine=None):
    """The image of ``inverse_transform``: ``data`` cast to nilearn's output dtype.

    As nilearn, the header's data type is the target dtype even for int64,
    whose data :func:`new_img_like` stores as int32 (with its warning) when
    they fit.
    """
    target = output_dtype(signals.dtype, dtype)
    img = new_img_like(ref_img, np.asarray(data).astype(target), ref_img.affine if affine is None else affine)
    img.set_data_dtype(target)
    return img
