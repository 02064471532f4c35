"""The scikit-learn estimator protocol of the maskers and RegionExtractor, against nilearn 0.14.1.

Real scikit-learn calls (``check_is_fitted``, ``clone``, ``Pipeline``,
``set_output``, ``get_tags``) on ours and on nilearn's object built with the
same arguments on the same image: nilearn is the oracle. RegionExtractor
(src/regionseries/regions.py) is a NiftiMapsMasker and is tested here with
the maskers.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import subprocess
import sys
import warnings

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import sklearn
import sklearn.exceptions
from nilearn import maskers as nilearn_maskers
from nilearn import regions as nilearn_regions
from nilearn._utils.tags import accept_niimg_input, accept_surf_img_input, is_masker
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import get_tags
from sklearn.utils.validation import check_is_fitted

from regionseries import maskers, regions

SEEDS = [(-20.0, -20.0, -20.0), (0.0, 0.0, 0.0), (10.0, 5.0, -5.0)]

#: name -> (class name, arguments builder from the fixtures' images)
CASES = {
    "labels": ("NiftiLabelsMasker", lambda labels, maps: ((labels,), {})),
    "labels_named": (
        "NiftiLabelsMasker",
        lambda labels, maps: ((labels,), {"labels": ["background", "one", "two", "three", "five"]}),
    ),
    "spheres": ("NiftiSpheresMasker", lambda labels, maps: ((SEEDS,), {"radius": 6.0})),
    "maps": ("NiftiMapsMasker", lambda labels, maps: ((maps,), {})),
    "region_extractor": ("RegionExtractor", lambda labels, maps: ((maps,), {"min_region_size": 100})),
}


def _module_pair(class_name):
    if class_name == "RegionExtractor":
        return regions, nilearn_regions
    return maskers, nilearn_maskers


@pytest.fixture(params=sorted(CASES))
def pair(request, labels_img, maps_img):
    """(ours, nilearn's): the same estimator built with the same arguments."""
    class_name, arguments = CASES[request.param]
    args, kwargs = arguments(labels_img, maps_img)
    ours_module, nilearn_module = _module_pair(class_name)
    return getattr(ours_module, class_name)(*args, **kwargs), getattr(nilearn_module, class_name)(*args, **kwargs)


def _quiet(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return func(*args, **kwargs)


def _first_volume(img):
    return nib.Nifti1Image(np.asarray(img.dataobj)[..., 0], img.affine)


def test_check_is_fitted_raises_sklearns_error_before_fit_and_passes_after(pair, bold_img):
    ours, theirs = pair
    with pytest.raises(sklearn.exceptions.NotFittedError) as our_error:
        check_is_fitted(ours)
    with pytest.raises(sklearn.exceptions.NotFittedError) as their_error:
        check_is_fitted(theirs)
    assert str(our_error.value) == str(their_error.value)
    try:
        ours.transform(bold_img)
    except sklearn.exceptions.NotFittedError as error:
        assert f"This {type(ours).__name__} instance is not fitted yet" in str(error)
    else:
        pytest.fail("transform before fit did not raise sklearn's NotFittedError")
    assert maskers.NotFittedError is sklearn.exceptions.NotFittedError
    _quiet(ours.fit, bold_img)
    check_is_fitted(ours)


def test_tags_equal_nilearns(pair):
    ours, theirs = pair
    our_tags, their_tags = get_tags(ours), get_tags(theirs)
    assert dataclasses.asdict(our_tags) == dataclasses.asdict(their_tags)
    assert type(our_tags.input_tags).__name__ == type(their_tags.input_tags).__name__ == "InputTags"
    assert our_tags.estimator_type == "masker" and our_tags.input_tags.niimg_like
    # nilearn's own tag readers recognise ours as niimg-accepting maskers
    assert is_masker(ours) and accept_niimg_input(ours) and not accept_surf_img_input(ours)
    assert dataclasses.asdict(ours._more_tags()) == dataclasses.asdict(our_tags)
    # the documentation link of scikit-learn's HTML representation
    assert ours._get_doc_link() == theirs._get_doc_link()


def test_set_output_pandas_gives_nilearns_frame(pair, bold_img):
    ours, theirs = pair
    our_frame = _quiet(ours.set_output(transform="pandas").fit_transform, bold_img)
    their_frame = _quiet(theirs.set_output(transform="pandas").fit_transform, bold_img)
    assert isinstance(our_frame, pd.DataFrame)
    assert list(our_frame.columns) == list(their_frame.columns)
    pd.testing.assert_frame_equal(our_frame, their_frame, check_exact=False, rtol=1e-5, atol=1e-6)
    # a 3D image: one row, as nilearn once set_output was called
    volume = _first_volume(bold_img)
    our_row, their_row = _quiet(ours.transform, volume), _quiet(theirs.transform, volume)
    assert our_row.shape == their_row.shape == (1, our_frame.shape[1])
    pd.testing.assert_frame_equal(our_row, their_row, check_exact=False, rtol=1e-5, atol=1e-6)


def test_set_output_default_keeps_arrays_and_a_3d_row_as_nilearn(pair, bold_img):
    ours, theirs = pair
    volume = _first_volume(bold_img)
    before = _quiet(ours.fit(bold_img).transform, volume)
    assert isinstance(before, np.ndarray) and before.ndim == 1
    our_row = _quiet(ours.set_output(transform="default").transform, volume)
    their_row = _quiet(theirs.set_output(transform="default").fit(bold_img).transform, volume)
    assert isinstance(our_row, np.ndarray) and our_row.shape == their_row.shape == (1, before.size)
    np.testing.assert_allclose(our_row[0], before)
    assert ours.set_output(transform=None)._sklearn_output_config == {"transform": "default"}


def test_set_output_polars_as_nilearn(pair, bold_img):
    ours, theirs = pair
    ours.set_output(transform="polars")
    theirs.set_output(transform="polars")
    if importlib.util.find_spec("polars") is None:
        # polars is not a test dependency: both refuse at transform time, alike
        with pytest.raises(ImportError) as our_error:
            _quiet(ours.fit_transform, bold_img)
        with pytest.raises(ImportError) as their_error:
            _quiet(theirs.fit_transform, bold_img)
        assert str(our_error.value) == str(their_error.value)
        return
    our_frame = _quiet(ours.fit_transform, bold_img)
    their_frame = _quiet(theirs.fit_transform, bold_img)
    assert type(our_frame) is type(their_frame) and our_frame.columns == their_frame.columns
    np.testing.assert_allclose(our_frame.to_numpy(), their_frame.to_numpy(), rtol=1e-5, atol=1e-6)


def test_unknown_output_and_global_config_as_scikit_learn(pair, bold_img):
    ours, theirs = pair
    with pytest.raises(ValueError) as our_error:
        _quiet(ours.set_output(transform="arrow").fit_transform, bold_img)
    with pytest.raises(ValueError) as their_error:
        _quiet(theirs.set_output(transform="arrow").fit_transform, bold_img)
    assert str(our_error.value) == str(their_error.value)
    ours, theirs = clone(ours).set_output(transform="default"), clone(theirs).set_output(transform="default")
    del ours._sklearn_output_config, theirs._sklearn_output_config
    with sklearn.config_context(transform_output="pandas"):
        our_frame = _quiet(ours.fit_transform, bold_img)
        their_frame = _quiet(theirs.fit_transform, bold_img)
    assert isinstance(our_frame, pd.DataFrame)
    assert list(our_frame.columns) == list(their_frame.columns)


def test_clone_and_params_round_trip(pair, bold_img):
    ours, _ = pair
    ours.set_output(transform="pandas")
    copy = clone(ours)
    assert type(copy) is type(ours) and copy is not ours
    # clone deep-copies the parameters that are not estimators
    assert copy.get_params().keys() == ours.get_params().keys()
    assert all(_same_value(copy.get_params()[name], value) for name, value in ours.get_params().items())
    assert copy._sklearn_output_config == {"transform": "pandas"}
    assert not copy.__sklearn_is_fitted__()
    rebuilt = type(ours)().set_params(**ours.get_params(deep=False))
    assert all(rebuilt.get_params()[name] is value for name, value in ours.get_params().items())
    _quiet(copy.fit, bold_img)
    refitted = clone(copy)
    with pytest.raises(sklearn.exceptions.NotFittedError):
        check_is_fitted(refitted)


def _same_value(copied, original):
    if isinstance(original, nib.spatialimages.SpatialImage):
        return np.array_equal(np.asarray(copied.dataobj), np.asarray(original.dataobj)) and np.array_equal(
            copied.affine, original.affine
        )
    return type(copied) is type(original) and copied == original


def test_inside_a_pipeline_as_nilearn(pair, bold_img):
    ours, theirs = pair
    our_pipeline = Pipeline([("masker", ours), ("scale", StandardScaler())]).set_output(transform="pandas")
    their_pipeline = Pipeline([("masker", theirs), ("scale", StandardScaler())]).set_output(transform="pandas")
    our_result = _quiet(our_pipeline.fit_transform, bold_img)
    their_result = _quiet(their_pipeline.fit_transform, bold_img)
    assert isinstance(our_result, pd.DataFrame)
    assert list(our_result.columns) == list(their_result.columns)
    # the pipeline is the masker then the scaler, exactly
    alone = StandardScaler().fit_transform(_quiet(clone(ours).set_output(transform="default").fit_transform, bold_img))
    np.testing.assert_array_equal(our_result.to_numpy(), alone)
    # standardising region means of data at 50 +- 1 magnifies float32 rounding
    # (and the documented float64 fit of maps) by ~1e3: loose against nilearn
    np.testing.assert_allclose(our_result.to_numpy(), their_result.to_numpy(), atol=5e-3)
    check_is_fitted(our_pipeline)
    assert isinstance(_quiet(our_pipeline.transform, bold_img), pd.DataFrame)


def test_importing_the_maskers_does_not_import_scikit_learn():
    code = (
        "import sys, regionseries.maskers, regionseries.regions\n"
        "assert 'sklearn' not in sys.modules, 'sklearn imported at start-up'\n"
        "from regionseries.maskers import NotFittedError\n"
        "import sklearn.exceptions\n"
        "assert NotFittedError is sklearn.exceptions.NotFittedError\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_maskers_work_without_scikit_learn(tmp_path, bold_img, labels_img):
    """scikit-learn is optional: extraction, set_output("pandas") and NotFittedError work without it."""
    nib.save(bold_img, tmp_path / "bold.nii.gz")
    nib.save(labels_img, tmp_path / "labels.nii.gz")
    code = (
        "import sys\n"
        "sys.modules['sklearn'] = None  # makes `import sklearn` raise ImportError\n"
        "import pandas as pd\n"
        "from regionseries.maskers import NiftiLabelsMasker, NotFittedError\n"
        "masker = NiftiLabelsMasker(sys.argv[2])\n"
        "try:\n"
        "    masker.transform(sys.argv[1])\n"
        "except NotFittedError as error:\n"
        "    assert isinstance(error, ValueError) and isinstance(error, AttributeError)\n"
        "else:\n"
        "    raise AssertionError('transform before fit')\n"
        "frame = masker.set_output(transform='pandas').fit_transform(sys.argv[1])\n"
        "assert isinstance(frame, pd.DataFrame) and list(frame.columns) == ['1', '2', '3', '5'], frame.columns\n"
        "assert frame.shape == (30, 4)\n"
        "try:\n"
        "    masker.__sklearn_tags__()\n"
        "except ImportError:\n"
        "    pass\n"
        "else:\n"
        "    raise AssertionError('tags without scikit-learn')\n"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "bold.nii.gz"), str(tmp_path / "labels.nii.gz")],
                   check=True)
