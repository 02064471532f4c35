"""Fixtures for the confounds tests.

* nilearn's real fMRIPrep confounds files, used in place from the installed
  nilearn package (symlinked into a temporary fMRIPrep-like folder when a
  BOLD file name is needed);
* the synthetic 60-volume run of section 8.2 of the reference notes;
* an fMRIPrep < 1.2 CamelCase run.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import nilearn.interfaces.fmriprep as nilearn_fmriprep

NILEARN_DATA = Path(nilearn_fmriprep.__file__).parent / "data"
V14_TSV = NILEARN_DATA / "test_desc-confounds_regressors.tsv"
V14_JSON = NILEARN_DATA / "test_desc-confounds_regressors.json"
V21_TSV = NILEARN_DATA / "test-v21_desc-confounds_timeseries.tsv"
V21_JSON = NILEARN_DATA / "test-v21_desc-confounds_timeseries.json"
NO_NSS_TSV = NILEARN_DATA / "no_nonsteady_desc-confounds_regressors.tsv"

BOLD_ENTITIES = "sub-01_ses-1_task-rest_run-1"
BOLD_NAME = f"{BOLD_ENTITIES}_space-MNI152NLin2009cAsym_res-2_desc-preproc_bold.nii.gz"
AROMA_NAME = f"{BOLD_ENTITIES}_space-MNI152NLin6Asym_desc-smoothAROMAnonaggr_bold.nii.gz"

N_SYNTH = 60
FD_SPIKES = (10, 13, 30, 31, 50, 57)
DVARS_SPIKE = 40
ACOMPCOR_MASKS = ("combined", "combined", "WM", "CSF", "CSF")


def link_run(directory: Path, tsv: Path, json_file: Path | None, suffix: str = "timeseries") -> Path:
    """Symlink a confounds TSV (+ JSON) under fMRIPrep names; return the BOLD path."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"{BOLD_ENTITIES}_desc-confounds_{suffix}"
    (directory / f"{stem}.tsv").symlink_to(tsv)
    if json_file is not None:
        (directory / f"{stem}.json").symlink_to(json_file)
    return directory / BOLD_NAME


def _expanded(rng: np.random.Generator, base: str, n: int) -> dict[str, np.ndarray]:
    """A base regressor with fMRIPrep's derivative and power2 expansions."""
    values = np.cumsum(rng.normal(0.0, 0.1, n)) + rng.normal(0, 1)
    derivative = np.concatenate(([np.nan], np.diff(values)))
    return {
        base: values,
        f"{base}_derivative1": derivative,
        f"{base}_power2": values**2,
        f"{base}_derivative1_power2": derivative**2,
    }


def synthetic_confounds(seed: int = 0, n: int = N_SYNTH) -> tuple[pd.DataFrame, dict]:
    """The synthetic run of reference section 8.2 (current fMRIPrep names).

    FD spikes (> 0.5 mm) at 10, 13, 30, 31, 50, 57; std_dvars 2.0 at 40; two
    non-steady-state volumes (0 and 1); 4 cosines; 5 aCompCor with masks
    [combined, combined, WM, CSF, CSF] under current names (a_comp_cor_00/01,
    w_comp_cor_00, c_comp_cor_00/01); 3 tCompCor; 2 aroma columns.
    """
    rng = np.random.default_rng(seed)
    columns: dict[str, np.ndarray] = {}
    for base in ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z", "csf", "white_matter", "global_signal"):
        columns.update(_expanded(rng, base, n))
    fd = rng.uniform(0.02, 0.3, n)
    fd[list(FD_SPIKES)] = rng.uniform(0.6, 2.0, len(FD_SPIKES))
    fd[0] = np.nan
    dvars = rng.uniform(0.8, 1.3, n)
    dvars[DVARS_SPIKE] = 2.0
    dvars[0] = np.nan
    columns["framewise_displacement"] = fd
    columns["std_dvars"] = dvars
    columns["dvars"] = dvars * 20
    columns["rmsd"] = np.concatenate(([np.nan], rng.uniform(0.01, 0.2, n - 1)))
    time = np.arange(n)
    for k in range(4):
        columns[f"cosine{k:02d}"] = np.sqrt(2.0 / n) * np.cos(np.pi / n * (time + 0.5) * (k + 1))
    metadata: dict[str, dict] = {}
    counters = {"a": 0, "w": 0, "c": 0}
    for mask in ACOMPCOR_MASKS:
        prefix = {"combined": "a", "WM": "w", "CSF": "c"}[mask]
        name = f"{prefix}_comp_cor_{counters[prefix]:02d}"
        counters[prefix] += 1
        columns[name] = rng.standard_normal(n) * 0.1
        metadata[name] = {"Method": "aCompCor", "Mask": mask, "Retained": True}
    for k in range(3):
        name = f"t_comp_cor_{k:02d}"
        columns[name] = rng.standard_normal(n) * 0.1
        metadata[name] = {"Method": "tCompCor", "Retained": True}
    for k in (1, 2):
        columns[f"aroma_motion_{k:02d}"] = rng.standard_normal(n)
    for k in range(2):
        indicator = np.zeros(n)
        indicator[k] = 1.0
        columns[f"non_steady_state_outlier{k:02d}"] = indicator
    for name in ("csf", "white_matter", "global_signal"):
        metadata[name] = {"Method": "Mean"}
    return pd.DataFrame(columns), metadata


def to_pre21_naming(data: pd.DataFrame, metadata: dict) -> tuple[pd.DataFrame, dict]:
    """The same run as fMRIPrep < 21 writes it: every aCompCor as a_comp_cor_NN."""
    renames = {}
    number = 0
    for prefix in ("a", "w", "c"):  # combined, WM, CSF (reference 8.2)
        for name in sorted(column for column in data.columns if column.startswith(f"{prefix}_comp_cor_")):
            renames[name] = f"a_comp_cor_{number:02d}"
            number += 1
    return data.rename(columns=renames), {renames.get(key, key): value for key, value in metadata.items()}


def write_run(
    directory: Path,
    data: pd.DataFrame,
    metadata: dict | None,
    suffix: str = "timeseries",
    bold_name: str = BOLD_NAME,
) -> Path:
    """Write a confounds TSV (n/a for NaN) and JSON; return the BOLD path."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = directory / f"{BOLD_ENTITIES}_desc-confounds_{suffix}"
    data.to_csv(f"{stem}.tsv", sep="\t", index=False, na_rep="n/a")
    if metadata is not None:
        Path(f"{stem}.json").write_text(json.dumps(metadata, indent=1))
    return directory / bold_name


def camelcase_confounds(seed: int = 1, n: int = 40) -> pd.DataFrame:
    """An fMRIPrep 1.0/1.1 ``_bold_confounds.tsv`` table (CamelCase names)."""
    rng = np.random.default_rng(seed)
    columns = {
        "CSF": rng.normal(700, 5, n),
        "WhiteMatter": rng.normal(580, 3, n),
        "GlobalSignal": rng.normal(530, 4, n),
        "stdDVARS": np.concatenate(([np.nan], rng.uniform(0.8, 1.3, n - 1))),
        "non-stdDVARS": np.concatenate(([np.nan], rng.uniform(20, 30, n - 1))),
        "vx-wisestdDVARS": np.concatenate(([np.nan], rng.uniform(0.8, 1.3, n - 1))),
        "FramewiseDisplacement": np.concatenate(([np.nan], rng.uniform(0.02, 0.3, n - 1))),
    }
    for k in range(3):
        columns[f"tCompCor{k:02d}"] = rng.standard_normal(n) * 0.1
    for k in range(4):
        columns[f"aCompCor{k:02d}"] = rng.standard_normal(n) * 0.1
    for k in range(2):
        columns[f"Cosine{k:02d}"] = np.cos(np.pi / n * (np.arange(n) + 0.5) * (k + 1))
    columns["NonSteadyStateOutlier00"] = np.eye(n)[0]
    for name in ("X", "Y", "Z", "RotX", "RotY", "RotZ"):
        columns[name] = np.cumsum(rng.normal(0, 0.05, n))
    columns["AROMAAggrComp01"] = rng.standard_normal(n)
    columns["AROMAAggrComp04"] = rng.standard_normal(n)
    columns["FramewiseDisplacement"][[15, 16]] = 1.2
    return pd.DataFrame(columns)


def call_recording_warnings(function, *args, **kwargs):
    """Call ``function``; return (result or exception, [(category, message)])."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = function(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - compared by the caller
            result = error
    return result, [(item.category, str(item.message)) for item in caught]


@pytest.fixture
def synthetic(tmp_path):
    """(BOLD path, data, metadata) of the synthetic run in a fMRIPrep-like folder."""
    data, metadata = synthetic_confounds()
    bold = write_run(tmp_path / "func", data, metadata)
    return bold, data, metadata


@pytest.fixture
def v14_bold(tmp_path):
    """BOLD path next to nilearn's fMRIPrep 1.4 confounds (regressors suffix)."""
    return link_run(tmp_path / "v14", V14_TSV, V14_JSON, suffix="regressors")


@pytest.fixture
def v21_bold(tmp_path):
    """BOLD path next to nilearn's fMRIPrep 21 confounds (timeseries suffix)."""
    return link_run(tmp_path / "v21", V21_TSV, V21_JSON)


@pytest.fixture
def no_nss_bold(tmp_path):
    """BOLD path next to nilearn's file without non-steady-state columns."""
    return link_run(tmp_path / "nonss", NO_NSS_TSV, V14_JSON, suffix="regressors")


@pytest.fixture(scope="session")
def helpers():
    """This module's builders and constants (test modules cannot import a
    conftest under pytest's importlib import mode)."""
    return sys.modules[__name__]
