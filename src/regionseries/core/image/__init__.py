"""Image building blocks: loading, field-of-view checks, resampling, smoothing, masks.

Every function here reproduces the numbers of the corresponding nilearn 0.14.1
building block (see section 0 of the nilearn behaviour reference) on
nibabel/numpy/scipy only. The functions work on arrays where they can and
never copy 4D data unless asked to.

Affines are 4×4 voxel-to-world matrices in millimetres; shapes are voxel counts.

The modules:

- :mod:`.loading`: :func:`load_img`, :func:`get_data`, :func:`new_img_like`,
  :func:`describe_img`;
- :mod:`.fov`: :func:`check_same_fov`, :func:`check_strict_affine`, whether
  a target grid meets the data;
- :mod:`.resampling`: :func:`resample_img`, :func:`resample_to_img`;
- :mod:`.box`: resampling a sparse volume within the bounding box of its
  non-zero voxels (:func:`nonzero_bounds`);
- :mod:`.smoothing`: :func:`smooth_array`;
- :mod:`.masks`: :func:`load_masker_mask`, :func:`load_mask_img`,
  :func:`~.masks.check_mask_values`;
- :mod:`.surface`: surface images (shaped like nilearn's ``SurfaceImage``) as
  one array per part: masks, mesh adjacency, vertex clusters. Its names are
  imported from ``regionseries.core.image.surface``.

The names below are re-exported here, so ``from regionseries.core.image
import X`` works for each; the public façade is :mod:`regionseries.image`.
"""

# Re-exported as ``x as x``, one name a line; the private ones (``_x``) are imported by
# core/atlas_images.py (which resamples atlases with the same box route) and by tests.
from .box import _BOX_MAX_SHARE as _BOX_MAX_SHARE
from .box import _resample_box as _resample_box
from .box import _target_box as _target_box
from .box import nonzero_bounds as nonzero_bounds
from .fov import STRICT_AFFINE_TOLERANCE as STRICT_AFFINE_TOLERANCE
from .fov import _check_fov_overlap as _check_fov_overlap
from .fov import check_same_fov as check_same_fov
from .fov import check_strict_affine as check_strict_affine
from .loading import describe_img as describe_img
from .loading import get_data as get_data
from .loading import load_img as load_img
from .loading import new_img_like as new_img_like
from .masks import load_mask_img as load_mask_img
from .masks import load_masker_mask as load_masker_mask
from .resampling import _is_binary as _is_binary
from .resampling import _resampling_transform as _resampling_transform
from .resampling import _warn_binary_interpolation as _warn_binary_interpolation
from .resampling import resample_img as resample_img
from .resampling import resample_to_img as resample_to_img
from .smoothing import smooth_array as smooth_array

__all__ = [
    "load_img",
    "get_data",
    "describe_img",
    "check_same_fov",
    "check_strict_affine",
    "resample_img",
    "resample_to_img",
    "smooth_array",
    "load_masker_mask",
    "load_mask_img",
    "new_img_like",
    "nonzero_bounds",
    "STRICT_AFFINE_TOLERANCE",
]
