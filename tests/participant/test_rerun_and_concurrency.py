"""Reruns skip finished outputs (unless --overwrite); parallel participant jobs share one OUTPUT_DIR."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from ..conftest import file_listing, run_cli


def _outputs_of(listing: dict) -> dict:
    return {k: v for k, v in listing.items() if k.startswith("sub-")}


def test_rerun_skips_then_overwrite_recomputes(fmriprep_dataset, demo_atlas, tmp_path):
    image, table = demo_atlas
    output = tmp_path / "out"
    common = [fmriprep_dataset, output, "participant", "--participant-label", "01", "--atlas-file",
              f"Demo={image}:{table}", "--strategy", "simple", "--no-reports", "-w", tmp_path / "work"]
    first = run_cli(*common, "--nprocs", "2")
    assert first.returncode == 0, first.stderr
    assert "[3/3]" in first.stderr
    done = _outputs_of(file_listing(output))
    assert len([k for k in done if k.endswith("_timeseries.tsv")]) == 3

    second = run_cli(*common)
    assert second.returncode == 0, second.stderr
    assert second.stderr.count("skipped (outputs exist)") == 3
    assert "0 run(s) processed, 3 skipped" in second.stderr
    assert _outputs_of(file_listing(output)) == done

    # an interrupted run: one output missing -> that run is redone, the others skipped
    missing = next(k for k in done if k.endswith("_relmat.tsv"))
    (output / missing).unlink()
    third = run_cli(*common)
    assert third.returncode == 0, third.stderr
    assert third.stderr.count("skipped (outputs exist)") == 2
    assert (output / missing).exists()

    fourth = run_cli(*common, "--overwrite")
    assert fourth.returncode == 0, fourth.stderr
    assert "skipped" not in fourth.stderr.split("Finished")[0]
    after = _outputs_of(file_listing(output))
    assert set(after) == set(done)
    changed = [k for k in done if after[k][1] != done[k][1] and k != missing]
    assert changed, "--overwrite rewrote the outputs"


def test_concurrent_participant_jobs_share_output_dir(fmriprep_dataset, tmp_path):
    """Two participant jobs (an HPC job array) write into one OUTPUT_DIR at the same time,
    sharing one --bids-database-dir."""
    output = tmp_path / "shared"
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    jobs = [
        subprocess.Popen(
            [sys.executable, "-m", "regionseries", str(fmriprep_dataset), str(output), "participant",
             "--participant-label", label, "--spheres", "Dosenbach2010", "--strategy", "simple",
             "--no-reports", "-w", str(tmp_path / f"work-{label}"),
             "--bids-database-dir", str(tmp_path / "pybids-db")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        for label in ("01", "03")
    ]
    results = [(job.wait(timeout=300), job.stderr.read()) for job in jobs]
    for code, stderr in results:
        assert code == 0, stderr
    description = json.loads((output / "dataset_description.json").read_text())
    assert description["GeneratedBy"][0]["Name"] == "regionseries"
    assert (output / ".bidsignore").read_text().count("*_timeseries.tsv") == 1
    assert len(list(output.glob("sub-01/**/*_timeseries.tsv"))) == 3
    assert len(list(output.glob("sub-03/**/*_timeseries.tsv"))) == 1
    assert len(list((output / "logs").glob("*.log"))) == 2
    assert not list(output.rglob(".tmp-*"))
    # the shared pybids index was built once, by whichever job finished indexing first
    assert [p.name for p in tmp_path.glob("*pybids-db*")] == ["pybids-db"]
    assert (tmp_path / "pybids-db" / "layout_index.sqlite").exists()


def test_rerun_with_other_settings_warns_and_keeps_outputs(fmriprep_dataset, demo_atlas, tmp_path):
    """Cleaning options do not change output names: a rerun without --overwrite skips the run,
    and says that the existing outputs were made with other settings."""
    image, table = demo_atlas
    output = tmp_path / "out"
    common = [fmriprep_dataset, output, "participant", "--participant-label", "03", "--atlas-file",
              f"Demo={image}:{table}", "--strategy", "simple", "--no-reports", "-w", tmp_path / "work"]
    first = run_cli(*common)
    assert first.returncode == 0, first.stderr
    record_path = next(output.glob("sub-03/func/*_desc-simple_qc.json"))
    settings = json.loads(record_path.read_text())["Settings"]
    assert settings["SmoothingFWHM"] is None and settings["Strategy"]["name"] == "simple"
    before = _outputs_of(file_listing(output))

    changed = run_cli(*common, "--smoothing-fwhm", "6")
    assert changed.returncode == 0, changed.stderr
    assert "skipped (outputs exist)" in changed.stderr
    assert ("outputs of strategy simple exist but were made with other settings (see their *_qc.json 'Settings'); "
            "they were kept as they are: rerun with --overwrite, or write into another OUTPUT_DIR") in changed.stderr
    assert _outputs_of(file_listing(output)) == before

    same = run_cli(*common)
    assert same.returncode == 0 and "other settings" not in same.stderr, same.stderr

    overwritten = run_cli(*common, "--smoothing-fwhm", "6", "--overwrite")
    assert overwritten.returncode == 0, overwritten.stderr
    assert json.loads(record_path.read_text())["Settings"]["SmoothingFWHM"] == 6.0
    again = run_cli(*common, "--smoothing-fwhm", "6")
    assert "skipped (outputs exist)" in again.stderr and "other settings" not in again.stderr, again.stderr


def test_report_lists_runs_in_file_order_with_worker_processes(fmriprep_dataset, demo_atlas, tmp_path):
    """Worker processes finish runs in any order; the report shows them in file order."""
    import re
    from pathlib import Path

    image, table = demo_atlas
    output = tmp_path / "out"
    result = run_cli(fmriprep_dataset, output, "participant", "--participant-label", "01", "--atlas-file",
                     f"Demo={image}:{table}", "--strategy", "simple", "-w", tmp_path / "work", "--nprocs", "2")
    assert result.returncode == 0, result.stderr
    bolds = sorted(p.name for p in Path(fmriprep_dataset).glob("sub-01/**/*_desc-preproc_bold.nii*"))
    assert len(bolds) >= 2
    html = (output / "sub-01.html").read_text()
    anchors = re.findall(r'<section[^>]*id="(sub-01[^"]*)"', html)
    stems = [re.sub(r"[^A-Za-z0-9_-]+", "-", b.split("_space-")[0]) for b in bolds]
    positions = [next(i for i, anchor in enumerate(anchors) if anchor.startswith(stem)) for stem in stems]
    assert positions == sorted(positions), (anchors, stems)


def test_report_is_the_same_when_workers_draw_the_run_figures(fmriprep_dataset, demo_atlas, tmp_path):
    """With --nprocs 2 each worker draws its runs' own figures; page and figures equal --nprocs 1's."""
    import hashlib
    import re

    image, table = demo_atlas
    pages, figures = {}, {}
    for nprocs in ("1", "2"):
        output = tmp_path / f"out{nprocs}"
        result = run_cli(fmriprep_dataset, output, "participant", "--participant-label", "01", "--atlas-file",
                         f"Demo={image}:{table}", "--spheres", "Power2011", "--strategy", "simple", "scrubbing",
                         "-w", tmp_path / f"work{nprocs}", "--nprocs", nprocs)
        assert result.returncode == 0, result.stderr
        html = (output / "sub-01.html").read_text()
        # The command line and the minute the page was written differ between the two jobs.
        html = re.sub(r"<tr><th scope=\"row\">command</th>.*?</tr>", "", html, flags=re.S)
        pages[nprocs], stamped = re.subn(r"(Generated by regionseries \S+ on )[^.<]*", r"\1<time>", html)
        assert stamped == 1
        folder = output / "sub-01" / "figures"
        figures[nprocs] = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    assert figures["1"] and figures["1"] == figures["2"]
    assert pages["1"] == pages["2"]
