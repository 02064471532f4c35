"""The one list of nilearn tests that do not pass against regionseries, by exact node id.

Two kinds, both keyed by the node id pytest gives the copied test (relative to
the ``nilearn`` package, e.g. ``tests/test_signal.py::test_clean_detrending``;
a file path alone stands for an error while collecting that file):

* ``DIFFERENT``: deliberate, documented differences. Each names the test of
  ours that pins the behaviour and a sentence of
  ``docs/differences-from-nilearn.md`` that documents it
  (``test_nilearn_suite.py`` checks both exist). The nilearn test is skipped.
* ``NOT_YET``: what issue 16 still has to build or decide (``SurfaceImage`` in
  ``threshold_img``, nilearn's messages and warnings, the maskers' inverse_transform
  gaps and internals nilearn's estimator checks call). The nilearn test
  runs as a strict xfail: when the fix lands it XPASSes, the run fails, and the
  entry must be removed here. A collection error listed here must still
  happen (same rule).

Nothing is matched by pattern: every id is written out. ``python
tests/nilearn_suite/harness.py`` prints the outcome of every test, to update
this file when nilearn's tests or ours change.
"""

from __future__ import annotations

from dataclasses import dataclass

DIFFERENCES_DOC = "docs/differences-from-nilearn.md"


@dataclass(frozen=True)
class Different:
    """A deliberate difference: why, the test of ours that pins it, its words in the docs."""

    reason: str
    pinned_by: str  # "tests/<path>.py::<test function>"
    documented_as: str  # a sentence (part) of DIFFERENCES_DOC, on one line there


ROWS_DIFFER_FROM_VOLUMES = Different(
    reason=(
        "create_fake_bids_dataset writes a 1-volume func.gii next to 30 confound rows; "
        "we refuse confounds whose rows differ from the image's volumes"
    ),
    pinned_by="tests/core/confounds/test_nilearn_api_refusals.py::test_rows_differing_from_volumes_are_refused",
    documented_as="| Confounds rows ≠ image volumes |",
)
EVERY_VOLUME_CENSORED = Different(
    reason=(
        "nilearn's fMRIPrep 21 test file with scrub/scrubbing censors all 30 volumes; "
        "we refuse the run with RunExcluded where nilearn returns an empty sample mask"
    ),
    pinned_by="tests/core/confounds/test_nilearn_api_refusals.py::test_nilearns_real_file_censored_everywhere",
    documented_as="e.g. nilearn's own fMRIPrep 21 test file with `scrubbing`) |",
)
BOOLEAN_STANDARDIZE = Different(
    reason="standardize=True/False is a supported spelling here: no FutureWarning",
    pinned_by="tests/core/signal/test_clean_oracle.py::test_boolean_standardize_warns_in_nilearn_only",
    documented_as="raise **no FutureWarning**: booleans are a supported spelling here.",
)
LIST_OF_4D_IMAGES = Different(
    reason=(
        "transform concatenates a list of 4D images in time (a documented extension); nilearn's "
        "check expects its refusal as nilearn's own DimensionError class, which no class of ours "
        "can be (a 5D image raises our DimensionError, a TypeError, with nilearn's message)"
    ),
    pinned_by="tests/maskers/test_masker_api.py::test_list_of_images_is_concatenated",
    documented_as="`transform` accepts a list of 4D images and concatenates them in time",
)
INVERSE_INT64_WARNING = Different(
    reason=(
        "nilearn's check expects no int64 warning when dtype is set only of its own maps and "
        "spheres maskers (by class); ours give nilearn's maps/spheres dtypes and warnings"
    ),
    pinned_by="tests/maskers/test_inverse_transform.py::test_output_dtype_is_nilearns",
    documented_as="recognises its own maps and spheres maskers by class",
)

_BOOLEAN_STANDARDIZE_IDS = (
    "tests/test_signal.py::test_clean_detrending",
    "tests/test_signal.py::test_clean_standardize_true_false",
)
_LIST_OF_4D_IMAGES_IDS = (
    "maskers/tests/test_nifti_labels_masker.py::test_check_estimator_nilearn[estimator102-check_nifti_masker_fit_transform_5d-check_nifti_masker_fit_transform_5d]",
    "maskers/tests/test_nifti_labels_masker.py::test_check_estimator_nilearn[estimator49-check_nifti_masker_fit_transform_5d-check_nifti_masker_fit_transform_5d]",
    "maskers/tests/test_nifti_maps_masker.py::test_check_estimator_nilearn[estimator102-check_nifti_masker_fit_transform_5d-check_nifti_masker_fit_transform_5d]",
    "maskers/tests/test_nifti_maps_masker.py::test_check_estimator_nilearn[estimator49-check_nifti_masker_fit_transform_5d-check_nifti_masker_fit_transform_5d]",
    "maskers/tests/test_nifti_spheres_masker.py::test_check_estimator_nilearn[estimator102-check_nifti_masker_fit_transform_5d-check_nifti_masker_fit_transform_5d]",
    "maskers/tests/test_nifti_spheres_masker.py::test_check_estimator_nilearn[estimator49-check_nifti_masker_fit_transform_5d-check_nifti_masker_fit_transform_5d]",
    "regions/tests/test_region_extractor.py::test_check_estimator_nilearn[estimator49-check_nifti_masker_fit_transform_5d-check_nifti_masker_fit_transform_5d]",
)
_INVERSE_INT64_WARNING_IDS = (
    "maskers/tests/test_nifti_maps_masker.py::test_check_estimator_nilearn[estimator22-check_img_estimator_dtypes_inverse_transform-check_img_estimator_dtypes_inverse_transform]",
    "maskers/tests/test_nifti_maps_masker.py::test_check_estimator_nilearn[estimator75-check_img_estimator_dtypes_inverse_transform-check_img_estimator_dtypes_inverse_transform]",
    "maskers/tests/test_nifti_spheres_masker.py::test_check_estimator_nilearn[estimator22-check_img_estimator_dtypes_inverse_transform-check_img_estimator_dtypes_inverse_transform]",
    "maskers/tests/test_nifti_spheres_masker.py::test_check_estimator_nilearn[estimator75-check_img_estimator_dtypes_inverse_transform-check_img_estimator_dtypes_inverse_transform]",
    "regions/tests/test_region_extractor.py::test_check_estimator_nilearn[estimator22-check_img_estimator_dtypes_inverse_transform-check_img_estimator_dtypes_inverse_transform]",
)

NILEARN_CLASS_CHECKS = Different(
    reason=(
        "nilearn's check picks its expectations by isinstance against nilearn's own "
        "NiftiLabelsMasker, NiftiMapsMasker, NiftiSpheresMasker and RegionExtractor, which ours "
        "are not (nilearn is never imported at run time): it then wants a NiftiMasker's "
        "'Computing mask' message, or reads labels_img of a maps masker; with nilearn's class "
        "names bound to ours the check passes"
    ),
    pinned_by="tests/maskers/test_verbose.py::test_nilearn_checks_pass_when_they_know_our_classes",
    documented_as="pick their expectations by `isinstance` against nilearn's own classes",
)
NILEARN_REPORT_CLASS = Different(
    reason=(
        "nilearn's report checks assert isinstance(report, nilearn.reporting.HTMLReport) and "
        "read nilearn's private report state (_report_content, _has_report_data, "
        "_report_warnings); our generate_report returns regionseries' MaskerReport (PNG figure, "
        "our parameter table), whose warnings and interface are nilearn's"
    ),
    pinned_by="tests/maskers/test_report.py::test_nilearn_report_check_passes_but_for_the_report_class",
    documented_as="`generate_report()` returns a `regionseries.maskers.MaskerReport`, not nilearn's",
)

_NILEARN_CLASS_CHECK_IDS = (
    'maskers/tests/test_nifti_labels_masker.py::test_check_estimator_nilearn[estimator42-check_masker_verbose-check_masker_verbose]',
    'maskers/tests/test_nifti_labels_masker.py::test_check_estimator_nilearn[estimator95-check_masker_verbose-check_masker_verbose]',
    'maskers/tests/test_nifti_maps_masker.py::test_check_estimator_nilearn[estimator39-check_masker_transform_resampling-check_masker_transform_resampling]',
    'maskers/tests/test_nifti_maps_masker.py::test_check_estimator_nilearn[estimator42-check_masker_verbose-check_masker_verbose]',
    'maskers/tests/test_nifti_maps_masker.py::test_check_estimator_nilearn[estimator92-check_masker_transform_resampling-check_masker_transform_resampling]',
    'maskers/tests/test_nifti_maps_masker.py::test_check_estimator_nilearn[estimator95-check_masker_verbose-check_masker_verbose]',
    'maskers/tests/test_nifti_spheres_masker.py::test_check_estimator_nilearn[estimator42-check_masker_verbose-check_masker_verbose]',
    'maskers/tests/test_nifti_spheres_masker.py::test_check_estimator_nilearn[estimator95-check_masker_verbose-check_masker_verbose]',
    'regions/tests/test_region_extractor.py::test_check_estimator_nilearn[estimator39-check_masker_transform_resampling-check_masker_transform_resampling]',
    'regions/tests/test_region_extractor.py::test_check_estimator_nilearn[estimator42-check_masker_verbose-check_masker_verbose]',
)
_NILEARN_REPORT_CLASS_IDS = (
    'maskers/tests/test_nifti_labels_masker.py::test_check_estimator_nilearn[estimator105-check_nifti_masker_generate_report_after_fit_with_only_mask-check_nifti_masker_generate_report_after_fit_with_only_mask]',
    'maskers/tests/test_nifti_labels_masker.py::test_check_estimator_nilearn[estimator28-check_masker_generate_report-check_masker_generate_report]',
    'maskers/tests/test_nifti_labels_masker.py::test_check_estimator_nilearn[estimator30-check_masker_generate_report_false-check_masker_generate_report_false]',
    'maskers/tests/test_nifti_labels_masker.py::test_check_estimator_nilearn[estimator52-check_nifti_masker_generate_report_after_fit_with_only_mask-check_nifti_masker_generate_report_after_fit_with_only_mask]',
    'maskers/tests/test_nifti_labels_masker.py::test_check_estimator_nilearn[estimator81-check_masker_generate_report-check_masker_generate_report]',
    'maskers/tests/test_nifti_labels_masker.py::test_check_estimator_nilearn[estimator83-check_masker_generate_report_false-check_masker_generate_report_false]',
    'maskers/tests/test_nifti_maps_masker.py::test_check_estimator_nilearn[estimator105-check_nifti_masker_generate_report_after_fit_with_only_mask-check_nifti_masker_generate_report_after_fit_with_only_mask]',
    'maskers/tests/test_nifti_maps_masker.py::test_check_estimator_nilearn[estimator28-check_masker_generate_report-check_masker_generate_report]',
    'maskers/tests/test_nifti_maps_masker.py::test_check_estimator_nilearn[estimator30-check_masker_generate_report_false-check_masker_generate_report_false]',
    'maskers/tests/test_nifti_maps_masker.py::test_check_estimator_nilearn[estimator52-check_nifti_masker_generate_report_after_fit_with_only_mask-check_nifti_masker_generate_report_after_fit_with_only_mask]',
    'maskers/tests/test_nifti_maps_masker.py::test_check_estimator_nilearn[estimator81-check_masker_generate_report-check_masker_generate_report]',
    'maskers/tests/test_nifti_maps_masker.py::test_check_estimator_nilearn[estimator83-check_masker_generate_report_false-check_masker_generate_report_false]',
    'maskers/tests/test_nifti_spheres_masker.py::test_check_estimator_nilearn[estimator105-check_nifti_masker_generate_report_after_fit_with_only_mask-check_nifti_masker_generate_report_after_fit_with_only_mask]',
    'maskers/tests/test_nifti_spheres_masker.py::test_check_estimator_nilearn[estimator28-check_masker_generate_report-check_masker_generate_report]',
    'maskers/tests/test_nifti_spheres_masker.py::test_check_estimator_nilearn[estimator30-check_masker_generate_report_false-check_masker_generate_report_false]',
    'maskers/tests/test_nifti_spheres_masker.py::test_check_estimator_nilearn[estimator52-check_nifti_masker_generate_report_after_fit_with_only_mask-check_nifti_masker_generate_report_after_fit_with_only_mask]',
    'maskers/tests/test_nifti_spheres_masker.py::test_check_estimator_nilearn[estimator81-check_masker_generate_report-check_masker_generate_report]',
    'maskers/tests/test_nifti_spheres_masker.py::test_check_estimator_nilearn[estimator83-check_masker_generate_report_false-check_masker_generate_report_false]',
    'regions/tests/test_region_extractor.py::test_check_estimator_nilearn[estimator28-check_masker_generate_report-check_masker_generate_report]',
    'regions/tests/test_region_extractor.py::test_check_estimator_nilearn[estimator30-check_masker_generate_report_false-check_masker_generate_report_false]',
    'regions/tests/test_region_extractor.py::test_check_estimator_nilearn[estimator52-check_nifti_masker_generate_report_after_fit_with_only_mask-check_nifti_masker_generate_report_after_fit_with_only_mask]',
)

SURFACE_CLASS_CHECKS = Different(
    reason=(
        "nilearn's check_masker_verbose recognises its own SurfaceLabelsMasker / SurfaceMapsMasker "
        "by isinstance and otherwise expects a NiftiMasker's 'Computing mask'; with nilearn's "
        "class names bound to ours the check passes"
    ),
    pinned_by="tests/maskers/test_surface.py::test_nilearn_verbose_check_passes_when_it_knows_our_surface_classes",
    documented_as="pick their expectations by `isinstance` against nilearn's own classes",
)
SURFACE_REPORT_CLASS = Different(
    reason=(
        "nilearn's surface report checks and test_fit / test_fit_no_report read nilearn's private "
        "report state (_report_content, _has_report_data, _reporting_data); our generate_report "
        "returns regionseries' MaskerReport, whose warnings and interface are nilearn's"
    ),
    pinned_by="tests/maskers/test_surface.py::test_nilearn_report_check_passes_but_for_the_report_class",
    documented_as="`generate_report()` returns a `regionseries.maskers.MaskerReport`, not nilearn's",
)
SURFACE_MESH_ERROR_CLASS = Different(
    reason=(
        "nilearn raises its own MeshDimensionError (a ValueError) for meshes that differ; ours is a "
        "ValueError with nilearn's words, as no class of ours can be nilearn's"
    ),
    pinned_by="tests/maskers/test_surface.py::test_mesh_mismatch_raises_valueerror_with_nilearns_words",
    documented_as="raise a `ValueError` with nilearn's words where nilearn raises its `MeshDimensionError`",
)

_SURFACE_CLASS_CHECK_IDS = (
    'maskers/tests/test_surface_labels_masker.py::test_check_estimator_nilearn[estimator42-check_masker_verbose-check_masker_verbose]',
    'maskers/tests/test_surface_labels_masker.py::test_check_estimator_nilearn[estimator92-check_masker_verbose-check_masker_verbose]',
    'maskers/tests/test_surface_maps_masker.py::test_check_estimator_nilearn[estimator42-check_masker_verbose-check_masker_verbose]',
    'maskers/tests/test_surface_maps_masker.py::test_check_estimator_nilearn[estimator92-check_masker_verbose-check_masker_verbose]',
)
_SURFACE_REPORT_CLASS_IDS = (
    'maskers/tests/test_surface_labels_masker.py::test_fit',
    'maskers/tests/test_surface_labels_masker.py::test_fit_no_report',
    'maskers/tests/test_surface_labels_masker.py::test_check_estimator_nilearn[estimator28-check_masker_generate_report-check_masker_generate_report]',
    'maskers/tests/test_surface_labels_masker.py::test_check_estimator_nilearn[estimator30-check_masker_generate_report_false-check_masker_generate_report_false]',
    'maskers/tests/test_surface_labels_masker.py::test_check_estimator_nilearn[estimator78-check_masker_generate_report-check_masker_generate_report]',
    'maskers/tests/test_surface_labels_masker.py::test_check_estimator_nilearn[estimator80-check_masker_generate_report_false-check_masker_generate_report_false]',
    'maskers/tests/test_surface_maps_masker.py::test_check_estimator_nilearn[estimator28-check_masker_generate_report-check_masker_generate_report]',
    'maskers/tests/test_surface_maps_masker.py::test_check_estimator_nilearn[estimator30-check_masker_generate_report_false-check_masker_generate_report_false]',
    'maskers/tests/test_surface_maps_masker.py::test_check_estimator_nilearn[estimator78-check_masker_generate_report-check_masker_generate_report]',
    'maskers/tests/test_surface_maps_masker.py::test_check_estimator_nilearn[estimator80-check_masker_generate_report_false-check_masker_generate_report_false]',
)
_SURFACE_MESH_ERROR_IDS = (
    'maskers/tests/test_surface_labels_masker.py::test_check_estimator_nilearn[estimator47-check_surface_masker_fit_transform_errors-check_surface_masker_fit_transform_errors]',
    'maskers/tests/test_surface_labels_masker.py::test_check_estimator_nilearn[estimator97-check_surface_masker_fit_transform_errors-check_surface_masker_fit_transform_errors]',
    'maskers/tests/test_surface_maps_masker.py::test_check_estimator_nilearn[estimator47-check_surface_masker_fit_transform_errors-check_surface_masker_fit_transform_errors]',
    'maskers/tests/test_surface_maps_masker.py::test_check_estimator_nilearn[estimator97-check_surface_masker_fit_transform_errors-check_surface_masker_fit_transform_errors]',
)
_SURFACE_BOOLEAN_STANDARDIZE_IDS = (
    'maskers/tests/test_surface_labels_masker.py::test_check_estimator_nilearn[estimator38-check_masker_standardization-check_masker_standardization]',
    'maskers/tests/test_surface_labels_masker.py::test_check_estimator_nilearn[estimator88-check_masker_standardization-check_masker_standardization]',
    'maskers/tests/test_surface_maps_masker.py::test_check_estimator_nilearn[estimator38-check_masker_standardization-check_masker_standardization]',
    'maskers/tests/test_surface_maps_masker.py::test_check_estimator_nilearn[estimator88-check_masker_standardization-check_masker_standardization]',
)

DIFFERENT: dict[str, Different] = {
    "interfaces/fmriprep/tests/test_load_confounds.py::test_load_confounds_for_gifti": (
        ROWS_DIFFER_FROM_VOLUMES
    ),
    **dict.fromkeys(
        (
            "interfaces/fmriprep/tests/test_load_confounds.py::test_sample_mask[21.x.x-30-3]",
            "interfaces/fmriprep/tests/test_load_confounds_strategy.py::test_load_confounds_strategy[scrubbing-regular-21.x.x]",
            "interfaces/fmriprep/tests/test_load_confounds_strategy.py::test_strategies[scrubbing-regular-21.x.x]",
            "interfaces/fmriprep/tests/test_load_confounds_strategy.py::test_strategy_scrubbing[21.x.x-0-5]",
        ),
        EVERY_VOLUME_CENSORED,
    ),
    **dict.fromkeys(_BOOLEAN_STANDARDIZE_IDS, BOOLEAN_STANDARDIZE),
    **dict.fromkeys(_LIST_OF_4D_IMAGES_IDS, LIST_OF_4D_IMAGES),
    **dict.fromkeys(_INVERSE_INT64_WARNING_IDS, INVERSE_INT64_WARNING),
    **dict.fromkeys(_NILEARN_CLASS_CHECK_IDS, NILEARN_CLASS_CHECKS),
    **dict.fromkeys(_NILEARN_REPORT_CLASS_IDS, NILEARN_REPORT_CLASS),
    **dict.fromkeys(_SURFACE_CLASS_CHECK_IDS, SURFACE_CLASS_CHECKS),
    **dict.fromkeys(_SURFACE_REPORT_CLASS_IDS, SURFACE_REPORT_CLASS),
    **dict.fromkeys(_SURFACE_MESH_ERROR_IDS, SURFACE_MESH_ERROR_CLASS),
    **dict.fromkeys(_SURFACE_BOOLEAN_STANDARDIZE_IDS, BOOLEAN_STANDARDIZE),
}

#: What nilearn's tests of the maskers and RegionExtractor still find against ours, by the
#: first words of the failure (``harness.py --failing-ids``), while it is being built or
#: decided. Empty: every test passes or is a documented difference.
_MASKER_GAPS: dict[str, tuple[str, ...]] = {}


NOT_YET: dict[str, str] = {
    **{nodeid: reason for reason, nodeids in _MASKER_GAPS.items() for nodeid in nodeids},
}


def skip_and_xfail() -> tuple[dict[str, str], dict[str, str]]:
    """Node id -> reason: the tests to skip (DIFFERENT) and to run as strict xfails (NOT_YET)."""
    return {nodeid: entry.reason for nodeid, entry in DIFFERENT.items()}, dict(NOT_YET)
