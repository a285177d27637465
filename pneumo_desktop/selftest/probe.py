"""``--startup-probe``, for ``benchmarks/bundle_bench.py``: open the real main window off screen,
wait until it reports its model ready, quit, and print one JSON line with the wall-clock times
(``time.time()``) of both events."""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any, cast

from .report import emit


def startup_probe(model_dir: Path | None, t_start: float, timeout_s: float = 600.0) -> int:
    """Open the real main window off screen, wait for its model, print wall-clock times as JSON.

    ``window_shown``: the main window is shown and its first events processed; ``model_ready``:
    the window's ``model_ready`` signal (the model is loaded in its worker thread). Times are
    ``time.time()`` values so that a caller can subtract the moment it started the process.
    """
    stamps: dict[str, Any] = {"main_entered": t_start}
    try:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication

        from ..gui.main_window import MainWindow
        from ..gui.settings import APPLICATION, ORGANISATION

        app = cast(QApplication, QApplication.instance()) or QApplication(
            [sys.argv[0] if sys.argv else "PneumoDesktop"]
        )
        app.setOrganizationName(ORGANISATION)
        app.setApplicationName(APPLICATION)
        window = MainWindow(str(model_dir) if model_dir else None)

        def ready(info: Any) -> None:
            stamps["model_ready"] = time.time()
            stamps["model"] = str(getattr(info, "title", ""))
            stamps["device"] = str(getattr(info, "device_name", ""))
            app.quit()

        def failed(message: str) -> None:
            stamps["error"] = f"model failed: {message}"
            app.quit()

        def too_slow() -> None:
            stamps["error"] = f"no model after {timeout_s:.0f} s"
            app.quit()

        window.model_ready.connect(ready)
        window.model_failed.connect(failed)
        window.show()
        app.processEvents()
        stamps["window_shown"] = time.time()
        QTimer.singleShot(int(timeout_s * 1000), too_slow)
        if "model_ready" not in stamps and "error" not in stamps:
            app.exec()
        window.shutdown()
    except Exception as exc:
        stamps["error"] = f"{type(exc).__name__}: {exc}"
        stamps["traceback"] = traceback.format_exc()
    emit(json.dumps(stamps))
    return 0 if "error" not in stamps else 1
