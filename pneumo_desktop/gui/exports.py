"""CSV and PDF exports of the session's rows: CSV in the io lane, the PDF in the model lane (it may
compute heatmaps); the window's signals say when they are written."""

from __future__ import annotations

import datetime as _dt
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog, QMessageBox

from ..core.resultfiles import write_csv
from ..core.results import ScanResult
from ..report import default_report_dir
from .dialogs import ExportDialog
from .service import ReportRequest

if TYPE_CHECKING:
    from .main_window import MainWindow

log = logging.getLogger(__name__)


def _csv_message(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return f"The CSV file could not be written: {exc.strerror or exc}."
    return f"The CSV file could not be written ({type(exc).__name__})."


class ExportController(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.w = window

    def rows(self, only_shown: bool) -> list[ScanResult]:
        return self.w.proxy.visible_results() if only_shown else self.w.session.results

    def export_csv(self, path: str, only_shown: bool, include_patient: bool) -> None:
        w = self.w
        rows = self.rows(only_shown)  # a snapshot: the view may change while it is written
        w.statusBar().showMessage(f"Exporting {len(rows)} rows…")  # write_csv: ~1.2 s for 20,000 rows
        w.service.submit(
            write_csv, rows, path, include_patient, w.results_model.reviews(), lane="io",
            returned=lambda n: self._csv_done(path, n, include_patient),
            errored=lambda exc: self._failed(_csv_message(exc), w.csv_failed, "Export failed"),
        )

    def _csv_done(self, path: str, n: int, include_patient: bool) -> None:
        log.info("CSV export: %d rows (patient data: %s)", n, include_patient)
        self.w.statusBar().showMessage(f"Exported {n} rows to {path}", 8000)
        self.w.csv_finished.emit(path, n)

    def export_pdf(self, path: str, only_shown: bool, include_patient: bool) -> None:
        w, session = self.w, self.w.session
        w.statusBar().showMessage("Writing report…")
        request = ReportRequest(
            path=path, results=self.rows(only_shown), include_patient=include_patient,
            threshold=session.threshold if session.threshold is not None else 0.5,
            threshold_source=session.threshold_source, reviews=w.results_model.reviews(),
            threshold_note=w.site.describe(),
        )
        w.service.write_report(
            request,
            yielded=lambda p: w.statusBar().showMessage(f"Writing report: page {p[0] + 1} of {p[1] + 1}…"),
            returned=self._report_done,
            errored=lambda exc: self._failed(str(exc), w.report_failed, "Report not written"),
        )

    def _report_done(self, path: str | None) -> None:
        if path is not None:
            self.w.statusBar().showMessage(f"Report saved to {path}", 8000)
            self.w.report_finished.emit(path)

    def _failed(self, message: str, signal, title: str) -> None:  # signal: csv_failed | report_failed
        self.w.statusBar().showMessage(message, 8000)
        signal.emit(message)
        self.w.warn(title, message)

    def ask(self, kind: str) -> tuple[str, ExportDialog] | None:
        w = self.w
        total = w.results_model.rowCount()
        if total == 0:
            QMessageBox.information(w, "Nothing to export", "Scan some files first, or pick a scan in History.")
            return None
        dialog = ExportDialog(kind, total, w.proxy.rowCount(), w)
        if dialog.exec() != ExportDialog.DialogCode.Accepted:
            return None
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M")
        suffix, flt = (".pdf", "PDF report (*.pdf)") if kind == "pdf" else (".csv", "CSV file (*.csv)")
        folder = default_report_dir() if kind == "pdf" else Path(w.settings.last_dir() or Path.home())
        if kind == "pdf":  # in the documents folder, never next to the X-rays
            folder.mkdir(parents=True, exist_ok=True)
        default = str(folder / f"pneumo-{'report' if kind == 'pdf' else 'results'}-{stamp}{suffix}")
        path, _ = QFileDialog.getSaveFileName(w, dialog.windowTitle(), default, flt)
        if not path:
            return None
        if not path.lower().endswith(suffix):
            path += suffix
        return path, dialog

    def choose(self, kind: str) -> None:
        choice = self.ask(kind)
        if choice is not None:
            path, dialog = choice
            export = self.export_pdf if kind == "pdf" else self.export_csv
            export(os.fspath(path), dialog.only_shown, dialog.include_patient)
