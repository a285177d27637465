"""The PDF report: QPdfWriter + QPainter, no extra dependency.

Page 1 summarises the scan (date, counts, model, threshold, device, disclaimer) and lists, by file
name and reason, every file that was NOT screened (Unreadable), continued on further pages when
there are many; then one page per flagged image (Pneumonia or Needs review) with the image, its
heatmap when available, the probability, the label and the file name. Patient names appear only
when the user opted in.

Runs in the model thread (it may compute heatmaps), so it only uses QImage/QPainter on the PDF
device, both of which Qt allows outside the GUI thread.
"""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QMarginsF, QPointF, QRectF, QSizeF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPageLayout, QPageSize, QPainter, QPdfWriter, QPen

from .. import __version__
from ..core.errors import XRayLoadError
from ..core.images import XRay, load_error_from_os, load_xray
from ..core.results import LABELS, NEEDS_REVIEW, PNEUMONIA, REJECTED, UNREADABLE, ScanResult, summarise
from .table import LABEL_COLOURS, format_probability
from .viewer import format_date, format_person_name, gray_qimage, heatmap_rgba

log = logging.getLogger(__name__)

DISCLAIMER = "Decision support only, not a diagnostic device."
DISCLAIMER_DETAIL = (
    "Every result must be reviewed by a qualified clinician together with the clinical picture. "
    "The model was trained on pediatric anterior-posterior chest X-rays; results on other images "
    "may be unreliable."
)
RESOLUTION = 150  # dots per inch of the page coordinate system
#: Flagged files listed on the summary page when unreadable files must be listed too (each flagged
#: file has a page of its own anyway; every unreadable file must be named in the report).
FLAGGED_LINES_WITH_UNREADABLE = 8
NOT_SCREENED_NOTE = (
    "These files were not screened: no result exists for them. Check each file (or the original "
    "film) and scan it again, or review it without the tool."
)


@dataclass(frozen=True)
class ReportContext:
    model: str
    device: str
    threshold: float
    include_patient: bool = False
    threshold_note: str = ""  # the threshold in force and its source (site profile, user, card)
    created: _dt.datetime = field(default_factory=lambda: _dt.datetime.now().astimezone())
    app_version: str = __version__


def flagged(results: Sequence[ScanResult]) -> list[ScanResult]:
    return [r for r in results if r.label in (PNEUMONIA, NEEDS_REVIEW)]


def not_screened(results: Sequence[ScanResult]) -> list[ScanResult]:
    """Files without a screening result (Unreadable): the report names each one."""
    return [r for r in results if r.label == UNREADABLE]


def write_pdf_report(
    path: str,
    results: Sequence[ScanResult],
    ctx: ReportContext,
    heatmap: Callable[[XRay], np.ndarray | None] | None = None,
    progress: Callable[[int, int], object] | None = None,
) -> int:
    """Write the report and return its number of pages."""
    pages = flagged(results)
    failed = not_screened(results)
    writer = QPdfWriter(path)
    writer.setResolution(RESOLUTION)
    writer.setTitle("Pneumo Desktop screening report")
    writer.setCreator(f"Pneumo Desktop {ctx.app_version}")
    writer.setPageLayout(
        QPageLayout(
            QPageSize(QPageSize.PageSizeId.A4),
            QPageLayout.Orientation.Portrait,
            QMarginsF(15, 15, 15, 15),
            QPageLayout.Unit.Millimeter,
        )
    )
    painter = QPainter()
    if not painter.begin(writer):
        raise OSError(f"cannot write {path}")
    try:
        area = QRectF(0, 0, writer.width(), writer.height())
        rest = _summary_page(painter, area, results, pages, failed, ctx)
        extra = 0
        while rest:  # the unreadable files that did not fit on the summary page
            writer.newPage()
            extra += 1
            left = _not_screened_page(painter, area, rest, len(failed), ctx)
            if len(left) == len(rest):  # cannot happen (a page holds at least one row); never loop
                raise RuntimeError("a report page could not hold a single row")
            rest = left
        for i, r in enumerate(pages, start=1):
            if progress is not None:
                progress(i, len(pages))
            writer.newPage()
            _result_page(painter, area, r, i, len(pages), ctx, heatmap)
    finally:
        painter.end()
    log.info(
        "report written to %s (%d flagged pages, %d unreadable files listed)", path, len(pages), len(failed)
    )
    return 1 + extra + len(pages)


# ---------------------------------------------------------------------------------------------


def _font(points: float, bold: bool = False) -> QFont:
    f = QFont("Helvetica")
    f.setStyleHint(QFont.StyleHint.SansSerif)
    f.setPointSizeF(points)
    f.setBold(bold)
    return f


def _px(points: float) -> float:
    """Points to page units."""
    return points / 72.0 * RESOLUTION


def _text(
    p: QPainter,
    x: float,
    y: float,
    w: float,
    text: str,
    points: float = 10,
    bold: bool = False,
    colour: str = "#1d2125",
    flags: Qt.AlignmentFlag = Qt.AlignmentFlag.AlignLeft,
) -> float:
    """Draw wrapped text at (x, y); return the y below it."""
    p.setFont(_font(points, bold))
    p.setPen(QColor(colour))
    rect = p.boundingRect(QRectF(x, y, w, 10_000), int(flags | Qt.TextFlag.TextWordWrap), text)
    p.drawText(QRectF(x, y, w, rect.height()), int(flags | Qt.TextFlag.TextWordWrap), text)
    return y + rect.height()


def _height(p: QPainter, w: float, text: str, points: float = 10, bold: bool = False) -> float:
    """The height ``_text`` would take for this text and width."""
    p.setFont(_font(points, bold))
    flags = int(Qt.AlignmentFlag.AlignLeft | Qt.TextFlag.TextWordWrap)
    return p.boundingRect(QRectF(0, 0, w, 10_000), flags, text).height()


def _header(p: QPainter, area: QRectF, title: str, ctx: ReportContext) -> float:
    y = _text(p, area.left(), area.top(), area.width(), title, 17, bold=True)
    y = _text(
        p,
        area.left(),
        y + _px(2),
        area.width(),
        f"Pneumo Desktop {ctx.app_version} · {ctx.created:%Y-%m-%d %H:%M}",
        9,
        colour="#5b6168",
    )
    p.setPen(QPen(QColor("#c9ced3"), _px(0.8)))
    y += _px(6)
    p.drawLine(QPointF(area.left(), y), QPointF(area.right(), y))
    return y + _px(10)


def _footer(p: QPainter, area: QRectF, ctx: ReportContext) -> None:
    y = area.bottom() - _px(12)
    p.setPen(QPen(QColor("#c9ced3"), _px(0.8)))
    p.drawLine(QPointF(area.left(), y - _px(4)), QPointF(area.right(), y - _px(4)))
    _text(p, area.left(), y, area.width(), DISCLAIMER, 8, bold=True, colour="#5b6168")


def _summary_page(
    p: QPainter,
    area: QRectF,
    results: Sequence[ScanResult],
    pages: list[ScanResult],
    failed: list[ScanResult],
    ctx: ReportContext,
) -> list[ScanResult]:
    """Draw page 1; return the unreadable files that did not fit (listed on the next pages)."""
    y = _header(p, area, "Chest X-ray screening report", ctx)
    counts = summarise(results)
    left, w = area.left(), area.width()
    rows = [
        ("Date", f"{ctx.created:%Y-%m-%d %H:%M %Z}".strip()),
        ("Model", ctx.model),
        ("Threshold", f"{ctx.threshold * 100:.1f} % (probability at or above it is labelled Pneumonia)"),
        *([("Set by", ctx.threshold_note)] if ctx.threshold_note else []),
        ("Device", ctx.device or "–"),
        ("Files", str(counts["total"])),
    ]
    label_w = _px(90)
    for key, value in rows:
        _text(p, left, y, label_w, key, 10, colour="#5b6168")
        y = _text(p, left + label_w, y, w - label_w, value, 10) + _px(3)

    y += _px(10)
    y = _text(p, left, y, w, "Results", 13, bold=True) + _px(4)
    for label in LABELS:
        n = counts[label]
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(LABEL_COLOURS[label])
        p.drawEllipse(QRectF(left, y + _px(2.5), _px(8), _px(8)))
        _text(p, left + _px(14), y, label_w, label, 11)
        y = _text(
            p, left + _px(14) + label_w, y, _px(60), str(n), 11, bold=True, flags=Qt.AlignmentFlag.AlignRight
        ) + _px(3)

    y += _px(10)
    bottom = area.bottom() - _px(120)  # above the disclaimer box
    if pages:
        y = _text(p, left, y, w, f"Flagged for review ({len(pages)}): one page each follows.", 11, bold=True)
        y += _px(4)
        limit = FLAGGED_LINES_WITH_UNREADABLE if failed else len(pages)
        for k, r in enumerate(pages):
            if k >= limit or y > bottom:
                y = _text(p, left, y, w, f"… and {len(pages) - k} more", 9) + _px(1)
                break
            _text(p, left, y, _px(80), r.label, 9)
            _text(
                p,
                left + _px(80),
                y,
                _px(44),
                format_probability(r.probability),
                9,
                flags=Qt.AlignmentFlag.AlignRight,
            )
            y = _text(p, left + _px(134), y, w - _px(134), r.name, 9) + _px(1)
    else:
        y = _text(p, left, y, w, "No image was flagged as Pneumonia or Needs review.", 11)

    rest: list[ScanResult] = []
    if failed:
        y += _px(10)
        y = _text(p, left, y, w, f"Not screened: unreadable files ({len(failed)})", 11, bold=True) + _px(2)
        y = _text(p, left, y, w, NOT_SCREENED_NOTE, 9, colour="#5b6168") + _px(4)
        rest = _not_screened_rows(p, left, y, w, bottom, failed)
        if rest:
            _text(p, left, bottom + _px(4), w, f"{len(rest)} more on the next page.", 9, bold=True)

    # Disclaimer box at the bottom.
    box_h = _px(62)
    box = QRectF(left, area.bottom() - box_h - _px(24), w, box_h)
    p.setPen(QPen(QColor("#c77c0e"), _px(1)))
    p.setBrush(QColor("#fff6e5"))
    p.drawRoundedRect(box, _px(4), _px(4))
    ty = _text(p, box.left() + _px(10), box.top() + _px(8), box.width() - _px(20), DISCLAIMER, 12, bold=True)
    _text(p, box.left() + _px(10), ty + _px(2), box.width() - _px(20), DISCLAIMER_DETAIL, 9)
    _footer(p, area, ctx)
    return rest


def _not_screened_rows(
    p: QPainter, left: float, y: float, w: float, bottom: float, rows: list[ScanResult], first: bool = False
) -> list[ScanResult]:
    """List file name and reason from ``y`` down to ``bottom``; return the rows that did not fit.

    ``first``: draw the first row even if it is taller than the room (a page of its own).
    """
    name_w = w * 0.42
    reason_x, reason_w = left + name_w + _px(8), w - name_w - _px(8)
    for k, r in enumerate(rows):
        reason = r.message or "The file could not be read."
        height = max(_height(p, name_w, r.name, 9, bold=True), _height(p, reason_w, reason, 9))
        if (k > 0 or not first) and y + height > bottom:
            return rows[k:]
        _text(p, left, y, name_w, r.name, 9, bold=True)
        _text(p, reason_x, y, reason_w, reason, 9)
        y += height + _px(2)
    return []


def _not_screened_page(
    p: QPainter, area: QRectF, rows: list[ScanResult], total: int, ctx: ReportContext
) -> list[ScanResult]:
    """A continuation page of the unreadable files; return the rows left for the next one."""
    y = _header(p, area, f"Not screened: unreadable files ({total}), continued", ctx)
    left, w = area.left(), area.width()
    bottom = area.bottom() - _px(30)  # above the footer
    rest = _not_screened_rows(p, left, y, w, bottom - _px(16), rows, first=True)
    if rest:
        _text(p, left, bottom - _px(14), w, f"{len(rest)} more on the next page.", 9, bold=True)
    _footer(p, area, ctx)
    return rest


def _result_page(
    p: QPainter,
    area: QRectF,
    r: ScanResult,
    i: int,
    n: int,
    ctx: ReportContext,
    heatmap: Callable[[XRay], np.ndarray | None] | None,
) -> None:
    y = _header(p, area, f"Flagged image {i} of {n}", ctx)
    left, w = area.left(), area.width()
    colour = LABEL_COLOURS.get(r.label, QColor("#6b7378"))
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(colour)
    p.drawRoundedRect(QRectF(left, y, _px(110), _px(20)), _px(4), _px(4))
    _text(
        p,
        left,
        y + _px(3),
        _px(110),
        r.label,
        11,
        bold=True,
        colour="#ffffff",
        flags=Qt.AlignmentFlag.AlignHCenter,
    )
    _text(
        p,
        left + _px(122),
        y + _px(2),
        w - _px(122),
        f"Probability {format_probability(r.probability)}"
        + (" (unreliable: the image failed the quality check)" if r.status == REJECTED else ""),
        13 if r.status != REJECTED else 11,
        bold=True,
    )
    y += _px(30)
    lines = [("File", r.name), ("Folder", r.path[: max(0, len(r.path) - len(r.name))].rstrip("/\\") or "–")]
    if r.message:
        lines.append(("Reason", r.message))
    if r.study_date:
        lines.append(("Study date", format_date(r.study_date)))
    if ctx.include_patient and (r.patient_name or r.patient_id):
        lines.append(
            ("Patient", " · ".join(v for v in (format_person_name(r.patient_name), r.patient_id) if v))
        )
    label_w = _px(70)
    for key, value in lines:
        _text(p, left, y, label_w, key, 10, colour="#5b6168")
        y = _text(p, left + label_w, y, w - label_w, value, 10) + _px(2)
    y += _px(10)

    box = QRectF(left, y, w, area.bottom() - y - _px(30))
    try:
        if r.file_changed():
            raise XRayLoadError("the file has changed since it was scanned, so it is not the image this result is for")
        xray = load_xray(r.path)
    except (XRayLoadError, OSError) as exc:
        reason = load_error_from_os(exc) if isinstance(exc, OSError) else exc
        _text(p, left, y, w, f"The image could not be loaded for this report: {reason}", 10, colour="#c0392b")
        _footer(p, area, ctx)
        return
    heat = heatmap(xray) if heatmap is not None else None
    image = gray_qimage((np.clip(xray.pixels, 0, 1) * 255 + 0.5).astype(np.uint8))
    if heat is None:
        _draw_fitted(p, image, box, "Image")
    else:
        overlay = _overlay(xray.pixels, heat)
        gap, cap = _px(10), _px(16)
        side = min((box.width() - gap) / 2 / image.width(), (box.height() - cap) / image.height())
        stacked = min(box.width() / image.width(), (box.height() - gap - 2 * cap) / 2 / image.height())
        if side >= stacked:  # image and heatmap side by side
            first = QRectF(box.left(), box.top(), (box.width() - gap) / 2, box.height())
            second = first.translated(first.width() + gap, 0)
        else:  # one above the other (wide images)
            first = QRectF(box.left(), box.top(), box.width(), (box.height() - gap) / 2)
            second = first.translated(0, first.height() + gap)
        _draw_fitted(p, image, first, "Image")
        _draw_fitted(p, overlay, second, "Heatmap (where the model looked)")
    _footer(p, area, ctx)


def _overlay(pixels: np.ndarray, heat: np.ndarray, opacity: float = 0.45) -> QImage:
    gray = np.clip(pixels, 0, 1)[..., None] * 255.0
    if heat.shape != pixels.shape:  # defensive: the heatmap should already be the image's size
        from PIL import Image

        h, w = pixels.shape
        heat = np.asarray(Image.fromarray(np.asarray(heat, np.float32), mode="F").resize((w, h)), np.float32)
    rgba = heatmap_rgba(heat).astype(np.float32)
    alpha = rgba[..., 3:4] / 255.0 * opacity
    rgb = np.ascontiguousarray((gray * (1 - alpha) + rgba[..., :3] * alpha).clip(0, 255).astype(np.uint8))
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def _draw_fitted(p: QPainter, image: QImage, box: QRectF, caption: str) -> None:
    caption_h = _px(16)
    room = QRectF(box.left(), box.top(), box.width(), box.height() - caption_h)
    size = QSizeF(image.width(), image.height())
    size.scale(room.size(), Qt.AspectRatioMode.KeepAspectRatio)
    target = QRectF(room.left() + (room.width() - size.width()) / 2, room.top(), size.width(), size.height())
    p.drawImage(target, image)
    p.setPen(QPen(QColor("#c9ced3"), _px(0.5)))
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.drawRect(target)
    _text(
        p,
        box.left(),
        target.bottom() + _px(3),
        box.width(),
        caption,
        9,
        colour="#5b6168",
        flags=Qt.AlignmentFlag.AlignHCenter,
    )
