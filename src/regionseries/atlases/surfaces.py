"""Atlases on surfaces: labels (CIFTI ``dlabel.nii``, GIFTI ``label.gii`` and FreeSurfer ``.annot``
pairs) and probabilistic maps (CIFTI ``dscalar.nii``, GIFTI ``func.gii``/``shape.gii`` pairs).

``--atlas-file NAME=atlas.dlabel.nii`` or ``NAME=maps.dscalar.nii`` applies to
CIFTI runs (``.dtseries.nii``); ``--atlas-file NAME=lh.label.gii,rh.label.gii``
(or two ``.annot`` files, or two ``func.gii``/``shape.gii`` files of maps,
left first) to GIFTI runs. The label table is the file's own (CIFTI label
table, GIFTI ``LabelTable``, the annot's colour table); maps are named by the
file (CIFTI ScalarAxis map names, GIFTI data array ``Name``), else by their
number. An optional ``:LABELS_TSV`` renames the regions: by label value for
labels (or, for a BIDS/TemplateFlow ``dseg.tsv`` with a ``hemi`` column, where
the same value may name a region in each hemisphere, by hemisphere and the
value in that hemisphere's file), by row order for maps (as for volumetric
maps). Label 0 (and -1 in
annots) is no region: the medial wall, ``???``, ``Unknown``.

In a pair of label files, each hemisphere keeps its own label values in the
file; in the atlas the right hemisphere's are shifted by
:attr:`SurfaceLabels.right_offset` (the largest left value), so the regions
of both hemispheres are distinct columns. A name found in both hemispheres
gets ``L_``/``R_`` in front. A pair of maps files holds the same maps: map k
is the k-th data array (or column) of each hemisphere.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from ..core.extract.vertices import SURFACE_BACKGROUND
from .base import (
    Atlas,
    AtlasError,
    check_maps_table,
    read_label_table,
    read_text_table,
    unique_names,
)

#: File endings of surface atlases (labels and maps), and the run kind they apply to.
SURFACE_ATLAS_EXTENSIONS = {".dlabel.nii": "cifti", ".label.gii": "gifti", ".annot": "gifti",
                            ".dscalar.nii": "cifti", ".func.gii": "gifti", ".shape.gii": "gifti"}
#: The endings of surface maps files (one map per row, or per data array).
SURFACE_MAPS_EXTENSIONS = (".dscalar.nii", ".func.gii", ".shape.gii")


def surface_kind(path: str | os.PathLike) -> str | None:
    """``"cifti"`` or ``"gifti"`` for a surface atlas file (by its name), else None."""
    name = Path(path).name.lower()
    return next((kind for ending, kind in SURFACE_ATLAS_EXTENSIONS.items() if name.endswith(ending)), None)


def is_surface_maps(path: str | os.PathLike) -> bool:
    """Whether a surface atlas file holds probabilistic maps (by its name)."""
    return Path(path).name.lower().endswith(SURFACE_MAPS_EXTENSIONS)


@dataclass
class SurfaceLabels:
    """The labels of a surface atlas as read from its file(s).

    Attributes
    ----------
    kind : {"cifti", "gifti"}
    labels : list of numpy.ndarray
        CIFTI: one vector over its grayordinates; GIFTI/annot: left, right.
    table : pandas.DataFrame
        ``index`` (the atlas's label values, right hemisphere shifted) and ``name``,
        plus ``hemi`` and ``file_label`` for pairs.
    brain_models : nibabel.cifti2.BrainModelAxis or None
        The grayordinates of a CIFTI atlas.
    right_offset : int
        Added to the right hemisphere's label values of a pair.
    """

    kind: str
    labels: list[np.ndarray]
    table: pd.DataFrame
    brain_models: nib.cifti2.BrainModelAxis | None = None
    right_offset: int = 0


def _read_hemisphere(path: Path, atlas: str) -> tuple[np.ndarray, dict[int, str]]:
    """Vertex labels and ``value -> name`` of one ``.label.gii`` or ``.annot``."""
    try:
        if path.name.lower().endswith(".annot"):
            labels, _, names = nib.freesurfer.read_annot(str(path))
            return np.asarray(labels, dtype=np.int64), {k: n.decode() if isinstance(n, bytes) else str(n)
                                                         for k, n in enumerate(names)}
        img = nib.load(str(path))
    except Exception as exc:  # noqa: BLE001 - nibabel raises many types for a broken file
        raise AtlasError(f"atlas {atlas}: cannot read {path}: {type(exc).__name__}: {exc}") from None
    if not isinstance(img, nib.GiftiImage) or len(img.darrays) != 1:
        raise AtlasError(f"atlas {atlas}: {path} must hold one GIFTI label array, found "
                         f"{len(getattr(img, 'darrays', []))}")
    return np.asarray(img.darrays[0].data, dtype=np.int64).ravel(), {
        int(k): str(v) for k, v in img.labeltable.get_labels_as_dict().items()}


def read_surface_labels(atlas: str, images: tuple[Path, ...]) -> SurfaceLabels:
    """Read a ``dlabel.nii`` or a left/right pair of ``label.gii``/``.annot`` files.

    Kept in memory per process while the files are unchanged: parsing the XML
    header of a 91k ``dlabel.nii`` takes nibabel most of a second, and the atlas
    is read when resolved and again by each run.

    Raises
    ------
    AtlasError
        Unreadable file, not a label file, several label maps, no region.
    """
    return _read_surface_labels(atlas, _identity(images))


def _identity(images: tuple[Path, ...]) -> tuple:
    """The files as a cache key: path, modification time (ns) and size of each."""
    return tuple((str(path), path.stat().st_mtime_ns, path.stat().st_size) for path in map(Path, images))


def _read_cifti(path: Path, atlas: str, row_axis: type, what: str) -> tuple[object, nib.cifti2.BrainModelAxis,
                                                                              np.ndarray]:
    """The row axis (of class ``row_axis``), the BrainModelAxis and the data of a CIFTI-2 file.

    Raises
    ------
    AtlasError
        nibabel cannot read it, or its axes are others (the message names the file and ``what`` it should be).
    """
    try:
        img = nib.load(str(path))
        rows, models, data = img.header.get_axis(0), img.header.get_axis(1), np.asarray(img.dataobj)
    except Exception as exc:  # noqa: BLE001 - nibabel raises many types for a broken file
        raise AtlasError(f"atlas {atlas}: cannot read {path} as CIFTI-2: {type(exc).__name__}: {exc}") from None
    if not isinstance(rows, row_axis) or not isinstance(models, nib.cifti2.BrainModelAxis):
        raise AtlasError(f"atlas {atlas}: {path} is not {what} ({row_axis.__name__} x BrainModelAxis); its axes are "
                         f"{type(rows).__name__} x {type(models).__name__}")
    return rows, models, data


@functools.lru_cache(maxsize=8)
def _read_surface_labels(atlas: str, identity: tuple) -> SurfaceLabels:
    images = tuple(Path(path) for path, _, _ in identity)
    if surface_kind(images[0]) == "cifti":
        label_axis, models, data = _read_cifti(images[0], atlas, nib.cifti2.LabelAxis, "a dense label file")
        if len(label_axis) != 1:
            raise AtlasError(f"atlas {atlas}: {images[0]} holds {len(label_axis)} label maps; one is expected")
        labels = np.rint(data[0]).astype(np.int64)
        present = set(np.unique(labels)) - set(SURFACE_BACKGROUND)
        names = {int(k): str(v[0]) for k, v in label_axis.label[0].items()}
        values = sorted(present)
        table = pd.DataFrame({"index": values, "name": [names.get(v, f"{atlas}_{v}") for v in values]})
        return _checked(SurfaceLabels("cifti", [labels], table, brain_models=models), atlas, images)
    if len(images) != 2:
        raise AtlasError(f"atlas {atlas}: a GIFTI or annot atlas is two files, left then right hemisphere "
                         "(NAME=lh.label.gii,rh.label.gii)")
    (left, left_names), (right, right_names) = (_read_hemisphere(path, atlas) for path in images)
    offset = int(max(left.max(initial=0), max(left_names, default=0)))
    rows = []
    for hemi, labels, names, shift in (("L", left, left_names, 0), ("R", right, right_names, offset)):
        for value in sorted(set(np.unique(labels)) - set(SURFACE_BACKGROUND)):
            rows.append({"index": int(value) + shift, "name": names.get(int(value), f"{atlas}_{hemi}_{value}"),
                         "hemi": hemi, "file_label": int(value)})
    table = pd.DataFrame(rows, columns=["index", "name", "hemi", "file_label"])
    twice = table["name"].duplicated(keep=False)
    table.loc[twice, "name"] = table.loc[twice, "hemi"] + "_" + table.loc[twice, "name"]
    return _checked(SurfaceLabels("gifti", [left, right], table, right_offset=offset), atlas, images)


def _checked(found: SurfaceLabels, atlas: str, images: tuple[Path, ...]) -> SurfaceLabels:
    if found.table.empty:
        raise AtlasError(f"atlas {atlas}: {', '.join(map(str, images))} has no label other than the background 0")
    return found


def read_surface_label_table(path: str | os.PathLike) -> pd.DataFrame:
    """The ``LABELS_TSV`` of a surface atlas.

    A BIDS ``dseg.tsv`` with ``index``, ``name`` and ``hemi`` columns (as
    TemplateFlow's tpl-fsaverage tables: one row per region and hemisphere, the
    same value in both) is read as it is, ``hemi`` as ``L``/``R``; any other table
    as :func:`~regionseries.atlases.base.read_label_table` reads it.
    """
    table = read_text_table(path, "label table", dtype=str, keep_default_na=False)
    columns = {str(c).lower(): c for c in table.columns}
    if not {"index", "name", "hemi"} <= set(columns):
        return read_label_table(path)
    hemi = table[columns["hemi"]].str.strip().str.upper().str[0]
    if not hemi.isin(["L", "R"]).all():
        raise AtlasError(f"label table {path}: the hemi column must hold L or R (left, right)")
    try:
        index = pd.to_numeric(table[columns["index"]]).astype(int)
    except ValueError:
        raise AtlasError(f"label table {path}: the index column must hold integers") from None
    return pd.DataFrame({"index": index.to_numpy(), "name": table[columns["name"]].str.strip().to_numpy(),
                         "hemi": hemi.to_numpy()})


def _renamed(regions: pd.DataFrame, table: pd.DataFrame, name: str, where: str) -> tuple[pd.DataFrame, list[str]]:
    """The atlas's regions renamed by ``table`` (by hemisphere and file value when both have a
    hemisphere), and the warnings."""
    by_hemisphere = "hemi" in table.columns and "file_label" in regions.columns
    if by_hemisphere:
        keys = list(zip(regions["hemi"], regions["file_label"].astype(int)))
        renamed = dict(zip(zip(table["hemi"], table["index"].astype(int)), table["name"].astype(str)))
    else:
        keys = regions["index"].astype(int).tolist()
        renamed = dict(zip(table["index"].astype(int), table["name"].astype(str)))
    warnings = []
    if not set(keys) & set(renamed):
        warnings.append(f"atlas {name}: no label value of {where} is in the atlas files; the files' own region "
                        "names are kept")
        return regions, warnings
    unknown = sorted(key for key in set(renamed) - set(keys)
                     if (key[1] if by_hemisphere else key) not in SURFACE_BACKGROUND)
    if unknown:
        warnings.append(f"atlas {name}: label values {unknown[:10]} of {where} are not in the atlas files")
    names = pd.Series([renamed.get(key, old) for key, old in zip(keys, regions["name"])], index=regions.index)
    if by_hemisphere:
        twice = names.duplicated(keep=False)
        names[twice] = regions.loc[twice, "hemi"] + "_" + names[twice]
    return regions.assign(name=names), warnings


def surface_labels_atlas(name: str, spec: str, images: tuple[Path, ...], table: pd.DataFrame | str | os.PathLike | None,
                         source: dict | None = None, space: str | None = None) -> Atlas:
    """A labels :class:`~regionseries.atlases.base.Atlas` of surface files (``Atlas.surface`` set).

    ``table`` (a user's ``LABELS_TSV``, or the ``dseg.tsv`` beside a TemplateFlow
    atlas; a path is read with :func:`read_surface_label_table`) renames regions by
    their atlas label value, or by hemisphere and file value. ``source`` and
    ``space``: the provenance and template of a TemplateFlow atlas (default: a file).
    """
    found = read_surface_labels(name, images)
    regions = found.table
    warnings: list[str] = []
    where = "the label table"
    if table is not None and not isinstance(table, pd.DataFrame):
        where = f"label table {table}"
        table = read_surface_label_table(table)
    if table is not None:
        regions, warnings = _renamed(regions, table, name, where)
    source = source or {"Origin": "file", "Files": [str(path) for path in images]}
    source = dict(source, Surface=found.kind)
    return Atlas(name=name, kind="labels", spec=spec, table=regions.reset_index(drop=True), image=images[0],
                 source=source, warnings=warnings, surface=found.kind, surface_files=tuple(images), space=space)


@dataclass
class SurfaceMaps:
    """The maps of a surface atlas as read from its file(s).

    Attributes
    ----------
    kind : {"cifti", "gifti"}
    maps : list of numpy.ndarray, shape (n_vertices, K)
        CIFTI: one array over its grayordinates; GIFTI: left, right. As stored
        (non-finite weights are replaced when the atlas is applied to a run).
    names : list of str
        One per map, from the file (empty strings where it has none).
    brain_models : nibabel.cifti2.BrainModelAxis or None
        The grayordinates of a CIFTI atlas.
    """

    kind: str
    maps: list[np.ndarray]
    names: list[str]
    brain_models: nib.cifti2.BrainModelAxis | None = None


def read_surface_maps(atlas: str, images: tuple[Path, ...]) -> SurfaceMaps:
    """Read a ``dscalar.nii`` or a left/right pair of ``func.gii``/``shape.gii`` maps files.

    Kept in memory per process while the files are unchanged, as the label files
    (:func:`read_surface_labels`).

    Raises
    ------
    AtlasError
        Unreadable file, not a dense scalar file, hemispheres with different
        numbers of maps, data arrays of different lengths, no map.
    """
    return _read_surface_maps(atlas, _identity(images))


@functools.lru_cache(maxsize=8)
def _read_surface_maps(atlas: str, identity: tuple) -> SurfaceMaps:
    images = tuple(Path(path) for path, _, _ in identity)
    if surface_kind(images[0]) == "cifti":
        scalar_axis, models, data = _read_cifti(images[0], atlas, nib.cifti2.ScalarAxis, "a dense scalar file of maps")
        found = SurfaceMaps("cifti", [data.T], [str(name) for name in scalar_axis.name], brain_models=models)
        return _checked_maps(found, atlas, images)
    if len(images) != 2:
        raise AtlasError(f"atlas {atlas}: a GIFTI maps atlas is two files, left then right hemisphere "
                         "(NAME=lh.func.gii,rh.func.gii)")
    (left, left_names), (right, right_names) = (_read_maps_hemisphere(path, atlas) for path in images)
    if left.shape[1] != right.shape[1]:
        raise AtlasError(f"atlas {atlas}: the hemispheres hold different numbers of maps: {left.shape[1]} in "
                         f"{images[0]}, {right.shape[1]} in {images[1]}")
    names = [one or other for one, other in zip(left_names, right_names)]
    return _checked_maps(SurfaceMaps("gifti", [left, right], names), atlas, images)


def _read_maps_hemisphere(path: Path, atlas: str) -> tuple[np.ndarray, list[str]]:
    """The (n_vertices, K) maps of one GIFTI file (one data array per map, or one 2D array) and their names."""
    try:
        img = nib.load(str(path))
    except Exception as exc:  # noqa: BLE001
        raise AtlasError(f"atlas {atlas}: cannot read {path}: {type(exc).__name__}: {exc}") from None
    if not isinstance(img, nib.GiftiImage) or not img.darrays:
        raise AtlasError(f"atlas {atlas}: {path} holds no GIFTI data array")
    arrays = [np.asarray(darray.data) for darray in img.darrays]
    if len(arrays) == 1 and arrays[0].ndim == 2:  # one (vertices x maps) array
        return arrays[0], [""] * arrays[0].shape[1]
    lengths = {array.shape for array in arrays}
    if any(array.ndim != 1 for array in arrays) or len(lengths) != 1:
        raise AtlasError(f"atlas {atlas}: {path} must hold one vector of vertex weights per map; its data arrays have "
                         f"shapes {sorted(lengths)}")
    names = [str(darray.meta.get("Name", "") or "") for darray in img.darrays]
    return np.column_stack(arrays), names


def _checked_maps(found: SurfaceMaps, atlas: str, images: tuple[Path, ...]) -> SurfaceMaps:
    weights = np.concatenate(found.maps, axis=0)
    if weights.dtype.kind not in "fiu":
        raise AtlasError(f"atlas {atlas}: {', '.join(map(str, images))} holds {weights.dtype} values, not map weights")
    if weights.shape[1] == 0 or not np.any(np.isfinite(weights) & (weights != 0)):
        raise AtlasError(f"atlas {atlas}: {', '.join(map(str, images))} has no map with a non-zero weight")
    return found


def surface_maps_atlas(name: str, spec: str, images: tuple[Path, ...], table: pd.DataFrame | None) -> Atlas:
    """A maps :class:`~regionseries.atlases.base.Atlas` of surface files (``Atlas.surface`` set).

    Maps are named by ``table`` (a user's ``LABELS_TSV``, matched by row order as for
    volumetric maps), else by the file's map names, else ``<name>_<number>`` (from 1).
    """
    found = read_surface_maps(name, images)
    n_maps = len(found.names)
    regions, warnings = check_maps_table(table, n_maps, name)
    if table is None and any(found.names):
        regions = regions.assign(name=unique_names([own or default for own, default in zip(found.names,
                                                                                            regions["name"])]))
    source = {"Origin": "file", "Files": [str(path) for path in images], "Surface": found.kind}
    return Atlas(name=name, kind="maps", spec=spec, table=regions.reset_index(drop=True), image=images[0],
                 source=source, warnings=warnings, surface=found.kind, surface_files=tuple(images))
