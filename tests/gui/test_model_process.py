"""The app's model and decoders run in child processes: a decoder crash costs one row, not the app,
and closing the window leaves no process behind."""

from __future__ import annotations

import multiprocessing

from .conftest import SCAN_TIMEOUT_MS, write_images


def test_decoder_crash_is_one_row_and_close_leaves_no_process(
    qtbot, make_window, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("PNEUMO_DECODER_CRASH_TEST", "hostile")
    files = write_images(tmp_path / "in", 3) + write_images(tmp_path / "in", 1, prefix="hostile")
    window = make_window()
    assert window.service.worker.predictor.pid is not None  # the model is in a child process
    with qtbot.waitSignal(window.scan_finished, timeout=SCAN_TIMEOUT_MS):
        window.open_paths([str(tmp_path / "in")])
    rows = [window.results_model.result(r) for r in range(window.results_model.rowCount())]
    assert len(rows) == len(files)
    crashed = [r for r in rows if r.name.startswith("hostile")]
    assert len(crashed) == 1 and crashed[0].reason_code == "decoder_crash"
    assert all(r.status == "ok" for r in rows if not r.name.startswith("hostile"))
    window.close()
    qtbot.waitUntil(lambda: not multiprocessing.active_children(), timeout=20_000)
