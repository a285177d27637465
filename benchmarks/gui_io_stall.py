"""GUI-thread cost of History, CSV export and heatmap colouring (prints numbers; not a test).

For each piece of work, in one run: (a) its time when done on the GUI thread, as before 2026-11-26,
and (b) the longest gap between ticks of a 5 ms QTimer on the GUI thread while the app's own
background path does it (the window's I/O pool for History and CSV; another thread for the heatmap
colouring, as the model thread does). Sizes: ``--rows`` stored results, a ``--side`` square heatmap.

    QT_QPA_PLATFORM=offscreen python benchmarks/gui_io_stall.py [--rows 20000] [--side 2000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def on_gui_thread(fn, repeats: int = 3) -> float:
    """Median milliseconds of fn() run right here (the GUI thread)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


def longest_gap(start, finished) -> float:
    """Start background work; tick a 5 ms timer until finished() is true; longest gap in ms."""
    from PySide6.QtCore import QEventLoop, QTimer

    last, gaps = [time.perf_counter()], [0.0]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now
        if finished():
            loop.quit()

    loop = QEventLoop()
    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(tick)
    timer.start()
    start()
    last[0] = time.perf_counter()
    loop.exec()
    timer.stop()
    return 1000 * max(gaps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--side", type=int, default=2000)
    args = ap.parse_args()

    from PySide6.QtWidgets import QApplication

    from pneumo_desktop.core.resultfiles import write_csv
    from pneumo_desktop.core.results import OK, ScanResult, label_for
    from pneumo_desktop.core.store import ResultsStore
    from pneumo_desktop.gui.jobs import Executor
    from pneumo_desktop.gui.viewer import Heatmap, heatmap_qimage

    app = QApplication.instance() or QApplication(sys.argv)  # noqa: F841 - Qt needs it alive
    rng = np.random.default_rng(0)
    tmp = Path(tempfile.mkdtemp(prefix="pneumo-gui-io-"))
    store = ResultsStore(tmp / "results.sqlite3")
    rows = [
        ScanResult(
            path=f"/data/ward7/2026-05-01/study{i:05d}/IM{i:06d}.dcm", status=OK, probability=p,
            label=label_for(OK, p, 0.5), message="", seconds=0.05, model_version="2.0.0", threshold=0.5,
            raw_probability=p, ood_score=0.1, content_hash=f"{i:064x}", format="DICOM", width=2000,
            height=2128, modality="DX", view_position="PA", study_date="20260501",
        )
        for i, p in enumerate(rng.random(args.rows).tolist())
    ]
    scan_id = store.begin_scan(["/data/ward7"], "benchmark")
    store.add(scan_id, rows, "benchmark")
    store.end_scan(scan_id)
    executor = Executor(("io",))  # the window's io lane: history loads and exports
    done: list[str] = []

    def history_on_gui() -> None:
        [r.relabel(0.4) for r in store.scan_results(scan_id)]

    before = on_gui_thread(history_on_gui)
    after = longest_gap(
        lambda: executor.submit(lambda: [r.relabel(0.4) for r in store.scan_results(scan_id)], lane="io",
                                returned=lambda _: done.append("history")),
        lambda: "history" in done,
    )
    print(f"History, {args.rows} rows: on the GUI thread {before:.0f} ms; in the I/O pool, longest GUI gap {after:.0f} ms")

    csv_path = tmp / "out.csv"
    before = on_gui_thread(lambda: write_csv(rows, csv_path))
    after = longest_gap(
        lambda: executor.submit(write_csv, rows, csv_path, lane="io", returned=lambda _: done.append("csv")),
        lambda: "csv" in done,
    )
    print(f"CSV export, {args.rows} rows: on the GUI thread {before:.0f} ms; in the I/O pool, longest GUI gap {after:.0f} ms")

    heat = rng.random((args.side, args.side), dtype=np.float32)
    before = on_gui_thread(lambda: heatmap_qimage(heat))
    worker = threading.Thread(target=lambda: Heatmap.build(heat, "/x.png"))
    after = longest_gap(worker.start, lambda: not worker.is_alive())
    print(f"heatmap colouring, {args.side} x {args.side}: on the GUI thread {before:.0f} ms; "
          f"in another thread, longest GUI gap {after:.0f} ms")
    executor.shutdown(drain=("io",))
    store.close()


if __name__ == "__main__":
    main()
