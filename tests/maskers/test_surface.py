"""The surface maskers' behaviour around extraction: mesh errors, smoothing, empty data, nilearn's checks bound to ours.

The numbers against nilearn are in ``test_oracle_surface.py``; these pin what
nilearn's own test suite (tests/nilearn_suite) cannot check against our
classes: its exception class for meshes and its checks that recognise nilearn's
maskers by ``isinstance``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.linalg
from nilearn.conftest import (
    _make_mesh,
    _make_surface_img,
    _make_surface_mask,
    _surf_maps_img,
)
from nilearn.datasets import load_fsaverage
from nilearn.image import smooth_img
from nilearn.maskers import SurfaceLabelsMasker as NilearnSurfaceLabelsMasker
from nilearn.maskers.tests.conftest import sklearn_surf_label_img
from nilearn.reporting.tests import _testing as nilearn_report_testing
from nilearn.surface import SurfaceImage

from regionseries.maskers import MaskerReport, SurfaceLabelsMasker, SurfaceMapsMasker


def _drop_right(img):
    return SurfaceImage(mesh=_only_left(img.mesh), data={"left": img.data.parts["left"]})


def _only_left(poly_mesh):
    from nilearn.surface import PolyMesh

    return PolyMesh(left=poly_mesh.parts["left"])


@pytest.mark.parametrize("build", [lambda: SurfaceLabelsMasker(sklearn_surf_label_img()),
                                   lambda: SurfaceMapsMasker(_surf_maps_img())])
def test_mesh_mismatch_raises_valueerror_with_nilearns_words(build):
    """nilearn raises its MeshDimensionError (a ValueError); ours is a ValueError with the same words."""
    masker = build().fit()
    with pytest.raises(ValueError, match="PolyMeshes do not have the same keys"):
        masker.transform(_drop_right(_make_surface_img(3)))
    with pytest.raises(ValueError, match="PolyMeshes do not have the same keys"):
        build().fit(_drop_right(_make_surface_img(3)))
    other = load_fsaverage("fsaverage5")["pial"]
    bigger = SurfaceImage(mesh=other, data={name: np.ones((part.n_vertices, 2)) for name, part in other.parts.items()})
    with pytest.raises(ValueError, match="Number of vertices do not match for between meshes"):
        masker.transform(bigger)


def test_smoothing_is_nilearns_smooth_img():
    """``smoothing_fwhm`` smooths each part along the mesh before extraction, as nilearn's smooth_img."""
    pial = load_fsaverage("fsaverage5")["pial"]
    rng = np.random.default_rng(4)
    img = SurfaceImage(mesh=pial, data={name: rng.standard_normal((part.n_vertices, 4)).astype(np.float32)
                                        for name, part in pial.parts.items()})
    labels = SurfaceImage(mesh=pial, data={name: rng.integers(0, 5, part.n_vertices) for name, part in pial.parts.items()})
    got = SurfaceLabelsMasker(labels, smoothing_fwhm=8).fit_transform(img)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = NilearnSurfaceLabelsMasker(labels, smoothing_fwhm=8).fit_transform(img)
        unsmoothed = SurfaceLabelsMasker(labels).fit_transform(img)
    assert got.dtype == expected.dtype == np.float64  # smoothing works in float64, as nilearn's
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert not np.allclose(got, unsmoothed)
    smoothed = smooth_img(img, 8)  # the masker of the smoothed image without smoothing
    np.testing.assert_allclose(SurfaceLabelsMasker(labels).fit_transform(smoothed), got, rtol=1e-12)
    with pytest.raises(TypeError, match="'fwhm' must be a scalar"):
        SurfaceLabelsMasker(labels, smoothing_fwhm=[2, 2, 2]).fit().transform(img)


def _labels_and_data(fill):
    """Parcels 1 and 2 of nilearn's small mesh and 4 samples with ``fill`` on vertex 1 (parcel 1) in sample 2."""
    mesh = _make_mesh()
    labels = SurfaceImage(mesh=mesh, data={"left": np.array([1, 1, 2, 2]), "right": np.array([2, 1, 1, 0, 2])})
    rng = np.random.default_rng(5)
    parts = {name: rng.normal(100, 5, (part.n_vertices, 4)) for name, part in mesh.parts.items()}
    parts["left"][1, 2] = fill
    return labels, SurfaceImage(mesh=mesh, data=parts)


@pytest.mark.parametrize("fill", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("strategy", ["mean", "sum"])
def test_non_finite_vertices_give_nilearns_mean_and_sum(fill, strategy):
    """The engine counts a NaN or infinite vertex as 0 (and not covered); the masker gives nilearn's
    ndimage values there: NaN propagates to its parcel's value in that sample, an infinity too."""
    labels, img = _labels_and_data(fill)
    got = SurfaceLabelsMasker(labels, strategy=strategy).fit_transform(img)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = NilearnSurfaceLabelsMasker(labels, strategy=strategy).fit_transform(img)
    np.testing.assert_array_equal(got, expected)
    # NaN in a parcel's data propagates to its value; the other parcel and samples stay finite
    assert not np.isfinite(got[2, 0]) and np.isfinite(np.delete(got, 2, axis=0)).all() and np.isfinite(got[:, 1]).all()


def test_non_finite_vertices_with_other_strategies_and_maps_give_nan():
    labels, img = _labels_and_data(np.nan)
    got = SurfaceLabelsMasker(labels, strategy="median").fit_transform(img)
    assert np.isnan(got[2, 0]) and np.isfinite(np.delete(got, 2, axis=0)).all() and np.isfinite(got[:, 1]).all()
    # maps: no least-squares fit for a sample with NaN on the maps (nilearn's lstsq raises)
    maps = _surf_maps_img()
    mesh_img = SurfaceImage(mesh=maps.mesh, data={name: np.asarray(values) for name, values in img.data.parts.items()})
    got = SurfaceMapsMasker(maps).fit_transform(mesh_img)
    assert np.isnan(got[2]).all() and np.isfinite(np.delete(got, 2, axis=0)).all()


def test_a_map_without_weight_in_the_mask_is_zero_as_lstsq():
    """An empty map (here: left out by the mask) gets 0, the minimum-norm least-squares solution."""
    maps = _surf_maps_img()
    mask = SurfaceImage(mesh=maps.mesh, data={"left": np.ones(4, bool), "right": np.zeros(5, bool)})
    img = _make_surface_img(6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = SurfaceMapsMasker(maps, mask_img=mask).fit_transform(img)
    maps_data = np.asarray(maps.data.parts["left"])  # maps 4 and 5 have no weight on the left
    expected = scipy.linalg.lstsq(maps_data, np.asarray(img.data.parts["left"], dtype=np.float32))[0].T
    assert np.all(got[:, 4:] == 0)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_empty_images_and_lists_of_samples_are_refused():
    masker = SurfaceMapsMasker(_surf_maps_img())
    mesh = _make_mesh()
    empty = SurfaceImage(mesh=mesh, data={name: np.zeros((part.n_vertices, 0)) for name, part in mesh.parts.items()})
    with pytest.raises(ValueError, match="The image is empty"):
        masker.fit(empty)
    with pytest.raises(ValueError, match="The image is empty"):
        masker.fit().transform(empty)
    with pytest.raises(ValueError, match=r"Data for each part of imgs\[0\] should be 1D"):
        masker.fit([_make_surface_img(5), _make_surface_img(5)])
    # a 2D mask with non-finite values: nilearn's warning, then the vertices non-zero in every column
    mask = _make_surface_mask()
    parts = {name: np.array(values, dtype=float) for name, values in mask.data.parts.items()}
    parts["left"][0, 0] = np.nan
    with pytest.warns(UserWarning, match="Non-finite values detected"):
        masker = SurfaceMapsMasker(_surf_maps_img(), mask_img=SurfaceImage(mesh=mask.mesh, data=parts)).fit()
    assert not masker.mask_img_.data.parts["left"][0]


#: run in a separate interpreter: nilearn._utils.estimator_checks imports nilearn's
#: test modules, whose marks this suite's --strict-markers refuses
SURFACE_CHECKS_SCRIPT = """
import contextlib, io, json, traceback, warnings
warnings.simplefilter("ignore")
from nilearn._utils import estimator_checks
from nilearn.conftest import _surf_maps_img
from nilearn.maskers.tests.conftest import sklearn_surf_label_img
from regionseries import maskers
estimator_checks.SurfaceLabelsMasker = maskers.SurfaceLabelsMasker
estimator_checks.SurfaceMapsMasker = maskers.SurfaceMapsMasker
failures = {}
for case, build in {
    "labels": lambda: maskers.SurfaceLabelsMasker(sklearn_surf_label_img()),
    "maps": lambda: maskers.SurfaceMapsMasker(_surf_maps_img()),
}.items():
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            estimator_checks.check_masker_verbose(build())
    except Exception:
        failures[case] = traceback.format_exc(limit=-3)
print(json.dumps(failures))
"""


def test_nilearn_verbose_check_passes_when_it_knows_our_surface_classes():
    """nilearn's check_masker_verbose, with its SurfaceLabelsMasker / SurfaceMapsMasker names bound to ours.

    Unbound, the check expects a NiftiMasker's "Computing mask" from any masker
    it does not recognise by ``isinstance``.
    """
    pytest.importorskip("numpydoc")  # estimator_checks needs it
    result = subprocess.run(
        [sys.executable, "-c", SURFACE_CHECKS_SCRIPT], capture_output=True, text=True, timeout=600, check=True
    )
    assert json.loads(result.stdout.splitlines()[-1]) == {}


@pytest.mark.parametrize("build", [lambda: SurfaceLabelsMasker(sklearn_surf_label_img()),
                                   lambda: SurfaceMapsMasker(_surf_maps_img())])
def test_nilearn_report_check_passes_but_for_the_report_class(monkeypatch, build):
    """nilearn's generic report check, with our MaskerReport as its report class (as the volumetric maskers)."""
    monkeypatch.setattr(nilearn_report_testing, "HTMLReport", MaskerReport)
    masker = build()
    nilearn_report_testing.generate_and_check_report(masker)
    masker.fit(_make_surface_img(3))
    nilearn_report_testing.generate_and_check_report(masker, title="My masker")
    masker.reports = False
    nilearn_report_testing.generate_and_check_report(masker, warnings_msg_to_check=["\nReport generation not enabled!"])
