"""A bad file takes down its own run only (docs/usage.md, "What happens when a file is bad").

One participant job on a dataset where most runs have one broken file each
(BOLD, brain mask, confounds, BOLD sidecar) and two runs are intact: the job
exits 1, the intact runs are complete, and every broken run is FAILED on the
console and in its ``*_qc.json`` with a reason naming the file and the
problem.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from regionseries.demo import DatasetSpec, RunSpec, write_fmriprep_dataset

from ..conftest import TEST_N_VOLUMES, TEST_VOXEL_SIZE, leftover_files, run_cli

SPACE = "MNI152NLin2009cAsym"


def _bold(root: Path, run: str) -> Path:
    return root / "sub-01" / "func" / f"sub-01_task-rest_run-{run}_space-{SPACE}_desc-preproc_bold.nii.gz"


def _companion(root: Path, run: str, suffix: str) -> Path:
    return _bold(root, run).with_name(_bold(root, run).name.replace("desc-preproc_bold.nii.gz", suffix))


def _truncate(path: Path) -> None:
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])


def _break_empty(root):
    _bold(root, "2").write_bytes(b"")
    return _bold(root, "2"), "empty file (0 bytes)"


def _break_annexed(root):
    """As a DataLad dataset looks before `datalad get`: a symlink to an absent annex object."""
    bold = _bold(root, "3")
    bold.unlink()
    (root / ".git" / "annex" / "objects").mkdir(parents=True)
    bold.symlink_to("../../.git/annex/objects/Gk/3w/MD5E-s1234--5a.nii.gz/MD5E-s1234--5a.nii.gz")
    return bold, ("annexed file whose content is not present (a git-annex/DataLad placeholder): "
                  f"run `datalad get {bold}`")


def _break_truncated(root):
    _truncate(_bold(root, "4"))
    return _bold(root, "4"), "truncated or corrupt"


def _break_3d(root):
    bold = _bold(root, "5")
    img = nib.load(bold)
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj[..., 0]), img.affine, img.header), bold)
    shape = " x ".join(str(size) for size in img.shape[:3])
    return bold, f"has 3 dimensions (shape {shape}); a BOLD series must be 4D"


def _break_not_nifti(root):
    bold = _bold(root, "6")
    bold.write_bytes(gzip.compress(b"onset\tduration\n0\t30\n"))
    return bold, "not a NIfTI image (no NIfTI-1 or NIfTI-2 header at the start of the file)"


def _break_not_gzip(root):
    bold = _bold(root, "7")
    bold.write_text("<html><body>Proxy error</body></html>\n")
    return bold, "not gzip-compressed, although its name ends in .gz"


def _break_mask(root):
    mask = _companion(root, "8", "desc-brain_mask.nii.gz")
    _truncate(mask)
    return mask, "truncated or corrupt"


def _break_confounds_rows(root):
    confounds = root / "sub-01" / "func" / "sub-01_task-rest_run-9_desc-confounds_timeseries.tsv"
    lines = confounds.read_text().splitlines(keepends=True)
    confounds.write_text("".join(lines[:-5]))
    return confounds, f"the confounds file has {TEST_N_VOLUMES - 5} rows but the BOLD run has {TEST_N_VOLUMES} volumes"


def _break_sidecar(root):
    sidecar = _companion(root, "10", "desc-preproc_bold.json")
    sidecar.write_text(sidecar.read_text().rstrip().rstrip("}") + ',\n"StartTime": }')
    return sidecar, "not valid JSON (line"


BREAKS = {
    "empty BOLD": ("2", _break_empty),
    "annexed BOLD not fetched": ("3", _break_annexed),
    "truncated gzip BOLD": ("4", _break_truncated),
    "3D BOLD": ("5", _break_3d),
    "BOLD not a NIfTI": ("6", _break_not_nifti),
    "BOLD not gzip": ("7", _break_not_gzip),
    "truncated brain mask": ("8", _break_mask),
    "confounds rows differ from volumes": ("9", _break_confounds_rows),
    "BOLD sidecar not JSON": ("10", _break_sidecar),
}
INTACT_RUNS = ("1", "11")
STRATEGIES = ("simple", "none")


@pytest.fixture(scope="module")
def bad_files_job(tmp_path_factory, demo_atlas):
    """The dataset with every break of BREAKS, and the result of one participant job on it."""
    root = tmp_path_factory.mktemp("bad-files") / "fmriprep"
    runs = [RunSpec("01", None, "rest", str(k)) for k in range(1, 12)]
    write_fmriprep_dataset(root, DatasetSpec(runs=runs, n_volumes=TEST_N_VOLUMES, voxel_size=TEST_VOXEL_SIZE, seed=5))
    broken = {name: make(root) for name, (_, make) in BREAKS.items()}
    output = root.parent / "out"
    image, table = demo_atlas
    result = run_cli(root, output, "participant", "--atlas-file", f"Demo={image}:{table}",
                     "--strategy", *STRATEGIES, "-w", root.parent / "work")
    return result, output, broken


def test_the_job_exits_1_without_a_traceback(bad_files_job):
    result, _, _ = bad_files_job
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert f"{len(INTACT_RUNS)} run(s) processed, 0 skipped" in result.stderr
    assert f"{len(BREAKS)} with failures" in result.stderr


@pytest.mark.parametrize("run", INTACT_RUNS)
def test_intact_runs_are_complete(bad_files_job, run):
    _, output, _ = bad_files_job
    func = output / "sub-01" / "func"
    for strategy in STRATEGIES:
        stem = f"sub-01_task-rest_run-{run}_space-{SPACE}"
        qc = json.loads((func / f"{stem}_desc-{strategy}_qc.json").read_text())
        assert qc["Status"] == "done"
        for name in (f"{stem}_atlas-Demo_desc-{strategy}_timeseries.tsv",
                     f"{stem}_atlas-Demo_stat-correlation_desc-{strategy}_relmat.tsv"):
            assert (func / name).is_file() and (func / name).with_suffix(".json").is_file()
    assert (output / "sub-01.html").is_file()


def test_the_report_lists_the_failed_runs_with_their_reason(bad_files_job):
    _, output, broken = bad_files_job
    page = (output / "sub-01.html").read_text(encoding="utf-8")
    for case in ("empty BOLD", "3D BOLD", "truncated brain mask"):
        assert broken[case][1] in page


@pytest.mark.parametrize("case", BREAKS)
def test_a_broken_run_fails_alone_with_the_file_and_the_problem(bad_files_job, case):
    result, output, broken = bad_files_job
    run, _ = BREAKS[case]
    bad_file, problem = broken[case]
    bold_name = _bold(output, run).name
    console_line = next(line for line in result.stderr.splitlines() if line.startswith("[") and bold_name in line)
    assert ": FAILED: " in console_line
    assert str(bad_file) in console_line and problem in console_line
    stem = f"sub-01_task-rest_run-{run}_space-{SPACE}"
    func = output / "sub-01" / "func"
    for strategy in STRATEGIES:
        qc = json.loads((func / f"{stem}_desc-{strategy}_qc.json").read_text())
        assert qc["Status"] == "failed"
        assert str(bad_file) in qc["Reason"] and problem in qc["Reason"]
    assert not list(func.glob(f"{stem}_*_timeseries.tsv")), "a failed run leaves no time series"


def test_no_partial_files(bad_files_job):
    _, output, _ = bad_files_job
    assert not leftover_files(output)
