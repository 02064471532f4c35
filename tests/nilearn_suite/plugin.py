"""pytest plugin of the nilearn suite run: the root conftest.py of the copied tree.

``harness.run_suite_file`` copies this file as ``conftest.py`` into the
temporary folder that holds the copied nilearn test files, next to
``suite.json``. It keeps only the selected tests (by exact function name),
marks the expected non-passes by exact node id (skip for a deliberate
difference, strict xfail for what is not implemented yet) and writes every
outcome to ``outcomes.json``. It imports nothing from regionseries' tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

HERE = Path(__file__).parent
CONFIG = json.loads((HERE / "suite.json").read_text())
OUTCOMES: dict[str, dict[str, str]] = {}
COLLECTION_ERRORS: dict[str, str] = {}


def _message(report) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return " ".join(crash.message.split())[:1000]
    if isinstance(report.longrepr, tuple):  # a skip: (file, line, reason)
        return str(report.longrepr[2])
    return str(report.longrepr).strip().splitlines()[-1] if report.longrepr else ""


def pytest_collection_modifyitems(config, items):
    kept, dropped = [], []
    selected = {path: set(names) for path, names in CONFIG["selected"].items()}
    for item in items:
        path = item.nodeid.split("::")[0]
        name = getattr(item, "originalname", item.name)
        if name not in selected.get(path, ()):
            dropped.append(item)
            continue
        if item.nodeid in CONFIG["skip"]:
            item.add_marker(pytest.mark.skip(reason="different: " + CONFIG["skip"][item.nodeid]))
        elif item.nodeid in CONFIG["xfail"]:
            item.add_marker(
                pytest.mark.xfail(strict=True, reason="not yet: " + CONFIG["xfail"][item.nodeid])
            )
        kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = kept


def pytest_collectreport(report):
    if report.failed:
        COLLECTION_ERRORS[report.nodeid] = _message(report)


def pytest_runtest_logreport(report):
    nodeid = report.nodeid
    if report.when == "call" or (report.when == "setup" and not report.passed):
        if hasattr(report, "wasxfail"):
            # a pass of a test nilearn itself marks xfail (not strict): not ours to judge
            outcome = "xpassed (nilearn xfail)" if report.passed else "xfailed"
            message = report.wasxfail
        elif report.skipped:
            outcome, message = "skipped", _message(report)
        elif report.failed and str(report.longrepr).startswith("[XPASS(strict)]"):
            outcome, message = "xpassed", str(report.longrepr)
        elif report.failed:
            outcome = "failed" if report.when == "call" else "error"
            message = _message(report)
        else:
            outcome, message = "passed", ""
        OUTCOMES[nodeid] = {"outcome": outcome, "message": message}
    elif report.when == "teardown" and report.failed:
        OUTCOMES[nodeid] = {"outcome": "error", "message": _message(report)}


def pytest_sessionfinish(session):
    (HERE / "outcomes.json").write_text(
        json.dumps({"outcomes": OUTCOMES, "collection_errors": COLLECTION_ERRORS}, indent=1)
    )
