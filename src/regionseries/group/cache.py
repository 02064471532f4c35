"""``--incremental``: the sums of an earlier group run kept in ``group/.incremental/`` (:class:`GroupCache`)."""

from __future__ import annotations

import io
import json
import logging
import math
from pathlib import Path

import numpy as np

from .._version import __version__
from ..bids.outputs import atomic_write_bytes
from .edges import RunningEdges

LOGGER = logging.getLogger("regionseries")


class GroupCache:
    """Sums of an earlier group run, reused when only runs were added (``--incremental``).

    One file per task, space, atlas, strategy and measure in
    ``OUTPUT_DIR/group/.incremental/``: the :class:`RunningEdges` sums, the
    region names, the number of runs where each diagonal entry was finite,
    the runs they include, each with its matrix file's size and
    modification time (ns) and the mean FD it was added with, and the unit of
    QC-FC (``--qcfc-unit``): an entry made with another unit is not reused.

    An entry is updated rather than recomputed when the runs it includes
    that are no longer included now (excluded under the current options,
    left out by ``--participant-label``, or with another mean FD) still have
    the same matrix file (size and modification time): their matrices are
    read again and their sums taken away, and the runs included now but not
    in the entry are read and added. So adding participants, or changing a
    threshold, reads only the runs that changed sides. With ``--qcfc-unit
    participant`` (the default) the unit of this bookkeeping is the
    participant: when one of its runs joins, leaves or changes, all of its
    runs are taken away and added again (their mean entered QC-FC as one
    sample). When a run of the
    entry was removed or its matrix changed, when more runs would be taken
    away than kept, or with another version of regionseries, every run is
    read again and the entry replaced. The results equal a run from scratch
    up to round-off (the sums are added in another order).
    """

    FOLDER = ".incremental"
    VERSION = 2  # 2: sums of the matrices stored as their upper triangle (RunningEdges.triangle_*)

    def __init__(self, folder: Path):
        self.folder = folder

    def _path(self, name: str) -> Path:
        return self.folder / f"{name}.npz"

    def load(self, name: str, fisher: bool, unit: str = "run") -> tuple[dict, RunningEdges, np.ndarray] | None:
        """The entry ``name`` (its description, sums and finite diagonal), or None (also when made for another
        ``fisher`` or QC-FC ``unit``)."""
        path = self._path(name)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as stored:
                arrays = {key: stored[key] for key in stored.files}
            about = json.loads(str(arrays.pop("about")))
            if about.get("version") != self.VERSION or about.get("software") != __version__:
                return None
            diagonal_finite = arrays.pop("diagonal_finite").astype(np.int64)
            edges = RunningEdges.from_state(arrays)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            LOGGER.warning("ignoring the group cache %s: %s", path, exc)
            return None
        if about.get("fisher") != fisher:
            return None
        if about.get("unit", "run") != unit:  # entries written before --qcfc-unit were per run
            return None
        return about, edges, diagonal_finite

    def save(self, name: str, fisher: bool, names: list[str], runs: list[list], edges: RunningEdges,
             diagonal_finite: np.ndarray, unit: str = "run") -> None:
        about = {"version": self.VERSION, "software": __version__, "fisher": fisher, "names": names, "runs": runs,
                 "unit": unit}
        buffer = io.BytesIO()
        np.savez(buffer, about=np.asarray(json.dumps(about)), diagonal_finite=diagonal_finite, **edges.state())
        atomic_write_bytes(self._path(name), buffer.getvalue())

    def remove(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)


def _signature(output_dir: Path, path: str | Path, fd: float) -> list:
    """What identifies one run's contribution: the matrix file (relative path, size, mtime in ns) and its mean FD."""
    path = Path(path)
    info = path.stat()
    return [path.relative_to(output_dir).as_posix(), info.st_size, info.st_mtime_ns, None if math.isnan(fd) else fd]
