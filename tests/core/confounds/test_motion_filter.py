"""The motion filter (XCP-D's --motion-filter-type): frequency response, aliasing, FD, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import signal

from regionseries.core.confounds import ConfoundsError
from regionseries.core.confounds.motion_filter import (
    design_motion_filter,
    filter_motion_parameters,
    framewise_displacement,
)

TR = 0.8  # s: multiband, Nyquist 0.625 Hz
N = 400


def sinusoid(frequency_hz, n=N, t_r=TR, amplitude=1.0, phase=0.3):
    return amplitude * np.sin(2 * np.pi * frequency_hz * np.arange(n) * t_r + phase)


def middle(values):
    """The series without its first and last 15 %, where the edges of a finite series show."""
    cut = int(0.15 * len(values))
    return values[cut:-cut]


def test_notch_removes_a_sinusoid_in_its_band_and_passes_one_outside():
    design = design_motion_filter("notch", 12, 24, 4, TR)  # 0.2-0.4 Hz
    breathing, slow, fast = sinusoid(0.3), sinusoid(0.05), sinusoid(0.55)
    filtered = filter_motion_parameters(np.column_stack([breathing, slow, fast]), design)
    assert np.abs(middle(filtered[:, 0])).max() < 0.01  # 1 % of the amplitude
    for column, original in ((1, slow), (2, fast)):
        np.testing.assert_allclose(middle(filtered[:, column]), middle(original), atol=0.06)


def test_notch_design_is_xcpd_s():
    """A notch at the middle of the band, the band's width its -3 dB width; order / 4 passes."""
    design = design_motion_filter("notch", 12, 18, 8, TR)
    b, a = signal.iirnotch(0.25, 0.25 / 0.1, fs=1 / TR)
    np.testing.assert_allclose(design.b, b)
    np.testing.assert_allclose(design.a, a)
    assert design.passes == 2 and design.band_hz == pytest.approx((0.2, 0.3))
    record = design.record()
    assert record["BandStopBreathsPerMinute"] == [12, 18]
    assert record["BandStopHertz"] == pytest.approx([0.2, 0.3])
    assert record["NotchFrequencyHertz"] == pytest.approx(0.25)
    assert record["QualityFactor"] == pytest.approx(2.5)
    assert record["Order"] == 8 and record["Passes"] == 2


def test_forward_backward_gain_at_the_notch_and_band_edges():
    """filtfilt squares the gain: the notch's -3 dB edges become -6 dB (gain 1/2; the digital
    notch's edges sit within 0.01 of the band's, bilinear warping)."""
    design = design_motion_filter("notch", 12, 24, 4, TR)
    _, response = signal.freqz(design.b, design.a, worN=[0.2, 0.3, 0.4, 0.05], fs=1 / TR)
    gain = np.abs(response) ** 2
    assert gain[1] < 1e-12
    np.testing.assert_allclose(gain[[0, 2]], 0.5, atol=0.01)
    assert gain[3] > 0.95


def test_low_pass_removes_above_its_cut_off_and_passes_below():
    design = design_motion_filter("lp", 6, None, 4, TR)  # 0.1 Hz, Gratton et al. 2020
    assert design.record()["ButterworthOrder"] == 2
    filtered = filter_motion_parameters(np.column_stack([sinusoid(0.3), sinusoid(0.02)]), design)
    assert np.abs(middle(filtered[:, 0])).max() < 0.02
    np.testing.assert_allclose(middle(filtered[:, 1]), middle(sinusoid(0.02)), atol=0.02)
    b, a = signal.butter(2, 0.1, fs=1 / TR)
    np.testing.assert_allclose(design.b, b)
    np.testing.assert_allclose(design.a, a)


def test_filter_is_zero_phase():
    design = design_motion_filter("lp", 12, None, 2, TR)
    slow = sinusoid(0.03)
    filtered = filter_motion_parameters(slow[:, None], design)[:, 0]
    lag = np.argmax(np.correlate(middle(filtered), middle(slow), mode="full")) - (len(middle(slow)) - 1)
    assert lag == 0


def test_volumes_before_start_are_left_out_and_held_constant():
    design = design_motion_filter("notch", 12, 24, 4, TR)
    parameters = np.column_stack([sinusoid(0.3) + 0.1 * np.arange(N) / N, sinusoid(0.05)])
    parameters[:3] += 5.0  # non-steady-state volumes with wrong realignment
    filtered = filter_motion_parameters(parameters, design, start=3)
    alone = filter_motion_parameters(parameters[3:], design)
    np.testing.assert_allclose(filtered[3:], alone)
    np.testing.assert_array_equal(filtered[:3], np.repeat(filtered[3:4], 3, axis=0))


def test_framewise_displacement_is_power_s():
    parameters = np.zeros((4, 6))
    parameters[1, 0] = 0.2  # mm
    parameters[2, 4] = 0.01  # rad: 0.5 mm on a 50 mm sphere
    parameters[3, :] = [0.1, -0.1, 0.1, 0.002, -0.002, 0.0]
    fd = framewise_displacement(parameters)
    assert np.isnan(fd[0])
    np.testing.assert_allclose(fd[1:], [0.2, 0.2 + 0.5, 0.1 + 0.1 + 0.1 + 50 * (0.002 + 0.012)])


def test_notch_above_nyquist_is_placed_on_its_alias():
    """TR 2 s (Nyquist 0.25 Hz): breathing at 0.3-0.35 Hz shows at 0.15-0.2 Hz (XCP-D folds too)."""
    t_r = 2.0
    with pytest.warns(UserWarning, match="alias"):
        design = design_motion_filter("notch", 18, 21, 4, t_r, where="run.tsv")
    assert design.applied_band_hz == pytest.approx((0.15, 0.2))
    assert design.aliased
    breathing = sinusoid(0.32, n=300, t_r=t_r)  # sampled: indistinguishable from 0.18 Hz
    filtered = filter_motion_parameters(breathing[:, None], design)[:, 0]
    assert np.abs(middle(filtered)).max() < 0.05


def test_band_across_nyquist_folds_onto_it():
    with pytest.warns(UserWarning, match="alias"):
        design = design_motion_filter("notch", 12, 18, 4, 2.0)  # 0.2-0.3 Hz, Nyquist 0.25
    assert design.applied_band_hz == pytest.approx((0.2, 0.25))


@pytest.mark.parametrize(("band", "t_r", "match"), [
    ((12, 30), 2.0, "wider than it"),          # 0.2-0.5 Hz against a 0.25 Hz Nyquist
    ((27, 33), 2.0, "reaches 0 Hz"),           # around the sampling rate 0.5 Hz
])
def test_unusable_aliased_band_is_an_error_naming_the_file(band, t_r, match):
    with pytest.raises(ConfoundsError, match=rf"^run\.tsv: .*{match}"):
        design_motion_filter("notch", *band, 4, t_r, where="run.tsv")


def test_low_pass_at_or_above_nyquist_is_an_error_naming_the_file():
    with pytest.raises(ConfoundsError, match=r"^run\.tsv: the low-pass motion filter's cut-off 20 breaths per "
                                             r"minute .* Nyquist frequency 0\.25 Hz"):
        design_motion_filter("lp", 20, None, 2, 2.0, where="run.tsv")


@pytest.mark.parametrize(("settings", "match"), [
    (("bandstop", 12, 18, 4), "'motion_filter_type' must be one of"),
    (("notch", 12, None, 4), "needs 'band_stop_max'"),
    (("lp", None, None, 4), "needs 'band_stop_min'"),
    (("notch", 18, 12, 4), "must be lower than"),
    (("notch", 12, 18, 2), "multiple of 4"),
    (("notch", 12, 18, 6), "multiple of 4"),
    (("lp", 6, None, 3), "multiple of 2"),
    (("lp", 6, None, 0), "multiple of 2"),
    (("lp", -6, None, 2), "'band_stop_min' must be a positive number of breaths per minute"),
])
def test_invalid_settings(settings, match):
    with pytest.raises(ValueError, match=match):
        design_motion_filter(*settings, TR)


def test_design_inside_nyquist_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        design = design_motion_filter("notch", 12, 18, 4, TR)
    assert not design.aliased and design.record()["AppliedBandStopHertz"] == pytest.approx([0.2, 0.3])
