"""The window as a clinician meets it: stale status text clears when the work it announced starts."""

from __future__ import annotations

from .conftest import MODEL_TIMEOUT_MS, SCAN_TIMEOUT_MS


def test_the_waiting_message_clears_when_the_scan_starts(qtbot, make_window, images) -> None:
    window = make_window(ready=False)
    window.open_paths(images[:2])
    if window.is_model_ready:  # the model beat us: nothing was queued, nothing to clear
        return
    assert "as soon as the model is ready" in window.statusBar().currentMessage()
    with qtbot.waitSignal(window.model_ready, timeout=MODEL_TIMEOUT_MS):
        pass
    assert "as soon as the model is ready" not in window.statusBar().currentMessage()
    with qtbot.waitSignal(window.scan_finished, timeout=SCAN_TIMEOUT_MS):
        pass
