"""The demo's synthetic brain holds every built-in coordinate set: each sphere is covered
on the demo's grid, through the real command line (no coverage warning, no n/a region)."""

from __future__ import annotations

import json

from regionseries.atlases.spheres import BUILTIN_SPHERES
from regionseries.demo import (
    DatasetSpec,
    RunSpec,
    demo_dataset_spec,
    write_fmriprep_dataset,
)

from ..conftest import run_cli


def test_builtin_spheres_fall_inside_the_demo_brain(tmp_path):
    demo = demo_dataset_spec()
    bids = tmp_path / "fmriprep"
    write_fmriprep_dataset(bids, DatasetSpec(runs=[RunSpec("01", None, "rest", None)], n_volumes=40,
                                             voxel_size=demo.voxel_size, seed=1))
    output = tmp_path / "out"
    result = run_cli(bids, output, "participant", "--spheres", *BUILTIN_SPHERES, "--strategy", "none",
                     "--no-reports", "-w", tmp_path / "work")
    assert result.returncode == 0, result.stderr
    assert "coverage" not in result.stderr, result.stderr
    sidecars = {path.name.split("_atlas-")[1].split("_")[0]: json.loads(path.read_text())
                for path in output.rglob("*_timeseries.json")}
    assert sorted(sidecars) == sorted(BUILTIN_SPHERES)
    for name, sidecar in sidecars.items():
        assert sidecar["RegionsBelowCoverage"] == [] and sidecar["RegionsWithoutVoxels"] == [], name
        assert min(sidecar["RegionCoverage"].values()) >= 0.5, name
