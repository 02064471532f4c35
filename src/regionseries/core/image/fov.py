"""Field-of-view checks: whether two images share a grid, and whether a target grid meets the data.

:func:`check_same_fov` is nilearn's tolerant test (``np.allclose``) that
decides whether a masker resamples; :func:`check_strict_affine` is the strict
test of nilearn's extraction functions; :func:`_check_fov_overlap` raises
nilearn's error when a resampling target holds none of the data. Affines are
4×4 voxel-to-world matrices in millimetres.
"""

from __future__ import annotations

import os

import nibabel as nib
import numpy as np

from .loading import _load_one

#: Largest element-wise affine difference (mm) accepted by the strict check
#: of nilearn's extraction functions: 1000 · eps(float32) ≈ 1.192e-4.
STRICT_AFFINE_TOLERANCE = 1000 * float(np.finfo(np.float32).eps)


def _shape_and_affine(img_or_pair) -> tuple[tuple[int, ...], np.ndarray]:
    if isinstance(img_or_pair, tuple) and len(img_or_pair) == 2 and not isinstance(
        img_or_pair[0], (str, os.PathLike, nib.spatialimages.SpatialImage)
    ):
        shape, affine = img_or_pair
        return tuple(int(n) for n in shape), np.asarray(affine)
    img = _load_one(img_or_pair)
    return tuple(img.shape), img.affine


def check_same_fov(a, b) -> bool:
    """Whether two images sample the same grid, with nilearn's tolerance.

    The first three dimensions of the shapes must be equal and the affines
    must satisfy ``np.allclose`` (rtol=1e-5, atol=1e-8, element-wise). This is
    the test that decides whether a masker resamples anything.

    Parameters
    ----------
    a, b : nibabel image, path, or (shape, affine) tuple

    Returns
    -------
    bool
    """
    shape_a, affine_a = _shape_and_affine(a)
    shape_b, affine_b = _shape_and_affine(b)
    if shape_a[:3] != shape_b[:3]:
        return False
    if affine_a.shape != affine_b.shape:
        return False
    return bool(np.allclose(affine_a, affine_b))


def check_strict_affine(
    affine_a,
    affine_b,
    shape_a,
    shape_b,
    *,
    name_a: str | None = None,
    name_b: str | None = None,
) -> None:
    """Strict grid check of nilearn's extraction functions.

    Parameters
    ----------
    affine_a, affine_b : array-like, shape (4, 4)
        Affines (mm).
    shape_a, shape_b : sequence of int
        Shapes; only the first three dimensions are compared.
    name_a, name_b : str, optional
        Names of the two images, appended to the error message.

    Raises
    ------
    ValueError
        ``"Images have incompatible shapes."`` when the spatial shapes differ;
        ``"Images have different affine matrices."`` when the affines differ in
        shape or by more than 1000·eps(float32) ≈ 1.19e-4 in any element.
    """
    detail = ""
    if name_a is not None or name_b is not None:
        detail = f" ({name_a} vs {name_b})"
    if tuple(shape_a)[:3] != tuple(shape_b)[:3]:
        raise ValueError(
            "Images have incompatible shapes." + (
                detail or f" ({tuple(shape_a)[:3]} vs {tuple(shape_b)[:3]})"
            )
        )
    affine_a = np.asarray(affine_a)
    affine_b = np.asarray(affine_b)
    if affine_a.shape != affine_b.shape or (
        np.abs(affine_a - affine_b).max() > STRICT_AFFINE_TOLERANCE
    ):
        raise ValueError("Images have different affine matrices." + detail)


def _check_fov_overlap(source_shape, source_affine, target_affine, name: str) -> None:
    """Raise nilearn's error when the target grid lies wholly on the negative side of the data."""
    _, upper = _transformed_bounds(tuple(source_shape)[:3], np.linalg.inv(target_affine) @ source_affine)
    if np.any(upper < 0):
        raise ValueError(
            f"The field of view given by the target affine does not contain any of the data of {name}."
        )


def _transformed_bounds(shape, transform):
    corners = np.array(
        [[x, y, z, 1.0] for x in (0, shape[0] - 1) for y in (0, shape[1] - 1) for z in (0, shape[2] - 1)]
    ).T
    world = transform @ corners
    return world[:3].min(axis=1), world[:3].max(axis=1)
