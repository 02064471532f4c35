"""Signal cleaning on (time × features) arrays.

This package re-implements ``nilearn.signal.clean`` (nilearn 0.14.1) and its
helpers on numpy/scipy: same parameters, same order of operations and the
same numbers, except where nilearn is wrong (see
``docs/differences-from-nilearn.md``, section ``signal.clean``):

* censored volumes are interpolated in the censored rows (nilearn writes the
  interpolation into mirrored rows);
* the caller's ``sample_mask`` is never modified;
* with ``runs``, every option (``standardize_confounds``, ``extrapolate``,
  ``butterworth__*``) is honoured and run labels need not be ``0..n-1``;
* a column holding NaN or infinite values in a kept volume comes out as NaN
  without influencing the other columns.

All work is vectorised over the feature axis (one ``sosfiltfilt`` call per
block of columns, a thin-QR projection ``Q @ (Qᵀ @ X)``), so cleaning stays
fast for tens of thousands of columns.

Frequencies are in Hz, repetition times in seconds.

The modules, in the order :func:`clean` goes through them:

- :mod:`.options`: validation of the arguments, the filter actually applied;
- :mod:`.inputs`: the signals and confounds as float arrays (confounds files);
- :mod:`.sample_masks`: the rows of each run, the kept volumes of each run;
- :mod:`.interpolation`: censored volumes interpolated before Butterworth filtering;
- :mod:`.detrending`: mean and linear trend removed (and :func:`detrend`);
- :mod:`.filtering`: the Butterworth filter (and :func:`butterworth`);
- :mod:`.cosine`: cosine drift regressors (and :func:`cosine_drift`);
- :mod:`.regression`: confounds regressed out (and :func:`high_variance_confounds`);
- :mod:`.standardizing`: z-score or percent signal change;
- :mod:`.cleaning`: :func:`clean`, the steps in order, run by run;
- :mod:`.common`: warnings that point at the caller's line, float64 eps.

The public names are re-exported here; the public façade is
:mod:`regionseries.signal`.
"""

from .cleaning import clean as clean
from .cosine import cosine_drift as cosine_drift
from .detrending import detrend as detrend
from .filtering import butterworth as butterworth
from .regression import high_variance_confounds as high_variance_confounds

__all__ = [
    "butterworth",
    "clean",
    "cosine_drift",
    "detrend",
    "high_variance_confounds",
]
