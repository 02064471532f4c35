"""The Python API refuses the runs the command line refuses (issue 12, item 6).

``load_confounds`` and ``load_confounds_strategy`` raise where nilearn 0.14.1
returns without a word:

* ``RunExcluded`` (a ValueError) when every volume is censored: nilearn
  returns an empty sample mask and all-NaN confounds, with a RuntimeWarning;
* ``ConfoundsError`` (a ValueError) when the image's number of volumes
  differs from the rows of its confounds file: nilearn never opens the image.

An image whose header cannot be read is not refused: a warning names it and
the result is nilearn's (last tests).

The rule and the message are ``plan_denoising``'s, which the command line
uses. Every case also runs nilearn on the same files, so the documented
difference (docs/differences-from-nilearn.md, "load_confounds") is pinned by
a test.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from nibabel import cifti2
from nilearn.interfaces.fmriprep import load_confounds as nilearn_load_confounds
from nilearn.interfaces.fmriprep import load_confounds_strategy as nilearn_load_confounds_strategy

from regionseries.confounds import (
    ConfoundsError,
    RunExcluded,
    UnreadableImageWarning,
    load_confounds,
    load_confounds_strategy,
    plan_denoising,
)

N = 60  # volumes of the synthetic run
CENSORED_REASON = (
    "all 60 volumes are censored (2 non-steady-state, 58 motion outliers at FD > 0.5 mm, "
    "std DVARS > 1.5, segments < 5 volumes)."
)


def tsv_of(bold):
    return next(bold.parent.glob("*_desc-confounds_*.tsv"))


def write_nifti_bold(path, n_volumes):
    """A tiny float32 BOLD image with ``n_volumes`` volumes (3D when None)."""
    shape = (2, 2, 2) if n_volumes is None else (2, 2, 2, n_volumes)
    nib.Nifti1Image(np.ones(shape, dtype=np.float32), np.eye(4)).to_filename(str(path))
    return path


def write_cifti_bold(path, n_volumes):
    series = cifti2.cifti2_axes.SeriesAxis(start=0.0, step=2.0, size=n_volumes)
    vertices = cifti2.cifti2_axes.BrainModelAxis.from_mask(np.ones(5, dtype=bool), name="cortex_left")
    header = cifti2.Cifti2Header.from_axes((series, vertices))
    cifti2.Cifti2Image(np.ones((n_volumes, 5), dtype=np.float32), header).to_filename(str(path))
    return path


def write_gifti_bold(path, n_volumes):
    arrays = [
        nib.gifti.GiftiDataArray(np.ones(5, dtype=np.float32), intent="NIFTI_INTENT_TIME_SERIES")
        for _ in range(n_volumes)
    ]
    nib.save(nib.gifti.GiftiImage(darrays=arrays), str(path))
    return path


def nilearn_quiet(function, *args, **kwargs):
    """nilearn's result and the (category, message) of its warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = function(*args, **kwargs)
    return result, [(item.category, str(item.message)) for item in caught]


@pytest.fixture
def censored_run(helpers, tmp_path):
    """The synthetic run with FD 5 mm at every volume, and its 60-volume BOLD image."""
    data, metadata = helpers.synthetic_confounds()
    data["framewise_displacement"] = 5.0
    bold = helpers.write_run(tmp_path, data, metadata)
    return write_nifti_bold(bold, N)


# --- every volume censored -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ours", "theirs", "kwargs", "name"),
    [
        (load_confounds, nilearn_load_confounds, dict(strategy=("motion", "scrub")), "motion+scrub"),
        (load_confounds_strategy, nilearn_load_confounds_strategy, dict(denoise_strategy="scrubbing"), "scrubbing"),
    ],
    ids=["load_confounds", "load_confounds_strategy"],
)
def test_every_volume_censored_is_refused(censored_run, ours, theirs, kwargs, name):
    with pytest.raises(RunExcluded) as caught:
        ours(str(censored_run), **kwargs)
    error = caught.value
    assert isinstance(error, ValueError)
    assert (error.path, error.strategy, error.reason) == (str(tsv_of(censored_run)), name, CENSORED_REASON)
    assert str(error) == f"{tsv_of(censored_run)}: run excluded with strategy '{name}': {CENSORED_REASON}"

    # nilearn: an empty sample mask, all-NaN confounds, a RuntimeWarning
    (confounds, sample_mask), their_warnings = nilearn_quiet(theirs, str(censored_run), **kwargs)
    assert sample_mask.size == 0 and sample_mask.dtype == np.int64
    assert confounds.shape[0] == N and confounds.isna().all().all()
    nilearn_warning = (
        "All volumes were marked as motion outliers. This would lead to all volumes in the time series "
        "to be scrubbed."
    )
    assert (RuntimeWarning, nilearn_warning) in their_warnings


def test_same_rule_and_message_as_the_command_line(censored_run):
    """The command line plans with plan_denoising: same exception, same reason."""
    with pytest.raises(RunExcluded) as planned:
        plan_denoising("scrubbing", tsv_of(censored_run), N)
    with pytest.raises(RunExcluded) as loaded:
        load_confounds_strategy(str(censored_run), denoise_strategy="scrubbing")
    assert str(loaded.value) == str(planned.value)


def test_every_volume_non_steady_state_is_refused(helpers, tmp_path):
    """No scrubbing at all: fMRIPrep flags every volume as non-steady-state."""
    data, metadata = helpers.synthetic_confounds()
    data["non_steady_state_outlier00"] = 1.0
    bold = write_nifti_bold(helpers.write_run(tmp_path, data, metadata), N)
    reason = "all 60 volumes are censored (60 non-steady-state, 0 motion outliers)."
    with pytest.raises(RunExcluded) as caught:
        load_confounds(str(bold), strategy=("motion",))
    assert caught.value.reason == reason and caught.value.strategy == "motion"
    with pytest.raises(RunExcluded) as planned:
        plan_denoising("simple", tsv_of(bold), N)
    assert planned.value.reason == reason

    (confounds, sample_mask), their_warnings = nilearn_quiet(nilearn_load_confounds, str(bold), strategy=("motion",))
    assert sample_mask.size == 0 and confounds.isna().all().all()
    assert [category for category, _ in their_warnings] == [RuntimeWarning]


def test_nilearns_real_file_censored_everywhere(helpers, v21_bold):
    """nilearn's own fMRIPrep 21 file: FD > 0.34 mm at every volume, so "scrubbing" keeps nothing."""
    with pytest.raises(RunExcluded) as caught:
        load_confounds_strategy(str(v21_bold), denoise_strategy="scrubbing")
    assert caught.value.reason == (
        "all 30 volumes are censored (3 non-steady-state, 27 motion outliers at FD > 0.5 mm, "
        "std DVARS > 1.5, segments < 5 volumes)."
    )
    (_, sample_mask), _ = nilearn_quiet(nilearn_load_confounds_strategy, str(v21_bold), denoise_strategy="scrubbing")
    assert sample_mask.size == 0


def test_one_censored_image_in_a_list_names_its_file(helpers, synthetic, censored_run):
    with pytest.raises(RunExcluded, match="all 60 volumes are censored") as caught:
        load_confounds([str(synthetic[0]), str(censored_run)], strategy=("motion", "scrub"))
    assert caught.value.path == str(tsv_of(censored_run))


# --- confounds rows != image volumes ----------------------------------------------------------


def _stem(bold):
    return str(bold.parent / "sub-01_ses-1_task-rest_run-1")


@pytest.mark.parametrize(
    ("kind", "n_volumes"),
    [("nifti", 61), ("nifti", 59), ("nifti-3d", None), ("cifti", 61), ("gifti-pair", 61)],
)
def test_rows_differing_from_volumes_are_refused(synthetic, kind, n_volumes):
    bold, data, _ = synthetic
    if kind.startswith("nifti"):
        image = str(write_nifti_bold(bold, n_volumes))
        wrong = image
    elif kind == "cifti":
        image = str(write_cifti_bold(f"{_stem(bold)}_space-fsLR_den-91k_bold.dtseries.nii", n_volumes))
        wrong = image
    else:  # the left hemisphere matches, the right one does not
        left = write_gifti_bold(f"{_stem(bold)}_hemi-L_space-fsaverage5_bold.func.gii", N)
        wrong = write_gifti_bold(f"{_stem(bold)}_hemi-R_space-fsaverage5_bold.func.gii", n_volumes)
        image = [str(left), str(wrong)]
    volumes = 1 if n_volumes is None else n_volumes
    tsv = tsv_of(bold)
    expected = (
        f"{tsv}: the confounds file has {N} rows but the BOLD run {wrong} has {volumes} volumes; "
        "they must match (is it the confounds file of this run?)."
    )
    for call in (
        lambda: load_confounds(image, strategy=("motion", "high_pass")),
        lambda: load_confounds_strategy(image, denoise_strategy="simple"),
    ):
        with pytest.raises(ConfoundsError) as caught:
            call()
        assert isinstance(caught.value, ValueError)
        assert str(caught.value) == expected
    # the command line's rule, with the BOLD file named
    with pytest.raises(ConfoundsError) as planned:
        plan_denoising("simple", tsv, volumes)
    assert str(planned.value).replace("the BOLD run has", f"the BOLD run {wrong} has") == expected

    # nilearn does not look at the image: a 60-row table, no warning
    (confounds, sample_mask), their_warnings = nilearn_quiet(nilearn_load_confounds, image, strategy=("motion", "high_pass"))
    assert confounds.shape[0] == len(data) == N and their_warnings == []
    np.testing.assert_array_equal(sample_mask, np.arange(2, N))  # the two non-steady-state volumes


def test_image_with_the_right_length_gives_nilearns_result(synthetic):
    bold = write_nifti_bold(synthetic[0], N)
    for strategy in (("motion", "high_pass", "wm_csf"), ("motion", "scrub")):
        ours = load_confounds(str(bold), strategy=strategy)
        (theirs, their_mask), _ = nilearn_quiet(nilearn_load_confounds, str(bold), strategy=strategy)
        pd.testing.assert_frame_equal(ours[0], theirs, rtol=1e-10)
        np.testing.assert_array_equal(ours[1], their_mask)


def test_tedana_ica_rows_are_checked(helpers, tmp_path):
    """tedana: the ICA mixing matrix has one row per volume of the optimally combined image.

    (The test's name keeps "mixing" out of the folder name: nilearn would then
    read the metrics table as the mixing matrix, see test_nilearn_api.py.)
    """
    stem = helpers.BOLD_ENTITIES
    mixing = tmp_path / f"{stem}_desc-ICA_mixing.tsv"
    mixing.symlink_to(helpers.NILEARN_DATA / "test_desc-ICA_mixing.tsv")  # 30 rows
    (tmp_path / f"{stem}_desc-tedana_metrics.tsv").symlink_to(helpers.NILEARN_DATA / "test_desc-tedana_metrics.tsv")
    optcom = tmp_path / f"{stem}_space-MNI152NLin2009cAsym_desc-optcom_bold.nii.gz"
    write_nifti_bold(optcom, 30)
    confounds, _ = load_confounds(str(optcom), strategy=("tedana",))
    assert confounds.shape[0] == 30
    write_nifti_bold(optcom, 31)
    with pytest.raises(ConfoundsError, match=f"^{mixing}: the confounds file has 30 rows but the BOLD run {optcom} has 31"):
        load_confounds(str(optcom), strategy=("tedana",))
    (theirs, _), _ = nilearn_quiet(nilearn_load_confounds, str(optcom), strategy=("tedana",))
    assert theirs.shape[0] == 30


@pytest.mark.parametrize("content", [b"", b"\x1f\x8b\x08\x00 truncated"], ids=["empty", "truncated-gzip"])
@pytest.mark.parametrize(
    ("ours", "theirs", "kwargs"),
    [
        (load_confounds, nilearn_load_confounds, dict(strategy=("motion", "high_pass", "wm_csf"))),
        (load_confounds_strategy, nilearn_load_confounds_strategy, dict(denoise_strategy="simple")),
    ],
    ids=["load_confounds", "load_confounds_strategy"],
)
def test_unreadable_image_warns_and_gives_nilearns_result(synthetic, content, ours, theirs, kwargs):
    """An image whose header cannot be read: a warning naming it, then nilearn's result.

    (nilearn never opens the image; its own tests write empty image files.)
    """
    bold = synthetic[0]
    bold.write_bytes(content)
    with pytest.warns(UnreadableImageWarning) as caught:
        confounds, sample_mask = ours(str(bold), **kwargs)
    assert len(caught) == 1 and issubclass(caught[0].category, UserWarning)
    assert str(caught[0].message).startswith(
        f"{bold}: cannot read the image's header, so the length of its confounds is not "
        "checked against its volumes ("
    )
    (their_confounds, their_mask), their_warnings = nilearn_quiet(theirs, str(bold), **kwargs)
    assert their_warnings == []
    pd.testing.assert_frame_equal(confounds, their_confounds, rtol=1e-10)
    np.testing.assert_array_equal(sample_mask, their_mask)


def test_unreadable_image_of_a_pair_is_skipped_the_other_checked(synthetic):
    """A GIfTI pair: the unreadable hemisphere warns, the readable one is still checked."""
    bold = synthetic[0]
    left = write_gifti_bold(f"{_stem(bold)}_hemi-L_space-fsaverage5_bold.func.gii", N + 1)
    right = Path(f"{_stem(bold)}_hemi-R_space-fsaverage5_bold.func.gii")
    right.write_bytes(b"")
    with pytest.warns(UnreadableImageWarning, match=f"^{right}: cannot read"):
        with pytest.raises(ConfoundsError, match=f"the BOLD run {left} has {N + 1} volumes"):
            load_confounds([str(left), str(right)], strategy=("motion",))
