"""Opening, scanning and watching for the window: the session decides what to scan next and what
the rows say; this controller submits the scan jobs and shows their progress."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox, QStyle

from ..core import wording
from ..core.results import ScanResult
from ..core.scan import ScanBatch, ScanProgress, ScanStarted
from .service import ScanEnd
from .window_ui import FILE_FILTER

if TYPE_CHECKING:
    from .main_window import MainWindow

log = logging.getLogger(__name__)

UI_REFRESH_MS = 150  # new rows and progress reach the screen at most this often


class ScanController(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.w = window
        self.session = window.session
        self.watching: str | None = None
        self._incoming: list[ScanResult] = []  # batches received but not yet shown
        self._progress: ScanProgress | None = None
        self._refresh = QTimer(self)
        self._refresh.setSingleShot(True)
        self._refresh.setInterval(UI_REFRESH_MS)
        self._refresh.timeout.connect(self._show_incoming)
        window.service.watch_found.connect(self._on_watch_found)
        window.service.watch_failed.connect(self._on_watch_failed)

    # -- opening ------------------------------------------------------------------------------
    def open_paths(self, items: list[str], append: bool) -> None:
        w = self.w
        if not append:  # a user's choice (watched-folder arrivals are not)
            for folder in (p for p in items if os.path.isdir(p)):
                w.settings.add_recent_folder(folder)
            first = items[0]
            w.settings.set_last_dir(first if os.path.isdir(first) else os.path.dirname(first))
        self.session.open(items, append)
        if not w.is_model_ready:
            n = len(self.session.queue.paths)
            w.statusBar().showMessage(
                f"{n} {'item' if n == 1 else 'items'} will be scanned as soon as the model is ready."
            )
        self.dispatch()

    def dispatch(self) -> None:
        w = self.w
        if w.closing or not w.is_model_ready or self.session.threshold is None:
            return
        job = self.session.next_scan(self.watching)
        if job is None:
            return
        w.statusBar().clearMessage()  # e.g. "will be scanned as soon as the model is ready"
        if not job.append:
            w.viewer.clear()
            w.history_list.clearSelection()
        w.history.invalidate()  # a History load still in flight must not replace this scan
        w.history_list.setEnabled(False)
        w.cancel_action.setEnabled(True)
        w.cancel_button.setEnabled(True)
        w.progress_bar.setRange(0, 0)
        w.progress_label.setText("Preparing…")
        w.progress_row.setVisible(True)
        w.results_stack.setCurrentWidget(w.table)
        log.info("scan requested: %d path(s)", len(job.paths))
        # Watched arrivals appended to the live view also join its History entry.
        w.service.scan(
            job.paths, self.session.threshold, w.batch_size, append_to=job.append_to,
            yielded=self._on_event, returned=self._on_done,
        )

    def cancel(self) -> None:
        """Stop the running scan after its batch and drop what the user queued. Files from the
        watched folder stay queued: the watcher reports each file once. (To stop those, stop watching.)"""
        if not self.session.scanning:
            return
        self.w.service.cancel()
        dropped, kept = self.session.cancel()
        self.w.cancel_button.setEnabled(False)
        self.w.cancel_action.setEnabled(False)
        self.w.progress_label.setText("Cancelling after this batch…")
        if dropped:
            log.info("cancel: %d queued item(s) dropped", dropped)
        if kept:
            log.info("cancel: %d file(s) from the watched folder stay queued", kept)

    # -- the scan job's answers -------------------------------------------------------------------
    def _on_event(self, event: ScanStarted | ScanBatch) -> None:
        if isinstance(event, ScanStarted):
            self.session.scan_started(event.total, event.scan_id)
            self.w.progress_bar.setRange(0, max(event.total, 1))
            self.w.progress_bar.setValue(0)
            self.w.progress_label.setText(f"0 of {event.total}")
            return
        # Batches are collected and shown at most every UI_REFRESH_MS: repaints stay few and cheap.
        self._incoming.extend(event.rows)
        self._progress = event.progress
        if not self._refresh.isActive():
            self._refresh.start()

    def _show_incoming(self) -> None:
        self._refresh.stop()
        batch, self._incoming = self._incoming, []
        w = self.w
        first = w.results_model.rowCount() == 0
        rows = self.session.add_rows(batch)  # labelled at the threshold in force; the table follows
        progress = self._progress
        if progress is not None:
            self.session.scan_progress(progress.done, progress.total)
            w.progress_bar.setRange(0, max(progress.total, 1))
            w.progress_bar.setValue(progress.done)
            if w.cancel_button.isEnabled():
                eta = wording.format_eta(progress.eta)
                w.progress_label.setText(f"{progress.done} of {progress.total}" + (f" · {eta}" if eta else ""))
        if first and rows and not w.table.currentIndex().isValid():
            w.select_row(0)

    def _on_done(self, end: ScanEnd | None) -> None:
        if end is None:  # stopped by the window closing
            return
        w = self.w
        self._show_incoming()
        self._progress = None
        scan = self.session.scan_ended(end.state, end.scan_id, end.message)
        seconds, n = scan.seconds, scan.done
        w.progress_row.setVisible(False)
        w.cancel_action.setEnabled(False)
        w.history_list.setEnabled(True)
        if end.state == "finished":
            w.statusBar().showMessage(f"Scan finished: {n} {'file' if n == 1 else 'files'} in {seconds:.1f} s", 10000)
        elif end.state == "cancelled":
            waiting = self.session.queue.waiting_watched()
            w.statusBar().showMessage(
                f"Scan cancelled after {n} files. Their results are saved."
                + (f" {waiting} new files from the watched folder will still be scanned." if waiting else ""),
                10000,
            )
        else:
            w.statusBar().showMessage(end.message, 10000)
            w.warn("Scan stopped", end.message, "The results so far are saved. Details are in the log file.")
        w.refresh_history(select=end.scan_id)
        w.update_summary()
        log.info("scan %s (id %s): %d files in %.1f s", end.state, end.scan_id, n, seconds)
        w.scan_finished.emit(end.state)
        self.dispatch()  # what is still queued (after a cancel: files from the watched folder)

    # -- dialogs for opening --------------------------------------------------------------------
    def choose_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self.w, "Open X-ray files", self.w.settings.last_dir(), FILE_FILTER)
        if files:
            self.w.open_paths(files)

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.w, "Open a folder of X-rays", self.w.settings.last_dir())
        if folder:
            self.w.open_paths([folder])

    def watch_triggered(self, checked: bool) -> None:
        if not checked:
            self.stop_watch()
            return
        folder = QFileDialog.getExistingDirectory(self.w, "Watch a folder for new X-rays", self.w.settings.last_dir())
        if folder:
            self.start_watch(folder)
        else:
            self.w.watch_action.setChecked(False)

    # -- File > Recent folders ------------------------------------------------------------------
    def add_recent_menu(self, file_menu: QMenu) -> None:
        self.recent_menu = self.w.recent_menu = file_menu.addMenu("Recent folders")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self._fill_recent_menu()

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        folders = self.w.settings.recent_folders()
        icon = self.w.style().standardIcon(QStyle.StandardPixmap.SP_DirIcon)
        for folder in folders:
            action = self.recent_menu.addAction(icon, folder)
            action.triggered.connect(lambda _=False, f=folder: self._open_recent(f))
        if folders:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list", self.w.settings.clear_recent_folders)
        else:
            self.recent_menu.addAction("No recent folders").setEnabled(False)

    def _open_recent(self, folder: str) -> None:
        if not os.path.isdir(folder):
            QMessageBox.information(
                self.w, "Folder not found", f"The folder {folder} no longer exists or is not reachable."
            )
            return
        self.w.open_paths([folder])

    # -- watched folder -------------------------------------------------------------------------
    def start_watch(self, folder: str) -> None:
        """Scan files that appear in ``folder`` from now on (polled every 2 s off the GUI thread)."""
        w = self.w
        self.watching = folder
        w.service.watch([folder])
        w.watch_action.setChecked(True)
        w.watch_label.setText(f"Watching {Path(folder).name or folder}")
        w.watch_label.setToolTip(folder)
        w.watch_label.setVisible(True)
        w.settings.add_recent_folder(folder)
        w.statusBar().showMessage(f"New files in {folder} will be scanned as they arrive.", 8000)

    def stop_watch(self) -> None:
        if self.watching is None:
            return
        folder, self.watching = self.watching, None
        self.w.service.unwatch()
        self.w.watch_action.setChecked(False)
        self.w.watch_label.setVisible(False)
        # Stopping the watch is how the user stops its files: queued ones go, and a cancel of the
        # running scan no longer puts them back. (Films from the DICOM receiver stay.)
        self.session.queue.stop_watching(folder)

    def _on_watch_found(self, paths: list[str]) -> None:
        if self.watching is None:
            return
        self.w.statusBar().showMessage(f"{len(paths)} new {'file' if len(paths) == 1 else 'files'} in the watched folder", 5000)
        self.w.scan_arrivals(paths)

    def _on_watch_failed(self, message: str) -> None:
        self.stop_watch()
        self.w.warn("Cannot watch folder", message)
