"""Rendered pages, checked as HTML: escaping, CSP, figure files, content and edge cases."""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from regionseries.report import render
from regionseries.report.model import (
    AtlasResult,
    GroupReport,
    ParticipantReport,
    QCFCResult,
    RunReport,
    StrategyResult,
)


class _Page(HTMLParser):
    """Collects tags, attributes and the text of a page."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def all(self, tag: str) -> list[dict]:
        return [attrs for name, attrs in self.tags if name == tag]

    @property
    def plain_text(self) -> str:
        return " ".join(" ".join(self.text).split())


@pytest.fixture(scope="module")
def participant_page(rendered):
    path = rendered.participant_path
    return rendered.output, path, path.read_text(encoding="utf-8"), rendered.participant


@pytest.fixture(scope="module")
def group_page(rendered):
    path = rendered.group_path
    return rendered.output, path, path.read_text(encoding="utf-8"), rendered.group


def _sha256(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


# --- participant page ---------------------------------------------------------


def test_participant_report_is_named_after_the_participant(participant_page):
    output, path, _, _ = participant_page
    assert path == output / "sub-01.html"


def test_untrusted_text_is_escaped(participant_page, synthetic):
    _, _, html, _ = participant_page
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html
    assert html.count("<script") == 1  # ours, at the end of the body
    page = _Page(html)
    assert synthetic.XSS_LABEL in page.plain_text
    assert synthetic.XSS_FILE in page.plain_text


def test_content_security_policy_allows_only_our_inline_style_and_script(participant_page):
    _, _, html, _ = participant_page
    policy = _Page(html).all("meta")
    csp = next(m["content"] for m in policy if m.get("http-equiv") == "Content-Security-Policy")
    style = re.search(r"<style>(.*?)</style>", html, re.S).group(1)
    script = re.search(r"<script>(.*?)</script>", html, re.S).group(1)
    assert f"style-src 'sha256-{_sha256(style)}'" in csp
    assert f"script-src 'sha256-{_sha256(script)}'" in csp
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp


def test_page_is_self_contained(participant_page):
    output, _, html, _ = participant_page
    assert "http://" not in html and "https://" not in html and "//cdn" not in html
    page = _Page(html)
    assert not page.all("link")  # no external stylesheet
    sources = [img["src"] for img in page.all("img")]
    # per run: motion + (carpet, matrices) x 3 atlases; the 3 atlas overlays once for both runs
    assert len(sources) == 2 * (1 + 2 * 3) + 3
    for source in sources:
        assert source.startswith("sub-01/figures/") and ".." not in source
        assert (output / source).is_file()
    on_disk = sorted(p.relative_to(output).as_posix() for p in (output / "sub-01").rglob("*"))
    assert on_disk == sorted(["sub-01/figures", *set(sources)])  # nothing else, no temp files
    # Both runs share the grid and the regions set to n/a: one overlay per atlas serves both,
    # shown once.
    overlays = [source for source in sources if "_desc-overlay_" in source]
    assert len(overlays) == len(set(overlays)) == 3 and len(set(sources)) == len(sources)
    assert not [p for p in output.iterdir() if p.name.startswith(".")]


def test_every_image_has_alt_text_and_size(participant_page):
    _, _, html, _ = participant_page
    for image in _Page(html).all("img"):
        assert image["alt"] and int(image["width"]) > 100 and int(image["height"]) > 50


def test_summary_states_inputs_strategies_atlases_version_and_problems(participant_page):
    _, _, html, report = participant_page
    text = _Page(html).plain_text
    run = report.runs[0]
    for expected in (
        "sub-01", run.bold_file, run.confounds_file, run.mask_file, "MNI152NLin2009cAsym",
        "simple, scrubbing", "demo (labels, 12 regions)", "blobs (maps, 5 regions)",
        "dmnseeds (spheres, 6 regions)", "regionseries 0.1.0.dev0", "Repetition time 2 s",
        "Volumes 120 (240 s)", "no confounds file found next to the BOLD file",
        "only 40 % of volumes left after censoring (minimum 50 %)",
        "below --min-coverage 0.5",
    ):
        assert expected in text, expected


def test_censoring_counts_are_written_out(participant_page):
    _, _, html, report = participant_page
    text = _Page(html).plain_text
    for run in report.runs:
        simple, scrubbing = run.strategies
        assert f"kept {simple.n_kept}/{run.n_volumes} volumes" in text
        row = (f"scrubbing 0.5 1.5 {scrubbing.n_dummy} {scrubbing.n_motion_censored} "
               f"{scrubbing.n_kept}")
        assert row in text
        above = int(np.sum(run.fd > 0.5))
        assert f"Volumes with FD > 0.5 mm {above} of {run.n_volumes}" in text


def test_region_tables_list_every_region_and_highlight_na(participant_page):
    _, _, html, report = participant_page
    page = _Page(html)
    for atlas in report.runs[0].atlases:
        for name in atlas.region_names:
            assert name in page.plain_text
    na_rows = [attrs for name, attrs in page.tags if name == "tr" and attrs.get("class") == "na"]
    assert len(na_rows) == 2  # demo and dmnseeds have one n/a region each, shown once for both runs
    assert "RH_anterior_inferior 20544 5.87 31 n/a" in page.plain_text
    assert "cerebellum (outside) 0 -60 -30 6 905 16.7 0 n/a" in page.plain_text


def test_parameters_and_command_line_are_listed(participant_page):
    _, _, html, _ = participant_page
    text = _Page(html).plain_text
    assert "Run settings" in text and "high_pass 0.01" in text and "low_pass none" in text
    assert "Strategy: scrubbing" in text and "fd_threshold 0.5" in text
    assert "--strategy simple scrubbing" in text


def test_navigation_links_point_to_sections(participant_page):
    _, _, html, _ = participant_page
    page = _Page(html)
    ids = {attrs["id"] for _, attrs in page.tags if "id" in attrs}
    links = [a["href"][1:] for a in page.all("a") if a.get("href", "").startswith("#")]
    assert links and set(links) <= ids
    nav_text = re.search(r'<nav class="topbar".*?</nav>', html, re.S).group(0)
    link_texts = re.findall(r">([^<>]+)</a>", nav_text)
    assert link_texts == ["Summary", "task-rest run-1", "task-rest run-2", "Parameters"]


def test_rewriting_a_report_replaces_it(tmp_path, synthetic):
    report = ParticipantReport("01", [synthetic.make_small_run()])
    first = render.write_participant_report(report, tmp_path)
    listing = sorted(p.name for p in (tmp_path / "sub-01" / "figures").iterdir())
    again = render.write_participant_report(report, tmp_path)
    assert again == first
    assert sorted(p.name for p in (tmp_path / "sub-01" / "figures").iterdir()) == listing
    assert not [p for p in tmp_path.rglob(".*")]  # no temporary files left


def test_overlays_are_shared_only_by_runs_with_the_same_regions_na(tmp_path, synthetic):
    runs = [synthetic.make_small_run(run=str(k)) for k in (1, 2, 3)]
    runs[2].atlases[0].regions_na = []  # run 3: every region kept
    path = render.write_participant_report(ParticipantReport("01", runs), tmp_path)
    overlays = [img["src"] for img in _Page(path.read_text()).all("img") if "overlay" in img["src"]]
    assert len(overlays) == len(set(overlays)) == 2  # runs 1 and 2 share one, run 3 has its own
    text = _Page(path.read_text()).plain_text
    assert "it is drawn over the mean BOLD of ses-1 task-rest run-1" in text
    assert "It is drawn over the mean BOLD of ses-1 task-rest run-3" in text
    assert "Runs: task-rest run-1, task-rest run-2" in text
    assert "Runs: task-rest run-3" in text


def test_svg_figures(tmp_path, synthetic):
    report = ParticipantReport("01", [synthetic.make_small_run()])
    path = render.write_participant_report(report, tmp_path, figure_format="svg")
    sources = [img["src"] for img in _Page(path.read_text()).all("img")]
    assert sources and all(source.endswith(".svg") for source in sources)
    svg = (tmp_path / sources[0]).read_text()
    assert "<svg" in svg
    assert not re.search(r"href=\"https?:", svg)  # nothing fetched (the xmlns URI is a name)


def test_minimal_run_without_fd_signals_reference_or_connectivity(tmp_path):
    run = RunReport(
        participant="02", session=None, entities={"task": "nback"}, bold_file="b.nii.gz",
        confounds_file=None, mask_file=None, space=None, repetition_time=0.8, n_volumes=5,
        fd=None, strategies=[StrategyResult("none", kept_volumes=range(5))],
        atlases=[AtlasResult("bare", "labels", ["only"])],
    )
    path = render.write_participant_report(ParticipantReport("02", [run]), tmp_path)
    text = _Page(path.read_text()).plain_text
    assert "not available (no confounds)" in text
    assert "No region signals were kept for the report." in text
    assert "No connectivity matrices were computed." in text
    assert "Confounds none" in text and "Space not given" in text
    assert "No run was excluded under any strategy." in text
    assert len(list((tmp_path / "sub-02" / "figures").iterdir())) == 1  # the motion figure


def test_participant_label_is_made_safe_for_file_names(tmp_path, synthetic):
    run = synthetic.make_small_run(participant="../x y")
    path = render.write_participant_report(ParticipantReport("../x y", [run]), tmp_path)
    assert path == tmp_path / "sub-xy.html"
    assert all(p.is_relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert "sub-../x y" in _Page(path.read_text()).plain_text


def test_bad_figure_format_is_refused(tmp_path, synthetic):
    report = ParticipantReport("01", [synthetic.make_small_run()])
    with pytest.raises(ValueError, match=r"figure_format must be one of \('png', 'svg'\), got 'gif'"):
        render.write_participant_report(report, tmp_path, figure_format="gif")


# --- helpers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "label"),
    [("Schaefer2018_400", "Schaefer2018400"), ("a-b c", "abc"), ("DiFuMo", "DiFuMo")],
)
def test_safe_label(text, label):
    assert render.safe_label(text) == label


def test_safe_label_of_symbols_only_is_a_stable_hash():
    assert render.safe_label("<>") == render.safe_label("<>")
    assert re.fullmatch(r"x[0-9a-f]{8}", render.safe_label("<>"))
    assert render.safe_label("<>") != render.safe_label("//")


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, "n/a"), (float("nan"), "n/a"), (np.float32(0.123456), "0.123"), (3, "3"),
     (np.int64(7), "7"), (True, "yes"), (1234.5678, "1.23e+03")],
)
def test_format_number(value, text):
    assert render.format_number(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, "none"), ([], "none"), (["a", 1.5], "a, 1.5"), ({"k": 1}, '{"k": 1}'),
     (False, "no"), (0.01, "0.01"), ("zscore", "zscore")],
)
def test_format_value(value, text):
    assert render.format_value(value) == text


def test_figure_writer_makes_stems_unique_and_skips_missing_figures(tmp_path):
    from regionseries.report.figures import new_figure

    writer = render.FigureWriter(tmp_path, "figs")
    first = writer.write(lambda: new_figure(2, 1), "same")
    second = writer.write(lambda: new_figure(2, 1), "same")
    assert (first["src"], second["src"]) == ("figs/same.png", "figs/same2.png")
    assert (first["width"], first["height"]) == (200, 100)
    assert writer.write(lambda: None, "none") is None
    writer.finish()
    assert len(writer.written) == 2 and all(path.is_file() for path in writer.written)


def test_figure_writer_reports_a_failed_write_when_it_finishes(tmp_path):
    from regionseries.report.figures import new_figure

    (tmp_path / "figs").write_text("a file where the figures folder should be")
    writer = render.FigureWriter(tmp_path, "figs")
    writer.write(lambda: new_figure(2, 1), "first")  # written in the background
    with pytest.raises(OSError):
        writer.finish()
    writer.finish()  # nothing left to wait for


# --- group page ----------------------------------------------------------------------


def test_group_report_content(group_page):
    output, path, html, report = group_page
    assert path == output / render.GROUP_REPORT_NAME
    page = _Page(html)
    text = page.plain_text
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    simple, scrubbing = report.qcfc
    assert (f"simple demo 24 {simple.median_abs_qcfc:.3g} {simple.distance_dependence:.3g} 0"
            in text)
    assert f"scrubbing demo 24 {scrubbing.median_abs_qcfc:.3g}" in text
    excluded_rows = [a for n, a in page.tags if n == "tr" and a.get("class") == "excluded"]
    assert len(excluded_rows) == int(report.qc_table["excluded"].sum()) > 0
    assert "mean FD > 0.3 mm" in text and "12 participants" in text
    sources = [img["src"] for img in page.all("img")]
    assert len(sources) == 5  # excluded, dof lost, mean FD, and the two QC-FC figures of the atlas
    assert all(source.startswith("group/figures/") and (output / source).is_file()
               for source in sources)


def test_group_report_without_qcfc_or_table_columns(tmp_path):
    report = GroupReport(pd.DataFrame({"participant": ["01"], "note": ["x"]}))
    path = render.write_group_report(report, tmp_path)
    text = _Page(path.read_text()).plain_text
    assert "No QC-FC results (at least three runs are needed)." in text
    assert "No QC-FC results." in text and "01 x" in text
    assert not (tmp_path / "group" / "figures").exists()


def test_qcfc_without_any_value_draws_no_empty_figure(tmp_path):
    """Two participants: every edge's QC-FC is n/a; the page says why instead of drawing empty axes."""
    table = pd.DataFrame({"participant": ["01", "02"], "strategy": ["simple"] * 2, "mean_fd_mm": [0.1, 0.2],
                          "excluded": [False, False], "exclusion_reason": [None, None]})
    qcfc = [QCFCResult("demo", "simple", np.full(3, np.nan), np.array([10.0, 20.0, 30.0]), n_runs=2,
                       unit="participant", n_participants=2)]
    path = render.write_group_report(GroupReport(table, qcfc), tmp_path)
    page = _Page(path.read_text())
    text = page.plain_text
    assert ("No QC-FC value: the correlation of an edge with mean FD needs at least 3 participants "
            "with a value, so no figure is drawn.") in text
    assert "0 atlases with QC-FC" in text
    assert not [img for img in page.all("img") if "qcfc" in img["src"]]


def test_qc_table_numbers_and_missing_values(tmp_path):
    table = pd.DataFrame({"strategy": ["a", "b"], "mean_fd_mm": [0.123456, np.nan],
                          "excluded": [False, True], "exclusion_reason": [None, "too short"]})
    path = render.write_group_report(GroupReport(table), tmp_path)
    text = _Page(path.read_text()).plain_text
    assert "a 0.1235 no b n/a yes too short" in text  # no reason shown for kept runs


def test_templates_are_found_as_package_data():
    files = {p.name for p in (Path(render.__file__).parent / "templates").iterdir()}
    assert {"base.html", "participant.html", "group.html", "macros.html", "report.css",
            "report.js"} <= files


def test_figures_drawn_ahead_give_the_same_page(tmp_path):
    """draw_run_figures (what a worker process does) + the page = the page drawn in one go."""
    import hashlib

    from regionseries.report import draw_run_figures, write_participant_report

    from .conftest import make_participant_report

    def page_and_figures(folder):
        # The footer names the minute the page was written: the pages may straddle one.
        html, stamped = re.subn(r"(Generated by regionseries \S+ on )[^.<]*", r"\1<time>",
                                (folder / "sub-01.html").read_text())
        assert stamped == 1
        figures = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (folder / "sub-01" / "figures").iterdir()}
        return html, figures

    report = make_participant_report("01", n_runs=2)
    write_participant_report(report, tmp_path / "at_once")
    drawn = {}
    for run in report.runs:
        item = draw_run_figures(run, tmp_path / "ahead", "01")
        drawn[item["prefix"]] = item
    assert all(item["written"] for item in drawn.values())
    write_participant_report(report, tmp_path / "ahead", drawn=drawn)
    assert page_and_figures(tmp_path / "ahead") == page_and_figures(tmp_path / "at_once")

    # Figures drawn with another format or resolution are not used: the page draws its own.
    stale = {prefix: dict(item, dpi=item["dpi"] * 2) for prefix, item in drawn.items()}
    write_participant_report(report, tmp_path / "redrawn", dpi=100, drawn=stale)
    assert page_and_figures(tmp_path / "redrawn") == page_and_figures(tmp_path / "at_once")


def test_table_rows_are_what_the_template_loop_wrote():
    """The rows of data tables are written in Python; the same text as the template's old loop."""
    loop = render._environment().from_string(
        "  {% for row in table.rows %}\n"
        '    <tr class="{{ row.css }}">\n'
        "    {% for cell in row.cells %}<td class=\"{{ cell.css }}\"{% if cell.sort is not none %}"
        ' data-sort="{{ cell.sort }}"{% endif %}>{{ cell.text }}</td>{% endfor %}\n'
        "    </tr>\n"
        "  {% endfor %}\n")
    rows = [{"css": "na", "cells": [render._cell("<script>alert(1)</script>"), render._num_cell(3.5),
                                    render._cell('"quoted" & <b>', 'x"y', sort="<1>")]},
            {"css": "", "cells": [render._cell("z"), render._num_cell(None)]}]
    for table_rows in (rows, []):
        expected = loop.render(table={"rows": table_rows})
        assert str(render.table_rows(table_rows)) == expected
    assert "<script>" not in render.table_rows(rows)


def test_large_matrices_list_region_names_by_index_and_paths_are_relative(tmp_path):
    names = [f"region <{k}>" for k in range(35)]
    root = tmp_path / "data" / "fmriprep"
    run = RunReport(
        participant="04", session=None, entities={"task": "rest"},
        bold_file=str(root / "sub-04" / "func" / "sub-04_task-rest_desc-preproc_bold.nii.gz"),
        confounds_file=str(root / "sub-04" / "func" / "sub-04_task-rest_desc-confounds_timeseries.tsv"),
        mask_file=None, space=None, repetition_time=2.0, n_volumes=5, fd=None,
        strategies=[StrategyResult("none", kept_volumes=range(5))],
        atlases=[AtlasResult("many", "labels", names)],
        connectivity={("many", "none"): np.eye(35)},
    )
    path = render.write_participant_report(ParticipantReport("04", [run]), tmp_path / "out")
    html = path.read_text()
    index = re.search(r'<ol class="columns region-index" start="0">(.*?)</ol>', html, re.S).group(1)
    assert re.findall(r"<li>(.*?)</li>", index) == [f"region &lt;{k}&gt;" for k in range(35)]
    text = _Page(html).plain_text
    assert f"Input folder {root} (the runs' file paths below are relative to it)" in text
    assert "BOLD sub-04/func/sub-04_task-rest_desc-preproc_bold.nii.gz" in text
    assert str(root / "sub-04") not in text.replace(f"Input folder {root}", "")
