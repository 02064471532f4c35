"""Other derivatives datasets a run's denoising reads: fMRIPost-AROMA and tedana outputs.

``--datasets aroma=PATH tedana=PATH`` (XCP-D's option name) gives their
folders. Each folder is scanned once for the files below, and each BOLD run
is matched to its files by its acquisition entities (subject, session,
task, acq, ce, rec, dir, run, echo, part: the same as the fMRIPrep
confounds), plus ``space``/``res``/``den`` for images:

=========  ======================================  ==========================
dataset    file                                    use
=========  ======================================  ==========================
aroma      ``*_desc-aroma_timeseries.tsv``         ``ica_aroma`` basic/orthaggr
aroma      ``*_desc-nonaggrDenoised_bold.nii.gz``  ``ica_aroma`` full
tedana     ``*_desc-ICA_mixing.tsv``               component ``tedana``
tedana     ``*_desc-tedana_metrics.tsv``           component ``tedana``
=========  ======================================  ==========================

Only file names are looked at here; the files are read when a run is planned.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .names import parse_entities

__all__ = ["DATASET_NAMES", "DatasetFiles", "parse_datasets"]

#: Names ``--datasets`` accepts, and what each holds.
DATASET_NAMES = {"aroma": "fMRIPost-AROMA output", "tedana": "tedana output"}

#: File kinds by dataset: (name ending, whether the image's space/res/den must match too).
_KINDS = {
    "aroma": {
        "aroma_timeseries": (("_desc-aroma_timeseries.tsv",), False),
        "aroma_bold": (("_desc-nonaggrDenoised_bold.nii.gz", "_desc-nonaggrDenoised_bold.nii"), True),
    },
    "tedana": {
        "tedana_mixing": (("_desc-ICA_mixing.tsv",), False),
        "tedana_metrics": (("_desc-tedana_metrics.tsv",), False),
    },
}
#: Acquisition entities (file-name keys) that pair a BOLD run with its files.
_ACQUISITION = ("sub", "ses", "task", "acq", "ce", "rec", "dir", "run", "echo", "part")
_SPACE = ("space", "res", "den")


def parse_datasets(values: Sequence[str]) -> dict[str, Path]:
    """``NAME=PATH`` values of ``--datasets`` as ``{name: folder}``.

    Raises
    ------
    ValueError
        For a value without ``=``, an unknown name, a name given twice, or a
        PATH that is not a folder (the message names the value).
    """
    datasets: dict[str, Path] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--datasets {value}: expected NAME=PATH, e.g. aroma=/data/fmripost_aroma")
        if name not in DATASET_NAMES:
            known = ", ".join(f"{key} ({what})" for key, what in DATASET_NAMES.items())
            raise ValueError(f"--datasets {value}: unknown dataset name {name!r}; known: {known}")
        if name in datasets:
            raise ValueError(f"--datasets: {name} given twice")
        if not Path(path).is_dir():
            raise ValueError(f"--datasets {value}: {path} is not a folder")
        datasets[name] = Path(path).resolve()
    return datasets


def _key(entities: Mapping[str, str], names: Sequence[str]) -> tuple:
    """Entity labels by name (run and echo compared as numbers: ``run-01`` is ``run-1``)."""
    key = []
    for name in names:
        value = entities.get(name)
        if value is not None and name in ("run", "echo") and value.isdigit():
            value = str(int(value))
        key.append(value)
    return tuple(key)


@dataclass(frozen=True)
class _Found:
    kind: str
    path: Path
    acquisition: tuple
    space: tuple


class DatasetFiles:
    """The fMRIPost-AROMA and tedana files of the given folders, by run.

    Parameters
    ----------
    datasets : mapping
        ``{name: folder}`` from :func:`parse_datasets`.
    participants : sequence of str, optional
        Only these subjects' files are indexed (labels without ``sub-``).
    """

    def __init__(self, datasets: Mapping[str, Path], participants: Sequence[str] | None = None):
        self.datasets = dict(datasets)
        self._files: dict[tuple[str, tuple], list[_Found]] = {}
        wanted = None if participants is None else {f"sub-{label}" for label in participants}
        for name, root in self.datasets.items():
            kinds = _KINDS[name]
            for folder, subfolders, files in os.walk(root):
                if Path(folder) == Path(root) and wanted is not None:
                    subfolders[:] = [sub for sub in subfolders if not sub.startswith("sub-") or sub in wanted]
                for filename in files:
                    for kind, (endings, _) in kinds.items():
                        if filename.endswith(endings):
                            entities = parse_entities(filename)
                            found = _Found(kind, Path(folder) / filename, _key(entities, _ACQUISITION),
                                           _key(entities, _SPACE))
                            self._files.setdefault((kind, found.acquisition), []).append(found)

    def of(self, entities: Mapping[str, str]) -> dict[str, list[Path]]:
        """The files of a BOLD run (its file-name entities), by kind (absent kinds are missing).

        Several files of one kind are all returned (the caller refuses them).
        """
        acquisition = _key(entities, _ACQUISITION)
        space = _key(entities, _SPACE)
        result: dict[str, list[Path]] = {}
        for name in self.datasets:
            for kind, (_, spatial) in _KINDS[name].items():
                matches = [found.path for found in self._files.get((kind, acquisition), [])
                           if not spatial or found.space == space]
                if matches:
                    result[kind] = sorted(matches)
        return result
