"""The fast TSV path writes exactly what ``DataFrame.to_csv`` writes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from regionseries.bids.outputs import FLOAT_FORMAT, _column_cells, tsv_text


def pandas_text(table: pd.DataFrame, index_label: str | None = None) -> str:
    return table.to_csv(sep="\t", na_rep="n/a", float_format=FLOAT_FORMAT, index=index_label is not None,
                        index_label=index_label, lineterminator="\n")


SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-300, -1e300, 5e-324, 0.1, 1 / 3, 123456789.5,
                    np.finfo(np.float32).max, np.finfo(np.float32).tiny, 2.0 ** 60])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_special_values_as_pandas(dtype):
    with np.errstate(over="ignore"):
        values = np.resize(SPECIAL, (7, 6)).astype(dtype)
    table = pd.DataFrame(values, columns=[f"r{i}" for i in range(6)])
    text = tsv_text(table)
    assert text == pandas_text(table)
    assert "n/a" in text and "nan" not in text


def test_index_labels_needing_quotes():
    names = ["plain", "with\ttab", 'with"quote', "with\nnewline", "ünïcødé", "", "nan_in_name"]
    matrix = np.random.default_rng(0).normal(size=(len(names), len(names)))
    matrix[2, 3] = np.nan
    table = pd.DataFrame(matrix, index=pd.Index(names), columns=names)
    assert tsv_text(table, index_label="node") == pandas_text(table, index_label="node")
    # The name containing "nan" is not rewritten; only the missing value is.
    assert "nan_in_name" in tsv_text(table, index_label="node")


def test_empty_and_non_float_tables_as_pandas():
    empty = pd.DataFrame(np.zeros((0, 3)), columns=["a", "b", "c"])
    assert tsv_text(empty) == pandas_text(empty)
    mixed = pd.DataFrame({"name": ["x", "y"], "value": [1.5, np.nan], "count": [1, 2]})
    assert tsv_text(mixed) == pandas_text(mixed)
    integers = pd.DataFrame({"a": [1, 2]})
    assert tsv_text(integers) == pandas_text(integers)


def test_tables_of_numbers_and_strings_as_pandas():
    """The column-by-column path (strings, integers, floats; missing as None or NaN), e.g. a QC-FC table."""
    names = ["plain", "with\ttab", 'with"quote', "with\nnewline", "ünïcødé", "", "nan_in_name"]
    rng = np.random.default_rng(3)
    table = pd.DataFrame({
        "region_1": names,
        "region_2": [None, *names[1:]],
        "distance_mm": SPECIAL[:7],
        "qcfc": rng.normal(size=7).astype(np.float32),
        "n_runs": np.arange(7, dtype=np.int64) - 3,
        "n_participants": np.arange(7, dtype=np.uint16),
        "label": ["a", np.nan, "b", "c", None, "d", "e"],
    })
    assert tsv_text(table) == pandas_text(table)
    assert "nan_in_name" in tsv_text(table)
    assert _column_cells(table["region_1"]) is not None  # "str" in pandas 3, object in pandas 2: both fast
    assert _column_cells(table["label"]) is not None
    counts = table.assign(n_censored=pd.array([3, None, 0, -2, None, 2**40, 7], dtype="Int64"),
                          n_kept=pd.array([1, 2, 3, 4, 5, 6, None], dtype="UInt16"))
    assert _column_cells(counts["n_censored"]) is not None  # the group LINC table's counts
    assert tsv_text(counts) == pandas_text(counts)
    for other in (pd.DataFrame({"flag": [True, False]}), pd.DataFrame({"mixed": ["a", 1]}),
                  pd.DataFrame({"n": pd.array([1, None], dtype="Int64")}),
                  pd.DataFrame({"s": pd.array(["x", None], dtype="string")})):
        assert tsv_text(other) == pandas_text(other)


@settings(max_examples=60, deadline=None)
@given(
    values=hnp.arrays(
        dtype=st.sampled_from([np.float32, np.float64]),
        shape=hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=6),
        elements={"allow_nan": True, "allow_infinity": True, "allow_subnormal": True},
    ),
    with_index=st.booleans(),
)
def test_any_float_table_as_pandas(values, with_index):
    names = [f"region {i}" for i in range(values.shape[1])]
    index = [f"node\t{i}" for i in range(values.shape[0])]
    table = pd.DataFrame(values, columns=names, index=index)
    label = "node" if with_index else None
    assert tsv_text(table, index_label=label) == pandas_text(table, index_label=label)
