"""Connectivity matrices on disk: the ``*_relmat.tsv`` text, and the binary copy beside it.

The participant level writes each matrix as a BIDS TSV (a header row
``node`` + K region names, then K rows of a region name and K values,
``n/a`` for missing). Parsing that text is most of what the group level
does: a 400 × 400 matrix is 2.1 MB of text and takes 8–9 ms to parse, so
10,000 participants with three atlases and two strategies are 4.7 × 10⁹
numbers and about four minutes of parsing on two cores.

So beside each TSV the participant level also writes a **binary copy** of
the values the TSV holds, ``.<TSV name>.f64`` (a hidden file in the same
folder), which the group level reads instead of the text (20 µs for a
400 × 400 matrix). The copy holds exactly what parsing the text gives —
the values rounded to the TSV's 9 significant digits, not the unrounded
ones — so the group outputs are the same bytes whether a matrix was read
from its copy or from its text. A copy is used only while its TSV has the
size and modification time (ns) recorded in it: a TSV edited, replaced or
copied without its times (``cp`` without ``-p``) is read as text again.
Deleting the copies loses nothing but speed.

Layout of a copy (little-endian)::

    offset  size  content
    0       8     b"RSRELMAT"
    8       4     uint32 format version (1)
    12      4     uint32 K, the number of regions
    16      1     uint8 layout: 0 the full K × K matrix, row by row;
                  1 the upper triangle with the diagonal, row by row
                  (only when the matrix is exactly symmetric)
    17      7     zeros
    24      8     uint64 size of the TSV, bytes
    32      8     int64 modification time of the TSV, ns
    40      8     uint64 N, bytes of the region names
    48      N     the region names, a UTF-8 JSON list; zeros up to a multiple of 8
    …             float64 values (NaN where the TSV has ``n/a``)
"""

from __future__ import annotations

import csv
import io
import json
import os
import struct
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .outputs import atomic_write_bytes, atomic_write_text

#: First bytes of a binary copy.
MAGIC = b"RSRELMAT"
#: Format version of the binary copies written now.
COPY_VERSION = 1
FULL, UPPER = 0, 1
_HEADER = struct.Struct("<8sIIB7xQqQ")


class MalformedMatrix(ValueError):
    """A relmat TSV that is not a square table of numbers under its region names.

    ``str()`` is ``"<path>: <reason>"``; :attr:`reason` says what is wrong and where.
    """

    def __init__(self, path: str | os.PathLike, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


def read_relmat(path: str | os.PathLike) -> tuple[list[str], np.ndarray]:
    """A relmat TSV written by the participant level: region names and the K × K matrix.

    Reads the text (see :func:`parse_relmat_text`); :func:`read_relmat_fast`
    reads the binary copy when it is up to date.

    Raises
    ------
    OSError
        The file cannot be read.
    MalformedMatrix
        (a :class:`ValueError`) Not UTF-8, empty, truncated, not square, or a
        value that is not a number; the message names the file and the line.
    """
    path = Path(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedMatrix(path, f"not UTF-8 text (byte {exc.start})") from None
    return parse_relmat_text(text, path)


def parse_relmat_text(text: str, path: str | os.PathLike = "<text>") -> tuple[list[str], np.ndarray]:
    """Region names and the K × K matrix of a relmat TSV's text.

    The layout is fixed: a header row ``node`` + K region names, then K rows of
    a region name and K values (``n/a`` for missing), tab separated. The
    values are parsed by numpy's C reader (``np.loadtxt``) without pandas'
    general machinery (8.6 against 10.2 ms for a 400 × 400 matrix); the
    result equals ``pandas.read_csv(path, sep="\\t", index_col=0,
    na_values="n/a", keep_default_na=False)``. Region names that need quoting
    (a tab, a quote or a line break in the name) are read with the
    :mod:`csv` module.

    Parameters
    ----------
    text : str
        The file's content.
    path : path-like
        Named in error messages.

    Raises
    ------
    MalformedMatrix
        Empty, truncated, not square, or a value that is not a number.
    """
    text = text.removeprefix("\ufeff")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if '"' in text:
        header, labels, rows = _quoted_rows(path, text)
    else:
        lines = text.split("\n")
        if lines[-1] == "":
            lines.pop()
        if not lines:
            raise MalformedMatrix(path, "empty file")
        header = lines[0].split("\t")
        rows = lines[1:]
        labels = None
    names = header[1:]
    n_regions = len(names)
    if n_regions == 0:
        raise MalformedMatrix(path, "no region names in the header (line 1)")
    if len(rows) != n_regions:
        raise MalformedMatrix(path, f"{len(rows)} rows of values for {n_regions} regions "
                              "(truncated or not a square matrix)")
    body = rows if labels is None else ["\t".join(["", *row]) for row in rows]
    if "/" in text:  # n/a (a quick test: searching for one character is 60x faster than for "n/a")
        body = [row.replace("n/a", "nan") for row in body]
    try:
        # The row label through a converter rather than usecols: loadtxt then also
        # rejects rows with too many values.
        table = np.loadtxt(body, delimiter="\t", converters={0: _ignore_label}, dtype=float, comments=None, ndmin=2)
    except ValueError as exc:
        raise MalformedMatrix(path, f"{_where_malformed(body, n_regions) or exc}") from None
    if table.shape[1] != n_regions + 1:
        raise MalformedMatrix(path, str(_where_malformed(body, n_regions)))
    return names, np.ascontiguousarray(table[:, 1:])


def _ignore_label(label: str) -> float:
    return 0.0


def _where_malformed(body: list[str], n_regions: int) -> str | None:
    """The first line with a wrong number of values or a value that is not a number, for the error message."""
    for number, row in enumerate(body, start=2):
        values = row.split("\t")[1:]
        if len(values) != n_regions:
            return f"line {number} has {len(values)} values, expected {n_regions} (truncated or malformed)"
        for column, value in enumerate(values, start=2):
            try:
                float(value)
            except ValueError:
                return f"line {number}, column {column}: {value!r} is not a number"
    return None


def _quoted_rows(path: str | os.PathLike, text: str) -> tuple[list[str], list[str], list[list[str]]]:
    """Header, row labels and row values of a TSV whose fields may be quoted (csv rules)."""
    table = list(csv.reader(io.StringIO(text), delimiter="\t"))
    if not table:
        raise MalformedMatrix(path, "empty file")
    header = table[0]
    rows = [row for row in table[1:] if row]
    return header, [row[0] for row in rows], [row[1:] for row in rows]


def copy_path(tsv_path: str | os.PathLike) -> Path:
    """Where the binary copy of the relmat TSV ``tsv_path`` is: ``.<name>.f64`` in the same folder."""
    tsv_path = Path(tsv_path)
    return tsv_path.with_name(f".{tsv_path.name}.f64")


def write_relmat_tsv(path: str | os.PathLike, text: str) -> tuple[Path, Path]:
    """Write a relmat TSV's ``text`` and its binary copy, each atomically.

    The copy holds the values parsed from ``text`` (:func:`parse_relmat_text`),
    and the size and modification time the TSV has once written.

    Returns
    -------
    (pathlib.Path, pathlib.Path)
        The TSV and its copy.
    """
    path = Path(path)
    names, values = parse_relmat_text(text, path)
    atomic_write_text(path, text)
    return path, write_copy(path, names, values)


def write_copy(tsv_path: str | os.PathLike, names: list[str], values: np.ndarray) -> Path:
    """Write the binary copy of the relmat TSV ``tsv_path`` (which must exist), atomically.

    Parameters
    ----------
    tsv_path : path-like
        The TSV, already written; its size and modification time go into the copy.
    names : list of str
        The K region names.
    values : ndarray (K, K)
        Exactly the values the TSV holds (as :func:`parse_relmat_text` gives them).
    """
    tsv_path = Path(tsv_path)
    values = np.asarray(values, dtype="<f8")
    n_regions = len(names)
    if values.shape != (n_regions, n_regions):
        raise ValueError(f"{n_regions} region names for a matrix of shape {values.shape}")
    info = tsv_path.stat()
    layout, stored = _as_stored(values)
    encoded_names = json.dumps(list(names), ensure_ascii=False).encode("utf-8")
    padding = b"\0" * (-len(encoded_names) % 8)
    header = _HEADER.pack(MAGIC, COPY_VERSION, n_regions, layout, info.st_size, info.st_mtime_ns, len(encoded_names))
    return atomic_write_bytes(copy_path(tsv_path), header + encoded_names + padding + stored.tobytes())


def _as_stored(matrix: np.ndarray) -> tuple[int, np.ndarray]:
    """The layout and values a K × K matrix is stored as: its upper triangle with the diagonal, row by row,
    when it is exactly symmetric (NaN where NaN), else its K × K values."""
    if np.array_equal(matrix, matrix.T, equal_nan=True):
        return UPPER, matrix[TriangleLayout.of(len(matrix)).rows_columns]
    return FULL, matrix


class StoredMatrix(NamedTuple):
    """What a binary copy holds (see the module docstring)."""

    #: The region names as stored: a UTF-8 JSON list.
    names_json: bytes
    #: K, the number of regions.
    n_regions: int
    #: :data:`FULL` or :data:`UPPER`.
    layout: int
    #: Read-only float64: K × K values, or the K (K + 1) / 2 of the upper triangle with the diagonal.
    values: np.ndarray


def read_copy(tsv_path: str | os.PathLike, tsv_stat: os.stat_result | None = None) -> StoredMatrix | None:
    """The binary copy of ``tsv_path`` if it exists, is whole and matches the TSV; else None.

    Parameters
    ----------
    tsv_path : path-like
        The TSV.
    tsv_stat : os.stat_result, optional
        The TSV's ``os.stat``, if already known.

    Returns
    -------
    StoredMatrix or None
        None when there is no copy, when it is not whole or of another format
        version, or when the TSV's size or modification time differ from
        those recorded in it.
    """
    try:
        with open(copy_path(tsv_path), "rb") as handle:
            data = handle.read()
        if tsv_stat is None:
            tsv_stat = os.stat(tsv_path)
    except OSError:
        return None
    if len(data) < _HEADER.size:
        return None
    magic, version, n_regions, layout, size, mtime_ns, names_length = _HEADER.unpack_from(data)
    if magic != MAGIC or version != COPY_VERSION or layout not in (FULL, UPPER):
        return None
    if size != tsv_stat.st_size or mtime_ns != tsv_stat.st_mtime_ns:
        return None
    start = _HEADER.size + names_length + (-names_length % 8)
    count = n_regions * n_regions if layout == FULL else n_regions * (n_regions + 1) // 2
    if len(data) != start + 8 * count:
        return None
    return StoredMatrix(data[_HEADER.size:_HEADER.size + names_length], n_regions, layout,
                        np.frombuffer(data, dtype="<f8", offset=start, count=count))


def read_relmat_fast(path: str | os.PathLike, tsv_stat: os.stat_result | None = None
                     ) -> tuple[list[str], np.ndarray, bool]:
    """A relmat TSV's region names and K × K matrix, from its binary copy when up to date.

    Returns
    -------
    (list of str, ndarray, bool)
        The names, the matrix (the same values as :func:`read_relmat`) and
        whether they came from the binary copy.

    Raises
    ------
    OSError, MalformedMatrix
        As :func:`read_relmat`, when the text had to be read.
    """
    names, layout, stored, from_copy = read_relmat_stored(path, tsv_stat)
    return names, unpack(len(names), layout, stored), from_copy


def read_relmat_stored(path: str | os.PathLike, tsv_stat: os.stat_result | None = None
                       ) -> tuple[list[str], int, np.ndarray, bool]:
    """A relmat's region names and values as stored: the upper triangle when the matrix is symmetric.

    Like :func:`read_relmat_fast`, but without unpacking: a symmetric matrix
    (from its copy, or from its text when exactly symmetric) is given as its
    K (K + 1) / 2 values of the upper triangle with the diagonal, row by row
    (:data:`UPPER`), any other as its K × K values (:data:`FULL`).

    Returns
    -------
    (list of str, int, ndarray, bool)
        The names, the layout, the values and whether they came from the binary copy.
    """
    copy = read_copy(path, tsv_stat)
    if copy is not None:
        names = _decoded_names(copy.names_json)
        if names is not None and len(names) == copy.n_regions:
            values = copy.values if copy.layout == UPPER else copy.values.reshape(copy.n_regions, copy.n_regions)
            return list(names), copy.layout, values, True
    names, matrix = read_relmat(path)
    return (names, *_as_stored(matrix), False)


_last_names: tuple[bytes, tuple[str, ...] | None] = (b"", None)


def _decoded_names(encoded: bytes) -> tuple[str, ...] | None:
    """The region names a copy stores (a JSON list of strings), or None; the last ones are kept, since
    the copies read one after the other are mostly of the same atlas."""
    global _last_names
    if encoded == _last_names[0]:
        return _last_names[1]
    try:
        names = json.loads(encoded.decode("utf-8"))
    except ValueError:
        names = None
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        names = None
    _last_names = (encoded, None if names is None else tuple(names))
    return _last_names[1]


def unpack(n_regions: int, layout: int, stored: np.ndarray) -> np.ndarray:
    """The K × K matrix of stored values (a new, writable array)."""
    if layout == FULL:
        return np.array(stored, dtype=float).reshape(n_regions, n_regions)
    return stored[TriangleLayout.of(n_regions).unpack]


class TriangleLayout:
    """Where the entries of a symmetric K × K matrix are in its row-by-row upper triangle with the diagonal.

    Attributes
    ----------
    rows_columns : (ndarray, ndarray)
        Row and column of each stored value (``np.triu_indices(K)``).
    unpack : ndarray (K, K) of int
        For each entry of the matrix, its position among the stored values.
    diagonal : ndarray (K,) of int
        Positions of the diagonal's entries.
    strict : ndarray (K (K − 1) / 2,) of int
        Positions of the entries above the diagonal, in the order of
        ``np.triu_indices(K, 1)``.
    upper : (ndarray, ndarray)
        ``np.triu_indices(K, 1)``: row and column of each entry above the diagonal.
    """

    _made: dict[int, TriangleLayout] = {}

    def __init__(self, n_regions: int):
        self.rows_columns = np.triu_indices(n_regions)
        rows, columns = self.rows_columns
        positions = np.arange(len(rows))
        self.unpack = np.empty((n_regions, n_regions), dtype=np.intp)
        self.unpack[rows, columns] = positions
        self.unpack[columns, rows] = positions
        self.diagonal = positions[rows == columns]
        self.strict = positions[rows != columns]
        self.upper = (rows[self.strict], columns[self.strict])

    @classmethod
    def of(cls, n_regions: int) -> TriangleLayout:
        """The layout of K regions (made once per process)."""
        layout = cls._made.get(n_regions)
        if layout is None:
            layout = cls._made[n_regions] = cls(n_regions)
        return layout
