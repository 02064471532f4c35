"""Raster report figures: frames drawn once (in the process and on disk), data pasted as pixels."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from matplotlib import colormaps
from matplotlib.colors import hsv_to_rgb
from PIL import Image

from regionseries.report import figures, raster
from regionseries.report.raster import frames as raster_frames


@pytest.fixture(scope="module")
def run(synthetic):
    return synthetic.make_run(n_volumes=60)


@pytest.fixture
def fresh_frames(monkeypatch):
    """An empty in-process frame cache, so that frames are looked up in their folder."""
    monkeypatch.setattr(raster_frames, "_FRAME_CACHE", raster_frames.OrderedDict())


def _pixels(figure, tmp_path, name="figure.png") -> np.ndarray:
    path = figures.save_figure(figure, tmp_path / name)
    return np.asarray(Image.open(path).convert("RGB"), dtype=float)


def _differing_fraction(first: np.ndarray, second: np.ndarray) -> float:
    assert first.shape == second.shape
    return float((np.abs(first.astype(int) - second.astype(int)).sum(axis=2) > 30).mean())


# --- helpers with known answers -------------------------------------------


def test_region_indices_map_label_values_to_table_positions():
    labels = np.array([[0, 7, 3], [3, 99, 7]])
    indices = raster._region_indices(labels, np.array([3, 7]))
    np.testing.assert_array_equal(indices, [[0, 2, 1], [1, 0, 2]])


def test_label_boundaries_outline_each_region_but_not_background():
    index_slice = np.zeros((8, 8), dtype=int)
    index_slice[1:7, 1:4] = 1
    index_slice[1:7, 4:7] = 2
    boundary = raster._label_boundaries(index_slice)
    interior = np.zeros_like(boundary)
    interior[2:6, 2] = interior[2:6, 5] = True  # touch neither background nor the other region
    np.testing.assert_array_equal(boundary, (index_slice > 0) & ~interior)


def test_cut_indices_lie_inside_the_filled_extent():
    mask = np.zeros((10, 10, 30), dtype=bool)
    mask[2:8, 2:8, 10:20] = True
    cuts = raster._cut_indices(mask, 2, 5)
    assert cuts.min() > 10 and cuts.max() < 19 and cuts.size == 5


def test_canonical_undoes_a_flipped_axis():
    data = np.arange(24).reshape(2, 3, 4)
    affine = np.diag([-2.0, 2.0, 2.0, 1.0])
    affine[0, 3] = 10.0
    canonical, canonical_affine = raster._canonical(data, affine)
    np.testing.assert_array_equal(canonical, data[::-1])
    assert canonical_affine[0, 0] == 2.0
    # Voxel (0, 0, 0) of the result is the old voxel (1, 0, 0): same world point.
    np.testing.assert_allclose(canonical_affine @ [0, 0, 0, 1], affine @ [1, 0, 0, 1])


def test_resample_nearest_is_the_identity_on_the_same_grid_and_shifts_correctly():
    data = np.random.default_rng(0).integers(0, 5, (4, 5, 6))
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    same = raster._resample_nearest(data, affine, data.shape, affine)
    np.testing.assert_array_equal(same, data)
    shifted = affine.copy()
    shifted[0, 3] = 2.0  # target voxel i is source voxel i + 1
    moved = raster._resample_nearest(data, affine, data.shape, shifted)
    np.testing.assert_array_equal(moved[:-1], data[1:])
    assert not moved[-1].any()


def test_zscore_columns_ignores_nan_and_keeps_empty_columns_empty():
    signals = np.array([[1.0, np.nan, 5], [2, np.nan, 5], [3, np.nan, 5], [np.nan, np.nan, 5]])
    scores = raster._zscore_columns(signals)
    np.testing.assert_allclose(scores[:3, 0], [-np.sqrt(1.5), 0, np.sqrt(1.5)])
    assert np.isnan(scores[3, 0]) and np.isnan(scores[:, 1]).all()
    np.testing.assert_array_equal(scores[:, 2], 0)


def test_label_colors_are_distinct():
    colors = raster.label_colors(400)
    assert colors.shape == (400, 3)
    assert len(np.unique(np.round(colors, 4), axis=0)) == 400
    assert np.linalg.norm(colors[1:] - colors[:-1], axis=1).min() > 0.15


def test_connectivity_limit_is_shared_and_capped_for_correlations():
    small = np.array([[1.0, 0.2], [0.2, 1.0]])
    large = np.array([[1.0, -0.6], [-0.6, 1.0]])
    assert raster.connectivity_limit([small, large]) == pytest.approx(0.6, abs=0.01)
    assert raster.connectivity_limit([np.full((2, 2), 5.0)]) == 1.0
    assert raster.connectivity_limit([np.full((2, 2), 5.0)], "covariance") == 5.0
    assert raster.connectivity_limit([np.full((2, 2), np.nan)]) == 1.0


def test_region_indices_with_a_lookup_table_and_without_agree():
    generator = np.random.default_rng(4)
    values = np.array([5, 1000, 7, 3])
    labels = generator.choice([0, 5, 1000, 7, 3, 8], size=(6, 7, 8))
    expected = np.select([labels == v for v in values], [1, 2, 3, 4], 0)
    np.testing.assert_array_equal(raster._region_indices(labels, values), expected)
    np.testing.assert_array_equal(raster._region_indices(labels.astype(float), values), expected)
    far = values.copy()
    far[1] = 1 << 40  # too wide a range for a table: looked up by sorting
    shifted = np.where(labels == 1000, 1 << 40, labels)
    np.testing.assert_array_equal(raster._region_indices(shifted, far), expected)
    repeated = raster._region_indices(np.array([5, 7]), np.array([5, 7, 5]))
    np.testing.assert_array_equal(repeated, [1, 2])  # a repeated value names its first region


def test_label_colors_match_matplotlib_hsv():
    golden = (np.sqrt(5) - 1) / 2
    n = np.arange(50)
    hsv = np.column_stack([(0.11 + golden * n) % 1.0, np.where(n % 2 == 0, 0.75, 0.55),
                           np.where(n % 3 == 0, 0.95, 0.82)])
    np.testing.assert_allclose(raster.label_colors(50), hsv_to_rgb(hsv), atol=1e-12)


def test_slices_are_views_in_display_orientation():
    volume = np.asfortranarray(np.arange(60).reshape(3, 4, 5))
    for axis in range(3):
        for index in range(volume.shape[axis]):
            expected = np.take(volume, index, axis=axis).T
            np.testing.assert_array_equal(raster._slice(volume, axis, index), expected)
    assert np.shares_memory(raster._slice(volume, 2, 1), volume)


def test_overlay_cuts_span_the_atlas_not_the_reference():
    indices = np.zeros((10, 10, 30), dtype=int)
    indices[3:6, 2:8, 12:18] = 1
    cuts = raster.overlay_cuts(indices, lambda: np.ones(indices.shape, bool), 4)
    axial = cuts[0]  # views are axial (z), coronal (y), sagittal (x)
    assert min(axial) > 12 and max(axial) < 17
    empty = raster.overlay_cuts(np.zeros_like(indices), lambda: indices > 0, 4)
    assert empty == cuts  # no region on this grid: the reference's extent


def test_strongest_map_index_streams_maps_and_respects_the_floor():
    first = np.zeros((4, 1, 1))
    first[:, 0, 0] = [1.0, 0.5, 0.05, 0.0]
    second = np.zeros((4, 1, 1))
    second[:, 0, 0] = [0.2, 2.0, 0.1, 0.0]  # relative weights 0.1, 1.0, 0.05, 0
    expected = [1, 2, 0, 0]  # voxel 3: both below 10 % of their peaks
    np.testing.assert_array_equal(raster.strongest_map_index(iter([first, second]))[:, 0, 0],
                                  expected)
    stacked = np.stack([first, second], axis=-1)
    np.testing.assert_array_equal(raster.strongest_map_index(stacked)[:, 0, 0], expected)
    with pytest.raises(ValueError, match="strongest_map_index needs at least one map"):
        raster.strongest_map_index(iter([]))


# --- frames and files -------------------------------------------------------------


def test_colormapped_is_what_imshow_draws():
    colormap = colormaps["RdBu_r"].with_extremes(bad="#d9d9d9")
    table = figures.colormap_table(colormap)
    values = np.array([[-3.0, -1.0, -0.5, 0.0], [0.2, 0.999, 1.0, np.nan]])
    expected = colormap(np.ma.masked_invalid((values + 1) / 2), bytes=True)[..., :3]
    np.testing.assert_array_equal(raster.colormapped(values, table["colors"], table["bad"], -1, 1),
                                  expected)


def test_save_raster_is_atomic_readable_and_png_only(tmp_path, run):
    figure = raster.carpet_raster(raster.carpet_panels(run, "demo"), run.repetition_time)
    path = raster.save_raster(figure, tmp_path / "deep" / "carpet.png")
    with Image.open(path) as image:
        assert image.size == figure.pixels.shape[1::-1]
        assert image.info["dpi"] == pytest.approx((100, 100), abs=0.01)
    assert [p.name for p in path.parent.iterdir()] == ["carpet.png"]
    assert path.stat().st_mode & stat.S_IRGRP  # not mkstemp's 0600
    with pytest.raises(ValueError, match="a raster figure can only be written as PNG"):
        raster.save_raster(figure, tmp_path / "carpet.svg")
    with pytest.raises(ValueError, match="format must be one of"):
        raster.save_raster(figure, tmp_path / "carpet.pdf")


def test_frames_are_reused_and_the_cache_is_bounded(run, monkeypatch, fresh_frames):
    monkeypatch.setattr(raster_frames, "FRAME_CACHE_SIZE", 2)
    panels = raster.carpet_panels(run, "demo")
    built = []
    original = figures.carpet_frame
    monkeypatch.setattr(figures, "carpet_frame", lambda *a: built.append(1) or original(*a))
    first = raster.carpet_raster(panels, run.repetition_time)
    second = raster.carpet_raster([(t, s[::-1]) for t, s in panels], run.repetition_time)
    assert len(built) == 1  # same titles and shape: one frame
    assert not np.array_equal(first.pixels, second.pixels)  # but the data were pasted anew
    raster.carpet_raster(panels[:1], run.repetition_time)
    raster.carpet_raster(panels[:2], run.repetition_time)
    assert len(built) == 3 and len(raster_frames._FRAME_CACHE) == 2


def test_frames_are_shared_through_their_folder(run, tmp_path, monkeypatch, fresh_frames):
    folder = tmp_path / "frames"
    panels = raster.carpet_panels(run, "demo")
    drawn = raster.carpet_raster(panels, run.repetition_time, frame_dir=folder)
    stored = list(folder.iterdir())
    assert len(stored) == 1 and stored[0].suffix == ".npz"
    assert stored[0].stat().st_mode & stat.S_IRGRP

    def no_drawing(*args):
        raise AssertionError("the frame was drawn again")

    monkeypatch.setattr(figures, "carpet_frame", no_drawing)
    raster_frames._FRAME_CACHE.clear()  # as another process would start
    again = raster.carpet_raster(panels, run.repetition_time, frame_dir=folder)
    np.testing.assert_array_equal(again.pixels, drawn.pixels)
    # Another figure (other titles) has another file.
    monkeypatch.undo()
    raster.carpet_raster(panels[:2], run.repetition_time, frame_dir=folder)
    assert len(list(folder.iterdir())) == 2


def test_an_unreadable_frame_is_drawn_again_and_an_unwritable_folder_only_costs_reuse(
        run, tmp_path, fresh_frames):
    folder = tmp_path / "frames"
    panels = raster.carpet_panels(run, "demo")
    drawn = raster.carpet_raster(panels, run.repetition_time, frame_dir=folder)
    (stored,) = folder.iterdir()
    stored.write_bytes(b"not a frame")
    raster_frames._FRAME_CACHE.clear()
    again = raster.carpet_raster(panels, run.repetition_time, frame_dir=folder)
    np.testing.assert_array_equal(again.pixels, drawn.pixels)
    assert raster._load_frame(stored) is not None  # and stored anew
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    raster_frames._FRAME_CACHE.clear()
    # The folder cannot be created (a file is in the way): the figure is drawn all the same.
    figure = raster.carpet_raster(panels, run.repetition_time, frame_dir=blocked / "frames")
    np.testing.assert_array_equal(figure.pixels, drawn.pixels)


def test_frame_files_depend_on_what_is_drawn_and_on_the_drawing_code(tmp_path, monkeypatch):
    first = raster.frame_file(tmp_path, ("carpet", ("a",), 10, 3, 2.0, "regions"))
    assert first == raster.frame_file(tmp_path, ("carpet", ("a",), 10, 3, 2.0, "regions"))
    assert first != raster.frame_file(tmp_path, ("carpet", ("b",), 10, 3, 2.0, "regions"))
    monkeypatch.setattr(raster_frames, "_drawing_code_digest", lambda: "edited")
    assert first != raster.frame_file(tmp_path, ("carpet", ("a",), 10, 3, 2.0, "regions"))


@pytest.mark.parametrize("module", ["raster/frames", "raster/carpet", "raster/atlas", "figures/canvas",
                                    "figures/carpet", "figures/atlas"])
def test_the_drawing_code_digest_covers_raster_and_every_figure_module(module, monkeypatch):
    """An edit of any module that draws frames gives new frame files (raster and figures are packages)."""
    edited = Path(raster.__file__).parent.parent / f"{module}.py"
    assert edited.is_file()
    real_read_bytes = Path.read_bytes
    raster_frames._drawing_code_digest.cache_clear()
    try:
        before = raster_frames._drawing_code_digest()
        monkeypatch.setattr(Path, "read_bytes",
                            lambda path: real_read_bytes(path) + (b"# edited" if path == edited else b""))
        raster_frames._drawing_code_digest.cache_clear()
        assert raster_frames._drawing_code_digest() != before
    finally:
        monkeypatch.undo()
        raster_frames._drawing_code_digest.cache_clear()


def test_a_page_from_stored_frames_does_not_import_matplotlib(tmp_path):
    """The point of the frame folder: a later job draws its figures without matplotlib."""
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from conftest import make_participant_report
        from regionseries.report import write_participant_report
        report = make_participant_report("01", n_runs=2)
        write_participant_report(report, sys.argv[1], frame_dir=sys.argv[2])
        print("matplotlib" in sys.modules)
    """)
    frames = tmp_path / "frames"

    def page(folder: Path) -> tuple[str, dict]:
        result = subprocess.run([sys.executable, "-c", script, str(folder), str(frames)],
                                capture_output=True, text=True, env=dict(os.environ), check=True)
        figures_dir = folder / "sub-01" / "figures"
        return result.stdout.split()[-1], {p.name: p.read_bytes() for p in figures_dir.iterdir()}

    cold_imported, cold = page(tmp_path / "cold")
    warm_imported, warm = page(tmp_path / "warm")
    assert (cold_imported, warm_imported) == ("True", "False")
    assert warm == cold  # the same files, byte for byte


# --- raster figures look like the matplotlib ones --------------------------------------


def test_carpet_raster_looks_like_the_matplotlib_carpet(run, tmp_path):
    panels = raster.carpet_panels(run, "demo")
    slow = _pixels(figures.plot_carpet(panels, run.repetition_time), tmp_path, "slow.png")
    fast = raster.carpet_raster(panels, run.repetition_time)
    # Only columns where the two nearest-neighbour samplings round differently may differ.
    assert _differing_fraction(slow, _pixels(fast, tmp_path, "fast.png")) < 0.02
    np.testing.assert_allclose(fast.get_size_inches(), [10.0, slow.shape[0] / 100])


def test_carpet_raster_samples_one_region_and_volume_per_pixel(fresh_frames):
    """400 regions on fewer pixel rows: each pixel shows the region and volume nearest its centre."""
    n_volumes, n_regions = 1000, 400
    signals = np.random.default_rng(5).normal(size=(n_volumes, n_regions))
    signals[:, 7] = np.nan  # a region set to n/a
    figure = raster.carpet_raster([("x", signals)], 2.0)
    (frame,) = raster_frames._FRAME_CACHE.values()
    height, width = frame.box_shape(0)
    assert height < n_regions and width < n_volumes
    row0, row1, col0, col1 = frame.boxes[0]
    shown_regions = raster.nearest_indices(n_regions, height)
    shown_volumes = raster.nearest_indices(n_volumes, width)
    scores = raster._zscore_columns(signals)[shown_volumes][:, shown_regions].T
    expected = raster.colormapped(scores, frame.tables["colors"], frame.tables["bad"], -2, 2)
    np.testing.assert_array_equal(figure.pixels[row0:row1, col0:col1], expected)


def test_connectivity_raster_looks_like_the_matplotlib_matrices(run, tmp_path):
    matrices = [(name, run.connectivity[("demo", name)]) for name in ("simple", "scrubbing")]
    names = run.atlases[0].region_names
    slow = _pixels(figures.plot_connectivity(matrices, names), tmp_path, "slow.png")
    fast = _pixels(raster.connectivity_raster(matrices, names), tmp_path, "fast.png")
    assert _differing_fraction(slow, fast) < 0.005


def test_motion_raster_looks_like_the_matplotlib_motion_figure(run, tmp_path):
    fd = run.fd.copy()
    fd[[0, 7]] = np.nan  # fMRIPrep's first FD is n/a; a gap in the trace
    slow = _pixels(figures.plot_motion(run.n_volumes, 2.0, run.strategies, fd), tmp_path, "s.png")
    fast = _pixels(raster.motion_raster(run.n_volumes, 2.0, run.strategies, fd), tmp_path,
                   "f.png")
    assert _differing_fraction(slow, fast) < 0.01
    without_fd = raster.motion_raster(run.n_volumes, 2.0, run.strategies, None)
    assert without_fd.pixels.shape[0] < fast.shape[0]


def test_motion_raster_with_std_dvars_looks_like_the_matplotlib_figure(run, tmp_path):
    args = (run.n_volumes, 2.0, run.strategies, run.fd)
    slow = _pixels(figures.plot_motion(*args, run.std_dvars), tmp_path, "s.png")
    fast = _pixels(raster.motion_raster(*args, std_dvars=run.std_dvars), tmp_path, "f.png")
    assert _differing_fraction(slow, fast) < 0.01
    assert fast.shape[0] > _pixels(raster.motion_raster(*args), tmp_path, "fd.png").shape[0]


@pytest.mark.parametrize("position", [0, 1, 2], ids=["labels", "maps", "spheres"])
def test_atlas_raster_looks_like_the_matplotlib_overlay(run, tmp_path, position):
    atlas = run.atlases[position]
    slow = _pixels(figures.plot_atlas(atlas, run.reference_image), tmp_path, "slow.png")
    fast = _pixels(raster.atlas_raster(atlas, run.reference_image), tmp_path, "fast.png")
    # Only pixels where the two nearest-neighbour samplings round differently may differ
    # (voxel edges one pixel apart): the same slices, colours, text and spheres.
    assert _differing_fraction(slow, fast) < 0.02


def test_atlas_raster_without_reference_and_without_image(run, tmp_path):
    labels, _, spheres = run.atlases
    for atlas in (labels, spheres):
        slow = _pixels(figures.plot_atlas(atlas, None), tmp_path, "slow.png")
        fast = _pixels(raster.atlas_raster(atlas, None), tmp_path, "fast.png")
        assert _differing_fraction(slow, fast) < 0.02
    bare = type(labels)(name="bare", kind="labels", region_names=["a"])
    assert raster.atlas_raster(bare, run.reference_image) is None


def test_overlay_shows_na_regions_in_red(run):
    atlas = run.atlases[0]
    pixels = raster.atlas_raster(atlas, run.reference_image).pixels.astype(int)
    red = (pixels[..., 0] > 180) & (pixels[..., 1] < 80) & (pixels[..., 2] < 80)
    assert red.sum() > 20, "the n/a region's red outline is missing"


def test_layered_frames_draw_their_text_over_the_slices(run):
    """The white L/R letters of the overlay are drawn over the (dark) slices, not under them."""
    atlas = run.atlases[0]
    volumes = raster.overlay_volumes(np.asarray(atlas.image.dataobj), atlas.image.affine, None,
                                     None, 7, label_values=atlas.label_values)
    frame = figures.cuts_frame(volumes.grid, volumes.cuts, 7)
    assert frame.layer is not None and len(frame.boxes) == sum(len(c) for c in volumes.cuts)
    black = [np.zeros(frame.box_shape(k) + (3,), np.uint8) for k in range(len(frame.boxes))]
    pixels = frame.paste(black).pixels
    row0, row1, col0, col1 = frame.boxes[0]
    assert (pixels[row0:row1, col0:col1] > 200).all(axis=2).sum() > 5  # the letters, in white


def test_raster_errors(run, tmp_path):
    with pytest.raises(ValueError, match="carpet panels must all have the same shape"):
        raster.carpet_raster([("a", np.zeros((5, 2))), ("b", np.zeros((5, 3)))], 1.0)
    with pytest.raises(ValueError, match=r"connectivity matrix 'x' must be 3×3 \(one row per"):
        raster.connectivity_raster([("x", np.zeros((2, 2)))], ["a", "b", "c"])


def test_correlation_colour_limits_are_rounded_up_to_tenths():
    matrix = np.array([[1.0, 0.63], [0.63, 1.0]])
    assert raster.connectivity_limit([matrix]) == 0.7
    assert raster.connectivity_limit([matrix * 0.01]) == 0.1


def test_nice_ceiling():
    assert [raster._nice_ceiling(v) for v in (0.07, 0.1, 0.11, 0.45, 1.38, 2.6, 9, 0)] == [
        0.08, 0.1, 0.15, 0.5, 1.5, 3, 10, 1.0]


def test_spheres_frame_is_shared_whatever_spheres_are_na(run, monkeypatch, fresh_frames):
    """The spheres are drawn between the projections and the frame: n/a only changes colours."""
    atlas = run.atlases[2]
    built = []
    original = figures.spheres_frame
    monkeypatch.setattr(figures, "spheres_frame", lambda *a: built.append(1) or original(*a))
    coordinates = atlas.sphere_coordinates_mm
    reference = np.asarray(run.reference_image.dataobj)
    affine = run.reference_image.affine
    none_na = raster.spheres_raster(coordinates, atlas.sphere_radius_mm, None, reference, affine)
    first_na = np.zeros(len(coordinates), bool)
    first_na[0] = True
    one_na = raster.spheres_raster(coordinates, atlas.sphere_radius_mm, first_na, reference, affine)
    assert len(built) == 1
    (frame,) = raster_frames._FRAME_CACHE.values()
    column, row = np.round(frame.tables["centres"][0, 0]).astype(int)  # sphere 0, axial view
    red = np.round(255 * (0.9 * np.array(raster.COLOR_NA)))  # 90 % red over the projection
    assert np.all(np.abs(one_na.pixels[row, column].astype(int) - red) < 40)
    assert not np.all(np.abs(none_na.pixels[row, column].astype(int) - red) < 40)
