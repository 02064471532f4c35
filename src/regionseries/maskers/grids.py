"""Where the maskers' data, atlas and mask grids meet.

The grid of a data image, whether two images share one, nilearn's "Following
field of view errors" message when they must but do not
(``resampling_target=None``), and the resampling of a mask (nearest, then
nilearn's lenient mask rule) or of the data (cubic, in memory) to another
grid. Atlases are put on a grid by :mod:`regionseries.core.atlas_images`.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np

from ..core.image import check_same_fov, describe_img, get_data, load_img, load_masker_mask, resample_img
from ..core.reader import BoldReader

__all__ = [
    "describe_input",
    "grid_of",
    "mask_bool",
    "raise_fov_errors",
    "resample_data",
    "resample_mask",
    "same_grid",
]


def grid_of(reader: BoldReader):
    return reader.spatial_shape, reader.affine


def same_grid(img, shape, affine) -> bool:
    return check_same_fov(img, (shape, affine))


def describe_input(img) -> str:
    """Name a masker input (file, in-memory image or list of them) for messages."""
    if isinstance(img, (list, tuple)):
        if not img:
            return "an empty list"
        first = describe_img(img[0])
        return first if len(img) == 1 else f"{first} and {len(img) - 1} more image(s)"
    return describe_img(img)


def raise_fov_errors(named: dict, sources: dict | None = None, *, at_transform: bool = False) -> None:
    """Raise nilearn's 'Following field of view errors' listing the mismatches.

    ``named`` maps a role ("labels", "mask", "data") to an image or a
    ``(shape, affine)`` grid; ``sources`` maps roles to the user's inputs,
    named at the end of the message. ``at_transform``: the message starts
    with the sentence nilearn's extraction raises at transform time
    ("Images have incompatible shapes." or "Images have different affine
    matrices.").
    """
    names = [name for name, img in named.items() if img is not None]
    errors = []
    involved = []
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            a, b = named[first], named[second]
            shape_a = tuple(a[0]) if isinstance(a, tuple) else tuple(a.shape[:3])
            shape_b = tuple(b[0]) if isinstance(b, tuple) else tuple(b.shape[:3])
            affine_a = a[1] if isinstance(a, tuple) else a.affine
            affine_b = b[1] if isinstance(b, tuple) else b.affine
            if shape_a[:3] != shape_b[:3]:
                errors.append(
                    f"{first} and {second} do not have the same shape: {shape_a[:3]} vs {shape_b[:3]}"
                )
            elif not np.allclose(affine_a, affine_b):
                errors.append(f"{first} and {second} do not have the same affine")
            else:
                continue
            involved += [name for name in (first, second) if name not in involved]
    if errors:
        first_sentence = "Following field of view errors were detected:\n- "
        if at_transform:
            mismatch = (
                "Images have incompatible shapes."
                if any("same shape" in error for error in errors)
                else "Images have different affine matrices."
            )
            first_sentence = f"{mismatch} {first_sentence}"
        described = [
            f"{name}: {describe_input(sources[name])}"
            for name in involved
            if sources is not None and sources.get(name) is not None
        ]
        raise ValueError(
            first_sentence
            + "\n- ".join(errors)
            + "\nUse resampling_target='data' (or another target) to resample."
            + (f"\nImages: {'; '.join(described)}." if described else "")
        )


def resample_mask(mask_img, shape, affine):
    """Binary mask resampled (nearest) to a grid, validated (0.4 rule)."""
    if same_grid(mask_img, shape, affine):
        return mask_img
    resampled = resample_img(mask_img, affine, shape, interpolation="nearest")
    return load_masker_mask(resampled)


def mask_bool(mask_img) -> np.ndarray | None:
    if mask_img is None:
        return None
    return np.asarray(get_data(mask_img)).astype(bool)


def resample_data(imgs, target_img, data_dtype):
    """Data resampled (cubic) to a target grid, in memory (nilearn's path)."""
    img = load_img(imgs, ensure_ndim=4)
    if np.dtype(data_dtype) != np.asanyarray(img.dataobj[..., :1]).dtype:
        img = nib.Nifti1Image(np.asanyarray(img.dataobj).astype(data_dtype), img.affine, img.header)
    resampled = resample_img(
        img, target_img.affine, target_img.shape[:3], interpolation="continuous"
    )
    return resampled, tuple(target_img.shape[:3]), np.asarray(target_img.affine)
