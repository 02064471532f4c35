"""Run nilearn 0.14.1's own test files against regionseries' objects.

Design
------
1. **Copy.** ``build_tree`` copies each test file listed in ``files.SUITE`` from
   the installed nilearn wheel into a temporary folder that mirrors the
   ``nilearn`` package: every folder on the way from the package root to the
   file is a real folder holding a copy of nilearn's ``conftest.py`` (the
   fixtures ``rng``, ``affine_eye``, ``img_labels``, ... of ``nilearn/conftest.py``
   and e.g. ``maskers/tests/conftest.py``) and a symbolic link to every other
   entry of the original folder (``tests/data``, ``image/tests/data``,
   ``glm/tests``: the data the tests find through ``Path(__file__)``). No
   ``__init__.py`` is copied, so pytest (importlib mode) imports the copies
   under their own names (``maskers.tests.test_nifti_labels_masker``), never
   the installed originals. Everything the tests import from nilearn itself
   (``nilearn._utils.estimator_checks``, ``nilearn.conftest``, ``_testing``
   helpers) comes from the installed wheel.
2. **Rewrite only the imports of the tested objects.** ``rewrite_imports``
   splits each ``from nilearn.X import ...`` that names a tested object into
   ``from regionseries.Y import <tested>; from nilearn.X import <the rest>``, on
   the same line (line numbers in tracebacks stay nilearn's). Nothing else in
   the file changes.
3. **Select the tests of those objects.** ``functions_under_test`` reads the
   file's syntax tree: a test runs when it uses a rewritten name directly, in
   its decorators, or through a module-level helper, fixture or constant that
   does (a fixed point over the module's definitions). The other tests of the
   file test nilearn alone and are deselected (by exact function name).
4. **Run.** ``run_suite_file`` runs pytest in a subprocess on the copied tree
   with ``plugin.py`` loaded (``-p``): it keeps the selected tests, marks the
   expected non-passes of ``expected.py`` by exact node id (skip for a
   deliberate difference, strict xfail for what is not implemented yet) and
   writes each test's outcome and first message line to ``outcomes.json``.
   The tests that are nilearn's estimator checks (decorated with
   ``parametrize_with_checks``, ``check_estimator`` or
   ``nilearn_check_estimator``) run in a separate part, so that
   ``test_nilearn_suite.py`` can mark them ``nilearn_estimator_checks``.
5. **Assert and report.** ``test_nilearn_suite.py`` asserts per file and part
   that nothing fails or errors outside ``expected.py`` and that every entry of
   ``expected.py`` is still needed; ``python tests/nilearn_suite/harness.py``
   prints the per-file table (``--nilearn`` runs the same copies unrewritten,
   nilearn against itself, as a check of the harness and a timing baseline).
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import nilearn

NILEARN_DIR = Path(nilearn.__file__).parent
PLUGIN_SOURCE = Path(__file__).with_name("plugin.py")
PLUGIN_MODULE = "nilearn_suite_plugin"
ESTIMATOR_CHECK_DECORATORS = {"parametrize_with_checks", "check_estimator", "nilearn_check_estimator"}
PYTEST_INI = """[pytest]
addopts = -p no:cacheprovider --import-mode=importlib
markers =
    slow: nilearn's mark for its slow tests
    thread_unsafe: nilearn's mark for tests that cannot run in threads
"""
RUN_TIMEOUT = 1800  # seconds: far above the slowest part measured (see tests/README.md)

Rewrites = dict[str, tuple[str, tuple[str, ...]]]


def rewrite_imports(source: str, rewrites: Rewrites) -> tuple[str, list[str]]:
    """Switch the imports of the tested objects from nilearn to regionseries.

    Parameters
    ----------
    source : str
        The test file's text.
    rewrites : dict
        ``{name: (regionseries module, nilearn modules it may come from)}``.

    Returns
    -------
    new_source : str
        The same text where each ``from nilearn.X import ...`` statement that
        names a tested object is replaced, on its first line, by the import of
        those names from regionseries and of the other names from nilearn;
        its other lines become blank, so line numbers do not move.
    rewritten : list of str
        The names rewritten, once per import statement.
    """
    lines = source.splitlines(keepends=True)
    rewritten: list[str] = []
    statements = [node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ImportFrom)]
    for node in sorted(statements, key=lambda node: node.lineno, reverse=True):
        tested = [
            alias
            for alias in node.names
            if alias.name in rewrites and node.module in rewrites[alias.name][1]
        ]
        if not tested:
            continue
        parts = []
        for target in sorted({rewrites[alias.name][0] for alias in tested}):
            names = ", ".join(_alias(alias) for alias in tested if rewrites[alias.name][0] == target)
            parts.append(f"from {target} import {names}")
        rest = [alias for alias in node.names if alias not in tested]
        if rest:
            parts.append(f"from {node.module} import {', '.join(_alias(alias) for alias in rest)}")
        first, last = node.lineno - 1, node.end_lineno - 1
        indent = lines[first][: node.col_offset]
        lines[first] = indent + "; ".join(parts) + "\n"
        for index in range(first + 1, last + 1):
            lines[index] = "\n"
        rewritten.extend(alias.name for alias in tested)
    return "".join(lines), sorted(rewritten)


def _alias(alias: ast.alias) -> str:
    return alias.name if alias.asname is None else f"{alias.name} as {alias.asname}"


def _used_names(node: ast.AST) -> set[str]:
    """Names a definition uses: loaded names and, for a function, its parameters (fixtures)."""
    used = {sub.id for sub in ast.walk(node) if isinstance(sub, ast.Name)}
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        arguments = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
        used |= {argument.arg for argument in arguments}
    return used


def _module_definitions(tree: ast.Module) -> list[tuple[str, ast.AST]]:
    """Module-level functions, classes and assignments, also inside module-level ``if``."""
    definitions = []
    pending = list(tree.body)
    while pending:
        node = pending.pop(0)
        if isinstance(node, ast.If):
            pending.extend(node.body + node.orelse)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            definitions.append((node.name, node))
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                definitions.extend((sub.id, node) for sub in ast.walk(target) if isinstance(sub, ast.Name))
    return definitions


@dataclass
class Selection:
    """The test functions of one file, split by what they test."""

    all_tests: list[str]
    tested: list[str]  # use a rewritten object: they run
    estimator_checks: list[str]  # among ``tested``: nilearn's estimator checks


def functions_under_test(source: str, names: list[str] | set[str]) -> Selection:
    """Find the tests of a file that use the given names, directly or indirectly.

    A module-level definition (function, fixture, class, constant) depends on
    a name when its body, decorators or parameters use it or use another
    definition that does; the tests (``test_*`` functions) that depend on one
    of ``names`` are returned.
    """
    tree = ast.parse(source)
    definitions = _module_definitions(tree)
    uses = {}
    for name, node in definitions:
        uses.setdefault(name, set()).update(_used_names(node))
    dependent = set(names)
    changed = True
    while changed:
        changed = False
        for name, used in uses.items():
            if name not in dependent and used & dependent:
                dependent.add(name)
                changed = True
    tests = [
        (name, node)
        for name, node in definitions
        if name.startswith("test_") and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    ]
    estimator_checks = [
        name
        for name, node in tests
        if any(
            isinstance(sub, ast.Name) and sub.id in ESTIMATOR_CHECK_DECORATORS
            for decorator in node.decorator_list
            for sub in ast.walk(decorator)
        )
    ]
    tested = [name for name, _ in tests if name in dependent]
    return Selection(
        all_tests=sorted({name for name, _ in tests}),
        tested=sorted(set(tested)),
        estimator_checks=sorted(set(estimator_checks) & set(tested)),
    )


def build_tree(root: Path, suite: dict[str, Rewrites], rewrite: bool = True) -> dict[str, Selection]:
    """Copy the suite's test files, with their conftest files and data, under ``root``.

    Returns the selection of each file (relative path -> ``Selection``).
    """
    folders = {Path(".")}
    for relative in suite:
        folders.update(Path(relative).parents)
    copied = {Path(relative) for relative in suite}
    for folder in sorted(folders):
        _mirror_folder(NILEARN_DIR / folder, root / folder, skip=folders | copied, level=folder)
    selections = {}
    for relative, rewrites in suite.items():
        source = (NILEARN_DIR / relative).read_text()
        new_source, rewritten = rewrite_imports(source, rewrites)
        missing = set(rewrites) - set(rewritten)
        if missing:
            raise AssertionError(f"{relative}: no import of {sorted(missing)} from nilearn to rewrite")
        copy = root / relative
        # never write through a link into the installed wheel
        assert not copy.exists() and copy.parent.resolve() == root.resolve() / Path(relative).parent
        copy.write_text(new_source if rewrite else source)
        selections[relative] = functions_under_test(source, set(rewrites))
    (root / "pytest.ini").write_text(PYTEST_INI)
    return selections


def _mirror_folder(original: Path, copy: Path, skip: set[Path], level: Path) -> None:
    """A real folder with nilearn's conftest.py and a link to every other entry.

    ``__init__.py`` is left out, and so are the entries in ``skip`` (folders on
    the way to a copied file, and the copied files), relative to the package.
    """
    copy.mkdir(parents=True, exist_ok=True)
    for entry in original.iterdir():
        target = copy / entry.name
        if entry.name in {"__init__.py", "__pycache__"} or level / entry.name in skip:
            continue
        if entry.name == "conftest.py":
            shutil.copyfile(entry, target)
        else:
            target.symlink_to(entry)


@dataclass
class PartResult:
    """Outcome of one run: one file, either its estimator checks or its other tests."""

    relative: str
    part: str  # "estimator checks" or "other tests"
    seconds: float
    outcomes: dict[str, dict[str, str]] = field(default_factory=dict)
    collection_errors: dict[str, str] = field(default_factory=dict)
    returncode: int = 0
    output_tail: str = ""

    def counts(self) -> Counter:
        counts = Counter(entry["outcome"] for entry in self.outcomes.values())
        if self.collection_errors:
            counts["collection error"] += len(self.collection_errors)
        return counts


PARTS = ("other tests", "estimator checks")


def run_suite_file(
    relative: str,
    part: str,
    workdir: Path,
    skip: dict[str, str],
    xfail: dict[str, str],
    suite: dict[str, Rewrites],
    rewrite: bool = True,
) -> PartResult:
    """Copy one file (see ``build_tree``) and run one part of its selected tests in a subprocess.

    Parameters
    ----------
    relative : str
        The test file, relative to the nilearn package.
    part : {"other tests", "estimator checks"}
        Which of the file's selected tests run.
    workdir : Path
        An empty folder for the copy, the plugin and the outcomes.
    skip, xfail : dict
        Node id -> reason of the deliberate differences (skipped) and of what
        is not implemented yet (strict xfail).
    suite : dict
        ``files.SUITE`` or a part of it (must contain ``relative``).
    rewrite : bool
        False runs the copies unchanged (nilearn against itself).
    """
    root = workdir / "nilearn_copy"  # not the working directory: its signal.py would shadow the stdlib
    selection = build_tree(root, {relative: suite[relative]}, rewrite=rewrite)[relative]
    estimator = set(selection.estimator_checks)
    names = [name for name in selection.tested if (name in estimator) == (part == "estimator checks")]
    plugin_dir = workdir / "plugin"
    plugin_dir.mkdir()
    shutil.copyfile(PLUGIN_SOURCE, plugin_dir / f"{PLUGIN_MODULE}.py")
    (plugin_dir / "suite.json").write_text(
        json.dumps({"selected": {relative: names}, "skip": skip, "xfail": xfail})
    )
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(plugin_dir)] + [entry for entry in environment.get("PYTHONPATH", "").split(os.pathsep) if entry]
    )
    environment.pop("PYTEST_XDIST_WORKER", None)
    environment.pop("PYTEST_ADDOPTS", None)
    command = [
        sys.executable, "-m", "pytest", "-p", PLUGIN_MODULE, "-p", "no:xdist",
        "-c", str(root / "pytest.ini"), "--rootdir", str(root), "-q", "--no-header", "-rN",
        "-W", "ignore::pytest.PytestUnknownMarkWarning", str(root / relative),
    ]  # fmt: skip
    start = time.perf_counter()
    completed = subprocess.run(
        command, cwd=workdir, env=environment, capture_output=True, text=True, timeout=RUN_TIMEOUT
    )
    seconds = time.perf_counter() - start
    result = PartResult(relative, part, seconds, returncode=completed.returncode)
    result.output_tail = (completed.stdout + completed.stderr)[-3000:]
    report = plugin_dir / "outcomes.json"
    if report.exists():
        data = json.loads(report.read_text())
        result.outcomes = data["outcomes"]
        result.collection_errors = data["collection_errors"]
    else:
        result.collection_errors = {relative: "pytest wrote no outcomes: " + result.output_tail}
    return result


TEMPORARY_PATH = re.compile(r"(/[^\s'\"]*)?/pytest-of-[^/]+/pytest-\d+/[^/\s]+/|/tmp/tmp[^/\s]+/")


def short_message(message: str) -> str:
    """The message without the temporary folders of nilearn's tests, cut to 200 characters."""
    return TEMPORARY_PATH.sub("<tmp>/", message)[:200]


def grouped_reasons(results: list[PartResult]) -> Counter:
    """(file, outcome, first message line) -> number of tests, for outcomes other than passed."""
    reasons: Counter = Counter()
    for result in results:
        for nodeid, message in result.collection_errors.items():
            reasons[(result.relative, "collection error", short_message(message))] += 1
        for entry in result.outcomes.values():
            if entry["outcome"] != "passed":
                reasons[(result.relative, entry["outcome"], short_message(entry["message"]))] += 1
    return reasons


def markdown_table(results: list[PartResult], selections: dict[str, Selection]) -> str:
    """The per-file table: tests in the file, selected, and outcomes per part."""
    columns = ["passed", "failed", "error", "skipped", "xfailed", "xpassed", "collection error"]
    lines = [
        "| file | part | tests in file / run | " + " | ".join(columns) + " | seconds |",
        "|---|---|---|" + "---|" * len(columns) + "---|",
    ]
    for result in results:
        selection = selections[result.relative]
        counts = result.counts()
        estimator = len(selection.estimator_checks)
        run = estimator if result.part == "estimator checks" else len(selection.tested) - estimator
        lines.append(
            f"| {result.relative} | {result.part} | {len(selection.all_tests)} / {run} functions | "
            + " | ".join(str(counts.get(column, 0)) for column in columns)
            + f" | {result.seconds:.1f} |"
        )
    lines.append("")
    lines.append("| file | outcome | message | tests |")
    lines.append("|---|---|---|---|")
    for (relative, outcome, message), number in sorted(grouped_reasons(results).items()):
        message = message.replace("|", "\\|")
        lines.append(f"| {relative} | {outcome} | {message} | {number} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Run the suite (or the files named) and print the table.

    ``--nilearn`` runs the copies unrewritten; ``--failing-ids`` also prints
    every test that does not pass, one per line, to update ``expected.py``.
    """
    import tempfile

    sys.path.insert(0, str(Path(__file__).parent))
    from expected import skip_and_xfail  # noqa: PLC0415
    from files import SUITE  # noqa: PLC0415

    rewrite = "--nilearn" not in argv
    only = [arg for arg in argv if not arg.startswith("--")]
    skip, xfail = skip_and_xfail() if rewrite else ({}, {})
    results, selections = [], {}
    with tempfile.TemporaryDirectory() as scratch:
        for relative in SUITE:
            if only and relative not in only:
                continue
            selections[relative] = functions_under_test((NILEARN_DIR / relative).read_text(), set(SUITE[relative]))
            for part in PARTS:
                if part == "estimator checks" and not selections[relative].estimator_checks:
                    continue
                workdir = Path(scratch) / f"{len(results)}"
                workdir.mkdir()
                result = run_suite_file(relative, part, workdir, skip, xfail, SUITE, rewrite=rewrite)
                results.append(result)
                print(f"{relative} [{part}]: {dict(result.counts())} in {result.seconds:.1f} s", file=sys.stderr)
    print(markdown_table(results, selections))
    if "--failing-ids" in argv:  # to write expected.py: every test that failed, errored or XPASSed
        for result in results:
            for nodeid, entry in sorted(result.outcomes.items()):
                if entry["outcome"] in {"failed", "error", "xpassed"}:
                    print(f"{nodeid}\t{entry['outcome']}\t{short_message(entry['message'])}")
            for nodeid, message in result.collection_errors.items():
                print(f"{nodeid}\tcollection error\t{short_message(message)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
