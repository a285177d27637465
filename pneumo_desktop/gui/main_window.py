"""The main window: a thin layer that observes the :class:`~pneumo_desktop.app.session.ScanSession`.

The widgets are laid out by :mod:`.window_ui`, the actions declared in :mod:`.actions`; scanning and
watching (:mod:`.scan_controller`), History (:mod:`.history`) and exports (:mod:`.exports`) are
controllers; everything off the GUI thread runs as jobs of one executor (:mod:`.jobs`, through
:mod:`.service`). The threshold in force and the labels live in the session, nowhere else.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDragMoveEvent, QDropEvent, QGuiApplication
from PySide6.QtWidgets import QMessageBox, QWidget

from ..app.session import Filters, ResultsChanged, ScanSession, ThresholdChanged
from ..core.card import ModelInfo
from ..core.results import LABELS, ScanResult
from ..core.store import ResultsStore
from . import privacy
from .actions import build_actions, build_menus
from .dialogs import AboutDialog, PreferencesDialog
from .dicom_net import DicomNetwork
from .exports import ExportController
from .history import HistoryController
from .logs import diagnostics_text
from .review import ReviewController
from .scan_controller import ScanController
from .service import ModelService
from .settings import Settings
from .site_dialog import SiteController, SiteDialog
from .status import ModelStatus
from .table import NAME, RESULT_ROLE
from .window_ui import WindowUi

log = logging.getLogger(__name__)


class MainWindow(WindowUi):
    """Pneumo Desktop's window. The model loads in the background as soon as it is created."""

    model_ready = Signal(object)  # ModelInfo
    model_failed = Signal(str)
    scan_finished = Signal(str)  # "finished" | "cancelled" | "failed"
    report_finished = Signal(str)  # path of the PDF
    report_failed = Signal(str)
    history_loaded = Signal(int)  # scan id, once its rows are in the table
    csv_finished = Signal(str, int)  # path, rows
    csv_failed = Signal(str)  # message

    def __init__(
        self,
        model_dir: str | os.PathLike[str] | None = None,
        *,
        store: ResultsStore | None = None,
        batch_size: int = 16,
        parent: QWidget | None = None,
    ) -> None:
        # The store first: one that cannot be opened (StoreError) leaves no half-built window.
        opened = store if store is not None else ResultsStore()
        super().__init__(parent)
        self._setup_window()
        self.settings = Settings()
        self.model_dir = str(model_dir) if model_dir else None
        self.batch_size = batch_size
        self._owns_store = store is None
        self.store = opened
        self.session = ScanSession()
        self.service = ModelService(self.store, self)
        self.io_pool = self.service.io  # QThreadPool's face of the io lane (gui.privacy's tasks)
        self.model_info: ModelInfo | None = None
        self._model_loaded = False
        self._device_before_reload: str | None = None
        self.closing = False

        self.site = SiteController(self, SiteDialog)  # the site profile and the threshold in force
        self.site.changed.connect(self.session.set_in_force)
        actions = build_actions(self)
        self.dicom = DicomNetwork(self)  # receiving films / sending results: off unless switched on
        toolbar = self._build_toolbar()
        results = self._build_results()
        self._build_threshold_box(toolbar)
        self._build_viewer_and_dock(results)
        self._build_status_bar(self.site.label)
        others = {"dicom_settings": self.dicom.settings_action, "dicom_send": self.dicom.send_action,
                  "site": self.site.action}
        self.scans = ScanController(self)
        build_menus(self, actions, toolbar, others, self.scans.add_recent_menu)
        self.history = HistoryController(self)
        self.exports = ExportController(self)
        self.status = ModelStatus(self)
        self._connect()
        privacy.install(self)  # File > Forget patient data…, history retention (issue 16)
        self._restore_window(*self.settings.window_state())
        self.refresh_history()
        self.reviews = ReviewController(self)  # Agree / Disagree, notes, review filters (gui.review)
        self.status.set_model_status("Loading model…", busy=True)
        self.service.load_model(self.model_dir, self.settings.device)

    def _connect(self) -> None:
        s, v = self.session.events, self.viewer
        s.threshold.connect(self._on_threshold)
        s.results.connect(self._on_results)
        s.view.connect(lambda title: self.setWindowTitle(f"Pneumo Desktop — {title}" if title else "Pneumo Desktop"))
        s.filters.connect(self._on_filters)
        self.filter_combo.currentIndexChanged.connect(
            lambda _: self.session.set_filters(label=self.filter_combo.currentData() or "")
        )
        self.search_edit.textChanged.connect(lambda t: self.session.set_filters(search=t))
        self.threshold_spin.valueChanged.connect(lambda value: self.set_threshold(value / 100))
        self.reset_button.clicked.connect(self.reset_threshold)
        self.reset_threshold_action.enabledChanged.connect(self.reset_button.setEnabled)
        self.cancel_button.clicked.connect(self.cancel_scan)
        self.escape.activated.connect(self.cancel_scan)
        self.table.selectionModel().currentRowChanged.connect(self._on_current_row)
        self.results_model.rowsInserted.connect(self._on_rows_changed)
        self.results_model.modelReset.connect(self._on_rows_changed)
        self.results_model.dataChanged.connect(self._on_data_changed)
        v.step_requested.connect(self.select_relative)
        v.heatmap_requested.connect(self.service.heatmap)
        self.heatmap_action.toggled.connect(v.heatmap_box.setChecked)
        v.heatmap_box.toggled.connect(self.heatmap_action.setChecked)
        self.fit_action.triggered.connect(v.view.fit)
        self.actual_size_action.triggered.connect(v.view.actual_size)
        self.reset_window_action.triggered.connect(v.view.reset_window)
        self.service.heatmap_ready.connect(v.on_heatmap)
        self.service.heatmap_failed.connect(v.on_heatmap_failed)

    # =========================================================================================
    # The session's events

    def _on_threshold(self, event: ThresholdChanged) -> None:
        if abs(self.threshold_spin.value() - event.value * 100) > 1e-6:
            self.threshold_spin.blockSignals(True)
            self.threshold_spin.setValue(event.value * 100)
            self.threshold_spin.blockSignals(False)

    def _on_results(self, event: ResultsChanged) -> None:
        if event.kind == "append":
            self.results_model.append(event.rows)
        elif event.kind == "relabel":
            self.results_model.update_rows(event.rows)
        else:
            self.results_model.set_results(event.rows)

    def _on_filters(self, filters: Filters) -> None:
        self.proxy.set_label_filter(filters.label)
        self.proxy.set_search(filters.search)
        self.update_summary()

    def _on_rows_changed(self, *args: object) -> None:
        has_rows = self.results_model.rowCount() > 0
        self.results_stack.setCurrentWidget(self.table if has_rows or self.session.scanning else self.empty_page)
        self.update_summary()

    def _on_data_changed(self, *args: object) -> None:
        self.update_summary()
        current = self.current_result()
        if current is not None:
            self.viewer.show_result(current)

    def update_summary(self) -> None:
        c = self.results_model.counts()
        total = c["total"]
        if total == 0:
            self.summary_label.setText("Scanning…" if self.session.scanning else "No results yet")
            return
        parts = ", ".join(f"{c[label]} {label}" for label in LABELS)
        text = f"{total} {'file' if total == 1 else 'files'}: {parts}"
        shown = self.proxy.rowCount()
        if shown != total:
            text += f"  (showing {shown})"
        self.summary_label.setText(text)

    # =========================================================================================
    # Table and viewer

    def current_result(self) -> ScanResult | None:
        index = self.table.currentIndex()
        return self.proxy.data(index, RESULT_ROLE) if index.isValid() else None

    def _on_current_row(self, current: QModelIndex, _previous: QModelIndex) -> None:
        result = self.proxy.data(current, RESULT_ROLE) if current.isValid() else None
        self.session.select(result.path if result is not None else None)
        self.viewer.show_result(result)

    def select_row(self, row: int) -> None:
        """Select a row of the table as shown (sorted/filtered)."""
        if not 0 <= row < self.proxy.rowCount():
            return
        index = self.proxy.index(row, NAME)
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        self.table.selectionModel().setCurrentIndex(index, flags)
        self.table.scrollTo(index)

    def select_relative(self, delta: int) -> None:
        current = self.table.currentIndex()
        row = current.row() + delta if current.isValid() else 0
        self.select_row(max(0, min(row, self.proxy.rowCount() - 1)))

    # =========================================================================================
    # Model

    @property
    def is_model_ready(self) -> bool:
        return self._model_loaded

    def warn(self, title: str, text: str, detail: str = "") -> None:
        """A warning that does not block the event loop (scans and the model lane carry on)."""
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, self)
        if detail:
            box.setInformativeText(detail)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    # =========================================================================================
    # Threshold (the session holds it; the site controller says where it comes from)

    @property
    def threshold(self) -> float | None:
        return self.session.threshold

    def set_threshold(self, value: float, remember: bool = True) -> None:
        """Relabel every row at this operating point (no model run) and remember it."""
        if not self.session.set_threshold(value):
            return
        value = self.session.threshold or value
        if remember and self.model_info is not None:
            self.settings.set_threshold(self.model_info.title, value)
        self.site.refresh()
        default = self.site.default_value()
        self.threshold_spin.setStyleSheet("" if default is None or abs(default - value) < 1e-9 else "font-weight: 600;")

    def threshold_source(self) -> str:
        """Where the threshold in force comes from, in words (user > site > card)."""
        return self.session.threshold_source

    def reset_threshold(self) -> None:
        if self.model_info is None:
            return
        self.settings.set_threshold(self.model_info.title, None)
        self.set_threshold(self.site.default_value() or self.model_info.threshold, remember=False)
        self.statusBar().showMessage(f"Threshold reset: {self.site.describe()}", 5000)

    # =========================================================================================
    # Opening, scanning, watching, History, exports (the controllers do the work)

    def open_paths(self, paths: Iterable[str | os.PathLike[str]], append: bool = False) -> None:
        """Scan files and folders (recursively). Queued until the model is ready or the scan ends."""
        items = [str(p) for p in paths if str(p)]
        if items:
            self.scans.open_paths(items, append)

    def scan_arrivals(self, paths: list[str]) -> None:
        """Films that arrived (watched folder, DICOM receiver): they join the scan in view and,
        reported only once, stay queued through a cancel."""
        self.open_paths(self.session.arrivals(paths), append=True)  # a fresh view when History is shown

    @property
    def is_scanning(self) -> bool:
        return self.session.scanning

    def cancel_scan(self) -> None:
        self.scans.cancel()

    def start_watch(self, folder: str | os.PathLike[str]) -> None:
        self.scans.start_watch(str(folder))

    def stop_watch(self) -> None:
        self.scans.stop_watch()

    def _on_watch_triggered(self, checked: bool) -> None:
        self.scans.watch_triggered(checked)

    def refresh_history(self, select: int | None = None) -> None:
        self.history.refresh(select)

    def load_history(self, scan_id: int, title: str | None = None) -> None:
        """Show the results of a past scan (from the store; no model run); ``history_loaded`` follows."""
        self.history.load(scan_id, title)

    def export_csv(self, path: str | os.PathLike[str], only_shown: bool = False, include_patient: bool = False) -> None:
        """Write the rows as CSV off the GUI thread; ``csv_finished(path, rows)`` or ``csv_failed``."""
        self.exports.export_csv(str(path), only_shown, include_patient)

    def export_pdf(self, path: str | os.PathLike[str], only_shown: bool = False, include_patient: bool = False) -> None:
        """Write the PDF report in the model lane; ``report_finished`` or ``report_failed`` follows."""
        self.exports.export_pdf(str(path), only_shown, include_patient)

    def choose_export_csv(self) -> None:
        self.exports.choose("csv")

    def choose_export_pdf(self) -> None:
        self.exports.choose("pdf")

    def choose_files(self) -> None:
        self.scans.choose_files()

    def choose_folder(self) -> None:
        self.scans.choose_folder()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)
        else:
            event.ignore()

    # =========================================================================================
    # Dialogs

    def preferences_dialog(self) -> PreferencesDialog:
        info, t = self.model_info, self.session.threshold
        return PreferencesDialog(
            device=self.settings.device,
            threshold=t if t is not None else (info.threshold if info else 0.5),
            default_threshold=self.site.default_value() if info else None,  # the site's, if any
            current_device=info.device_name if info and self._model_loaded else "",
            parent=self,
            precision=self.settings.precision,
        )

    def show_preferences(self) -> None:
        dialog = self.preferences_dialog()
        if dialog.exec() == PreferencesDialog.DialogCode.Accepted:
            reload = dialog.precision() != self.settings.precision and dialog.device() == self.settings.device
            self.settings.precision = dialog.precision()  # read by the next (re)load
            self.apply_preferences(dialog.device(), dialog.threshold())
            if reload:
                self.reload_model()

    def apply_preferences(self, device: str, threshold: float) -> None:
        if self.model_info is not None:
            # Within the box's 0.1 % steps of the default (a site threshold has 4 decimals): the default.
            if abs(threshold - (self.site.default_value() or self.model_info.threshold)) < 5e-4 + 1e-9:
                self.reset_threshold()
            else:
                self.set_threshold(threshold)
        if device != self.settings.device:
            self._device_before_reload = self.settings.device
            self.settings.device = device
            self.reload_model()

    def reload_model(self) -> None:
        """Load the model again (e.g. on another device) in the model lane."""
        self._model_loaded = False
        self.service.load_model(self.model_dir, self.settings.device)

    def show_about(self) -> None:
        AboutDialog(self.model_info, self).exec()

    def copy_diagnostics(self) -> str:
        info = self.model_info
        text = diagnostics_text(
            model=info.title if info else "", device=info.device_name if info else "",
            model_dir=info.folder if info else (self.model_dir or ""),
        )
        QGuiApplication.clipboard().setText(text)
        self.statusBar().showMessage("Diagnostics copied to the clipboard (no patient data).", 5000)
        return text

    # =========================================================================================
    # Closing

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.settings.save_window_state(self.saveGeometry(), self.saveState(), self.splitter.saveState())
        self.settings.sync()
        self.hide()
        self.shutdown()
        event.accept()

    def shutdown(self) -> None:
        """Cancel the scan, stop the executor's lanes and the image loaders, and wait for them.
        Answers still on their way are dropped by the executor: no handler needs a "closed" guard."""
        if self.closing:
            return
        self.closing = True
        self.session.queue.clear()
        self.dicom.shutdown()  # no more arrivals; a send in progress finishes
        self.service.shutdown()  # a CSV export being written finishes, before the store closes
        self.viewer.shutdown()
        if self._owns_store:
            self.store.close()
        log.info("window closed")
