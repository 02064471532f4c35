"""fMRIPrep confounds with nilearn's API (``nilearn.interfaces.fmriprep``).

Scripts written for nilearn port by changing the import::

    from regionseries.confounds import load_confounds, load_confounds_strategy

The same module exposes regionseries' own layer: :func:`read_confounds`,
:func:`find_confounds_file`, :class:`DenoiseStrategy`, :func:`get_strategy`,
:func:`plan_denoising`, the exceptions :class:`ConfoundsError`,
:class:`StrategyFileUnavailable` and :class:`RunExcluded`, and the warning
:class:`UnreadableImageWarning`. See :mod:`regionseries.core.confounds`.
"""

from .core.confounds import (
    PRESET_NAMES,
    ConfoundsError,
    ConfoundsTable,
    DenoiseStrategy,
    DenoisingPlan,
    RunExcluded,
    StrategyFileUnavailable,
    UnreadableImageWarning,
    find_confounds_file,
    get_strategy,
    load_confounds,
    load_confounds_strategy,
    plan_denoising,
    read_confounds,
)

__all__ = [
    "PRESET_NAMES",
    "ConfoundsError",
    "ConfoundsTable",
    "DenoiseStrategy",
    "DenoisingPlan",
    "RunExcluded",
    "StrategyFileUnavailable",
    "UnreadableImageWarning",
    "find_confounds_file",
    "get_strategy",
    "load_confounds",
    "load_confounds_strategy",
    "plan_denoising",
    "read_confounds",
]
