"""What every step of the cleaning shares: warnings that point at the caller, float64 eps.

:func:`_warn` walks up the stack past every frame of this package, so that a
warning raised deep inside :func:`regionseries.core.signal.clean` names the
line of the caller's code (as nilearn's warnings do).
"""

from __future__ import annotations

import sys
import warnings

import numpy as np

_EPS64 = np.finfo(np.float64).eps
_PACKAGE_PREFIX = __name__.rpartition(".")[0] + "."  # "regionseries.core.signal."


def _warn(message, category=UserWarning):
    """Warn with the location of the first caller outside this package."""
    level = 1
    frame = sys._getframe(0)
    while frame is not None and (frame.f_globals.get("__name__") or "").startswith(_PACKAGE_PREFIX):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)


def _warn_single_timepoint(what):
    _warn(
        f"{what} of 3D signal has been requested but would lead to zero values. Skipping.",
    )
