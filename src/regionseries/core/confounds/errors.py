"""Exceptions and warnings of the confounds layers.

:class:`ConfoundsError` is a bad confounds input (a missing or malformed
file, missing columns); :class:`StrategyFileUnavailable` is a strategy file
that cannot be read at all; :class:`RunExcluded` is a run that cannot be
denoised with a strategy (every volume censored, or no more kept volumes
than regressors). All three are :class:`ValueError` s, like nilearn's input
errors. :class:`UnreadableImageWarning` is a BOLD image whose header
``load_confounds`` cannot read, so the confounds' length is not checked.
"""

from __future__ import annotations

__all__ = ["ConfoundsError", "StrategyFileUnavailable", "RunExcluded", "UnreadableImageWarning"]


class ConfoundsError(ValueError):
    """Bad confounds input: a missing or malformed file, missing columns.

    The message always names the file concerned and the problem. It is a
    :class:`ValueError`, so code written for nilearn's ``ValueError`` still
    catches it.
    """


class StrategyFileUnavailable(ConfoundsError):
    """A strategy file that is not there to be read: missing, a broken link,
    annexed content not fetched, permission denied (the command line's
    "no input", exit 66, where a malformed strategy is a usage error)."""


class RunExcluded(ValueError):
    """A run cannot be denoised with a strategy and should be skipped.

    Raised by :func:`plan_denoising` when every volume is censored or when
    the kept volumes are not more than the regressors, and by
    :func:`load_confounds` / :func:`load_confounds_strategy` when every
    volume is censored (nilearn returns an empty sample mask there). It is a
    :class:`ValueError`, like nilearn's input errors; a pipeline that skips
    excluded runs catches it before other ``ValueError`` s.

    Parameters
    ----------
    path : str
        The confounds file of the run.
    reason : str
        Why the run is excluded, with the numbers involved.
    strategy : str
        Name of the denoising strategy.
    plan : DenoisingPlan, optional
        The counts of the excluded run (kept, non-steady-state and censored
        volumes, mean FD, degrees of freedom lost) with no confound matrix,
        so that records of the exclusion keep them; set by
        :func:`plan_denoising`.
    """

    def __init__(self, path: str, reason: str, strategy: str, plan=None) -> None:
        self.path = str(path)
        self.reason = reason
        self.strategy = strategy
        self.plan = plan
        super().__init__(f"{self.path}: run excluded with strategy '{strategy}': {reason}")

    def __reduce__(self):  # keep the attributes when pickled (multiprocessing)
        return (type(self), (self.path, self.reason, self.strategy, self.plan))


class UnreadableImageWarning(UserWarning):
    """``load_confounds`` could not read a BOLD image's header.

    The image exists, but its number of volumes cannot be read, so the rows
    of its confounds are not checked against it; the confounds are returned
    as nilearn returns them (nilearn never opens the image). The message
    names the image and the reading error. The command line reads every
    BOLD image anyway and refuses an unreadable one with an error.
    """
