"""regionseries: region time series from fMRIPrep derivatives.

The numerical core re-implements nilearn's signal cleaning, fMRIPrep confound
loading, label/sphere/map extraction and region extraction on
nibabel/numpy/scipy, with nilearn's numbers (nilearn is only our test oracle).
"""

from ._version import __version__

__all__ = ["__version__"]
