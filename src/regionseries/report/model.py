"""In-memory data model of the HTML reports.

The report package never reads pipeline outputs by itself: the pipeline (or
the maskers, or a test) fills these dataclasses and hands them to
:mod:`regionseries.report.render`. Everything a page shows is held here, so a
report can be built and checked from synthetic data alone.

Conventions
-----------
* Time is in seconds, distances in mm, volumes in mm³, framewise
  displacement (FD) in mm, coverage as a fraction in [0, 1].
* Volume indices are 0-based positions in the BOLD series (the first volume is
  index 0), as in the ``kept_volumes`` of the output sidecars.
* Region order is the atlas table order everywhere: ``region_names[i]``
  names column ``i`` of every signal matrix and row/column ``i`` of every
  connectivity matrix.
* Text fields (file names, region names, warnings) are untrusted: the
  templates escape them.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..core.qc import summarize_qcfc

__all__ = [
    "ATLAS_KINDS",
    "BIDS_ENTITY_ORDER",
    "QC_TABLE_COLUMNS",
    "AtlasResult",
    "FailedRun",
    "GroupReport",
    "MeanConnectome",
    "ParticipantReport",
    "QCFCResult",
    "ReportDataError",
    "RunReport",
    "StrategyResult",
    "SurfaceAtlas",
]

#: Kinds of atlas a run can be summarised with.
ATLAS_KINDS = ("labels", "maps", "spheres")

#: BIDS 1.11 entity order used to name runs and figures (short keys).
BIDS_ENTITY_ORDER = (
    "sub",
    "ses",
    "sample",
    "task",
    "tracksys",
    "acq",
    "nuc",
    "voi",
    "ce",
    "trc",
    "stain",
    "rec",
    "dir",
    "run",
    "mod",
    "echo",
    "flip",
    "inv",
    "mt",
    "part",
    "proc",
    "hemi",
    "space",
    "split",
    "recording",
    "chunk",
    "seg",
    "res",
    "den",
    "label",
    "desc",
)

#: Keys dropped from a run's entities: they describe the file, not the run
#: (fMRIPrep's BOLD is always ``desc-preproc``; figures add their own ``desc``).
NON_IDENTIFYING_KEYS = ("desc", "suffix", "extension", "datatype")

#: Column names of the group QC table the group report knows how to read.
#: Other columns are shown as they are.
QC_TABLE_COLUMNS = {
    "strategy": "strategy",
    "atlas": "atlas",
    "mean_fd": "mean_fd_mm",
    "volumes_kept": "n_volumes_kept",
    "dof_lost": "dof_lost",
    "excluded": "excluded",
    "reason": "exclusion_reason",
}


class ReportDataError(ValueError):
    """Raised when report data are inconsistent (shapes, names, indices)."""


def _as_index_array(values: Any, what: str, n_volumes: int | None = None) -> np.ndarray:
    """Return ``values`` as a sorted 1-D int64 array of volume indices.

    Parameters
    ----------
    values : array-like of int
        Volume indices (0-based).
    what : str
        Name used in error messages.
    n_volumes : int or None
        When given, every index must lie in ``[0, n_volumes)``.

    Returns
    -------
    numpy.ndarray
        Unique indices in increasing order, dtype int64.
    """
    array = np.asarray(values if values is not None else [], dtype=float).ravel()
    if array.size and not np.all(np.isfinite(array) & (array == np.round(array))):
        raise ReportDataError(f"{what}: volume indices must be whole numbers, got {values!r}")
    indices = np.unique(array.astype(np.int64))
    if n_volumes is not None and indices.size and (indices[0] < 0 or indices[-1] >= n_volumes):
        raise ReportDataError(
            f"{what}: volume indices must lie in [0, {n_volumes}), got "
            f"{int(indices[0])}..{int(indices[-1])}"
        )
    return indices


def _optional_vector(values: Any, n: int, what: str, per: str = "region") -> np.ndarray | None:
    """Return ``values`` as a float vector of length ``n``, one value per ``per`` (or None)."""
    if values is None:
        return None
    vector = np.asarray(values, dtype=float).ravel()
    if vector.shape != (n,):
        raise ReportDataError(
            f"{what}: expected {n} values (one per region), got {vector.size}" if per == "region"
            else f"{what} must have one value per {per} ({n}), got {vector.size}")
    return vector


@dataclass
class StrategyResult:
    """What one denoising strategy did to one run.

    Parameters
    ----------
    name : str
        Strategy name, as used in the ``desc-`` entity of the outputs.
    kept_volumes : array-like of int
        0-based indices of the volumes kept for cleaning and connectivity.
    dummy_volumes : array-like of int
        Indices removed as non-steady-state (dummy) volumes.
    motion_censored_volumes : array-like of int
        Indices censored for motion (FD and/or standardized DVARS above
        threshold, plus any segment too short to keep).
    fd_threshold : float or None
        Framewise displacement threshold in mm, None when not censoring on FD.
    std_dvars_threshold : float or None
        Standardized DVARS threshold (unitless), None when not used.
    n_regressors : int
        Number of confound regressors in the design.
    dof_lost : float
        Temporal degrees of freedom lost (regressors, censored volumes,
        filtering), as written in the output sidecars.
    excluded : bool
        True when the run was excluded under this strategy.
    exclusion_reason : str or None
        Why the run was excluded.
    parameters : Mapping
        The strategy's parameters (shown in the parameters table).
    confound_columns : sequence of str
        Names of the confound columns used as regressors.
    filtered_fd : array-like of float or None
        Framewise displacement (mm) per volume recomputed from the
        motion-filtered parameters, which FD censoring used; None without a
        motion filter (FD censoring then used the run's ``fd``).
    """

    name: str
    kept_volumes: Any
    dummy_volumes: Any = ()
    motion_censored_volumes: Any = ()
    fd_threshold: float | None = None
    std_dvars_threshold: float | None = None
    n_regressors: int = 0
    dof_lost: float | None = None
    excluded: bool = False
    exclusion_reason: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    confound_columns: Sequence[str] = ()
    filtered_fd: Any = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ReportDataError(f"strategy name must be a non-empty string, got {self.name!r}")
        self.kept_volumes = _as_index_array(self.kept_volumes, f"strategy {self.name!r} kept_volumes")
        self.dummy_volumes = _as_index_array(
            self.dummy_volumes, f"strategy {self.name!r} dummy_volumes"
        )
        self.motion_censored_volumes = _as_index_array(
            self.motion_censored_volumes, f"strategy {self.name!r} motion_censored_volumes"
        )
        if np.intersect1d(self.kept_volumes, self.dummy_volumes).size or np.intersect1d(
            self.kept_volumes, self.motion_censored_volumes
        ).size:
            raise ReportDataError(
                f"strategy {self.name!r}: a volume cannot be both kept and removed"
            )
        if self.fd_threshold is not None and not self.fd_threshold > 0:
            raise ReportDataError(
                f"strategy {self.name!r}: fd_threshold must be a positive number of mm, "
                f"got {self.fd_threshold!r}"
            )
        self.parameters = dict(self.parameters)
        self.confound_columns = [str(column) for column in self.confound_columns]
        if self.filtered_fd is not None:
            self.filtered_fd = np.asarray(self.filtered_fd, dtype=float).ravel()

    @property
    def n_kept(self) -> int:
        """Number of volumes kept."""
        return int(self.kept_volumes.size)

    @property
    def n_dummy(self) -> int:
        """Number of dummy (non-steady-state) volumes removed."""
        return int(self.dummy_volumes.size)

    @property
    def n_motion_censored(self) -> int:
        """Number of volumes censored for motion."""
        return int(self.motion_censored_volumes.size)


@dataclass
class SurfaceAtlas:
    """An atlas on both cortical hemispheres of a surface run (CIFTI or GIFTI), as the report draws it.

    Parameters
    ----------
    meshes : Mapping[str, (coordinates, faces)]
        ``"left"`` and ``"right"``: vertex positions (n_vertices, 3) in mm and
        triangles (n_faces, 3) of the surface to draw on: the template's
        inflated surface, or its pial (midthickness) surface when it has none.
    vertex_labels : Mapping[str, array]
        Per hemisphere, one integer per mesh vertex: the region's label value
        (labels atlases) or the 1-based index of the strongest map (maps
        atlases); 0 where no region is (the medial wall, vertices outside a
        CIFTI brain model).
    mesh_description : str
        What the meshes are, for the caption (e.g. "fsLR 32k inflated").
    vertex_covered : Mapping[str, array] or None
        Per hemisphere, one bool per vertex: False where the run's signal does
        not count (zero, constant or NaN; vertices outside the data too).
    sulcal_depth : Mapping[str, array] or None
        Per hemisphere, the sulcal depth of each vertex (positive in sulci),
        to shade the bare cortex.
    """

    meshes: Mapping[str, Any]
    vertex_labels: Mapping[str, Any]
    mesh_description: str = ""
    vertex_covered: Mapping[str, Any] | None = None
    sulcal_depth: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        meshes, labels = {}, {}
        for hemisphere in ("left", "right"):
            if hemisphere not in self.meshes:
                raise ReportDataError(f"surface atlas: no {hemisphere} hemisphere mesh")
            coordinates, faces = self.meshes[hemisphere]
            coordinates = np.asarray(coordinates, dtype=float)
            faces = np.asarray(faces, dtype=np.int64)
            if coordinates.ndim != 2 or coordinates.shape[1] != 3 or faces.ndim != 2 \
                    or faces.shape[1] != 3:
                raise ReportDataError(
                    f"surface atlas: the {hemisphere} mesh needs (n, 3) coordinates and (m, 3) "
                    f"faces, got {coordinates.shape} and {faces.shape}")
            if faces.size and (faces.min() < 0 or faces.max() >= len(coordinates)):
                raise ReportDataError(f"surface atlas: {hemisphere} faces index missing vertices")
            meshes[hemisphere] = (coordinates, faces)
            labels[hemisphere] = self._per_vertex(self.vertex_labels.get(hemisphere), hemisphere,
                                                  len(coordinates), "vertex_labels", np.int64)
            if labels[hemisphere] is None:
                labels[hemisphere] = np.zeros(len(coordinates), dtype=np.int64)
        self.meshes, self.vertex_labels = meshes, labels
        for name, dtype in (("vertex_covered", bool), ("sulcal_depth", float)):
            values = getattr(self, name)
            if values is not None:
                setattr(self, name, {hemisphere: self._per_vertex(
                    values.get(hemisphere), hemisphere, len(meshes[hemisphere][0]), name, dtype)
                    for hemisphere in ("left", "right")})

    @staticmethod
    def _per_vertex(values: Any, hemisphere: str, n_vertices: int, name: str,
                    dtype: Any) -> np.ndarray | None:
        if values is None:
            return None
        values = np.asarray(values).ravel()
        if values.size != n_vertices:
            raise ReportDataError(
                f"surface atlas: {name} of the {hemisphere} hemisphere has {values.size} values "
                f"for {n_vertices} vertices")
        return values.astype(dtype)

    def label_values(self, atlas: "AtlasResult") -> list[int]:
        """The value of each region of ``atlas`` in :attr:`vertex_labels` (atlas order)."""
        if atlas.kind == "maps":
            return list(range(1, atlas.n_regions + 1))
        return list(atlas.label_values)


@dataclass
class AtlasResult:
    """One atlas as applied to one run.

    Parameters
    ----------
    name : str
        Atlas name, as used in the ``atlas-`` entity of the outputs.
    kind : {"labels", "maps", "spheres"}
        How regions are defined.
    region_names : sequence of str
        Region names in atlas table order (the output TSV header).
    label_values : sequence of int or None
        Label value of each region in the atlas image (labels atlases); for
        maps, the 0-based map index; for spheres, the 0-based sphere index.
        Defaults to ``range(n_regions)``.
    size_mm3 : array-like of float or None
        Size of each region on the BOLD grid in mm³ (voxels with a non-zero
        weight for maps; voxels inside the sphere for spheres).
    relative_size_percent : array-like of float or None
        Size of each region relative to all regions together, in %.
    coverage : array-like of float or None
        Fraction of each region inside the run's brain mask, in [0, 1].
    regions_na : sequence of str
        Names of the regions whose signals were set to n/a.
    image : nibabel image or None
        The atlas on the BOLD grid: 3D integer labels; for maps, the 4D maps or
        (cheaper for large sets such as DiFuMo) a 3D image holding the 1-based
        index of the strongest map at each voxel, 0 where no map counts
        (see :func:`regionseries.report.figures.strongest_map_index`).
    sphere_coordinates_mm : array-like, shape (n_regions, 3), or None
        Sphere centres in world (scanner/template) coordinates, mm.
    sphere_radius_mm : float or None
        Sphere radius in mm (None or 0 means single-voxel seeds).
    description : str
        Where the atlas came from (e.g. the TemplateFlow file or user file).
    surface : SurfaceAtlas or None
        The atlas on the cortical surface, for surface (CIFTI/GIFTI) runs:
        drawn on the surface instead of over the reference image. For CIFTI
        atlases ``image`` may hold the subcortical parcels on the volume grid.
        Coverage (``coverage``) is then the fraction of each region's vertices
        and grayordinates with a usable signal.
    surface_note : str
        For a surface run's atlas without ``surface``: the sentence saying why
        there is no surface picture (e.g. the template meshes are not in the
        TemplateFlow home), shown in its place.
    """

    name: str
    kind: str
    region_names: Sequence[str]
    label_values: Sequence[int] | None = None
    size_mm3: Any = None
    relative_size_percent: Any = None
    coverage: Any = None
    regions_na: Sequence[str] = ()
    image: Any = None
    sphere_coordinates_mm: Any = None
    sphere_radius_mm: float | None = None
    description: str = ""
    surface: SurfaceAtlas | None = None
    surface_note: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ReportDataError(f"atlas name must be a non-empty string, got {self.name!r}")
        if self.kind not in ATLAS_KINDS:
            raise ReportDataError(
                f"atlas {self.name!r}: kind must be one of {ATLAS_KINDS}, got {self.kind!r}"
            )
        self.region_names = [str(region) for region in self.region_names]
        n_regions = len(self.region_names)
        if n_regions == 0:
            raise ReportDataError(f"atlas {self.name!r} has no regions")
        if self.label_values is None:
            self.label_values = list(range(n_regions))
        self.label_values = [int(value) for value in self.label_values]
        if len(self.label_values) != n_regions:
            raise ReportDataError(
                f"atlas {self.name!r}: {len(self.label_values)} label values for "
                f"{n_regions} region names"
            )
        prefix = f"atlas {self.name!r}"
        self.size_mm3 = _optional_vector(self.size_mm3, n_regions, f"{prefix} size_mm3")
        self.relative_size_percent = _optional_vector(
            self.relative_size_percent, n_regions, f"{prefix} relative_size_percent"
        )
        self.coverage = _optional_vector(self.coverage, n_regions, f"{prefix} coverage")
        if self.coverage is not None and np.any(
            (self.coverage < 0) | (self.coverage > 1)
        ):
            raise ReportDataError(f"{prefix}: coverage must be a fraction in [0, 1]")
        self.regions_na = [str(region) for region in self.regions_na]
        unknown = sorted(set(self.regions_na) - set(self.region_names))
        if unknown:
            raise ReportDataError(f"{prefix}: regions set to n/a are not in the atlas: {unknown}")
        if self.kind == "spheres":
            self._check_spheres(n_regions)
        elif self.image is not None:
            self._check_image(n_regions)
        if self.surface is not None and self.kind == "spheres":
            raise ReportDataError(f"{prefix}: a spheres atlas cannot have a surface")

    def _check_spheres(self, n_regions: int) -> None:
        if self.sphere_coordinates_mm is None:
            raise ReportDataError(f"spheres atlas {self.name!r} needs sphere_coordinates_mm")
        coordinates = np.asarray(self.sphere_coordinates_mm, dtype=float)
        if coordinates.shape != (n_regions, 3):
            raise ReportDataError(
                f"spheres atlas {self.name!r}: sphere_coordinates_mm must have shape "
                f"({n_regions}, 3), got {coordinates.shape}"
            )
        self.sphere_coordinates_mm = coordinates
        if self.sphere_radius_mm is not None and self.sphere_radius_mm < 0:
            raise ReportDataError(
                f"spheres atlas {self.name!r}: radius must be >= 0 mm, got {self.sphere_radius_mm}"
            )

    def _check_image(self, n_regions: int) -> None:
        shape = tuple(self.image.shape)
        if self.kind == "labels" and len(shape) != 3:
            raise ReportDataError(
                f"labels atlas {self.name!r}: the image must be 3D, got shape {shape}"
            )
        if self.kind == "maps" and not (
            len(shape) == 3 or (len(shape) == 4 and shape[3] == n_regions)
        ):
            raise ReportDataError(
                f"maps atlas {self.name!r}: the image must be 4D with {n_regions} maps, or 3D "
                f"(the strongest map at each voxel, 1-based, 0 for none), got shape {shape}"
            )

    @property
    def n_regions(self) -> int:
        """Number of regions."""
        return len(self.region_names)

    @property
    def na_mask(self) -> np.ndarray:
        """Boolean vector, True for the regions set to n/a (atlas table order)."""
        na = set(self.regions_na)
        return np.array([region in na for region in self.region_names], dtype=bool)


@dataclass
class RunReport:
    """Everything the participant report shows about one BOLD run.

    Parameters
    ----------
    participant : str
        Participant label, without ``sub-``.
    session : str or None
        Session label, without ``ses-``.
    entities : Mapping[str, str]
        BIDS entities of the BOLD file with short keys (``task``, ``run``,
        ``space``, ...); ``sub`` and ``ses`` are taken from ``participant`` and
        ``session``; ``desc``, ``suffix``, ``extension`` and ``datatype`` are
        dropped (they name the file, not the run).
    bold_file, confounds_file, mask_file : str or None
        The input files used.
    space : str or None
        Template space of the BOLD series.
    repetition_time : float
        Repetition time in seconds.
    n_volumes : int
        Number of volumes in the BOLD series.
    fd : array-like of float or None
        Framewise displacement per volume, in mm (None without confounds).
    strategies : sequence of StrategyResult
    atlases : sequence of AtlasResult
    reference_image : nibabel image or None
        3D image drawn under the atlases (mean BOLD or brain mask).
    reference_description : str
        What ``reference_image`` is (e.g. "mean BOLD").
    raw_signals : Mapping[str, array]
        Region signals before cleaning, per atlas name: (n_volumes, n_regions).
    clean_signals : Mapping[tuple[str, str], array]
        Region signals after cleaning per (atlas, strategy): either one row per
        BOLD volume (removed volumes NaN) or one row per kept volume.
    connectivity : Mapping[tuple[str, str], array]
        Connectivity matrix per (atlas, strategy), (n_regions, n_regions).
    connectivity_measure : str
        E.g. "correlation".
    warnings : sequence of str
        Warnings raised while processing the run.
    software_version : str
    parameters : Mapping
        Run-level parameters (the command-line settings that applied).
    std_dvars : array-like of float or None
        Standardized DVARS per volume (unitless; fMRIPrep's ``std_dvars``, NaN
        for the first volume), None when not available.
    """

    participant: str
    session: str | None
    entities: Mapping[str, str]
    bold_file: str
    confounds_file: str | None
    mask_file: str | None
    space: str | None
    repetition_time: float
    n_volumes: int
    fd: Any
    strategies: Sequence[StrategyResult]
    atlases: Sequence[AtlasResult]
    reference_image: Any = None
    reference_description: str = "mean BOLD"
    raw_signals: Mapping[str, Any] = field(default_factory=dict)
    clean_signals: Mapping[tuple[str, str], Any] = field(default_factory=dict)
    connectivity: Mapping[tuple[str, str], Any] = field(default_factory=dict)
    connectivity_measure: str = "correlation"
    warnings: Sequence[str] = ()
    software_version: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict)
    std_dvars: Any = None

    def __post_init__(self) -> None:
        self.participant = _strip_prefix(self.participant, "sub")
        if not self.participant:
            raise ReportDataError("participant label must not be empty")
        self.session = _strip_prefix(self.session, "ses") if self.session else None
        where = f"run {self.bold_file!r}"
        if not (_is_real(self.repetition_time) and self.repetition_time > 0):
            raise ReportDataError(
                f"{where}: repetition_time must be a positive number of seconds, "
                f"got {self.repetition_time!r}"
            )
        self.repetition_time = float(self.repetition_time)
        if not (_is_real(self.n_volumes) and int(self.n_volumes) == self.n_volumes
                and self.n_volumes >= 1):
            raise ReportDataError(f"{where}: n_volumes must be a positive integer, got {self.n_volumes!r}")
        self.n_volumes = int(self.n_volumes)
        self.fd = _optional_vector(self.fd, self.n_volumes, f"{where}: fd", "volume")
        self.std_dvars = _optional_vector(self.std_dvars, self.n_volumes, f"{where}: std_dvars", "volume")
        self.entities = {
            str(key): str(value)
            for key, value in dict(self.entities).items()
            if key not in NON_IDENTIFYING_KEYS and value is not None
        }
        self.strategies = list(self.strategies)
        self.atlases = list(self.atlases)
        self._check_unique([s.name for s in self.strategies], "strategy", where)
        self._check_unique([a.name for a in self.atlases], "atlas", where)
        for strategy in self.strategies:
            for indices, what in (
                (strategy.kept_volumes, "kept_volumes"),
                (strategy.dummy_volumes, "dummy_volumes"),
                (strategy.motion_censored_volumes, "motion_censored_volumes"),
            ):
                if indices.size and indices[-1] >= self.n_volumes:
                    raise ReportDataError(
                        f"{where}: strategy {strategy.name!r} {what} go up to "
                        f"{int(indices[-1])} but the run has {self.n_volumes} volumes"
                    )
            strategy.filtered_fd = _optional_vector(strategy.filtered_fd, self.n_volumes,
                                                    f"{where}: strategy {strategy.name!r} filtered_fd", "volume")
        if self.reference_image is not None and len(self.reference_image.shape) != 3:
            raise ReportDataError(
                f"{where}: the reference image must be 3D, got shape {self.reference_image.shape}"
            )
        self.raw_signals = {
            name: self._checked_signals(name, None, signals)
            for name, signals in dict(self.raw_signals).items()
        }
        self.clean_signals = {
            tuple(key): self._checked_signals(key[0], key[1], signals)
            for key, signals in dict(self.clean_signals).items()
        }
        self.connectivity = {
            tuple(key): self._checked_matrix(key, matrix)
            for key, matrix in dict(self.connectivity).items()
        }
        self.warnings = [str(warning) for warning in self.warnings]
        self.parameters = dict(self.parameters)

    @staticmethod
    def _check_unique(names: list[str], what: str, where: str) -> None:
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ReportDataError(f"{where}: {what} names must be unique, got {duplicates} twice")

    def atlas(self, name: str) -> AtlasResult:
        """Return the atlas called ``name``."""
        for atlas in self.atlases:
            if atlas.name == name:
                return atlas
        raise ReportDataError(
            f"run {self.bold_file!r} has no atlas {name!r} (atlases: {[a.name for a in self.atlases]})"
        )

    def strategy(self, name: str) -> StrategyResult:
        """Return the strategy called ``name``."""
        for strategy in self.strategies:
            if strategy.name == name:
                return strategy
        raise ReportDataError(
            f"run {self.bold_file!r} has no strategy {name!r} "
            f"(strategies: {[s.name for s in self.strategies]})"
        )

    def _checked_signals(self, atlas_name: str, strategy_name: str | None, signals: Any) -> np.ndarray:
        atlas = self.atlas(atlas_name)
        array = np.asarray(signals, dtype=float)
        label = f"signals of atlas {atlas_name!r}" + (
            f" after strategy {strategy_name!r}" if strategy_name else " before cleaning"
        )
        where = f"run {self.bold_file!r}"
        if array.ndim != 2 or array.shape[1] != atlas.n_regions:
            raise ReportDataError(
                f"{where}: {label} must be (volumes, {atlas.n_regions} regions), got {array.shape}"
            )
        if strategy_name is None:
            if array.shape[0] != self.n_volumes:
                raise ReportDataError(
                    f"{where}: {label} must have {self.n_volumes} rows, got {array.shape[0]}"
                )
            return array
        strategy = self.strategy(strategy_name)
        if array.shape[0] == self.n_volumes:
            return array
        if array.shape[0] == strategy.n_kept:
            full = np.full((self.n_volumes, atlas.n_regions), np.nan)
            full[strategy.kept_volumes] = array
            return full
        raise ReportDataError(
            f"{where}: {label} must have {self.n_volumes} rows (all volumes) or "
            f"{strategy.n_kept} rows (kept volumes), got {array.shape[0]}"
        )

    def _checked_matrix(self, key: tuple[str, str], matrix: Any) -> np.ndarray:
        atlas = self.atlas(key[0])
        self.strategy(key[1])
        array = np.asarray(matrix, dtype=float)
        if array.shape != (atlas.n_regions, atlas.n_regions):
            raise ReportDataError(
                f"run {self.bold_file!r}: connectivity of atlas {key[0]!r} and strategy "
                f"{key[1]!r} must be {atlas.n_regions}×{atlas.n_regions}, got {array.shape}"
            )
        return array

    @property
    def all_entities(self) -> dict[str, str]:
        """BIDS entities in BIDS order, including ``sub`` and ``ses``."""
        entities = dict(self.entities)
        entities["sub"] = self.participant
        if self.session:
            entities["ses"] = self.session
        else:
            entities.pop("ses", None)
        ordered = {key: entities[key] for key in BIDS_ENTITY_ORDER if key in entities}
        ordered.update({key: value for key, value in entities.items() if key not in ordered})
        return ordered

    @property
    def run_label(self) -> str:
        """Human-readable run name, e.g. ``ses-1 task-rest run-2 space-MNI``."""
        return " ".join(
            f"{key}-{value}" for key, value in self.all_entities.items() if key != "sub"
        ) or f"sub-{self.participant}"

    @property
    def duration_s(self) -> float:
        """Length of the series in seconds."""
        return self.n_volumes * self.repetition_time

    def volume_reasons(self, strategy: StrategyResult) -> dict[int, list[str]]:
        """Why each volume a strategy removed was removed, by 0-based volume index.

        Reasons, in this order: ``"non-steady-state"`` (a dummy volume),
        ``"FD"`` (framewise displacement above the strategy's threshold; its
        motion-filtered FD when it has one), ``"DVARS"`` (standardized DVARS above its threshold) and, for a volume
        censored with neither above its threshold, ``"segment too short"``
        (kept volumes between censored ones fewer than the strategy's minimum
        segment length). FD and DVARS are only named when their per-volume
        values are known (``fd``, ``std_dvars``); a censored volume whose
        values are unknown is ``"motion (values not available)"``.
        """
        reasons: dict[int, list[str]] = {int(v): ["non-steady-state"] for v in strategy.dummy_volumes}
        fd = self.fd if strategy.filtered_fd is None else strategy.filtered_fd  # the FD that censored
        for volume in strategy.motion_censored_volumes:
            volume = int(volume)
            found = []
            for values, threshold, name in ((fd, strategy.fd_threshold, "FD"),
                                            (self.std_dvars, strategy.std_dvars_threshold, "DVARS")):
                if values is not None and threshold is not None and values[volume] > threshold:
                    found.append(name)
            known = all(values is not None for values, threshold in (
                (fd, strategy.fd_threshold), (self.std_dvars, strategy.std_dvars_threshold))
                if threshold is not None)
            if not found:
                found = ["segment too short" if known else "motion (values not available)"]
            reasons.setdefault(volume, []).extend(found)
        return dict(sorted(reasons.items()))

    @property
    def mean_fd(self) -> float | None:
        """Mean framewise displacement in mm over all volumes (NaN ignored)."""
        if self.fd is None or not np.any(np.isfinite(self.fd)):
            return None
        return float(np.nanmean(self.fd))


@dataclass
class FailedRun:
    """A run that could not be processed at all.

    Parameters
    ----------
    bold_file : str
        The BOLD file of the run.
    reason : str
        Why it failed (shown as text).
    """

    bold_file: str
    reason: str


@dataclass
class ParticipantReport:
    """All runs of one participant.

    Parameters
    ----------
    participant : str
        Participant label, without ``sub-``.
    runs : sequence of RunReport
    failed_runs : sequence of FailedRun
    software_version : str
    command_line : str
    warnings : sequence of str
        Participant-level warnings (not tied to one run).
    """

    participant: str
    runs: Sequence[RunReport]
    failed_runs: Sequence[FailedRun] = ()
    software_version: str = ""
    command_line: str = ""
    warnings: Sequence[str] = ()

    def __post_init__(self) -> None:
        self.participant = _strip_prefix(self.participant, "sub")
        if not self.participant:
            raise ReportDataError("participant label must not be empty")
        self.runs = list(self.runs)
        self.failed_runs = list(self.failed_runs)
        self.warnings = [str(warning) for warning in self.warnings]
        for run in self.runs:
            if run.participant != self.participant:
                raise ReportDataError(
                    f"run {run.bold_file!r} belongs to sub-{run.participant}, "
                    f"not sub-{self.participant}"
                )
        labels = [run.run_label for run in self.runs]
        duplicates = sorted({label for label in labels if labels.count(label) > 1})
        if duplicates:
            raise ReportDataError(
                f"sub-{self.participant}: two runs share the entities {duplicates}"
            )

    @property
    def strategy_names(self) -> list[str]:
        """Strategy names over all runs, in first-seen order."""
        return _first_seen(strategy.name for run in self.runs for strategy in run.strategies)

    @property
    def atlas_names(self) -> list[str]:
        """Atlas names over all runs, in first-seen order."""
        return _first_seen(atlas.name for run in self.runs for atlas in run.atlases)

    @property
    def sessions(self) -> list[str]:
        """Session labels over all runs, in first-seen order."""
        return _first_seen(run.session for run in self.runs if run.session)


@dataclass
class QCFCResult:
    """QC-FC of one (atlas, strategy) across runs or participants.

    QC-FC is, for each edge, the correlation across runs (or participants)
    between the edge's connectivity and the run's (participant's) mean
    framewise displacement.

    Parameters
    ----------
    atlas, strategy : str
    edge_correlations : array-like of float
        QC-FC of each edge (upper triangle, any fixed order).
    edge_distances_mm : array-like of float or None
        Euclidean distance between the two regions' centroids of each edge, mm.
    n_runs : int
        Number of runs the correlations were computed over.
    median_abs_qcfc : float or None
        Median of |QC-FC| over edges; computed when None (as every QC-FC
        number, by :func:`regionseries.core.qc.summarize_qcfc`).
    distance_dependence : float or None
        Spearman correlation between QC-FC and edge distance; computed when
        None and distances are given.
    unit : {"run", "participant"}
        The samples of the correlation: runs, or participants (each one's
        runs averaged).
    n_participants : int or None
        Number of participants the runs belong to (None: not known).
    """

    atlas: str
    strategy: str
    edge_correlations: Any
    edge_distances_mm: Any = None
    n_runs: int = 0
    median_abs_qcfc: float | None = None
    distance_dependence: float | None = None
    unit: str = "run"
    n_participants: int | None = None

    def __post_init__(self) -> None:
        self.edge_correlations = np.asarray(self.edge_correlations, dtype=float).ravel()
        where = f"QC-FC of atlas {self.atlas!r} and strategy {self.strategy!r}"
        if self.edge_distances_mm is not None:
            self.edge_distances_mm = np.asarray(self.edge_distances_mm, dtype=float).ravel()
            if self.edge_distances_mm.shape != self.edge_correlations.shape:
                raise ReportDataError(
                    f"{where}: {self.edge_distances_mm.size} distances for "
                    f"{self.edge_correlations.size} edges"
                )
        if self.median_abs_qcfc is None or self.distance_dependence is None:
            summary = summarize_qcfc(self.edge_correlations, self.edge_distances_mm)
            if self.median_abs_qcfc is None:
                self.median_abs_qcfc = summary.median_abs_qcfc
            if self.distance_dependence is None and self.edge_distances_mm is not None:
                self.distance_dependence = summary.distance_dependence


@dataclass
class MeanConnectome:
    """The group-average connectivity matrix of one (atlas, strategy).

    Parameters
    ----------
    atlas, strategy : str
    region_names : sequence of str
        K names, in the matrix's order.
    matrix : array-like (K, K)
        E.g. the inverse Fisher transform of the mean Fisher z over runs.
    n_runs : int
        Number of runs averaged.
    measure : str
        What the values are (colour bar label).
    """

    atlas: str
    strategy: str
    region_names: Sequence[str]
    matrix: Any
    n_runs: int = 0
    measure: str = "correlation"

    def __post_init__(self) -> None:
        self.region_names = [str(name) for name in self.region_names]
        self.matrix = np.asarray(self.matrix, dtype=float)
        n_regions = len(self.region_names)
        if self.matrix.shape != (n_regions, n_regions):
            raise ReportDataError(
                f"mean connectome of atlas {self.atlas!r} and strategy {self.strategy!r}: a "
                f"{'×'.join(map(str, self.matrix.shape))} matrix for {n_regions} region names"
            )


@dataclass
class GroupReport:
    """What the group report shows.

    Parameters
    ----------
    qc_table : pandas.DataFrame
        One row per run (and strategy, and atlas if it matters); the columns of
        :data:`QC_TABLE_COLUMNS` are used for the summaries when present. The
        page lists every row up to :data:`~.group_page.QC_TABLE_MAX_ROWS`
        rows; a longer table is summarised (counts per strategy and atlas,
        the excluded runs, links to ``qc_table_files``), and of it only the
        columns ``sub``, ``atlas``, ``strategy``, ``excluded``, ``mean_fd_mm``,
        ``dof_lost`` and ``n_runs_concatenated`` are used: the group level
        gives only these then (``QCTables.REPORT_COLUMNS``).
    qcfc : sequence of QCFCResult
    excluded_fraction : Mapping[str, float] or None
        Fraction of runs excluded per strategy; computed from ``qc_table`` when
        None (needs its ``strategy`` and ``excluded`` columns).
    exclusion_criteria : sequence of str
        The documented criteria used to exclude runs.
    software_version, command_line : str
    warnings : sequence of str
    parameters : Mapping
    mean_connectomes : sequence of MeanConnectome
        The group-average matrices, one per (atlas, strategy).
    max_mean_fd_mm : float or None
        The exclusion threshold on a run's mean framewise displacement, mm
        (drawn on the distribution of the ``qc_table``'s mean FD).
    excluded_rows : pandas.DataFrame or None
        The excluded rows of the QC table with all their columns, for the list
        of excluded runs; ``qc_table``'s excluded rows when None.
    qc_table_files : sequence of str
        The QC tables as files (paths relative to the report), linked from the page.
    """

    qc_table: pd.DataFrame
    qcfc: Sequence[QCFCResult] = ()
    excluded_fraction: Mapping[str, float] | None = None
    exclusion_criteria: Sequence[str] = ()
    software_version: str = ""
    command_line: str = ""
    warnings: Sequence[str] = ()
    parameters: Mapping[str, Any] = field(default_factory=dict)
    mean_connectomes: Sequence[MeanConnectome] = ()
    max_mean_fd_mm: float | None = None
    excluded_rows: pd.DataFrame | None = None
    qc_table_files: Sequence[str] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.qc_table, pd.DataFrame):
            raise ReportDataError(
                f"qc_table must be a pandas DataFrame, got {type(self.qc_table).__name__}"
            )
        if self.excluded_rows is not None and not isinstance(self.excluded_rows, pd.DataFrame):
            raise ReportDataError(
                f"excluded_rows must be a pandas DataFrame or None, got {type(self.excluded_rows).__name__}"
            )
        self.qc_table_files = [str(path) for path in self.qc_table_files]
        self.qcfc = list(self.qcfc)
        keys = [(result.atlas, result.strategy) for result in self.qcfc]
        duplicates = sorted({key for key in keys if keys.count(key) > 1})
        if duplicates:
            raise ReportDataError(f"QC-FC given twice for (atlas, strategy) {duplicates}")
        if self.excluded_fraction is None:
            self.excluded_fraction = self._excluded_fraction_from_table()
        self.excluded_fraction = {
            str(name): float(fraction) for name, fraction in self.excluded_fraction.items()
        }
        for name, fraction in self.excluded_fraction.items():
            if not 0 <= fraction <= 1:
                raise ReportDataError(
                    f"excluded fraction of strategy {name!r} must be in [0, 1], got {fraction}"
                )
        self.exclusion_criteria = [str(text) for text in self.exclusion_criteria]
        self.warnings = [str(text) for text in self.warnings]
        self.parameters = dict(self.parameters)
        self.mean_connectomes = list(self.mean_connectomes)

    def _excluded_fraction_from_table(self) -> dict[str, float]:
        strategy_column = QC_TABLE_COLUMNS["strategy"]
        excluded_column = QC_TABLE_COLUMNS["excluded"]
        table = self.qc_table
        if strategy_column not in table or excluded_column not in table or table.empty:
            return {}
        excluded = table[excluded_column].astype(bool)
        return {
            str(name): float(values.mean())
            for name, values in excluded.groupby(table[strategy_column], sort=False)
        }

    @property
    def atlas_names(self) -> list[str]:
        """Atlas names with QC-FC results, in first-seen order."""
        return _first_seen(result.atlas for result in self.qcfc)

    @property
    def strategy_names(self) -> list[str]:
        """Strategy names in first-seen order (QC-FC, then exclusions)."""
        return _first_seen(
            [result.strategy for result in self.qcfc] + list(self.excluded_fraction)
        )


def _is_real(value: Any) -> bool:
    """A real number (numpy scalars included), not a boolean."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _strip_prefix(label: str | None, prefix: str) -> str:
    """Return a BIDS label without its ``<prefix>-`` (``sub-01`` → ``01``)."""
    text = str(label)
    return text[len(prefix) + 1 :] if text.startswith(f"{prefix}-") else text


def _first_seen(values: Any) -> list:
    """Unique values in first-seen order."""
    return list(dict.fromkeys(values))
