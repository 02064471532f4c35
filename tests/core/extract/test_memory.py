"""Peak memory of one-pass extraction does not grow with the number of volumes.

A benchmark-style measurement, run in fresh subprocesses so that each peak
RSS (``VmHWM``) belongs to one extraction only. The same 40 x 48 x 40
float32 ``.nii.gz`` grid is extracted with T=50 and T=400 volumes (15 MB vs
123 MB of voxel data) by a labels (mean and median), a spheres and a maps
operator in one pass, reading 10 volumes per chunk. Loading the series
whole, as nilearn does, would add ~110 MB at T=400.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import nibabel as nib
import numpy as np
import pytest

SHAPE = (40, 48, 40)

_CHILD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from regionseries.core.extract import LabelsOperator, MapsOperator, SpheresOperator, extract_signals

    path, shape = sys.argv[1], (40, 48, 40)
    affine = np.diag([4.0, 4.0, 4.0, 1.0])
    labels = np.zeros(shape, dtype=np.int32)
    labels[5:35, 5:43, 5:35] = 1 + (np.arange(30)[:, None, None] // 6) + 5 * (np.arange(38)[None, :, None] // 10)
    i, j, k = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    maps = np.stack([np.exp(-((i - c) ** 2 + (j - 24) ** 2 + (k - 20) ** 2) / 50.0) for c in (10, 20, 30)], -1)
    operators = [
        LabelsOperator(labels, affine),
        LabelsOperator(labels, affine, reduction="median"),
        SpheresOperator([(40.0, 96.0, 80.0), (120.0, 96.0, 80.0)], 8.0, shape, affine),
        MapsOperator(maps, affine),
    ]
    def high_water_kb():
        # VmHWM belongs to this process image (ru_maxrss would inherit the parent's peak).
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))

    baseline = high_water_kb()
    results = extract_signals(path, operators, chunk_volumes=10)
    peak = high_water_kb()
    print(json.dumps({"baseline_kb": baseline, "peak_kb": peak, "n_volumes": results[0].signals.shape[0]}))
    """
)


def _write_series(path, n_volumes):
    rng = np.random.default_rng(n_volumes)
    # Quantised values compress quickly; the reader's work does not depend on them.
    data = (1000 + rng.integers(-20, 20, SHAPE + (n_volumes,), dtype=np.int16)).astype(np.float32)
    affine = np.diag([4.0, 4.0, 4.0, 1.0])
    nib.save(nib.Nifti1Image(data, affine), path)


def _peak_rss(path):
    completed = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True, check=True, timeout=300
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_peak_rss_is_flat_in_the_number_of_volumes(tmp_path):
    measured = {}
    for n_volumes in (50, 400):
        path = tmp_path / f"bold_{n_volumes}.nii.gz"
        _write_series(path, n_volumes)
        measured[n_volumes] = _peak_rss(path)
        assert measured[n_volumes]["n_volumes"] == n_volumes
    small, large = measured[50]["peak_kb"], measured[400]["peak_kb"]
    print(f"peak RSS: T=50 {small / 1024:.1f} MiB, T=400 {large / 1024:.1f} MiB")
    growth_mib = (large - small) / 1024
    # 8x the volumes (+108 MB of voxel data) must not show in the peak.
    assert large <= 1.25 * small, measured
    assert growth_mib < 30, measured
