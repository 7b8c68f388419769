"""Views of episodes for people: a self-contained HTML report, a side-by-side comparison.

Nothing from a cell output runs in these pages: see `dojo_nb.views.report.html` for the rule and
`dojo_nb.views.report.page` for the Content-Security-Policy that backs it up.
"""

from __future__ import annotations

from dojo_nb.views.report.compare import CompareError, build_compare, write_compare
from dojo_nb.views.report.episode import EpisodeData, ReportError, load_episode
from dojo_nb.views.report.report import build_report, write_report

__all__ = ["CompareError", "EpisodeData", "ReportError", "build_compare", "build_report",
           "load_episode", "write_compare", "write_report"]
