"""Command-line usage: version, help, bad flags (64), missing input (66), bad values.

Each case runs the real command line and checks the exit code AND the message.
"""

from __future__ import annotations

import json

import pytest

from regionseries import __version__

from ..conftest import run_cli


def test_version():
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"regionseries {__version__}"


def test_help_lists_the_options():
    result = run_cli("--help")
    assert result.returncode == 0
    for flag in ("--participant-label", "--atlas", "--atlas-file", "--spheres", "--regions-from", "--strategy",
                 "--dummy-scans", "--connectivity", "--nprocs", "--skip-bids-validation", "--no-reports",
                 "--work-dir", "--verbose"):
        assert flag in result.stdout


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
        (["--radius", "-3"], "must be positive"),
        (["--min-coverage", "1.5"], "must be between 0 and 1"),
        (["--dummy-scans", "some"], "expected a number of volumes or 'auto'"),
        (["--participant-label", "sub-0_1"], "invalid label"),
        (["--nprocs", "0"], "must be at least 1"),
    ],
)
def test_bad_flags_exit_64(fmriprep_dataset, tmp_path, arguments, message):
    result = run_cli(fmriprep_dataset, tmp_path / "out", "participant", "--spheres", "Power2011", *arguments)
    assert result.returncode == 64, result.stderr
    assert message in result.stderr


def test_bad_analysis_level_exits_64(fmriprep_dataset, tmp_path):
    result = run_cli(fmriprep_dataset, tmp_path / "out", "session")
    assert result.returncode == 64
    assert "invalid choice: 'session'" in result.stderr


@pytest.mark.parametrize(
    "arguments, message",
    [
        ([], "no atlas given"),
        (["--spheres", "Power2012"], "not a built-in coordinate set (Power2011, Dosenbach2010, Seitzman2018)"),
        (["--spheres", "Power2011", "--strategy", "fancy"], "--strategy fancy: unknown denoising strategy 'fancy'"),
        (["--spheres", "Power2011", "--connectivity", "tangent"], "--connectivity tangent: choose from"),
        (["--spheres", "Power2011", "--atlas-file", "NoEquals"], "expected NAME=IMAGE[:LABELS_TSV]"),
        (["--spheres", "Power2011", "--spheres", "Power2011"], "two atlases would write the same outputs atlas-Power2011"),
        (["--atlas", "Schaefer2018:desc400"], "cannot read 'desc400'"),
        (["--spheres", "Power2011", "--space", "MNI:foo-2"], "only res-<label> is accepted"),
        (["--spheres", "Power2011", "--low-pass", "0.01", "--high-pass", "0.1"], "must be lower than 'low_pass'"),
    ],
)
def test_bad_values_exit_64(fmriprep_dataset, tmp_path, arguments, message):
    _assert_refused(run_cli(fmriprep_dataset, tmp_path / "out", "participant", *arguments), 64, message,
                    tmp_path / "out")


def _assert_refused(result, exit_code: int, message: str, output) -> None:
    """The job stopped before writing anything, with this code and message and no traceback."""
    assert result.returncode == exit_code, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not output.exists()


def test_regions_from_needs_threshold(fmriprep_dataset, demo_atlas, tmp_path):
    result = run_cli(fmriprep_dataset, tmp_path / "out", "participant", "--regions-from", f"Map={demo_atlas[0]}")
    assert result.returncode == 64
    assert "--regions-from needs --threshold" in result.stderr


def test_bad_filter_file_exits_64(fmriprep_dataset, tmp_path):
    filters = tmp_path / "filters.json"
    filters.write_text(json.dumps({"bold": {"sesion": "1"}}))
    result = run_cli(fmriprep_dataset, tmp_path / "out", "participant", "--spheres", "Power2011",
                     "--bids-filter-file", filters, "-w", tmp_path / "work")
    assert result.returncode == 64
    assert "unknown entities sesion" in result.stderr


@pytest.mark.parametrize("option", ["--bids-filter-file", "--strategy"])
def test_missing_filter_or_strategy_file_exits_66(fmriprep_dataset, tmp_path, option):
    """A file named on the command line that is not there is "no input" (66), with the reason in words."""
    absent = tmp_path / "absent.json"
    result = run_cli(fmriprep_dataset, tmp_path / "out", "participant", "--spheres", "Power2011",
                     option, absent, "-w", tmp_path / "work")
    assert result.returncode == 66, result.stderr
    assert f"{option} {absent}: " in result.stderr and "file not found" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_empty_strategy_file_exits_64(fmriprep_dataset, tmp_path):
    empty = tmp_path / "mine.json"
    empty.write_bytes(b"")
    result = run_cli(fmriprep_dataset, tmp_path / "out", "participant", "--spheres", "Power2011",
                     "--strategy", empty, "-w", tmp_path / "work")
    assert result.returncode == 64, result.stderr
    assert f"{empty}: the strategy file cannot be read: empty file (0 bytes)" in result.stderr


def test_unknown_participant_exits_66(fmriprep_dataset, tmp_path):
    result = run_cli(fmriprep_dataset, tmp_path / "out", "participant", "--participant-label", "sub-09", "01",
                     "--spheres", "Power2011", "-w", tmp_path / "work")
    assert result.returncode == 66
    assert "participant(s) not found" in result.stderr and "sub-09" in result.stderr
    assert "available: sub-01, sub-02, sub-03" in result.stderr


def test_missing_bids_dir_exits_66(tmp_path):
    result = run_cli(tmp_path / "nowhere", tmp_path / "out", "participant", "--spheres", "Power2011")
    assert result.returncode == 66
    assert "does not exist" in result.stderr


def test_space_absent_exits_66_and_lists_spaces(fmriprep_dataset, tmp_path):
    result = run_cli(fmriprep_dataset, tmp_path / "out", "participant", "--participant-label", "03",
                     "--space", "MNI152NLin6Asym", "--spheres", "Power2011", "-w", tmp_path / "work")
    assert result.returncode == 66
    assert "no preprocessed BOLD in space MNI152NLin6Asym for sub-03" in result.stderr
    assert "Spaces present: MNI152NLin2009cAsym" in result.stderr


def test_filter_selecting_nothing_exits_66(fmriprep_dataset, tmp_path):
    result = run_cli(fmriprep_dataset, tmp_path / "out", "participant", "--task", "nback",
                     "--spheres", "Power2011", "-w", tmp_path / "work")
    assert result.returncode == 66
    assert "tasks nback" in result.stderr


def test_filter_file_selecting_nothing_exits_66_and_names_it(fmriprep_dataset, tmp_path):
    filters = tmp_path / "filters.json"
    filters.write_text(json.dumps({"bold": {"task": "nback"}}))
    result = run_cli(fmriprep_dataset, tmp_path / "out", "participant", "--participant-label", "03",
                     "--spheres", "Power2011", "--bids-filter-file", filters, "-w", tmp_path / "work")
    assert result.returncode == 66
    assert f"--bids-filter-file {filters} selects no run" in result.stderr


def test_output_inside_input_exits_64(fmriprep_dataset, tmp_path):
    result = run_cli(fmriprep_dataset, fmriprep_dataset / "derivatives" / "regionseries", "participant",
                     "--spheres", "Power2011")
    assert result.returncode == 64
    assert "is inside BIDS_DIR" in result.stderr
    assert not (fmriprep_dataset / "derivatives").exists()


def test_raw_dataset_is_refused_with_a_hint(tmp_path):
    raw = tmp_path / "raw"
    (raw / "sub-01" / "func").mkdir(parents=True)
    (raw / "dataset_description.json").write_text(json.dumps({"Name": "raw", "BIDSVersion": "1.9.0"}))
    result = run_cli(raw, tmp_path / "out", "participant", "--spheres", "Power2011")
    assert result.returncode == 16
    assert "DatasetType 'raw'" in result.stderr and "--skip-bids-validation" in result.stderr
    skipped = run_cli(raw, tmp_path / "out", "participant", "--spheres", "Power2011", "--skip_bids_validator",
                      "-w", tmp_path / "work")
    assert skipped.returncode == 66
    assert "no preprocessed BOLD" in skipped.stderr and "--level minimal" in skipped.stderr


def test_group_without_participant_outputs_exits_66(fmriprep_dataset, tmp_path):
    (tmp_path / "empty").mkdir()
    result = run_cli(fmriprep_dataset, tmp_path / "empty", "group")
    assert result.returncode == 66
    assert "run the participant level first" in result.stderr


@pytest.mark.parametrize("arguments, message", [
    (["--atlas-file", "X=/nonexistent/atlas.nii.gz"], "--atlas-file X=/nonexistent/atlas.nii.gz: image /nonexistent/atlas.nii.gz: file not found"),
    (["--spheres", "X=/nonexistent/coords.tsv"], "coordinates table /nonexistent/coords.tsv: file not found"),
    (["--regions-from", "X=/nonexistent/zstat.nii.gz", "--threshold", "3"], "statistical map /nonexistent/zstat.nii.gz: file not found"),
])
def test_missing_atlas_files_exit_66(fmriprep_dataset, tmp_path, arguments, message):
    """A file named on the command line that is not there is "no input" (66), not a usage error."""
    _assert_refused(run_cli(fmriprep_dataset, tmp_path / "out", "participant", *arguments), 66, message,
                    tmp_path / "out")


@pytest.mark.parametrize("arguments, bad, suggestion", [
    (["--spheres", "Power2011", "--strategy", "scrubing"], "--strategy scrubing: unknown denoising strategy 'scrubing'",
     "did you mean 'scrubbing'"),
    (["--spheres", "Power2O11"], "--spheres Power2O11: not a built-in coordinate set", "did you mean 'Power2011'?"),
    (["--spheres", "Power2011", "--stratgy", "simple"], "unrecognized arguments: --stratgy simple",
     "--stratgy: did you mean '--strategy'?"),
    (["--spheres", "Power2011", "--filter", "butterwort"], "invalid choice: 'butterwort'",
     "did you mean 'butterworth'?"),
])
def test_typo_gets_one_line_with_did_you_mean(fmriprep_dataset, tmp_path, arguments, bad, suggestion):
    """A typo gets one short line naming the value and the closest valid one, exit 64, no usage dump."""
    result = run_cli(fmriprep_dataset, tmp_path / "out", "participant", *arguments, "-w", tmp_path / "work")
    assert result.returncode == 64, result.stderr
    assert bad in result.stderr and suggestion in result.stderr
    assert "(see regionseries --help)" in result.stderr
    assert "usage:" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "out").exists()


def test_space_typo_suggests_the_space_present(fmriprep_dataset, tmp_path):
    result = run_cli(fmriprep_dataset, tmp_path / "out", "participant", "--participant-label", "03",
                     "--space", "MNI152NLin2009cAsim", "--spheres", "Power2011", "-w", tmp_path / "work")
    assert result.returncode == 66, result.stderr
    assert "--space MNI152NLin2009cAsim: did you mean 'MNI152NLin2009cAsym'?" in result.stderr
    assert "Spaces present: MNI152NLin2009cAsym" in result.stderr


def test_missing_positional_shows_the_short_usage(tmp_path):
    result = run_cli(tmp_path)
    assert result.returncode == 64
    assert result.stderr.splitlines()[0] == "usage: regionseries BIDS_DIR OUTPUT_DIR {participant,group} [options]"
    assert "the following arguments are required" in result.stderr and len(result.stderr.splitlines()) == 2
