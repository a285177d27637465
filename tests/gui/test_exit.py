"""A clean exit however the app ends (gui.lifecycle): the window closed, SIGTERM, Python exiting
without the window being closed. Each runs the app in a child process, which must exit 0 without
Qt's "QThread: Destroyed while thread is still running" abort."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import os, signal, sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

mode, model_dir, folder = sys.argv[1:4]
qapp = QApplication(["pneumo-desktop"])
from pneumo_desktop.gui import MainWindow, app, lifecycle


def window():
    found = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
    return found[0] if found else None


def act():
    w = window()
    if w is None or w.model_info is None or not w.service.thread.isRunning():
        QTimer.singleShot(50, act)  # wait until the window is up and its model thread runs
        return
    print("window ready", flush=True)
    if mode == "close":
        w.close()
    elif mode == "sigterm":
        os.kill(os.getpid(), signal.SIGTERM)
    elif mode == "exit":
        sys.exit(0)  # Python exits from inside the event loop, the window still open


if mode == "script":  # a script that makes a window and just ends, never running the event loop
    w = MainWindow(model_dir)
    w.show()
    lifecycle.install(qapp)
    for _ in range(600):
        qapp.processEvents()
        if w.model_info is not None and w.service.thread.isRunning():
            break
        w.service.thread.wait(50)
    print("window ready", flush=True)
    sys.exit(0)
QTimer.singleShot(0, act)
code = app.main([folder, "--model-dir", model_dir])
print("main returned", code, flush=True)
sys.exit(code)
"""


@pytest.mark.parametrize("mode", ["close", "sigterm", "exit", "script"])
def test_the_app_ends_cleanly(mode: str, tiny_model_dir: Path, tmp_path: Path) -> None:
    if mode == "sigterm" and not hasattr(signal, "SIGTERM"):
        pytest.skip("no SIGTERM here")
    from .conftest import write_images

    folder = write_images(tmp_path / "films", 2)[0].parent
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "PNEUMO_DATA_DIR": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
    }
    done = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(tiny_model_dir), str(folder)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    out = done.stdout + done.stderr
    assert "Destroyed while thread" not in out, out[-3000:]
    assert done.returncode == 0, f"exit code {done.returncode}\n{out[-3000:]}"
    assert "window ready" in done.stdout, out[-3000:]
    if mode in ("close", "sigterm"):
        assert "main returned 0" in done.stdout, out[-3000:]
