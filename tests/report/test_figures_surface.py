"""Atlases on cortical surfaces (report.figures.surface, report.raster.surface): fsaverage5 from nilearn's wheel.

The parcellations are built here from the pial coordinates. Pictures are
checked by content: a pixel of a region has the region's colour times a
shading factor, so its chromaticity (r, g, b divided by their sum) is the
region's; the bare cortex is neutral grey.
"""

from __future__ import annotations

import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from nilearn.datasets import load_fsaverage, load_fsaverage_data
from PIL import Image

from regionseries.report import figures, raster, write_participant_report
from regionseries.report.model import AtlasResult, ReportDataError, SurfaceAtlas
from regionseries.report.raster import frames as raster_frames
from regionseries.report.raster import surface as raster_surface
from regionseries.report.raster.colors import COLOR_NA, label_colors

HEMISPHERES = ("left", "right")


@pytest.fixture(scope="module")
def fsaverage5():
    """Inflated and pial meshes per hemisphere, and the sulcal depth."""
    meshes = load_fsaverage("fsaverage5")
    sulcal = load_fsaverage_data(mesh="fsaverage5", mesh_type="inflated", data_type="sulcal")

    def parts(kind):
        return {h: (np.asarray(meshes[kind].parts[h].coordinates),
                    np.asarray(meshes[kind].parts[h].faces)) for h in HEMISPHERES}

    return {"inflated": parts("inflated"), "pial": parts("pial"),
            "sulcal": {h: np.asarray(sulcal.data.parts[h]) for h in HEMISPHERES}}


def _medial_wall(pial_coordinates: np.ndarray) -> np.ndarray:
    """Vertices near the midline between the corpus callosum's ends: the 'medial wall' here."""
    x, y, z = pial_coordinates.T
    return (np.abs(x) < 12) & (y > -45) & (y < 30) & (z > -25) & (z < 25)


def _grid_parcellation(fsaverage5) -> dict[str, np.ndarray]:
    """Twelve parcels: hemisphere × 3 y-bands × 2 z-bands, 0 on the medial wall.

    Left: 1..6, right: 7..12.
    """
    labels = {}
    for offset, hemisphere in zip((0, 6), HEMISPHERES):
        x, y, z = fsaverage5["pial"][hemisphere][0].T
        values = 1 + offset + np.digitize(y, [-30, 20]) * 2 + (z > 20)
        values[_medial_wall(fsaverage5["pial"][hemisphere][0])] = 0
        labels[hemisphere] = values
    return labels


def _chromaticity(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb, dtype=float)
    return rgb / np.maximum(rgb.sum(axis=-1, keepdims=True), 1e-9)


def _matching(pixels: np.ndarray, color, tolerance: float = 0.012) -> np.ndarray:
    """Pixels (not too dark to tell) whose chromaticity is that of ``color``."""
    bright = pixels.astype(float).sum(axis=-1) > 120
    return bright & (np.abs(_chromaticity(pixels) - _chromaticity(color)).max(axis=-1) < tolerance)


def _fill(color) -> np.ndarray:
    """A region's colour as drawn over the grey cortex (without the shading factor)."""
    alpha = raster_surface.SURFACE_FILL_ALPHA
    return (1 - alpha) * raster_surface.SURFACE_GREY + alpha * np.asarray(color)


def _panels(meshes, pixels: np.ndarray, right_in: float = 0.0) -> dict[tuple[str, str], np.ndarray]:
    """The pixels of each view, cut out of a surface figure along its frame's boxes."""
    spans = raster_surface.view_spans(meshes)
    frame = (figures.surface_frame(spans) if not right_in
             else figures.surface_coverage_frame(spans, 0.5))
    assert frame.pixels.shape == pixels.shape
    return {view: pixels[row0:row1, col0:col1]
            for view, (row0, row1, col0, col1) in zip(raster_surface.SURFACE_VIEWS, frame.boxes)}


def _atlas(meshes, vertex_labels, label_values, na_flags=None, sulcal_depth=None,
           coverage=None) -> AtlasResult:
    """An AtlasResult on the surface, its regions named after their label values."""
    names = [f"region {value}" for value in label_values]
    flags = np.zeros(len(names), bool) if na_flags is None else np.asarray(na_flags, bool)
    return AtlasResult(name="surf", kind="labels", region_names=names, label_values=label_values,
                       coverage=coverage, regions_na=[n for n, f in zip(names, flags) if f],
                       surface=SurfaceAtlas(meshes=meshes, vertex_labels=vertex_labels,
                                            sulcal_depth=sulcal_depth))


def _labels_raster(meshes, vertex_labels, label_values, na_flags=None, sulcal_depth=None,
                   frame_dir=None) -> raster.RasterFigure:
    return raster.surface_labels_raster(
        _atlas(meshes, vertex_labels, label_values, na_flags, sulcal_depth), frame_dir=frame_dir)


def _png_pixels(figure, path: Path) -> np.ndarray:
    saved = figures.save_figure(figure, path)
    return np.asarray(Image.open(saved).convert("RGB"))


# --- the renderer ------------------------------------------------------------------------------


def test_render_view_shows_unlabelled_vertices_grey_and_each_region_in_its_colour(fsaverage5):
    coordinates, faces = fsaverage5["inflated"]["left"]
    labels = _grid_parcellation(fsaverage5)["left"]
    regions = raster_surface.surface_region_indices(labels, range(1, 7))
    colors = label_colors(6)
    vertex_rgb = np.where(regions[:, None] > 0, colors[np.maximum(regions - 1, 0)],
                          raster_surface.SURFACE_GREY)
    outlines = np.vstack([np.zeros(3), 0.5 * colors])
    image, shown = raster_surface.render_view(coordinates, faces, vertex_rgb, "left", "medial",
                                              180, 240, vertex_regions=regions,
                                              outline_rgb=outlines)
    assert image.shape == (180, 240, 3) and shown.shape == (180, 240)
    # White outside the mesh, the mesh in the middle of the picture.
    np.testing.assert_array_equal(image[shown == -1], 255)
    assert shown[90, 120] >= 0 and (shown == -1).mean() > 0.1
    grey = image[shown == 0].astype(int)
    assert len(grey) > 1000  # the medial wall faces the viewer of a medial view
    np.testing.assert_array_equal(grey[:, 0], grey[:, 1])
    np.testing.assert_array_equal(grey[:, 1], grey[:, 2])
    for region in np.unique(shown[shown > 0]):
        inside = image[shown == region]
        assert _matching(inside, colors[region - 1]).mean() > 0.9


def test_render_view_puts_the_front_of_the_brain_where_freesurfer_does(fsaverage5):
    """Anterior (y > 0) is on the left of a left lateral and a right medial view."""
    for hemisphere in HEMISPHERES:
        coordinates, faces = fsaverage5["inflated"][hemisphere]
        anterior = (coordinates[:, 1] > 40).astype(np.int64)
        for side in ("lateral", "medial"):
            _, shown = raster_surface.render_view(
                coordinates, faces, np.full((len(coordinates), 3), 0.7), hemisphere, side, 120, 160,
                vertex_regions=anterior, outline_rgb=np.zeros((2, 3)))
            columns = np.nonzero(shown == 1)[1]
            anterior_on_left = (hemisphere == "left") == (side == "lateral")
            assert (columns.mean() < 80) == anterior_on_left, (hemisphere, side)


def test_render_view_hides_the_far_side_of_the_mesh(fsaverage5):
    """Cortex facing away from the viewer never shows through: lateral in a medial view and back."""
    coordinates, faces = fsaverage5["inflated"]["left"]
    corners = coordinates[faces]
    face_normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    normals = np.zeros_like(coordinates)
    for corner in range(3):
        np.add.at(normals, faces[:, corner], face_normals)
    normal_x = normals[:, 0] / np.linalg.norm(normals, axis=1)
    if normal_x[coordinates[:, 0].argmin()] > 0:  # turned inwards: the faces wind the other way
        normal_x = -normal_x
    regions = np.where(normal_x < -0.5, 1, np.where(normal_x > 0.5, 2, 0))
    for side, seen, hidden in (("lateral", 1, 2), ("medial", 2, 1)):
        _, shown = raster_surface.render_view(
            coordinates, faces, np.full((len(coordinates), 3), 0.7), "left", side, 150, 200,
            vertex_regions=regions, outline_rgb=np.zeros((3, 3)))
        assert (shown == seen).sum() > 2000
        assert (shown == hidden).sum() == 0


def test_surface_region_indices_follow_the_atlas_order():
    labels = np.array([0, 5, 7, 5, 9, 3])
    np.testing.assert_array_equal(raster_surface.surface_region_indices(labels, [7, 5, 3]),
                                  [0, 2, 1, 2, 0, 3])
    np.testing.assert_array_equal(raster_surface.surface_region_indices(labels, []), 0)


# --- the labels figure --------------------------------------------------------------------------


def test_labels_figure_shows_every_parcel_of_each_hemisphere_only_on_its_side(fsaverage5):
    meshes = fsaverage5["inflated"]
    labels = _grid_parcellation(fsaverage5)
    figure = _labels_raster(meshes, labels, range(1, 13))
    panels = _panels(meshes, figure.pixels)
    colors = label_colors(12)
    for position in range(12):
        hemisphere, other = ("left", "right") if position < 6 else ("right", "left")
        lateral = _matching(panels[(hemisphere, "lateral")], _fill(colors[position])).sum()
        elsewhere = sum(_matching(panels[(other, side)], _fill(colors[position])).sum()
                        for side in ("lateral", "medial"))
        assert lateral > 150, position
        assert elsewhere < 0.02 * lateral, position


def test_a_parcel_only_on_the_left_hemisphere_is_only_in_the_left_panels(fsaverage5, tmp_path):
    meshes = fsaverage5["inflated"]
    x, y, z = fsaverage5["pial"]["left"][0].T
    labels = {"left": np.where(y > 10, 4, 0), "right": np.zeros(len(meshes["right"][0]), int)}
    color = _fill(label_colors(1)[0])
    for pixels in (_labels_raster(meshes, labels, [4]).pixels,
                   _png_pixels(figures.plot_surface_labels(meshes, labels, [4]), tmp_path / "l.png")):
        panels = _panels(meshes, pixels)
        assert _matching(panels[("left", "lateral")], color).sum() > 1000
        assert _matching(panels[("left", "medial")], color).sum() > 500
        for side in ("lateral", "medial"):
            right = panels[("right", side)].astype(int)
            brain = (right != 255).any(axis=-1)
            assert brain.mean() > 0.3
            # The right hemisphere is bare cortex: neutral grey (its outline included).
            assert np.abs(right[brain] - right[brain].mean(axis=-1, keepdims=True)).max() <= 1


def test_regions_set_to_na_are_drawn_in_red(fsaverage5):
    meshes = fsaverage5["inflated"]
    labels = _grid_parcellation(fsaverage5)
    na_flags = np.zeros(12, bool)
    na_flags[8] = True  # right hemisphere, middle band, inferior
    flagged = _panels(meshes, _labels_raster(meshes, labels, range(1, 13),
                                                           na_flags).pixels)
    plain = _panels(meshes, _labels_raster(meshes, labels, range(1, 13)).pixels)
    red_outline = {view: _matching(pixels, COLOR_NA).sum() for view, pixels in flagged.items()}
    assert red_outline[("right", "lateral")] > 100
    assert red_outline[("left", "lateral")] == red_outline[("left", "medial")] == 0
    assert sum(_matching(pixels, COLOR_NA).sum() for pixels in plain.values()) == 0
    faint = 0.65 * raster_surface.SURFACE_GREY + 0.35 * np.asarray(COLOR_NA)
    assert _matching(flagged[("right", "lateral")], faint).sum() > 300
    own = _fill(label_colors(12)[8])
    assert _matching(flagged[("right", "lateral")], own).sum() == 0
    assert _matching(plain[("right", "lateral")], own).sum() > 300


def test_sulcal_depth_shades_the_bare_cortex(fsaverage5):
    meshes = fsaverage5["inflated"]
    empty = {h: np.zeros(len(meshes[h][0]), int) for h in HEMISPHERES}
    flat = _labels_raster(meshes, empty, [1]).pixels
    shaded = _labels_raster(meshes, empty, [1], sulcal_depth=fsaverage5["sulcal"]).pixels
    brain = (flat != 255).any(axis=-1)
    assert np.array_equal(brain, (shaded != 255).any(axis=-1))
    ratio = shaded[brain][:, 0].astype(float) / np.maximum(flat[brain][:, 0], 1)
    assert ratio.std() > 0.04  # the grey follows the depth, not only the light
    np.testing.assert_array_equal(np.ptp(shaded[brain].astype(int), axis=-1), 0)


def test_pial_surface_draws_too(fsaverage5, tmp_path):
    meshes = fsaverage5["pial"]
    labels = _grid_parcellation(fsaverage5)
    panels = _panels(meshes, _labels_raster(meshes, labels, range(1, 13)).pixels)
    assert _matching(panels[("left", "lateral")], _fill(label_colors(12)[0])).sum() > 100


def test_raster_looks_like_the_matplotlib_figure(fsaverage5, tmp_path):
    meshes = fsaverage5["inflated"]
    labels = _grid_parcellation(fsaverage5)
    na_flags = np.arange(12) == 3
    slow = _png_pixels(figures.plot_surface_labels(meshes, labels, range(1, 13), na_flags,
                                                   fsaverage5["sulcal"]), tmp_path / "slow.png")
    fast = _labels_raster(meshes, labels, range(1, 13), na_flags,
                                        fsaverage5["sulcal"]).pixels
    assert slow.shape == fast.shape
    # The matplotlib figure renders the views at 200 dpi and Agg samples them down: only pixels
    # at region borders and at the silhouette may differ.
    differing = (np.abs(slow.astype(int) - fast.astype(int)).sum(axis=2) > 30).mean()
    assert differing < 0.03


def test_svg_figure_is_written(fsaverage5, tmp_path):
    meshes = fsaverage5["inflated"]
    labels = _grid_parcellation(fsaverage5)
    path = figures.save_figure(figures.plot_surface_coverage(
        meshes, labels, range(1, 13), np.linspace(0, 1, 12), 0.5), tmp_path / "coverage.svg")
    text = path.read_text()
    assert "<image" in text and "coverage (%)" in text and "left lateral" in text


def test_mesh_and_labels_must_agree(fsaverage5):
    meshes = fsaverage5["inflated"]
    with pytest.raises(ValueError, match="left hemisphere has 3 values for 10242 vertices"):
        figures.plot_surface_labels(meshes, {"left": [1, 2, 3]}, [1])
    with pytest.raises(ValueError, match="no right hemisphere mesh"):
        figures.plot_surface_labels({"left": meshes["left"]}, {}, [1])
    with pytest.raises(ValueError, match="covered vertices of the right hemisphere has 1 values"):
        raster_surface.paint_coverage(meshes, {}, [1], [0.5], {"colors": np.zeros((4, 3)),
                                      "bad": np.zeros(3)}, vertex_covered={"right": [True]})


# --- the coverage figure -------------------------------------------------------------------------


def test_coverage_figure_colours_regions_by_coverage_and_outlines_na_in_red(fsaverage5):
    meshes = fsaverage5["inflated"]
    labels = _grid_parcellation(fsaverage5)
    coverage = np.ones(12)
    coverage[2] = 0.3  # left, middle band, inferior: under --min-coverage 0.5
    na_flags = coverage < 0.5
    covered = {h: np.ones(len(meshes[h][0]), bool) for h in HEMISPHERES}
    x, y, z = fsaverage5["pial"]["right"][0].T
    covered["right"] = ~((y < -30) & (z < 20))  # no signal in the right inferior posterior corner
    atlas = _atlas(meshes, labels, range(1, 13), na_flags, coverage=coverage)
    figure = raster.surface_coverage_raster(atlas, 0.5, covered)
    panels = _panels(meshes, figure.pixels, right_in=1)
    frame = figures.surface_coverage_frame(
        raster_surface.view_spans(meshes), 0.5)
    full, low = (frame.tables["colors"][-1], frame.tables["colors"][int(0.3 * 256)])
    assert _matching(panels[("left", "lateral")], full).sum() > 1000
    assert _matching(panels[("left", "lateral")], low).sum() > 200
    assert _matching(panels[("right", "lateral")], low).sum() == 0
    assert _matching(panels[("left", "lateral")], COLOR_NA).sum() > 50
    assert _matching(panels[("right", "lateral")], COLOR_NA).sum() == 0
    # The vertices without signal: dark and neutral, only on the right.
    for hemisphere, expected in (("left", False), ("right", True)):
        pixels = panels[(hemisphere, "lateral")].astype(int)
        dark = (pixels.max(axis=-1) < 0.3 * 255) & (np.ptp(pixels, axis=-1) <= 1)
        assert (dark.sum() > 300) == expected, hemisphere


def test_plot_surface_atlas_draws_an_atlas_result(fsaverage5, tmp_path):
    atlas = _surface_atlas(fsaverage5)
    for coverage_view in (False, True):
        figure = figures.plot_surface_atlas(atlas, coverage_view=coverage_view, min_coverage=0.5)
        assert _png_pixels(figure, tmp_path / f"{coverage_view}.png").shape[1] == 1000
    assert figures.plot_atlas(atlas) is not None
    assert raster.atlas_raster(atlas) is not None
    without = AtlasResult(name="x", kind="labels", region_names=["a"])
    assert figures.plot_surface_atlas(without) is None


# --- the model -----------------------------------------------------------------------------------


def _surface_atlas(fsaverage5, na: tuple[str, ...] = ("RH_middle_inferior",),
                   coverage=None) -> AtlasResult:
    labels = _grid_parcellation(fsaverage5)
    names = [f"{side}_{band}_{level}" for side in ("LH", "RH")
             for band in ("posterior", "middle", "anterior") for level in ("inferior", "superior")]
    if coverage is None:
        coverage = np.where(np.isin(names, na), 0.4, 1.0)
    covered = {h: np.ones(len(fsaverage5["inflated"][h][0]), bool) for h in HEMISPHERES}
    covered["right"][labels["right"] == 9] = np.arange((labels["right"] == 9).sum()) % 5 < 3
    return AtlasResult(
        name="gridparc", kind="labels", region_names=names, label_values=range(1, 13),
        coverage=coverage, regions_na=na, description="grid parcellation on fsaverage5",
        surface=SurfaceAtlas(meshes=fsaverage5["inflated"], vertex_labels=labels,
                             mesh_description="fsaverage5 inflated", vertex_covered=covered,
                             sulcal_depth=fsaverage5["sulcal"]),
    )


def test_surface_atlas_checks_its_arrays(fsaverage5):
    meshes = fsaverage5["inflated"]
    with pytest.raises(ReportDataError, match="no right hemisphere mesh"):
        SurfaceAtlas(meshes={"left": meshes["left"]}, vertex_labels={})
    with pytest.raises(ReportDataError, match="vertex_labels of the left hemisphere has 2 values"):
        SurfaceAtlas(meshes=meshes, vertex_labels={"left": [1, 2]})
    with pytest.raises(ReportDataError, match="faces index missing vertices"):
        SurfaceAtlas(meshes={"left": (meshes["left"][0][:10], meshes["left"][1]),
                             "right": meshes["right"]}, vertex_labels={})
    with pytest.raises(ReportDataError, match="sulcal_depth of the right hemisphere"):
        SurfaceAtlas(meshes=meshes, vertex_labels={}, sulcal_depth={"right": [0.0]})
    surface = SurfaceAtlas(meshes=meshes, vertex_labels={"left": np.ones(10242)})
    np.testing.assert_array_equal(surface.vertex_labels["right"], 0)
    with pytest.raises(ReportDataError, match="spheres atlas cannot have a surface"):
        AtlasResult(name="s", kind="spheres", region_names=["a"],
                    sphere_coordinates_mm=[[0, 0, 0]], surface=surface)
    maps = AtlasResult(name="m", kind="maps", region_names=["a", "b"], surface=surface)
    assert surface.label_values(maps) == [1, 2]


# --- the participant page -------------------------------------------------------------------------


def _cifti_like_atlas(fsaverage5, reference) -> AtlasResult:
    """The grid parcellation on the cortex plus two 'subcortical' regions in the volume."""
    cortex = _surface_atlas(fsaverage5, na=())
    x, y, z = np.indices(reference.shape)
    volume = np.zeros(reference.shape, np.int16)
    volume[(abs(x - 9) < 2) & (abs(y - 14) < 3) & (abs(z - 10) < 2)] = 13
    volume[(abs(x - 14) < 2) & (abs(y - 14) < 3) & (abs(z - 10) < 2)] = 14
    return AtlasResult(
        name="ciftiparc", kind="labels", region_names=[*cortex.region_names, "L_thalamus",
                                                       "R_thalamus"],
        label_values=range(1, 15), coverage=np.ones(14), regions_na=(),
        image=nib.Nifti1Image(volume, reference.affine), surface=cortex.surface)


@pytest.fixture(scope="module")
def surface_page(fsaverage5, synthetic, tmp_path_factory):
    """A participant page with a volumetric run and two surface runs (their atlas picture shared)."""
    runs = [synthetic.make_run(run="1", n_volumes=40, seed=1),
            synthetic.make_run(run="2", n_volumes=40, seed=2, atlases=[_surface_atlas(fsaverage5)]),
            synthetic.make_run(run="3", n_volumes=40, seed=3, atlases=[_surface_atlas(
                fsaverage5, coverage=np.where(np.arange(12) == 8, 0.3, 0.9))])]
    for run in runs[1:]:
        run.reference_image = None
    runs.append(synthetic.make_run(run="4", n_volumes=40, seed=4, atlases=[_cifti_like_atlas(
        fsaverage5, synthetic.make_reference())]))
    report = synthetic.make_participant_report()
    report.runs = runs
    output = tmp_path_factory.mktemp("surface-page")
    start = time.perf_counter()
    path = write_participant_report(report, output)
    return path, report, time.perf_counter() - start


def test_participant_page_shows_the_surface_atlas_and_its_coverage(surface_page):
    path, _, _ = surface_page
    html = path.read_text()
    figures_dir = path.parent / "sub-01" / "figures"
    surface = sorted(p.name for p in figures_dir.glob("*atlas-gridparc_desc-*_dseg.png"))
    assert surface == ["sub-01_ses-1_task-rest_run-2_space-MNI152NLin2009cAsym_res-2_atlas-gridparc_"
                       f"desc-{desc}_dseg.png" for desc in ("coverage", "surface")]
    assert 'alt="Atlas gridparc on the fsaverage5 inflated surface"' in html
    assert 'alt="Coverage of the regions of atlas gridparc on the surface"' in html
    assert "lowest over the runs listed above" in html and "--min-coverage 0.5" in html
    assert 'alt="Atlas demo over the mean BOLD' in html or 'alt="Atlas demo over the ' in html
    coverage = np.asarray(Image.open(figures_dir / surface[0]).convert("RGB"))
    assert _matching(coverage, COLOR_NA).sum() > 50


def test_participant_page_shows_the_volume_regions_of_a_cifti_atlas_too(surface_page):
    path, _, _ = surface_page
    html = path.read_text()
    figures_dir = path.parent / "sub-01" / "figures"
    written = sorted(p.name.split("desc-")[1] for p in figures_dir.glob("*ciftiparc_desc-*_dseg.png"))
    assert written == ["coverage_dseg.png", "overlay_dseg.png", "surface_dseg.png"]
    assert "Only the regions in the volume are drawn here" in html
    overlay = np.asarray(Image.open(next(figures_dir.glob("*ciftiparc_desc-overlay_dseg.png"))))
    # The two volume regions, filled at 50 % over the reference: near their colours' chromaticity.
    for thalamus in label_colors(14)[12:]:
        assert _matching(overlay[..., :3], thalamus, tolerance=0.08).sum() > 20


def test_participant_page_with_surfaces_in_svg(fsaverage5, synthetic, tmp_path):
    run = synthetic.make_run(run="1", n_volumes=30, seed=1, atlases=[_surface_atlas(fsaverage5)])
    run.reference_image = None
    report = synthetic.make_participant_report()
    report.runs = [run]
    path = write_participant_report(report, tmp_path, figure_format="svg")
    written = sorted(p.name for p in (tmp_path / "sub-01" / "figures").glob("*gridparc_desc-*_dseg.*"))
    assert [name.split("desc-")[1] for name in written] == ["coverage_dseg.svg", "surface_dseg.svg"]
    assert "coverage_dseg.svg" in path.read_text()


def test_surface_page_in_chromium_has_no_errors(browser, surface_page, screenshot_dir):
    path, _, _ = surface_page
    browser.open(path.as_uri())
    assert browser.console_errors() == []
    images = browser.evaluate(
        "Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, i.naturalWidth])")
    surface = [image for image in images if "gridparc_desc-" in image[0] and "_dseg" in image[0]]
    assert len(surface) == 2 and all(complete and width == 1000 for _, complete, width in surface)
    browser.screenshot(screenshot_dir / "participant-surface.png", full_page=True, scale=0.5)


def test_frames_of_the_surface_figures_are_kept_on_disk(fsaverage5, tmp_path, monkeypatch):
    meshes = fsaverage5["inflated"]
    labels = _grid_parcellation(fsaverage5)
    monkeypatch.setattr(raster_frames, "_FRAME_CACHE", raster_frames.OrderedDict())
    first = _labels_raster(meshes, labels, range(1, 13), frame_dir=tmp_path)
    monkeypatch.setattr(raster_frames, "_FRAME_CACHE", raster_frames.OrderedDict())
    again = _labels_raster(meshes, labels, range(1, 13), frame_dir=tmp_path)
    assert len(list(tmp_path.iterdir())) == 1
    np.testing.assert_array_equal(first.pixels, again.pixels)
