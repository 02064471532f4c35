"""Validation of the arguments of :func:`~regionseries.core.signal.clean`.

Type and value checks with nilearn's error messages, the choice of the
temporal filter actually applied (Butterworth, cosine or none) and
:class:`_CleanPlan`, the validated options shared by every run of one call.
Frequencies are in Hz, repetition times in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .common import _warn

_STANDARDIZE_CHOICES = ("zscore_sample", "zscore", "psc", True, False, None)
_BUTTERWORTH_OPTIONS = ("order", "padtype", "padlen")
_SCALAR_TYPES_TEXT = "float | numpy.floating | int | numpy.integer | None"


def _check_bool(value, name):
    if not isinstance(value, bool):
        raise TypeError(
            f"'{name}' must be of type(s): '<class 'bool'>'.\n"
            f"Got: '{value.__class__.__name__}'"
        )


def _check_optional_scalar(value, name):
    is_number = isinstance(value, (int, float, np.integer, np.floating))
    if value is not None and (isinstance(value, (bool, np.bool_)) or not is_number):
        raise TypeError(
            f"'{name}' must be of type(s): '{_SCALAR_TYPES_TEXT}'.\n"
            f"Got: '{value.__class__.__name__}'"
        )


def _resolve_standardize(standardize):
    """Map ``standardize`` to "zscore_sample", "zscore", "psc" or None."""
    if standardize is True:
        return "zscore_sample"
    if standardize is False or standardize is None:
        return None
    if isinstance(standardize, str) and standardize in ("zscore_sample", "zscore", "psc"):
        return str(standardize)
    raise ValueError(
        f"'standardize' must be one of {_STANDARDIZE_CHOICES}.\n"
        f"'{standardize}' was provided."
    )


def _check_ensure_finite(ensure_finite):
    if not isinstance(ensure_finite, (bool, np.bool_)):
        raise ValueError(
            f"'ensure_finite' must be one of [True, False].\n'{ensure_finite}' was provided."
        )


def _butterworth_options(kwargs):
    """Extract the ``butterworth__*`` options; reject anything else."""
    options = {}
    for key, value in kwargs.items():
        name = key[len("butterworth__"):] if key.startswith("butterworth__") else None
        if name not in _BUTTERWORTH_OPTIONS:
            raise TypeError(
                f"clean() got an unexpected keyword argument '{key}'. Extra keyword "
                "arguments must be Butterworth options: "
                + ", ".join(f"'butterworth__{option}'" for option in _BUTTERWORTH_OPTIONS)
                + "."
            )
        options[name] = value
    return options


def _check_positive_t_r(t_r, purpose):
    if not np.isfinite(t_r) or t_r <= 0:
        raise ValueError(
            f"Repetition time (t_r) must be a positive number of seconds for {purpose}. "
            f"Got: 't_r={t_r}'"
        )


def _effective_filter(filter, low_pass, high_pass, t_r):
    """Validate the filter options and return the filter actually applied.

    Returns "butterworth", "cosine" or None (no temporal filter).
    """
    if not (filter is False or (isinstance(filter, str) and filter in ("butterworth", "cosine"))):
        raise ValueError(f"Filter method {filter} not implemented.")
    if filter is False:
        if low_pass is not None or high_pass is not None:
            _warn(
                "No filter type selected but cutoff frequency provided."
                "Will not perform filtering.",
            )
        return None
    if filter == "cosine":
        if t_r is None or high_pass is None:
            raise ValueError(
                "Repetition time (t_r) and low cutoff frequency (high_pass) "
                "must be specified for cosine filtering. "
                f"Got: 't_r={t_r!r}' and 'high_pass={high_pass!r}'"
            )
        _check_positive_t_r(t_r, "cosine filtering")
        return "cosine"
    if low_pass is None and high_pass is None:
        return None
    if t_r is None:
        raise ValueError(
            "Repetition time (t_r) must be specified for butterworth filtering. "
            f"Got: 't_r={t_r!r}'"
        )
    _check_positive_t_r(t_r, "butterworth filtering")
    return "butterworth"


@dataclass(frozen=True)
class _CleanPlan:
    """Validated options of one ``clean`` call, shared by all runs."""

    detrend: bool
    standardize: str | None
    standardize_confounds: bool
    filter: str | None
    high_pass: float | None
    t_r: float | None
    extrapolate: bool
    sos: np.ndarray | None
    padtype: str | None
    padlen: int | None
