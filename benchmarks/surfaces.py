"""Cost of a CIFTI run: the command line on a 91k x 400-volume run against its read time.

Builds (once, in ``--data-dir``) a fake fMRIPrep run with fMRIPrep's 91k
grayordinate counts (29,696 + 29,716 cortical vertices of 32,492, 31,870
subcortical voxels on the 2 mm MNI grid; 400 volumes, float32, 147 MB) and a
400-parcel ``dlabel.nii`` on the same grayordinates, then measures in one
invocation, ``--repeats`` times each, medians printed:

* ``read``: ``nibabel.load`` and the data as an array (its XML header and
  147 MB): the floor of any reader;
* ``run``: the participant level's own time for the run (the ``(N s)`` of
  its progress line: read, extraction, cleaning, TSV and CIFTI outputs);
* ``command``: the whole ``regionseries ... participant`` command
  (start-up, indexing, atlas, the run), without reports.

Usage: ``python benchmarks/surfaces.py [--data-dir DIR] [--repeats N]``.
The load average is printed with the numbers: on a busy machine compare ratios.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np

from regionseries.demo import DatasetSpec, RunSpec, write_fmriprep_dataset

N_VOLUMES = 400
N_PARCELS = 400


def build(root: Path) -> tuple[Path, Path]:
    """The fake fMRIPrep dataset (confounds from the demo generator) and the atlas."""
    bold = root / "fmriprep" / "sub-01" / "func" / "sub-01_task-rest_run-1_space-fsLR_den-91k_bold.dtseries.nii"
    atlas = root / "p400.dlabel.nii"
    if bold.exists() and atlas.exists():
        return bold, atlas
    spec = DatasetSpec(runs=[RunSpec("01", None, "rest", "1", ("fsLR:den-91k",))], n_volumes=N_VOLUMES,
                       voxel_size=8.0, repetition_time=0.8)
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
    data = rng.normal(1000, 10, (N_VOLUMES, len(models))).astype(np.float32)
    img = nib.Cifti2Image(data, header=(nib.cifti2.SeriesAxis(0, spec.repetition_time, N_VOLUMES, unit="SECOND"),
                                        models))
    img.nifti_header.set_intent("ConnDenseSeries")
    img.to_filename(str(bold))
    labels = rng.integers(1, N_PARCELS + 1, len(models)).astype(np.float32)
    table = {0: ("???", (1.0, 1.0, 1.0, 0.0))} | {k: (f"P{k}", (0.5, 0.5, 0.5, 1.0)) for k in range(1, N_PARCELS + 1)}
    label_img = nib.Cifti2Image(labels[None], header=(nib.cifti2.LabelAxis(["parcels"], [table]), models))
    label_img.nifti_header.set_intent("ConnDenseLabel")
    label_img.to_filename(str(atlas))
    return bold, atlas


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "regionseries-bench-91k")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    bold, atlas = build(args.data_dir)
    reads, runs, commands = [], [], []
    for _ in range(args.repeats):
        started = time.perf_counter()
        np.asarray(nib.load(bold).dataobj)
        reads.append(time.perf_counter() - started)
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "regionseries", str(args.data_dir / "fmriprep"),
                               str(args.data_dir / "out"), "participant", "--space", "fsLR:den-91k",
                               "--atlas-file", f"P{N_PARCELS}={atlas}", "--strategy", "simple", "--no-reports",
                               "--overwrite"], capture_output=True, text=True)
        commands.append(time.perf_counter() - started)
        if done.returncode != 0:
            print(done.stdout + done.stderr)
            return 1
        runs.append(float(re.search(r"done \(([\d.]+) s\)", done.stdout + done.stderr).group(1)))
    read, run, command = (statistics.median(values) for values in (reads, runs, commands))
    print(f"91k x {N_VOLUMES} volumes, {N_PARCELS} parcels, strategy simple: read {read:.2f} s, run {run:.2f} s "
          f"({run / read:.1f} x read), command {command:.2f} s; load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
