#!/usr/bin/env python
"""Time and memory of the group level on N participants (for the sizing table of docs/hpc.md).

    python benchmarks/group_level.py --participants 100

Runs the participant level once on the T=400 benchmark run (three atlases,
two strategies, correlation matrices), copies that participant's outputs to
``sub-001`` … ``sub-N`` (each copy gets its own mean framewise displacement
in its QC records, so QC-FC has something to correlate, and slightly
perturbed matrices), then runs ``regionseries BIDS OUT group`` in a fresh
process and prints its wall time, CPU time and peak RSS (``VmHWM``).
Results are appended to ``benchmarks/results/group-level.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import inputs as inputs_module  # noqa: E402
import run_benchmark as bench  # noqa: E402


def _copy_participant(source: Path, out: Path, label: str, rng: np.random.Generator) -> None:
    target = out / f"sub-{label}"
    for path in source.rglob("*"):
        if path.is_dir():
            continue
        destination = target / path.relative_to(source)
        destination = destination.with_name(destination.name.replace("sub-01", f"sub-{label}"))
        destination.parent.mkdir(parents=True, exist_ok=True)
        if path.name.endswith("_qc.json"):
            record = json.loads(path.read_text())
            record["MeanFramewiseDisplacement"] = float(rng.uniform(0.05, 0.5))
            destination.write_text(json.dumps(record))
        elif path.name.endswith("_relmat.tsv"):
            table = pd.read_csv(path, sep="\t", index_col=0)
            values = table.to_numpy()
            noise = rng.normal(0, 0.02, values.shape)
            noise = (noise + noise.T) / 2
            np.fill_diagonal(noise, 0)
            table.loc[:, :] = np.clip(values + noise, -0.999, 0.999)
            np.fill_diagonal(table.values, 1.0)
            table.to_csv(destination, sep="\t", na_rep="n/a", float_format="%.9g")
        else:
            shutil.copyfile(path, destination)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--participants", type=int, default=100)
    parser.add_argument("--length", type=int, default=400)
    parser.add_argument("--data-dir", type=Path, default=bench.parse_args([]).data_dir)
    parser.add_argument("--results-dir", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    built = inputs_module.build_inputs(args.data_dir, inputs_module.InputSpec(lengths=(args.length,)))
    scratch = Path(tempfile.mkdtemp(prefix="regionseries-group-"))
    rng = np.random.default_rng(0)
    try:
        one = scratch / "one"
        bench._run_cli(bench._cli_args(built, one, scratch / "work", 1, "rest", f"T{args.length}", scratch), print)
        out = scratch / "out"
        shutil.copytree(one, out, ignore=shutil.ignore_patterns("sub-*"))
        for k in range(1, args.participants + 1):
            _copy_participant(one / "sub-01", out, f"{k:03d}", rng)
        group_args = [str(built.bids_dir), str(out), "group", "--work-dir", str(scratch / "group-work"),
                      "--nprocs", "1"]
        result = bench._run_cli(group_args, print)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    record = {"participants": args.participants, "runs_per_participant": 1, "length": args.length,
              "atlases": 3, "strategies": 2, **result, "machine": bench.machine_facts(),
              "load_average": bench._load()}
    args.results_dir.mkdir(parents=True, exist_ok=True)
    path = args.results_dir / "group-level.json"
    history = json.loads(path.read_text()) if path.exists() else []
    history.append(record)
    path.write_text(json.dumps(history, indent=2))
    print(json.dumps({k: record[k] for k in ("participants", "wall", "cpu", "peak_rss_mib")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
