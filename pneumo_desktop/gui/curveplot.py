"""ROC and predictive-value plots drawn with QPainter (no plotting library in the app); split out
of ``gui.site_dialog`` (#18)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (
    QSizePolicy,
    QWidget,
)

from ..core import stats


class CurvePlot(QWidget):
    """A small 0-1 by 0-1 line plot: named series, an optional marked point and vertical line."""

    COLOURS = ("#1f5fa8", "#c0392b", "#2e8b57")

    def __init__(self, title: str, x_label: str, y_label: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title, self.x_label, self.y_label = title, x_label, y_label
        self.series: list[tuple[str, list[tuple[float, float]]]] = []
        self.point: tuple[float, float, str] | None = None
        self.vline: tuple[float, str] | None = None
        self.diagonal = False
        self.setMinimumSize(260, 220)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_data(
        self,
        series: list[tuple[str, list[tuple[float, float]]]],
        point: tuple[float, float, str] | None = None,
        vline: tuple[float, str] | None = None,
    ) -> None:
        self.series, self.point, self.vline = series, point, vline
        self.update()

    def paintEvent(self, _event: Any) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor("white"))
        fm = p.fontMetrics()
        lh = fm.height()
        plot = QRectF(self.rect()).adjusted(
            lh * 1.4 + fm.horizontalAdvance("0.0") + 8, lh * 1.6, -lh * 0.8, -lh * 2.4
        )

        def at(x: float, y: float) -> QPointF:
            return QPointF(plot.left() + x * plot.width(), plot.bottom() - y * plot.height())

        p.setPen(QPen(QColor("#e3e6ea"), 1))
        for i in range(1, 5):
            p.drawLine(at(i / 5, 0), at(i / 5, 1))
            p.drawLine(at(0, i / 5), at(1, i / 5))
        p.setPen(QPen(QColor("#5b6168"), 1))
        p.drawRect(plot)
        for i in range(0, 6):
            v = i / 5
            p.drawText(
                QRectF(at(v, 0).x() - 20, plot.bottom() + 2, 40, lh),
                Qt.AlignmentFlag.AlignHCenter,
                f"{v:.1f}",
            )
            p.drawText(
                QRectF(plot.left() - 34, at(0, v).y() - lh / 2, 30, lh),
                Qt.AlignmentFlag.AlignRight,
                f"{v:.1f}",
            )
        p.drawText(
            QRectF(plot.left(), plot.bottom() + lh * 1.2, plot.width(), lh),
            Qt.AlignmentFlag.AlignHCenter,
            self.x_label,
        )
        p.save()
        p.translate(lh * 0.2, plot.center().y())
        p.rotate(-90)
        p.drawText(
            QRectF(-plot.height() / 2, 0, plot.height(), lh), Qt.AlignmentFlag.AlignHCenter, self.y_label
        )
        p.restore()
        bold = p.font()
        bold.setBold(True)
        p.setFont(bold)
        p.drawText(QRectF(0, 2, self.width(), lh), Qt.AlignmentFlag.AlignHCenter, self.title)
        p.setFont(self.font())
        if self.diagonal:
            p.setPen(QPen(QColor("#b0b5bb"), 1, Qt.PenStyle.DashLine))
            p.drawLine(at(0, 0), at(1, 1))
        if self.vline is not None:
            x, text = self.vline
            p.setPen(QPen(QColor("#8a8f96"), 1, Qt.PenStyle.DotLine))
            p.drawLine(at(x, 0), at(x, 1))
            p.drawText(at(x, 0.03) + QPointF(4, 0), text)
        legend_y = plot.top() + 4
        for (name, pts), colour in zip(self.series, self.COLOURS, strict=False):
            pts = [(x, y) for x, y in pts if x == x and y == y]  # drop nan
            if not pts:
                continue
            path = QPainterPath(at(*pts[0]))
            for x, y in pts[1:]:
                path.lineTo(at(x, y))
            p.setPen(QPen(QColor(colour), 2))
            p.drawPath(path)
            if len(self.series) > 1:
                p.drawLine(
                    QPointF(plot.right() - 110, legend_y + lh / 2),
                    QPointF(plot.right() - 92, legend_y + lh / 2),
                )
                p.setPen(QColor("#202326"))
                p.drawText(QPointF(plot.right() - 88, legend_y + lh * 0.8), name)
                legend_y += lh
        if self.point is not None:
            x, y, text = self.point
            c = at(x, y)
            p.setPen(QPen(QColor("#202326"), 1.5))
            p.setBrush(QColor("#f0b400"))
            p.drawEllipse(c, 5, 5)
            p.drawText(c + QPointF(8, 14 if y > 0.5 else -6), text)
        p.end()


def roc_series(points: Any) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in points]


def predictive_series(sensitivity: float, specificity: float, n: int = 99) -> tuple[list, list]:
    xs = [(i + 1) / (n + 1) for i in range(n)]
    vals = [stats.predictive_values(sensitivity, specificity, x) for x in xs]
    return [(x, v[0]) for x, v in zip(xs, vals, strict=True)], [
        (x, v[1]) for x, v in zip(xs, vals, strict=True)
    ]


# ---------------------------------------------------------------------------------------------
# The worker in the model thread
