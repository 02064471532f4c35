"""Signal cleaning with nilearn's names: ``from regionseries.signal import clean``.

Public façade over :mod:`regionseries.core.signal`.
"""

from .core.signal import butterworth, clean, cosine_drift, detrend, high_variance_confounds

__all__ = ["butterworth", "clean", "cosine_drift", "detrend", "high_variance_confounds"]
