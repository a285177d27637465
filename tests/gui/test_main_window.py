"""The main window on the tiny model: start-up, scanning, cancel, threshold, export, history, close."""

from __future__ import annotations

import csv
import re
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from pneumo_desktop import report as report_module
from pneumo_desktop.core.results import NEEDS_REVIEW, NORMAL, PNEUMONIA, UNREADABLE
from pneumo_desktop.core.store import ResultsStore
from pneumo_desktop.gui import MainWindow
from pneumo_desktop.gui import exports as exports_module
from pneumo_desktop.gui.table import LABEL, NAME, PROBABILITY, RESULT_ROLE

from .conftest import MODEL_TIMEOUT_MS, SCAN_TIMEOUT_MS, write_images


def labels(window: MainWindow) -> list[str]:
    return [r.label for r in window.results_model.results]


def scan(qtbot, window: MainWindow, paths: list[Path | str]) -> str:
    with qtbot.waitSignal(window.scan_finished, timeout=SCAN_TIMEOUT_MS) as blocker:
        window.open_paths(paths)
    return blocker.args[0]


def pdf_pages(path: Path) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", path.read_bytes()))


def names(window: MainWindow) -> list[str]:
    return sorted(r.name for r in window.results_model.results)


def spy_thread(monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> list[threading.Thread]:
    """Wrap ``owner.name`` (still called for real) to record the threads that call it."""
    threads: list[threading.Thread] = []
    real = getattr(owner, name)

    def spy(*args, **kwargs):
        threads.append(threading.current_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, spy)
    return threads


def export(qtbot, window: MainWindow, path: Path, **kwargs: bool) -> int:
    with qtbot.waitSignal(window.csv_finished, timeout=SCAN_TIMEOUT_MS) as blocker:
        window.export_csv(path, **kwargs)
    assert blocker.args[0] == str(path)
    return blocker.args[1]


# ---------------------------------------------------------------------------------------------


def test_window_shows_before_the_model_is_ready(qtbot, make_window) -> None:
    window = make_window(ready=False)
    assert not window.is_model_ready
    assert window.model_label.text() == "Loading model…"
    assert not window.threshold_spin.isEnabled()
    with qtbot.waitSignal(window.model_ready, timeout=MODEL_TIMEOUT_MS) as blocker:
        pass
    info = blocker.args[0]
    assert window.model_label.text() == f"Model tiny-test-model 0.0.1 ready on {info.device_name}"
    assert window.threshold == pytest.approx(0.5)
    assert window.threshold_spin.value() == pytest.approx(50.0)


def test_files_opened_before_the_model_is_ready_are_queued(qtbot, make_window, images) -> None:
    window = make_window(ready=False)
    window.open_paths(images[:2])
    window.open_paths(images[2:3])
    assert window.results_model.rowCount() == 0
    with qtbot.waitSignal(window.scan_finished, timeout=MODEL_TIMEOUT_MS) as blocker:
        pass
    assert blocker.args == ["finished"]
    assert window.results_model.rowCount() == 3


def test_open_one_file(qtbot, window, images) -> None:
    assert scan(qtbot, window, [images[0]]) == "finished"
    model = window.results_model
    assert model.rowCount() == 1
    r = model.result(0)
    assert r.label in (PNEUMONIA, NORMAL)
    assert model.data(model.index(0, NAME)) == images[0].name
    assert model.data(model.index(0, PROBABILITY)) == f"{r.probability * 100:.1f} %"
    assert model.data(model.index(0, LABEL)) == r.label
    assert model.data(model.index(0, LABEL), Qt.ItemDataRole.DecorationRole) is not None  # icon and text
    # The first row is selected and shown in the viewer.
    qtbot.waitUntil(lambda: window.viewer.xray is not None, timeout=10_000)
    assert window.viewer.view.image_size() == (160, 160)
    assert window.summary_label.text().startswith("1 file: ")


def test_folder_scan_is_recursive_and_unreadable_files_get_rows(qtbot, window, tmp_path) -> None:
    folder = tmp_path / "clinic"
    write_images(folder, 3)
    write_images(folder / "sub" / "deeper", 2, prefix="deep")
    (folder / "notes.txt").write_text("not an image", encoding="utf-8")
    (folder / "sub" / "empty.png").write_bytes(b"")
    (folder / "sub" / "truncated.png").write_bytes((folder / "img000.png").read_bytes()[:200])
    assert scan(qtbot, window, [folder]) == "finished"
    model = window.results_model
    assert model.rowCount() == 8
    by_name = {r.name: r for r in model.results}
    for name in ("notes.txt", "empty.png", "truncated.png"):
        assert by_name[name].label == UNREADABLE
        assert by_name[name].message and "Traceback" not in by_name[name].message
    assert by_name["empty.png"].message == "The file is empty (0 bytes)."
    counts = model.counts()
    assert counts[UNREADABLE] == 3 and counts["total"] == 8
    assert window.summary_label.text() == (
        f"8 files: {counts[PNEUMONIA]} Pneumonia, {counts[NORMAL]} Normal, "
        f"{counts[NEEDS_REVIEW]} Needs review, 3 Unreadable"
    )
    # Filter by label and search by name.
    window.filter_combo.setCurrentIndex(window.filter_combo.findData(UNREADABLE))
    assert window.proxy.rowCount() == 3
    window.search_edit.setText("EMPTY")
    assert window.proxy.rowCount() == 1
    assert "(showing 1)" in window.summary_label.text()
    window.filter_combo.setCurrentIndex(0)
    window.search_edit.clear()
    assert window.proxy.rowCount() == 8
    # The folder became a recent folder.
    assert window.settings.recent_folders()[0] == str(folder)


def _start_held_scan(qtbot, window, files) -> threading.Event:
    """Start a scan and hold the model thread after its first batch until the returned gate is set."""
    gate = threading.Event()
    window.service.batch_ready.connect(lambda *_: gate.wait(10), Qt.ConnectionType.DirectConnection)
    window.open_paths(files)
    qtbot.waitUntil(lambda: window.results_model.rowCount() > 0, timeout=SCAN_TIMEOUT_MS)
    return gate


def test_cancel_mid_scan_with_escape(qtbot, window, tmp_path) -> None:
    gate = _start_held_scan(qtbot, window, write_images(tmp_path / "many", 40))
    assert window.is_scanning and window.progress_row.isVisible()
    assert window.progress_bar.maximum() == 40
    with qtbot.waitSignal(window.scan_finished, timeout=SCAN_TIMEOUT_MS) as blocker:
        window.activateWindow()
        window.table.setFocus()
        qtbot.keyClick(window.table, Qt.Key.Key_Escape)
        assert not window.cancel_button.isEnabled()  # the shortcut reached cancel_scan
        gate.set()
    assert blocker.args == ["cancelled"]
    rows = window.results_model.rowCount()
    assert 0 < rows < 40
    assert not window.progress_row.isVisible()
    # What was computed is in the store, and the history says the scan was cancelled.
    record = window.store.scans()[0]
    assert record.state == "cancelled" and record.count == rows


def test_cancel_button(qtbot, window, tmp_path) -> None:
    gate = _start_held_scan(qtbot, window, write_images(tmp_path / "many", 24))
    with qtbot.waitSignal(window.scan_finished, timeout=SCAN_TIMEOUT_MS) as blocker:
        qtbot.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton)
        gate.set()
    assert blocker.args == ["cancelled"]
    assert window.results_model.rowCount() < 24


def test_threshold_relabels_every_row_without_running_the_model(qtbot, window, tmp_path) -> None:
    files = write_images(tmp_path / "imgs", 10, seed=3)
    scan(qtbot, window, files)
    probs = sorted(r.probability for r in window.results_model.results)
    assert probs[0] < probs[-1]
    middle = round((probs[4] + probs[5]) / 2, 4)
    started: list[object] = []
    real_scan = window.service.scan
    window.service.scan = lambda *a, **k: (started.append(a), real_scan(*a, **k))[1]
    window.threshold_spin.setValue(middle * 100)  # as the user would
    assert window.threshold == pytest.approx(middle, abs=1e-3)
    for r in window.results_model.results:
        assert r.label == (PNEUMONIA if r.probability >= window.threshold else NORMAL)
        assert r.threshold == window.threshold
    assert window.results_model.counts()[PNEUMONIA] == sum(p >= window.threshold for p in probs)
    assert window.settings.threshold("tiny-test-model 0.0.1") == pytest.approx(window.threshold)
    window.set_threshold(0.999)
    assert set(labels(window)) == {NORMAL}
    window.set_threshold(0.001)
    assert set(labels(window)) == {PNEUMONIA}
    # The viewer's details follow the relabelled row.
    assert window.viewer.current is not None and window.viewer.current.label == PNEUMONIA
    window.reset_threshold()
    assert window.threshold == pytest.approx(0.5)
    assert window.settings.threshold("tiny-test-model 0.0.1") is None
    QApplication.processEvents()
    assert started == []  # no model run


def test_settings_persist_between_sessions(qtbot, make_window, images) -> None:
    first = make_window()
    first.set_threshold(0.3)
    first.open_paths([images[0].parent])
    with qtbot.waitSignal(first.scan_finished, timeout=SCAN_TIMEOUT_MS):
        pass
    first.close()
    second = make_window()
    assert second.threshold == pytest.approx(0.3)
    assert second.threshold_spin.value() == pytest.approx(30.0)
    assert second.settings.recent_folders() == [str(images[0].parent)]
    second.recent_menu.aboutToShow.emit()
    assert str(images[0].parent) in [a.text() for a in second.recent_menu.actions()]


def test_csv_export_all_and_filtered(qtbot, window, tmp_path, monkeypatch) -> None:
    folder = tmp_path / "mix"
    write_images(folder, 4)
    (folder / "readme.txt").write_text("hello", encoding="utf-8")
    scan(qtbot, window, [folder])
    writers = spy_thread(monkeypatch, exports_module, "write_csv")
    out = tmp_path / "all.csv"
    assert export(qtbot, window, out) == 5
    assert writers and threading.main_thread() not in writers  # written off the GUI thread
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM for Excel
    rows = list(csv.DictReader(out.open(encoding="utf-8-sig")))
    assert len(rows) == 5
    assert {"path", "probability", "label", "message"} <= set(rows[0])
    assert "patient_name" not in rows[0]
    assert {row["label"] for row in rows if row["path"].endswith("readme.txt")} == {UNREADABLE}
    window.filter_combo.setCurrentIndex(window.filter_combo.findData(UNREADABLE))
    shown = tmp_path / "shown.csv"
    assert export(qtbot, window, shown, only_shown=True, include_patient=True) == 1
    rows = list(csv.DictReader(shown.open(encoding="utf-8-sig")))
    assert len(rows) == 1 and rows[0]["path"].endswith("readme.txt")
    assert "patient_name" in rows[0]


def test_csv_export_failure_is_a_sentence(qtbot, window, images, tmp_path) -> None:
    scan(qtbot, window, images[:1])
    with qtbot.waitSignal(window.csv_failed, timeout=SCAN_TIMEOUT_MS) as blocker:
        window.export_csv(tmp_path / "no" / "such" / "folder" / "r.csv")
    assert blocker.args[0].startswith("The CSV file could not be written: No such file or directory")


def test_pdf_report_has_a_summary_and_every_file(
    qtbot,
    window,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = tmp_path / "mix"
    write_images(folder, 5, seed=4)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 50)
    scan(qtbot, window, [folder])
    drawn: list[str] = []  # every text the report draws (in the model thread)
    real_text = report_module._text

    def record(p, x, y, w, text, *args, **kwargs):
        drawn.append(text)
        return real_text(p, x, y, w, text, *args, **kwargs)

    monkeypatch.setattr(report_module, "_text", record)
    out = tmp_path / "report.pdf"
    with qtbot.waitSignal(window.report_finished, timeout=SCAN_TIMEOUT_MS) as blocker:
        window.export_pdf(out)
    assert blocker.args == [str(out)]
    assert out.read_bytes().startswith(b"%PDF")
    assert pdf_pages(out) == 1 + 2  # the summary, then six files three to a page
    broken = window.results_model.result(window.results_model.row_of(str(folder / "broken.png")))
    assert broken.label == UNREADABLE and broken.message
    assert "broken.png" in drawn and broken.message in drawn  # not screened: named, with the reason
    for r in window.results_model.results:  # every file, whatever its label
        assert r.name in drawn
    assert any("(model card)" in t for t in drawn)  # the threshold in force and its source


def test_a_report_that_cannot_be_written_is_a_sentence(qtbot, window, images, tmp_path) -> None:
    scan(qtbot, window, images[:1])
    with qtbot.waitSignal(window.report_failed, timeout=SCAN_TIMEOUT_MS) as blocker:
        window.export_pdf(tmp_path / "no" / "such" / "folder" / "r.pdf")
    assert blocker.args[0].startswith("The report could not be written: ")
    assert "Traceback" not in blocker.args[0]


def test_drop_files_and_folders(qtbot, window, tmp_path) -> None:
    a = write_images(tmp_path / "a", 2)
    b = write_images(tmp_path / "b", 3, prefix="b")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(a[0])), QUrl.fromLocalFile(str(b[0].parent))])
    enter = QDragEnterEvent(
        QPoint(300, 300),  # QPoint: what Qt's own signature takes (PySide6 < 6.12 has no QPointF overload)
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    drop = QDropEvent(
        QPointF(300, 300),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    with qtbot.waitSignal(window.scan_finished, timeout=SCAN_TIMEOUT_MS):
        QApplication.sendEvent(window, drop)
    assert drop.isAccepted()
    assert sorted(r.name for r in window.results_model.results) == [
        "b000.png",
        "b001.png",
        "b002.png",
        "img000.png",
    ]
    # Text drags are refused.
    text = QMimeData()
    text.setText("hello")
    enter = QDragEnterEvent(
        QPoint(10, 10),
        Qt.DropAction.CopyAction,
        text,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(window, enter)
    assert not enter.isAccepted()


def test_history_reloads_a_past_scan(qtbot, window, tmp_path, monkeypatch) -> None:
    first = write_images(tmp_path / "first", 3)
    second = write_images(tmp_path / "second", 2, prefix="s")
    scan(qtbot, window, first)
    scan(qtbot, window, second)
    assert window.results_model.rowCount() == 2
    assert window.history_list.count() == 2
    item = window.history_list.item(1)  # newest first: the first scan is second
    assert "3 files" in item.text()
    readers = spy_thread(monkeypatch, window.store, "scan_results")
    with qtbot.waitSignal(window.history_loaded, timeout=SCAN_TIMEOUT_MS):
        window.history_list.itemClicked.emit(item)
        assert window.results_model.rowCount() == 2  # the click returns before the rows are read
    assert readers and threading.main_thread() not in readers  # decoded off the GUI thread
    assert names(window) == ["img000.png", "img001.png", "img002.png"]
    assert window.table.currentIndex().row() == 0


def test_a_history_load_overtaken_by_a_scan_is_dropped(qtbot, window, tmp_path) -> None:
    scan(qtbot, window, write_images(tmp_path / "first", 3))
    gate = threading.Event()
    real = window.store.scan_results
    window.store.scan_results = lambda scan_id: (gate.wait(10), real(scan_id))[1]  # a slow disk
    window.load_history(window.store.scans()[0].id, "first")
    try:
        with qtbot.waitSignal(window.scan_finished, timeout=SCAN_TIMEOUT_MS):
            window.open_paths(write_images(tmp_path / "second", 2, prefix="s"))
    finally:
        gate.set()  # the old scan's rows arrive after the new scan has finished
    window.io_pool.waitForDone()
    QApplication.processEvents()
    assert names(window) == ["s000.png", "s001.png"]  # the scan's rows, not the old scan's


def test_arrow_keys_move_through_results(qtbot, window, images) -> None:
    scan(qtbot, window, images)
    window.select_row(0)
    window.viewer.view.setFocus()
    qtbot.keyClick(window.viewer.view, Qt.Key.Key_Down)
    qtbot.keyClick(window.viewer.view, Qt.Key.Key_Down)
    assert window.table.currentIndex().row() == 2
    qtbot.keyClick(window.viewer.view, Qt.Key.Key_Up)
    assert window.table.currentIndex().row() == 1
    result = window.proxy.data(window.table.currentIndex(), RESULT_ROLE)
    qtbot.waitUntil(
        lambda: window.viewer.xray is not None and window.viewer.xray.path == result.path, timeout=10_000
    )


def test_close_mid_scan_stops_the_thread_and_keeps_results(qtbot, make_window, tmp_path) -> None:
    window = make_window()
    store_path = window.store.path
    files = write_images(tmp_path / "many", 40)
    gate = threading.Event()
    window.service.batch_ready.connect(lambda *_: gate.wait(10), Qt.ConnectionType.DirectConnection)
    window.open_paths(files)
    qtbot.waitUntil(lambda: window.results_model.rowCount() > 0, timeout=SCAN_TIMEOUT_MS)
    gate.set()
    window.close()
    assert window.service.thread.isFinished()
    store = ResultsStore(store_path)
    try:
        record = store.scans()[0]
        assert record.state == "interrupted"  # closing the app mid-scan, like SIGTERM (issue 16)
        assert 0 < record.count < 40
        assert len(store.scan_results(record.id)) == record.count
    finally:
        store.close()


def test_missing_model_is_a_message_not_a_traceback(qtbot, make_window, tmp_path, images) -> None:
    empty = tmp_path / "no-model"
    empty.mkdir()
    window = make_window(ready=False, model_dir=empty)
    with qtbot.waitSignal(window.model_failed, timeout=MODEL_TIMEOUT_MS) as blocker:
        pass
    assert "No model card found" in blocker.args[0]
    assert window.model_label.text() == "Model not available"
    assert not window.is_model_ready
    window.open_paths(images[:1])  # queued, nothing crashes
    assert window.results_model.rowCount() == 0


def test_default_model_dir_comes_from_the_environment(qtbot, monkeypatch, tiny_model_dir) -> None:
    monkeypatch.setenv("PNEUMO_MODEL_DIR", str(tiny_model_dir))
    window = MainWindow()
    qtbot.addWidget(window)
    try:
        with qtbot.waitSignal(window.model_ready, timeout=MODEL_TIMEOUT_MS) as blocker:
            pass
        assert blocker.args[0].title == "tiny-test-model 0.0.1"
    finally:
        window.close()


def test_watch_folder_scans_new_files(qtbot, window, tmp_path, monkeypatch) -> None:
    from pneumo_desktop.gui import service

    monkeypatch.setattr(service, "WATCH_INTERVAL_MS", 100)
    folder = tmp_path / "incoming"
    write_images(folder, 1, prefix="old")
    window.start_watch(folder)
    assert window.watch_label.isVisible() and window.watch_action.isChecked()
    qtbot.wait(300)  # the watcher has listed what was already there
    with qtbot.waitSignal(window.scan_finished, timeout=SCAN_TIMEOUT_MS):
        write_images(folder, 2, prefix="new")
    qtbot.waitUntil(lambda: window.results_model.rowCount() == 2, timeout=SCAN_TIMEOUT_MS)
    assert sorted(r.name for r in window.results_model.results) == ["new000.png", "new001.png"]
    window.stop_watch()
    assert not window.watch_label.isVisible()


def _watch(qtbot, window: MainWindow, folder: Path) -> None:
    """Watch ``folder`` (its files count as already there); the test reports arrivals itself."""
    window.start_watch(folder)
    qtbot.wait(300)  # the watcher (model thread) has listed the folder


def test_watched_arrivals_join_the_scan_in_view(qtbot, window, tmp_path) -> None:
    scan(qtbot, window, write_images(tmp_path / "incoming", 2, prefix="old"))  # the watched folder itself
    arrivals = [write_images(tmp_path / "incoming", 1, prefix=f"new{i}") for i in range(2)]
    _watch(qtbot, window, tmp_path / "incoming")
    for files in arrivals:  # two polls, each with a new film
        with qtbot.waitSignal(window.scan_finished, timeout=SCAN_TIMEOUT_MS):
            window.service.watch_found.emit([str(p) for p in files])
    window.stop_watch()
    (record,) = window.store.scans()  # one History entry, not one per poll
    assert record.count == 4 and record.state == "finished"
    assert len(names(window)) == 4


def test_watched_arrivals_never_join_a_scan_of_another_folder(qtbot, window, tmp_path) -> None:
    first = write_images(tmp_path / "first", 2)
    scan(qtbot, window, first)
    arrivals = [write_images(tmp_path / "incoming", 1, prefix=f"new{i}") for i in range(2)]
    _watch(qtbot, window, tmp_path / "incoming")
    for files in arrivals:
        with qtbot.waitSignal(window.scan_finished, timeout=SCAN_TIMEOUT_MS):
            window.service.watch_found.emit([str(p) for p in files])
    window.stop_watch()
    assert sorted(names(window)) == ["new0000.png", "new1000.png"]  # a view of their own
    newest, older = window.store.scans()
    assert older.count == 2 and sorted(older.roots) == sorted(str(p) for p in first)  # untouched
    assert newest.count == 2  # the arrivals: one entry, the second poll joined the first


def test_cancel_keeps_files_from_the_watched_folder(qtbot, window, tmp_path) -> None:
    arrived = write_images(tmp_path / "incoming", 2, prefix="new")
    _watch(qtbot, window, tmp_path / "incoming")
    gate = _start_held_scan(qtbot, window, write_images(tmp_path / "many", 40))
    window.service.watch_found.emit([str(p) for p in arrived])  # reported once, mid-scan
    with qtbot.waitSignal(window.scan_finished, timeout=SCAN_TIMEOUT_MS) as blocker:
        window.cancel_scan()
        gate.set()
    assert blocker.args == ["cancelled"]
    qtbot.waitUntil(
        lambda: not window.is_scanning and {"new000.png", "new001.png"} <= set(names(window)),
        timeout=SCAN_TIMEOUT_MS,
    )
    window.stop_watch()


def test_stopping_the_watch_drops_its_queued_files(qtbot, window, tmp_path) -> None:
    arrived = write_images(tmp_path / "incoming", 2, prefix="new")
    _watch(qtbot, window, tmp_path / "incoming")
    gate = _start_held_scan(qtbot, window, write_images(tmp_path / "many", 40))
    window.service.watch_found.emit([str(p) for p in arrived])
    window.stop_watch()
    with qtbot.waitSignal(window.scan_finished, timeout=SCAN_TIMEOUT_MS) as blocker:
        window.cancel_scan()
        gate.set()
    assert blocker.args == ["cancelled"]
    qtbot.wait(300)
    assert not window.is_scanning and not {"new000.png", "new001.png"} & set(names(window))


def test_a_cancelled_scan_of_watched_files_finishes_them(qtbot, window, tmp_path) -> None:
    arrived = write_images(tmp_path / "incoming", 12, prefix="new")
    _watch(qtbot, window, tmp_path / "incoming")
    gate = threading.Event()
    window.service.batch_ready.connect(lambda *_: gate.wait(10), Qt.ConnectionType.DirectConnection)
    window.service.watch_found.emit([str(p) for p in arrived])
    qtbot.waitUntil(lambda: window.results_model.rowCount() > 0, timeout=SCAN_TIMEOUT_MS)
    with qtbot.waitSignal(window.scan_finished, timeout=SCAN_TIMEOUT_MS) as blocker:
        window.cancel_scan()
        gate.set()
    assert blocker.args == ["cancelled"]
    assert window.results_model.rowCount() < 12
    # The watcher will not report them again: the rest are scanned next, into the same view.
    qtbot.waitUntil(
        lambda: not window.is_scanning and names(window) == sorted(p.name for p in arrived),
        timeout=SCAN_TIMEOUT_MS,
    )
    window.stop_watch()


def test_a_watched_arrival_does_not_join_a_scan_from_history(qtbot, window, tmp_path) -> None:
    scan(qtbot, window, write_images(tmp_path / "yesterday", 3))
    scan(qtbot, window, write_images(tmp_path / "other", 2, prefix="o"))
    arrived = write_images(tmp_path / "incoming", 1, prefix="new")
    _watch(qtbot, window, tmp_path / "incoming")
    with qtbot.waitSignal(window.history_loaded, timeout=SCAN_TIMEOUT_MS):
        window.history_list.itemClicked.emit(window.history_list.item(1))
    assert names(window) == ["img000.png", "img001.png", "img002.png"]
    assert "yesterday" in window.windowTitle()
    with qtbot.waitSignal(window.scan_finished, timeout=SCAN_TIMEOUT_MS):
        window.service.watch_found.emit([str(arrived[0])])
    assert names(window) == ["new000.png"]  # a fresh live view, not yesterday's scan plus today's file
    assert "yesterday" not in window.windowTitle()
    window.stop_watch()


def test_preferences_apply_threshold_and_reload_on_device_change(qtbot, window) -> None:
    dialog = window.preferences_dialog()
    assert dialog.device() == "auto"
    assert dialog.threshold() == pytest.approx(0.5)
    dialog.threshold_spin.setValue(42.0)
    dialog.reset_threshold()
    assert dialog.threshold() == pytest.approx(0.5)
    dialog.deleteLater()
    window.apply_preferences("auto", 0.42)
    assert window.threshold == pytest.approx(0.42)
    with qtbot.waitSignal(window.model_ready, timeout=MODEL_TIMEOUT_MS) as blocker:
        window.apply_preferences("cpu", 0.42)
    assert window.settings.device == "cpu"
    assert blocker.args[0].device_name.startswith("CPU")
    assert window.model_label.text().endswith(f"ready on {blocker.args[0].device_name}")  # "CPU bf16" with AMX


def test_a_device_that_fails_keeps_the_working_model_and_setting(qtbot, window) -> None:
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("this computer has a GPU: choosing it would succeed")
    title = window.model_info.title
    with qtbot.waitSignal(window.model_failed, timeout=MODEL_TIMEOUT_MS) as blocker:
        window.apply_preferences("gpu", 0.5)
        assert not window.is_model_ready and window.model_label.text() == "Loading model…"
    assert blocker.args[0] == "No GPU is available to TensorFlow on this computer; choose CPU or Auto."
    assert window.is_model_ready and window.model_info.title == title
    assert window.settings.device == "auto"
    assert window.model_label.text().startswith(f"Model {title} ready on")


def test_about_box_and_diagnostics(window) -> None:
    from pneumo_desktop.gui.dialogs import AboutDialog

    about = AboutDialog(window.model_info, window)
    text = about.browser.toPlainText()
    about.deleteLater()
    assert "Decision support only, not a diagnostic device." in text
    assert "doi:10.17632/rscbjbr9sj.2" in text and "CC BY 4.0" in text
    assert "trained on a modified copy of this data set (downsized, re-encoded" in text
    for name in ("PySide6", "LGPL-3.0", "Apache-2.0", "python-gdcm", "MIT-CMU"):
        assert name in text
    assert "tiny-test-model 0.0.1" in text
    diag = window.copy_diagnostics()
    assert "Pneumo Desktop" in diag and "tiny-test-model 0.0.1" in diag and "Log file:" in diag
    assert QApplication.clipboard().text() == diag
