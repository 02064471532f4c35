"""Which of nilearn 0.14.1's test files run against regionseries, and what is switched.

Each entry names one test file of the installed nilearn wheel (path relative to
the ``nilearn`` package) and the objects whose imports are rewritten to
regionseries: ``{name: (regionseries module, nilearn modules it may be imported
from)}``. Nothing else in the file changes: helpers, data generators and the
other nilearn objects the tests use stay nilearn's.

A test of a file runs when it uses a rewritten object, directly or through a
module-level helper, fixture or constant of that file (found in the file's
syntax tree, see ``harness.functions_under_test``); the other tests of the file test
nilearn only and are not run. The nilearn conftest files of the copied folders
are copied with them (see ``harness``).
"""

from __future__ import annotations

MASKERS = ("nilearn.maskers",)

SUITE: dict[str, dict[str, tuple[str, tuple[str, ...]]]] = {
    "maskers/tests/test_nifti_labels_masker.py": {
        "NiftiLabelsMasker": ("regionseries.maskers", MASKERS),
    },
    "maskers/tests/test_nifti_spheres_masker.py": {
        "NiftiSpheresMasker": ("regionseries.maskers", MASKERS),
    },
    "maskers/tests/test_nifti_maps_masker.py": {
        "NiftiMapsMasker": ("regionseries.maskers", MASKERS),
    },
    "maskers/tests/test_surface_labels_masker.py": {
        "SurfaceLabelsMasker": ("regionseries.maskers", MASKERS),
    },
    "maskers/tests/test_surface_maps_masker.py": {
        "SurfaceMapsMasker": ("regionseries.maskers", MASKERS),
    },
    "regions/tests/test_region_extractor.py": {
        "RegionExtractor": ("regionseries.regions", ("nilearn.regions",)),
    },
    "interfaces/fmriprep/tests/test_load_confounds.py": {
        "load_confounds": ("regionseries.confounds", ("nilearn.interfaces.fmriprep",)),
    },
    "interfaces/fmriprep/tests/test_load_confounds_components.py": {
        "load_confounds": ("regionseries.confounds", ("nilearn.interfaces.fmriprep",)),
    },
    "interfaces/fmriprep/tests/test_load_confounds_strategy.py": {
        "load_confounds": ("regionseries.confounds", ("nilearn.interfaces.fmriprep",)),
        "load_confounds_strategy": (
            "regionseries.confounds",
            ("nilearn.interfaces.fmriprep",),
        ),
    },
    "tests/test_signal.py": {
        "clean": ("regionseries.signal", ("nilearn.signal",)),
    },
    "image/tests/test_image.py": {
        "threshold_img": ("regionseries.image", ("nilearn.image", "nilearn.image.image")),
    },
}
