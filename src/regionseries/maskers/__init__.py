"""nilearn-compatible maskers: ``NiftiLabelsMasker``, ``NiftiSpheresMasker``, ``NiftiMapsMasker``,
``SurfaceLabelsMasker`` and ``SurfaceMapsMasker``.

Scripts written for nilearn 0.14.1 port by changing the import::

    from regionseries.maskers import NiftiLabelsMasker

The parameters, methods (``fit``, ``transform``, ``fit_transform``,
``transform_single_imgs``, ``inverse_transform``, ``get_params``,
``set_params``, ``generate_report``), ``verbose`` messages
and fitted attributes (``labels_img_``, ``mask_img_``, ``lut_``,
``n_elements_``, ``region_ids_``, ``seeds_``, ``maps_img_`` ...) are
nilearn's. Underneath, each transform reads the image **once**, in chunks of
volumes (:func:`regionseries.core.extract.extract_signals`), extracts the
region signals with a sparse operator and cleans them at the region level
with :func:`regionseries.signal.clean`. No scikit-learn is needed to extract.

The scikit-learn estimator protocol is nilearn's: ``__sklearn_tags__``
(nilearn's tags), ``check_is_fitted``, ``set_output`` (pandas, polars),
``get_feature_names_out``, ``clone``, pipelines; ``NotFittedError`` is
``sklearn.exceptions.NotFittedError``. scikit-learn is imported only when this
protocol is used, not by ``import regionseries.maskers`` (it would cost more
than the maskers themselves); install it with the ``sklearn`` extra.

Numerical differences from nilearn (all documented in
``docs/differences-from-nilearn.md``, section "maskers and extraction"):
maps are fitted in float64 (nilearn: float32 LAPACK for float32 inputs),
sphere means of integer data are not truncated, the sphere "truncation"
voxel is not added, negative map weights are not zeroed when
``allow_overlap=False``, and ``dtype="auto"`` works on scaled files.

Beyond nilearn, ``fit_transform`` sets ``coverage_``: per region, the
fraction of its voxels (or map weight) inside the mask with finite,
non-constant signal in the data fitted on (``transform`` changes no
attribute).

The surface maskers (:mod:`.surface`) take anything shaped like nilearn's
``SurfaceImage`` and extract through the command line's path for surface
runs (:func:`regionseries.core.extract.vertices.extract_vertex_signals`).

One module per masker (:mod:`.labels`, :mod:`.spheres`, :mod:`.maps`) over
:mod:`.base` (estimator protocol, fit/transform plumbing, cleaning);
:mod:`.lut` builds the labels' look-up table, :mod:`.grids` checks and
resamples grids, :mod:`.high_variance` streams ``high_variance_confounds``
and :mod:`.report` writes ``generate_report()``'s page; :mod:`.verbose`
prints the ``verbose`` messages and :mod:`.docs` holds the docstring entries
the maskers share.
:class:`~regionseries.regions.RegionExtractor` (a ``NiftiMapsMasker``) lives
in :mod:`regionseries.regions`, as in nilearn.
"""

from . import base
from .base import BaseMasker
from .high_variance import high_variance_confounds_streaming
from .labels import NiftiLabelsMasker
from .maps import NiftiMapsMasker
from .report import MaskerReport
from .spheres import NiftiSpheresMasker
from .surface import SurfaceLabelsMasker, SurfaceMapsMasker

__all__ = [
    "BaseMasker",
    "MaskerReport",
    "NiftiLabelsMasker",
    "NiftiMapsMasker",
    "NiftiSpheresMasker",
    "NotFittedError",
    "SurfaceLabelsMasker",
    "SurfaceMapsMasker",
    "high_variance_confounds_streaming",
]


def __getattr__(name: str):
    # NotFittedError is sklearn's: resolved on first use, so that importing
    # the maskers does not import scikit-learn
    if name == "NotFittedError":
        return base.not_fitted_error_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
