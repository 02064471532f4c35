"""One BOLD run through the whole pipeline.

For a run and a set of atlases and strategies, :func:`process_run`:

1. plans the confounds of every strategy (:func:`regionseries.core.confounds.plan_denoising`);
   a strategy the run cannot support (every volume censored, too few kept
   volumes) is *excluded* — recorded with its reason, the others continue;
2. builds one extraction operator per atlas on the run's grid (atlases are
   resampled to the BOLD grid; operators are cached per grid within a
   process) and reads the BOLD **once** for all atlases
   (:func:`regionseries.core.extract.extract_signals`);
3. cleans the region signals once per strategy (:func:`regionseries.signal.clean`)
   — cleaning region signals equals cleaning voxels then averaging, for the
   linear steps the strategies use;
4. writes, per atlas and strategy, a time-series TSV with ONE ROW PER BOLD
   VOLUME (removed volumes are ``n/a``, so rows stay aligned with
   ``SamplingFrequency``) and its JSON sidecar, the connectivity matrices of
   the kept volumes, and a per-strategy QC record (``*_qc.json``), all
   atomically.

It never raises for a bad run: the returned :class:`RunResult` says what was
done, excluded or failed and why, and carries the arrays a report needs. A
run whose files cannot be read (:mod:`regionseries.bids.readable`) or that
fails for any other reason gets a ``*_qc.json`` per strategy with ``Status``
``"failed"`` and the ``Reason``. Only what must stop the whole job goes
through: an interruption (SIGINT, SIGTERM) or a full disk
(:class:`~regionseries.bids.outputs.DiskFull`); the files this run had
written are then removed, so each run's outputs are all there or absent.

The modules, in the order a run goes through them:

- :mod:`.model`: :class:`PipelineOptions` in, :class:`RunResult` out, statuses;
- :mod:`.resume`: whether a run's outputs exist, and with which settings;
- :mod:`.plan`: the confounds of every strategy (:func:`plan_strategies`);
- :mod:`.operators`: atlases on the BOLD grid (:func:`build_operator`, cached);
- :mod:`.run`: :func:`process_run`, the single pass over the BOLD;
- :mod:`.names` and :mod:`.writers`: the output files and their sidecars;
- :mod:`.combine`: a participant's runs of a task joined from the series they
  wrote (``--combine-runs``), once all its runs are finished;
- :mod:`.report_hook`: run results into the HTML reports.

Every name is re-exported here, so ``regionseries.pipeline.X`` keeps working;
the module-global operator cache lives in :mod:`.operators`.
"""

# Re-exported as ``x as x``, one name a line, so that ``regionseries.pipeline.x`` keeps working
# for every name code, tests and benchmarks import; private ones (``_x``) are for tests and
# benchmarks. To patch one, patch its module (e.g. ``regionseries.pipeline.operators``),
# where the code that uses it reads it.
from .model import STATUS_DONE as STATUS_DONE
from .model import STATUS_FAILED as STATUS_FAILED
from .model import STATUS_SKIPPED as STATUS_SKIPPED
from .model import AtlasOutcome as AtlasOutcome
from .model import PipelineOptions as PipelineOptions
from .model import RunFailed as RunFailed
from .model import RunResult as RunResult
from .model import StrategyOutcome as StrategyOutcome
from .names import expected_outputs as expected_outputs
from .names import qc_name as qc_name
from .names import relmat_name as relmat_name
from .names import timeseries_name as timeseries_name
from .operators import _OPERATOR_CACHE as _OPERATOR_CACHE
from .operators import _OPERATOR_CACHE_LIMIT as _OPERATOR_CACHE_LIMIT
from .operators import _new_operator as _new_operator
from .operators import atlas_image_on_grid as atlas_image_on_grid
from .operators import build_operator as build_operator
from .plan import plan_strategies as plan_strategies
from .report_hook import _sparing_the_collector as _sparing_the_collector
from .report_hook import draw_figures_ahead as draw_figures_ahead
from .report_hook import report_frames_dir as report_frames_dir
from .report_hook import run_report as run_report
from .report_hook import write_participant_report as write_participant_report
from .resume import is_finished as is_finished
from .resume import run_settings as run_settings
from .resume import settings_changed as settings_changed
from .run import _process as _process
from .run import process_run as process_run

__all__ = [
    "STATUS_DONE",
    "STATUS_FAILED",
    "STATUS_SKIPPED",
    "AtlasOutcome",
    "PipelineOptions",
    "RunFailed",
    "RunResult",
    "StrategyOutcome",
    "build_operator",
    "draw_figures_ahead",
    "expected_outputs",
    "is_finished",
    "plan_strategies",
    "process_run",
    "qc_name",
    "relmat_name",
    "report_frames_dir",
    "run_report",
    "run_settings",
    "settings_changed",
    "timeseries_name",
    "write_participant_report",
]
