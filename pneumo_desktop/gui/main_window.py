"""The main window: open/scan, results table, viewer, history, threshold, export."""

from __future__ import annotations

import datetime as _dt
import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path

from PySide6.QtCore import (
    QItemSelectionModel,
    QModelIndex,
    QObject,
    QRunnable,
    QSize,
    Qt,
    QThreadPool,
    QTimer,
    QUrl,
    Signal,
)
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDesktopServices,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QIcon,
    QKeySequence,
    QShortcut,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QStyle,
    QTableView,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..app.watch import arrivals_join_view
from ..core.paths import resources_dir
from ..core.results import LABELS, PNEUMONIA, ScanResult, write_csv
from ..core.scan import ScanProgress
from ..core.store import ResultsStore, ScanRecord
from ..core.threshold import CARD, SITE
from ..report import default_report_dir
from . import privacy
from .dialogs import DISCLAIMER, AboutDialog, ExportDialog, PreferencesDialog, threshold_spin
from .dicom_net import DicomNetwork
from .logs import diagnostics_text, log_dir
from .review import ReviewController
from .service import ModelInfo, ModelService, ReportRequest
from .settings import Settings
from .site_dialog import SiteController
from .table import (
    LABEL,
    NAME,
    PROBABILITY,
    REASON,
    RESULT_ROLE,
    TIME,
    ResultsFilterProxy,
    ResultsTableModel,
    label_icon,
)
from .viewer import ViewerPanel

log = logging.getLogger(__name__)

UI_REFRESH_MS = 150  # new rows and progress reach the screen at most this often
FILE_FILTER = "X-ray images (*.png *.jpg *.jpeg *.dcm *.dicom *.dic DICOMDIR dicomdir *.tif *.tiff *.bmp);;All files (*)"
_STYLE = """
QLabel#summary { font-size: 14px; font-weight: 600; padding: 2px 0; }
QLabel#emptyTitle { font-size: 20px; font-weight: 600; }
QLabel#emptyText, QLabel#disclaimer { color: palette(mid); }
QFrame#details { border-top: 1px solid palette(midlight); }
QLabel#modelStatus { padding: 0 6px; }
"""


def _describe_roots(roots: list[str]) -> str:
    """A short name for what a scan covered: the folder or file, or the folder holding them all."""
    if not roots:
        return "nothing"
    if len(roots) == 1:
        return Path(roots[0]).name or roots[0]
    try:
        common = Path(os.path.commonpath([os.path.abspath(r) for r in roots]))
    except ValueError:  # different drives
        common = Path()
    if common.name:
        return f"{len(roots)} items in {common.name}"
    return f"{Path(roots[0]).name} and {len(roots) - 1} more"


class _IoSignals(QObject):
    """Answers of the window's I/O pool (history loads, CSV exports), delivered in the GUI thread."""

    history_loaded = Signal(int, object)  # request id, _HistoryLoad
    history_failed = Signal(int, str)  # request id, message
    csv_done = Signal(str, int)  # path, rows
    csv_failed = Signal(str, str)  # path, message


class _HistoryLoad:
    """A past scan read from the store (and relabelled at ``threshold``) off the GUI thread."""

    def __init__(self, scan_id: int, title: str | None, threshold: float | None) -> None:
        self.scan_id, self.title, self.threshold = scan_id, title, threshold
        self.results: list[ScanResult] = []


class _HistoryTask(QRunnable):
    """``store.scan_results`` decodes one JSON row per file: about 1 s for 20,000 rows."""

    def __init__(self, request_id: int, store: ResultsStore, load: _HistoryLoad, signals: _IoSignals) -> None:
        super().__init__()
        self.request_id, self.store, self.load, self.signals = request_id, store, load, signals

    def run(self) -> None:
        load = self.load
        try:
            results = self.store.scan_results(load.scan_id)
            if load.threshold is not None:
                results = [r.relabel(load.threshold) for r in results]
        except Exception as exc:  # a broken history must not stop the app
            log.exception("cannot read scan %s from the history", load.scan_id)
            self.signals.history_failed.emit(
                self.request_id, f"This scan cannot be read from the history ({type(exc).__name__})."
            )
            return
        load.results = results
        self.signals.history_loaded.emit(self.request_id, load)


class _CsvTask(QRunnable):
    """``write_csv`` takes about 1.2 s for 20,000 rows: never in the GUI thread."""

    def __init__(
        self, path: str, rows: list[ScanResult], include_patient: bool, signals: _IoSignals, reviews: dict | None = None
    ) -> None:
        super().__init__()
        self.path, self.rows, self.include_patient, self.signals = path, rows, include_patient, signals
        self.reviews = reviews or {}

    def run(self) -> None:
        try:
            n = write_csv(self.rows, self.path, include_patient=self.include_patient, reviews=self.reviews)
        except Exception as exc:  # a sentence for the user, the traceback for the log
            if isinstance(exc, OSError):
                log.warning("CSV export failed: %s", exc)
                message = f"The CSV file could not be written: {exc.strerror or exc}."
            else:
                log.exception("CSV export failed")
                message = f"The CSV file could not be written ({type(exc).__name__})."
            self.signals.csv_failed.emit(self.path, message)
            return
        log.info("CSV export: %d rows (patient data: %s)", n, self.include_patient)
        self.signals.csv_done.emit(self.path, n)


def _format_eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 1:
        return "almost done"
    if seconds < 90:
        return f"about {seconds:.0f} s left"
    if seconds < 5400:
        return f"about {seconds / 60:.0f} min left"
    return f"about {seconds / 3600:.1f} h left"


class MainWindow(QMainWindow):
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
        self.setWindowTitle("Pneumo Desktop")
        icon = resources_dir() / "icons" / "pneumo_desktop.png"
        if icon.is_file():
            self.setWindowIcon(QIcon(str(icon)))
        self.setAcceptDrops(True)
        self.setStyleSheet(_STYLE)
        self.settings = Settings()
        self.model_dir = str(model_dir) if model_dir else None
        self.batch_size = batch_size
        self._owns_store = store is None
        self.store = opened
        self.service = ModelService(self.store, self)
        self.model_info: ModelInfo | None = None
        self.threshold: float | None = None
        self._model_loaded = False
        self._device_before_reload: str | None = None
        self._queue: list[str] = []
        self._queue_append = False
        #: Files reported by the watched folder and not scanned yet (queued or in the running scan).
        #: The watcher reports a file once, so a cancel must not drop them.
        self._watched_pending: set[str] = set()
        self._scan_paths: list[str] = []  # what the running scan was asked to do
        self._showing_history = False  # the table shows a past scan from History
        self._live_scan_id: int | None = None  # the recorded scan the table shows live (watched arrivals join it)
        self._view_roots: list[str] = []  # what the scan in view was asked to cover (gui.watchview)
        self._history_request = 0
        self._scanning = False
        self._scan_started_at = 0.0
        self._scan_done = 0
        self._watching: str | None = None
        self._closed = False
        self._incoming: list[ScanResult] = []  # batches received but not yet shown
        self._progress: ScanProgress | None = None
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(UI_REFRESH_MS)
        self._refresh_timer.timeout.connect(self._show_incoming)

        # History loads and CSV exports: off the GUI thread, one at a time, waited for on close.
        self.io_pool = QThreadPool(self)
        self.io_pool.setMaxThreadCount(1)
        self._io = _IoSignals(self)
        self._io.history_loaded.connect(self._on_history_loaded)
        self._io.history_failed.connect(self._on_history_failed)
        self._io.csv_done.connect(self._on_csv_done)
        self._io.csv_failed.connect(self._on_csv_failed)

        self.results_model = ResultsTableModel(self)
        self.proxy = ResultsFilterProxy(self)
        self.proxy.setSourceModel(self.results_model)

        self.site = SiteController(self)  # the site profile and the threshold in force
        self._build_actions()
        self.dicom = DicomNetwork(self)  # receiving films / sending results: off unless switched on
        self._build_ui()
        self._build_menus()
        privacy.install(self)  # File > Forget patient data…, history retention (issue 16)
        self._connect_service()
        self._restore_window()
        self.refresh_history()
        self.reviews = ReviewController(self)  # Agree / Disagree, notes, review filters (gui.review)

        self._set_model_status("Loading model…", busy=True)
        self.service.load_model(self.model_dir, self.settings.device)

    # =========================================================================================
    # Construction

    def _icon(self, which: QStyle.StandardPixmap):
        return self.style().standardIcon(which)

    def _build_actions(self) -> None:
        sp = QStyle.StandardPixmap
        self.open_files_action = QAction(self._icon(sp.SP_DialogOpenButton), "Open files…", self)
        self.open_files_action.setShortcut(QKeySequence.StandardKey.Open)
        self.open_files_action.setToolTip("Open X-ray files (PNG, JPEG, DICOM…)")
        self.open_files_action.triggered.connect(self.choose_files)
        self.open_folder_action = QAction(self._icon(sp.SP_DirOpenIcon), "Open folder…", self)
        self.open_folder_action.setShortcut(QKeySequence("Ctrl+Shift+O"))
        self.open_folder_action.setToolTip("Scan every file in a folder and its subfolders")
        self.open_folder_action.triggered.connect(self.choose_folder)
        self.watch_action = QAction(self._icon(sp.SP_BrowserReload), "Watch folder…", self)
        self.watch_action.setCheckable(True)
        self.watch_action.setToolTip("Scan new files as they appear in a folder")
        self.watch_action.triggered.connect(self._on_watch_triggered)
        self.export_csv_action = QAction(self._icon(sp.SP_DialogSaveButton), "Export CSV…", self)
        self.export_csv_action.setShortcut(QKeySequence("Ctrl+E"))
        self.export_csv_action.triggered.connect(self.choose_export_csv)
        self.export_pdf_action = QAction(self._icon(sp.SP_FileDialogDetailedView), "Export PDF report…", self)
        self.export_pdf_action.setShortcut(QKeySequence.StandardKey.Print)
        self.export_pdf_action.triggered.connect(self.choose_export_pdf)
        self.preferences_action = QAction("Preferences…", self)
        self.preferences_action.setShortcut(QKeySequence.StandardKey.Preferences)
        self.preferences_action.setMenuRole(QAction.MenuRole.PreferencesRole)
        self.preferences_action.triggered.connect(self.show_preferences)
        self.quit_action = QAction("Quit", self)
        self.quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        self.quit_action.triggered.connect(self.close)
        self.cancel_action = QAction(self._icon(sp.SP_BrowserStop), "Cancel scan", self)
        self.cancel_action.setEnabled(False)
        self.cancel_action.triggered.connect(self.cancel_scan)
        self.reset_threshold_action = QAction("Reset threshold to model default", self)
        self.reset_threshold_action.setEnabled(False)
        self.reset_threshold_action.triggered.connect(self.reset_threshold)
        self.about_action = QAction("About Pneumo Desktop", self)
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)
        self.about_action.triggered.connect(self.show_about)
        self.diagnostics_action = QAction("Copy diagnostics", self)
        self.diagnostics_action.setToolTip(
            "Copy version, model, device, system and recent log lines for support"
        )
        self.diagnostics_action.triggered.connect(self.copy_diagnostics)
        self.log_folder_action = QAction("Open log folder", self)
        self.log_folder_action.triggered.connect(
            lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(log_dir())))
        )
        self.heatmap_action = QAction("Show heatmap", self)
        self.heatmap_action.setShortcut(QKeySequence("H"))
        self.heatmap_action.setCheckable(True)
        self.heatmap_action.setVisible(False)

    def _build_ui(self) -> None:
        # Toolbar.
        tb = QToolBar("Main", self)
        tb.setObjectName("mainToolbar")
        tb.setMovable(False)
        tb.setIconSize(QSize(18, 18))
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        tb.addAction(self.open_files_action)
        tb.addAction(self.open_folder_action)
        tb.addAction(self.watch_action)
        tb.addSeparator()
        tb.addAction(self.export_csv_action)
        tb.addAction(self.export_pdf_action)
        spacer = QWidget(tb)
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        tb.addWidget(spacer)
        tb.addWidget(QLabel("Threshold ", tb))
        self.threshold_spin = threshold_spin(tb)
        self.threshold_spin.setMinimum(0.0)  # shows "–" until the model (and its default) is known
        self.threshold_spin.setSpecialValueText("–")
        self.threshold_spin.setValue(0.0)
        self.threshold_spin.setEnabled(False)
        self.threshold_spin.setToolTip(
            "Probability at or above which an image is labelled Pneumonia (the site's operating point)"
        )
        self.threshold_spin.valueChanged.connect(lambda v: self.set_threshold(v / 100))
        tb.addWidget(self.threshold_spin)
        reset = QToolButton(tb)
        reset.setText("Reset")
        reset.setToolTip("Reset the threshold to the model's default")
        reset.setEnabled(False)
        reset.clicked.connect(self.reset_threshold)
        self.reset_threshold_action.enabledChanged.connect(reset.setEnabled)
        tb.addWidget(reset)
        self.addToolBar(tb)
        self.toolbar = tb

        # Results pane.
        results = QWidget(self)
        rl = QVBoxLayout(results)
        rl.setContentsMargins(10, 8, 6, 6)
        rl.setSpacing(6)
        self.summary_label = QLabel("No results yet", results)
        self.summary_label.setObjectName("summary")
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary_label.setWordWrap(True)
        self.summary_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.filter_combo = QComboBox(results)
        self.filter_combo.addItem("All results", None)
        self.filter_combo.addItem(label_icon(PNEUMONIA), "Flagged", ResultsFilterProxy.FLAGGED)
        self.filter_combo.setItemData(1, "Pneumonia or Needs review", Qt.ItemDataRole.ToolTipRole)
        for label in LABELS:
            self.filter_combo.addItem(label_icon(label), label, label)
        self.filter_combo.setToolTip("Show only results with this label")
        self.filter_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.filter_combo.setMinimumContentsLength(14)
        self.filter_combo.currentIndexChanged.connect(
            lambda _: (self.proxy.set_label_filter(self.filter_combo.currentData()), self._update_summary())
        )
        self.search_edit = QLineEdit(results)
        self.search_edit.setPlaceholderText("Search file names")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.setMaximumWidth(240)
        self.search_edit.setMinimumWidth(120)
        self.search_edit.textChanged.connect(lambda t: (self.proxy.set_search(t), self._update_summary()))
        rl.addWidget(self.summary_label)
        filters = QHBoxLayout()
        filters.addWidget(QLabel("Show", results))
        filters.addWidget(self.filter_combo)
        filters.addSpacing(8)
        filters.addWidget(self.search_edit, 1)
        filters.addStretch(1)
        rl.addLayout(filters)

        prog = QHBoxLayout()
        self.progress_bar = QProgressBar(results)
        self.progress_bar.setTextVisible(False)
        self.progress_bar.setMaximumHeight(14)
        self.progress_label = QLabel("", results)
        self.cancel_button = QPushButton(self._icon(QStyle.StandardPixmap.SP_BrowserStop), "Cancel", results)
        self.cancel_button.setToolTip("Stop after the current batch (Esc). Results so far are kept.")
        self.cancel_button.clicked.connect(self.cancel_scan)
        prog.addWidget(self.progress_bar, 1)
        prog.addWidget(self.progress_label)
        prog.addWidget(self.cancel_button)
        self.progress_row = QWidget(results)
        self.progress_row.setLayout(prog)
        prog.setContentsMargins(0, 0, 0, 0)
        self.progress_row.setVisible(False)
        rl.addWidget(self.progress_row)

        self.table = QTableView(results)
        self.table.setModel(self.proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.setShowGrid(False)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(26)
        self.table.setSortingEnabled(True)
        self.proxy.sort(-1)
        header = self.table.horizontalHeader()
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        header.setHighlightSections(False)
        header.setStretchLastSection(False)
        for col, width in ((NAME, 180), (PROBABILITY, 92), (LABEL, 122), (TIME, 58)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Interactive)
            self.table.setColumnWidth(col, width)
        self.table.setColumnHidden(TIME, True)  # room for the reason; the CSV keeps the seconds
        header.setSectionResizeMode(REASON, QHeaderView.ResizeMode.Stretch)
        self.table.selectionModel().currentRowChanged.connect(self._on_current_row)
        self.table.setAcceptDrops(False)

        self.empty_page = self._build_empty_page(results)
        self.results_stack = QStackedWidget(results)
        self.results_stack.addWidget(self.empty_page)
        self.results_stack.addWidget(self.table)
        rl.addWidget(self.results_stack, 1)
        self.results_model.rowsInserted.connect(self._on_rows_changed)
        self.results_model.modelReset.connect(self._on_rows_changed)
        self.results_model.dataChanged.connect(self._on_data_changed)

        # Viewer.
        self.viewer = ViewerPanel(self)
        self.viewer.view.setAcceptDrops(False)
        self.viewer.step_requested.connect(self.select_relative)
        self.viewer.heatmap_requested.connect(self.service.heatmap)
        self.heatmap_action.toggled.connect(self.viewer.heatmap_box.setChecked)
        self.viewer.heatmap_box.toggled.connect(self.heatmap_action.setChecked)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(results)
        self.splitter.addWidget(self.viewer)
        self.splitter.setStretchFactor(0, 5)
        self.splitter.setStretchFactor(1, 4)
        self.setCentralWidget(self.splitter)

        # History dock.
        self.history_list = QListWidget(self)
        self.history_list.setAlternatingRowColors(True)
        self.history_list.setMinimumWidth(170)
        self.history_list.setWordWrap(True)
        self.history_list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.history_list.setToolTip("Past scans, newest first. Select one to see its results.")
        self.history_list.itemActivated.connect(self._on_history_item)
        self.history_list.itemClicked.connect(self._on_history_item)
        self.history_dock = QDockWidget("History", self)
        self.history_dock.setObjectName("historyDock")
        self.history_dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetClosable | QDockWidget.DockWidgetFeature.DockWidgetMovable
        )
        self.history_dock.setWidget(self.history_list)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.history_dock)
        self.resizeDocks([self.history_dock], [190], Qt.Orientation.Horizontal)

        # Status bar.
        self.model_busy = QProgressBar(self)
        self.model_busy.setRange(0, 0)
        self.model_busy.setMaximumWidth(70)
        self.model_busy.setMaximumHeight(12)
        self.model_busy.setTextVisible(False)
        self.model_label = QLabel("", self)
        self.model_label.setObjectName("modelStatus")
        self.watch_label = QLabel("", self)
        self.watch_label.setVisible(False)
        self.statusBar().addPermanentWidget(self.watch_label)
        self.statusBar().addPermanentWidget(self.model_busy)
        self.statusBar().addPermanentWidget(self.site.label)
        self.statusBar().addPermanentWidget(self.model_label)
        self.statusBar().setSizeGripEnabled(True)

        esc = QShortcut(QKeySequence(Qt.Key.Key_Escape), self)
        esc.activated.connect(self.cancel_scan)

    def _build_empty_page(self, parent: QWidget) -> QWidget:
        page = QFrame(parent)
        page.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(page)
        layout.addStretch(2)
        title = QLabel("Screen chest X-rays for pneumonia", page)
        title.setObjectName("emptyTitle")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        text = QLabel(
            "Open PNG, JPEG or DICOM files, or a whole folder.\nYou can also drop files and folders here.",
            page,
        )
        text.setObjectName("emptyText")
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for action in (self.open_files_action, self.open_folder_action):
            b = QPushButton(action.icon(), action.text(), page)
            b.setMinimumHeight(34)
            b.clicked.connect(action.trigger)
            buttons.addWidget(b)
        buttons.addStretch(1)
        disclaimer = QLabel(DISCLAIMER, page)
        disclaimer.setObjectName("disclaimer")
        disclaimer.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(title)
        layout.addSpacing(6)
        layout.addWidget(text)
        layout.addSpacing(14)
        layout.addLayout(buttons)
        layout.addStretch(3)
        layout.addWidget(disclaimer)
        return page

    def _build_menus(self) -> None:
        mb = self.menuBar()
        file_menu = mb.addMenu("&File")
        file_menu.addAction(self.open_files_action)
        file_menu.addAction(self.open_folder_action)
        self.recent_menu = file_menu.addMenu("Recent folders")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self._fill_recent_menu()
        file_menu.addAction(self.watch_action)
        file_menu.addAction(self.dicom.settings_action)
        file_menu.addAction(self.dicom.send_action)
        file_menu.addSeparator()
        file_menu.addAction(self.export_csv_action)
        file_menu.addAction(self.export_pdf_action)
        file_menu.addSeparator()
        file_menu.addAction(self.preferences_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)

        scan_menu = mb.addMenu("&Scan")
        scan_menu.addAction(self.cancel_action)
        scan_menu.addAction(self.reset_threshold_action)
        scan_menu.addAction(self.site.action)

        view_menu = mb.addMenu("&View")
        view_menu.addAction(self.history_dock.toggleViewAction())
        view_menu.addSeparator()
        fit = view_menu.addAction("Fit image to window")
        fit.setShortcut(QKeySequence("F"))
        fit.triggered.connect(self.viewer.view.fit)
        actual = view_menu.addAction("Actual size (1:1)")
        actual.setShortcut(QKeySequence("1"))
        actual.triggered.connect(self.viewer.view.actual_size)
        reset_wl = view_menu.addAction("Reset brightness/contrast")
        reset_wl.setShortcut(QKeySequence("R"))
        reset_wl.triggered.connect(self.viewer.view.reset_window)
        view_menu.addAction(self.heatmap_action)

        help_menu = mb.addMenu("&Help")
        help_menu.addAction(self.about_action)
        help_menu.addSeparator()
        help_menu.addAction(self.diagnostics_action)
        help_menu.addAction(self.log_folder_action)

    def _connect_service(self) -> None:
        w = self.service.worker
        w.loading.connect(lambda: self._set_model_status("Loading model…", busy=True))
        w.ready.connect(self._on_model_ready)
        w.load_failed.connect(self._on_model_failed)
        w.scan_started.connect(self._on_scan_started)
        w.batch_ready.connect(self._on_batch)
        w.scan_done.connect(self._on_scan_done)
        w.heatmap_ready.connect(self.viewer.on_heatmap)
        w.heatmap_failed.connect(self.viewer.on_heatmap_failed)
        w.watch_found.connect(self._on_watch_found)
        w.watch_failed.connect(self._on_watch_failed)
        w.report_progress.connect(
            lambda i, n: self.statusBar().showMessage(f"Writing report: page {i + 1} of {n + 1}…")
        )
        w.report_done.connect(self._on_report_done)
        w.report_failed.connect(self._on_report_failed)

    def _restore_window(self) -> None:
        geometry, state, splitter = self.settings.window_state()
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1280, 800)
            screen = QGuiApplication.primaryScreen()
            if screen is not None:
                avail = screen.availableGeometry()
                self.resize(min(1280, avail.width()), min(800, avail.height()))
        if state is not None:
            self.restoreState(state)
        if splitter is None or not self.splitter.restoreState(splitter):
            self.splitter.setSizes([640, 450])

    # =========================================================================================
    # Model

    @property
    def is_model_ready(self) -> bool:
        return self._model_loaded

    def _set_model_status(self, text: str, busy: bool = False, error: bool = False) -> None:
        self.model_label.setText(text)
        self.model_label.setStyleSheet("color: #b03a2e; font-weight: 600;" if error else "")
        self.model_busy.setVisible(busy)

    def _on_model_ready(self, info: ModelInfo) -> None:
        if self._closed:
            return
        self._device_before_reload = None
        self.model_info = info
        self._model_loaded = True
        self._set_model_status(f"Model {info.title} ready on {info.device_name}")
        self.model_label.setToolTip(f"Model folder: {info.folder}")
        saved = self.settings.threshold(info.title)
        self.threshold_spin.blockSignals(True)
        self.threshold_spin.setSpecialValueText("")
        self.threshold_spin.setMinimum(0.1)
        self.threshold_spin.blockSignals(False)
        self.threshold_spin.setEnabled(True)
        self.reset_threshold_action.setEnabled(True)
        self.set_threshold(self.site.threshold_on_load(info, saved), remember=False)
        self.viewer.set_heatmaps_available(info.heatmaps)
        self.viewer.set_card_threshold(info.threshold)
        self.heatmap_action.setVisible(info.heatmaps)
        log.info("model ready: %s on %s (heatmaps: %s)", info.title, info.device_name, info.heatmaps)
        self.model_ready.emit(info)
        self._dispatch()

    def _on_model_failed(self, message: str, previous_in_use: bool) -> None:
        if self._closed:
            return
        if previous_in_use and self.model_info is not None:
            self._model_loaded = True
            self._set_model_status(f"Model {self.model_info.title} ready on {self.model_info.device_name}")
            detail = f"The model already loaded stays in use on {self.model_info.device_name}."
            if self._device_before_reload is not None:  # keep the device setting that works
                self.settings.device = self._device_before_reload
        else:
            self._model_loaded = False
            self._set_model_status("Model not available", error=True)
            detail = "You can still look at past results in History, but new files cannot be screened."
        self.model_label.setToolTip(message)
        self._warn("Model not loaded", "The screening model could not be loaded.", f"{message}\n\n{detail}")
        self.model_failed.emit(message)
        self._dispatch()

    def _warn(self, title: str, text: str, detail: str = "") -> None:
        """A warning that does not block the event loop (scans and the model thread carry on)."""
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, self)
        if detail:
            box.setInformativeText(detail)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    # =========================================================================================
    # Threshold

    def set_threshold(self, value: float, remember: bool = True) -> None:
        """Relabel every row at this operating point (no model run) and remember it."""
        value = round(float(value), 4)
        if not 0.0 < value < 1.0:
            return
        changed = value != self.threshold
        self.threshold = value
        if abs(self.threshold_spin.value() - value * 100) > 1e-6:
            self.threshold_spin.blockSignals(True)
            self.threshold_spin.setValue(value * 100)
            self.threshold_spin.blockSignals(False)
        if remember and self.model_info is not None:
            self.settings.set_threshold(self.model_info.title, value)
        if changed:
            self.results_model.relabel(value)
        self.site.refresh()
        default = self.site.default_value()
        self.threshold_spin.setStyleSheet(
            "" if default is None or abs(default - value) < 1e-9 else "font-weight: 600;"
        )

    def threshold_source(self) -> str:
        """Where the threshold in force comes from, in words (core.threshold decides, via the site
        controller: the user's own > the site profile's > the model card's)."""
        in_force = self.site.in_force
        if in_force is None or in_force.source == CARD:
            return "model card"
        if in_force.source == SITE and in_force.profile is not None:
            return f"site profile {in_force.profile.label}"
        return "set by the user"

    def reset_threshold(self) -> None:
        if self.model_info is None:
            return
        self.settings.set_threshold(self.model_info.title, None)
        self.set_threshold(self.site.default_value(), remember=False)
        self.statusBar().showMessage(f"Threshold reset: {self.site.describe()}", 5000)

    # =========================================================================================
    # Opening and scanning

    def open_paths(self, paths: Iterable[str | os.PathLike[str]], append: bool = False) -> None:
        """Scan files and folders (recursively). Queued until the model is ready or the scan ends."""
        items = [str(p) for p in paths if str(p)]
        if not items:
            return
        if not append:  # a user's choice (watched-folder arrivals are not)
            for folder in (p for p in items if os.path.isdir(p)):
                self.settings.add_recent_folder(folder)
            first = items[0]
            self.settings.set_last_dir(first if os.path.isdir(first) else os.path.dirname(first))
        if not self._queue:
            self._queue_append = append or self._scanning
        self._queue.extend(items)
        if not self._model_loaded:
            n = len(self._queue)
            self.statusBar().showMessage(
                f"{n} {'item' if n == 1 else 'items'} will be scanned as soon as the model is ready."
            )
        self._dispatch()

    def _dispatch(self) -> None:
        if (
            self._closed
            or self._scanning
            or not self._queue
            or not self._model_loaded
            or self.threshold is None
        ):
            return
        paths, append = self._queue, self._queue_append
        self._queue, self._queue_append = [], False
        self.statusBar().clearMessage()  # e.g. "will be scanned as soon as the model is ready"
        if self._showing_history:  # never mix new results into a past scan shown from History
            append = False
        elif append and not arrivals_join_view(
            [p for p in paths if p in self._watched_pending], self._view_roots, self._watching
        ):  # nor watched-folder files into a scan of another folder
            append = False
        if not append:
            self.results_model.clear()
            self.viewer.clear()
            self.history_list.clearSelection()
            self.setWindowTitle(f"Pneumo Desktop — {_describe_roots(paths)}")
            self._showing_history = False
            self._live_scan_id = None
            self._view_roots = list(paths)
        self._history_request += 1  # a History load still in flight must not replace this scan
        self._scan_paths = list(paths)
        self._scanning = True
        self._scan_started_at = time.perf_counter()
        self._scan_done = 0
        self.history_list.setEnabled(False)
        self.cancel_action.setEnabled(True)
        self.cancel_button.setEnabled(True)
        self.progress_bar.setRange(0, 0)
        self.progress_label.setText("Preparing…")
        self.progress_row.setVisible(True)
        self.results_stack.setCurrentWidget(self.table)
        log.info("scan requested: %d path(s)", len(paths))
        # Watched arrivals appended to the live view also join its History entry.
        self.service.scan(paths, self.threshold, self.batch_size, append_to=self._live_scan_id if append else None)

    @property
    def is_scanning(self) -> bool:
        return self._scanning

    def cancel_scan(self) -> None:
        """Stop the running scan after its batch and drop what the user queued.

        Files from the watched folder stay queued: the watcher reports each file once, so dropping
        them would leave them unscanned for good. (To stop those, stop watching.)
        """
        if not self._scanning:
            return
        self.service.cancel()
        kept = [p for p in self._queue if p in self._watched_pending]
        dropped = len(self._queue) - len(kept)
        self._queue = kept
        self.cancel_button.setEnabled(False)
        self.cancel_action.setEnabled(False)
        self.progress_label.setText("Cancelling after this batch…")
        if dropped:
            log.info("cancel: %d queued item(s) dropped", dropped)
        if kept:
            log.info("cancel: %d file(s) from the watched folder stay queued", len(kept))

    def _on_scan_started(self, total: int) -> None:
        if self._closed:
            return
        self.progress_bar.setRange(0, max(total, 1))
        self.progress_bar.setValue(0)
        self.progress_label.setText(f"0 of {total}")

    def _on_batch(self, batch: list[ScanResult], progress: ScanProgress) -> None:
        """Batches are collected and shown at most every UI_REFRESH_MS: repaints stay few and cheap."""
        if self._closed:
            return
        self._incoming.extend(batch)
        self._progress = progress
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()

    def _show_incoming(self) -> None:
        self._refresh_timer.stop()
        batch, self._incoming = self._incoming, []
        if self._watched_pending:
            self._watched_pending.difference_update(r.path for r in batch)
        t = self.threshold
        if t is not None:
            batch = [r.relabel(t) for r in batch]
        first = self.results_model.rowCount() == 0
        self.results_model.append(batch)
        progress = self._progress
        if progress is not None:
            self._scan_done = progress.done
            self.progress_bar.setRange(0, max(progress.total, 1))
            self.progress_bar.setValue(progress.done)
            if self.cancel_button.isEnabled():
                eta = _format_eta(progress.eta)
                self.progress_label.setText(
                    f"{progress.done} of {progress.total}" + (f" · {eta}" if eta else "")
                )
        if first and batch and not self.table.currentIndex().isValid():
            self.select_row(0)

    def _on_scan_done(self, state: str, scan_id: int | None, message: str) -> None:
        if self._closed:
            return
        if scan_id is not None:
            self._live_scan_id = scan_id
        self._show_incoming()
        self._scanning = False
        self._progress = None
        # Watched files the scan did not reach: scanned next after a cancel (the watcher will not
        # report them again); forgotten after a failure, which the user is told about.
        unscanned = [p for p in self._scan_paths if p in self._watched_pending]
        self._scan_paths = []
        if unscanned and state == "cancelled":
            if not self._queue:
                self._queue_append = True
            self._queue[:0] = [p for p in unscanned if p not in self._queue]
        elif unscanned:
            self._watched_pending.difference_update(unscanned)
        seconds = time.perf_counter() - self._scan_started_at
        self.progress_row.setVisible(False)
        self.cancel_action.setEnabled(False)
        self.history_list.setEnabled(True)
        n = self._scan_done
        if state == "finished":
            self.statusBar().showMessage(
                f"Scan finished: {n} {'file' if n == 1 else 'files'} in {seconds:.1f} s", 10000
            )
        elif state == "cancelled":
            waiting = sum(p in self._watched_pending for p in self._queue)
            self.statusBar().showMessage(
                f"Scan cancelled after {n} files. Their results are saved."
                + (f" {waiting} new files from the watched folder will still be scanned." if waiting else ""),
                10000,
            )
        else:
            self.statusBar().showMessage(message, 10000)
            self._warn("Scan stopped", message, "The results so far are saved. Details are in the log file.")
        self.refresh_history(select=scan_id)
        self._update_summary()
        log.info("scan %s (id %s): %d files in %.1f s", state, scan_id, n, seconds)
        self.scan_finished.emit(state)
        self._dispatch()  # what is still queued (after a cancel: files from the watched folder)

    # -- dialogs for opening -------------------------------------------------------------------
    def choose_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self, "Open X-ray files", self.settings.last_dir(), FILE_FILTER
        )
        if files:
            self.open_paths(files)

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of X-rays", self.settings.last_dir())
        if folder:
            self.open_paths([folder])

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        folders = self.settings.recent_folders()
        for folder in folders:
            action = self.recent_menu.addAction(self._icon(QStyle.StandardPixmap.SP_DirIcon), folder)
            action.triggered.connect(lambda _=False, f=folder: self._open_recent(f))
        if folders:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list", self.settings.clear_recent_folders)
        else:
            self.recent_menu.addAction("No recent folders").setEnabled(False)

    def _open_recent(self, folder: str) -> None:
        if not os.path.isdir(folder):
            QMessageBox.information(
                self, "Folder not found", f"The folder {folder} no longer exists or is not reachable."
            )
            return
        self.open_paths([folder])

    # -- drag and drop --------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)
        else:
            event.ignore()

    # -- watch folder ---------------------------------------------------------------------------
    def _on_watch_triggered(self, checked: bool) -> None:
        if not checked:
            self.stop_watch()
            return
        folder = QFileDialog.getExistingDirectory(
            self, "Watch a folder for new X-rays", self.settings.last_dir()
        )
        if folder:
            self.start_watch(folder)
        else:
            self.watch_action.setChecked(False)

    def start_watch(self, folder: str | os.PathLike[str]) -> None:
        """Scan files that appear in ``folder`` from now on (polled every 2 s in the model thread)."""
        folder = str(folder)
        self._watching = folder
        self.service.watch([folder])
        self.watch_action.setChecked(True)
        self.watch_label.setText(f"Watching {Path(folder).name or folder}")
        self.watch_label.setToolTip(folder)
        self.watch_label.setVisible(True)
        self.settings.add_recent_folder(folder)
        self.statusBar().showMessage(f"New files in {folder} will be scanned as they arrive.", 8000)

    def stop_watch(self) -> None:
        if self._watching is None:
            return
        folder, self._watching = self._watching, None
        self.service.unwatch()
        self.watch_action.setChecked(False)
        self.watch_label.setVisible(False)
        # Stopping the watch is how the user stops its files: queued ones go, and a cancel of the
        # running scan no longer puts them back. (Films from the DICOM receiver stay.)
        dropped = {p for p in self._watched_pending if Path(p).is_relative_to(folder)}
        self._queue = [p for p in self._queue if p not in dropped]
        self._watched_pending -= dropped

    def _on_watch_found(self, paths: list[str]) -> None:
        if self._closed or self._watching is None:
            return
        self.statusBar().showMessage(
            f"{len(paths)} new {'file' if len(paths) == 1 else 'files'} in the watched folder", 5000
        )
        self.scan_arrivals(paths)

    def scan_arrivals(self, paths: list[str]) -> None:
        """Films that arrived (watched folder, DICOM receiver): they join the scan in view and,
        reported only once, stay queued through a cancel."""
        self._watched_pending.update(str(p) for p in paths)
        self.open_paths(paths, append=True)  # a fresh view instead when the table shows History

    def _on_watch_failed(self, message: str) -> None:
        self.stop_watch()
        self._warn("Cannot watch folder", message)

    # =========================================================================================
    # Table and viewer

    def _on_rows_changed(self, *args: object) -> None:
        has_rows = self.results_model.rowCount() > 0
        self.results_stack.setCurrentWidget(self.table if has_rows or self._scanning else self.empty_page)
        self._update_summary()

    def _on_data_changed(self, *args: object) -> None:
        self._update_summary()
        current = self.current_result()
        if current is not None:
            self.viewer.show_result(current)

    def _update_summary(self) -> None:
        c = self.results_model.counts()
        total = c["total"]
        if total == 0:
            self.summary_label.setText("Scanning…" if self._scanning else "No results yet")
            return
        parts = ", ".join(f"{c[label]} {label}" for label in LABELS)
        text = f"{total} {'file' if total == 1 else 'files'}: {parts}"
        shown = self.proxy.rowCount()
        if shown != total:
            text += f"  (showing {shown})"
        self.summary_label.setText(text)

    def current_result(self) -> ScanResult | None:
        index = self.table.currentIndex()
        return self.proxy.data(index, RESULT_ROLE) if index.isValid() else None

    def _on_current_row(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self.viewer.show_result(self.proxy.data(current, RESULT_ROLE) if current.isValid() else None)

    def select_row(self, row: int) -> None:
        """Select a row of the table as shown (sorted/filtered)."""
        if not 0 <= row < self.proxy.rowCount():
            return
        index = self.proxy.index(row, NAME)
        self.table.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        )
        self.table.scrollTo(index)

    def select_relative(self, delta: int) -> None:
        current = self.table.currentIndex()
        row = current.row() + delta if current.isValid() else 0
        self.select_row(max(0, min(row, self.proxy.rowCount() - 1)))

    # =========================================================================================
    # History

    def refresh_history(self, select: int | None = None) -> None:
        try:
            records = self.store.scans(limit=200)
        except Exception:  # a broken history must not stop the app
            log.exception("cannot read the scan history")
            records = []
        self.history_list.blockSignals(True)
        self.history_list.clear()
        for rec in records:
            self.history_list.addItem(self._history_item(rec))
            if rec.id == select:
                self.history_list.setCurrentRow(self.history_list.count() - 1)
        if not records:
            empty = QListWidgetItem("No scans yet.\nPast scans appear here.")
            empty.setFlags(Qt.ItemFlag.NoItemFlags)
            self.history_list.addItem(empty)
        self.history_list.blockSignals(False)

    def _history_item(self, rec: ScanRecord) -> QListWidgetItem:
        started = _dt.datetime.fromtimestamp(rec.started)
        state = {"cancelled": " · cancelled", "interrupted": " · interrupted", "running": " · interrupted"}.get(rec.state, "")
        text = f"{started:%d %b %Y, %H:%M}\n{_describe_roots(rec.roots)} · {rec.count} {'file' if rec.count == 1 else 'files'}{state}"
        item = QListWidgetItem(text)
        item.setData(Qt.ItemDataRole.UserRole, rec.id)
        item.setData(Qt.ItemDataRole.UserRole + 1, _describe_roots(rec.roots))
        item.setToolTip("\n".join(rec.roots[:20]) + ("\n…" if len(rec.roots) > 20 else ""))
        return item

    def _on_history_item(self, item: QListWidgetItem) -> None:
        scan_id = item.data(Qt.ItemDataRole.UserRole)
        if scan_id is not None:
            self.load_history(int(scan_id), item.data(Qt.ItemDataRole.UserRole + 1))

    def load_history(self, scan_id: int, title: str | None = None) -> None:
        """Show the results of a past scan (from the store; no model run).

        The rows are read and decoded in the I/O pool; ``history_loaded`` follows when they are shown.
        """
        if self._scanning or self._closed:
            return
        self._history_request += 1
        self.statusBar().showMessage("Loading the scan from History…")
        self.io_pool.start(
            _HistoryTask(
                self._history_request, self.store, _HistoryLoad(scan_id, title, self.threshold), self._io
            )
        )

    def _on_history_loaded(self, request_id: int, load: _HistoryLoad) -> None:
        if self._closed or request_id != self._history_request or self._scanning:
            return  # another History item was picked, or a scan started meanwhile
        results = load.results
        self.viewer.clear()
        self.results_model.set_results(results)
        if self.threshold is not None and self.threshold != load.threshold:  # changed while loading
            self.results_model.relabel(self.threshold)
        self._live_scan_id = None
        self._showing_history = True
        self._view_roots = []
        if load.title:
            self.setWindowTitle(f"Pneumo Desktop — {load.title}")
        self.results_stack.setCurrentWidget(self.table if results else self.empty_page)
        if results:
            self.select_row(0)
        self.statusBar().clearMessage()
        self.history_loaded.emit(load.scan_id)

    def _on_history_failed(self, request_id: int, message: str) -> None:
        if self._closed or request_id != self._history_request:
            return
        self.statusBar().showMessage(message, 10000)

    # =========================================================================================
    # Export

    def _export_rows(self, only_shown: bool) -> list[ScanResult]:
        return self.proxy.visible_results() if only_shown else self.results_model.results

    def export_csv(
        self, path: str | os.PathLike[str], only_shown: bool = False, include_patient: bool = False
    ) -> None:
        """Write the table as CSV (UTF-8 with header) in the I/O pool.

        ``csv_finished(path, rows)`` or ``csv_failed(message)`` follows.
        """
        rows = self._export_rows(only_shown)  # a snapshot: the table may change while it is written
        self.statusBar().showMessage(f"Exporting {len(rows)} rows…")
        self.io_pool.start(_CsvTask(str(path), rows, include_patient, self._io, self.results_model.reviews()))

    def _on_csv_done(self, path: str, n: int) -> None:
        if self._closed:
            return
        self.statusBar().showMessage(f"Exported {n} rows to {path}", 8000)
        self.csv_finished.emit(path, n)

    def _on_csv_failed(self, path: str, message: str) -> None:
        if self._closed:
            return
        self.statusBar().showMessage(message, 8000)
        self.csv_failed.emit(message)
        self._warn("Export failed", message)

    def export_pdf(
        self, path: str | os.PathLike[str], only_shown: bool = False, include_patient: bool = False
    ) -> None:
        """Write the PDF report in the model thread; ``report_finished`` or ``report_failed`` follows."""
        self.statusBar().showMessage("Writing report…")
        self.service.write_report(
            ReportRequest(
                path=str(path),
                results=self._export_rows(only_shown),
                include_patient=include_patient,
                threshold=self.threshold if self.threshold is not None else 0.5,
                threshold_source=self.threshold_source(),
                reviews=self.results_model.reviews(),
                threshold_note=self.site.describe(),
            )
        )

    def _ask_export(self, kind: str) -> tuple[str, ExportDialog] | None:
        total = self.results_model.rowCount()
        if total == 0:
            QMessageBox.information(
                self, "Nothing to export", "Scan some files first, or pick a scan in History."
            )
            return None
        dialog = ExportDialog(kind, total, self.proxy.rowCount(), self)
        if dialog.exec() != ExportDialog.DialogCode.Accepted:
            return None
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M")
        suffix, flt = (".pdf", "PDF report (*.pdf)") if kind == "pdf" else (".csv", "CSV file (*.csv)")
        folder = default_report_dir() if kind == "pdf" else Path(self.settings.last_dir() or Path.home())
        if kind == "pdf":  # in the documents folder, never next to the X-rays
            folder.mkdir(parents=True, exist_ok=True)
        default = str(folder / f"pneumo-{'report' if kind == 'pdf' else 'results'}-{stamp}{suffix}")
        path, _ = QFileDialog.getSaveFileName(self, dialog.windowTitle(), default, flt)
        if not path:
            return None
        if not path.lower().endswith(suffix):
            path += suffix
        return path, dialog

    def choose_export_csv(self) -> None:
        choice = self._ask_export("csv")
        if choice is None:
            return
        path, dialog = choice
        self.export_csv(path, dialog.only_shown, dialog.include_patient)

    def choose_export_pdf(self) -> None:
        choice = self._ask_export("pdf")
        if choice is not None:
            path, dialog = choice
            self.export_pdf(path, dialog.only_shown, dialog.include_patient)

    def _on_report_done(self, path: str) -> None:
        if self._closed:
            return
        self.statusBar().showMessage(f"Report saved to {path}", 8000)
        self.report_finished.emit(path)

    def _on_report_failed(self, message: str) -> None:
        if self._closed:
            return
        self.statusBar().showMessage(message, 8000)
        self.report_failed.emit(message)
        self._warn("Report not written", message)

    # =========================================================================================
    # Dialogs

    def preferences_dialog(self) -> PreferencesDialog:
        info = self.model_info
        return PreferencesDialog(
            device=self.settings.device,
            threshold=self.threshold if self.threshold is not None else (info.threshold if info else 0.5),
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
        """Load the model again (e.g. on another device) in the model thread."""
        self._model_loaded = False
        self._set_model_status("Loading model…", busy=True)
        self.service.load_model(self.model_dir, self.settings.device)

    def show_about(self) -> None:
        AboutDialog(self.model_info, self).exec()

    def copy_diagnostics(self) -> str:
        info = self.model_info
        text = diagnostics_text(
            model=info.title if info else "",
            device=info.device_name if info else "",
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
        """Cancel the scan, stop the model thread and the image loaders, and wait for them."""
        if self._closed:
            return
        self._closed = True
        self._queue = []
        self.dicom.shutdown()  # no more arrivals; a send in progress finishes
        self.service.shutdown()
        self.viewer.shutdown()
        self.io_pool.waitForDone()  # a CSV export being written finishes, and before the store closes
        if self._owns_store:
            self.store.close()
        log.info("window closed")
