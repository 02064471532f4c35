"""Fault injection: every case of cases.py through the real command line, every expectation checked.

One test function, parametrised over the generated cases. For each case:

1. a hard-linked copy of the clean inputs; the mutation replaces one file;
2. the case's procedure runs the CLI (TMPDIR is a folder of the case);
3. checks, in order: no traceback; the exit code; the message names the file
   and the problem; the mutated run's outputs (equal / complete / failed with a
   reason / nothing); the other runs' TSVs byte-equal to the clean run's;
   nothing partial in OUTPUT_DIR; TMPDIR empty; the input tree unchanged;
   after an interruption, a rerun completes and equals the clean run.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from .cases import CASES, KNOWN_FAILURES, Case
from .dataset import OTHERS, RUNS, VICTIM
from .runner import Workspace, listing, tree_state

TEMPORARY_FILE = re.compile(r"(^|/)\.tmp-|\.tmp$|\.part$|~$")


def _parametrised() -> list:
    params = []
    for case in CASES:
        marks = []
        if case.id in KNOWN_FAILURES:
            marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[case.id]))
        params.append(pytest.param(case, id=case.id, marks=marks))
    return params


def test_ids_are_unique():
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))
    assert set(KNOWN_FAILURES) <= set(ids), "KNOWN_FAILURES names cases that do not exist"
    assert len(ids) >= 80


@pytest.mark.parametrize("case", _parametrised())
def test_fault(case: Case, clean_inputs: Path, reference_output: Path, tmp_path: Path):
    workspace = Workspace.create(tmp_path, clean_inputs)
    if case.mutation is not None:
        case.mutation(workspace.inputs / case.target)
    inputs_before = tree_state(workspace.inputs)

    observation = case.procedure(workspace)

    expect = case.expect
    for job in observation.jobs:
        assert "Traceback (most recent call last)" not in job.stderr, f"{_traceback_summary(job.stderr)}\n{job.stderr}"
        assert job.returncode == expect.exit_code, (
            f"exit {job.returncode}, expected {expect.exit_code}: {_summary(job.stderr)}\n{job.stderr}")
    stderr = "\n".join(job.stderr for job in observation.jobs)
    _check_message(case, stderr)
    if expect.before_indexing:
        assert "indexing" not in stderr, "the output folder must be checked before indexing"

    try:
        _check_outputs(case, workspace.output, reference_output)
    except AssertionError as failure:
        first, _, rest = str(failure).partition("\n")
        raise AssertionError(f"{first} | the job said: {_summary(stderr)}\n{rest}") from None
    _check_nothing_partial(workspace.output, allow_temporary=expect.killed)
    if not expect.killed:  # a SIGKILLed job cannot remove its work folder: checked after the rerun instead
        assert observation.tmpdir_after_jobs == [], f"left in TMPDIR: {observation.tmpdir_after_jobs}"

    if expect.rerun:
        rerun = observation.rerun
        assert rerun is not None and "Traceback" not in rerun.stderr, rerun and rerun.stderr
        assert rerun.returncode == 0, rerun.stderr
        for run in RUNS:
            _assert_run_equal(workspace.output, reference_output, run, atol=0.0)
        # a file being written when SIGKILL came stays as a hidden temporary file until the rerun removes it
        _check_nothing_partial(workspace.output, allow_temporary=False)
        # only what the killed job could not remove is left (its work folder), nothing from the rerun
        assert listing(workspace.tmpdir) == observation.tmpdir_after_jobs

    assert tree_state(workspace.inputs) == inputs_before, "the input tree was written"


# --------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------


def _traceback_summary(stderr: str) -> str:
    """``traceback <exception line> from <module>.<function>`` (the innermost frame in regionseries)."""
    frames = re.findall(r'File ".*?regionseries/([\w/]+)\.py", line \d+, in (\w+)', stderr)
    lines = [line for line in stderr.splitlines() if line.strip()]
    after = stderr.split("Traceback (most recent call last)")[-1].splitlines()
    exception = next((line for line in after if re.match(r"^[\w.]+(Error|Exception|Interrupt)\b", line)), lines[-1])
    where = f"{frames[-1][0].replace('/', '.')}.{frames[-1][1]}" if frames else "?"
    return f"traceback {exception.strip()[:200]} from {where}"


def _summary(stderr: str) -> str:
    """The error lines of a job's messages, in one line."""
    if "Traceback (most recent call last)" in stderr:
        return _traceback_summary(stderr)
    keep = [line.strip() for line in stderr.splitlines()
            if re.search(r"error|failed|cannot|not |denied", line, re.IGNORECASE)]
    return " | ".join(keep)[:400] or "(no message)"


def _check_message(case: Case, stderr: str) -> None:
    expect = case.expect
    text = stderr.lower()
    if expect.names_file and expect.exit_code != 0:
        names = _names(case)
        assert any(name.lower() in text for name in names), (
            f"the message does not name {' or '.join(names)}: {_summary(stderr)}\n{stderr}")
    if expect.problem:
        assert any(fragment.lower() in text for fragment in expect.problem), (
            f"the message says none of {expect.problem}: {_summary(stderr)}\n{stderr}")


def _names(case: Case) -> tuple[str, ...]:
    """The file names a message about the case may name (the mutated file's, or the expectation's own)."""
    if case.expect.names:
        return case.expect.names
    return (Path(case.target).name,) if case.target else ("regionseries-out",)


def _run_files(output: Path, run, suffix: str = "") -> dict[str, Path]:
    folder = output / Path(run.output_prefix).parent
    prefix = Path(run.output_prefix).name
    if not folder.is_dir():
        return {}
    return {p.name: p for p in sorted(folder.iterdir()) if p.name.startswith(prefix) and p.name.endswith(suffix)}


def _read_tsv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", na_values=["n/a"], keep_default_na=False)


def _assert_run_equal(output: Path, reference: Path, run, atol: float, strategies=None) -> None:
    """The run's TSVs (optionally only those of ``strategies``) equal the reference: bytes (atol 0) or values."""
    expected = _run_files(reference, run, ".tsv")
    if strategies is not None:
        expected = {k: v for k, v in expected.items() if any(f"_desc-{s}_" in k for s in strategies)}
    got = _run_files(output, run, ".tsv")
    missing = sorted(set(expected) - set(got))
    assert not missing, f"{run.stem}: outputs missing: {missing}"
    for name, path in expected.items():
        if atol == 0:
            assert got[name].read_bytes() == path.read_bytes(), f"{name} differs from the clean run's"
            continue
        mine, clean = _read_tsv(got[name]), _read_tsv(path)
        assert list(mine.columns) == list(clean.columns), name
        assert mine.shape == clean.shape, name
        numeric = clean.select_dtypes("number").columns
        text = [c for c in clean.columns if c not in numeric]
        assert mine[text].equals(clean[text]), f"{name}: labels differ"
        np.testing.assert_allclose(mine[numeric].to_numpy(float), clean[numeric].to_numpy(float), atol=atol,
                                   rtol=0, equal_nan=True, err_msg=name)


def _assert_run_complete(output: Path, reference: Path, run) -> None:
    expected = set(_run_files(reference, run))
    got = set(_run_files(output, run))
    assert expected <= got, f"{run.stem}: outputs missing: {sorted(expected - got)}"
    for name in expected:
        if name.endswith("_qc.json"):
            status = json.loads((output / Path(run.output_prefix).parent / name).read_text())["Status"]
            assert status == "done", f"{name}: Status {status}"


def _assert_run_failed(case: Case, output: Path, reference: Path) -> None:
    expect = case.expect
    qc_files = _run_files(output, VICTIM, "_qc.json")
    names = [name.lower() for name in _names(case)]
    for strategy in expect.failed_strategies:
        name = f"{Path(VICTIM.output_prefix).name}desc-{strategy}_qc.json"
        assert name in qc_files, f"no {name} for the failed run (has {sorted(qc_files)})"
        qc = json.loads(qc_files[name].read_text())
        assert qc["Status"] == "failed", f"{name}: Status {qc['Status']}"
        reason = (qc.get("Reason") or "").lower()
        assert any(file_name in reason for file_name in names), (
            f"{name}: Reason does not name {' or '.join(names)}: {qc.get('Reason')}")
        assert any(fragment.lower() in reason for fragment in expect.problem), (
            f"{name}: Reason says none of {expect.problem}: {qc.get('Reason')}")
        written = _run_files(output, VICTIM, f"_desc-{strategy}_timeseries.tsv")
        assert not written, f"time series of a failed strategy: {sorted(written)}"
    others = tuple(s for s in ("simple", "mine") if s not in expect.failed_strategies)
    if others:
        _assert_run_equal(output, reference, VICTIM, atol=0.0, strategies=others)


def _check_outputs(case: Case, output: Path, reference: Path) -> None:
    expect = case.expect
    if expect.victim == "none":
        written = [p for p in listing(output) if not p.startswith("logs")]
        assert written == [], f"a refused job wrote {written}"
        return
    if expect.victim == "unchecked":
        return
    victims = (VICTIM,) if case.scope == "run" else RUNS
    if case.scope == "run":
        for run in OTHERS:
            _assert_run_equal(output, reference, run, atol=0.0)
    for run in victims:
        if expect.victim == "equal":
            _assert_run_equal(output, reference, run, atol=expect.atol)
            _assert_run_complete(output, reference, run)
        elif expect.victim == "complete":
            _assert_run_complete(output, reference, run)
        elif expect.victim == "failed":
            _assert_run_failed(case, output, reference)
        else:
            raise ValueError(f"unknown expectation {expect.victim!r}")


def _check_nothing_partial(output: Path, allow_temporary: bool) -> None:
    """No temporary file; every TSV with its JSON (and back); every TSV readable, without inf/nan text."""
    files = [p for p in listing(output) if (output / p).is_file()]
    if not allow_temporary:
        leftovers = [p for p in files if TEMPORARY_FILE.search(p)]
        assert not leftovers, f"temporary files left in OUTPUT_DIR: {leftovers}"
    visible = [p for p in files if not TEMPORARY_FILE.search(p) and p.startswith("sub-")]
    for path in visible:
        for suffix, partner in (("_timeseries.tsv", "_timeseries.json"), ("_relmat.tsv", "_relmat.json"),
                                ("_timeseries.json", "_timeseries.tsv"), ("_relmat.json", "_relmat.tsv")):
            if path.endswith(suffix):
                assert path[: -len(suffix)] + partner in visible, f"{path} without its {partner}"
        if path.endswith(".tsv"):
            text = (output / path).read_text()
            assert text.endswith("\n"), f"{path} is cut short"
            assert not re.search(r"(^|\t)-?(inf|nan)(\t|$)", text, re.IGNORECASE | re.MULTILINE), (
                f"{path} holds inf/nan text instead of n/a")
            table = _read_tsv(output / path)
            assert len(table) > 0, f"{path} has no rows"
        if path.endswith(".json"):
            json.loads((output / path).read_text())
