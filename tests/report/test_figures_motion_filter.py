"""The motion figure with a motion filter: fMRIPrep's FD and the filtered FD together, censored
volumes marked on the FD that censored them, the raster drawn like matplotlib's figure."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import to_hex
from PIL import Image

from regionseries.report import RunReport, StrategyResult, figures, raster
from regionseries.report.raster.colors import COLOR_FD, COLOR_FD_FILTERED

N = 80
JERK = 50


@pytest.fixture
def breathing():
    """fMRIPrep's FD inflated by breathing, the filtered FD small but for a jerk; two strategies,
    one censoring on the filtered FD (the jerk only), one on fMRIPrep's."""
    rng = np.random.default_rng(0)
    fd = 0.2 + 0.2 * np.sin(np.arange(N) * 0.35) ** 8 + rng.uniform(0, 0.02, N)  # breathing peaks
    filtered = rng.uniform(0.02, 0.1, N)
    fd[JERK], filtered[JERK] = 1.1, 0.8
    fd[0] = filtered[:3] = np.nan
    raw_censored = np.setdiff1d(np.flatnonzero(np.nan_to_num(fd) > 0.3), [0, 1])
    strategies = [
        StrategyResult("notch", kept_volumes=np.setdiff1d(np.arange(2, N), [JERK]), dummy_volumes=[0, 1],
                       motion_censored_volumes=[JERK], fd_threshold=0.3, filtered_fd=filtered),
        StrategyResult("raw", kept_volumes=np.setdiff1d(np.arange(2, N), raw_censored), dummy_volumes=[0, 1],
                       motion_censored_volumes=raw_censored, fd_threshold=0.3),
    ]
    return fd, filtered, strategies, raw_censored


def test_both_fd_traces_are_drawn_each_with_its_censored_volumes(breathing):
    fd, filtered, strategies, raw_censored = breathing
    figure = figures.plot_motion(N, 0.8, strategies, fd)
    (fd_axes,) = [axes for axes in figure.axes if axes.get_ylabel() == "FD (mm)"]
    traces = {to_hex(line.get_color()): line.get_ydata() for line in fd_axes.lines
              if len(line.get_ydata()) == N}
    assert set(traces) == {COLOR_FD, COLOR_FD_FILTERED}
    np.testing.assert_array_equal(traces[COLOR_FD], fd)
    np.testing.assert_array_equal(traces[COLOR_FD_FILTERED], filtered)
    marks = sorted(tuple(point) for collection in fd_axes.collections for point in collection.get_offsets())
    expected = sorted([(JERK, filtered[JERK])] + [(v, fd[v]) for v in raw_censored])
    np.testing.assert_allclose(marks, expected)
    labels = [text.get_text() for text in figure.legends[0].get_texts()]
    assert "FD of the motion-filtered parameters (mm)" in labels and "framewise displacement (mm)" in labels


def test_raster_draws_the_filtered_fd_like_matplotlib(breathing, tmp_path):
    fd, _, strategies, _ = breathing
    slow = figures.save_figure(figures.plot_motion(N, 0.8, strategies, fd), tmp_path / "slow.png")
    fast = figures.save_figure(raster.motion_raster(N, 0.8, strategies, fd), tmp_path / "fast.png")
    slow, fast = (np.asarray(Image.open(path).convert("RGB"), dtype=int) for path in (slow, fast))
    assert slow.shape == fast.shape
    assert (np.abs(slow - fast).sum(axis=2) > 30).mean() < 0.01
    green = np.array([int(COLOR_FD_FILTERED[k:k + 2], 16) for k in (1, 3, 5)])
    assert (np.abs(fast - green).sum(axis=2) < 40).sum() > 100  # the filtered trace is there


def test_reasons_name_fd_when_the_filtered_fd_censored(breathing):
    fd, _, strategies, _ = breathing
    report = RunReport(participant="01", session=None, entities={}, bold_file="bold.nii.gz", confounds_file=None,
                       mask_file=None, space=None, repetition_time=0.8, n_volumes=N, fd=fd,
                       strategies=strategies, atlases=[])
    assert report.volume_reasons(report.strategies[0])[JERK] == ["FD"]
    with pytest.raises(Exception, match="filtered_fd must have one value per volume"):
        RunReport(participant="01", session=None, entities={}, bold_file="bold.nii.gz", confounds_file=None,
                  mask_file=None, space=None, repetition_time=0.8, n_volumes=N - 1, fd=None,
                  strategies=[StrategyResult("x", kept_volumes=[], filtered_fd=np.zeros(N))], atlases=[])
