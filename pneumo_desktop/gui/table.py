"""The results table: a list model of :class:`ScanResult` rows and its sort/filter proxy.

Rows are appended batch by batch (``beginInsertRows``), never by resetting the model, so the table
stays smooth with tens of thousands of rows. Changing the threshold relabels rows in place.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QPointF,
    QRectF,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QBrush, QColor, QFont, QIcon, QPainter, QPainterPath, QPalette, QPen, QPixmap
from PySide6.QtWidgets import QApplication

from ..core.export import display_text
from ..core.results import (
    ERROR,
    LABELS,
    NEEDS_REVIEW,
    NORMAL,
    PNEUMONIA,
    REJECTED,
    UNREADABLE,
    ScanResult,
    is_flagged,
)
from ..core.review import Review, review_key, reviewable
from ..core.wording import DISAGREE, format_percent

NAME, PROBABILITY, LABEL, REASON, TIME, STUDY, REVIEW = range(7)
HEADERS = (
    "File name",
    "Pneumonia\nprobability",
    "Label",
    "Reason / message",
    "Time",
    "Patient / study",
    "Review",
)
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
RESULT_ROLE = Qt.ItemDataRole.UserRole + 2

LABEL_COLOURS = {
    PNEUMONIA: QColor("#c0392b"),
    NORMAL: QColor("#2e7d4f"),
    NEEDS_REVIEW: QColor("#c77c0e"),
    UNREADABLE: QColor("#6b7378"),
}
_LABEL_ORDER = {label: i for i, label in enumerate(LABELS)}
_ICONS: dict[str, QIcon] = {}

Index = QModelIndex | QPersistentModelIndex


def label_icon(label: str, size: int = 16) -> QIcon:
    """A small icon whose shape also differs per label (never colour alone)."""
    key = f"{label}:{size}"
    if key in _ICONS:
        return _ICONS[key]
    ratio = 2.0
    app = QApplication.instance()
    if app is not None and hasattr(app, "devicePixelRatio"):
        ratio = max(ratio, float(app.devicePixelRatio()))
    pix = QPixmap(int(size * ratio), int(size * ratio))
    pix.setDevicePixelRatio(ratio)
    pix.fill(Qt.GlobalColor.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    colour = LABEL_COLOURS.get(label, QColor("#6b7378"))
    s = float(size)
    white = QPen(
        QColor("white"), s * 0.13, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin
    )
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(colour)
    if label == NEEDS_REVIEW:  # triangle with "?"
        path = QPainterPath()
        path.moveTo(s / 2, s * 0.06)
        path.lineTo(s * 0.97, s * 0.92)
        path.lineTo(s * 0.03, s * 0.92)
        path.closeSubpath()
        p.drawPath(path)
        p.setPen(QColor("white"))
        font = QFont()
        font.setBold(True)
        font.setPixelSize(int(s * 0.58))
        p.setFont(font)
        p.drawText(QRectF(0, s * 0.26, s, s * 0.66), Qt.AlignmentFlag.AlignCenter, "?")
    elif label == UNREADABLE:  # square with a cross
        p.drawRoundedRect(QRectF(s * 0.08, s * 0.08, s * 0.84, s * 0.84), s * 0.15, s * 0.15)
        p.setPen(white)
        p.drawLine(QPointF(s * 0.32, s * 0.32), QPointF(s * 0.68, s * 0.68))
        p.drawLine(QPointF(s * 0.68, s * 0.32), QPointF(s * 0.32, s * 0.68))
    else:  # circles: "!" for pneumonia, a tick for normal
        p.drawEllipse(QRectF(s * 0.05, s * 0.05, s * 0.9, s * 0.9))
        p.setPen(white)
        if label == PNEUMONIA:
            p.drawLine(QPointF(s / 2, s * 0.25), QPointF(s / 2, s * 0.56))
            p.drawPoint(QPointF(s / 2, s * 0.74))
        else:
            path = QPainterPath()
            path.moveTo(s * 0.28, s * 0.52)
            path.lineTo(s * 0.44, s * 0.68)
            path.lineTo(s * 0.73, s * 0.35)
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawPath(path)
    p.end()
    icon = QIcon(pix)
    _ICONS[key] = icon
    return icon


def format_probability(p: float | None) -> str:
    """One decimal percent; never "100.0 %" or "0.0 %" (see :mod:`pneumo_desktop.core.wording`)."""
    return format_percent(p)


def study_text(r: ScanResult) -> str:
    """Patient ID and study date (DICOM films; empty for PNG/JPEG), for grouping a CD's films."""
    return " · ".join(v for v in (r.patient_id, _study_date(r.study_date)) if v)


def _study_date(value: str) -> str:
    v = value.strip()
    return f"{v[:4]}-{v[4:6]}-{v[6:8]}" if len(v) == 8 and v.isdigit() else v


class ResultsTableModel(QAbstractTableModel):
    """One row per scanned file."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[ScanResult] = []
        self._row_of: dict[str, int] = {}
        self._counts: dict[str, int] = dict.fromkeys(LABELS, 0)
        self._reviews: dict[str, Review] = {}  # latest review per film (core.review)

    # -- content ------------------------------------------------------------------------------
    @property
    def results(self) -> list[ScanResult]:
        return list(self._rows)

    def result(self, row: int) -> ScanResult:
        return self._rows[row]

    def row_of(self, path: str) -> int | None:
        return self._row_of.get(path)

    def append(self, results: Sequence[ScanResult]) -> None:
        if not results:
            return
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(results) - 1)
        for i, r in enumerate(results, start=first):
            self._row_of.setdefault(r.path, i)
            self._counts[r.label] = self._counts.get(r.label, 0) + 1
        self._rows.extend(results)
        self.endInsertRows()

    def set_results(self, results: Iterable[ScanResult]) -> None:
        self.beginResetModel()
        self._rows = list(results)
        self._row_of = {}
        for i, r in enumerate(self._rows):
            self._row_of.setdefault(r.path, i)
        self._recount()
        self.endResetModel()

    def clear(self) -> None:
        self.set_results([])

    # -- reviews --------------------------------------------------------------------------------
    def reviews(self) -> dict[str, Review]:
        """The latest review per film (a copy: exports take it to another thread)."""
        return dict(self._reviews)

    def review_of(self, r: ScanResult) -> Review | None:
        return self._reviews.get(review_key(r))

    def set_reviews(self, reviews: dict[str, Review]) -> None:
        self._reviews = dict(reviews)
        if self._rows:
            self.dataChanged.emit(self.index(0, REVIEW), self.index(len(self._rows) - 1, REVIEW))

    def add_review(self, review: Review) -> None:
        """A new review (the latest for its film): its rows change in place."""
        self._reviews[review.item_key] = review
        for i, r in enumerate(self._rows):
            if review_key(r) == review.item_key:
                self.dataChanged.emit(self.index(i, 0), self.index(i, REVIEW))

    def update_rows(self, rows: Sequence[ScanResult]) -> None:
        """The same rows, changed in place (relabelled by the session at another threshold)."""
        if len(rows) != len(self._rows):
            self.set_results(rows)
            return
        if not rows:
            return
        self._rows = list(rows)
        self._recount()
        self.dataChanged.emit(self.index(0, 0), self.index(len(self._rows) - 1, len(HEADERS) - 1))

    def relabel(self, threshold: float) -> None:
        """Apply another operating point to every row without running the model."""
        if not self._rows:
            return
        self._rows = [r.relabel(threshold) for r in self._rows]  # unchanged rows come back as they are
        self._recount()
        self.dataChanged.emit(self.index(0, 0), self.index(len(self._rows) - 1, len(HEADERS) - 1))

    def _recount(self) -> None:
        self._counts = dict.fromkeys(LABELS, 0)
        for r in self._rows:
            self._counts[r.label] = self._counts.get(r.label, 0) + 1

    def counts(self) -> dict[str, int]:
        """Rows per label, plus ``total`` (kept up to date as rows arrive)."""
        return {**self._counts, "total": len(self._rows)}

    # -- Qt model interface --------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(  # noqa: N802
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal:
            if role == Qt.ItemDataRole.DisplayRole:
                return HEADERS[section]
            if role == Qt.ItemDataRole.TextAlignmentRole and section in (PROBABILITY, TIME):
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        r = self._rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == NAME:
                return display_text(r.name)  # a name that is not UTF-8: U+FFFD, not silently dropped
            if col == PROBABILITY:  # a refused film's number is no judgement of it: not shown here
                return "not judged" if r.status == REJECTED else format_probability(r.probability)
            if col == LABEL:
                return r.label
            if col == REASON:
                return r.message + (" (from an earlier scan)" if r.cached and not r.message else "")
            if col == TIME:
                return f"{r.seconds:.2f} s"
            if col == STUDY:
                return study_text(r)
            if col == REVIEW:
                return review_cell(r, self._reviews.get(review_key(r)))
            return None
        if role == SORT_ROLE:
            if col == NAME:
                return r.name.lower()
            if col == PROBABILITY:
                return -1.0 if r.probability is None else float(r.probability)
            if col == LABEL:
                return _LABEL_ORDER.get(r.label, len(LABELS))
            if col == REASON:
                return r.message.lower()
            if col == TIME:
                return float(r.seconds)
            if col == STUDY:  # sorting by this column groups films by patient, then study
                return "\x1f".join((r.patient_id, r.study_date, r.study_uid, r.name.lower()))
            if col == REVIEW:
                return review_cell(r, self._reviews.get(review_key(r)))
            return None
        if role == RESULT_ROLE:
            return r
        if role == Qt.ItemDataRole.DecorationRole and col == LABEL:
            return label_icon(r.label)
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == NAME:
                return display_text(r.path)
            if col == PROBABILITY and r.status == REJECTED:
                return (
                    "Not judged: the image did not pass the quality check, so the model's number "
                    f"({format_probability(r.probability)}) says nothing about this film."
                )
            if col == REASON and r.message:
                return f"<p>{html.escape(r.message)}</p>"  # rich text: Qt wraps long reasons
            if col == REVIEW and (review := self._reviews.get(review_key(r))) is not None:
                note = f"<br>Note: {html.escape(review.note)}" if review.note else ""
                return f"<p>{html.escape(review.status)}{note}</p>"
            if col == TIME:
                return "Time to read and analyse the file"
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (PROBABILITY, TIME):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole:
            if col == PROBABILITY and r.status in (REJECTED, ERROR):
                return QBrush(
                    QApplication.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
                )
            if col == LABEL:
                return QBrush(LABEL_COLOURS.get(r.label, QColor("#6b7378")).darker(115))
        if role == Qt.ItemDataRole.FontRole and col == LABEL and is_flagged(r.label):
            font = QFont()
            font.setBold(True)
            return font
        return None


class ResultsFilterProxy(QSortFilterProxyModel):
    """Sorts on numeric/ordinal values and filters by label and file name."""

    FLAGGED = "flagged"  # Pneumonia or Needs review
    UNREVIEWED = "unreviewed"  # judged films without a review
    DISAGREEMENTS = "disagreements"  # the latest review disagrees with the model

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._label: str | None = None
        self._search = ""
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(True)

    def _begin(self) -> None:
        if hasattr(self, "beginFilterChange"):
            self.beginFilterChange()

    def _end(self) -> None:
        if hasattr(self, "endFilterChange"):
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self.invalidateRowsFilter()

    def set_label_filter(self, label: str | None) -> None:
        self._begin()
        self._label = label or None
        self._end()

    def set_search(self, text: str) -> None:
        self._begin()
        self._search = text.strip().lower()
        self._end()

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:  # noqa: N802
        model = self.sourceModel()
        if not isinstance(model, ResultsTableModel):
            return True
        r = model.result(source_row)
        if self._label == self.UNREVIEWED:
            if not reviewable(r) or model.review_of(r) is not None:
                return False
        elif self._label == self.DISAGREEMENTS:
            review = model.review_of(r)
            if review is None or review.decision != DISAGREE:
                return False
        elif self._label == self.FLAGGED:
            if not is_flagged(r.label):
                return False
        elif self._label and r.label != self._label:
            return False
        return not self._search or self._search in r.name.lower()

    def visible_results(self) -> list[ScanResult]:
        """The rows as shown (filtered and sorted), in the GUI thread: keep it cheap."""
        model = self.sourceModel()
        if not isinstance(model, ResultsTableModel):
            return [self.data(self.index(i, 0), RESULT_ROLE) for i in range(self.rowCount())]
        rows = model.results
        n = self.rowCount()
        if n == len(rows) and self.sortColumn() < 0:  # nothing hidden, not sorted: the model's order
            return rows
        # mapToSource is C++ only; data() would call back into Python for every row (2x slower).
        return [rows[self.mapToSource(self.index(i, 0)).row()] for i in range(n)]


def review_cell(r: ScanResult, review: Review | None) -> str:
    """The Review column: short, the full status in the tooltip."""
    if not reviewable(r):
        return ""
    if review is None:
        return "Not yet reviewed"
    if review.decision == DISAGREE:
        return f"Disagreed: {review.call}" + (" · note" if review.note else "")
    return "Agreed" + (" · note" if review.note else "")
