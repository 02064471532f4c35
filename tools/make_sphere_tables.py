"""Convert the published sphere coordinate sets into regionseries' TSV format.

Run once (the TSVs are committed in src/regionseries/atlases/coordinates/):

    .venv/bin/python tools/make_sphere_tables.py

Sources (the coordinates are published facts; nilearn's wheel carries copies):

* Power et al. 2011, Neuron 72:665-678 — 264 ROIs (MNI, mm).
* Dosenbach et al. 2010, Science 329:1358-1361 — 160 ROIs (MNI, mm) with names
  and networks.
* Seitzman et al. 2018, NeuroImage 206:116290 — 300 ROIs (MNI, mm) with
  networks and per-ROI radius.

Output columns: ``x``, ``y``, ``z`` (MNI mm), ``name`` (unique region name),
``network`` (when the source gives one), ``radius`` (mm, only Seitzman).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "regionseries" / "atlases" / "coordinates"


def _nilearn_data() -> Path:
    import nilearn  # only a development tool: never imported by the package

    return Path(nilearn.__file__).parent / "datasets" / "data"


def power_2011(data: Path) -> pd.DataFrame:
    table = pd.read_csv(data / "power_2011.csv")
    return pd.DataFrame({
        "x": table["X"], "y": table["Y"], "z": table["Z"],
        "name": [f"Power{int(i):03d}" for i in table["ROI"]],
    })


def dosenbach_2010(data: Path) -> pd.DataFrame:
    table = pd.read_csv(data / "dosenbach_2010.csv")
    names = [f"{name.replace(' ', '')}_{int(number):03d}" for name, number in zip(table["name"], table["number"])]
    return pd.DataFrame({
        "x": table["x"], "y": table["y"], "z": table["z"],
        "name": names, "network": table["network"],
    })


def seitzman_2018(data: Path) -> pd.DataFrame:
    table = pd.read_csv(data / "seitzman_2018_ROIs_300inVol_MNI_allInfo.txt", sep=r"\s+")
    return pd.DataFrame({
        "x": table["x"], "y": table["y"], "z": table["z"],
        "name": [f"Seitzman{i:03d}" for i in range(1, len(table) + 1)],
        "network": table["netName"],
        "radius": table["radius(mm)"],
    })


EXPECTED = {"Power2011": 264, "Dosenbach2010": 160, "Seitzman2018": 300}


def main() -> int:
    data = _nilearn_data()
    tables = {
        "Power2011": power_2011(data),
        "Dosenbach2010": dosenbach_2010(data),
        "Seitzman2018": seitzman_2018(data),
    }
    for name, table in tables.items():
        if len(table) != EXPECTED[name]:
            raise SystemExit(f"{name}: {len(table)} rows, expected {EXPECTED[name]}")
        if table["name"].duplicated().any():
            raise SystemExit(f"{name}: duplicated region names")
        path = OUT / f"{name}.tsv"
        table.to_csv(path, sep="\t", index=False, lineterminator="\n")
        print(f"wrote {path.relative_to(ROOT)} ({len(table)} spheres)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
