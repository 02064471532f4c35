"""nilearn 0.14.1's own tests for the objects we re-implement, run against ours.

How the files are copied, rewritten, selected and run: ``harness.py``. What is
run: ``files.py``. The only tests allowed not to pass: ``expected.py``. Each
file runs in one pytest subprocess per part; nilearn's estimator checks (the
scikit-learn protocol, hundreds of generated tests per estimator) are their own
part, marked ``nilearn_estimator_checks`` and ``slow``: ``make test`` and CI run
them once, in the one ``pytest -n 2 tests`` run, as a separate case that xdist
gives to its own worker; ``-m "not nilearn_estimator_checks"`` leaves them out
locally.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

from .expected import DIFFERENCES_DOC, DIFFERENT, NOT_YET, skip_and_xfail
from .files import SUITE
from .harness import (
    NILEARN_DIR,
    PARTS,
    functions_under_test,
    rewrite_imports,
    run_suite_file,
)

REPOSITORY = Path(__file__).parents[2]
NOT_PASSING = {"failed", "error", "xpassed"}


def _file_of(nodeid: str) -> str:
    return nodeid.split("::")[0]


def _function_of(nodeid: str) -> str:
    return nodeid.split("::")[1].split("[")[0]


def _cases() -> list:
    cases = []
    for relative, rewrites in SUITE.items():
        selection = functions_under_test((NILEARN_DIR / relative).read_text(), set(rewrites))
        for part in PARTS:
            if part == "estimator checks" and not selection.estimator_checks:
                continue
            marks = [pytest.mark.slow]
            if part == "estimator checks":
                marks.append(pytest.mark.nilearn_estimator_checks)
            cases.append(pytest.param(relative, part, marks=marks, id=f"{relative}-{part.replace(' ', '_')}"))
    return cases


def test_nilearn_test_dependencies_are_installed():
    """nilearn's estimator checks import polars and numpydoc (our test extra installs them).

    Without them the masker files fail to collect for that reason instead of
    the one listed in expected.py.
    """
    for module in ("polars", "numpydoc"):
        assert importlib.util.find_spec(module) is not None, f"pip install -e '.[test]' ({module})"


def test_expected_entries_name_suite_files():
    for nodeid in list(DIFFERENT) + list(NOT_YET):
        assert _file_of(nodeid) in SUITE, nodeid
    assert not set(DIFFERENT) & set(NOT_YET)


def test_expected_entries_name_tests_that_run():
    """Every listed test is one the harness runs (a test of a rewritten object)."""
    for nodeid in list(DIFFERENT) + list(NOT_YET):
        relative = _file_of(nodeid)
        if nodeid == relative:
            continue
        selection = functions_under_test((NILEARN_DIR / relative).read_text(), set(SUITE[relative]))
        assert _function_of(nodeid) in selection.tested, nodeid


def test_each_difference_is_pinned_and_documented():
    documentation = (REPOSITORY / DIFFERENCES_DOC).read_text()
    for nodeid, entry in DIFFERENT.items():
        path, function = entry.pinned_by.split("::")
        source = (REPOSITORY / path).read_text()
        assert f"def {function}(" in source, f"{nodeid}: pinning test {entry.pinned_by} not found"
        assert entry.documented_as in documentation, f"{nodeid}: not in {DIFFERENCES_DOC}"


@pytest.mark.parametrize("relative", list(SUITE))
def test_only_the_imports_of_the_tested_objects_change(relative):
    """Apart from the rewritten imports, the copy is nilearn's file, line for line."""
    source = (NILEARN_DIR / relative).read_text()
    rewritten, names = rewrite_imports(source, SUITE[relative])
    assert sorted(set(names)) == sorted(SUITE[relative])
    assert len(rewritten.splitlines()) == len(source.splitlines())

    def without_imports(text):
        tree = ast.parse(text)
        for node in ast.walk(tree):
            for name, value in ast.iter_fields(node):
                if isinstance(value, list):
                    setattr(node, name, [item for item in value if not isinstance(item, ast.ImportFrom)])
        return ast.dump(tree)

    assert without_imports(rewritten) == without_imports(source)
    imported = {
        alias.asname or alias.name: node.module
        for node in ast.walk(ast.parse(rewritten))
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    for name, (target, _) in SUITE[relative].items():
        assert imported[name] == target
    originally = {
        (node.module, alias.name)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    now = {
        (node.module, alias.name)
        for node in ast.walk(ast.parse(rewritten))
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    switched = {(target, name) for name, (target, _) in SUITE[relative].items()}
    assert now - switched <= originally


@pytest.mark.parametrize(("relative", "part"), _cases())
def test_nilearn_tests_pass_against_ours(relative, part, tmp_path):
    skip, xfail = skip_and_xfail()
    result = run_suite_file(relative, part, tmp_path, skip, xfail, SUITE)
    if relative in NOT_YET:
        assert result.collection_errors, f"{relative} now collects: remove it from expected.NOT_YET"
        assert not any("ModuleNotFoundError" in message for message in result.collection_errors.values()), (
            result.collection_errors
        )
        return
    assert not result.collection_errors, result.collection_errors
    assert result.outcomes, f"no test of {relative} ran:\n{result.output_tail}"
    not_passing = {
        nodeid: entry["outcome"] + ": " + entry["message"][:300]
        for nodeid, entry in result.outcomes.items()
        if entry["outcome"] in NOT_PASSING
    }
    assert not not_passing, (
        "not passing (fix ours, or list it in expected.py with its reason; an XPASS means "
        "the entry must go):\n" + "\n".join(f"{nodeid}: {line}" for nodeid, line in sorted(not_passing.items()))
    )
    listed = {
        nodeid
        for nodeid in list(DIFFERENT) + list(NOT_YET)
        if _file_of(nodeid) == relative and nodeid != relative
    }
    ran = set(result.outcomes)
    selection = functions_under_test((NILEARN_DIR / relative).read_text(), set(SUITE[relative]))
    estimator = set(selection.estimator_checks)
    functions_of_part = {name for name in selection.tested if (name in estimator) == (part == "estimator checks")}
    stale = {nodeid for nodeid in listed if _function_of(nodeid) in functions_of_part and nodeid not in ran}
    assert not stale, f"listed in expected.py but not run (renamed or gone): {sorted(stale)}"
    for nodeid in listed & ran:
        wanted = "skipped" if nodeid in DIFFERENT else "xfailed"
        assert result.outcomes[nodeid]["outcome"] == wanted, (nodeid, result.outcomes[nodeid])
