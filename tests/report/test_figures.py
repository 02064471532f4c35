"""Report figures: known-answer checks of the helpers and of what each figure draws."""

from __future__ import annotations

import stat

import nibabel as nib
import numpy as np
import pytest
from matplotlib.collections import EllipseCollection
from matplotlib.figure import Figure
from PIL import Image

from regionseries.report import figures, raster
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
    assert top == raster._nice_ceiling(1.1 * np.nanmax(run.fd)) and top > np.nanmax(run.fd)
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
    grid = raster._Grid(run.reference_image.affine, run.reference_image.shape)
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


def _differing_fraction(first: np.ndarray, second: np.ndarray) -> float:
    assert first.shape == second.shape
    return float((np.abs(first.astype(int) - second.astype(int)).sum(axis=2) > 30).mean())


def test_maps_atlas_given_as_its_strongest_map_index_draws_the_same(run, tmp_path):
    import nibabel as nib

    atlas = run.atlases[1]
    index = figures.strongest_map_index(np.asarray(atlas.image.dataobj))
    compact = type(atlas)(name=atlas.name, kind="maps", region_names=atlas.region_names,
                          image=nib.Nifti1Image(index, atlas.image.affine))
    full = _pixels(figures.plot_atlas(atlas, run.reference_image), tmp_path, "full.png")
    small = _pixels(figures.plot_atlas(compact, run.reference_image), tmp_path, "small.png")
    assert _differing_fraction(full, small) < 0.01  # outlines may differ where maps tie


def test_motion_figure_draws_std_dvars_with_its_threshold_and_marks(run, tmp_path):
    figure = figures.plot_motion(run.n_volumes, run.repetition_time, run.strategies, run.fd,
                                 run.std_dvars)
    (dvars_axes,) = [axes for axes in figure.axes if axes.get_ylabel() == "std DVARS"]
    traces = [line for line in dvars_axes.lines if len(line.get_ydata()) == run.n_volumes]
    assert len(traces) == 1
    np.testing.assert_array_equal(traces[0].get_ydata(), run.std_dvars)
    assert [line.get_ydata()[0] for line in dvars_axes.lines if line not in traces] == [1.5]
    scrubbing = run.strategy("scrubbing")
    by_dvars = [v for v, why in run.volume_reasons(scrubbing).items() if "DVARS" in why]
    (marks,) = dvars_axes.collections
    np.testing.assert_array_equal(marks.get_offsets()[:, 0], by_dvars)
    assert _not_blank(_pixels(figure, tmp_path))
