"""The errors of ``regionseries-fetch-atlases``, each with a message meant for the user."""

from __future__ import annotations


class FetchError(RuntimeError):
    """A selection or download problem, with a message meant for the user."""


class SelectionError(FetchError):
    """The requested templates, atlases, resolutions or descs match no image."""


class OfflineError(FetchError):
    """The TemplateFlow server could not be reached at all."""
