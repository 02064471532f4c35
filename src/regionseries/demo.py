"""A small, realistic fMRIPrep-like dataset, and the demo that runs the app on it.

``python -m regionseries.demo OUTDIR`` (what ``make demo`` runs):

1. writes ``OUTDIR/fmriprep/``: fMRIPrep-style derivatives of a few
   participants (sessions, runs, two output spaces, int16 and float32 BOLD,
   brain masks, boldrefs, confounds tables with fMRIPrep's column names and
   JSON sidecar), and ``OUTDIR/atlas/``: a labels atlas with its label table;
2. runs ``regionseries OUTDIR/fmriprep OUTDIR/regionseries participant`` with
   a built-in sphere set, the labels atlas and two confound strategies, then
   the group level, through the real command line;
3. prints where the outputs, reports and logs are.

The generator functions are public so tests build their datasets with them.

The synthetic BOLD has a brain (a rounded box in MNI coordinates, large
enough to hold the 5 mm spheres of every built-in coordinate set: Power
2011, Dosenbach 2010, Seitzman 2018) made of parcels; parcels belong to a
few networks that share a slow signal, so connectivity has structure. Each
run has head motion (a random walk whose size varies between runs), a motion
artefact proportional to framewise displacement (so QC-FC is non-zero), slow
drifts, non-steady-state volumes at the start, and white-matter/CSF
compartments from which the confounds (global signal, WM, CSF,
aCompCor/tCompCor, DVARS) are computed as fMRIPrep would.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import nibabel as nib
import numpy as np
import pandas as pd

#: Inner ellipsoid in MNI space, centre and semi-axes (mm): where parcel
#: seeds, white matter and the motion artefact's gradient are placed.
BRAIN_CENTRE_MM = np.array([0.0, -18.0, 10.0])
BRAIN_RADII_MM = np.array([68.0, 86.0, 62.0])

#: The brain mask: a superellipsoid |x/a|^4 + |y/b|^4 + |z/c|^4 <= 1 (mm), a
#: rounded box that holds every coordinate of the built-in sphere sets at least
#: 5 mm (the default sphere radius) inside its surface, as the MNI brain does
#: (an ellipsoid leaves 44 Power 2011 spheres outside). Checked by
#: tests/demo/test_demo_brain.py.
BRAIN_MASK_CENTRE_MM = np.array([0.0, -16.0, 12.0])
BRAIN_MASK_SEMI_AXES_MM = np.array([76.0, 92.0, 72.0])
BRAIN_MASK_EXPONENT = 4.0

#: Bounding box of the synthetic field of view (mm), per template: the brain
#: mask and a margin of at least 4 mm.
TEMPLATE_ORIGINS_MM = {
    "MNI152NLin2009cAsym": np.array([-80.0, -112.0, -64.0]),
    "MNI152NLin6Asym": np.array([-82.0, -114.0, -66.0]),
}
FIELD_OF_VIEW_MM = np.array([160.0, 192.0, 152.0])

#: Head radius used for framewise displacement (Power et al. 2012), mm.
HEAD_RADIUS_MM = 50.0


@dataclass
class RunSpec:
    """One run of the synthetic dataset.

    Attributes
    ----------
    subject, session, task, run : str or None
        BIDS labels (session and run may be None).
    spaces : tuple of str
        Output spaces written for this run (``SPACE`` or ``SPACE:res-R``), and
        the surface spaces of :data:`SURFACE_SPACES`: ``fsLR:den-91k`` writes a
        CIFTI ``*_space-fsLR_den-91k_bold.dtseries.nii``, ``fsaverage5`` a pair
        ``*_hemi-L/R_space-fsaverage5_bold.func.gii`` (:func:`write_surface_run`).
    int16 : bool
        Store the BOLD as scaled int16 (as fMRIPrep may) instead of float32.
    motion_scale : float
        Size of the head-motion random walk (1 = typical, 3 = high motion).
    with_confounds : bool
        Write the confounds table (False simulates a broken fMRIPrep output).
    """

    subject: str
    session: str | None
    task: str
    run: str | None
    spaces: tuple[str, ...] = ("MNI152NLin2009cAsym",)
    int16: bool = False
    motion_scale: float = 1.0
    with_confounds: bool = True


@dataclass
class DatasetSpec:
    """Size and content of a synthetic fMRIPrep dataset.

    Attributes
    ----------
    runs : list of RunSpec
    n_volumes : int
        Volumes per run.
    repetition_time : float
        Seconds.
    voxel_size : float
        Isotropic voxel size of the BOLD, mm.
    n_dummy : int
        Non-steady-state volumes at the start of each run.
    start_time : float
        fMRIPrep's StartTime (s) written in the BOLD sidecars.
    seed : int
        Random seed (the dataset is reproducible).
    """

    runs: list[RunSpec] = field(default_factory=list)
    n_volumes: int = 60
    repetition_time: float = 2.0
    voxel_size: float = 4.0
    n_dummy: int = 2
    start_time: float = 0.96
    seed: int = 0


def demo_dataset_spec() -> DatasetSpec:
    """The dataset of ``make demo``: 3 participants, sessions, runs, two spaces."""
    runs = [
        RunSpec("01", "1", "rest", "1", ("MNI152NLin2009cAsym", "MNI152NLin6Asym:res-2"), motion_scale=0.6),
        RunSpec("01", "1", "rest", "2", motion_scale=1.0, int16=True),
        RunSpec("01", "2", "rest", "1", motion_scale=0.8),
        RunSpec("01", "2", "rest", "2", motion_scale=2.5, int16=True),
        RunSpec("02", None, "rest", "1", motion_scale=1.5),
        RunSpec("02", None, "rest", "2", motion_scale=0.5, int16=True),
        RunSpec("03", None, "rest", None, ("MNI152NLin2009cAsym", "MNI152NLin6Asym:res-2"), motion_scale=4.0),
    ]
    return DatasetSpec(runs=runs, n_volumes=80, voxel_size=4.0)


# --------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------

def template_grid(space: str, voxel_size: float) -> tuple[tuple[int, int, int], np.ndarray]:
    """Shape and affine of the synthetic grid of a template space.

    Parameters
    ----------
    space : str
        Template name (its origin differs slightly between templates, as the
        real MNI152 grids do).
    voxel_size : float
        Isotropic voxel size, mm.
    """
    origin = TEMPLATE_ORIGINS_MM.get(space, TEMPLATE_ORIGINS_MM["MNI152NLin2009cAsym"])
    shape = tuple(int(np.ceil(extent / voxel_size)) + 1 for extent in FIELD_OF_VIEW_MM)
    affine = np.diag([voxel_size, voxel_size, voxel_size, 1.0])
    affine[:3, 3] = origin
    return shape, affine


def voxel_coordinates(shape: Sequence[int], affine: np.ndarray) -> np.ndarray:
    """World coordinates (mm) of every voxel centre, shape ``shape + (3,)``."""
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1)
    return ijk @ affine[:3, :3].T + affine[:3, 3]


def brain_mask_from_coordinates(xyz: np.ndarray) -> np.ndarray:
    """Voxels inside the brain (the superellipsoid of ``BRAIN_MASK_*``); ``xyz`` in mm."""
    scaled = np.abs(xyz - BRAIN_MASK_CENTRE_MM) / BRAIN_MASK_SEMI_AXES_MM
    return (scaled**BRAIN_MASK_EXPONENT).sum(axis=-1) <= 1.0


def parcel_seeds(n_per_hemisphere: int = 10, seed: int = 7) -> np.ndarray:
    """Left/right-symmetric parcel centres inside the brain (mm), left first."""
    rng = np.random.default_rng(seed)
    left = []
    while len(left) < n_per_hemisphere:
        point = BRAIN_CENTRE_MM + rng.uniform(-1, 1, 3) * BRAIN_RADII_MM * 0.8
        point[0] = -abs(point[0]) - 8.0
        if ((point - BRAIN_CENTRE_MM) / BRAIN_RADII_MM) @ ((point - BRAIN_CENTRE_MM) / BRAIN_RADII_MM) < 0.7:
            left.append(point)
    left = np.array(left)
    right = left * np.array([-1.0, 1.0, 1.0])
    return np.vstack([left, right])


#: Networks of the parcels (symmetric: parcel i in each hemisphere).
NETWORK_NAMES = ("Visual", "SomMot", "DorsAttn", "VentAttn", "Default")


def parcel_networks(n_per_hemisphere: int) -> np.ndarray:
    """Network index of each parcel (left then right)."""
    half = np.arange(n_per_hemisphere) % len(NETWORK_NAMES)
    return np.concatenate([half, half])


def parcel_names(n_per_hemisphere: int) -> list[str]:
    """Region names of the demo atlas, e.g. ``LH_Default_1``."""
    networks = parcel_networks(n_per_hemisphere)
    names = []
    counters: dict[tuple[str, int], int] = {}
    for i, network in enumerate(networks):
        hemi = "LH" if i < n_per_hemisphere else "RH"
        key = (hemi, int(network))
        counters[key] = counters.get(key, 0) + 1
        names.append(f"{hemi}_{NETWORK_NAMES[network]}_{counters[key]}")
    return names


def parcel_labels(xyz: np.ndarray, seeds: np.ndarray, brain: np.ndarray) -> np.ndarray:
    """Label image (1-based) assigning each brain voxel to its nearest seed."""
    flat = xyz.reshape(-1, 3)
    distances = ((flat[:, None, :] - seeds[None, :, :]) ** 2).sum(axis=-1)
    labels = distances.argmin(axis=1).reshape(brain.shape) + 1
    return np.where(brain, labels, 0).astype(np.int16)


# --------------------------------------------------------------------------------------
# Confounds
# --------------------------------------------------------------------------------------

def motion_parameters(rng: np.random.Generator, n_volumes: int, scale: float) -> np.ndarray:
    """Rigid-body realignment parameters: trans x/y/z (mm), rot x/y/z (rad)."""
    steps = rng.standard_normal((n_volumes, 6)) * np.array([0.03, 0.04, 0.05, 0.0006, 0.0005, 0.0004]) * scale
    # occasional jerks, more often in high-motion runs
    jerks = rng.random(n_volumes) < 0.03 * scale
    steps[jerks] += rng.standard_normal((int(jerks.sum()), 6)) * np.array([0.3, 0.4, 0.5, 0.006, 0.005, 0.004])
    steps[0] = 0.0
    return np.cumsum(steps, axis=0)


def framewise_displacement(motion: np.ndarray) -> np.ndarray:
    """Power et al. (2012) FD (mm); the first value is NaN as in fMRIPrep."""
    diff = np.abs(np.diff(motion, axis=0))
    fd = diff[:, :3].sum(axis=1) + HEAD_RADIUS_MM * diff[:, 3:].sum(axis=1)
    return np.concatenate([[np.nan], fd])


def cosine_basis(n_volumes: int, repetition_time: float, period_cut: float = 128.0) -> np.ndarray:
    """DCT-II high-pass basis of fMRIPrep's ``cosineXX`` columns (no constant)."""
    n_cosines = int(np.floor(2 * n_volumes * repetition_time / period_cut))
    times = np.arange(n_volumes)
    basis = [np.sqrt(2.0 / n_volumes) * np.cos(np.pi / n_volumes * (times + 0.5) * k) for k in range(1, n_cosines + 1)]
    return np.array(basis).T if basis else np.zeros((n_volumes, 0))


def _with_expansions(name: str, values: np.ndarray) -> dict[str, np.ndarray]:
    derivative = np.concatenate([[np.nan], np.diff(values)])
    return {
        name: values,
        f"{name}_derivative1": derivative,
        f"{name}_power2": values**2,
        f"{name}_derivative1_power2": derivative**2,
    }


def _compcor(data: np.ndarray, n_components: int) -> tuple[np.ndarray, np.ndarray]:
    """Principal components (time × k) of voxel time series and their singular values."""
    centred = data - data.mean(axis=0)
    detrended = centred - np.outer(np.linspace(-1, 1, len(data)), np.linalg.lstsq(
        np.linspace(-1, 1, len(data))[:, None], centred, rcond=None)[0][0])
    # the left singular vectors from the time x time Gram matrix: np.linalg.svd's up to
    # signs, and faster (this function: 0.6 s instead of 2.1 s for 80 volumes x 50,000 voxels)
    n_values = min(detrended.shape)
    eigenvalues, vectors = np.linalg.eigh(detrended @ detrended.T)
    order = np.argsort(eigenvalues)[::-1][:n_values]
    singular = np.sqrt(np.clip(eigenvalues[order], 0.0, None))
    u = vectors[:, order]
    u *= np.where(u[np.abs(u).argmax(axis=0), np.arange(u.shape[1])] < 0, -1.0, 1.0)  # reproducible signs
    return u[:, :n_components], singular


def confounds_table(bold: np.ndarray, brain: np.ndarray, wm: np.ndarray, csf: np.ndarray,
                    motion: np.ndarray, n_dummy: int, repetition_time: float,
                    fd_threshold: float = 0.5, dvars_threshold: float = 1.5) -> tuple[pd.DataFrame, dict]:
    """fMRIPrep-style confounds table and its JSON sidecar.

    Parameters
    ----------
    bold : ndarray (x, y, z, t)
    brain, wm, csf : ndarray of bool (x, y, z)
        Brain mask and white-matter/CSF compartments.
    motion : ndarray (t, 6)
    n_dummy : int
        Non-steady-state volumes at the start.
    repetition_time : float
        Seconds.
    fd_threshold, dvars_threshold : float
        fMRIPrep's defaults for ``motion_outlierXX`` (0.5 mm, 1.5 std DVARS).
    """
    n_volumes = bold.shape[-1]
    brain_ts = bold[brain].T.astype(np.float64)
    columns: dict[str, np.ndarray] = {}
    columns.update(_with_expansions("global_signal", brain_ts.mean(axis=1)))
    columns.update(_with_expansions("csf", bold[csf].T.mean(axis=1)))
    columns.update(_with_expansions("white_matter", bold[wm].T.mean(axis=1)))
    columns["csf_wm"] = bold[wm | csf].T.mean(axis=1)
    differences = np.diff(brain_ts, axis=0)
    dvars = np.concatenate([[np.nan], np.sqrt((differences**2).mean(axis=1))])
    expected = np.nanmedian(dvars) if np.isfinite(dvars).any() else 1.0
    columns["std_dvars"] = dvars / expected
    columns["dvars"] = dvars
    fd = framewise_displacement(motion)
    columns["framewise_displacement"] = fd
    columns["rmsd"] = np.concatenate([[np.nan], np.sqrt((np.diff(motion[:, :3], axis=0) ** 2).sum(axis=1))])
    sidecar: dict[str, dict] = {}
    n_dropped = 0  # fMRIPrep numbers dropped components with one counter: dropped_0, dropped_1, ...
    for prefix, mask, method, mask_name, n_keep in (
        ("a_comp_cor", wm | csf, "aCompCor", "combined", 5),
        ("c_comp_cor", csf, "aCompCor", "CSF", 3),
        ("w_comp_cor", wm, "aCompCor", "WM", 3),
        ("t_comp_cor", brain, "tCompCor", None, 3),
    ):
        components, singular = _compcor(bold[mask].T.astype(np.float64), n_keep)
        variance = singular**2 / np.sum(singular**2)
        cumulative = np.cumsum(variance)
        for k in range(len(singular[: n_keep + 2])):
            name = f"{prefix}_{k:02d}"
            entry = {
                "CumulativeVarianceExplained": float(cumulative[k]),
                "Method": method,
                "Retained": k < n_keep,
                "SingularValue": float(singular[k]),
                "VarianceExplained": float(variance[k]),
            }
            if mask_name:
                entry["Mask"] = mask_name
            if k < n_keep:
                columns[name] = components[:, k]
            else:
                name = f"dropped_{n_dropped}"
                n_dropped += 1
            sidecar[name] = entry
    cosines = cosine_basis(n_volumes, repetition_time)
    for k in range(cosines.shape[1]):
        columns[f"cosine{k:02d}"] = cosines[:, k]
    for k, label in enumerate(("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z")):
        columns.update(_with_expansions(label, motion[:, k]))
    for k in range(n_dummy):
        one_hot = np.zeros(n_volumes)
        one_hot[k] = 1.0
        columns[f"non_steady_state_outlier{k:02d}"] = one_hot
    outliers = np.flatnonzero((np.nan_to_num(fd) > fd_threshold) | (np.nan_to_num(columns["std_dvars"]) > dvars_threshold))
    for k, index in enumerate(outliers):
        one_hot = np.zeros(n_volumes)
        one_hot[index] = 1.0
        columns[f"motion_outlier{k:02d}"] = one_hot
    return pd.DataFrame(columns), sidecar


# --------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------

def _compartments(xyz: np.ndarray, brain: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """White matter (inner shell of the ellipsoid) and CSF (ventricles) masks."""
    scaled = (xyz - BRAIN_CENTRE_MM) / BRAIN_RADII_MM
    radius = np.sqrt((scaled**2).sum(axis=-1))
    ventricles = (np.abs(xyz[..., 0]) > 3) & (np.abs(xyz[..., 0]) < 16) & (np.abs(xyz[..., 1] + 10) < 22) & (np.abs(xyz[..., 2] - 12) < 10)
    csf = brain & ventricles
    wm = brain & (radius < 0.55) & ~csf
    return wm, csf


def synthesize_bold(spec: DatasetSpec, run: RunSpec, space: str, rng: np.random.Generator,
                    network_signals: np.ndarray) -> dict:
    """The BOLD data of one run in one space, with its masks and confounds.

    Returns
    -------
    dict
        ``data`` (x, y, z, t float32), ``affine``, ``brain`` (bool), ``confounds``
        (DataFrame) and ``confounds_json`` (dict).
    """
    shape, affine = template_grid(space.split(":")[0], spec.voxel_size)
    xyz = voxel_coordinates(shape, affine)
    brain = brain_mask_from_coordinates(xyz)
    wm, csf = _compartments(xyz, brain)
    seeds = parcel_seeds()
    n_per_hemi = len(seeds) // 2
    labels = parcel_labels(xyz, seeds, brain)
    networks = parcel_networks(n_per_hemi)
    n_volumes = spec.n_volumes
    motion = motion_parameters(rng, n_volumes, run.motion_scale)
    fd = np.nan_to_num(framewise_displacement(motion))

    n_brain = int(brain.sum())
    voxel_labels = labels[brain] - 1
    gm = ~(wm | csf)[brain]
    baseline = np.where(gm, 900.0, np.where(wm[brain], 750.0, 1200.0)) * (1 + 0.05 * rng.standard_normal(n_brain))
    time = np.arange(n_volumes) * spec.repetition_time
    parcel_signal = 0.6 * rng.standard_normal((n_volumes, len(seeds)))  # parcel-specific part
    neural = network_signals[:, networks] + parcel_signal
    signal = neural[:, voxel_labels] * np.where(gm, 12.0, 2.0)
    # motion artefact: a spatial gradient scaled by FD and by the motion parameters
    gradient = (xyz[brain] - BRAIN_CENTRE_MM) / BRAIN_RADII_MM
    artefact = (fd[:, None] * 25.0) * (1.0 + gradient[:, 1][None, :]) + motion[:, 0:1] * 8.0 * gradient[:, 0][None, :]
    drift = np.outer(time / time[-1] if time[-1] > 0 else time, rng.normal(15.0, 5.0, n_brain))
    noise = rng.standard_normal((n_volumes, n_brain)) * 8.0
    series = baseline[None, :] + signal + artefact + drift + noise
    if spec.n_dummy:
        decay = np.exp(-np.arange(spec.n_dummy) / 0.8)
        series[: spec.n_dummy] *= 1.0 + 0.4 * decay[:, None]
    data = np.zeros(shape + (n_volumes,), dtype=np.float32)
    data[brain] = series.T.astype(np.float32)
    confounds, confounds_json = confounds_table(data, brain, wm, csf, motion, spec.n_dummy, spec.repetition_time)
    return {"data": data, "affine": affine, "brain": brain, "confounds": confounds,
            "confounds_json": confounds_json, "labels": labels}


def _entities_stem(run: RunSpec) -> str:
    parts = [f"sub-{run.subject}"]
    if run.session:
        parts.append(f"ses-{run.session}")
    parts.append(f"task-{run.task}")
    if run.run:
        parts.append(f"run-{run.run}")
    return "_".join(parts)


def _func_dir(root: Path, run: RunSpec) -> Path:
    folder = root / f"sub-{run.subject}"
    if run.session:
        folder = folder / f"ses-{run.session}"
    return folder / "func"


def _save(img: nib.Nifti1Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.to_filename(str(path))


def write_fmriprep_dataset(root: str | Path, spec: DatasetSpec) -> list[Path]:
    """Write a synthetic fMRIPrep derivatives dataset.

    Parameters
    ----------
    root : path-like
        Output folder (the fMRIPrep derivatives root).
    spec : DatasetSpec
        What to write.

    Returns
    -------
    list of Path
        The ``desc-preproc_bold`` files written.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "dataset_description.json").write_text(json.dumps({
        "Name": "fMRIPrep - synthetic demo dataset",
        "BIDSVersion": "1.9.0",
        "DatasetType": "derivative",
        "GeneratedBy": [{"Name": "fMRIPrep", "Version": "24.1.1", "CodeURL": "https://github.com/nipreps/fmriprep"}],
        "License": "CC0",
    }, indent=2))
    (root / ".bidsignore").write_text("*.html\nlogs/\nfigures/\n*_xfm.*\n*.surf.gii\n*_boldref.nii.gz\n*_timeseries.tsv\n*_timeseries.json\n")
    (root / "logs").mkdir(exist_ok=True)
    rng = np.random.default_rng(spec.seed)
    seeds = parcel_seeds()
    written = []
    for run in spec.runs:
        n_networks = len(NETWORK_NAMES)
        network_signals = band_limited_signals(rng, spec.n_volumes, n_networks, spec.repetition_time)
        run_seed = int(rng.integers(2**31))
        volume_spaces = [text for text in run.spaces if text not in SURFACE_SPACES]
        surface_spaces = [text for text in run.spaces if text in SURFACE_SPACES]
        sampled = None  # the volume the surface runs are sampled from (the run's first volumetric space)
        for space_text in volume_spaces:
            space, _, res_part = space_text.partition(":")
            res = res_part.split("-", 1)[1] if res_part else None
            generated = synthesize_bold(spec, run, space, np.random.default_rng(run_seed), network_signals)
            stem = _entities_stem(run)
            space_entities = f"space-{space}" + (f"_res-{res}" if res else "")
            folder = _func_dir(root, run)
            bold_img = nib.Nifti1Image(generated["data"], generated["affine"])
            bold_img.header.set_xyzt_units("mm", "sec")
            bold_img.header["pixdim"][4] = spec.repetition_time
            if run.int16:
                bold_img.set_data_dtype(np.int16)
            bold_path = folder / f"{stem}_{space_entities}_desc-preproc_bold.nii.gz"
            _save(bold_img, bold_path)
            (folder / f"{stem}_{space_entities}_desc-preproc_bold.json").write_text(json.dumps({
                "RepetitionTime": spec.repetition_time, "TaskName": run.task, "SkullStripped": False,
                "SliceTimingCorrected": True, "StartTime": spec.start_time,
            }, indent=2))
            mask_img = nib.Nifti1Image(generated["brain"].astype(np.uint8), generated["affine"])
            _save(mask_img, folder / f"{stem}_{space_entities}_desc-brain_mask.nii.gz")
            (folder / f"{stem}_{space_entities}_desc-brain_mask.json").write_text(json.dumps({"Type": "Brain"}))
            boldref = nib.Nifti1Image(generated["data"][..., spec.n_dummy].astype(np.float32), generated["affine"])
            _save(boldref, folder / f"{stem}_{space_entities}_boldref.nii.gz")
            if run.with_confounds and space_text == volume_spaces[0]:
                _write_confounds(folder, stem, generated)
            sampled = sampled or generated
            written.append(bold_path)
        if surface_spaces:
            if sampled is None:  # a surface-only run: its volume is generated for the confounds, not written
                sampled = synthesize_bold(spec, run, "MNI152NLin6Asym", np.random.default_rng(run_seed),
                                          network_signals)
                if run.with_confounds:
                    _write_confounds(_func_dir(root, run), _entities_stem(run), sampled)
            for space_text in surface_spaces:
                written.extend(write_surface_run(root, run, space_text, sampled, spec,
                                                 np.random.default_rng(run_seed + 1)))
        (root / f"sub-{run.subject}.html").write_text("<html><body>fMRIPrep report placeholder</body></html>")
    del seeds
    return written


def _write_confounds(folder: Path, stem: str, generated: dict) -> None:
    """The run's ``desc-confounds_timeseries.tsv`` and its JSON sidecar (shared by all its spaces)."""
    folder.mkdir(parents=True, exist_ok=True)
    generated["confounds"].to_csv(folder / f"{stem}_desc-confounds_timeseries.tsv", sep="\t", index=False,
                                  na_rep="n/a", float_format="%.6g")
    (folder / f"{stem}_desc-confounds_timeseries.json").write_text(json.dumps(generated["confounds_json"], indent=2))


# --------------------------------------------------------------------------------------
# Surfaces and grayordinates
# --------------------------------------------------------------------------------------

#: Surface spaces :func:`write_fmriprep_dataset` writes (fMRIPrep's names).
SURFACE_SPACES = ("fsLR:den-91k", "fsaverage5")

#: Subdivisions of the icosahedron of each fake surface mesh: fsaverage5 is the
#: 5th (10,242 vertices per hemisphere, as the real one); the fake fsLR 91k mesh
#: has 2,562 vertices per hemisphere instead of 32,492 (same structure, less data).
SURFACE_MESH_ORDERS = {"fsLR:den-91k": 4, "fsaverage5": 5}

#: Centre of each hemisphere's ellipsoidal cortex (mm) and its semi-axes.
HEMISPHERE_CENTRES_MM = {"L": np.array([-34.0, -18.0, 10.0]), "R": np.array([34.0, -18.0, 10.0])}
HEMISPHERE_RADII_MM = np.array([28.0, 74.0, 52.0])

#: Vertices whose direction from the hemisphere's centre points to the midline by
#: more than this cosine form the medial wall (10 % of the vertices; 8.6 % in fsLR 32k).
MEDIAL_WALL_COSINE = 0.8

#: The subcortical structures of the fake CIFTI (name, centre in mm, radius in mm).
SUBCORTICAL_STRUCTURES = (
    ("CIFTI_STRUCTURE_THALAMUS_LEFT", (-11.0, -20.0, -2.0), 9.0),
    ("CIFTI_STRUCTURE_THALAMUS_RIGHT", (11.0, -20.0, -2.0), 9.0),
    ("CIFTI_STRUCTURE_PUTAMEN_LEFT", (-25.0, 2.0, -2.0), 8.0),
    ("CIFTI_STRUCTURE_PUTAMEN_RIGHT", (25.0, 2.0, -2.0), 8.0),
)

_CIFTI_CORTEX = {"L": "CIFTI_STRUCTURE_CORTEX_LEFT", "R": "CIFTI_STRUCTURE_CORTEX_RIGHT"}


def icosphere(order: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit sphere mesh: the icosahedron subdivided ``order`` times.

    Returns
    -------
    vertices : ndarray, shape (10 * 4**order + 2, 3)
        Unit vectors.
    faces : ndarray of int, shape (20 * 4**order, 3)
    """
    golden = (1.0 + np.sqrt(5.0)) / 2.0
    vertices = np.array([[-1, golden, 0], [1, golden, 0], [-1, -golden, 0], [1, -golden, 0],
                         [0, -1, golden], [0, 1, golden], [0, -1, -golden], [0, 1, -golden],
                         [golden, 0, -1], [golden, 0, 1], [-golden, 0, -1], [-golden, 0, 1]], dtype=float)
    faces = np.array([[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4],
                      [11, 10, 2], [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8],
                      [3, 8, 9], [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1]])
    vertices /= np.linalg.norm(vertices, axis=1, keepdims=True)
    for _ in range(order):
        edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
        unique_edges, edge_of = np.unique(edges, axis=0, return_inverse=True)
        edge_of = edge_of.reshape(3, -1).T + len(vertices)  # midpoint vertex of edges (01, 12, 20) per face
        midpoints = vertices[unique_edges].mean(axis=1)
        vertices = np.vstack([vertices, midpoints / np.linalg.norm(midpoints, axis=1, keepdims=True)])
        a, b, c = faces.T
        ab, bc, ca = edge_of.T
        faces = np.concatenate([np.stack([a, ab, ca], 1), np.stack([b, bc, ab], 1), np.stack([c, ca, bc], 1),
                                np.stack([ab, bc, ca], 1)])
    return vertices, faces


def hemisphere_mesh(space: str, hemi: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The fake cortical mesh of one hemisphere of a surface space.

    Returns
    -------
    coordinates : ndarray, shape (V, 3)
        Vertex positions, mm (inside the synthetic brain).
    faces : ndarray of int, shape (F, 3)
    cortex : ndarray of bool, shape (V,)
        False on the medial wall.
    """
    directions, faces = icosphere(SURFACE_MESH_ORDERS[space])
    coordinates = HEMISPHERE_CENTRES_MM[hemi] + directions * HEMISPHERE_RADII_MM
    towards_midline = directions[:, 0] * (1.0 if hemi == "L" else -1.0)
    return coordinates, faces, towards_midline <= MEDIAL_WALL_COSINE


def cifti_brain_models(voxel_size: float) -> tuple[nib.cifti2.BrainModelAxis, np.ndarray]:
    """The fake 91k grayordinates: both cortices without their medial wall, then the
    subcortical voxel structures on the MNI152NLin6Asym grid of ``voxel_size`` mm.

    Returns
    -------
    axis : nibabel.cifti2.BrainModelAxis
    coordinates : ndarray, shape (N, 3)
        Position of every grayordinate, mm.
    """
    parts, coordinates = [], []
    for hemi in ("L", "R"):
        xyz, _, cortex = hemisphere_mesh("fsLR:den-91k", hemi)
        parts.append(nib.cifti2.BrainModelAxis.from_mask(cortex, name=_CIFTI_CORTEX[hemi]))
        coordinates.append(xyz[cortex])
    shape, affine = template_grid("MNI152NLin6Asym", voxel_size)
    xyz = voxel_coordinates(shape, affine)
    for name, centre, radius in SUBCORTICAL_STRUCTURES:
        inside = np.linalg.norm(xyz - np.array(centre), axis=-1) <= radius
        parts.append(nib.cifti2.BrainModelAxis.from_mask(inside, name=name, affine=affine))
        coordinates.append(xyz[inside])  # from_mask lists voxels in C order of (i, j, k), as xyz[inside]
    axis = parts[0]
    for part in parts[1:]:
        axis = axis + part
    return axis, np.vstack(coordinates)


def _sample_volume(generated: dict, coordinates: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The run's BOLD at the nearest voxel of each point (mm), plus independent noise: T x N float32."""
    inverse = np.linalg.inv(generated["affine"])
    ijk = np.rint(coordinates @ inverse[:3, :3].T + inverse[:3, 3]).astype(int)
    ijk = np.clip(ijk, 0, np.array(generated["data"].shape[:3]) - 1)
    series = generated["data"][ijk[:, 0], ijk[:, 1], ijk[:, 2]].T.astype(np.float64)
    series += 4.0 * rng.standard_normal(series.shape)
    return series.astype(np.float32)


def write_surface_run(root: Path, run: RunSpec, space_text: str, generated: dict, spec: DatasetSpec,
                      rng: np.random.Generator) -> list[Path]:
    """Write one run in a surface space, sampled from its volumetric BOLD ``generated``.

    ``fsLR:den-91k``: a CIFTI-2 ``*_space-fsLR_den-91k_bold.dtseries.nii``
    (SeriesAxis with the repetition time, the BrainModelAxis of
    :func:`cifti_brain_models`); ``fsaverage5``: a GIFTI pair
    ``*_hemi-L/R_space-fsaverage5_bold.func.gii`` (one data array per volume,
    10,242 vertices per hemisphere, zeros on the medial wall). Each with a JSON
    sidecar (``RepetitionTime``); the confounds are the run's.

    Returns
    -------
    list of Path
        The BOLD files written (one CIFTI, or the left and right GIFTI).
    """
    folder = _func_dir(root, run)
    folder.mkdir(parents=True, exist_ok=True)
    stem = _entities_stem(run)
    sidecar = {"RepetitionTime": spec.repetition_time, "TaskName": run.task, "StartTime": spec.start_time,
               "SliceTimingCorrected": True}
    if space_text == "fsLR:den-91k":
        models, coordinates = cifti_brain_models(spec.voxel_size)
        series = _sample_volume(generated, coordinates, rng)
        time_axis = nib.cifti2.SeriesAxis(start=0.0, step=spec.repetition_time, size=series.shape[0], unit="SECOND")
        path = folder / f"{stem}_space-fsLR_den-91k_bold.dtseries.nii"
        img = nib.Cifti2Image(series, header=(time_axis, models))
        img.nifti_header.set_intent("ConnDenseSeries")  # what Workbench and fMRIPrep write
        img.to_filename(str(path))
        (folder / f"{stem}_space-fsLR_den-91k_bold.json").write_text(json.dumps(
            dict(sidecar, grayordinates="91k", space="HCP grayordinates", surface="fsLR",
                 surface_density="32k", volume="MNI152NLin6Asym"), indent=2))
        return [path]
    written = []
    for hemi in ("L", "R"):
        coordinates, _, cortex = hemisphere_mesh(space_text, hemi)
        series = _sample_volume(generated, coordinates, rng)
        series[:, ~cortex] = 0.0
        darrays = [nib.gifti.GiftiDataArray(volume, intent="NIFTI_INTENT_TIME_SERIES", datatype="NIFTI_TYPE_FLOAT32",
                                            meta={"TimeStep": f"{spec.repetition_time * 1000:g}"})
                   for volume in series]
        path = folder / f"{stem}_hemi-{hemi}_space-{space_text}_bold.func.gii"
        nib.GiftiImage(darrays=darrays).to_filename(str(path))
        (folder / f"{stem}_hemi-{hemi}_space-{space_text}_bold.json").write_text(json.dumps(sidecar, indent=2))
        written.append(path)
    return written


def surface_parcels(space: str, hemi: str) -> np.ndarray:
    """Parcel of each vertex of a hemisphere (1-based within the hemisphere, 0 on the medial
    wall): the nearest of the hemisphere's seeds of :func:`parcel_seeds`."""
    coordinates, _, cortex = hemisphere_mesh(space, hemi)
    seeds = parcel_seeds()
    half = len(seeds) // 2
    own = seeds[:half] if hemi == "L" else seeds[half:]
    nearest = ((coordinates[:, None, :] - own[None]) ** 2).sum(axis=-1).argmin(axis=1) + 1
    return np.where(cortex, nearest, 0).astype(np.int32)


def write_surface_atlases(folder: str | Path, voxel_size: float = 4.0) -> dict[str, Path]:
    """Write the demo parcellation on the surfaces, with label tables inside the files.

    Parameters
    ----------
    folder : path-like
    voxel_size : float
        Voxel size (mm) of the subcortical structures of the CIFTI atlas: that of
        the dataset's runs (:attr:`DatasetSpec.voxel_size`).

    Returns
    -------
    dict
        ``"dlabel"``: ``demo.dlabel.nii``, a CIFTI-2 label atlas on the fake 91k
        grayordinates (cortical parcels 1-20 named as :func:`parcel_names`, one parcel
        per subcortical structure after them, ``???`` = 0 on nothing);
        ``"label_L"``/``"label_R"``: ``demo_hemi-L/R.label.gii`` on fsaverage5 (keys
        1-10 in each hemisphere, names ``LH_*``/``RH_*``, 0 = ``Medial_Wall``);
        ``"annot_L"``/``"annot_R"``: the same as FreeSurfer ``lh.demo.annot``/``rh.demo.annot``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = parcel_names(len(parcel_seeds()) // 2)
    half = len(names) // 2
    colours = np.random.default_rng(3).uniform(0.1, 0.9, (len(names) + len(SUBCORTICAL_STRUCTURES), 3))
    written: dict[str, Path] = {}
    models, _ = cifti_brain_models(voxel_size)
    values = np.zeros(len(models), dtype=np.float32)
    table = {0: ("???", (1.0, 1.0, 1.0, 0.0))}
    for hemi, offset in (("L", 0), ("R", half)):
        parcels = surface_parcels("fsLR:den-91k", hemi)
        for structure, selection, model in models.iter_structures():
            if structure == _CIFTI_CORTEX[hemi]:
                values[selection] = np.where(parcels[model.vertex] > 0, parcels[model.vertex] + offset, 0)
    for k, name in enumerate(names, start=1):
        table[k] = (name, (*colours[k - 1], 1.0))
    for k, (structure, _, _) in enumerate(SUBCORTICAL_STRUCTURES, start=len(names) + 1):
        for found, selection, _ in models.iter_structures():
            if found == structure:
                values[selection] = k
        table[k] = (structure.removeprefix("CIFTI_STRUCTURE_"), (*colours[k - 1], 1.0))
    label_axis = nib.cifti2.LabelAxis(["demo"], [table])
    written["dlabel"] = folder / "demo.dlabel.nii"
    img = nib.Cifti2Image(values[None, :], header=(label_axis, models))
    img.nifti_header.set_intent("ConnDenseLabel")
    img.to_filename(str(written["dlabel"]))
    for hemi, offset in (("L", 0), ("R", half)):
        parcels = surface_parcels("fsaverage5", hemi)
        labels = nib.gifti.GiftiLabelTable()
        for key, name in [(0, "Medial_Wall")] + [(k, names[offset + k - 1]) for k in range(1, half + 1)]:
            label = nib.gifti.GiftiLabel(key, *(colours[offset + key - 1] if key else (1.0, 1.0, 1.0)), 1.0)
            label.label = name
            labels.labels.append(label)
        image = nib.GiftiImage(labeltable=labels, darrays=[nib.gifti.GiftiDataArray(
            parcels, intent="NIFTI_INTENT_LABEL", datatype="NIFTI_TYPE_INT32")])
        written[f"label_{hemi}"] = folder / f"demo_hemi-{hemi}.label.gii"
        image.to_filename(str(written[f"label_{hemi}"]))
        ctab = np.zeros((half + 1, 5), dtype=np.int32)
        ctab[:, :3] = np.vstack([[255, 255, 255], np.rint(colours[offset:offset + half] * 255)])
        ctab[:, 4] = ctab[:, 0] + ctab[:, 1] * 2**8 + ctab[:, 2] * 2**16
        written[f"annot_{hemi}"] = folder / f"{hemi.lower()}h.demo.annot"
        nib.freesurfer.write_annot(str(written[f"annot_{hemi}"]), parcels, ctab,
                                   ["Medial_Wall"] + names[offset:offset + half], fill_ctab=False)
    return written


def _runs_with_motion(fmriprep_root: Path, spec: DatasetSpec):
    """``(run, motion parameters (T x 6, mm and rad))`` of the runs of ``spec`` written with confounds."""
    for run in spec.runs:
        if run.with_confounds:
            path = _func_dir(fmriprep_root, run) / f"{_entities_stem(run)}_desc-confounds_timeseries.tsv"
            motion = pd.read_csv(path, sep="\t", na_values="n/a")[["trans_x", "trans_y", "trans_z", "rot_x", "rot_y",
                                                                   "rot_z"]]
            yield run, motion.to_numpy()


def _derivatives_folder(root: str | Path, software: str, version: str) -> Path:
    """Create a derivatives folder with its ``dataset_description.json``, written by ``software``."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "dataset_description.json").write_text(json.dumps({
        "Name": f"{software} - synthetic", "BIDSVersion": "1.9.0", "DatasetType": "derivative",
        "GeneratedBy": [{"Name": software, "Version": version}],
    }, indent=2))
    return root


def _run_folder(root: Path, run: RunSpec) -> tuple[Path, str]:
    """The (created) ``func`` folder of a run under ``root``, and its file-name stem."""
    folder = _func_dir(root, run)
    folder.mkdir(parents=True, exist_ok=True)
    return folder, _entities_stem(run)


def _zscore(values: np.ndarray) -> np.ndarray:
    std = values.std(axis=0)
    std[std == 0] = 1.0
    return (values - values.mean(axis=0)) / std


def _ica_components(rng: np.random.Generator, motion: np.ndarray, n_components: int, n_rejected: int,
                    repetition_time: float) -> np.ndarray:
    """Synthetic ICA time series (T x n): the first ``n_rejected`` follow the head motion, the others are
    band-limited signals."""
    n_volumes = motion.shape[0]
    accepted = band_limited_signals(rng, n_volumes, n_components - n_rejected, repetition_time)
    weights = rng.standard_normal((motion.shape[1], n_rejected))
    rejected = _zscore(_zscore(motion) @ weights + 0.3 * rng.standard_normal((n_volumes, n_rejected)))
    return np.hstack([rejected, accepted])


def write_fmripost_aroma_dataset(root: str | Path, fmriprep_root: str | Path, spec: DatasetSpec,
                                 n_components: int = 8, n_rejected: int = 3,
                                 denoised_spaces: Sequence[str] = ("MNI152NLin6Asym:res-2",),
                                 seed: int = 1) -> list[Path]:
    """Write a synthetic fMRIPost-AROMA output folder for the runs of a fMRIPrep dataset.

    For each run of ``spec`` (written with :func:`write_fmriprep_dataset` in
    ``fmriprep_root``): ``*_desc-aroma_timeseries.tsv`` (``aroma_motion_NN``
    and ``aroma_orth_motion_NN`` of the rejected components, zeros on the
    non-steady-state rows, as fMRIPost-AROMA writes them),
    ``*_desc-aroma_metrics.tsv`` (one row per component with its
    ``classification``), and for each space of ``denoised_spaces`` that the
    run has, a ``*_desc-nonaggrDenoised_bold.nii.gz`` (a copy of the
    preprocessed BOLD standing in for the denoised one). The rejected
    components follow the run's motion parameters.

    Returns
    -------
    list of Path
        The ``desc-aroma_timeseries.tsv`` files written.
    """
    root, fmriprep_root = _derivatives_folder(root, "fMRIPost-AROMA", "0.1.0"), Path(fmriprep_root)
    rng = np.random.default_rng(seed)
    written = []
    for run, motion in _runs_with_motion(fmriprep_root, spec):
        steady = slice(spec.n_dummy, None)  # fMRIPost-AROMA runs MELODIC without the dummy volumes
        mixing = _ica_components(rng, motion[steady], n_components, n_rejected, spec.repetition_time)
        rejected, accepted = _zscore(mixing[:, :n_rejected]), _zscore(mixing[:, n_rejected:])
        orthogonal = rejected - accepted @ np.linalg.lstsq(accepted, rejected, rcond=None)[0]
        padded = np.zeros((spec.n_volumes, 2 * n_rejected))
        padded[steady] = np.hstack([mixing[:, :n_rejected], orthogonal])
        numbers = [f"{index + 1:02d}" for index in range(n_rejected)]
        columns = [f"aroma_motion_{n}" for n in numbers] + [f"aroma_orth_motion_{n}" for n in numbers]
        folder, stem = _run_folder(root, run)
        timeseries = folder / f"{stem}_desc-aroma_timeseries.tsv"
        pd.DataFrame(padded, columns=columns).to_csv(timeseries, sep="\t", index=False, float_format="%.8g")
        metrics = pd.DataFrame({
            "edge_fract": rng.uniform(0, 1, n_components), "csf_fract": rng.uniform(0, 0.2, n_components),
            "max_RP_corr": rng.uniform(0, 1, n_components), "HFC": rng.uniform(0, 0.5, n_components),
            "classification": ["rejected"] * n_rejected + ["accepted"] * (n_components - n_rejected),
        })
        metrics.to_csv(folder / f"{stem}_desc-aroma_metrics.tsv", sep="\t", index=False)
        for space_text in denoised_spaces:
            if space_text not in run.spaces:
                continue
            space, _, res_part = space_text.partition(":")
            space_entities = f"space-{space}" + (f"_{res_part}" if res_part else "")
            preproc = _func_dir(fmriprep_root, run) / f"{stem}_{space_entities}_desc-preproc_bold.nii.gz"
            (folder / f"{stem}_{space_entities}_desc-nonaggrDenoised_bold.nii.gz").write_bytes(preproc.read_bytes())
        written.append(timeseries)
    return written


def write_tedana_dataset(root: str | Path, fmriprep_root: str | Path, spec: DatasetSpec,
                         n_components: int = 10, n_rejected: int = 4, seed: int = 2) -> list[Path]:
    """Write synthetic tedana outputs for the runs of a fMRIPrep dataset.

    For each run of ``spec``: ``*_desc-ICA_mixing.tsv`` (columns ``ICA_00``
    ..., one row per volume) and ``*_desc-tedana_metrics.tsv``
    (``Component``, ``kappa``, ``rho``, ``classification``), named with the
    run's entities (tedana's ``--prefix``) under ``sub-*/[ses-*/]func``.
    Rejected components follow the run's motion parameters; they are
    written between accepted ones, so selection by classification matters.

    Returns
    -------
    list of Path
        The mixing matrices written (one per run with confounds).
    """
    mixing_files = []
    rng = np.random.default_rng(seed)
    root = _derivatives_folder(root, "tedana", "24.0.1")
    for run, motion in _runs_with_motion(Path(fmriprep_root), spec):
        components = _ica_components(rng, motion, n_components, n_rejected, spec.repetition_time)
        order = rng.permutation(n_components)  # component k of the file is components[:, order[k]]
        names = [f"ICA_{index:02d}" for index in range(n_components)]
        classification = ["rejected" if order[k] < n_rejected else "accepted" for k in range(n_components)]
        folder, stem = _run_folder(root, run)
        mixing = folder / f"{stem}_desc-ICA_mixing.tsv"
        pd.DataFrame(components[:, order], columns=names).to_csv(mixing, sep="\t", index=False,
                                                                float_format="%.8g")
        pd.DataFrame({
            "Component": names, "kappa": rng.uniform(10, 80, n_components), "rho": rng.uniform(5, 40, n_components),
            "classification": classification,
        }).to_csv(folder / f"{stem}_desc-tedana_metrics.tsv", sep="\t", index=False)
        mixing_files.append(mixing)
    return mixing_files


def band_limited_signals(rng: np.random.Generator, n_volumes: int, n_signals: int,
                         repetition_time: float) -> np.ndarray:
    """Random signals limited to 0.01–0.1 Hz (``repetition_time`` in s), unit variance, T × n."""
    spectrum = rng.standard_normal((n_volumes, n_signals)) + 1j * rng.standard_normal((n_volumes, n_signals))
    frequencies = np.fft.fftfreq(n_volumes, d=repetition_time)
    band = (np.abs(frequencies) > 0.01) & (np.abs(frequencies) < 0.1)
    signals = np.real(np.fft.ifft(spectrum * band[:, None], axis=0))
    std = signals.std(axis=0)
    std[std == 0] = 1.0
    return signals / std


def write_demo_atlas(folder: str | Path, voxel_size: float = 3.0, space: str = "MNI152NLin2009cAsym") -> tuple[Path, Path]:
    """Write the demo labels atlas (20 parcels) and its label table.

    Parameters
    ----------
    folder : path-like
        Where to write ``demo_dseg.nii.gz`` and ``demo_dseg.tsv``.
    voxel_size : float
        Atlas voxel size (mm); it differs from the BOLD's on purpose, the app
        resamples atlases to each BOLD grid.
    space : str
        Template the atlas is defined in.

    Returns
    -------
    (Path, Path)
        The atlas image and its label table (columns ``index``, ``name``).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    shape, affine = template_grid(space, voxel_size)
    xyz = voxel_coordinates(shape, affine)
    brain = brain_mask_from_coordinates(xyz)
    seeds = parcel_seeds()
    labels = parcel_labels(xyz, seeds, brain)
    image = folder / "demo_dseg.nii.gz"
    nib.Nifti1Image(labels, affine).to_filename(str(image))
    names = parcel_names(len(seeds) // 2)
    table = folder / "demo_dseg.tsv"
    pd.DataFrame({"index": np.arange(1, len(seeds) + 1), "name": names}).to_csv(table, sep="\t", index=False)
    return image, table


# --------------------------------------------------------------------------------------
# The demo itself
# --------------------------------------------------------------------------------------

def _run(command: list[str]) -> int:
    print("$ " + " ".join(command), flush=True)
    return subprocess.call(command)


def main(argv: Sequence[str] | None = None) -> int:
    """Build the demo data, run participant and group levels, print where things are."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        print("usage: python -m regionseries.demo OUTDIR")
        return 0 if argv and argv[0] in ("-h", "--help") else 64
    outdir = Path(argv[0]).resolve()
    fmriprep = outdir / "fmriprep"
    output = outdir / "regionseries"
    work = outdir / "work"
    atlas_dir = outdir / "atlas"
    if not (fmriprep / "dataset_description.json").exists():
        print(f"Writing a synthetic fMRIPrep dataset to {fmriprep} ...", flush=True)
        write_fmriprep_dataset(fmriprep, demo_dataset_spec())
    atlas_image, atlas_table = write_demo_atlas(atlas_dir)
    executable = [sys.executable, "-m", "regionseries"]
    participant = executable + [
        str(fmriprep), str(output), "participant",
        "--spheres", "Power2011",
        "--atlas-file", f"Demo={atlas_image}:{atlas_table}",
        "--strategy", "simple", "scrubbing",
        "--work-dir", str(work),
        "--nprocs", "2",
    ]
    status = _run(participant)
    group = executable + [str(fmriprep), str(output), "group", "--work-dir", str(work)]
    group_status = _run(group)
    print()
    print(f"Input (synthetic fMRIPrep derivatives): {fmriprep}")
    print(f"Outputs:                                {output}")
    from .report.render import GROUP_REPORT_NAME

    reports = sorted(output.glob("sub-*.html")) + sorted(output.glob(GROUP_REPORT_NAME))
    if reports:
        print("Reports:")
        for report in reports:
            print(f"  {report}")
    print(f"Group level:                            {output / 'group'}")
    print(f"Logs:                                   {output / 'logs'}")
    if status not in (0,) or group_status != 0:
        print(f"The participant level exited with {status}, the group level with {group_status}.")
        return status or group_status
    return 0


if __name__ == "__main__":
    sys.exit(main())
