"""Names shared by every confounds layer: components, models, columns.

The noise components of nilearn's ``strategy`` tuple (:data:`COMPONENTS`),
the expansion models of motion, WM/CSF and global signal
(:data:`CONFOUND_MODELS`), the CompCor, ICA-AROMA and tedana types, the
base column names of each component and the CompCor prefixes and masks,
with :func:`_expand` (a base set expanded by a model, in nilearn's column
order) and nilearn's argument checks :func:`_check_choice` and
:func:`_check_n_compcor`. No I/O and no pandas: constants and checks only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["COMPONENTS", "CONFOUND_MODELS", "COMPCOR_TYPES", "ICA_AROMA_TYPES", "TEDANA_TYPES"]

#: Components accepted in nilearn's ``strategy`` tuple.
COMPONENTS = (
    "motion",
    "high_pass",
    "wm_csf",
    "global_signal",
    "compcor",
    "ica_aroma",
    "tedana",
    "scrub",
    "non_steady_state",
)
#: Expansion models of motion, wm_csf and global_signal.
CONFOUND_MODELS = ("basic", "power2", "derivatives", "full")
COMPCOR_TYPES = (
    "anat_combined",
    "anat_separated",
    "temporal",
    "temporal_anat_combined",
    "temporal_anat_separated",
)
ICA_AROMA_TYPES = ("full", "basic")
TEDANA_TYPES = ("aggressive", "non-aggressive")
# tedana component classifications used as regressors, by tedana type.
_TEDANA_CLASSES = {"aggressive": ("rejected",), "non-aggressive": ("accepted", "rejected")}

_MODEL_SUFFIXES = {
    "basic": (),
    "derivatives": ("derivative1",),
    "power2": ("power2",),
    "full": ("derivative1", "power2", "derivative1_power2"),
}
_MOTION_BASE = ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z")
_WM_CSF_BASE = ("csf", "white_matter")
_GLOBAL_BASE = ("global_signal",)

# CompCor: the column prefixes each type reads, in nilearn's order.
_COMPCOR_PREFIXES = {
    "anat_combined": ("a",),
    "anat_separated": ("a", "w", "c"),
    "temporal": ("t",),
    "temporal_anat_combined": ("t", "a"),
    "temporal_anat_separated": ("t", "a", "w", "c"),
}
# Masks used to filter the "a" prefix (JSON "Mask" field).
_ACOMPCOR_MASKS = {
    "anat_combined": ("combined",),
    "anat_separated": ("WM", "CSF"),
    "temporal": None,
    "temporal_anat_combined": ("combined",),
    "temporal_anat_separated": ("WM", "CSF"),
}
# Current fMRIPrep names of the anatomical CompCor sets, by JSON "Mask".
_ACOMPCOR_PREFIX_BY_MASK = {"combined": "a", "WM": "w", "CSF": "c"}

_NSS_KEY = "non_steady_state"
_OUTLIER_KEY = "motion_outlier"
_FD_COLUMN = "framewise_displacement"
_DVARS_COLUMN = "std_dvars"


def _expand(base: Sequence[str], model: str) -> list[str]:
    """Column names of a base set expanded with a model's suffixes.

    nilearn's order: the base names first, then for each base name its
    suffixed names.
    """
    names = list(base)
    for name in base:
        names.extend(f"{name}_{suffix}" for suffix in _MODEL_SUFFIXES[model])
    return names


def _check_choice(value: Any, allowed: Sequence[Any], parameter: str) -> None:
    """Raise nilearn's ValueError if ``value`` is not one of ``allowed``."""
    if value not in allowed:
        raise ValueError(f"'{parameter}' must be one of {list(allowed)}.\n'{value}' was provided.")


def _check_n_compcor(n_compcor: Any) -> None:
    if n_compcor == "all":
        return
    if isinstance(n_compcor, bool) or not isinstance(n_compcor, (int, np.integer)) or n_compcor < 1:
        raise ValueError(f"'n_compcor' must be 'all' or a positive integer; {n_compcor!r} was provided.")
