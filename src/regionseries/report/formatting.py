"""Text of the report pages: numbers, parameter values, missing values, labels and anchors.

All return plain text; the templates escape it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["format_number", "format_value", "safe_label"]


def _is_missing(value: Any) -> bool:
    """True for None, NaN, pandas.NA and NaT (scalars only)."""
    if value is None:
        return True
    if isinstance(value, (str, bytes, list, tuple, dict, set, np.ndarray)):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def format_number(value: Any, digits: int = 3) -> str:
    """Format a number for a table: ``n/a`` for None/NaN, ``%g`` otherwise.

    Parameters
    ----------
    value : number or None
    digits : int
        Significant digits.

    Returns
    -------
    str
    """
    if _is_missing(value):
        return "n/a"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return f"{float(value):.{digits}g}"


def format_value(value: Any) -> str:
    """Format a parameter value (lists, dicts, numbers, None) as short text."""
    if _is_missing(value):
        return "none"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, float, np.integer, np.floating)):
        return format_number(value, 6)
    if isinstance(value, Mapping):
        return json.dumps(value, default=str, sort_keys=False)
    if isinstance(value, (list, tuple, set, np.ndarray)):
        items = list(value)
        return ", ".join(format_value(item) for item in items) if items else "none"
    return str(value)


def safe_label(text: str) -> str:
    """Reduce untrusted text to a BIDS-style alphanumeric label for file names.

    Parameters
    ----------
    text : str

    Returns
    -------
    str
        Only ``[A-Za-z0-9]``; a short hash when nothing is left.
    """
    label = re.sub(r"[^A-Za-z0-9]", "", str(text))
    if not label:
        label = "x" + hashlib.sha1(str(text).encode("utf-8")).hexdigest()[:8]
    return label


def _anchor(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "run"
