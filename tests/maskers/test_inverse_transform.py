"""inverse_transform of the three maskers and RegionExtractor against nilearn 0.14.1.

The signals nilearn's maskers accept (0-d, 1-D, 2-D, data frames, booleans),
the dtype of the image they return, and the spheres' reference grid and refusals.
"""

from __future__ import annotations

import warnings

import nibabel as nib
import numpy as np
import pytest
from nilearn import maskers as nilearn_maskers

from regionseries.maskers import NiftiLabelsMasker, NiftiMapsMasker, NiftiSpheresMasker

SEEDS = [(-12.0, -9.0, -6.0), (9.0, 6.0, 12.0)]


def _pair(kind, mk):
    """(ours, nilearn's) masker of one kind, unfitted, on the shared synthetic grid."""
    affine = mk.grid_affine()
    if kind == "labels":
        params = {"labels_img": nib.Nifti1Image(mk.box_labels(), affine)}
        return NiftiLabelsMasker(**params), nilearn_maskers.NiftiLabelsMasker(**params)
    if kind == "maps":
        params = {"maps_img": nib.Nifti1Image(mk.gaussian_maps(), affine)}
        return NiftiMapsMasker(**params), nilearn_maskers.NiftiMapsMasker(**params)
    params = {"seeds": SEEDS, "radius": 6.0, "mask_img": nib.Nifti1Image(np.ones(mk.SHAPE, np.int8), affine)}
    return NiftiSpheresMasker(**params), nilearn_maskers.NiftiSpheresMasker(**params)


def _inverse_both(ours, theirs, signals):
    with warnings.catch_warnings(record=True) as our_warnings:
        warnings.simplefilter("always")
        got = ours.inverse_transform(signals)
    with warnings.catch_warnings(record=True) as their_warnings:
        warnings.simplefilter("always")
        expected = theirs.inverse_transform(signals)
    return got, expected, our_warnings, their_warnings


@pytest.mark.parametrize("kind", ["labels", "maps", "spheres"])
@pytest.mark.parametrize("input_dtype", [np.float32, np.float64, np.int32, np.int64])
@pytest.mark.parametrize("masker_dtype", [None, "auto", np.float32, "float64", np.int32, np.int64])
def test_output_dtype_is_nilearns(mk, kind, input_dtype, masker_dtype):
    """The image holds the masker's dtype if set (int32/float32 for "auto"), else the signals'.

    This also pins the difference listed for nilearn's
    ``check_img_estimator_dtypes_inverse_transform`` on the maps and spheres
    maskers: like nilearn's, they warn about int64 data only when int64
    ends up in the image (nilearn's check expects that only of its own classes).
    """
    ours, theirs = _pair(kind, mk)
    ours.set_params(dtype=masker_dtype)
    theirs.set_params(dtype=masker_dtype)
    bold = nib.Nifti1Image(mk.random_bold(n_volumes=3), mk.grid_affine())
    ours.fit(bold)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs.fit(bold)
    signals = (np.random.default_rng(0).random((4, ours.n_elements_)) * 10).astype(input_dtype)
    got, expected, our_warnings, their_warnings = _inverse_both(ours, theirs, signals)
    assert got.shape == expected.shape
    assert got.get_data_dtype() == expected.get_data_dtype()
    assert np.asanyarray(got.dataobj).dtype == np.asanyarray(expected.dataobj).dtype
    np.testing.assert_allclose(got.get_fdata(), expected.get_fdata(), rtol=1e-6, atol=1e-6)

    def converted(records):
        return any("data has been converted to int32" in str(w.message) for w in records)

    assert converted(our_warnings) == converted(their_warnings)


@pytest.mark.parametrize("kind", ["labels", "maps", "spheres"])
def test_one_region_of_a_3d_image_round_trips(mk, kind):
    """fit_transform of one region on a 3D image gives a 0-d array, which inverse_transform takes."""
    affine = mk.grid_affine()
    volume = nib.Nifti1Image(mk.random_bold(n_volumes=1)[..., 0], affine)
    if kind == "labels":
        params = {"labels_img": nib.Nifti1Image((mk.box_labels() == 1).astype(np.int32), affine)}
    elif kind == "maps":
        params = {"maps_img": nib.Nifti1Image(mk.gaussian_maps()[..., :1], affine)}
    else:
        params = {"seeds": SEEDS[:1], "radius": 6.0, "mask_img": nib.Nifti1Image(np.ones(mk.SHAPE, np.int8), affine)}
    ours = {"labels": NiftiLabelsMasker, "maps": NiftiMapsMasker, "spheres": NiftiSpheresMasker}[kind](**params)
    theirs = getattr(nilearn_maskers, type(ours).__name__)(**params)
    signal = ours.fit_transform(volume)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected_signal = theirs.fit_transform(volume)
    assert signal.shape == expected_signal.shape == ()
    got, expected, _, _ = _inverse_both(ours, theirs, signal)
    assert got.shape == expected.shape == mk.SHAPE
    np.testing.assert_allclose(got.get_fdata(), expected.get_fdata(), rtol=1e-6)


def test_data_frames_and_booleans_as_nilearn(mk):
    ours, theirs = _pair("labels", mk)
    bold = nib.Nifti1Image(mk.random_bold(n_volumes=3), mk.grid_affine())
    ours.set_output(transform="pandas")
    theirs.set_output(transform="pandas")
    frame = ours.fit_transform(bold)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs.fit(bold)
    got, expected, _, _ = _inverse_both(ours, theirs, frame)
    assert got.shape == expected.shape == mk.SHAPE + (3,)
    np.testing.assert_allclose(got.get_fdata(), expected.get_fdata(), rtol=1e-6)
    flags = np.array([[True, False, True, False]])
    got, expected, our_warnings, their_warnings = _inverse_both(ours, theirs, flags)
    assert got.get_data_dtype() == expected.get_data_dtype() == np.int32
    np.testing.assert_array_equal(got.get_fdata(), expected.get_fdata())
    assert [str(w.message) for w in our_warnings if "Casting boolean" in str(w.message)] == [
        str(w.message) for w in their_warnings if "Casting boolean" in str(w.message)
    ] == ["Casting boolean input to <class 'numpy.int32'>"]


def test_spheres_without_mask_use_the_grid_of_the_fitted_data(mk):
    """Beyond nilearn (which raises): the data given to fit are the reference grid."""
    affine = mk.grid_affine()
    bold = nib.Nifti1Image(mk.random_bold(n_volumes=3), affine)
    signals = np.array([[1.0, 2.0], [3.0, 4.0]])
    ours = NiftiSpheresMasker(SEEDS, radius=6.0).fit(bold)
    got = ours.inverse_transform(signals)
    # the same image as with an all-ones mask on that grid, which nilearn accepts
    with_mask = nilearn_maskers.NiftiSpheresMasker(
        SEEDS, radius=6.0, mask_img=nib.Nifti1Image(np.ones(mk.SHAPE, np.int8), affine)
    ).fit()
    expected = with_mask.inverse_transform(signals)
    np.testing.assert_array_equal(got.affine, affine)
    np.testing.assert_array_equal(got.get_fdata(), expected.get_fdata())
    # fit without data: no reference, nilearn's error
    with pytest.raises(ValueError, match="Please provide mask_img at initialization"):
        NiftiSpheresMasker(SEEDS, radius=6.0).fit().inverse_transform(signals)
    with pytest.raises(ValueError, match="Please provide mask_img at initialization"):
        nilearn_maskers.NiftiSpheresMasker(SEEDS, radius=6.0).fit().inverse_transform(signals)


@pytest.mark.parametrize("cls", [NiftiSpheresMasker, nilearn_maskers.NiftiSpheresMasker])
def test_spheres_refuse_overlap_and_empty_spheres(mk, cls):
    affine = mk.grid_affine()
    mask = nib.Nifti1Image(np.ones(mk.SHAPE, np.int8), affine)
    close = [(0.0, 0.0, 0.0), (3.0, 0.0, 0.0)]
    cls(close, radius=6.0, allow_overlap=True, mask_img=mask).fit().inverse_transform(np.ones(2))
    with pytest.raises(ValueError, match="Overlap detected"):
        cls(close, radius=6.0, allow_overlap=False, mask_img=mask).fit().inverse_transform(np.ones(2))
    outside = np.zeros(mk.SHAPE, np.int8)
    outside[0, 0, 0] = 1
    with pytest.raises(ValueError, match="These spheres are empty"):
        cls(close, radius=1.0, mask_img=nib.Nifti1Image(outside, affine)).fit().inverse_transform(np.ones(2))
