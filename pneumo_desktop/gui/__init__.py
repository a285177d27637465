"""The PySide6 desktop app: a thin layer of windows, table models, an image view and workers over the core.

``MainWindow`` is imported on first use (``from pneumo_desktop.gui import MainWindow`` works as
always): starting the app (``gui.app``) must not pull the window's modules (numpy, the store, the
session...) onto the GUI thread before its event loop runs; ``gui.app`` imports them in the background.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .main_window import MainWindow

__all__ = ["MainWindow"]


def __getattr__(name: str) -> Any:
    if name == "MainWindow":
        from .main_window import MainWindow

        return MainWindow
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
