"""Sphere atlases: built-in coordinate sets or a user's coordinates table.

``--spheres NAME`` uses a set shipped with the package (in
``atlases/coordinates/``, coordinates in MNI space, mm):

* ``Power2011`` — 264 ROIs (Power et al. 2011, Neuron 72:665);
* ``Dosenbach2010`` — 160 ROIs (Dosenbach et al. 2010, Science 329:1358);
* ``Seitzman2018`` — 300 ROIs (Seitzman et al. 2020, NeuroImage 206:116290).

``--spheres NAME=COORDS.tsv`` reads a user's table with columns ``x``, ``y``,
``z`` (mm) and an optional ``name`` (and any further columns, e.g.
``network``). Every sphere has the radius given by ``--radius`` (mm).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from ..bids.names import is_bids_label
from ..suggest import did_you_mean
from .base import (
    Atlas,
    AtlasError,
    AtlasUnavailable,
    delimiter_hint,
    missing_file_message,
    read_text_table,
    unique_names,
)

#: Built-in sets: name -> (file, template of the coordinates, reference).
BUILTIN_SPHERES = {
    "Power2011": ("Power2011.tsv", "MNI",
                  "Power JD et al. (2011) Functional network organization of the human brain. Neuron 72:665-678."),
    "Dosenbach2010": ("Dosenbach2010.tsv", "MNI",
                      "Dosenbach NUF et al. (2010) Prediction of individual brain maturity using fMRI. Science 329:1358-1361."),
    "Seitzman2018": ("Seitzman2018.tsv", "MNI",
                     "Seitzman BA et al. (2020) A set of functionally-defined brain regions with improved "
                     "representation of the subcortex and cerebellum. NeuroImage 206:116290."),
}


@dataclass(frozen=True)
class SpheresRequest:
    """A parsed ``--spheres NAME`` or ``--spheres NAME=COORDS.tsv``."""

    spec: str
    label: str
    table: Path | None  # None for a built-in set

    @classmethod
    def parse(cls, spec: str) -> "SpheresRequest":
        if "=" in spec:
            label, path = spec.split("=", 1)
            if not is_bids_label(label):
                raise AtlasError(f"--spheres {spec}: NAME {label!r} must hold only letters and digits")
            table = Path(path).expanduser()
            if not table.is_file():
                raise AtlasUnavailable(f"--spheres {spec}: coordinates table {missing_file_message(table)}")
            return cls(spec, label, table.resolve())
        match = {name.lower(): name for name in BUILTIN_SPHERES}.get(spec.lower())
        if match is None:
            suggestion = did_you_mean(spec, BUILTIN_SPHERES)
            raise AtlasError(
                f"--spheres {spec}: not a built-in coordinate set ({', '.join(BUILTIN_SPHERES)}); "
                + (f"{suggestion} Or g" if suggestion else "g")
                + "ive your own as NAME=COORDS.tsv (columns x, y, z in mm, optional name)"
            )
        return cls(spec, match, None)


def read_coordinates(path: Path, label: str) -> pd.DataFrame:
    """Read a coordinates table (``x``, ``y``, ``z`` in mm; optional ``name``).

    Raises
    ------
    AtlasError
        Missing columns, non-numeric or non-finite coordinates, empty table.
    """
    table = read_text_table(path, "coordinates table")
    table.columns = [str(c).strip() for c in table.columns]
    lower = {c.lower(): c for c in table.columns}
    missing = [axis for axis in "xyz" if axis not in lower]
    if missing:
        hint = delimiter_hint(table)
        hint = f"; {hint}" if hint else ""
        raise AtlasError(f"coordinates table {path}: missing column(s) {', '.join(missing)} (need x, y, z in mm{hint})")
    if table.empty:
        raise AtlasError(f"coordinates table {path} has no rows")
    xyz = table[[lower["x"], lower["y"], lower["z"]]].apply(pd.to_numeric, errors="coerce").to_numpy(float)
    bad = np.flatnonzero(~np.isfinite(xyz).all(axis=1))
    if len(bad):
        raise AtlasError(f"coordinates table {path}: rows {', '.join(str(i + 2) for i in bad[:10])} have non-numeric coordinates")
    names = table[lower["name"]].astype(str).tolist() if "name" in lower else [f"{label}{i:03d}" for i in range(1, len(table) + 1)]
    result = pd.DataFrame({"index": np.arange(1, len(table) + 1), "name": unique_names(names),
                           "x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2]})
    for column in table.columns:
        if column.lower() not in ("x", "y", "z", "name", "index"):
            result[column] = table[column].to_numpy()
    return result


def resolve_spheres(request: SpheresRequest, radius: float) -> Atlas:
    """The sphere atlas of a request with ``radius`` mm spheres."""
    if not radius > 0:
        raise AtlasError(f"--radius must be a positive number of mm, got {radius}")
    if request.table is None:
        filename, template, reference = BUILTIN_SPHERES[request.label]
        with resources.as_file(resources.files("regionseries.atlases") / "coordinates" / filename) as path:
            table = read_coordinates(Path(path), request.label)
        source = {"Origin": "built-in", "Set": request.label, "Reference": reference,
                  "CoordinateSpace": template}
        space = None
    else:
        table = read_coordinates(request.table, request.label)
        source = {"Origin": "file", "File": str(request.table)}
        space = None
    source["RadiusMillimetres"] = radius
    return Atlas(name=request.label, kind="spheres", spec=request.spec, table=table, space=space,
                 coordinates=table[["x", "y", "z"]].to_numpy(float), radius=float(radius), source=source)
