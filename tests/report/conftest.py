"""Fixtures of the report tests: synthetic report data and a headless Chromium.

The browser is driven through the Chrome DevTools Protocol (CDP) over a
websocket (``websocket-client``), so the tests need Debian's ``chromium``
(``/usr/bin/chromium``; CI installs it) but no browser download.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from regionseries.core.confounds.censoring import _drop_short_segments
from regionseries.report.model import (
    AtlasResult,
    FailedRun,
    GroupReport,
    ParticipantReport,
    QCFCResult,
    RunReport,
    StrategyResult,
)

XSS_LABEL = "<script>alert(1)</script>"
XSS_FILE = "sub-01_task-<img src=x onerror=alert(2)>_bold.nii.gz"

# ---------------------------------------------------------------------------
# Synthetic data: a small ellipsoidal "brain" on a 4 mm grid


GRID_SHAPE = (24, 28, 22)
GRID_AFFINE = np.array(
    [[4.0, 0, 0, -48.0], [0, 4.0, 0, -64.0], [0, 0, 4.0, -38.0], [0, 0, 0, 1]]
)


def _world_grid() -> np.ndarray:
    indices = np.indices(GRID_SHAPE).reshape(3, -1)
    world = GRID_AFFINE[:3, :3] @ indices + GRID_AFFINE[:3, 3:4]
    return world.reshape((3, *GRID_SHAPE))


def make_reference() -> nib.Nifti1Image:
    """A mean-BOLD-like image: bright ellipsoid with a darker core (ventricles)."""
    x, y, z = _world_grid()
    radius = (x / 44) ** 2 + (y / 58) ** 2 + (z / 34) ** 2
    data = np.where(radius < 1, 800 + 300 * (1 - radius), 0.0)
    core = (x / 10) ** 2 + (y / 20) ** 2 + ((z - 4) / 10) ** 2 < 1
    data[core] = 350
    return nib.Nifti1Image(data.astype(np.float32), GRID_AFFINE)


def make_labels_atlas(reference: nib.Nifti1Image) -> AtlasResult:
    """Twelve parcels: hemisphere × 3 y-bands × 2 z-bands; one named like a script tag."""
    x, y, z = _world_grid()
    brain = np.asarray(reference.dataobj) > 0
    hemisphere = (x > 0).astype(int)
    band = np.digitize(y, [-20, 20])
    level = (z > 0).astype(int)
    labels = np.where(brain, 1 + hemisphere * 6 + band * 2 + level, 0).astype(np.int16)
    names = [
        f"{side}_{part}_{height}"
        for side in ("LH", "RH")
        for part in ("posterior", "middle", "anterior")
        for height in ("inferior", "superior")
    ]
    names[3] = XSS_LABEL
    values = np.arange(1, 13)
    voxel_volume = 64.0
    sizes = np.array([np.sum(labels == v) * voxel_volume for v in values])
    coverage = np.ones(12)
    coverage[10] = 0.31
    return AtlasResult(
        name="demo",
        kind="labels",
        region_names=names,
        label_values=values,
        size_mm3=sizes,
        relative_size_percent=100 * sizes / sizes.sum(),
        coverage=coverage,
        regions_na=[names[10]],
        image=nib.Nifti1Image(labels, GRID_AFFINE),
        description="atlases/atlas-demo_dseg.nii.gz",
    )


def make_maps_atlas() -> AtlasResult:
    """Five Gaussian blobs as a 4D probabilistic atlas."""
    x, y, z = _world_grid()
    centres = [(-25, -30, 10), (25, -30, 10), (0, 30, 5), (-30, 20, -10), (30, 20, -10)]
    maps = np.stack(
        [np.exp(-((x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2) / (2 * 12.0**2))
         for cx, cy, cz in centres],
        axis=-1,
    ).astype(np.float32)
    maps[maps < 0.05] = 0
    sizes = (maps > 0).sum(axis=(0, 1, 2)) * 64.0
    return AtlasResult(
        name="blobs",
        kind="maps",
        region_names=[f"component {k + 1}" for k in range(5)],
        size_mm3=sizes,
        relative_size_percent=100 * sizes / sizes.sum(),
        coverage=np.array([1.0, 0.98, 0.95, 1.0, 0.9]),
        image=nib.Nifti1Image(maps, GRID_AFFINE),
    )


def make_spheres_atlas() -> AtlasResult:
    """Six spheres of 6 mm radius, one set to n/a."""
    coordinates = np.array(
        [[-30, -40, 20], [30, -40, 20], [0, 40, 0], [-20, 10, -10], [20, 10, -10], [0, -60, -30]],
        dtype=float,
    )
    return AtlasResult(
        name="dmnseeds",
        kind="spheres",
        region_names=["L parietal", "R parietal", "medial PFC", "L temporal", "R temporal",
                      "cerebellum (outside)"],
        size_mm3=np.full(6, 4 / 3 * np.pi * 6**3),
        relative_size_percent=np.full(6, 100 / 6),
        coverage=np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.0]),
        regions_na=["cerebellum (outside)"],
        sphere_coordinates_mm=coordinates,
        sphere_radius_mm=6.0,
    )


def make_fd(n_volumes: int, seed: int) -> np.ndarray:
    generator = np.random.default_rng(seed)
    fd = np.abs(generator.normal(0.12, 0.06, n_volumes))
    spikes = generator.choice(np.arange(10, n_volumes), size=7, replace=False)
    fd[spikes] += generator.uniform(0.5, 1.4, spikes.size)
    fd[0] = 0.0
    return fd


def make_std_dvars(n_volumes: int, seed: int) -> np.ndarray:
    """Standardized DVARS around 1 with three spikes above 1.5 (NaN for the first volume)."""
    generator = np.random.default_rng(seed + 100)
    std_dvars = np.abs(generator.normal(1.0, 0.15, n_volumes))
    spikes = generator.choice(np.arange(8, n_volumes), size=3, replace=False)
    std_dvars[spikes] += generator.uniform(0.8, 2.0, spikes.size)
    std_dvars[0] = np.nan
    return std_dvars


def make_run(participant: str = "01", session: str | None = "1", run: str = "1",
             n_volumes: int = 120, seed: int = 0, atlases=None) -> RunReport:
    """A RunReport with two strategies and the three atlas kinds."""
    generator = np.random.default_rng(seed)
    reference = make_reference()
    atlases = atlases or [make_labels_atlas(reference), make_maps_atlas(), make_spheres_atlas()]
    fd = make_fd(n_volumes, seed)
    std_dvars = make_std_dvars(n_volumes, seed)
    dummies = np.arange(3)
    threshold = 0.5
    # censored as plan_denoising does: FD or DVARS above threshold, then segments under 5 volumes
    with np.errstate(invalid="ignore"):
        flagged = np.flatnonzero((fd > threshold) | (std_dvars > 1.5))
    censored = np.setdiff1d(_drop_short_segments(np.union1d(flagged, dummies), n_volumes, 5), dummies)
    everything = np.arange(n_volumes)
    strategies = [
        StrategyResult(
            name="simple",
            kept_volumes=np.setdiff1d(everything, dummies),
            dummy_volumes=dummies,
            n_regressors=14,
            dof_lost=14 + dummies.size,
            parameters={"motion": "full", "wm_csf": "basic", "global_signal": None,
                        "high_pass": 0.01},
            confound_columns=["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z",
                              "csf", "white_matter"],
        ),
        StrategyResult(
            name="scrubbing",
            kept_volumes=np.setdiff1d(everything, np.union1d(dummies, censored)),
            dummy_volumes=dummies,
            motion_censored_volumes=censored,
            fd_threshold=threshold,
            std_dvars_threshold=1.5,
            n_regressors=26,
            dof_lost=26 + dummies.size + censored.size,
            parameters={"motion": "full", "scrub": 5, "fd_threshold": threshold},
            confound_columns=["trans_x", "rot_z", "csf", "white_matter", "global_signal"],
        ),
    ]
    raw_signals, clean_signals, connectivity = {}, {}, {}
    time_axis = np.arange(n_volumes)
    for atlas in atlases:
        n_regions = atlas.n_regions
        drift = np.outer(time_axis / n_volumes, generator.uniform(5, 15, n_regions))
        shared = np.sin(time_axis / 6.0)[:, None] * generator.uniform(0.5, 2, n_regions)
        raw = 100 + drift + shared + generator.normal(0, 1, (n_volumes, n_regions))
        raw[:, atlas.na_mask] = np.nan
        raw_signals[atlas.name] = raw
        for strategy in strategies:
            kept = strategy.kept_volumes
            cleaned = raw[kept] - drift[kept] - 100
            cleaned = (cleaned - cleaned.mean(0)) / cleaned.std(0)
            clean_signals[(atlas.name, strategy.name)] = cleaned
            with np.errstate(invalid="ignore", divide="ignore"):
                connectivity[(atlas.name, strategy.name)] = np.corrcoef(cleaned.T)
    entities = {"task": "rest", "run": run, "space": "MNI152NLin2009cAsym", "res": "2"}
    ses_part = f"ses-{session}_" if session else ""
    return RunReport(
        participant=participant,
        session=session,
        entities=entities,
        bold_file=f"sub-{participant}/{ses_part}func/sub-{participant}_{ses_part}task-rest_"
                  f"run-{run}_space-MNI152NLin2009cAsym_res-2_desc-preproc_bold.nii.gz",
        confounds_file=f"sub-{participant}_{ses_part}task-rest_run-{run}_desc-confounds_timeseries.tsv",
        mask_file=f"sub-{participant}_{ses_part}task-rest_run-{run}_space-MNI152NLin2009cAsym_"
                  "res-2_desc-brain_mask.nii.gz",
        space="MNI152NLin2009cAsym",
        repetition_time=2.0,
        n_volumes=n_volumes,
        fd=fd,
        std_dvars=std_dvars,
        strategies=strategies,
        atlases=atlases,
        reference_image=reference,
        raw_signals=raw_signals,
        clean_signals=clean_signals,
        connectivity=connectivity,
        warnings=["Region 'RH_anterior_inferior' of atlas demo is 31% inside the brain mask "
                  "(below --min-coverage 0.5): set to n/a."],
        software_version="0.1.0.dev0",
        parameters={"low_pass": None, "high_pass": 0.01, "detrend": True, "standardize": "zscore",
                    "smoothing_fwhm": None, "connectivity": "correlation", "min_coverage": 0.5},
    )


def make_small_run(participant: str = "01", run: str = "1") -> RunReport:
    """A run with only the labels atlas and 30 volumes (four figures: cheap to render)."""
    return make_run(participant=participant, run=run, n_volumes=30,
                    atlases=[make_labels_atlas(make_reference())])


def make_participant_report(participant: str = "01", n_runs: int = 2) -> ParticipantReport:
    runs = [make_run(participant=participant, session="1", run=str(k + 1), seed=k)
            for k in range(n_runs)]
    runs[-1].strategies[1].excluded = True
    runs[-1].strategies[1].exclusion_reason = (
        "only 40 % of volumes left after censoring (minimum 50 %)"
    )
    return ParticipantReport(
        participant=participant,
        runs=runs,
        failed_runs=[FailedRun(XSS_FILE, "no confounds file found next to the BOLD file")],
        software_version="0.1.0.dev0",
        command_line="regionseries /data/derivatives/fmriprep /out participant "
                     "--participant-label 01 --atlas-file demo=atlas.nii.gz --strategy simple "
                     "scrubbing",
    )


def make_group_report(n_runs: int = 24, seed: int = 3) -> GroupReport:
    generator = np.random.default_rng(seed)
    rows = []
    for run_index in range(n_runs):
        mean_fd = float(np.abs(generator.normal(0.18, 0.08)))
        for strategy, base in (("simple", 14), ("scrubbing", 26)):
            excluded = strategy == "scrubbing" and mean_fd > 0.3
            rows.append(
                {
                    "participant": f"{run_index // 2 + 1:02d}",
                    "run": f"task-rest_run-{run_index % 2 + 1}",
                    "strategy": strategy,
                    "mean_fd_mm": mean_fd,
                    "n_volumes_kept": int(117 - (strategy == "scrubbing") * 80 * mean_fd),
                    "dof_lost": float(base + 3 + (strategy == "scrubbing") * 80 * mean_fd),
                    "excluded": excluded,
                    "exclusion_reason": "mean FD > 0.3 mm" if excluded else "",
                }
            )
    table = pd.DataFrame(rows)
    n_regions = 12
    centroids = generator.uniform(-60, 60, (n_regions, 3))
    rows_i, cols_i = np.triu_indices(n_regions, 1)
    distances = np.linalg.norm(centroids[rows_i] - centroids[cols_i], axis=1)
    qcfc = [
        QCFCResult("demo", "simple", 0.25 - 0.002 * distances + generator.normal(0, 0.1, distances.size),
                   distances, n_runs=n_runs),
        QCFCResult("demo", "scrubbing", generator.normal(0.02, 0.1, distances.size), distances,
                   n_runs=n_runs),
    ]
    return GroupReport(
        qc_table=table,
        qcfc=qcfc,
        exclusion_criteria=["mean FD > 0.3 mm", "fewer than 50 % of volumes kept",
                            XSS_LABEL],
        software_version="0.1.0.dev0",
        command_line="regionseries /data /out group",
        warnings=["QC-FC of atlas demo uses only 24 runs; estimates are noisy."],
        parameters={"fd_exclusion_mm": 0.3, "min_kept_fraction": 0.5},
    )


# ---------------------------------------------------------------------------
# Headless Chromium through the DevTools Protocol


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


class Browser:
    """A headless Chromium with one page, driven over CDP."""

    def __init__(self, timeout: float = 30.0):
        import websocket

        self.user_data_dir = tempfile.mkdtemp(prefix="regionseries-chromium-")
        # Chromium puts its singleton socket under TMPDIR: keep it in our folder.
        environment = dict(os.environ, TMPDIR=self.user_data_dir)
        self.process = subprocess.Popen(
            [
                CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--hide-scrollbars", "--mute-audio",
                f"--user-data-dir={self.user_data_dir}", "--remote-debugging-port=0",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=environment,
        )
        port_file = Path(self.user_data_dir) / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while True:
            if port_file.exists():
                lines = port_file.read_text().split()
                if len(lines) == 2:
                    break
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.close()
                raise RuntimeError(f"{CHROMIUM} did not start (no DevToolsActivePort)")
            time.sleep(0.05)
        port, path = lines
        self.socket = websocket.create_connection(
            f"ws://127.0.0.1:{port}{path}", timeout=timeout, suppress_origin=True
        )
        self.timeout = timeout
        self.events: list[dict] = []
        self._next_id = 0
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Page.enable", "Runtime.enable", "Log.enable", "Network.enable"):
            self.send(domain, session=True)
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": 1200, "height": 900, "deviceScaleFactor": 1, "mobile": False},
                  session=True)

    def _receive(self) -> dict:
        message = json.loads(self.socket.recv())
        if "method" in message:
            self.events.append(message)
            if message["method"] == "Page.javascriptDialogOpening":
                # Never leave a dialog open: it would block the page. The event is kept.
                self.send_nowait("Page.handleJavaScriptDialog", {"accept": False})
        return message

    def send_nowait(self, method: str, params: dict | None = None) -> None:
        self._next_id += 1
        self.socket.send(json.dumps({"id": self._next_id, "method": method,
                                     "params": params or {}, "sessionId": self.session}))

    def send(self, method: str, params: dict | None = None, session: bool = False) -> dict:
        self._next_id += 1
        request_id = self._next_id
        message = {"id": request_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        self.socket.send(json.dumps(message))
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            reply = self._receive()
            if reply.get("id") == request_id:
                if "error" in reply:
                    raise RuntimeError(f"CDP {method} failed: {reply['error']}")
                return reply.get("result", {})
        raise TimeoutError(f"CDP {method} got no answer in {self.timeout} s")

    def open(self, url: str) -> None:
        """Navigate to ``url`` and wait for the load event."""
        self.events.clear()
        self.send("Page.navigate", {"url": url}, session=True)
        deadline = time.monotonic() + self.timeout
        while not any(e["method"] == "Page.loadEventFired" for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not finish loading")
            self._receive()
        # Lazy images below the fold: load all of them before checking.
        self.evaluate("document.querySelectorAll('img').forEach(i => i.loading = 'eager')")
        self.evaluate(
            "Promise.all(Array.from(document.images).map(i => i.decode().catch(() => null)))",
            await_promise=True,
        )

    def open_all_runs(self) -> None:
        """Unfold every run of a participant page (they are folded when there are several),
        as the page's "Open all runs" button does, so that their text is rendered."""
        self.evaluate("document.querySelectorAll('details.run-fold').forEach(d => d.open = true)")

    def evaluate(self, expression: str, await_promise: bool = False):
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": await_promise},
            session=True,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"JavaScript error: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path, full_page: bool = False, scale: float = 1.0) -> np.ndarray:
        """Save a PNG screenshot (of the viewport or the whole page) and return its pixels.

        ``scale`` < 1 shrinks a full-page capture (cheaper, still readable).
        """
        from PIL import Image

        params = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
            height = self.evaluate("document.documentElement.scrollHeight")
            params["clip"] = {"x": 0, "y": 0, "width": 1200, "height": min(height, 16000),
                              "scale": scale}
        data = base64.b64decode(self.send("Page.captureScreenshot", params, session=True)["data"])
        path.write_bytes(data)
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))

    def console_errors(self) -> list[str]:
        errors = []
        for event in self.events:
            method, params = event["method"], event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                errors.append(json.dumps(params.get("args")))
            elif method == "Runtime.exceptionThrown":
                errors.append(json.dumps(params.get("exceptionDetails")))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                errors.append(params["entry"].get("text", ""))
        return errors

    def requested_urls(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events
                if e["method"] == "Network.requestWillBeSent"]

    def dialogs(self) -> list[dict]:
        return [e["params"] for e in self.events if e["method"] == "Page.javascriptDialogOpening"]

    def close(self) -> None:
        try:
            if getattr(self, "socket", None) is not None:
                self.socket.close()
        finally:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            shutil.rmtree(self.user_data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def synthetic() -> SimpleNamespace:
    """The synthetic-data builders (test modules cannot import conftest in importlib mode)."""
    return SimpleNamespace(
        make_run=make_run,
        make_small_run=make_small_run,
        make_participant_report=make_participant_report,
        make_group_report=make_group_report,
        make_reference=make_reference,
        XSS_LABEL=XSS_LABEL,
        XSS_FILE=XSS_FILE,
    )


@pytest.fixture(scope="session")
def rendered(tmp_path_factory):
    """The synthetic participant and group reports, written once per test session."""
    from regionseries.report import write_group_report, write_participant_report

    output = tmp_path_factory.mktemp("rendered")
    participant = make_participant_report()
    group = make_group_report()
    return SimpleNamespace(
        output=output,
        participant=participant,
        participant_path=write_participant_report(participant, output),
        group=group,
        group_path=write_group_report(group, output),
    )


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium is needed for the report tests: {CHROMIUM} not found "
                    "(install the Debian 'chromium' package)")
    instance = Browser()
    yield instance
    instance.close()


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory) -> Path:
    """Where screenshots are kept for a human to look at: REGIONSERIES_SCREENSHOTS, else a
    folder of pytest's base temporary directory (pytest keeps the last three runs' and removes
    older ones; a ``tempfile.mkdtemp`` folder was never removed and piled up in $TMPDIR)."""
    if "REGIONSERIES_SCREENSHOTS" in os.environ:
        folder = Path(os.environ["REGIONSERIES_SCREENSHOTS"])
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    return tmp_path_factory.mktemp("screens")
