"""Denoising strategies: :class:`DenoiseStrategy` and :func:`get_strategy`.

A :class:`DenoiseStrategy` names the confound components, censoring and
cleaning settings of one denoising (its name becomes the ``desc-`` label
of the outputs). :func:`get_strategy` gives one from a built-in preset
(:data:`PRESET_NAMES`, read from ``regionseries/strategies/*.json``) or a
JSON/YAML strategy file, with keyword overrides; a malformed strategy is a
:class:`~.errors.ConfoundsError`, a file that is not there to be read
(missing, not fetched, permission denied) a
:class:`~.errors.StrategyFileUnavailable`. The file format is documented
in ``docs/strategies.md``. Applying a strategy to a run is :mod:`.plans`'
job.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ...bids import readable
from ...suggest import did_you_mean
from .errors import ConfoundsError, StrategyFileUnavailable
from .motion_filter import _check_settings as _check_motion_filter_settings
from .vocabulary import (
    COMPCOR_TYPES,
    COMPONENTS,
    CONFOUND_MODELS,
    ICA_AROMA_TYPES,
    TEDANA_TYPES,
    _check_choice,
    _check_n_compcor,
)

__all__ = ["DenoiseStrategy", "PRESET_NAMES", "STRATEGY_COMPONENTS", "get_strategy"]

PRESET_NAMES = (
    "none",
    "simple",
    "simple+gsr",
    "scrubbing",
    "scrubbing+gsr",
    "compcor",
    "compcor+gsr",
    "ica_aroma",
    "ica_aroma+gsr",
)
_STRATEGY_NAME = re.compile(r"^[A-Za-z0-9]+(?:[+_-][A-Za-z0-9]+)*$")
_STANDARDIZE_CHOICES = ("zscore_sample", "zscore", "psc", False)
_FILTER_CHOICES = ("butterworth", "cosine", False)
#: Components a DenoiseStrategy may list (non-steady-state volumes are always handled).
STRATEGY_COMPONENTS = tuple(name for name in COMPONENTS if name != "non_steady_state")
#: ICA-AROMA settings of strategies: nilearn's, and "orthaggr", fMRIPost-AROMA's orthogonalised components.
STRATEGY_ICA_AROMA_TYPES = (*ICA_AROMA_TYPES, "orthaggr")


@dataclass(frozen=True)
class DenoiseStrategy:
    """A named denoising strategy: confounds, censoring and cleaning settings.

    The confound fields have the meaning of :func:`load_confounds`'s
    parameters; they are used only when their component is listed in
    ``components``.

    Parameters
    ----------
    name : str
        Letters and digits, optionally joined by ``+``, ``_`` or ``-``
        (e.g. ``simple+gsr``). See :attr:`desc` for the BIDS label.
    components : tuple of str
        Noise components (nilearn's ``strategy``): ``motion``,
        ``high_pass``, ``wm_csf``, ``global_signal``, ``compcor``,
        ``ica_aroma``, ``tedana``, ``scrub``. ``compcor`` requires ``high_pass``.
    motion, wm_csf, global_signal : {"basic", "power2", "derivatives", "full"}
    compcor : str
        CompCor type (see :func:`load_confounds`).
    n_compcor : int or "all"
        Components kept per mask and per CompCor type.
    ica_aroma : {"full", "basic", "orthaggr"}
        ``full``: the BOLD input is the non-aggressively denoised image
        (fMRIPrep < 23.1's ``desc-smoothAROMAnonaggr_bold``, or
        fMRIPost-AROMA's ``desc-nonaggrDenoised_bold``;
        :attr:`requires_aroma_image`); ``basic``: the rejected components
        are regressors (fMRIPost-AROMA's ``aroma_motion_*`` when its
        outputs are given, else fMRIPrep's ``aroma`` columns);
        ``orthaggr``: fMRIPost-AROMA's ``aroma_orth_motion_*`` are
        regressors (XCP-D's ``aroma``).
    tedana : {"aggressive", "non-aggressive"}
        ``aggressive``: tedana's rejected components are regressors;
        ``non-aggressive``: the region signals are fitted to every accepted
        and rejected component and the rejected part is subtracted.
    demean : bool
        Subtract each confound's mean over the kept volumes.
    extra_columns : tuple of str
        Further confound columns by exact (current) name.
    extra_column_patterns : tuple of str
        Further confound columns by regular expression (full match).
    fd_threshold : float or None
        Framewise displacement threshold in mm (used with ``scrub``); None
        disables the FD criterion.
    std_dvars_threshold : float or None
        Standardised DVARS threshold (used with ``scrub``); None disables it.
    min_segment_length : int
        Runs of kept volumes shorter than this are censored too (nilearn's
        ``scrub``); 0 disables the rule.
    min_time : float
        Minimum duration of the kept volumes in seconds (kept volumes x
        repetition time, XCP-D's ``--min-time``); a run with less is
        excluded. 0 (the default) disables the rule; XCP-D's default is
        240 s.
    motion_filter_type : {None, "notch", "lp"}
        Filter the six realignment parameters before framewise displacement
        is recomputed from them (XCP-D's ``--motion-filter-type``): a
        band-stop over the breathing rate, or a low-pass; None (default) or
        false: no filter. With a filter, FD censoring uses the filtered FD
        and the motion regressors are computed from the filtered parameters
        (``docs/strategies.md``, "Motion filtering").
    band_stop_min, band_stop_max : float or None
        Breaths per minute: the band-stop of "notch" (both), the cut-off of
        "lp" (``band_stop_min``; ``band_stop_max`` is not used).
    motion_filter_order : int
        Order of the whole forward-backward motion filter: a multiple of 4
        for "notch", of 2 for "lp" (default 4, XCP-D's).
    detrend : bool
        Remove linear trends in cleaning.
    standardize : {"zscore_sample", "zscore", "psc", False}
        Standardisation of the cleaned signals.
    standardize_confounds : bool
        Standardise the confounds before regression.
    filter : {"butterworth", "cosine", False}
        Temporal filter of :func:`regionseries.signal.clean`.
    low_pass, high_pass : float or None
        Cut-off frequencies in Hz.
    description : str
        Free text for reports.
    """

    name: str
    components: tuple[str, ...] = ()
    motion: str = "full"
    wm_csf: str = "basic"
    global_signal: str = "basic"
    compcor: str = "anat_combined"
    n_compcor: int | str = "all"
    ica_aroma: str = "full"
    tedana: str = "aggressive"
    demean: bool = True
    extra_columns: tuple[str, ...] = ()
    extra_column_patterns: tuple[str, ...] = ()
    fd_threshold: float | None = 0.5
    std_dvars_threshold: float | None = 1.5
    min_segment_length: int = 5
    min_time: float = 0.0
    motion_filter_type: str | None = None
    band_stop_min: float | None = None
    band_stop_max: float | None = None
    motion_filter_order: int = 4
    detrend: bool = True
    standardize: str | bool = "zscore_sample"
    standardize_confounds: bool = True
    filter: str | bool = "butterworth"
    low_pass: float | None = None
    high_pass: float | None = None
    description: str = ""

    def __post_init__(self) -> None:
        for name in ("components", "extra_columns", "extra_column_patterns"):
            value = getattr(self, name)
            if isinstance(value, str):
                value = (value,)
            object.__setattr__(self, name, tuple(value))
        for name in ("filter", "standardize"):  # None means "off"
            if getattr(self, name) is None:
                object.__setattr__(self, name, False)
        if self.motion_filter_type is False:  # false means "off" too (the command line's "none")
            object.__setattr__(self, "motion_filter_type", None)
        self._validate()
        object.__setattr__(self, "min_time", float(self.min_time))  # 240 in a file reads back as 240.0

    def _validate(self) -> None:
        if not isinstance(self.name, str) or not _STRATEGY_NAME.match(self.name):
            raise ValueError(
                f"strategy name {self.name!r} is not valid: use letters and digits, optionally "
                "joined by '+', '_' or '-' (it becomes a BIDS desc- label)."
            )
        for component in self.components:
            if component == "non_steady_state":
                raise ValueError(
                    "strategy component 'non_steady_state' is not needed: non-steady-state "
                    "volumes are always censored (see dummy_scans)."
                )
            _check_choice(component, STRATEGY_COMPONENTS, "components")
        if "compcor" in self.components and "high_pass" not in self.components:
            raise ValueError(
                "component 'compcor' requires 'high_pass' (fMRIPrep computes CompCor on "
                "high-pass filtered data, so its cosine regressors must be included)."
            )
        for name in ("motion", "wm_csf", "global_signal"):
            _check_choice(getattr(self, name), CONFOUND_MODELS, name)
        _check_choice(self.compcor, COMPCOR_TYPES, "compcor")
        _check_n_compcor(self.n_compcor)
        _check_choice(self.ica_aroma, STRATEGY_ICA_AROMA_TYPES, "ica_aroma")
        _check_choice(self.tedana, TEDANA_TYPES, "tedana")
        for name in ("demean", "detrend", "standardize_confounds"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"'{name}' must be true or false; {getattr(self, name)!r} was provided.")
        for column in self.extra_columns:
            if not isinstance(column, str) or not column:
                raise ValueError(f"'extra_columns' must hold column names; {column!r} was provided.")
        for pattern in self.extra_column_patterns:
            try:
                re.compile(pattern)
            except (re.error, TypeError) as error:
                raise ValueError(
                    f"'extra_column_patterns': {pattern!r} is not a valid regular expression ({error})."
                ) from error
        for name in ("fd_threshold", "std_dvars_threshold"):
            _check_positive_or_none(getattr(self, name), name)
        if (
            isinstance(self.min_segment_length, bool)
            or not isinstance(self.min_segment_length, (int, np.integer))
            or self.min_segment_length < 0
        ):
            raise ValueError(
                f"'min_segment_length' must be an integer >= 0 (volumes); {self.min_segment_length!r} was provided."
            )
        if isinstance(self.min_time, bool) or not isinstance(self.min_time, (int, float, np.integer, np.floating)) or not (
            math.isfinite(self.min_time) and self.min_time >= 0
        ):
            raise ValueError(
                f"'min_time' must be a number of seconds >= 0 (0 disables it); {self.min_time!r} was provided."
            )
        if self.motion_filter_type is not None:
            _check_motion_filter_settings(self.motion_filter_type, self.band_stop_min, self.band_stop_max,
                                          self.motion_filter_order)
        else:
            for name in ("band_stop_min", "band_stop_max"):
                _check_positive_or_none(getattr(self, name), name)
        if self.standardize is True or self.standardize not in _STANDARDIZE_CHOICES:
            raise ValueError(
                f"'standardize' must be one of {list(_STANDARDIZE_CHOICES)}; {self.standardize!r} was provided."
            )
        if self.filter is True or self.filter not in _FILTER_CHOICES:
            raise ValueError(f"'filter' must be one of {list(_FILTER_CHOICES)}; {self.filter!r} was provided.")
        for name in ("low_pass", "high_pass"):
            _check_positive_or_none(getattr(self, name), name)
        if self.low_pass is not None and self.high_pass is not None and self.high_pass >= self.low_pass:
            raise ValueError(
                f"'high_pass' ({self.high_pass} Hz) must be lower than 'low_pass' ({self.low_pass} Hz)."
            )
        if self.filter == "cosine" and self.low_pass is not None:
            raise ValueError("'low_pass' is not available with filter 'cosine'; use 'butterworth'.")
        if not isinstance(self.description, str):
            raise ValueError("'description' must be text.")

    @property
    def desc(self) -> str:
        """BIDS ``desc-`` label: the name in camelCase, ``gsr`` as ``GSR``.

        ``simple+gsr`` -> ``simpleGSR``; ``ica_aroma`` -> ``icaAroma``.
        """
        first, *others = re.split(r"[+_-]", self.name)
        return first + "".join("GSR" if part.lower() == "gsr" else part[:1].upper() + part[1:] for part in others)

    @property
    def censors_motion(self) -> bool:
        """Whether volumes are censored by FD/DVARS (``scrub`` component)."""
        return "scrub" in self.components

    @property
    def filters_motion(self) -> bool:
        """Whether the motion filter changes something: a filter type, and motion
        regressors or FD censoring to use the filtered parameters."""
        return self.motion_filter_type is not None and (
            "motion" in self.components or (self.censors_motion and self.fd_threshold is not None))

    @property
    def needs_sidecar(self) -> bool:
        """Whether the confounds JSON sidecar is read: anatomical CompCor takes each
        component's mask from it."""
        return "compcor" in self.components and "anat" in self.compcor

    @property
    def requires_aroma_image(self) -> bool:
        """Whether the BOLD input must be fMRIPrep's ``desc-smoothAROMAnonaggr_bold``."""
        return "ica_aroma" in self.components and self.ica_aroma == "full"

    @property
    def needs_aroma_outputs(self) -> bool:
        """Whether fMRIPost-AROMA's ``desc-aroma_timeseries.tsv`` is required (``ica_aroma: orthaggr``)."""
        return "ica_aroma" in self.components and self.ica_aroma == "orthaggr"

    @property
    def needs_tedana_outputs(self) -> bool:
        """Whether tedana's ``desc-ICA_mixing.tsv`` and ``desc-tedana_metrics.tsv`` are required."""
        return "tedana" in self.components

    @property
    def clean_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`regionseries.signal.clean` (without t_r)."""
        return {
            "detrend": self.detrend,
            "standardize": self.standardize,
            "standardize_confounds": self.standardize_confounds,
            "filter": self.filter,
            "low_pass": self.low_pass,
            "high_pass": self.high_pass,
        }

    def to_dict(self) -> dict[str, Any]:
        """All settings as JSON-serialisable values (for sidecars)."""
        settings = dataclasses.asdict(self)
        for name in ("components", "extra_columns", "extra_column_patterns"):
            settings[name] = list(settings[name])
        settings["desc"] = self.desc
        return settings

    def load_confounds_kwargs(self) -> dict[str, Any]:
        """The :func:`load_confounds` arguments of this strategy's components."""
        kwargs = {
            "strategy": self.components,
            "motion": self.motion,
            "wm_csf": self.wm_csf,
            "global_signal": self.global_signal,
            "compcor": self.compcor,
            "n_compcor": self.n_compcor,
            "ica_aroma": self.ica_aroma,
            "tedana": self.tedana,
            "demean": self.demean,
            "scrub": self.min_segment_length,
        }
        if self.fd_threshold is not None:
            kwargs["fd_threshold"] = self.fd_threshold
        if self.std_dvars_threshold is not None:
            kwargs["std_dvars_threshold"] = self.std_dvars_threshold
        return kwargs


def _check_positive_or_none(value: Any, name: str) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not (
        math.isfinite(value) and value > 0
    ):
        raise ValueError(f"'{name}' must be a positive number or null; {value!r} was provided.")


_STRATEGY_FIELDS = tuple(item.name for item in dataclasses.fields(DenoiseStrategy))
_FILE_KEYS = (*_STRATEGY_FIELDS, "base", "desc")
_OVERRIDABLE = tuple(name for name in _STRATEGY_FIELDS if name != "name")


def _preset_file(name: str):
    return resources.files("regionseries") / "strategies" / f"{name}.json"


def _load_preset(name: str) -> DenoiseStrategy:
    with _preset_file(name).open(encoding="utf-8") as handle:
        settings = json.load(handle)
    return _strategy_from_settings(settings, source=f"built-in preset '{name}'")


def _strategy_from_settings(settings: Mapping[str, Any], source: str) -> DenoiseStrategy:
    if not isinstance(settings, Mapping):
        raise ConfoundsError(
            f"{source}: a strategy file must hold a mapping of settings, not a {type(settings).__name__}."
        )
    unknown = sorted(set(settings) - set(_FILE_KEYS))
    if unknown:
        raise ConfoundsError(f"{source}: unknown strategy setting(s) {unknown}; allowed: {list(_FILE_KEYS)}.")
    if "name" not in settings:
        raise ConfoundsError(
            f"{source}: the strategy has no 'name' (letters and digits; it becomes the desc- label)."
        )
    settings = dict(settings)
    base_name = settings.pop("base", None)
    # "desc" is derived from the name; it is allowed so that to_dict() output can be read back
    desc = settings.pop("desc", None)
    for key in ("components", "extra_columns", "extra_column_patterns"):
        if key in settings and not isinstance(settings[key], (list, tuple, str)):
            raise ConfoundsError(f"{source}: '{key}' must be a list; {settings[key]!r} was provided.")
    try:
        if base_name is not None:
            if base_name not in PRESET_NAMES:
                raise ValueError(f"'base' must be one of {list(PRESET_NAMES)}; {base_name!r} was provided.")
            strategy = dataclasses.replace(_load_preset(base_name), **settings)
        else:
            strategy = DenoiseStrategy(**settings)
        if desc is not None and desc != strategy.desc:
            raise ValueError(f"'desc' is derived from the name ({strategy.desc!r}); {desc!r} was provided.")
    except (TypeError, ValueError) as error:
        raise ConfoundsError(f"{source}: {error}") from error
    return strategy


def _read_strategy_file(path: Path) -> DenoiseStrategy:
    try:
        text = readable.read_text(path)
    except readable.UnavailableFile as error:
        raise StrategyFileUnavailable(f"{path}: the strategy file cannot be read: {error.problem}.") from None
    except readable.UnreadableFile as error:
        raise ConfoundsError(f"{path}: the strategy file cannot be read: {error.problem}.") from None
    if path.suffix.lower() == ".json":
        try:
            settings = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfoundsError(f"{path}: the strategy file is not valid JSON ({error}).") from error
    else:
        import yaml  # only needed for YAML strategy files

        try:
            settings = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ConfoundsError(f"{path}: the strategy file is not valid YAML ({error}).") from error
    return _strategy_from_settings(settings, source=str(path))


def get_strategy(spec: str | os.PathLike | DenoiseStrategy, **overrides: Any) -> DenoiseStrategy:
    """A denoising strategy from a preset name or a strategy file.

    Parameters
    ----------
    spec : str, os.PathLike or DenoiseStrategy
        A preset name (``none``, ``simple``, ``simple+gsr``, ``scrubbing``,
        ``scrubbing+gsr``, ``compcor``, ``compcor+gsr``, ``ica_aroma``,
        ``ica_aroma+gsr``), or
        the path of a JSON (``.json``) or YAML (``.yaml``/``.yml``) strategy
        file (format in ``docs/strategies.md``).
    **overrides
        Settings replacing the strategy's (e.g. from command-line flags:
        ``fd_threshold``, ``std_dvars_threshold``, ``low_pass``,
        ``high_pass``, ``filter``, ``detrend``, ``standardize``; any field
        of :class:`DenoiseStrategy` except ``name``). None means "not
        given" and is ignored.

    Returns
    -------
    DenoiseStrategy

    Raises
    ------
    StrategyFileUnavailable
        If the strategy file is missing, not fetched or cannot be opened
        (a :class:`ConfoundsError`).
    ConfoundsError
        If the spec is neither a preset nor a readable, valid strategy file.
    ValueError
        If an override has an invalid value.
    TypeError
        If an override is not a strategy setting.
    """
    if isinstance(spec, DenoiseStrategy):
        strategy = spec
    elif isinstance(spec, str) and spec in PRESET_NAMES:
        strategy = _load_preset(spec)
    elif isinstance(spec, (str, os.PathLike)):
        path = Path(spec)
        if path.suffix.lower() not in (".json", ".yaml", ".yml"):
            suggestion = did_you_mean(os.fspath(spec), PRESET_NAMES)
            raise ConfoundsError(
                f"unknown denoising strategy {os.fspath(spec)!r}: not a preset ({', '.join(PRESET_NAMES)}) "
                "and not a .json/.yaml/.yml strategy file" + (f"; {suggestion}" if suggestion else ".")
            )
        strategy = _read_strategy_file(path)
    else:
        raise TypeError(
            f"a strategy is a preset name, a file path or a DenoiseStrategy, not {type(spec).__name__}."
        )

    given = {key: value for key, value in overrides.items() if value is not None}
    unknown = sorted(set(given) - set(_OVERRIDABLE))
    if unknown:
        raise TypeError(f"get_strategy() got unknown override(s) {unknown}; allowed: {list(_OVERRIDABLE)}.")
    if not strategy.censors_motion:
        ignored = sorted(set(given) & {"fd_threshold", "std_dvars_threshold", "min_segment_length"})
        if ignored:
            warnings.warn(
                f"{ignored} have no effect: strategy '{strategy.name}' does not censor by motion "
                "(it has no 'scrub' component).",
                UserWarning,
                stacklevel=2,
            )
    for name in ("ica_aroma", "tedana"):
        if name in given and name not in strategy.components:
            warnings.warn(
                f"{name} ({given[name]!r}) has no effect: strategy '{strategy.name}' has no '{name}' component.",
                UserWarning,
                stacklevel=2,
            )
    made_here = given or not isinstance(spec, DenoiseStrategy)
    strategy = dataclasses.replace(strategy, **given) if given else strategy
    if made_here:  # warned once where the strategy is made, not for every run it plans
        _warn_unused_motion_filter(strategy, given)
    return strategy


def _warn_unused_motion_filter(strategy: DenoiseStrategy, given: Mapping[str, Any]) -> None:
    """Warn about motion-filter settings that do nothing, and bands that look like Hz."""
    band = sorted(set(given) & {"band_stop_min", "band_stop_max", "motion_filter_order"})
    if strategy.motion_filter_type is None:
        if band:
            warnings.warn(f"{band} have no effect: strategy '{strategy.name}' has no motion filter "
                          "(set motion_filter_type / --motion-filter-type).", UserWarning, stacklevel=3)
        return
    if not strategy.filters_motion:
        warnings.warn(
            f"the motion filter has no effect on strategy '{strategy.name}': it has neither motion regressors nor "
            "censoring by framewise displacement.", UserWarning, stacklevel=3)
    if strategy.motion_filter_type == "lp" and "band_stop_max" in given:
        warnings.warn("band_stop_max (--band-stop-max) is not used by the 'lp' motion filter (its cut-off is "
                      "band_stop_min).", UserWarning, stacklevel=3)
    bands = [value for value in (strategy.band_stop_min, strategy.band_stop_max) if value is not None]
    if any(value < 1 for value in bands):
        warnings.warn(
            f"strategy '{strategy.name}': motion filter band {bands} is below 1 breath per minute; band_stop_min "
            "and band_stop_max are in breaths per minute, not Hz (12-18 for adults, XCP-D's table in "
            "docs/strategies.md).", UserWarning, stacklevel=3)
