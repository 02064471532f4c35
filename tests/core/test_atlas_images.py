"""One path from an atlas file to an operator (``regionseries.core.atlas_images``).

* the streamed maps operator (a few maps at a time, as the pipeline builds
  it) equals the operator of the whole image loaded and resampled in memory
  (as the maskers hold it), for every dtype nibabel writes, with and without
  scaling, on the file's grid and on another one;
* a probabilistic atlas stored as ``uint8`` percentages (FSL's Harvard-Oxford)
  gives nilearn's ``NiftiMapsMasker`` signals through that operator;
* labels of every dtype give the operator of the nearest-neighbour resampled labels;
* off the atlas's grid (1 mm atlases onto 2-3 mm grids, RAS or LAS, oblique,
  partly outside, maps on the atlas's edges, empty maps, uint8 0-255, int16 with
  ``scl_slope``, NaN), both routes give the weights of a full-grid
  ``scipy.ndimage.affine_transform`` of every map within 1e-6 at the same
  voxels, and nilearn's ``NiftiMapsMasker`` resampled maps.
"""

from __future__ import annotations

import warnings

import nibabel as nib
import numpy as np
import pytest
from nilearn import maskers as nilearn_maskers
from scipy import linalg
from scipy.ndimage import affine_transform

from regionseries.core.atlas_images import (
    labels_on_grid,
    labels_operator,
    load_labels_img,
    load_maps_img,
    maps_dtype,
    maps_on_grid,
    maps_operator,
)
from regionseries.core.extract import LabelsOperator, MapsOperator, extract_signals
from regionseries.core.image import resample_img
from regionseries.maskers import NiftiMapsMasker

SHAPE = (14, 15, 13)
AFFINE_2MM = np.array([[2.0, 0, 0, -14], [0, 2.0, 0, -15], [0, 0, 2.0, -13], [0, 0, 0, 1]])
#: The same field of view stored left to right (FSL's and SPM's radiological LAS convention).
AFFINE_2MM_LAS = np.array([[-2.0, 0, 0, 12], [0, 2.0, 0, -15], [0, 0, 2.0, -13], [0, 0, 0, 1]])
TARGET_AFFINE = np.array([[3.0, 0, 0, -14.5], [0, 3.0, 0, -15], [0, 0, 3.0, -12], [0, 0, 0, 1]])
TARGET_SHAPE = (10, 10, 9)

#: (dtype, scl_slope, scl_inter) of the files: every dtype nibabel writes, some with scaling.
STORAGE = [
    ("uint8", None, None),
    ("uint8", 0.01, 0.0),
    ("int8", None, None),
    ("int16", None, None),
    ("int16", 0.001, 0.5),
    ("uint16", None, None),
    ("int32", None, None),
    ("float32", None, None),
    ("float64", None, None),
]


def _probabilities(n_maps=7, seed=3):
    """Blobs with sharp edges, in percent (0-100), as probabilistic atlases store them."""
    rng = np.random.default_rng(seed)
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in SHAPE], indexing="ij"), axis=-1)
    maps = np.zeros(SHAPE + (n_maps,))
    for k in range(n_maps):
        centre = rng.uniform(3, 10, 3)
        value = np.exp(-np.sum((ijk - centre) ** 2, axis=-1) / 6.0) * rng.uniform(50, 100)
        value[value < 5] = 0
        maps[..., k] = np.round(value)
    return maps


def _save(data, path, dtype, slope=None, inter=None, affine=AFFINE_2MM):
    """Store ``data`` as ``dtype``: unscaled (the values cast), or with this scaling."""
    if slope is None:
        img = nib.Nifti1Image(np.asarray(data).astype(dtype), affine)
    else:
        img = nib.Nifti1Image(np.asarray(data), affine)
        img.set_data_dtype(np.dtype(dtype))
        img.header.set_slope_inter(slope, inter)
        img = nib.Nifti1Image(np.asarray(data), affine, img.header)
    nib.save(img, path)
    assert (slope is None) == (nib.load(path).dataobj.slope == 1.0)
    return path


def _same(a: MapsOperator, b: MapsOperator):
    assert a.shape == b.shape
    np.testing.assert_array_equal(a.affine, b.affine)
    assert a.names == b.names
    assert (a.maps_matrix != b.maps_matrix).nnz == 0
    np.testing.assert_array_equal(a.weight_totals, b.weight_totals)


def _in_memory(path, shape=None, affine=None):
    img = load_maps_img(path)
    if shape is not None:
        img = maps_on_grid(img, shape, affine)
    return MapsOperator(np.asarray(img.dataobj), img.affine)


@pytest.mark.parametrize(("dtype", "slope", "inter"), STORAGE)
@pytest.mark.parametrize("grid", ["own", "other"])
def test_streamed_maps_equal_the_in_memory_route(tmp_path, dtype, slope, inter, grid):
    path = _save(_probabilities(), tmp_path / "maps.nii.gz", dtype, slope, inter)
    target = (TARGET_SHAPE, TARGET_AFFINE) if grid == "other" else (None, None)
    expected = _in_memory(path, *target)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to say about any of these files
        built = maps_operator(path, *target, chunk_maps=3)
    _same(expected, built)
    assert np.asarray(load_maps_img(path).dataobj).dtype == maps_dtype(np.asarray(nib.load(path).dataobj).dtype)
    assert built.maps_matrix.nnz > 0


@pytest.mark.parametrize("chunk_maps", [1, 3, 7, 20])
def test_chunk_size_does_not_change_the_operator(tmp_path, chunk_maps):
    maps = _probabilities().astype(np.float32)
    maps[2, 3, 4, 1] = np.nan
    path = _save(maps, tmp_path / "maps.nii.gz", "float32")
    names = [f"m{k}" for k in range(maps.shape[3])]
    with pytest.warns(UserWarning, match="Non-finite values detected in atlas X"):
        built = maps_operator(path, names=names, chunk_maps=chunk_maps, source_name="atlas X")
    _same(MapsOperator(np.nan_to_num(maps), AFFINE_2MM, names=names), built)
    assert built.source_name == "atlas X"
    assert built.maps_matrix[1, np.ravel_multi_index((2, 3, 4), SHAPE, order="F")] == 0


def test_non_finite_weights_are_zero_before_resampling(tmp_path):
    """As nilearn's loaders: NaN becomes 0, then the maps are interpolated (no NaN spreads)."""
    maps = _probabilities().astype(np.float32)
    maps[5:7, 5:7, 5:7, :] = np.nan
    path = _save(maps, tmp_path / "maps.nii.gz", "float32")
    with pytest.warns(UserWarning, match="Non-finite values"):
        built = maps_operator(path, TARGET_SHAPE, TARGET_AFFINE)
    clean = resample_img(nib.Nifti1Image(np.nan_to_num(maps), AFFINE_2MM), TARGET_AFFINE, TARGET_SHAPE,
                         interpolation="linear")
    _same(MapsOperator(np.asarray(clean.dataobj), TARGET_AFFINE), built)


def test_las_storage_gives_the_ras_operator(tmp_path):
    """The same maps stored with the x axis flipped give the same operator on a RAS grid."""
    maps = _probabilities()
    ras = _save(maps, tmp_path / "ras.nii.gz", "uint8")
    las = _save(maps[::-1], tmp_path / "las.nii.gz", "uint8", affine=AFFINE_2MM_LAS)
    np.testing.assert_allclose(AFFINE_2MM_LAS @ [SHAPE[0] - 1, 0, 0, 1], AFFINE_2MM @ [0, 0, 0, 1])
    _same(maps_operator(ras, SHAPE, AFFINE_2MM), maps_operator(las, SHAPE, AFFINE_2MM))
    _same(maps_operator(ras, TARGET_SHAPE, TARGET_AFFINE), maps_operator(las, TARGET_SHAPE, TARGET_AFFINE))


@pytest.mark.parametrize(("dtype", "slope", "inter"), [("uint8", None, None), ("int16", 0.001, 0.5),
                                                       ("float64", None, None)])
def test_uint8_percentages_give_nilearns_signals_on_another_grid(tmp_path, dtype, slope, inter):
    """The command line's operator and NiftiMapsMasker (ours and nilearn's) agree on a stored atlas."""
    maps_path = _save(_probabilities(), tmp_path / "maps.nii.gz", dtype, slope, inter)
    rng = np.random.default_rng(0)
    bold = nib.Nifti1Image((rng.standard_normal(TARGET_SHAPE + (9,)) * 5 + 100).astype(np.float32), TARGET_AFFINE)
    bold_path = tmp_path / "bold.nii.gz"
    nib.save(bold, bold_path)
    (ours,) = extract_signals(bold_path, [maps_operator(maps_path, TARGET_SHAPE, TARGET_AFFINE)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = nilearn_maskers.NiftiMapsMasker(str(maps_path)).fit_transform(str(bold_path))
        masker = NiftiMapsMasker(str(maps_path)).fit_transform(str(bold_path))
    np.testing.assert_allclose(ours.signals, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())
    np.testing.assert_allclose(masker, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


def test_signals_equal_on_a_series(tmp_path):
    maps = _probabilities().astype(np.float32)
    rng = np.random.default_rng(0)
    bold = _save((rng.standard_normal(SHAPE + (9,)) * 5 + 100), tmp_path / "bold.nii.gz", "float32")
    maps_path = _save(maps, tmp_path / "maps.nii.gz", "float32")
    a, b = extract_signals(bold, [MapsOperator(maps, AFFINE_2MM), maps_operator(maps_path)])
    np.testing.assert_array_equal(a.signals, b.signals)


def test_maps_errors(tmp_path):
    empty = nib.Nifti1Image(np.zeros(SHAPE + (3,), dtype=np.float32), AFFINE_2MM)
    with pytest.raises(ValueError, match=r"maps_img contains no map\. \(in-memory Nifti1Image of shape"):
        maps_operator(empty)
    with pytest.raises(ValueError, match=r"atlas X: 2 names for 7 maps\."):
        maps_operator(nib.Nifti1Image(_probabilities(), AFFINE_2MM), names=["a", "b"], source_name="atlas X")
    with pytest.raises(FileNotFoundError, match="maps image not found: /nonexistent/maps.nii.gz"):
        maps_operator("/nonexistent/maps.nii.gz")


def _labels():
    labels = np.zeros(SHAPE)
    labels[1:6, 2:9, 1:7] = 3
    labels[7:13, 2:9, 1:7] = 7
    labels[2:12, 10:14, 6:12] = 12
    return labels


@pytest.mark.parametrize(("dtype", "slope", "inter"), [s for s in STORAGE if s[1] is None])
@pytest.mark.parametrize("grid", ["own", "other"])
def test_labels_of_every_dtype(tmp_path, dtype, slope, inter, grid):
    path = _save(_labels(), tmp_path / "labels.nii.gz", dtype, slope, inter)
    shape, affine = (TARGET_SHAPE, TARGET_AFFINE) if grid == "other" else (SHAPE, AFFINE_2MM)
    built = labels_operator(path, shape, affine, label_values=[3, 7, 12], names=["a", "b", "c"])
    expected_labels = np.asarray(resample_img(nib.Nifti1Image(_labels().astype(np.int32), AFFINE_2MM), affine, shape,
                                              interpolation="nearest").dataobj)
    expected = LabelsOperator(expected_labels, affine, label_values=[3, 7, 12], names=["a", "b", "c"])
    np.testing.assert_array_equal(built.labels_volume(), expected.labels_volume())
    np.testing.assert_array_equal(built.voxel_counts, expected.voxel_counts)
    assert built.names == ["a", "b", "c"]
    assert np.all(built.voxel_counts > 0)


def test_labels_operator_reduction_defaults_to_the_mean(tmp_path):
    path = _save(_labels(), tmp_path / "labels.nii.gz", np.int16, None, None)
    assert labels_operator(path, SHAPE, AFFINE_2MM, reduction="median").reduction == "median"
    assert labels_operator(path, SHAPE, AFFINE_2MM).reduction == "mean"


def test_labels_with_nan_and_one_volume_in_4d(tmp_path):
    labels = _labels().astype(np.float32)
    labels[0, 0, 0] = np.nan
    path = tmp_path / "labels.nii.gz"
    nib.save(nib.Nifti1Image(labels[..., np.newaxis], AFFINE_2MM), path)
    with pytest.warns(UserWarning, match="Non-finite values detected in atlas L"):
        img = load_labels_img(path, "atlas L")
    assert img.shape == SHAPE
    assert labels_on_grid(img, SHAPE, AFFINE_2MM) is img
    with pytest.raises(ValueError, match="must be a 3D label image.*NiftiMapsMasker"):
        load_labels_img(nib.Nifti1Image(np.zeros(SHAPE + (2,)), AFFINE_2MM))


# --------------------------------------------------------------------------------------
# Maps off the grid: only the target voxels near each map are interpolated
# --------------------------------------------------------------------------------------

#: A 1 mm atlas grid (RAS) and the same field of view stored LAS; a 2 mm and an oblique 2.5 mm target grid, and one
#: reaching past the atlas on every side.
ATLAS_SHAPE = (36, 40, 32)
ATLAS_1MM = np.array([[1.0, 0, 0, -18], [0, 1.0, 0, -20], [0, 0, 1.0, -16], [0, 0, 0, 1]])
ATLAS_1MM_LAS = np.array([[-1.0, 0, 0, 17], [0, 1.0, 0, -20], [0, 0, 1.0, -16], [0, 0, 0, 1]])
_TILT = np.deg2rad(8.0)
OFF_GRID_TARGETS = {
    "2mm": (np.array([[2.0, 0, 0, -18], [0, 2.0, 0, -20], [0, 0, 2.0, -16], [0, 0, 0, 1]]), (18, 20, 16)),
    "2.5mm_oblique": (np.array([[2.5 * np.cos(_TILT), -2.5 * np.sin(_TILT), 0, -17],
                                [2.5 * np.sin(_TILT), 2.5 * np.cos(_TILT), 0, -21],
                                [0, 0, 2.5, -15.3], [0, 0, 0, 1]]), (15, 17, 13)),
    "3mm_partly_outside": (np.array([[3.0, 0, 0, -40], [0, 3.0, 0, -8], [0, 0, 3.0, -31], [0, 0, 0, 1]]),
                           (20, 16, 22)),
}


def _atlas_maps(n_maps=9, seed=5):
    """Percentages (0-100) in sharp-edged blobs; map 6 touches the x = 0 face, map 7 the far corner; map 8 empty."""
    rng = np.random.default_rng(seed)
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in ATLAS_SHAPE], indexing="ij"), axis=-1)
    last = np.array(ATLAS_SHAPE) - 1
    centres = [rng.uniform(5, last - 5) for _ in range(6)] + [np.array([0, 20, 16]), last.astype(float)]
    maps = np.zeros(ATLAS_SHAPE + (n_maps,))
    for k, centre in enumerate(centres):
        value = np.exp(-np.sum((ijk - centre) ** 2, axis=-1) / rng.uniform(4, 12)) * rng.uniform(60, 100)
        value[value < 5] = 0
        maps[..., k] = np.round(value)
    return maps


def _full_grid_weights(path, shape, affine):
    """Dense K x V weights from a full-grid scipy.ndimage.affine_transform of each map (NaN zeroed first)."""
    img = nib.load(path)
    data = np.asarray(img.dataobj)
    data = np.where(np.isfinite(data), data, 0).astype(maps_dtype(data.dtype))
    transform = np.dot(linalg.inv(img.affine), affine)
    matrix, offset = transform[:3, :3], transform[:3, 3]
    if np.all(np.diag(np.diag(matrix)) == matrix):
        matrix = np.diag(matrix)
    weights = np.zeros((data.shape[3], int(np.prod(shape))))
    for k in range(data.shape[3]):
        on_grid = affine_transform(data[..., k], matrix, offset=offset, output_shape=tuple(shape), order=1,
                                   output=data.dtype, mode="constant", cval=0.0)
        weights[k] = on_grid.reshape(-1, order="F")
    return weights


@pytest.mark.parametrize("storage", ["uint8_percent", "uint8_0_255", "int16_scl_slope", "float32_nan"])
@pytest.mark.parametrize("stored", ["ras", "las", "xy_swapped"])
@pytest.mark.parametrize("target", list(OFF_GRID_TARGETS))
def test_off_grid_operator_equals_a_full_grid_resampling(tmp_path, storage, stored, target):
    """Both routes give the weights of every map interpolated over the whole grid, within 1e-6, at the same voxels."""
    maps = _atlas_maps()
    if storage == "uint8_0_255":
        maps = np.round(maps * 2.55)
    if storage == "float32_nan":
        maps = maps.astype(np.float32)
        maps[3, 3, 3, 0] = maps[20, 20, 16, 1] = np.nan
    if stored == "las":
        maps, affine = maps[::-1], ATLAS_1MM_LAS
    elif stored == "xy_swapped":  # a non-diagonal affine: the file's first axis runs along y
        maps, affine = maps.transpose(1, 0, 2, 3), ATLAS_1MM[:, [1, 0, 2, 3]]
    else:
        affine = ATLAS_1MM
    dtype, slope = {"uint8_percent": ("uint8", None), "uint8_0_255": ("uint8", None),
                    "int16_scl_slope": ("int16", 0.004), "float32_nan": ("float32", None)}[storage]
    path = _save(maps, tmp_path / "maps.nii.gz", dtype, slope, 0.0 if slope else None, affine=affine)
    target_affine, target_shape = OFF_GRID_TARGETS[target]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the NaN of float32_nan
        streamed = maps_operator(path, target_shape, target_affine, chunk_maps=4)
        in_memory = _in_memory(path, target_shape, target_affine)
    _same(in_memory, streamed)
    expected = _full_grid_weights(path, target_shape, target_affine)
    weights = streamed.maps_matrix.toarray()
    np.testing.assert_allclose(weights, expected, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(weights != 0, expected != 0)
    if target == "3mm_partly_outside":
        assert "map 8" in streamed.missing_regions and len(streamed.missing_regions) < 5
    else:
        assert streamed.missing_regions == ["map 8"]  # the maps on the atlas's edges (6, 7) are kept


def test_las_and_ras_storage_give_the_same_off_grid_operator(tmp_path):
    """The same operator up to rounding (LAS flips the order of the float operations along x)."""
    maps = _atlas_maps()
    ras = _save(maps, tmp_path / "ras.nii.gz", "uint8", affine=ATLAS_1MM)
    las = _save(maps[::-1], tmp_path / "las.nii.gz", "uint8", affine=ATLAS_1MM_LAS)
    for target_affine, target_shape in OFF_GRID_TARGETS.values():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the empty map is "binary"
            from_ras = maps_operator(ras, target_shape, target_affine).maps_matrix.toarray()
            from_las = maps_operator(las, target_shape, target_affine).maps_matrix.toarray()
        np.testing.assert_allclose(from_las, from_ras, rtol=0, atol=1e-6)
        assert from_ras.any()


@pytest.mark.parametrize("target", ["2mm", "2.5mm_oblique"])
def test_off_grid_weights_are_nilearns_resampled_maps(tmp_path, target):
    """nilearn's NiftiMapsMasker.fit resamples a uint8 atlas to the data's grid: the operator holds those maps."""
    path = _save(_atlas_maps(), tmp_path / "maps.nii.gz", "uint8", affine=ATLAS_1MM_LAS)
    target_affine, target_shape = OFF_GRID_TARGETS[target]
    bold = tmp_path / "bold.nii.gz"
    nib.save(nib.Nifti1Image(np.ones(target_shape + (3,), dtype=np.float32), target_affine), bold)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = nilearn_maskers.NiftiMapsMasker(str(path)).fit(str(bold))
        ours = NiftiMapsMasker(str(path)).fit(str(bold))
    expected = np.asarray(fitted.maps_img_.dataobj)
    expected = expected.reshape(-1, expected.shape[3], order="F").T
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the empty map is "binary"
        # The grid as stored in the BOLD's header (float32), as nilearn reads it.
        weights = maps_operator(path, target_shape, nib.load(bold).affine).maps_matrix.toarray()
    np.testing.assert_allclose(weights, expected, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(weights != 0, expected != 0)
    np.testing.assert_array_equal(np.asarray(ours.maps_img_.dataobj), np.asarray(fitted.maps_img_.dataobj))


def test_off_grid_warnings_and_errors_of_both_routes(tmp_path):
    """Binary maps and non-finite values warn in both routes; a grid beside the data is the same error."""
    binary = np.zeros(ATLAS_SHAPE + (2,), dtype=np.float32)
    binary[5:12, 6:14, 4:9, 0] = 1
    binary[20:30, 6:14, 4:9, 1] = 1
    binary[21, 7, 5, 1] = np.nan
    path = _save(binary, tmp_path / "binary.nii.gz", "float32", affine=ATLAS_1MM)
    target_affine, target_shape = OFF_GRID_TARGETS["2mm"]
    with pytest.warns(UserWarning) as streamed_warnings:
        streamed = maps_operator(path, target_shape, target_affine, source_name="atlas B")
    with pytest.warns(UserWarning) as in_memory_warnings:
        in_memory = _in_memory(path, target_shape, target_affine)
    for caught in (streamed_warnings, in_memory_warnings):
        messages = [str(w.message) for w in caught]
        assert sum("Resampling binary images" in m for m in messages) == 1
        assert sum("Non-finite values detected" in m for m in messages) == 1
    assert "atlas B" in next(str(w.message) for w in streamed_warnings if "Non-finite" in str(w.message))
    _same(in_memory, streamed)

    beside = np.array([[2.0, 0, 0, 200], [0, 2.0, 0, 200], [0, 0, 2.0, 200], [0, 0, 0, 1]])
    with pytest.raises(ValueError, match="field of view given by the target affine does not contain any of the data"):
        maps_on_grid(load_maps_img(nib.Nifti1Image(binary[..., :1], ATLAS_1MM)), target_shape, beside)
    with pytest.raises(ValueError, match="field of view given by the target affine does not contain any of the data"):
        maps_operator(path, target_shape, beside)
