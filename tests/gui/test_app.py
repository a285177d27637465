"""The entry point: command-line paths, logging to a rotating file, no stdout in windowed apps."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from pneumo_desktop.core.paths import user_data_dir
from pneumo_desktop.gui import MainWindow, app

from .conftest import write_images


@pytest.fixture
def clean_logging(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    root = logging.getLogger()
    level = root.level
    yield
    for handler in list(root.handlers):
        if getattr(handler, "_pneumo", False):
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


def test_main_opens_command_line_paths_and_logs_to_a_file(
    qapp, tiny_model_dir, tmp_path, clean_logging
) -> None:
    images = write_images(tmp_path / "cmdline", 2)
    seen: dict[str, object] = {}

    def watch_for_window() -> None:
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        if not windows:
            QTimer.singleShot(20, watch_for_window)
            return
        window = windows[0]

        def done(state: str) -> None:
            seen["state"] = state
            seen["rows"] = window.results_model.rowCount()
            window.close()

        window.scan_finished.connect(done)

    QTimer.singleShot(0, watch_for_window)
    code = app.main(
        [str(images[0].parent), "--model-dir", str(tiny_model_dir), str(tmp_path / "missing.png")]
    )
    assert code == 0
    assert seen == {"state": "finished", "rows": 2}
    log_file = user_data_dir() / "logs" / "pneumo_desktop.log"
    text = log_file.read_text(encoding="utf-8")
    assert "Pneumo Desktop 0.1.0 starting" in text and "scan finished" in text
    assert sys.excepthook is app._excepthook


def test_no_stdout_in_a_windowed_app(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr(sys, "stderr", None)
    app._ensure_std_streams()
    assert sys.stdout is not None and sys.stderr is not None
    sys.stdout.write("harmless")
    sys.stdout.close()
    sys.stderr.close()


def test_unexpected_errors_go_to_the_log_not_the_screen(
    caplog: pytest.LogCaptureFixture, monkeypatch
) -> None:
    shown: list[str] = []
    monkeypatch.setattr("PySide6.QtWidgets.QMessageBox.exec", lambda self: shown.append(self.text()))
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        app._excepthook(*sys.exc_info())
    assert "Traceback" in caplog.text and "boom" in caplog.text
    assert shown == ["Pneumo Desktop hit an unexpected problem. Your results so far are saved."]


def test_window_appears_fast(qtbot, tiny_model_dir) -> None:
    t0 = time.perf_counter()
    window = MainWindow(tiny_model_dir)
    qtbot.addWidget(window)
    window.show()
    QApplication.processEvents()
    shown = time.perf_counter() - t0
    try:
        assert shown < 2.0, f"the window took {shown:.2f} s to appear"
        with qtbot.waitSignal(window.model_ready, timeout=120_000):
            pass
    finally:
        window.close()


def test_parser_version_and_paths() -> None:
    args = app.build_parser().parse_args(["a.png", "folder", "--model-dir", "m"])
    assert args.paths == ["a.png", "folder"] and args.model_dir == "m"
    assert Path(__file__).exists()


def test_a_store_that_cannot_be_opened_is_a_message_and_exit_4_not_a_crash(
    qapp, tiny_model_dir, clean_logging, monkeypatch, capsys
) -> None:
    """Issue 16: a store the app cannot use (here: its path is a folder) stops the start politely."""
    from PySide6.QtWidgets import QMessageBox

    (user_data_dir() / "results.sqlite3").mkdir(parents=True)
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "critical", lambda parent, title, text, *a: shown.append(text))
    code = app.main(["--model-dir", str(tiny_model_dir)])
    assert code == 4
    assert len(shown) == 1 and "results.sqlite3" in shown[0]
    assert "Traceback" not in capsys.readouterr().err


def test_starting_the_app_loads_no_window_module_on_the_gui_thread() -> None:
    """``gui.app`` runs its event loop before the window's modules (numpy, the store, the session)
    are imported: importing it, and what ``main`` needs before the loop runs, must not pull them in."""
    import subprocess

    code = (
        "import sys\n"
        "import pneumo_desktop.gui.app, pneumo_desktop.gui.single, pneumo_desktop.gui.lifecycle\n"
        "import pneumo_desktop.gui.settings, pneumo_desktop.gui.xcbcheck, pneumo_desktop.gui.logs\n"
        "heavy = [m for m in ('numpy', 'pneumo_desktop.gui.main_window', 'pneumo_desktop.core.store') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
    from pneumo_desktop.gui import MainWindow as Public  # the public name still works (PEP 562)

    assert Public is MainWindow


def test_a_second_launch_before_the_window_exists_is_not_lost(
    qtbot, qapp, tiny_model_dir, monkeypatch, clean_logging
) -> None:
    """Paths handed over by a second launch while the start-up panel shows wait for the window."""
    import argparse

    from pneumo_desktop.gui import single

    handed: list[tuple[object, list[str]]] = []
    monkeypatch.setattr(single, "bring_to_front", lambda window, paths: handed.append((window, paths)))
    args = argparse.Namespace(model_dir=str(tiny_model_dir), batch_size=4, paths=[])
    launch = app._Launch(qapp, args, time.perf_counter())
    try:
        launch.activated(["second.png"])  # the window is not built yet
        assert launch.window is None and handed == []
        qtbot.waitUntil(lambda: launch.window is not None, timeout=60_000)
        assert handed == [(launch.window, ["second.png"])]
        assert launch.window.isVisible() and not launch._panel.isVisible()
        assert qapp.quitOnLastWindowClosed()  # restored once the window shows
    finally:
        if launch.window is not None:
            launch.window.close()
            launch.window.shutdown()
        launch.close_store()


def test_a_window_that_fails_to_build_ends_the_app_with_code_1(
    qapp, tiny_model_dir, clean_logging, monkeypatch, caplog
) -> None:
    """A bug in the window's constructor: the log and one sentence on screen, and exit code 1 (the
    start-up panel closing must not end the app as if all were well)."""
    from PySide6.QtWidgets import QMessageBox

    from pneumo_desktop.gui import main_window

    def broken(self, *args, **kwargs):
        raise RuntimeError("window bug")

    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "exec", lambda self: shown.append(self.text()))
    monkeypatch.setattr(main_window.MainWindow, "__init__", broken)
    assert app.main(["--model-dir", str(tiny_model_dir)]) == 1
    assert shown == ["Pneumo Desktop hit an unexpected problem. Your results so far are saved."]
    assert "window bug" in caplog.text
