"""Atlas images and tables as users bring them: every problem is named, nothing crashes.

What a real label table or coordinate table looks like when it comes from a
spreadsheet or another tool (byte-order mark, Windows line endings, another
delimiter, Latin-1 text, no rows), and atlas images that are empty,
truncated, not NIfTI, or git-annex links whose content was never fetched.
"""

from __future__ import annotations

import gzip
import os

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from regionseries.atlases.base import AtlasError, AtlasUnavailable, read_label_table
from regionseries.atlases.files import FileRequest, resolve_file_atlas
from regionseries.atlases.spheres import read_coordinates

TABLE = "index,name\n1,Précentral_L\n2,Frontal_R\n"


def _labels_image(path):
    labels = np.random.default_rng(0).integers(0, 40, (24, 24, 24)).astype(np.uint16)
    nib.Nifti1Image(labels, np.eye(4)).to_filename(path)
    return path


@pytest.mark.parametrize("encode", [
    lambda text: text.encode("utf-8"),
    lambda text: text.encode("utf-8-sig"),  # Excel's "CSV UTF-8"
    lambda text: text.replace("\n", "\r\n").encode("utf-8"),  # Windows
])
def test_label_tables_as_spreadsheets_write_them(tmp_path, encode):
    path = tmp_path / "labels.csv"
    path.write_bytes(encode(TABLE))
    table = read_label_table(path)
    assert table["index"].tolist() == [1, 2]
    assert table["name"].tolist() == ["Précentral_L", "Frontal_R"]


@pytest.mark.parametrize(("content", "message"), [
    (b"", r"label table .*labels.csv is empty"),
    (TABLE.encode("latin-1"), r"labels.csv is not UTF-8 text \(byte \d+\); save it as UTF-8"),
    (TABLE.replace(",", ";").encode(), r"columns are \['index;name'\] \(one column: is the delimiter right\?"),
])
def test_label_table_problems_are_named(tmp_path, content, message):
    path = tmp_path / "labels.csv"
    path.write_bytes(content)
    with pytest.raises(AtlasError, match=message):
        read_label_table(path)


@pytest.mark.parametrize(("content", "message"), [
    (b"", r"coordinates table .*coords.tsv is empty"),
    (b"x;y;z\n1;2;3\n", r"missing column\(s\) x, y, z \(need x, y, z in mm; one column: is the delimiter right\?"),
    (b"x\ty\tz\n1\tn/a\t3\n", r"rows 2 have non-numeric coordinates"),
    (b"\xef\xbb\xbfx\ty\tz\r\n10\t-20\t30\r\n", None),  # BOM and CRLF: fine
])
def test_coordinate_tables(tmp_path, content, message):
    path = tmp_path / "coords.tsv"
    path.write_bytes(content)
    if message is None:
        assert read_coordinates(path, "X")[["x", "y", "z"]].to_numpy().tolist() == [[10, -20, 30]]
        return
    with pytest.raises(AtlasError, match=message):
        read_coordinates(path, "X")


def test_annexed_atlas_says_datalad_get(tmp_path):
    link = tmp_path / "atlas.nii.gz"
    os.symlink("../.git/annex/objects/Xk/9v/MD5E-s1--0.nii.gz/MD5E-s1--0.nii.gz", link)
    with pytest.raises(AtlasUnavailable, match=r"annexed file whose content is not present .*: run `datalad get "):
        FileRequest.parse(f"A={link}")
    os.symlink(tmp_path / "gone.tsv", tmp_path / "table.tsv")
    _labels_image(tmp_path / "real.nii.gz")
    with pytest.raises(AtlasUnavailable, match=r"table.tsv: broken symbolic link"):
        FileRequest.parse(f"A={tmp_path / 'real.nii.gz'}:{tmp_path / 'table.tsv'}")


@pytest.mark.parametrize(("damage", "message"), [
    (lambda raw: b"", r"bad.nii.gz: empty file \(0 bytes\)"),
    (lambda raw: raw[: len(raw) // 2], "bad.nii.gz: .*truncated or corrupt"),
    (lambda raw: b"not an image\n", "bad.nii.gz: not gzip-compressed, although its name ends in .gz"),
])
def test_damaged_atlas_images(tmp_path, damage, message):
    good = _labels_image(tmp_path / "good.nii.gz")
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(damage(good.read_bytes()))
    with pytest.raises(AtlasError, match=message):
        resolve_file_atlas(FileRequest.parse(f"A={bad}"))


def test_truncated_maps_image(tmp_path):
    maps = np.random.default_rng(0).random((12, 12, 12, 4)).astype(np.float32)
    raw = gzip.compress(nib.Nifti1Image(maps, np.eye(4)).to_bytes())
    path = tmp_path / "maps.nii.gz"
    path.write_bytes(raw[: len(raw) * 2 // 3])
    with pytest.raises(AtlasError, match="atlas M: .*maps.nii.gz: .*truncated or corrupt"):
        resolve_file_atlas(FileRequest.parse(f"M={path}"))


def test_a_good_table_still_reads(tmp_path):
    path = tmp_path / "labels.tsv"
    pd.DataFrame({"index": [2, 1], "name": ["b", "a"]}).to_csv(path, sep="\t", index=False)
    assert read_label_table(path)["name"].tolist() == ["a", "b"]
