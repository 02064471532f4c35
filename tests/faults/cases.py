"""The fault-injection cases, generated from one table of mutations per input kind.

Each row of a table is ``(mutation, expectation)``; a case is (input kind,
file, mutation, expectation). The expectations encode the target behaviour of
issue 12 (docs/usage.md, "Exit codes"):

* a bad **per-run** file (BOLD, brain mask, confounds TSV/JSON): exit 1, the
  other runs finish with outputs byte-equal to a clean run's, the failed run
  gets ``*_qc.json`` files with ``Status: failed`` and a ``Reason`` naming the
  file and the problem in plain words;
* what real tools legitimately write (every dtype, scaling, CRLF, BOM, LAS
  affine, ``NaN`` where fMRIPrep writes ``n/a``) works: exit 0, and results
  equal to the clean run's (to floating-point rounding: the values are the
  same, see dataset.py);
* a bad **job-level** file (atlas image or table, coordinate table, filter
  file, strategy file): nothing is written besides the log; exit 66 when the
  file cannot be opened (missing, annexed, permission denied) or an atlas file
  is unusable (docs: "66 ... atlas not available or unusable"; sysexits'
  EX_NOINPUT), exit 64 when a filter or strategy file is malformed (docs:
  "64 usage error ... malformed atlas or strategy": they are option values);
* text that is not UTF-8 is refused with a message saying so, wherever it is
  (no tool writes it; guessing an encoding could silently rename regions);
* the confounds JSON sidecar matters only to strategies that read it (here
  ``mine``, anatomical CompCor): a bad sidecar fails those, not ``simple``;
* the output folder and the environment: 73 (not writable, checked before
  indexing), 74 (disk full, no partial file), 143/130 (SIGTERM/SIGINT: finished
  runs complete, work folder removed, a rerun completes), SIGKILL (no partial
  output visible, a rerun completes), concurrent jobs (all exit 0, outputs equal
  to a sequential run's).

Cases the current code does not meet are listed in :data:`KNOWN_FAILURES`
(case id -> observed behaviour) and run as strict xfails: when a fix lands the
case XPASSes and its entry must be removed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from . import mutations as m
from . import runner
from .dataset import (
    COORDINATES,
    FILTER_FILE,
    LABELS_IMAGE,
    LABELS_TABLE,
    MAPS_IMAGE,
    STRATEGY_FILE,
    VICTIM,
)

BOTH_STRATEGIES = ("simple", "mine")
#: Values equal to the clean run's up to floating-point rounding (same input values, other dtype/order).
ROUNDING = 1e-6


@dataclass(frozen=True)
class Expect:
    """What a case must give.

    Attributes
    ----------
    exit_code : int
        Exit code of every job of the case (a process killed by signal N has -N).
    victim : str
        The outputs of the mutated run (job-level files: of every run):
        ``"equal"`` to the clean run's within ``atol`` (0: byte-equal TSVs),
        ``"complete"`` (all outputs there, values legitimately differ),
        ``"failed"`` (``*_qc.json`` with ``Status: failed`` for ``failed_strategies``,
        no time series for them), ``"none"`` (nothing in OUTPUT_DIR but logs),
        ``"unchecked"`` (environment faults: only completeness of what is there).
    problem : tuple of str
        The message (stderr, and the ``Reason`` of failed runs) contains one of these
        fragments, case-insensitive; empty: not checked.
    names_file : bool
        The message names the mutated file (its file name).
    names : tuple of str
        Other file names the message may name instead (any one of them).
    failed_strategies : tuple of str
        For ``victim="failed"``: the strategies whose outputs fail.
    before_indexing : bool
        The job stops before indexing the dataset (no "indexing" line).
    rerun : bool
        After the fault is removed, the same job exits 0 and every run equals the clean run.
    killed : bool
        SIGKILL: temporary files and the work folder of the killed job may remain.
    """

    exit_code: int
    victim: str = "equal"
    problem: tuple[str, ...] = ()
    names_file: bool = True
    names: tuple[str, ...] = ()
    failed_strategies: tuple[str, ...] = BOTH_STRATEGIES
    atol: float = ROUNDING
    before_indexing: bool = False
    rerun: bool = False
    killed: bool = False


WORKS = Expect(0, "equal")
#: Works, but the values legitimately differ from the clean run (other region names, other geometry).
WORKS_CHANGED = Expect(0, "complete")


def run_fails(*problem: str, strategies: tuple[str, ...] = BOTH_STRATEGIES, names: tuple[str, ...] = ()) -> Expect:
    """A per-run file is bad: exit 1, the run failed with a reason, the others are untouched."""
    return Expect(1, "failed", problem=problem, failed_strategies=strategies, names=names)


def refused(exit_code: int, *problem: str) -> Expect:
    """A job-level file is bad: the job stops before writing anything but its log."""
    return Expect(exit_code, "none", problem=problem)


#: The plain words each fault must be described with (any one of them).
EMPTY = ("empty",)
TRUNCATED = ("truncated", "incomplete", "ends early", "unexpected end")
NOT_NIFTI = ("not a nifti", "as a nifti")
ANNEXED = ("datalad get",)
DENIED = ("permission denied",)
NOT_FOUND = ("not found", "does not exist", "no such file")
DIMENSIONS = ("dimension", "4d", "3d")
ROWS = ("rows",)
ENCODING = ("utf-8", "encoding", "decode")
JSON = ("json",)


@dataclass(frozen=True)
class Case:
    kind: str
    target: str | None
    mutation: Callable[[Path], None] | None
    expect: Expect
    procedure: Callable[..., runner.Observation] = runner.run_job
    name: str = ""

    @property
    def id(self) -> str:
        return f"{self.kind}-{self.name or self.mutation.__name__}"

    @property
    def scope(self) -> str:
        """``run``: one run's file is mutated; ``job``: a file every run uses."""
        return "run" if self.kind in PER_RUN_KINDS else "job"


# --------------------------------------------------------------------------------------
# The tables: input kind -> (file, [(mutation, expectation), ...])
# --------------------------------------------------------------------------------------

PER_RUN_KINDS = ("bold", "mask", "confounds_tsv", "confounds_json")

TABLES: dict[str, tuple[str, list[tuple[Callable, Expect]]]] = {
    "bold": (f"fmriprep/{VICTIM.bold}", [
        (m.empty, run_fails(*EMPTY)),
        (m.truncated, run_fails(*TRUNCATED)),
        (m.header_without_data, run_fails(*TRUNCATED)),
        (m.not_nifti, run_fails(*NOT_NIFTI)),
        (m.first_volume_only, run_fails(*DIMENSIONS)),
        (m.five_d, run_fails(*DIMENSIONS)),
        (m.named("fewer_volumes_than_confounds", m.drop_last_volumes, 4),
         run_fails(*ROWS, names=(Path(VICTIM.bold).name, Path(VICTIM.confounds_tsv).name))),
        *[(mutation, WORKS) for mutation in m.dtype_mutations(m.DTYPE_VARIANTS_BOLD)],
        (m.flip_x, WORKS),
        (m.flip_x_with_mask, WORKS),
        (m.oblique, WORKS_CHANGED),
        (m.nan_outside_brain, WORKS),
        (m.nan_in_brain_voxels, WORKS_CHANGED),
        (m.inf_in_one_volume, WORKS_CHANGED),
        (m.annexed, run_fails(*ANNEXED)),
        (m.unreadable, run_fails(*DENIED)),
    ]),
    "mask": (f"fmriprep/{VICTIM.mask}", [
        (m.empty, run_fails(*EMPTY)),
        (m.truncated, run_fails(*TRUNCATED)),
        (m.not_nifti, run_fails(*NOT_NIFTI)),
        (m.single_volume_4d, WORKS),
        (m.two_volumes, run_fails(*DIMENSIONS)),
        *[(mutation, WORKS) for mutation in m.dtype_mutations(m.DTYPE_VARIANTS_MASK)],
        (m.flip_x, WORKS),
        (m.nan_background, WORKS),
        (m.all_zero, run_fails("empty", "no voxel", "all zero")),
        (m.annexed, run_fails(*ANNEXED)),
        (m.unreadable, run_fails(*DENIED)),
    ]),
    "confounds_tsv": (f"fmriprep/{VICTIM.confounds_tsv}", [
        (m.empty, run_fails(*EMPTY)),
        (m.header_only, run_fails(*ROWS)),
        (m.truncated_mid_row, run_fails(*ROWS, *TRUNCATED)),
        (m.named("fewer_rows", m.drop_rows, slice(-4, None)), run_fails(*ROWS)),
        (m.named("extra_rows", m.repeat_last_rows, 3), run_fails(*ROWS)),
        (m.comma_delimited, run_fails("comma", "delimit", "separat", "column")),
        (m.crlf, WORKS),
        (m.bom, WORKS),
        (m.trailing_blank_lines, WORKS),
        (m.non_utf8, run_fails(*ENCODING)),
        (m.named("missing_column", m.drop_column, "trans_x"), run_fails("trans_x")),
        (m.named("renamed_column", m.rename_columns, {"trans_x": "TransX"}), run_fails("trans_x")),
        (m.add_column, WORKS),
        (m.named("na_in_selected_column", m.set_cell, "trans_x", 20, "n/a"), run_fails("n/a")),
        (m.named("na_in_unused_column", m.set_cell, "rmsd", 20, "n/a"), WORKS),
        (m.named("nan_literal_first_row", m.first_row_value, "derivative", "NaN"), WORKS),
        (m.named("empty_cell_first_row", m.first_row_value, "derivative", ""), WORKS),
        (m.named("inf_in_selected_column", m.set_cell, "trans_y", 10, "inf"), run_fails("inf", "finite")),
        (m.named("text_in_selected_column", m.set_cell, "rot_z", 10, "abc"), run_fails("rot_z")),
        (m.annexed, run_fails(*ANNEXED)),
        (m.unreadable, run_fails(*DENIED)),
    ]),
    # Only the strategy "mine" (compcor, anatomical) reads the sidecar: "simple" must not fail.
    "confounds_json": (f"fmriprep/{VICTIM.confounds_json}", [
        (m.empty, run_fails(*EMPTY, strategies=("mine",))),
        (m.truncated, run_fails(*JSON, *TRUNCATED, strategies=("mine",))),
        (m.named("list_not_object", m.write_text, "[]\n"), run_fails(*JSON, "object", strategies=("mine",))),
        (m.named("no_entries", m.write_text, "{}\n"), run_fails("a_comp_cor", "compcor", strategies=("mine",))),
        (m.bom, WORKS),
        (m.crlf, WORKS),
        (m.non_utf8, run_fails(*ENCODING, strategies=("mine",))),
        (m.named("nan_in_unused_entry", m.edit_json, m._nan_in_unused_entry), WORKS),
        (m.deleted, run_fails("json", "sidecar", *NOT_FOUND, strategies=("mine",))),
        (m.annexed, run_fails(*ANNEXED, strategies=("mine",))),
        (m.unreadable, run_fails(*DENIED, strategies=("mine",))),
    ]),
    "atlas_labels": (LABELS_IMAGE, [
        (m.empty, refused(66, *EMPTY)),
        (m.truncated, refused(66, *TRUNCATED)),
        (m.not_nifti, refused(66, *NOT_NIFTI)),
        (m.five_d, refused(66, *DIMENSIONS, "shape")),
        (m.two_d, refused(66, *DIMENSIONS, "shape")),
        (m.non_integer_labels, refused(66, "integer")),
        (m.all_zero, refused(66, "no label")),
        *[(mutation, WORKS) for mutation in m.dtype_mutations(m.DTYPE_VARIANTS_LABELS)],
        (m.flip_x, WORKS),
        (m.nan_background, WORKS),
        (m.named("oblique", m.oblique), WORKS_CHANGED),
        (m.deleted, refused(66, *NOT_FOUND)),
        (m.annexed, refused(66, *ANNEXED)),
        (m.unreadable, refused(66, *DENIED)),
    ]),
    "atlas_maps": (MAPS_IMAGE, [
        (m.empty, refused(66, *EMPTY)),
        (m.truncated, refused(66, *TRUNCATED)),
        (m.named("uint8_percent", m.percent_maps, "uint8", float("nan")), WORKS),
        (m.named("uint8_percent_slope0.01", m.percent_maps, "uint8", 0.01), WORKS),
        (m.named("int16_percent", m.percent_maps, "int16", float("nan")), WORKS),
        (m.named("float64", m.as_dtype, "float64", float("nan"), float("nan")), WORKS),
        (m.flip_x, WORKS),
        (m.nan_background, WORKS),
        (m.first_map_only, WORKS_CHANGED),
        (m.annexed, refused(66, *ANNEXED)),
        (m.unreadable, refused(66, *DENIED)),
    ]),
    "atlas_table": (LABELS_TABLE, [
        (m.empty, refused(66, *EMPTY)),
        (m.header_only, WORKS_CHANGED),
        (m.comma_delimited, refused(66, "column")),
        (m.crlf, WORKS),
        (m.bom, WORKS),
        (m.non_utf8, refused(66, *ENCODING)),
        (m.named("missing_rows", m.drop_rows, slice(0, 3)), WORKS_CHANGED),
        (m.extra_label_rows, WORKS),
        (m.named("renamed_columns", m.rename_columns, {"index": "label", "name": "region"}), WORKS),
        (m.without_header, WORKS),
        (m.named("zero_based", m.shift_index, -1), WORKS_CHANGED),
        (m.duplicate_index, refused(66, "repeated", "duplicate")),
        (m.named("na_name", m.set_cell, "name", 2, "n/a"), WORKS_CHANGED),
        (m.add_column, WORKS),
        (m.deleted, refused(66, *NOT_FOUND)),
        (m.annexed, refused(66, *ANNEXED)),
        (m.unreadable, refused(66, *DENIED)),
    ]),
    "coordinates": (COORDINATES, [
        (m.empty, refused(66, *EMPTY)),
        (m.header_only, refused(66, "no rows")),
        (m.comma_delimited, refused(66, "column")),
        (m.crlf, WORKS),
        (m.bom, WORKS),
        (m.non_utf8, refused(66, *ENCODING)),
        (m.named("missing_z", m.drop_column, "z"), refused(66, "z")),
        (m.named("upper_case_columns", m.rename_columns, {"x": "X", "y": "Y", "z": "Z"}), WORKS),
        (m.add_column, WORKS),
        (m.named("na_coordinate", m.set_cell, "y", 1, "n/a"), refused(66, "non-numeric", "n/a")),
        (m.named("outside_field_of_view", m.set_cell, "x", 0, "500"), WORKS_CHANGED),
        (m.deleted, refused(66, *NOT_FOUND)),
        (m.annexed, refused(66, *ANNEXED)),
        (m.unreadable, refused(66, *DENIED)),
    ]),
    "filter_file": (FILTER_FILE, [
        (m.empty, refused(64, *JSON, *EMPTY)),
        (m.truncated, refused(64, *JSON)),
        (m.named("list_not_object", m.write_text, "[]\n"), refused(64, "object")),
        (m.named("unknown_key", m.write_text, '{"bold": {}, "t1w": {}}\n'), refused(64, "only the")),
        (m.named("unknown_entity", m.write_text, '{"bold": {"subjectt": "01"}}\n'), refused(64, "unknown entit")),
        (m.bom, WORKS),
        (m.crlf, WORKS),
        (m.non_utf8, refused(64, *ENCODING)),
        (m.named("selects_nothing", m.write_text, '{"bold": {"task": "nback"}}\n'), refused(66, "no ")),
        (m.deleted, refused(66, *NOT_FOUND)),
        (m.annexed, refused(66, *ANNEXED)),
        (m.unreadable, refused(66, *DENIED)),
    ]),
    "strategy_file": (STRATEGY_FILE, [
        (m.empty, refused(64, *EMPTY, *JSON)),
        (m.truncated, refused(64, *JSON)),
        (m.named("unknown_key", m.edit_json, m._with("motoin", "full")), refused(64, "motoin")),
        (m.named("bad_value", m.edit_json, m._with("motion", "lots")), refused(64, "motion")),
        (m.named("no_name", m.edit_json, m._without("name")), refused(64, "name")),
        (m.bom, WORKS),
        (m.crlf, WORKS),
        (m.non_utf8, refused(64, *ENCODING)),
        (m.deleted, refused(66, *NOT_FOUND)),
        (m.annexed, refused(66, *ANNEXED)),
        (m.unreadable, refused(66, *DENIED)),
    ]),
}

#: The environment faults: name -> (preparation of the dataset or None, procedure, expectation).
ENVIRONMENT: dict[str, tuple[Callable[[Path], None] | None, Callable[..., runner.Observation], Expect]] = {
    "read_only": (None, runner.read_only_output,
                  Expect(73, "none", problem=("read-only", "not writable", "permission"), before_indexing=True)),
    "read_only_parent": (None, runner.read_only_parent,
                         Expect(73, "none", problem=("read-only", "not writable", "permission", "cannot create"),
                                before_indexing=True)),
    "is_a_file": (None, runner.output_is_a_file,
                  Expect(73, "none", problem=("not a folder", "not a directory", "exists"), before_indexing=True)),
    "disk_full": (None, runner.disk_full, Expect(74, "unchecked", problem=("space", "disk full"), names_file=False)),
    "sigterm": (runner.add_runs_for_signals, runner.sigterm_mid_job,
                Expect(143, "unchecked", problem=("terminated", "interrupted", "sigterm"), names_file=False,
                       rerun=True)),
    "sigint": (runner.add_runs_for_signals, runner.sigint_mid_job,
               Expect(130, "unchecked", problem=("interrupted",), names_file=False, rerun=True)),
    "sigkill": (runner.add_runs_for_signals, runner.sigkill_mid_job,
                Expect(-9, "unchecked", names_file=False, rerun=True, killed=True)),
    "concurrent_participants": (None, runner.concurrent_participants, Expect(0, "equal", atol=0.0, names_file=False)),
    "concurrent_same_participant": (None, runner.concurrent_same_participant,
                                    Expect(0, "equal", atol=0.0, names_file=False)),
}

#: Case id -> what the current code does instead (strict xfail until fixed). Empty: every case holds.
KNOWN_FAILURES: dict[str, str] = {}


def _permission_case(mutation) -> bool:
    return mutation is m.unreadable


def generate() -> list[Case]:
    """Every case: each mutation of each input kind's table, then the environment faults."""
    cases = []
    for kind, (target, rows) in TABLES.items():
        for mutation, expect in rows:
            procedure = partial(runner.run_job, unprivileged=True) if _permission_case(mutation) else runner.run_job
            cases.append(Case(kind, target, mutation, expect, procedure))
    for name, (preparation, procedure, expect) in ENVIRONMENT.items():
        kind = "output" if name in ("read_only", "read_only_parent", "is_a_file", "disk_full") else "environment"
        cases.append(Case(kind, "fmriprep" if preparation else None, preparation, expect, procedure, name=name))
    return cases


CASES = generate()
