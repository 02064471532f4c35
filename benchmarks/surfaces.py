"""Cost of surface runs: the command line on CIFTI 91k and GIFTI fsaverage5 runs against their read time.

Builds (once, in ``--data-dir``) fake fMRIPrep runs and atlases:

* CIFTI: fMRIPrep's 91k grayordinate counts (29,696 + 29,716 cortical vertices
  of 32,492, 31,870 subcortical voxels on the 2 mm MNI grid), float32, of each
  length of ``--lengths`` (default 400 volumes: 147 MB; 1,200 volumes as an
  HCP-style run: 440 MB), with a 400-parcel ``dlabel.nii`` on the same grayordinates;
* GIFTI: fsaverage5 pairs (10,242 vertices per hemisphere, one base64-gzip data
  array per volume, as fMRIPrep writes them) of each length of
  ``--gifti-lengths`` (default 400), with the demo's ``label.gii`` pair.

Then measures in one invocation, ``--repeats`` times each, medians printed:

* ``read``: the floor of any reader. CIFTI: ``nibabel.load`` (its XML header)
  and every byte of the file read sequentially; GIFTI: ``nibabel.load`` of
  both hemispheres (XML parse, base64 and gzip decoding of every volume);
* ``run``: the participant level's own time for the run (the ``(N s)`` of
  its progress line: read, extraction, cleaning, TSV and CIFTI outputs);
* ``command``: the whole ``regionseries ... participant`` command
  (start-up, indexing, atlas, the run), without reports;
* ``peak RSS``: the command's peak resident memory (``VmHWM`` of its
  process): flat in the number of volumes when runs are streamed.

Usage: ``python benchmarks/surfaces.py [--data-dir DIR] [--repeats N] [--lengths 100 400 1200]
[--gifti-lengths 100 400] [--json FILE]``. :func:`measure` is what
``run_benchmark.py`` calls for its surface section.
The load average is printed with the numbers: on a busy machine compare ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np

from regionseries.demo import (
    DatasetSpec,
    RunSpec,
    write_fmriprep_dataset,
    write_surface_atlases,
)

N_PARCELS = 400
REPETITION_TIME = 0.8


def build_cifti(root: Path, n_volumes: int) -> tuple[Path, Path]:
    """The fake fMRIPrep dataset (confounds from the demo generator), its 91k run and the atlas."""
    bold = root / "fmriprep" / "sub-01" / "func" / "sub-01_task-rest_run-1_space-fsLR_den-91k_bold.dtseries.nii"
    atlas = root / "p400.dlabel.nii"
    if bold.exists() and atlas.exists():
        return bold, atlas
    spec = DatasetSpec(runs=[RunSpec("01", None, "rest", "1", ("fsLR:den-91k",))], n_volumes=n_volumes,
                       voxel_size=8.0, repetition_time=REPETITION_TIME)
    write_fmriprep_dataset(root / "fmriprep", spec)
    rng = np.random.default_rng(0)
    left = np.ones(32492, bool)
    left[rng.choice(32492, 32492 - 29696, replace=False)] = False
    right = np.ones(32492, bool)
    right[rng.choice(32492, 32492 - 29716, replace=False)] = False
    volume = np.zeros((91, 109, 91), bool)
    volume.reshape(-1)[rng.choice(volume.size, 31870, replace=False)] = True
    affine = np.array([[-2, 0, 0, 90], [0, 2, 0, -126], [0, 0, 2, -72], [0, 0, 0, 1.0]])
    models = (nib.cifti2.BrainModelAxis.from_mask(left, name="CortexLeft")
              + nib.cifti2.BrainModelAxis.from_mask(right, name="CortexRight")
              + nib.cifti2.BrainModelAxis.from_mask(volume, name="thalamus_left", affine=affine))
    data = rng.normal(1000, 10, (n_volumes, len(models))).astype(np.float32)
    img = nib.Cifti2Image(data, header=(nib.cifti2.SeriesAxis(0, REPETITION_TIME, n_volumes, unit="SECOND"), models))
    img.nifti_header.set_intent("ConnDenseSeries")
    img.to_filename(str(bold))
    labels = rng.integers(1, N_PARCELS + 1, len(models)).astype(np.float32)
    table = {0: ("???", (1.0, 1.0, 1.0, 0.0))} | {k: (f"P{k}", (0.5, 0.5, 0.5, 1.0)) for k in range(1, N_PARCELS + 1)}
    label_img = nib.Cifti2Image(labels[None], header=(nib.cifti2.LabelAxis(["parcels"], [table]), models))
    label_img.nifti_header.set_intent("ConnDenseLabel")
    label_img.to_filename(str(atlas))
    return bold, atlas


def build_gifti(root: Path, n_volumes: int) -> tuple[list[Path], list[Path]]:
    """A fake fMRIPrep dataset with one fsaverage5 GIFTI pair, and the demo's label.gii pair."""
    func = root / "fmriprep" / "sub-01" / "func"
    bold = [func / f"sub-01_task-rest_run-1_hemi-{hemi}_space-fsaverage5_bold.func.gii" for hemi in "LR"]
    atlases = [root / "atlas" / f"demo_hemi-{hemi}.label.gii" for hemi in "LR"]
    if all(path.exists() for path in bold + atlases):
        return bold, atlases
    spec = DatasetSpec(runs=[RunSpec("01", None, "rest", "1", ("fsaverage5",))], n_volumes=n_volumes,
                       voxel_size=8.0, repetition_time=REPETITION_TIME)
    write_fmriprep_dataset(root / "fmriprep", spec)
    written = write_surface_atlases(root / "atlas", spec.voxel_size)
    return bold, [written["label_L"], written["label_R"]]


#: Runs the command line in this process and prints its peak resident memory at exit: ``VmHWM``
#: belongs to the process image, while ``ru_maxrss`` of a child also counts its parent's memory
#: at the fork (Linux keeps the larger of the two across ``exec``).
_LAUNCHER = """
import atexit, runpy, sys
def peak():
    with open("/proc/self/status") as status:
        kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
    print(f"peak-rss-kb {kb}", file=sys.stderr)
atexit.register(peak)
sys.argv = ["regionseries", *sys.argv[1:]]
runpy.run_module("regionseries", run_name="__main__")
"""


def _command(arguments: list[str]) -> tuple[float, float, float]:
    """Run the command line; return (its wall time s, the run's own time s, its peak RSS MiB)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _LAUNCHER, *arguments], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise RuntimeError(f"regionseries {' '.join(arguments)} failed:\n{output}")
    run = float(re.search(r"done \(([\d.]+) s\)", output).group(1))
    return seconds, run, int(re.search(r"peak-rss-kb (\d+)", output).group(1)) / 1024


def _measure_one(kind: str, n_volumes: int, root: Path, repeats: int) -> dict:
    if kind == "cifti":
        bold, atlas = build_cifti(root, n_volumes)
        options = ["--space", "fsLR:den-91k", "--atlas-file", f"P{N_PARCELS}={atlas}"]

        def read():
            nib.load(bold)  # the CIFTI XML header
            block = bytearray(8 * 2**20)
            with open(bold, "rb", buffering=0) as stream:  # every byte, sequentially
                while stream.readinto(block):
                    pass
        size = bold.stat().st_size
    else:
        bold, atlases = build_gifti(root, n_volumes)
        options = ["--space", "fsaverage5", "--atlas-file", f"Demo={atlases[0]},{atlases[1]}"]

        def read():
            for path in bold:
                [darray.data for darray in nib.load(path).darrays]
        size = sum(path.stat().st_size for path in bold)
    reads, runs, commands, peaks = [], [], [], []
    for _ in range(repeats):
        started = time.perf_counter()
        read()
        reads.append(time.perf_counter() - started)
        seconds, run, peak = _command([str(root / "fmriprep"), str(root / "out"), "participant", *options,
                                       "--strategy", "simple", "--no-reports", "--overwrite"])
        commands.append(seconds)
        runs.append(run)
        peaks.append(peak)
    return {"kind": kind, "n_volumes": n_volumes, "file_mb": size / 1e6, "read_s": statistics.median(reads),
            "run_s": statistics.median(runs), "command_s": statistics.median(commands),
            "peak_rss_mib": statistics.median(peaks)}


def measure(data_dir: Path, lengths=(400,), gifti_lengths=(400,), repeats: int = 3) -> list[dict]:
    """Every run of ``lengths`` (CIFTI 91k) and ``gifti_lengths`` (fsaverage5 pair), measured."""
    rows = []
    for kind, kind_lengths in (("cifti", lengths), ("gifti", gifti_lengths)):
        for n_volumes in kind_lengths:
            folder = data_dir / (f"91k-T{n_volumes}" if kind == "cifti" else f"fsaverage5-T{n_volumes}")
            rows.append(_measure_one(kind, n_volumes, folder, repeats))
            shutil.rmtree(folder / "out", ignore_errors=True)
    return rows


def describe(row: dict) -> str:
    name = f"91k x {row['n_volumes']}" if row["kind"] == "cifti" else f"fsaverage5 pair x {row['n_volumes']}"
    return (f"{name} volumes ({row['file_mb']:.0f} MB): read {row['read_s']:.2f} s, run {row['run_s']:.2f} s "
            f"({row['run_s'] / row['read_s']:.1f} x read), command {row['command_s']:.2f} s, "
            f"peak RSS {row['peak_rss_mib']:.0f} MiB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "regionseries-bench-surfaces")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lengths", type=int, nargs="*", default=[400], help="Volumes of the CIFTI 91k runs.")
    parser.add_argument("--gifti-lengths", type=int, nargs="*", default=[400],
                        help="Volumes of the GIFTI fsaverage5 runs.")
    parser.add_argument("--json", type=Path, help="Also write the rows to this JSON file.")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    rows = measure(args.data_dir, args.lengths, args.gifti_lengths, args.repeats)
    for row in rows:
        print(describe(row))
    print(f"{N_PARCELS} parcels (CIFTI), 20 (GIFTI), strategy simple, medians of {args.repeats}; "
          f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
