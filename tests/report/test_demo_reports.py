"""End to end: the reports of a generated demo dataset, through the real command line.

A small fMRIPrep-like dataset (the demo generator) is processed by
``python -m regionseries`` at the participant and group levels with a labels
atlas whose label table names one region ``<script>alert(1)</script>`` and a
built-in sphere set; every page is then opened in headless Chromium.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from regionseries.demo import DatasetSpec, RunSpec, write_demo_atlas, write_fmriprep_dataset

HOSTILE = "<script>alert(1)</script>"


def _cli(*args) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "regionseries", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo-reports")
    spec = DatasetSpec(
        runs=[
            RunSpec("01", "1", "rest", "1", motion_scale=0.6),
            RunSpec("01", "1", "rest", "2", motion_scale=2.5, int16=True),
            RunSpec("02", None, "rest", "1", motion_scale=1.0),
            RunSpec("02", None, "rest", "2", with_confounds=False),
            RunSpec("03", None, "rest", None, motion_scale=0.8),
        ],
        n_volumes=48, voxel_size=8.0, seed=5,
    )
    bids = root / "fmriprep"
    write_fmriprep_dataset(bids, spec)
    image, table = write_demo_atlas(root / "atlas", voxel_size=6.0)
    labels = pd.read_csv(table, sep="\t")
    labels.loc[2, "name"] = HOSTILE
    labels.to_csv(table, sep="\t", index=False)
    output = root / "out"
    participant = _cli(bids, output, "participant", "--atlas-file", f"Demo={image}:{table}",
                       "--spheres", "Dosenbach2010", "--strategy", "simple", "scrubbing",
                       "-w", root / "work")
    group = _cli(bids, output, "group", "-w", root / "work")
    return {"output": output, "participant": participant, "group": group, "bids": bids,
            "names": labels["name"].tolist(), "root": root, "image": image, "table": table}


def _qc_records(output: Path, participant: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(output.glob(f"sub-{participant}/**/*_qc.json"))]


def test_both_levels_write_their_reports(demo):
    output = demo["output"]
    # sub-02's second run has no confounds: reported as a failure, exit code 1.
    assert demo["participant"].returncode == 1, demo["participant"].stderr
    assert demo["group"].returncode == 0, demo["group"].stderr
    for name in ("sub-01.html", "sub-02.html", "sub-03.html", "group.html"):
        assert (output / name).is_file(), name
    assert HOSTILE not in (output / "sub-01.html").read_text()


def test_participant_reports_in_the_browser(demo, browser, screenshot_dir):
    output = demo["output"]
    for participant in ("01", "02", "03"):
        page = output / f"sub-{participant}.html"
        browser.open(page.as_uri())
        assert browser.console_errors() == [], participant
        assert browser.dialogs() == [], participant
        assert all(url.startswith("file://") for url in browser.requested_urls())
        images = browser.evaluate(
            "Array.from(document.images).map(i => [i.getAttribute('src'), i.naturalWidth])")
        assert len(images) >= 7 and all(width > 0 for _, width in images), images
        pixels = browser.screenshot(screenshot_dir / f"demo-sub-{participant}.png")
        assert pixels.std() > 20
        browser.open_all_runs()
        text = browser.evaluate("document.body.innerText")
        for name in demo["names"]:
            assert name in text, name  # the atlas table's names, the hostile one as text
        assert browser.evaluate("document.scripts.length") == 1
        for record in _qc_records(output, participant):
            if record["Status"] != "done":
                continue
            kept, total = record["NumberOfVolumesKept"], record["NumberOfVolumes"]
            assert f"kept {kept}/{total} volumes" in text
            censored = record["NumberOfVolumesDiscardedByMotionScrubbing"]
            dummy = record["NumberOfVolumesDiscardedByNonsteadyStatesDetector"]
            assert f"{dummy}\t{censored}\t{kept}" in text  # the censoring table's cells


def test_failed_run_and_exclusions_are_explained(demo, browser):
    output = demo["output"]
    browser.open((output / "sub-02.html").as_uri())
    text = browser.evaluate("document.body.innerText")
    assert "Runs that could not be processed" in text
    assert "sub-02_task-rest_run-2_space-MNI152NLin2009cAsym_desc-preproc_bold.nii.gz" in text
    assert "no confounds file" in text
    excluded = [r for p in ("01", "02", "03") for r in _qc_records(output, p)
                if r["Status"] == "excluded"]
    for record in excluded:
        participant = record["Entities"]["sub"]
        browser.open((output / f"sub-{participant}.html").as_uri())
        assert record["Reason"] in browser.evaluate("document.body.innerText")


def test_group_report_in_the_browser(demo, browser, screenshot_dir):
    output = demo["output"]
    browser.open((output / "group.html").as_uri())
    assert browser.console_errors() == [] and browser.dialogs() == []
    images = browser.evaluate("Array.from(document.images).map(i => i.naturalWidth)")
    assert len(images) >= 4 and all(width > 0 for width in images)
    assert browser.screenshot(screenshot_dir / "demo-group.png", full_page=True).std() > 20
    text = browser.evaluate("document.body.innerText")
    qcfc = [json.loads(p.read_text()) for p in sorted((output / "group").glob("*_qcfc.json"))]
    assert qcfc
    for summary in qcfc:
        if summary["MedianAbsoluteQCFC"] is not None:
            assert f"{summary['MedianAbsoluteQCFC']:.3g}" in text


def test_no_reports_writes_no_html(demo):
    output = demo["root"] / "quiet"
    result = _cli(demo["bids"], output, "participant", "--participant-label", "03",
                  "--atlas-file", f"Demo={demo['image']}:{demo['table']}", "--strategy", "simple",
                  "--no-reports", "-w", demo["root"] / "work-quiet")
    assert result.returncode == 0, result.stderr
    assert list(output.glob("sub-03/**/*_timeseries.tsv"))
    assert not list(output.rglob("*.html")) and not list(output.rglob("figures"))


def test_group_report_has_mean_connectomes_and_the_qcfc_sample(demo, browser):
    """The real group level: one mean-connectome image per atlas and strategy, and QC-FC's participants."""
    output = demo["output"]
    browser.open((output / "group.html").as_uri())
    alts = browser.evaluate(
        "Array.from(document.querySelectorAll('#connectomes img')).filter(i => i.naturalWidth > 0).map(i => i.alt)")
    assert sorted(alts) == sorted(f"Mean connectome of atlas {atlas}, strategy {strategy}"
                                  for atlas in ("Demo", "Dosenbach2010") for strategy in ("simple", "scrubbing"))
    text = browser.evaluate("document.body.innerText")
    for path in sorted((output / "group").glob("*_qcfc.json")):
        summary = json.loads(path.read_text())
        assert summary["QCFCUnit"] == "participant"
        assert f"QC-FC across {summary['NumberOfParticipants']} participants ({summary['NumberOfRuns']} runs" in text
    assert "(fewer than 20)" in text
    assert browser.console_errors() == []


def test_a_run_every_strategy_excluded_gets_its_figures_and_counts_as_an_exclusion(demo, browser):
    # An FD threshold below every FD value censors every volume: scrubbing excludes the run.
    output = demo["root"] / "all-excluded"
    result = _cli(demo["bids"], output, "participant", "--participant-label", "03",
                  "--atlas-file", f"Demo={demo['image']}:{demo['table']}", "--strategy", "scrubbing",
                  "--fd-threshold", "0.0001", "-w", demo["root"] / "work-excluded")
    assert "excluded" in result.stdout + result.stderr, result.stderr
    (record,) = _qc_records(output, "03")
    assert record["Status"] == "excluded"
    browser.open((output / "sub-03.html").as_uri())
    assert browser.console_errors() == [] and browser.dialogs() == []
    cards = browser.evaluate(
        "Object.fromEntries(Array.from(document.querySelectorAll('.card')).map("
        "c => [c.querySelector('.label').textContent, c.querySelector('.value').textContent]))")
    assert cards["runs failed"] == "0" and cards["run × strategy exclusions"] == "1"
    assert "run × strategy failures" not in cards
    assert "Runs that could not be processed" not in browser.evaluate("document.body.innerText")
    motion = browser.evaluate(
        "Array.from(document.querySelectorAll('section.run img')).filter("
        "i => i.alt.startsWith('Framewise displacement')).map(i => i.naturalWidth)")
    assert len(motion) == 1 and motion[0] > 0  # the excluded run's motion figure, drawn
    text = browser.evaluate("document.querySelector('section.run').innerText")
    assert "Exclusions of this run" in text and record["Reason"] in text
    reasons = browser.evaluate("document.querySelector('section.run details.reasons').textContent")
    assert "FD" in reasons  # the volumes above the threshold, with their reason


def test_group_page_lists_each_excluded_run_once_and_folds_a_long_qc_table(demo, browser):
    """The excluded runs once per run and strategy, in the summary (the QC table repeats them per
    atlas); the QC table itself is folded when it has more than 30 rows."""
    output = demo["output"]
    tables = [pd.read_csv(path, sep="\t", keep_default_na=False, na_values="n/a")
              for path in sorted((output / "group").glob("*_qc.tsv"))]
    qc = pd.concat(tables, ignore_index=True)
    excluded = qc[qc["excluded"].astype(bool)]
    assert excluded["atlas"].nunique() == 2  # the same exclusions, once per atlas, in the TSVs
    browser.open((output / "group.html").as_uri())
    rows = browser.evaluate("Array.from(document.querySelectorAll('table.excluded-runs tbody tr'))"
                            ".map(r => r.innerText)")
    assert len(rows) == len(excluded.drop_duplicates(["bold", "strategy"])) > 0
    for reason in excluded["exclusion_reason"]:
        assert sum(reason in row for row in rows) == 1
    fold = browser.evaluate("[document.querySelector('#qc-table details.qc-fold').open, "
                            "document.querySelector('#qc-table details.qc-fold > summary').innerText, "
                            "document.querySelectorAll('#qc-table table tbody tr').length]")
    assert fold == [len(qc) <= 30, f"All {len(qc)} rows ({len(excluded)} excluded)", len(qc)]


def test_strategy_parameters_list_only_the_settings_each_strategy_uses(demo, browser):
    browser.open((demo["output"] / "sub-01.html").as_uri())
    tables = dict(browser.evaluate(
        "Array.from(document.querySelectorAll('#parameters h3')).map(h => [h.textContent, "
        "Array.from(h.nextElementSibling.querySelectorAll('th')).map(th => th.textContent)])"))
    simple, scrubbing = tables["Strategy: simple"], tables["Strategy: scrubbing"]
    assert {"motion", "wm_csf"} <= set(simple) and {"fd_threshold", "std_dvars_threshold"} <= set(scrubbing)
    for unused in ("global_signal", "compcor", "n_compcor", "ica_aroma"):
        assert unused not in simple and unused not in scrubbing
    assert "fd_threshold" not in simple and "min_segment_length" not in simple
