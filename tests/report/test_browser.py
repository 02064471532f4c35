"""The reports in a real headless Chromium (Debian's chromium, driven over CDP).

Screenshots are kept in ``$REGIONSERIES_SCREENSHOTS`` (or a temporary folder)
so a human can look at them.
"""

from __future__ import annotations

import numpy as np
import pytest

from regionseries.report import render
from regionseries.report.model import GroupReport, MeanConnectome, ParticipantReport


@pytest.fixture(scope="module")
def reports(rendered):
    return {
        "participant": (rendered.participant_path, rendered.participant),
        "group": (rendered.group_path, rendered.group),
    }


def _check_page_health(browser, url: str) -> None:
    browser.open(url)
    assert browser.console_errors() == []
    assert browser.dialogs() == []
    requested = browser.requested_urls()
    assert requested and all(url.startswith("file://") for url in requested), requested
    images = browser.evaluate(
        "Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, i.naturalWidth])"
    )
    assert images, "the page has no figures"
    broken = [src for src, complete, width in images if not complete or width == 0]
    assert broken == []


def _not_blank(pixels: np.ndarray) -> None:
    assert pixels.shape[0] > 500 and pixels.shape[1] >= 1000
    assert pixels.std() > 20, "the screenshot is blank"
    packed = pixels.astype(np.int64) @ np.array([65536, 256, 1])
    assert np.unique(packed).size > 200, "the screenshot has almost no colours"


def test_participant_page_loads_cleanly_and_shows_its_content(browser, reports, screenshot_dir,
                                                              synthetic):
    path, report = reports["participant"]
    _check_page_health(browser, path.as_uri())
    _not_blank(browser.screenshot(screenshot_dir / "participant-top.png"))
    full = browser.screenshot(screenshot_dir / "participant-full.png", full_page=True, scale=0.5)
    assert full.shape[1] == 600 and full.std() > 20
    browser.open_all_runs()
    text = browser.evaluate("document.body.innerText")
    for atlas in report.runs[0].atlases:
        for name in atlas.region_names:
            assert name in text
    for run in report.runs:
        simple, scrubbing = run.strategies
        assert f"kept {simple.n_kept}/{run.n_volumes} volumes" in text
        assert f"{scrubbing.n_motion_censored}\t{scrubbing.n_kept}" in text  # table cells
    assert "only 40 % of volumes left after censoring" in text


def test_hostile_label_and_file_name_are_text_and_never_run(browser, reports, synthetic):
    path, _ = reports["participant"]
    browser.open(path.as_uri())
    text = browser.evaluate("document.body.innerText")
    assert synthetic.XSS_LABEL in text and synthetic.XSS_FILE in text
    assert browser.dialogs() == []
    assert browser.evaluate("document.scripts.length") == 1
    assert browser.evaluate("document.querySelectorAll('img[onerror], [onload]').length") == 0
    cells = browser.evaluate(
        "Array.from(document.querySelectorAll('td')).filter("
        "c => c.textContent === '<script>alert(1)</script>').length"
    )
    assert cells == 1  # the atlas's region table, once for the runs on one grid


def test_region_table_sorts_when_its_header_is_clicked(browser, reports):
    path, report = reports["participant"]
    browser.open(path.as_uri())
    read_sizes = (
        "Array.from(document.querySelector('details table.sortable').tBodies[0].rows)"
        ".map(r => parseFloat(r.cells[2].textContent))"
    )
    sizes = browser.evaluate(read_sizes)
    assert sizes == [float(round(v)) for v in report.runs[0].atlases[0].size_mm3]
    browser.evaluate("document.querySelector('details table.sortable').tHead.rows[0].cells[2].click()")
    assert browser.evaluate(read_sizes) == sorted(sizes)
    browser.evaluate("document.querySelector('details table.sortable').tHead.rows[0].cells[2].click()")
    assert browser.evaluate(read_sizes) == sorted(sizes, reverse=True)
    assert browser.console_errors() == []


def test_group_page_loads_cleanly_and_its_qc_table_sorts(browser, reports, screenshot_dir):
    path, _ = reports["group"]
    _check_page_health(browser, path.as_uri())
    _not_blank(browser.screenshot(screenshot_dir / "group-full.png", full_page=True))
    text = browser.evaluate("document.body.innerText")
    assert "median |QC-FC|" in text and "distance dependence" in text
    table = "document.querySelector('#qc-table table')"
    column = browser.evaluate(
        f"Array.from({table}.tHead.rows[0].cells).findIndex(c => c.textContent === 'mean FD (mm)')"
    )
    read = f"Array.from({table}.tBodies[0].rows).map(r => parseFloat(r.cells[{column}].textContent))"
    browser.evaluate(f"{table}.tHead.rows[0].cells[{column}].click()")
    values = browser.evaluate(read)
    assert values == sorted(values) and len(values) == 48
    assert browser.console_errors() == []


def test_svg_report_loads_in_the_browser(browser, tmp_path, synthetic, screenshot_dir):
    report = ParticipantReport("03", [synthetic.make_small_run(participant="03")])
    path = render.write_participant_report(report, tmp_path, figure_format="svg")
    _check_page_health(browser, path.as_uri())
    _not_blank(browser.screenshot(screenshot_dir / "participant-svg.png"))


def test_group_page_shows_mean_connectomes_motion_and_what_qcfc_rests_on(browser, tmp_path, synthetic,
                                                                        screenshot_dir):
    report = synthetic.make_group_report()
    for result in report.qcfc:
        result.unit, result.n_participants = "participant", 12
    rng = np.random.default_rng(0)
    names = {"demo": [f"region {k}" for k in range(12)], "dmnseeds": ["L parietal", "R parietal", "mPFC"]}
    connectomes = []
    for atlas, regions in names.items():
        for strategy in ("simple", "scrubbing"):
            matrix = np.tanh(rng.normal(0.2, 0.3, (len(regions), len(regions))))
            matrix = (matrix + matrix.T) / 2
            np.fill_diagonal(matrix, 1.0)
            connectomes.append(MeanConnectome(atlas, strategy, regions, matrix, n_runs=21))
    report = GroupReport(report.qc_table, report.qcfc, exclusion_criteria=report.exclusion_criteria,
                         mean_connectomes=connectomes, max_mean_fd_mm=0.3)
    path = render.write_group_report(report, tmp_path)
    _check_page_health(browser, path.as_uri())
    browser.screenshot(screenshot_dir / "group-connectomes.png", full_page=True, scale=0.5)
    images = browser.evaluate(
        "Array.from(document.querySelectorAll('#connectomes img')).map(i => [i.alt, i.naturalWidth])")
    assert sorted(alt for alt, _ in images) == sorted(
        f"Mean connectome of atlas {atlas}, strategy {strategy}" for atlas in names
        for strategy in ("simple", "scrubbing"))
    assert all(width > 0 for _, width in images)
    motion = browser.evaluate("document.querySelector('#motion img').naturalWidth")
    assert motion > 0
    text = browser.evaluate("document.querySelector('#qcfc').innerText")
    assert "simple: QC-FC across 12 participants (24 runs, averaged per participant)" in text
    strategies = browser.evaluate("document.querySelector('#strategies').innerText")
    assert "QC-FC rests on 12 participants (fewer than 20)" in strategies
    assert "closer to 0 is better" in strategies  # the criteria stay readable next to the table
    assert browser.console_errors() == []


def test_censoring_shows_the_dvars_trace_and_each_volume_reason(browser, reports):
    path, report = reports["participant"]
    browser.open(path.as_uri())
    browser.open_all_runs()
    text = browser.evaluate("document.body.innerText")
    assert "Volumes with std DVARS > 1.5" in text
    motion_alts = browser.evaluate(
        "Array.from(document.images).map(i => i.alt).filter(a => a.includes('standardized DVARS'))")
    assert len(motion_alts) == len(report.runs)
    for run, section in zip(report.runs, browser.evaluate(
            "Array.from(document.querySelectorAll('section.run')).map(s => s.id)")):
        scrubbing = run.strategy("scrubbing")
        reasons = run.volume_reasons(scrubbing)
        rows = browser.evaluate(
            f"Array.from(document.getElementById('{section}').querySelectorAll("
            "'details.reasons tbody tr')).map(r => Array.from(r.cells).map(c => c.textContent))")
        scrubbing_rows = {int(volume): why for name, volume, _, _, _, why in rows
                          if name == "scrubbing"}
        assert scrubbing_rows == {volume: " + ".join(why) for volume, why in reasons.items()}
        shown = set(" + ".join(scrubbing_rows.values()).split(" + "))
        assert {"non-steady-state", "FD", "DVARS"} <= shown


def test_four_runs_fold_into_a_short_page(browser, tmp_path, synthetic, screenshot_dir):
    report = synthetic.make_participant_report(n_runs=4)
    path = render.write_participant_report(report, tmp_path)
    browser.open(path.as_uri())
    assert browser.console_errors() == [] and browser.dialogs() == []
    assert browser.evaluate("document.querySelectorAll('details.run-fold:not([open])').length") == 4
    height = browser.evaluate("document.documentElement.scrollHeight")
    browser.screenshot(screenshot_dir / "participant-4-runs-folded.png", full_page=True, scale=0.5)
    assert height <= 6000, height
    # A link to a folded run opens it; the button opens them all.
    anchor = browser.evaluate("document.querySelectorAll('section.run')[2].id")
    browser.evaluate(f"location.hash = '#{anchor}'")
    browser.evaluate("new Promise(r => setTimeout(r, 50))", await_promise=True)
    assert browser.evaluate(f"document.getElementById('{anchor}').querySelector('details.run-fold').open") is True
    browser.evaluate("document.querySelector('button.toggle-runs').click()")
    assert browser.evaluate("document.querySelectorAll('details.run-fold[open]').length") == 4
    assert browser.evaluate("document.documentElement.scrollHeight") > 3 * height
    assert browser.console_errors() == []
