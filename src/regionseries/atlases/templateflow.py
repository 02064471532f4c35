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
import re
from dataclasses import dataclass, field
from pathlib import Path

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
            if not re.match(r"^[0-9a-zA-Z]+$", label):
                raise AtlasError(f"--atlas {spec}: the label {label!r} must hold only letters and digits")
        parts = text.split(":")
        atlas = parts[0]
        if not re.match(r"^[0-9a-zA-Z]+$", atlas):
            raise AtlasError(
                f"--atlas {spec}: {atlas!r} is not a TemplateFlow atlas name "
                "(expected e.g. Schaefer2018:desc-400Parcels7Networks)"
            )
        entities: dict[str, str] = {}
        for part in parts[1:]:
            key, sep, value = part.partition("-")
            if not sep or key not in SPEC_ENTITIES or not re.match(r"^[0-9a-zA-Z]+$", value):
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
            if entities.get("atlas") != request.atlas:
                continue
            if any(entities.get(k) != request.entities[k] for k in ("desc", "seg", "scale") if k in request.entities):
                continue
            if any(k in entities for k in ("desc", "seg", "scale") if k not in request.entities):
                # an unqualified request only matches unqualified files (desc=None in TemplateFlow)
                continue
            if "res" in request.entities and entities.get("res") != request.entities["res"]:
                continue
            found.append(_Candidate(path, entities))
    return sorted(found, key=lambda c: c.path.name)


def _variants(home: Path, template: str, atlas: str) -> list[str]:
    """Human-readable list of the variants of ``atlas`` in ``template``."""
    variants = set()
    for path in (home / f"tpl-{template}").glob(f"tpl-{template}_*atlas-{atlas}_*seg.nii*"):
        entities = _parse_tf_name(path)
        qualifiers = ":".join(f"{k}-{entities[k]}" for k in ("seg", "scale", "desc") if k in entities)
        suffix = path.name.split("_")[-1].split(".")[0]
        variants.add(f"{atlas}{':' + qualifiers if qualifiers else ''} ({suffix})")
    return sorted(variants)


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
    if not os.access(candidate.path.parent, os.W_OK):
        raise AtlasUnavailable(advice.format(why=f" ({candidate.path.parent} is read-only)"))
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
            _populate_skeleton(home, request)
        if not (home / f"tpl-{template}").is_dir():
            templates = sorted(p.name[4:] for p in home.glob("tpl-*") if p.is_dir())
            raise AtlasError(
                f"atlas {request.spec}: the runs are in space {template!r}, which is not a template of "
                f"TemplateFlow home {home} (templates there: {', '.join(templates) or 'none'}). "
                "TemplateFlow atlases need runs in a template space; use --atlas-file for other spaces."
            )
    candidates = _candidates(home, template, request)
    if not candidates:
        variants = _variants(home, template, request.atlas)
        hint = f" Available: {', '.join(variants)}." if variants else f" tpl-{template} has no atlas {request.atlas!r}."
        raise AtlasError(f"atlas {request.spec}: no matching file in {home / ('tpl-' + template)}.{hint}")
    by_resolution: dict[str, list[_Candidate]] = {}
    for candidate in candidates:
        by_resolution.setdefault(candidate.entities.get("res", ""), []).append(candidate)
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
    chosen = choose_resolution(candidates, _resolution_zooms(home, template), voxel_size)
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
