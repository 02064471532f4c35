"""Colours of the report figures: the shared palette, label colours, colour-mapped images.

Everything here is plain numpy, so that pasting data into a frame
(:mod:`.frames`) never needs matplotlib; :func:`colormapped` reproduces how
matplotlib maps values through a colour map's table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["COLOR_CENSORED", "COLOR_DUMMY", "COLOR_DVARS", "COLOR_FD", "COLOR_FD_FILTERED", "COLOR_KEPT", "COLOR_NA", "COLOR_OTHER",
           "STATE_COLORS", "colormapped", "hex_rgb", "label_colors"]

#: Colours used consistently across figures.
COLOR_KEPT = "#cfe8cf"
COLOR_DUMMY = "#7f7f7f"
COLOR_CENSORED = "#d62728"
COLOR_OTHER = "#f2b134"
COLOR_FD = "#1f4e79"
COLOR_FD_FILTERED = "#1b9e77"  # FD of the motion-filtered parameters, drawn over fMRIPrep's
COLOR_DVARS = "#6a3d9a"
COLOR_NA = (0.84, 0.15, 0.16)

#: Volume states of the motion figure, in the order of their codes (see :func:`_volume_states`).
STATE_COLORS = (COLOR_KEPT, COLOR_DUMMY, COLOR_CENSORED, COLOR_OTHER)


def hex_rgb(color: str) -> tuple[float, float, float]:
    """``"#rrggbb"`` as (r, g, b) in [0, 1]."""
    value = color.lstrip("#")
    return tuple(int(value[k:k + 2], 16) / 255 for k in (0, 2, 4))


def _uint8(rgb: Sequence[float]) -> np.ndarray:
    return (np.asarray(rgb, dtype=float) * 255 + 0.5).astype(np.uint8)


def _hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    """(n, 3) HSV in [0, 1] to RGB in [0, 1], as :func:`matplotlib.colors.hsv_to_rgb`."""
    hue, saturation, value = hsv[:, 0], hsv[:, 1], hsv[:, 2]
    sector = np.floor(hue * 6.0).astype(int)
    fraction = hue * 6.0 - sector
    p = value * (1.0 - saturation)
    q = value * (1.0 - saturation * fraction)
    t = value * (1.0 - saturation * (1.0 - fraction))
    sector %= 6
    choices = [(value, t, p), (q, value, p), (p, value, t), (p, q, value), (t, p, value),
               (value, p, q)]
    rgb = np.empty_like(hsv)
    for channel in range(3):
        rgb[:, channel] = np.select([sector == k for k in range(6)],
                                    [choice[channel] for choice in choices])
    grey = saturation == 0
    rgb[grey] = value[grey, None]
    return rgb


def label_colors(n: int) -> np.ndarray:
    """Return ``n`` distinct RGB colours (golden-ratio hue steps).

    Neighbouring labels (consecutive values) get very different hues, which
    keeps adjacent parcels apart in overlays.

    Parameters
    ----------
    n : int
        Number of colours.

    Returns
    -------
    numpy.ndarray, shape (n, 3)
        RGB in [0, 1].
    """
    golden = (math.sqrt(5) - 1) / 2
    hues = (0.11 + golden * np.arange(n)) % 1.0
    saturation = np.where(np.arange(n) % 2 == 0, 0.75, 0.55)
    value = np.where(np.arange(n) % 3 == 0, 0.95, 0.82)
    return _hsv_to_rgb(np.column_stack([hues, saturation, value]))


def colormapped(values: np.ndarray, table: np.ndarray, bad: np.ndarray, vmin: float,
                vmax: float) -> np.ndarray:
    """RGB uint8 image of ``values`` as matplotlib draws it with a colour map.

    Parameters
    ----------
    values : numpy.ndarray
    table : numpy.ndarray, shape (N, 3), uint8
        The colour map's N colours (``figures.colormap_table``).
    bad : numpy.ndarray, shape (3,), uint8
        Colour of non-finite values.
    vmin, vmax : float
        Values mapped to the first and last colour.

    Returns
    -------
    numpy.ndarray, shape values.shape + (3,), uint8
    """
    n_colors = len(table)
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    with np.errstate(invalid="ignore"):
        scaled = (np.where(finite, values, vmin) - vmin) / (vmax - vmin)
    index = np.clip((scaled * n_colors).astype(np.int64), 0, n_colors - 1)
    image = table[index]
    image[~finite] = bad
    return image
