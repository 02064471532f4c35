"""The maskers' ``verbose`` messages (maskers/verbose.py), against nilearn 0.14.1's.

The same calls on ours and on nilearn's object built with the same arguments
print the same steps in the same order (the words after ``[Class.method]``,
up to the image description, which is ours: file name or class and shape,
never a memory address). nilearn's estimator checks that read these messages
are run with nilearn's class names bound to ours: they pick their
expectations by ``isinstance`` against nilearn's classes (see
tests/nilearn_suite/expected.py, ``NILEARN_CLASS_CHECKS``).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import sys
import warnings

import nibabel as nib
import numpy as np
import pytest
from nilearn import maskers as nilearn_maskers
from nilearn import regions as nilearn_regions
from nilearn._utils.data_gen import generate_maps
from nilearn.conftest import _affine_eye, _img_labels, _img_maps, _shape_3d_large

from regionseries import maskers, regions

STEP = re.compile(r"^\[(\w+)\.(\w+)\] (.*?)( from .*)?$")
SEEDS = [(1.0, 1.0, 1.0), (3.0, 4.0, 2.0)]


def _maps_large():
    return generate_maps(shape=_shape_3d_large(), n_regions=2, rand_gen=42, affine=_affine_eye())[0]


#: name -> (our class, nilearn's class, constructor arguments)
CASES = {
    "labels": (maskers.NiftiLabelsMasker, nilearn_maskers.NiftiLabelsMasker, lambda: {"labels_img": _img_labels()}),
    "maps": (maskers.NiftiMapsMasker, nilearn_maskers.NiftiMapsMasker, lambda: {"maps_img": _img_maps(n_regions=2)}),
    "spheres": (maskers.NiftiSpheresMasker, nilearn_maskers.NiftiSpheresMasker, lambda: {"seeds": SEEDS, "radius": 2.0}),
    "region_extractor": (regions.RegionExtractor, nilearn_regions.RegionExtractor, lambda: {"maps_img": _maps_large()}),
}


def _bold(n_volumes=5, shape=(7, 8, 9), seed=0):
    return nib.Nifti1Image(np.random.default_rng(seed).random(shape + (n_volumes,)), _affine_eye())


def _steps(call):
    """(method, message) of every line ``call()`` prints; the image descriptions cut."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        call()
    steps = []
    for line in buffer.getvalue().splitlines():
        match = STEP.match(line)
        if match:  # nilearn's verbose=2 image reprs continue on lines of their own
            steps.append((match.group(1), match.group(2), match.group(3)))
    return steps


def _session(masker_class, kwargs, verbose):
    """fit on a list of 3D volumes, fit_transform, transform, inverse_transform, fit with a mask."""
    bold = _bold()
    volumes = [nib.Nifti1Image(np.asarray(bold.dataobj)[..., t], bold.affine) for t in range(3)]
    mask = nib.Nifti1Image(np.ones((15, 16, 17)), _affine_eye())
    masker = masker_class(**kwargs, verbose=verbose)
    if masker_class in (maskers.NiftiSpheresMasker, nilearn_maskers.NiftiSpheresMasker):
        masker.set_params(mask_img=mask)  # the reference grid of its inverse_transform
    calls = {
        "fit": lambda: masker.fit(volumes),
        "fit_transform": lambda: masker.fit_transform(volumes),
        "transform": lambda: masker.transform(bold),
        "inverse_transform": lambda: masker.inverse_transform(np.ones((2, masker.n_elements_))),
        "fit_with_mask": lambda: masker.set_params(mask_img=mask).fit(),
    }
    return {name: _steps(call) for name, call in calls.items()}


@pytest.mark.parametrize("verbose", [1, 2])
@pytest.mark.parametrize("case", sorted(CASES))
def test_steps_are_nilearns(case, verbose):
    ours_class, nilearn_class, kwargs = CASES[case]
    ours = _session(ours_class, kwargs(), verbose)
    theirs = _session(nilearn_class, kwargs(), verbose)
    for call in ours:
        our_steps = [message for _, _, message in ours[call]]
        their_steps = [message for _, _, message in theirs[call]]
        if case == "region_extractor" and call == "fit_with_mask":
            # nilearn's RegionExtractor loads its mask twice (its own fit, then the maps masker's)
            their_steps = list(dict.fromkeys(their_steps))
        assert our_steps == their_steps, call
        assert all(class_name == ours_class.__name__ for class_name, _, _ in ours[call])
    # the method named is the one called (nilearn names scikit-learn's wrapper "wrapped")
    assert {method for _, method, _ in ours["fit_transform"]} == {"fit_transform"}
    assert {method for _, method, _ in ours["inverse_transform"]} == {"inverse_transform"}


@pytest.mark.parametrize("case", sorted(CASES))
def test_quiet_by_default_and_booleans_are_levels(case):
    ours_class, _, kwargs = CASES[case]
    bold = _bold()
    outputs = {}
    for verbose in (0, False, 1, True, 2):
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours_class(**kwargs(), verbose=verbose).fit_transform(bold)
        outputs[verbose] = buffer.getvalue()
    assert outputs[0] == outputs[False] == ""
    assert outputs[1] == outputs[True] != ""
    assert len(outputs[2]) > len(outputs[1])
    assert " at 0x" not in outputs[1] + outputs[2]  # images are described, not repr'd


def test_descriptions_name_files_and_grids(tmp_path):
    path = tmp_path / "sub-01_bold.nii.gz"
    _bold().to_filename(path)
    bold = _bold()
    masker = maskers.NiftiLabelsMasker(_img_labels(), verbose=1)
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        masker.fit(path)
    assert f"[NiftiLabelsMasker.fit] Loading data from {path}" in buffer.getvalue()
    assert "Loading regions from in-memory Nifti1Image of shape (7, 8, 9)" in buffer.getvalue()
    masker.verbose = 2
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        masker.fit([bold, bold])
    assert "Loading data from a list of 2 images, from in-memory Nifti1Image of shape (7, 8, 9, 5) " \
        "(voxel size (1.0, 1.0, 1.0) mm) to" in buffer.getvalue()


def test_resampling_steps_are_said_once(mk):
    """Resampling the atlas and the mask to the data is said at fit, not again at transform."""
    bold = nib.Nifti1Image(mk.random_bold(n_volumes=4), mk.grid_affine())
    labels = nib.Nifti1Image(mk.box_labels()[::2, ::2, ::2], mk.grid_affine(voxel=6.0))
    mask = nib.Nifti1Image(np.ones((10, 11, 9), dtype=np.uint8), mk.grid_affine(voxel=6.0))
    masker = maskers.NiftiLabelsMasker(labels, mask_img=mask, verbose=1)
    fit_steps = [message for _, _, message in _steps(lambda: masker.fit(bold))]
    assert fit_steps == ["Loading data", "Loading mask", "Loading regions", "Resampling regions",
                         "Resampling mask", "Finished fit"]
    transform_steps = [message for _, _, message in _steps(lambda: masker.transform(bold))]
    assert transform_steps == ["Loading data", "Extracting region signals", "Cleaning extracted signals"]


#: run in a separate interpreter: nilearn._utils.estimator_checks imports nilearn's
#: test modules, whose marks this suite's --strict-markers refuses
BOUND_CHECKS_SCRIPT = """
import contextlib, io, json, sys, traceback, warnings
warnings.simplefilter("ignore")
from nilearn._utils import estimator_checks
from nilearn._utils.data_gen import generate_maps
from nilearn.conftest import _affine_eye, _img_labels, _img_maps, _shape_3d_large
from regionseries import maskers, regions
for name in ("NiftiLabelsMasker", "NiftiMapsMasker", "NiftiSpheresMasker"):
    setattr(estimator_checks, name, getattr(maskers, name))
estimator_checks.RegionExtractor = regions.RegionExtractor
estimators = {
    "labels": lambda: maskers.NiftiLabelsMasker(_img_labels()),
    "maps": lambda: maskers.NiftiMapsMasker(_img_maps(n_regions=2)),
    "spheres": lambda: maskers.NiftiSpheresMasker([(1, 1, 1), (1, 2, 3)]),
    "region_extractor": lambda: regions.RegionExtractor(
        generate_maps(shape=_shape_3d_large(), n_regions=2, rand_gen=42, affine=_affine_eye())[0]
    ),
}
failures = {}
for check in ("check_masker_verbose", "check_masker_transform_resampling"):
    for case, build in estimators.items():
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                getattr(estimator_checks, check)(build())
        except Exception:
            failures[f"{check}[{case}]"] = traceback.format_exc(limit=-3)
print(json.dumps(failures))
"""


def test_nilearn_checks_pass_when_they_know_our_classes():
    """nilearn's verbose checks pass with nilearn's class names bound to ours.

    They branch on ``isinstance`` against nilearn's classes: unbound,
    ``check_masker_verbose`` expects a NiftiMasker's "Computing mask" from any
    masker it does not recognise, and ``check_masker_transform_resampling``
    reads ``labels_img`` of a maps masker. The difference is in what the
    checks recognise, not in what the maskers print or return.
    """
    pytest.importorskip("numpydoc")  # estimator_checks needs it
    result = subprocess.run(
        [sys.executable, "-c", BOUND_CHECKS_SCRIPT], capture_output=True, text=True, timeout=600, check=True
    )
    assert json.loads(result.stdout.splitlines()[-1]) == {}
