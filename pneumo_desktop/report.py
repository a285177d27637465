"""The PDF report, for filing and sign-off: QPdfWriter + QPainter (Qt GUI, no widgets), so the app
and ``pneumo-scan --pdf`` write the same report.

Page 1 summarises the scan: date, counts, model and version, the threshold in force and its
source, the review state, and the disclaimer (once). Then every file follows, normals, refused
and unreadable ones included, three to a page: file name, patient ID, age and study date for
DICOMs (the name only when asked), label, pneumonia probability, the reason for a refusal, the
image with its heatmap, colour legend and caveat (only for films the model judged), the review
status and a "Reviewed by / Signature / Date" line.

Runs off the GUI thread (the app's model thread; the CLI's main thread with a QGuiApplication on
the offscreen platform): only QImage/QPainter on the PDF device, which Qt allows there.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PySide6 import QtCore, QtGui

from . import __version__
from .core import wording
from .core.colours import LABEL_HEX, legend_rgb
from .core.demographics import read_age
from .core.errors import XRayLoadError
from .core.heatmap import stored_heatmap
from .core.io import XRay, load_error_from_os, load_xray
from .core.results import ERROR, LABELS, REJECTED, ScanResult, summarise
from .core.review import Review, review_key, reviewable, status_for
from .reportkit import (
    REPORT_FOLDER,
    RESOLUTION,
    default_report_dir,
    default_report_path,
    ensure_gui_application,
)
from .reportkit import font as _font
from .reportkit import gray_qimage as _gray_qimage
from .reportkit import overlay as _overlay
from .reportkit import px as _px

__all__ = [  # moved to reportkit (#18); the old names still come from here
    "DISCLAIMER",
    "DISCLAIMER_DETAIL",
    "PER_PAGE",
    "REPORT_FOLDER",
    "RESOLUTION",
    "ReportContext",
    "SIGN_OFF",
    "default_report_dir",
    "default_report_path",
    "ensure_gui_application",
    "file_lines",
    "headline",
    "pdf_heatmaps",
    "report_threshold",
    "write_pdf_report",
]

log = logging.getLogger(__name__)

PER_PAGE = 3  # files per page after the summary
DISCLAIMER = wording.DISCLAIMER
DISCLAIMER_DETAIL = wording.DISCLAIMER_DETAIL
SIGN_OFF = ("Reviewed by ______________________________", "Signature ___________________   Date ____________")


@dataclass(frozen=True)
class ReportContext:
    model: str
    device: str
    threshold: float
    threshold_source: str = "model card"
    include_patient: bool = False
    threshold_note: str = ""  # the threshold in force, described (core.threshold: site profile, user, card)
    reviews: Mapping[str, Review] = field(default_factory=dict)
    created: _dt.datetime = field(default_factory=lambda: _dt.datetime.now().astimezone())
    app_version: str = __version__


def report_threshold(
    threshold: float, override: str | None, card_threshold: float | None
) -> wording.ThresholdInForce:
    """The threshold in force for a report and where it comes from (one place to change)."""
    if override:
        return wording.ThresholdInForce(float(threshold), override)
    found = wording.threshold_in_force(threshold, card_threshold)
    return found if found is not None else wording.ThresholdInForce(float(threshold), "model card")


def pdf_heatmaps(predictor: Any) -> Callable[[XRay], np.ndarray | None] | None:
    """Grad-CAM for the report from a loaded predictor (None when the module is missing)."""
    try:
        from .core.explain import gradcam
    except ImportError:
        return None

    def heat(xray: XRay) -> np.ndarray | None:
        try:
            return gradcam(predictor, xray)
        except Exception:  # a missing heatmap must not stop the report
            log.exception("Grad-CAM failed for %s", xray.path)
            return None

    return heat


def write_pdf_report(
    path: str,
    results: Sequence[ScanResult],
    ctx: ReportContext,
    heatmap: Callable[[XRay], np.ndarray | None] | None = None,
    progress: Callable[[int, int], object] | None = None,
) -> int:
    """Write the report and return its number of pages."""
    ensure_gui_application()
    from PySide6.QtCore import QMarginsF, QRectF
    from PySide6.QtGui import QPageLayout, QPageSize, QPainter, QPdfWriter

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
    pages = 1 + (len(results) + PER_PAGE - 1) // PER_PAGE
    try:
        area = QRectF(0, 0, writer.width(), writer.height())
        _summary_page(painter, area, results, ctx, pages)
        for page, start in enumerate(range(0, len(results), PER_PAGE), start=2):
            if progress is not None:
                progress(page - 1, pages - 1)
            writer.newPage()
            chunk = results[start : start + PER_PAGE]
            y = _header(
                painter,
                area,
                f"Files {start + 1}–{start + len(chunk)} of {len(results)}",
                ctx,
                small=True,
            )
            block_h = (area.bottom() - _px(24) - y) / PER_PAGE
            for k, r in enumerate(chunk):
                _file_block(
                    painter,
                    QRectF(area.left(), y + k * block_h, area.width(), block_h - _px(6)),
                    r,
                    ctx,
                    heatmap,
                )
            _footer(painter, area, ctx, page, pages)
    finally:
        painter.end()
    log.info("report written to %s (%d files, %d pages)", path, len(results), pages)
    return pages


# ---------------------------------------------------------------------------------------------
# Drawing helpers


def _text(
    p: Any,
    x: float,
    y: float,
    w: float,
    text: str,
    points: float = 10,
    bold: bool = False,
    colour: str = "#1d2125",
    centre: bool = False,
    anywhere: bool = False,
) -> float:
    """Draw wrapped plain text at (x, y); return the y below it.

    ``anywhere``: break inside words too (file names and folders have no spaces to break at).
    """
    p.setFont(_font(points, bold))
    p.setPen(QtGui.QColor(colour))
    align = QtCore.Qt.AlignmentFlag.AlignHCenter if centre else QtCore.Qt.AlignmentFlag.AlignLeft
    wrap = QtCore.Qt.TextFlag.TextWrapAnywhere if anywhere else QtCore.Qt.TextFlag.TextWordWrap
    flags = int(align | wrap)
    rect = p.boundingRect(QtCore.QRectF(x, y, w, 10_000), flags, text)
    p.drawText(QtCore.QRectF(x, y, w, rect.height()), flags, text)
    return y + rect.height()


def _rule(p: Any, x0: float, x1: float, y: float) -> None:
    p.setPen(QtGui.QPen(QtGui.QColor("#c9ced3"), _px(0.8)))
    p.drawLine(QtCore.QPointF(x0, y), QtCore.QPointF(x1, y))


def _header(p: Any, area: Any, title: str, ctx: ReportContext, small: bool = False) -> float:
    y = _text(p, area.left(), area.top(), area.width(), title, 12 if small else 17, bold=True)
    y = _text(
        p,
        area.left(),
        y + _px(2),
        area.width(),
        f"Pneumo Desktop {ctx.app_version} · {ctx.model} · report of {wording.format_datetime(ctx.created)}",
        8,
        colour="#5b6168",
    )
    y += _px(4)
    _rule(p, area.left(), area.right(), y)
    return y + _px(8)


def _footer(p: Any, area: Any, ctx: ReportContext, page: int, pages: int) -> None:
    y = area.bottom() - _px(12)
    _rule(p, area.left(), area.right(), y - _px(4))
    _text(
        p,
        area.left(),
        y,
        area.width(),
        f"Page {page} of {pages}",
        8,
        colour="#5b6168",
    )


def _summary_page(p: Any, area: Any, results: Sequence[ScanResult], ctx: ReportContext, pages: int) -> None:
    y = _header(p, area, "Chest X-ray screening report", ctx)
    counts = summarise(results)
    left, w = area.left(), area.width()
    judged = [r for r in results if reviewable(r)]
    latest = [ctx.reviews.get(review_key(r)) for r in judged]
    reviewed = [rv for rv in latest if rv is not None]
    disagreed = sum(rv.decision == wording.DISAGREE for rv in reviewed)
    rows = [
        ("Date", f"{ctx.created:%Y-%m-%d %H:%M %Z}".strip()),
        ("Model", ctx.model),
        (
            "Threshold",
            f"{wording.format_threshold(ctx.threshold)} ({ctx.threshold_source}): a film whose pneumonia "
            "probability is at or above it is labelled Pneumonia.",
        ),
        *([("Set by", ctx.threshold_note)] if ctx.threshold_note else []),
        ("Device", ctx.device or wording.DASH),
        ("Files", str(counts["total"])),
        (
            "Reviews",
            f"{len(reviewed)} of {wording.plural(len(judged), 'judged film')} reviewed"
            + (f"; {wording.plural(disagreed, 'disagreement')}" if reviewed else ""),
        ),
    ]
    label_w = _px(90)
    for key, value in rows:
        _text(p, left, y, label_w, key, 10, colour="#5b6168")
        y = _text(p, left + label_w, y, w - label_w, value, 10) + _px(3)

    y += _px(10)
    y = _text(p, left, y, w, "Results", 13, bold=True) + _px(4)
    for label in LABELS:
        p.setPen(QtCore.Qt.PenStyle.NoPen)
        p.setBrush(QtGui.QColor(LABEL_HEX[label]))
        p.drawEllipse(QtCore.QRectF(left, y + _px(2.5), _px(8), _px(8)))
        _text(p, left + _px(14), y, label_w, label, 11)
        y = _text(p, left + _px(14) + label_w, y, _px(40), str(counts[label]), 11, bold=True) + _px(3)

    y += _px(12)
    y = _text(p, left, y, w, "What follows", 13, bold=True) + _px(4)
    y = _text(
        p,
        left,
        y,
        w,
        f"Every file, in the order scanned, {PER_PAGE} to a page ({pages - 1} pages): its label and "
        "pneumonia probability, or why it was not judged; the image with a heatmap for the films the "
        "model judged; the review status; and a line for the reviewer's signature. Needs review: the "
        "model refused to judge the film (for example not a frontal chest film). Unreadable: the file "
        "could not be read at all.",
        10,
    )
    y += _px(6)
    _text(p, left, y, w, wording.PROBABILITY_MEANING, 10, colour="#5b6168")

    box_h = _px(62)
    box = QtCore.QRectF(left, area.bottom() - box_h - _px(24), w, box_h)
    p.setPen(QtGui.QPen(QtGui.QColor("#c77c0e"), _px(1)))
    p.setBrush(QtGui.QColor("#fff6e5"))
    p.drawRoundedRect(box, _px(4), _px(4))
    ty = _text(p, box.left() + _px(10), box.top() + _px(8), box.width() - _px(20), DISCLAIMER, 12, bold=True)
    _text(p, box.left() + _px(10), ty + _px(2), box.width() - _px(20), DISCLAIMER_DETAIL, 9)
    y = area.bottom() - _px(12)
    _rule(p, left, area.right(), y - _px(4))
    _text(p, left, y, w, f"Page 1 of {pages}", 8, colour="#5b6168")


def file_lines(r: ScanResult, ctx: ReportContext, age: str = "") -> list[tuple[str, str]]:
    """The text of one file's block (key, value), from that result alone."""
    lines: list[tuple[str, str]] = [("File", r.name)]
    folder = os.path.dirname(r.path)
    if folder:
        lines.append(("Folder", folder))
    if r.status == ERROR or r.status == REJECTED:
        lines.append(("Reason", wording.reason_text(r.message, r.label)))
    if r.format == "DICOM" and r.status != ERROR:
        lines.append(("Patient ID", r.patient_id or wording.NOT_RECORDED))
        lines.append(("Age", age or wording.NOT_RECORDED))
        lines.append(("Study date", wording.format_date(r.study_date)))
        if ctx.include_patient:
            lines.append(("Patient", wording.format_person_name(r.patient_name) or wording.NOT_RECORDED))
    review = ctx.reviews.get(review_key(r))
    lines.append(("Review", status_for(r, ctx.reviews)))
    if review is not None and review.note:
        lines.append(("Note", review.note))
    return lines


def headline(r: ScanResult) -> str:
    if reviewable(r):
        return wording.probability_phrase(r.probability, capital=True)
    if r.status == REJECTED:
        return "Not judged by the model"
    return "Not screened: the file could not be read"


def _file_block(
    p: Any, box: Any, r: ScanResult, ctx: ReportContext, heatmap: Callable[[XRay], np.ndarray | None] | None
) -> None:
    left, top, w = box.left(), box.top(), box.width()
    colour = QtGui.QColor(LABEL_HEX.get(r.label, "#6b7378"))
    p.setPen(QtCore.Qt.PenStyle.NoPen)
    p.setBrush(colour)
    pill_w = _px(92)
    p.drawRoundedRect(QtCore.QRectF(left, top, pill_w, _px(17)), _px(4), _px(4))
    _text(p, left, top + _px(2.5), pill_w, r.label, 10, bold=True, colour="#ffffff", centre=True)
    _text(p, left + pill_w + _px(10), top + _px(1), w - pill_w - _px(10), headline(r), 12, bold=True)
    y = top + _px(24)

    judged = reviewable(r)
    image_w = w * 0.46 if r.status != ERROR else 0.0
    text_w = w - image_w - (_px(12) if image_w else 0)
    film = _film(r) if image_w else None  # each printed film is read once, for its pixels and age
    age = ""
    if r.format == "DICOM" and r.status != ERROR:
        age = _age(film) if isinstance(film, XRay) else read_age(r.path)
    key_w = _px(64)
    for key, value in file_lines(r, ctx, age):
        _text(p, left, y, key_w, key, 9, colour="#5b6168")
        y = _text(p, left + key_w, y, text_w - key_w, value, 9, anywhere=key in ("File", "Folder")) + _px(1.5)
    sign_y = max(y + _px(8), box.bottom() - _px(30))
    _text(p, left, sign_y, text_w, SIGN_OFF[0], 9)
    _text(p, left, sign_y + _px(15), text_w, SIGN_OFF[1], 9)
    if image_w:
        _images(
            p,
            QtCore.QRectF(left + text_w + _px(12), top + _px(24), image_w, box.bottom() - top - _px(24)),
            r,
            film,
            judged,
            heatmap,
        )
    _rule(p, left, box.right(), box.bottom() + _px(2))


def _film(r: ScanResult) -> XRay | str:
    """The film as scanned, or why it cannot be printed (moved, changed, unreadable)."""
    try:
        if r.file_changed():
            raise XRayLoadError(
                "the file has changed since it was scanned, so it is not the image this result is for"
            )
        return load_xray(r.path)
    except (XRayLoadError, OSError) as exc:
        return str(load_error_from_os(exc) if isinstance(exc, OSError) else exc)


def _age(xray: XRay) -> str:
    """The patient's age in words from the film's own header (as ``core.demographics.read_age``)."""
    return wording.format_age(xray.patient_age or "", xray.patient_birth_date or "", xray.study_date or "")


def _images(
    p: Any,
    box: Any,
    r: ScanResult,
    film: XRay | str | None,
    judged: bool,
    heatmap: Callable[[XRay], np.ndarray | None] | None,
) -> None:
    """The film (and, for judged films, its heatmap with legend and caveat), or why not."""
    xray = film if isinstance(film, XRay) else None
    if xray is None:
        reason = film if isinstance(film, str) else "it could not be read"
        _text(
            p, box.left(), box.top(), box.width(), f"The image is not printed: {reason}", 9, colour="#c0392b"
        )
        return
    gray = _gray_qimage(xray.pixels)
    heat = _heat_for(r, xray, heatmap) if judged else None
    caption_h = _px(12)
    if heat is None:
        room = QtCore.QRectF(box.left(), box.top(), box.width() / 2, box.height() - caption_h)
        _draw_fitted(p, gray, room, "Image" + ("" if judged else " (not judged)"))
        if judged:
            _text(
                p,
                box.left() + box.width() / 2 + _px(6),
                box.top(),
                box.width() / 2 - _px(6),
                "No heatmap available.",
                8,
                colour="#5b6168",
            )
        return
    legend_h = _px(34)
    half = (box.width() - _px(8)) / 2
    room_h = box.height() - caption_h - legend_h
    bottom = _draw_fitted(p, gray, QtCore.QRectF(box.left(), box.top(), half, room_h), "Image")
    _draw_fitted(
        p,
        _overlay(xray.pixels, heat),
        QtCore.QRectF(box.left() + half + _px(8), box.top(), half, room_h),
        "Heatmap",
    )
    _legend(p, QtCore.QRectF(box.left(), bottom + caption_h + _px(6), box.width(), legend_h))


def _heat_for(
    r: ScanResult, xray: XRay, heatmap: Callable[[XRay], np.ndarray | None] | None
) -> np.ndarray | None:
    """The row's stored heatmap (the scan's own forward pass, ``core.heatmap``); only a row scanned
    before heatmaps were stored asks ``heatmap`` (a model call)."""
    heat = stored_heatmap(r, xray.pixels.shape)
    if heat is None and heatmap is not None:
        heat = heatmap(xray)
    return heat


def _legend(p: Any, box: Any) -> None:
    bar_w, bar_h = box.width() * 0.5, _px(6)
    rgb = legend_rgb(256, 4)
    image = QtGui.QImage(
        rgb.data, rgb.shape[1], rgb.shape[0], 3 * rgb.shape[1], QtGui.QImage.Format.Format_RGB888
    ).copy()
    x0 = box.left() + _px(26)
    p.drawImage(QtCore.QRectF(x0, box.top() + _px(2), bar_w, bar_h), image)
    least, most = wording.HEATMAP_LEGEND
    _text(p, box.left(), box.top(), _px(26), least, 7, colour="#5b6168")
    _text(p, x0 + bar_w + _px(4), box.top(), _px(40), most, 7, colour="#5b6168")
    _text(p, box.left(), box.top() + bar_h + _px(5), box.width(), wording.HEATMAP_CAVEAT, 7, colour="#5b6168")


def _draw_fitted(p: Any, image: Any, room: Any, caption: str) -> float:
    """Draw ``image`` fitted into ``room`` with a caption; return the image's bottom."""
    size = QtCore.QSizeF(image.width(), image.height())
    size.scale(room.size(), QtCore.Qt.AspectRatioMode.KeepAspectRatio)
    target = QtCore.QRectF(
        room.left() + (room.width() - size.width()) / 2, room.top(), size.width(), size.height()
    )
    p.drawImage(target, image)
    p.setPen(QtGui.QPen(QtGui.QColor("#c9ced3"), _px(0.5)))
    p.setBrush(QtCore.Qt.BrushStyle.NoBrush)
    p.drawRect(target)
    _text(p, room.left(), target.bottom() + _px(2), room.width(), caption, 8, colour="#5b6168", centre=True)
    return target.bottom()
