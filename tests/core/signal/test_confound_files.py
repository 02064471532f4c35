"""Confounds given as a path: files written by pandas and numpy, read as nilearn reads them.

nilearn 0.14.1 (``signal._sanitize_confound_dtype``, ``csv_to_array``) is the
oracle: ``clean(signals, confounds=path)`` must give nilearn's result on every
file nilearn can read (header or not, pandas' index column, comma, tab,
semicolon or space), and the in-memory matrix's result (with the index column
as one more confound, as in nilearn). The few files nilearn cannot read are
read here too (last tests).
"""

import re

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from nilearn import maskers as nilearn_maskers
from nilearn.signal import _sanitize_confound_dtype

from regionseries.core.signal.inputs import _read_confounds_file
from regionseries.maskers import NiftiLabelsMasker
from regionseries.signal import clean

N_TIME = 40
NAMES = ["trans_x", "trans_y", "rot_z"]


@pytest.fixture(scope="module")
def data(helpers):
    """Random-walk signals (40 × 4) + 100 and random-walk confounds (40 × 3)."""
    rng = np.random.default_rng(16)
    return helpers.random_walk(rng, (N_TIME, 4), 100.0), helpers.random_walk(rng, (N_TIME, 3))


def _with_index(confounds):
    """The matrix nilearn reads from a pandas file with its index: the index first."""
    return np.column_stack([np.arange(len(confounds)), confounds])


# Every way pandas writes a frame, but two: an unnamed frame's header without the index
# ("0,1,2": data, test_integer_header_without_index_is_data_as_in_nilearn) and a
# space-separated header with the index (nilearn cannot read it,
# test_space_separated_pandas_file_with_index_and_header).
PANDAS_FILES = [
    (separator, index, column_names)
    for separator in (",", "\t", ";", " ")
    for index in (True, False)
    for column_names in ("names", "integers", "none")
    if not (column_names == "integers" and not index)
    and not (separator == " " and index and column_names != "none")
]


@pytest.mark.parametrize(("separator", "index", "column_names"), PANDAS_FILES)
def test_pandas_files_read_as_nilearn_reads_them(oracle, helpers, data, tmp_path,
                                                  separator, index, column_names):
    signals, confounds = data
    frame = pd.DataFrame(confounds, columns=NAMES if column_names == "names" else None)
    path = tmp_path / "confounds.csv"
    frame.to_csv(path, sep=separator, index=index, header=column_names != "none")
    expected_matrix = _with_index(confounds) if index else confounds
    ours = clean(signals, confounds=path)
    helpers.assert_f64(ours, oracle.clean(signals, confounds=path))
    helpers.assert_f64(ours, clean(signals, confounds=expected_matrix))
    helpers.assert_f64(clean(signals, confounds=str(path)), ours)


def test_pandas_file_with_index_and_integer_header_has_no_extra_row(data, tmp_path):
    """The regression: ``DataFrame.to_csv`` writes ``,0,1,2``; that line is a header."""
    signals, confounds = data
    path = tmp_path / "confounds.csv"
    pd.DataFrame(confounds).to_csv(path)
    assert path.read_text().splitlines()[0] == ",0,1,2"
    np.testing.assert_allclose(clean(signals, confounds=path), clean(signals, confounds=_with_index(confounds)),
                               rtol=1e-12, atol=1e-12)


# Every way np.savetxt writes, but fixed-width columns under a plain header
# (nilearn cannot read them, test_aligned_columns_under_a_header).
SAVETXT_FILES = [
    (delimiter, header, fmt)
    for delimiter in (" ", ",", "\t", ";")
    for header in (None, "commented", "plain")
    for fmt in ("%.18e", "%10.4f")
    if not (delimiter == " " and header == "plain" and fmt == "%10.4f")
]


@pytest.mark.parametrize(("delimiter", "header", "fmt"), SAVETXT_FILES)
def test_numpy_savetxt_files_read_as_nilearn_reads_them(oracle, helpers, data, tmp_path,
                                                        delimiter, header, fmt):
    signals, confounds = data
    path = tmp_path / "confounds.txt"
    options = {"delimiter": delimiter, "fmt": fmt}
    if header is not None:
        options["header"] = delimiter.join(NAMES)
        options["comments"] = "# " if header == "commented" else ""
    np.savetxt(path, confounds, **options)
    written = np.loadtxt(path, delimiter=None if delimiter == " " else delimiter,
                         skiprows=1 if header == "plain" else 0)
    ours = clean(signals, confounds=path)
    helpers.assert_f64(ours, oracle.clean(signals, confounds=path))
    helpers.assert_f64(ours, clean(signals, confounds=written))


def test_fmriprep_style_file_with_na(helpers, data, tmp_path):
    """A header and ``n/a`` values, tab-separated: NaN where nilearn has NaN."""
    signals, confounds = data
    frame = pd.DataFrame(confounds, columns=NAMES)
    frame["trans_x_derivative1"] = np.r_[np.nan, np.diff(confounds[:, 0])]
    path = tmp_path / "desc-confounds_timeseries.tsv"
    frame.to_csv(path, sep="\t", index=False, na_rep="n/a")
    table = _read_confounds_file(path, N_TIME)
    np.testing.assert_array_equal(table, _sanitize_confound_dtype(N_TIME, path))
    np.testing.assert_array_equal(table, frame.to_numpy())
    keep = np.arange(1, N_TIME)
    helpers.assert_f64(clean(signals, confounds=path, sample_mask=keep),
                       clean(signals, confounds=frame, sample_mask=keep))


def test_integer_header_without_index_is_data_as_in_nilearn(oracle, data, tmp_path):
    """``0,1,2`` (pandas' column names of an unnamed frame) is a row of numbers: one row too many."""
    signals, confounds = data
    path = tmp_path / "confounds.csv"
    pd.DataFrame(confounds).to_csv(path, index=False)
    message = re.escape("Confound signal has an incorrect length. \nSignal length: 40; "
                        "confound length: 41")
    with pytest.raises(ValueError, match=message):
        oracle.clean(signals, confounds=path)
    with pytest.raises(ValueError, match=message + re.escape(f" (file: {path}).")):
        clean(signals, confounds=path)


def test_missing_first_value_makes_a_header_as_in_nilearn(oracle, data, tmp_path):
    """A header-less file whose first value is missing loses its first row, as in nilearn;
    the error says why."""
    signals, confounds = data
    with_nan = confounds.copy()
    with_nan[0, 0] = np.nan
    path = tmp_path / "confounds.csv"
    np.savetxt(path, with_nan, delimiter=",")
    message = re.escape("Confound signal has an incorrect length. \nSignal length: 40; "
                        "confound length: 39")
    with pytest.raises(ValueError, match=message):
        oracle.clean(signals, confounds=path)
    with pytest.raises(ValueError, match=message + re.escape(
            f" (file: {path}; its first row was read as a header, its first value being "
            "empty or NaN).")):
        clean(signals, confounds=path)


def test_comment_line_before_header(helpers, data, tmp_path):
    """The delimiter is sniffed from the first line of values (nilearn sniffs the comment)."""
    signals, confounds = data
    path = tmp_path / "confounds.csv"
    path.write_text("# motion parameters\n" + pd.DataFrame(confounds, columns=NAMES)
                    .to_csv(index=False))
    helpers.assert_f64(clean(signals, confounds=path), clean(signals, confounds=confounds))


def test_header_with_a_number_first(oracle, helpers, data, tmp_path):
    """A header ``1,b,c`` (a text field, first field a number): nilearn reads it as data."""
    signals, confounds = data
    path = tmp_path / "confounds.csv"
    pd.DataFrame(confounds, columns=["1", "b", "c"]).to_csv(path, index=False)
    with pytest.raises(ValueError, match="confound length: 41"):
        oracle.clean(signals, confounds=path)
    helpers.assert_f64(clean(signals, confounds=path), clean(signals, confounds=confounds))


def test_one_column_file_with_header(oracle, helpers, data, tmp_path):
    """nilearn cannot guess a delimiter in ``trans_x``; a one-column file needs none."""
    signals, confounds = data
    path = tmp_path / "confounds.tsv"
    pd.DataFrame(confounds[:, :1], columns=["trans_x"]).to_csv(path, sep="\t", index=False)
    with pytest.raises(TypeError, match="Could not read CSV file"):
        oracle.clean(signals, confounds=path)
    helpers.assert_f64(clean(signals, confounds=path), clean(signals, confounds=confounds[:, 0]))


def test_space_separated_pandas_file_with_index_and_header(oracle, helpers, data, tmp_path):
    """pandas writes `` trans_x trans_y rot_z``: nilearn's genfromtxt sees 3 names, 4 values."""
    signals, confounds = data
    path = tmp_path / "confounds.txt"
    pd.DataFrame(confounds, columns=NAMES).to_csv(path, sep=" ")
    with pytest.raises(ValueError, match="Some errors were detected"):
        oracle.clean(signals, confounds=path)
    helpers.assert_f64(clean(signals, confounds=path),
                       clean(signals, confounds=_with_index(confounds)))


def test_aligned_columns_under_a_header(oracle, helpers, data, tmp_path):
    """Fixed-width columns under a plain header: nilearn splits at every single space."""
    signals, confounds = data
    path = tmp_path / "confounds.txt"
    np.savetxt(path, confounds, fmt="%10.4f", header=" ".join(NAMES), comments="")
    with pytest.raises(ValueError, match="Some errors were detected"):
        oracle.clean(signals, confounds=path)
    helpers.assert_f64(clean(signals, confounds=path),
                       clean(signals, confounds=np.loadtxt(path, skiprows=1)))


def test_masker_transform_with_pandas_file(helpers, tmp_path):
    """The user-facing case: a masker's transform with ``DataFrame.to_csv``'s file."""
    rng = np.random.default_rng(7)
    affine = np.eye(4)
    bold = nib.Nifti1Image(rng.standard_normal((6, 6, 6, N_TIME)) + 100, affine)
    labels = np.zeros((6, 6, 6), dtype=np.int32)
    labels[:3], labels[3:] = 1, 2
    labels_img = nib.Nifti1Image(labels, affine)
    path = tmp_path / "confounds.csv"
    pd.DataFrame(rng.standard_normal((N_TIME, 3))).to_csv(path)
    ours = NiftiLabelsMasker(labels_img).fit_transform(bold, confounds=path)
    theirs, _ = helpers.warning_messages(nilearn_maskers.NiftiLabelsMasker(labels_img).fit_transform,
                                         bold, confounds=path)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)
    ours_hv = NiftiLabelsMasker(labels_img, high_variance_confounds=True).fit_transform(
        bold, confounds=path)
    theirs_hv, _ = helpers.warning_messages(
        nilearn_maskers.NiftiLabelsMasker(labels_img, high_variance_confounds=True).fit_transform,
        bold, confounds=path)
    # the high-variance confounds' signs are arbitrary; the regression does not see them
    np.testing.assert_allclose(ours_hv, theirs_hv, rtol=1e-5, atol=1e-5)
