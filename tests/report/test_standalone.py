"""Single-file reports (the maskers' building block): embedded figure, escaping, browser."""

from __future__ import annotations

import re

import numpy as np
import pytest

from regionseries.maskers import NiftiLabelsMasker
from regionseries.report import figures
from regionseries.report.standalone import embedded_figure, standalone_report


@pytest.fixture(scope="module")
def labels_masker(synthetic):
    atlas = synthetic.make_run(n_volumes=20).atlases[0]
    masker = NiftiLabelsMasker(atlas.image, labels=["Background", *atlas.region_names]).fit()
    return masker, atlas


def _labels_report(masker, atlas) -> str:
    labels = np.asarray(masker.labels_img_.dataobj)
    values = [int(v) for v in masker.lut_["index"] if v != masker.background_label]
    figure = figures.plot_labels_overlay(labels, masker.labels_img_.affine, values)
    rows = [[value, name, int(size)] for value, name, size
            in zip(atlas.label_values, atlas.region_names, atlas.size_mm3)]
    return standalone_report(
        "NiftiLabelsMasker report", "Signals of 12 regions of <labels image>.",
        ["label value", "region name", "size (mm³)"], rows, masker.get_params(),
        warnings=["a <b>warning</b>"], figure=embedded_figure(figure, "The labels"),
    )


def test_report_is_one_escaped_file_with_the_figure_inside(labels_masker, synthetic):
    html = _labels_report(*labels_masker)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)" in html
    assert "<b>warning</b>" not in html and "&lt;labels image&gt;" in html
    sources = re.findall(r'<img src="([^"]+)"', html)
    assert len(sources) == 1 and sources[0].startswith("data:image/png;base64,")
    assert "http://" not in html and "https://" not in html
    assert html.count("<script") == 1
    assert "background_label" in html  # the masker's parameters


def test_report_in_the_browser(labels_masker, browser, tmp_path, screenshot_dir, synthetic):
    path = tmp_path / "masker.html"
    path.write_text(_labels_report(*labels_masker), encoding="utf-8")
    browser.open(path.as_uri())
    assert browser.console_errors() == [] and browser.dialogs() == []
    widths = browser.evaluate("Array.from(document.images).map(i => i.naturalWidth)")
    assert widths == [1000]
    assert browser.screenshot(screenshot_dir / "masker-report.png").std() > 20
    text = browser.evaluate("document.body.innerText")
    assert synthetic.XSS_LABEL in text and "LH_middle_inferior" in text


def test_raster_figures_and_no_figure():
    raster = figures.RasterFigure(np.full((20, 30, 3), 200, dtype=np.uint8))
    embedded = embedded_figure(raster, "grey")
    assert (embedded["width"], embedded["height"]) == (30, 20)
    assert embedded_figure(None, "nothing") is None
    html = standalone_report("t", "d", ["a"], [[1.5], [None]])
    assert "<img" not in html and ">1.5<" in html and ">n/a<" in html


def test_rows_must_match_the_header():
    with pytest.raises(ValueError, match=r"every region table row needs 2 values \(a, b\), got 1"):
        standalone_report("t", "d", ["a", "b"], [[1]])
