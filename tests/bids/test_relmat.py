"""The binary copy of a relmat TSV (``regionseries.bids.relmat``).

The copy must give exactly the values parsing the TSV gives (so that the
group outputs do not depend on which was read), and must never be used once
it no longer describes its TSV.
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import pandas as pd
import pytest

from regionseries.bids.outputs import tsv_text
from regionseries.bids.relmat import (
    FULL,
    UPPER,
    copy_path,
    read_copy,
    read_relmat,
    read_relmat_fast,
    write_relmat_tsv,
)


def matrix_text(values: np.ndarray, names: list[str]) -> str:
    return tsv_text(pd.DataFrame(values, index=pd.Index(names), columns=names), index_label="node")


def correlation(n_regions: int, seed: int = 0) -> np.ndarray:
    signals = np.random.default_rng(seed).normal(size=(3 * n_regions, n_regions))
    values = np.corrcoef(signals.T)
    values = (values + values.T) / 2  # np.corrcoef is not always exactly symmetric
    np.fill_diagonal(values, 1.0)
    return values


def test_copy_holds_the_values_of_the_text_not_the_unrounded_ones(tmp_path):
    names = [f"region {k}" for k in range(30)]
    values = correlation(30)
    values[4, :] = values[:, 4] = np.nan  # a region without signal: n/a in the TSV
    path = tmp_path / "sub-01_stat-pearsoncorrelation_relmat.tsv"
    tsv, copy = write_relmat_tsv(path, matrix_text(values, names))
    assert copy == copy_path(path) == tmp_path / f".{path.name}.f64"
    text_names, text_values = read_relmat(tsv)
    copy_names, copy_values, from_copy = read_relmat_fast(tsv)
    assert from_copy
    assert copy_names == text_names == names
    np.testing.assert_array_equal(copy_values, text_values)  # bit for bit, NaN where n/a
    assert np.isnan(copy_values[4]).all() and np.isnan(copy_values[:, 4]).all()
    assert not np.array_equal(copy_values, values, equal_nan=True)  # 9 significant digits, as the text
    np.testing.assert_allclose(copy_values, values, rtol=1e-8)
    assert copy_values.flags.writeable


def test_symmetric_matrices_are_stored_as_their_upper_triangle(tmp_path):
    names = [f"r{k}" for k in range(40)]
    symmetric = correlation(40)
    write_relmat_tsv(tmp_path / "a_relmat.tsv", matrix_text(symmetric, names))
    asymmetric = symmetric.copy()
    asymmetric[0, 1] += 0.01
    write_relmat_tsv(tmp_path / "b_relmat.tsv", matrix_text(asymmetric, names))
    stored_a = read_copy(tmp_path / "a_relmat.tsv")
    stored_b = read_copy(tmp_path / "b_relmat.tsv")
    assert stored_a.layout == UPPER and stored_a.values.size == 40 * 41 // 2
    assert stored_b.layout == FULL and stored_b.values.size == 40 * 40
    for name in ("a_relmat.tsv", "b_relmat.tsv"):
        np.testing.assert_array_equal(read_relmat_fast(tmp_path / name)[1], read_relmat(tmp_path / name)[1])
    assert copy_path(tmp_path / "a_relmat.tsv").stat().st_size < 0.6 * copy_path(tmp_path / "b_relmat.tsv").stat().st_size


def test_names_that_need_quoting_and_non_ascii_names(tmp_path):
    names = ['Left "amygdala"', "tab\there", "Gyrus précentral", "右 海马"]
    path = tmp_path / "m_relmat.tsv"
    write_relmat_tsv(path, matrix_text(correlation(4), names))
    got_names, got_values, from_copy = read_relmat_fast(path)
    assert from_copy and got_names == names
    np.testing.assert_array_equal(got_values, read_relmat(path)[1])


@pytest.mark.parametrize("change", ["rewritten", "touched", "copied-without-times", "copy-truncated",
                                    "copy-other-format", "copy-removed"])
def test_a_copy_that_no_longer_describes_its_tsv_is_not_used(tmp_path, change):
    names = [f"r{k}" for k in range(12)]
    path = tmp_path / "m_relmat.tsv"
    write_relmat_tsv(path, matrix_text(correlation(12), names))
    copy = copy_path(path)
    if change == "rewritten":  # other values, e.g. edited by hand
        path.write_text(matrix_text(correlation(12, seed=1), names))
    elif change == "touched":
        info = path.stat()
        os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 1))
    elif change == "copied-without-times":
        shutil.copyfile(path, tmp_path / "x")
        os.replace(tmp_path / "x", path)
    elif change == "copy-truncated":
        copy.write_bytes(copy.read_bytes()[:-8])
    elif change == "copy-other-format":
        data = bytearray(copy.read_bytes())
        data[8] = 99  # the format version
        copy.write_bytes(bytes(data))
    else:
        copy.unlink()
    assert read_copy(path) is None
    got_names, got_values, from_copy = read_relmat_fast(path)
    assert not from_copy
    assert got_names == names
    np.testing.assert_array_equal(got_values, read_relmat(path)[1])


def test_a_hard_link_or_a_copy_with_its_times_keeps_the_copy_usable(tmp_path):
    names = [f"r{k}" for k in range(6)]
    path = tmp_path / "a" / "m_relmat.tsv"
    write_relmat_tsv(path, matrix_text(correlation(6), names))
    copied = tmp_path / "b"
    shutil.copytree(tmp_path / "a", copied)  # copy2: times kept, as rsync -a and cp -a do
    assert read_relmat_fast(copied / "m_relmat.tsv")[2]
