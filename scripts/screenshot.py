"""Render ``docs/screenshot.png``: the app after a real scan of images from ../shared, offscreen.

Scans a mix of NORMAL and PNEUMONIA validation images plus one unreadable file, selects a flagged
row so the viewer shows the image (with the Grad-CAM heatmap when the model supports it) and saves
a grab of the window. Uses the bundled model when it exists, else ``--model-dir``. User data and
settings go to a temporary folder, so the user's History is neither read nor changed.

    python scripts/screenshot.py [--model-dir DIR] [--out docs/screenshot.png] [--states-dir DIR]

``--states-dir`` also saves the other states (loading, empty, mid-scan, results, about, preferences)
for a visual review.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
log = logging.getLogger("screenshot")


def shared_dir() -> Path:
    return Path(os.environ.get("PNEUMO_SHARED", REPO.parent / "shared"))


def pick_images(count: int) -> list[Path]:
    val = shared_dir() / "data" / "chest_xray" / "val"
    normal = sorted((val / "NORMAL").glob("*.jpeg"))
    pneumonia = sorted((val / "PNEUMONIA").glob("*.jpeg"))
    if not normal or not pneumonia:
        raise SystemExit(f"no validation images under {val} (set PNEUMO_SHARED)")
    half = count // 2
    # Spread the picks over each class folder so the mix is not just the first patients.
    step_n, step_p = max(1, len(normal) // half), max(1, len(pneumonia) // (count - half))
    mixed = [*normal[::step_n][:half], *pneumonia[::step_p][: count - half]]
    return sorted(mixed, key=lambda p: p.name)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model-dir", type=Path, help="model folder (default: the bundled model)")
    p.add_argument("--out", type=Path, default=REPO / "docs" / "screenshot.png")
    p.add_argument("--states-dir", type=Path, help="also save every state of the window here")
    p.add_argument("--count", type=int, default=16, help="number of X-rays to scan")
    p.add_argument("--size", default="1280x800", help="window size, WIDTHxHEIGHT")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    bundled = REPO / "resources" / "model" / "model_card.json"
    model_dir = args.model_dir or (bundled.parent if bundled.is_file() else None)
    if model_dir is None:
        p.error("the bundled model is not there yet: pass --model-dir")

    tmp = Path(tempfile.mkdtemp(prefix="pneumo-shot-"))
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["PNEUMO_DATA_DIR"] = str(tmp / "data")

    from PySide6.QtCore import QEventLoop, QSettings, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp / "settings"))
    app = QApplication.instance() or QApplication(sys.argv[:1])
    from pneumo_desktop.gui import MainWindow
    from pneumo_desktop.gui.dialogs import AboutDialog
    from pneumo_desktop.gui.headless import wait_for_signal

    def wait(signal, timeout_ms: int = 300_000) -> tuple:
        return wait_for_signal(signal, timeout_ms)

    def settle(ms: int = 150) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    states = args.states_dir
    if states:
        states.mkdir(parents=True, exist_ok=True)

    def save(widget, name: str) -> None:
        if states:
            widget.grab().save(str(states / f"{name}.png"))
            log.info("saved %s", states / f"{name}.png")

    width, height = (int(v) for v in args.size.lower().split("x"))
    unreadable = tmp / "scan_notes.txt"
    unreadable.write_text("Ward round notes: not an image.\n", encoding="utf-8")
    files = [*pick_images(args.count), unreadable]

    window = MainWindow(model_dir, batch_size=4)
    window.resize(width, height)
    window.show()
    settle(50)
    save(window, "1_loading")
    info = wait(window.model_ready)[0]
    settle()
    save(window, "2_empty")

    gate = threading.Event()
    if states:  # hold the model thread after a few batches to photograph the scan in progress
        seen = [0]

        def hold(*_: object) -> None:
            seen[0] += 1
            if seen[0] == 2:
                gate.wait(30)

        window.service.batch_ready.connect(hold, Qt.ConnectionType.DirectConnection)
    window.open_paths(files)
    if states:
        loop = QEventLoop()
        window.results_model.rowsInserted.connect(
            lambda *_: loop.quit() if window.results_model.rowCount() >= 8 else None
        )
        QTimer.singleShot(60_000, loop.quit)
        loop.exec()
        settle()
        save(window, "3_mid_scan")
        gate.set()
    wait(window.scan_finished)

    # Select the most probable pneumonia so the viewer shows a flagged image.
    results = window.results_model.results
    scored = [r for r in results if r.probability is not None and r.status == "ok"]
    target = max(scored, key=lambda r: r.probability) if scored else results[0]
    for row in range(window.proxy.rowCount()):
        if window.proxy.index(row, 0).data() == target.name:
            window.select_row(row)
            break
    if window.viewer.xray is None or window.viewer.xray.path != target.path:
        wait(window.viewer.image_loaded)
    if info.heatmaps:
        window.viewer.heatmap_box.setChecked(True)
        # The scan stored each row's heatmap: the viewer colours it itself (no model call), so
        # wait for the viewer to have it rather than for the model service.
        for _ in range(600):
            if window.viewer.heatmap is not None:
                break
            settle(50)
    settle(300)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(args.out))
    log.info("saved %s (%s, %d files)", args.out, info.title, len(results))
    save(window, "4_results")

    if states:
        about = AboutDialog(window.model_info, window)
        about.show()
        settle()
        save(about, "5_about")
        about.close()
        prefs = window.preferences_dialog()
        prefs.show()
        settle()
        save(prefs, "6_preferences")
        prefs.close()
        window.filter_combo.setCurrentIndex(window.filter_combo.findData("flagged"))
        window.search_edit.setText("person")
        settle()
        save(window, "7_filtered")
    window.close()
    app.processEvents()
    return 0


if __name__ == "__main__":
    sys.exit(main())
