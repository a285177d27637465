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


def test_which_arrivals_join_the_view(tmp_path) -> None:
    from pneumo_desktop.gui.watchview import arrivals_join_view

    watched, other, received = tmp_path / "incoming", tmp_path / "ward-b", tmp_path / "received"
    for d in (watched, other, received):
        d.mkdir()
    new = str(watched / "new.png")
    assert arrivals_join_view([new], [str(watched)], str(watched))  # a scan of the watched folder
    assert arrivals_join_view([new], [str(watched / "old.png")], str(watched))  # of earlier arrivals
    assert arrivals_join_view([new], [str(tmp_path)], str(watched))  # of a folder holding it
    assert not arrivals_join_view([new], [str(other)], str(watched))  # of another folder: never
    assert not arrivals_join_view([new], [], str(watched))  # nothing (or History) in view
    assert arrivals_join_view([], [str(other)], str(watched))  # the user's own files
    film = str(received / "1.2.3.dcm")  # the DICOM receiver's films join each other, nothing else
    assert arrivals_join_view([film], [str(received / "1.2.2.dcm")], None)
    assert not arrivals_join_view([film], [str(other)], None)
