"""Thresholding of statistical maps and extraction of connected regions.

Reproduces nilearn 0.14.1's ``threshold_img`` (on volumes and on surface
images shaped like nilearn's ``SurfaceImage``, see :mod:`.image.surface`),
``connected_regions`` and the random-walker segmentation it uses (section 6 of
the nilearn behaviour reference) on numpy/scipy. Sizes are in voxels (vertices
on surfaces) unless stated in mm³.
"""

from __future__ import annotations

import numbers
import os
import warnings

import nibabel as nib
import numpy as np
from scipy import sparse
from scipy.ndimage import (
    binary_propagation,
    generate_binary_structure,
    label,
    maximum_filter,
)
from scipy.sparse.linalg import cg
from threadpoolctl import threadpool_limits

from .image import (
    check_same_fov,
    describe_img,
    get_data,
    load_img,
    load_mask_img,
    new_img_like,
    resample_img,
    smooth_array,
    surface,
)

__all__ = [
    "threshold_img",
    "connected_regions",
    "random_walker",
    "peak_local_max",
    "score_at_percentile",
    "resolve_threshold",
]

EXTRACT_TYPES = ("connected_components", "local_regions")

_NON_FINITE_WARNING = "Non-finite values detected. These values will be replaced with zeros."
_THRESHOLD_TYPES = (float, np.floating, int, np.integer, str, type(None))
_THRESHOLD_TYPES_TEXT = "float | numpy.floating | int | numpy.integer | None | str"
_PERCENT_FORMAT_MESSAGE = (
    'If "{name}" is given as string it should be a number followed by the '
    'percent sign, e.g. "25.3%"'
)


# ---------------------------------------------------------------------------
# Threshold resolution


def score_at_percentile(values, percentile: float) -> float:
    """Score at a percentile with ``scipy.stats.scoreatpercentile``'s arithmetic.

    The values are sorted (flattened); ``idx = p/100 · (N − 1)``; an integer
    index returns that value, a fractional one interpolates between
    ``i = int(idx)`` and ``j = i + 1`` with float64 weights ``(j − idx)`` and
    ``(idx − i)`` divided by their sum. This is not always bit-identical to
    ``numpy.percentile``.

    Parameters
    ----------
    values : array-like
    percentile : float
        In [0, 100].

    Returns
    -------
    float
        NaN for empty input.

    Raises
    ------
    ValueError
        If ``percentile`` is outside [0, 100].
    """
    flat = np.ravel(np.asarray(values))
    if flat.size == 0:
        return float("nan")
    if not 0 <= percentile <= 100:
        raise ValueError("percentile must be in the range [0, 100]")
    idx = percentile / 100.0 * (flat.size - 1)
    i = int(idx)
    if i == idx:
        return float(np.partition(flat, i)[i])
    j = i + 1
    both = np.partition(flat, (i, j))[[i, j]].astype(np.float64)
    weights = np.array([j - idx, idx - i], dtype=np.float64)
    return float((both[0] * weights[0] + both[1] * weights[1]) / weights.sum())


def _parse_threshold(threshold, name: str) -> tuple[float, bool]:
    """Threshold value and whether it is a percentile; type and format errors."""
    if isinstance(threshold, str):
        message = _PERCENT_FORMAT_MESSAGE.format(name=name)
        if not threshold.endswith("%"):
            raise ValueError(f"{message}; got {threshold!r}.")
        try:
            return float(threshold[:-1]), True
        except ValueError:
            raise ValueError(f"{message}; got {threshold!r}.") from None
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise TypeError(
            f"{name} should be either a number or a string finishing with a "
            f"percent sign; got {threshold!r}."
        )
    return float(threshold), False


def resolve_threshold(threshold, cutoff_data, two_sided: bool, name: str = "threshold") -> float:
    """Turn a number or a "p%" string into a cut-off value (nilearn's check_threshold).

    Parameters
    ----------
    threshold : float or str
        A value, or a percentile string such as "97%" or "97.5%".
    cutoff_data : numpy.ndarray
        Values the percentile is computed on.
    two_sided : bool
        Percentiles of ``|values|`` (True) or of the non-negative values (False).
    name : str
        Parameter name for messages.

    Returns
    -------
    float
        The cut-off; a percentile gets ``+ 1e-5`` as in nilearn.

    Raises
    ------
    TypeError
        If ``threshold`` is neither a real number nor a string.
    ValueError
        For a string not of the form "<number>%", a negative value with
        ``two_sided``, a negative percentile, or a percentile above 100.
    """
    value, is_percentile = _parse_threshold(threshold, name)
    if np.isnan(value):
        raise ValueError(f'"{name}" must not be NaN.')
    if value >= 0.0:
        base = np.abs(cutoff_data) if two_sided else cutoff_data[cutoff_data >= 0]
        if is_percentile:
            if base.size == 0:
                # No non-negative value to take a percentile of: remove everything.
                return float("inf")
            return score_at_percentile(base, value) + 1e-5
        if base.size and value > base.max():
            warnings.warn(
                f"The given float value must not exceed {base.max()}. "
                f"But, you have given threshold={value}.",
                UserWarning,
                stacklevel=3,
            )
        return value
    if two_sided:
        raise ValueError(f'"{name}" should not be a negative value when two_sided=True.')
    if is_percentile:
        raise ValueError(f'"{name}" should not be a negative percentile value.')
    base = cutoff_data[cutoff_data <= 0]
    if base.size and value < base.min():
        warnings.warn(
            f"The given float value must not be less than {base.min()}. "
            f"But, you have given threshold={value}.",
            UserWarning,
            stacklevel=3,
        )
    return value


def _apply_threshold(data: np.ndarray, two_sided: bool, cutoff: float) -> None:
    """Zero, in place, the values that do not pass ``cutoff``."""
    if two_sided:
        below = (-cutoff < data) & (data < cutoff)
    elif cutoff >= 0:
        below = data < cutoff
    else:
        below = data > cutoff
    data[below] = 0


def _remove_small_clusters(volume: np.ndarray, cluster_threshold: int) -> None:
    """Zero, in place, 6-connected same-sign clusters smaller than ``cluster_threshold`` voxels."""
    faces = generate_binary_structure(3, 1)
    for sign in np.unique(np.sign(volume)):
        if sign == 0:
            continue
        cluster_ids, _ = label((volume * sign) > 0, faces)
        sizes = np.bincount(cluster_ids.ravel())
        too_small = sizes < cluster_threshold
        too_small[0] = False
        volume[too_small[cluster_ids]] = 0


def _writable_data(img, copy: bool) -> np.ndarray:
    """The image's data, copied unless ``copy`` is False and they are in memory."""
    in_memory = isinstance(img.dataobj, np.ndarray)
    data = get_data(img)
    if (copy and in_memory) or isinstance(data, np.memmap) or not data.flags.writeable:
        data = np.array(data, copy=True)
    return data


def _zero_non_finite(*arrays: np.ndarray, stacklevel: int = 3) -> None:
    """Set NaN/±inf to 0 in place, with one nilearn warning for all the arrays."""
    replaced = False
    for data in arrays:
        if data.dtype.kind in ("f", "c"):
            non_finite = ~np.isfinite(data)
            if non_finite.any():
                data[non_finite] = 0
                replaced = True
    if replaced:
        warnings.warn(_NON_FINITE_WARNING, UserWarning, stacklevel=stacklevel)


def _mask_on_grid(mask_img, shape, affine) -> np.ndarray:
    """Strictly validated boolean mask on the (shape, affine) grid (nearest resampling)."""
    mask = load_img(mask_img, ensure_ndim=3)
    if not check_same_fov(mask, (shape, affine)):
        mask = resample_img(mask, affine, shape[:3], interpolation="nearest")
    mask_data, _ = load_mask_img(mask)
    return mask_data


def _check_threshold_type(threshold) -> None:
    """nilearn's type check of ``threshold`` (its ``check_params``), with its message."""
    if isinstance(threshold, (bool, np.bool_)) or not isinstance(threshold, _THRESHOLD_TYPES):
        raise TypeError(
            f"'threshold' must be of type(s): '{_THRESHOLD_TYPES_TEXT}'.\n"
            f"Got: '{threshold.__class__.__name__}'. threshold should be either a number "
            "or a string finishing with a percent sign."
        )


def _check_img_and_mask_types(img, mask_img) -> bool:
    """Whether ``img`` is a surface image; TypeError for another object or a mask of the other kind."""
    img_is_surface = surface.is_surface_image(img)
    if not img_is_surface and not isinstance(img, (str, os.PathLike, nib.spatialimages.SpatialImage)):
        raise TypeError(
            "'img' should be a 3D/4D Niimg-like object or a SurfaceImage. "
            f"Got {img.__class__.__name__}. Expected a NIfTI image (nibabel SpatialImage) "
            "or a path to one, or a surface image (with .mesh and .data, such as nilearn's "
            "SurfaceImage)."
        )
    if mask_img is not None and surface.is_surface_image(mask_img) != img_is_surface:
        expected = (
            "SurfaceImage instances would be expected"
            if surface.is_surface_image(mask_img)
            else "images should be NiftiImage-like instances (Nifti1Image or str or Path)"
        )
        raise TypeError(
            "Mask and input images must be of compatible types.\n"
            f"Got mask of type: {mask_img.__class__.__name__}, and images of type: "
            f"[{type(img)}] where {expected}."
        )
    return img_is_surface


def _writable_part(values: np.ndarray, copy: bool) -> np.ndarray:
    """A surface part's array, copied unless ``copy`` is False and it can be written in place."""
    if copy or isinstance(values, np.memmap) or not values.flags.writeable:
        return np.array(values, copy=True)
    return values


def _surface_parts_to_threshold(img, mask_img, copy: bool) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The writable, finite, masked data parts of a surface image and the values of its cut-off."""
    parts = {name: _writable_part(values, copy) for name, values in surface.data_parts(img).items()}
    _zero_non_finite(*parts.values(), stacklevel=4)
    cutoff_data = surface.concatenate_parts(parts)
    if mask_img is not None:
        surface.check_compatible_meshes(surface.mesh_parts(mask_img), surface.mesh_parts(img), stacklevel=4)
        mask = surface.surface_mask_parts(surface.data_parts(mask_img))
        cutoff_data = cutoff_data[surface.concatenate_parts({name: mask[name] for name in parts})]
        for name, values in parts.items():
            values[~mask[name]] = 0
    return parts, cutoff_data


def threshold_img(
    img,
    threshold,
    cluster_threshold: int = 0,
    two_sided: bool = True,
    mask_img=None,
    copy: bool = True,
    copy_header: bool = True,
):
    """Threshold a 3D/4D or surface image by value or percentile, optionally by cluster size.

    Parameters
    ----------
    img : nibabel image or path (3D or 4D), or surface image
        Statistical map(s). NaN/±inf are set to 0 with a warning. A surface
        image is an object shaped like nilearn's ``SurfaceImage`` (see
        :mod:`regionseries.core.image.surface`): each part (hemisphere) of
        shape (n_vertices,) or (n_vertices, n_samples) is thresholded with the
        same rules, the percentile being taken over all parts together.
    threshold : float or str
        A value, or a percentile "p%" of the in-mask values (of their absolute
        values when ``two_sided``, else of the non-negative values; zeros
        included); a percentile cut-off gets + 1e-5, as in nilearn.
    cluster_threshold : int, default=0
        Minimum cluster size (voxels, or vertices on a surface); clusters of
        each sign are evaluated separately in each volume (sample): 6-connected
        voxels, or vertices joined by an edge of the mesh. 0 disables it.
    two_sided : bool, default=True
        Keep values with ``|x| >= threshold``. When False and ``threshold >= 0``
        keep ``x >= threshold``; when False and ``threshold < 0`` keep
        ``x <= threshold``.
    mask_img : nibabel image or path, or surface image, optional
        Voxels (vertices) outside are set to 0 and excluded from the
        percentile; must be a valid binary mask. A volume mask is resampled
        (nearest) onto the image grid if needed; a surface mask (for a surface
        image) needs 1D parts on a mesh with the image's parts and numbers of
        vertices (a RuntimeWarning if the meshes otherwise differ).
    copy : bool, default=True
        False thresholds an in-memory image's arrays in place (the parts'
        arrays of a surface image).
    copy_header : bool, default=True
        Copy the input header to the output (volumes only).

    Returns
    -------
    nibabel.Nifti1Image or surface image
        Same dtype as the input data. For a surface image, an object of its
        class on the same mesh object (``type(img)(mesh=img.mesh, data=...)``).

    Raises
    ------
    TypeError
        Bad ``img``, ``threshold`` or ``cluster_threshold`` type; a mask of
        the other kind (surface for a volume or the reverse).
    ValueError
        Bad threshold format or sign, invalid mask, surface meshes that do not
        match.
    """
    if isinstance(cluster_threshold, bool) or not isinstance(cluster_threshold, (int, np.integer)):
        raise TypeError(
            "cluster_threshold must be an integer number of voxels, got "
            f"{type(cluster_threshold).__name__} {cluster_threshold!r}."
        )
    if cluster_threshold < 0:
        raise ValueError(f"cluster_threshold must be >= 0 voxels, got {cluster_threshold}.")
    # Check the threshold's type and format before any data are read.
    _check_threshold_type(threshold)
    _parse_threshold(threshold, "threshold")
    if _check_img_and_mask_types(img, mask_img):
        parts, cutoff_data = _surface_parts_to_threshold(img, mask_img, copy)
        cutoff = resolve_threshold(threshold, cutoff_data, two_sided)
        meshes = surface.mesh_parts(img) if cluster_threshold > 0 else {}
        for name, values in parts.items():
            _apply_threshold(values, two_sided, cutoff)
            if cluster_threshold > 0:
                surface.remove_small_clusters(values, meshes[name].faces, int(cluster_threshold))
        return surface.surface_image_like(img, parts)
    loaded = load_img(img)
    if len(loaded.shape) not in (3, 4):
        raise ValueError(
            f"threshold_img needs a 3D or 4D image; {describe_img(img)} has shape {loaded.shape}."
        )
    data = _writable_data(loaded, copy)
    _zero_non_finite(data)
    cutoff_data = data
    if mask_img is not None:
        inside = _mask_on_grid(mask_img, loaded.shape[:3], loaded.affine)
        cutoff_data = data[inside]
        data[~inside] = 0
    cutoff = resolve_threshold(threshold, cutoff_data, two_sided)
    _apply_threshold(data, two_sided, cutoff)
    if cluster_threshold > 0:
        volumes = data[..., np.newaxis] if data.ndim == 3 else data
        for index in range(volumes.shape[3]):
            volume = volumes[..., index]
            _remove_small_clusters(volume, int(cluster_threshold))
    return new_img_like(loaded, data, loaded.affine, copy_header=copy_header)


# ---------------------------------------------------------------------------
# Peaks and random walker


def peak_local_max(image: np.ndarray, min_distance: int = 10, threshold_rel: float = 0.1) -> np.ndarray:
    """Boolean map of local maxima, as nilearn's port of scikit-image 0.11.

    A voxel is a peak when it equals the maximum of the cube of side
    ``2·min_distance + 1`` around it (zero outside the volume) and exceeds
    ``max(threshold_rel · max(peak values), 0)``. A plateau gives several
    peak voxels; only positive peaks exist; a constant image has none.

    Parameters
    ----------
    image : numpy.ndarray
    min_distance : int, default=10
        Half-width of the neighbourhood (voxels).
    threshold_rel : float, default=0.1

    Returns
    -------
    numpy.ndarray of bool
    """
    if np.all(image == image.flat[0]):
        return np.zeros(image.shape, dtype=bool)
    neighbourhood_max = maximum_filter(image, size=2 * min_distance + 1, mode="constant")
    peak_values = image * (image == neighbourhood_max)
    peak_threshold = max(np.max(peak_values) * threshold_rel, 0)
    return peak_values > peak_threshold


def _as_float_like_sklearn(data: np.ndarray) -> np.ndarray:
    """Float copy keeping float32/float64 and the memory layout (as sklearn's as_float_array)."""
    if data.dtype in (np.float32, np.float64):
        return data.copy("F" if data.flags.f_contiguous else "C")
    if data.dtype.kind in "uib" and data.dtype.itemsize <= 4:
        return data.astype(np.float32)
    return data.astype(np.float64)


def _consecutive_labels(labels: np.ndarray) -> np.ndarray:
    """Relabel values >= 0 by rank when the label values are not consecutive."""
    values = np.unique(labels)
    if np.any(np.diff(values) != 1):
        active = labels >= 0
        labels[active] = np.searchsorted(np.unique(labels[active]), labels[active]).astype(labels.dtype)
    return labels.astype(np.int32)


def _drop_unreachable(labels: np.ndarray) -> None:
    """Mark as inactive (−1) the voxels the walk cannot reach, in place.

    Unlabelled voxels with no path to a seed through active voxels, then seeds
    with no path to an unlabelled voxel (6-connectivity).
    """
    active = labels >= 0
    reached = binary_propagation(labels > 0, mask=active)
    labels[~reached & (labels == 0)] = -1
    reached = binary_propagation(labels == 0, mask=labels >= 0)
    labels[(labels > 0) & ~reached] = -1


def _graph_laplacian(data: np.ndarray, active: np.ndarray, beta: float) -> sparse.csr_matrix:
    """Weighted graph Laplacian of the active voxels (6-neighbour edges), CSR sorted.

    Edge weight ``exp(−β/(10·std) · |Δ|²) + 1e-10`` with ``std`` over the whole
    volume and ``Δ`` the difference of the neighbours (unit spacing). Edges are
    taken axis 2, then 1, then 0, each in C order, and the diagonal is the sum
    of the weights in that order, so the floating-point sums match nilearn's.
    """
    shape = data.shape
    node_of_voxel = np.full(shape, -1, dtype=np.int64)
    node_of_voxel[active] = np.arange(int(active.sum()))
    scale = beta / (10 * data.std())  # float32 scalar for float32 data, as nilearn
    sources, targets, weights = [], [], []
    for axis in (2, 1, 0):
        head = [slice(None)] * 3
        tail = [slice(None)] * 3
        head[axis] = slice(None, -1)
        tail[axis] = slice(1, None)
        head, tail = tuple(head), tuple(tail)
        both = active[head] & active[tail]
        difference = np.abs(data[head][both] - data[tail][both]) / np.float64(1.0)
        weights.append(np.exp(-(difference**2 * scale)) + 1.0e-10)
        sources.append(node_of_voxel[head][both])
        targets.append(node_of_voxel[tail][both])
    source = np.concatenate(sources)
    target = np.concatenate(targets)
    weight = np.concatenate(weights)
    n_nodes = int(active.sum())
    rows = np.concatenate([source, target])
    cols = np.concatenate([target, source])
    off_diagonal = -np.concatenate([weight, weight])
    diagonal = -np.bincount(rows, weights=off_diagonal, minlength=n_nodes)
    nodes = np.arange(n_nodes)
    laplacian = sparse.coo_matrix(
        (
            np.concatenate([off_diagonal, diagonal]),
            (np.concatenate([rows, nodes]), np.concatenate([cols, nodes])),
        ),
        shape=(n_nodes, n_nodes),
    ).tocsr()
    laplacian.sum_duplicates()
    return laplacian


def random_walker(data, labels, beta: float = 130.0, tol: float = 1.0e-3) -> np.ndarray:
    """Random-walker segmentation from seeds (nilearn's port of scikit-image 0.11).

    Parameters
    ----------
    data : numpy.ndarray, 3D
        Image to segment. float32 stays float32 for the differences and the
        standard deviation (integers ≤ 32 bits become float32, others float64).
    labels : numpy.ndarray of int, same shape
        −1 inactive, 0 to be labelled, 1..n seeds.
    beta : float, default=130
        Diffusion penalty; the weights use ``beta / (10 · std(data))``.
    tol : float, default=1e-3
        Relative tolerance of scipy's conjugate gradient (atol 0, x0 = 0),
        run with one BLAS thread (nilearn uses the process default, so its
        probabilities can differ from ours by ~1e-14 on multi-core machines).

    Returns
    -------
    numpy.ndarray of int
        Labels (int32, consecutive) with every reachable unlabelled voxel set
        to the seed label of highest probability (ties → lowest label);
        unreachable voxels and isolated seeds are −1. When there is nothing to
        do (no unlabelled voxel, no seed, or everything unreachable) a warning
        is raised and a copy of ``labels`` is returned.
    """
    data = np.asarray(data)
    labels = np.asarray(labels)
    if data.ndim != 3 or labels.shape != data.shape:
        raise ValueError(
            f"random_walker needs a 3D image and labels of the same shape; got "
            f"{data.shape} and {labels.shape}."
        )
    if (labels != 0).all():
        warnings.warn(
            "Random walker only segments unlabeled areas, where labels == 0. "
            "No zero valued areas in labels were found. Returning provided labels.",
            UserWarning,
            stacklevel=2,
        )
        return labels.copy()
    if (labels == 0).all():
        warnings.warn(
            "Random walker received no seed label. Returning provided labels.",
            UserWarning,
            stacklevel=2,
        )
        return labels.copy()
    float_data = _as_float_like_sklearn(data)
    work = _consecutive_labels(labels.copy())
    if np.any(work < 0):
        _drop_unreachable(work)
    if (work == -1).all():
        warnings.warn(
            "Random walker only segments unlabeled areas, where labels == 0. "
            "Data provided only contains isolated seeds and isolated pixels. "
            "Returning provided labels.",
            UserWarning,
            stacklevel=2,
        )
        return labels.copy()
    active = work >= 0
    laplacian = _graph_laplacian(float_data, active, beta)
    node_labels = work[active]
    unlabelled = np.flatnonzero(node_labels == 0)
    seeds = np.flatnonzero(node_labels > 0)
    rows = laplacian[unlabelled]
    # nilearn hands cg a CSC matrix; for this symmetric matrix with sorted
    # indices the CSR product adds the same terms in the same order, so the
    # iterates are bit-identical, and CSR is ~10 % faster.
    system = rows[:, unlabelled]
    coupling = rows[:, seeds]
    seed_labels = node_labels[seeds]
    n_labels = int(node_labels.max())
    probabilities = []
    # One BLAS thread: cg's dot products on these vectors are slower when
    # threaded (about 8x under CPU contention), and a fixed thread count makes
    # the result independent of the machine's core count.
    with threadpool_limits(limits=1, user_api="blas"):
        for seed_label in range(1, n_labels + 1):
            indicator = sparse.csr_matrix(seed_labels == seed_label).transpose()
            rhs = -(coupling @ indicator).toarray()
            solution, _ = cg(system, rhs, rtol=tol, atol=0)
            probabilities.append(solution)
    winner = np.argmax(np.array(probabilities), axis=0) + 1
    work[work == 0] = winner.astype(work.dtype)
    return work


# ---------------------------------------------------------------------------
# Region extraction


def _label_one_map(map_3d, affine, extract_type: str, smoothing_fwhm) -> np.ndarray:
    """Integer label image of the regions of one map (0 = background)."""
    if extract_type == "connected_components":
        region_labels, _ = label(map_3d)
        return region_labels
    if not map_3d.any():
        # Every voxel would be inactive: nilearn's walker warns and returns nothing.
        return np.zeros(map_3d.shape, dtype=np.int32)
    smoothed = smooth_array(map_3d, affine, smoothing_fwhm)
    seeds, _ = label(peak_local_max(smoothed))
    seeds[map_3d == 0.0] = -1
    walked = random_walker(map_3d, seeds)
    walked[walked == -1] = 0
    return walked


def connected_regions(
    maps_img,
    min_region_size: float = 1350,
    extract_type: str = "local_regions",
    smoothing_fwhm=6,
    mask_img=None,
):
    """Split each map into separated regions (nilearn's ``connected_regions``).

    Parameters
    ----------
    maps_img : nibabel image or path, 3D or 4D
        Maps (the 4th axis); a 3D image is one map. Voxels that are 0 are
        background.
    min_region_size : float, default=1350
        Minimum region volume (mm³); converted to voxels with the voxel volume
        ``|det(affine[:3, :3])|``; a region is kept when it is strictly larger.
    extract_type : {"local_regions", "connected_components"}
        "connected_components": 6-connected components of the non-zero voxels
        (negative values included). "local_regions": seeds at the positive
        local maxima of the smoothed map, then a random walker assigns every
        non-zero voxel to a seed (purely negative blobs get no seed).
    smoothing_fwhm : float or None, default=6
        FWHM (mm) of the smoothing used to find the peaks ("local_regions").
    mask_img : nibabel image or path, optional
        Maps are set to 0 outside; resampled (nearest) if needed; validated
        strictly.

    Returns
    -------
    regions_img : nibabel.Nifti1Image or None
        4D float32 image (as nilearn, whatever the maps' dtype), one volume per
        region (the map's values inside the region, 0 elsewhere), ordered by
        map then label; None when nothing is found.
    index : list of int or None
        For each region, the index of its source map.

    Raises
    ------
    ValueError
        Unknown ``extract_type`` or invalid mask.
    """
    if extract_type not in EXTRACT_TYPES:
        raise ValueError(
            f"extract_type must be one of {EXTRACT_TYPES}; got {extract_type!r}."
        )
    if isinstance(min_region_size, bool) or not isinstance(min_region_size, numbers.Real):
        raise TypeError(
            f"min_region_size must be a number (mm³); got {type(min_region_size).__name__}."
        )
    maps_img = load_img(maps_img, ensure_ndim=4)
    affine = maps_img.affine
    maps = get_data(maps_img)
    if maps.dtype.kind in ("f", "c") and not np.all(np.isfinite(maps)):
        # nilearn keeps NaN here, which makes every region of that map NaN and
        # the random walker's weights NaN; treat them as background instead.
        maps = np.array(maps, copy=True)
        _zero_non_finite(maps)
    min_voxels = min_region_size / np.abs(np.linalg.det(affine[:3, :3]))
    if mask_img is not None:
        inside = _mask_on_grid(mask_img, maps_img.shape[:3], affine)
        maps = np.array(maps, copy=True)
        maps[~inside] = 0
    kept_labels: list[tuple[int, np.ndarray, int]] = []
    for map_index in range(maps.shape[3]):
        map_3d = maps[..., map_index]
        region_labels = _label_one_map(map_3d, affine, extract_type, smoothing_fwhm)
        sizes = np.bincount(region_labels.ravel())
        sizes[0] = 0
        for label_id in np.flatnonzero(sizes > min_voxels):
            kept_labels.append((map_index, region_labels, int(label_id)))
    if not kept_labels:
        warnings.warn("No supra threshold regions was found", UserWarning, stacklevel=2)
        return None, None
    # nilearn concatenates the regions with concat_imgs' default dtype: float32
    # whatever the maps' dtype (float64 values are rounded, int16 become float).
    regions = np.zeros(maps.shape[:3] + (len(kept_labels),), dtype=np.float32, order="F")
    for position, (map_index, region_labels, label_id) in enumerate(kept_labels):
        in_region = region_labels == label_id
        regions[..., position][in_region] = maps[..., map_index][in_region]
    index = [map_index for map_index, _, _ in kept_labels]
    return new_img_like(maps_img, regions, affine, copy_header=True), index
