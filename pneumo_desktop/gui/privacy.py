"""The app's privacy actions: File ▸ "Forget patient data…" and the history retention setting.

Both run in the window's I/O pool (never on the GUI thread: ``VACUUM`` of a large store takes
seconds) and work on the results store through :mod:`pneumo_desktop.core.privacy`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QRunnable, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QMessageBox

if TYPE_CHECKING:
    from .main_window import MainWindow

log = logging.getLogger(__name__)


class _Signals(QObject):
    forgotten = Signal(int)  # rows changed
    failed = Signal(str)  # a sentence for the user
    pruned = Signal(int)  # scans deleted


class _StoreTask(QRunnable):
    def __init__(self, store, signals: _Signals, retention_days: float | None = None) -> None:
        super().__init__()
        self.store, self.signals, self.retention_days = store, signals, retention_days

    def run(self) -> None:
        try:
            if self.retention_days is not None:
                self.signals.pruned.emit(self.store.prune(self.retention_days))
            else:
                self.signals.forgotten.emit(self.store.forget_patient_data())
        except Exception as exc:  # a sentence for the user, the details for the log
            log.warning("privacy action failed: %s", exc)
            self.signals.failed.emit(str(exc))


def install(window: MainWindow) -> QAction:
    """Add "Forget patient data…" to the File menu and apply the retention setting once."""
    signals = _Signals(window)
    window._privacy_signals = signals  # type: ignore[attr-defined]  # keep it alive with the window
    action = QAction("Forget patient data…", window)
    action.setToolTip("Remove every patient name and ID kept in the results history")
    action.triggered.connect(lambda: forget_patient_data(window))
    file_menu = window.menuBar().actions()[0].menu()
    assert isinstance(file_menu, QMenu)  # the window's first menu is File
    before = getattr(window, "preferences_action", None)
    if before is not None and before in file_menu.actions():
        file_menu.insertAction(before, action)
    else:
        file_menu.addAction(action)
    window.forget_patient_action = action  # type: ignore[attr-defined]
    bar = window.statusBar()

    def forgotten(n: int) -> None:
        bar.showMessage(f"Patient names and IDs removed from {n} stored results.", 8000)
        window.refresh_history()

    signals.forgotten.connect(forgotten)
    signals.failed.connect(lambda message: QMessageBox.warning(window, "Pneumo Desktop", message))
    signals.pruned.connect(lambda n: window.refresh_history() if n else None)
    days = window.settings.retention_days()
    if days is not None:
        window.io_pool.start(_StoreTask(window.store, signals, retention_days=days))
    return action


def forget_patient_data(window: MainWindow, confirm: bool = True) -> None:
    if confirm:
        answer = QMessageBox.question(
            window,
            "Forget patient data",
            "Remove every patient name and ID from the results history on this computer?\n\n"
            "Results stay; the names can still be read from the image files themselves.",
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
    window.io_pool.start(_StoreTask(window.store, window._privacy_signals))  # type: ignore[attr-defined]
