"""``regionseries-fetch-atlases`` against a fake TemplateFlow server on 127.0.0.1.

Never touches the network: every download goes to the local fake server, and
the interoperability check with the real templateflow client runs in a
subprocess whose sockets refuse any address but 127.0.0.1.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
import tomllib
from collections import Counter
from pathlib import Path

import pytest

from regionseries.atlases import fetch

from ..conftest import tiny_nifti_gz

REPO_ROOT = Path(__file__).resolve().parents[2]
SKELETON = fetch.bundled_skeleton_zip()
SKELETON_PATHS = fetch.skeleton_paths(SKELETON)
HOSPA_6ASYM_2 = dict(templates=["MNI152NLin6Asym"], atlases=["HOSPA"], resolutions=[2])


def selected_paths(**selection) -> list[str]:
    return [image.relpath for image in fetch.select_atlas_images(SKELETON_PATHS, **selection)]


# --- selection ---------------------------------------------------------------------------


def test_default_selection_is_the_documented_set():
    images = fetch.select_atlas_images(SKELETON_PATHS)
    schaefer = {(i.template, i.resolution, i.desc) for i in images if i.atlas == "Schaefer2018"}
    expected_schaefer = {
        (template, resolution, f"{parcels}Parcels{networks}Networks")
        for template in fetch.DEFAULT_TEMPLATES
        for resolution in (1, 2)
        for parcels in (100, 200, 300, 400, 500, 600, 800, 1000)  # TemplateFlow has no 700/900
        for networks in (7, 17)
    }
    assert schaefer == expected_schaefer
    difumo = {(i.template, i.resolution, i.desc) for i in images if i.atlas == "DiFuMo"}
    assert difumo == {
        (template, resolution, f"{dimensions}dimensions")
        for template, resolution in (("MNI152NLin2009cAsym", 2), ("MNI152NLin2009cAsym", 3), ("MNI152NLin6Asym", 2))
        for dimensions in (64, 128, 256, 512, 1024)
    }
    harvard_oxford = Counter((i.template, i.atlas) for i in images if i.atlas.startswith("HO"))
    # 2009cAsym: th0/th25/th50 dseg at res 1 and 2, plus a HOSPA probseg at res 2;
    # 6Asym: th0/th25/th50 dseg and one probseg at res 1 and 2, for each atlas.
    assert harvard_oxford == {
        ("MNI152NLin2009cAsym", "HOCPA"): 6,
        ("MNI152NLin2009cAsym", "HOCPAL"): 6,
        ("MNI152NLin2009cAsym", "HOSPA"): 7,
        ("MNI152NLin6Asym", "HOCPA"): 8,
        ("MNI152NLin6Asym", "HOCPAL"): 8,
        ("MNI152NLin6Asym", "HOSPA"): 8,
    }
    assert len(images) == 64 + 15 + 43
    assert all(image.relpath.endswith(".nii.gz") for image in images)


def test_parse_atlas_image_reads_entities_and_rejects_other_files():
    image = fetch.parse_atlas_image(
        "tpl-MNI152NLin6Asym/tpl-MNI152NLin6Asym_res-02_atlas-HOSPA_desc-th25_dseg.nii.gz"
    )
    assert (image.template, image.resolution, image.atlas, image.desc, image.suffix) == (
        "MNI152NLin6Asym", 2, "HOSPA", "th25", "dseg"
    )
    no_desc = fetch.parse_atlas_image("tpl-MNI152NLin6Asym/tpl-MNI152NLin6Asym_res-01_atlas-HOCPA_probseg.nii.gz")
    assert no_desc.desc is None and no_desc.suffix == "probseg"
    for other in (
        "tpl-MNI152NLin6Asym/tpl-MNI152NLin6Asym_atlas-HOSPA_dseg.tsv",  # label table
        "tpl-MNI152NLin6Asym/tpl-MNI152NLin6Asym_res-02_T1w.nii.gz",  # not an atlas
        "tpl-MNI152NLin6Asym/tpl-MNI152NLin2009cAsym_res-02_atlas-HOSPA_dseg.nii.gz",  # wrong folder
    ):
        assert fetch.parse_atlas_image(other) is None


def test_desc_filter_keeps_only_those_descs():
    paths = selected_paths(atlases=["Schaefer2018", "DiFuMo"], resolutions=[2], descs=["400Parcels7Networks", "64dimensions"])
    assert paths == sorted(
        f"tpl-{t}/tpl-{t}_res-02_atlas-{a}_desc-{d}_{s}.nii.gz"
        for t in fetch.DEFAULT_TEMPLATES
        for a, d, s in (("Schaefer2018", "400Parcels7Networks", "dseg"), ("DiFuMo", "64dimensions", "probseg"))
    )


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        ({"templates": ["MNI152NLin2009"]}, "TemplateFlow has no template 'MNI152NLin2009'; known templates: "),
        ({"atlases": ["Schaefer"]}, "TemplateFlow has no atlas 'Schaefer' in MNI152NLin2009cAsym, MNI152NLin6Asym; atlases there: "),
        ({"atlases": ["DiFuMo"], "resolutions": [1]}, "atlas 'DiFuMo' has no image at resolution index 1 in "),
        ({"atlases": ["HOSPA"], "descs": ["th30"]}, "no selected atlas image has desc 'th30'; descs of the selected atlases: "),
    ],
)
def test_bad_selection_raises_selection_error_naming_the_problem(selection, message):
    with pytest.raises(fetch.SelectionError) as caught:
        fetch.select_atlas_images(SKELETON_PATHS, **selection)
    assert str(caught.value).startswith(message)


def test_difumo_resolution_hint_lists_the_indices_it_has():
    with pytest.raises(fetch.SelectionError, match=r"it has resolution index 2, 3$"):
        fetch.select_atlas_images(SKELETON_PATHS, atlases=["DiFuMo"], resolutions=[1])


# --- downloads ---------------------------------------------------------------------------


def test_fetch_downloads_placeholders_atomically_and_world_readable(tmp_path, fake_templateflow):
    served = fake_templateflow.serve(selected_paths(**HOSPA_6ASYM_2))
    home = tmp_path / "templateflow"
    report = fetch.fetch_atlases(home, s3_root=fake_templateflow.url, backoff_s=0, **HOSPA_6ASYM_2)

    assert [image.relpath for image in report.downloaded] == sorted(served)
    assert report.downloaded_bytes == sum(map(len, served.values()))
    for relpath, body in served.items():
        path = home / relpath
        assert path.read_bytes() == body
        assert path.stat().st_mode & 0o444 == 0o444 & ~_umask()
    assert not list(home.rglob("*.part")), "temporary download files were left behind"
    # the rest of the skeleton is in place, label tables are real, other images are placeholders
    assert (home / "tpl-MNI152NLin6Asym" / "tpl-MNI152NLin6Asym_atlas-HOSPA_dseg.tsv").stat().st_size > 0
    assert (home / "tpl-MNI152NLin6Asym" / "tpl-MNI152NLin6Asym_res-02_T1w.nii.gz").stat().st_size == 0
    assert sum(1 for path in home.rglob("*") if path.is_file()) == len(SKELETON_PATHS)


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def test_second_run_downloads_nothing(tmp_path, fake_templateflow):
    fake_templateflow.serve(selected_paths(**HOSPA_6ASYM_2))
    home = tmp_path / "templateflow"
    fetch.fetch_atlases(home, s3_root=fake_templateflow.url, backoff_s=0, **HOSPA_6ASYM_2)
    requests_after_first_run = len(fake_templateflow.requests)

    again = fetch.fetch_atlases(home, s3_root=fake_templateflow.url, backoff_s=0, **HOSPA_6ASYM_2)
    assert len(fake_templateflow.requests) == requests_after_first_run
    assert again.downloaded == [] and len(again.already_present) == 4


def test_existing_files_are_never_overwritten_by_the_skeleton(tmp_path, fake_templateflow):
    home = tmp_path / "templateflow"
    kept = home / "tpl-MNI152NLin6Asym" / "tpl-MNI152NLin6Asym_res-02_atlas-HOSPA_desc-th25_dseg.nii.gz"
    kept.parent.mkdir(parents=True)
    kept.write_bytes(b"already downloaded")
    label_table = home / "tpl-MNI152NLin6Asym" / "tpl-MNI152NLin6Asym_atlas-HOSPA_dseg.tsv"
    label_table.write_text("index\tname\n1\tedited\n")
    fake_templateflow.serve(selected_paths(**HOSPA_6ASYM_2))

    report = fetch.fetch_atlases(home, s3_root=fake_templateflow.url, backoff_s=0, **HOSPA_6ASYM_2)
    assert kept.read_bytes() == b"already downloaded"
    assert label_table.read_text() == "index\tname\n1\tedited\n"
    assert [image.relpath for image in report.already_present] == [kept.relative_to(home).as_posix()]


def test_transient_failures_are_retried(tmp_path, fake_templateflow):
    served = fake_templateflow.serve(selected_paths(**HOSPA_6ASYM_2))
    first, second = sorted(served)[:2]
    fake_templateflow.faults[first] += ["500"]
    fake_templateflow.faults[second] += ["truncate"]
    home = tmp_path / "templateflow"
    report = fetch.fetch_atlases(home, s3_root=fake_templateflow.url, backoff_s=0, **HOSPA_6ASYM_2)
    assert len(report.downloaded) == 4
    assert (home / first).read_bytes() == served[first]
    assert (home / second).read_bytes() == served[second]
    assert Counter(fake_templateflow.requests)[first] == 2


def test_persistent_truncation_fails_and_keeps_the_placeholder(tmp_path, fake_templateflow):
    served = fake_templateflow.serve(selected_paths(**HOSPA_6ASYM_2))
    broken = sorted(served)[0]
    fake_templateflow.faults[broken] += ["truncate"] * 3
    home = tmp_path / "templateflow"
    with pytest.raises(fetch.FetchError) as caught:
        fetch.fetch_atlases(home, s3_root=fake_templateflow.url, attempts=3, backoff_s=0, **HOSPA_6ASYM_2)
    message = str(caught.value)
    assert message.startswith("1 of 4 atlas images could not be fetched:")
    assert f"{fake_templateflow.url}/{broken}: failed after 3 attempts, last: incomplete answer" in message
    assert (home / broken).stat().st_size == 0, "a truncated download replaced the placeholder"
    assert all((home / other).read_bytes() == served[other] for other in sorted(served)[1:])
    assert not list(home.rglob("*.part"))


def test_missing_file_on_server_is_reported_with_its_url(tmp_path, fake_templateflow):
    paths = selected_paths(**HOSPA_6ASYM_2)
    fake_templateflow.serve(paths[1:])
    with pytest.raises(fetch.FetchError) as caught:
        fetch.fetch_atlases(tmp_path / "tf", s3_root=fake_templateflow.url, backoff_s=0, **HOSPA_6ASYM_2)
    assert f"{fake_templateflow.url}/{paths[0]}: the server answered HTTP 404 Not Found" in str(caught.value)
    assert Counter(fake_templateflow.requests)[paths[0]] == 1, "a 404 must not be retried"


def test_html_answer_is_rejected(tmp_path, fake_templateflow):
    paths = selected_paths(**HOSPA_6ASYM_2)
    fake_templateflow.serve(paths)
    fake_templateflow.faults[paths[0]] += ["html"]
    with pytest.raises(fetch.FetchError, match=r"did not return a gzip NIfTI-1 image: not a gzip file \(Not a gzipped file"):
        fetch.fetch_atlases(tmp_path / "tf", s3_root=fake_templateflow.url, backoff_s=0, **HOSPA_6ASYM_2)
    assert (tmp_path / "tf" / paths[0]).stat().st_size == 0


def test_gzip_that_is_not_nifti_is_rejected(tmp_path, fake_templateflow):
    import gzip

    paths = selected_paths(**HOSPA_6ASYM_2)
    fake_templateflow.serve(paths)
    fake_templateflow.files[paths[0]] = gzip.compress(b"not an image" * 100)
    with pytest.raises(fetch.FetchError, match=r"did not return a gzip NIfTI-1 image: not a NIfTI-1 image"):
        fetch.fetch_atlases(tmp_path / "tf", s3_root=fake_templateflow.url, backoff_s=0, **HOSPA_6ASYM_2)


def test_unreachable_server_raises_offline_error(tmp_path, closed_port_url):
    with pytest.raises(fetch.OfflineError, match=rf"^cannot reach {closed_port_url}/tpl-MNI152NLin6Asym/.* no answer"):
        fetch.fetch_atlases(tmp_path / "tf", s3_root=closed_port_url, attempts=2, backoff_s=0, **HOSPA_6ASYM_2)


def test_home_that_cannot_be_created_is_reported(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(fetch.FetchError, match=rf"^cannot create the TemplateFlow home {blocker}/tf: "):
        fetch.fetch_atlases(blocker / "tf", **HOSPA_6ASYM_2)


def test_datalad_home_is_refused(tmp_path):
    (tmp_path / ".datalad").mkdir()
    with pytest.raises(fetch.FetchError, match=r"is a DataLad-managed TemplateFlow home"):
        fetch.fetch_atlases(tmp_path, **HOSPA_6ASYM_2)


# --- command line ------------------------------------------------------------------------


def test_console_script_is_declared():
    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["regionseries-fetch-atlases"] == "regionseries.atlases.fetch:main"


def test_cli_default_set_end_to_end(tmp_path, fake_templateflow, capsys):
    served = fake_templateflow.serve(selected_paths())
    home = tmp_path / "templateflow"
    status = fetch.main(["--home", str(home), "--s3-root", fake_templateflow.url])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert out.strip() == (
        f"122 atlas images ready in {home} ({len(served)} downloaded, "
        f"{sum(map(len, served.values())) / 1e6:.1f} MB; 0 already present)"
    )
    assert all((home / relpath).read_bytes() == body for relpath, body in served.items())

    assert fetch.main(["--home", str(home), "--dry-run"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[-1] == f"122 atlas images selected in {home}: 122 present, 0 to download"
    assert sorted(line.split(maxsplit=1)[1] for line in listing[:-1]) == sorted(served)


def test_cli_dry_run_writes_nothing_and_uses_templateflow_home(tmp_path, monkeypatch, capsys):
    home = tmp_path / "not-yet"
    monkeypatch.setenv("TEMPLATEFLOW_HOME", str(home))
    assert fetch.main(["--dry-run", "--template", "MNI152NLin6Asym", "--atlas", "HOSPA", "--resolution", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"missing  {path}" for path in selected_paths(**HOSPA_6ASYM_2)] + [
        f"4 atlas images selected in {home}: 0 present, 4 to download"
    ]
    assert not home.exists()


def test_cli_offline_exits_1_with_advice(tmp_path, closed_port_url, capsys):
    home = tmp_path / "tf"
    argv = ["--home", str(home), "--s3-root", closed_port_url, "--attempts", "1", "--atlas", "HOSPA"]
    assert fetch.main(argv) == 1
    err = capsys.readouterr().err
    assert f"regionseries-fetch-atlases: error: cannot reach {closed_port_url}/" in err
    assert (
        f"This machine cannot reach the TemplateFlow server. Run the same command with --home {home} "
        "on a machine with network access, copy that folder here, and set TEMPLATEFLOW_HOME to it"
    ) in err


def test_cli_bad_selection_exits_2(tmp_path, capsys):
    assert fetch.main(["--home", str(tmp_path / "tf"), "--atlas", "AAL"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: regionseries-fetch-atlases")
    assert "regionseries-fetch-atlases: error: TemplateFlow has no atlas 'AAL' in " in err
    assert not (tmp_path / "tf").exists(), "a bad selection must not touch the home"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--attempts", "0"], "argument --attempts: must be a positive integer, got 0"),
        (["--timeout", "-1"], "argument --timeout: must be a positive number, got -1"),
        (["--resolution", "two"], "argument --resolution: invalid int value: 'two'"),
    ],
)
def test_cli_usage_errors_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as caught:
        fetch.main(argv)
    assert caught.value.code == 2
    assert message in capsys.readouterr().err


_STANDALONE_RUN = textwrap.dedent(
    """
    import json, runpy, sys

    sys.modules["regionseries"] = None  # any import of the package now fails
    folder, sys.argv = sys.argv[1], sys.argv[1:]
    sys.path.insert(0, folder)  # PYTHONPATH in the Docker build (python -I ignores the environment's)
    try:
        runpy.run_module("regionseries_fetch_atlases", run_name="__main__", alter_sys=True)  # python -m
    except SystemExit as done:
        status = done.code
    print(json.dumps({"status": status, "imported": sorted(m for m in ("templateflow", "bids", "nibabel") if m in sys.modules)}))
    """
)


def _standalone_copy(folder: Path) -> Path:
    """The fetch package copied on its own as the Dockerfile's atlas stage does; the folder for its path."""
    shutil.copytree(Path(fetch.__file__).parent, folder / "regionseries_fetch_atlases",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def test_script_runs_standalone_as_in_the_docker_build(tmp_path, fake_templateflow):
    """The Dockerfile's atlas stage runs the fetch package copied on its own, without regionseries."""
    standalone = _standalone_copy(tmp_path / "fetch-atlases")
    served = fake_templateflow.serve(selected_paths(**HOSPA_6ASYM_2))
    home = tmp_path / "templateflow"
    completed = subprocess.run(
        [sys.executable, "-I", "-c", _STANDALONE_RUN, str(standalone), "--home", str(home),
         "--s3-root", fake_templateflow.url, "--template", "MNI152NLin6Asym", "--atlas", "HOSPA",
         "--resolution", "2"],
        capture_output=True, text=True, cwd=tmp_path, timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout.splitlines()[-1])
    assert result == {"status": 0, "imported": []}, completed.stderr
    assert all((home / relpath).read_bytes() == body for relpath, body in served.items())


# --- validation of present images --------------------------------------------------------


def _nifti_bytes(value: int = 3) -> bytes:
    return gzip.decompress(tiny_nifti_gz(value))


def test_complete_image_passes_and_each_kind_of_damage_is_named(tmp_path):
    good = tmp_path / "good.nii.gz"
    good.write_bytes(tiny_nifti_gz(3))
    assert fetch.nifti_gz_problem(good) is None

    cut = tmp_path / "cut.nii.gz"  # an interrupted copy: the gzip stream stops early
    cut.write_bytes(tiny_nifti_gz(3)[:-20])
    assert fetch.nifti_gz_problem(cut).startswith("a truncated image (")

    short_data = tmp_path / "short-data.nii.gz"  # a whole gzip file holding only part of the image
    short_data.write_bytes(gzip.compress(_nifti_bytes()[:-4]))
    assert fetch.nifti_gz_problem(short_data) == (
        f"a truncated image ({len(_nifti_bytes()) - 4} of {len(_nifti_bytes())} bytes of NIfTI data)"
    )

    text = tmp_path / "page.nii.gz"
    text.write_bytes(b"<html>Maintenance</html>")
    assert fetch.nifti_gz_problem(text).startswith("not a gzip file (")

    not_nifti = tmp_path / "not-nifti.nii.gz"
    not_nifti.write_bytes(gzip.compress(b"\0" * 400))
    assert fetch.nifti_gz_problem(not_nifti) == "not a NIfTI-1 image"


def test_image_of_several_gzip_members_is_complete(tmp_path):
    """The trailer then gives the last member's size only: the slow path decides, and accepts."""
    data = _nifti_bytes()
    two_members = tmp_path / "two.nii.gz"
    two_members.write_bytes(gzip.compress(data[:200]) + gzip.compress(data[200:]))
    assert fetch.nifti_gz_problem(two_members) is None


# --- --check --------------------------------------------------------------------------------

HOSPA_ARGS = ["--template", "MNI152NLin6Asym", "--atlas", "HOSPA", "--resolution", "2"]
HOSPA_TABLES = [
    "tpl-MNI152NLin6Asym/template_description.json",
    "tpl-MNI152NLin6Asym/tpl-MNI152NLin6Asym_atlas-HOSPA_dseg.tsv",
]


def test_selection_metadata_is_the_templates_description_and_the_atlas_tables():
    selected = fetch.select_atlas_images(SKELETON_PATHS, **HOSPA_6ASYM_2)
    assert fetch.selection_metadata_paths(SKELETON_PATHS, selected) == HOSPA_TABLES
    # with --desc, the tables of that desc only
    schaefer = fetch.select_atlas_images(SKELETON_PATHS, templates=["MNI152NLin2009cAsym"], atlases=["Schaefer2018"],
                                         descs=["400Parcels7Networks"])
    assert fetch.selection_metadata_paths(SKELETON_PATHS, schaefer) == [
        "tpl-MNI152NLin2009cAsym/template_description.json",
        "tpl-MNI152NLin2009cAsym/tpl-MNI152NLin2009cAsym_atlas-Schaefer2018_desc-400Parcels7Networks_dseg.tsv",
    ]


def test_check_of_a_missing_home_exits_66_and_names_the_fetch_command(tmp_path, capsys):
    home = tmp_path / "tf"
    assert fetch.main(["--home", str(home), "--check", *HOSPA_ARGS]) == fetch.EXIT_MISSING == 66
    lines = capsys.readouterr().out.splitlines()
    images = selected_paths(**HOSPA_6ASYM_2)
    tables = fetch.selection_metadata_paths(SKELETON_PATHS, fetch.select_atlas_images(SKELETON_PATHS, **HOSPA_6ASYM_2))
    assert lines == (
        [f"missing  {path}" for path in images]
        + [f"4 atlas images selected in {home}: 0 present, 4 to download"]
        + [f"missing  {path}" for path in tables]
        + [
            f"check failed: 4 of 4 selected atlas images are missing and {len(tables)} label tables or template "
            f"descriptions are missing in {home}; fetch them with: regionseries-fetch-atlases --home {home} "
            "--template MNI152NLin6Asym --atlas HOSPA --resolution 2"
        ]
    )
    assert not home.exists(), "--check must not create the home"


def test_check_names_placeholders_corrupt_images_and_missing_tables_then_the_command_repairs(
    tmp_path, fake_templateflow, capsys
):
    served = fake_templateflow.serve(selected_paths(**HOSPA_6ASYM_2))
    home = tmp_path / "tf"
    assert fetch.main(["--home", str(home), "--s3-root", fake_templateflow.url, *HOSPA_ARGS]) == 0
    assert fetch.main(["--home", str(home), "--check", *HOSPA_ARGS]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == f"check passed: all 4 selected atlas images are present and valid in {home}"

    placeholder, corrupt = sorted(served)[:2]
    (home / placeholder).write_bytes(b"")
    (home / corrupt).write_bytes(served[corrupt][:-30])
    (home / HOSPA_TABLES[1]).unlink()
    before = _listing(home)
    assert fetch.main(["--home", str(home), "--check", *HOSPA_ARGS]) == 66
    out = capsys.readouterr().out.splitlines()
    assert _listing(home) == before, "--check must change nothing"
    assert f"missing  {placeholder}" in out
    (corrupt_line,) = [line for line in out if line.startswith("corrupt")]
    assert corrupt_line.startswith(f"corrupt  {corrupt}  (a truncated image (")
    assert out[-3:-1] == [f"4 atlas images selected in {home}: 2 present, 1 to download, 1 corrupt",
                          f"missing  {HOSPA_TABLES[1]}"]
    command = (f"regionseries-fetch-atlases --home {home} --template MNI152NLin6Asym --atlas HOSPA --resolution 2")
    assert out[-1] == (
        "check failed: 2 of 4 selected atlas images are missing or corrupt and 1 label tables or template "
        f"descriptions are missing in {home}; delete the corrupt files (a fetch leaves non-empty files alone), "
        f"then fetch them with: {command}"
    )

    # the advice works as printed (pointed at the fake server)
    (home / corrupt).unlink()
    assert fetch.main([*shlex.split(command)[1:], "--s3-root", fake_templateflow.url]) == 0
    assert fetch.main(["--home", str(home), "--check", *HOSPA_ARGS]) == 0
    assert all((home / path).read_bytes() == body for path, body in served.items())


def test_dry_run_keeps_exit_0_and_check_excludes_it(tmp_path, capsys):
    home = tmp_path / "tf"
    assert fetch.main(["--home", str(home), "--dry-run", *HOSPA_ARGS]) == 0
    with pytest.raises(SystemExit) as caught:
        fetch.main(["--home", str(home), "--dry-run", "--check"])
    assert caught.value.code == 2
    assert "argument --check: not allowed with argument --dry-run" in capsys.readouterr().err


def _listing(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.lstat().st_size, p.lstat().st_mtime_ns) for p in root.rglob("*")}


# --- pre-fetched source folder ---------------------------------------------------------------


def _annex_like_source(root: Path, served: dict[str, bytes]) -> Path:
    """A source folder like a DataLad clone: each image a relative link into .git/annex/objects."""
    objects = root / ".git" / "annex" / "objects"
    objects.mkdir(parents=True)
    for number, (relpath, body) in enumerate(sorted(served.items())):
        content = objects / f"key{number}" / Path(relpath).name
        content.parent.mkdir()
        content.write_bytes(body)
        link = root / relpath
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(content, link.parent))
    return root


def test_source_home_copies_link_targets_atomically_without_network(tmp_path, capsys):
    images = selected_paths(**HOSPA_6ASYM_2)
    bodies = {relpath: tiny_nifti_gz(value) for value, relpath in enumerate(images, start=1)}
    source = _annex_like_source(tmp_path / "datalad-clone", bodies)
    home = tmp_path / "tf"
    argv = ["--home", str(home), "--source-home", str(source), *HOSPA_ARGS]
    assert fetch.main(argv) == 0
    out = capsys.readouterr().out
    assert out.strip() == (
        f"4 atlas images ready in {home} (4 copied from {source}, {sum(map(len, bodies.values())) / 1e6:.1f} MB; "
        "0 already present)"
    )
    for relpath, body in bodies.items():
        copied = home / relpath
        assert not copied.is_symlink() and copied.read_bytes() == body
        assert copied.stat().st_mode & 0o777 == 0o666 & ~_umask()
    assert not list(home.rglob("*.part"))
    assert sum(1 for path in home.rglob("*") if path.is_file()) == len(SKELETON_PATHS)
    assert fetch.main(["--home", str(home), "--check", *HOSPA_ARGS]) == 0


def test_source_home_failures_are_all_listed_and_leave_placeholders(tmp_path, capsys):
    absent, placeholder, truncated, unfetched = selected_paths(**HOSPA_6ASYM_2)
    source = tmp_path / "source"
    (source / "tpl-MNI152NLin6Asym").mkdir(parents=True)
    (source / placeholder).write_bytes(b"")
    (source / truncated).write_bytes(tiny_nifti_gz(1)[:-25])
    (source / unfetched).symlink_to("../.git/annex/objects/XX/never-fetched")
    home = tmp_path / "tf"
    assert fetch.main(["--home", str(home), "--source-home", str(source), *HOSPA_ARGS]) == 1
    err = capsys.readouterr().err
    assert f"regionseries-fetch-atlases: error: 4 of 4 atlas images could not be copied from {source}:\n" in err
    assert f"  {source / absent} does not exist\n" in err
    assert f"  {source / placeholder} is an empty placeholder (TemplateFlow's skeleton), not the image\n" in err
    assert f"  {source / truncated} is a truncated image (" in err
    assert (
        f"  {source / unfetched} is a symbolic link to ../.git/annex/objects/XX/never-fetched, which does not exist "
        "(a DataLad/git-annex file whose content was not fetched? run `datalad get` on it there)"
    ) in err
    assert all((home / path).stat().st_size == 0 for path in (absent, placeholder, truncated, unfetched))
    assert not list(home.rglob(".*.part"))


def test_source_home_that_does_not_exist_touches_nothing(tmp_path, capsys):
    home = tmp_path / "tf"
    assert fetch.main(["--home", str(home), "--source-home", str(tmp_path / "nowhere"), *HOSPA_ARGS]) == 1
    assert f"the source folder {tmp_path / 'nowhere'} does not exist or is not a folder" in capsys.readouterr().err
    assert not home.exists()


def test_source_home_and_s3_root_exclude_each_other(tmp_path, capsys):
    with pytest.raises(SystemExit) as caught:
        fetch.main(["--home", str(tmp_path), "--source-home", str(tmp_path), "--s3-root", "http://127.0.0.1:9"])
    assert caught.value.code == 2
    assert "argument --s3-root: not allowed with argument --source-home" in capsys.readouterr().err


# --- a mirror: a plain http.server serving a TemplateFlow home ------------------------------


@pytest.fixture
def http_server_mirror(tmp_path):
    """``python -m http.server`` on 127.0.0.1 serving a folder with TemplateFlow's layout."""
    served = {relpath: tiny_nifti_gz(value) for value, relpath in enumerate(selected_paths(**HOSPA_6ASYM_2), 1)}
    root = tmp_path / "mirror"
    for relpath, body in served.items():
        (root / relpath).parent.mkdir(parents=True, exist_ok=True)
        (root / relpath).write_bytes(body)
    server = subprocess.Popen(
        [sys.executable, "-u", "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(root), "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        banner = server.stdout.readline()  # Serving HTTP on 127.0.0.1 port N (http://127.0.0.1:N/) ...
        port = int(re.search(r" port (\d+) ", banner)[1])
        yield f"http://127.0.0.1:{port}", served
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_http_server_mirror_on_loopback_works_even_behind_a_proxy(tmp_path, http_server_mirror, monkeypatch, capsys):
    """A proxy cannot reach this machine's loopback: such a mirror is asked directly."""
    url, served = http_server_mirror
    for variable in ("http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(variable, "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    home = tmp_path / "tf"
    assert fetch.main(["--home", str(home), "--s3-root", url, *HOSPA_ARGS]) == 0, capsys.readouterr().err
    assert all((home / relpath).read_bytes() == body for relpath, body in served.items())
    assert fetch.main(["--home", str(home), "--check", *HOSPA_ARGS]) == 0


def test_standalone_script_copies_and_checks_as_in_the_docker_build(tmp_path):
    """The Docker build's atlas stage: copy from a pre-fetched folder, then --check (66 before, 0 after)."""
    standalone = _standalone_copy(tmp_path / "fetch-atlases")
    bodies = {relpath: tiny_nifti_gz(value) for value, relpath in enumerate(selected_paths(**HOSPA_6ASYM_2), 1)}
    source = _annex_like_source(tmp_path / "prefetched", bodies)
    home = tmp_path / "templateflow"

    def run(*argv):
        completed = subprocess.run(
            [sys.executable, "-I", "-c", _STANDALONE_RUN, str(standalone), "--home", str(home), *argv, *HOSPA_ARGS],
            capture_output=True, text=True, cwd=tmp_path, timeout=60,
        )
        return json.loads(completed.stdout.splitlines()[-1]), completed

    checked, completed = run("--check")
    assert checked == {"status": 66, "imported": []}, completed.stderr
    assert "check failed: 4 of 4 selected atlas images are missing" in completed.stdout
    copied, completed = run("--source-home", str(source))
    assert copied == {"status": 0, "imported": []}, completed.stderr
    checked, completed = run("--check")
    assert checked == {"status": 0, "imported": []}, completed.stderr
    assert all((home / relpath).read_bytes() == body for relpath, body in bodies.items())


# --- interoperability with the real templateflow client -----------------------------------

_CLIENT_CHECK = textwrap.dedent(
    """
    import json, os, socket, sys

    _connect = socket.socket.connect

    def _local_only(sock, address):
        if isinstance(address, tuple) and address[0] not in ("127.0.0.1", "::1"):
            raise OSError(f"network access attempted: {address!r}")
        return _connect(sock, address)

    socket.socket.connect = _local_only

    from templateflow import TemplateFlowClient
    from templateflow.conf.cache import CacheConfig

    home, fake_server = sys.argv[1], sys.argv[2]
    client = TemplateFlowClient(root=home, s3_root=fake_server)
    out = {"default_s3_root": CacheConfig().s3_root}
    out["prefetched"] = str(client.get("MNI152NLin6Asym", atlas="HOSPA", desc="th25", resolution=2,
                                       suffix="dseg", extension=".nii.gz"))
    out["downloaded_by_client"] = str(client.get("MNI152NLin6Asym", atlas="HOCPA", desc="th25", resolution=2,
                                                 suffix="dseg", extension=".nii.gz"))
    out["ls"] = {
        f"{template}|{atlas}": sorted(os.path.relpath(p, home) for p in client.ls(
            template, atlas=atlas, extension=".nii.gz"))
        for template in ("MNI152NLin2009cAsym", "MNI152NLin6Asym")
        for atlas in ("Schaefer2018", "DiFuMo", "HOCPA", "HOCPAL", "HOSPA")
    }
    print(json.dumps(out))
    """
)


def test_real_templateflow_client_uses_the_fetched_home_offline(tmp_path, fake_templateflow):
    """The real client finds our files without any download, and its own URLs match ours."""
    fake_templateflow.serve(selected_paths(**HOSPA_6ASYM_2))
    hocpa = "tpl-MNI152NLin6Asym/tpl-MNI152NLin6Asym_res-02_atlas-HOCPA_desc-th25_dseg.nii.gz"
    hocpa_body = fake_templateflow.serve([hocpa])[hocpa]
    home = tmp_path / "templateflow"
    fetch.fetch_atlases(home, s3_root=fake_templateflow.url, backoff_s=0, **HOSPA_6ASYM_2)
    requests_before = list(fake_templateflow.requests)

    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(TEMPLATEFLOW_HOME=str(home), TEMPLATEFLOW_AUTOUPDATE="0")
    completed = subprocess.run(
        [sys.executable, "-c", _CLIENT_CHECK, str(home), fake_templateflow.url],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout.splitlines()[-1])

    assert result["default_s3_root"] == fetch.TEMPLATEFLOW_S3_ROOT
    hospa = "tpl-MNI152NLin6Asym/tpl-MNI152NLin6Asym_res-02_atlas-HOSPA_desc-th25_dseg.nii.gz"
    assert result["prefetched"] == str(home / hospa)
    # the client asked the server only for the file we had not fetched, at the URL we would use
    assert fake_templateflow.requests[len(requests_before):] == [hocpa]
    image = fetch.parse_atlas_image(hocpa)
    assert fetch.image_url(fake_templateflow.url, image) == f"{fake_templateflow.url}/{hocpa}"
    assert (home / hocpa).read_bytes() == hocpa_body
    # our file-name selection equals the client's pybids query, atlas by atlas
    for key, client_paths in result["ls"].items():
        template, atlas = key.split("|")
        assert selected_paths(templates=[template], atlases=[atlas]) == client_paths, key
