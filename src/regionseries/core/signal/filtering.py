"""Butterworth filtering: the zero-phase filter's design and its application along time.

:func:`_butterworth_sos` designs the filter as nilearn does (cutoffs pulled
inside (0, Nyquist) with warnings), :func:`_filter_columns` applies it with
``scipy.signal.sosfiltfilt`` in blocks of columns, and :func:`butterworth` is
the public helper (``nilearn.signal.butterworth``). Frequencies are in Hz.
"""

from __future__ import annotations

import numpy as np

from .common import _warn
from .inputs import _output_dtype
from .options import _check_optional_scalar

_EPS32 = np.finfo(np.float32).eps
# Columns filtered per sosfiltfilt call: bounds the temporary memory and is
# faster than one call on a very wide matrix (better cache use).
_FILTER_BLOCK_COLUMNS = 4096


def _scipy_signal():
    """``scipy.signal``, imported when a filter is first used.

    Importing it costs ~23 MiB of resident memory in every process, which
    runs without temporal filtering (the default strategies) do not need.
    """
    from scipy import signal

    return signal


def _adjust_cutoff(btype, frequency, nyquist):
    """Pull a cutoff inside (0, Nyquist) as nilearn does, with its warnings."""
    if frequency >= nyquist:
        adjusted = nyquist - nyquist * 10 * _EPS32
        _warn(
            f"The frequency specified for the {btype} pass filter is "
            "too high to be handled by a digital filter "
            "(superior to Nyquist frequency). "
            f"It has been lowered to {adjusted} (Nyquist frequency).",
        )
        return adjusted
    if frequency < 0.0:
        adjusted = nyquist * _EPS32
        _warn(
            f"The frequency specified for the {btype} pass filter is too "
            "low to be handled by a digital filter (must be non-negative). "
            f"It has been set to eps: {adjusted}.",
        )
        return adjusted
    if frequency == 0.0:
        raise ValueError(
            f"The frequency specified for the {btype} pass filter is 0 Hz: "
            "filter critical frequencies must be greater than 0."
        )
    return frequency


def _butterworth_sos(sampling_rate, low_pass, high_pass, order):
    """Design the zero-phase Butterworth filter (second-order sections).

    Parameters
    ----------
    sampling_rate : float
        Sampling frequency in Hz (1 / t_r).
    low_pass, high_pass : float or None
        Cutoff frequencies in Hz.
    order : int
        Filter order (band-pass filters get ``2·order`` poles).

    Returns
    -------
    sos : ndarray of shape (n_sections, 6) or None
        None when no filtering must happen (no cutoff, or a band-pass whose
        two cutoffs collapse onto the same value below Nyquist).
    """
    if low_pass is None and high_pass is None:
        return None
    if low_pass is not None and high_pass is not None and high_pass >= low_pass:
        raise ValueError(
            f"High pass cutoff frequency ({high_pass}) is greater than or "
            f"equal to low pass filter frequency ({low_pass}). "
            "This case is not handled by this function."
        )
    nyquist = sampling_rate * 0.5
    cutoffs = []
    if high_pass is not None:
        btype = "high"
        cutoffs.append(_adjust_cutoff("high", high_pass, nyquist))
    if low_pass is not None:
        btype = "low"
        cutoffs.append(_adjust_cutoff("low", low_pass, nyquist))
    if len(cutoffs) == 2:
        btype = "band"
        if cutoffs[0] == cutoffs[1]:
            _warn(
                "Signals are returned unfiltered because band-pass critical "
                "frequencies are equal. Please check that inputs for "
                "sampling_rate, low_pass, and high_pass are valid.",
            )
            return None
        critical = cutoffs
    else:
        critical = cutoffs[0]
    return _scipy_signal().butter(N=order, Wn=critical, btype=btype, output="sos", fs=sampling_rate)


def _filter_columns(x, sos, padtype, padlen):
    """Zero-phase filter every column (``sosfiltfilt`` along time, in blocks)."""
    filtered = np.empty_like(x)
    for start in range(0, max(x.shape[1], 1), _FILTER_BLOCK_COLUMNS):
        block = slice(start, start + _FILTER_BLOCK_COLUMNS)
        filtered[:, block] = _scipy_signal().sosfiltfilt(
            sos, x[:, block], axis=0, padtype=padtype, padlen=padlen
        )
    return filtered


def butterworth(
    signals,
    sampling_rate,
    low_pass=None,
    high_pass=None,
    order=5,
    padtype="odd",
    padlen=None,
    copy=False,
):
    """Zero-phase low-, high- or band-pass Butterworth filter along time.

    Same design as ``nilearn.signal.butterworth``: cutoffs at or above the
    Nyquist frequency are lowered just below it, negative ones raised to
    ``nyquist·eps(float32)`` (with warnings); the filter is applied forward
    and backward with ``scipy.signal.sosfiltfilt`` (odd padding by default).

    Parameters
    ----------
    signals : ndarray of shape (n_timepoints,) or (n_timepoints, n_features)
        Time series along the first axis.
    sampling_rate : float
        Sampling frequency in Hz (1 / t_r).
    low_pass, high_pass : float or None, default=None
        Cutoff frequencies in Hz. Both None: nothing is done.
    order : int, default=5
        Butterworth order (a band-pass has ``2·order`` poles).
    padtype : {"odd", "even", "constant", None}, default="odd"
        Padding used by ``sosfiltfilt``.
    padlen : int or None, default=None
        Padding length (None: scipy's default, 18 for low/high-pass and 33
        for band-pass at order 5).
    copy : bool, default=False
        False: filter ``signals`` in place (it must be a floating-point
        ndarray) and return it. True: return a new array of the same float
        dtype.

    Returns
    -------
    filtered : ndarray, same shape as ``signals``
    """
    _check_optional_scalar(low_pass, "low_pass")
    _check_optional_scalar(high_pass, "high_pass")
    if not np.isfinite(sampling_rate) or sampling_rate <= 0:
        raise ValueError(f"sampling_rate must be a positive frequency in Hz; got {sampling_rate}.")
    sos = _butterworth_sos(sampling_rate, low_pass, high_pass, order)
    array = np.asarray(signals)
    if array.ndim not in (1, 2):
        raise ValueError(f"signals must be 1-D or 2-D; got shape {array.shape}.")
    if not copy and not (isinstance(signals, np.ndarray) and signals.dtype.kind == "f"):
        raise TypeError(
            "butterworth(copy=False) filters in place and needs a floating-point "
            "numpy array; pass copy=True."
        )
    if sos is None:
        return array.astype(_output_dtype(array.dtype)) if copy else signals
    matrix = array.reshape(array.shape[0], -1)
    filtered = _filter_columns(matrix, sos, padtype, padlen).reshape(array.shape)
    if copy:
        return filtered.astype(_output_dtype(array.dtype), copy=False)
    signals[...] = filtered
    return signals
