"""What a participant job with nothing left to do imports (issue 13: start-up under 1 s).

Each of these libraries costs 0.2-0.5 s to import and is loaded on first use
only; a module importing one at its top undoes that for every job, which no
other test notices.
"""

from __future__ import annotations

import json
import subprocess
import sys

from ..conftest import run_cli

#: Imported only by the work a job does (building operators, filtering, plotting), never to find out
#: that there is nothing to do.
NOT_AT_START_UP = ("scipy.signal", "scipy.interpolate", "scipy.linalg", "scipy.ndimage", "scipy.sparse",
                   "scipy.stats", "matplotlib", "PIL.Image", "jinja2")


def test_a_job_with_nothing_left_to_do_imports_no_heavy_library(fmriprep_dataset, demo_atlas, tmp_path):
    image, table = demo_atlas
    args = [str(fmriprep_dataset), str(tmp_path / "out"), "participant", "--participant-label", "01",
            "--atlas-file", f"Demo={image}:{table}", "--spheres", "Power2011", "--strategy", "simple",
            "--no-reports", "-w", str(tmp_path / "work")]
    first = run_cli(*args)
    assert first.returncode in (0, 1), first.stderr
    script = (
        "import json, sys\n"
        "from regionseries import cli\n"
        "try:\n"
        f"    cli.main({args!r})\n"
        "except SystemExit as stop:\n"
        "    assert not stop.code, stop.code\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    again = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "skipped (outputs exist)" in again.stderr
    modules = set(json.loads(again.stdout.splitlines()[-1]))
    assert not [name for name in NOT_AT_START_UP if name in modules]
