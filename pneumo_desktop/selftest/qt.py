"""Qt in the installation: the native platform plugin is there, a window can be shown (off
screen), and the GUI package imports."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import cast

#: The GUI modules a frozen app must be able to import.
GUI_MODULES = ("pneumo_desktop.gui.app", "pneumo_desktop.gui.main_window")


def check_qt() -> str:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # a headless check never opens a window
    from PySide6 import __version__ as pyside_version
    from PySide6.QtCore import QLibraryInfo
    from PySide6.QtWidgets import QApplication, QLabel

    native = {"win32": "qwindows", "darwin": "qcocoa"}.get(sys.platform, "qxcb")
    plugins = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms"
    found = sorted(p.name for p in plugins.glob("*")) if plugins.is_dir() else []
    if not any(native in name for name in found):
        raise FileNotFoundError(f"the {native} platform plugin is missing from {plugins} (found: {found})")
    app = cast(QApplication, QApplication.instance()) or QApplication(
        [sys.argv[0] if sys.argv else "PneumoDesktop"]
    )
    label = QLabel("Pneumo Desktop self-test")
    label.show()
    app.processEvents()
    if not label.isVisible():
        raise AssertionError("a window could not be shown")
    label.close()
    for module in GUI_MODULES:
        importlib.import_module(module)
    return f"PySide6 {pyside_version} on {app.platformName()}; {native} plugin present; GUI imports"
