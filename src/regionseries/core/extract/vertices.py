"""Region signals of surface and grayordinate series: CIFTI-2 ``dtseries`` and GIFTI pairs.

A surface run is a (T x N) array of N *vertices*: the grayordinates of a
CIFTI file in its BrainModelAxis order (cortical vertices, then subcortical
voxels), or the left then the right hemisphere of a GIFTI pair. A labels
atlas on them is one label per vertex (:func:`cifti_labels_on`,
:func:`gifti_pair_labels`).

:func:`extract_vertex_signals` is the plain per-parcel mean over vertices.
It goes through the same one-pass engine as volumes
(:func:`~regionseries.core.extract.extract_signals` with a
:class:`~regionseries.core.extract.LabelsOperator`): the N vertices are laid
out as an N x 1 x 1 grid, so coverage (a vertex with NaN, or constant signal
such as zeros, is not covered), ``min_coverage`` and the non-finite warning
are those of volumes. :func:`read_cifti_series` and :func:`read_gifti_pair`
read the headers; the data are streamed once, in bounded memory, by their
readers (:mod:`regionseries.core.surface_reader`: a CIFTI file in blocks of
grayordinates, a GIFTI pair in chunks of volumes).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import nibabel as nib
import numpy as np

from ..surface_reader import CiftiSeriesReader, GiftiPairReader
from .labels import LabelsOperator
from .stream import ExtractionResult, extract_signals

__all__ = [
    "SurfaceSeries",
    "cifti_labels_on",
    "extract_vertex_signals",
    "gifti_pair_labels",
    "read_cifti_series",
    "read_gifti_pair",
]

#: Labels values that are no region in surface label files (FreeSurfer's
#: ``.annot`` gives -1 to vertices without a label; 0 is the medial wall or ``???``).
SURFACE_BACKGROUND = (0, -1)


@dataclass
class SurfaceSeries:
    """One surface run: its header facts and the reader that streams its data.

    Attributes
    ----------
    reader : CiftiSeriesReader or GiftiPairReader
        Streams the run to :func:`extract_vertex_signals` without holding it
        (:mod:`regionseries.core.surface_reader`).
    brain_models : nibabel.cifti2.BrainModelAxis or None
        The grayordinates of a CIFTI run (None for a GIFTI pair).
    hemisphere_sizes : tuple of int
        Vertices of the left and right hemispheres (GIFTI pair), () for CIFTI.
    repetition_time : float or None
        Seconds, from the CIFTI SeriesAxis or the GIFTI ``TimeStep`` (ms).
    """

    reader: CiftiSeriesReader | GiftiPairReader
    brain_models: nib.cifti2.BrainModelAxis | None = None
    hemisphere_sizes: tuple[int, ...] = ()
    repetition_time: float | None = None

    @property
    def n_volumes(self) -> int:
        return int(self.reader.n_volumes)

    @property
    def data(self) -> np.ndarray:
        """The whole run, shape (T, N), as stored (float32 usually), read now: for small runs
        and tests; :func:`extract_vertex_signals` streams :attr:`reader` instead."""
        return self.reader.read_all()


def read_cifti_series(path: str | os.PathLike) -> SurfaceSeries:
    """Open a CIFTI-2 ``dtseries.nii`` (time x grayordinates): its header is read, its data
    are streamed later by the returned series' reader.

    Raises
    ------
    ValueError
        The file is not a dense time series (its axes are not SeriesAxis x BrainModelAxis).
    """
    reader = CiftiSeriesReader(path)
    return SurfaceSeries(reader, brain_models=reader.brain_models, repetition_time=reader.repetition_time)


def read_gifti_pair(left: str | os.PathLike, right: str | os.PathLike) -> SurfaceSeries:
    """Open the two hemispheres of a GIFTI run (one data array per volume in each file): their
    first data arrays are read, the rest is streamed later by the returned series' reader.

    Raises
    ------
    ValueError
        The hemispheres have different numbers of volumes, or a data array is not a vector.
    """
    reader = GiftiPairReader(left, right)
    return SurfaceSeries(reader, hemisphere_sizes=reader.hemisphere_sizes, repetition_time=reader.repetition_time)


def _vertex_grid(data) -> tuple:
    """What the engine reads for ``data``, and its number of vertices: a surface reader as it
    is (streamed), a (T, N) array as an N x 1 x 1 x T NIfTI-2 image (a view, no copy)."""
    if isinstance(data, (CiftiSeriesReader, GiftiPairReader)):
        return data, data.n_voxels
    data = np.asarray(data)
    n_volumes, n_vertices = data.shape
    # (T, N) C-ordered is (N, T) F-ordered: the N x 1 x 1 x T grid is a view, no copy; NIfTI-2
    # because a NIfTI-1 header holds at most 32,767 per dimension (91,282 grayordinates)
    return nib.Nifti2Image(data.T.reshape((n_vertices, 1, 1, n_volumes), order="F"), np.eye(4)), n_vertices


def _grayordinate_keys(models: nib.cifti2.BrainModelAxis) -> list[tuple]:
    """One hashable key per grayordinate: (structure, vertex) or (structure, i, j, k)."""
    keys = []
    for structure, selection, model in models.iter_structures():
        if model.volume_mask.all():
            keys.extend((structure, *map(int, ijk)) for ijk in model.voxel)
        else:
            keys.extend((structure, int(vertex)) for vertex in model.vertex)
    return keys


def cifti_labels_on(atlas_models: nib.cifti2.BrainModelAxis, atlas_labels: np.ndarray,
                    run_models: nib.cifti2.BrainModelAxis) -> np.ndarray:
    """The labels of a CIFTI label atlas on a run's grayordinates.

    Grayordinates are matched by structure and vertex (or voxel), so an atlas
    that covers the medial wall, orders its structures differently or holds
    structures the run lacks still applies. Grayordinates of the run absent
    from the atlas get 0 (no region).

    Raises
    ------
    ValueError
        The atlas and the run share no grayordinate, or their volume grids differ.
    """
    if (run_models.volume_shape is not None and atlas_models.volume_shape is not None
            and run_models.volume_mask.any() and atlas_models.volume_mask.any()
            and (tuple(run_models.volume_shape) != tuple(atlas_models.volume_shape)
                 or not np.allclose(run_models.affine, atlas_models.affine))):
        raise ValueError(f"the subcortical voxels of the atlas are on a {atlas_models.volume_shape} grid, the run's on "
                         f"{run_models.volume_shape} (or their affines differ)")
    if atlas_models == run_models:  # the usual case: an atlas on the same grayordinates (91k)
        return np.asarray(atlas_labels).ravel().copy()
    lookup = dict(zip(_grayordinate_keys(atlas_models), np.asarray(atlas_labels).ravel()))
    labels = np.array([lookup.get(key, 0) for key in _grayordinate_keys(run_models)])
    if not np.any(labels != 0) and np.any(np.asarray(atlas_labels) != 0):
        raise ValueError("the atlas and the run share no grayordinate (another surface or density?)")
    return labels


def gifti_pair_labels(left: np.ndarray, right: np.ndarray, hemisphere_sizes: Sequence[int],
                      right_offset: int) -> np.ndarray:
    """One label vector for a GIFTI pair: the left labels, then the right ones shifted by
    ``right_offset`` (background stays 0).

    Raises
    ------
    ValueError
        A hemisphere of the atlas has another number of vertices than the run's.
    """
    for hemi, labels, size in (("left", left, hemisphere_sizes[0]), ("right", right, hemisphere_sizes[1])):
        if len(labels) != size:
            raise ValueError(f"the {hemi} hemisphere of the atlas has {len(labels)} vertices, the run's {size} "
                             "(another surface or density?)")
    left = np.where(np.isin(left, SURFACE_BACKGROUND), 0, left)
    right = np.where(np.isin(right, SURFACE_BACKGROUND), 0, right + right_offset)
    return np.concatenate([left, right]).astype(np.int64)


def extract_vertex_signals(data: np.ndarray, atlases: Mapping[str, tuple[np.ndarray, Sequence, Sequence[str]]],
                           min_coverage: float = 0.5, description: str = "surface series",
                           ) -> dict[str, ExtractionResult]:
    """Mean signal of each parcel of several label atlases over the vertices of a surface run.

    Parameters
    ----------
    data : numpy.ndarray, shape (T, N), or CiftiSeriesReader or GiftiPairReader
        The run (vertices or grayordinates in columns), or a reader that streams
        it (:attr:`SurfaceSeries.reader`: memory does not grow with T).
    atlases : mapping
        ``name -> (labels, label_values, names)``: one label per vertex (N,),
        the label values to extract in column order and their names.
    min_coverage : float
        Parcels with a smaller fraction of vertices holding finite, non-constant
        signal are NaN (with a warning naming them).
    description : str
        The run, for messages.

    Returns
    -------
    dict of ExtractionResult
        Per atlas, as :func:`~regionseries.core.extract.extract_signals` (coverage
        and ``n_voxels`` count vertices).
    """
    series, n_vertices = _vertex_grid(data)
    operators = {}
    for name, (labels, label_values, names) in atlases.items():
        labels = np.asarray(labels).reshape((n_vertices, 1, 1))
        operators[name] = LabelsOperator(labels, np.eye(4), label_values=list(label_values), names=list(names),
                                         reduction="mean", source_name=f"atlas {name}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = extract_signals(series, operators, mask=None, min_coverage=min_coverage)
    for item in caught:  # name the run, not the in-memory grid it was laid out on
        message = str(item.message).replace("<in-memory Nifti2Image>", description)
        warnings.warn(message, item.category, stacklevel=2)
    return results


def parcels_axis(models: nib.cifti2.BrainModelAxis, labels: np.ndarray, label_values: Sequence,
                 names: Sequence[str]) -> nib.cifti2.ParcelsAxis:
    """The CIFTI ParcelsAxis of a label atlas on a run's grayordinates (for ``ptseries``/``pconn``).

    Parameters
    ----------
    models : nibabel.cifti2.BrainModelAxis
        The run's grayordinates.
    labels : numpy.ndarray, shape (N,)
        The atlas's label of each grayordinate (:func:`cifti_labels_on`).
    label_values, names : sequence
        The parcels in column order; a parcel without grayordinates is kept, empty,
        so the axis has one entry per output column.
    """
    labels = np.asarray(labels)
    # BrainModelAxis's masks and names are computed per access: read them once
    in_volume, structures = np.asarray(models.volume_mask), np.asarray(models.name)
    voxel_of, vertex_of = np.asarray(models.voxel), np.asarray(models.vertex)
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    voxels, vertices = [], []
    for value in label_values:
        members = order[np.searchsorted(sorted_labels, value, "left"):np.searchsorted(sorted_labels, value, "right")]
        voxels.append(voxel_of[members[in_volume[members]]].astype(int).reshape(-1, 3))
        on_surface = members[~in_volume[members]]
        names_of = structures[on_surface]
        vertices.append({str(name): vertex_of[on_surface[names_of == name]].astype(int)
                         for name in np.unique(names_of)})
    has_volume = bool(in_volume.any())
    return nib.cifti2.ParcelsAxis(
        [str(name) for name in names], voxels, vertices,
        affine=models.affine if has_volume else None, volume_shape=models.volume_shape if has_volume else None,
        nvertices=dict(models.nvertices))


def write_parcellated_cifti(path: str | os.PathLike, values: np.ndarray, parcels: nib.cifti2.ParcelsAxis,
                            repetition_time: float | None = None) -> None:
    """Write ``values`` as a CIFTI-2 ``ptseries.nii`` (T x K, with the repetition time, s)
    or, without ``repetition_time``, a ``pconn.nii`` (K x K); float32, NaN kept."""
    values = np.asarray(values, dtype=np.float32)
    rows = parcels if repetition_time is None else nib.cifti2.SeriesAxis(0.0, float(repetition_time), len(values),
                                                                          unit="SECOND")
    img = nib.Cifti2Image(values, header=(rows, parcels))
    # the NIfTI intent tells Workbench the file type (nibabel leaves it "unknown")
    img.nifti_header.set_intent("ConnParcels" if repetition_time is None else "ConnParcelSries")
    img.to_filename(os.fspath(path))
