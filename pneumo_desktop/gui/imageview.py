"""The zoomable, pannable :class:`ImageView` with window/level and a heatmap layer (split out of
``gui.viewer``, #18); the pixel-to-QImage part is ``gui.qimages``."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPixmap,
    QResizeEvent,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QFrame,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QWidget,
)

from .qimages import Heatmap, gray_qimage, window_lut

MIN_ZOOM, MAX_ZOOM = 0.02, 32.0


# ---------------------------------------------------------------------------------------------
# The view


class ImageView(QGraphicsView):
    """Zoomable, pannable image with window/level (right-drag) and an optional heatmap layer."""

    zoom_changed = Signal(float)
    window_changed = Signal(float, float)  # level, width (in [0, 1] display units)
    step_requested = Signal(int)  # -1 / +1: previous / next result (Up / Down keys)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.RenderHint.SmoothPixmapTransform | QPainter.RenderHint.Antialiasing)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setBackgroundBrush(QColor("#17191c"))
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setMinimumSize(200, 200)
        self._image = QGraphicsPixmapItem()
        self._image.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self._heat = QGraphicsPixmapItem()
        self._heat.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self._heat.setZValue(1)
        self._heat.setVisible(False)
        self.scene().addItem(self._image)
        self.scene().addItem(self._heat)
        self._levels: np.ndarray | None = None
        self.level, self.width_ = 0.5, 1.0
        self._fit = True
        self._wl_drag: tuple[float, float, float, float] | None = None  # x, y, level, width at press

    # -- content ------------------------------------------------------------------------------
    def set_levels(self, levels: np.ndarray | None) -> None:
        self._levels = levels
        self.level, self.width_ = 0.5, 1.0
        self._heat.setVisible(False)
        self._heat.setPixmap(QPixmap())
        if levels is None:
            self._image.setPixmap(QPixmap())
            return
        self._render()
        h, w = levels.shape
        self.scene().setSceneRect(QRectF(0, 0, w, h))
        self.fit()

    def has_image(self) -> bool:
        return self._levels is not None

    def image_size(self) -> tuple[int, int] | None:
        return None if self._levels is None else (self._levels.shape[1], self._levels.shape[0])

    def _render(self) -> None:
        if self._levels is None:
            return
        img8 = window_lut(self.level, self.width_)[self._levels]
        self._image.setPixmap(QPixmap.fromImage(gray_qimage(img8)))

    def set_window(self, level: float, width: float) -> None:
        self.level = float(np.clip(level, -0.5, 1.5))
        self.width_ = float(np.clip(width, 0.01, 2.0))
        self._render()
        self.window_changed.emit(self.level, self.width_)

    def reset_window(self) -> None:
        self.set_window(0.5, 1.0)

    def set_heatmap(self, heatmap: Heatmap | None) -> None:
        """Show an already coloured heatmap (cheap: no per-pixel work here)."""
        if heatmap is None or self._levels is None:
            self._heat.setPixmap(QPixmap())
            self._heat.setVisible(False)
            return
        pix = QPixmap.fromImage(heatmap.image)
        self._heat.setPixmap(pix)
        h, w = self._levels.shape
        self._heat.setTransform(QTransform.fromScale(w / pix.width(), h / pix.height()))
        self._heat.setVisible(True)

    def set_heatmap_visible(self, visible: bool) -> None:
        self._heat.setVisible(visible and not self._heat.pixmap().isNull())

    def set_heatmap_opacity(self, opacity: float) -> None:
        self._heat.setOpacity(float(np.clip(opacity, 0.0, 1.0)))

    # -- zoom -----------------------------------------------------------------------------------
    def zoom(self) -> float:
        return float(self.transform().m11())

    def fit(self) -> None:
        self._fit = True
        if self._levels is not None:
            self.fitInView(self.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)
        self.zoom_changed.emit(self.zoom())

    def actual_size(self) -> None:
        self._fit = False
        self.resetTransform()
        self.zoom_changed.emit(self.zoom())

    def zoom_by(self, factor: float) -> None:
        current = self.zoom()
        factor = float(np.clip(current * factor, MIN_ZOOM, MAX_ZOOM)) / current
        self._fit = False
        self.scale(factor, factor)
        self.zoom_changed.emit(self.zoom())

    # -- events ---------------------------------------------------------------------------------
    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        if self._fit:
            self.fit()

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        if self._levels is None:
            return
        delta = event.angleDelta().y()
        if delta:
            self.zoom_by(1.0015**delta)
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.RightButton and self._levels is not None:
            p = event.position()
            self._wl_drag = (p.x(), p.y(), self.level, self.width_)
            self.viewport().setCursor(Qt.CursorShape.SizeAllCursor)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._wl_drag is not None:
            x0, y0, level0, width0 = self._wl_drag
            p = event.position()
            # Right-drag: horizontal changes contrast (width), vertical changes brightness (level).
            self.set_window(level0 - (p.y() - y0) * 0.002, width0 * float(np.exp((p.x() - x0) * 0.004)))
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._wl_drag is not None and event.button() == Qt.MouseButton.RightButton:
            self._wl_drag = None
            self.viewport().unsetCursor()
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self.fit()
        event.accept()

    def contextMenuEvent(self, event: Any) -> None:  # noqa: N802 - right button is window/level
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        key = event.key()
        if key in (Qt.Key.Key_Up, Qt.Key.Key_Down):
            self.step_requested.emit(-1 if key == Qt.Key.Key_Up else 1)
        elif key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom_by(1.25)
        elif key == Qt.Key.Key_Minus:
            self.zoom_by(0.8)
        elif key == Qt.Key.Key_0:
            self.fit()
        else:
            super().keyPressEvent(event)


# ---------------------------------------------------------------------------------------------
# The panel: toolbar + view + details
