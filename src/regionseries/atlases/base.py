"""Atlases as the app uses them: kind, image or coordinates, region table.

An :class:`Atlas` is what every atlas source (TemplateFlow, a user's file,
built-in sphere sets, regions derived from a statistical map) resolves to:

* ``kind`` -- ``"labels"`` (a 3D label image), ``"maps"`` (a 4D image of
  probabilistic maps) or ``"spheres"`` (coordinates and a radius);
* ``table`` -- one row per region, in output column order, with ``index``
  (label value, map number starting at 1, or sphere number starting at 1),
  ``name`` (unique region name, the time-series header) and the region
  centroid ``x``, ``y``, ``z`` in mm (used for the distance dependence of
  QC-FC at the group level).

Label tables come in many dialects (TemplateFlow alone has
``index/name/color``, DiFuMo's ``Component/Difumo_names``, tables with a
``0 Background`` row, 0-based or partial tables): :func:`read_label_table`
normalises them, and :func:`check_labels_against_image` compares them with the
values really present in the image and reports every mismatch by name.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd

from ..bids.readable import UnreadableFile, file_problem, open_nifti, reading

LOGGER = logging.getLogger("regionseries")

KINDS = ("labels", "maps", "spheres")

#: Column names recognised as the label value / map number (lower case).
INDEX_COLUMNS = ("index", "label", "labels", "component", "id", "value", "roi", "number", "label_id", "idx")
#: Column names recognised as the region name (lower case).
NAME_COLUMNS = ("name", "names", "label_name", "labelname", "difumo_names", "region", "region_name",
                "roi_name", "structure", "label")

_BACKGROUND_NAMES = re.compile(r"^(background|unknown|bg|none|0)$", re.IGNORECASE)


class AtlasError(ValueError):
    """An atlas cannot be used (bad spec, file, table or values); the message says why."""


class AtlasUnavailable(AtlasError):
    """An atlas file is not available locally and cannot be fetched (offline)."""


@dataclass
class Atlas:
    """An atlas ready for extraction.

    Attributes
    ----------
    name : str
        BIDS label used in output names (``atlas-<name>``).
    kind : {"labels", "maps", "spheres"}
    spec : str
        The command-line specification it comes from.
    table : pandas.DataFrame
        One row per region (``index``, ``name``, ``x``, ``y``, ``z`` and any
        further columns of the source table).
    space : str or None
        Template of the image or coordinates; None when unknown (a user's file
        is assumed to be in the space of the BOLD runs).
    image : Path or None
        Labels or maps image (for ``labels``/``maps``).
    coordinates : ndarray, shape (K, 3), or None
        Sphere centres in mm (for ``spheres``).
    radius : float or None
        Sphere radius in mm.
    source : dict
        Provenance for sidecars (origin, files, resolution, ...).
    warnings : list of str
        Problems found while checking the label table against the image.
    suffix : str
        BIDS suffix of the atlas files written to ``atlases/``
        (``dseg``, ``probseg`` or ``spheres``).
    surface : {"cifti", "gifti"} or None
        A label atlas on grayordinates (``dlabel.nii``) or on a pair of
        hemispheres (``label.gii``/``.annot``): it applies to the runs of that
        kind only (:mod:`regionseries.atlases.surfaces`); None for volumes.
    surface_files : tuple of Path
        Its file(s): the ``dlabel.nii``, or the left and right files.
    """

    name: str
    kind: str
    spec: str
    table: pd.DataFrame
    space: str | None = None
    image: Path | None = None
    coordinates: np.ndarray | None = None
    radius: float | None = None
    source: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    surface: str | None = None
    surface_files: tuple[Path, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise AtlasError(f"atlas {self.name}: unknown kind {self.kind!r}")

    @property
    def key(self) -> tuple[str, str | None, str | None, str | None, str | None]:
        """Identity of the atlas as used: name, template space, TemplateFlow resolution, TemplateFlow
        mesh density (surface atlases: fsaverage5 and fsaverage6 runs take different files), and the
        participant of a per-participant atlas (``--atlas-file`` with ``{subject}``)."""
        return (self.name, self.space, self.source.get("Resolution"), self.source.get("Density"),
                self.source.get("Subject"))

    @property
    def names(self) -> list[str]:
        """Region names in column order."""
        return [str(n) for n in self.table["name"]]

    @property
    def n_regions(self) -> int:
        return len(self.table)

    @property
    def suffix(self) -> str:
        return {"labels": "dseg", "maps": "probseg", "spheres": "spheres"}[self.kind]

    @property
    def centroids(self) -> np.ndarray:
        """Region centroids (K × 3, mm); NaN where unknown."""
        if {"x", "y", "z"} <= set(self.table.columns):
            return self.table[["x", "y", "z"]].to_numpy(dtype=float)
        return np.full((self.n_regions, 3), np.nan)


# --------------------------------------------------------------------------------------
# Label tables
# --------------------------------------------------------------------------------------

def _clean_name(value: Any) -> str:
    """Region names go into TSV headers: no tabs or line breaks."""
    return re.sub(r"[\t\r\n]+", " ", str(value)).strip()


def unique_names(names: list[str]) -> list[str]:
    """Make names unique by appending ``_2``, ``_3``... to repeats."""
    seen: dict[str, int] = {}
    result = []
    for name in names:
        if name in seen:
            seen[name] += 1
            candidate = f"{name}_{seen[name]}"
            while candidate in seen:
                seen[name] += 1
                candidate = f"{name}_{seen[name]}"
            seen[candidate] = 1
            result.append(candidate)
        else:
            seen[name] = 1
            result.append(name)
    return result


def _is_integer_column(column: pd.Series) -> bool:
    values = pd.to_numeric(column, errors="coerce")
    return bool(values.notna().all() and np.all(np.mod(values, 1) == 0))


def missing_file_message(path: str | os.PathLike) -> str:
    """``"<path>: <why it cannot be opened>"`` (:func:`regionseries.bids.readable.file_problem`)."""
    return f"{os.fspath(path)}: {file_problem(path) or 'cannot be read'}"


def read_text_table(path: str | os.PathLike, what: str, **read_csv_options) -> pd.DataFrame:
    """Read a TSV (or CSV, by extension) table given by the user, with messages that say what is wrong.

    A UTF-8 byte-order mark and Windows line endings are accepted; an empty
    file, text that is not UTF-8, an unreadable file or a git-annex link whose
    content was never fetched is an :class:`AtlasError` naming the file.

    Parameters
    ----------
    path : path-like
    what : str
        How messages name the file (``label table``, ``coordinates table``).
    **read_csv_options
        Passed to :func:`pandas.read_csv` (``sep`` defaults to the extension's).
    """
    path = Path(path)
    read_csv_options.setdefault("sep", "," if path.suffix.lower() == ".csv" else "\t")
    problem = file_problem(path)
    if problem == "empty file (0 bytes)":
        raise AtlasError(f"{what} {path} is empty")
    if problem is not None:
        raise AtlasError(f"cannot read {what} {path}: {problem}")
    try:
        return pd.read_csv(path, encoding="utf-8-sig", **read_csv_options)
    except pd.errors.EmptyDataError:
        raise AtlasError(f"{what} {path} is empty") from None
    except UnicodeDecodeError as exc:
        raise AtlasError(f"{what} {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except PermissionError:
        raise AtlasError(f"cannot read {what} {path}: permission denied") from None
    except (OSError, pd.errors.ParserError) as exc:
        raise AtlasError(f"cannot read {what} {path}: {exc}") from exc


def delimiter_hint(table: pd.DataFrame) -> str | None:
    """What to say when a table read as one column holds delimiters in its header (else None)."""
    if table.shape[1] == 1 and any(mark in str(table.columns[0]) for mark in (";", ",", "\t", "|")):
        return "one column: is the delimiter right? .csv files are read comma-separated, others tab-separated"
    return None


def read_label_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a label table in any common dialect and normalise it.

    Accepts TSV (or CSV, by extension) with or without a header. The label
    value column is found among ``index``, ``label``, ``Component``, ``id``,
    ``value``... (case-insensitive, integer-valued), the name column among
    ``name``, ``Difumo_names``, ``label``, ``region``... (text-valued). A
    headerless two-column table ``value<TAB>name`` is accepted too.

    Parameters
    ----------
    path : path-like
        The label table.

    Returns
    -------
    pandas.DataFrame
        Columns ``index`` (int) and ``name`` (str) first, then the other
        columns of the file; sorted by ``index``.

    Raises
    ------
    AtlasError
        Unreadable file, no usable columns, duplicated label values.
    """
    path = Path(path)
    table = read_text_table(path, "label table", dtype=str, keep_default_na=False)
    if table.shape[1] == 0:
        raise AtlasError(f"label table {path} is empty")
    header_is_data = _is_integer_column(pd.Series([table.columns[0]]))
    if header_is_data:
        table = read_text_table(path, "label table", dtype=str, keep_default_na=False, header=None)
        table.columns = ["index", "name", *[f"column{i}" for i in range(2, table.shape[1])]][: table.shape[1]]
    lower = {str(c).lower(): c for c in table.columns}
    index_column = next((lower[c] for c in INDEX_COLUMNS if c in lower and _is_integer_column(table[lower[c]])), None)
    if index_column is None and _is_integer_column(table.iloc[:, 0]):
        index_column = table.columns[0]
    name_column = next(
        (lower[c] for c in NAME_COLUMNS if c in lower and lower[c] != index_column
         and not _is_integer_column(table[lower[c]])),
        None,
    )
    if index_column is None and name_column is None:
        hint = delimiter_hint(table)
        hint = f" ({hint})" if hint else ""
        raise AtlasError(
            f"label table {path}: no label value column (index, label, Component, ...) "
            f"and no name column (name, Difumo_names, ...); columns are {list(table.columns)}{hint}"
        )
    if index_column is None:
        # rows in map/label order, numbered from 1
        indices = np.arange(1, len(table) + 1)
        LOGGER.info("label table %s has no index column: rows are numbered from 1", path)
    else:
        indices = pd.to_numeric(table[index_column]).astype(int).to_numpy()
    names = (table[name_column] if name_column is not None else pd.Series(indices).astype(str)).map(_clean_name)
    result = pd.DataFrame({"index": indices, "name": names.to_numpy()})
    for column in table.columns:
        if column not in (index_column, name_column) and column not in ("index", "name"):
            result[column] = table[column].to_numpy()
    duplicated = result["index"][result["index"].duplicated()].unique()
    if len(duplicated):
        raise AtlasError(f"label table {path}: label values repeated: {', '.join(map(str, duplicated[:10]))}")
    return result.sort_values("index").reset_index(drop=True)


def default_label_table(values: np.ndarray, prefix: str) -> pd.DataFrame:
    """A table naming regions by their value (``<prefix>_<value>``)."""
    values = np.asarray(values, dtype=int)
    return pd.DataFrame({"index": values, "name": [f"{prefix}_{v}" for v in values]})


def check_labels_against_image(table: pd.DataFrame, values: np.ndarray, atlas: str,
                               background: int = 0) -> tuple[pd.DataFrame, list[str]]:
    """Reconcile a label table with the label values present in an image.

    Regions are matched by value, never by row position, so a 0-based or
    partial table cannot shift names onto the wrong regions.

    Parameters
    ----------
    table : DataFrame
        Normalised label table (:func:`read_label_table`).
    values : ndarray
        Distinct label values in the image.
    atlas : str
        Atlas name (for messages and default names).
    background : int
        The background value (not a region).

    Returns
    -------
    table : DataFrame
        Rows of the regions present in the image, ascending by value; values
        absent from the table get a default name ``<atlas>_<value>``.
    warnings : list of str
        One message per kind of mismatch, naming the regions concerned.
    """
    warnings: list[str] = []
    values = np.asarray([int(v) for v in values if int(v) != background])
    table = table.copy()
    background_rows = table["index"] == background
    if background_rows.any():
        name = str(table.loc[background_rows, "name"].iloc[0])
        if not _BACKGROUND_NAMES.match(name):
            warnings.append(
                f"atlas {atlas}: the label table names value {background} {name!r}, but {background} is the "
                "background of the image (the table may be 0-based); regions are matched by value"
            )
        table = table[~background_rows]
    in_table = set(table["index"].tolist())
    in_image = set(values.tolist())
    absent = table[~table["index"].isin(in_image)]
    if len(absent):
        shown = ", ".join(f"{int(i)} {n!r}" for i, n in zip(absent["index"][:15], absent["name"][:15]))
        more = f" and {len(absent) - 15} more" if len(absent) > 15 else ""
        warnings.append(f"atlas {atlas}: {len(absent)} region(s) of the label table are not in the image: {shown}{more}")
    unnamed = sorted(in_image - in_table)
    if unnamed:
        shown = ", ".join(map(str, unnamed[:15])) + (f" and {len(unnamed) - 15} more" if len(unnamed) > 15 else "")
        warnings.append(
            f"atlas {atlas}: {len(unnamed)} label value(s) of the image are not in the label table "
            f"(named {atlas}_<value>): {shown}"
        )
    kept = table[table["index"].isin(in_image)]
    extra = default_label_table(np.array(unnamed, dtype=int), atlas)
    merged = pd.concat([kept, extra], ignore_index=True).sort_values("index").reset_index(drop=True)
    merged["name"] = unique_names([str(n) for n in merged["name"]])
    return merged, warnings


def check_maps_table(table: pd.DataFrame | None, n_maps: int, atlas: str) -> tuple[pd.DataFrame, list[str]]:
    """Reconcile a maps table with the number of maps (one row per map).

    A table numbered from 1 (DiFuMo's ``Component``) or from 0 is matched by
    position; a table of the wrong length is replaced by default names with a
    warning.
    """
    if table is None:
        return default_label_table(np.arange(1, n_maps + 1), atlas), []
    if len(table) != n_maps:
        return default_label_table(np.arange(1, n_maps + 1), atlas), [
            f"atlas {atlas}: the label table has {len(table)} rows for {n_maps} maps; maps are named {atlas}_<number>"
        ]
    table = table.sort_values("index").reset_index(drop=True).copy()
    table["index"] = np.arange(1, n_maps + 1)
    table["name"] = unique_names([str(n) for n in table["name"]])
    return table, []


# --------------------------------------------------------------------------------------
# Centroids
# --------------------------------------------------------------------------------------

def label_centroids(labels: np.ndarray, affine: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Centre of mass (mm) of each label value (K × 3; NaN for absent labels)."""
    flat = labels.reshape(-1)
    values = np.asarray(values)
    order = np.argsort(values)
    position = np.searchsorted(values[order], flat)
    position = np.clip(position, 0, len(values) - 1)
    hit = values[order][position] == flat
    columns = order[position[hit]]
    ijk = np.column_stack(np.unravel_index(np.flatnonzero(hit), labels.shape)).astype(float)
    xyz = ijk @ affine[:3, :3].T + affine[:3, 3]
    counts = np.bincount(columns, minlength=len(values)).astype(float)
    centroids = np.column_stack([np.bincount(columns, weights=xyz[:, d], minlength=len(values)) for d in range(3)])
    with np.errstate(invalid="ignore", divide="ignore"):
        return centroids / counts[:, None]


def map_centroids(maps: np.ndarray, affine: np.ndarray, *, read_as=None) -> np.ndarray:
    """Weighted centre (mm) of each map's positive weights (K × 3).

    NaN weights count as 0 and negative weights are ignored; a map without
    positive weight has a NaN centre. The weighted mean voxel index along
    each axis is computed from the map's marginal sums (sum over the two
    other axes) within the bounding box of its non-zero voxels, which avoids
    listing the voxel indices of every map and, for a 1 mm atlas, passing
    over the millions of zeros around each map more than once.

    Parameters
    ----------
    maps : numpy.ndarray, shape (X, Y, Z, K) or (X, Y, Z)
    affine : numpy.ndarray, shape (4, 4)
    read_as : numpy dtype or None
        Cast each map to this dtype before the float64 sums (None: as given).
    """
    from ..core.image import nonzero_bounds

    if maps.ndim == 3:
        maps = maps[..., None]
    result = np.full((maps.shape[3], 3), np.nan)
    positions = [np.arange(n, dtype=float) for n in maps.shape[:3]]
    for k in range(maps.shape[3]):
        volume = maps[..., k]
        bounds, _ = nonzero_bounds(volume)
        if bounds is None:
            continue
        box = tuple(slice(int(lower), int(upper) + 1) for lower, upper in zip(*bounds))
        weights = np.array(np.asarray(volume[box], dtype=read_as), dtype=float)
        np.nan_to_num(weights, copy=False)
        np.clip(weights, 0, None, out=weights)
        total = weights.sum()
        if total <= 0:
            continue
        mean_ijk = np.array([
            weights.sum(axis=tuple(a for a in range(3) if a != axis)) @ positions[axis][box[axis]]
            for axis in range(3)
        ]) / total
        result[k] = affine[:3, :3] @ mean_ijk + affine[:3, 3]
    return result


def _streamed_map_centroids(img: nib.spatialimages.SpatialImage, chunk_maps: int = 1) -> np.ndarray:
    """:func:`map_centroids` of a 4D image read a few maps at a time.

    Reading the file once in chunks keeps memory at a few maps instead of
    the whole image (64 maps of the MNI 2 mm grid are 277 MB in float32,
    DiFuMo's 1024 are 4.4 GB); the numbers are those of ``map_centroids``
    on the image's data in float32.
    """
    from ..core.reader import BoldReader

    parts = [
        map_centroids(chunk.data, img.affine, read_as=np.float32)
        for chunk in BoldReader(img, chunk_volumes=chunk_maps)
    ]
    return np.concatenate(parts, axis=0)


def cached_map_centroids(image: Path, img: nib.spatialimages.SpatialImage,
                         cache_dir: Path | None = None) -> np.ndarray:
    """:func:`map_centroids` of a maps image file, kept in ``cache_dir`` between jobs.

    Reading a large probabilistic atlas for its centres costs seconds per
    job (DiFuMo 1024 on the 2 mm grid is 4.4 GB of voxels); with a cache
    folder (the work folder's ``atlas-cache``) later jobs read a K × 3 array
    instead (:mod:`regionseries.cache`).
    """
    if cache_dir is None:
        return _streamed_map_centroids(img)
    from .. import cache

    path = cache.cache_path(cache_dir, "map-centroids", cache.file_identity(image))
    centroids = cache.load_array(path, (img.shape[3], 3))
    if centroids is None:
        centroids = _streamed_map_centroids(img)
        cache.save_array(path, centroids)
    return centroids


def add_centroids(table: pd.DataFrame, centroids: np.ndarray) -> pd.DataFrame:
    """``table`` with ``x``, ``y``, ``z`` (mm) right after ``name``."""
    table = table.drop(columns=[c for c in ("x", "y", "z") if c in table.columns]).copy()
    for position, axis in enumerate("xyz"):
        table.insert(2 + position, axis, np.round(centroids[:, position], 3))
    return table


# --------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------

def load_atlas_image(path: str | os.PathLike, what: str) -> nib.spatialimages.SpatialImage:
    """Open an atlas image (its header) or say why not, naming the file (see :func:`read_atlas_data`).

    Raises
    ------
    AtlasError
        :func:`regionseries.bids.readable.open_nifti`'s reason: not found,
        annexed content not present, empty, not a NIfTI image, truncated header ...
    """
    try:
        return open_nifti(path, what=what)
    except UnreadableFile as exc:
        hint = ""
        if exc.problem.startswith("empty file") and "templateflow" in os.fspath(path).lower():
            hint = " (a TemplateFlow placeholder that was never downloaded?)"
        raise AtlasError(f"{what}: {exc}{hint}") from None


def read_atlas_data(img: nib.spatialimages.SpatialImage, path: str | os.PathLike, what: str) -> np.ndarray:
    """The voxels of an atlas image; a truncated or corrupt file is an :class:`AtlasError` naming it."""
    try:
        with reading(path):
            return np.asarray(img.dataobj)
    except UnreadableFile as exc:
        raise AtlasError(f"{what}: {exc}") from None


def labels_atlas_from_image(name: str, spec: str, image: Path, table: pd.DataFrame | None,
                            space: str | None, source: dict[str, Any]) -> Atlas:
    """Build a labels atlas: check the table against the image, add centroids."""
    img = load_atlas_image(image, f"atlas {name}")
    data = read_atlas_data(img, image, f"atlas {name}")
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise AtlasError(f"atlas {name}: a labels image must be 3D, {image} has shape {data.shape}")
    if data.dtype.kind == "f":
        if not np.all(np.mod(data[np.isfinite(data)], 1) == 0):
            raise AtlasError(
                f"atlas {name}: {image} has non-integer values; a labels (dseg) image must hold integer "
                "labels (a 3D probabilistic map can be given as a maps atlas in a 4D image)"
            )
        data = np.where(np.isfinite(data), data, 0)
    data = data.astype(np.int64)
    values = np.unique(data)
    if len(values[values != 0]) == 0:
        raise AtlasError(f"atlas {name}: {image} has no label other than the background 0")
    if table is None:
        table = default_label_table(values[values != 0], name)
        warnings: list[str] = []
    else:
        table, warnings = check_labels_against_image(table, values, name)
    centroids = label_centroids(data, img.affine, table["index"].to_numpy())
    table = add_centroids(table, centroids)
    for message in warnings:
        LOGGER.warning(message)
    return Atlas(name=name, kind="labels", spec=spec, table=table, space=space, image=Path(image),
                 source=source, warnings=warnings)


def maps_atlas_from_image(name: str, spec: str, image: Path, table: pd.DataFrame | None,
                          space: str | None, source: dict[str, Any], cache_dir: Path | None = None) -> Atlas:
    """Build a maps atlas: one table row per map, weighted centroids (cached in ``cache_dir``)."""
    img = load_atlas_image(image, f"atlas {name}")
    if len(img.shape) != 4:
        raise AtlasError(f"atlas {name}: a maps (probseg) image must be 4D, {image} has shape {img.shape}")
    table, warnings = check_maps_table(table, img.shape[3], name)
    try:
        with reading(image):
            centroids = cached_map_centroids(image, img, cache_dir)
    except UnreadableFile as exc:
        raise AtlasError(f"atlas {name}: {exc}") from None
    table = add_centroids(table, centroids)
    for message in warnings:
        LOGGER.warning(message)
    return Atlas(name=name, kind="maps", spec=spec, table=table, space=space, image=Path(image),
                 source=source, warnings=warnings)
