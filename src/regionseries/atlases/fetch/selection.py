"""Which atlas images to fetch: TemplateFlow file names parsed and selected, and the label tables they need."""

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
    """

    relpath: str
    template: str = field(compare=False)
    resolution: int = field(compare=False)
    atlas: str = field(compare=False)
    desc: str | None = field(compare=False)
    suffix: str = field(compare=False)


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
        return None
    return AtlasImage(
        relpath=relpath,
        template=match["template"],
        resolution=int(match["resolution"]),
        atlas=match["atlas"],
        desc=match["desc"],
        suffix=match["suffix"],
    )


def select_atlas_images(
    available_paths: Iterable[str],
    templates: Sequence[str] = DEFAULT_TEMPLATES,
    atlases: Sequence[str] = DEFAULT_ATLASES,
    resolutions: Sequence[int] | None = DEFAULT_RESOLUTIONS,
    descs: Sequence[str] | None = None,
) -> list[AtlasImage]:
    """Select atlas images by template, atlas, resolution index and ``desc``.

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
        at_resolution = [image for image in of_atlas if resolutions is None or image.resolution in resolutions]
        if not at_resolution:
            known = sorted({image.resolution for image in of_atlas})
            raise SelectionError(
                f"atlas {atlas!r} has no image at resolution index "
                f"{', '.join(map(str, resolutions))} in {', '.join(templates)}; "
                f"it has resolution index {', '.join(map(str, known))}"
            )
        selected.extend(at_resolution)
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
