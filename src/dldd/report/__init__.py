"""dldd.report: the science report of a run (static HTML site and PDF), in any language with a catalogue."""

from dldd.report.build import build_report, build_reports, region_slug

__all__ = ["build_report", "build_reports", "region_slug"]
