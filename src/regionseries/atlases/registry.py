"""Turn the command line's atlas options into :class:`~regionseries.atlases.base.Atlas` objects.

:class:`AtlasRegistry` parses every ``--atlas``, ``--atlas-file``,
``--spheres`` and ``--regions-from`` up front (so a typo fails before any work
starts), checks that output labels are unique, and resolves atlases for each
template space and BOLD voxel size met in the runs (TemplateFlow atlases
depend on both; the others are resolved once). :func:`export_atlas` writes
each atlas as used into ``OUTPUT_DIR/atlases/``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..bids.names import BIDSName
from ..bids.outputs import atomic_copy_file, atomic_write_json, atomic_write_tsv
from .base import Atlas, AtlasError, AtlasUnavailable
from .files import FileRequest, resolve_file_atlas
from .from_statmap import StatmapRequest, resolve_statmap_atlas
from .spheres import SpheresRequest, resolve_spheres
from .templateflow import (
    TemplateFlowRequest,
    has_surface_atlas,
    resolve_templateflow_atlas,
    resolve_templateflow_surface_atlas,
    surface_atlas_variants,
)


@dataclass
class AtlasOptions:
    """Settings shared by atlas sources.

    Attributes
    ----------
    radius : float
        Sphere radius, mm.
    threshold : float or str or None
        ``--threshold`` for ``--regions-from`` (value or ``"p%"``).
    min_region_size : float
        ``--min-region-size``, mm³.
    extract_type : str
        ``--extract-type``.
    """

    radius: float = 5.0
    threshold: float | str | None = None
    min_region_size: float = 1350.0
    extract_type: str = "local_regions"


def parse_threshold(text: str | float | None) -> float | str | None:
    """``--threshold``: a number, or a percentile string like ``"97%"``."""
    if text is None or isinstance(text, (int, float)):
        return text
    text = str(text).strip()
    if text.endswith("%"):
        try:
            value = float(text[:-1])
        except ValueError:
            raise AtlasError(f"--threshold {text}: a percentile must be a number followed by %, e.g. 97%") from None
        if not 0 <= value <= 100:
            raise AtlasError(f"--threshold {text}: a percentile must be between 0% and 100%")
        return text
    try:
        return float(text)
    except ValueError:
        raise AtlasError(f"--threshold {text}: expected a number or a percentile such as 97%") from None


@dataclass
class AtlasRegistry:
    """Parsed atlas requests and the atlases resolved from them."""

    requests: list[Any]
    options: AtlasOptions
    work_dir: Path
    shared_cache_dir: Path | None = None
    _fixed: dict[Any, Atlas] = field(default_factory=dict)  # label, or (label, participant)
    _by_space: dict[tuple[str, str, float], Atlas] = field(default_factory=dict)

    @classmethod
    def from_specs(cls, *, atlas: Sequence[str] = (), atlas_file: Sequence[str] = (),
                   spheres: Sequence[str] = (), regions_from: Sequence[str] = (),
                   options: AtlasOptions | None = None, work_dir: Path = Path("."),
                   shared_cache_dir: Path | None = None) -> "AtlasRegistry":
        """Parse every specification; fail early with the offending option named.

        Raises
        ------
        AtlasError
            A malformed specification, a missing file, two atlases with the
            same output label, no atlas at all, or ``--regions-from`` without
            ``--threshold``.
        """
        options = options or AtlasOptions()
        requests: list[Any] = [TemplateFlowRequest.parse(s) for s in atlas]
        requests += [FileRequest.parse(s) for s in atlas_file]
        requests += [SpheresRequest.parse(s) for s in spheres]
        requests += [StatmapRequest.parse(s) for s in regions_from]
        if not requests:
            raise AtlasError(
                "no atlas given: use --atlas (TemplateFlow), --atlas-file, --spheres or --regions-from"
            )
        if regions_from and options.threshold is None:
            raise AtlasError("--regions-from needs --threshold (a value, or a percentile such as 97%)")
        seen: dict[str, str] = {}
        for request in requests:
            label = request.label
            if label.lower() in seen:
                raise AtlasError(
                    f"two atlases would write the same outputs atlas-{label}: {seen[label.lower()]!r} and "
                    f"{request.spec!r}; give one of them another NAME (e.g. --atlas OtherName={request.spec})"
                )
            seen[label.lower()] = request.spec
        return cls(requests=requests, options=options, work_dir=Path(work_dir), shared_cache_dir=shared_cache_dir)

    @property
    def cache_dir(self) -> Path:
        """Cache of what resolving an atlas computes (the centres of maps): in the study's
        cache folder (``--cache-dir``) if there is one, else in the work folder."""
        return (self.shared_cache_dir or self.work_dir) / "atlas-cache"

    @property
    def labels(self) -> list[str]:
        """Output labels (``atlas-<label>``): TemplateFlow atlases, files, spheres, then stat maps."""
        return [r.label for r in self.requests]

    def resolve(self, space: str, voxel_size: float) -> list[Atlas]:
        """The atlases for runs in ``space`` with ``voxel_size`` mm voxels.

        Raises
        ------
        AtlasError, AtlasUnavailable
            From the atlas sources (messages name the atlas and the file).
        """
        atlases = []
        unavailable: list[AtlasUnavailable] = []
        for request in self.requests:
            if isinstance(request, FileRequest) and request.surface is not None:
                continue  # for surface runs (resolve_surface)
            if isinstance(request, TemplateFlowRequest):
                key = (request.label, space, round(float(voxel_size), 3))
                if key not in self._by_space:
                    try:
                        self._by_space[key] = resolve_templateflow_atlas(request, space, voxel_size,
                                                                         cache_dir=self.cache_dir)
                    except AtlasUnavailable as exc:  # name every missing file, not just the first
                        unavailable.append(exc)
                        continue
                atlases.append(self._by_space[key])
                continue
            if request.label not in self._fixed:
                self._fixed[request.label] = self._resolve_fixed(request)
            atlas = self._fixed[request.label]
            _check_coordinate_space(atlas, space)
            atlases.append(atlas)
        if len(unavailable) == 1:
            raise unavailable[0]
        if unavailable:
            raise AtlasUnavailable(f"{len(unavailable)} atlases are not available here:\n\n"
                                   + "\n\n".join(str(exc) for exc in unavailable))
        return atlases

    @property
    def per_subject(self) -> bool:
        """An ``--atlas-file`` names ``{subject}``: surface atlases differ per participant."""
        return any(isinstance(request, FileRequest) and request.per_subject for request in self.requests)

    def resolve_surface(self, surface: str, space: str = "", density: str | None = None,
                        subject: str | None = None) -> list[Atlas]:
        """The surface atlases for runs of one kind, space and density (and participant).

        Parameters
        ----------
        surface : {"cifti", "gifti"}
            CIFTI grayordinate runs take ``dlabel.nii`` and ``dscalar.nii``
            (maps) atlases, GIFTI pairs ``label.gii``/``.annot`` pairs and
            ``func.gii``/``shape.gii`` pairs of maps.
        space, density : str
            The runs' ``space-`` and ``den-``: a TemplateFlow ``--atlas`` applies
            to them when their template has that atlas and variant (at any
            density: then it must have the runs' density); one it does not
            have is for the volumetric runs only.
        subject : str or None
            The participant (label without ``sub-``) whose files replace
            ``{subject}`` in per-participant atlases (:attr:`per_subject`).

        Raises
        ------
        AtlasError, AtlasUnavailable
            An unreadable atlas file, a TemplateFlow atlas missing at the runs'
            density or not downloaded, no atlas of that kind was given, or the
            participant lacks a file of a per-participant atlas.
        """
        atlases = []
        unavailable: list[AtlasUnavailable] = []
        variants: list[str] = []  # of the TemplateFlow atlases whose variant asked for is not on the surface
        for request in self.requests:
            if isinstance(request, FileRequest) and request.surface == surface:
                key = (request.label, subject) if request.per_subject else request.label
                if key not in self._fixed:
                    if request.per_subject:
                        if subject is None:
                            raise AtlasError(f"--atlas-file {request.spec}: {{subject}} needs the participant")
                        atlas = self._resolve_fixed(request.for_subject(subject))
                        atlas.source["Subject"] = subject
                        self._fixed[key] = atlas
                    else:
                        self._fixed[key] = self._resolve_fixed(request)
                atlases.append(self._fixed[key])
            elif isinstance(request, TemplateFlowRequest) and not has_surface_atlas(request, surface, space, density):
                variants += surface_atlas_variants(request, surface, space, density)
            elif isinstance(request, TemplateFlowRequest):
                key = (request.label, f"{surface}:{space}", density or "")
                if key not in self._by_space:
                    try:
                        self._by_space[key] = resolve_templateflow_surface_atlas(request, surface, space, density)
                    except AtlasUnavailable as exc:
                        unavailable.append(exc)
                        continue
                atlases.append(self._by_space[key])
        if len(unavailable) == 1:
            raise unavailable[0]
        if unavailable:
            raise AtlasUnavailable(f"{len(unavailable)} atlases are not available here:\n\n"
                                   + "\n\n".join(str(exc) for exc in unavailable))
        if not atlases:
            example = "NAME=atlas.dlabel.nii" if surface == "cifti" else "NAME=lh.label.gii,rh.label.gii"
            maps_example = "NAME=maps.dscalar.nii" if surface == "cifti" else "NAME=lh.func.gii,rh.func.gii"
            runs = "CIFTI (.dtseries.nii)" if surface == "cifti" else "GIFTI (.func.gii)"
            raise AtlasError(f"{runs} runs were selected but no atlas applies to them: give a surface atlas "
                             f"with --atlas-file {example} (or maps: {maps_example}), or a TemplateFlow atlas of "
                             "their template with --atlas (volumetric atlases and spheres apply to NIfTI runs only)"
                             + (f"; the surface variants of the TemplateFlow atlases asked for: {', '.join(variants)}"
                                if variants else ""))
        return atlases

    def _resolve_fixed(self, request: Any) -> Atlas:
        if isinstance(request, FileRequest):
            return resolve_file_atlas(request, cache_dir=self.cache_dir)
        if isinstance(request, SpheresRequest):
            return resolve_spheres(request, self.options.radius)
        if isinstance(request, StatmapRequest):
            return resolve_statmap_atlas(
                request, self.options.threshold, self.work_dir,
                min_region_size=self.options.min_region_size, extract_type=self.options.extract_type,
            )
        raise AtlasError(f"unknown atlas request {request!r}")


def _check_coordinate_space(atlas: Atlas, space: str) -> None:
    """Built-in sphere sets are MNI coordinates: refuse runs in a non-MNI space."""
    coordinate_space = atlas.source.get("CoordinateSpace")
    if coordinate_space == "MNI" and not space.startswith("MNI"):
        raise AtlasError(
            f"--spheres {atlas.spec}: the built-in coordinates are in MNI space, but runs are in space "
            f"{space!r}; process an MNI output space of fMRIPrep (--space) or give coordinates of this space "
            "as NAME=COORDS.tsv"
        )


# --------------------------------------------------------------------------------------
# atlases/ in the output dataset
# --------------------------------------------------------------------------------------

def atlas_file_names(atlas: Atlas) -> dict[str, BIDSName]:
    """BIDS names of an atlas's files under ``atlases/``.

    Template-space atlases carry ``tpl-<template>`` (and ``res-`` for
    TemplateFlow resolutions); user files carry only ``atlas-<name>``.
    """
    subject = atlas.source.get("Subject")  # a participant's own atlas (fsnative): sub-<label> first
    entities = {"sub": subject, "tpl": atlas.space, "atlas": atlas.name}
    resolution = atlas.source.get("Resolution") if atlas.space else None
    image_entities = dict(entities, res=resolution, den=atlas.source.get("Density") if atlas.space else None)
    names: dict[str, BIDSName] = {
        "table": BIDSName.create(atlas.suffix, ".tsv", None, **entities),
        "sidecar": BIDSName.create(atlas.suffix, ".json", None, **image_entities),
    }
    if atlas.surface == "cifti":
        extension = ".dscalar.nii" if atlas.kind == "maps" else ".dlabel.nii"
        names["image"] = BIDSName.create(atlas.suffix, extension, None, **image_entities)
    elif atlas.surface == "gifti":
        for hemi, path in zip(("L", "R"), atlas.surface_files):
            extension = next(ending for ending in (".annot", ".label.gii", ".shape.gii", ".func.gii")
                             if path.name.lower().endswith(ending))
            names[f"image_{hemi}"] = BIDSName.create(atlas.suffix, extension, None, sub=subject, hemi=hemi,
                                                     **{k: v for k, v in image_entities.items() if k != "sub"})
    elif atlas.image is not None:
        extension = ".nii.gz" if str(atlas.image).endswith(".gz") else ".nii"
        names["image"] = BIDSName.create(atlas.suffix, extension, None, **image_entities)
    return names


def export_atlas(atlas: Atlas, output_dir: Path) -> dict[str, str]:
    """Write an atlas as used into ``output_dir/atlases/`` (atomically).

    Returns
    -------
    dict
        Paths relative to ``output_dir`` of ``image`` (labels/maps),
        ``table`` (regions with centroids) and ``sidecar``.
    """
    folder = Path(output_dir) / "atlases"
    names = atlas_file_names(atlas)
    written: dict[str, str] = {}
    images = {"image": atlas.image, "image_L": atlas.surface_files[:1], "image_R": atlas.surface_files[1:]}
    for key in ("image", "image_L", "image_R"):
        if key in names:
            source = images[key][0] if isinstance(images[key], tuple) else images[key]
            atomic_copy_file(source, folder / names[key].filename)
            written[key] = f"atlases/{names[key].filename}"
    atomic_write_tsv(folder / names["table"].filename, atlas.table)
    written["table"] = f"atlases/{names['table'].filename}"
    sidecar: dict[str, Any] = {
        "Name": atlas.name,
        "Kind": atlas.kind,
        "Specification": atlas.spec,
        "NumberOfRegions": atlas.n_regions,
        "Space": atlas.space or "same as the BOLD runs (not declared)",
        "Source": atlas.source,
    }
    if atlas.source.get("Resolution"):
        sidecar["Resolution"] = f"TemplateFlow resolution index {atlas.source['Resolution']}"
    if atlas.kind == "spheres":
        sidecar["RadiusMillimetres"] = atlas.radius
    if atlas.warnings:
        sidecar["Warnings"] = list(atlas.warnings)
    atomic_write_json(folder / names["sidecar"].filename, sidecar)
    written["sidecar"] = f"atlases/{names['sidecar'].filename}"
    return written
