"""Realistic benchmark inputs: an fMRIPrep-like derivatives folder on the MNI 2 mm grid.

Everything is built once into a data folder and reused by later benchmark
runs (a ``manifest.json`` records the settings; changing them rebuilds):

* ``fmriprep/``: a BIDS derivatives dataset with one participant and one
  run per requested length (``task-rest_acq-T100``, ``task-rest_acq-T400``);
  :func:`multi_runs` adds hard-linked copies of a run
  (``task-multi_acq-T400_run-1..4``) for the ``--nprocs`` measurement. Each run
  has a float32 ``desc-preproc_bold.nii.gz`` of 97 x 115 x 97 voxels on the
  MNI152NLin2009cAsym ``res-2`` grid (affine diag(2, 2, 2), origin
  (-96, -132, -78) mm), TR 2 s, written with nibabel's default gzip level 1
  as fMRIPrep's outputs are; the brain mask; a confounds TSV with fMRIPrep's
  columns (24 motion parameters, global/WM/CSF signals and their expansions,
  DVARS, FD, a/c/w/tCompCor, cosines, non-steady-state and motion outlier
  columns) and its JSON sidecar with the CompCor metadata.
* ``atlases/``: a 400-region labels atlas (a Voronoi parcellation of the
  grey matter, like Schaefer 400 on the same grid) and a 64-map
  probabilistic atlas (smooth, truncated blobs like DiFuMo 64), each with
  a label table.

The brain shape comes from the ICBM152 2009 grey/white matter templates
shipped in nilearn's wheel (read with nibabel; nilearn is not imported).
The signal of a voxel is its tissue baseline (CSF > GM > WM > scalp)
modulated by network and parcel fluctuations (0.01-0.1 Hz), head-motion
artefacts proportional to framewise displacement, a slow drift, a
non-steady-state decay over the first two volumes and thermal noise
(temporal SNR about 60 in grey matter). Voxels outside the head are 0, as in
fMRIPrep outputs resampled from a field of view that ends at the scalp.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from scipy import ndimage
from scipy.spatial import cKDTree

from regionseries.demo import band_limited_signals

#: The MNI152NLin2009cAsym res-2 grid of fMRIPrep outputs and TemplateFlow atlases.
GRID_SHAPE = (97, 115, 97)
GRID_AFFINE = np.array(
    [[2.0, 0, 0, -96.0], [0, 2.0, 0, -132.0], [0, 0, 2.0, -78.0], [0, 0, 0, 1.0]]
)
REPETITION_TIME = 2.0
N_DUMMY = 2
SPACE = "MNI152NLin2009cAsym"
INPUTS_VERSION = 3  # bump when the generator changes

_SUBJECT = "01"


@dataclass(frozen=True)
class InputSpec:
    """What to build.

    Attributes
    ----------
    lengths : tuple of int
        Number of volumes of the runs to build (one run each).
    n_labels : int
        Regions of the labels atlas.
    n_maps : int
        Maps of the probabilistic atlas.
    seed : int
        Random seed.
    """

    lengths: tuple[int, ...] = (100, 400)
    n_labels: int = 400
    n_maps: int = 64
    seed: int = 2024


@dataclass
class BuiltInputs:
    """Paths of the built inputs (see the module docstring)."""

    root: Path
    bids_dir: Path
    bolds: dict[int, Path]
    masks: dict[int, Path]
    confounds: dict[int, Path]
    labels_image: Path
    labels_table: Path
    maps_image: Path
    maps_table: Path
    spheres_table: Path
    compressed_bytes: dict[int, int]

    def to_json(self) -> dict:
        out = {}
        for key, value in asdict(self).items():
            if isinstance(value, dict):
                out[key] = {str(k): str(v) if isinstance(v, Path) else v for k, v in value.items()}
            elif isinstance(value, list):
                out[key] = [str(v) for v in value]
            else:
                out[key] = str(value)
        return out


# --------------------------------------------------------------------------------------
# Anatomy
# --------------------------------------------------------------------------------------


def _nilearn_template(name: str) -> Path:
    """Path of a template file in nilearn's wheel, found without importing nilearn."""
    import importlib.util

    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "The benchmark builds its brain shape from the ICBM152 templates in nilearn's "
            "wheel; install the test extras (pip install -e '.[test]')."
        )
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / name


def _template_on_grid(name: str) -> np.ndarray:
    """A 1 mm ICBM152 uint8 template resampled (linear) to the 2 mm grid, in [0, 1]."""
    img = nib.load(_nilearn_template(name))
    data = np.asarray(img.dataobj, dtype=np.float32) / 255.0
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in GRID_SHAPE], indexing="ij"), axis=0)
    world = np.tensordot(GRID_AFFINE[:3, :3], ijk, axes=1) + GRID_AFFINE[:3, 3, None, None, None]
    source = np.linalg.inv(img.affine)
    src = np.tensordot(source[:3, :3], world, axes=1) + source[:3, 3, None, None, None]
    return ndimage.map_coordinates(data, src, order=1, mode="constant", cval=0.0)


@dataclass
class Anatomy:
    """Tissue maps on the grid (float32 probabilities, bool masks)."""

    gm: np.ndarray
    wm: np.ndarray
    csf: np.ndarray
    brain: np.ndarray
    head: np.ndarray
    xyz: np.ndarray  # world coordinates (mm), shape + (3,)


def build_anatomy() -> Anatomy:
    """Grey/white matter, CSF, brain and head masks on the grid."""
    gm = _template_on_grid("mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz")
    wm = _template_on_grid("mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz")
    t1 = _template_on_grid("mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz")
    tissue = gm + wm
    brain = ndimage.binary_fill_holes(ndimage.binary_closing(tissue > 0.3, iterations=2))
    csf = np.clip(brain - np.clip(tissue, 0, 1), 0, 1).astype(np.float32)
    head = ndimage.binary_dilation(brain | (t1 > 0.15), iterations=3)
    head = ndimage.binary_fill_holes(head)
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in GRID_SHAPE], indexing="ij"), axis=-1)
    xyz = ijk @ GRID_AFFINE[:3, :3].T + GRID_AFFINE[:3, 3]
    return Anatomy(gm=gm, wm=wm, csf=csf, brain=brain, head=head, xyz=xyz)


def _spread_points(candidates: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` well-spread points among ``candidates`` (greedy farthest-point sampling)."""
    pool = candidates[rng.choice(len(candidates), size=min(len(candidates), 20 * n), replace=False)]
    chosen = [pool[0]]
    distance = np.linalg.norm(pool - pool[0], axis=1)
    for _ in range(n - 1):
        k = int(np.argmax(distance))
        chosen.append(pool[k])
        distance = np.minimum(distance, np.linalg.norm(pool - pool[k], axis=1))
    return np.asarray(chosen)


def build_labels(anatomy: Anatomy, n_labels: int, rng: np.random.Generator) -> np.ndarray:
    """Voronoi parcellation of the grey matter into ``n_labels`` regions (int16)."""
    cortex = anatomy.brain & (anatomy.gm > 0.35)
    points = anatomy.xyz[cortex]
    seeds = _spread_points(points, n_labels, rng)
    # Left hemisphere first, then by y, as Schaefer numbers its parcels.
    order = np.lexsort((seeds[:, 1], seeds[:, 0] > 0))
    seeds = seeds[order]
    _, nearest = cKDTree(seeds).query(points)
    labels = np.zeros(GRID_SHAPE, dtype=np.int16)
    labels[cortex] = nearest + 1
    return labels


def build_maps(anatomy: Anatomy, n_maps: int, rng: np.random.Generator) -> np.ndarray:
    """``n_maps`` smooth probabilistic maps (float32), one or two blobs each."""
    brain_points = anatomy.xyz[anatomy.brain]
    centres = _spread_points(brain_points, n_maps, rng)
    maps = np.zeros(GRID_SHAPE + (n_maps,), dtype=np.float32)
    inside = anatomy.brain
    xyz = anatomy.xyz[inside]
    for k, centre in enumerate(centres):
        sigma = rng.uniform(7.0, 11.0)
        value = np.exp(-np.sum((xyz - centre) ** 2, axis=1) / (2 * sigma**2))
        if rng.random() < 0.5:  # a mirrored partner blob, as bilateral networks
            partner = centre * np.array([-1.0, 1.0, 1.0])
            value += 0.7 * np.exp(-np.sum((xyz - partner) ** 2, axis=1) / (2 * sigma**2))
        value[value < 0.05] = 0.0
        maps[inside, k] = value.astype(np.float32)
    return maps


# --------------------------------------------------------------------------------------
# Time series
# --------------------------------------------------------------------------------------


def _motion(rng: np.random.Generator, n_volumes: int) -> np.ndarray:
    """Realignment parameters: trans x/y/z (mm) and rot x/y/z (rad), a random walk with jerks."""
    steps = rng.standard_normal((n_volumes, 6)) * np.array([0.03, 0.04, 0.05, 0.0006, 0.0005, 0.0004])
    jerks = rng.random(n_volumes) < 0.04
    steps[jerks] += rng.standard_normal((int(jerks.sum()), 6)) * np.array([0.3, 0.4, 0.5, 0.006, 0.005, 0.004])
    steps[0] = 0.0
    return np.cumsum(steps, axis=0)


def _framewise_displacement(motion: np.ndarray) -> np.ndarray:
    diff = np.abs(np.diff(motion, axis=0))
    fd = diff[:, :3].sum(axis=1) + 50.0 * diff[:, 3:].sum(axis=1)
    return np.concatenate([[np.nan], fd])


def _write_nifti_stream(path: Path, n_volumes: int, volumes) -> None:
    """Write a float32 4D NIfTI-1 ``.nii.gz`` volume by volume (gzip level 1, as nibabel)."""
    header = nib.Nifti1Header()
    header.set_data_shape(GRID_SHAPE + (n_volumes,))
    header.set_data_dtype(np.float32)
    header.set_qform(GRID_AFFINE, code=4)
    header.set_sform(GRID_AFFINE, code=4)
    header.set_xyzt_units("mm", "sec")
    header["pixdim"][4] = REPETITION_TIME
    header.set_data_offset(352)
    tmp = path.with_name(path.name + ".partial")
    with gzip.open(tmp, "wb", compresslevel=1) as stream:
        block = header.binaryblock
        stream.write(block + b"\x00" * (352 - len(block)))
        for volume in volumes:
            stream.write(np.asarray(volume, dtype=np.float32).tobytes(order="F"))
    os.replace(tmp, path)


def _compcor(samples: np.ndarray, n_keep: int, n_report: int):
    centred = samples - samples.mean(axis=0)
    t = np.linspace(-1, 1, len(samples))[:, None]
    centred = centred - t @ np.linalg.lstsq(t, centred, rcond=None)[0]
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    variance = s**2 / np.sum(s**2)
    return u[:, :n_keep], s[:n_report], variance[:n_report], np.cumsum(variance)[:n_report]


def build_run(
    anatomy: Anatomy,
    labels: np.ndarray,
    n_volumes: int,
    bold_path: Path,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, dict]:
    """Write one BOLD run and return its confounds table and sidecar."""
    head = anatomy.head
    n_head = int(head.sum())
    gm = anatomy.gm[head]
    wm = anatomy.wm[head]
    csf = anatomy.csf[head]
    brain_h = anatomy.brain[head]
    baseline = (1000.0 * gm + 780.0 * wm + 1350.0 * csf).astype(np.float32)
    scalp = ~brain_h
    baseline[scalp] = 180.0 + 120.0 * rng.random(int(scalp.sum()))
    baseline *= (1.0 + 0.04 * rng.standard_normal(n_head)).astype(np.float32)
    baseline = np.maximum(baseline, 20.0).astype(np.float32)
    noise_sd = (baseline / 60.0).astype(np.float32)  # tSNR ~ 60

    # Networks: 7 spatially coherent groups of parcels, each with a slow signal.
    n_labels = int(labels.max())
    label_h = labels[head].astype(np.int64)  # 0 = not a parcel
    centres = np.array([anatomy.xyz[labels == k].mean(axis=0) for k in range(1, n_labels + 1)])
    network_centres = _spread_points(centres, 7, rng)
    _, network_of = cKDTree(network_centres).query(centres)
    network_ts = band_limited_signals(rng, n_volumes, 7, REPETITION_TIME)
    parcel_ts = 0.8 * network_ts[:, network_of] + 0.6 * band_limited_signals(rng, n_volumes, n_labels, REPETITION_TIME)
    parcel_ts = np.concatenate([np.zeros((n_volumes, 1)), parcel_ts], axis=1)  # column 0: no parcel
    grey_gain = (0.012 * np.clip(gm, 0, 1)).astype(np.float32)  # 1.2 % signal change
    physio = band_limited_signals(rng, n_volumes, 2, REPETITION_TIME)
    physio_gain = (0.01 * (csf + 0.3 * wm)).astype(np.float32)

    motion = _motion(rng, n_volumes)
    fd = _framewise_displacement(motion)
    xyz_h = anatomy.xyz[head]
    gradient = ((xyz_h - xyz_h.mean(axis=0)) / np.ptp(xyz_h, axis=0)).astype(np.float32)
    drift = rng.normal(0.02, 0.01, n_head).astype(np.float32)  # fraction over the run

    brain_in_head = brain_h
    wm_in_head = (wm > 0.9) & brain_h
    csf_in_head = (csf > 0.9) & brain_h
    sample = rng.choice(np.flatnonzero(wm_in_head | csf_in_head), size=3000, replace=False)
    sample_wm = rng.choice(np.flatnonzero(wm_in_head), size=2000, replace=False)
    sample_csf = rng.choice(np.flatnonzero(csf_in_head), size=min(2000, int(csf_in_head.sum())), replace=False)
    sample_brain = rng.choice(np.flatnonzero(brain_in_head), size=4000, replace=False)
    means = {"global_signal": [], "white_matter": [], "csf": [], "csf_wm": []}
    samples = {"a": [], "w": [], "c": [], "t": []}
    dvars = [np.nan]
    previous = None

    def volumes():
        nonlocal previous
        volume = np.zeros(GRID_SHAPE, dtype=np.float32)
        for t in range(n_volumes):
            fraction = t / max(n_volumes - 1, 1)
            modulation = 1.0 + grey_gain * parcel_ts[t, label_h].astype(np.float32)
            modulation += physio_gain * np.float32(physio[t, 0])
            fd_t = 0.0 if np.isnan(fd[t]) else fd[t]
            modulation += np.float32(0.02 * fd_t) * gradient[:, 1] + np.float32(0.004 * motion[t, 0]) * gradient[:, 0]
            modulation += drift * np.float32(fraction)
            if t < N_DUMMY:
                modulation *= np.float32(1.0 + 0.4 * np.exp(-t / 0.8))
            values = baseline * modulation + noise_sd * rng.standard_normal(n_head, dtype=np.float32)
            brain_values = values[brain_in_head]
            means["global_signal"].append(float(brain_values.mean(dtype=np.float64)))
            means["white_matter"].append(float(values[wm_in_head].mean(dtype=np.float64)))
            means["csf"].append(float(values[csf_in_head].mean(dtype=np.float64)))
            means["csf_wm"].append(float(values[wm_in_head | csf_in_head].mean(dtype=np.float64)))
            samples["a"].append(values[sample])
            samples["w"].append(values[sample_wm])
            samples["c"].append(values[sample_csf])
            samples["t"].append(values[sample_brain])
            if previous is not None:
                dvars.append(float(np.sqrt(np.mean((brain_values.astype(np.float64) - previous) ** 2))))
            previous = brain_values.astype(np.float64)
            volume[head] = values
            yield volume

    _write_nifti_stream(bold_path, n_volumes, volumes())

    columns: dict[str, np.ndarray] = {}

    def with_expansions(name, values):
        values = np.asarray(values, dtype=float)
        derivative = np.concatenate([[np.nan], np.diff(values)])
        columns[name] = values
        columns[f"{name}_derivative1"] = derivative
        columns[f"{name}_power2"] = values**2
        columns[f"{name}_derivative1_power2"] = derivative**2

    for name in ("global_signal", "csf", "white_matter"):
        with_expansions(name, means[name])
    columns["csf_wm"] = np.asarray(means["csf_wm"])
    dvars = np.asarray(dvars)
    columns["std_dvars"] = dvars / np.nanmedian(dvars)
    columns["dvars"] = dvars
    columns["framewise_displacement"] = fd
    columns["rmsd"] = np.concatenate([[np.nan], np.sqrt((np.diff(motion[:, :3], axis=0) ** 2).sum(axis=1))])
    sidecar: dict[str, dict] = {}
    for prefix, key, method, mask_name, n_keep in (
        ("a_comp_cor", "a", "aCompCor", "combined", 12),
        ("c_comp_cor", "c", "aCompCor", "CSF", 6),
        ("w_comp_cor", "w", "aCompCor", "WM", 6),
        ("t_comp_cor", "t", "tCompCor", None, 6),
    ):
        components, singular, variance, cumulative = _compcor(np.asarray(samples[key], dtype=float), n_keep, n_keep + 4)
        for k in range(len(singular)):
            retained = k < n_keep
            entry = {
                "CumulativeVarianceExplained": float(cumulative[k]),
                "Method": method,
                "Retained": retained,
                "SingularValue": float(singular[k]),
                "VarianceExplained": float(variance[k]),
            }
            if mask_name:
                entry["Mask"] = mask_name
            name = f"{prefix}_{k:02d}" if retained else f"dropped_{prefix}_{k:02d}"
            if retained:
                columns[name] = components[:, k]
            sidecar[name] = entry
    n_cosines = int(np.floor(2 * n_volumes * REPETITION_TIME / 128.0))
    times = np.arange(n_volumes)
    for k in range(1, n_cosines + 1):
        columns[f"cosine{k - 1:02d}"] = np.sqrt(2.0 / n_volumes) * np.cos(np.pi / n_volumes * (times + 0.5) * k)
    for k, name in enumerate(("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z")):
        with_expansions(name, motion[:, k])
    for k in range(N_DUMMY):
        column = np.zeros(n_volumes)
        column[k] = 1.0
        columns[f"non_steady_state_outlier{k:02d}"] = column
    outliers = np.flatnonzero((np.nan_to_num(fd) > 0.5) | (np.nan_to_num(columns["std_dvars"]) > 1.5))
    for k, index in enumerate(outliers):
        column = np.zeros(n_volumes)
        column[index] = 1.0
        columns[f"motion_outlier{k:02d}"] = column
    return pd.DataFrame(columns), sidecar


# --------------------------------------------------------------------------------------
# The folder
# --------------------------------------------------------------------------------------


def _bold_stem(task: str, run: str | None = None, acq: str | None = None) -> str:
    parts = [f"sub-{_SUBJECT}", f"task-{task}"]
    if acq:
        parts.append(f"acq-{acq}")
    if run:
        parts.append(f"run-{run}")
    return "_".join(parts)


def _paths(root: Path, spec: InputSpec) -> BuiltInputs:
    func = root / "fmriprep" / f"sub-{_SUBJECT}" / "func"
    space = f"space-{SPACE}_res-2"
    bolds, masks, confounds = {}, {}, {}
    for n in spec.lengths:
        stem = _bold_stem("rest", acq=f"T{n}")
        bolds[n] = func / f"{stem}_{space}_desc-preproc_bold.nii.gz"
        masks[n] = func / f"{stem}_{space}_desc-brain_mask.nii.gz"
        confounds[n] = func / f"{stem}_desc-confounds_timeseries.tsv"
    atlases = root / "atlases"
    return BuiltInputs(
        root=root,
        bids_dir=root / "fmriprep",
        bolds=bolds,
        masks=masks,
        confounds=confounds,
        labels_image=atlases / f"tpl-{SPACE}_res-02_atlas-Bench_desc-{spec.n_labels}Parcels_dseg.nii.gz",
        labels_table=atlases / f"tpl-{SPACE}_res-02_atlas-Bench_desc-{spec.n_labels}Parcels_dseg.tsv",
        maps_image=atlases / f"tpl-{SPACE}_res-02_atlas-Bench_desc-{spec.n_maps}dimensions_probseg.nii.gz",
        maps_table=atlases / f"tpl-{SPACE}_res-02_atlas-Bench_desc-{spec.n_maps}dimensions_probseg.tsv",
        spheres_table=Path(__file__).resolve().parents[1]
        / "src" / "regionseries" / "atlases" / "coordinates" / "Power2011.tsv",
        compressed_bytes={},
    )


def _write_companions(bold: Path, mask_path: Path, confounds_path: Path, anatomy: Anatomy,
                      table: pd.DataFrame, sidecar: dict) -> None:
    bold.with_name(bold.name.replace(".nii.gz", ".json")).write_text(json.dumps({
        "RepetitionTime": REPETITION_TIME, "SkullStripped": False, "TaskName": "rest",
        "SliceTimingCorrected": False,
    }, indent=2))
    mask_img = nib.Nifti1Image(anatomy.brain.astype(np.uint8), GRID_AFFINE)
    mask_img.header.set_qform(GRID_AFFINE, code=4)
    mask_img.header.set_sform(GRID_AFFINE, code=4)
    mask_img.to_filename(str(mask_path))
    mask_path.with_name(mask_path.name.replace(".nii.gz", ".json")).write_text(json.dumps({"Type": "Brain"}))
    table.to_csv(confounds_path, sep="\t", index=False, na_rep="n/a", float_format="%.8g")
    confounds_path.with_suffix(".json").write_text(json.dumps(sidecar, indent=2))


def build_inputs(root: str | os.PathLike, spec: InputSpec = InputSpec(), log=print) -> BuiltInputs:
    """Build (or reuse) the benchmark inputs under ``root``.

    Parameters
    ----------
    root : path-like
        Data folder. Inputs already built there with the same settings are reused.
    spec : InputSpec
        What to build.
    log : callable
        Progress messages.

    Returns
    -------
    BuiltInputs
    """
    root = Path(root).resolve()
    manifest_path = root / "manifest.json"
    wanted = {"version": INPUTS_VERSION, **asdict(spec)}
    wanted["lengths"] = sorted(set(spec.lengths))
    if manifest_path.exists():
        settings = json.loads(manifest_path.read_text()).get("settings", {})
        built_lengths = settings.get("lengths", [])
        same = {k: v for k, v in settings.items() if k != "lengths"} == {
            k: v for k, v in wanted.items() if k != "lengths"
        }
        if same and set(wanted["lengths"]) <= set(built_lengths):
            paths = _paths(root, InputSpec(**{**asdict(spec), "lengths": tuple(built_lengths)}))
            if all(p.exists() for p in [*paths.bolds.values(), paths.labels_image, paths.maps_image]):
                for n, bold in paths.bolds.items():
                    paths.compressed_bytes[n] = bold.stat().st_size
                return paths
    paths = _paths(root, spec)
    if root.exists():
        shutil.rmtree(root)
    (paths.bids_dir / f"sub-{_SUBJECT}" / "func").mkdir(parents=True)
    paths.labels_image.parent.mkdir(parents=True)
    rng = np.random.default_rng(spec.seed)
    log("building anatomy (ICBM152 grey/white matter on the MNI152NLin2009cAsym 2 mm grid)")
    anatomy = build_anatomy()
    labels = build_labels(anatomy, spec.n_labels, rng)
    maps = build_maps(anatomy, spec.n_maps, rng)
    for path, data in ((paths.labels_image, labels), (paths.maps_image, maps)):
        img = nib.Nifti1Image(data, GRID_AFFINE)
        img.header.set_qform(GRID_AFFINE, code=4)
        img.header.set_sform(GRID_AFFINE, code=4)
        img.to_filename(str(path))
    pd.DataFrame({"index": np.arange(1, spec.n_labels + 1),
                  "name": [f"{'LH' if k < spec.n_labels // 2 else 'RH'}_parcel{k + 1:03d}" for k in range(spec.n_labels)]}
                 ).to_csv(paths.labels_table, sep="\t", index=False)
    pd.DataFrame({"index": np.arange(1, spec.n_maps + 1),
                  "name": [f"component{k + 1:02d}" for k in range(spec.n_maps)]}
                 ).to_csv(paths.maps_table, sep="\t", index=False)
    (paths.bids_dir / "dataset_description.json").write_text(json.dumps({
        "Name": "regionseries benchmark (synthetic fMRIPrep derivatives)", "BIDSVersion": "1.9.0",
        "DatasetType": "derivative",
        "GeneratedBy": [{"Name": "fMRIPrep", "Version": "24.1.1"}],
    }, indent=2))
    for n in spec.lengths:
        log(f"writing a {GRID_SHAPE} x {n} float32 BOLD run (gzip level 1)")
        table, sidecar = build_run(anatomy, labels, n, paths.bolds[n], rng)
        _write_companions(paths.bolds[n], paths.masks[n], paths.confounds[n], anatomy, table, sidecar)
        paths.compressed_bytes[n] = paths.bolds[n].stat().st_size
    manifest_path.write_text(json.dumps({"settings": wanted, "paths": paths.to_json()}, indent=2))
    return paths


def multi_runs(built: BuiltInputs, length: int, count: int = 4) -> tuple[str, str]:
    """Hard-linked copies of the ``length`` run as ``task-multi_acq-T<length>_run-1..count``.

    Returns the task and acquisition labels that select them.
    """
    source = built.bolds[length]
    acquisition = f"T{length}"
    space = f"space-{SPACE}_res-2"
    for k in range(1, count + 1):
        stem = _bold_stem("multi", run=str(k), acq=acquisition)
        bold = source.with_name(f"{stem}_{space}_desc-preproc_bold.nii.gz")
        if bold.exists():
            continue
        try:
            os.link(source, bold)
        except OSError:
            shutil.copyfile(source, bold)
        shutil.copyfile(source.with_name(source.name.replace(".nii.gz", ".json")),
                        bold.with_name(bold.name.replace(".nii.gz", ".json")))
        shutil.copyfile(built.masks[length], bold.with_name(bold.name.replace("desc-preproc_bold", "desc-brain_mask")))
        shutil.copyfile(built.confounds[length], bold.with_name(f"{stem}_desc-confounds_timeseries.tsv"))
        shutil.copyfile(built.confounds[length].with_suffix(".json"),
                        bold.with_name(f"{stem}_desc-confounds_timeseries.json"))
    return "multi", acquisition
