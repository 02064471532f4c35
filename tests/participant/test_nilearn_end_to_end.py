"""The command line's numbers against nilearn 0.14.1 (the oracle), end to end.

What a user checking the tool would do: run the participant level through the
real command line, then recompute the kept rows of a time series with
nilearn's ``NiftiLabelsMasker`` + ``load_confounds_strategy`` with the same
settings, and the connectivity with ``ConnectivityMeasure``.

Settings that differ from nilearn's *defaults* are passed to nilearn
explicitly (they are regionseries' documented defaults, docs/usage.md,
"Reproducing the numbers with nilearn"): the strategy's ``detrend=True`` and
``standardize="zscore_sample"`` (the masker's defaults are False), fMRIPrep's
brain mask as ``mask_img`` (the masker has none by default) and, for
connectivity, the empirical covariance (``ConnectivityMeasure`` defaults to
Ledoit-Wolf).

nilearn is given the BOLD as float64: on float32 files nilearn detrends and
cleans the region signals in float32 (≈1e-5 error on z-scored values,
docs/differences-from-nilearn.md, signal item 7), whereas regionseries
computes in float64. The comparison with nilearn's own float32 path is kept,
with the tolerance that error needs.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from nilearn.connectome import ConnectivityMeasure
from nilearn.interfaces.fmriprep import load_confounds_strategy
from nilearn.maskers import NiftiLabelsMasker
from sklearn.covariance import EmpiricalCovariance

from ..conftest import TEST_N_VOLUMES, run_cli

T_R = 2.0  # the generated datasets' RepetitionTime (s)
#: fMRIPrep-flagged non-steady-state volumes of the generated runs.
N_FLAGGED_DUMMIES = 2
#: Values are written with 9 significant digits (%.9g).
TSV_ATOL = 1e-7


def _uri_path(dataset: Path, uri: str) -> Path:
    return dataset / uri.split(":", 2)[2]


def _run_files(dataset: Path, sidecar: dict) -> tuple[Path, Path]:
    """The BOLD and brain mask a time series came from (from its Sources)."""
    bold = _uri_path(dataset, sidecar["Sources"][0])
    (mask,) = [_uri_path(dataset, s) for s in sidecar["Sources"] if s.endswith("_desc-brain_mask.nii.gz")]
    return bold, mask


def _as_float64(path: Path) -> nib.Nifti1Image:
    img = nib.load(str(path))
    return nib.Nifti1Image(img.get_fdata(dtype=np.float64), img.affine)


def _read_series(path: Path) -> tuple[pd.DataFrame, dict]:
    table = pd.read_csv(path, sep="\t", na_values="n/a", keep_default_na=False)
    return table, json.loads(path.with_suffix(".json").read_text())


def _relmat(series: Path, stat: str) -> np.ndarray:
    name = series.name.replace("_desc-", f"_stat-{stat}_desc-").replace("_timeseries.tsv", "_relmat.tsv")
    return pd.read_csv(series.with_name(name), sep="\t", index_col=0, na_values="n/a",
                       keep_default_na=False).to_numpy(float)


def _nilearn_signals(bold, atlas: Path, mask: Path, confounds, sample_mask, **masker_kwargs) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nilearn's deprecation/resampling chatter
        masker = NiftiLabelsMasker(labels_img=str(atlas), mask_img=str(mask), t_r=T_R, **masker_kwargs)
        return masker.fit_transform(bold, confounds=confounds, sample_mask=sample_mask)


def _nilearn_confounds(bold: Path, strategy: str, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        confounds, sample_mask = load_confounds_strategy(str(bold), denoise_strategy=strategy, **kwargs)
    n_volumes = nib.load(str(bold)).shape[3]
    return confounds, np.arange(n_volumes) if sample_mask is None else np.asarray(sample_mask)


# --------------------------------------------------------------------------------------
# Presets with their defaults
# --------------------------------------------------------------------------------------

PRESETS = ("simple", "scrubbing", "compcor")


@pytest.fixture(scope="module")
def presets_run(fmriprep_dataset, demo_atlas, tmp_path_factory):
    """Participant level on sub-01 session 1 (a float32 and an int16 run), three presets.

    Also exercises the underscore spellings a BIDS-Apps user may type.
    """
    image, table = demo_atlas
    output = tmp_path_factory.mktemp("nilearn-presets") / "out"
    result = run_cli(fmriprep_dataset, output, "participant", "--participant_label", "sub-01",
                     "--session-label", "ses-1", "--atlas-file", f"Demo={image}:{table}",
                     "--strategy", *PRESETS, "--no-reports", "--skip_bids_validation",
                     "-w", tmp_path_factory.mktemp("nilearn-presets-work"))
    assert result.returncode == 0, result.stderr
    series = sorted(output.glob("sub-01/ses-1/func/*_atlas-Demo_desc-*_timeseries.tsv"))
    assert len(series) == 2 * len(PRESETS), [p.name for p in series]
    return series


@pytest.mark.parametrize("strategy", PRESETS)
def test_presets_match_nilearn(presets_run, fmriprep_dataset, demo_atlas, strategy):
    atlas = demo_atlas[0]
    dtypes = set()
    for path in [p for p in presets_run if f"_desc-{strategy}_" in p.name]:
        table, sidecar = _read_series(path)
        bold, mask = _run_files(fmriprep_dataset, sidecar)
        dtypes.add(str(nib.load(str(bold)).get_data_dtype()))
        confounds, sample_mask = _nilearn_confounds(bold, strategy)

        # volumes and regressors: exactly nilearn's
        assert sidecar["KeptVolumes"] == sample_mask.tolist()
        assert sorted(sidecar["ConfoundRegressors"]) == sorted(confounds.columns)
        removed = sorted(set(range(TEST_N_VOLUMES)) - set(sample_mask.tolist()))
        assert np.flatnonzero(table.isna().all(axis=1)).tolist() == removed
        assert removed[:N_FLAGGED_DUMMIES] == list(range(N_FLAGGED_DUMMIES))

        expected = _nilearn_signals(_as_float64(bold), atlas, mask, confounds, sample_mask,
                                    standardize="zscore_sample", detrend=True)
        kept = table.iloc[sample_mask].to_numpy(float)
        assert kept.shape == expected.shape
        np.testing.assert_allclose(kept, expected, rtol=0, atol=TSV_ATOL)
        # nilearn's own path on the file as stored (float32 cleaning for float32 files)
        stored = _nilearn_signals(str(bold), atlas, mask, confounds, sample_mask,
                                  standardize="zscore_sample", detrend=True)
        np.testing.assert_allclose(kept, stored, rtol=0, atol=5e-5)

        correlation = ConnectivityMeasure(kind="correlation", cov_estimator=EmpiricalCovariance())
        np.testing.assert_allclose(_relmat(path, "correlation"), correlation.fit_transform([expected])[0],
                                   rtol=0, atol=TSV_ATOL)
    assert dtypes == {"float32", "int16"}


# --------------------------------------------------------------------------------------
# Command-line overrides
# --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def overrides_run(fmriprep_dataset, demo_atlas, tmp_path_factory):
    """Scrubbing thresholds, dummy scans, smoothing, low-pass, no standardisation,
    Ledoit-Wolf partial correlation, verbose output."""
    image, table = demo_atlas
    output = tmp_path_factory.mktemp("nilearn-overrides") / "out"
    result = run_cli(fmriprep_dataset, output, "participant", "--participant-label", "01", "--session-label", "2",
                     "--atlas-file", f"Demo={image}:{table}", "--strategy", "scrubbing", "none",
                     "--fd-threshold", "0.3", "--std-dvars-threshold", "2", "--dummy-scans", "3",
                     "--smoothing-fwhm", "6", "--low-pass", "0.1", "--standardize", "none",
                     "--connectivity", "partial-correlation", "--connectivity-estimator", "ledoit-wolf",
                     "--no-reports", "-v", "-w", tmp_path_factory.mktemp("nilearn-overrides-work"))
    assert result.returncode == 0, result.stderr
    return output, result


def test_verbose_shows_debug_progress(overrides_run):
    _, result = overrides_run
    assert "[1/1] starting sub-01_ses-2_task-rest_run-1_space-MNI152NLin2009cAsym_desc-preproc_bold.nii.gz" \
        in result.stderr


@pytest.mark.parametrize("strategy", ["scrubbing", "none"])
def test_overrides_match_nilearn(overrides_run, fmriprep_dataset, demo_atlas, strategy):
    output, _ = overrides_run
    (path,) = output.glob(f"sub-01/ses-2/func/*_atlas-Demo_desc-{strategy}_timeseries.tsv")
    table, sidecar = _read_series(path)
    bold, mask = _run_files(fmriprep_dataset, sidecar)
    assert sidecar["SmoothingFWHM"] == 6.0
    assert sidecar["CleaningParameters"] == {"detrend": True, "standardize": False, "standardize_confounds": True,
                                             "filter": "butterworth", "low_pass": 0.1, "high_pass": None,
                                             "t_r": T_R}
    if strategy == "scrubbing":
        assert sidecar["Strategy"]["fd_threshold"] == 0.3 and sidecar["Strategy"]["std_dvars_threshold"] == 2.0
        confounds, sample_mask = _nilearn_confounds(bold, "scrubbing", fd_threshold=0.3, std_dvars_threshold=2)
    else:
        confounds, sample_mask = None, np.arange(TEST_N_VOLUMES)
    # --dummy-scans 3: the first 3 volumes, whatever fMRIPrep flagged
    sample_mask = sample_mask[sample_mask >= 3]
    assert sidecar["DummyVolumes"] == [0, 1, 2]
    assert sidecar["KeptVolumes"] == sample_mask.tolist()

    expected = _nilearn_signals(_as_float64(bold), demo_atlas[0], mask, confounds, sample_mask,
                                smoothing_fwhm=6, low_pass=0.1, detrend=True, standardize=False)
    kept = table.iloc[sample_mask].to_numpy(float)
    # not standardised, so the tolerance scales with the signal (f64, 9 written digits)
    np.testing.assert_allclose(kept, expected, rtol=1e-8, atol=1e-8 * np.abs(expected).max())
    partial = ConnectivityMeasure(kind="partial correlation").fit_transform([expected])[0]  # Ledoit-Wolf
    np.testing.assert_allclose(_relmat(path, "partialcorrelation"), partial, rtol=0, atol=1e-6)


def test_band_pass_psc_without_detrending_matches_nilearn(fmriprep_dataset, demo_atlas, tmp_path):
    image, table_path = demo_atlas
    output = tmp_path / "out"
    result = run_cli(fmriprep_dataset, output, "participant", "--participant-label", "03",
                     "--atlas-file", f"Demo={image}:{table_path}", "--strategy", "none", "--no-detrend",
                     "--standardize", "psc", "--filter", "butterworth", "--high-pass", "0.01", "--low-pass", "0.1",
                     "--connectivity", "covariance", "--no-reports", "-w", tmp_path / "work")
    assert result.returncode == 0, result.stderr
    (path,) = output.glob("sub-03/func/*_atlas-Demo_desc-none_timeseries.tsv")
    table, sidecar = _read_series(path)
    bold, mask = _run_files(fmriprep_dataset, sidecar)
    sample_mask = np.arange(N_FLAGGED_DUMMIES, TEST_N_VOLUMES)
    assert sidecar["KeptVolumes"] == sample_mask.tolist() and sidecar["ConfoundRegressors"] == []
    expected = _nilearn_signals(_as_float64(bold), image, mask, None, sample_mask, standardize="psc",
                                detrend=False, high_pass=0.01, low_pass=0.1)
    kept = table.iloc[sample_mask].to_numpy(float)
    np.testing.assert_allclose(kept, expected, rtol=1e-8, atol=1e-8 * np.abs(expected).max())
    covariance = ConnectivityMeasure(kind="covariance", cov_estimator=EmpiricalCovariance()).fit_transform([expected])[0]
    np.testing.assert_allclose(_relmat(path, "covariance"), covariance, rtol=1e-7, atol=1e-8 * np.abs(covariance).max())
