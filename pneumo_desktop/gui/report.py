"""The PDF report lives in :mod:`pneumo_desktop.report` (no widgets, so ``pneumo-scan --pdf`` uses
it too); this module keeps the old import path working."""

from __future__ import annotations

from ..report import (  # noqa: F401 - re-exported
    DISCLAIMER,
    DISCLAIMER_DETAIL,
    ReportContext,
    default_report_dir,
    default_report_path,
    file_lines,
    write_pdf_report,
)
