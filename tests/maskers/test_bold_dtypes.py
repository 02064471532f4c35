"""Every BOLD encoding nibabel writes gives nilearn's signals through the maskers.

The matrix: uint8, int8, int16, uint16, int32, float32, float64, each without
and with scl_slope/scl_inter (e.g. int16 with slope 0.01 and intercept 100),
as .nii.gz and .nii, read by the streaming reader (core/reader.py) and
extracted chunk by chunk (core/extract/). Each file goes through the three
maskers, ours and nilearn 0.14.1's, and must give the same values and dtype;
the options that change the data's dtype before extraction in nilearn
(smoothing, resampling the data to the atlas, ``dtype="auto"``) are checked
on every dtype too (and on uint32, int64 and uint64). Big-endian files give
the signals of the same data stored little-endian.
"""

from __future__ import annotations

import itertools
import warnings

import nibabel as nib
import numpy as np
import pytest
from nilearn import maskers as nilearn_maskers

from regionseries import maskers

DTYPES = ("uint8", "int8", "int16", "uint16", "int32", "float32", "float64")
SHAPE = (10, 11, 9)
N_VOLUMES = 12


def grid_affine(voxel=3.0, offset=-15.0):
    affine = np.diag([voxel, voxel, voxel, 1.0])
    affine[:3, 3] = offset
    return affine


def bold_values(seed=0):
    """Integers 0..127 (every encoding of the matrix holds them), with slow drifts."""
    rng = np.random.default_rng(seed)
    drift = np.linspace(0.0, 20.0, N_VOLUMES)
    values = rng.integers(40, 100, SHAPE + (N_VOLUMES,)) + np.rint(drift * rng.uniform(0, 1, SHAPE + (1,)))
    return values.astype(np.float64)


def labels_img(voxel=3.0, offset=-15.0, shape=SHAPE):
    labels = np.zeros(shape, dtype=np.int32)
    labels[1:5, 1:5, 1:5] = 1
    labels[5:9, 4:10, 2:8] = 2
    labels[2:6, 6:10, 5:8] = 3
    return nib.Nifti1Image(labels, grid_affine(voxel, offset))


def maps_img():
    i, j, k = np.meshgrid(*[np.arange(n) for n in SHAPE], indexing="ij")
    blobs = [np.exp(-((i - a) ** 2 + (j - b) ** 2 + (k - c) ** 2) / 8.0) for a, b, c in ((3, 3, 3), (7, 7, 5))]
    maps = np.stack(blobs, axis=-1).astype(np.float32)
    maps[maps < 0.05] = 0
    return nib.Nifti1Image(maps, grid_affine())


SEEDS = [(-6.0, -6.0, -6.0), (6.0, 6.0, 3.0)]
MASKERS = {
    "labels": ("NiftiLabelsMasker", lambda: {"labels_img": labels_img()}),
    "maps": ("NiftiMapsMasker", lambda: {"maps_img": maps_img()}),
    "spheres": ("NiftiSpheresMasker", lambda: {"seeds": SEEDS, "radius": 5.0}),
}


@pytest.fixture(scope="module")
def bold_file(tmp_path_factory, write_encoded_bold):
    """``bold_file(dtype, scaled, extension)``: the same values in that encoding (cached)."""
    folder = tmp_path_factory.mktemp("bold-dtypes")
    values = bold_values()
    written = {}

    def make(dtype, scaled, extension=".nii.gz"):
        key = (dtype, scaled, extension)
        if key not in written:
            path = folder / f"bold_{np.dtype(dtype).str.replace('<', 'le').replace('>', 'be')}_{int(scaled)}{extension}"
            write_encoded_bold(path, values, grid_affine(), dtype, scaled)
            written[key] = path
        return written[key]

    return make


def run_both(kind, imgs, **extra):
    """(ours, nilearn's) fit_transform of the masker ``kind`` on ``imgs``."""
    class_name, parameters = MASKERS[kind]
    settings = {**parameters(), **extra}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nilearn's deprecation and resampling chatter
        theirs = getattr(nilearn_maskers, class_name)(**settings).fit_transform(imgs)
        ours = getattr(maskers, class_name)(**settings).fit_transform(imgs)
    return ours, theirs


def assert_close(ours, theirs_values, dtype):
    """Same values as nilearn within the precision of the output dtype."""
    rtol = 2e-6 if np.dtype(dtype) == np.float32 else 1e-12
    scale = float(np.max(np.abs(theirs_values)))
    np.testing.assert_allclose(ours, np.asarray(theirs_values, dtype=np.float64), rtol=rtol, atol=rtol * scale)


def float64_copy(path):
    img = nib.load(str(path))
    return nib.Nifti1Image(img.get_fdata(dtype=np.float64), img.affine)


#: Also written by nibabel (with an explicit dtype), rarer in BOLD files.
WIDE_DTYPES = ("uint32", "int64", "uint64")
SIGNALS_CASES = [
    *itertools.product(DTYPES, (False, True), (".nii.gz", ".nii")),
    *itertools.product(WIDE_DTYPES, (False, True), (".nii.gz",)),
]


@pytest.mark.parametrize(
    ("dtype", "scaled", "extension"),
    SIGNALS_CASES,
    ids=[f"{dtype}-{'scaled' if scaled else 'unscaled'}-{extension}" for dtype, scaled, extension in SIGNALS_CASES],
)
def test_maskers_give_nilearns_signals(bold_file, dtype, scaled, extension):
    path = bold_file(dtype, scaled, extension)
    assert nib.load(str(path)).get_data_dtype() == np.dtype(dtype)
    for kind in MASKERS:
        ours, theirs = run_both(kind, str(path))
        assert ours.shape == theirs.shape == (N_VOLUMES, 3 if kind == "labels" else 2)
        assert ours.dtype == theirs.dtype, (kind, ours.dtype, theirs.dtype)
        if kind == "spheres" and not scaled and np.dtype(dtype).kind in "iu":
            # nilearn truncates sphere means of integer data (a documented fix):
            # its numbers on the same values as floats
            _, theirs = run_both(kind, float64_copy(path))
        assert_close(ours, theirs, ours.dtype)
        assert np.ptp(ours, axis=0).min() > 0  # real time series, not constants


OPTIONS = {
    "labels-smoothed": ("labels", {"smoothing_fwhm": 6.0}),
    "maps-smoothed": ("maps", {"smoothing_fwhm": 6.0}),
    "spheres-smoothed": ("spheres", {"smoothing_fwhm": 6.0}),
    "labels-data-resampled": ("labels", {"labels_img": labels_img(4.0, -14.0, (8, 8, 7)), "resampling_target": "labels"}),
    "labels-dtype-auto": ("labels", {"dtype": "auto"}),
    "labels-cleaned": ("labels", {"detrend": True, "standardize": "zscore_sample", "high_variance_confounds": True}),
}


# dtype="auto" on scaled files: nilearn raises AttributeError (test_oracle_labels.py)
OPTION_CASES = [
    (dtype, scaled, option)
    for dtype, scaled, option in itertools.product(DTYPES + WIDE_DTYPES, (False, True), OPTIONS)
    if not (scaled and option == "labels-dtype-auto")
]


@pytest.mark.parametrize(
    ("dtype", "scaled", "option"),
    OPTION_CASES,
    ids=[f"{dtype}-{'scaled' if scaled else 'unscaled'}-{option}" for dtype, scaled, option in OPTION_CASES],
)
def test_options_that_change_the_data_dtype(bold_file, dtype, scaled, option):
    """nilearn smooths integer data as float32, resamples signed integers to
    float32 and maps ``dtype="auto"`` to int32 for signed integers only: the
    output dtype follows."""
    kind, extra = OPTIONS[option]
    ours, theirs = run_both(kind, str(bold_file(dtype, scaled)), **extra)
    assert ours.dtype == theirs.dtype, (ours.dtype, theirs.dtype)
    if option == "labels-cleaned":
        # nilearn computes the high-variance confounds of float32 and (<= 4-byte)
        # integer data in float32, ours in float64; z-scored output
        single = dtype != "float64" and not scaled
        np.testing.assert_allclose(ours, theirs, atol=2e-5 if single else 1e-9)
    else:
        assert_close(ours, theirs, ours.dtype)


@pytest.mark.parametrize("dtype", ["int16", "uint16", "int32", "float32", "float64"])
@pytest.mark.parametrize("scaled", [False, True], ids=["unscaled", "scaled"])
def test_big_endian_files_give_the_little_endian_signals(bold_file, dtype, scaled):
    big = bold_file(">" + np.dtype(dtype).str[1:], scaled)
    little = bold_file(dtype, scaled)
    assert nib.load(str(big)).get_data_dtype().byteorder == ">"
    for kind in MASKERS:
        ours_big, theirs_big = run_both(kind, str(big))
        ours_little, _ = run_both(kind, str(little))
        assert ours_big.dtype == ours_little.dtype and ours_big.dtype.isnative
        np.testing.assert_array_equal(ours_big, ours_little)
        if not (kind == "spheres" and not scaled and np.dtype(dtype).kind in "iu"):
            assert_close(ours_big, theirs_big, ours_big.dtype)


def test_nilearn_output_dtypes_on_big_endian_float32(bold_file):
    """nilearn compares dtypes with ``== np.float32``, which a big-endian
    float32 fails: labels come back float64 and spheres big-endian float32
    (docs/differences-from-nilearn.md); ours are the little-endian file's."""
    path = str(bold_file(">f4", False))
    ours, theirs = run_both("labels", path)
    assert ours.dtype == np.float32 and theirs.dtype == np.float64
    ours, theirs = run_both("spheres", path)
    assert ours.dtype == np.float32 and theirs.dtype == np.dtype(">f4")


@pytest.mark.parametrize(
    ("dtype", "kind"),
    [(np.complex64, "complex"), (np.dtype([("R", "u1"), ("G", "u1"), ("B", "u1")]), "RGB colour")],
    ids=["complex64", "rgb24"],
)
def test_complex_and_rgb_files_are_refused_by_name(tmp_path, dtype, kind):
    """nibabel writes them too, but they hold no BOLD signal: ours names the
    file and the data type (numpy used to drop the imaginary part with a
    ComplexWarning); nilearn fails inside numpy."""
    values = np.zeros(SHAPE + (N_VOLUMES,), dtype=dtype)
    if kind == "complex":
        values += bold_values() + 1j
    header = nib.Nifti1Header()
    header.set_data_dtype(values.dtype)
    path = tmp_path / "bold.nii.gz"
    nib.Nifti1Image(values, grid_affine(), header).to_filename(str(path))
    for kind_name in MASKERS:
        class_name, parameters = MASKERS[kind_name]
        with pytest.raises(ValueError, match=f"^{path}: the image holds {kind} values"):
            getattr(maskers, class_name)(**parameters()).fit_transform(str(path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(TypeError):  # numpy's casting errors (UFuncTypeError is a TypeError)
            nilearn_maskers.NiftiLabelsMasker(labels_img=labels_img()).fit_transform(str(path))
