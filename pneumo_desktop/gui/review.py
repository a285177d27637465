"""The review workflow in the window: Agree / Disagree (with the clinician's own call) and a note
for the film in view, keyboard shortcuts, the review filters, and the reviewer's name (asked once,
kept in the settings). Reviews are appended to the store (:mod:`pneumo_desktop.core.review`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..core import wording
from ..core.results import NORMAL, PNEUMONIA, ScanResult
from ..core.review import Review, ReviewError, add_review, latest_reviews, reviewable
from .table import REVIEW, ResultsFilterProxy

if TYPE_CHECKING:
    from .main_window import MainWindow

log = logging.getLogger(__name__)

NOT_REVIEWABLE = "Only films the model judged (Pneumonia or Normal) can be agreed or disagreed with."


class ReviewPanel(QFrame):
    """Below the viewer's details: the review state of the film in view and the buttons to change it."""

    agree_requested = Signal()
    disagree_requested = Signal(str)  # the clinician's call
    note_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("reviewPanel")
        self.setStyleSheet("QFrame#reviewPanel { border-top: 1px solid palette(midlight); }")
        self.status_label = QLabel("", self)
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        self.status_label.setWordWrap(True)
        self.status_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.agree_button = QToolButton(self)
        self.agree_button.setText("Agree (A)")
        self.agree_button.setToolTip("I agree with the model's label for this film (A)")
        self.disagree_button = QToolButton(self)
        self.disagree_button.setText("Disagree (D)")
        self.disagree_button.setToolTip("I disagree: choose my own call (D, then P, N or C)")
        self.disagree_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.disagree_menu = QMenu(self.disagree_button)
        for call, text in (
            (PNEUMONIA, "My call: &Pneumonia"),
            (NORMAL, "My call: &Normal"),
            ("Cannot tell", "My call: &Cannot tell from this film"),
        ):
            action = self.disagree_menu.addAction(text)
            action.setData(call)
            action.triggered.connect(lambda _=False, c=call: self.disagree_requested.emit(c))
        self.disagree_button.setMenu(self.disagree_menu)
        self.note_edit = QLineEdit(self)
        self.note_edit.setPlaceholderText(
            "Optional note (N), saved with the review; Enter saves a changed note"
        )
        self.note_edit.returnPressed.connect(self.note_requested)
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.addWidget(QLabel("Review", self))
        buttons.addWidget(self.agree_button)
        buttons.addWidget(self.disagree_button)
        buttons.addWidget(self.note_edit, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.setSpacing(3)
        layout.addLayout(buttons)
        layout.addWidget(self.status_label)
        self.agree_button.clicked.connect(self.agree_requested)
        self.show_state(None, None)

    def show_state(self, result: ScanResult | None, review: Review | None) -> None:
        enabled = result is not None and reviewable(result)
        for w in (self.agree_button, self.disagree_button, self.note_edit):
            w.setEnabled(enabled)
        if result is None:
            self.status_label.setText("")
        elif not enabled:
            self.status_label.setText(NOT_REVIEWABLE)
        else:
            self.status_label.setText(review.status if review else wording.review_status(None))
        self.note_edit.setText(review.note if review is not None and enabled else "")


class ReviewController(QObject):
    """Wires the review panel, its shortcuts, the filters and the store into the window."""

    review_added = Signal(object)  # Review

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.panel = ReviewPanel(window.viewer)
        window.viewer.set_review_panel(self.panel)
        self.panel.agree_requested.connect(lambda: self.review(wording.AGREE))
        self.panel.disagree_requested.connect(lambda call: self.review(wording.DISAGREE, call))
        self.panel.note_requested.connect(self.save_note)
        window.viewer.result_shown.connect(self._refresh)

        self.agree_action = QAction("Agree with the model", window)
        self.agree_action.setShortcut(QKeySequence("A"))
        self.agree_action.triggered.connect(lambda: self.review(wording.AGREE))
        self.disagree_action = QAction("Disagree…", window)
        self.disagree_action.setShortcut(QKeySequence("D"))
        self.disagree_action.triggered.connect(self._open_disagree_menu)
        self.note_action = QAction("Write a note", window)
        self.note_action.setShortcut(QKeySequence("N"))
        self.note_action.triggered.connect(
            lambda: self.panel.note_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        )
        self.reviewer_action = QAction("Reviewer name…", window)
        self.reviewer_action.triggered.connect(self.ask_reviewer)
        menu = window.menuBar().addMenu("&Review")
        for action in (self.agree_action, self.disagree_action, self.note_action):
            menu.addAction(action)
            window.addAction(action)  # shortcuts work wherever the focus is in the window
        menu.addSeparator()
        menu.addAction(self.reviewer_action)

        header = window.table.horizontalHeader()
        header.setSectionResizeMode(REVIEW, QHeaderView.ResizeMode.Interactive)
        window.table.setColumnWidth(REVIEW, 130)
        combo = window.filter_combo
        combo.insertItem(2, "Not yet reviewed", ResultsFilterProxy.UNREVIEWED)
        combo.setItemData(2, "Judged films nobody has reviewed yet", Qt.ItemDataRole.ToolTipRole)
        combo.insertItem(3, "Disagreements", ResultsFilterProxy.DISAGREEMENTS)
        combo.setItemData(3, "Films where the reviewer disagreed with the model", Qt.ItemDataRole.ToolTipRole)
        try:
            window.results_model.set_reviews(latest_reviews(window.store))
        except Exception:  # the app works without past reviews; the log says why
            log.exception("cannot read the reviews")

    # -- actions ------------------------------------------------------------------------------
    def set_filter(self, value: str | None) -> None:
        combo = self.window.filter_combo
        combo.setCurrentIndex(max(0, combo.findData(value)))

    def ask_reviewer(self) -> str:
        name, ok = QInputDialog.getText(
            self.window,
            "Reviewer name",
            "Your name, as it should appear with your reviews and in the report:",
            text=self.window.settings.reviewer,
        )
        if ok and name.strip():
            self.window.settings.reviewer = name.strip()
        return self.window.settings.reviewer

    def review(self, decision: str, call: str = "") -> Review | None:
        """Record a review of the film in view (appended; earlier ones stay in the store)."""
        result = self.window.viewer.current
        if result is None or not reviewable(result):
            self.window.statusBar().showMessage(NOT_REVIEWABLE, 5000)
            return None
        reviewer = self.window.settings.reviewer or self.ask_reviewer()
        if not reviewer:
            return None
        try:
            review = add_review(
                self.window.store, result, decision, reviewer, call=call, note=self.panel.note_edit.text()
            )
        except (ReviewError, OSError) as exc:
            self.window.statusBar().showMessage(f"The review was not saved: {exc}", 8000)
            return None
        except Exception:  # a store problem must not close the window
            log.exception("review not saved")
            self.window.statusBar().showMessage("The review was not saved (details in the log file).", 8000)
            return None
        self.window.results_model.add_review(review)
        self.panel.show_state(result, review)
        self.window.statusBar().showMessage(f"{result.name}: {review.status}", 5000)
        self.review_added.emit(review)
        return review

    def save_note(self) -> Review | None:
        """A changed note is a new review row with the same decision."""
        result = self.window.viewer.current
        if result is None:
            return None
        latest = self.window.results_model.review_of(result)
        if latest is None:
            self.window.statusBar().showMessage(
                "Choose Agree or Disagree first; the note goes with it.", 5000
            )
            return None
        if latest.note == self.panel.note_edit.text().strip():
            return latest
        return self.review(latest.decision, latest.call)

    def _open_disagree_menu(self) -> None:
        if self.panel.disagree_button.isEnabled():
            self.panel.disagree_button.showMenu()

    def _refresh(self, result: ScanResult | None) -> None:
        self.panel.show_state(result, self.window.results_model.review_of(result) if result else None)
