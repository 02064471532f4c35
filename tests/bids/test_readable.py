"""regionseries.bids.readable: why an input file cannot be read, in words.

Every case writes a real broken file and checks the problem named. The
end-to-end behaviour (the run fails alone, with a *_qc.json) is in
tests/participant/test_bad_files.py.
"""

from __future__ import annotations

import gzip
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from regionseries.bids import readable
from regionseries.bids.readable import UnreadableFile
from regionseries.core.reader import BoldReader

SRC = Path(readable.__file__).parents[2]


@pytest.fixture
def bold_file(tmp_path) -> Path:
    """A small valid 4D .nii.gz (10 volumes of 6 x 7 x 5 float32 noise)."""
    data = np.random.default_rng(0).normal(size=(6, 7, 5, 10)).astype(np.float32)
    path = tmp_path / "bold.nii.gz"
    nib.save(nib.Nifti1Image(data, np.diag([3.0, 3.0, 3.0, 1.0])), path)
    return path


def _problem_of_image(path: Path, ndim=None, what="the image") -> str:
    with pytest.raises(UnreadableFile) as caught:
        readable.read_nifti_data(path, ndim, what)
    assert caught.value.path == str(path)
    assert str(caught.value).startswith(f"{path}: ")
    return caught.value.problem


def test_a_good_image_opens(bold_file):
    img = readable.read_nifti_data(bold_file, ndim=4, what="a BOLD series")
    assert img.shape == (6, 7, 5, 10)
    assert readable.file_problem(bold_file) is None


def test_missing_folder_and_empty(tmp_path):
    assert readable.file_problem(tmp_path / "absent.nii.gz") == "file not found"
    assert readable.file_problem(tmp_path) == "a folder, not a file"
    (tmp_path / "empty.nii.gz").write_bytes(b"")
    assert readable.file_problem(tmp_path / "empty.nii.gz") == "empty file (0 bytes)"


def test_annexed_content_not_present_says_datalad_get(tmp_path):
    """A locked git-annex file before `datalad get`: a symlink into a missing .git/annex object."""
    link = tmp_path / "sub-01" / "func" / "sub-01_bold.nii.gz"
    link.parent.mkdir(parents=True)
    (tmp_path / ".git" / "annex" / "objects").mkdir(parents=True)
    link.symlink_to("../../.git/annex/objects/pX/1v/MD5E-s42--0f.nii.gz/MD5E-s42--0f.nii.gz")
    problem = readable.file_problem(link)
    assert problem.startswith("annexed file whose content is not present")
    assert f"datalad get {link}" in problem


def test_unlocked_annex_pointer_file(tmp_path):
    """An unlocked git-annex file whose content is absent is a small pointer file."""
    pointer = tmp_path / "bold.nii.gz"
    pointer.write_bytes(b"/annex/objects/MD5E-s42--0f0f.nii.gz\n")
    assert readable.file_problem(pointer).startswith("annexed file whose content is not present")


def test_broken_symbolic_link_outside_an_annex(tmp_path):
    link = tmp_path / "bold.nii.gz"
    link.symlink_to(tmp_path / "moved-away.nii.gz")
    target = tmp_path / "moved-away.nii.gz"
    assert readable.file_problem(link) == f"broken symbolic link: its target {target} does not exist"


def test_symbolic_link_loop(tmp_path):
    link = tmp_path / "loop.nii.gz"
    link.symlink_to(link)
    assert readable.file_problem(link).startswith("symbolic link loop")


def test_a_pipe_is_not_a_regular_file(tmp_path):
    fifo = tmp_path / "bold.nii.gz"
    os.mkfifo(fifo)
    assert readable.file_problem(fifo) == "not a regular file (a pipe, socket or device)"


def _python_for_nobody() -> str | None:
    """An interpreter the unprivileged user ``nobody`` can start (the tests run as root in CI)."""
    for candidate in (sys.executable, "/usr/bin/python3"):
        try:
            result = subprocess.run([candidate, "-c", "pass"], user="nobody", capture_output=True, timeout=60)
        except (OSError, subprocess.SubprocessError):
            continue
        if result.returncode == 0:
            return candidate
    return None


def test_permission_denied():
    folder = Path(tempfile.mkdtemp(prefix="regionseries-readable-"))
    try:
        folder.chmod(0o755)
        secret = folder / "bold.nii.gz"
        secret.write_bytes(b"\x1f\x8b data")
        secret.chmod(0o000)
        code = ("import sys; sys.path.insert(0, sys.argv[1]); "
                "from regionseries.bids.readable import file_problem; print(file_problem(sys.argv[2]))")
        if os.geteuid() == 0:
            python = _python_for_nobody()
            if python is None:
                pytest.skip("no Python interpreter the user nobody can run")
            result = subprocess.run([python, "-c", code, str(SRC), str(secret)], user="nobody",
                                    capture_output=True, text=True, timeout=60)
            assert result.returncode == 0, result.stderr
            problem = result.stdout.strip()
        else:
            problem = readable.file_problem(secret)
        assert problem.startswith("permission denied: this user cannot read it")
    finally:
        shutil.rmtree(folder)


def test_text_named_nii_gz_is_not_gzip(tmp_path):
    path = tmp_path / "bold.nii.gz"
    path.write_text("<html>404 Not Found</html>\n")
    assert _problem_of_image(path).startswith("not gzip-compressed, although its name ends in .gz")


def test_gzip_but_not_nifti(tmp_path):
    path = tmp_path / "bold.nii.gz"
    path.write_bytes(gzip.compress(b"subject,age\n01,34\n" * 40))
    assert _problem_of_image(path) == "not a NIfTI image (no NIfTI-1 or NIfTI-2 header at the start of the file)"


def test_compressed_nifti_named_nii(bold_file, tmp_path):
    path = tmp_path / "bold.nii"
    path.write_bytes(bold_file.read_bytes())
    assert _problem_of_image(path) == "gzip-compressed, although its name does not end in .gz (rename it to .nii.gz)"


def test_annexed_file_of_a_submodule(tmp_path):
    link = tmp_path / "bold.nii.gz"
    link.symlink_to(".git/modules/fmriprep/annex/objects/pX/1v/MD5E-s42--0f.nii.gz/MD5E-s42--0f.nii.gz")
    assert readable.file_problem(link).startswith("annexed file whose content is not present")


def test_uncompressed_not_nifti(tmp_path):
    path = tmp_path / "bold.nii"
    path.write_bytes(b"\x00\x01" * 600)
    assert _problem_of_image(path).startswith("not a NIfTI image")


def test_truncated_inside_the_header(bold_file, tmp_path):
    raw = gzip.decompress(bold_file.read_bytes())
    path = tmp_path / "short.nii"
    path.write_bytes(raw[:200])
    assert _problem_of_image(path) == "truncated: the file ends inside its NIfTI header (200 of 348 bytes)"


def test_truncated_gzip_data(bold_file, tmp_path):
    raw = bold_file.read_bytes()
    path = tmp_path / "half.nii.gz"
    path.write_bytes(raw[: len(raw) // 2])
    img = readable.open_nifti(path, ndim=4)  # the header is intact
    assert img.shape == (6, 7, 5, 10)
    assert _problem_of_image(path).startswith("truncated or corrupt: the compressed data cannot be decoded")


def test_truncated_uncompressed_data_is_found_from_the_header(bold_file, tmp_path):
    raw = gzip.decompress(bold_file.read_bytes())
    path = tmp_path / "half.nii"
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(UnreadableFile) as caught:
        readable.open_nifti(path)
    assert caught.value.problem.startswith(f"truncated: {len(raw) // 2} bytes, but its header describes {len(raw)}")


def test_wrong_number_of_dimensions(tmp_path):
    path = tmp_path / "bold.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((6, 7, 5), np.float32), np.eye(4)), path)
    assert _problem_of_image(path, 4, "a BOLD series") == "has 3 dimensions (shape 6 x 7 x 5); a BOLD series must be 4D"
    assert readable.read_nifti_data(path, (3, 4), "a brain mask").shape == (6, 7, 5)


def test_an_image_without_voxels(tmp_path):
    path = tmp_path / "bold.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((6, 7, 5, 0), np.float32), np.eye(4)), path)
    assert _problem_of_image(path) == "holds no voxels (shape 6 x 7 x 5 x 0)"


def test_reading_names_the_file_the_streaming_reader_could_not_decode(bold_file, tmp_path):
    raw = bold_file.read_bytes()
    path = tmp_path / "half.nii.gz"
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(UnreadableFile) as caught, readable.reading(path):
        for _ in BoldReader(str(path)):
            pass
    assert caught.value.path == str(path)
    assert "truncated or corrupt" in caught.value.problem
    assert not caught.value.problem.startswith(str(path))  # named once, by the exception


def test_reading_lets_other_errors_through(tmp_path):
    with pytest.raises(ValueError, match="not about reading"), readable.reading(tmp_path / "x.nii.gz"):
        raise ValueError("not about reading")


@pytest.mark.parametrize(
    "content, problem",
    [
        (b'{"RepetitionTime": 2.0,}',
         "not valid JSON (line 1, column 24: Expecting property name enclosed in double quotes)"),
        ('{"TaskName": "r\u00e9sum\u00e9"}'.encode("latin-1"), "not UTF-8 text (byte 0xe9 at position 15)"),
    ],
)
def test_json_problems(tmp_path, content, problem):
    path = tmp_path / "bold.json"
    path.write_bytes(content)
    with pytest.raises(UnreadableFile) as caught:
        readable.read_json(path)
    assert caught.value.problem == problem


def test_json_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "bold.json"
    path.write_bytes(b"\xef\xbb\xbf" + b'{"RepetitionTime": 2.0}')
    assert readable.read_json(path) == {"RepetitionTime": 2.0}


def test_unavailable_is_told_apart_from_bad_content(tmp_path):
    """Not there to be read (missing, not fetched...) is an UnavailableFile; empty or not JSON is not."""
    with pytest.raises(readable.UnavailableFile, match="file not found"):
        readable.read_json(tmp_path / "absent.json")
    with pytest.raises(readable.UnavailableFile, match="a folder, not a file"):
        readable.read_text(tmp_path)
    for content, problem in ((b"", "empty file (0 bytes)"), (b"{", "not valid JSON")):
        path = tmp_path / "bad.json"
        path.write_bytes(content)
        with pytest.raises(UnreadableFile) as caught:
            readable.read_json(path)
        assert not isinstance(caught.value, readable.UnavailableFile)
        assert caught.value.problem.startswith(problem)


def test_text_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_bytes(b"\xef\xbb\xbfname: mine\n")
    assert readable.read_text(path) == "name: mine\n"


def test_the_error_survives_a_worker_process():
    error = pickle.loads(pickle.dumps(UnreadableFile("/data/bold.nii.gz", "empty file (0 bytes)")))
    assert (error.path, error.problem, str(error)) == ("/data/bold.nii.gz", "empty file (0 bytes)",
                                                       "/data/bold.nii.gz: empty file (0 bytes)")
    unavailable = pickle.loads(pickle.dumps(readable.UnavailableFile("/data/x.json", "file not found")))
    assert type(unavailable) is readable.UnavailableFile and unavailable.problem == "file not found"
