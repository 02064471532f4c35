"""User atlas files (``--atlas-file NAME=IMAGE[:LABELS_TSV]``).

Surface atlases are given the same way: ``NAME=atlas.dlabel.nii`` or
``NAME=maps.dscalar.nii`` (CIFTI runs), ``NAME=lh.label.gii,rh.label.gii`` /
``NAME=lh.x.annot,rh.x.annot`` / ``NAME=lh.maps.func.gii,rh.maps.func.gii``
(GIFTI runs), left hemisphere first (:mod:`regionseries.atlases.surfaces`).

A 3D image is a labels atlas (integer labels, 0 = background); a 4D image is a
set of probabilistic maps (one map per volume), except that a 4D image with a
single volume of integer values is a labels atlas saved 4D (as some tools do). The optional label table
(TSV, or CSV by extension) names the regions; it is matched to the image by
label value (labels) or by row order (maps), and every mismatch is reported.
The image is assumed to be in the space of the BOLD runs it is used with; it
is resampled to each BOLD grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..bids.names import is_bids_label
from .base import (
    Atlas,
    AtlasError,
    AtlasUnavailable,
    labels_atlas_from_image,
    load_atlas_image,
    maps_atlas_from_image,
    missing_file_message,
    read_atlas_data,
    read_label_table,
)
from .surfaces import (
    is_surface_maps,
    surface_kind,
    surface_labels_atlas,
    surface_maps_atlas,
)

_TABLE_EXTENSIONS = (".tsv", ".csv", ".txt")

#: In an ``--atlas-file`` path: the participant's label (without ``sub-``), for atlases
#: of each participant's own surface (``fsnative``), e.g. FreeSurfer's ``lh.aparc.annot``.
SUBJECT_PLACEHOLDER = "{subject}"


@dataclass(frozen=True)
class FileRequest:
    """A parsed ``--atlas-file NAME=IMAGE[:LABELS_TSV]``."""

    spec: str
    label: str
    image: Path
    table: Path | None
    images: tuple[Path, ...] = ()
    #: The paths hold ``{subject}``: one atlas per participant (:meth:`for_subject`).
    per_subject: bool = False

    @property
    def surface(self) -> str | None:
        """``"cifti"``/``"gifti"`` for surface atlas files (labels or maps), None for a NIfTI image."""
        return surface_kind(self.image)

    def for_subject(self, subject: str) -> "FileRequest":
        """The request of participant ``subject`` (its label, without ``sub-``): ``{subject}`` replaced.

        Raises
        ------
        AtlasUnavailable
            A file of the participant is missing (the message names it and the participant).
        """
        def filled(path: Path) -> Path:
            return Path(str(path).replace(SUBJECT_PLACEHOLDER, subject))

        images = tuple(filled(image) for image in self.images)
        table = filled(self.table) if self.table is not None else None
        for kind, path in [("image", image) for image in images] + [("label table", table)] * (table is not None):
            if not path.is_file():
                raise AtlasUnavailable(f"--atlas-file {self.spec}: participant sub-{subject} has no {kind} "
                                       f"{missing_file_message(path)} (leave sub-{subject} out with "
                                       "--participant-label, or give the file)")
        images = tuple(image.resolve() for image in images)
        return FileRequest(self.spec, self.label, images[0], table.resolve() if table else None, images)

    @classmethod
    def parse(cls, spec: str) -> "FileRequest":
        """Parse the specification (the table is recognised by its extension).

        Raises
        ------
        AtlasError
            Missing ``NAME=``, a name with other characters than letters and
            digits, or missing files.
        """
        if "=" not in spec:
            raise AtlasError(
                f"--atlas-file {spec}: expected NAME=IMAGE[:LABELS_TSV], e.g. MyAtlas=/data/atlas.nii.gz:/data/atlas.tsv"
            )
        label, rest = spec.split("=", 1)
        if not is_bids_label(label):
            raise AtlasError(f"--atlas-file {spec}: NAME {label!r} must hold only letters and digits (it becomes atlas-{label})")
        image_text, table_text = rest, None
        if ":" in rest:
            head, tail = rest.rsplit(":", 1)
            if tail.lower().endswith(_TABLE_EXTENSIONS):
                image_text, table_text = head, tail
        images = tuple(Path(text).expanduser() for text in image_text.split(","))
        kinds = {surface_kind(image) for image in images}
        if len(images) > 1 and (kinds != {"gifti"} or len(images) != 2):
            raise AtlasError(f"--atlas-file {spec}: two files separated by a comma are a surface atlas's left and "
                             "right hemispheres (.label.gii or .annot; .func.gii or .shape.gii for maps), e.g. "
                             "NAME=lh.label.gii,rh.label.gii")
        if len(images) == 1 and kinds == {"gifti"}:
            raise AtlasError(f"--atlas-file {spec}: a GIFTI or annot atlas is two files, left then right "
                             "hemisphere: NAME=lh.label.gii,rh.label.gii (maps: NAME=lh.func.gii,rh.func.gii)")
        if len({is_surface_maps(image) for image in images}) > 1:
            raise AtlasError(f"--atlas-file {spec}: both hemispheres must be label files (.label.gii, .annot) or "
                             "both maps files (.func.gii, .shape.gii)")
        table = Path(table_text).expanduser() if table_text else None
        if SUBJECT_PLACEHOLDER in rest:  # checked per participant (for_subject)
            if kinds == {None}:
                raise AtlasError(f"--atlas-file {spec}: {SUBJECT_PLACEHOLDER} (one atlas per participant) is for "
                                 "surface atlases (.label.gii, .annot, .dlabel.nii), e.g. FreeSurfer's "
                                 "NAME=/fs/sub-{subject}/label/lh.aparc.annot,/fs/sub-{subject}/label/rh.aparc.annot")
            return cls(spec, label, images[0], table, images, per_subject=True)
        for image in images:
            if not image.is_file():
                raise AtlasUnavailable(f"--atlas-file {spec}: image {missing_file_message(image)}")
        if table is not None and not table.is_file():
            raise AtlasUnavailable(f"--atlas-file {spec}: label table {missing_file_message(table)}")
        images = tuple(image.resolve() for image in images)
        return cls(spec, label, images[0], table.resolve() if table else None, images)


def resolve_file_atlas(request: FileRequest, cache_dir: Path | None = None) -> Atlas:
    """Load a user's atlas file, decide its kind and check its label table.

    ``cache_dir`` keeps the centres of probabilistic maps between jobs
    (:func:`~regionseries.atlases.base.cached_map_centroids`).
    """
    if request.surface is not None and is_surface_maps(request.image):
        table = read_label_table(request.table) if request.table is not None else None
        return surface_maps_atlas(request.label, request.spec, request.images, table)
    if request.surface is not None:  # its table may name each hemisphere's regions (a dseg.tsv with hemi)
        return surface_labels_atlas(request.label, request.spec, request.images, request.table)
    table = read_label_table(request.table) if request.table is not None else None
    img = load_atlas_image(request.image, f"atlas {request.label}")
    source = {"Origin": "file", "File": str(request.image),
              "LabelTable": str(request.table) if request.table else None}
    shape = img.shape
    if len(shape) == 4 and (shape[3] > 1 or not _integer_valued(img, request)):
        return maps_atlas_from_image(request.label, request.spec, request.image, table, None, source, cache_dir)
    if len(shape) in (3, 4):
        return labels_atlas_from_image(request.label, request.spec, request.image, table, None, source)
    raise AtlasError(f"atlas {request.label}: {request.image} has shape {shape}; expected a 3D labels or 4D maps image")


def _integer_valued(img, request: FileRequest) -> bool:
    """Whether every finite voxel of the image holds an integer (labels rather than a map)."""
    data = read_atlas_data(img, request.image, f"atlas {request.label}")
    finite = data[np.isfinite(data)] if data.dtype.kind == "f" else data
    return bool(np.all(np.mod(finite, 1) == 0))
