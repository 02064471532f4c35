"""The streaming reader returns exactly nibabel's values, reading each file once."""

from __future__ import annotations

import gzip
import zlib

import nibabel as nib
import numpy as np
import pytest

from regionseries.core import reader as reader_module
from regionseries.core.reader import BoldReader, iter_volume_chunks, open_decompressed


def _collect(source, **kwargs):
    """Concatenate the chunks (copied: the reader reuses its buffer)."""
    chunks, copies = [], []
    for chunk in BoldReader(source, **kwargs):
        chunks.append(chunk)
        copies.append(chunk.data.copy())
    return np.concatenate(copies, axis=3), chunks


@pytest.fixture
def float_series(tmp_path):
    rng = np.random.default_rng(1)
    data = rng.normal(100, 5, (7, 6, 5, 13)).astype(np.float32)
    img = nib.Nifti1Image(data, np.diag([2.0, 2.0, 2.0, 1.0]))
    paths = {}
    for suffix in (".nii", ".nii.gz"):
        path = tmp_path / f"bold{suffix}"
        nib.save(img, path)
        paths[suffix] = path
    return data, paths


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
@pytest.mark.parametrize("chunk_volumes", [1, 4, 13, 50])
def test_chunks_equal_nibabel(float_series, suffix, chunk_volumes):
    data, paths = float_series
    out, chunks = _collect(paths[suffix], chunk_volumes=chunk_volumes)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, data)
    assert [c.start for c in chunks] == list(range(0, 13, chunk_volumes))
    assert chunks[-1].stop == 13
    assert chunks[0].data.flags.f_contiguous


def test_chunk_buffer_is_reused_and_documented(float_series):
    _, paths = float_series
    chunks = list(BoldReader(paths[".nii.gz"], chunk_volumes=4))
    assert np.shares_memory(chunks[0].data, chunks[1].data)


@pytest.mark.parametrize("decompressor", ["zlib", "gzip", lambda path: gzip.open(path, "rb")])
def test_decompressors_agree(float_series, decompressor):
    data, paths = float_series
    out, _ = _collect(paths[".nii.gz"], chunk_volumes=5, decompressor=decompressor)
    np.testing.assert_array_equal(out, data)


def test_scaled_int16_matches_nibabel_dtype_and_values(tmp_path):
    rng = np.random.default_rng(2)
    values = rng.normal(1000, 50, (6, 5, 4, 9))
    img = nib.Nifti1Image(values, np.eye(4))
    img.set_data_dtype(np.int16)  # nibabel chooses scl_slope/scl_inter
    path = tmp_path / "scaled.nii.gz"
    nib.save(img, path)
    loaded = nib.load(path)
    assert loaded.dataobj.slope != 1.0
    expected = np.asanyarray(loaded.dataobj)
    reader = BoldReader(path, chunk_volumes=4)
    out = np.concatenate([c.data.copy() for c in reader], axis=3)
    assert reader.dtype == expected.dtype == np.float64
    np.testing.assert_array_equal(out, expected)


def test_unscaled_int16_stays_int16(tmp_path):
    data = np.arange(4 * 3 * 2 * 5, dtype=np.int16).reshape(4, 3, 2, 5)
    path = tmp_path / "int16.nii.gz"
    nib.save(nib.Nifti1Image(data, np.eye(4)), path)
    out, _ = _collect(path, chunk_volumes=2)
    assert out.dtype == np.int16
    np.testing.assert_array_equal(out, data)


def test_big_endian_file(tmp_path):
    data = np.random.default_rng(3).normal(size=(5, 4, 3, 6)).astype(">f4")
    header = nib.Nifti1Header(endianness=">")
    img = nib.Nifti1Image(data, np.eye(4), header=header)
    path = tmp_path / "big_endian.nii.gz"
    nib.save(img, path)
    assert nib.load(path).header.endianness == ">"
    out, _ = _collect(path, chunk_volumes=4)
    np.testing.assert_array_equal(out.astype(np.float32), data.astype(np.float32))


def test_3d_image_is_one_volume(tmp_path):
    data = np.random.default_rng(4).normal(size=(5, 4, 3)).astype(np.float32)
    path = tmp_path / "vol.nii.gz"
    nib.save(nib.Nifti1Image(data, np.eye(4)), path)
    reader = BoldReader(path)
    assert (reader.ndim, reader.n_volumes) == (3, 1)
    (chunk,) = list(reader)
    np.testing.assert_array_equal(chunk.data[..., 0], data)


def test_list_of_images_is_concatenated_in_time(float_series):
    data, paths = float_series
    in_memory = nib.Nifti1Image(data[..., :3], np.diag([2.0, 2.0, 2.0, 1.0]))
    reader = BoldReader([paths[".nii.gz"], in_memory], chunk_volumes=6)
    assert reader.n_volumes == 16 and reader.ndim == 4
    out = np.concatenate([c.data.copy() for c in reader], axis=3)
    np.testing.assert_array_equal(out, np.concatenate([data, data[..., :3]], axis=3))


def test_in_memory_image_is_not_copied():
    data = np.asfortranarray(np.ones((3, 3, 3, 4), dtype=np.float32))
    (chunk,) = list(BoldReader(nib.Nifti1Image(data, np.eye(4)), chunk_volumes=4))
    assert np.shares_memory(chunk.data, data)


def test_chunk_size_from_byte_budget(float_series):
    _, paths = float_series
    volume_bytes = 7 * 6 * 5 * 4
    reader = BoldReader(paths[".nii.gz"], max_chunk_bytes=3 * volume_bytes + 1)
    assert reader.chunk_volumes == 3


def test_gzip_file_is_opened_and_decompressed_once(float_series, monkeypatch):
    _, paths = float_series
    opened = []

    def counting_open(path):
        opened.append(path)
        return reader_module.ZlibStream(path)

    chunks = list(iter_volume_chunks(paths[".nii.gz"], 2, decompressor=counting_open))
    assert len(chunks) == 7
    assert len(opened) == 1


def test_multi_member_gzip(tmp_path, float_series):
    data, paths = float_series
    raw = gzip.decompress(paths[".nii.gz"].read_bytes())
    half = len(raw) // 2
    members = gzip.compress(raw[:half]) + gzip.compress(raw[half:])
    path = tmp_path / "members.nii.gz"
    path.write_bytes(members)
    out, _ = _collect(path, chunk_volumes=3, decompressor="zlib")
    np.testing.assert_array_equal(out, data)


def test_truncated_file_names_the_file_and_volume(tmp_path, float_series):
    _, paths = float_series
    raw = gzip.decompress(paths[".nii.gz"].read_bytes())
    path = tmp_path / "truncated.nii.gz"
    volume_bytes = 7 * 6 * 5 * 4
    path.write_bytes(gzip.compress(raw[: 352 + 5 * volume_bytes + 10]))
    with pytest.raises(OSError, match=r"truncated\.nii\.gz: file ends after 5 of 13 volumes"):
        list(BoldReader(path, chunk_volumes=4))


def test_unknown_decompressor(float_series):
    _, paths = float_series
    with pytest.raises(ValueError, match="Unknown decompressor 'lz4'"):
        open_decompressed(paths[".nii.gz"], "lz4")


def test_zlib_stream_read(float_series):
    _, paths = float_series
    with reader_module.ZlibStream(paths[".nii.gz"]) as stream:
        head = stream.read(348)
    assert head == zlib.decompress(paths[".nii.gz"].read_bytes(), wbits=31)[:348]


def test_bad_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.nii.gz"):
        BoldReader(tmp_path / "missing.nii.gz")
    with pytest.raises(TypeError, match="got int"):
        BoldReader(3)
    with pytest.raises(ValueError, match="Empty list of images"):
        BoldReader([])
    with pytest.raises(ValueError, match="chunk_volumes must be a positive integer"):
        BoldReader(nib.Nifti1Image(np.zeros((2, 2, 2, 2), np.float32), np.eye(4)), 0)
    a = nib.Nifti1Image(np.zeros((2, 2, 2, 2), np.float32), np.eye(4))
    b = nib.Nifti1Image(np.zeros((3, 2, 2, 2), np.float32), np.eye(4))
    with pytest.raises(ValueError, match="do not share one grid"):
        BoldReader([a, b])


@pytest.mark.parametrize("decompressor", reader_module.available_decompressors())
def test_cut_compressed_stream_names_the_file(tmp_path, float_series, decompressor):
    """A .nii.gz cut in the middle of its deflate stream (an interrupted copy)."""
    _, paths = float_series
    compressed = paths[".nii.gz"].read_bytes()
    path = tmp_path / "cut.nii.gz"
    path.write_bytes(compressed[: len(compressed) // 2])
    with pytest.raises(OSError, match=r"cut\.nii\.gz: .*(truncated or corrupt)"):
        list(BoldReader(path, chunk_volumes=4, decompressor=decompressor))


@pytest.mark.parametrize("decompressor", reader_module.available_decompressors())
def test_corrupt_compressed_stream_names_the_file(tmp_path, float_series, decompressor):
    _, paths = float_series
    compressed = bytearray(paths[".nii.gz"].read_bytes())
    middle = len(compressed) // 2
    compressed[middle : middle + 64] = bytes(64)  # zeroed block inside the deflate stream
    path = tmp_path / "corrupt.nii.gz"
    path.write_bytes(bytes(compressed))
    with pytest.raises(OSError, match=r"corrupt\.nii\.gz: .*(truncated or corrupt)"):
        list(BoldReader(path, chunk_volumes=4, decompressor=decompressor))


@pytest.mark.parametrize("decompressor", reader_module.available_decompressors())
def test_multi_member_gzip_every_decompressor(tmp_path, float_series, decompressor):
    data, paths = float_series
    raw = gzip.decompress(paths[".nii.gz"].read_bytes())
    half = len(raw) // 2
    path = tmp_path / "members.nii.gz"
    path.write_bytes(gzip.compress(raw[:half]) + gzip.compress(raw[half:]))
    out, _ = _collect(path, chunk_volumes=3, decompressor=decompressor)
    np.testing.assert_array_equal(out, data)


@pytest.mark.parametrize("decompressor", reader_module.available_decompressors())
def test_wrong_checksum_fails_where_nibabel_reads_on(tmp_path, float_series, decompressor):
    """Every volume inflates, but the gzip trailer's CRC-32 does not match.

    nibabel (and so nilearn) reads only the bytes of the data and returns
    them without noticing; regionseries reads to the end of the stream and
    refuses the file (docs/differences-from-nilearn.md).
    """
    data, paths = float_series
    compressed = bytearray(paths[".nii.gz"].read_bytes())
    compressed[-8] ^= 0xFF  # first byte of the CRC-32 in the trailer
    path = tmp_path / "badcrc.nii.gz"
    path.write_bytes(bytes(compressed))
    with pytest.raises(OSError, match=r"badcrc\.nii\.gz: .*(integrity check|cannot decompress).*corrupt"):
        list(BoldReader(path, chunk_volumes=4, decompressor=decompressor))
    np.testing.assert_array_equal(np.asanyarray(nib.load(path).dataobj), data)


@pytest.mark.parametrize("decompressor", reader_module.available_decompressors())
def test_zero_padding_after_the_stream_is_accepted(tmp_path, float_series, decompressor):
    """gzip allows zero bytes after the last member (some tools pad files)."""
    data, paths = float_series
    path = tmp_path / "padded.nii.gz"
    path.write_bytes(paths[".nii.gz"].read_bytes() + bytes(3000))
    out, _ = _collect(path, chunk_volumes=4, decompressor=decompressor)
    np.testing.assert_array_equal(out, data)


@pytest.mark.parametrize("decompressor", reader_module.available_decompressors())
@pytest.mark.parametrize("damage", ["trailing bytes", "missing trailer"])
def test_damaged_end_of_stream_fails_where_nibabel_reads_on(tmp_path, float_series, decompressor, damage):
    data, paths = float_series
    compressed = paths[".nii.gz"].read_bytes()
    damaged = compressed + b"not gzip" if damage == "trailing bytes" else compressed[:-4]
    path = tmp_path / "damaged.nii.gz"
    path.write_bytes(damaged)
    with pytest.raises(OSError, match=r"damaged\.nii\.gz: .*truncated or corrupt"):
        list(BoldReader(path, chunk_volumes=4, decompressor=decompressor))
    np.testing.assert_array_equal(np.asanyarray(nib.load(path).dataobj), data)
