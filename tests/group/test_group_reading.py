"""The group level's relmat reader against pandas, its errors, merging running sums, and the QC records.

``read_relmat`` replaced ``pandas.read_csv`` for speed; it must give the same
names and numbers on what the participant level writes (n/a, infinities,
unicode and quoted region names, CRLF line ends, a byte-order mark) and a
message naming the file and the line for a truncated or malformed file.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

from regionseries.bids.outputs import atomic_write_tsv, json_text
from regionseries.group import (
    RECORD_KEYS,
    GroupCache,
    MalformedMatrix,
    RunningEdges,
    _regions_na,
    collect_qc_records,
    read_relmat,
)
from regionseries.group.parallel import _start_readers, _stop_readers
from regionseries.group.reading import (
    _record_fields,
    _relmat_path_of,
    _series_sidecar_path,
    _series_sidecars,
)


def _write_matrix(path, names, values):
    """As the participant level writes a relmat TSV."""
    atomic_write_tsv(path, pd.DataFrame(values, index=pd.Index(names), columns=names), index_label="node")
    return path


def _pandas(path):
    table = pd.read_csv(path, sep="\t", index_col=0, na_values="n/a", keep_default_na=False)
    return [str(c) for c in table.columns], table.to_numpy(dtype=float)


def _matrix(n, seed=0):
    rng = np.random.default_rng(seed)
    values = np.tanh(rng.standard_normal((n, n)) * 0.4)
    values = (values + values.T) / 2
    np.fill_diagonal(values, 1.0)
    return values


NAME_SETS = {
    "plain": [f"LH_parcel{k:03d}" for k in range(7)],
    "unicode": ["Hippocampe_gauche", "Amygdale_droite", "Cortex_préfrontal", "Gyrus_cingulaire_antérieur", "海马",
                "Ω-region", "naïve node"],
    "quoted": ['a "quoted" name', "tab\there", "semi;colon", "comma, region", "plain", "line\nbreak", "x"],
    "numeric-looking": ["1", "2", "10", "n/a_region", "3.5", "nan_region", "-4"],
}


@pytest.mark.parametrize("names", NAME_SETS.values(), ids=NAME_SETS.keys())
def test_equals_pandas_on_written_matrices(tmp_path, names):
    values = _matrix(len(names))
    values[2, :] = np.nan  # a region below coverage: a row and a column of n/a
    values[:, 2] = np.nan
    values[4, 5] = np.inf
    values[5, 4] = -np.inf
    values[0, 1] = values[1, 0] = 1.23456789e-7  # exponent notation
    path = _write_matrix(tmp_path / "m_relmat.tsv", names, values)
    ours_names, ours = read_relmat(path)
    theirs_names, theirs = _pandas(path)
    assert ours_names == theirs_names == names
    np.testing.assert_array_equal(ours, theirs)
    assert ours.flags.c_contiguous and ours.dtype == np.float64


def test_crlf_and_byte_order_mark(tmp_path):
    names = NAME_SETS["unicode"]
    path = _write_matrix(tmp_path / "m_relmat.tsv", names, _matrix(len(names), seed=1))
    text = path.read_text(encoding="utf-8")
    crlf = tmp_path / "crlf_relmat.tsv"
    crlf.write_bytes(("\ufeff" + text.replace("\n", "\r\n")).encode("utf-8"))
    expected_names, expected = read_relmat(path)
    got_names, got = read_relmat(crlf)
    assert got_names == expected_names == _pandas(crlf)[0]
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(got, _pandas(crlf)[1])


def test_one_region(tmp_path):
    path = _write_matrix(tmp_path / "m_relmat.tsv", ["only"], np.ones((1, 1)))
    names, values = read_relmat(path)
    assert names == ["only"] and values.shape == (1, 1) and values[0, 0] == 1.0


def _broken(tmp_path, text: str | bytes):
    path = tmp_path / "sub-01_broken_relmat.tsv"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


@pytest.mark.parametrize(("make", "expected"), [
    (lambda text: text[: len(text) - 12], "line 6 has"),                      # cut inside the last row
    (lambda text: text[: text.rindex("\n", 0, len(text) - 1) + 1], "4 rows of values for 5 regions"),  # last row lost
    (lambda text: "\n".join(line + "\t0.5" if k == 2 else line for k, line in enumerate(text.split("\n"))),
     "line 3 has 6 values"),
    (lambda text: text.replace("0.", "O.", 1), "is not a number"),
    (lambda text: "", "empty file"),
    (lambda text: "node\n", "no region names"),
    (lambda text: text.encode("utf-8")[:20] + b"\xff\xfe" + text.encode("utf-8")[20:], "not UTF-8"),
], ids=["truncated-row", "missing-row", "extra-value", "not-a-number", "empty", "header-only", "not-utf8"])
def test_malformed_files_name_the_file_and_line(tmp_path, make, expected):
    good = _write_matrix(tmp_path / "good_relmat.tsv", list("abcde"), _matrix(5, seed=2)).read_text()
    path = _broken(tmp_path, make(good))
    with pytest.raises(MalformedMatrix) as raised:
        read_relmat(path)
    assert str(path) in str(raised.value)
    assert expected in str(raised.value)
    assert isinstance(raised.value, ValueError)


def test_running_edges_merged_by_chunks_equal_one_pass():
    """Sums of chunks made with the same shifts, merged in order, equal the sums of one pass (round-off)."""
    rng = np.random.default_rng(4)
    n_runs, n_regions = 23, 6
    stack = rng.standard_normal((n_runs, n_regions, n_regions)) * 0.1 + 0.3
    stack[4, 1, 3] = np.nan
    fd = rng.random(n_runs) * 0.4
    fd[9] = np.nan
    upper = np.triu_indices(n_regions, 1)
    one_pass = RunningEdges(n_regions, covariate_shift=0.2, edge_shift=stack[0][upper])
    for matrix, covariate in zip(stack, fd):
        one_pass.add(matrix, covariate)
    merged = RunningEdges(n_regions, covariate_shift=0.2, edge_shift=stack[0][upper])
    for start in range(0, n_runs, 5):
        chunk = RunningEdges(n_regions, *merged.shifts)
        for matrix, covariate in zip(stack[start:start + 5], fd[start:start + 5]):
            chunk.add(matrix, covariate)
        merged.merge(chunk)
    np.testing.assert_array_equal(merged.mean()[1], one_pass.mean()[1])
    np.testing.assert_allclose(merged.mean()[0], one_pass.mean()[0], rtol=1e-13)
    for ours, theirs in zip(merged.correlation(), one_pass.correlation()):
        np.testing.assert_allclose(ours, theirs, rtol=1e-11, atol=1e-14)
    with pytest.raises(ValueError, match="different shifts"):
        other = RunningEdges(n_regions, covariate_shift=0.5, edge_shift=stack[0][upper])
        other.add(stack[1], fd[1])
        merged.merge(other)


def test_running_edges_state_round_trip(tmp_path):
    rng = np.random.default_rng(6)
    edges = RunningEdges(5, covariate_shift=0.1)
    for _ in range(4):
        edges.add(rng.standard_normal((5, 5)), float(rng.random()))
    cache = GroupCache(tmp_path / ".incremental")
    cache.save("entry", True, list("abcde"), [["sub-01/func/x_relmat.tsv", 10, 20, 0.3]], edges,
               np.ones(5, dtype=bool))
    about, restored, diagonal = cache.load("entry", fisher=True)
    assert about["names"] == list("abcde") and about["runs"] == [["sub-01/func/x_relmat.tsv", 10, 20, 0.3]]
    assert diagonal.all()
    for key, value in edges.state().items():
        np.testing.assert_array_equal(restored.state()[key], value)
    assert cache.load("entry", fisher=False) is None  # sums of other values
    (tmp_path / ".incremental" / "entry.npz").write_bytes(b"not a cache")
    assert cache.load("entry", fisher=True) is None


@pytest.mark.parametrize("extra", [
    {},
    {"Description": 'mentions "RegionsBelowCoverage": ["not", "these"] in its text'},
    {"Atlas": {"RegionsBelowCoverage": ["nested", "not", "these"]}},
], ids=["as-written", "key-in-a-string", "key-nested"])
def test_regions_na_from_sidecars_equals_the_whole_json(tmp_path, extra):
    sidecar = {**extra, "RegionsBelowCoverage": ["Cortex_préfrontal", 'b]"x'],
               "RegionsWithoutVoxels": ['b]"x', "海马"], "Other": [1, 2]}
    path = tmp_path / "sub-01_atlas-A_desc-simple_timeseries.json"
    path.write_text(json_text(sidecar), encoding="utf-8")
    missing = tmp_path / "sub-02_atlas-A_desc-simple_timeseries.json"
    missing.write_text(json_text({"Other": []}), encoding="utf-8")
    broken = tmp_path / "sub-03_atlas-A_desc-simple_timeseries.json"
    broken.write_text('{"RegionsBelowCoverage": [1, ', encoding="utf-8")
    assert _regions_na([path, missing, broken, None]) == [3, 0, None, None]


# --- QC records: only RECORD_KEYS decoded, kept compact ------------------------------


def _record(**extra) -> dict:
    """A *_qc.json record as the participant level writes it, with keys of RECORD_KEYS also nested."""
    return {"Status": "done", "Reason": None, "Bold": "bids:preprocessed:sub-01/func/sub-01_task-rest_bold.nii.gz",
            "Entities": {"sub": "01", "task": "rest"}, "NumberOfVolumes": 400,
            "Atlases": {"A": {"Status": "nested, not the record's", "NumberOfVolumes": -1}},
            "Description": 'mentions\n  "Status": "in a string"', "KeptVolumes": list(range(300)),
            "NumberOfVolumesKept": 300, "MeanFramewiseDisplacement": 0.123456789012345,
            "DegreesOfFreedomLost": 37.5, "Concatenated": False, **extra}


@pytest.mark.parametrize("text", [
    json_text(_record()),
    json_text(_record(Reason="été 海马 \"quoted\"", Status="excluded")),
    json.dumps(_record()),  # not the participant level's layout: decoded whole
    json_text(_record()).replace('{\n', '{\n  "Status": "first, replaced by the later one",\n', 1),
], ids=["as-written", "unicode", "compact", "key-twice"])
def test_record_fields_equal_the_whole_json(text):
    whole = json.loads(text)
    assert _record_fields(text) == {key: whole[key] for key in RECORD_KEYS if key in whole}


def test_record_fields_of_a_truncated_or_non_object_record_raise():
    text = json_text(_record())
    for broken in (text[:len(text) // 2], text.rstrip()[:-1], "[1, 2]", ""):
        with pytest.raises(ValueError):
            _record_fields(broken)


def _participant_folders(root, n: int, session: str = "") -> None:
    for k in range(1, n + 1):
        folder = root / f"sub-{k:02d}" / session / "func"
        folder.mkdir(parents=True)
        stem = f"sub-{k:02d}_{session + '_' if session else ''}task-rest_space-MNI"
        for desc in ("simple", "scrubbing"):
            (folder / f"{stem}_desc-{desc}_qc.json").write_text(json_text(_record(MeanFramewiseDisplacement=k / 10)))
            for atlas in ("A", "B"):
                (folder / f"{stem}_atlas-{atlas}_desc-{desc}_timeseries.json").write_text("{}")
                (folder / f"{stem}_atlas-{atlas}_stat-correlation_desc-{desc}_relmat.tsv").write_text("")
                (folder / f".{stem}_atlas-{atlas}_stat-correlation_desc-{desc}_relmat.tsv.f64").write_text("")


@pytest.mark.parametrize("nprocs", [1, 2])
def test_collected_records_are_compact_and_share_what_is_equal(tmp_path, nprocs):
    _participant_folders(tmp_path, 3)
    executor = _start_readers(nprocs) if nprocs > 1 else None
    try:
        records = collect_qc_records(tmp_path, executor=executor)
    finally:
        if executor is not None:
            _stop_readers(executor)
    assert len(records) == 6
    first = records[0]
    folder = tmp_path / "sub-01" / "func"
    assert dict(first["_entities"]) == {"sub": "01", "task": "rest", "space": "MNI", "desc": "scrubbing"}
    assert first["Status"] == "done" and first.get("Missing", "x") == "x" and "Entities" not in first
    assert dict(_series_sidecars(first)) == {
        atlas: folder / f"sub-01_task-rest_space-MNI_atlas-{atlas}_desc-scrubbing_timeseries.json"
        for atlas in ("A", "B")}
    assert _series_sidecar_path(first, "B") == str(_series_sidecars(first)["B"]) and "C" not in _series_sidecars(first)
    assert _series_sidecar_path(first, "C") is None
    assert set(first["_files"]) == set(os.listdir(folder))
    assert "sub-01_task-rest_space-MNI_atlas-A_stat-correlation_desc-simple_relmat.tsv" in first["_files"]
    assert "sub-02_task-rest_space-MNI_atlas-A_stat-correlation_desc-simple_relmat.tsv" not in first["_files"]
    # what every participant has alike is one object: the record's keys, the file names' keys, the sidecars' names
    assert len({id(record._keys) for record in records}) == 1
    assert len({id(record["_files"].keys) for record in records}) == 1
    assert len({id(record["_sidecars"]) for record in records if record["_entities"]["desc"] == "simple"}) == 1
    assert [record["MeanFramewiseDisplacement"] for record in records] == [0.1, 0.1, 0.2, 0.2, 0.3, 0.3]


def test_a_folder_with_one_record_and_no_series(tmp_path):
    folder = tmp_path / "sub-01" / "func"
    folder.mkdir(parents=True)
    (folder / "sub-01_task-rest_desc-simple_qc.json").write_text(json_text(_record(Status="failed")))
    (record,) = collect_qc_records(tmp_path)
    assert record["Status"] == "failed" and dict(_series_sidecars(record)) == {}
    assert set(record["_files"]) == {"sub-01_task-rest_desc-simple_qc.json"}


def test_records_of_sessions_share_the_names_of_their_files(tmp_path):
    _participant_folders(tmp_path, 2, session="ses-1")
    records = collect_qc_records(tmp_path)
    assert [record["_files"].prefix for record in records] == ["sub-01_ses-1_"] * 2 + ["sub-02_ses-1_"] * 2
    assert len({id(record["_files"].keys) for record in records}) == 1
    folder = tmp_path / "sub-02" / "ses-1" / "func"
    assert set(records[-1]["_files"]) == set(os.listdir(folder))
    assert _series_sidecar_path(records[-1], "A") == str(
        folder / "sub-02_ses-1_task-rest_space-MNI_atlas-A_desc-simple_timeseries.json")


@pytest.mark.parametrize("session", ["", "ses-1"])
def test_matrix_paths_named_once_per_study_are_each_participants(tmp_path, session):
    """``_relmat_path_of`` derives a matrix's name once per study and still gives each participant its own file,
    and None where a participant has no such matrix."""
    _participant_folders(tmp_path, 3, session=session)
    removed = next((tmp_path / "sub-02").rglob("*_atlas-B_stat-correlation_desc-simple_relmat.tsv"))
    removed.unlink()
    records = [record for record in collect_qc_records(tmp_path) if record["_entities"]["desc"] == "simple"]
    names: dict = {}
    found = [_relmat_path_of(record, "B", "correlation", names) for record in records]
    assert [os.path.exists(path) if path else None for path in found] == [True, None, True]
    assert found[2] == str(next((tmp_path / "sub-03").rglob("*_atlas-B_stat-correlation_desc-simple_relmat.tsv")))
    assert len(names) == 1
    assert _relmat_path_of(records[0], "C", "correlation", names) is None  # no such atlas
    assert _relmat_path_of(records[0], "A", "covariance", names) is None  # no such matrix
