"""How long is the GUI thread blocked while the app starts (``pneumo-desktop``, ``gui.app.main``)?

Each launch runs in a fresh process, so imports are cold as on a real start. A 10 ms QTimer probe
starts right after the QApplication is made (before anything of the app is imported), and every gap
between its ticks counts until the main window has been shown for half a second: the longest gap is
the longest time the app could not paint or react while starting. Two launches, alternating, in the
same run:

- ``blocking``: the window's modules are imported and the window is built before the event loop
  runs (how ``gui.app.main`` started until 2026-12-03; the baseline);
- ``main``: ``gui.app.main`` as it is (start-up panel at once, the window's modules imported in a
  background thread, then the window built on the GUI thread).

Target (the brief): no event-loop stall over 50 ms, start-up included.

    QT_QPA_PLATFORM=offscreen python benchmarks/gui_launch.py [--runs 3] [--model-dir DIR]

User data and settings go to a temporary folder; the model loads in the background as usual (the
process ends half a second after the window shows, before the model is needed).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, os, sys, time
t_start = time.perf_counter()
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication
sys.path.insert(0, os.environ["BENCH_DIR"])
from gui_stall import StallProbe

mode, model_dir, tmp = sys.argv[1:4]
QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, os.path.join(tmp, "settings"))
app = QApplication(["pneumo-desktop"])
probe = StallProbe()
probe.start()  # every gap from here counts
seen = {}


def report():
    gaps = probe.take()
    print(json.dumps({
        "mode": mode, "shown_s": seen["shown"],
        "longest_ms": max(gaps) * 1000, "over_50": sum(g > 0.05 for g in gaps), "ticks": len(gaps),
    }), flush=True)
    os._exit(0)  # the measurement ends here; the model's background load is not waited for


def watch():  # by class name: importing MainWindow here would load its modules on the GUI thread
    if not any(type(w).__name__ == "MainWindow" and w.isVisible() for w in QApplication.topLevelWidgets()):
        QTimer.singleShot(5, watch)
        return
    seen["shown"] = time.perf_counter() - t_start
    QTimer.singleShot(500, report)


if mode == "blocking":  # the launch before 2026-12-03: import and build, then run the loop
    from pneumo_desktop.gui.main_window import MainWindow

    window = MainWindow(model_dir)
    window.show()
    QTimer.singleShot(0, watch)
    app.exec()
else:
    from pneumo_desktop.gui import app as gui_app

    QTimer.singleShot(0, watch)
    gui_app.main(["--model-dir", model_dir])
"""


def launch(mode: str, model_dir: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="pneumo-launch-") as tmp:
        env = {
            **os.environ,
            "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen"),
            "PNEUMO_DATA_DIR": str(Path(tmp) / "data"),
            "XDG_CONFIG_HOME": str(Path(tmp) / "config"),
            "BENCH_DIR": str(Path(__file__).resolve().parent),
            "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p),
        }
        done = subprocess.run(
            [sys.executable, "-c", CHILD, mode, model_dir, tmp], env=env, capture_output=True, text=True,
            timeout=300,
        )
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if not lines:
            raise RuntimeError(f"{mode}: no result (exit {done.returncode})\n{done.stderr[-2000:]}")
        return json.loads(lines[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--model-dir", type=Path, default=REPO / "resources" / "model")
    args = p.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from pneumo_desktop.core.precision import cpu_summary

    results: dict[str, list[dict]] = {"blocking": [], "main": []}
    for _ in range(args.runs):
        for mode in results:  # alternating: both see the same machine load
            results[mode].append(launch(mode, str(args.model_dir)))
    print(f"cpu: {cpu_summary()}")
    print(f"{'launch':<10} {'longest stall (ms), each run':<34} {'median':>7} {'window shown (s)':>18}")
    for mode, rows in results.items():
        stalls = [r["longest_ms"] for r in rows]
        shown = [r["shown_s"] for r in rows]
        print(
            f"{mode:<10} {' / '.join(f'{s:.0f}' for s in stalls):<34} {statistics.median(stalls):>7.0f} "
            f"{' / '.join(f'{s:.2f}' for s in shown):>18}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
