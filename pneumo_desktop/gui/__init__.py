"""The PySide6 desktop app: a thin layer of windows, table models, an image view and workers over the core."""

from .main_window import MainWindow

__all__ = ["MainWindow"]
