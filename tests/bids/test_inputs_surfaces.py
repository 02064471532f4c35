"""Discovery of fMRIPrep's surface runs: CIFTI grayordinates and GIFTI hemisphere pairs."""

import pytest

from regionseries.bids.inputs import NoInputFound, SpaceSpec, discover_runs
from regionseries.demo import DatasetSpec, RunSpec, write_fmriprep_dataset


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("surfaces") / "fmriprep"
    spec = DatasetSpec(runs=[RunSpec("01", None, "rest", "1", ("MNI152NLin2009cAsym", "fsLR:den-91k", "fsaverage5")),
                             RunSpec("01", None, "rest", "2", ("fsaverage5",))], n_volumes=10, voxel_size=8.0)
    write_fmriprep_dataset(root, spec)
    return root


def test_space_with_density():
    assert SpaceSpec.parse("fsLR:den-91k") == SpaceSpec("fsLR", None, "91k")
    assert str(SpaceSpec.parse("fsLR:den-91k")) == "fsLR:den-91k"
    assert str(SpaceSpec.parse("MNI152NLin6Asym:res-2")) == "MNI152NLin6Asym:res-2"
    with pytest.raises(ValueError, match="den-<label>"):
        SpaceSpec.parse("fsLR:density-91k")


def test_cifti_run_with_the_runs_confounds(dataset):
    [run] = discover_runs(dataset, spaces=[SpaceSpec.parse("fsLR:den-91k")])
    assert run.surface == "cifti" and run.bold.name.endswith("_space-fsLR_den-91k_bold.dtseries.nii")
    assert run.confounds.name == "sub-01_task-rest_run-1_desc-confounds_timeseries.tsv"
    assert run.mask is None and run.repetition_time == 2.0 and not run.warnings
    assert run.base_name.filename == "sub-01_task-rest_run-1_space-fsLR_den-91k_timeseries.tsv"


def test_gifti_pair_is_one_run(dataset):
    runs = discover_runs(dataset, spaces=[SpaceSpec.parse("fsaverage5")])
    assert [run.entities["run"] for run in runs] == ["1", "2"]
    for run in runs:
        assert run.surface == "gifti" and [path.name.split("_")[3] for path in run.hemispheres] == ["hemi-L", "hemi-R"]
        assert run.bold == run.hemispheres[0] and "hemi" not in run.entities
        assert run.confounds is not None and run.repetition_time == 2.0 and not run.problems
        assert "hemi" not in run.base_name.filename


def test_mixed_spaces_in_one_query(dataset):
    runs = discover_runs(dataset, spaces=[SpaceSpec.parse(s) for s in ("MNI152NLin2009cAsym", "fsLR", "fsaverage5")])
    assert sorted(str(run.surface) for run in runs) == ["None", "cifti", "gifti", "gifti"]


def test_lone_hemisphere_fails_alone(dataset, tmp_path):
    import shutil

    copy = tmp_path / "fmriprep"
    shutil.copytree(dataset, copy)
    next(copy.rglob("*run-2_hemi-R_space-fsaverage5_bold.func.gii")).unlink()
    runs = discover_runs(copy, spaces=[SpaceSpec("fsaverage5")])
    lone = next(run for run in runs if run.entities["run"] == "2")
    assert lone.problems and "hemi-R" in lone.problems[0] and "both hemispheres" in lone.problems[0]


def test_unknown_density_lists_the_surface_spaces(dataset):
    with pytest.raises(NoInputFound, match="fsLR:den-91k"):
        discover_runs(dataset, spaces=[SpaceSpec.parse("fsLR:den-170k")])
