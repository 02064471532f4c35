"""The participant report of CIFTI and GIFTI runs in headless Chromium: the atlas on the surface.

The command line runs on a fake fMRIPrep dataset with an fsLR 91k CIFTI run and
an fsaverage5 GIFTI pair, with ``TEMPLATEFLOW_HOME`` a local TemplateFlow home
holding the meshes under TemplateFlow's file names (the demo's fake cortex:
2,562 vertices per hemisphere for fsLR, 10,242 for fsaverage5), and again with
a home holding only TemplateFlow's empty placeholders (an offline node that
never fetched them).
"""

import nibabel as nib
import numpy as np
import pytest

from regionseries.demo import hemisphere_mesh

from ..conftest import run_cli, write_surface_run_dataset

SURFACE_FILES = {  # TemplateFlow's names: tpl-fsLR has den- before hemi-, tpl-fsaverage after
    "fsLR": ("fsLR:den-91k", "tpl-fsLR_den-32k_hemi-{hemi}_inflated.surf.gii", None),
    "fsaverage": ("fsaverage5", "tpl-fsaverage_hemi-{hemi}_den-10k_pial.surf.gii",
                  "tpl-fsaverage_hemi-{hemi}_den-10k_sulc.shape.gii"),
}


def write_template_home(home, placeholders=False):
    """A TemplateFlow home with the surfaces of both spaces (or only their zero-byte placeholders)."""
    for template, (space, mesh_name, depth_name) in SURFACE_FILES.items():
        folder = home / f"tpl-{template}"
        folder.mkdir(parents=True)
        for hemi in "LR":
            mesh = folder / mesh_name.format(hemi=hemi)
            if placeholders:
                mesh.touch()
                continue
            coordinates, faces, _ = hemisphere_mesh(space, hemi)
            nib.GiftiImage(darrays=[
                nib.gifti.GiftiDataArray(coordinates.astype(np.float32), intent="NIFTI_INTENT_POINTSET"),
                nib.gifti.GiftiDataArray(faces.astype(np.int32), intent="NIFTI_INTENT_TRIANGLE"),
            ]).to_filename(mesh)
            if depth_name:
                depth = np.sin(coordinates[:, 2] / 6.0).astype(np.float32)
                nib.GiftiImage(darrays=[nib.gifti.GiftiDataArray(depth, intent="NIFTI_INTENT_SHAPE")]).to_filename(
                    folder / depth_name.format(hemi=hemi))
    return home


@pytest.fixture(scope="module")
def surface_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("surface-report")
    return root, write_surface_run_dataset(root)


def _run(root, atlases, home, name):
    completed = run_cli(
        root / "fmriprep", root / name, "participant", "--space", "fsLR:den-91k", "fsaverage5",
        "--atlas-file", f"Grayord={atlases['dlabel']}",
        "--atlas-file", f"Gii={atlases['label_L']},{atlases['label_R']}",
        "--strategy", "simple", "-w", root / f"work-{name}", env={"TEMPLATEFLOW_HOME": str(home)},
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return root / name / "sub-01.html", completed


def _figures(browser, page):
    """(src, naturalWidth, caption) of every figure, each scrolled into view and decoded."""
    browser.open(page.as_uri())
    browser.open_all_runs()
    return browser.evaluate("""(async () => {
        const out = [];
        for (const figure of document.querySelectorAll('figure')) {
            const img = figure.querySelector('img');
            img.loading = 'eager';
            figure.scrollIntoView();
            try { await img.decode(); } catch (e) {}
            const caption = figure.querySelector('figcaption');
            out.push([img.getAttribute('src'), img.naturalWidth, caption ? caption.innerText : '']);
        }
        return out;
    })()""", await_promise=True)


def test_cifti_and_gifti_atlases_are_drawn_on_the_template_surfaces(browser, surface_dataset, tmp_path):
    root, atlases = surface_dataset
    page, _ = _run(root, atlases, write_template_home(tmp_path / "templateflow"), "out")
    figures = {src.rsplit("/", 1)[-1]: (width, caption) for src, width, caption in _figures(browser, page)}
    for prefix, mesh in (("space-fsLR_den-91k_atlas-Grayord", "fsLR den-32k inflated surface"),
                         ("space-fsaverage5_atlas-Gii", "fsaverage den-10k pial surface")):
        width, caption = figures[f"sub-01_task-rest_run-1_{prefix}_desc-surface_dseg.png"]
        assert width > 500 and f"Regions on the {mesh}, lateral and medial views" in caption
        width, caption = figures[f"sub-01_task-rest_run-1_{prefix}_desc-coverage_dseg.png"]
        assert width > 500 and f"Coverage of each region on the {mesh}" in caption
    # the subcortical parcels of the CIFTI atlas keep their slices
    width, caption = figures["sub-01_task-rest_run-1_space-fsLR_den-91k_atlas-Grayord_desc-overlay_dseg.png"]
    assert width > 500 and "subcortical structures of CIFTI grayordinates" in caption
    assert "No surface picture" not in browser.evaluate("document.body.innerText")


def test_without_the_meshes_the_report_says_why_there_is_no_surface_picture(browser, surface_dataset, tmp_path):
    root, atlases = surface_dataset
    home = write_template_home(tmp_path / "templateflow", placeholders=True)
    page, completed = _run(root, atlases, home, "out-offline")
    figures = [src.rsplit("/", 1)[-1] for src, width, _ in _figures(browser, page) if width > 0]
    assert not [name for name in figures if "desc-surface" in name or "desc-coverage" in name]
    # everything else is there: the runs' figures and the CIFTI atlas's subcortical slices
    assert "sub-01_task-rest_run-1_space-fsLR_den-91k_atlas-Grayord_desc-overlay_dseg.png" in figures
    assert "sub-01_task-rest_run-1_space-fsaverage5_atlas-Gii_desc-carpet_timeseries.png" in figures
    notes = browser.evaluate("Array.from(document.querySelectorAll('.surface-note')).map(n => n.innerText)")
    assert len(notes) == 2
    for note, template, placeholder in zip(sorted(notes), ("fsLR", "fsaverage"), (
            "tpl-fsLR/tpl-fsLR_den-32k_hemi-L_inflated.surf.gii", "tpl-fsaverage/tpl-fsaverage_hemi-L_den-10k_pial")):
        assert note.startswith(f"No surface picture: the {template} den-")
        assert f"meshes are not in TEMPLATEFLOW_HOME={home}" in note and placeholder in note
        assert note.count(". ") == 0  # one sentence
    log = next((root / "out-offline" / "logs").glob("*.log")).read_text()
    assert "tpl-fsLR_den-32k_hemi-R_inflated.surf.gii is TemplateFlow's empty placeholder" in log
    assert (root / "out-offline" / "sub-01" / "func").is_dir()
