"""Mutations of input files: one function per mutation, ``mutation(path)`` rewrites ``path`` in place.

Every function replaces the file (unlink, then write) rather than writing into
it: the per-case input tree is a hard-linked copy of the clean tree built once
per session, and writing through a link would corrupt every later case.
"""

from __future__ import annotations

import gzip
import json
import math
from functools import partial
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from .dataset import BOLD_STEP, replace_with, write_nifti

# --------------------------------------------------------------------------------------
# Whole-file faults (any kind of file)
# --------------------------------------------------------------------------------------


def empty(path: Path) -> None:
    """A 0-byte file (an interrupted copy, a TemplateFlow placeholder)."""
    replace_with(path, b"")


def truncated(path: Path) -> None:
    """The first half of the file's bytes (an interrupted download)."""
    replace_with(path, path.read_bytes()[: path.stat().st_size // 2])


def annexed(path: Path) -> None:
    """A git-annex symlink whose content was never fetched (a DataLad dataset before ``datalad get``)."""
    key = f"MD5E-s{path.stat().st_size}--0123456789abcdef0123456789abcdef{''.join(path.suffixes)}"
    depth = len(path.relative_to(_tree_root(path)).parts) - 1
    target = Path(*([".."] * depth), ".git", "annex", "objects", "Xk", "Pq", key, key)
    replace_with(path, None)
    path.symlink_to(target)


def unreadable(path: Path) -> None:
    """Mode 000 (the CLI runs without CAP_DAC_OVERRIDE for these cases, so root is refused too)."""
    replace_with(path, path.read_bytes())  # its own inode: the clean tree keeps its mode
    path.chmod(0)


def deleted(path: Path) -> None:
    """The file is gone (a typo in the path, a cleaned-up scratch folder)."""
    replace_with(path, None)


def _tree_root(path: Path) -> Path:
    """The case's inputs root (the folder holding ``fmriprep/`` and ``job/``)."""
    for parent in path.parents:
        if (parent / "fmriprep").is_dir() and (parent / "job").is_dir():
            return parent
    raise ValueError(f"{path} is not inside a case's inputs tree")


# --------------------------------------------------------------------------------------
# Text faults (TSV, JSON)
# --------------------------------------------------------------------------------------


def crlf(path: Path) -> None:
    """Windows line endings."""
    replace_with(path, path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))


def bom(path: Path) -> None:
    """A UTF-8 byte-order mark (Excel, Notepad)."""
    replace_with(path, b"\xef\xbb\xbf" + path.read_bytes())


def non_utf8(path: Path) -> None:
    """A Latin-1 byte appended to the last text field of the first line (``é`` as ``\\xe9``)."""
    lines = path.read_bytes().split(b"\n")
    lines[0] = lines[0].rstrip(b"\r") + b"\xe9"
    replace_with(path, b"\n".join(lines))


def header_only(path: Path) -> None:
    """Only the first line of a table."""
    replace_with(path, path.read_bytes().split(b"\n")[0] + b"\n")


def truncated_mid_row(path: Path) -> None:
    """Cut in the middle of a row, two thirds into the file."""
    data = path.read_bytes()
    cut = len(data) * 2 // 3
    while data[cut:cut + 1] in (b"\n", b"\t"):
        cut += 1
    replace_with(path, data[:cut])


def trailing_blank_lines(path: Path) -> None:
    """Two empty lines at the end (editors add them)."""
    replace_with(path, path.read_bytes().rstrip(b"\n") + b"\n\n\n")


def _read_table(path: Path, header: bool = True) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, header=0 if header else None)


def _write_table(path: Path, table: pd.DataFrame, sep: str = "\t", header: bool = True) -> None:
    text = table.to_csv(sep=sep, index=False, header=header)
    replace_with(path, text.encode("utf-8"))


def comma_delimited(path: Path) -> None:
    """Commas instead of tabs, file name unchanged."""
    _write_table(path, _read_table(path), sep=",")


def drop_column(column: str, path: Path) -> None:
    _write_table(path, _read_table(path).drop(columns=[column]))


def rename_columns(renames: dict[str, str], path: Path) -> None:
    _write_table(path, _read_table(path).rename(columns=renames))


def add_column(path: Path) -> None:
    """An extra column the app does not know (a newer tool version)."""
    table = _read_table(path)
    table["extra_column"] = [str(k % 3) for k in range(len(table))]
    _write_table(path, table)


def set_cell(column: str, row: int, value: str, path: Path) -> None:
    """``table[column][row] = value`` (``row`` counts data rows from 0)."""
    table = _read_table(path)
    table.loc[row, column] = value
    _write_table(path, table)


def first_row_value(columns_containing: str, value: str, path: Path) -> None:
    """Every cell of the first data row that is ``n/a`` in columns whose name contains the text becomes ``value``."""
    table = _read_table(path)
    for column in table.columns:
        if columns_containing in column and table.loc[0, column] == "n/a":
            table.loc[0, column] = value
    _write_table(path, table)


def drop_rows(rows: slice, path: Path) -> None:
    table = _read_table(path)
    _write_table(path, table.drop(index=table.index[rows]))


def repeat_last_rows(count: int, path: Path) -> None:
    table = _read_table(path)
    _write_table(path, pd.concat([table, table.iloc[-count:]], ignore_index=True))


def extra_label_rows(path: Path) -> None:
    """Two rows for label values the image does not have (a table shared by several versions of an atlas)."""
    table = _read_table(path)
    extra = pd.DataFrame({"index": ["98", "99"], "name": ["Unused_A", "Unused_B"]})
    _write_table(path, pd.concat([table, extra], ignore_index=True))


def without_header(path: Path) -> None:
    """The label table as ``value<TAB>name`` lines, no header."""
    _write_table(path, _read_table(path), header=False)


def shift_index(offset: int, path: Path) -> None:
    table = _read_table(path)
    table["index"] = (table["index"].astype(int) + offset).astype(str)
    _write_table(path, table)


def duplicate_index(path: Path) -> None:
    table = _read_table(path)
    table.loc[1, "index"] = table.loc[0, "index"]
    _write_table(path, table)


def replace_text(old: str, new: str, path: Path) -> None:
    replace_with(path, path.read_text(encoding="utf-8").replace(old, new).encode("utf-8"))


def write_text(text: str, path: Path) -> None:
    replace_with(path, text.encode("utf-8"))


def edit_json(edit, path: Path) -> None:
    content = json.loads(path.read_text(encoding="utf-8"))
    replace_with(path, json.dumps(edit(content), indent=2).encode("utf-8"))


def _with(key, value):
    def edit(content):
        content[key] = value
        return content
    return edit


def _without(key):
    def edit(content):
        content.pop(key)
        return content
    return edit


def _nan_in_unused_entry(content: dict) -> dict:
    """fMRIPrep writes ``NaN`` (Python's json) for undefined numbers."""
    entry = next(k for k in content if k.startswith("t_comp_cor"))
    content[entry]["SingularValue"] = math.nan
    return content


# --------------------------------------------------------------------------------------
# NIfTI faults
# --------------------------------------------------------------------------------------


def _load(path: Path) -> tuple[np.ndarray, np.ndarray, float]:
    """Values after scaling (float64), affine, repetition time of an image."""
    img = nib.load(str(path))
    return img.get_fdata(dtype=np.float64), img.affine, float(img.header["pixdim"][4])


def not_nifti(path: Path) -> None:
    """A gzipped text file with the image's name (an HTML error page saved by a download script)."""
    replace_with(path, gzip.compress(b"<html><body>404 Not Found</body></html>\n"))


def header_without_data(path: Path) -> None:
    """The 352 bytes of the header and nothing else (gzipped, as the name says)."""
    replace_with(path, gzip.compress(gzip.decompress(path.read_bytes())[:352]))


def first_volume_only(path: Path) -> None:
    """A 3D image (the first volume)."""
    data, affine, _ = _load(path)
    write_nifti(path, data[..., 0].astype(np.float32), affine)


def five_d(path: Path) -> None:
    """Volumes along the 5th axis (shape X×Y×Z×1×T), as some converters write."""
    data, affine, _ = _load(path)
    stored = data.astype(np.float32)
    stored = stored[..., None, :] if stored.ndim == 4 else stored[..., None, None]
    if stored.shape[-1] == 1:
        stored = np.concatenate([stored, stored], axis=-1)
    write_nifti(path, stored, affine)


def single_volume_4d(path: Path) -> None:
    """A 3D image stored as X×Y×Z×1."""
    img = nib.load(str(path))
    write_nifti(path, np.asarray(np.asanyarray(img.dataobj))[..., None], img.affine)


def two_volumes(path: Path) -> None:
    """A 3D image stored twice along a 4th axis."""
    img = nib.load(str(path))
    stored = np.asarray(np.asanyarray(img.dataobj))
    write_nifti(path, np.stack([stored, stored], axis=-1), img.affine)


def drop_last_volumes(count: int, path: Path) -> None:
    data, affine, repetition_time = _load(path)
    write_nifti(path, data[..., :-count].astype(np.float32), affine, repetition_time=repetition_time)


def as_dtype(dtype: str, slope: float, inter: float, path: Path) -> None:
    """The same values stored as ``dtype`` with ``scl_slope``/``scl_inter`` (nan = no scaling).

    The values must be representable: ``(value - inter) / slope`` is an
    integer in the dtype's range (checked).
    """
    data, affine, repetition_time = _load(path)
    scale, offset = (1.0, 0.0) if math.isnan(slope) else (slope, inter)
    stored = (data - offset) / scale
    kind = np.dtype(dtype)
    if kind.kind in "iu":
        info = np.iinfo(kind)
        assert np.allclose(stored, np.round(stored)) and stored.min() >= info.min and stored.max() <= info.max
        stored = np.round(stored)
    write_nifti(path, stored.astype(kind), affine, slope=slope, inter=inter,
                repetition_time=repetition_time if data.ndim == 4 else None)


def flip_x(path: Path) -> None:
    """The same image in LAS orientation: data flipped along i, affine updated (same world positions)."""
    img = nib.load(str(path))
    stored = np.asarray(np.asanyarray(img.dataobj))
    flip = np.eye(4)
    flip[0, 0], flip[0, 3] = -1, stored.shape[0] - 1
    write_nifti(path, stored[::-1].copy(), img.affine @ flip, slope=img.dataobj.slope, inter=img.dataobj.inter,
                repetition_time=float(img.header["pixdim"][4]) if stored.ndim == 4 else None)


def flip_x_with_mask(path: Path) -> None:
    """The BOLD and its brain mask in LAS orientation (what a tool that writes LAS gives)."""
    flip_x(path)
    flip_x(path.with_name(path.name.replace("desc-preproc_bold", "desc-brain_mask")))


def oblique(path: Path, *, with_mask: bool = True) -> None:
    """An affine rotated by 10° about z around the image centre (data unchanged); the mask gets the same affine."""
    targets = [path]
    if with_mask and "desc-preproc_bold" in path.name:
        targets.append(path.with_name(path.name.replace("desc-preproc_bold", "desc-brain_mask")))
    for target in targets:
        img = nib.load(str(target))
        centre = img.affine @ np.r_[(np.array(img.shape[:3]) - 1) / 2, 1]
        angle = np.deg2rad(10)
        rotation = np.eye(4)
        rotation[:2, :2] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
        to_centre, back = np.eye(4), np.eye(4)
        to_centre[:3, 3], back[:3, 3] = -centre[:3], centre[:3]
        stored = np.asarray(np.asanyarray(img.dataobj))
        write_nifti(target, stored, back @ rotation @ to_centre @ img.affine,
                    slope=img.dataobj.slope, inter=img.dataobj.inter,
                    repetition_time=float(img.header["pixdim"][4]) if stored.ndim == 4 else None)


def _brain_of(path: Path) -> np.ndarray:
    mask = path.with_name(path.name.replace("desc-preproc_bold", "desc-brain_mask"))
    return nib.load(str(mask)).get_fdata() > 0


def nan_outside_brain(path: Path) -> None:
    """NaN in every voxel outside the brain mask (tools that mask with NaN)."""
    data, affine, repetition_time = _load(path)
    data[~_brain_of(path)] = np.nan
    write_nifti(path, data.astype(np.float32), affine, repetition_time=repetition_time)


def nan_in_brain_voxels(path: Path) -> None:
    """NaN through time in 5 voxels inside the brain."""
    data, affine, repetition_time = _load(path)
    inside = np.argwhere(_brain_of(path))[::97][:5]
    data[tuple(inside.T)] = np.nan
    write_nifti(path, data.astype(np.float32), affine, repetition_time=repetition_time)


def inf_in_one_volume(path: Path) -> None:
    """+inf in one brain voxel of volume 20."""
    data, affine, repetition_time = _load(path)
    voxel = tuple(np.argwhere(_brain_of(path))[len(np.argwhere(_brain_of(path))) // 2])
    data[voxel + (20,)] = np.inf
    write_nifti(path, data.astype(np.float32), affine, repetition_time=repetition_time)


def nan_background(path: Path) -> None:
    """NaN where the image is 0 (float atlases and masks from some tools)."""
    data, affine, _ = _load(path)
    data[data == 0] = np.nan
    write_nifti(path, data.astype(np.float32), affine)


def all_zero(path: Path) -> None:
    data, affine, _ = _load(path)
    write_nifti(path, np.zeros(data.shape, np.uint8), affine)


def non_integer_labels(path: Path) -> None:
    """Labels + 0.3 (a labels image interpolated by a resampling tool)."""
    data, affine, _ = _load(path)
    write_nifti(path, np.where(data > 0, data + 0.3, 0).astype(np.float32), affine)


def two_d(path: Path) -> None:
    """One axial slice as a 2D image."""
    img = nib.load(str(path))
    stored = np.asarray(np.asanyarray(img.dataobj))
    write_nifti(path, stored[:, :, stored.shape[2] // 2].copy(), img.affine)


def percent_maps(dtype: str, slope: float, path: Path) -> None:
    """A probabilistic atlas of values in [0, 1] stored as integer percentages (FSL's Harvard-Oxford), scaled or not."""
    data, affine, _ = _load(path)
    percent = np.round(data * 100)
    stored = percent if math.isnan(slope) else np.round(percent * 0.01 / slope)
    write_nifti(path, stored.astype(dtype), affine, slope=slope, inter=0.0 if not math.isnan(slope) else np.nan)


def first_map_only(path: Path) -> None:
    """A maps atlas with a single map (X×Y×Z×1)."""
    data, affine, _ = _load(path)
    write_nifti(path, data[..., :1].astype(np.float32), affine)


# --------------------------------------------------------------------------------------
# Partials used by the tables (named, so that case ids read well)
# --------------------------------------------------------------------------------------

DTYPE_VARIANTS_BOLD = {
    # name: (dtype, scl_slope, scl_inter); the victim BOLD holds multiples of 8 in [0, 1904]
    "uint8_slope8": ("uint8", BOLD_STEP, 0.0),
    "int8_slope8_inter1024": ("int8", BOLD_STEP, 1024.0),
    "int16": ("int16", np.nan, np.nan),
    "int16_slope0.5_inter-100": ("int16", 0.5, -100.0),
    "uint16": ("uint16", np.nan, np.nan),
    "uint16_slope2": ("uint16", 2.0, 0.0),
    "int32": ("int32", np.nan, np.nan),
    "int32_slope0.25_inter8": ("int32", 0.25, 8.0),
    "float32_slope2_inter10": ("float32", 2.0, 10.0),
    "float64": ("float64", np.nan, np.nan),
}

DTYPE_VARIANTS_MASK = {
    "int8": ("int8", np.nan, np.nan),
    "int16": ("int16", np.nan, np.nan),
    "uint16": ("uint16", np.nan, np.nan),
    "int32": ("int32", np.nan, np.nan),
    "float32": ("float32", np.nan, np.nan),
    "float64": ("float64", np.nan, np.nan),
    "uint8_slope0.5": ("uint8", 0.5, 0.0),
}

DTYPE_VARIANTS_LABELS = {
    "uint8": ("uint8", np.nan, np.nan),
    "int8": ("int8", np.nan, np.nan),
    "uint16": ("uint16", np.nan, np.nan),
    "int32": ("int32", np.nan, np.nan),
    "float32": ("float32", np.nan, np.nan),
    "float64": ("float64", np.nan, np.nan),
    "int16_slope0.5": ("int16", 0.5, 0.0),
    "float32_slope2": ("float32", 2.0, 0.0),
}


def named(name: str, function, *args):
    """``partial(function, *args)`` with a ``__name__`` (the case id)."""
    result = partial(function, *args)
    result.__name__ = name  # type: ignore[attr-defined]
    return result


def dtype_mutations(variants: dict) -> list:
    return [named(name, as_dtype, *spec) for name, spec in variants.items()]

