"""The clean inputs every fault-injection case starts from, and a NIfTI writer with full control.

One clean tree is built per test session (:func:`build_clean_inputs`); each case
gets a copy (:func:`copy_inputs`) and mutates one file of it. The tree holds:

* ``fmriprep/``: three runs (``sub-01`` runs 1 and 2, ``sub-02`` run 1) of the
  small test dataset (8 mm voxels, 48 volumes). The victim run (``sub-01``
  run 1) has BOLD values on a grid of multiples of 8 between 0 and 1904, so
  that every dtype variant (uint8 with ``scl_slope`` 8, int8 with an
  intercept, int16/uint16/int32 with and without scaling, float32/float64)
  holds *exactly* the same values after scaling: their results must equal the
  clean run's to floating-point rounding.
* ``job/``: the job-level inputs: a labels atlas (int16) and its table, a
  probabilistic atlas (4 maps, float32 values k/100), a coordinate table for
  ``--spheres``, a BIDS filter file and a strategy file (``mine``, based on the
  ``compcor`` preset, so that the confounds JSON sidecar is read).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from regionseries.demo import (
    DatasetSpec,
    RunSpec,
    parcel_seeds,
    write_demo_atlas,
    write_fmriprep_dataset,
)

#: Voxel size of the BOLD runs (mm), as tests/conftest.py's small dataset.
VOXEL_SIZE = 8.0
N_VOLUMES = 48
SPACE = "MNI152NLin2009cAsym"
#: Step of the victim BOLD's value grid: uint8 * 8 reaches 2040, above the data's maximum.
BOLD_STEP = 8.0
#: Sphere radius (mm): with 8 mm voxels a 5 mm sphere holds a single voxel.
SPHERE_RADIUS = 12.0


@dataclass(frozen=True)
class RunFiles:
    """The fMRIPrep files of one run, relative to the dataset root."""

    stem: str
    folder: str

    @property
    def bold(self) -> str:
        return f"{self.folder}/{self.stem}_space-{SPACE}_desc-preproc_bold.nii.gz"

    @property
    def mask(self) -> str:
        return f"{self.folder}/{self.stem}_space-{SPACE}_desc-brain_mask.nii.gz"

    @property
    def confounds_tsv(self) -> str:
        return f"{self.folder}/{self.stem}_desc-confounds_timeseries.tsv"

    @property
    def confounds_json(self) -> str:
        return f"{self.folder}/{self.stem}_desc-confounds_timeseries.json"

    @property
    def output_prefix(self) -> str:
        """Prefix of the run's output files (relative to OUTPUT_DIR)."""
        return f"{self.folder}/{self.stem}_space-{SPACE}_"


VICTIM = RunFiles("sub-01_task-rest_run-1", "sub-01/func")
OTHERS = (RunFiles("sub-01_task-rest_run-2", "sub-01/func"), RunFiles("sub-02_task-rest_run-1", "sub-02/func"))
RUNS = (VICTIM, *OTHERS)

#: The job-level input files (relative to the inputs root).
LABELS_IMAGE = "job/labels.nii.gz"
LABELS_TABLE = "job/labels.tsv"
MAPS_IMAGE = "job/maps.nii.gz"
COORDINATES = "job/coords.tsv"
FILTER_FILE = "job/filter.json"
STRATEGY_FILE = "job/mine.json"


def dataset_spec() -> DatasetSpec:
    runs = [
        RunSpec("01", None, "rest", "1", motion_scale=0.5),
        RunSpec("01", None, "rest", "2", int16=True, motion_scale=1.0),
        RunSpec("02", None, "rest", "1", motion_scale=0.8),
    ]
    return DatasetSpec(runs=runs, n_volumes=N_VOLUMES, voxel_size=VOXEL_SIZE, seed=3)


def write_nifti(path: Path, stored: np.ndarray, affine: np.ndarray, *, slope: float = np.nan,
                inter: float = np.nan, repetition_time: float | None = None) -> None:
    """Write ``stored`` as is (its dtype on disk) with the given scaling fields.

    Replaces ``path`` (unlinks it first, so that a hard link to the clean
    tree is never written through).
    """
    img = nib.Nifti1Image(stored, affine)
    img.header.set_xyzt_units("mm", "sec")
    if repetition_time is not None:
        img.header["pixdim"][4] = repetition_time
    img.header.set_slope_inter(slope, inter)
    replace_with(path, None)
    img.to_filename(str(path))


def replace_with(path: Path, content: bytes | None) -> None:
    """Unlink ``path`` (breaking a hard link to the clean tree), then write ``content`` if given."""
    if path.is_symlink() or path.exists():
        path.unlink()
    if content is not None:
        path.write_bytes(content)


def _maps_from_labels(labels: np.ndarray, affine: np.ndarray, regions: tuple[int, ...]) -> np.ndarray:
    """Smooth maps centred on ``regions`` of a labels image, quantised to k/100 (float32)."""
    ijk = np.indices(labels.shape).reshape(3, -1).T
    xyz = nib.affines.apply_affine(affine, ijk)
    maps = []
    for region in regions:
        centre = xyz[(labels == region).ravel()].mean(axis=0)
        weight = np.exp(-((xyz - centre) ** 2).sum(axis=1) / (2 * 12.0 ** 2))
        weight[weight < 0.05] = 0
        maps.append(np.round(weight * 100).reshape(labels.shape) / 100)
    return np.stack(maps, axis=-1).astype(np.float32)


def build_clean_inputs(root: Path) -> Path:
    """Write the clean inputs below ``root`` (see the module docstring); returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    dataset = root / "fmriprep"
    write_fmriprep_dataset(dataset, dataset_spec())
    victim = nib.load(str(dataset / VICTIM.bold))
    on_grid = np.round(victim.get_fdata() / BOLD_STEP) * BOLD_STEP
    write_nifti(dataset / VICTIM.bold, on_grid.astype(np.float32), victim.affine,
                repetition_time=float(victim.header["pixdim"][4]))

    job = root / "job"
    image, table = write_demo_atlas(root / "atlas-source", voxel_size=6.0, space=SPACE)
    labels_img = nib.load(str(image))
    labels = np.asanyarray(labels_img.dataobj).astype(np.int16)
    job.mkdir()
    write_nifti(root / LABELS_IMAGE, labels, labels_img.affine)
    shutil.copyfile(table, root / LABELS_TABLE)
    shutil.rmtree(root / "atlas-source")
    write_nifti(root / MAPS_IMAGE, _maps_from_labels(labels, labels_img.affine, (2, 5, 11, 17)), labels_img.affine)

    seeds = parcel_seeds()[:4]
    pd.DataFrame({"x": seeds[:, 0].round(1), "y": seeds[:, 1].round(1), "z": seeds[:, 2].round(1),
                  "name": ["alpha", "beta", "gamma", "delta"]}).to_csv(root / COORDINATES, sep="\t", index=False)
    (root / FILTER_FILE).write_text(json.dumps({"bold": {"task": "rest", "acquisition": None}}, indent=2) + "\n")
    (root / STRATEGY_FILE).write_text(json.dumps({"name": "mine", "base": "compcor",
                                                  "description": "compcor preset, read from a file"}, indent=2) + "\n")
    return root


def copy_inputs(clean: Path, destination: Path) -> Path:
    """Copy the clean inputs to ``destination`` with hard links (mutations replace files, never write into them)."""
    shutil.copytree(clean, destination, copy_function=os.link)
    return destination


def job_arguments(inputs: Path, output: Path) -> list[str]:
    """The command line every case runs (all job-level inputs in play, no reports to save time)."""
    return [
        str(inputs / "fmriprep"), str(output), "participant",
        "--atlas-file", f"labels={inputs / LABELS_IMAGE}:{inputs / LABELS_TABLE}", f"maps={inputs / MAPS_IMAGE}",
        "--spheres", f"coords={inputs / COORDINATES}", "--radius", str(SPHERE_RADIUS),
        "--bids-filter-file", str(inputs / FILTER_FILE),
        "--strategy", "simple", str(inputs / STRATEGY_FILE),
        "--no-reports",
    ]


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=1)
