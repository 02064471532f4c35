"""The maskers' ``generate_report()`` (maskers/report.py), against nilearn 0.14.1.

nilearn is the oracle for the arguments (``engine``, ``title``,
``displayed_maps``, ``displayed_spheres``), the warnings and their words,
and the HTML document interface (``resize``, ``width``, ``get_iframe``).
The page itself is ours: a :class:`~regionseries.maskers.MaskerReport` with
a PNG figure and our parameter table, not nilearn's ``HTMLReport`` (see
docs/differences-from-nilearn.md, "Reports").
"""

from __future__ import annotations

import warnings

import nibabel as nib
import numpy as np
import pytest
from nilearn import maskers as nilearn_maskers
from nilearn import regions as nilearn_regions
from nilearn._utils.data_gen import generate_maps
from nilearn.conftest import _affine_eye, _img_labels, _img_maps, _shape_3d_large
from nilearn.reporting import HTMLReport
from nilearn.reporting.tests import _testing as nilearn_report_testing

from regionseries import maskers, regions
from regionseries.maskers import MaskerReport

PNG = "data:image/png;base64,"
SEEDS = [(1.0, 1.0, 1.0), (3.0, 4.0, 2.0)]


def _maps_large():
    return generate_maps(shape=_shape_3d_large(), n_regions=2, rand_gen=42, affine=_affine_eye())[0]


#: name -> (our class, nilearn's class, constructor arguments, generate_report arguments)
CASES = {
    "labels": (maskers.NiftiLabelsMasker, nilearn_maskers.NiftiLabelsMasker,
               lambda: {"labels_img": _img_labels()}, {}),
    "maps": (maskers.NiftiMapsMasker, nilearn_maskers.NiftiMapsMasker,
             lambda: {"maps_img": _img_maps(n_regions=2)}, {"displayed_maps": 2}),
    "spheres": (maskers.NiftiSpheresMasker, nilearn_maskers.NiftiSpheresMasker,
                lambda: {"seeds": SEEDS, "radius": 2.0}, {"displayed_spheres": 2}),
    "region_extractor": (regions.RegionExtractor, nilearn_regions.RegionExtractor,
                         lambda: {"maps_img": _maps_large()}, {"displayed_maps": 1}),
}


def _bold(n_volumes=5):
    return nib.Nifti1Image(np.random.default_rng(0).random((7, 8, 9, n_volumes)), _affine_eye())


def _report_and_warnings(masker, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = masker.generate_report(**kwargs)
    return report, [str(warning.message) for warning in caught if issubclass(warning.category, UserWarning)]


def _states(masker_class, kwargs):
    """generate_report's warnings: before fit, fitted, reports=False, reports off at fit only."""
    bold = _bold()
    states = {"not fitted": masker_class(**kwargs)}
    states["fitted"] = masker_class(**kwargs).fit(bold)
    states["reports=False"] = masker_class(**kwargs).fit(bold).set_params(reports=False)
    off_at_fit = masker_class(**kwargs, reports=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        off_at_fit.fit(bold)
    states["reports off at fit"] = off_at_fit.set_params(reports=True)
    return states


@pytest.mark.parametrize("case", sorted(CASES))
def test_warnings_are_nilearns(case):
    ours_class, nilearn_class, kwargs, report_kwargs = CASES[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours, theirs = _states(ours_class, kwargs()), _states(nilearn_class, kwargs())
    for state in ours:
        # before fit, nilearn's maps and spheres reports do not read displayed_*
        extra = report_kwargs if state != "not fitted" else {}
        our_report, our_warnings = _report_and_warnings(ours[state], **extra)
        _, their_warnings = _report_and_warnings(theirs[state], **extra)
        # nilearn's plotting of RegionExtractor's regions warns about its cuts: not a report warning
        their_warnings = [m for m in their_warnings if not m.startswith("Could not determine cut coords")]
        assert sorted(set(our_warnings)) == sorted(set(their_warnings)), state
        for message in our_warnings:  # listed in the page too
            assert message.strip().splitlines()[0] in our_report.html
        assert (PNG in our_report.html) == (state == "fitted"), state


def test_title_engine_and_figure():
    masker = maskers.NiftiLabelsMasker(_img_labels()).fit(_bold())
    report, caught = _report_and_warnings(masker, title="Visual areas")
    assert "<h1>Visual areas</h1>" in report.html and PNG in report.html and caught == []
    default, _ = _report_and_warnings(masker)
    assert "<h1>NiftiLabelsMasker report</h1>" in default.html
    report, caught = _report_and_warnings(masker, engine="brainsprite")
    assert caught == ["The report figure is drawn with matplotlib; engine='brainsprite' is not available."]
    assert PNG in report.html  # drawn all the same
    unfitted, _ = _report_and_warnings(maskers.NiftiLabelsMasker(_img_labels()))
    assert "is not fitted" in unfitted.html and "labels_img" in unfitted.html  # the parameters


@pytest.mark.parametrize(
    ("displayed", "shown"),
    [(1, [0]), (5, [0, 1, 2]), ("all", [0, 1, 2]), ([2, 0], [2, 0]), (np.asarray([1, 7]), [1])],
)
def test_displayed_maps_are_nilearns(displayed, shown):
    maps_img = _img_maps(n_regions=3)
    ours = maskers.NiftiMapsMasker(maps_img).fit(_bold())
    theirs = nilearn_maskers.NiftiMapsMasker(maps_img).fit(_bold())
    our_report, our_warnings = _report_and_warnings(ours, displayed_maps=displayed)
    _, their_warnings = _report_and_warnings(theirs, displayed_maps=displayed)
    assert our_warnings == their_warnings
    assert theirs._report_content["displayed_maps"] == shown
    assert (f"the figure shows maps {shown}" in our_report.html) == (len(shown) < 3)


def test_displayed_spheres_and_wrong_types_are_nilearns():
    ours = maskers.NiftiSpheresMasker(SEEDS, radius=2.0).fit()
    theirs = nilearn_maskers.NiftiSpheresMasker(SEEDS, radius=2.0).fit()
    our_report, our_warnings = _report_and_warnings(ours, displayed_spheres=[1, 4])
    _, their_warnings = _report_and_warnings(theirs, displayed_spheres=[1, 4])
    assert [m for m in their_warnings if "displayed_spheres" in m] == our_warnings
    assert "the figure shows spheres [1]" in our_report.html
    for wrong in ("some", 1.5, [0, "a"], np.asarray([0.5])):
        with pytest.raises(TypeError) as ours_error:
            ours.generate_report(displayed_spheres=wrong)
        with pytest.raises(TypeError) as nilearn_error:
            theirs.generate_report(displayed_spheres=wrong)
        assert str(ours_error.value) == str(nilearn_error.value)


def test_html_document_interface_is_nilearns(tmp_path, monkeypatch):
    report = maskers.NiftiLabelsMasker(_img_labels()).fit(_bold()).generate_report()
    assert (report.width, report.height) == (800, 800)
    assert report.resize(1200, 600) is report and (report.width, report.height) == (1200, 600)
    with pytest.warns(UserWarning, match="Using default instead"):
        report.width = "wide"
    assert report.width == 800
    frame = report.get_iframe(width=300)
    assert frame.startswith('<iframe srcdoc="&lt;!DOCTYPE html&gt;') and 'width="300" height="600"' in frame
    opened = []
    monkeypatch.setattr("webbrowser.open", opened.append)  # no browser on the test machine
    report.open_in_browser(tmp_path / "report.html")
    assert opened == [(tmp_path / "report.html").as_uri()]
    assert (tmp_path / "report.html").read_text(encoding="utf-8") == report.get_standalone()


@pytest.mark.parametrize("case", sorted(CASES))
def test_nilearn_report_check_passes_but_for_the_report_class(monkeypatch, case):
    """nilearn's generic report check (``generate_and_check_report``), with ours as its report class.

    It asserts ``isinstance(report, nilearn.reporting.HTMLReport)``; ours is a
    MaskerReport (nilearn is never imported at run time). Bound to ours, the
    rest of the check passes: the title, the warnings raised and listed, the
    not-fitted message only before fit, resizing and the width fallback.
    """
    ours_class, _, kwargs, report_kwargs = CASES[case]
    monkeypatch.setattr(nilearn_report_testing, "HTMLReport", MaskerReport)
    masker = ours_class(**kwargs())
    nilearn_report_testing.generate_and_check_report(masker)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        masker.fit(_bold())
    nilearn_report_testing.generate_and_check_report(masker, title="My masker", extend_includes=[PNG], **report_kwargs)
    masker.reports = False
    nilearn_report_testing.generate_and_check_report(
        masker, warnings_msg_to_check=["\nReport generation not enabled!"], extend_excludes=[PNG], **report_kwargs
    )
    report, _ = _report_and_warnings(masker, **report_kwargs)
    assert isinstance(report, MaskerReport) and not isinstance(report, HTMLReport)


@pytest.mark.parametrize("name", ["labels", "spheres"])
def test_the_same_fitted_masker_gives_the_same_page(name):
    """Two calls give the same text: the page shows no clock time (nilearn's have none).

    A time to the minute in the footer made nilearn's
    ``check_masker_generate_report_constant`` fail when two calls fell on
    either side of a minute boundary.
    """
    ours_class, _, kwargs, report_kwargs = CASES[name]
    masker = ours_class(**kwargs()).fit(_bold())
    first = masker.generate_report(**report_kwargs).get_standalone()
    second = masker.generate_report(**report_kwargs).get_standalone()
    assert first == second
    assert "Generated by regionseries" in first and " on 20" not in first
