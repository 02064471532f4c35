"""Report figures: known-answer checks of the helpers and of what each figure draws."""

from __future__ import annotations

import stat

import nibabel as nib
import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.collections import EllipseCollection
from PIL import Image

from regionseries.report import figures
from regionseries.report.model import StrategyResult


@pytest.fixture(scope="module")
def run(synthetic):
    return synthetic.make_run(n_volumes=60)


def _pixels(figure: Figure, tmp_path, name="figure.png") -> np.ndarray:
    path = figures.save_figure(figure, tmp_path / name)
    return np.asarray(Image.open(path).convert("RGB"), dtype=float)


def _not_blank(pixels: np.ndarray) -> bool:
    packed = pixels.astype(np.int64) @ np.array([65536, 256, 1])
    return pixels.std() > 10 and np.unique(packed).size > 20


# --- helpers with known answers -------------------------------------------


def test_region_indices_map_label_values_to_table_positions():
    labels = np.array([[0, 7, 3], [3, 99, 7]])
    indices = figures._region_indices(labels, np.array([3, 7]))
    np.testing.assert_array_equal(indices, [[0, 2, 1], [1, 0, 2]])


def test_label_boundaries_outline_each_region_but_not_background():
    index_slice = np.zeros((8, 8), dtype=int)
    index_slice[1:7, 1:4] = 1
    index_slice[1:7, 4:7] = 2
    boundary = figures._label_boundaries(index_slice)
    interior = np.zeros_like(boundary)
    interior[2:6, 2] = interior[2:6, 5] = True  # touch neither background nor the other region
    np.testing.assert_array_equal(boundary, (index_slice > 0) & ~interior)


def test_cut_indices_lie_inside_the_filled_extent():
    mask = np.zeros((10, 10, 30), dtype=bool)
    mask[2:8, 2:8, 10:20] = True
    cuts = figures._cut_indices(mask, 2, 5)
    assert cuts.min() > 10 and cuts.max() < 19 and cuts.size == 5


def test_canonical_undoes_a_flipped_axis():
    data = np.arange(24).reshape(2, 3, 4)
    affine = np.diag([-2.0, 2.0, 2.0, 1.0])
    affine[0, 3] = 10.0
    canonical, canonical_affine = figures._canonical(data, affine)
    np.testing.assert_array_equal(canonical, data[::-1])
    assert canonical_affine[0, 0] == 2.0
    # Voxel (0, 0, 0) of the result is the old voxel (1, 0, 0): same world point.
    np.testing.assert_allclose(canonical_affine @ [0, 0, 0, 1], affine @ [1, 0, 0, 1])


def test_resample_nearest_is_the_identity_on_the_same_grid_and_shifts_correctly():
    data = np.random.default_rng(0).integers(0, 5, (4, 5, 6))
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    same = figures._resample_nearest(data, affine, data.shape, affine)
    np.testing.assert_array_equal(same, data)
    shifted = affine.copy()
    shifted[0, 3] = 2.0  # target voxel i is source voxel i + 1
    moved = figures._resample_nearest(data, affine, data.shape, shifted)
    np.testing.assert_array_equal(moved[:-1], data[1:])
    assert not moved[-1].any()


def test_zscore_columns_ignores_nan_and_keeps_empty_columns_empty():
    signals = np.array([[1.0, np.nan, 5], [2, np.nan, 5], [3, np.nan, 5], [np.nan, np.nan, 5]])
    scores = figures._zscore_columns(signals)
    np.testing.assert_allclose(scores[:3, 0], [-np.sqrt(1.5), 0, np.sqrt(1.5)])
    assert np.isnan(scores[3, 0]) and np.isnan(scores[:, 1]).all()
    np.testing.assert_array_equal(scores[:, 2], 0)


def test_label_colors_are_distinct():
    colors = figures.label_colors(400)
    assert colors.shape == (400, 3)
    assert len(np.unique(np.round(colors, 4), axis=0)) == 400
    assert np.linalg.norm(colors[1:] - colors[:-1], axis=1).min() > 0.15


def test_connectivity_limit_is_shared_and_capped_for_correlations():
    small = np.array([[1.0, 0.2], [0.2, 1.0]])
    large = np.array([[1.0, -0.6], [-0.6, 1.0]])
    assert figures.connectivity_limit([small, large]) == pytest.approx(0.6, abs=0.01)
    assert figures.connectivity_limit([np.full((2, 2), 5.0)]) == 1.0
    assert figures.connectivity_limit([np.full((2, 2), 5.0)], "covariance") == 5.0
    assert figures.connectivity_limit([np.full((2, 2), np.nan)]) == 1.0


# --- saving ------------------------------------------------------------------


def test_save_figure_is_atomic_readable_and_rejects_unknown_formats(tmp_path, run):
    figure = figures.plot_motion(run.n_volumes, run.repetition_time, run.strategies, run.fd)
    png = figures.save_figure(figure, tmp_path / "deep" / "motion.png")
    svg = figures.save_figure(figure, tmp_path / "deep" / "motion.svg")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in svg.read_bytes()[:500]
    assert sorted(p.name for p in png.parent.iterdir()) == ["motion.png", "motion.svg"]
    assert png.stat().st_mode & stat.S_IRGRP  # not mkstemp's 0600
    with pytest.raises(ValueError, match=r"cannot write figure .*motion.pdf: format must be one"):
        figures.save_figure(figure, tmp_path / "motion.pdf")


# --- what the figures draw ---------------------------------------------------------


def test_motion_figure_marks_each_strategy_volume_state(run, tmp_path):
    figure = figures.plot_motion(run.n_volumes, run.repetition_time, run.strategies, run.fd)
    mask_images = [i for axes in figure.axes for i in axes.images]
    assert len(mask_images) == 1
    states = mask_images[0].get_array()
    simple, scrubbing = run.strategies
    assert states.shape == (2, run.n_volumes)
    np.testing.assert_array_equal(np.flatnonzero(states[0] == 1), simple.dummy_volumes)
    np.testing.assert_array_equal(np.flatnonzero(states[1] == 2),
                                  scrubbing.motion_censored_volumes)
    np.testing.assert_array_equal(np.flatnonzero(states[1] == 0), scrubbing.kept_volumes)
    fd_axes = [axes for axes in figure.axes if axes.get_ylabel() == "FD (mm)"]
    assert len(fd_axes) == 1
    traces = [line for line in fd_axes[0].lines if len(line.get_ydata()) == run.n_volumes]
    assert len(traces) == 1
    np.testing.assert_array_equal(traces[0].get_ydata(), run.fd)
    thresholds = [line.get_ydata()[0] for line in fd_axes[0].lines if line not in traces]
    assert thresholds == [0.5]
    top = fd_axes[0].get_ylim()[1]  # a round number above the largest FD and threshold
    assert top == figures._nice_ceiling(1.1 * np.nanmax(run.fd)) and top > np.nanmax(run.fd)
    assert _not_blank(_pixels(figure, tmp_path))


def test_motion_figure_without_fd_and_with_unaccounted_volumes(tmp_path):
    strategy = StrategyResult("partial", kept_volumes=[2, 3, 4], dummy_volumes=[0])
    figure = figures.plot_motion(6, 1.0, [strategy], fd=None)
    states = figure.axes[0].images[0].get_array()
    np.testing.assert_array_equal(states[0], [1, 3, 0, 0, 0, 3])
    labels = [text.get_text() for text in figure.legends[0].get_texts()]
    assert "not kept (other reason)" in labels and "framewise displacement (mm)" not in labels
    assert _not_blank(_pixels(figure, tmp_path))


def test_carpet_has_one_panel_per_stage_with_nan_for_removed_volumes(run, tmp_path):
    panels = figures.carpet_panels(run, "demo")
    assert [title for title, _ in panels] == [
        "before cleaning", "after cleaning: simple", "after cleaning: scrubbing"]
    figure = figures.plot_carpet(panels, run.repetition_time)
    images = [axes.images[0] for axes in figure.axes if axes.images]
    assert len(images) == 3
    scrubbed = images[2].get_array()
    censored = run.strategies[1].motion_censored_volumes
    assert scrubbed.shape == (12, run.n_volumes)
    assert np.ma.getmaskarray(scrubbed)[:, censored].all() or np.isnan(
        np.ma.filled(scrubbed, np.nan)[:, censored]).all()
    assert _not_blank(_pixels(figure, tmp_path))
    with pytest.raises(ValueError, match="plot_carpet needs at least one panel"):
        figures.plot_carpet([], 2.0)


def test_labels_overlay_colours_regions_and_marks_na_in_red(run, tmp_path):
    atlas = run.atlases[0]
    figure = figures.plot_atlas(atlas, run.reference_image)
    images = figure.axes[0].images
    assert len(images) == 21  # 3 views x 7 cuts, one blended image each
    pixels = _pixels(figure, tmp_path)
    assert _not_blank(pixels)
    red = (pixels[..., 0] > 180) & (pixels[..., 1] < 80) & (pixels[..., 2] < 80)
    assert red.sum() > 20, "the n/a region's red outline is missing"


def test_labels_overlay_without_na_has_no_red_and_works_without_reference(run, tmp_path):
    atlas = run.atlases[0]
    data = np.asarray(atlas.image.dataobj)
    figure = figures.plot_labels_overlay(data, atlas.image.affine, atlas.label_values)
    pixels = _pixels(figure, tmp_path)
    red = (pixels[..., 0] > 200) & (pixels[..., 1] < 60) & (pixels[..., 2] < 60)
    assert red.sum() == 0
    assert _not_blank(pixels)


def test_overlay_of_an_atlas_on_another_grid_is_resampled_to_the_reference(run, tmp_path):
    atlas = run.atlases[0]
    data = np.asarray(atlas.image.dataobj)
    # Same atlas stored left-right flipped with a matching affine: same picture.
    flipped_affine = atlas.image.affine @ np.array(
        [[-1, 0, 0, data.shape[0] - 1], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    reference = np.asarray(run.reference_image.dataobj)
    direct = figures.plot_labels_overlay(data, atlas.image.affine, atlas.label_values, None,
                                         reference, run.reference_image.affine)
    flipped = figures.plot_labels_overlay(data[::-1], flipped_affine, atlas.label_values, None,
                                          reference, run.reference_image.affine)
    np.testing.assert_array_equal(_pixels(direct, tmp_path, "a.png"),
                                  _pixels(flipped, tmp_path, "b.png"))


def test_maps_overlay_draws_the_strongest_map(run, tmp_path):
    atlas = run.atlases[1]
    figure = figures.plot_atlas(atlas, run.reference_image)
    assert len(figure.axes[0].images) == 21
    assert _not_blank(_pixels(figure, tmp_path))


def _sphere_collections(figure):
    return [c for c in figure.axes[0].collections if isinstance(c, EllipseCollection)]


def test_spheres_are_drawn_at_their_coordinates_with_their_radius(run, tmp_path):
    atlas = run.atlases[2]
    figure = figures.plot_atlas(atlas, run.reference_image)
    views = _sphere_collections(figure)
    assert len(views) == 3  # axial, coronal, sagittal
    for view in views:
        assert len(view.get_offsets()) == atlas.n_regions
        np.testing.assert_array_equal(view.get_widths(), 2 * 6.0)  # diameter, mm
    # Axial view: circle centres are (x, y) shifted by the grid's lower corner.
    grid = figures._Grid(run.reference_image.affine, run.reference_image.shape)
    expected = atlas.sphere_coordinates_mm[:, :2] - [grid.span(0)[0], grid.span(1)[0]]
    np.testing.assert_allclose(views[0].get_offsets(), expected)
    colors = views[0].get_facecolors()[:, :3]
    red = np.all(np.isclose(colors, figures.COLOR_NA), axis=1)
    np.testing.assert_array_equal(red, atlas.na_mask)  # the n/a sphere, and only it, in red
    numbers = [t.get_text() for t in figure.axes[0].texts]
    assert {"0", "5"} <= set(numbers)
    assert _not_blank(_pixels(figure, tmp_path))


def test_many_spheres_are_one_colour_and_not_numbered(tmp_path):
    coordinates = np.random.default_rng(3).uniform(-50, 50, (100, 3))
    na = np.zeros(100, dtype=bool)
    na[:7] = True
    figure = figures.plot_spheres(coordinates, 5.0, na)
    colors = _sphere_collections(figure)[0].get_facecolors()[:, :3]
    assert len(np.unique(np.round(colors[~na], 6), axis=0)) == 1
    assert np.allclose(colors[na], figures.COLOR_NA)
    assert not [t for t in figure.axes[0].texts if t.get_text().isdigit()]
    assert _not_blank(_pixels(figure, tmp_path))


def test_spheres_without_reference_and_single_voxel_seeds(tmp_path):
    figure = figures.plot_spheres(np.array([[0.0, 0, 0], [20, 10, 5]]), None)
    np.testing.assert_array_equal(_sphere_collections(figure)[0].get_widths(), 4.0)  # 2 mm dots
    assert _not_blank(_pixels(figure, tmp_path))


def test_atlas_without_image_has_no_figure(run):
    atlas = run.atlases[0]
    bare = type(atlas)(name="bare", kind="labels", region_names=["a"])
    assert figures.plot_atlas(bare, run.reference_image) is None


def test_connectivity_panels_share_one_scale_and_hide_the_diagonal(run, tmp_path):
    matrices = [(name, run.connectivity[("demo", name)]) for name in ("simple", "scrubbing")]
    figure = figures.plot_connectivity(matrices, run.atlases[0].region_names)
    images = [axes.images[0] for axes in figure.axes if axes.images]
    assert len(images) == 2
    assert images[0].get_clim() == images[1].get_clim()
    shown = np.ma.filled(images[0].get_array(), np.nan)
    assert np.isnan(np.diag(shown)).all()
    labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert "<script>alert(1)</scri…" in labels  # long names are shortened
    assert _not_blank(_pixels(figure, tmp_path))
    with pytest.raises(ValueError, match="plot_connectivity needs at least one matrix"):
        figures.plot_connectivity([], ["a"])


def test_large_connectivity_is_not_labelled_region_by_region(tmp_path):
    matrix = np.corrcoef(np.random.default_rng(1).normal(size=(100, 60)).T)
    figure = figures.plot_connectivity([("x", matrix)], [f"r{k}" for k in range(60)])
    assert figure.axes[0].get_xlabel() == "region (atlas order)"
    assert _not_blank(_pixels(figure, tmp_path))


def test_group_figures(tmp_path, synthetic):
    report = synthetic.make_group_report()
    distributions = figures.plot_qcfc_distributions(report.qcfc)
    texts = [t.get_text() for t in distributions.axes[0].texts]
    assert texts == [f"median |QC-FC| = {r.median_abs_qcfc:.3f}" for r in report.qcfc]
    distance = figures.plot_distance_dependence(report.qcfc)
    titles = [axes.get_title() for axes in distance.axes]
    assert titles[0] == f"simple\nSpearman ρ = {report.qcfc[0].distance_dependence:.3f}"
    excluded = figures.plot_excluded_fraction(report.excluded_fraction)
    widths = [bar.get_width() for bar in excluded.axes[0].patches]
    assert widths == pytest.approx([100 * v for v in report.excluded_fraction.values()])
    dof = figures.plot_dof_lost({"a": np.array([10.0, 12, np.nan]), "b": np.array([30.0])})
    for index, figure in enumerate([distributions, distance, excluded, dof]):
        assert _not_blank(_pixels(figure, tmp_path, f"{index}.png"))


def test_many_edges_use_a_hexbin(tmp_path):
    from regionseries.report.model import QCFCResult

    generator = np.random.default_rng(2)
    result = QCFCResult("big", "s", generator.normal(0, 0.1, 5000), generator.uniform(0, 150, 5000))
    figure = figures.plot_distance_dependence([result])
    assert figure.axes[0].collections[0].__class__.__name__ == "PolyCollection"
    assert _not_blank(_pixels(figure, tmp_path))


def test_reference_image_with_nan_and_oblique_free_affine(tmp_path, run):
    reference = np.asarray(run.reference_image.dataobj).copy()
    reference[0, 0, 0] = np.nan
    image = nib.Nifti1Image(reference, run.reference_image.affine)
    figure = figures.plot_atlas(run.atlases[0], image)
    assert _not_blank(_pixels(figure, tmp_path))


# --- raster figures: matplotlib frame drawn once, data pasted as pixels ---------------


def _differing_fraction(first: np.ndarray, second: np.ndarray) -> float:
    assert first.shape == second.shape
    return float((np.abs(first.astype(int) - second.astype(int)).sum(axis=2) > 30).mean())


def test_colormapped_matches_matplotlib_colour_mapping():
    from matplotlib import colormaps

    colormap = colormaps["RdBu_r"].with_extremes(bad="#d9d9d9")
    values = np.array([[-3.0, -1.0, -0.5, 0.0], [0.2, 0.999, 1.0, np.nan]])
    expected = (colormap(np.ma.masked_invalid((values + 1) / 2))[..., :3] * 255 + 0.5)
    np.testing.assert_array_equal(figures._colormapped(values, colormap, -1, 1),
                                  expected.astype(np.uint8))


def test_carpet_raster_looks_like_the_matplotlib_carpet(run, tmp_path):
    panels = figures.carpet_panels(run, "demo")
    slow = _pixels(figures.plot_carpet(panels, run.repetition_time), tmp_path, "slow.png")
    raster = figures.carpet_raster(panels, run.repetition_time)
    fast = _pixels(raster, tmp_path, "fast.png")
    # Only columns where the two nearest-neighbour samplings round differently may differ.
    assert _differing_fraction(slow, fast) < 0.02
    np.testing.assert_allclose(raster.get_size_inches(), [10.0, slow.shape[0] / 100])


def test_connectivity_raster_looks_like_the_matplotlib_matrices(run, tmp_path):
    matrices = [(name, run.connectivity[("demo", name)]) for name in ("simple", "scrubbing")]
    names = run.atlases[0].region_names
    slow = _pixels(figures.plot_connectivity(matrices, names), tmp_path, "slow.png")
    fast = _pixels(figures.connectivity_raster(matrices, names), tmp_path, "fast.png")
    assert _differing_fraction(slow, fast) < 0.005


def test_frames_are_reused_and_the_cache_is_bounded(run, monkeypatch):
    monkeypatch.setattr(figures, "_FRAME_CACHE", figures.OrderedDict())
    monkeypatch.setattr(figures, "FRAME_CACHE_SIZE", 2)
    panels = figures.carpet_panels(run, "demo")
    built = []
    original = figures._frame_from
    monkeypatch.setattr(figures, "_frame_from", lambda *a: built.append(1) or original(*a))
    first = figures.carpet_raster(panels, run.repetition_time)
    second = figures.carpet_raster([(t, s[::-1]) for t, s in panels], run.repetition_time)
    assert len(built) == 1  # same titles and shape: one frame
    assert not np.array_equal(first.pixels, second.pixels)  # but the data were pasted anew
    figures.carpet_raster(panels[:1], run.repetition_time)
    figures.carpet_raster(panels[:2], run.repetition_time)
    assert len(built) == 3 and len(figures._FRAME_CACHE) == 2


def test_raster_errors(run, tmp_path):
    panels = figures.carpet_panels(run, "demo")
    raster = figures.carpet_raster(panels, run.repetition_time)
    with pytest.raises(ValueError, match="a raster figure can only be written as PNG"):
        figures.save_figure(raster, tmp_path / "carpet.svg")
    with pytest.raises(ValueError, match="carpet panels must all have the same shape"):
        figures.carpet_raster([("a", np.zeros((5, 2))), ("b", np.zeros((5, 3)))], 1.0)
    with pytest.raises(ValueError, match=r"connectivity matrix 'x' must be 3×3 \(one row per"):
        figures.connectivity_raster([("x", np.zeros((2, 2)))], ["a", "b", "c"])


def test_correlation_colour_limits_are_rounded_up_to_tenths():
    matrix = np.array([[1.0, 0.63], [0.63, 1.0]])
    assert figures.connectivity_limit([matrix]) == 0.7
    assert figures.connectivity_limit([matrix * 0.01]) == 0.1


def test_nice_ceiling():
    assert [figures._nice_ceiling(v) for v in (0.07, 0.1, 0.11, 0.45, 1.38, 2.6, 9, 0)] == [
        0.08, 0.1, 0.15, 0.5, 1.5, 3, 10, 1.0]


def test_motion_raster_looks_like_the_matplotlib_motion_figure(run, tmp_path):
    fd = run.fd.copy()
    fd[[0, 7]] = np.nan  # fMRIPrep's first FD is n/a; a gap in the trace
    slow = _pixels(figures.plot_motion(run.n_volumes, 2.0, run.strategies, fd), tmp_path, "s.png")
    fast = _pixels(figures.motion_raster(run.n_volumes, 2.0, run.strategies, fd), tmp_path,
                   "f.png")
    assert _differing_fraction(slow, fast) < 0.01
    without_fd = figures.motion_raster(run.n_volumes, 2.0, run.strategies, None)
    assert without_fd.pixels.shape[0] < fast.shape[0]


def test_strongest_map_index_streams_maps_and_respects_the_floor():
    first = np.zeros((4, 1, 1))
    first[:, 0, 0] = [1.0, 0.5, 0.05, 0.0]
    second = np.zeros((4, 1, 1))
    second[:, 0, 0] = [0.2, 2.0, 0.1, 0.0]  # relative weights 0.1, 1.0, 0.05, 0
    expected = [1, 2, 0, 0]  # voxel 3: both below 10 % of their peaks
    np.testing.assert_array_equal(figures.strongest_map_index(iter([first, second]))[:, 0, 0],
                                  expected)
    stacked = np.stack([first, second], axis=-1)
    np.testing.assert_array_equal(figures.strongest_map_index(stacked)[:, 0, 0], expected)
    with pytest.raises(ValueError, match="strongest_map_index needs at least one map"):
        figures.strongest_map_index(iter([]))


def test_maps_atlas_given_as_its_strongest_map_index_draws_the_same(run, tmp_path):
    import nibabel as nib

    atlas = run.atlases[1]
    index = figures.strongest_map_index(np.asarray(atlas.image.dataobj))
    compact = type(atlas)(name=atlas.name, kind="maps", region_names=atlas.region_names,
                          image=nib.Nifti1Image(index, atlas.image.affine))
    full = _pixels(figures.plot_atlas(atlas, run.reference_image), tmp_path, "full.png")
    small = _pixels(figures.plot_atlas(compact, run.reference_image), tmp_path, "small.png")
    assert _differing_fraction(full, small) < 0.01  # outlines may differ where maps tie
