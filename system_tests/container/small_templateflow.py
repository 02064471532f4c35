"""Write a small TemplateFlow folder for building the image without network.

``python small_templateflow.py DIR`` fills ``DIR`` like a TemplateFlow home with
two of the image's atlases, as TemplateFlow names and lays them out, with
synthetic contents on the real MNI152NLin2009cAsym 2 mm grid:

* Schaefer2018 ``desc-100Parcels7Networks`` (``dseg``, int16, 2 mm): 100
  parcels, the nearest of 100 seeds inside a brain-shaped ellipsoid;
* DiFuMo ``desc-64dimensions`` (``probseg``, float32, 2 and 3 mm): 64 Gaussian maps.

Each image lies on its resolution's grid as the template's
``template_description.json`` gives it (TemplateFlow's real grids).

The label tables (``.tsv``) and descriptions (``.json``) are TemplateFlow's own,
from the skeleton bundled with the templateflow client. The build then copies
the atlases from this folder (``TEMPLATEFLOW_SOURCE=prefetched``) or serves it
as a mirror, exactly as it would from an institution's copy.

:data:`ATLAS_SELECTION` is the ``regionseries-fetch-atlases`` selection that
matches the folder; ``python small_templateflow.py --selection`` prints it.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import nibabel as nib
import numpy as np

from regionseries.atlases import fetch
from regionseries.demo import BRAIN_CENTRE_MM, BRAIN_RADII_MM

TEMPLATE = "MNI152NLin2009cAsym"

#: ``regionseries-fetch-atlases`` arguments selecting exactly the images written here.
ATLAS_SELECTION = (
    "--template", TEMPLATE,
    "--atlas", "Schaefer2018", "DiFuMo",
    "--desc", "100Parcels7Networks", "64dimensions",
    "--resolution", "2", "3",
)

#: Width of the DiFuMo-like maps (standard deviation, mm).
MAP_WIDTH_MM = 9.0


def template_grid(home: Path, resolution: int) -> tuple[tuple[int, int, int], np.ndarray]:
    """Shape and affine (voxel to mm) of a resolution index, from the template's description."""
    description = json.loads((home / f"tpl-{TEMPLATE}" / "template_description.json").read_text())
    grid = description["res"][f"{resolution:02d}"]
    affine = np.diag([*grid["zooms"], 1.0])
    affine[:3, 3] = grid["origin"]
    return tuple(grid["shape"]), affine


def _brain_coordinates(shape, affine) -> tuple[np.ndarray, np.ndarray]:
    """Voxel indices (n, 3) inside the brain ellipsoid and their mm coordinates (n, 3)."""
    indices = np.indices(shape).reshape(3, -1).T
    millimetres = indices @ affine[:3, :3].T + affine[:3, 3]
    inside = (((millimetres - BRAIN_CENTRE_MM) / BRAIN_RADII_MM) ** 2).sum(axis=1) <= 1.0
    return indices[inside], millimetres[inside]


def _seeds(millimetres: np.ndarray, count: int, seed: int) -> np.ndarray:
    """``count`` distinct in-brain points (mm), chosen reproducibly."""
    rng = np.random.default_rng(seed)
    return millimetres[rng.choice(len(millimetres), size=count, replace=False)]


def labels_image(shape, affine) -> nib.Nifti1Image:
    """100 parcels: every in-brain voxel takes the label of its nearest seed."""
    indices, millimetres = _brain_coordinates(shape, affine)
    seeds = _seeds(millimetres, 100, seed=100)
    nearest = np.empty(len(millimetres), dtype=np.int16)
    for start in range(0, len(millimetres), 20000):
        block = millimetres[start:start + 20000]
        distances = ((block[:, None, :] - seeds[None, :, :]) ** 2).sum(axis=2)
        nearest[start:start + 20000] = distances.argmin(axis=1) + 1
    data = np.zeros(shape, dtype=np.int16)
    data[tuple(indices.T)] = nearest
    image = nib.Nifti1Image(data, affine)
    image.header.set_data_dtype(np.int16)
    return image


def maps_image(shape, affine) -> nib.Nifti1Image:
    """64 Gaussian maps centred in the brain, zero below 1 % of their peak."""
    indices, millimetres = _brain_coordinates(shape, affine)
    centres = _seeds(millimetres, 64, seed=64)
    data = np.zeros(tuple(shape) + (len(centres),), dtype=np.float32)
    for number, centre in enumerate(centres):
        weights = np.exp(-((millimetres - centre) ** 2).sum(axis=1) / (2 * MAP_WIDTH_MM**2))
        weights[weights < 0.01] = 0.0
        data[(*indices.T, number)] = weights
    image = nib.Nifti1Image(data, affine)
    image.header.set_data_dtype(np.float32)
    return image


def write_small_templateflow(home: Path) -> list[Path]:
    """Fill ``home`` with the skeleton and the atlas images.

    Returns
    -------
    list of Path
        The atlas images written.
    """
    skeleton = fetch.bundled_skeleton_zip()
    fetch.populate_skeleton(home, skeleton)
    selected = fetch.select_atlas_images(
        fetch.skeleton_paths(skeleton), [TEMPLATE], ["Schaefer2018", "DiFuMo"], [2, 3],
        ["100Parcels7Networks", "64dimensions"],
    )
    written = []
    for atlas in selected:
        grid = template_grid(home, atlas.resolution)
        image = labels_image(*grid) if atlas.suffix == "dseg" else maps_image(*grid)
        path = home / atlas.relpath
        image.to_filename(str(path))
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    if argv == ["--selection"]:
        print(shlex.join(ATLAS_SELECTION))
        return 0
    if len(argv) != 1:
        print("usage: python small_templateflow.py DIR | --selection", file=sys.stderr)
        return 64
    for path in write_small_templateflow(Path(argv[0])):
        print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
