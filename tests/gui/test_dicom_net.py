"""The app's DICOM network: off by default; films sent by C-STORE appear in the table; results go to a PACS."""

from __future__ import annotations

import socket
import time

import pytest

from pneumo_desktop.gui.dicom_net import DicomNetworkDialog, ReceivePrefs, SendPrefs, load_prefs
from tests.gui.conftest import SCAN_TIMEOUT_MS
from tests.net.dicom_fixtures import CHEST_8BIT

pytestmark = pytest.mark.real_data


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_nothing_listens_unless_switched_on(window) -> None:
    assert not window.dicom.receiving and window.dicom.receiver is None
    assert load_prefs()[0].enabled is False
    actions = [a.text() for a in window.menuBar().actions()[0].menu().actions()]
    assert "DICOM network…" in actions and "Send results to PACS" in actions


def test_settings_dialog_round_trip_and_validation(qtbot, window) -> None:
    receive = ReceivePrefs(
        enabled=True, ae_title="CLINIC", port=11112, bind="0.0.0.0", allowed=("XRAY1",), quota_mb=500
    )
    send = SendPrefs(ae_title="PACS", host="192.168.1.20", port=104, with_heatmap=False)
    dialog = DicomNetworkDialog(receive, send, window)
    qtbot.addWidget(dialog)
    assert dialog.receive_prefs() == receive and dialog.send_prefs() == send
    dialog.aet_edit.setText("")
    assert "AE title" in dialog.problem()
    dialog.aet_edit.setText("CLINIC")
    dialog.send_aet_edit.setText("PACS\\X")
    assert dialog.problem()


def test_a_film_sent_by_c_store_appears_in_the_table_and_its_result_goes_to_the_pacs(
    qtbot, window, dicom_dir, monkeypatch
) -> None:
    from pydicom import dcmread
    from pynetdicom import AE, _config, evt

    from pneumo_desktop.net.results_out import COMPREHENSIVE_SR, SECONDARY_CAPTURE

    # A test PACS for the results.
    got: list = []

    def on_store(event) -> int:
        # The app's receiver (same process) switched pynetdicom to spooling data sets to files.
        got.append(dcmread(event.dataset_path) if _config.STORE_RECV_CHUNKED_DATASET else event.dataset)
        return 0

    pacs_ae = AE("TESTPACS")
    pacs_ae.add_supported_context(COMPREHENSIVE_SR)
    pacs_ae.add_supported_context(SECONDARY_CAPTURE)
    pacs = pacs_ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)])
    try:
        port = free_port()
        window.dicom.apply(
            ReceivePrefs(enabled=True, ae_title="PNEUMO", port=port, bind="127.0.0.1"),
            SendPrefs(
                ae_title="TESTPACS", host="127.0.0.1", port=int(pacs.server_address[1]), with_heatmap=True
            ),
        )
        assert window.dicom.receiving and load_prefs()[0].enabled
        assert window.dicom.label.isVisible() and str(port) in window.dicom.label.text()

        ds = dcmread(dicom_dir / CHEST_8BIT)
        ds.PatientAge = "004Y"  # a child: judged (the gate refuses the adult the real film is)
        scu = AE("XRAY1")
        scu.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
        assoc = scu.associate("127.0.0.1", port, ae_title="PNEUMO")
        assert assoc.is_established
        assert assoc.send_c_store(ds).Status == 0
        assoc.release()
        sent = time.monotonic()
        qtbot.waitUntil(lambda: window.results_model.rowCount() == 1, timeout=SCAN_TIMEOUT_MS)
        print(f"row in the table {time.monotonic() - sent:.2f} s after the C-STORE")
        row = window.results_model.result(0)
        assert row.name == f"{ds.SOPInstanceUID}.dcm" and row.format == "DICOM"

        with qtbot.waitSignal(window.dicom.sent, timeout=SCAN_TIMEOUT_MS) as blocker:
            assert window.dicom.send_results()
        report = blocker.args[0]
        assert report.made == len(got) == 2 and all(s.ok for s in report.sent)
        assert {str(d.SOPClassUID) for d in got} == {COMPREHENSIVE_SR, SECONDARY_CAPTURE}
        assert all(d.StudyInstanceUID == ds.StudyInstanceUID for d in got)
        assert window.dicom.send_action.isEnabled()

        window.dicom.apply(ReceivePrefs(enabled=False), load_prefs()[1])
        assert not window.dicom.receiving and not load_prefs()[0].enabled
        with socket.socket() as s:  # nobody listens any more
            assert s.connect_ex(("127.0.0.1", port)) != 0
    finally:
        pacs.shutdown()


def test_a_busy_port_is_reported_and_not_remembered_as_on(qtbot, window, monkeypatch) -> None:
    from PySide6.QtWidgets import QMessageBox

    warned: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: warned.append(a[2]))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        window.dicom.apply(ReceivePrefs(enabled=True, port=port), SendPrefs())
    assert warned and "cannot be received" in warned[0]
    assert not window.dicom.receiving and not load_prefs()[0].enabled


def test_opening_a_cd_scans_its_images_grouped_by_patient_and_study(
    qtbot, window, dicom_dir, tmp_path
) -> None:
    from pneumo_desktop.gui.table import STUDY
    from tests.net.dicom_fixtures import build_cd

    root = tmp_path / "CD"
    sources = build_cd(dicom_dir, root)
    with qtbot.waitSignal(window.scan_finished, timeout=SCAN_TIMEOUT_MS):
        window.open_paths([root])
    rows = window.results_model.results
    assert len(rows) == 2  # the SR on the CD has no row
    assert {(r.patient_id, r.study_uid) for r in rows} == {
        ("PAT-A", sources["first"].StudyInstanceUID),
        ("PAT-B", sources["second"].StudyInstanceUID),
    }
    window.proxy.sort(STUDY)
    shown = [window.proxy.index(i, STUDY).data() for i in range(window.proxy.rowCount())]
    assert shown == ["PAT-A · 2024-01-05", "PAT-B · 2004-08-31"]


def test_received_films_survive_a_cancel_and_stopping_a_folder_watch(qtbot, window, tmp_path) -> None:
    from tests.gui.conftest import write_images
    from tests.gui.test_main_window import _start_held_scan

    received = write_images(tmp_path / "received", 1, prefix="film")
    watched = write_images(tmp_path / "incoming", 1, prefix="watched")
    window.start_watch(tmp_path / "incoming")
    qtbot.wait(300)
    gate = _start_held_scan(qtbot, window, write_images(tmp_path / "many", 40))
    window.scan_arrivals([str(p) for p in received])  # as DicomNetwork does for a stored film
    window.service.watch_found.emit([str(p) for p in watched])
    window.stop_watch()  # drops the watched folder's file, not the received film
    with qtbot.waitSignal(window.scan_finished, timeout=SCAN_TIMEOUT_MS):
        window.cancel_scan()
        gate.set()
    qtbot.waitUntil(lambda: not window.is_scanning and "film000.png" in {r.name for r in window.results_model.results},
                    timeout=SCAN_TIMEOUT_MS)  # fmt: skip
    assert "watched000.png" not in {r.name for r in window.results_model.results}
