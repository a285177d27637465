"""The image viewer: fit / 1:1 / wheel zoom / pan, window-level drag, heatmap overlay, metadata.

Images are decoded with :func:`~pneumo_desktop.core.io.load_xray` in a small QThreadPool (it
never touches the model); only the cheap 8-bit rendering happens in the GUI thread. Heatmaps arrive
already coloured (:class:`Heatmap`, built in the model thread): colouring a 2000 x 2000 map takes
about 300 ms, far too long for the GUI thread. A heatmap is shown only over the very image it was
computed for (same request, same decoded image, same path and size).
"""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtCore import Qt, QThreadPool, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSlider,
    QStackedLayout,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..core import wording
from ..core.colours import heatmap_rgba
from ..core.io import XRay
from ..core.results import ScanResult
from .details import DETAIL_KEYS, detail_rows, threshold_line
from .imageload import _LoaderSignals, _LoadTask, _StoredHeatTask
from .imageview import MAX_ZOOM, MIN_ZOOM, ImageView
from .qimages import LEVELS, Heatmap, gray_qimage, heatmap_qimage, quantise, window_lut
from .table import label_icon

__all__ = [  # the names callers used before the split (#18) still come from here
    "DETAIL_KEYS",
    "LEVELS",
    "MAX_ZOOM",
    "MIN_ZOOM",
    "Heatmap",
    "ImageView",
    "ViewerPanel",
    "XRay",
    "detail_rows",
    "format_date",
    "format_person_name",
    "gray_qimage",
    "heatmap_qimage",
    "heatmap_rgba",
    "quantise",
    "threshold_line",
    "window_lut",
]

log = logging.getLogger(__name__)


def _tool_button(
    parent: QWidget, text: str, tip: str, icon: QStyle.StandardPixmap | None = None
) -> QToolButton:
    b = QToolButton(parent)
    b.setText(text)
    b.setToolTip(tip)
    b.setAutoRaise(True)
    if icon is not None:
        b.setIcon(parent.style().standardIcon(icon))
        b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    return b


HEATMAP_TIP = "Overlay the heatmap (class activation map = Grad-CAM): where the model found evidence (H)"


class ViewerPanel(QWidget):
    """Shows the selected result: image, optional heatmap, and its details."""

    heatmap_requested = Signal(int, object)  # request id, XRay (answered with on_heatmap)
    image_loaded = Signal(str)  # path (tests and the screenshot script wait for it)
    image_failed = Signal(str, str)  # path, message
    step_requested = Signal(int)
    result_shown = Signal(object)  # ScanResult | None: the result whose details are now shown

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(2)
        self._signals = _LoaderSignals(self)
        self._signals.loaded.connect(self._on_loaded)
        self._signals.failed.connect(self._on_failed)
        self._signals.stored_heat.connect(self._on_stored_heat)
        self._stored: tuple[int, Heatmap] | None = None  # the stored heatmap of the image being loaded
        self._request = 0
        self._heat_request = 0
        self._heat_pending: XRay | None = None  # the image the outstanding heatmap request is for
        self._result: ScanResult | None = None
        self._xray: XRay | None = None
        self._heat: Heatmap | None = None  # shown or ready to show, always for self._xray
        self._heat_for: XRay | None = None  # the decoded image self._heat was computed for
        self._heatmaps_available = False
        self._show_patient = False
        self._changed = False  # the file on disk is not the one that was scanned
        self._age = ""  # the patient's age in words, read with self._xray
        self._card_threshold: float | None = None
        self._operating_point = ""  # the threshold in force, described (set by the window)

        # toolbar
        bar = QHBoxLayout()
        bar.setContentsMargins(6, 4, 6, 4)
        bar.setSpacing(2)
        self.fit_button = _tool_button(self, "Fit", "Fit the image to the window (double-click, 0)")
        self.actual_button = _tool_button(self, "1:1", "Show the image at its actual size")
        self.zoom_in_button = _tool_button(self, "+", "Zoom in (mouse wheel, +)")
        self.zoom_out_button = _tool_button(self, "−", "Zoom out (mouse wheel, −)")
        self.reset_window_button = _tool_button(
            self, "Reset contrast", "Brightness/contrast: drag with the right mouse button. Click to reset."
        )
        self.heatmap_box = QCheckBox("Heatmap", self)
        self.heatmap_box.setToolTip(HEATMAP_TIP)
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(45)
        self.opacity_slider.setFixedWidth(90)
        self.opacity_slider.setToolTip("Heatmap opacity")
        self.zoom_label = QLabel("", self)
        self.zoom_label.setMinimumWidth(48)
        self.zoom_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        for w in (self.fit_button, self.actual_button, self.zoom_in_button, self.zoom_out_button):
            bar.addWidget(w)
        bar.addSpacing(8)
        bar.addWidget(self.reset_window_button)
        bar.addSpacing(8)
        bar.addWidget(self.heatmap_box)
        bar.addWidget(self.opacity_slider)
        bar.addStretch(1)
        bar.addWidget(self.zoom_label)
        self.set_heatmaps_available(False)

        # image area: placeholder or the view
        self.view = ImageView(self)
        self.placeholder = QLabel("Select a result to see the image.", self)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.placeholder.setStyleSheet("QLabel { background: #17191c; color: #aab0b6; padding: 24px; }")
        self._stack = QStackedLayout()
        self._stack.addWidget(self.placeholder)
        self._stack.addWidget(self.view)

        # details
        self.details = QFrame(self)
        self.details.setObjectName("details")
        form = QFormLayout(self.details)
        form.setContentsMargins(10, 8, 10, 8)
        form.setHorizontalSpacing(14)
        form.setVerticalSpacing(3)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self._fields: dict[str, QLabel] = {}
        result_row = QHBoxLayout()
        self.result_icon = QLabel(self.details)
        self.result_text = QLabel(self.details)
        self.result_text.setTextFormat(Qt.TextFormat.PlainText)  # "< 0.1 %" is text, not a tag
        self.result_text.setWordWrap(True)
        self.result_text.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        font = self.result_text.font()
        font.setBold(True)
        self.result_text.setFont(font)
        result_row.addWidget(self.result_icon, 0, Qt.AlignmentFlag.AlignTop)
        result_row.addWidget(self.result_text, 1)
        form.addRow("Result", result_row)
        self.meaning_label = QLabel(self.details)
        self.meaning_label.setTextFormat(Qt.TextFormat.PlainText)
        self.meaning_label.setWordWrap(True)
        self.meaning_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.meaning_label.setStyleSheet("color: palette(mid);")
        form.addRow("", self.meaning_label)
        self._form = form
        for key in DETAIL_KEYS:
            label = QLabel("–", self.details)
            label.setTextFormat(Qt.TextFormat.PlainText)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setWordWrap(True)
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            self._fields[key] = label
            form.addRow(key, label)
        patient_row = QHBoxLayout()
        self.patient_label = QLabel("Hidden", self.details)
        self.patient_label.setTextFormat(Qt.TextFormat.PlainText)
        self.patient_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.patient_button = QToolButton(self.details)
        self.patient_button.setText("Show patient name")
        self.patient_button.setCheckable(True)
        self.patient_button.setToolTip("Patient names stay hidden unless you ask (this session only)")
        patient_row.addWidget(self.patient_label, 1)
        patient_row.addWidget(self.patient_button)
        self._patient_row = QWidget(self.details)
        self._patient_row.setLayout(patient_row)
        patient_row.setContentsMargins(0, 0, 0, 0)
        form.addRow("Patient", self._patient_row)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(bar)
        from .heatlegend import HeatLegend

        self.heat_legend = HeatLegend(self)
        self.heat_legend.setVisible(False)
        layout.addWidget(self.heat_legend)
        layout.addLayout(self._stack, 1)
        layout.addWidget(self.details)
        self._layout = layout

        self.fit_button.clicked.connect(self.view.fit)
        self.actual_button.clicked.connect(self.view.actual_size)
        self.zoom_in_button.clicked.connect(lambda: self.view.zoom_by(1.25))
        self.zoom_out_button.clicked.connect(lambda: self.view.zoom_by(0.8))
        self.reset_window_button.clicked.connect(self.view.reset_window)
        self.heatmap_box.toggled.connect(self._on_heatmap_toggled)
        self.opacity_slider.valueChanged.connect(lambda v: self.view.set_heatmap_opacity(v / 100))
        self.view.set_heatmap_opacity(self.opacity_slider.value() / 100)
        self.view.zoom_changed.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f} %"))
        self.view.step_requested.connect(self.step_requested)
        self.patient_button.toggled.connect(self._on_show_patient)
        self._enable_image_tools(False)
        self.show_result(None)

    # -- public -----------------------------------------------------------------------------------
    @property
    def current(self) -> ScanResult | None:
        return self._result

    @property
    def xray(self) -> XRay | None:
        return self._xray

    @property
    def heatmap(self) -> Heatmap | None:
        """The heatmap of the image shown (stored by the scan or computed), once it has arrived."""
        return self._heat

    def set_review_panel(self, panel: QWidget) -> None:
        """The review controls (gui.review) go below the details."""
        self._layout.addWidget(panel)

    def set_card_threshold(self, threshold: float | None) -> None:
        """The model card's threshold, to say where the threshold in force comes from."""
        self._card_threshold = threshold
        self._fill_details()

    def set_heatmaps_available(self, available: bool) -> None:
        """Heatmap controls exist only when the Grad-CAM module does."""
        self._heatmaps_available = available
        self.heatmap_box.setVisible(available)
        self.opacity_slider.setVisible(available)
        if not available:
            self.heatmap_box.setChecked(False)

    def show_result(self, result: ScanResult | None) -> None:
        same = result is not None and self._result is not None and result.path == self._result.path
        self._result = result
        if same:  # e.g. relabelled by a new threshold: the image (loaded, loading or failed) stays
            self._fill_details()
            self.result_shown.emit(result)
            return
        self._request += 1
        self._xray = None  # before the details: nothing of the previous file may be shown beside this one
        self._changed = False
        self._age = ""
        self._fill_details()
        self._forget_heatmap()
        self.view.set_levels(None)
        self._enable_image_tools(False)
        self.result_shown.emit(result)
        if result is None:
            self._show_message("Select a result to see the image.")
            return
        self._show_message("Loading image…")
        want_heat = self.heatmap_box.isChecked() and self._heatmaps_available
        self.pool.start(_LoadTask(self._request, result, self._signals, heat=want_heat))

    def clear(self) -> None:
        self.show_result(None)

    def on_heatmap(self, request_id: int, heatmap: Heatmap) -> None:
        """A heatmap from the model thread. Shown only over the image it was computed for."""
        xray = self._xray
        if request_id != self._heat_request or xray is None or self._heat_pending is not xray:
            log.debug("stale heatmap for %s dropped", getattr(heatmap, "path", "?"))
            return
        self._heat_pending = None
        if heatmap.path != xray.path or heatmap.shape != (xray.pixels.shape[0], xray.pixels.shape[1]):
            log.warning(
                "heatmap for %s %s does not match the image shown; dropped", heatmap.path, heatmap.shape
            )
            return
        self._heat = heatmap
        self._heat_for = xray
        self.view.set_heatmap(heatmap)
        self.view.set_heatmap_visible(self.heatmap_box.isChecked())
        self._update_legend()

    def on_heatmap_failed(self, request_id: int, message: str) -> None:
        if request_id == self._heat_request:
            self._heat_pending = None
            self.heatmap_box.setToolTip(message)

    def shutdown(self) -> None:
        self._request += 1
        self.pool.clear()
        self.pool.waitForDone()

    # -- internals -------------------------------------------------------------------------------
    def _show_message(self, text: str) -> None:
        self.placeholder.setText(text)
        self._stack.setCurrentWidget(self.placeholder)

    def _enable_image_tools(self, enabled: bool) -> None:
        for w in (
            self.fit_button,
            self.actual_button,
            self.zoom_in_button,
            self.zoom_out_button,
            self.reset_window_button,
            self.heatmap_box,
            self.opacity_slider,
        ):
            w.setEnabled(enabled)
        if not enabled:
            self.zoom_label.setText("")

    def _on_loaded(
        self, request_id: int, xray: XRay, levels: np.ndarray, changed: bool = False, age: str = ""
    ) -> None:
        if request_id != self._request:
            return
        self._xray = xray
        self._changed = changed
        self._age = age
        self._stack.setCurrentWidget(self.view)
        self.view.set_levels(levels)
        stored, self._stored = self._stored, None
        if stored is not None and stored[0] == request_id and stored[1].path == xray.path:
            if stored[1].shape == (xray.pixels.shape[0], xray.pixels.shape[1]):
                self._heat, self._heat_for = stored[1], xray  # the scan's own: nothing to compute
                self.view.set_heatmap(stored[1])
                self.view.set_heatmap_visible(False)
        self._enable_image_tools(True)
        self._fill_details()
        if self.heatmap_box.isChecked():
            self._ask_heatmap()
        self.image_loaded.emit(xray.path)

    def _on_failed(self, request_id: int, message: str) -> None:
        if request_id != self._request:
            return
        path = self._result.path if self._result else ""
        self._xray = None
        self._changed = False
        self._age = ""
        self._fill_details()  # this file's own name, format and reason: nothing else
        self._show_message(f"This file cannot be displayed.\n{message}")
        self.image_failed.emit(path, message)

    def _forget_heatmap(self) -> None:
        """Drop the heatmap and invalidate any request in flight (another image is coming)."""
        self._heat_request += 1
        self._heat_pending = None
        self._heat = None
        self._heat_for = None
        self._stored = None
        self.heat_legend.setVisible(False)

    def _on_stored_heat(self, request_id: int, heatmap: Heatmap) -> None:
        if request_id != self._request:
            return
        xray = self._xray
        if xray is None:  # coloured while loading: _on_loaded takes it
            self._stored = (request_id, heatmap)
            return
        if heatmap.path == xray.path and heatmap.shape == (xray.pixels.shape[0], xray.pixels.shape[1]):
            self._heat, self._heat_for = heatmap, xray
            if self._heat_pending is xray:
                self._heat_pending = None
            self.view.set_heatmap(heatmap)
            self.view.set_heatmap_visible(self.heatmap_box.isChecked())
            self._update_legend()

    def _judged(self) -> bool:
        """Only a film the model judged has a heatmap (never a refused or unreadable one)."""
        return self._result is not None and self._result.status == "ok"

    def _update_legend(self) -> None:
        shown = self.heatmap_box.isChecked() and self._heat is not None and self._heat_for is self._xray
        self.heat_legend.setVisible(bool(shown and self._judged()))

    def _ask_heatmap(self) -> None:
        if self._xray is None or not self._heatmaps_available:
            return
        if not self._judged():
            self.view.set_heatmap_visible(False)
            self.heatmap_box.setToolTip("No heatmap: the model did not judge this image.")
            return
        self.heatmap_box.setToolTip(HEATMAP_TIP)
        if self._heat is not None and self._heat_for is self._xray:
            self.view.set_heatmap_visible(True)
            self._update_legend()
            return
        if self._result is not None and self._result.heatmap:  # the scan's own map: colour it, no model
            if self._heat_pending is not self._xray:
                self._heat_pending = self._xray
                self.pool.start(_StoredHeatTask(self._request, self._result, self._xray, self._signals))
            return
        if self._heat_pending is self._xray:  # already asked (toggled off and on again): it will come
            return
        self._heat_request += 1
        self._heat_pending = self._xray
        self.heatmap_requested.emit(self._heat_request, self._xray)

    def _on_heatmap_toggled(self, on: bool) -> None:
        if on:
            self._ask_heatmap()
        else:
            self.view.set_heatmap_visible(False)
        self._update_legend()

    def _on_show_patient(self, on: bool) -> None:
        self._show_patient = on
        self.patient_button.setText("Hide patient name" if on else "Show patient name")
        self._fill_details()

    def set_operating_point(self, text: str) -> None:
        """Name the threshold in force and its source (core.threshold: a site profile, the user's,
        the card's) in the Threshold row."""
        self._operating_point = text
        self._fill_details()

    def _fill_details(self) -> None:
        """Build the whole details view from the current result alone (or from nothing).

        The decoded image adds its details only when it is this very file's; every field is set
        or hidden on each call, so nothing of a previously shown file can remain.
        """
        r = self._result
        x = self._xray if r is not None and self._xray is not None and self._xray.path == r.path else None
        rows = detail_rows(
            r,
            x,
            changed=self._changed and x is not None,
            age=self._age if x is not None else "",
            card_threshold=self._card_threshold,
        )
        if self._operating_point and (r is None or "Threshold" in rows):
            rows["Threshold"] = self._operating_point
        if r is None:
            self.result_icon.clear()
            self.result_text.setText("–")
        else:
            self.result_icon.setPixmap(label_icon(r.label).pixmap(16, 16))
            self.result_text.setText(rows.pop("Result", r.label))
        rows.pop("Result", None)
        meaning = rows.pop("Meaning", None)
        self.meaning_label.setText(meaning or "")
        self._form.setRowVisible(self.meaning_label, bool(meaning))
        for key, label in self._fields.items():
            value = rows.get(key)
            label.setText(value if value is not None else "–")
            label.setToolTip(value if value and len(value) > 40 else "")
            self._form.setRowVisible(label, value is not None or r is None)
        name = rows.get("Patient")
        self._form.setRowVisible(self._patient_row, name is not None or r is None)
        if r is None or name is None:
            self.patient_label.setText("–")
            self.patient_button.setVisible(False)
        elif not name:
            self.patient_label.setText("Not recorded in the file")
            self.patient_button.setVisible(False)
        else:
            self.patient_button.setVisible(True)
            self.patient_label.setText(format_person_name(name) if self._show_patient else "Hidden")


format_date = wording.format_date  # kept for callers of the old names
format_person_name = wording.format_person_name
