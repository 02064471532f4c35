"""What the group level is given and what it gives back: its options, its summary, its "nothing to do" error."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


class NoParticipantOutputs(Exception):
    """OUTPUT_DIR does not exist or holds no participant-level output to aggregate (exit 66)."""


@dataclass
class GroupOptions:
    """Settings of the group level.

    Attributes
    ----------
    max_mean_fd : float
        Runs with a larger mean framewise displacement (mm) are excluded.
    min_kept_fraction : float
        Runs keeping a smaller fraction of their volumes are excluded.
    participants : sequence of str or None
        Restrict to these participants.
    command_line : str
    reports : bool
        Write the group report.
    nprocs : int
        Processes reading the participants' files.
    incremental : bool
        Reuse (and keep) the sums of an earlier group run (see :class:`GroupCache`).
    qcfc_unit : {"participant", "run"}
        The samples of QC-FC: participants (the mean Fisher z of each
        participant's included runs against the mean of their mean FDs), or
        runs, each as an independent sample.
    """

    max_mean_fd: float = 0.55
    min_kept_fraction: float = 0.5
    participants: Sequence[str] | None = None
    command_line: str = ""
    reports: bool = True
    nprocs: int = 1
    incremental: bool = False
    qcfc_unit: str = "participant"

    def criteria(self) -> list[str]:
        """The exclusion criteria, as written in sidecars and reports."""
        return [
            "excluded or failed at the participant level for this strategy (reason recorded)",
            f"mean framewise displacement > {self.max_mean_fd:g} mm",
            f"fraction of volumes kept < {self.min_kept_fraction:g}",
        ]


@dataclass
class GroupSummary:
    """What the group level wrote and what went wrong."""

    outputs: list[Path] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    qc_table: pd.DataFrame | None = None
    qcfc: list[dict] = field(default_factory=list)
    #: The group-average correlation matrix of each task, space, atlas and strategy, for the report.
    mean_connectomes: list[dict] = field(default_factory=list)
    #: The job's log in ``OUTPUT_DIR/logs`` (set by :func:`run_group`).
    log_file: Path | None = None
    #: Matrices read from their TSV text because they had no up-to-date binary copy (see
    #: :mod:`regionseries.bids.relmat`): written by an older regionseries, or changed since.
    matrices_read_as_text: int = 0

    @property
    def exit_status(self) -> int:
        """0 when everything was written, 1 when something failed (the command line's exit code)."""
        return 1 if self.failures else 0
