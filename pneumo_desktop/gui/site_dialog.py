"""Site calibration in the app: the dialog (its plots are ``gui.curveplot``'s; the controller that
keeps the window's threshold in force is ``gui.site_control``'s, re-exported here).

The calibration scan runs in the model's thread (the thread that owns the model), through a small
worker object moved there; the GUI thread only gets progress and the result through signals.
"""

from __future__ import annotations

import html
import logging
import threading
from typing import Any, cast

from PySide6.QtCore import QObject, QThread, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from ..core.errors import PneumoError
from ..core.site import (
    CALIBRATION_ADVICE,
    Calibration,
    SiteError,
    SiteProfile,
    calibrate,
    card_auc,
    check_site_name,
    read_labelled,
    scan_films,
)
from .curveplot import CurvePlot, predictive_series, roc_series
from .site_control import SiteController, window_value

__all__ = [
    "CalibrationWorker",
    "CurvePlot",
    "SiteController",
    "SiteDialog",
    "predictive_series",
    "roc_series",
    "window_value",
]

log = logging.getLogger(__name__)


class _Either:
    """Cancelled when either event is set (the dialog's cancel, or the window closing)."""

    def __init__(self, *events: threading.Event) -> None:
        self.events = events

    def is_set(self) -> bool:
        return any(e.is_set() for e in self.events)


class CalibrationWorker(QObject):
    """Lives in the model thread: scans the films with the loaded model, then calibrates."""

    progress = Signal(int, int)
    finished = Signal(object)  # Calibration
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, model_worker: Any) -> None:
        super().__init__()
        self.model_worker = model_worker  # gui.service.ModelWorker: its predictor and store

    @Slot(object)
    def run(self, job: dict[str, Any]) -> None:
        cancel = _Either(job["cancel"], self.model_worker.stopping)
        predictor = self.model_worker.predictor
        if predictor is None:
            self.failed.emit("The model is not loaded, so nothing can be calibrated.")
            return
        from ..core.scan import Scanner

        try:
            scanner = Scanner(predictor, store=self.model_worker.store, batch_size=job["batch_size"])
            films = read_labelled(job["source"])  # walks a folder: here, not in the GUI thread
            results = scan_films(scanner, films, cancel, self.progress.emit)  # type: ignore[arg-type]
            if results is None or cancel.is_set():
                self.cancelled.emit()
                return
            cal = calibrate(results, films, job["target"], job["prevalence"], card_auc(predictor.card.raw))
        except PneumoError as exc:
            self.failed.emit(str(exc))
            return
        except Exception as exc:  # a sentence for the user, the traceback for the log
            log.exception("site calibration failed")
            self.failed.emit(
                f"The calibration stopped because of an unexpected error ({type(exc).__name__})."
            )
            return
        self.finished.emit(cal)


# ---------------------------------------------------------------------------------------------
# The dialog


class SiteDialog(QDialog):
    """Calibrate on the clinic's own labelled films; show ROC and PPV/NPV; make the profile active."""

    _run = Signal(object)
    activated = Signal(object)  # SiteProfile | None

    def __init__(self, controller: SiteController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.setWindowTitle("Site calibration")
        self.resize(900, 720)
        self._cancel: threading.Event | None = None
        self.calibration: Calibration | None = None
        self.profile: SiteProfile | None = controller.active

        self.site_box = QComboBox(self)
        self.site_box.setEditable(True)
        self.site_box.addItems(controller.profiles.sites())
        self.site_box.setCurrentText(self.profile.site if self.profile else "")
        site_edit = self.site_box.lineEdit()  # there is one: the box is editable
        if site_edit is not None:
            site_edit.setPlaceholderText("e.g. Clinic A")
        self.source_edit = QLineEdit(self)
        self.source_edit.setPlaceholderText(
            "Folder with NORMAL and PNEUMONIA subfolders, or a CSV of path,label"
        )
        browse = QPushButton("Folder…", self)
        browse.clicked.connect(self._choose_folder)
        browse_csv = QPushButton("CSV…", self)
        browse_csv.clicked.connect(self._choose_csv)
        src_row = QHBoxLayout()
        src_row.addWidget(self.source_edit, 1)
        src_row.addWidget(browse)
        src_row.addWidget(browse_csv)
        self.target_spin = QDoubleSpinBox(self)
        self.target_spin.setRange(50.0, 99.5)
        self.target_spin.setDecimals(1)
        self.target_spin.setSuffix(" %")
        self.target_spin.setValue(95.0)
        self.prevalence_check = QCheckBox("Our prevalence is known:", self)
        self.prevalence_spin = QDoubleSpinBox(self)
        self.prevalence_spin.setRange(0.1, 99.9)
        self.prevalence_spin.setDecimals(1)
        self.prevalence_spin.setSuffix(" %")
        self.prevalence_spin.setValue(20.0)
        self.prevalence_spin.setEnabled(False)
        self.prevalence_check.toggled.connect(self.prevalence_spin.setEnabled)
        prev_row = QHBoxLayout()
        prev_row.addWidget(self.prevalence_check)
        prev_row.addWidget(self.prevalence_spin)
        prev_row.addStretch(1)
        form = QFormLayout()
        form.addRow("Site name", self.site_box)
        form.addRow("Labelled films", src_row)
        form.addRow("Target sensitivity", self.target_spin)
        form.addRow("Prevalence", prev_row)

        self.run_button = QPushButton("Calibrate", self)
        self.run_button.setDefault(True)
        self.run_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Stop", self)
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        run_row = QHBoxLayout()
        run_row.addWidget(self.run_button)
        run_row.addWidget(self.cancel_button)
        run_row.addWidget(self.progress, 1)

        self.roc_plot = CurvePlot(
            "ROC curve on your films",
            "1 − specificity (false alarms among normal films)",
            "sensitivity",
            self,
        )
        self.roc_plot.diagonal = True
        self.pv_plot = CurvePlot(
            "Predictive values against prevalence", "prevalence of pneumonia", "predictive value", self
        )
        plots = QHBoxLayout()
        plots.addWidget(self.roc_plot)
        plots.addWidget(self.pv_plot)
        self.report = QTextBrowser(self)
        self.report.setMinimumHeight(160)

        self.activate_button = QPushButton("Use this profile for screening", self)
        self.activate_button.setEnabled(False)
        self.activate_button.clicked.connect(self.activate)
        self.deactivate_button = QPushButton("Stop using a site profile", self)
        self.deactivate_button.setEnabled(controller.active is not None)
        self.deactivate_button.clicked.connect(self.deactivate)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        bottom = QHBoxLayout()
        bottom.addWidget(self.activate_button)
        bottom.addWidget(self.deactivate_button)
        bottom.addStretch(1)
        bottom.addWidget(buttons)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(run_row)
        layout.addLayout(plots, 3)
        layout.addWidget(self.report, 2)
        layout.addLayout(bottom)

        self.worker = CalibrationWorker(controller.window.service.worker)
        # The service's QThread attribute shadows QObject.thread() (a method) for the type checker.
        self.worker.moveToThread(cast(QThread, controller.window.service.thread))
        self._run.connect(self.worker.run)
        self.worker.progress.connect(self._on_progress)
        self.worker.finished.connect(self._on_finished)
        self.worker.failed.connect(self._on_failed)
        self.worker.cancelled.connect(self._on_cancelled)
        self.finished.connect(self._cleanup)

        if self.profile is not None:
            self.show_profile(self.profile)
        else:
            self.report.setPlainText(CALIBRATION_ADVICE)

    # -- input -------------------------------------------------------------------------------
    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder with NORMAL and PNEUMONIA subfolders")
        if folder:
            self.source_edit.setText(folder)

    def _choose_csv(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "CSV of path,label", "", "CSV files (*.csv);;All files (*)"
        )
        if path:
            self.source_edit.setText(path)

    @property
    def running(self) -> bool:
        return self._cancel is not None

    def start(self) -> None:
        if self.running:
            return
        try:
            site = check_site_name(self.site_box.currentText())
            if not self.source_edit.text().strip():
                raise SiteError("Choose the folder (or CSV file) of films whose outcome is known.")
        except SiteError as exc:
            self.report.setPlainText(str(exc))
            return
        if not self.controller.window.is_model_ready:
            self.report.setPlainText("The model is not loaded yet; try again in a moment.")
            return
        self._site = site
        self._cancel = threading.Event()
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.activate_button.setEnabled(False)
        self.progress.setRange(0, 0)  # busy until the films are listed
        self.progress.setValue(0)
        self.report.setPlainText("Listing and scanning the films…")
        self._run.emit(
            {
                "source": self.source_edit.text().strip(),
                "target": self.target_spin.value() / 100,
                "prevalence": self.prevalence_spin.value() / 100
                if self.prevalence_check.isChecked()
                else None,
                "batch_size": self.controller.window.batch_size,
                "cancel": self._cancel,
            }
        )

    def cancel(self) -> None:
        if self._cancel is not None:
            self._cancel.set()

    # -- results -----------------------------------------------------------------------------
    def _done(self) -> None:
        self._cancel = None
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)

    def _on_failed(self, message: str) -> None:
        self._done()
        self.report.setPlainText(message)

    def _on_cancelled(self) -> None:
        self._done()
        self.report.setPlainText("Calibration stopped; nothing was saved.")

    def _on_finished(self, cal: Calibration) -> None:
        self._done()
        self.calibration = cal
        info = self.controller.window.model_info
        try:
            self.profile = self.controller.profiles.add(
                self._site, cal, info, source=self.source_edit.text().strip()
            )
        except (OSError, SiteError) as exc:
            self.report.setPlainText(f"The profile could not be saved: {exc}")
            return
        self.show_profile(self.profile, cal.report_lines())
        self.activate_button.setEnabled(True)

    def show_profile(self, profile: SiteProfile, lines: list[str] | None = None) -> None:
        m = profile.metrics
        se, sp = float(m.get("sensitivity", float("nan"))), float(m.get("specificity", float("nan")))
        self.roc_plot.set_data(
            [("ROC", roc_series(profile.roc))], (1 - sp, se, f"threshold {profile.threshold:.3f}")
        )
        ppv, npv = predictive_series(se, sp)
        prev = float(m.get("prevalence", float("nan")))
        self.pv_plot.set_data(
            [("PPV", ppv), ("NPV", npv)], vline=(prev, f"{prev * 100:.0f}%") if prev == prev else None
        )
        head = (
            f"<p><b>Site profile {html.escape(profile.label)}</b>, calibrated {html.escape(profile.created[:16])} "
            f"by {html.escape(profile.user)} for model {html.escape(profile.model_title)}.</p>"
        )
        if lines is None:
            lines = [
                f"Threshold {profile.threshold:.4f}; sensitivity {se * 100:.1f}%, specificity {sp * 100:.1f}% "
                f"on {profile.n_pos} pneumonia and {profile.n_neg} normal films.",
                f"Positive predictive value (PPV) {m.get('ppv', float('nan')) * 100:.1f}%, negative predictive "
                f"value (NPV) {m.get('npv', float('nan')) * 100:.1f}% at a prevalence of {prev * 100:.1f}%.",
            ]
        body = "".join(
            f"<p style='margin:2px 0;{' color:#b03a2e' if ln.startswith('Warning') else ''}'>{html.escape(ln)}</p>"
            for ln in lines
        )
        mismatch = self.controller.mismatch(profile)
        warn = f"<p style='color:#b03a2e'>Not applied: {html.escape(mismatch)}.</p>" if mismatch else ""
        self.report.setHtml(head + body + warn)

    # -- activation --------------------------------------------------------------------------
    def activate(self) -> None:
        if self.profile is not None:
            self.controller.activate(self.profile.site)
            self.deactivate_button.setEnabled(True)
            self.activated.emit(self.profile)

    def deactivate(self) -> None:
        self.controller.activate(None)
        self.deactivate_button.setEnabled(False)
        self.activated.emit(None)

    def reject(self) -> None:
        self.cancel()
        super().reject()

    def _cleanup(self) -> None:
        self.cancel()
        self.worker.deleteLater()  # deleted in the model thread once its current job returns
