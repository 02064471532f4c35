"""The report's frames kept in the study's cache folder: later jobs draw their figures from them.

A frame is a report figure without its data (axes, labels, colour bars),
drawn by matplotlib; later jobs paste their data into the stored frames and
never import matplotlib (tests/report/test_raster.py checks that part).
"""

from __future__ import annotations

import gc

import pytest

from regionseries import pipeline

from ..conftest import run_cli

DRAWN = "frame of a report figure (none in"


def _figures(output):
    return {p.name: p.read_bytes() for p in sorted((output / "sub-03" / "figures").iterdir())}


def test_later_jobs_draw_their_report_from_the_frames_of_the_first(fmriprep_dataset, demo_atlas,
                                                                   tmp_path):
    cache = tmp_path / "study-cache"

    def job(name):
        result = run_cli(fmriprep_dataset, tmp_path / f"out-{name}", "participant",
                         "--participant-label", "03", "--atlas-file", f"Demo={demo_atlas[0]}",
                         "--spheres", "Power2011", "--strategy", "simple", "scrubbing", "-v",
                         "-w", tmp_path / f"work-{name}", "--cache-dir", cache)
        assert result.returncode == 0, result.stderr
        return result

    first = job("first")
    assert DRAWN in first.stderr
    assert list((cache / "report-frames").glob("frame-*.npz"))
    second = job("second")
    assert DRAWN not in second.stderr
    assert _figures(tmp_path / "out-second") == _figures(tmp_path / "out-first")


def test_the_report_hook_spares_the_collector_and_gives_it_back():
    frozen_inside = []

    @pipeline._sparing_the_collector
    def hook(fail=False):
        frozen_inside.append(gc.get_freeze_count())
        if fail:
            raise RuntimeError("the report failed")
        return "written"

    assert gc.get_freeze_count() == 0
    assert hook() == "written"
    with pytest.raises(RuntimeError, match="the report failed"):
        hook(fail=True)
    assert all(count > 0 for count in frozen_inside) and gc.get_freeze_count() == 0
    gc.freeze()  # frozen by someone else (e.g. at start-up): left frozen
    try:
        hook()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
