"""Warnings of regionseries.core.signal name the caller's line, whichever module of the package raises them."""

import inspect

import numpy as np
import pytest

from regionseries.signal import butterworth, clean, cosine_drift

SIGNALS = np.random.default_rng(7).standard_normal((40, 3)) + 5.0
#: Two columns with a mean of 0 (percent signal change is meaningless there).
ZERO_MEAN = np.column_stack([SIGNALS[:, 0] - SIGNALS[:, 0].mean(), np.zeros(40)])

# (module of core/signal/ that raises the warning, the call, the start of the message)
CASES = [
    ("options", lambda: clean(SIGNALS, filter=False, low_pass=0.1), "No filter type selected"),
    ("filtering", lambda: clean(SIGNALS, t_r=2.0, low_pass=0.3), "The frequency specified for the low pass"),
    ("filtering", lambda: butterworth(SIGNALS, 0.5, high_pass=-0.1, copy=True), "The frequency specified for the high pass"),
    ("cosine", lambda: clean(SIGNALS[:3], filter="cosine", high_pass=0.01, t_r=2.0), "Cosine filter was not created"),
    ("cosine", lambda: cosine_drift(0.3, np.arange(10) * 2.0), "High-pass filter will span"),
    ("common", lambda: clean(SIGNALS[:1], filter=False), "Detrending of 3D signal"),
    ("standardizing", lambda: clean(ZERO_MEAN, detrend=False, filter=False, standardize="psc"), "psc standardization"),
    ("cleaning", lambda: clean(SIGNALS, filter="cosine", high_pass=0.01, t_r=2.0, low_pass=0.1), "low_pass is not"),
]


@pytest.mark.parametrize(("module", "call", "message"), CASES, ids=[f"{case[0]}-{i}" for i, case in enumerate(CASES)])
def test_warning_names_the_callers_line(module, call, message):
    with pytest.warns(UserWarning) as record:
        call()
    ours = [warning for warning in record if str(warning.message).startswith(message)]
    assert ours, [str(warning.message) for warning in record]
    line_of_call = inspect.getsourcelines(call)[1]
    assert {(warning.filename, warning.lineno) for warning in ours} == {(__file__, line_of_call)}
