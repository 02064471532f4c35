"""The decompression floor: the time to only decompress a ``.nii.gz`` file.

Every gzip decompressor that can be imported is timed on the same file, in
the same process, with the compressed bytes already in memory (so disk and
page-cache effects are excluded) and the output counted, not kept:

* ``zlib`` -- the standard library, streaming (4 MiB of input and of
  output at a time: a small output block stays in the CPU caches, which is
  faster than large blocks);
* ``isal`` -- ISA-L through python-isal's gzip file object
  (``isal.igzip``, ``readinto`` a 4 MiB buffer), and ``isal (C reader)``:
  its C reader (``isal_zlib._GzipReader``) without the ``BufferedReader``
  around it, as regionseries reads;
* ``zlib-ng`` -- zlib-ng through ``zlib_ng.gzip_ng``, the same two ways;
* ``libdeflate`` -- libdeflate through the ``deflate`` package. It only
  decompresses a whole buffer at once (it needs the whole output in memory:
  1.7 GB at T=400), so it bounds what any streaming reader could reach
  rather than being usable by one.

The floor is the fastest of them. Each is repeated and the best time kept,
which is the usual way to time a deterministic computation on a noisy
machine.
"""

from __future__ import annotations

import io
import time
import zlib
from collections.abc import Callable

_INPUT_BLOCK = 4 * 2**20
_OUTPUT_BLOCK = 4 * 2**20


def _streaming(module) -> Callable[[bytes], int]:
    def decompress(data: bytes) -> int:
        view = memoryview(data)
        produced = 0
        start = 0
        inflater = module.decompressobj(wbits=16 + 15)
        while start < len(view):
            pending = view[start : start + _INPUT_BLOCK]
            start += _INPUT_BLOCK
            while pending:
                out = inflater.decompress(pending, _OUTPUT_BLOCK)
                produced += len(out)
                pending = inflater.unconsumed_tail
            if inflater.eof:
                leftover = inflater.unused_data
                if not leftover and start >= len(view):
                    break
                inflater = module.decompressobj(wbits=16 + 15)
                # Start the next gzip member from the leftover bytes.
                start -= len(leftover)
        produced += len(inflater.flush())
        return produced

    return decompress


def _reader(open_gzip) -> Callable[[bytes], int]:
    def decompress(data: bytes) -> int:
        buffer = memoryview(bytearray(_OUTPUT_BLOCK))
        produced = 0
        with open_gzip(io.BytesIO(data)) as stream:
            while True:
                count = stream.readinto(buffer)
                if not count:
                    return produced
                produced += count

    return decompress


def _c_reader(module_name: str) -> Callable[[bytes], int] | None:
    """A package's C gzip reader (``_GzipReader``) read directly, or None without it."""
    import contextlib
    import importlib

    try:
        reader_class = importlib.import_module(module_name)._GzipReader
    except (ImportError, AttributeError):
        return None
    return _reader(lambda handle: contextlib.closing(reader_class(handle, 512 * 1024)))


def available_decompressors() -> dict[str, Callable[[bytes], int]]:
    """Name -> function(compressed bytes) -> number of decompressed bytes."""
    found: dict[str, Callable[[bytes], int]] = {"zlib": _streaming(zlib)}
    try:
        from isal import igzip
    except ImportError:
        pass
    else:
        found["isal"] = _reader(lambda handle: igzip.IGzipFile(fileobj=handle, mode="rb"))
    try:
        from zlib_ng import gzip_ng
    except ImportError:
        pass
    else:
        found["zlib-ng"] = _reader(lambda handle: gzip_ng.GzipNGFile(fileobj=handle, mode="rb"))
    for name, module_name in (("isal (C reader)", "isal.isal_zlib"), ("zlib-ng (C reader)", "zlib_ng.zlib_ng")):
        decompress = _c_reader(module_name)
        if decompress is not None:
            found[name] = decompress
    try:
        import deflate
    except ImportError:
        pass
    else:
        found["libdeflate (whole buffer)"] = lambda data: len(deflate.gzip_decompress(data))
    return found


def versions() -> dict[str, str]:
    """Library versions of the decompressors (for the machine facts)."""
    out = {"zlib": zlib.ZLIB_RUNTIME_VERSION}
    for module, name in (("isal", "isal"), ("zlib_ng", "zlib-ng"), ("deflate", "deflate")):
        try:
            imported = __import__(module)
        except ImportError:
            continue
        out[name] = getattr(imported, "__version__", "?")
    return out


def measure_floor(path, repeats: int = 3) -> dict:
    """Time every available decompressor on ``path``.

    Parameters
    ----------
    path : path-like
        A gzip file.
    repeats : int
        Timings per decompressor; the best is kept.

    Returns
    -------
    dict
        ``{"compressed_bytes", "decompressed_bytes", "seconds": {name: best},
        "all_seconds": {name: [...]}, "fastest", "floor_seconds"}``.
    """
    with open(path, "rb") as handle:
        data = handle.read()
    seconds: dict[str, list[float]] = {}
    produced = None
    for name, function in available_decompressors().items():
        for _ in range(repeats):
            started = time.perf_counter()
            count = function(data)
            seconds.setdefault(name, []).append(time.perf_counter() - started)
            if produced is None:
                produced = count
            elif count != produced:
                raise RuntimeError(f"{name} decompressed {count} bytes of {path}, others {produced}")
    best = {name: min(values) for name, values in seconds.items()}
    fastest = min(best, key=best.get)
    return {
        "compressed_bytes": len(data),
        "decompressed_bytes": produced,
        "seconds": best,
        "all_seconds": seconds,
        "fastest": fastest,
        "floor_seconds": best[fastest],
    }


if __name__ == "__main__":  # pragma: no cover - manual use
    import json
    import sys

    print(json.dumps(measure_floor(sys.argv[1]), indent=2))
