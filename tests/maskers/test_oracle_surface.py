"""SurfaceLabelsMasker and SurfaceMapsMasker against nilearn 0.14.1 on the fsaverage5 meshes of its wheel.

The parcellations are built on the real mesh: each vertex goes to the nearest
of a few seed vertices on the sphere (one k-means step, contiguous parcels).
Labels agree exactly (same float64 reduction, same cast); maps to ~1e-6
relative (nilearn casts the data to float32 before its lstsq; we solve the
data as given, in float64).
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest
from nilearn import maskers as nilearn_maskers
from nilearn.datasets import load_fsaverage
from nilearn.surface import SurfaceImage

from regionseries.maskers import SurfaceLabelsMasker, SurfaceMapsMasker

N_SAMPLES = 24
MAPS_PRECISION = 1e-5  # relative to max |signal|: nilearn's float32 cast of the data


@pytest.fixture(scope="module")
def pial():
    return load_fsaverage("fsaverage5")["pial"]


@pytest.fixture(scope="module")
def sphere_parcels(pial):
    """Per part, the index of the nearest of 8 seed vertices on the sphere (0..7)."""
    spheres = load_fsaverage("fsaverage5")["sphere"]
    rng = np.random.default_rng(19)
    parcels = {}
    for name, mesh in spheres.parts.items():
        coordinates = np.asarray(mesh.coordinates)
        seeds = coordinates[rng.choice(len(coordinates), 8, replace=False)]
        distances = np.linalg.norm(coordinates[:, None, :] - seeds[None], axis=2)
        parcels[name] = np.argmin(distances, axis=1)
    return parcels


def labels_image(pial, sphere_parcels, offset=0, right_offset=8):
    """Parcels 1..8 on the left, 9..16 on the right (plus ``offset``), with a background band."""
    data = {}
    for name, parcels in sphere_parcels.items():
        values = parcels + 1 + (right_offset if name == "right" else 0) + offset
        values[parcels == 0] = offset  # one seed's parcel is background
        data[name] = values
    return SurfaceImage(mesh=pial, data=data)


def data_image(pial, dtype=np.float64, n_samples=N_SAMPLES, seed=0):
    rng = np.random.default_rng(seed)
    return SurfaceImage(
        mesh=pial,
        data={
            name: (100 + rng.standard_normal((mesh.n_vertices, n_samples)) * 5).astype(dtype)
            for name, mesh in pial.parts.items()
        },
    )


def maps_image(pial, sphere_parcels, dtype=np.float64, overlap=True):
    """4 smooth maps per hemisphere from distances to the parcels' vertices."""
    rng = np.random.default_rng(3)
    data = {}
    for name, parcels in sphere_parcels.items():
        n_vertices = len(parcels)
        maps = np.zeros((n_vertices, 6))
        for index in range(6):
            inside = parcels == index + 1 if not overlap else np.isin(parcels, [index + 1, (index + 2) % 8])
            maps[inside, index] = rng.random(int(inside.sum())) + 0.5
        data[name] = maps.astype(dtype)
    return SurfaceImage(mesh=pial, data=data)


def mask_image(pial, sphere_parcels, drop_parcel=3, dtype=np.int8):
    """Vertices of every parcel but ``drop_parcel`` on the left (a parcel the mask removes)."""
    data = {name: np.ones(mesh.n_vertices, dtype=dtype) for name, mesh in pial.parts.items()}
    data["left"] = (sphere_parcels["left"] != drop_parcel).astype(dtype)
    return SurfaceImage(mesh=pial, data=data)


def run_both(ours_class, theirs_class, imgs, params, *, fit_imgs="same", **transform_args):
    """Fit and transform with both maskers; return the fitted maskers, ours and nilearn's results."""
    fit_with = imgs if fit_imgs == "same" else fit_imgs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # ours first: nilearn's transform makes the parts of a 1D image 2D in place
        ours = ours_class(**params).fit(fit_with)
        got = ours.transform(imgs, **transform_args)
        theirs = theirs_class(**params).fit(fit_with)
        expected = theirs.transform(imgs, **transform_args)
    return ours, theirs, got, expected


def assert_same(got, expected, rtol=0.0):
    assert got.shape == expected.shape and got.dtype == expected.dtype, (got.shape, got.dtype, expected.dtype)
    np.testing.assert_allclose(got, expected, rtol=0, atol=rtol * np.max(np.abs(expected)) + 1e-12)


def assert_same_inverse(ours, theirs, signals, rtol):
    """Both maskers' ``inverse_transform(signals)`` agree part by part (shape, dtype, values); return ours."""
    ours_img = ours.inverse_transform(signals)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs_img = theirs.inverse_transform(signals)
    assert list(ours_img.data.parts) == list(theirs_img.data.parts)
    for name, ours_part in ours_img.data.parts.items():
        theirs_part = np.asarray(theirs_img.data.parts[name])
        assert ours_part.shape == theirs_part.shape and ours_part.dtype == theirs_part.dtype
        np.testing.assert_allclose(ours_part, theirs_part, rtol=rtol, atol=rtol)
    return ours_img


def both_labels(imgs, params, **kwargs):
    return run_both(SurfaceLabelsMasker, nilearn_maskers.SurfaceLabelsMasker, imgs, params, **kwargs)


def both_maps(imgs, params, **kwargs):
    return run_both(SurfaceMapsMasker, nilearn_maskers.SurfaceMapsMasker, imgs, params, **kwargs)


# -- SurfaceLabelsMasker --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_labels_defaults_are_nilearns(pial, sphere_parcels, dtype):
    labels = labels_image(pial, sphere_parcels)
    ours, theirs, got, expected = both_labels(data_image(pial, dtype), {"labels_img": labels})
    assert got.dtype == dtype and got.shape == (N_SAMPLES, 14)
    assert_same(got, expected)
    assert ours.n_elements_ == theirs.n_elements_ == 14
    assert ours.labels_ == theirs.labels_
    assert ours.region_ids_ == theirs.region_ids_
    assert ours.region_names_ == theirs.region_names_
    assert ours.get_feature_names_out() == list(theirs.get_feature_names_out())
    pd.testing.assert_frame_equal(ours.lut_, theirs.lut_, check_dtype=False)
    # the mean of parcel 10 (first parcel of the right hemisphere), straight from the arrays
    data = data_image(pial, dtype).data.parts["right"].astype(np.float64)
    direct = data[labels.data.parts["right"] == 10].mean(axis=0)
    np.testing.assert_allclose(got[:, ours.labels_.index(10) - 1], direct.astype(dtype), rtol=1e-6)


@pytest.mark.parametrize("strategy", ["mean", "median", "sum", "minimum", "maximum", "standard_deviation", "variance"])
def test_labels_strategies(pial, sphere_parcels, strategy):
    params = {"labels_img": labels_image(pial, sphere_parcels), "strategy": strategy}
    _, _, got, expected = both_labels(data_image(pial, np.float64, n_samples=6), params)
    assert_same(got, expected, rtol=1e-12)


def test_labels_background_label_and_lut(pial, sphere_parcels):
    labels = labels_image(pial, sphere_parcels, offset=-1)  # background -1, parcels 0..15
    values = sorted(np.unique(np.concatenate(list(labels.data.parts.values()))).tolist())
    lut = pd.DataFrame({"index": values, "name": [f"parcel {value}" for value in values]})
    params = {"labels_img": labels, "background_label": -1, "lut": lut}
    ours, theirs, got, expected = both_labels(data_image(pial), params)
    assert_same(got, expected)
    assert ours.region_ids_["background"] == -1 and ours.region_ids_ == theirs.region_ids_
    assert ours.region_names_ == theirs.region_names_
    assert ours.region_names_[0] == f"parcel {ours.region_ids_[0]}"
    pd.testing.assert_frame_equal(ours.lut_, theirs.lut_, check_dtype=False)


def test_labels_names_list(pial, sphere_parcels):
    # one name per label value present, in ascending order (1 and 9 are background: seed 0's parcels)
    names = ["Background"] + [f"region {value}" for value in [*range(2, 9), *range(10, 17)]]
    params = {"labels_img": labels_image(pial, sphere_parcels), "labels": names}
    ours, theirs, got, expected = both_labels(data_image(pial), params)
    assert_same(got, expected)
    assert ours.region_names_ == theirs.region_names_
    assert names[0] == "Background"  # the caller's list is not modified


def test_labels_mask_removes_a_parcel_with_nilearns_warning(pial, sphere_parcels):
    params = {"labels_img": labels_image(pial, sphere_parcels), "mask_img": mask_image(pial, sphere_parcels)}
    ours, theirs, got, expected = both_labels(data_image(pial), params)
    assert_same(got, expected)
    assert 4 not in ours.labels_ and ours.labels_ == theirs.labels_
    with pytest.warns(UserWarning, match=r"the following labels were removed: \{4\}"):
        SurfaceLabelsMasker(**params).fit()
    removed = np.asarray(ours.labels_img_.data.parts["left"])[sphere_parcels["left"] == 3]
    assert np.all(removed == 0)


def test_labels_cleaning_confounds_and_sample_mask(pial, sphere_parcels):
    rng = np.random.default_rng(5)
    confounds = rng.standard_normal((60, 3))
    sample_mask = np.delete(np.arange(60), [0, 7, 8])
    params = {
        "labels_img": labels_image(pial, sphere_parcels),
        "standardize": "zscore_sample",
        "detrend": True,
        "high_pass": 0.01,
        "low_pass": 0.2,
        "t_r": 1.5,
    }
    _, _, got, expected = both_labels(
        data_image(pial, np.float32, n_samples=60), params, confounds=confounds, sample_mask=sample_mask
    )
    assert got.shape == (60 - 3, 14)
    assert_same(got, expected, rtol=1e-5)


def test_labels_high_variance_confounds(pial, sphere_parcels):
    params = {"labels_img": labels_image(pial, sphere_parcels), "high_variance_confounds": True}
    _, _, got, expected = both_labels(data_image(pial), params)
    assert_same(got, expected, rtol=1e-9)


@pytest.mark.parametrize("dtype", ["auto", np.float32, np.float64])
@pytest.mark.parametrize("data_dtype", [np.int16, np.float64])
def test_labels_dtype_parameter(pial, sphere_parcels, dtype, data_dtype):
    params = {"labels_img": labels_image(pial, sphere_parcels), "dtype": dtype}
    _, _, got, expected = both_labels(data_image(pial, data_dtype), params)
    assert_same(got, expected)


def test_labels_one_sample_and_lists(pial, sphere_parcels):
    labels = labels_image(pial, sphere_parcels)
    full = data_image(pial, n_samples=3)
    samples = [
        SurfaceImage(mesh=pial, data={name: values[:, index] for name, values in full.data.parts.items()})
        for index in range(3)
    ]
    _, _, got, expected = both_labels(samples[0], {"labels_img": labels})
    assert got.shape == (14,)
    assert_same(got, expected)
    _, _, got, expected = both_labels(samples, {"labels_img": labels}, fit_imgs=None)
    assert got.shape == (3, 14) and got.dtype == np.float32  # nilearn concatenates in float32
    assert_same(got, expected)


@pytest.mark.parametrize("dtype", [None, "auto"])
def test_labels_inverse_transform(pial, sphere_parcels, dtype):
    params = {"labels_img": labels_image(pial, sphere_parcels), "mask_img": mask_image(pial, sphere_parcels), "dtype": dtype}
    ours, theirs, got, _ = both_labels(data_image(pial), params)
    for signals in (got, got[0]):
        ours_img = assert_same_inverse(ours, theirs, signals, rtol=0)
        assert type(ours_img) is SurfaceImage and ours_img.mesh is ours.labels_img_.mesh


def test_labels_coverage_counts_constant_and_masked_vertices(pial, sphere_parcels):
    labels = labels_image(pial, sphere_parcels)
    img = data_image(pial)
    left = np.array(img.data.parts["left"])
    parcel_2 = np.flatnonzero(sphere_parcels["left"] == 1)  # label 2
    left[parcel_2[: len(parcel_2) // 2]] = 7.0  # constant: not covered
    img = SurfaceImage(mesh=pial, data={"left": left, "right": img.data.parts["right"]})
    masker = SurfaceLabelsMasker(labels_img=labels)
    masker.fit_transform(img)
    column = masker.labels_.index(2) - 1
    assert masker.coverage_[column] == pytest.approx((len(parcel_2) - len(parcel_2) // 2) / len(parcel_2))
    assert np.all(np.delete(masker.coverage_, column) == 1.0)


def test_labels_errors_are_nilearns(pial, sphere_parcels):
    labels = labels_image(pial, sphere_parcels)
    with pytest.raises(ValueError, match="Please provide a labels_img"):
        SurfaceLabelsMasker().fit()
    with pytest.raises(ValueError, match="Image has no label"):
        SurfaceLabelsMasker(labels_img=SurfaceImage(mesh=pial, data={k: np.zeros(m.n_vertices) for k, m in pial.parts.items()})).fit()
    with pytest.raises(ValueError, match="either labels or a lookup table"):
        SurfaceLabelsMasker(labels_img=labels, labels=["a"], lut=pd.DataFrame({"index": [0], "name": ["a"]})).fit()
    with pytest.raises(ValueError, match="Invalid strategy"):
        SurfaceLabelsMasker(labels_img=labels, strategy="mode").fit()
    with pytest.raises(TypeError, match="should be a SurfaceImage"):
        SurfaceLabelsMasker(labels_img=labels).fit().transform(np.zeros((3, 4)))
    with pytest.raises(TypeError, match="dtype"):
        SurfaceLabelsMasker(labels_img=labels, dtype=bool).fit()
    fitted = SurfaceLabelsMasker(labels_img=labels).fit()
    with pytest.raises(ValueError, match="wrong shape"):
        fitted.inverse_transform(np.zeros((2, 3)))


def test_sklearn_tags_are_nilearns(pial, sphere_parcels):
    pytest.importorskip("sklearn", minversion="1.6")
    labels = labels_image(pial, sphere_parcels)
    for ours, theirs in (
        (SurfaceLabelsMasker(labels_img=labels), nilearn_maskers.SurfaceLabelsMasker(labels_img=labels)),
        (SurfaceMapsMasker(), nilearn_maskers.SurfaceMapsMasker()),
    ):
        assert ours.__sklearn_tags__().input_tags.surf_img is True
        assert ours.__sklearn_tags__().input_tags.niimg_like is False
        assert dataclasses.asdict(ours.__sklearn_tags__()) == dataclasses.asdict(theirs.__sklearn_tags__())


# -- SurfaceMapsMasker ---------------------------------------------------------------------------


@pytest.mark.parametrize("data_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("maps_dtype", [np.float32, np.float64])
def test_maps_defaults_are_nilearns(pial, sphere_parcels, data_dtype, maps_dtype):
    maps = maps_image(pial, sphere_parcels, maps_dtype)
    ours, theirs, got, expected = both_maps(data_image(pial, data_dtype), {"maps_img": maps})
    assert got.shape == (N_SAMPLES, 6) and got.dtype == np.result_type(maps_dtype, np.float32)
    assert_same(got, expected, rtol=MAPS_PRECISION)
    assert ours.n_elements_ == theirs.n_elements_ == 6
    assert list(ours.get_feature_names_out()) == list(theirs.get_feature_names_out())


def test_maps_mask_confounds_and_sample_mask(pial, sphere_parcels):
    rng = np.random.default_rng(6)
    confounds = pd.DataFrame(rng.standard_normal((N_SAMPLES, 2)), columns=["a", "b"])
    params = {
        "maps_img": maps_image(pial, sphere_parcels),
        "mask_img": mask_image(pial, sphere_parcels),
        "standardize": "zscore_sample",
        "detrend": True,
    }
    _, _, got, expected = both_maps(
        data_image(pial), params, confounds=confounds, sample_mask=np.arange(2, N_SAMPLES)
    )
    assert got.shape == (N_SAMPLES - 2, 6)
    assert_same(got, expected, rtol=MAPS_PRECISION)


def test_maps_high_variance_confounds_and_dtype(pial, sphere_parcels):
    params = {"maps_img": maps_image(pial, sphere_parcels), "high_variance_confounds": True, "dtype": "auto"}
    _, _, got, expected = both_maps(data_image(pial), params)
    assert_same(got, expected, rtol=MAPS_PRECISION)


def test_maps_overlap(pial, sphere_parcels):
    separate = {"maps_img": maps_image(pial, sphere_parcels, overlap=False), "allow_overlap": False}
    _, _, got, expected = both_maps(data_image(pial), separate)
    assert_same(got, expected, rtol=MAPS_PRECISION)
    masker = SurfaceMapsMasker(maps_img=maps_image(pial, sphere_parcels), allow_overlap=False).fit()
    with pytest.raises(ValueError, match="Overlap detected"):
        masker.transform(data_image(pial))


@pytest.mark.parametrize("masked", [False, True])
def test_maps_inverse_transform(pial, sphere_parcels, masked):
    params = {"maps_img": maps_image(pial, sphere_parcels)}
    if masked:
        # boolean: nilearn's inverse_transform indexes with the raw mask values, so an
        # integer 0/1 mask would select vertices 0 and 1 only (docs/differences-from-nilearn.md)
        params["mask_img"] = mask_image(pial, sphere_parcels, dtype=bool)
    ours, theirs, got, _ = both_maps(data_image(pial), params)
    for signals in (got, got[3]):
        assert_same_inverse(ours, theirs, signals, rtol=1e-10)


def test_maps_one_sample_and_coverage(pial, sphere_parcels):
    maps = maps_image(pial, sphere_parcels)
    one = SurfaceImage(mesh=pial, data={name: values[:, 0] for name, values in data_image(pial).data.parts.items()})
    _, _, got, expected = both_maps(one, {"maps_img": maps})
    assert got.shape == (6,)
    assert_same(got, expected, rtol=MAPS_PRECISION)
    masker = SurfaceMapsMasker(maps_img=maps, mask_img=mask_image(pial, sphere_parcels))
    masker.fit_transform(data_image(pial))
    # map 2 covers parcels 3 and 4 of each hemisphere; the mask drops parcel 3 on the left
    left_weights = np.asarray(maps.data.parts["left"])[:, 2]
    right_weights = np.asarray(maps.data.parts["right"])[:, 2]
    kept = left_weights[sphere_parcels["left"] != 3].sum() + right_weights.sum()
    assert masker.coverage_[2] == pytest.approx(kept / (left_weights.sum() + right_weights.sum()))
    assert masker.coverage_[0] == pytest.approx(1.0)


def test_maps_errors_are_nilearns(pial, sphere_parcels):
    with pytest.raises(ValueError, match="Please provide a maps_img"):
        SurfaceMapsMasker().fit()
    zeros = SurfaceImage(mesh=pial, data={k: np.zeros((m.n_vertices, 2)) for k, m in pial.parts.items()})
    with pytest.raises(ValueError, match="maps_img contains no map"):
        SurfaceMapsMasker(maps_img=zeros).fit()
    one_d = SurfaceImage(mesh=pial, data={k: np.ones(m.n_vertices) for k, m in pial.parts.items()})
    with pytest.raises(ValueError, match="should be 2D"):
        SurfaceMapsMasker(maps_img=one_d).fit()


# -- both: estimator protocol around the extraction -------------------------------------------------


def test_set_output_report_and_verbose(pial, sphere_parcels, capsys):
    pytest.importorskip("sklearn", minversion="1.6")
    img = data_image(pial, n_samples=5)
    for ours_class, theirs_class, params in (
        (SurfaceLabelsMasker, nilearn_maskers.SurfaceLabelsMasker, {"labels_img": labels_image(pial, sphere_parcels)}),
        (SurfaceMapsMasker, nilearn_maskers.SurfaceMapsMasker, {"maps_img": maps_image(pial, sphere_parcels)}),
    ):
        ours = ours_class(**params, verbose=1).fit(img).set_output(transform="pandas")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = theirs_class(**params).fit(img).set_output(transform="pandas")
            expected = theirs.transform(img)
        got = ours.transform(img)
        assert isinstance(got, pd.DataFrame) and list(got.columns) == list(expected.columns)
        np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=MAPS_PRECISION)
        assert "Finished fit" in capsys.readouterr().out
        page = ours.generate_report().get_standalone()
        assert f"{ours_class.__name__} report" in page and "vertices (left)" in page


def test_high_variance_confounds_with_smoothing(pial, sphere_parcels):
    """nilearn computes the high-variance confounds on the data before smoothing."""
    params = {"labels_img": labels_image(pial, sphere_parcels), "high_variance_confounds": True, "smoothing_fwhm": 8}
    _, _, got, expected = both_labels(data_image(pial), params)
    assert_same(got, expected, rtol=1e-9)
