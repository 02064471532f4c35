"""``did you mean`` for values typed on the command line (standard library only).

The command line imports this module when it starts (for its own flags);
:mod:`difflib` is imported when a suggestion is made, that is on an error only
(0.5-1.5 ms of ``regionseries --version`` otherwise, python -X importtime).
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["close_matches", "did_you_mean"]


def close_matches(value: str, choices: Iterable[str], n: int = 3, cutoff: float = 0.6) -> list[str]:
    """The choices closest to ``value``, best first (case-insensitive; at most ``n``).

    Parameters
    ----------
    value : str
        What was typed.
    choices : iterable of str
        The valid values.
    n : int
        Most matches returned.
    cutoff : float
        Similarity ratio (0-1, :class:`difflib.SequenceMatcher`) below which a choice is not offered.
    """
    import difflib  # on an error only: see the module docstring

    by_folded: dict[str, str] = {}
    for choice in choices:
        by_folded.setdefault(choice.casefold(), choice)
    folded = difflib.get_close_matches(value.casefold(), list(by_folded), n=n, cutoff=cutoff)
    return [by_folded[match] for match in folded]


def did_you_mean(value: str, choices: Iterable[str], n: int = 3, cutoff: float = 0.6) -> str:
    """``"did you mean 'scrubbing'?"`` (or up to ``n`` names), or ``""`` when nothing is close
    (``cutoff`` as in :func:`close_matches`)."""
    matches = close_matches(value, choices, n=n, cutoff=cutoff)
    if not matches:
        return ""
    return "did you mean " + " or ".join(repr(match) for match in matches) + "?"
