"""Shared inputs of the extraction tests (small grids, section 8.3-8.5 of the reference)."""

from __future__ import annotations

import warnings

import nibabel as nib
import numpy as np
import pytest

#: 3 mm grid of the reference oracle tests: 20 x 22 x 18 voxels, offset -30 mm.
SHAPE = (20, 22, 18)


def grid_affine(voxel=3.0, offset=(-30.0, -30.0, -30.0)):
    affine = np.diag([voxel, voxel, voxel, 1.0])
    affine[:3, 3] = offset
    return affine


def box_labels(shape=SHAPE):
    """Labels {1, 2, 3, 5} in boxes, background 0."""
    labels = np.zeros(shape, dtype=np.int32)
    labels[2:8, 2:8, 2:8] = 1
    labels[10:15, 3:9, 4:12] = 2
    labels[3:12, 12:20, 10:16] = 3
    labels[15:19, 15:21, 2:6] = 5
    return labels


def gaussian_maps(shape=SHAPE, centres=((5, 5, 5), (14, 6, 8), (7, 15, 12), (16, 17, 4)), width=3.0):
    """Gaussian blobs (voxel units) thresholded at 0.05, one map per volume."""
    i, j, k = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    maps = []
    for ci, cj, ck in centres:
        blob = np.exp(-((i - ci) ** 2 + (j - cj) ** 2 + (k - ck) ** 2) / (2 * width**2))
        blob[blob < 0.05] = 0
        maps.append(blob)
    return np.stack(maps, axis=-1).astype(np.float32)


def random_bold(shape=SHAPE, n_volumes=30, seed=0, mean=50.0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return rng.normal(mean, 1.0, shape + (n_volumes,)).astype(dtype)


def relative_error(actual, expected):
    actual = np.asarray(actual, dtype=float)
    expected = np.asarray(expected, dtype=float)
    return float(np.max(np.abs(actual - expected)) / max(np.max(np.abs(expected)), 1e-300))


def nilearn_quiet(func, *args, **kwargs):
    """Call nilearn with its deprecation chatter silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return func(*args, **kwargs)


@pytest.fixture
def grid():
    return SHAPE, grid_affine()


@pytest.fixture
def bold_img():
    return nib.Nifti1Image(random_bold(), grid_affine())


@pytest.fixture
def labels_img():
    return nib.Nifti1Image(box_labels(), grid_affine())


@pytest.fixture
def maps_img():
    return nib.Nifti1Image(gaussian_maps(), grid_affine())


@pytest.fixture(scope="session")
def mk():
    """The input builders above, for test modules (importlib mode: no conftest imports)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        SHAPE=SHAPE,
        grid_affine=grid_affine,
        box_labels=box_labels,
        gaussian_maps=gaussian_maps,
        random_bold=random_bold,
        relative_error=relative_error,
        nilearn_quiet=nilearn_quiet,
    )
