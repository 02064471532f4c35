"""regionseries: region time series from fMRIPrep derivatives.

The numerical core re-implements nilearn's signal cleaning, fMRIPrep confound
loading, label/sphere/map extraction and region extraction on
nibabel/numpy/scipy, with nilearn's numbers (nilearn is only our test oracle).

From Python, :func:`run_participant` and :func:`run_group` run the two
analysis levels as the command line does (docs/usage.md, "From Python").
"""

from ._version import __version__

__all__ = ["__version__", "run_group", "run_participant"]

#: Public names imported when first used: the engines bring the scientific
#: stack, which ``regionseries --version`` must not pay for (docs/performance.md).
_LAZY = {"run_participant": "participant", "run_group": "group"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
