"""Filtering the realignment parameters before framewise displacement (XCP-D's motion filter).

Multiband acquisitions sample fast enough to see breathing: the chest moves
the head's image in the phase-encoding direction at 0.2-0.5 Hz, which shows
up in the six rigid-body parameters and inflates framewise displacement (FD)
without any head motion (Power et al. 2019; Fair et al. 2020; Gratton et al.
2020). XCP-D removes it with a band-stop ("notch") or low-pass ("lp") filter
on the parameters before computing FD; this module does the same on arrays:

* :func:`design_motion_filter` turns the settings (type, band in breaths per
  minute, order) and a run's repetition time into a :class:`MotionFilterDesign`
  (the coefficients, the band in Hz, the number of passes, a JSON record);
* :func:`filter_motion_parameters` applies it forward and backward to the
  parameters of the steady-state volumes;
* :func:`framewise_displacement` is Power et al.'s (2012) FD.

The design follows XCP-D's conventions so that the same settings give the
same filter: ``order`` is the order of the whole forward-backward filter
("lp": a Butterworth filter of order ``order / 2`` run forward and backward;
"notch": :func:`scipy.signal.iirnotch`, a second-order notch at the middle of
the band with the band's width as its -3 dB width, run forward and backward
``order / 4`` times). Where this module differs from XCP-D (a band above the
Nyquist frequency, orders that are not multiples, non-steady-state volumes)
is listed in ``docs/strategies.md``, "Motion filtering".
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy  # submodules load on first use: scipy.signal (0.4 s) only when a motion filter is designed

from .errors import ConfoundsError

__all__ = [
    "HEAD_RADIUS_MM",
    "MOTION_FILTER_TYPES",
    "MotionFilterDesign",
    "design_motion_filter",
    "filter_motion_parameters",
    "framewise_displacement",
]

#: Motion filter types (XCP-D's ``--motion-filter-type``).
MOTION_FILTER_TYPES = ("notch", "lp")
#: Head radius turning rotations (rad) into displacements on a sphere, mm (Power et al. 2012).
HEAD_RADIUS_MM = 50.0
_SECONDS_PER_MINUTE = 60.0


@dataclass(frozen=True)
class MotionFilterDesign:
    """A motion filter designed for one repetition time.

    Attributes
    ----------
    filter_type : {"notch", "lp"}
    order : int
        Order of the whole forward-backward filter (the setting).
    repetition_time : float
        Seconds.
    band_bpm : tuple of float
        The setting in breaths per minute: (min, max) for "notch", (cut-off,) for "lp".
    band_hz : tuple of float
        The same in Hz.
    applied_band_hz : tuple of float
        The band the filter acts on, Hz: ``band_hz`` folded below the Nyquist
        frequency (its alias) when part of it lies above ("notch" only).
    b, a : numpy.ndarray
        Numerator and denominator coefficients of one forward pass.
    passes : int
        How many times the forward-backward filter is applied.
    """

    filter_type: str
    order: int
    repetition_time: float
    band_bpm: tuple[float, ...]
    band_hz: tuple[float, ...]
    applied_band_hz: tuple[float, ...]
    b: np.ndarray
    a: np.ndarray
    passes: int

    @property
    def nyquist_hz(self) -> float:
        """Nyquist frequency of the run, Hz."""
        return 0.5 / self.repetition_time

    @property
    def aliased(self) -> bool:
        """Whether the band was folded below the Nyquist frequency."""
        return not np.allclose(self.applied_band_hz, self.band_hz)

    def record(self) -> dict[str, Any]:
        """The design as JSON-serialisable sidecar entries (BIDS-style keys, units in the names)."""
        record: dict[str, Any] = {
            "Type": self.filter_type,
            "Order": self.order,
            "RepetitionTime": self.repetition_time,
            "NyquistFrequencyHertz": self.nyquist_hz,
        }
        if self.filter_type == "notch":
            centre, width = _centre_and_width(self.applied_band_hz)
            record.update({
                "BandStopBreathsPerMinute": list(self.band_bpm),
                "BandStopHertz": list(self.band_hz),
                "AppliedBandStopHertz": list(self.applied_band_hz),
                "Design": "scipy.signal.iirnotch",
                "NotchFrequencyHertz": centre,
                "NotchBandwidthHertz": width,
                "QualityFactor": centre / width,
            })
        else:
            record.update({
                "CutoffBreathsPerMinute": self.band_bpm[0],
                "CutoffHertz": self.band_hz[0],
                "Design": "scipy.signal.butter (low-pass)",
                "ButterworthOrder": self.order // 2,
            })
        record.update({
            "Passes": self.passes,
            "Application": "scipy.signal.filtfilt (forward and backward, zero phase), constant padding "
                           "of the series' length minus one, on the steady-state volumes",
            "EffectiveOrder": self.order,
            "Numerator": [float(v) for v in self.b],
            "Denominator": [float(v) for v in self.a],
        })
        return record


def _centre_and_width(band_hz: tuple[float, ...]) -> tuple[float, float]:
    low, high = band_hz
    return 0.5 * (low + high), high - low


def _alias(frequency_hz: float, sampling_hz: float) -> float:
    """Where a frequency appears once sampled: its distance to the nearest multiple of the sampling rate."""
    return abs(frequency_hz - sampling_hz * round(frequency_hz / sampling_hz))


def _aliased_band(low_hz: float, high_hz: float, sampling_hz: float, where: str) -> tuple[float, float]:
    """The band [low, high] (Hz) as it appears below the Nyquist frequency once sampled.

    A band that contains an odd multiple of the Nyquist frequency folds onto
    it: its alias reaches the Nyquist frequency. A band that contains a
    multiple of the sampling rate, or is wider than the Nyquist frequency,
    folds onto 0 Hz or covers every frequency: no notch can be placed and a
    ConfoundsError names ``where``.
    """
    nyquist = 0.5 * sampling_hz
    text = (f"the motion filter's band-stop {low_hz * 60:g}-{high_hz * 60:g} breaths per minute "
            f"({low_hz:.4g}-{high_hz:.4g} Hz) lies above the Nyquist frequency {nyquist:.4g} Hz "
            f"({nyquist * 60:g} breaths per minute) of the run's repetition time {1 / sampling_hz:g} s")
    if high_hz - low_hz >= nyquist:
        raise ConfoundsError(f"{where}: {text}, and is wider than it: its alias covers every frequency. "
                             "Use a narrower band, or no motion filter for this run.")
    multiples = np.arange(math.ceil(low_hz / nyquist), math.floor(high_hz / nyquist) + 1)
    if np.any(multiples % 2 == 0):
        raise ConfoundsError(f"{where}: {text}, and its alias reaches 0 Hz (it contains a multiple of the sampling "
                             "rate), so a notch would remove the slow drifts. Use another band, or no motion "
                             "filter for this run.")
    folded = sorted((_alias(low_hz, sampling_hz), _alias(high_hz, sampling_hz)))
    if multiples.size:  # contains the Nyquist frequency (or an odd multiple): the alias reaches it
        return folded[0], nyquist
    return folded[0], folded[1]


def design_motion_filter(
    filter_type: str,
    band_stop_min: float | None,
    band_stop_max: float | None,
    order: int,
    repetition_time: float,
    where: str = "motion filter",
) -> MotionFilterDesign:
    """Design the motion filter of a run from its settings and repetition time.

    Parameters
    ----------
    filter_type : {"notch", "lp"}
        Band-stop (a notch over the breathing band) or low-pass.
    band_stop_min : float
        Breaths per minute: the lower edge of the band-stop ("notch"), the
        cut-off ("lp").
    band_stop_max : float or None
        Breaths per minute: the upper edge of the band-stop ("notch"); not
        used by "lp".
    order : int
        Order of the whole forward-backward filter: a positive multiple of 4
        for "notch", of 2 for "lp" (XCP-D's ``--motion-filter-order``).
    repetition_time : float
        Seconds.
    where : str
        What an error names first (the confounds file).

    Returns
    -------
    MotionFilterDesign

    Raises
    ------
    ConfoundsError
        If the low-pass cut-off is not below the run's Nyquist frequency, or
        a band-stop above it has no usable alias (see ``docs/strategies.md``).
    ValueError
        For settings that are invalid whatever the run (type, band, order).

    Warns
    -----
    UserWarning
        When the band-stop lies above the Nyquist frequency and is replaced
        by its alias (breathing faster than the sampling rate still shows,
        at the aliased frequency).
    """
    _check_settings(filter_type, band_stop_min, band_stop_max, order)
    if not (isinstance(repetition_time, (int, float, np.integer, np.floating)) and repetition_time > 0):
        raise ValueError(f"the motion filter needs a positive repetition time (s); got {repetition_time!r}.")
    sampling_hz = 1.0 / float(repetition_time)
    nyquist = 0.5 * sampling_hz
    if filter_type == "lp":
        cutoff_hz = band_stop_min / _SECONDS_PER_MINUTE
        if cutoff_hz >= nyquist:
            raise ConfoundsError(
                f"{where}: the low-pass motion filter's cut-off {band_stop_min:g} breaths per minute "
                f"({cutoff_hz:.4g} Hz, band_stop_min / --band-stop-min) is not below the Nyquist frequency "
                f"{nyquist:.4g} Hz ({nyquist * 60:g} breaths per minute) of the run's repetition time "
                f"{repetition_time:g} s: it would remove nothing. Lower the cut-off, or use no motion filter "
                "for this run."
            )
        b, a = scipy.signal.butter(order // 2, cutoff_hz, btype="lowpass", fs=sampling_hz)
        return MotionFilterDesign("lp", order, float(repetition_time), (float(band_stop_min),), (cutoff_hz,),
                                  (cutoff_hz,), b, a, 1)
    band_hz = (band_stop_min / _SECONDS_PER_MINUTE, band_stop_max / _SECONDS_PER_MINUTE)
    applied = band_hz
    if band_hz[1] >= nyquist:
        applied = _aliased_band(*band_hz, sampling_hz, where)
        warnings.warn(
            f"{where}: the motion filter's band-stop {band_stop_min:g}-{band_stop_max:g} breaths per minute "
            f"({band_hz[0]:.4g}-{band_hz[1]:.4g} Hz) reaches above the Nyquist frequency {nyquist:.4g} Hz of the "
            f"repetition time {repetition_time:g} s; breathing at those rates appears at its alias, so the notch is "
            f"placed on {applied[0]:.4g}-{applied[1]:.4g} Hz.",
            UserWarning,
            stacklevel=2,
        )
    centre, width = _centre_and_width(applied)
    b, a = scipy.signal.iirnotch(centre, centre / width, fs=sampling_hz)
    return MotionFilterDesign("notch", order, float(repetition_time),
                              (float(band_stop_min), float(band_stop_max)), band_hz, applied, b, a, order // 4)


def _check_settings(filter_type: Any, band_stop_min: Any, band_stop_max: Any, order: Any) -> None:
    """Refuse settings that are invalid whatever the run (ValueError, naming the setting)."""
    if filter_type not in MOTION_FILTER_TYPES:
        raise ValueError(f"'motion_filter_type' must be one of {list(MOTION_FILTER_TYPES)} or null; "
                         f"{filter_type!r} was provided.")
    for name, value in (("band_stop_min", band_stop_min), ("band_stop_max", band_stop_max)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating))
                                  or not (math.isfinite(value) and value > 0)):
            raise ValueError(f"'{name}' must be a positive number of breaths per minute; {value!r} was provided.")
    if band_stop_min is None:
        raise ValueError(f"the '{filter_type}' motion filter needs 'band_stop_min' (breaths per minute"
                         + ("; the cut-off)." if filter_type == "lp" else "; the lower edge of the band-stop)."))
    if filter_type == "notch":
        if band_stop_max is None:
            raise ValueError("the 'notch' motion filter needs 'band_stop_max' (breaths per minute; the upper edge "
                             "of the band-stop).")
        if band_stop_min >= band_stop_max:
            raise ValueError(f"'band_stop_min' ({band_stop_min:g}) must be lower than 'band_stop_max' "
                             f"({band_stop_max:g}) (breaths per minute).")
    multiple = 4 if filter_type == "notch" else 2
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < multiple or order % multiple:
        raise ValueError(
            f"'motion_filter_order' must be a positive multiple of {multiple} for the '{filter_type}' motion filter "
            + ("(a second-order notch, run forward and backward, repeated)" if filter_type == "notch"
               else "(a Butterworth filter of half that order, run forward and backward)")
            + f"; {order!r} was provided."
        )


def filter_motion_parameters(parameters: np.ndarray, design: MotionFilterDesign, start: int = 0) -> np.ndarray:
    """Filter realignment parameters forward and backward, from the first steady-state volume.

    Parameters
    ----------
    parameters : numpy.ndarray
        float, shape (n_volumes, k): translations (mm) and rotations (rad),
        one column each, finite from row ``start`` on.
    design : MotionFilterDesign
    start : int
        First volume filtered: the volumes before it (non-steady-state) are
        left out, so that their realignment does not ring into the kept
        volumes; they hold the first filtered value (a constant, so their
        derivatives are 0).

    Returns
    -------
    numpy.ndarray
        float64, the same shape.
    """
    parameters = np.asarray(parameters, dtype=np.float64)
    filtered = parameters.copy()
    segment = parameters[start:]
    if segment.shape[0] >= 2:
        for _ in range(design.passes):
            segment = scipy.signal.filtfilt(design.b, design.a, segment, axis=0, padtype="constant",
                                            padlen=segment.shape[0] - 1)
    filtered[start:] = segment
    if 0 < start < filtered.shape[0]:
        filtered[:start] = filtered[start]
    return filtered


def framewise_displacement(parameters: np.ndarray, head_radius_mm: float = HEAD_RADIUS_MM) -> np.ndarray:
    """Framewise displacement (Power et al. 2012), mm.

    Parameters
    ----------
    parameters : numpy.ndarray
        shape (n_volumes, 6): trans_x, trans_y, trans_z (mm), rot_x, rot_y,
        rot_z (rad), fMRIPrep's order.
    head_radius_mm : float
        Radius of the sphere the rotations move, mm.

    Returns
    -------
    numpy.ndarray
        float64, shape (n_volumes,): the sum of the absolute backward
        differences, rotations as arc lengths; the first value is NaN (as
        fMRIPrep's).
    """
    differences = np.abs(np.diff(np.asarray(parameters, dtype=np.float64), axis=0))
    displacement = differences[:, :3].sum(axis=1) + head_radius_mm * differences[:, 3:6].sum(axis=1)
    return np.concatenate([[np.nan], displacement])
