"""What the group level is given and what it gives back: its options, its summary, its "nothing to do" error."""

from __future__ import annotations

import pickle
import zlib
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


class QCTables:
    """The QC tables of a group run, kept small once written.

    Each table (one per task, space, atlas and strategy) is written to
    ``group/`` as soon as it is made; what stays in memory is the table
    pickled and compressed (a few hundred KB for 10,000 runs, against tens of
    MB as a DataFrame), the counts, and for the group report the columns its
    summaries use (:data:`REPORT_COLUMNS`) and the excluded rows.
    :meth:`frame` gives back the concatenation of the tables, equal (values
    and dtypes) to what the tables were.
    """

    #: Columns of the QC table the group report summarises (counts, motion, dof lost, participants).
    REPORT_COLUMNS = ("sub", "atlas", "strategy", "excluded", "mean_fd_mm", "dof_lost", "n_runs_concatenated")

    def __init__(self, for_report: bool = True):
        self.for_report = for_report
        #: Rows and excluded rows of all tables.
        self.rows = 0
        self.excluded_rows = 0
        #: The QC TSV files written, in order.
        self.files: list[Path] = []
        self._stored: list[bytes] = []
        self._report_parts: list[pd.DataFrame] = []
        self._excluded_parts: list[pd.DataFrame] = []

    def add(self, table: pd.DataFrame, path: Path) -> None:
        """Keep ``table`` (written as ``path``) compressed, and what the report needs of it."""
        self._stored.append(zlib.compress(pickle.dumps(table, protocol=pickle.HIGHEST_PROTOCOL), 1))
        self.files.append(path)
        self.rows += len(table)
        excluded = table["excluded"].astype(bool) if "excluded" in table else pd.Series(False, index=table.index)
        self.excluded_rows += int(excluded.sum())
        if self.for_report:
            self._report_parts.append(table[[c for c in self.REPORT_COLUMNS if c in table.columns]].copy())
            self._excluded_parts.append(table[excluded])

    def frame(self) -> pd.DataFrame:
        """Every QC table, concatenated in the order they were added (an empty DataFrame when none)."""
        if not self._stored:
            return pd.DataFrame()
        return pd.concat([pickle.loads(zlib.decompress(data)) for data in self._stored], ignore_index=True)

    def report_frame(self) -> pd.DataFrame:
        """The :data:`REPORT_COLUMNS` of :meth:`frame` (the report's summaries), without making it whole."""
        if not self._report_parts:
            return pd.DataFrame()
        return pd.concat(self._report_parts, ignore_index=True)

    def excluded_frame(self) -> pd.DataFrame:
        """The excluded rows of :meth:`frame`, every column."""
        if not self._excluded_parts:
            return pd.DataFrame()
        return pd.concat(self._excluded_parts, ignore_index=True)


class _QCTableField:
    """``GroupSummary.qc_table``: set to a DataFrame, or to :class:`QCTables` made into one when first read."""

    def __set_name__(self, owner, name: str) -> None:
        self.attribute = f"_{name}"

    def __get__(self, summary, owner=None):
        if summary is None:
            return None  # the dataclass field's default
        value = summary.__dict__.get(self.attribute)
        if isinstance(value, QCTables):
            value = value.frame()
            summary.__dict__[self.attribute] = value
        return value

    def __set__(self, summary, value) -> None:
        summary.__dict__[self.attribute] = value


@dataclass
class GroupSummary:
    """What the group level wrote and what went wrong.

    ``qc_table`` is every QC table of the run (one row per run, strategy and
    atlas: the ``*_qc.tsv`` files of ``group/`` with full precision and their
    dtypes), concatenated. :func:`aggregate` keeps the tables compressed
    (:class:`QCTables`) and the DataFrame is made when ``qc_table`` is first
    read, so that a study of 10,000 participants does not hold its 60,000 rows
    unless asked to; :attr:`qc_counts` gives the row counts without making it.
    """

    outputs: list[Path] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    qc_table: pd.DataFrame | None = _QCTableField()
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

    @property
    def qc_tables(self) -> QCTables | None:
        """The QC tables as :func:`aggregate` keeps them, until ``qc_table`` is read (then None)."""
        value = self.__dict__.get("_qc_table")
        return value if isinstance(value, QCTables) else None

    @property
    def qc_counts(self) -> tuple[int, int]:
        """Rows of ``qc_table`` and how many are excluded, without making the DataFrame."""
        tables = self.qc_tables
        if tables is not None:
            return tables.rows, tables.excluded_rows
        table = self.qc_table
        if table is None or "excluded" not in table:
            return (0 if table is None else len(table)), 0
        return len(table), int(table["excluded"].astype(bool).sum())
