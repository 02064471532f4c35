"""regionseries: region time series from fMRIPrep derivatives.

The numerical core re-implements nilearn's signal cleaning, fMRIPrep confound
loading, label/sphere/map extraction and region extraction on
nibabel/numpy/scipy, with nilearn's numbers (nilearn is only our test oracle).

From Python, :func:`run_participant` and :func:`run_group` run the two
analysis levels as the command line does (docs/usage.md, "From Python").
"""

from ._version import __version__

__all__ = ["__version__", "run_group", "run_participant"]


def __getattr__(name: str):
    # The engines are imported when first used, not here: they bring the scientific
    # stack (numpy, pandas, nibabel, pybids), which ``regionseries --version`` must
    # not pay for (docs/performance.md).
    if name == "run_participant":
        from .participant import run_participant

        return run_participant
    if name == "run_group":
        from .group import run_group

        return run_group
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | {"run_participant", "run_group"})
