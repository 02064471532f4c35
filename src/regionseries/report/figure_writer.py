"""Figures on disk: :class:`FigureWriter` draws a page's figures, names them and writes them.

PNG figures at 100 dpi are drawn from frames (:mod:`regionseries.report.raster`)
without matplotlib; other formats and resolutions are drawn with
:mod:`regionseries.report.figures`, imported only then.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from . import raster
from .raster.frames import _figures

__all__ = ["FigureWriter"]


class FigureWriter:
    """Write figures under ``<html_dir>/<figures_subdir>`` and describe them for the page.

    Parameters
    ----------
    html_dir : path-like
        Folder of the HTML page (figure paths are relative to it).
    figures_subdir : str
        Relative folder of the figures, e.g. ``sub-01/figures``.
    figure_format : {"png", "svg"}
    dpi : float
        Resolution of PNG figures.
    frame_dir : path-like or None
        Folder where the frames of PNG figures are kept between jobs
        (:func:`regionseries.report.raster.cached_frame`); None: in this process only.

    Notes
    -----
    PNG files are compressed and written by a background thread while the
    next figures are drawn (zlib releases the GIL): call :meth:`finish` to
    wait for them before the page refers to them.
    """

    def __init__(
        self,
        html_dir: str | os.PathLike,
        figures_subdir: str,
        figure_format: str = "png",
        dpi: float = 100,
        frame_dir: str | os.PathLike | None = None,
    ):
        if figure_format not in raster.FIGURE_FORMATS:
            raise ValueError(
                f"figure_format must be one of {raster.FIGURE_FORMATS}, got {figure_format!r}"
            )
        self.html_dir = Path(html_dir)
        self.figures_subdir = figures_subdir
        self.figure_format = figure_format
        self.dpi = dpi
        self.frame_dir = frame_dir
        self.written: list[Path] = []
        self.seconds = 0.0
        self._used: set[str] = set()
        self._shared: dict[tuple, dict[str, Any] | None] = {}
        self._saver: ThreadPoolExecutor | None = None
        self._saving: list[Future] = []

    def adopt(self, paths: Sequence[str | os.PathLike], seconds: float = 0.0) -> None:
        """Count figures another writer drew into the same folder (their names are taken)."""
        for path in paths:
            path = Path(path)
            self.written.append(path)
            self._used.add(path.stem)
        self.seconds += seconds

    @property
    def raster(self) -> bool:
        """Whether figures are drawn from frames (PNG at the frames' 100 dpi)."""
        return self.figure_format == "png" and self.dpi == 100

    def write_shared(self, key: tuple, draw: Any, stem: str, caption: str = "",
                     shared_note: str = "") -> dict[str, Any] | None:
        """Like :meth:`write`, but a figure already written under ``key`` is reused.

        ``shared_note`` is appended to the caption of a figure that is reused.
        """
        if key in self._shared:
            first = self._shared[key]
            if first is None:
                return None
            return dict(first, caption=caption + first["note"])
        written = self.write(draw, stem, caption)
        self._shared[key] = None if written is None else dict(written, note=shared_note)
        return written

    def _unique_stem(self, stem: str) -> str:
        candidate, counter = stem, 2
        while candidate in self._used:
            candidate = f"{stem}{counter}"
            counter += 1
        self._used.add(candidate)
        return candidate

    def write(self, draw: Any, stem: str, caption: str = "") -> dict[str, Any] | None:
        """Draw a figure with ``draw()`` and save it as ``<stem>.<format>``.

        Parameters
        ----------
        draw : callable
            Returns a matplotlib figure (or None to skip).
        stem : str
            File name without suffix (already made of safe labels).
        caption : str

        Returns
        -------
        dict or None
            ``src`` (relative URL), ``width``/``height`` (px) and ``caption``.
        """
        start = time.perf_counter()
        figure = draw()
        if figure is None:
            return None
        stem = self._unique_stem(stem)
        relative = f"{self.figures_subdir}/{stem}.{self.figure_format}"
        path = self.html_dir / relative
        width, height = (figure.get_size_inches() * self.dpi).round().astype(int)
        if self.figure_format == "png":
            if not isinstance(figure, raster.RasterFigure):  # matplotlib draws in this thread only
                figure = _figures().rasterized(figure, self.dpi)
            self._save_in_background(figure, path)
        else:
            _figures().save_figure(figure, path, dpi=self.dpi)
        self.written.append(path)
        self.seconds += time.perf_counter() - start
        return {"src": relative, "width": int(width), "height": int(height), "caption": caption}

    def _save_in_background(self, figure: raster.RasterFigure, path: Path) -> None:
        if self._saver is None:
            self._saver = ThreadPoolExecutor(max_workers=1, thread_name_prefix="report-png")
        self._saving.append(self._saver.submit(raster.save_raster, figure, path))

    def finish(self, raise_errors: bool = True) -> None:
        """Wait until every figure is written; raise the first failure (e.g. a full disk).

        Parameters
        ----------
        raise_errors : bool
            False when the caller is already failing: only wait.
        """
        saving, self._saving = self._saving, []
        if self._saver is not None:
            self._saver.shutdown(wait=True)
            self._saver = None
        for future in saving:
            if raise_errors and future.exception() is not None:
                raise future.exception()


def _finished(writer: FigureWriter, draw: Any) -> Any:
    """``draw()``, then wait until ``writer`` has written every figure (see :meth:`FigureWriter.finish`)."""
    try:
        result = draw()
    except BaseException:
        writer.finish(raise_errors=False)
        raise
    writer.finish()
    return result
