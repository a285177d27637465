"""The PDF report's page set-up and pixel helpers: where reports go, the Qt application a PDF
needs, page units and fonts, and the film and heatmap as QImages (split out of ``report``, #18).
No widgets: ``pneumo-scan --pdf`` uses it without a window."""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path
from typing import Any

import numpy as np
from PySide6 import QtGui

from .core.colours import heatmap_rgba

RESOLUTION = 150  # dots per inch of the page coordinate system
REPORT_FOLDER = "Pneumo Desktop"


def default_report_dir() -> Path:
    """The user's documents folder, Pneumo Desktop subfolder: never next to the X-rays."""
    docs = ""
    try:
        from PySide6.QtCore import QStandardPaths

        docs = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    except Exception:  # no Qt: the usual place
        docs = ""
    return Path(docs or Path.home() / "Documents") / REPORT_FOLDER


def default_report_path(now: _dt.datetime | None = None) -> Path:
    now = now or _dt.datetime.now()
    return default_report_dir() / f"pneumo-report-{now:%Y%m%d-%H%M}.pdf"


def ensure_gui_application() -> object:
    """QPdfWriter needs a QGuiApplication (fonts); the CLI has none, so make one, offscreen."""
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance()
    if app is None:  # no window ever: never depend on a display (or on the xcb libraries)
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        app = QGuiApplication(["pneumo-scan"])
    return app


def font(points: float, bold: bool = False) -> Any:
    f = QtGui.QFont("Helvetica")
    f.setStyleHint(QtGui.QFont.StyleHint.SansSerif)
    f.setPointSizeF(points)
    f.setBold(bold)
    return f


def px(points: float) -> float:
    """Points to page units."""
    return points / 72.0 * RESOLUTION


def gray_qimage(pixels: np.ndarray) -> Any:
    img8 = np.ascontiguousarray((np.clip(pixels, 0, 1) * 255 + 0.5).astype(np.uint8))
    h, w = img8.shape
    return QtGui.QImage(img8.data, w, h, w, QtGui.QImage.Format.Format_Grayscale8).copy()


def overlay(pixels: np.ndarray, heat: np.ndarray, opacity: float = 0.45) -> Any:
    gray = np.clip(pixels, 0, 1)[..., None] * 255.0
    if heat.shape != pixels.shape:  # defensive: the heatmap should already be the image's size
        from PIL import Image

        h, w = pixels.shape
        heat = np.asarray(Image.fromarray(np.asarray(heat, np.float32), mode="F").resize((w, h)), np.float32)
    rgba = heatmap_rgba(heat).astype(np.float32)
    alpha = rgba[..., 3:4] / 255.0 * opacity
    rgb = np.ascontiguousarray((gray * (1 - alpha) + rgba[..., :3] * alpha).clip(0, 255).astype(np.uint8))
    h, w = rgb.shape[:2]
    return QtGui.QImage(rgb.data, w, h, 3 * w, QtGui.QImage.Format.Format_RGB888).copy()
