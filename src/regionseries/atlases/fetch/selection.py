"""Which atlas images to fetch: TemplateFlow file names parsed and selected, and the label tables they need.

Volumetric atlases are ``tpl-<T>_res-<RR>_atlas-<A>[_desc-<D>]_<dseg|probseg>.nii.gz``;
surface atlases (tpl-fsaverage, tpl-fsLR) are ``*_dseg.label.gii`` per hemisphere or
``*_dseg.dlabel.nii``, with ``hemi-``, ``den-``, ``seg-`` and ``scale-`` entities in
TemplateFlow's varying order (``tpl-fsaverage_hemi-L_den-10k_atlas-Yeo2011_seg-7n_dseg.label.gii``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .errors import SelectionError

#: Output spaces of fMRIPrep that regionseries supports with TemplateFlow atlases.
DEFAULT_TEMPLATES = ("MNI152NLin2009cAsym", "MNI152NLin6Asym")

#: Schaefer2018 (100-1000 parcels x 7/17 networks), DiFuMo (64-1024 dimensions),
#: Harvard-Oxford cortical (HOCPA), cortical lateralised (HOCPAL), subcortical (HOSPA).
DEFAULT_ATLASES = ("Schaefer2018", "DiFuMo", "HOCPA", "HOCPAL", "HOSPA")

#: TemplateFlow resolution indices to fetch; ``None`` = every index an atlas has
#: (1 and 2 mm; DiFuMo 2 and 3 mm in MNI152NLin2009cAsym, 2 mm in MNI152NLin6Asym).
#: All of them, because regionseries picks the index whose voxel size is closest
#: to the BOLD's, and a missing one cannot be downloaded on an offline node.
DEFAULT_RESOLUTIONS = None


_ATLAS_IMAGE = re.compile(
    r"^tpl-(?P<template>[A-Za-z0-9]+)/tpl-(?P=template)"
    r"_res-(?P<resolution>[0-9]+)"
    r"_atlas-(?P<atlas>[A-Za-z0-9]+)"
    r"(?:_desc-(?P<desc>[A-Za-z0-9]+))?"
    r"_(?P<suffix>dseg|probseg)\.nii\.gz$"
)


_SURFACE_ATLAS_IMAGE = re.compile(
    r"^tpl-(?P<template>[A-Za-z0-9]+)/tpl-(?P=template)"
    r"(?P<entities>(?:_[a-z]+-[A-Za-z0-9]+)+)"
    r"_dseg(?P<extension>\.label\.gii|\.dlabel\.nii)$"
)
_SURFACE_ENTITIES = ("hemi", "den", "atlas", "seg", "scale", "desc")


@dataclass(frozen=True, order=True)
class AtlasImage:
    """One atlas image of TemplateFlow, named by its path in a TemplateFlow home.

    Attributes
    ----------
    relpath : str
        POSIX path relative to the TemplateFlow home, also the path on the server.
    template, atlas, desc, suffix : str
        The file's entities (``desc`` is ``None`` when the name has none).
    resolution : int
        TemplateFlow resolution index (``res-02`` -> 2); an index, not millimetres.
        0 for a surface atlas.
    density, hemi, seg, scale : str or None
        The ``den-``, ``hemi-``, ``seg-`` and ``scale-`` of a surface atlas
        (``density`` is None for a volumetric image).
    """

    relpath: str
    template: str = field(compare=False)
    resolution: int = field(compare=False)
    atlas: str = field(compare=False)
    desc: str | None = field(compare=False)
    suffix: str = field(compare=False)
    density: str | None = field(default=None, compare=False)
    hemi: str | None = field(default=None, compare=False)
    seg: str | None = field(default=None, compare=False)
    scale: str | None = field(default=None, compare=False)

    @property
    def is_surface(self) -> bool:
        return self.density is not None


def parse_atlas_image(relpath: str) -> AtlasImage | None:
    """Parse a TemplateFlow volumetric atlas image path.

    Parameters
    ----------
    relpath : str
        POSIX path relative to a TemplateFlow home, e.g.
        ``tpl-MNI152NLin6Asym/tpl-MNI152NLin6Asym_res-02_atlas-HOSPA_desc-th25_dseg.nii.gz``.

    Returns
    -------
    AtlasImage or None
        ``None`` if the path is not a ``res-``/``atlas-`` ``dseg``/``probseg`` image.
    """
    match = _ATLAS_IMAGE.match(relpath)
    if match is None:
        return _parse_surface_atlas(relpath)
    return AtlasImage(
        relpath=relpath,
        template=match["template"],
        resolution=int(match["resolution"]),
        atlas=match["atlas"],
        desc=match["desc"],
        suffix=match["suffix"],
    )


def _parse_surface_atlas(relpath: str) -> AtlasImage | None:
    """A TemplateFlow surface atlas (``dseg.label.gii``/``dseg.dlabel.nii`` with ``den-``), else None."""
    match = _SURFACE_ATLAS_IMAGE.match(relpath)
    if match is None:
        return None
    entities = dict(part.split("-", 1) for part in match["entities"].lstrip("_").split("_"))
    if set(entities) - set(_SURFACE_ENTITIES) or "atlas" not in entities or "den" not in entities:
        return None
    return AtlasImage(relpath=relpath, template=match["template"], resolution=0, atlas=entities["atlas"],
                      desc=entities.get("desc"), suffix="dseg", density=entities["den"], hemi=entities.get("hemi"),
                      seg=entities.get("seg"), scale=entities.get("scale"))


def select_atlas_images(
    available_paths: Iterable[str],
    templates: Sequence[str] = DEFAULT_TEMPLATES,
    atlases: Sequence[str] = DEFAULT_ATLASES,
    resolutions: Sequence[int] | None = DEFAULT_RESOLUTIONS,
    descs: Sequence[str] | None = None,
    densities: Sequence[str] | None = None,
    segs: Sequence[str] | None = None,
    scales: Sequence[str] | None = None,
) -> list[AtlasImage]:
    """Select atlas images by template, atlas, resolution index (or surface density) and variant.

    Parameters
    ----------
    available_paths : iterable of str
        Paths relative to a TemplateFlow home (the skeleton's file list).
    templates, atlases : sequence of str
        TemplateFlow template and atlas identifiers (case-sensitive).
    resolutions : sequence of int, optional
        TemplateFlow resolution indices (all if None); a combination without an
        image (DiFuMo has no ``res-01``) is not an error as long as the atlas has
        an image at one of the requested resolutions.
    descs : sequence of str, optional
        Keep only these ``desc-`` values (e.g. ``400Parcels7Networks``); all if None.
    densities : sequence of str, optional
        Surface atlases: keep only these ``den-`` values (``10k`` for fsaverage5,
        ``32k``/``91k`` for fsLR); all if None. Resolutions apply to volumes only.
    segs, scales : sequence of str, optional
        Keep only these ``seg-``/``scale-`` values (``7n``, ``400``); all if None.

    Returns
    -------
    list of AtlasImage
        Sorted by path.

    Raises
    ------
    SelectionError
        If a template has no file at all, an atlas has no image in the requested
        templates and resolutions, or a requested ``desc`` matches nothing.
    """
    available_paths = list(available_paths)
    images = [image for image in map(parse_atlas_image, available_paths) if image is not None]
    known_templates = sorted({path.split("/", 1)[0].removeprefix("tpl-") for path in available_paths})
    for template in templates:
        if template not in known_templates:
            raise SelectionError(
                f"TemplateFlow has no template {template!r}; known templates: {', '.join(known_templates)}"
            )
    in_templates = [image for image in images if image.template in templates]
    selected: list[AtlasImage] = []
    for atlas in atlases:
        of_atlas = [image for image in in_templates if image.atlas == atlas]
        if not of_atlas:
            known = sorted({image.atlas for image in in_templates})
            raise SelectionError(
                f"TemplateFlow has no atlas {atlas!r} in {', '.join(templates)}; "
                f"atlases there: {', '.join(known)}"
            )
        at_resolution = [image for image in of_atlas if image.is_surface or resolutions is None
                         or image.resolution in resolutions]
        at_resolution = [image for image in at_resolution if not image.is_surface or densities is None
                         or image.density in densities]
        if not at_resolution:
            if all(image.is_surface for image in of_atlas):
                known = sorted({str(image.density) for image in of_atlas})
                raise SelectionError(
                    f"atlas {atlas!r} has no file at density {', '.join(densities or ())} in "
                    f"{', '.join(templates)}; it has den-{', den-'.join(known)}"
                )
            known = sorted({image.resolution for image in of_atlas if not image.is_surface})
            raise SelectionError(
                f"atlas {atlas!r} has no image at resolution index "
                f"{', '.join(map(str, resolutions or ()))} in {', '.join(templates)}; "
                f"it has resolution index {', '.join(map(str, known))}"
            )
        selected.extend(at_resolution)
    for entity, wanted in (("seg", segs), ("scale", scales)):
        if wanted is not None:
            unmatched = sorted(set(wanted) - {getattr(image, entity) for image in selected})
            if unmatched:
                raise SelectionError(
                    f"no selected atlas image has {entity} {', '.join(map(repr, unmatched))}; {entity}s of the "
                    f"selected atlases: {', '.join(sorted({str(getattr(i, entity)) for i in selected}))}"
                )
            selected = [image for image in selected if getattr(image, entity) in wanted]
    if descs is not None:
        unmatched = sorted(set(descs) - {image.desc for image in selected})
        if unmatched:
            raise SelectionError(
                f"no selected atlas image has desc {', '.join(map(repr, unmatched))}; "
                f"descs of the selected atlases: {', '.join(sorted({str(i.desc) for i in selected}))}"
            )
        selected = [image for image in selected if image.desc in descs]
    return sorted(set(selected))


def selection_metadata_paths(available_paths: Iterable[str], selected: Sequence[AtlasImage]) -> list[str]:
    """The skeleton's non-image files the selection needs at run time.

    Parameters
    ----------
    available_paths : iterable of str
        Paths relative to a TemplateFlow home (the skeleton's file list).
    selected : sequence of AtlasImage
        The selected images.

    Returns
    -------
    list of str
        ``template_description.json`` of each selected template (voxel sizes of the
        resolution indices) and the label tables and sidecars (``.tsv``/``.json``)
        of the selected atlases in those templates (with the selected ``desc``, or
        without any), sorted.
    """
    templates = {image.template for image in selected}
    atlas_descs = {(image.atlas, image.desc) for image in selected}
    atlases = {image.atlas for image in selected}
    needed = []
    for relpath in available_paths:
        folder, _, name = relpath.partition("/")
        if folder.removeprefix("tpl-") not in templates or "/" in name or not name.endswith((".tsv", ".json")):
            continue
        atlas = re.search(r"_atlas-([A-Za-z0-9]+)_", name)
        desc = re.search(r"_desc-([A-Za-z0-9]+)_", name)
        if name == "template_description.json":
            needed.append(relpath)
        elif atlas is not None and atlas[1] in atlases and (desc is None or (atlas[1], desc[1]) in atlas_descs):
            needed.append(relpath)
    return sorted(needed)
