#!/usr/bin/env python
"""Time and memory of the group level on 1,000 and 10,000 participants (docs/performance.md, docs/hpc.md).

    python benchmarks/group_level.py                       # 1,000 and 10,000 participants
    python benchmarks/group_level.py --participants 300    # a quicker look
    python benchmarks/group_level.py --linc-qc             # with the LINC QC tables of --linc-qc

Runs the participant level once on the T=400 benchmark run (three atlases:
400 labels, 64 maps, 264 spheres; two strategies; correlation matrices),
writes ``--variants`` perturbed copies of that participant's matrices (so that
QC-FC has something to correlate), and builds an output folder of N
participants out of **hard links** to those copies: each participant gets its
own ``*_qc.json`` records (its own mean framewise displacement) and links to
one variant's matrices and time-series files (with ``--linc-qc``, its own
LINC QC tables: the participant's rows relabelled). Building 10,000 participants
this way takes seconds and almost no disk; the group level still reads and
parses every participant's matrices (the same few inodes, so from the page
cache: a real study's files would also be read from disk).

For each N, in fresh processes (``regionseries BIDS OUT group --no-reports``):

* ``--nprocs 1`` and ``--nprocs 2`` (alternated, ``--repeats`` each; the
  last ``--nprocs 2`` run with ``--incremental``, which on a first run reads
  every run and fills the group cache);
* ``--incremental --nprocs 2`` after adding 1 % new participants, then with
  a stricter ``--max-mean-fd 0.5`` (the runs it excludes are taken away).

Prints and appends to ``benchmarks/results/group-level.json``: wall time,
CPU time (with the workers) and peak RSS (``VmHWM`` of the main process; the
largest worker's ``ru_maxrss`` with ``--nprocs 2``), and the load average.
The group outputs of ``--nprocs 1`` and ``--nprocs 2`` are compared byte for
byte.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from regionseries.bids.outputs import tsv_text
from regionseries.bids.relmat import copy_path, write_relmat_tsv
from regionseries.group import read_relmat

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import inputs as inputs_module
import run_benchmark as bench


def _variant_matrices(source: Path, variants: Path, count: int, rng: np.random.Generator) -> None:
    """``count`` copies of the participant's matrices, each with its own symmetric noise."""
    for k in range(count):
        folder = variants / f"v{k}"
        folder.mkdir(parents=True)
        for path in source.rglob("*_relmat.tsv"):
            names, values = read_relmat(path)
            noise = rng.normal(0, 0.02, values.shape)
            noise = (noise + noise.T) / 2
            perturbed = np.clip(values + noise, -0.999, 0.999)
            np.fill_diagonal(perturbed, 1.0)
            write_relmat_tsv(folder / path.name, tsv_text(pd.DataFrame(perturbed, index=pd.Index(names),
                                                                       columns=names), index_label="node"))


def add_participants(one: Path, variants: Path, out: Path, labels: range, rng: np.random.Generator,
                     with_copies: bool = True) -> None:
    """Participants ``labels`` in ``out``: own QC records, hard links to a variant's other files.

    ``with_copies``: with the binary copies of the matrices the participant
    level writes (:mod:`regionseries.bids.relmat`); without, as outputs of
    regionseries before they existed, whose matrices are parsed as text.
    """
    source = one / "sub-01"
    files = [p for p in source.rglob("*") if p.is_file()]
    records = {p: json.loads(p.read_text()) for p in files
               if p.name.endswith("_qc.json") and "_stat-linc_" not in p.name}  # not a LINC table's sidecar
    n_variants = len(list(variants.iterdir()))
    for k in labels:
        label = f"{k:05d}"
        variant = variants / f"v{k % n_variants}"
        for path in files:
            destination = out / f"sub-{label}" / path.relative_to(source)
            destination = destination.with_name(destination.name.replace("sub-01", f"sub-{label}"))
            destination.parent.mkdir(parents=True, exist_ok=True)
            if path in records:
                record = dict(records[path])
                record["MeanFramewiseDisplacement"] = float(rng.uniform(0.05, 0.6))
                record["Bold"] = record["Bold"].replace("sub-01", f"sub-{label}")
                destination.write_text(json.dumps(record))
            elif path.name.endswith("_relmat.tsv"):
                os.link(variant / path.name, destination)
                if with_copies:
                    os.link(copy_path(variant / path.name), copy_path(destination))
            elif path.name.endswith(".f64"):  # sub-01's binary copies: the variant's are linked with its TSV
                continue
            elif "_stat-linc_" in path.name and path.name.endswith("_qc.tsv"):  # its rows name the participant
                header, *rows = path.read_text().splitlines(keepends=True)
                destination.write_text(header + "".join(f"{label}{row.removeprefix('01')}" for row in rows))
            else:
                os.link(path, destination)


def _group(built, out: Path, work: Path, nprocs: int, *extra: str) -> dict:
    args = [str(built.bids_dir), str(out), "group", "--no-reports", "--work-dir", str(work),
            "--nprocs", str(nprocs), *extra]
    return bench._run_cli(args, print)


def _same_outputs(a: Path, b: Path) -> bool:
    names = sorted(p.name for p in a.iterdir() if p.is_file())
    if names != sorted(p.name for p in b.iterdir() if p.is_file()):
        return False
    _, mismatch, errors = filecmp.cmpfiles(a, b, [n for n in names if not n.endswith("_qc.json")], shallow=False)
    return not mismatch and not errors


def _summary(results: list[dict]) -> dict:
    return {key: statistics.median(r[key] for r in results) for key in ("wall", "cpu", "peak_rss_mib")} | {
        "largest_worker_peak_rss_mib": results[0].get("largest_worker_peak_rss_mib"), "repeats": len(results)}


def measure(built, one: Path, variants: Path, scratch: Path, n: int, repeats: int, rng,
            with_copies: bool = True) -> dict:
    out = scratch / f"out-{n}"
    shutil.copytree(one, out, ignore=shutil.ignore_patterns("sub-*", "logs"))
    add_participants(one, variants, out, range(1, n + 1), rng, with_copies)
    work = scratch / "work"
    record: dict = {"participants": n, "binary_copies": with_copies, "load_average_start": bench._load()}
    print(f"{n} participants; load average {record['load_average_start']}")
    runs: dict[int, list[dict]] = {1: [], 2: []}
    copies = {}
    for repeat in range(repeats):
        for nprocs in (1, 2):
            # the last --nprocs 2 run also fills the group cache (--incremental on a first run reads every run)
            extra = ("--incremental",) if nprocs == 2 and repeat == repeats - 1 else ()
            shutil.rmtree(out / "group", ignore_errors=True)
            runs[nprocs].append(_group(built, out, work, nprocs, *extra))
            copies[nprocs] = scratch / f"group-{n}-nprocs{nprocs}"
            shutil.rmtree(copies[nprocs], ignore_errors=True)
            shutil.copytree(out / "group", copies[nprocs], ignore=shutil.ignore_patterns(".incremental"))
    record["nprocs_1"] = _summary(runs[1])
    record["nprocs_2"] = _summary(runs[2])
    record["nprocs_outputs_identical"] = _same_outputs(copies[1], copies[2])
    added = max(1, n // 100)
    add_participants(one, variants, out, range(n + 1, n + added + 1), rng, with_copies)
    with_new = _group(built, out, work, 2, "--incremental")
    stricter = _group(built, out, work, 2, "--incremental", "--max-mean-fd", "0.5")
    record["incremental"] = {"new_participants": added, "with_new_participants": with_new,
                             "max_mean_fd_0.55_to_0.5": stricter}
    record["load_average_end"] = bench._load()
    shutil.rmtree(out)
    return record


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--participants", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--variants", type=int, default=16, help="distinct perturbed copies of the matrices")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each --nprocs (alternated)")
    parser.add_argument("--length", type=int, default=400)
    parser.add_argument("--data-dir", type=Path, default=bench.parse_args([]).data_dir)
    parser.add_argument("--results-dir", type=Path, default=HERE / "results")
    parser.add_argument("--scratch", type=Path, default=None, help="folder for the outputs (default: $TMPDIR)")
    parser.add_argument("--linc-qc", action="store_true",
                        help="the participant level writes LINC QC tables (--linc-qc), which the group level stacks")
    parser.add_argument("--without-copies", type=int, nargs="*", default=[], metavar="N",
                        help="also measure these numbers of participants without the matrices' binary copies "
                             "(outputs of older versions: every matrix parsed as text)")
    args = parser.parse_args(argv)
    built = inputs_module.build_inputs(args.data_dir, inputs_module.InputSpec(lengths=(args.length,)))
    scratch = Path(tempfile.mkdtemp(prefix="regionseries-group-", dir=args.scratch))
    rng = np.random.default_rng(0)
    results = {"machine": bench.machine_facts(), "runs_per_participant": 1, "length": args.length,
               "atlases": 3, "strategies": 2, "variants": args.variants, "linc_qc_tables": args.linc_qc,
               "by_participants": []}
    try:
        one = scratch / "one"
        bench._run_cli(bench._cli_args(built, one, scratch / "work", 1, "rest", f"T{args.length}", scratch)
                       + (["--linc-qc"] if args.linc_qc else []), print)
        variants = scratch / "variants"
        _variant_matrices(one / "sub-01", variants, args.variants, rng)
        for n, with_copies in [(n, False) for n in args.without_copies] + [(n, True) for n in args.participants]:
            results["by_participants"].append(measure(built, one, variants, scratch, n, args.repeats, rng,
                                                      with_copies))
            print(json.dumps(results["by_participants"][-1], indent=1))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    path = args.results_dir / "group-level.json"
    history = json.loads(path.read_text()) if path.exists() else []
    history.append(results)
    path.write_text(json.dumps(history, indent=2))
    for item in results["by_participants"]:
        inc = item["incremental"]
        print(f"{item['participants']:>6} participants{'' if item['binary_copies'] else ' (text only)'}"
              f"{', LINC QC tables' if args.linc_qc else ''}: nprocs 1 {item['nprocs_1']['wall']:.1f} s "
              f"{item['nprocs_1']['peak_rss_mib']:.0f} MiB; nprocs 2 {item['nprocs_2']['wall']:.1f} s "
              f"{item['nprocs_2']['peak_rss_mib']:.0f} MiB; identical {item['nprocs_outputs_identical']}; "
              f"incremental +{inc['new_participants']}: {inc['with_new_participants']['wall']:.1f} s, "
              f"then --max-mean-fd 0.5: {inc['max_mean_fd_0.55_to_0.5']['wall']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
