"""Atlas files are copied into the outputs by streaming, and not rewritten when unchanged."""

from __future__ import annotations

import os
import tracemalloc

from regionseries.bids import outputs
from regionseries.bids.outputs import atomic_copy_file


def test_copy_streams_and_is_complete(tmp_path):
    source = tmp_path / "big.nii.gz"
    source.write_bytes(os.urandom(24 * 2**20))
    target = tmp_path / "out" / "atlases" / "big.nii.gz"
    tracemalloc.start()
    atomic_copy_file(source, target)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert target.read_bytes() == source.read_bytes()
    assert peak < 3 * outputs._COPY_BLOCK_BYTES  # blocks, never the whole 24 MiB file
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".tmp-")]


def test_identical_target_is_left_alone_and_a_different_one_replaced(tmp_path):
    source = tmp_path / "atlas.nii.gz"
    source.write_bytes(b"A" * 5_000_000 + b"end")
    target = tmp_path / "copy.nii.gz"
    atomic_copy_file(source, target)
    before = target.stat()
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns - 10**9))
    stamped = target.stat().st_mtime_ns
    atomic_copy_file(source, target)
    assert target.stat().st_mtime_ns == stamped  # same bytes: not rewritten
    assert target.stat().st_ino == before.st_ino
    source.write_bytes(b"A" * 5_000_000 + b"END")  # same size, other bytes
    atomic_copy_file(source, target)
    assert target.read_bytes() == source.read_bytes()


def test_a_rerun_removes_what_a_killed_job_was_writing(tmp_path):
    """SIGKILL leaves the temporary sibling being written; only dead processes' of this host go."""
    import socket
    import subprocess

    from regionseries.bids.outputs import _temporary_sibling, remove_stale_temporaries

    dead_pid = subprocess.Popen(["true"])  # a process that has ended: its pid is free
    dead_pid.wait()
    host = socket.gethostname()
    killed = tmp_path / f".tmp-{dead_pid.pid}@{host}-0badc0de-sub-01_timeseries.tsv"
    running_here = _temporary_sibling(tmp_path / "sub-02_timeseries.tsv")  # this process: alive
    other_node = tmp_path / f".tmp-{dead_pid.pid}@another-node-0badc0de-sub-03_timeseries.tsv"
    result = tmp_path / "sub-01_timeseries.tsv"
    for path in (killed, running_here, other_node, result):
        path.write_text("x")
    assert remove_stale_temporaries(tmp_path) == [killed]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in (running_here, other_node, result))
    assert remove_stale_temporaries(tmp_path / "missing") == []
