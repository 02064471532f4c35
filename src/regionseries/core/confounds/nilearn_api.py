"""nilearn's fMRIPrep confounds API: load_confounds, load_confounds_strategy.

:func:`load_confounds` and :func:`load_confounds_strategy` have the
signatures and results of ``nilearn.interfaces.fmriprep`` 0.14.1 (same
columns, order, values, sample masks, warnings and errors, tedana and
GIfTI/CIFTI inputs included), except that bad input gives a
:class:`~.errors.ConfoundsError` naming the file instead of a raw
``KeyError``, and that a run whose every volume is censored
(:class:`~.errors.RunExcluded`) or whose image has another number of
volumes than the confounds have rows (:class:`~.errors.ConfoundsError`) is
refused with :func:`~.plans.plan_denoising`'s rule. The image headers are
read only for that volume count; an image whose header cannot be read gives
an :class:`~.errors.UnreadableImageWarning` and is not checked, as nilearn
never opens it. The differences from nilearn are listed in
``docs/differences-from-nilearn.md`` (section "load_confounds").
"""

from __future__ import annotations

import os
import re
import warnings
import zlib
from typing import Any
from xml.parsers.expat import ExpatError

import nibabel as nib
import numpy as np
import pandas as pd
from nibabel.filebasedimages import ImageFileError

from .censoring import (
    _censoring_text,
    _check_row_count,
    _check_some_volume_kept,
    _drop_short_segments,
    _motion_outliers,
)
from .columns import (
    _check_numeric,
    _columns_containing,
    _compcor_names_nilearn,
    _fill_first_row,
    _Missing,
    _present_or_missing,
)
from .components import read_tedana_components
from .errors import ConfoundsError, RunExcluded, UnreadableImageWarning
from .files import _find_tedana_files, find_confounds_file
from .table import (
    NAMING_CAMELCASE,
    ConfoundsTable,
    _sidecar_needed_error,
    read_confounds,
)
from .vocabulary import (
    _DVARS_COLUMN,
    _FD_COLUMN,
    _GLOBAL_BASE,
    _MOTION_BASE,
    _NSS_KEY,
    _OUTLIER_KEY,
    _TEDANA_CLASSES,
    _WM_CSF_BASE,
    COMPCOR_TYPES,
    COMPONENTS,
    CONFOUND_MODELS,
    ICA_AROMA_TYPES,
    TEDANA_TYPES,
    _check_choice,
    _check_n_compcor,
    _expand,
)

__all__ = ["load_confounds", "load_confounds_strategy"]


def _demean_all_rows(confounds: pd.DataFrame) -> pd.DataFrame:
    """Subtract the NaN-ignoring column mean over all rows.

    Numerically as scikit-learn's ``scale(with_std=False)`` used by
    nilearn: a second pass subtracts the residual mean when the first pass
    left one that is not close to zero.
    """
    values = confounds.to_numpy(dtype=np.float64, copy=True)
    values -= np.nanmean(values, axis=0)
    residual = np.nanmean(values, axis=0)
    if not np.allclose(residual, 0):
        values -= residual
    return pd.DataFrame(values, columns=confounds.columns)


def _demean_kept_rows(confounds: pd.DataFrame, sample_mask: np.ndarray) -> pd.DataFrame:
    """Subtract from all rows the column mean over the kept rows (nilearn)."""
    means = confounds.iloc[sample_mask, :].mean(axis=0)
    return pd.DataFrame(confounds - means, columns=confounds.columns)


_UNREADABLE_IMAGE_ERRORS = (ImageFileError, ExpatError, OSError, EOFError, ValueError, zlib.error)


def _image_volume_counts(image: str | list) -> list[tuple[str, int]]:
    """Volumes of each file of a ``load_confounds`` input, from its header.

    A NIfTI file has ``shape[3]`` volumes (1 when 3D), a CIFTI
    ``dtseries.nii`` ``shape[0]``, a GIfTI ``func.gii`` one data array per
    volume. Files that do not exist are left out: nilearn's API needs only
    the name to find the confounds, so there is nothing to check them against.
    Files whose header cannot be read are left out too, with an
    :class:`~.errors.UnreadableImageWarning` naming the file (nilearn never
    opens the image; the command line reads it and refuses it).

    Parameters
    ----------
    image : str or list of str
        A BOLD path, or a pair of ``func.gii`` paths.

    Returns
    -------
    list of (str, int)
        (file, number of volumes) for every file that exists and can be read.

    Warns
    -----
    UnreadableImageWarning
        If a file exists but its header cannot be read.
    """
    counts = []
    for name in image if isinstance(image, list) else [image]:
        if not os.path.exists(name):
            continue
        try:
            img = nib.load(name)
            if isinstance(img, nib.GiftiImage):
                n_volumes = len(img.darrays)
            elif isinstance(img, nib.Cifti2Image):
                n_volumes = int(img.shape[0])
            else:
                n_volumes = int(img.shape[3]) if len(img.shape) > 3 else 1
        except _UNREADABLE_IMAGE_ERRORS as error:
            warnings.warn(
                f"{name}: cannot read the image's header, so the length of its confounds is not "
                f"checked against its volumes ({type(error).__name__}: {error}).",
                UnreadableImageWarning,
                stacklevel=4,
            )
            continue
        counts.append((name, n_volumes))
    return counts


_IMAGE_PATTERNS = {
    "aroma": "_desc-smoothAROMAnonaggr_bold",
    "tedana": "_desc-optcom_bold.nii.gz",
    "nii.gz": "(_space-.*)?_desc-preproc_bold.nii.gz",
    "dtseries.nii": "(_space-.*)?_bold.dtseries.nii",
    "func.gii": "_hemi-[LR](_space-.*)?_bold.func.gii",
}
_IMAGE_ERRORS = {
    "aroma": "Input must be desc-smoothAROMAnonaggr_bold for full ICA-AROMA strategy.",
    "tedana": (
        "Input must be the ~desc-optcom_bold.nii.gz file for tedana strategy. Other files like "
        "~desc-denoised_bold.nii.gz are not supported or have already been denoised."
    ),
    "nii.gz": "Invalid file type for the selected 'nii.gz' method.",
    "dtseries.nii": "Invalid file type for the selected 'dtseries.nii' method",
    "func.gii": "need fMRIprep output with extension func.gii",
}


def _check_strategy_tuple(strategy: Any) -> None:
    """nilearn's validation of the ``strategy`` argument."""
    if not isinstance(strategy, (tuple, list)):
        raise ValueError(
            "strategy needs to be a tuple or list of strings. "
            f"A {strategy.__class__.__name__} was provided instead."
        )
    if len(strategy) == 0:
        warnings.warn("strategy is empty, confounds will return None.", UserWarning, stacklevel=3)
    for component in strategy:
        if component == "non_steady_state":
            warnings.warn(
                "Non-steady state volumes are always detected. It doesn't need to be supplied "
                "as part of the strategy. Supplying non_steady_state in strategy will not have "
                "additional effect.",
                UserWarning,
                stacklevel=3,
            )
        _check_choice(component, COMPONENTS, "strategy")
    if "compcor" in strategy and "high_pass" not in strategy:
        raise ValueError(
            f"When using compcor, `high_pass` must be included in strategy. Current strategy: '{strategy}'"
        )


def _as_path_strings(img_files: Any) -> Any:
    if isinstance(img_files, os.PathLike):
        return os.fspath(img_files)
    if isinstance(img_files, list):
        return [_as_path_strings(item) for item in img_files]
    return img_files


def _split_inputs(img_files: Any) -> tuple[list, bool]:
    """Inputs as a list, and whether a single input was given (nilearn rules)."""
    if isinstance(img_files, str):
        return [img_files], True
    if isinstance(img_files, list) and len(img_files) == 1:
        return img_files, True
    if isinstance(img_files, list) and len(img_files) == 2 and not isinstance(img_files[0], list):
        if all(".".join(str(name).split(".")[-2:]) == "func.gii" for name in img_files):
            return [img_files], True
    return list(img_files), False


def _check_image_name(image: str | list, full_aroma: bool, tedana: bool = False) -> None:
    """nilearn's check that the image is an fMRIPrep output of the right kind."""
    if isinstance(image, list):
        kind, names = "func.gii", image
    elif full_aroma:
        kind, names = "aroma", [image]
    elif tedana:
        kind, names = "tedana", [image]
    else:
        kind, names = ".".join(image.split(".")[-2:]), [image]
    pattern = _IMAGE_PATTERNS.get(kind)
    if pattern is None:
        raise ValueError("Unsupported input.")
    if not all(re.search(pattern, name) for name in names):
        raise ValueError(_IMAGE_ERRORS[kind])


def load_confounds(
    img_files,
    strategy=("motion", "high_pass", "wm_csf"),
    motion="full",
    scrub=5,
    fd_threshold=0.5,
    std_dvars_threshold=1.5,
    wm_csf="basic",
    global_signal="basic",
    compcor="anat_combined",
    n_compcor="all",
    ica_aroma="full",
    tedana="aggressive",
    demean=True,
):
    """Load fMRIPrep confounds of BOLD files by noise components (nilearn API).

    Same parameters and results as
    ``nilearn.interfaces.fmriprep.load_confounds`` 0.14.1.

    Parameters
    ----------
    img_files : str, os.PathLike or list
        Preprocessed image(s) (``*_desc-preproc_bold.nii.gz``,
        ``*_bold.dtseries.nii``, or a pair of ``*_hemi-L/R*_bold.func.gii``)
        whose confounds file sits in the same directory. A list gives lists.
    strategy : tuple or list of str, default=("motion", "high_pass", "wm_csf")
        Noise components among ``motion``, ``high_pass``, ``wm_csf``,
        ``global_signal``, ``compcor`` (requires ``high_pass``),
        ``ica_aroma``, ``scrub`` and ``tedana`` (which ignores the others).
        Non-steady-state volumes are always censored.
    motion : {"basic", "power2", "derivatives", "full"}, default="full"
        6, 12, 12 or 24 head-motion regressors.
    scrub : int, default=5
        Minimum length (volumes) of a segment kept between censored volumes.
        0 keeps every segment.
    fd_threshold : float, default=0.5
        Framewise displacement threshold in mm (strictly greater censors).
    std_dvars_threshold : float, default=1.5
        Standardised DVARS threshold (strictly greater censors).
    wm_csf : {"basic", "power2", "derivatives", "full"}, default="basic"
        2, 4, 4 or 8 white-matter and CSF regressors.
    global_signal : {"basic", "power2", "derivatives", "full"}, default="basic"
        1, 2, 2 or 4 global-signal regressors.
    compcor : str, default="anat_combined"
        One of ``anat_combined``, ``anat_separated``, ``temporal``,
        ``temporal_anat_combined``, ``temporal_anat_separated``.
    n_compcor : int or "all", default="all"
        Components kept per mask and per CompCor type.
    ica_aroma : {"full", "basic"}, default="full"
        ``full``: the image is fMRIPrep's non-aggressively denoised
        ``desc-smoothAROMAnonaggr_bold`` and no regressor is added;
        ``basic``: the ``aroma`` noise components are regressors.
    tedana : {"aggressive", "non-aggressive"}, default="aggressive"
        For ``*_desc-optcom_bold.nii.gz`` images: the columns of tedana's
        ``desc-ICA_mixing.tsv`` classified "rejected" in
        ``desc-tedana_metrics.tsv`` (aggressive), or "accepted" and
        "rejected" (non-aggressive), named ``{classification}_{component}``.
    demean : bool, default=True
        Subtract each confound's mean, computed over the kept volumes when
        some are censored.

    Returns
    -------
    confounds : pandas.DataFrame, list of DataFrame, or None
        Columns sorted alphabetically; None for an empty strategy.
    sample_mask : numpy.ndarray of int64, list, or None
        Indices of the kept volumes (never empty); None when none is censored.

    Raises
    ------
    ValueError
        For invalid parameters (as nilearn).
    ConfoundsError
        For missing files, missing columns or a missing JSON sidecar; the
        message names the file. Also when an image exists and its number of
        volumes differs from the rows of its confounds file (nilearn does not
        check).
    RunExcluded
        When every volume of an image is censored (nilearn returns an empty
        sample mask with a RuntimeWarning). A :class:`ValueError` too.

    Warns
    -----
    UnreadableImageWarning
        When an image exists but its header cannot be read: its confounds are
        returned unchecked, as nilearn returns them (nilearn never opens it).
    """
    _check_strategy_tuple(strategy)
    if "motion" in strategy:
        _check_choice(motion, CONFOUND_MODELS, "motion")
    if "wm_csf" in strategy:
        _check_choice(wm_csf, CONFOUND_MODELS, "wm_csf")
    if "global_signal" in strategy:
        _check_choice(global_signal, CONFOUND_MODELS, "global_signal")
    if "compcor" in strategy:
        _check_choice(compcor, COMPCOR_TYPES, "compcor")
        _check_n_compcor(n_compcor)
    if "ica_aroma" in strategy:
        _check_choice(ica_aroma, ICA_AROMA_TYPES, "ica_aroma")
    if "tedana" in strategy:
        _check_choice(tedana, TEDANA_TYPES, "tedana")
        if len(strategy) > 1:
            others = [component for component in strategy if "tedana" not in component]
            warnings.warn(
                "TEDANA strategy will only look for the ~desc-ICA_mixing.tsv and the "
                "~desc-tedana_metrics.tsv for the provided ~desc-optcom_bold.nii.gz from the tedana "
                f"folder to load the rejected ICA confounds. Other strategies: \n{others} will NOT be "
                "applied for the Tedana confounds.",
                UserWarning,
                stacklevel=2,
            )

    parameters = dict(
        motion=motion,
        scrub=scrub,
        fd_threshold=fd_threshold,
        std_dvars_threshold=std_dvars_threshold,
        wm_csf=wm_csf,
        global_signal=global_signal,
        compcor=compcor,
        n_compcor=n_compcor,
        ica_aroma=ica_aroma,
        tedana=tedana,
        name="+".join(strategy),  # the strategy's name in RunExcluded
    )
    images, single = _split_inputs(_as_path_strings(img_files))
    confounds_out, masks_out = [], []
    for image in images:
        confounds, sample_mask = _load_confounds_of_image(image, tuple(strategy), demean, parameters)
        confounds_out.append(confounds)
        masks_out.append(sample_mask)
    if single:
        confounds_out, masks_out = confounds_out[0], masks_out[0]
    if len(strategy) == 0:
        return None, masks_out
    return confounds_out, masks_out


def _load_confounds_of_image(image, strategy: tuple, demean: bool, parameters: dict):
    if "tedana" in strategy:
        _check_image_name(image, full_aroma=False, tedana=True)
        return _tedana_confounds(image, parameters["tedana"], demean)
    full_aroma = "ica_aroma" in strategy and parameters["ica_aroma"] == "full"
    _check_image_name(image, full_aroma)
    bold_path = image[0] if isinstance(image, list) else image
    tsv_path = find_confounds_file(bold_path)
    table = read_confounds(tsv_path)
    for name, n_volumes in _image_volume_counts(image):
        _check_row_count(str(table.tsv_path), table.n_volumes, n_volumes, bold=name)
    anatomical_compcor = "compcor" in strategy and "anat" in parameters["compcor"]
    if anatomical_compcor and table.sidecar_problem is not None:
        raise _sidecar_needed_error(table, parameters["compcor"])
    if anatomical_compcor and table.metadata is None:
        raise ConfoundsError(
            f"Could not find associated json file {table.expected_json_path}. This is necessary "
            "for anatomical CompCor. The CompCor component is only supported for fMRIprep "
            "version >= 1.4.0."
        )
    return _confounds_from_table(table, strategy, demean, parameters)


def _unread_camelcase_note(table: ConfoundsTable) -> str:
    """nilearn's words for a file with CamelCase names that are not fMRIPrep < 1.2's ('' if none).

    nilearn refuses any file with a CamelCase name; we read fMRIPrep 1.0.x
    and 1.1.x names (``X``, ``RotX``, ...) and say which others were not read.
    """
    # table.data has the renamed columns under current names; nilearn's is_camel_case test
    unread = [
        name for name in table.data.columns
        if name != name.lower() and name != name.upper() and "_" not in name
    ]
    if not unread:
        return ""
    return (
        f"The confound file contains header in camel case: {unread}. Only the CamelCase names "
        "of fMRIPrep 1.0.x and 1.1.x (X, RotX, CSF, aCompCor00, ...) are read, under current names. "
    )


def _confounds_from_table(table: ConfoundsTable, strategy: tuple, demean: bool, parameters: dict):
    """nilearn's component selection and output assembly on one table."""
    # nilearn's CompCor names are the names in the file; CamelCase files
    # (which nilearn refuses) are read under current names.
    if table.naming == NAMING_CAMELCASE:
        data, metadata = table.data, table.metadata
    else:
        data, metadata = table.with_file_names()
    source = str(table.tsv_path)
    columns = data.columns
    missing = _Missing()

    indicator_frames = []  # columns whose non-zero rows are censored
    nss = _columns_containing(columns, _NSS_KEY)
    has_rows = bool(nss)
    selected: list[str] = []
    for component in strategy:
        if component == "motion":
            selected += _present_or_missing(_expand(_MOTION_BASE, parameters["motion"]), columns, "motion", missing)
        elif component == "wm_csf":
            selected += _present_or_missing(_expand(_WM_CSF_BASE, parameters["wm_csf"]), columns, "wm_csf", missing)
        elif component == "global_signal":
            names = _expand(_GLOBAL_BASE, parameters["global_signal"])
            selected += _present_or_missing(names, columns, "global_signal", missing)
        elif component == "high_pass":
            selected += _columns_containing(columns, "cosine")
        elif component == "compcor":
            names = _compcor_names_nilearn(metadata, parameters["compcor"], parameters["n_compcor"], source)
            selected += _present_or_missing(names, columns, "compcor", missing)
        elif component == "ica_aroma":
            if parameters["ica_aroma"] == "basic":
                aroma = _columns_containing(columns, "aroma")
                if not aroma:
                    missing.components.append("ica_aroma")
                selected += aroma
        elif component == "scrub":
            has_rows = True
            needed = [_FD_COLUMN, _DVARS_COLUMN]
            absent = [name for name in needed if name not in columns]
            if absent:
                missing.columns.extend(absent)
                continue
            outliers = _motion_outliers(data, parameters["fd_threshold"], parameters["std_dvars_threshold"])
            if parameters["scrub"] > 0 and outliers.size:
                outliers = _drop_short_segments(outliers, len(data), parameters["scrub"])
            one_hot = np.zeros((len(data), outliers.size), dtype=np.int64)
            one_hot[outliers, np.arange(outliers.size)] = 1
            indicator_frames.append(one_hot)
    if missing:
        raise ConfoundsError(
            f"The following keywords or parameters are missing:  {missing.columns} "
            f"{missing.components}. You may want to try a different denoising strategy. "
            f"{_unread_camelcase_note(table)}(confounds file: {source})"
        )
    has_rows = has_rows or bool(selected)

    # Columns named like outlier indicators are indicators, not regressors.
    indicator_names = sorted({name for name in nss + selected if _NSS_KEY in name or _OUTLIER_KEY in name})
    regressor_names = sorted(set(selected) - set(indicator_names))
    _check_numeric(data[indicator_names + regressor_names], source)
    if indicator_names:
        indicator_frames.append(data[indicator_names].fillna(0).to_numpy(dtype=np.float64))
    sample_mask = _sample_mask_from_indicators(indicator_frames)
    if sample_mask is not None:
        n_dummies = int(np.count_nonzero(data[nss].fillna(0).to_numpy(dtype=np.float64).sum(axis=1))) if nss else 0
        censoring = ""
        if "scrub" in strategy:
            censoring = _censoring_text(
                parameters["fd_threshold"], parameters["std_dvars_threshold"], parameters["scrub"]
            )
        _check_some_volume_kept(
            source, parameters["name"], len(data), sample_mask.size, n_dummies, len(data) - n_dummies, censoring
        )

    if not has_rows:  # nothing selected at all: nilearn returns a (0, 0) frame
        return pd.DataFrame(), sample_mask
    confounds = data.loc[:, regressor_names].copy()
    if confounds.size:
        _fill_first_row(confounds)
        if demean:
            confounds = (
                _demean_all_rows(confounds) if sample_mask is None else _demean_kept_rows(confounds, sample_mask)
            )
    return confounds, sample_mask


def _sample_mask_from_indicators(indicator_frames: list[np.ndarray]) -> np.ndarray | None:
    """Kept volumes: rows where every indicator is zero; None without indicators."""
    frames = [frame for frame in indicator_frames if frame.shape[1]]
    if not frames:
        return None
    flagged = np.concatenate(frames, axis=1).sum(axis=1)
    return np.flatnonzero(flagged == 0).astype(np.int64)


def _tedana_confounds(image: str, tedana: str, demean: bool):
    """tedana ICA components of the chosen classifications (nilearn rules)."""
    mixing_path, metrics_path = _find_tedana_files(image)
    components = read_tedana_components(mixing_path, metrics_path, _TEDANA_CLASSES[tedana])
    for name, n_volumes in _image_volume_counts(image):
        _check_row_count(str(mixing_path), components.n_volumes, n_volumes, bold=name)
    confounds = components.data
    if confounds.size:
        _fill_first_row(confounds)
        if demean:
            confounds = _demean_all_rows(confounds)
    return confounds, None


# nilearn's presets (load_confounds_strategy), with every default it fixes.
_NILEARN_PRESETS: dict[str, dict[str, Any]] = {
    "simple": {
        "strategy": ("high_pass", "motion", "wm_csf"),
        "motion": "full",
        "wm_csf": "basic",
        "global_signal": None,
        "demean": True,
    },
    "scrubbing": {
        "strategy": ("high_pass", "motion", "wm_csf", "scrub"),
        "motion": "full",
        "wm_csf": "full",
        "scrub": 5,
        "fd_threshold": 0.5,
        "std_dvars_threshold": 1.5,
        "global_signal": None,
        "demean": True,
    },
    "compcor": {
        "strategy": ("high_pass", "motion", "compcor"),
        "motion": "full",
        "n_compcor": "all",
        "compcor": "anat_combined",
        "global_signal": None,
        "demean": True,
    },
    "ica_aroma": {
        "strategy": ("high_pass", "wm_csf", "ica_aroma"),
        "wm_csf": "basic",
        "ica_aroma": "full",
        "global_signal": None,
        "demean": True,
    },
}


def load_confounds_strategy(img_files, denoise_strategy="simple", **kwargs):
    """Load fMRIPrep confounds with a preset strategy (nilearn API).

    Same behaviour as ``nilearn.interfaces.fmriprep.load_confounds_strategy``
    0.14.1.

    Parameters
    ----------
    img_files : str, os.PathLike or list
        As in :func:`load_confounds`.
    denoise_strategy : {"simple", "scrubbing", "compcor", "ica_aroma"}, default="simple"
        The preset. Its parameters can be overridden by keyword, except
        ``ica_aroma`` (always ``full``); ``global_signal`` given as a string
        adds global-signal regressors. Other keywords are ignored with a
        warning, and keywords set to None are ignored.
    **kwargs
        Parameters of :func:`load_confounds`.

    Returns
    -------
    confounds, sample_mask
        As in :func:`load_confounds`.

    Raises
    ------
    ValueError, ConfoundsError
        As in :func:`load_confounds`.
    RunExcluded
        When every volume is censored; its ``strategy`` is the preset name.

    Warns
    -----
    UnreadableImageWarning
        As in :func:`load_confounds`.
    """
    _check_choice(denoise_strategy, list(_NILEARN_PRESETS), "denoise_strategy")
    parameters = dict(_NILEARN_PRESETS[denoise_strategy])
    accepted = [key for key in parameters if key not in ("strategy", "ica_aroma")]
    remaining = dict(kwargs)
    for key in accepted:
        value = remaining.pop(key, None)
        if value is not None:
            parameters[key] = value
        if key == "global_signal":
            if isinstance(value, str):
                parameters["strategy"] = (*parameters["strategy"], "global_signal")
            else:
                parameters.pop("global_signal", None)
    if remaining:
        warnings.warn(
            f"The following parameters are not needed for the selected strategy "
            f"'{denoise_strategy}': {list(remaining)}; parameters accepted: {accepted}",
            UserWarning,
            stacklevel=2,
        )
    try:
        return load_confounds(img_files, **parameters)
    except RunExcluded as error:  # name the preset rather than its components
        raise RunExcluded(error.path, error.reason, denoise_strategy) from None
