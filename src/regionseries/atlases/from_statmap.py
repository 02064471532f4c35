"""Regions derived from a statistical map (``--regions-from NAME=STATMAP``).

The map is thresholded with :func:`regionseries.core.regions.threshold_img`
(``--threshold``: a value, or a percentile such as ``"97%"``; one-sided, as
nilearn's ``RegionExtractor``: only values above the threshold are kept), then
split into separated regions with
:func:`regionseries.core.regions.connected_regions` (``--extract-type``
``local_regions`` — peaks plus random-walker separation — or
``connected_components``; regions not larger than ``--min-region-size`` mm³
are dropped). The regions form a maps atlas of their own (one map per region,
holding the statistical values inside the region), written to ``atlases/``
like any other atlas and extracted by least squares as nilearn's
``RegionExtractor`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..bids.names import is_bids_label
from .base import (
    Atlas,
    AtlasError,
    AtlasUnavailable,
    load_atlas_image,
    maps_atlas_from_image,
    missing_file_message,
)


@dataclass(frozen=True)
class StatmapRequest:
    """A parsed ``--regions-from NAME=STATMAP``."""

    spec: str
    label: str
    statmap: Path

    @classmethod
    def parse(cls, spec: str) -> "StatmapRequest":
        if "=" not in spec:
            raise AtlasError(f"--regions-from {spec}: expected NAME=STATMAP, e.g. Task=/data/zstat1.nii.gz")
        label, path = spec.split("=", 1)
        if not is_bids_label(label):
            raise AtlasError(f"--regions-from {spec}: NAME {label!r} must hold only letters and digits")
        statmap = Path(path).expanduser()
        if not statmap.is_file():
            raise AtlasUnavailable(f"--regions-from {spec}: statistical map {missing_file_message(statmap)}")
        return cls(spec, label, statmap.resolve())


def resolve_statmap_atlas(request: StatmapRequest, threshold: float | str, work_dir: Path, *,
                          min_region_size: float = 1350.0, extract_type: str = "local_regions",
                          smoothing_fwhm: float | None = 6.0) -> Atlas:
    """Threshold a statistical map, split it into regions, return them as a maps atlas.

    Parameters
    ----------
    request : StatmapRequest
    threshold : float or str
        Value, or percentile string ``"p%"`` of the map's non-negative values.
    work_dir : Path
        Where the regions image is saved (workers load it from there).
    min_region_size : float
        Minimum region volume, mm³ (regions must be strictly larger).
    extract_type : {"local_regions", "connected_components"}
    smoothing_fwhm : float or None
        FWHM (mm) of the smoothing used to find peaks (``local_regions``).

    Raises
    ------
    AtlasError
        Unreadable map, no voxel above the threshold, no region large enough.
    """
    from ..core.regions import connected_regions, threshold_img

    img = load_atlas_image(request.statmap, f"--regions-from {request.label}")
    try:
        thresholded = threshold_img(img, threshold, two_sided=False)
    except (ValueError, TypeError) as exc:
        raise AtlasError(f"--regions-from {request.spec}: cannot threshold {request.statmap} at {threshold!r}: {exc}") from exc
    data = np.asarray(thresholded.dataobj)
    if not np.any(data):
        raise AtlasError(f"--regions-from {request.spec}: no voxel of {request.statmap} is above the threshold {threshold!r}")
    try:
        regions_img, index = connected_regions(
            thresholded, min_region_size=min_region_size, extract_type=extract_type, smoothing_fwhm=smoothing_fwhm,
        )
    except (ValueError, TypeError) as exc:
        raise AtlasError(f"--regions-from {request.spec}: region extraction failed: {exc}") from exc
    if regions_img is None or regions_img.shape[-1] == 0:
        raise AtlasError(
            f"--regions-from {request.spec}: no region larger than {min_region_size} mm³ above threshold "
            f"{threshold!r} in {request.statmap} (lower --min-region-size or --threshold)"
        )
    folder = Path(work_dir) / "regions"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{request.label}_probseg.nii.gz"
    regions_img.to_filename(str(path))
    n_regions = regions_img.shape[3]
    table = pd.DataFrame({
        "index": np.arange(1, n_regions + 1),
        "name": [f"{request.label}{k:03d}" for k in range(1, n_regions + 1)],
        "source_map": [int(i) for i in index],
    })
    source = {
        "Origin": "statistical map",
        "File": str(request.statmap),
        "Threshold": threshold,
        "TwoSided": False,
        "MinRegionSizeCubicMillimetres": float(min_region_size),
        "ExtractType": extract_type,
        "PeakSmoothingFWHM": smoothing_fwhm,
    }
    return maps_atlas_from_image(request.label, request.spec, path, table, None, source)
