"""``regionseries-fetch-atlases`` against a fake TemplateFlow server on 127.0.0.1.

Never touches the network: every download goes to the local fake server, and
the interoperability check with the real templateflow client runs in a
subprocess whose sockets refuse any address but 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import tomllib
from collections import Counter
from pathlib import Path

import pytest

from regionseries.atlases import fetch

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
    with pytest.raises(fetch.FetchError, match=r"did not return a gzip file"):
        fetch.fetch_atlases(tmp_path / "tf", s3_root=fake_templateflow.url, backoff_s=0, **HOSPA_6ASYM_2)
    assert (tmp_path / "tf" / paths[0]).stat().st_size == 0


def test_gzip_that_is_not_nifti_is_rejected(tmp_path, fake_templateflow):
    import gzip

    paths = selected_paths(**HOSPA_6ASYM_2)
    fake_templateflow.serve(paths)
    fake_templateflow.files[paths[0]] = gzip.compress(b"not an image" * 100)
    with pytest.raises(fetch.FetchError, match=r"did not return a NIfTI-1 image"):
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
    script, sys.argv = sys.argv[1], sys.argv[1:]
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as done:
        status = done.code
    print(json.dumps({"status": status, "imported": sorted(m for m in ("templateflow", "bids", "nibabel") if m in sys.modules)}))
    """
)


def test_script_runs_standalone_as_in_the_docker_build(tmp_path, fake_templateflow):
    """The Dockerfile's atlas stage runs fetch.py as a plain file, without regionseries."""
    standalone = tmp_path / "regionseries-fetch-atlases.py"
    shutil.copy(fetch.__file__, standalone)
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
