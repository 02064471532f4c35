"""Extraction operators and the one-pass extraction of region signals.

An *operator* turns the voxels of one volume into one value per region. It is
built once per data grid (spatial shape and affine) from an atlas that is
already on that grid, and can be reused for every run sampled on the grid:

* :class:`LabelsOperator` -- a label (parcellation) image; the reductions
  ``mean`` and ``sum`` are a sparse region x voxel matrix applied in float64;
  ``median``, ``minimum``, ``maximum``, ``variance`` and
  ``standard_deviation`` work on per-region voxel groups;
* :class:`SpheresOperator` -- spheres around seed coordinates (mm), voxel
  selection as nilearn's ``NiftiSpheresMasker``; the mean over each sphere;
* :class:`MapsOperator` -- probabilistic maps; the least-squares fit of the
  maps to each volume, as ``NiftiMapsMasker``, through the small K x K
  normal matrix of the maps restricted to their support.

:func:`extract_signals` reads a BOLD series **once**, in chunks of volumes,
and feeds every operator (several atlases, several reductions) from the same
chunk, so memory does not grow with the number of volumes. Per run, each
operator is first *bound* to the run's brain mask (a cheap restriction of the
sparse weights); linear operators are composed with the spatial smoothing
(``W S``) so smoothing costs nothing per volume.

Beyond nilearn, every result carries a per-region *coverage*: the fraction of
the region's atlas voxels (or map weight) that lies inside the brain mask
and has finite, non-constant signal. Regions whose coverage is below
``min_coverage`` get NaN signals and a warning naming them.

The *reduction* of a region's voxels to one value (``mean``, ``median``,
...) is what nilearn's ``NiftiLabelsMasker`` calls ``strategy``; here
"strategy" is kept for denoising (:mod:`regionseries.core.confounds`), and
the masker's ``strategy=`` is passed on as ``reduction=``.

Conventions: voxel indices are flat Fortran-order indices
(``i + X*j + X*Y*k``), the order of voxels in a NIfTI file. Coordinates are
in mm; ``fwhm`` is in mm.

Modules, one job each:

* :mod:`~regionseries.core.extract.grid` -- the grid and flat voxel indices;
* :mod:`~regionseries.core.extract.smoothing` -- smoothing composed into weights;
* :mod:`~regionseries.core.extract.bound` -- operators bound to a run's mask;
* :mod:`~regionseries.core.extract.base` -- the operators' common base class;
* :mod:`~regionseries.core.extract.labels`,
  :mod:`~regionseries.core.extract.spheres`,
  :mod:`~regionseries.core.extract.maps` -- the three operators;
* :mod:`~regionseries.core.extract.stream` -- :func:`extract_signals`, the pass;
* :mod:`~regionseries.core.extract.vertices` -- surface runs and surface
  images: operators on their vertices (an N x 1 x 1 grid) through the same
  pass (``extract_vertex_signals``), CIFTI/GIFTI reading and labels on
  grayordinates; :mod:`~regionseries.core.extract.surface` -- nilearn's
  surface smoothing; imported from those modules.

The package exports the public names.
"""

from .labels import REDUCTIONS, LabelsOperator
from .maps import MapsOperator
from .spheres import SpheresOperator
from .stream import ExtractionResult, extract_signals

__all__ = [
    "REDUCTIONS",
    "ExtractionResult",
    "LabelsOperator",
    "MapsOperator",
    "SpheresOperator",
    "extract_signals",
]
