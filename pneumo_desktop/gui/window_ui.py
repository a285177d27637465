"""The window's widgets (the layout only, like a Designer ``Ui_`` class): toolbar, results pane with
its filters, progress row and table, the viewer, the History dock and the status bar. Behaviour
lives in :mod:`.main_window` and its controllers; actions come from :mod:`.actions`."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction, QGuiApplication, QIcon, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDockWidget,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QMainWindow,
    QMenu,
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

from ..core.paths import resources_dir
from ..core.results import LABELS, PNEUMONIA
from .dialogs import DISCLAIMER, threshold_spin
from .table import LABEL, NAME, PROBABILITY, REASON, TIME, ResultsFilterProxy, ResultsTableModel, label_icon
from .viewer import ViewerPanel

FILE_FILTER = "X-ray images (*.png *.jpg *.jpeg *.dcm *.dicom *.dic DICOMDIR dicomdir *.tif *.tiff *.bmp);;All files (*)"
STYLE = """
QLabel#summary { font-size: 14px; font-weight: 600; padding: 2px 0; }
QLabel#emptyTitle { font-size: 20px; font-weight: 600; }
QLabel#emptyText, QLabel#disclaimer { color: palette(mid); }
QFrame#details { border-top: 1px solid palette(midlight); }
QLabel#modelStatus { padding: 0 6px; }
"""


class WindowUi(QMainWindow):
    """Builds the widgets as attributes; signals are connected by the window."""

    results_model: ResultsTableModel
    proxy: ResultsFilterProxy
    recent_menu: QMenu  # File > Recent folders (gui.scan_controller fills it)
    # Made by actions.build_actions from its table:
    open_files_action: QAction
    open_folder_action: QAction
    watch_action: QAction
    export_csv_action: QAction
    export_pdf_action: QAction
    preferences_action: QAction
    quit_action: QAction
    cancel_action: QAction
    reset_threshold_action: QAction
    fit_action: QAction
    actual_size_action: QAction
    reset_window_action: QAction
    heatmap_action: QAction
    about_action: QAction
    diagnostics_action: QAction
    log_folder_action: QAction

    def _setup_window(self) -> None:
        self.setWindowTitle("Pneumo Desktop")
        icon = resources_dir() / "icons" / "pneumo_desktop.png"
        if icon.is_file():
            self.setWindowIcon(QIcon(str(icon)))
        self.setAcceptDrops(True)
        self.setStyleSheet(STYLE)
        self.results_model = ResultsTableModel(self)
        self.proxy = ResultsFilterProxy(self)
        self.proxy.setSourceModel(self.results_model)

    def _build_toolbar(self) -> QToolBar:
        tb = QToolBar("Main", self)
        tb.setObjectName("mainToolbar")
        tb.setMovable(False)
        tb.setIconSize(QSize(18, 18))
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.addToolBar(tb)
        self.toolbar = tb
        return tb

    def _build_threshold_box(self, tb: QToolBar) -> None:
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
        tb.addWidget(self.threshold_spin)
        self.reset_button = QToolButton(tb)
        self.reset_button.setText("Reset")
        self.reset_button.setToolTip("Reset the threshold to the model's default")
        self.reset_button.setEnabled(False)
        tb.addWidget(self.reset_button)

    def _build_results(self) -> QWidget:
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
        self.filter_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.filter_combo.setMinimumContentsLength(14)
        self.search_edit = QLineEdit(results)
        self.search_edit.setPlaceholderText("Search file names")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.setMaximumWidth(240)
        self.search_edit.setMinimumWidth(120)
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
        stop = self.style().standardIcon(QStyle.StandardPixmap.SP_BrowserStop)
        self.cancel_button = QPushButton(stop, "Cancel", results)
        self.cancel_button.setToolTip("Stop after the current batch (Esc). Results so far are kept.")
        prog.addWidget(self.progress_bar, 1)
        prog.addWidget(self.progress_label)
        prog.addWidget(self.cancel_button)
        self.progress_row = QWidget(results)
        self.progress_row.setLayout(prog)
        prog.setContentsMargins(0, 0, 0, 0)
        self.progress_row.setVisible(False)
        rl.addWidget(self.progress_row)

        self.table = self._build_table(results)
        self.empty_page = self._build_empty_page(results)
        self.results_stack = QStackedWidget(results)
        self.results_stack.addWidget(self.empty_page)
        self.results_stack.addWidget(self.table)
        rl.addWidget(self.results_stack, 1)
        return results

    def _build_table(self, parent: QWidget) -> QTableView:
        table = QTableView(parent)
        table.setModel(self.proxy)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setAlternatingRowColors(True)
        table.setWordWrap(False)
        table.setTextElideMode(Qt.TextElideMode.ElideRight)
        table.setShowGrid(False)
        table.verticalHeader().setVisible(False)
        table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        table.verticalHeader().setDefaultSectionSize(26)
        table.setSortingEnabled(True)
        self.proxy.sort(-1)
        header = table.horizontalHeader()
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        header.setHighlightSections(False)
        header.setStretchLastSection(False)
        for col, width in ((NAME, 180), (PROBABILITY, 92), (LABEL, 122), (TIME, 58)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Interactive)
            table.setColumnWidth(col, width)
        table.setColumnHidden(TIME, True)  # room for the reason; the CSV keeps the seconds
        header.setSectionResizeMode(REASON, QHeaderView.ResizeMode.Stretch)
        table.setAcceptDrops(False)
        return table

    def _build_empty_page(self, parent: QWidget) -> QWidget:
        page = QFrame(parent)
        page.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(page)
        layout.addStretch(2)
        title = QLabel("Screen chest X-rays for pneumonia", page)
        title.setObjectName("emptyTitle")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        text = QLabel(
            "Open PNG, JPEG or DICOM files, or a whole folder.\nYou can also drop files and folders here.", page
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

    def _build_viewer_and_dock(self, results: QWidget) -> None:
        self.viewer = ViewerPanel(self)
        self.viewer.view.setAcceptDrops(False)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(results)
        self.splitter.addWidget(self.viewer)
        self.splitter.setStretchFactor(0, 5)
        self.splitter.setStretchFactor(1, 4)
        self.setCentralWidget(self.splitter)

        self.history_list = QListWidget(self)
        self.history_list.setAlternatingRowColors(True)
        self.history_list.setMinimumWidth(170)
        self.history_list.setWordWrap(True)
        self.history_list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.history_list.setToolTip("Past scans, newest first. Select one to see its results.")
        self.history_dock = QDockWidget("History", self)
        self.history_dock.setObjectName("historyDock")
        self.history_dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetClosable | QDockWidget.DockWidgetFeature.DockWidgetMovable
        )
        self.history_dock.setWidget(self.history_list)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.history_dock)
        self.resizeDocks([self.history_dock], [190], Qt.Orientation.Horizontal)

    def _build_status_bar(self, site_label: QLabel) -> None:
        self.model_busy = QProgressBar(self)
        self.model_busy.setRange(0, 0)
        self.model_busy.setMaximumWidth(70)
        self.model_busy.setMaximumHeight(12)
        self.model_busy.setTextVisible(False)
        self.model_label = QLabel("", self)
        self.model_label.setObjectName("modelStatus")
        self.watch_label = QLabel("", self)
        self.watch_label.setVisible(False)
        for widget in (self.watch_label, self.model_busy, site_label, self.model_label):
            self.statusBar().addPermanentWidget(widget)
        self.statusBar().setSizeGripEnabled(True)
        self.escape = QShortcut(QKeySequence(Qt.Key.Key_Escape), self)

    def _restore_window(self, geometry: object, state: object, splitter: object) -> None:
        if geometry is None or not self.restoreGeometry(geometry):  # type: ignore[arg-type]
            self.resize(1280, 800)
            screen = QGuiApplication.primaryScreen()
            if screen is not None:
                avail = screen.availableGeometry()
                self.resize(min(1280, avail.width()), min(800, avail.height()))
        if state is not None:
            self.restoreState(state)  # type: ignore[arg-type]
        if splitter is None or not self.splitter.restoreState(splitter):  # type: ignore[arg-type]
            self.splitter.setSizes([640, 450])
