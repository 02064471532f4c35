"""Shared helpers for the signal-cleaning tests (tolerances of the reference, section 8)."""

import warnings

import numpy as np
import pytest
from scipy.interpolate import CubicSpline


def assert_f64(actual, expected):
    """Reference tolerance "f64": rtol 1e-9, atol 1e-9·max|ref|."""
    expected = np.asarray(expected)
    scale = np.nanmax(np.abs(expected)) if expected.size else 0.0
    np.testing.assert_allclose(actual, expected, rtol=1e-9, atol=1e-9 * scale)


def assert_f32_pipeline(actual, expected, zscored):
    """Reference tolerance "f32-pipeline": atol 1e-5 (z-scored) or rtol 1e-5."""
    if zscored:
        np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-5)
    else:
        np.testing.assert_allclose(actual, expected, rtol=1e-5)


def warning_messages(function, *args, **kwargs):
    """Call ``function``; return (result, set of (category, message)) it warned."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = function(*args, **kwargs)
    return result, {(w.category, str(w.message)) for w in caught}


def spline_prefilled(x, keep, t_r, extrapolate):
    """Rows not in ``keep`` replaced by the cubic spline through the kept rows.

    Independent of the implementation under test: scipy's CubicSpline on the
    frame times ``arange(n)·t_r``. Without extrapolation, rows outside the kept
    range become NaN (nilearn then drops them).
    """
    n_time = x.shape[0]
    frame_times = np.arange(n_time) * t_r
    spline = CubicSpline(frame_times[keep], x[keep], extrapolate=extrapolate)
    censored = np.setdiff1d(np.arange(n_time), keep)
    filled = x.copy()
    filled[censored] = spline(frame_times[censored])
    return filled


def random_walk(rng, shape, offset=0.0):
    return np.cumsum(rng.standard_normal(shape), axis=0) + offset


@pytest.fixture(scope="session")
def oracle():
    """nilearn.signal (the oracle), imported only by the tests that use it."""
    from nilearn import signal as nilearn_signal

    return nilearn_signal


@pytest.fixture(scope="session")
def helpers():
    """The helper functions above, for test modules (importlib import mode)."""

    class Helpers:
        pass

    for function in (assert_f64, assert_f32_pipeline, warning_messages, spline_prefilled,
                     random_walk):
        setattr(Helpers, function.__name__, staticmethod(function))
    return Helpers
