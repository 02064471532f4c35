"""Atlases from TemplateFlow (``--atlas NAME[:desc-DESC][:res-RR]``).

Files are looked up directly in the TemplateFlow home, which is
``$TEMPLATEFLOW_HOME`` (or TemplateFlow's default, the user cache folder)
as read from the environment of this process:

``tpl-<T>/tpl-<T>_res-<RR>_atlas-<A>[_desc-<D>]_<dseg|probseg>.nii.gz``

A file present with content is used without touching the network (and
without importing the ``templateflow`` package, whose first query costs
seconds of indexing). Only a zero-byte skeleton placeholder triggers a
download through the TemplateFlow client; if that fails (an offline compute
node), :class:`~regionseries.atlases.base.AtlasUnavailable` names the exact
file and gives the command that pre-fetches it, instead of a network
traceback.

The template is the BOLD run's ``space-``; the resolution is the one whose
voxel size is closest to the BOLD's (TemplateFlow's ``res-`` is an index, not
millimetres: MNI152NLin6Asym ``res-03`` is 0.5 mm), unless given explicitly.
The atlas is always resampled to each BOLD grid afterwards.

Label tables are found next to the images (resolution-independent name, or
with ``res-``, or the atlas-level table without ``desc-``, or the same atlas
in another template — e.g. Harvard-Oxford in MNI152NLin2009cAsym has no table)
and are always checked against the image values.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from ..bids.names import is_bids_label
from ..suggest import did_you_mean
from .base import (
    Atlas,
    AtlasError,
    AtlasUnavailable,
    labels_atlas_from_image,
    maps_atlas_from_image,
    read_label_table,
)

LOGGER = logging.getLogger("regionseries")

#: Entities accepted after the atlas name in ``--atlas``.
SPEC_ENTITIES = ("desc", "res", "seg", "scale", "cohort", "suffix")

_SUFFIX_KIND = {"dseg": "labels", "probseg": "maps"}


def templateflow_home() -> Path:
    """The TemplateFlow home this process uses (as the TemplateFlow client computes it)."""
    home = os.environ.get("TEMPLATEFLOW_HOME")
    if home:
        return Path(home).absolute()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("templateflow")).absolute()


@dataclass(frozen=True)
class TemplateFlowRequest:
    """A parsed ``--atlas [LABEL=]NAME[:key-value...]`` specification.

    Attributes
    ----------
    spec : str
        The text as typed.
    atlas : str
        TemplateFlow atlas name (``Schaefer2018``).
    entities : dict
        ``desc``, ``res``, ``seg``, ``scale``, ``cohort``, ``suffix`` given.
    label : str
        BIDS label of the outputs (``atlas-<label>``): the explicit ``LABEL=``
        or the atlas name followed by the desc, letters and digits only.
    """

    spec: str
    atlas: str
    entities: dict = field(default_factory=dict)
    label: str = ""

    @classmethod
    def parse(cls, spec: str) -> "TemplateFlowRequest":
        """Parse ``[LABEL=]NAME[:desc-D][:res-R]...``.

        Raises
        ------
        AtlasError
            Empty name, unknown or malformed entity.
        """
        label = None
        text = spec
        if "=" in text:
            label, text = text.split("=", 1)
            if not is_bids_label(label):
                raise AtlasError(f"--atlas {spec}: the label {label!r} must hold only letters and digits")
        parts = text.split(":")
        atlas = parts[0]
        if not is_bids_label(atlas):
            raise AtlasError(
                f"--atlas {spec}: {atlas!r} is not a TemplateFlow atlas name "
                "(expected e.g. Schaefer2018:desc-400Parcels7Networks)"
            )
        entities: dict[str, str] = {}
        for part in parts[1:]:
            key, sep, value = part.partition("-")
            if not sep or key not in SPEC_ENTITIES or not is_bids_label(value):
                raise AtlasError(
                    f"--atlas {spec}: cannot read {part!r}; use key-value with key one of {', '.join(SPEC_ENTITIES)} "
                    "(e.g. desc-400Parcels7Networks, res-02)"
                )
            if key == "suffix" and value not in _SUFFIX_KIND:
                raise AtlasError(f"--atlas {spec}: suffix must be dseg or probseg, not {value!r}")
            entities[key] = value
        if "res" in entities:
            entities["res"] = f"{int(entities['res']):02d}" if entities["res"].isdigit() else entities["res"]
        if label is None:
            label = atlas + "".join(entities.get(k, "") for k in ("seg", "scale", "desc"))
        return cls(spec, atlas, entities, label)


@dataclass(frozen=True)
class _Candidate:
    path: Path
    entities: dict

    @property
    def suffix(self) -> str:
        return self.path.name.split("_")[-1].split(".")[0]


def _parse_tf_name(path: Path) -> dict[str, str]:
    stem = path.name.split(".")[0]
    entities = {}
    for part in stem.split("_")[:-1]:
        key, _, value = part.partition("-")
        entities[key] = value
    return entities


def _candidates(home: Path, template: str, request: TemplateFlowRequest) -> list[_Candidate]:
    folder = home / f"tpl-{template}"
    if request.entities.get("cohort"):
        folder = folder / f"cohort-{request.entities['cohort']}"
    found = []
    for suffix in ("dseg", "probseg"):
        if request.entities.get("suffix", suffix) != suffix:
            continue
        for path in folder.glob(f"tpl-{template}_*atlas-{request.atlas}_*{suffix}.nii*"):
            entities = _parse_tf_name(path)
            if not _is_variant(entities, request):
                continue
            if "res" in request.entities and entities.get("res") != request.entities["res"]:
                continue
            found.append(_Candidate(path, entities))
    return sorted(found, key=lambda c: c.path.name)


def _is_variant(entities: dict, request: TemplateFlowRequest) -> bool:
    """Whether a file's entities are the atlas and variant (``desc``, ``seg``, ``scale``) of ``request``;
    an unqualified request only matches unqualified files (desc=None in TemplateFlow)."""
    return (entities.get("atlas") == request.atlas
            and all(entities.get(k) == request.entities[k] for k in ("desc", "seg", "scale") if k in request.entities)
            and not any(k in entities for k in ("desc", "seg", "scale") if k not in request.entities))


def _variants(home: Path, template: str, atlas: str) -> list[str]:
    """Human-readable list of the variants of ``atlas`` in ``template``."""
    variants = set()
    for path in (home / f"tpl-{template}").glob(f"tpl-{template}_*atlas-{atlas}_*seg.nii*"):
        entities = _parse_tf_name(path)
        qualifiers = ":".join(f"{k}-{entities[k]}" for k in ("seg", "scale", "desc") if k in entities)
        suffix = path.name.split("_")[-1].split(".")[0]
        variants.add(f"{atlas}{':' + qualifiers if qualifiers else ''} ({suffix})")
    return sorted(variants)


def _atlases_in(home: Path, template: str) -> tuple[list[str], list[str]]:
    """The atlas names of ``tpl-<template>`` in ``home``: those with an image there, and
    those with only TemplateFlow's zero-byte placeholder (fetched on first use)."""
    downloaded, placeholders = set(), set()
    for path in (home / f"tpl-{template}").glob(f"tpl-{template}_*atlas-*_*seg.nii*"):
        name = _parse_tf_name(path).get("atlas")
        if name:
            (downloaded if path.stat().st_size > 0 else placeholders).add(name)
    return sorted(downloaded), sorted(placeholders - downloaded)


def _no_such_atlas(home: Path, template: str, atlas: str) -> str:
    """The end of the error for an atlas name ``tpl-<template>`` does not have: the closest
    names and the atlases that are there."""
    downloaded, placeholders = _atlases_in(home, template)
    suggestion = did_you_mean(atlas, downloaded + placeholders)
    text = f" tpl-{template} has no atlas {atlas!r}" + (f"; {suggestion}" if suggestion else ".")
    if downloaded:
        text += f" Atlases in {home}: {', '.join(downloaded)}."
    if placeholders:
        text += f" Known to TemplateFlow, not downloaded yet: {', '.join(placeholders)}."
    if not downloaded and not placeholders:
        text += f" {home / f'tpl-{template}'} holds no atlas."
    return text


def _resolution_zooms(home: Path, template: str) -> dict[str, float]:
    """Voxel size (mm, largest zoom) of each resolution index of a template."""
    description = home / f"tpl-{template}" / "template_description.json"
    try:
        content = json.loads(description.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    result = {}
    for key, value in (content.get("res") or {}).items():
        zooms = value.get("zooms") if isinstance(value, dict) else None
        if zooms:
            result[f"{int(key):02d}" if str(key).isdigit() else str(key)] = float(max(zooms))
    return result


def _image_voxel_size(path: Path) -> float | None:
    if path.stat().st_size == 0:
        return None
    import nibabel as nib

    try:
        return float(max(nib.load(str(path)).header.get_zooms()[:3]))
    except Exception:  # noqa: BLE001
        return None


def choose_resolution(candidates: list[_Candidate], zooms: dict[str, float], voxel_size: float) -> _Candidate:
    """The candidate whose voxel size is closest to ``voxel_size`` (ties: the finer)."""
    def size(candidate: _Candidate) -> float:
        res = candidate.entities.get("res")
        if res in zooms:
            return zooms[res]
        measured = _image_voxel_size(candidate.path)
        if measured is not None:
            return measured
        return float(int(res)) if res and res.isdigit() else 1.0

    return min(candidates, key=lambda c: (abs(size(c) - voxel_size), size(c)))


def _label_table_path(home: Path, template: str, chosen: _Candidate, request: TemplateFlowRequest) -> tuple[Path | None, str | None]:
    """Find the label table of an atlas image; second value is a note when borrowed."""
    suffix = chosen.suffix
    entities = chosen.entities
    qualifiers = "".join(f"_{k}-{entities[k]}" for k in ("seg", "scale", "desc") if k in entities)
    folder = chosen.path.parent
    names = [
        f"tpl-{template}_atlas-{request.atlas}{qualifiers}_{suffix}.tsv",
        f"tpl-{template}_res-{entities.get('res', '')}_atlas-{request.atlas}{qualifiers}_{suffix}.tsv",
        f"tpl-{template}_atlas-{request.atlas}_{suffix}.tsv",
        f"tpl-{template}_atlas-{request.atlas}{qualifiers}_dseg.tsv",
        f"tpl-{template}_atlas-{request.atlas}_dseg.tsv",
    ]
    for name in names:
        path = folder / name
        if path.is_file() and path.stat().st_size > 0:
            return path, None
    for pattern in (f"tpl-*_atlas-{request.atlas}{qualifiers}_{suffix}.tsv", f"tpl-*_atlas-{request.atlas}_{suffix}.tsv",
                    f"tpl-*_atlas-{request.atlas}_dseg.tsv"):
        for path in sorted(home.glob(f"tpl-*/{pattern}")):
            if path.stat().st_size > 0:
                return path, f"no label table for {request.atlas} in tpl-{template}; using {path.name} (checked against the image values)"
    return None, None


def prefetch_command(home: Path, template: str, candidate: _Candidate, atlas: str) -> str:
    """A copy-paste command that downloads one TemplateFlow atlas file."""
    args = [repr(template), f"atlas={atlas!r}"]
    for key in ("seg", "scale", "desc"):
        if key in candidate.entities:
            args.append(f"{'segmentation' if key == 'seg' else key}={candidate.entities[key]!r}")
    if "res" in candidate.entities:
        args.append(f"resolution={int(candidate.entities['res']) if candidate.entities['res'].isdigit() else repr(candidate.entities['res'])}")
    args.append(f"suffix={candidate.suffix!r}")
    args.append("extension='.nii.gz'")
    return (
        f"TEMPLATEFLOW_HOME={home} python -c \"from templateflow.api import get; "
        f"get({', '.join(args)})\""
    )


def fetch_tool_command(home: Path, template: str, candidate: _Candidate, atlas: str) -> str:
    """The same download with regionseries' own ``regionseries-fetch-atlases``."""
    parts = ["regionseries-fetch-atlases", "--home", str(home), "--template", template, "--atlas", atlas]
    if "desc" in candidate.entities:
        parts += ["--desc", candidate.entities["desc"]]
    if candidate.entities.get("res", "").isdigit():
        parts += ["--resolution", str(int(candidate.entities["res"]))]
    return " ".join(parts)


def _download(home: Path, template: str, candidate: _Candidate, request: TemplateFlowRequest) -> Path:
    """Replace a zero-byte placeholder by the real file, or explain how to."""
    relative = candidate.path.relative_to(home)
    advice = (
        f"atlas {request.spec}: {relative} is not in TEMPLATEFLOW_HOME={home} (only TemplateFlow's empty "
        "placeholder is) and could not be downloaded{why}. Pre-fetch it on a machine with network access:\n"
        f"  {prefetch_command(home, template, candidate, request.atlas)}\n"
        f"or, with regionseries installed there:\n"
        f"  {fetch_tool_command(home, template, candidate, request.atlas)}\n"
        "then copy that folder here (or bind it into the container) and point TEMPLATEFLOW_HOME at it, "
        "e.g. APPTAINERENV_TEMPLATEFLOW_HOME=/templateflow apptainer run -B /path/to/templateflow:/templateflow ..."
    )
    if not _can_write(candidate.path.parent):
        raise AtlasUnavailable(
            f"atlas {request.spec}: {relative} is not in TEMPLATEFLOW_HOME={home} (only TemplateFlow's empty "
            f"placeholder is), and {candidate.path.parent} is read-only, so it cannot be downloaded there "
            "(nothing was written). " + _read_only_advice(home, template, candidate, request)
        )
    try:
        from templateflow import TemplateFlowClient

        client = TemplateFlowClient(root=home)
        query = {"atlas": request.atlas, "suffix": candidate.suffix, "extension": ".nii.gz"}
        for key, name in (("desc", "desc"), ("seg", "segmentation"), ("scale", "scale")):
            query[name] = candidate.entities.get(key)
        if "res" in candidate.entities:
            query["resolution"] = candidate.entities["res"]
        client.get(template, **query)
    except Exception as exc:  # noqa: BLE001 - network errors of any kind become one message
        reason = type(exc).__name__
        raise AtlasUnavailable(advice.format(why=f" ({reason}: no network?)")) from None
    if candidate.path.stat().st_size == 0:
        raise AtlasUnavailable(advice.format(why=""))
    LOGGER.info("downloaded %s into %s", relative, home)
    return candidate.path


def _choose_file(home: Path, template: str, voxel_size: float, request: TemplateFlowRequest,
                 shown_folder: str | None = None) -> _Candidate:
    """The one atlas file of ``request`` in ``home``'s ``tpl-<template>``, at the resolution closest to ``voxel_size``.

    ``shown_folder`` names the folder in messages (default: its path).

    Raises
    ------
    AtlasError
        No file matches (the variants there are listed), or several atlases do.
    """
    candidates = _candidates(home, template, request)
    if not candidates:
        variants = _variants(home, template, request.atlas)
        hint = f" Available: {', '.join(variants)}." if variants else _no_such_atlas(home, template, request.atlas)
        where = shown_folder or home / f"tpl-{template}"
        raise AtlasError(f"atlas {request.spec}: no matching file in {where}.{hint}")
    kinds = {(tuple((k, c.entities.get(k)) for k in ("seg", "scale", "desc")), c.suffix) for c in candidates}
    if len(kinds) > 1:
        variants = sorted({
            f"{request.atlas}" + "".join(f":{k}-{v}" for k, v in key if v) + f" ({suffix})" for key, suffix in kinds
        })
        raise AtlasError(
            f"atlas {request.spec} matches several TemplateFlow atlases in tpl-{template}: {', '.join(variants)}. "
            "Choose one, e.g. --atlas " + variants[0].split(" ")[0]
            + (" (add :suffix-dseg or :suffix-probseg to choose the kind)" if len({s for _, s in kinds}) > 1 else "")
        )
    return choose_resolution(candidates, _resolution_zooms(home, template), voxel_size)


def _can_write(folder: Path) -> bool:
    """Whether files can be created in ``folder``, or ``folder`` itself created.

    ``os.access`` on the folder or its nearest existing parent: false on a
    read-only mount (``EROFS``) even for root, and without write permission.
    """
    existing = folder
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    return existing.is_dir() and os.access(existing, os.W_OK | os.X_OK)


#: A folder name for the advice of read-only homes (the user picks the real one).
_FETCH_FOLDER = "/path/to/templateflow"


def _read_only_advice(home: Path, template: str, candidate: _Candidate | None, request: TemplateFlowRequest) -> str:
    """What to do when the atlas is not in a TemplateFlow home that cannot be written."""
    if candidate is not None:
        fetch = fetch_tool_command(Path(_FETCH_FOLDER), template, candidate, request.atlas)
    else:
        fetch = f"regionseries-fetch-atlases --home {_FETCH_FOLDER} --template {template} --atlas {request.atlas}"
    return (
        "On a machine with network access, fetch it into a folder:\n"
        f"  {fetch}\n"
        f"then use that folder as TEMPLATEFLOW_HOME here: bind it at {home} (docker run -v {_FETCH_FOLDER}:{home}:ro, "
        f"apptainer run -B {_FETCH_FOLDER}:{home}), or copy it to this machine and set TEMPLATEFLOW_HOME to it "
        "(see docs/hpc.md, \"Atlases without network\")."
    )


def _unwritable_empty_home(home: Path, template: str, voxel_size: float, request: TemplateFlowRequest) -> AtlasError:
    """The error for a TemplateFlow home that is missing or empty and cannot be written.

    Nothing is written into ``home``: the file that would be needed is looked up in
    the skeleton bundled with the templateflow client, unpacked (this template only)
    into a temporary folder, so the message names it exactly.

    Returns
    -------
    AtlasUnavailable
        Naming ``home``, that it is read-only, the missing file and what to do;
        an :class:`AtlasError` instead when the space or the atlas is not in TemplateFlow.
    """
    if home.is_dir() and any(home.iterdir()):
        state = "holds no TemplateFlow template (no tpl-* folder) and is read-only"
    elif home.exists():
        state = "is empty and read-only"
    else:
        existing = next(parent for parent in home.parents if parent.exists())
        state = f"does not exist and cannot be created ({existing} is read-only)"
    try:
        with tempfile.TemporaryDirectory(prefix="regionseries-templateflow-") as folder:
            skeleton_view = Path(folder)
            if not _unpack_skeleton_template(skeleton_view, template):
                return AtlasError(
                    f"atlas {request.spec}: the runs are in space {template!r}, which is not a TemplateFlow template "
                    f"(and TEMPLATEFLOW_HOME={home} {state}). TemplateFlow atlases need runs in a template space; "
                    "use --atlas-file for other spaces."
                )
            chosen = _choose_file(skeleton_view, template, voxel_size, request,
                                  shown_folder=f"TemplateFlow's tpl-{template}")
            chosen = _Candidate(home / chosen.path.relative_to(skeleton_view), chosen.entities)
    except AtlasError as error:
        return error
    except (OSError, LookupError):  # no skeleton to look into: name the atlas, not the file
        chosen = None
    missing = (str(chosen.path.relative_to(home)) if chosen is not None
               else f"atlas {request.atlas} for tpl-{template}")
    return AtlasUnavailable(
        f"atlas {request.spec}: {missing} is not in TEMPLATEFLOW_HOME={home}, which {state}, so TemplateFlow "
        "can neither set it up nor download into it (nothing was written there). "
        + _read_only_advice(home, template, chosen, request)
    )


def _unpack_skeleton_template(folder: Path, template: str) -> bool:
    """Unpack the ``tpl-<template>/`` part of the templateflow client's skeleton into ``folder``.

    Returns
    -------
    bool
        False when the skeleton has no such template.

    Raises
    ------
    LookupError
        If the templateflow client (with its skeleton) is not installed.
    """
    # imported here, on this error path only: fetch imports urllib.request
    from .fetch import FetchError, bundled_skeleton_zip

    try:
        skeleton = bundled_skeleton_zip()
    except FetchError as error:
        raise LookupError(str(error)) from None
    with zipfile.ZipFile(skeleton) as archive:
        members = [name for name in archive.namelist() if name.startswith(f"tpl-{template}/")]
        archive.extractall(folder, members=members)
    return bool(members)


def resolve_templateflow_atlas(request: TemplateFlowRequest, template: str, voxel_size: float,
                               home: Path | None = None, cache_dir: Path | None = None) -> Atlas:
    """The TemplateFlow atlas for BOLD runs in ``template`` with ``voxel_size`` mm voxels.

    Parameters
    ----------
    request : TemplateFlowRequest
        Parsed ``--atlas`` specification.
    template : str
        The BOLD runs' ``space-`` (a TemplateFlow template name).
    voxel_size : float
        BOLD voxel size (mm; the largest zoom), to pick the resolution.
    home : Path, optional
        TemplateFlow home (default: :func:`templateflow_home`).
    cache_dir : Path, optional
        Where the centres of probabilistic maps are kept between jobs (the
        work folder's ``atlas-cache``).

    Raises
    ------
    AtlasError
        Unknown template or atlas, several variants match (they are listed).
    AtlasUnavailable
        The file is only a placeholder and cannot be downloaded.
    """
    home = home or templateflow_home()
    if not (home / f"tpl-{template}").is_dir():
        if not home.is_dir() or not any(home.glob("tpl-*")):
            if not _can_write(home):
                raise _unwritable_empty_home(home, template, voxel_size, request)
            _populate_skeleton(home, request)
        if not (home / f"tpl-{template}").is_dir():
            templates = sorted(p.name[4:] for p in home.glob("tpl-*") if p.is_dir())
            raise AtlasError(
                f"atlas {request.spec}: the runs are in space {template!r}, which is not a template of "
                f"TemplateFlow home {home} (templates there: {', '.join(templates) or 'none'}). "
                "TemplateFlow atlases need runs in a template space; use --atlas-file for other spaces."
            )
    chosen = _choose_file(home, template, voxel_size, request)
    if chosen.path.stat().st_size == 0:
        _download(home, template, chosen, request)
    table_path, note = _label_table_path(home, template, chosen, request)
    table = read_label_table(table_path) if table_path is not None else None
    source = {
        "Origin": "TemplateFlow",
        "Template": template,
        "Atlas": request.atlas,
        "File": str(chosen.path.relative_to(home)),
        "LabelTable": str(table_path.relative_to(home)) if table_path is not None else None,
        "Resolution": chosen.entities.get("res"),
        "TemplateFlowHome": str(home),
    }
    for key in ("seg", "scale", "desc"):
        if key in chosen.entities:
            source[{"seg": "Segmentation", "scale": "Scale", "desc": "Description"}[key]] = chosen.entities[key]
    if chosen.suffix == "dseg":
        atlas = labels_atlas_from_image(request.label, request.spec, chosen.path, table, template, source)
    else:
        atlas = maps_atlas_from_image(request.label, request.spec, chosen.path, table, template, source, cache_dir)
    if note:
        atlas.warnings.insert(0, note)
        LOGGER.warning(note)
    if table_path is None:
        message = f"atlas {request.spec}: no label table in {home}; regions are named {request.label}_<value>"
        atlas.warnings.insert(0, message)
        LOGGER.warning(message)
    return atlas


def _populate_skeleton(home: Path, request: TemplateFlowRequest) -> None:
    """Let the TemplateFlow client unpack its skeleton into an empty home."""
    try:
        from templateflow import TemplateFlowClient

        TemplateFlowClient(root=home).cache.ensure()  # type: ignore[attr-defined]
    except Exception as exc:  # noqa: BLE001
        raise AtlasUnavailable(
            f"atlas {request.spec}: TemplateFlow home {home} is empty and cannot be initialised ({exc}). "
            "Set TEMPLATEFLOW_HOME to a folder holding pre-fetched atlases (see docs/usage.md)."
        ) from None


# --------------------------------------------------------------------------------------
# Template surfaces (meshes and sulcal depth) for the pictures of surface runs
# --------------------------------------------------------------------------------------

#: Surfaces the report draws on, best first (TemplateFlow suffixes of ``*.surf.gii``):
#: tpl-fsLR has ``inflated``, ``veryinflated`` and ``midthickness`` at den-32k;
#: tpl-fsaverage has ``white`` and ``pial`` at every density, ``midthickness`` at 164k only.
SURFACE_MESHES = ("inflated", "veryinflated", "midthickness", "white", "pial")

#: fMRIPrep's surface spaces whose name holds the density: ``space -> (template, den)``.
_FSAVERAGE_SPACES = {"fsaverage5": ("fsaverage", "10k"), "fsaverage6": ("fsaverage", "41k"),
                     "fsaverage": ("fsaverage", "164k")}
#: Grayordinates of a CIFTI space and the density of the meshes their cortex is on (HCP's).
_GRAYORDINATE_MESHES = {"91k": "32k", "170k": "59k"}

_HEMISPHERES = (("left", "L"), ("right", "R"))


class SurfaceUnavailable(Exception):
    """The template meshes of a surface run are not in the TemplateFlow home (the message says
    which files, and how to fetch them)."""


@dataclass(frozen=True)
class TemplateSurface:
    """The mesh files of a template surface in a TemplateFlow home.

    Attributes
    ----------
    template, density : str
        TemplateFlow template and ``den-`` label (``fsLR``, ``32k``).
    mesh : str
        Which surface (``inflated``, ``midthickness``, ...: :data:`SURFACE_MESHES`).
    files : dict
        ``{"left": Path, "right": Path}``: the ``*.surf.gii`` files.
    sulcal_depth : dict or None
        The ``*_sulc.shape.gii`` of each hemisphere when TemplateFlow has them
        (tpl-fsaverage does; tpl-fsLR does not).
    """

    template: str
    density: str
    mesh: str
    files: dict
    sulcal_depth: dict | None = None

    @property
    def description(self) -> str:
        return f"{self.template} den-{self.density} {self.mesh}"


def surface_template_of(space: str, density: str | None, kind: str) -> tuple[str, str]:
    """The TemplateFlow template and mesh density of a surface run's space.

    Parameters
    ----------
    space : str
        The run's ``space-`` (``fsLR``, ``fsaverage5``, ``fsaverage``...).
    density : str or None
        The run's ``den-`` (``91k`` for grayordinates, ``10k`` for fsaverage meshes).
    kind : {"cifti", "gifti"}
        CIFTI grayordinates (their cortex is on a mesh of another density) or a GIFTI pair.

    Raises
    ------
    SurfaceUnavailable
        The space has no template meshes (``fsnative``: the participant's own).
    """
    if space in _FSAVERAGE_SPACES:
        template, implied = _FSAVERAGE_SPACES[space]
        return template, density if space == "fsaverage" and density else implied
    if space == "fsnative" or not space:
        raise SurfaceUnavailable(f"space {space or '(none)'!r} is the participant's own surface, which TemplateFlow "
                                 "does not have")
    if kind == "cifti":
        if density not in _GRAYORDINATE_MESHES:
            raise SurfaceUnavailable(f"the cortex of space-{space} den-{density} grayordinates is on no known "
                                     "TemplateFlow mesh density")
        return space, _GRAYORDINATE_MESHES[density]
    if not density:
        raise SurfaceUnavailable(f"space-{space} without den- names no mesh density")
    return space, density


def _surface_files(folder: Path, template: str, density: str, extension: str) -> dict[str, dict[str, Path]]:
    """``suffix -> {"L": path, "R": path}`` of the files of one density (no space-/desc- variants)."""
    found: dict[str, dict[str, Path]] = {}
    for path in folder.glob(f"tpl-{template}_*{extension}"):
        entities = _parse_tf_name(path)
        if entities.get("den") != density or entities.get("hemi") not in ("L", "R") \
                or "space" in entities or "desc" in entities:
            continue
        suffix = path.name[: -len(extension)].split("_")[-1]
        found.setdefault(suffix, {})[entities["hemi"]] = path
    return found


def _fetch_advice(home: Path, template: str, density: str) -> str:
    return (f"TEMPLATEFLOW_HOME={home} python -c \"from templateflow.api import get; "
            f"get({template!r}, density={density!r}, suffix='{'inflated' if template == 'fsLR' else 'white'}', "
            "extension='.surf.gii')\"")


def find_template_surface(template: str, density: str, home: Path | None = None) -> TemplateSurface:
    """The best surface of ``template`` at ``density`` whose two hemispheres are in the home.

    Only files with content count: TemplateFlow's zero-byte placeholders are
    files not downloaded yet. Nothing is downloaded here (the report is drawn
    offline as well as online; fetch the meshes beforehand).

    Raises
    ------
    SurfaceUnavailable
        No mesh of both hemispheres; the message names the files looked for,
        whether only placeholders are there, and the command that fetches them.
    """
    home = home or templateflow_home()
    folder = home / f"tpl-{template}"
    meshes = _surface_files(folder, template, density, ".surf.gii") if folder.is_dir() else {}

    def complete(paths: dict[str, Path]) -> bool:
        return all(hemi in paths and paths[hemi].is_file() and paths[hemi].stat().st_size > 0 for hemi in "LR")

    for mesh in SURFACE_MESHES:
        if complete(meshes.get(mesh, {})):
            depth = _surface_files(folder, template, density, ".shape.gii").get("sulc", {})
            return TemplateSurface(template, density, mesh, {side: meshes[mesh][hemi] for side, hemi in _HEMISPHERES},
                                   {side: depth[hemi] for side, hemi in _HEMISPHERES} if complete(depth) else None)
    known = [mesh for mesh in SURFACE_MESHES if mesh in meshes]
    if known:
        missing = []
        for hemi in "LR":
            path = meshes[known[0]].get(hemi)
            if path is None:
                missing.append(f"no hemi-{hemi} {known[0]} mesh")
            elif not path.is_file() or path.stat().st_size == 0:
                missing.append(f"tpl-{template}/{path.name} is TemplateFlow's empty placeholder (not downloaded)")
        state = "; ".join(missing)
    elif folder.is_dir():
        state = f"tpl-{template} holds no den-{density} {'/'.join(SURFACE_MESHES)} mesh"
    else:
        state = f"it has no tpl-{template}"
    raise SurfaceUnavailable(
        f"the {template} den-{density} meshes are not in TEMPLATEFLOW_HOME={home}: {state}; "
        f"fetch them with {_fetch_advice(home, template, density)}")


# --------------------------------------------------------------------------------------
# Surface atlases (dlabel.nii for grayordinates, label.gii pairs for GIFTI runs)
# --------------------------------------------------------------------------------------

#: The TemplateFlow file of a surface atlas, per run kind.
SURFACE_ATLAS_ENDINGS = {"cifti": ".dlabel.nii", "gifti": ".label.gii"}


def _surface_atlas_candidates(folder: Path, template: str, request: TemplateFlowRequest,
                              ending: str) -> list[_Candidate]:
    """The ``dseg`` files of ``request``'s atlas and variant in ``folder``, every density and hemisphere."""
    found = [_Candidate(path, _parse_tf_name(path))
             for path in folder.glob(f"tpl-{template}_*atlas-{request.atlas}_*dseg{ending}")]
    return sorted((c for c in found if _is_variant(c.entities, request)), key=lambda c: c.path.name)


def _surface_variants(folder: Path, template: str, atlas: str, ending: str) -> list[str]:
    """``Atlas:seg-...:scale-... (den-10k, den-164k)`` of each variant of ``atlas`` in ``folder``."""
    densities: dict[str, set] = {}
    for path in folder.glob(f"tpl-{template}_*atlas-{atlas}_*dseg{ending}"):
        entities = _parse_tf_name(path)
        qualifiers = "".join(f":{k}-{entities[k]}" for k in ("seg", "scale", "desc") if k in entities)
        densities.setdefault(f"{atlas}{qualifiers}", set()).add(f"den-{entities.get('den', '?')}")
    return [f"{variant} ({', '.join(sorted(dens, key=lambda d: (len(d), d)))})"
            for variant, dens in sorted(densities.items())]


def has_surface_atlas(request: TemplateFlowRequest, kind: str, space: str, density: str | None,
                      home: Path | None = None) -> bool:
    """Whether the template of a surface run has a file of ``request``'s atlas and variant (``desc``,
    ``seg``, ``scale``; any density; placeholders count), i.e. whether ``--atlas`` is meant for these
    runs too. ``Schaefer2018:desc-400Parcels7Networks`` (a volumetric variant) is not, though
    tpl-fsaverage has Schaefer2018 as ``seg-7n_scale-400``."""
    return bool(_surface_atlas_files(request, kind, space, density, home)[0])


def surface_atlas_variants(request: TemplateFlowRequest, kind: str, space: str, density: str | None,
                           home: Path | None = None) -> list[str]:
    """The variants (with their densities) the template of a surface run has of ``request``'s atlas name."""
    return _surface_atlas_files(request, kind, space, density, home)[1]


def _surface_atlas_files(request: TemplateFlowRequest, kind: str, space: str, density: str | None,
                         home: Path | None) -> tuple[list[_Candidate], list[str]]:
    home = home or templateflow_home()
    try:
        template, _ = surface_template_of(space, density, kind)
    except SurfaceUnavailable:
        return [], []
    if (not home.is_dir() or not any(home.glob("tpl-*"))) and _can_write(home):
        _populate_skeleton(home, request)  # a fresh home: TemplateFlow's file names, as for volumes
    folder, ending = home / f"tpl-{template}", SURFACE_ATLAS_ENDINGS[kind]
    return (_surface_atlas_candidates(folder, template, request, ending),
            _surface_variants(folder, template, request.atlas, ending))


def surface_fetch_command(home: Path, template: str, candidate: _Candidate, atlas: str, ending: str) -> str:
    """A copy-paste command that downloads one TemplateFlow surface atlas file."""
    args = [repr(template), f"atlas={atlas!r}"]
    for key in ("hemi", "den", "seg", "scale", "desc"):
        if key in candidate.entities:
            name = {"den": "density", "seg": "segmentation"}.get(key, key)
            args.append(f"{name}={candidate.entities[key]!r}")
    args += ["suffix='dseg'", f"extension={ending!r}"]
    return f"TEMPLATEFLOW_HOME={home} python -c \"from templateflow.api import get; get({', '.join(args)})\""


def _surface_fetch_tool_command(home: Path, template: str, candidate: _Candidate, atlas: str) -> str:
    parts = ["regionseries-fetch-atlases", "--home", str(home), "--template", template, "--atlas", atlas,
             "--density", candidate.entities.get("den", "")]
    for key in ("seg", "scale", "desc"):
        if key in candidate.entities:
            parts += [f"--{key}", candidate.entities[key]]
    return " ".join(parts)


def _download_surface_file(home: Path, template: str, candidate: _Candidate, request: TemplateFlowRequest,
                           ending: str) -> None:
    """Replace the zero-byte placeholder of a surface atlas file by the real file, or explain how to."""
    relative = candidate.path.relative_to(home)
    advice = (
        f"atlas {request.spec}: {relative} is not in TEMPLATEFLOW_HOME={home} (only TemplateFlow's empty "
        "placeholder is) and could not be downloaded{why}. Pre-fetch it on a machine with network access:\n"
        f"  {surface_fetch_command(home, template, candidate, request.atlas, ending)}\n"
        f"or, with regionseries installed there:\n"
        f"  {_surface_fetch_tool_command(home, template, candidate, request.atlas)}\n"
        "then copy that folder here (or bind it into the container) and point TEMPLATEFLOW_HOME at it."
    )
    if not _can_write(candidate.path.parent):
        raise AtlasUnavailable(advice.format(why=f" ({candidate.path.parent} is read-only)"))
    try:
        from templateflow import TemplateFlowClient

        query = {"atlas": request.atlas, "suffix": "dseg", "extension": ending}
        for key, name in (("hemi", "hemi"), ("den", "density"), ("desc", "desc"), ("seg", "segmentation"),
                          ("scale", "scale")):
            query[name] = candidate.entities.get(key)
        TemplateFlowClient(root=home).get(template, **query)
    except Exception as exc:  # noqa: BLE001 - network errors of any kind become one message
        raise AtlasUnavailable(advice.format(why=f" ({type(exc).__name__}: no network?)")) from None
    if candidate.path.stat().st_size == 0:
        raise AtlasUnavailable(advice.format(why=""))
    LOGGER.info("downloaded %s into %s", relative, home)


def _surface_label_table(folder: Path, template: str, chosen: _Candidate, atlas: str) -> Path | None:
    """The ``dseg.tsv`` beside a surface atlas (TemplateFlow's: no ``hemi-``/``den-``), if there is one."""
    qualifiers = "".join(f"_{k}-{chosen.entities[k]}" for k in ("seg", "scale", "desc") if k in chosen.entities)
    for name in (f"tpl-{template}_atlas-{atlas}{qualifiers}_dseg.tsv",
                 f"tpl-{template}_den-{chosen.entities.get('den')}_atlas-{atlas}{qualifiers}_dseg.tsv",
                 f"tpl-{template}_atlas-{atlas}_dseg.tsv"):
        path = folder / name
        if path.is_file() and path.stat().st_size > 0:
            return path
    return None


def resolve_templateflow_surface_atlas(request: TemplateFlowRequest, kind: str, space: str, density: str | None,
                                       home: Path | None = None) -> Atlas:
    """The TemplateFlow surface atlas of ``request`` for CIFTI or GIFTI runs in ``space``.

    CIFTI grayordinates (fsLR den-91k) take a ``*_den-91k_dseg.dlabel.nii``
    (cortex and subcortical parcels), else a ``*_den-32k_dseg.dlabel.nii`` on
    the cortex only, whose subcortical grayordinates are then in no region (the
    atlas's warnings and sidecar say so). GIFTI pairs take the two
    ``*_hemi-L/R_den-<D>_..._dseg.label.gii`` of their mesh density (fsaverage5:
    tpl-fsaverage den-10k). Regions are named by the ``dseg.tsv`` beside the
    files (per hemisphere when it has a ``hemi`` column), else by the files'
    own label tables. A zero-byte placeholder is downloaded through the
    TemplateFlow client, or :class:`AtlasUnavailable` says what to fetch.

    Raises
    ------
    AtlasError
        No file of this atlas for the run's template and density (the variants
        there are listed), several variants match, or the space has no template.
    AtlasUnavailable
        A placeholder that cannot be downloaded.
    """
    from .surfaces import surface_labels_atlas

    home = home or templateflow_home()
    ending = SURFACE_ATLAS_ENDINGS[kind]
    try:
        template, mesh_density = surface_template_of(space, density, kind)
    except SurfaceUnavailable as exc:
        raise AtlasError(f"atlas {request.spec}: {exc}; use --atlas-file for these runs") from None
    if request.entities.get("suffix") == "probseg":
        raise AtlasError(f"atlas {request.spec}: TemplateFlow surface atlases are label files (dseg); "
                         "give probabilistic surface maps with --atlas-file")
    folder = home / f"tpl-{template}"
    candidates = _surface_atlas_candidates(folder, template, request, ending)
    wanted = [density, mesh_density] if kind == "cifti" else [mesh_density]
    chosen: list[_Candidate] = []
    for den in wanted:
        at_density = [c for c in candidates if c.entities.get("den") == den]
        if kind == "gifti":
            by_hemi = {c.entities.get("hemi"): c for c in at_density}
            at_density = [by_hemi[h] for h in ("L", "R")] if {"L", "R"} <= set(by_hemi) else []
        else:
            at_density = [c for c in at_density if "hemi" not in c.entities]
        if at_density:
            chosen = at_density
            break
    run_kind = "grayordinate" if kind == "cifti" else "surface"
    if not chosen:
        variants = _surface_variants(folder, template, request.atlas, ending)
        raise AtlasError(
            f"atlas {request.spec}: no {ending} file for the {run_kind} runs in space-{space}"
            f"{f' den-{density}' if density else ''} (tpl-{template} den-{' or den-'.join(w for w in wanted if w)}) "
            f"in {folder}." + (f" Available: {', '.join(variants)}." if variants else ""))
    kinds = {tuple((k, c.entities.get(k)) for k in ("seg", "scale", "desc")) for c in chosen}
    if len(kinds) > 1:
        listed = sorted(request.atlas + "".join(f":{k}-{v}" for k, v in key if v) for key in kinds)
        raise AtlasError(f"atlas {request.spec} matches several TemplateFlow atlases in tpl-{template}: "
                         f"{', '.join(listed)}. Choose one, e.g. --atlas {listed[0]}")
    for candidate in chosen:
        if candidate.path.stat().st_size == 0:
            _download_surface_file(home, template, candidate, request, ending)
    table_path = _surface_label_table(folder, template, chosen[0], request.atlas)
    den = chosen[0].entities.get("den")
    source = {"Origin": "TemplateFlow", "Template": template, "Atlas": request.atlas, "Density": den,
              "Files": [str(c.path.relative_to(home)) for c in chosen],
              "LabelTable": str(table_path.relative_to(home)) if table_path is not None else None,
              "TemplateFlowHome": str(home)}
    for key in ("seg", "scale", "desc"):
        if key in chosen[0].entities:
            source[{"seg": "Segmentation", "scale": "Scale", "desc": "Description"}[key]] = chosen[0].entities[key]
    atlas = surface_labels_atlas(request.label, request.spec, tuple(c.path for c in chosen), table_path,
                                 source=source, space=template)
    if kind == "cifti" and den != density:
        note = (f"atlas {request.spec}: {chosen[0].path.name} covers the cortex only (den-{den}): the subcortical "
                f"grayordinates of the den-{density} runs are in no region of this atlas")
        atlas.source["Coverage"] = "cortex only: the subcortical grayordinates of the runs are in no region"
        atlas.warnings.insert(0, note)
        LOGGER.warning(note)
    if table_path is None:
        atlas.warnings.insert(0, f"atlas {request.spec}: no dseg.tsv beside {chosen[0].path.name}; the regions "
                                 "are named by the file's own label table")
    return atlas
