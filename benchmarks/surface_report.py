"""Cost of the surface pictures in the report of a CIFTI run (91k x 400 volumes, 400 parcels).

The run and atlas of :mod:`surfaces` (fMRIPrep's 91k grayordinate counts), and a
TemplateFlow home with fsLR den-32k inflated meshes of the real size (32,492
vertices and 64,980-odd triangles per hemisphere: a latitude-longitude sphere, as
the timing depends on the counts, not the shape). In one invocation, ``--repeats``
times each, medians printed:

* ``report with surfaces``: the participant report's time (its "Report ...
  written in N s" line) when the meshes are in the home: the atlas and its
  coverage drawn on four views of the surface, plus the subcortical slices;
* ``report without``: the same job with only TemplateFlow's empty placeholders
  in the home (no surface picture, the sentence instead);
* ``run``: the run's own time (its progress line), with reports (the vertices'
  coverage is computed for the report) and with ``--no-reports``.

Every job runs with ``--overwrite`` and a fresh work folder, so the figure frames
are drawn each time (a study's later jobs reuse them from ``--cache-dir``).

Usage: ``python benchmarks/surface_report.py [--data-dir DIR] [--repeats N]``.
The load average is printed with the numbers: on a busy machine compare ratios.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from surfaces import N_PARCELS, build_cifti  # noqa: E402


def sphere_mesh(n_rings: int = 171, n_segments: int = 190, radius_mm: float = 70.0) -> tuple[np.ndarray, np.ndarray]:
    """A latitude-longitude sphere of ``n_rings * n_segments + 2`` vertices (32,492 by default)."""
    polar = np.linspace(0, np.pi, n_rings + 2)[1:-1]
    azimuth = np.linspace(0, 2 * np.pi, n_segments, endpoint=False)
    theta, phi = np.meshgrid(polar, azimuth, indexing="ij")
    ring_points = np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], -1).reshape(-1, 3)
    coordinates = np.vstack([[0, 0, 1], ring_points, [0, 0, -1]]) * radius_mm * np.array([0.5, 1.0, 0.8])
    faces = []
    index = np.arange(n_rings * n_segments).reshape(n_rings, n_segments) + 1
    following = np.roll(index, -1, axis=1)
    faces.append(np.stack([np.zeros(n_segments, int), index[0], following[0]], 1))
    for ring in range(n_rings - 1):
        faces.append(np.stack([index[ring], index[ring + 1], following[ring]], 1))
        faces.append(np.stack([following[ring], index[ring + 1], following[ring + 1]], 1))
    faces.append(np.stack([np.full(n_segments, len(coordinates) - 1), following[-1], index[-1]], 1))
    return coordinates.astype(np.float32), np.vstack(faces).astype(np.int32)


def template_home(folder: Path, placeholders: bool) -> Path:
    (folder / "tpl-fsLR").mkdir(parents=True, exist_ok=True)
    coordinates, faces = sphere_mesh()
    for hemi, shift in (("L", -40.0), ("R", 40.0)):
        path = folder / "tpl-fsLR" / f"tpl-fsLR_den-32k_hemi-{hemi}_inflated.surf.gii"
        if placeholders:
            path.write_bytes(b"")
            continue
        nib.GiftiImage(darrays=[
            nib.gifti.GiftiDataArray(coordinates + np.float32([shift, 0, 0]), intent="NIFTI_INTENT_POINTSET"),
            nib.gifti.GiftiDataArray(faces, intent="NIFTI_INTENT_TRIANGLE"),
        ]).to_filename(path)
    return folder


def job(data_dir: Path, atlas: Path, home: Path, reports: bool) -> tuple[float, float | None]:
    """(run seconds, report seconds or None) of one participant job."""
    work = data_dir / "work"
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(data_dir / "out" / "sub-01" / "figures", ignore_errors=True)
    done = subprocess.run([sys.executable, "-m", "regionseries", str(data_dir / "fmriprep"), str(data_dir / "out"),
                           "participant", "--space", "fsLR:den-91k", "--atlas-file", f"P{N_PARCELS}={atlas}",
                           "--strategy", "simple", "--overwrite", "-w", str(work)]
                          + ([] if reports else ["--no-reports"]),
                          capture_output=True, text=True, env=dict(os.environ, TEMPLATEFLOW_HOME=str(home)))
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise RuntimeError(output)
    run = float(re.search(r"done \(([\d.]+) s\)", output).group(1))
    report = re.search(r"Report .* written in ([\d.]+) s", output)
    return run, float(report.group(1)) if report else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "regionseries-bench-91k",
                        help="where the run, the atlas and the TemplateFlow homes are built (kept between calls)")
    parser.add_argument("--repeats", type=int, default=3, help="jobs of each kind; medians are printed")
    parser.add_argument("--volumes", type=int, default=400, help="volumes of the 91k run")
    args = parser.parse_args(argv)
    _, atlas = build_cifti(args.data_dir, args.volumes)
    with_meshes = template_home(args.data_dir / "templateflow-meshes", placeholders=False)
    without = template_home(args.data_dir / "templateflow-placeholders", placeholders=True)
    times: dict[str, list[float]] = {"surfaces": [], "none": [], "run": [], "run_no_reports": []}
    for _ in range(args.repeats):
        run, report = job(args.data_dir, atlas, with_meshes, True)
        if not any((args.data_dir / "out" / "sub-01" / "figures").glob("*desc-surface_dseg.png")):
            print("the report drew no surface picture")
            return 1
        times["surfaces"].append(report)
        times["run"].append(run)
        times["none"].append(job(args.data_dir, atlas, without, True)[1])
        times["run_no_reports"].append(job(args.data_dir, atlas, without, False)[0])
    median = {key: statistics.median(values) for key, values in times.items()}
    print(f"91k x {args.volumes} volumes, {N_PARCELS} parcels, fsLR 32k meshes: report with surfaces "
          f"{median['surfaces']:.2f} s, without {median['none']:.2f} s (+{median['surfaces'] - median['none']:.2f} s); "
          f"run {median['run']:.2f} s with reports, {median['run_no_reports']:.2f} s without; "
          f"load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
