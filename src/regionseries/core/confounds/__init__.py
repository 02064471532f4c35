"""fMRIPrep confounds: reading, nilearn-compatible loading, strategies, plans.

This package turns the confounds table that fMRIPrep writes next to each BOLD
run (``*_desc-confounds_timeseries.tsv`` and its JSON sidecar) into what the
cleaning stage needs: a confound matrix and the indices of the volumes to
keep. It has three layers, each in its own modules:

1. **Reading** -- :mod:`.table` (:func:`read_confounds` loads a TSV + JSON
   into a :class:`ConfoundsTable` with the column names of older fMRIPrep
   releases normalised to the current ones) and :mod:`.files`
   (:func:`find_confounds_file` finds the TSV of a BOLD file).
2. **nilearn compatibility** -- :mod:`.nilearn_api`
   (:func:`load_confounds` and :func:`load_confounds_strategy`, with the
   signatures and results of ``nilearn.interfaces.fmriprep`` 0.14.1).
3. **Strategies and plans** -- :mod:`.strategies` (:class:`DenoiseStrategy`
   from presets or a JSON/YAML file, see :func:`get_strategy`) and
   :mod:`.plans` (:func:`plan_denoising` checks a run against a strategy and
   returns a :class:`DenoisingPlan` or raises :class:`RunExcluded`).

Under them: :mod:`.errors` (the exceptions), :mod:`.vocabulary` (component,
model and column names), :mod:`.columns` (choosing the regressor columns)
and :mod:`.censoring` (which volumes are kept, and the refusals that
:func:`load_confounds` and :func:`plan_denoising` share).

The names below are re-exported here, so ``from regionseries.core.confounds
import X`` works for each; the public façade is :mod:`regionseries.confounds`.
The differences from nilearn are listed in ``docs/differences-from-nilearn.md``
(section "load_confounds"); the strategy file format is documented in
``docs/strategies.md``.
"""

# _drop_short_segments: a test (now tests/core/confounds/test_censoring.py) imported it from here before the split.
from .censoring import _drop_short_segments  # noqa: F401
from .errors import (
    ConfoundsError,
    RunExcluded,
    StrategyFileUnavailable,
    UnreadableImageWarning,
)
from .files import find_confounds_file
from .nilearn_api import load_confounds, load_confounds_strategy
from .plans import DenoisingPlan, plan_denoising
from .strategies import PRESET_NAMES, STRATEGY_COMPONENTS, DenoiseStrategy, get_strategy  # noqa: F401
from .table import (  # noqa: F401
    NAMING_CAMELCASE,
    NAMING_COMBINED_ACOMPCOR,
    NAMING_CURRENT,
    ConfoundsTable,
    read_confounds,
)
from .vocabulary import (  # noqa: F401
    COMPCOR_TYPES,
    COMPONENTS,
    CONFOUND_MODELS,
    ICA_AROMA_TYPES,
    TEDANA_TYPES,
)

__all__ = [
    "ConfoundsError",
    "StrategyFileUnavailable",
    "RunExcluded",
    "UnreadableImageWarning",
    "ConfoundsTable",
    "read_confounds",
    "find_confounds_file",
    "load_confounds",
    "load_confounds_strategy",
    "DenoiseStrategy",
    "PRESET_NAMES",
    "get_strategy",
    "DenoisingPlan",
    "plan_denoising",
]
