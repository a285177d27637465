"""The app's DICOM network: receiving films from the X-ray machine, sending results to the PACS.

Off by default: nothing listens until the user switches receiving on in *File > DICOM network…*
(the choice is remembered). Films arrive in pynetdicom's threads (:mod:`pneumo_desktop.net.scp`)
and reach the GUI thread through a queued signal; they join the table like files arriving in a
watched folder. *Send results to PACS* makes the DICOM results of the films in view in the model
thread (which owns the model, for the heatmap images), saves them under ``dicom-results/`` in the
user's data folder, and sends them from a background thread: the window never waits for the network.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QSettings, Qt, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QMessageBox,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..core.paths import user_data_dir
from ..core.results import ScanResult
from .settings import APPLICATION, ORGANISATION

log = logging.getLogger(__name__)

RESULTS_FOLDER = "dicom-results"


@dataclass(frozen=True)
class ReceivePrefs:
    enabled: bool = False
    ae_title: str = "PNEUMO"
    port: int = 11112
    bind: str = "127.0.0.1"
    allowed: tuple[str, ...] = ()
    quota_mb: int = 0  # 0: no quota (the disk's reserve still applies)


@dataclass(frozen=True)
class SendPrefs:
    ae_title: str = ""  # the PACS's AE title; empty: not configured
    host: str = ""
    port: int = 104
    with_heatmap: bool = True

    @property
    def configured(self) -> bool:
        return bool(self.ae_title and self.host and self.port)


def _q() -> QSettings:
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANISATION, APPLICATION)


def _int(value: object, default: int) -> int:
    try:
        return int(value) if isinstance(value, str | int | float) else default
    except (TypeError, ValueError):
        return default


def _bool(value: object) -> bool:
    return str(value).lower() in ("1", "true", "yes")


def load_prefs() -> tuple[ReceivePrefs, SendPrefs]:
    q = _q()
    d, s = ReceivePrefs(), SendPrefs()
    allowed = q.value("dicom/receive_allowed", "")
    receive = ReceivePrefs(
        enabled=_bool(q.value("dicom/receive_enabled", False)),
        ae_title=str(q.value("dicom/receive_aet", d.ae_title) or d.ae_title),
        port=_int(q.value("dicom/receive_port", d.port), d.port),
        bind=str(q.value("dicom/receive_bind", d.bind) or d.bind),
        allowed=tuple(a for a in str(allowed or "").replace(",", " ").split() if a),
        quota_mb=max(0, _int(q.value("dicom/receive_quota_mb", 0), 0)),
    )
    send = SendPrefs(
        ae_title=str(q.value("dicom/send_aet", "") or ""),
        host=str(q.value("dicom/send_host", "") or ""),
        port=_int(q.value("dicom/send_port", s.port), s.port),
        with_heatmap=_bool(q.value("dicom/send_heatmap", True)),
    )
    return receive, send


def save_prefs(receive: ReceivePrefs, send: SendPrefs) -> None:
    q = _q()
    q.setValue("dicom/receive_enabled", receive.enabled)
    q.setValue("dicom/receive_aet", receive.ae_title)
    q.setValue("dicom/receive_port", receive.port)
    q.setValue("dicom/receive_bind", receive.bind)
    q.setValue("dicom/receive_allowed", " ".join(receive.allowed))
    q.setValue("dicom/receive_quota_mb", receive.quota_mb)
    q.setValue("dicom/send_aet", send.ae_title)
    q.setValue("dicom/send_host", send.host)
    q.setValue("dicom/send_port", send.port)
    q.setValue("dicom/send_heatmap", send.with_heatmap)
    q.sync()


class DicomNetworkDialog(QDialog):
    """Receiving (Storage SCP) and sending (the PACS node) settings."""

    def __init__(self, receive: ReceivePrefs, send: SendPrefs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("DICOM network")
        self.setMinimumWidth(480)

        rbox = QGroupBox("Receive films from the X-ray machine (DICOM C-STORE)", self)
        rform = QFormLayout(rbox)
        self.receive_check = QCheckBox("Receive films and scan them as they arrive", rbox)
        self.receive_check.setChecked(receive.enabled)
        rform.addRow(self.receive_check)
        self.aet_edit = QLineEdit(receive.ae_title, rbox)
        self.aet_edit.setMaxLength(16)
        rform.addRow("Our AE title", self.aet_edit)
        self.port_spin = QSpinBox(rbox)
        self.port_spin.setRange(1, 65535)
        self.port_spin.setValue(receive.port)
        rform.addRow("Port", self.port_spin)
        self.bind_combo = QComboBox(rbox)
        self.bind_combo.setEditable(True)
        self.bind_combo.addItem("127.0.0.1", "127.0.0.1")
        self.bind_combo.addItem("0.0.0.0", "0.0.0.0")
        self.bind_combo.setCurrentText(receive.bind)
        self.bind_combo.setToolTip("127.0.0.1: this computer only. 0.0.0.0: every network interface.")
        rform.addRow("Listen on", self.bind_combo)
        self.allowed_edit = QLineEdit(" ".join(receive.allowed), rbox)
        self.allowed_edit.setPlaceholderText("any (e.g. XRAY1 DIGITISER)")
        rform.addRow("Accept only from AE titles", self.allowed_edit)
        self.quota_spin = QSpinBox(rbox)
        self.quota_spin.setRange(0, 10_000_000)
        self.quota_spin.setSuffix(" MB")
        self.quota_spin.setSpecialValueText("no quota")
        self.quota_spin.setValue(receive.quota_mb)
        rform.addRow("Disk quota", self.quota_spin)

        sbox = QGroupBox("Send results to the PACS", self)
        sform = QFormLayout(sbox)
        self.send_aet_edit = QLineEdit(send.ae_title, sbox)
        self.send_aet_edit.setMaxLength(16)
        sform.addRow("PACS AE title", self.send_aet_edit)
        self.send_host_edit = QLineEdit(send.host, sbox)
        sform.addRow("Host", self.send_host_edit)
        self.send_port_spin = QSpinBox(sbox)
        self.send_port_spin.setRange(1, 65535)
        self.send_port_spin.setValue(send.port)
        sform.addRow("Port", self.send_port_spin)
        self.heatmap_check = QCheckBox("Also send the heatmap image (Secondary Capture)", sbox)
        self.heatmap_check.setChecked(send.with_heatmap)
        sform.addRow(self.heatmap_check)
        note = QLabel(
            "Each result is a DICOM structured report in the film's own study: label, probability, "
            "threshold, model, and 'decision support only'.",
            sbox,
        )
        note.setWordWrap(True)
        sform.addRow(note)

        self.error_label = QLabel("", self)
        self.error_label.setStyleSheet("color: #c0392b;")
        self.error_label.setWordWrap(True)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(rbox)
        layout.addWidget(sbox)
        layout.addWidget(self.error_label)
        layout.addWidget(buttons)

    def receive_prefs(self) -> ReceivePrefs:
        return ReceivePrefs(
            enabled=self.receive_check.isChecked(),
            ae_title=self.aet_edit.text().strip(),
            port=self.port_spin.value(),
            bind=self.bind_combo.currentText().strip() or "127.0.0.1",
            allowed=tuple(a for a in self.allowed_edit.text().replace(",", " ").split() if a),
            quota_mb=self.quota_spin.value(),
        )

    def send_prefs(self) -> SendPrefs:
        return SendPrefs(
            ae_title=self.send_aet_edit.text().strip(),
            host=self.send_host_edit.text().strip(),
            port=self.send_port_spin.value(),
            with_heatmap=self.heatmap_check.isChecked(),
        )

    def problem(self) -> str:
        """Why the entered settings cannot be used, or an empty string."""
        from ..net.scp import ReceiverConfig, valid_ae_title

        r, s = self.receive_prefs(), self.send_prefs()
        try:
            ReceiverConfig(ae_title=r.ae_title, port=r.port, bind=r.bind, allowed_aets=r.allowed)
        except ValueError as exc:
            return f"Receiving: {exc}."
        if s.ae_title and not valid_ae_title(s.ae_title):
            return "Sending: the PACS AE title must be 1 to 16 printable ASCII characters."
        return ""

    def accept(self) -> None:
        problem = self.problem()
        if problem:
            self.error_label.setText(problem)
            return
        super().accept()


class _Exporter(QObject):
    """Lives in the model thread: makes the DICOM results (heatmaps need the model)."""

    made = Signal(object, object)  # ExportReport, SendPrefs

    def __init__(self, worker: Any) -> None:
        super().__init__()
        self.worker = worker  # gui.service.ModelWorker: its predictor is used in its own thread

    @Slot(object, object, object)
    def make(self, results: list[ScanResult], prefs: SendPrefs, folder: Path) -> None:
        from ..net.results_out import ExportReport, export_results, heatmap_source

        try:
            predictor = self.worker.predictor
            heatmaps = heatmap_source(predictor) if prefs.with_heatmap and predictor is not None else None
            report = export_results(results, out_dir=folder, heatmaps=heatmaps)
        except Exception as exc:  # the user gets a sentence; the log the traceback
            log.exception("making DICOM results failed")
            report = ExportReport(
                skipped=[("all films", f"the DICOM results could not be made ({type(exc).__name__})")]
            )
        self.made.emit(report, prefs)


class DicomNetwork(QObject):
    """The window's receiver and PACS sender, with their actions and status-bar label."""

    received = Signal(str)  # a film stored by the receiver (emitted from pynetdicom's threads)
    receiving_changed = Signal(bool)
    sent = Signal(object)  # ExportReport, once a send has finished
    _make = Signal(object, object, object)
    _send_done = Signal(object)

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.receiver: Any | None = None
        self._send_thread: threading.Thread | None = None
        self._closed = False
        self.settings_action = QAction("DICOM network…", window)
        self.settings_action.setToolTip("Receive films from the X-ray machine; send results to the PACS")
        self.settings_action.triggered.connect(self.show_settings)
        self.send_action = QAction("Send results to PACS", window)
        self.send_action.setToolTip("Send the DICOM results of the films in view to the configured PACS")
        self.send_action.triggered.connect(self.send_results)
        self.label = QLabel("", window)
        self.label.setVisible(False)
        window.statusBar().addPermanentWidget(self.label)
        self.received.connect(self._on_received, Qt.ConnectionType.QueuedConnection)
        self._send_done.connect(self._on_sent)
        self._exporter = _Exporter(window.service.worker)
        self._exporter.moveToThread(window.service.thread)
        self._make.connect(self._exporter.make)
        self._exporter.made.connect(self._on_made)
        receive, _ = load_prefs()
        if receive.enabled:  # the user switched it on in an earlier session
            self.start_receiving(receive)

    # -- receiving ------------------------------------------------------------------------------
    @property
    def receiving(self) -> bool:
        return self.receiver is not None

    def start_receiving(self, prefs: ReceivePrefs) -> bool:
        """Listen with ``prefs``; False (and a warning) when the address cannot be used."""
        from ..net.scp import ReceiverConfig, StorageReceiver

        self.stop_receiving()
        try:
            config = ReceiverConfig(
                ae_title=prefs.ae_title,
                port=prefs.port,
                bind=prefs.bind,
                allowed_aets=prefs.allowed,
                quota_mb=float(prefs.quota_mb) if prefs.quota_mb else None,
            )
            receiver = StorageReceiver(config, on_received=self.received.emit)
            receiver.start()
        except (OSError, ValueError) as exc:
            message = f"Films cannot be received on {prefs.bind}:{prefs.port} ({getattr(exc, 'strerror', None) or exc})."
            log.warning("DICOM receiver not started: %s", message)
            self.window.statusBar().showMessage(message, 10000)
            QMessageBox.warning(self.window, "DICOM receiver", message)
            return False
        self.receiver = receiver
        host, port = receiver.address
        self.label.setText(f"Receiving as {config.ae_title} on {host}:{port}")
        self.label.setToolTip(f"Films are stored in {receiver.folder}")
        self.label.setVisible(True)
        self.receiving_changed.emit(True)
        return True

    def stop_receiving(self) -> None:
        receiver, self.receiver = self.receiver, None
        if receiver is None:
            return
        receiver.stop()
        self.label.setVisible(False)
        self.receiving_changed.emit(False)

    @Slot(str)
    def _on_received(self, path: str) -> None:
        if self._closed or self.receiver is None:
            return
        self.window.statusBar().showMessage(f"Film received: {Path(path).name}", 5000)
        self.window.scan_arrivals([path])

    # -- settings -------------------------------------------------------------------------------
    def show_settings(self) -> None:
        receive, send = load_prefs()
        dialog = DicomNetworkDialog(receive, send, self.window)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.apply(dialog.receive_prefs(), dialog.send_prefs())

    def apply(self, receive: ReceivePrefs, send: SendPrefs) -> None:
        """Save the settings and start, restart or stop the receiver to match them."""
        before, _ = load_prefs()
        if receive.enabled and not self.start_receiving_if_changed(before, receive):
            receive = replace(receive, enabled=False)  # not listening: do not claim it is on
        if not receive.enabled:
            self.stop_receiving()
        save_prefs(receive, send)

    def start_receiving_if_changed(self, before: ReceivePrefs, after: ReceivePrefs) -> bool:
        if self.receiving and before == after:
            return True
        return self.start_receiving(after)

    # -- sending --------------------------------------------------------------------------------
    def send_results(self, results: list[ScanResult] | None = None) -> bool:
        """Make and send the DICOM results of ``results`` (default: the rows in view). False when
        nothing can be sent now (the user is told why)."""
        _, prefs = load_prefs()
        if not prefs.configured:
            QMessageBox.information(
                self.window,
                "Send results to PACS",
                "Set the PACS's AE title, host and port in File > DICOM network… first.",
            )
            return False
        if self._send_thread is not None and self._send_thread.is_alive():
            self.window.statusBar().showMessage("Results are still being sent…", 5000)
            return False
        rows = list(results) if results is not None else self.window.proxy.visible_results()
        if not rows:
            self.window.statusBar().showMessage("No results to send.", 5000)
            return False
        folder = user_data_dir() / RESULTS_FOLDER / time.strftime("%Y%m%d-%H%M%S")
        self.send_action.setEnabled(False)
        self.window.statusBar().showMessage(f"Making DICOM results for {len(rows)} film(s)…")
        self._make.emit(rows, prefs, folder)
        return True

    @Slot(object, object)
    def _on_made(self, report: Any, prefs: SendPrefs) -> None:
        if self._closed:
            return
        if not report.written:
            self._on_sent(report)
            return
        from ..net.results_out import DicomNode

        node = DicomNode(prefs.ae_title, prefs.host, prefs.port)
        calling = self.receiver.config.ae_title if self.receiver is not None else load_prefs()[0].ae_title
        self.window.statusBar().showMessage(f"Sending {len(report.written)} DICOM result(s) to {node}…")

        def run() -> None:
            from pydicom import dcmread

            from ..net.results_out import send

            try:
                report.sent = send([dcmread(p) for p in report.written], node, calling)
            except Exception:  # reported as "not sent"
                log.exception("sending DICOM results failed")
            self._send_done.emit(report)

        self._send_thread = threading.Thread(target=run, name="pneumo-dicom-send", daemon=True)
        self._send_thread.start()

    @Slot(object)
    def _on_sent(self, report: Any) -> None:
        self.send_action.setEnabled(True)
        if self._closed:
            return
        ok = sum(s.ok for s in report.sent)
        skipped = len(report.skipped)
        text = f"{ok} of {report.made} DICOM result(s) stored by the PACS"
        if skipped:
            text += f"; {skipped} film(s) without a DICOM result (not DICOM, unreadable or changed)"
        self.window.statusBar().showMessage(text + ".", 15000)
        if report.made and ok < report.made:
            failed = report.failed_sends[:1] or report.sent[:1]
            why = failed[0].message if failed else "nothing was sent"
            QMessageBox.warning(
                self.window,
                "Send results to PACS",
                f"{report.made - ok} of {report.made} result(s) were not stored by the PACS ({why}). "
                f"They are saved in {report.written[0].parent if report.written else 'no folder'}.",
            )
        self.sent.emit(report)

    # -- end --------------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop listening and wait for a send in progress (bounded by its network timeouts)."""
        self._closed = True
        self.stop_receiving()
        thread = self._send_thread
        if thread is not None:
            thread.join()
