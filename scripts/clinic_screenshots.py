"""Screenshots for docs/: the real window (run it under Xvfb with Qt's xcb platform), the viewer with
a DICOM study, the table with reviews, and the PDF report's pages (rendered with pdftoppm).

    xvfb-run -a -s "-screen 0 1760x1000x24" env QT_QPA_PLATFORM=xcb python scripts/clinic_screenshots.py

Films come from ../shared (PNEUMO_SHARED); user data and settings go to a temporary folder.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
log = logging.getLogger("clinic_screenshots")


def shrink(path: Path) -> None:
    """256 colours are plenty for a screenshot in the docs (a third of the bytes)."""
    from PIL import Image

    with Image.open(path) as im:
        small = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    shared = Path(os.environ.get("PNEUMO_SHARED", REPO.parent / "shared"))
    tmp = Path(tempfile.mkdtemp(prefix="pneumo-clinic-shot-"))
    os.environ["PNEUMO_DATA_DIR"] = str(tmp / "data")
    val = shared / "data" / "chest_xray" / "val"
    films = sorted((val / "NORMAL").glob("*.jpeg"))[:2] + sorted((val / "PNEUMONIA").glob("*.jpeg"))[:3]
    dicoms = [
        shared / "dicom" / name
        for name in (
            "dx_chest_mono2_8bit_implicit_le.dcm",
            "dx_chest_mono2_16bit_j2k_lossless.dcm",
            "cr_hand_mono2_12bit_j2k_lossless_kakadu.dcm",
        )
    ]
    note = tmp / "referral-letter.txt"
    note.write_text("Not an X-ray", encoding="utf-8")

    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp / "settings"))
    app = QApplication.instance() or QApplication(sys.argv[:1])
    log.info("Qt platform: %s", app.platformName())
    from pneumo_desktop.gui import MainWindow
    from pneumo_desktop.gui.headless import wait_for_signal

    def settle(ms: int = 300) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    window = MainWindow(batch_size=8)
    window.resize(1680, 940)
    window.show()
    wait_for_signal(window.model_ready, 300_000)
    window.settings.reviewer = "Dr A. Mensah"
    window.open_paths([*map(str, films), *map(str, dicoms), str(note)])
    wait_for_signal(window.scan_finished, 300_000)
    model = window.results_model

    def select(name: str) -> None:
        for row in range(window.proxy.rowCount()):
            if window.proxy.index(row, 0).data() == name:
                window.select_row(row)
                return

    # Two reviews, so the table and the report show the workflow.
    select(films[2].name)
    settle()
    window.reviews.review("agree")
    select(films[0].name)
    settle()
    window.reviews.panel.note_edit.setText("Faint opacity right base; follow up")
    window.reviews.review("disagree", "Pneumonia")

    # The viewer: a DICOM study the model judged, heatmap on.
    select(dicoms[0].name)
    wait_for_signal(window.viewer.image_loaded, 30_000)
    if window.viewer.heatmap_box.isVisible():
        window.viewer.heatmap_box.setChecked(True)
    settle(1500)
    screen = app.primaryScreen()
    DOCS.mkdir(exist_ok=True)

    def save(widget, name: str, width: int) -> None:
        pix = screen.grabWindow(window.winId()) if widget is window else widget.grab()
        pix = pix.scaledToWidth(width)
        pix.save(str(DOCS / name), "PNG")
        shrink(DOCS / name)
        log.info("saved docs/%s (%d x %d)", name, pix.width(), pix.height())

    save(window, "clinic-window.png", 1200)
    save(window.viewer, "clinic-viewer.png", 560)
    save(window.results_stack, "clinic-table.png", 700)

    pdf = tmp / "report.pdf"
    window.export_pdf(pdf)
    wait_for_signal(window.report_finished, 300_000)
    if shutil.which("pdftoppm"):
        subprocess.run(["pdftoppm", "-png", "-r", "60", str(pdf), str(tmp / "page")], check=True)
        for i, page in enumerate(sorted(tmp.glob("page-*.png"))[:2], start=1):
            shutil.copy(page, DOCS / f"clinic-report-{i}.png")
            shrink(DOCS / f"clinic-report-{i}.png")
            log.info("saved docs/clinic-report-%d.png", i)
    log.info("rows: %s", [(r.name, r.label) for r in model.results])
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
