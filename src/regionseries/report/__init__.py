"""HTML reports: per participant (``sub-<label>.html``) and for the group.

Build the data model (:mod:`regionseries.report.model`), then call
:func:`write_participant_report` or :func:`write_group_report`. Figures are
drawn with matplotlib's Agg canvas (:mod:`regionseries.report.figures`) and
pages rendered with jinja2 (:mod:`regionseries.report.render`).
"""

from .model import (
    AtlasResult,
    FailedRun,
    GroupReport,
    MeanConnectome,
    ParticipantReport,
    QCFCResult,
    ReportDataError,
    RunReport,
    StrategyResult,
    SurfaceAtlas,
)
from .render import draw_run_figures, write_group_report, write_participant_report

__all__ = [
    "AtlasResult",
    "FailedRun",
    "GroupReport",
    "MeanConnectome",
    "ParticipantReport",
    "QCFCResult",
    "ReportDataError",
    "RunReport",
    "StrategyResult",
    "SurfaceAtlas",
    "draw_run_figures",
    "write_group_report",
    "write_participant_report",
]
