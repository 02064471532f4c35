"""Region signals of surface and grayordinate series: CIFTI-2 ``dtseries`` and GIFTI pairs.

A surface run is a (T x N) array of N *vertices*: the grayordinates of a
CIFTI file in its BrainModelAxis order (cortical vertices, then subcortical
voxels), or the left then the right hemisphere of a GIFTI pair. A labels
atlas on them is one label per vertex (:func:`cifti_labels_on`,
:func:`gifti_pair_labels`); probabilistic maps are one weight per vertex
and map.

:func:`extract_vertex_signals` is the one extraction path of vertex data,
shared by the command line and the surface maskers
(:mod:`regionseries.maskers.surface`): the atlases become operators on an
N x 1 x 1 grid (:func:`vertex_labels_operator`, :func:`vertex_maps_operator`)
and go through the same one-pass engine as volumes
(:func:`~regionseries.core.extract.extract_signals`), so reductions, the
least-squares fit of maps, coverage (a vertex with NaN, or constant signal
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
import scipy  # submodules load on first use
from nibabel.cifti2.parse_cifti2 import Cifti2Extension

from ..surface_reader import CiftiSeriesReader, GiftiPairReader
from .labels import LabelsOperator
from .maps import MapsOperator
from .stream import extract_signals

__all__ = [
    "CiftiParcels",
    "SurfaceSeries",
    "cifti_labels_on",
    "cifti_maps_on",
    "extract_vertex_signals",
    "gifti_pair_labels",
    "gifti_pair_maps",
    "hemisphere_labels",
    "read_cifti_series",
    "read_gifti_pair",
    "vertex_labels_operator",
    "vertex_maps_operator",
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


def _vertex_grid(data, description: str) -> tuple:
    """What the engine reads for ``data``, and its number of vertices: a surface reader as it
    is (streamed), a (T, N) array as an N x 1 x 1 x T NIfTI-2 image (a view, no copy, of
    float32 or float64 data; other dtypes as float64)."""
    if isinstance(data, (CiftiSeriesReader, GiftiPairReader)):
        return data, data.n_voxels
    data = np.asarray(data)
    if data.ndim != 2:
        raise ValueError(f"{description}: vertex data must be 2D, got shape {data.shape}")
    if data.dtype not in (np.float32, np.float64):  # NIfTI holds neither float16 nor bool; int64 warns
        data = data.astype(np.float64)
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
    return _cifti_values_on(atlas_models, np.asarray(atlas_labels).ravel(), run_models)


def cifti_maps_on(atlas_models: nib.cifti2.BrainModelAxis, atlas_maps: np.ndarray,
                  run_models: nib.cifti2.BrainModelAxis) -> np.ndarray:
    """The maps of a CIFTI ``dscalar.nii`` atlas on a run's grayordinates, as :func:`cifti_labels_on`.

    Parameters
    ----------
    atlas_maps : numpy.ndarray, shape (n_atlas_grayordinates, K)

    Returns
    -------
    numpy.ndarray, shape (n_run_grayordinates, K)
        Weight 0 on grayordinates of the run absent from the atlas; the atlas's
        weight on grayordinates the run lacks is left out.
    """
    return _cifti_values_on(atlas_models, np.asarray(atlas_maps), run_models)


def _cifti_values_on(atlas_models: nib.cifti2.BrainModelAxis, values: np.ndarray,
                     run_models: nib.cifti2.BrainModelAxis) -> np.ndarray:
    """Rows of ``values`` (one per atlas grayordinate) on the run's grayordinates; 0 where absent."""
    if (run_models.volume_shape is not None and atlas_models.volume_shape is not None
            and run_models.volume_mask.any() and atlas_models.volume_mask.any()
            and (tuple(run_models.volume_shape) != tuple(atlas_models.volume_shape)
                 or not np.allclose(run_models.affine, atlas_models.affine))):
        raise ValueError(f"the subcortical voxels of the atlas are on a {atlas_models.volume_shape} grid, the run's on "
                         f"{run_models.volume_shape} (or their affines differ)")
    if atlas_models == run_models:  # the usual case: an atlas on the same grayordinates (91k)
        return values.copy()
    rows = dict(zip(_grayordinate_keys(atlas_models), range(len(atlas_models))))
    taken = np.array([rows.get(key, -1) for key in _grayordinate_keys(run_models)], dtype=np.int64)
    on_run = np.where((taken >= 0).reshape((-1,) + (1,) * (values.ndim - 1)), values[np.maximum(taken, 0)], 0)
    if not np.any(on_run != 0) and np.any(values != 0):
        raise ValueError("the atlas and the run share no grayordinate (another surface or density?)")
    return on_run


def gifti_pair_labels(left: np.ndarray, right: np.ndarray, hemisphere_sizes: Sequence[int],
                      right_offset: int) -> np.ndarray:
    """One label vector for a GIFTI pair: the left labels, then the right ones shifted by
    ``right_offset`` (background stays 0).

    Raises
    ------
    ValueError
        A hemisphere of the atlas has another number of vertices than the run's.
    """
    _check_hemisphere_sizes(left, right, hemisphere_sizes)
    return np.concatenate(hemisphere_labels(left, right, right_offset)).astype(np.int64)


def hemisphere_labels(left: np.ndarray, right: np.ndarray, right_offset: int) -> tuple[np.ndarray, np.ndarray]:
    """The labels of a pair's hemispheres as the atlas numbers them: background
    (:data:`SURFACE_BACKGROUND`) 0, the right hemisphere's values shifted by ``right_offset``."""
    return (np.where(np.isin(left, SURFACE_BACKGROUND), 0, left),
            np.where(np.isin(right, SURFACE_BACKGROUND), 0, right + right_offset))


def gifti_pair_maps(left: np.ndarray, right: np.ndarray, hemisphere_sizes: Sequence[int]) -> np.ndarray:
    """One (N, K) array of maps for a GIFTI pair: the left hemisphere's rows, then the right's.

    Raises
    ------
    ValueError
        A hemisphere of the atlas has another number of vertices than the run's.
    """
    _check_hemisphere_sizes(left, right, hemisphere_sizes)
    return np.concatenate([left, right], axis=0)


def _check_hemisphere_sizes(left: np.ndarray, right: np.ndarray, hemisphere_sizes: Sequence[int]) -> None:
    for hemi, values, size in (("left", left, hemisphere_sizes[0]), ("right", right, hemisphere_sizes[1])):
        if len(values) != size:
            raise ValueError(f"the {hemi} hemisphere of the atlas has {len(values)} vertices, the run's {size} "
                             "(another surface or density?)")


def vertex_labels_operator(vertex_labels: np.ndarray, label_values: Sequence, names: Sequence[str] | None = None,
                           *, reduction: str = "mean", source_name: str = "labels") -> LabelsOperator:
    """A :class:`~regionseries.core.extract.LabelsOperator` over the vertices of a surface run.

    Parameters
    ----------
    vertex_labels : numpy.ndarray, shape (N,)
        Label value of each vertex (grayordinate); a value not in ``label_values`` is no region.
    label_values : sequence of numbers
        The regions (columns), in this order; a value absent from ``vertex_labels`` gives a
        NaN column listed in ``missing_regions``.
    names : sequence of str or None
        Region names aligned with ``label_values`` (None: the values as text).
    reduction : str, default="mean"
        One of :data:`~regionseries.core.extract.REDUCTIONS`.
    source_name : str
        The atlas, for messages.
    """
    vertex_labels = np.asarray(vertex_labels).ravel()
    return LabelsOperator(vertex_labels.reshape((-1, 1, 1)), np.eye(4), label_values=list(label_values),
                          names=None if names is None else list(names), reduction=reduction,
                          source_name=source_name)


def vertex_maps_operator(maps, names: Sequence[str] | None = None, *, source_name: str = "maps") -> MapsOperator:
    """A :class:`~regionseries.core.extract.MapsOperator` over the vertices of a surface run.

    Parameters
    ----------
    maps : numpy.ndarray, shape (N, K), or scipy.sparse matrix, shape (K, N)
        Map weights per vertex (dense: one column per map; sparse: one row per map).
        Non-finite weights count as 0, as for volumetric maps.
    names : sequence of str or None
        Map names (None: ``"map 0"``, ...).
    source_name : str
        The atlas, for messages.

    Raises
    ------
    ValueError
        No map has a non-zero weight.
    """
    if scipy.sparse.issparse(maps):
        weights = scipy.sparse.csr_matrix(maps, dtype=np.float64)
        weights.data[~np.isfinite(weights.data)] = 0.0
    else:
        maps = np.asarray(maps)
        if maps.ndim == 1:
            maps = maps[:, np.newaxis]
        weights = scipy.sparse.csr_matrix(np.where(np.isfinite(maps), maps, 0.0).astype(np.float64).T)
    weights.eliminate_zeros()
    return MapsOperator.from_weights(weights, (weights.shape[1], 1, 1), np.eye(4),
                                     names=None if names is None else list(names), source_name=source_name)


def extract_vertex_signals(data: np.ndarray, operators, *, mask: np.ndarray | None = None, min_coverage: float = 0.5,
                           description: str = "surface series", warn_non_finite: bool = True):
    """Region signals of several atlases over the vertices of surface data, in one pass.

    The one extraction path of surface runs (the command line) and of
    :class:`~regionseries.maskers.SurfaceLabelsMasker` and
    :class:`~regionseries.maskers.SurfaceMapsMasker`: the N vertices are laid
    out as an N x 1 x 1 grid (a view of ``data``, no copy) and go through
    :func:`~regionseries.core.extract.extract_signals` with the operators of
    :func:`vertex_labels_operator` and :func:`vertex_maps_operator`, so that
    the reductions, the least-squares fit of maps (its K x K normal-matrix
    solver), the coverage rule (a vertex with a non-finite value, or a
    constant series, is not covered; constancy is not judged for one sample),
    ``min_coverage`` and the non-finite warning are those of volumes.

    Parameters
    ----------
    data : numpy.ndarray, shape (T, N), or CiftiSeriesReader or GiftiPairReader
        One row per volume (sample), one column per vertex: a CIFTI
        ``dtseries`` array, GIFTI hemispheres side by side, the parts of a
        surface image. C-ordered is fastest: each volume is then contiguous
        (a vertex-major array costs twice the time through strided reads).
        Float32 and float64 are read as they are, other dtypes as float64.
        Or a reader that streams a run (:attr:`SurfaceSeries.reader`: memory
        does not grow with T).
    operators : mapping or sequence of operators
        Built on N vertices (:func:`vertex_labels_operator`, :func:`vertex_maps_operator`).
    mask : numpy.ndarray of bool, shape (N,), or None
        Vertices outside it enter no region and are not covered.
    min_coverage : float, default=0.5
        Regions covered less are NaN, with a warning naming them (0: no rule).
    description : str
        The data, for messages.
    warn_non_finite : bool, default=True
        Warn when non-finite values are replaced by 0 (they never count as covered).

    Returns
    -------
    dict or list of ExtractionResult
        As :func:`~regionseries.core.extract.extract_signals`; coverage and
        ``n_voxels`` count vertices.

    Raises
    ------
    ValueError
        An operator is built on another number of vertices than the data has.
    """
    series, n_vertices = _vertex_grid(data, description)
    for operator in operators.values() if isinstance(operators, Mapping) else operators:
        if operator.shape[0] != n_vertices:
            what = "vertex labels" if operator.kind == "labels" else "maps of vertices"
            raise ValueError(f"{operator.source_name}: {operator.shape[0]} {what} for data of {n_vertices} vertices "
                             f"({description})")
    if mask is not None:
        mask = np.asarray(mask, dtype=bool).reshape((n_vertices, 1, 1))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = extract_signals(series, operators, mask=mask, min_coverage=min_coverage,
                                  warn_non_finite=warn_non_finite)
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


class CiftiParcels:
    """A labels atlas's CIFTI ParcelsAxis on one run's grayordinates, with the CIFTI-2 XML of each file built once.

    nibabel rebuilds the CIFTI header (400 parcels listing 91k grayordinates:
    0.7 MB of XML) and deep-copies it for every image it writes: 0.2-0.5 s per
    ``ptseries``/``pconn`` on this machine, most of a 91k run's time with two
    strategies. All strategies of a run share the ``ptseries`` header (same
    volumes and repetition time) and the ``pconn`` header, so each XML is made
    once here and written by :func:`write_parcellated_cifti` (5 ms a file,
    byte-identical to nibabel's ``Cifti2Image.to_filename``).

    Parameters
    ----------
    axis : nibabel.cifti2.ParcelsAxis
        From :func:`parcels_axis`.
    """

    def __init__(self, axis: nib.cifti2.ParcelsAxis):
        self.axis = axis
        self._xml: dict[tuple, bytes] = {}

    def xml(self, n_rows: int, repetition_time: float | None) -> bytes:
        """The CIFTI-2 XML of a ``ptseries`` (``n_rows`` volumes, ``repetition_time`` s) or,
        with ``repetition_time`` None, of a ``pconn``."""
        key = (n_rows, repetition_time)
        if key not in self._xml:
            rows = self.axis if repetition_time is None else nib.cifti2.SeriesAxis(
                0.0, float(repetition_time), n_rows, unit="SECOND")
            self._xml[key] = nib.cifti2.Cifti2Header.from_axes((rows, self.axis)).to_xml()
        return self._xml[key]


def write_parcellated_cifti(path: str | os.PathLike, values: np.ndarray,
                            parcels: nib.cifti2.ParcelsAxis | CiftiParcels,
                            repetition_time: float | None = None) -> None:
    """Write ``values`` as a CIFTI-2 ``ptseries.nii`` (T x K, with the repetition time, s)
    or, without ``repetition_time``, a ``pconn.nii`` (K x K); float32, NaN kept.

    The file is what nibabel's ``Cifti2Image(values, (rows, parcels)).to_filename`` writes
    (a NIfTI-2 with the CIFTI-2 XML as its extension), with the XML of a :class:`CiftiParcels`
    reused; the NIfTI intent tells Workbench the file type (nibabel leaves it "unknown").
    """
    values = np.asarray(values, dtype=np.float32)
    parcels = parcels if isinstance(parcels, CiftiParcels) else CiftiParcels(parcels)
    if values.ndim != 2 or values.shape[1] != len(parcels.axis) or (
            repetition_time is None and values.shape[0] != len(parcels.axis)):
        raise ValueError(f"{os.fspath(path)}: values of shape {values.shape} for {len(parcels.axis)} parcels")
    header = nib.Nifti2Header()
    header.set_data_dtype(np.float32)
    header.set_intent("ConnParcels" if repetition_time is None else "ConnParcelSries")
    header["pixdim"][:4] = 1  # no qform: as nibabel's CIFTI writer
    header.extensions.append(Cifti2Extension.from_bytes(parcels.xml(len(values), repetition_time)))
    nib.Nifti2Image(values.reshape((1, 1, 1, 1) + values.shape), None, header).to_filename(os.fspath(path))
