"""Atomic and race-safe writes of ``regionseries.bids.outputs``."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from regionseries.bids.outputs import atomic_write_text, write_if_absent


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "out.tsv"
    atomic_write_text(target, "first\n")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr("regionseries.bids.outputs.os.replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(target, "second, longer content\n")
    assert target.read_text() == "first\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.tsv"]


def _create(args):
    path, text = args
    return write_if_absent(Path(path), text)


def test_write_if_absent_has_exactly_one_winner(tmp_path):
    target = tmp_path / "dataset_description.json"
    texts = [json.dumps({"job": i}) for i in range(8)]
    with multiprocessing.get_context("fork").Pool(4) as pool:
        created = pool.map(_create, [(str(target), t) for t in texts])
    assert sum(created) == 1
    assert target.read_text() == texts[created.index(True)]
    assert [p.name for p in tmp_path.iterdir()] == [target.name]
