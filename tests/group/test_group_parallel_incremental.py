"""The group level with ``--nprocs`` and ``--incremental``, through the real command line.

The participant level runs once on the small dataset; its outputs are then
cloned into more participants (own mean FD, perturbed matrices, written by
the same writer) so that the matrices are read in more than one chunk of
``CHUNK_RUNS`` runs. ``--nprocs 2`` must write the same bytes as
``--nprocs 1``; ``--incremental`` must agree with a group run from scratch
after participants are added, changed or removed and after a threshold
changes, and say whether it reused its sums.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from regionseries.bids.outputs import tsv_text
from regionseries.bids.relmat import copy_path, write_relmat_tsv
from regionseries.group import CHUNK_RUNS, read_relmat

from ..conftest import run_cli

PREFIX = "task-rest_space-MNI152NLin2009cAsym_atlas-Demo"


@pytest.fixture(scope="module")
def participant_outputs(fmriprep_dataset, demo_atlas, tmp_path_factory):
    """Participant level of the small dataset (strategy simple), then 12 clones of sub-01's three runs."""
    image, table = demo_atlas
    output = tmp_path_factory.mktemp("group-parallel") / "out"
    result = run_cli(fmriprep_dataset, output, "participant", "--atlas-file", f"Demo={image}:{table}",
                     "--strategy", "simple", "--no-reports", "-w", tmp_path_factory.mktemp("group-parallel-work"))
    assert result.returncode in (0, 1), result.stderr  # sub-02's run without confounds fails
    rng = np.random.default_rng(8)
    for k in range(12):
        clone_participant(output, "01", f"1{k:02d}", rng)
    assert len(list(output.glob("sub-*/**/*_qc.json"))) > CHUNK_RUNS
    return output


def clone_participant(output: Path, source: str, label: str, rng: np.random.Generator) -> None:
    """``sub-<label>``: ``sub-<source>``'s files renamed, its own mean FD and slightly different matrices."""
    origin = output / f"sub-{source}"
    for path in sorted(p for p in origin.rglob("*") if p.is_file()):
        target = output / f"sub-{label}" / path.relative_to(origin)
        target = target.with_name(target.name.replace(f"sub-{source}_", f"sub-{label}_"))
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.name.endswith("_qc.json"):
            record = json.loads(path.read_text())
            record["Bold"] = record["Bold"].replace(f"sub-{source}/", f"sub-{label}/").replace(
                f"sub-{source}_", f"sub-{label}_")
            record["MeanFramewiseDisplacement"] = float(rng.uniform(0.05, 0.5))
            target.write_text(json.dumps(record))
        elif path.name.endswith("_relmat.tsv"):
            write_perturbed(path, target, rng)
        elif path.name.endswith(".f64"):  # the binary copy of a matrix: write_perturbed writes the clone's
            continue
        else:
            shutil.copyfile(path, target)


def write_perturbed(source: Path, target: Path, rng: np.random.Generator) -> None:
    names, values = read_relmat(source)
    noise = rng.normal(0, 0.05, values.shape)
    values = np.clip(values + (noise + noise.T) / 2, -0.99, 0.99)
    np.fill_diagonal(values, 1.0)
    write_relmat_tsv(target, tsv_text(pd.DataFrame(values, index=pd.Index(names), columns=names), index_label="node"))


def set_mean_fd(output: Path, participant: str, mean_fd: float) -> None:
    """Change the mean FD in the QC record of one run (the first found) of ``sub-<participant>``."""
    record_path = next((output / f"sub-{participant}").rglob("*_desc-simple_qc.json"))
    record = json.loads(record_path.read_text())
    record["MeanFramewiseDisplacement"] = mean_fd
    record_path.write_text(json.dumps(record))


def run_group(bids: Path, output: Path, *options: str):
    result = run_cli(bids, output, "group", "--no-reports", *options)
    assert result.returncode == 0, result.stderr
    return result


def group_files(output: Path) -> dict[str, bytes]:
    """The group outputs' bytes, the QC sidecars without their command line."""
    files = {}
    for path in sorted((output / "group").iterdir()):
        if not path.is_file():
            continue
        if path.name.endswith("_qc.json"):
            content = json.loads(path.read_text())
            content.pop("CommandLine")
            files[path.name] = json.dumps(content).encode()
        else:
            files[path.name] = path.read_bytes()
    return files


def assert_same_results(ours: dict[str, bytes], scratch: dict[str, bytes]) -> None:
    """Same files; tables equal, numbers within round-off (the sums were added in another order)."""
    assert sorted(ours) == sorted(scratch)
    for name, content in scratch.items():
        if content == ours[name]:
            continue
        if name.endswith(".json"):
            a, b = json.loads(ours[name]), json.loads(content)
            assert a.keys() == b.keys(), name
            for key in a:
                if isinstance(b[key], float) or key == "DistanceDependence":
                    assert a[key] == pytest.approx(b[key], rel=1e-9, abs=1e-12), (name, key)
                else:
                    assert a[key] == b[key], (name, key)
        else:
            a = pd.read_csv(io.BytesIO(ours[name]), sep="\t", keep_default_na=False, na_values="n/a")
            b = pd.read_csv(io.BytesIO(content), sep="\t", keep_default_na=False, na_values="n/a")
            assert list(a.columns) == list(b.columns), name
            numbers = b.select_dtypes("number").columns
            np.testing.assert_allclose(a[numbers].to_numpy(float), b[numbers].to_numpy(float), rtol=1e-8,
                                       atol=1e-12, equal_nan=True, err_msg=name)
            others = [c for c in b.columns if c not in numbers]
            pd.testing.assert_frame_equal(a[others], b[others], obj=name)


def test_reader_equals_pandas_on_the_participant_outputs(participant_outputs):
    paths = sorted(participant_outputs.glob("sub-0*/**/*_relmat.tsv"))
    assert paths
    for path in paths:
        names, values = read_relmat(path)
        table = pd.read_csv(path, sep="\t", index_col=0, na_values="n/a", keep_default_na=False)
        assert names == list(table.columns)
        np.testing.assert_array_equal(values, table.to_numpy(float))


def test_nprocs_2_writes_what_nprocs_1_writes(fmriprep_dataset, participant_outputs, tmp_path):
    output = tmp_path / "out"
    shutil.copytree(participant_outputs, output)
    run_group(fmriprep_dataset, output, "--nprocs", "1")
    serial = group_files(output)
    shutil.rmtree(output / "group")
    run_group(fmriprep_dataset, output, "--nprocs", "2")
    parallel = group_files(output)
    assert serial == parallel
    assert any(name.endswith("_stat-correlation_desc-simple_relmat.tsv") for name in serial)


def test_matrices_read_from_their_binary_copies_or_their_text_give_the_same_bytes(fmriprep_dataset,
                                                                                   participant_outputs, tmp_path):
    with_copies, without_copies = tmp_path / "with", tmp_path / "without"
    shutil.copytree(participant_outputs, with_copies)
    shutil.copytree(participant_outputs, without_copies)
    matrices = sorted(without_copies.glob("sub-*/**/*_relmat.tsv"))
    assert len(matrices) > CHUNK_RUNS
    for path in matrices:
        copy_path(path).unlink()
    fast = run_group(fmriprep_dataset, with_copies, "--nprocs", "2")
    slow = run_group(fmriprep_dataset, without_copies, "--nprocs", "2")
    assert group_files(with_copies) == group_files(without_copies)
    assert "parsed as text" not in fast.stderr
    assert f"{len(matrices)} matrix file(s) had no up-to-date binary copy and were parsed as text" in slow.stderr


def test_incremental_agrees_with_a_run_from_scratch(fmriprep_dataset, participant_outputs, tmp_path):
    output = tmp_path / "out"
    shutil.copytree(participant_outputs, output)
    rng = np.random.default_rng(9)
    cache = output / "group" / ".incremental"

    def incremental(*options):
        # The bookkeeping of single runs: with --qcfc-unit participant (the test below) a participant's runs
        # join and leave together.
        options = ("--qcfc-unit", "run", *options)
        result = run_group(fmriprep_dataset, output, "--incremental", "--nprocs", "2", *options)
        ours = group_files(output)
        run_group(fmriprep_dataset, output, *options)
        assert_same_results(ours, group_files(output))
        return result.stderr

    log = incremental()
    assert "from the group cache" not in log
    cached = sorted(p.name for p in cache.iterdir())
    assert cached == [f"{PREFIX}_stat-correlation_desc-simple_sums.npz"]

    def cached_runs() -> list:
        return json.loads(str(np.load(cache / cached[0])["about"]))["runs"]

    runs = cached_runs()
    assert len(runs) > CHUNK_RUNS

    # nothing new: nothing read
    log = incremental()
    assert f"{len(runs)} run(s) from the group cache, 0 to take away, 0 to read" in log

    # a new participant (three runs): only those are read
    clone_participant(output, "01", "200", rng)
    log = incremental()
    assert f"{len(runs)} run(s) from the group cache, 0 to take away, 3 to read" in log
    runs = cached_runs()

    # one run's mean FD changed: that run is taken away and added again
    set_mean_fd(output, "103", 0.123)
    log = incremental()
    assert f"{len(runs) - 1} run(s) from the group cache, 1 to take away, 1 to read" in log

    # one participant's matrix changed, or a participant removed: every run is read again
    changed = next((output / "sub-105").rglob("*_stat-correlation_desc-simple_relmat.tsv"))
    write_perturbed(changed, changed, rng)
    log = incremental()
    assert f"{changed.relative_to(output)} was removed or changed since the group cache was made" in log
    shutil.rmtree(output / "sub-106")
    log = incremental()
    assert "sub-106" in log and "was removed or changed since the group cache was made" in log
    runs = cached_runs()

    # a stricter threshold: the runs it excludes are taken away; relaxed again, they are read and added
    qc = pd.read_csv(output / "group" / f"{PREFIX}_desc-simple_qc.tsv", sep="\t")
    included_fds = qc.loc[~qc["excluded"], "mean_fd_mm"]
    strict = float(np.quantile(included_fds, 0.8))
    leaving = int((included_fds > strict).sum())
    assert 0 < leaving < len(runs) / 2
    log = incremental("--max-mean-fd", f"{strict}")
    assert f"{len(runs) - leaving} run(s) from the group cache, {leaving} to take away, 0 to read" in log
    log = incremental()
    assert f"{len(runs) - leaving} run(s) from the group cache, 0 to take away, {leaving} to read" in log

    # most runs excluded: more to take away than to keep, so every run is read again
    log = incremental("--max-mean-fd", f"{float(np.quantile(included_fds, 0.2))}")
    assert "more runs would be taken from the group cache than kept" in log


@pytest.mark.parametrize("nprocs", ["1", "2"])
def test_a_truncated_matrix_is_a_failure_naming_the_file(fmriprep_dataset, participant_outputs, tmp_path, nprocs):
    output = tmp_path / "out"
    shutil.copytree(participant_outputs, output)
    broken = next((output / "sub-107").rglob("*_stat-correlation_desc-simple_relmat.tsv"))
    n_regions = len(read_relmat(broken)[0])
    text = broken.read_text()
    cut = text[: len(text) // 2]
    broken.write_text(cut)  # a copy cut short
    n_rows = cut.count("\n") - 1 + (not cut.endswith("\n"))
    result = run_cli(fmriprep_dataset, output, "group", "--no-reports", "--incremental", "--nprocs", nprocs,
                     "--qcfc-unit", "run")
    assert result.returncode == 1, result.stderr
    assert f"{broken}: cannot read: {n_rows} rows of values for {n_regions} regions (truncated" in result.stderr
    mean = json.loads((output / "group" / f"{PREFIX}_stat-correlation_desc-simple_relmat.json").read_text())
    assert broken.name not in mean["Runs"] and len(mean["Runs"]) > CHUNK_RUNS
    # the failed run is not in the group cache: repaired, it is read by the next incremental run
    write_perturbed(next((output / "sub-01").rglob("*_stat-correlation_desc-simple_relmat.tsv")), broken,
                    np.random.default_rng(1))
    result = run_group(fmriprep_dataset, output, "--incremental", "--nprocs", nprocs, "--qcfc-unit", "run")
    assert f"{len(mean['Runs'])} run(s) from the group cache, 0 to take away, 1 to read" in result.stderr


def test_incremental_by_participant_takes_whole_participants(fmriprep_dataset, participant_outputs, tmp_path):
    """With --qcfc-unit participant (the default) a participant's runs leave and join the cache together."""
    output = tmp_path / "out"
    shutil.copytree(participant_outputs, output)
    rng = np.random.default_rng(10)
    cache = output / "group" / ".incremental" / f"{PREFIX}_stat-correlation_desc-simple_sums.npz"

    def incremental():
        result = run_group(fmriprep_dataset, output, "--incremental", "--nprocs", "2")
        ours = group_files(output)
        run_group(fmriprep_dataset, output)
        assert_same_results(ours, group_files(output))
        return result.stderr

    run_group(fmriprep_dataset, output, "--incremental", "--qcfc-unit", "run")
    log = incremental()
    assert "from the group cache" not in log  # the cache of another unit is not reused
    about = json.loads(str(np.load(cache)["about"]))
    assert about["unit"] == "participant"
    n_runs = len(about["runs"])

    clone_participant(output, "01", "300", rng)
    log = incremental()
    assert f"{n_runs} run(s) from the group cache, 0 to take away, 3 to read" in log
    n_runs += 3

    set_mean_fd(output, "104", 0.321)
    log = incremental()
    assert f"{n_runs - 3} run(s) from the group cache, 3 to take away, 3 to read" in log
