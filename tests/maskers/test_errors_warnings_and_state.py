"""Errors, warnings and fitted state of the maskers as nilearn 0.14.1 gives them.

Each error is of nilearn's type and its message contains nilearn's text (and
still names our files and values); our warnings contain nilearn's text and we
warn where nilearn warns only; ``transform`` changes no attribute.
"""

from __future__ import annotations

import re
import warnings

import nibabel as nib
import numpy as np
import pytest
from nilearn import maskers as nilearn_maskers
from nilearn import regions as nilearn_regions

from regionseries.maskers import NiftiLabelsMasker, NiftiMapsMasker, NiftiSpheresMasker
from regionseries.maskers.base import NoAtlasError
from regionseries.regions import RegionExtractor

NILEARN = {
    NiftiLabelsMasker: nilearn_maskers.NiftiLabelsMasker,
    NiftiMapsMasker: nilearn_maskers.NiftiMapsMasker,
    NiftiSpheresMasker: nilearn_maskers.NiftiSpheresMasker,
    RegionExtractor: nilearn_regions.RegionExtractor,
}


def _raised(call):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(Exception) as caught:
            call()
    return caught.value


def _both_raise(make, call, nilearn_text):
    """Our error is of nilearn's type and contains the text nilearn's test matches."""
    ours = _raised(lambda: call(make(ours=True)))
    theirs = _raised(lambda: call(make(ours=False)))
    assert isinstance(ours, type(theirs)), (type(ours), type(theirs))
    assert re.search(nilearn_text, str(theirs)) and re.search(nilearn_text, str(ours)), (str(theirs), str(ours))
    return ours


@pytest.mark.parametrize("cls", [NiftiLabelsMasker, NiftiMapsMasker, RegionExtractor])
def test_a_missing_atlas_is_a_type_error_as_in_nilearn(cls):
    error = _both_raise(
        lambda ours: (cls if ours else NILEARN[cls])(), lambda masker: masker.fit(), "input should be a NiftiLike object"
    )
    # still a ValueError, as before, naming what is missing
    assert isinstance(error, NoAtlasError) and isinstance(error, ValueError)
    name = "labels_img" if cls is NiftiLabelsMasker else "maps_img"
    assert f"Please provide {name} to the {cls.__name__}" in str(error)


def test_parameter_errors_contain_nilearns_text(mk, labels_img, maps_img):
    """nilearn's text, then the value given (and the choices)."""
    cases = [
        (NiftiLabelsMasker, {"labels_img": labels_img, "strategy": "mode"}, "'strategy' must be one of",
         "Invalid strategy 'mode'"),
        (NiftiLabelsMasker, {"labels_img": labels_img, "resampling_target": "mask"},
         "'resampling_target' must be one of", "parameter: 'mask'"),
        (NiftiLabelsMasker, {"labels_img": labels_img, "labels": [1, 2]}, "All elements of 'labels' must be a string",
         "got int"),
        (NiftiMapsMasker, {"maps_img": maps_img, "resampling_target": "x"}, "'resampling_target' must be one of",
         "parameter: 'x'"),
        (RegionExtractor, {"maps_img": maps_img, "thresholding_strategy": "otsu"},
         "'thresholding_strategy' must be one of", "got 'otsu'"),
    ]
    for cls, params, text, detail in cases:
        error = _both_raise(lambda ours: (cls if ours else NILEARN[cls])(**params), lambda m: m.fit(), text)
        assert detail in str(error)
    for cls, params in ((NiftiLabelsMasker, {"labels_img": labels_img}), (NiftiMapsMasker, {"maps_img": maps_img}),
                        (NiftiSpheresMasker, {"seeds": [(0, 0, 0)]})):
        _both_raise(lambda ours: (cls if ours else NILEARN[cls])(dtype=bool, **params), lambda m: m.fit(),
                    "'dtype' cannot be bool")


def test_an_empty_image_is_named(mk, labels_img, tmp_path):
    empty = tmp_path / "sub-01_bold.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((20, 22, 0), np.float32), mk.grid_affine()), empty)
    for cls, params in ((NiftiLabelsMasker, {"labels_img": labels_img}), (NiftiSpheresMasker, {"seeds": [(0, 0, 0)]})):
        error = _both_raise(lambda ours: (cls if ours else NILEARN[cls])(**params),
                            lambda m: m.fit(str(empty)), "The image is empty")
        assert str(empty) in str(error) and "(20, 22, 0)" in str(error)


def test_grid_errors_at_transform_contain_nilearns_text(mk, labels_img, tmp_path):
    bold_path = tmp_path / "sub-01_bold.nii.gz"
    shifted = mk.grid_affine(offset=(-31.0, -30.0, -30.0))
    nib.save(nib.Nifti1Image(mk.random_bold(n_volumes=3), shifted), bold_path)
    error = _both_raise(
        lambda ours: (NiftiLabelsMasker if ours else nilearn_maskers.NiftiLabelsMasker)(
            labels_img, resampling_target=None
        ).fit(),
        lambda masker: masker.transform(str(bold_path)),
        r"Images have different affine matrices\.",
    )
    assert str(bold_path) in str(error) and "labels and data do not have the same affine" in str(error)


def test_region_extractor_checks_the_data_before_the_maps(maps_img):
    """A non-image to fit is a TypeError, even with a mask far from the maps (nilearn's order)."""
    far = np.diag([2.0, 2.0, 2.0, 1.0])
    far[:3, 3] = 500.0
    mask = nib.Nifti1Image(np.ones((5, 5, 5), np.int8), far)
    _both_raise(lambda ours: (RegionExtractor if ours else nilearn_regions.RegionExtractor)(maps_img, mask_img=mask),
                lambda extractor: extractor.fit(np.zeros((3, 3))), "")


def _warnings_of(call):
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        call()
    return [(w.category, str(w.message)) for w in records]


def test_keep_masked_warnings_contain_nilearns_text(mk, labels_img, maps_img, bold_img):
    mask_data = np.zeros(mk.SHAPE, np.int8)
    mask_data[:12] = 1  # keeps labels 1, 2 and 3
    mask = nib.Nifti1Image(mask_data, mk.grid_affine())
    mask_data = np.zeros(mk.SHAPE, np.int8)
    mask_data[:5] = 1  # keeps maps 0 and 2
    maps_mask = nib.Nifti1Image(mask_data, mk.grid_affine())
    for ours, theirs, text in (
        (NiftiLabelsMasker(labels_img, mask_img=mask, keep_masked_labels=True),
         nilearn_maskers.NiftiLabelsMasker(labels_img, mask_img=mask, keep_masked_labels=True),
         'In version 0.15.0, "keep_masked_labels" parameter will be removed'),
        (NiftiMapsMasker(maps_img, mask_img=maps_mask, keep_masked_maps=True),
         nilearn_maskers.NiftiMapsMasker(maps_img, mask_img=maps_mask, keep_masked_maps=True),
         '"keep_masked_maps" parameter will be removed'),
    ):
        for masker in (ours, theirs):
            future = [m for c, m in _warnings_of(lambda: masker.fit_transform(bold_img)) if c is FutureWarning]
            assert any(text in m for m in future), future
    # nothing of the kind by default
    for masker in (NiftiLabelsMasker(labels_img, mask_img=mask), NiftiMapsMasker(maps_img, mask_img=maps_mask)):
        assert not [m for c, m in _warnings_of(lambda: masker.fit_transform(bold_img)) if c is FutureWarning]


def test_resampling_maps_is_silent_as_in_nilearn(mk, bold_img):
    """Maps of one value per voxel look binary; nilearn silences that warning when resampling them."""
    affine_2mm = mk.grid_affine(2.0, (-31.0, -31.0, -31.0))
    maps = np.zeros((30, 33, 27, 2), np.float32)
    maps[2:12, 2:12, 2:12, 0] = 1
    maps[14:25, 3:15, 5:20, 1] = 1
    maps_img = nib.Nifti1Image(maps, affine_2mm)
    for masker in (NiftiMapsMasker(maps_img), nilearn_maskers.NiftiMapsMasker(maps_img)):
        assert _warnings_of(lambda: masker.fit(bold_img)) == []


def test_transform_changes_no_attribute(mk, labels_img, maps_img, bold_img):
    mask_data = np.zeros(mk.SHAPE, np.int8)
    mask_data[:12] = 1
    mask = nib.Nifti1Image(mask_data, mk.grid_affine())
    for masker in (
        NiftiLabelsMasker(labels_img, mask_img=mask, dtype="auto"),
        NiftiMapsMasker(maps_img, dtype="auto"),
        NiftiSpheresMasker([(0.0, 0.0, 0.0)], radius=6.0, dtype="auto"),
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            masker.fit(bold_img)
            before = dict(masker.__dict__)
            masker.transform(bold_img)
        assert masker.__dict__.keys() == before.keys()
        assert all(masker.__dict__[key] is before[key] for key in before), type(masker).__name__


def test_labels_attributes_after_fit_are_nilearns_after_transform(mk, labels_img, bold_img):
    """A mask that removes labels: nilearn updates the region attributes at transform; we set them at fit."""
    mask_data = np.zeros(mk.SHAPE, np.int8)
    mask_data[:12] = 1  # removes label 5
    mask = nib.Nifti1Image(mask_data, mk.grid_affine())
    ours = NiftiLabelsMasker(labels_img, mask_img=mask).fit(bold_img)
    theirs = nilearn_maskers.NiftiLabelsMasker(labels_img, mask_img=mask)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = theirs.fit(bold_img).transform(bold_img)
        got = ours.transform(bold_img)
    assert got.shape == expected.shape == (30, 3)
    assert ours.region_ids_ == theirs.region_ids_ and ours.region_names_ == theirs.region_names_
    assert ours.n_elements_ == theirs.n_elements_ == 3
    np.testing.assert_array_equal(ours.region_atlas_.get_fdata(), theirs.region_atlas_.get_fdata())


def test_coverage_is_set_by_fit_transform(labels_img, bold_img):
    masker = NiftiLabelsMasker(labels_img)
    signals = masker.fit_transform(bold_img)
    coverage = masker.coverage_
    np.testing.assert_array_equal(coverage, np.ones(4))
    np.testing.assert_array_equal(masker.transform(bold_img), signals)
    assert masker.coverage_ is coverage
    assert not hasattr(masker.fit(bold_img), "coverage_")  # a new fit forgets the old data


def test_a_5d_image_is_refused_with_nilearns_dimension_error(mk, labels_img, tmp_path):
    """A TypeError with nilearn's message, and the ValueError naming the file it was before."""
    path = tmp_path / "sub-01_bold.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros(mk.SHAPE + (3, 2), np.float32), mk.grid_affine()), path)
    text = "Input data has incompatible dimensionality: Expected dimension is 4D and you provided a 5D image"
    theirs = _raised(lambda: nilearn_maskers.NiftiLabelsMasker(labels_img).fit().transform(str(path)))
    error = _raised(lambda: NiftiLabelsMasker(labels_img).fit().transform(str(path)))
    assert text in str(theirs) and text in str(error)
    # nilearn's class is nilearn's; ours has its name and its base, TypeError
    assert type(error).__name__ == type(theirs).__name__ == "DimensionError"
    assert isinstance(error, TypeError) and isinstance(theirs, TypeError)
    assert isinstance(error, ValueError) and str(path) in str(error)
