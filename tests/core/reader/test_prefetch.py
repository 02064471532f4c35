"""The reader's prefetch thread and decompressor choice (issue 6).

With ``prefetch=True`` a background thread decodes the next chunk while the
caller works on the current one. These tests pin what must not change:
the bytes (equal to nibabel's and to the unprefetched reader's, for every
chunk size and decompressor), the buffer contract (a chunk is valid until
the next one is requested; only two buffers are used), errors raised in
the thread reaching the caller with the file named, and no thread left
behind when the caller stops early.
"""

from __future__ import annotations

import gzip
import threading
import time

import nibabel as nib
import numpy as np
import pytest

from regionseries.core import reader as reader_module
from regionseries.core.extract import LabelsOperator, MapsOperator, extract_signals
from regionseries.core.reader import BoldReader, available_decompressors, default_decompressor

SHAPE = (9, 8, 7)
N_VOLUMES = 23


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    rng = np.random.default_rng(6)
    data = rng.standard_normal(SHAPE + (N_VOLUMES,)).astype(np.float32) * 10 + 100
    path = tmp_path_factory.mktemp("prefetch") / "bold.nii.gz"
    nib.save(nib.Nifti1Image(data, np.diag([3.0, 3.0, 3.0, 1.0])), path)
    return data, path


def _reader_threads():
    return [t for t in threading.enumerate() if t.name.startswith("regionseries-reader")]


def _wait_no_reader_threads(timeout=5.0):
    deadline = time.monotonic() + timeout
    while _reader_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    return _reader_threads()


@pytest.mark.parametrize("decompressor", available_decompressors())
@pytest.mark.parametrize("chunk_volumes", [1, 4, 22, 23, 40])
def test_prefetched_chunks_equal_nibabel(series, decompressor, chunk_volumes):
    data, path = series
    chunks = [
        (c.start, c.data.copy())
        for c in BoldReader(path, chunk_volumes, decompressor=decompressor, prefetch=True)
    ]
    assert [start for start, _ in chunks] == list(range(0, N_VOLUMES, chunk_volumes))
    np.testing.assert_array_equal(np.concatenate([d for _, d in chunks], axis=3), data)
    assert not _wait_no_reader_threads()


def test_a_chunk_stays_valid_until_the_next_is_requested(series):
    data, path = series
    seen = []
    for chunk in BoldReader(path, 2, prefetch=True):
        # Give the producer time to run ahead: it must not overwrite this chunk.
        time.sleep(0.01)
        np.testing.assert_array_equal(chunk.data, data[..., chunk.start : chunk.stop])
        seen.append(chunk.data)
    # Two buffers alternate: chunk k and chunk k + 2 share memory, k and k + 1 do not.
    assert np.shares_memory(seen[0], seen[2])
    assert not np.shares_memory(seen[0], seen[1])


def test_early_stop_leaves_no_thread(series):
    _, path = series
    iterator = iter(BoldReader(path, 2, prefetch=True))
    next(iterator)
    assert _reader_threads()
    iterator.close()
    assert not _wait_no_reader_threads()


def test_error_in_the_thread_reaches_the_caller(tmp_path, series):
    _, path = series
    truncated = tmp_path / "truncated.nii.gz"
    raw = gzip.decompress(path.read_bytes())
    truncated.write_bytes(gzip.compress(raw[: len(raw) - 5 * int(np.prod(SHAPE)) * 4]))
    starts = []
    with pytest.raises(OSError, match=r"truncated\.nii\.gz: file ends after 18 of 23 volumes"):
        for chunk in BoldReader(truncated, 3, prefetch=True):
            starts.append(chunk.start)
    assert starts == [0, 3, 6, 9, 12, 15]
    assert not _wait_no_reader_threads()


def test_in_memory_images_are_not_threaded(series):
    data, _ = series
    img = nib.Nifti1Image(data, np.eye(4))
    chunks = list(BoldReader(img, 5, prefetch=True))
    assert np.shares_memory(chunks[0].data, data)


def test_auto_decompressor(series, monkeypatch):
    data, path = series
    expected = "isal" if "isal" in available_decompressors() else "zlib"
    assert default_decompressor() == expected
    monkeypatch.setattr(reader_module, "_isal_available", lambda: False)
    assert default_decompressor() == "zlib"
    out = np.concatenate([c.data.copy() for c in BoldReader(path, 7, decompressor="auto")], axis=3)
    np.testing.assert_array_equal(out, data)


def test_extract_signals_same_with_and_without_prefetch(series):
    """The one-pass engine prefetches; results equal a plain chunk-by-chunk pass."""
    data, path = series
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    labels = np.zeros(SHAPE, dtype=np.int32)
    labels[1:5, 1:6, 1:6] = 1
    labels[5:8, 2:7, 1:6] = 2
    maps = np.zeros(SHAPE + (2,), dtype=np.float32)
    maps[1:6, 1:7, 1:6, 0] = np.linspace(0.2, 1.0, 5 * 6 * 5).reshape(5, 6, 5)
    maps[4:8, 0:5, 2:7, 1] = 0.5
    operators = [LabelsOperator(labels, affine), MapsOperator(maps, affine)]
    prefetched = extract_signals(path, operators, chunk_volumes=4)
    plain = extract_signals(BoldReader(path, 4, prefetch=False), operators)
    for a, b in zip(prefetched, plain):
        np.testing.assert_array_equal(a.signals, b.signals)
        np.testing.assert_array_equal(a.coverage, b.coverage)
    expected = np.stack([data[labels == k].mean(axis=0, dtype=np.float64) for k in (1, 2)], axis=1)
    np.testing.assert_allclose(prefetched[0].signals, expected, rtol=1e-12)
