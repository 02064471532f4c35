"""Streaming surface readers (core.surface_reader): the values nibabel loads, in bounded pieces, and their errors."""

import json
import subprocess
import sys
import textwrap

import nibabel as nib
import numpy as np
import pytest

from regionseries.core.extract.vertices import (
    extract_vertex_signals,
    read_cifti_series,
    read_gifti_pair,
    vertex_labels_operator,
)
from regionseries.core.surface_reader import CiftiSeriesReader, GiftiPairReader


def _models(n_left=7, n_voxels=4):
    left = np.ones(n_left + 2, bool)
    left[[1, 4]] = False  # a medial wall
    volume = np.zeros((3, 3, 3), bool)
    volume.reshape(-1)[:n_voxels] = True
    return (nib.cifti2.BrainModelAxis.from_mask(left, name="CortexLeft")
            + nib.cifti2.BrainModelAxis.from_mask(volume, name="thalamus_left", affine=np.eye(4)))


def _write_cifti(path, data, step=2.0, unit="SECOND"):
    models = _models(n_voxels=data.shape[1] - 7)
    img = nib.Cifti2Image(data, header=(nib.cifti2.SeriesAxis(0, step, data.shape[0], unit=unit), models))
    img.to_filename(str(path))
    return models


def _write_gifti(path, volumes, encoding="GIFTI_ENCODING_B64GZ", step="2000"):
    darrays = [nib.gifti.GiftiDataArray(volume, intent="NIFTI_INTENT_TIME_SERIES", encoding=encoding,
                                        meta={"TimeStep": step} if step else None) for volume in volumes]
    nib.GiftiImage(darrays=darrays).to_filename(str(path))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16])
def test_cifti_blocks_hold_nibabels_values(tmp_path, dtype):
    rng = np.random.default_rng(0)
    data = (rng.normal(100, 20, (13, 11))).astype(dtype)
    path = tmp_path / "run.dtseries.nii"
    models = _write_cifti(path, data)
    # 5 volumes x 4 bytes or more per grayordinate: a 50-byte budget gives blocks of 1 to 2 grayordinates
    reader = CiftiSeriesReader(path, max_block_bytes=50)
    assert reader.block_vertices < 11 and reader.brain_models == models and reader.repetition_time == 2.0
    starts = [start for start, _ in reader.vertex_blocks()]
    assert starts == list(range(0, 11, reader.block_vertices))
    expected = np.asarray(nib.load(path).dataobj)
    loaded = reader.read_all()
    assert loaded.dtype == expected.dtype
    np.testing.assert_array_equal(loaded, expected)
    series = read_cifti_series(path)
    assert series.n_volumes == 13 and series.brain_models == models
    np.testing.assert_array_equal(series.reader.read_all(), expected)


def test_cifti_scaling_is_applied_as_nibabel_does(tmp_path):
    path = tmp_path / "run.dtseries.nii"
    _write_cifti(path, np.arange(13 * 11, dtype=np.int16).reshape(13, 11))
    img = nib.load(path)
    img.nifti_header.set_slope_inter(0.5, 3.0)
    scaled = tmp_path / "scaled.dtseries.nii"
    nib.Cifti2Image(np.asarray(img.dataobj), header=img.header, nifti_header=img.nifti_header).to_filename(scaled)
    expected = np.asarray(nib.load(scaled).dataobj)
    np.testing.assert_array_equal(CiftiSeriesReader(scaled).read_all(), expected)


def test_cifti_errors_name_the_file(tmp_path):
    path = tmp_path / "run.dtseries.nii"
    _write_cifti(path, np.ones((10, 11), np.float32), unit="HERTZ")
    assert CiftiSeriesReader(path).repetition_time is None  # not seconds: the sidecar has to say
    truncated = tmp_path / "cut.dtseries.nii"
    truncated.write_bytes(path.read_bytes()[:-50])
    reader = CiftiSeriesReader(truncated, max_block_bytes=40)
    with pytest.raises(OSError, match=r"cut.dtseries.nii: the file ends after 9 of 11 grayordinates"):
        reader.read_all()
    scalar = tmp_path / "maps.dscalar.nii"
    nib.Cifti2Image(np.ones((1, 11), np.float32), header=(nib.cifti2.ScalarAxis(["a"]), _models())).to_filename(scalar)
    with pytest.raises(ValueError, match="not a dense time series: its axes are ScalarAxis x BrainModelAxis"):
        CiftiSeriesReader(scalar)


def test_cifti_streamed_extraction_equals_the_in_memory_one(tmp_path):
    rng = np.random.default_rng(3)
    data = rng.normal(100, 5, (40, 11)).astype(np.float32)
    data[:, 0] = np.nan  # not covered, and warned about
    data[5, 1] = np.inf  # one bad value: the vertex is not covered either
    data[:, 2] = 7.0  # constant: not covered
    path = tmp_path / "run.dtseries.nii"
    _write_cifti(path, data)
    labels = np.array([1, 1, 1, 1, 2, 2, 2, 3, 3, 0, 3])
    atlases = {"A": vertex_labels_operator(labels, [1, 2, 3, 4], ["a", "b", "c", "d"]),
               "B": vertex_labels_operator(labels % 2, [1], ["odd"])}
    with pytest.warns(UserWarning, match=r"Non-finite values detected.*run.dtseries.nii"):
        streamed = extract_vertex_signals(CiftiSeriesReader(path, max_block_bytes=400), atlases, min_coverage=0.2)
    with pytest.warns(UserWarning, match="Non-finite values detected"):
        whole = extract_vertex_signals(data, atlases, min_coverage=0.2)
    for name in atlases:
        np.testing.assert_allclose(streamed[name].signals, whole[name].signals, rtol=1e-13, equal_nan=True)
        np.testing.assert_array_equal(streamed[name].coverage, whole[name].coverage)
        assert streamed[name].signals.flags.c_contiguous
        assert streamed[name].missing_regions == whole[name].missing_regions
    np.testing.assert_allclose(streamed["A"].coverage, [0.25, 1.0, 1.0, 0.0])
    np.testing.assert_allclose(streamed["A"].signals[:, 1], data[:, 4:7].astype(np.float64).mean(axis=1), rtol=1e-12)


def test_gifti_pair_chunks_hold_nibabels_values(tmp_path):
    rng = np.random.default_rng(1)
    left, right = rng.normal(size=(9, 6)).astype(np.float32), rng.normal(size=(9, 4)).astype(np.float32)
    paths = tmp_path / "L.func.gii", tmp_path / "R.func.gii"
    _write_gifti(paths[0], left)
    _write_gifti(paths[1], right, encoding="GIFTI_ENCODING_ASCII")
    reader = GiftiPairReader(*paths, max_chunk_bytes=90)  # 2 volumes of 10 float32 per chunk
    assert (reader.hemisphere_sizes, reader.n_volumes, reader.repetition_time) == ((6, 4), 9, 2.0)
    chunks = list((chunk.start, chunk.data.shape, chunk.data.flags.f_contiguous) for chunk in reader)
    assert chunks[0] == (0, (10, 1, 1, 2), True) and chunks[-1][:2] == (8, (10, 1, 1, 1))
    # ASCII text keeps 6 decimals: the expected values are nibabel's
    expected = np.hstack([np.vstack([darray.data for darray in nib.load(path).darrays]) for path in paths])
    np.testing.assert_array_equal(expected[:, :6], left)
    np.testing.assert_array_equal(reader.read_all(), expected)
    series = read_gifti_pair(*paths)
    assert series.hemisphere_sizes == (6, 4) and series.n_volumes == 9
    np.testing.assert_array_equal(series.reader.read_all(), expected)


def test_gifti_with_one_vertices_by_volumes_array(tmp_path):
    rng = np.random.default_rng(2)
    left, right = rng.normal(size=(5, 6)).astype(np.float32), rng.normal(size=(5, 4)).astype(np.float32)
    paths = tmp_path / "L.func.gii", tmp_path / "R.func.gii"
    nib.GiftiImage(darrays=[nib.gifti.GiftiDataArray(left.T.copy())]).to_filename(paths[0])
    _write_gifti(paths[1], right, step=None)
    reader = GiftiPairReader(*paths)
    assert reader.repetition_time is None and reader.n_volumes == 5
    np.testing.assert_array_equal(reader.read_all(), np.hstack([left, right]))


def test_gifti_errors_name_the_file(tmp_path):
    volumes = np.ones((6, 5), np.float32)
    paths = {name: tmp_path / f"{name}.func.gii" for name in ("six", "four", "cut", "long", "odd")}
    _write_gifti(paths["six"], volumes)
    _write_gifti(paths["four"], volumes[:4])
    with pytest.raises(ValueError, match=r"different numbers of volumes: 6 in .*six.func.gii, 4 in .*four.func.gii"):
        GiftiPairReader(paths["six"], paths["four"])
    text = paths["six"].read_bytes()
    paths["cut"].write_bytes(text[: len(text) * 2 // 3])
    reader = GiftiPairReader(paths["six"], paths["cut"])
    with pytest.raises(ValueError, match="cut.func.gii: not readable as GIFTI XML"):
        reader.read_all()
    # a header that announces fewer data arrays than the file holds
    paths["long"].write_bytes(text.replace(b'NumberOfDataArrays="6"', b'NumberOfDataArrays="5"'))
    reader = GiftiPairReader(paths["long"], paths["long"])
    with pytest.raises(ValueError, match=r"long.func.gii: holds more data arrays than the 5 of its header"):
        reader.read_all()
    _write_gifti(paths["odd"], [np.ones(5, np.float32), np.ones(3, np.float32)])
    reader = GiftiPairReader(paths["odd"], paths["odd"])
    with pytest.raises(ValueError, match=r"odd.func.gii: expected one vector of vertex values per volume \(data array 2"):
        reader.read_all()
    empty = tmp_path / "empty.func.gii"
    nib.GiftiImage().to_filename(empty)
    with pytest.raises(ValueError, match="empty.func.gii holds no GIFTI data array"):
        GiftiPairReader(empty, paths["six"])


_CHILD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from regionseries.core.extract.vertices import (extract_vertex_signals, read_cifti_series, read_gifti_pair,
                                                vertex_labels_operator)

    def high_water_kb():
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))

    paths = sys.argv[1:]
    series = read_cifti_series(paths[0]) if len(paths) == 1 else read_gifti_pair(*paths)
    labels = np.arange(series.reader.n_voxels) % 50
    baseline = high_water_kb()
    result = extract_vertex_signals(series.reader, {"A": vertex_labels_operator(labels, list(range(1, 50)))})
    print(json.dumps({"baseline_kb": baseline, "peak_kb": high_water_kb(), "n_volumes": len(result["A"].signals)}))
    """
)


def _peak_kb(paths):
    completed = subprocess.run([sys.executable, "-c", _CHILD, *map(str, paths)], capture_output=True, text=True,
                               check=True, timeout=300)
    measured = json.loads(completed.stdout.strip().splitlines()[-1])
    return measured["peak_kb"] - measured["baseline_kb"], measured["n_volumes"]


@pytest.mark.slow
def test_peak_memory_is_flat_in_the_number_of_volumes(tmp_path):
    """4x the volumes (CIFTI: +79 MB of data; GIFTI: +20 MB) must not show in the extraction's peak."""
    rng = np.random.default_rng(5)
    n_vertices = 32_768
    growth = {}
    for kind in ("cifti", "gifti"):
        peaks = {}
        for n_volumes in (200, 800):
            data = rng.normal(100, 5, (n_volumes, n_vertices)).astype(np.float32)
            if kind == "cifti":
                paths = [tmp_path / f"run{n_volumes}.dtseries.nii"]
                models = nib.cifti2.BrainModelAxis.from_mask(np.ones(n_vertices, bool), name="CortexLeft")
                header = (nib.cifti2.SeriesAxis(0, 2.0, n_volumes, unit="SECOND"), models)
                nib.Cifti2Image(data, header=header).to_filename(paths[0])
            else:
                paths = [tmp_path / f"run{n_volumes}_hemi-{hemi}.func.gii" for hemi in "LR"]
                for path, half in zip(paths, np.split(data[:, : n_vertices // 4], 2, axis=1)):
                    _write_gifti(path, half)
            peaks[n_volumes], count = _peak_kb(paths)
            assert count == n_volumes
        growth[kind] = (peaks[800] - peaks[200]) / 1024
    print(f"extraction peak growth from 200 to 800 volumes: {growth} MiB")
    # what grows is the T x K float64 output and projections (800 x 49 x 8 bytes x a few: < 2 MiB)
    assert growth["cifti"] < 8 and growth["gifti"] < 8, growth
