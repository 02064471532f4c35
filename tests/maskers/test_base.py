"""What maskers/base.py gives every masker: transform_single_imgs, fitted images, docstrings.

nilearn 0.14.1 is the oracle: ``transform_single_imgs`` has its semantics,
fitted images are as stable under ``joblib.hash`` as its are, and the
docstrings document what nilearn's own documentation check lists.
"""

from __future__ import annotations

import inspect
import warnings

import nibabel as nib
import numpy as np
import pytest
from joblib import hash as joblib_hash
from nilearn import maskers as nilearn_maskers
from nilearn import regions as nilearn_regions
from nilearn.image import get_data as nilearn_get_data
from numpydoc.docscrape import NumpyDocString

from regionseries import maskers, regions

SEEDS = [(0.0, 0.0, 0.0), (-12.0, 6.0, 3.0)]


def _builders(labels_img, maps_img):
    return {
        "labels": (maskers.NiftiLabelsMasker, nilearn_maskers.NiftiLabelsMasker, {"labels_img": labels_img}),
        "maps": (maskers.NiftiMapsMasker, nilearn_maskers.NiftiMapsMasker, {"maps_img": maps_img}),
        "spheres": (maskers.NiftiSpheresMasker, nilearn_maskers.NiftiSpheresMasker,
                    {"seeds": SEEDS, "radius": 6.0}),
        "region_extractor": (regions.RegionExtractor, nilearn_regions.RegionExtractor,
                             {"maps_img": maps_img, "threshold": 0.5, "min_region_size": 100}),
    }


CASES = ["labels", "maps", "spheres", "region_extractor"]


@pytest.mark.parametrize("case", CASES)
def test_transform_single_imgs_is_nilearns(case, bold_img, labels_img, maps_img):
    """Without confounds it is transform; high-variance confounds are transform's only."""
    ours_class, nilearn_class, kwargs = _builders(labels_img, maps_img)[case]
    confounds = np.random.default_rng(1).normal(size=(bold_img.shape[3], 2))
    for high_variance in (False, True):
        ours = ours_class(**kwargs, high_variance_confounds=high_variance).fit(bold_img)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = nilearn_class(**kwargs, high_variance_confounds=high_variance).fit(bold_img)
            expected = theirs.transform_single_imgs(bold_img, confounds=confounds)
        got = ours.transform_single_imgs(bold_img, confounds=confounds)
        scale = np.abs(expected).max()
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5 * scale)
        # the confounds as given: equal to transform's only without high-variance confounds
        same_as_transform = np.allclose(got, ours.transform(bold_img, confounds=confounds))
        assert same_as_transform is not high_variance
    assert list(inspect.signature(ours.transform_single_imgs).parameters) == [
        "imgs", "confounds", "sample_mask"
    ]


def test_transform_single_imgs_ignores_set_output(bold_img, labels_img):
    masker = maskers.NiftiLabelsMasker(labels_img).fit(bold_img).set_output(transform="pandas")
    assert type(masker.transform(bold_img)).__name__ == "DataFrame"
    signals = masker.transform_single_imgs(bold_img)
    assert isinstance(signals, np.ndarray) and signals.shape == (bold_img.shape[3], 4)
    volume = nib.Nifti1Image(np.asarray(bold_img.dataobj)[..., 0], bold_img.affine)
    assert masker.transform_single_imgs(volume).shape == (1, 4)  # set_output keeps the row
    with pytest.raises(ValueError, match="not fitted"):
        maskers.NiftiLabelsMasker(labels_img).transform_single_imgs(bold_img)


@pytest.mark.parametrize("case", CASES)
def test_fitted_images_keep_their_hash_when_read(case, bold_img, labels_img, maps_img):
    """joblib.hash of the fitted images does not change when nilearn reads them, as nilearn's."""
    ours_class, _, kwargs = _builders(labels_img, maps_img)[case]
    mask = nib.Nifti1Image(np.ones(bold_img.shape[:3], dtype=np.uint8), bold_img.affine)
    masker = ours_class(**kwargs, mask_img=mask).fit(bold_img)
    for name in ("mask_img_", "labels_img_", "maps_img_", "regions_img_"):
        img = getattr(masker, name, None)
        if img is None:
            continue
        before = joblib_hash(img)
        data = nilearn_get_data(img)
        assert joblib_hash(img) == before, name
        assert data is img.dataobj  # the image's own array: no copy was made


def test_file_backed_fitted_images_are_left_unread(tmp_path, labels_img):
    """A labels file kept on its grid stays a proxy: fit does not load it to fill a cache."""
    path = tmp_path / "labels.nii.gz"
    labels_img.to_filename(path)
    masker = maskers.NiftiLabelsMasker(str(path)).fit()
    assert isinstance(masker.labels_img_.dataobj, nib.arrayproxy.ArrayProxy)
    assert masker.labels_img_._data_cache is None


def _documented(doc, section):
    return [parameter.name for parameter in NumpyDocString(doc)[section]]


@pytest.mark.parametrize("case", CASES)
def test_docstrings_document_every_parameter_and_fitted_attribute(case, bold_img, labels_img, maps_img):
    """numpydoc sections as nilearn's check_doc_attributes reads them."""
    ours_class, _, kwargs = _builders(labels_img, maps_img)[case]
    parameters = _documented(ours_class.__doc__, "Parameters")
    assert parameters == list(inspect.signature(ours_class).parameters)
    verbose = [p for p in NumpyDocString(ours_class.__doc__)["Parameters"] if p.name == "verbose"][0]
    assert "default=0" in verbose.type
    fitted = ours_class(**kwargs).fit(bold_img)
    attributes = sorted(name for name in vars(fitted) if name.endswith("_") and not name.startswith("_"))
    assert _documented(ours_class.__doc__, "Attributes") == attributes
    for method in ("fit", "transform", "transform_single_imgs", "inverse_transform", "generate_report"):
        assert getattr(ours_class, method).__doc__, method


