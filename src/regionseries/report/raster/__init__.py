"""Report figures as pixels: a frame drawn once, the data pasted in with numpy.

A participant page shows the same kinds of figure for every run: only the
data change, not the axes, ticks, labels, legends and colour bars around
them. A *frame* is that figure drawn without its data, by matplotlib
(:mod:`regionseries.report.figures`), plus where (in pixels) its data panels
are; each run's figure is the frame with its data pasted in as pixels, and
written as PNG with Pillow. Frames are kept in the process and in a folder
shared by the jobs of a study; a job whose frames are all there never
imports matplotlib: this package only needs numpy, Pillow and scipy.sparse.

Atlas overlays are frames too: their text (view names, slice coordinates,
sphere numbers) and spheres are drawn on a transparent layer, the slices or
projections of the run's reference image are pasted under it.

One module per job, mirroring :mod:`regionseries.report.figures`:
:mod:`.frames` (raster figures, frames and their caches, atomic PNG
writing), :mod:`.colors` (palette, label colours, colour maps as tables),
:mod:`.motion`, :mod:`.carpet` and :mod:`.connectivity` (one figure family
each), :mod:`.overlays` (an atlas and the reference on one grid, and the
slices shown), :mod:`.atlas` (atlas overlays and spheres), :mod:`.surface` (atlases
on cortical surfaces, rendered in numpy) and :mod:`.maps`
(the strongest map at each voxel).
"""

# ``_name as _name``: private helpers the tests check through this package
# (tests/report/test_raster.py, test_figures.py).
from .atlas import (
    SPHERE_ALPHA,
    SPHERE_COLOR,
    SPHERE_EDGE_PT,
    SPHERES_BACKGROUND,
    atlas_raster,
    cuts_raster,
    sphere_colors,
    spheres_raster,
)
from .carpet import CARPET_LIMIT, carpet_panels, carpet_raster
from .carpet import _zscore_columns as _zscore_columns
from .colors import (
    COLOR_CENSORED,
    COLOR_DUMMY,
    COLOR_FD,
    COLOR_KEPT,
    COLOR_NA,
    COLOR_OTHER,
    STATE_COLORS,
    colormapped,
    hex_rgb,
    label_colors,
)
from .connectivity import connectivity_limit, connectivity_raster
from .frames import (
    FIGURE_FORMATS,
    FULL_WIDTH_IN,
    PNG_COMPRESS_LEVEL,
    Frame,
    RasterFigure,
    cached_frame,
    frame_file,
    nearest_indices,
    save_raster,
    write_replacing,
)
from .frames import _load_frame as _load_frame
from .maps import strongest_map_index, strongest_map_index_of_weights
from .motion import _nice_ceiling as _nice_ceiling
from .motion import motion_raster
from .overlays import OverlayVolumes, overlay_cuts, overlay_volumes
from .overlays import _canonical as _canonical
from .overlays import _cut_indices as _cut_indices
from .overlays import _Grid as _Grid
from .overlays import _label_boundaries as _label_boundaries
from .overlays import _region_indices as _region_indices
from .overlays import _resample_nearest as _resample_nearest
from .overlays import _slice as _slice
from .surface import surface_coverage_raster, surface_labels_raster

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
    "PNG_COMPRESS_LEVEL",
    "SPHERES_BACKGROUND",
    "SPHERE_ALPHA",
    "SPHERE_COLOR",
    "SPHERE_EDGE_PT",
    "STATE_COLORS",
    "Frame",
    "OverlayVolumes",
    "RasterFigure",
    "atlas_raster",
    "cached_frame",
    "carpet_panels",
    "carpet_raster",
    "colormapped",
    "connectivity_limit",
    "connectivity_raster",
    "cuts_raster",
    "frame_file",
    "hex_rgb",
    "label_colors",
    "motion_raster",
    "nearest_indices",
    "overlay_cuts",
    "overlay_volumes",
    "save_raster",
    "sphere_colors",
    "spheres_raster",
    "strongest_map_index",
    "strongest_map_index_of_weights",
    "surface_coverage_raster",
    "surface_labels_raster",
    "write_replacing",
]
