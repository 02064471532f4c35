"""The maskers' shared docstring entries, written once (nilearn's ``fill_doc`` idea).

A class docstring names an entry as ``%(name)s`` on a line of its own; the
:func:`fill_doc` decorator replaces it with the entry below, so every masker
documents its parameters and fitted attributes in numpydoc form (what
nilearn's ``check_doc_attributes`` reads) without repeating the text.
"""

from __future__ import annotations

import re

__all__ = ["DOC_ENTRIES", "fill_doc"]

_CLEANING = '''    standardize : {"zscore_sample", "zscore", "psc", True, False, None}, default=False
        Standardization of the region signals (see
        :func:`regionseries.signal.clean`); False or None: none.
    standardize_confounds : bool, default=True
        Z-score the confounds before regressing them out.
    high_variance_confounds : bool, default=False
        Add 5 high-variance confounds computed on the whole image (nilearn's
        ``high_variance_confounds``) to the confounds.
    detrend : bool, default=False
        Remove the linear trend of each region signal.
    low_pass : float or None, default=None
        Low-pass cut-off frequency (Hz); None: no low-pass filter.
    high_pass : float or None, default=None
        High-pass cut-off frequency (Hz); None: no high-pass filter.
    t_r : float or None, default=None
        Repetition time (s), needed by the filters.
    dtype : numpy dtype, "auto" or None, default=None
        Data type the data are converted to before extraction, and of the
        output; "auto": int32 for integer data, float32 otherwise; None:
        unchanged.'''

_MEMORY = '''    memory : None, str, pathlib.Path or joblib.Memory, default=None
        Accepted for compatibility with nilearn; nothing is cached
        (extraction reads the image once).
    memory_level : int, default={memory_level}
        Accepted for compatibility with nilearn (see ``memory``).
    verbose : bool or int, default=0
        0 or False: silent; 1 or True: print each step (loading, resampling,
        extracting, cleaning) with nilearn's words; 2: also describe the
        images in more detail (:mod:`regionseries.maskers.verbose`).'''

#: entry name -> numpydoc text, indented for a class docstring
DOC_ENTRIES = {
    "smoothing_fwhm": '''    smoothing_fwhm : float or None, default=None
        Full width at half maximum (mm) of the Gaussian smoothing of each
        volume before extraction; None: no smoothing.''',
    "cleaning": _CLEANING,
    "memory_verbose_level0": _MEMORY.format(memory_level=0),
    "memory_verbose_level1": _MEMORY.format(memory_level=1),
    "reports": '''    reports : bool, default=True
        Whether ``generate_report`` may draw the report's figure; False
        gives a report without it, and a warning.''',
    "maps_resampling_target": '''    resampling_target : {"data", "mask", "maps", None}, default="data"
        Grid of the extraction: "data" resamples the maps (and mask) to the
        data, "mask" the maps and data to the mask, "maps" the data and mask
        to the maps; None refuses different grids.''',
    "keep_masked_maps": '''    keep_masked_maps : bool, default=False
        Keep columns (of zeros) for maps removed by the mask (deprecated in
        nilearn; a FutureWarning says so).''',
    "maps_cmap": '''    cmap : str or matplotlib colormap, default="CMRmap_r"
        Accepted for compatibility with nilearn; the report draws the maps
        with its own colors.''',
    "clean_args": '''    clean_args : dict or None, default=None
        Extra keyword arguments of :func:`regionseries.signal.clean`.''',
    "clean_args_": '''    clean_args_ : dict
        The keyword arguments ``clean`` receives (``clean_args`` or {}).''',
    "mask_img_": '''    mask_img_ : nibabel.Nifti1Image or None
        The binary mask (uint8) on the extraction grid, or None without
        ``mask_img``.''',
}

#: the maps masker's and RegionExtractor's run of parameters from ``standardize`` to ``cmap``
DOC_ENTRIES["maps_cleaning_to_cmap"] = "\n".join(
    DOC_ENTRIES[name]
    for name in (
        "cleaning", "maps_resampling_target", "keep_masked_maps", "memory_verbose_level0", "reports", "maps_cmap"
    )
)


def _entries_by_parameter(text: str) -> dict[str, str]:
    """A run of numpydoc parameter entries split into parameter name -> its entry."""
    pieces = re.split(r"\n(?=    \w)", text)
    return {piece.split(":")[0].strip(): piece for piece in pieces}


#: the surface maskers' smoothing, then the cleaning parameters in the order of their signatures
DOC_ENTRIES["surface_smoothing_cleaning"] = "\n".join(
    [
        '''    smoothing_fwhm : float or None, default=None
        Full width at half maximum (mm) of the smoothing along the mesh
        before extraction (nilearn's ``smooth_img``:
        :func:`regionseries.core.extract.surface.smooth_vertex_data`).''',
        *(
            _entries_by_parameter(_CLEANING)[name]
            for name in (
                "standardize", "standardize_confounds", "detrend", "high_variance_confounds",
                "low_pass", "high_pass", "t_r", "dtype",
            )
        ),
    ]
)

#: the surface maskers' last parameters
DOC_ENTRIES["surface_reports_cmap_clean_args"] = "\n".join(
    [
        DOC_ENTRIES["reports"],
        '''    cmap : str or matplotlib colormap, default="inferno"
        Accepted for compatibility with nilearn (its report figures).''',
        DOC_ENTRIES["clean_args"],
    ]
)

_PLACEHOLDER = re.compile(r"^ *%\((\w+)\)s$", re.MULTILINE)


def fill_doc(cls):
    """Replace each ``%(name)s`` line of ``cls.__doc__`` by ``DOC_ENTRIES[name]``; return ``cls``."""
    cls.__doc__ = _PLACEHOLDER.sub(lambda match: DOC_ENTRIES[match.group(1)], cls.__doc__)
    return cls
