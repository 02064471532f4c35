"""Report figures drawn with matplotlib's Agg canvas (no display, no pyplot).

Every ``plot_*`` function returns a :class:`matplotlib.figure.Figure` bound to
an Agg canvas; :func:`save_figure` writes it atomically. Nothing here touches
pyplot's global state, so figures can be drawn from worker processes or
threads on a headless HPC node.

The reports draw their PNG figures from *frames* instead
(:mod:`regionseries.report.raster`): each ``*_frame`` function here draws a
figure without its data, once, and the data are pasted in as pixels. Both
paths lay out the figures with the same functions, so a PNG and an SVG
report show the same figure. Axes are placed in inches by hand (no
constrained or tight layout), and slice montages are drawn as images
blended with numpy in a single axes rather than one axes per slice.

The low-level functions take plain arrays (so the maskers can use them); the
functions taking report-model objects are thin wrappers.

One module per figure family: :mod:`.motion` (framewise displacement and
censoring), :mod:`.carpet` (carpet plots), :mod:`.atlas` (atlases over the
reference), :mod:`.surface` (atlases on cortical surfaces), :mod:`.connectivity` (matrices) and :mod:`.group` (the group
report's QC figures), over :mod:`.canvas` (Agg canvas, style, saving,
frames). Importing this package imports matplotlib (about 0.25 s): the
report path imports it only to draw a frame no cache holds
(:func:`regionseries.report.raster.frames._figures`).

The names of :mod:`regionseries.report.raster` the figures share (colours,
sizes, :class:`RasterFigure`, the ``*_raster`` functions) are importable from
here too, for code that imports them from here.
"""

from ..raster import CARPET_LIMIT as CARPET_LIMIT
from ..raster import COLOR_CENSORED as COLOR_CENSORED
from ..raster import COLOR_DUMMY as COLOR_DUMMY
from ..raster import COLOR_FD as COLOR_FD
from ..raster import COLOR_KEPT as COLOR_KEPT
from ..raster import COLOR_NA as COLOR_NA
from ..raster import COLOR_OTHER as COLOR_OTHER
from ..raster import FIGURE_FORMATS as FIGURE_FORMATS
from ..raster import FULL_WIDTH_IN as FULL_WIDTH_IN
from ..raster import RasterFigure as RasterFigure
from ..raster import atlas_raster as atlas_raster
from ..raster import carpet_panels as carpet_panels
from ..raster import carpet_raster as carpet_raster
from ..raster import connectivity_limit as connectivity_limit
from ..raster import connectivity_raster as connectivity_raster
from ..raster import label_colors as label_colors
from ..raster import motion_raster as motion_raster
from ..raster import strongest_map_index as strongest_map_index
from ..raster import strongest_map_index_of_weights as strongest_map_index_of_weights
from .atlas import (
    cuts_frame,
    plot_atlas,
    plot_labels_overlay,
    plot_maps_overlay,
    plot_spheres,
    spheres_frame,
)
from .canvas import colormap_table, new_figure, rasterized, save_figure
from .carpet import carpet_frame, plot_carpet
from .connectivity import connectivity_frame, plot_connectivity
from .group import (
    plot_distance_dependence,
    plot_dof_lost,
    plot_excluded_fraction,
    plot_fd_distribution,
    plot_qcfc_distributions,
)
from .motion import motion_frame, plot_motion
from .surface import (
    plot_surface_atlas,
    plot_surface_coverage,
    plot_surface_labels,
    surface_coverage_frame,
    surface_frame,
)

__all__ = [
    "carpet_frame",
    "colormap_table",
    "connectivity_frame",
    "cuts_frame",
    "motion_frame",
    "new_figure",
    "plot_atlas",
    "plot_carpet",
    "plot_connectivity",
    "plot_distance_dependence",
    "plot_dof_lost",
    "plot_excluded_fraction",
    "plot_fd_distribution",
    "plot_labels_overlay",
    "plot_maps_overlay",
    "plot_motion",
    "plot_qcfc_distributions",
    "plot_spheres",
    "plot_surface_atlas",
    "plot_surface_coverage",
    "plot_surface_labels",
    "rasterized",
    "save_figure",
    "spheres_frame",
    "surface_coverage_frame",
    "surface_frame",
]
