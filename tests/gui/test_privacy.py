"""File > Forget patient data, and the viewer's reveal of a name the store no longer keeps (issue 16)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import child_copy
from tests.gui.conftest import SCAN_TIMEOUT_MS


@pytest.mark.real_data
def test_history_has_no_patient_name_but_the_viewer_reveals_it_from_the_file(
    qtbot, make_window, dicom_dir, tmp_path
) -> None:
    from pneumo_desktop.core.store import ResultsStore

    src = dicom_dir / "dx_chest_mono2_8bit_implicit_le.dcm"
    path = child_copy(src, tmp_path)  # a child: judged, so the viewer shows its details
    store = ResultsStore(tmp_path / "s.sqlite3")
    window = make_window(store=store)
    with qtbot.waitSignal(window.scan_finished, timeout=SCAN_TIMEOUT_MS):
        window.open_paths([path])
    (stored,) = store.scan_results(store.scans()[0].id)
    assert stored.patient_name == "" and stored.patient_id == ""  # not kept at rest
    item = window.history_list.item(0)
    with qtbot.waitSignal(window.history_loaded, timeout=SCAN_TIMEOUT_MS):
        window.history_list.itemClicked.emit(item)
    window.select_row(0)
    qtbot.waitUntil(
        lambda: window.viewer.xray is not None and window.viewer.xray.name == path.name, timeout=10_000
    )
    name = window.viewer.xray.patient_name
    assert name  # read from the file itself
    window.viewer.patient_button.click()
    assert window.viewer.patient_label.text() == name.replace("^", " ")


def test_forget_patient_data_action(qtbot, make_window, tmp_path, monkeypatch) -> None:
    from PySide6.QtWidgets import QMessageBox

    from pneumo_desktop.core.results import OK, ScanResult
    from pneumo_desktop.core.store import ResultsStore

    store = ResultsStore(tmp_path / "s.sqlite3")
    store.keep_patient_data = True  # a store from a scan that opted in
    sid = store.begin_scan(["x"], "k")
    row = ScanResult(
        path="/x/a.dcm",
        status=OK,
        probability=0.1,
        label="Normal",
        message="",
        patient_name="Doe^Jane",
        patient_id="PID-9",
        content_hash="h",
    )
    store.add(sid, [row], "k")
    store.end_scan(sid)
    window = make_window(store=store, ready=False)
    action = window.forget_patient_action
    assert action in window.menuBar().actions()[0].menu().actions()  # in the File menu
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    with qtbot.waitSignal(window._privacy_signals.forgotten, timeout=10_000) as blocker:
        action.trigger()
    assert blocker.args == [2]  # the cached row and the History row
    blob = b"".join(p.read_bytes() for p in Path(tmp_path).glob("s.sqlite3*"))
    assert b"Doe^Jane" not in blob and b"PID-9" not in blob


def test_closing_the_window_mid_scan_marks_the_scan_interrupted(qtbot, make_window, tmp_path) -> None:
    from pneumo_desktop.core.store import ResultsStore
    from tests.gui.conftest import write_images

    store_path = tmp_path / "s.sqlite3"
    window = make_window(store=ResultsStore(store_path), batch_size=1)
    images = write_images(tmp_path / "many", 400, size=64)
    window.open_paths(images)
    qtbot.waitUntil(lambda: window.results_model.rowCount() >= 2, timeout=60_000)
    window.close()  # finishes the batch in progress, then the scan is recorded as interrupted
    check = ResultsStore(store_path)
    (record,) = check.scans()
    check.close()
    assert (record.state, 0 < record.count < 400) == ("interrupted", True), record
