"""Screenshot of the Site calibration dialog after a real calibration with the bundled model.

    QT_QPA_PLATFORM=offscreen python scripts/site_screenshot.py FOLDER docs/site_calibration.png

FOLDER holds NORMAL/ and PNEUMONIA/ films. User data goes to a temporary folder.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    folder, out = sys.argv[1], Path(sys.argv[2])
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["PNEUMO_DATA_DIR"] = tmp
        from PySide6.QtCore import QEventLoop, QSettings, QTimer
        from PySide6.QtWidgets import QApplication

        app = QApplication(sys.argv[:1])
        QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tmp)
        from pneumo_desktop.gui import MainWindow

        window = MainWindow(batch_size=16)
        window.resize(1280, 800)
        window.show()
        loop = QEventLoop()
        window.model_ready.connect(lambda *_: loop.quit())
        QTimer.singleShot(300_000, loop.quit)
        loop.exec()
        dlg = window.site.open_dialog()
        dlg.site_box.setCurrentText("Clinic A")
        dlg.source_edit.setText(folder)
        dlg.worker.finished.connect(lambda *_: QTimer.singleShot(200, loop.quit))
        dlg.run_button.click()
        loop.exec()
        app.processEvents()
        dlg.grab().save(str(out))
        dlg.activate_button.click()
        app.processEvents()
        window.grab().save(str(out.with_name(out.stem + "_window.png")))
        sys.stdout.write(dlg.report.toPlainText() + "\n")
        window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
