"""The measured programs. Each runs in a fresh Python process started by ``run_benchmark.py``.

``python benchmarks/contenders.py NAME CONFIG.json`` runs one contender and
prints one JSON line (the last line of stdout) with its timings:

* ``wall`` / ``cpu`` (seconds): the work only, from after the imports to
  the end (CPU = user + system time of the process, all threads);
* ``imports`` (seconds): importing the libraries beforehand;
* ``phases``: wall seconds per step;
* ``peak_rss_mib``: the process's high-water resident set (``VmHWM``);
* ``outputs``: where the signals were saved (``.npz``) for the comparison.

Contenders:

``regionseries``
    What the pipeline does for one run (``regionseries.pipeline._process``
    without writing files): resolve the atlases as the command line does
    (``--atlas-file`` labels and maps, ``--spheres Power2011 --radius 5``),
    build the operators on the BOLD grid (``pipeline.build_operator``), read
    the BOLD once for all atlases (``extract_signals`` with the brain mask,
    ``min_coverage=0`` so that every region is compared), then plan and
    clean each strategy (``plan_denoising`` + ``clean``). With
    ``warm_runs`` > 0 the same run is processed again in the same process,
    as the next run of a participant job would be: operators come from the
    per-process cache, so ``warm_wall`` is the steady per-run cost.
``nilearn``
    nilearn 0.14.1 at its best: the image is loaded once (in memory; each
    masker would otherwise decompress the file again), then, for each
    strategy, ``load_confounds_strategy`` and the
    three maskers (``NiftiLabelsMasker``, ``NiftiMapsMasker``,
    ``NiftiSpheresMasker``) with the brain mask, the strategy's cleaning
    settings (detrend, zscore_sample, t_r) and ``reports=False``
    (``fit_transform`` with ``confounds`` and ``sample_mask``). With
    ``raw``, the three maskers then extract again without cleaning (not
    timed; for the extraction check). With ``from_path``, each masker is
    given the file's path instead, as in nilearn's examples and most
    hand-written scripts (``masker.fit_transform(bold_path, ...)``): every
    ``fit_transform`` loads and decompresses the file again.
``decompress``
    Only decompress the BOLD (or each of ``bolds`` in turn) with the reader
    regionseries uses (a floor measured in the same conditions as the
    contenders, in a fresh process).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path


def _peak_rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # pragma: no cover


def _reset_peak_rss() -> bool:
    """Reset ``VmHWM`` to the current RSS (Linux >= 4.0); False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Clock:
    def __init__(self):
        self.wall0 = time.perf_counter()
        self.cpu0 = _cpu()
        self.phases: dict[str, float] = {}
        self._last = self.wall0

    def mark(self, name: str) -> None:
        now = time.perf_counter()
        self.phases[name] = self.phases.get(name, 0.0) + now - self._last
        self._last = now

    def result(self) -> dict:
        return {"wall": time.perf_counter() - self.wall0, "cpu": _cpu() - self.cpu0, "phases": dict(self.phases)}


def run_regionseries(config: dict) -> dict:
    started = time.perf_counter()
    import numpy as np

    from regionseries.atlases.registry import AtlasOptions, AtlasRegistry
    from regionseries.core.confounds import plan_denoising, read_confounds
    from regionseries.core.extract import extract_signals
    from regionseries.core.reader import default_decompressor
    from regionseries.pipeline import build_operator
    from regionseries.signal import clean
    from threadpoolctl import threadpool_limits

    imports = time.perf_counter() - started
    clock = _Clock()
    work_dir = Path(config["work_dir"])
    work_dir.mkdir(parents=True, exist_ok=True)
    registry = AtlasRegistry.from_specs(
        atlas_file=config["atlas_files"], spheres=config["spheres"],
        options=AtlasOptions(radius=config["radius"]), work_dir=work_dir,
    )
    atlases = registry.resolve(config["space"], 2.0)
    clock.mark("resolve atlases")

    def one_run(save: bool) -> dict:
        with threadpool_limits(limits=1, user_api="blas"):  # as pipeline._process
            return _one_run(save)

    def _one_run(save: bool) -> dict:
        import nibabel as nib

        img = nib.load(config["bold"])
        operators = {a.name: build_operator(a, img.shape, img.affine, None) for a in atlases}
        clock.mark("build operators")
        extracted = extract_signals(config["bold"], operators, mask=config["mask"], min_coverage=0.0)
        clock.mark("extract (one pass)")
        table = read_confounds(config["confounds"])
        saved = {}
        n_volumes = int(img.shape[3])
        for strategy in config["strategies"]:
            plan = plan_denoising(strategy, table, n_volumes, t_r=config["t_r"])
            for name, one in extracted.items():
                cleaned = clean(one.signals, confounds=plan.confounds, sample_mask=plan.sample_mask,
                                t_r=config["t_r"], **plan.clean_kwargs)
                if save:
                    saved[f"{name}|{strategy}|clean"] = cleaned
                    saved[f"{name}|{strategy}|kept"] = plan.sample_mask
        clock.mark("plan + clean")
        if save:
            for name, one in extracted.items():
                saved[f"{name}|raw"] = one.signals
        return saved

    saved = one_run(save=True)
    first = clock.result()
    first_peak = _peak_rss_mib()
    warm = []
    for _ in range(int(config.get("warm_runs", 0))):
        reset = _reset_peak_rss()
        wall0, cpu0 = time.perf_counter(), _cpu()
        one_run(save=False)
        warm.append({"wall": time.perf_counter() - wall0, "cpu": _cpu() - cpu0,
                     "peak_rss_mib": _peak_rss_mib() if reset else None})
    output = None
    if config.get("output"):
        output = config["output"]
        np.savez(output, **saved)
    return {
        **first,
        "imports": imports,
        "first_run_peak_rss_mib": first_peak,
        "warm": warm,
        "decompressor": default_decompressor(),
        "atlases": {a.name: {"kind": a.kind, "n_regions": a.n_regions} for a in atlases},
        "output": output,
    }


def run_nilearn(config: dict) -> dict:
    started = time.perf_counter()
    import warnings

    import nibabel as nib
    import numpy as np
    import pandas as pd
    from nilearn.interfaces.fmriprep import load_confounds_strategy
    from nilearn.maskers import NiftiLabelsMasker, NiftiMapsMasker, NiftiSpheresMasker

    imports = time.perf_counter() - started
    clock = _Clock()
    if config.get("from_path"):
        img = config["bold"]  # each masker loads (decompresses) the file itself
        n_volumes = nib.load(config["bold"]).shape[3]
    else:
        loaded = nib.load(config["bold"])
        img = nib.Nifti1Image(np.asanyarray(loaded.dataobj), loaded.affine, loaded.header)
        n_volumes = img.shape[3]
        clock.mark("load image")
    seeds = pd.read_csv(config["spheres_table"], sep="\t")[["x", "y", "z"]].to_numpy(dtype=float)
    common = {"mask_img": config["mask"], "standardize": "zscore_sample", "detrend": True,
              "t_r": config["t_r"], "reports": False}
    maskers = {
        config["names"]["labels"]: lambda: NiftiLabelsMasker(config["labels_image"], **common),
        config["names"]["maps"]: lambda: NiftiMapsMasker(config["maps_image"], allow_overlap=True, **common),
        config["names"]["spheres"]: lambda: NiftiSpheresMasker(seeds, radius=config["radius"],
                                                               allow_overlap=True, **common),
    }
    saved = {}
    per_masker: dict[str, float] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for strategy in config["strategies"]:
            confounds, sample_mask = load_confounds_strategy(config["bold"], denoise_strategy=strategy)
            clock.mark("load_confounds_strategy")
            for name, make in maskers.items():
                t0 = time.perf_counter()
                signals = make().fit_transform(img, confounds=confounds, sample_mask=sample_mask)
                per_masker[f"{name}|{strategy}"] = time.perf_counter() - t0
                clock.mark(f"{name} masker")
                saved[f"{name}|{strategy}|clean"] = signals
                kept = np.arange(n_volumes) if sample_mask is None else np.asarray(sample_mask)
                saved[f"{name}|{strategy}|kept"] = kept
    result = clock.result()
    result["peak_rss_mib"] = _peak_rss_mib()  # before the untimed extra extraction
    if config.get("raw"):
        # Untimed: the uncleaned extraction, for the extraction check.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            plain = {key: value for key, value in common.items() if key == "mask_img"}
            plain["reports"] = False
            raw_maskers = {
                config["names"]["labels"]: NiftiLabelsMasker(config["labels_image"], **plain),
                config["names"]["maps"]: NiftiMapsMasker(config["maps_image"], allow_overlap=True, **plain),
                config["names"]["spheres"]: NiftiSpheresMasker(seeds, radius=config["radius"], allow_overlap=True,
                                                               **plain),
            }
            for name, masker in raw_maskers.items():
                saved[f"{name}|raw"] = masker.fit_transform(img)
    output = None
    if config.get("output"):
        output = config["output"]
        np.savez(output, **saved)
    return {**result, "imports": imports, "per_masker": per_masker, "output": output}


def run_decompress(config: dict) -> dict:
    started = time.perf_counter()
    from regionseries.core.reader import BoldReader, default_decompressor

    imports = time.perf_counter() - started
    clock = _Clock()
    n = 0
    for bold in config.get("bolds") or [config["bold"]]:
        for chunk in BoldReader(bold, decompressor=config.get("decompressor")):
            n += chunk.n_volumes
    clock.mark("decompress")
    return {**clock.result(), "imports": imports, "volumes": n,
            "decompressor": config.get("decompressor") or default_decompressor()}


CONTENDERS = {"regionseries": run_regionseries, "nilearn": run_nilearn, "decompress": run_decompress}


def main(argv: list[str]) -> int:
    name, config_path = argv
    config = json.loads(Path(config_path).read_text())
    for variable, value in config.get("env", {}).items():
        os.environ[variable] = value
    result = CONTENDERS[name](config)
    result.setdefault("peak_rss_mib", _peak_rss_mib())
    result["contender"] = name
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
