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
reference), :mod:`.connectivity` (matrices) and :mod:`.group` (the group
report's QC figures), over :mod:`.canvas` (Agg canvas, style, saving,
frames). Importing this package imports matplotlib (about 0.25 s): the
report path imports it only to draw a frame no cache holds
(:func:`regionseries.report.raster.frames._figures`).
"""

from ..raster import (
    CARPET_LIMIT,
    COLOR_CENSORED,
    COLOR_DUMMY,
    COLOR_FD,
    COLOR_KEPT,
    COLOR_NA,
    COLOR_OTHER,
    FIGURE_FORMATS,
    FULL_WIDTH_IN,
    RasterFigure,
    atlas_raster,
    carpet_panels,
    carpet_raster,
    connectivity_limit,
    connectivity_raster,
    label_colors,
    motion_raster,
    strongest_map_index,
    strongest_map_index_of_weights,
)
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
    plot_qcfc_distributions,
)
from .motion import motion_frame, plot_motion

__all__ = [
    "CARPET_LIMIT",
    "COLOR_CENSORED",
    "COLOR_DUMMY",
    "COLOR_FD",
    "COLOR_KEPT",
    "COLOR_NA",
    "COLOR_OTHER",
    "FIGURE_FORMATS",
    "FULL_WIDTH_IN",
    "RasterFigure",
    "atlas_raster",
    "carpet_frame",
    "carpet_panels",
    "carpet_raster",
    "colormap_table",
    "connectivity_frame",
    "connectivity_limit",
    "connectivity_raster",
    "cuts_frame",
    "label_colors",
    "motion_frame",
    "motion_raster",
    "new_figure",
    "plot_atlas",
    "plot_carpet",
    "plot_connectivity",
    "plot_distance_dependence",
    "plot_dof_lost",
    "plot_excluded_fraction",
    "plot_labels_overlay",
    "plot_maps_overlay",
    "plot_motion",
    "plot_qcfc_distributions",
    "plot_spheres",
    "rasterized",
    "save_figure",
    "spheres_frame",
    "strongest_map_index",
    "strongest_map_index_of_weights",
]
