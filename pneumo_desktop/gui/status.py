"""The model's state in the status bar: loading, ready (on which device) or not available."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from .service import ModelInfo

if TYPE_CHECKING:
    from .main_window import MainWindow

log = logging.getLogger(__name__)


class ModelStatus(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.w = window
        window.service.loading.connect(lambda: self.set_model_status("Loading model…", busy=True))
        window.service.ready.connect(self.on_ready)
        window.service.load_failed.connect(self.on_failed)

    def set_model_status(self, text: str, busy: bool = False, error: bool = False) -> None:
        self.w.model_label.setText(text)
        self.w.model_label.setStyleSheet("color: #b03a2e; font-weight: 600;" if error else "")
        self.w.model_busy.setVisible(busy)

    def on_ready(self, info: ModelInfo) -> None:
        w = self.w
        w._device_before_reload = None
        w.model_info = info
        w._model_loaded = True
        self.set_model_status(f"Model {info.title} ready on {info.device_name}")
        w.model_label.setToolTip(f"Model folder: {info.folder}")
        spin = w.threshold_spin
        spin.blockSignals(True)
        spin.setSpecialValueText("")
        spin.setMinimum(0.1)
        spin.blockSignals(False)
        spin.setEnabled(True)
        w.reset_threshold_action.setEnabled(True)
        w.set_threshold(w.site.threshold_on_load(info, w.settings.threshold(info.title)), remember=False)
        w.viewer.set_heatmaps_available(info.heatmaps)
        w.viewer.set_card_threshold(info.threshold)
        w.heatmap_action.setVisible(info.heatmaps)
        log.info("model ready: %s on %s (heatmaps: %s)", info.title, info.device_name, info.heatmaps)
        w.model_ready.emit(info)
        w.scans.dispatch()

    def on_failed(self, message: str, previous_in_use: bool) -> None:
        w = self.w
        info = w.model_info
        if previous_in_use and info is not None:
            w._model_loaded = True
            self.set_model_status(f"Model {info.title} ready on {info.device_name}")
            detail = f"The model already loaded stays in use on {info.device_name}."
            if w._device_before_reload is not None:  # keep the device setting that works
                w.settings.device = w._device_before_reload
        else:
            w._model_loaded = False
            self.set_model_status("Model not available", error=True)
            detail = "You can still look at past results in History, but new files cannot be screened."
        w.model_label.setToolTip(message)
        w.warn("Model not loaded", "The screening model could not be loaded.", f"{message}\n\n{detail}")
        w.model_failed.emit(message)
        w.scans.dispatch()
