"""The History dock: past scans from the store, one loaded (off the GUI thread) into the session."""

from __future__ import annotations

import datetime as _dt
import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QListWidgetItem

from ..app.session import describe_roots
from ..core.results import ScanResult
from ..core.store import ResultsStore, ScanRecord

if TYPE_CHECKING:
    from .main_window import MainWindow

log = logging.getLogger(__name__)


def history_item(rec: ScanRecord) -> QListWidgetItem:
    started = _dt.datetime.fromtimestamp(rec.started)
    state = {"cancelled": " · cancelled", "interrupted": " · interrupted", "running": " · interrupted"}.get(rec.state, "")
    files = f"{rec.count} {'file' if rec.count == 1 else 'files'}"
    item = QListWidgetItem(f"{started:%d %b %Y, %H:%M}\n{describe_roots(rec.roots)} · {files}{state}")
    item.setData(Qt.ItemDataRole.UserRole, rec.id)
    item.setData(Qt.ItemDataRole.UserRole + 1, describe_roots(rec.roots))
    item.setToolTip("\n".join(rec.roots[:20]) + ("\n…" if len(rec.roots) > 20 else ""))
    return item


def _read_scan(store: ResultsStore, scan_id: int, threshold: float | None) -> list[ScanResult]:
    rows = store.scan_results(scan_id)
    return [r.relabel(threshold) for r in rows] if threshold is not None else rows


class HistoryController(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.w = window
        self._request = 0
        window.history_list.itemActivated.connect(self._on_item)
        window.history_list.itemClicked.connect(self._on_item)

    def invalidate(self) -> None:
        """A load still in flight must not replace what is shown now."""
        self._request += 1

    def refresh(self, select: int | None = None) -> None:
        lst = self.w.history_list
        try:
            records = self.w.store.scans(limit=200)
        except Exception:  # a broken history must not stop the app
            log.exception("cannot read the scan history")
            records = []
        lst.blockSignals(True)
        lst.clear()
        for rec in records:
            lst.addItem(history_item(rec))
            if rec.id == select:
                lst.setCurrentRow(lst.count() - 1)
        if not records:
            empty = QListWidgetItem("No scans yet.\nPast scans appear here.")
            empty.setFlags(Qt.ItemFlag.NoItemFlags)
            lst.addItem(empty)
        lst.blockSignals(False)

    def _on_item(self, item: QListWidgetItem) -> None:
        scan_id = item.data(Qt.ItemDataRole.UserRole)
        if scan_id is not None:
            self.load(int(scan_id), item.data(Qt.ItemDataRole.UserRole + 1))

    def load(self, scan_id: int, title: str | None = None) -> None:
        """Show a past scan (no model run). ``store.scan_results`` decodes one JSON row per file
        (about 1 s for 20,000 rows): read in the io lane; ``history_loaded`` follows."""
        w = self.w
        if w.session.scanning or w.closing:
            return
        self.invalidate()
        request = self._request
        w.statusBar().showMessage("Loading the scan from History…")
        threshold = w.session.threshold  # relabelled there too: 20,000 rows here would stall the window
        w.service.submit(
            _read_scan, w.store, scan_id, threshold, lane="io",
            returned=lambda rows: self._loaded(request, scan_id, title, rows),
            errored=lambda exc: self._failed(request, scan_id, exc),
        )

    def _loaded(self, request: int, scan_id: int, title: str | None, rows: list[ScanResult]) -> None:
        w = self.w
        if request != self._request or w.session.scanning:
            return  # another History item was picked, or a scan started meanwhile
        w.viewer.clear()
        w.session.show_history(scan_id, rows, title)  # labelled at the threshold in force
        w.results_stack.setCurrentWidget(w.table if rows else w.empty_page)
        if rows:
            w.select_row(0)
        w.statusBar().clearMessage()
        w.history_loaded.emit(scan_id)

    def _failed(self, request: int, scan_id: int, exc: BaseException) -> None:
        log.error("cannot read scan %s from the history: %s", scan_id, exc)
        if request == self._request:
            self.w.statusBar().showMessage(
                f"This scan cannot be read from the history ({type(exc).__name__}).", 10000
            )
