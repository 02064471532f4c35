"""Write the demo fMRIPrep dataset and labels atlas for the CI demo job.

Usage: ``python make_demo_data.py OUTDIR`` writes ``OUTDIR/fmriprep`` and
``OUTDIR/atlas`` with the generators of ``regionseries.demo`` (what ``make demo``
uses), without running the app: CI runs the app itself, in the container, the
way users do.
"""

import sys
from pathlib import Path

from regionseries.demo import demo_dataset_spec, write_demo_atlas, write_fmriprep_dataset


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python make_demo_data.py OUTDIR", file=sys.stderr)
        return 64
    outdir = Path(argv[0])
    write_fmriprep_dataset(outdir / "fmriprep", demo_dataset_spec())
    write_demo_atlas(outdir / "atlas")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
