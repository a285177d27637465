"""The heatmap's colour legend and its one-line caveat, for the viewer (a widget) and the report
(:func:`legend_image`, a QImage it can draw with QPainter). The colours are the overlay's own
(``core.colours.heatmap_rgba``), the words ``core.wording``'s."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from ..core.colours import heatmap_rgba
from ..core.wording import HEATMAP_CAVEAT, HEATMAP_LEGEND, HEATMAP_LEGEND_TITLE


def legend_image(width: int = 160, height: int = 12) -> QImage:
    """The colour scale from no influence (left) to most (right), opaque, as an RGB32 QImage."""
    ramp = np.tile(np.linspace(0.0, 1.0, max(2, width), dtype=np.float32), (max(1, height), 1))
    rgb = np.ascontiguousarray(heatmap_rgba(ramp)[..., :3])
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class HeatLegend(QWidget):
    """``less [colour bar] most`` with the caveat underneath; shown while a heatmap is on."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        bar = QLabel(self)
        bar.setPixmap(QPixmap.fromImage(legend_image()))
        bar.setToolTip(HEATMAP_LEGEND_TITLE)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel(f"{HEATMAP_LEGEND_TITLE}:  {HEATMAP_LEGEND[0]}", self))
        row.addWidget(bar)
        row.addWidget(QLabel(HEATMAP_LEGEND[1], self))
        row.addStretch(1)
        self.caveat = QLabel(HEATMAP_CAVEAT, self)
        self.caveat.setWordWrap(True)
        self.caveat.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.caveat.setStyleSheet("color: palette(mid);")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 2, 8, 4)
        layout.setSpacing(1)
        layout.addLayout(row)
        layout.addWidget(self.caveat)
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
