"""Decoding the selected film off the GUI thread (a small QThreadPool; never the model), and
colouring its stored heatmap there too (split out of ``gui.viewer``, #18)."""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QRunnable, Signal

from ..core.demographics import read_age
from ..core.errors import XRayLoadError
from ..core.heatmap import stored_heatmap
from ..core.io import XRay, load_xray
from ..core.results import ScanResult
from .qimages import Heatmap, quantise

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# Background loading


class _LoaderSignals(QObject):
    loaded = Signal(int, object, object, bool, str)  # request id, XRay, pixels, file changed since scan, age
    failed = Signal(int, str)
    stored_heat = Signal(int, object)  # request id, Heatmap from the row's stored map (before `loaded`)


class _LoadTask(QRunnable):
    def __init__(
        self, request_id: int, result: ScanResult, signals: _LoaderSignals, heat: bool = False
    ) -> None:
        super().__init__()
        self.request_id, self.result, self.signals = request_id, result, signals
        self.heat = heat  # colour the stored heatmap too (only while heatmaps are switched on)
        self.path = result.path

    def run(self) -> None:
        try:
            xray = load_xray(self.path)
            levels = quantise(xray.pixels)
            # An export folder may reuse a name, and History rows can be weeks old: the file on disk
            # may no longer be the one the result is for.
            changed = self.result.file_changed()
            age = read_age(self.path) if xray.format == "DICOM" else ""
            if self.heat:
                _emit_stored_heatmap(self.request_id, self.result, xray, self.signals)
        except OSError as exc:
            self.signals.failed.emit(self.request_id, f"The file cannot be read ({exc.strerror or exc}).")
            return
        except XRayLoadError as exc:
            self.signals.failed.emit(self.request_id, str(exc))
            return
        except Exception as exc:  # shown as a sentence; the traceback goes to the log
            log.exception("cannot display %s", self.path)
            self.signals.failed.emit(
                self.request_id, f"The image cannot be displayed ({type(exc).__name__})."
            )
            return
        self.signals.loaded.emit(self.request_id, xray, levels, changed, age)


def _emit_stored_heatmap(request_id: int, result: ScanResult, xray: XRay, signals: _LoaderSignals) -> None:
    """The row's heatmap from the scan, upsampled and coloured in a pool thread (not the GUI's)."""
    heat = stored_heatmap(result, xray.pixels.shape)  # None for refused rows
    if heat is not None:
        signals.stored_heat.emit(request_id, Heatmap.build(heat, xray.path))


class _StoredHeatTask(QRunnable):
    """Colours a row's stored heatmap for an image already shown (heatmaps switched on later)."""

    def __init__(self, request_id: int, result: ScanResult, xray: XRay, signals: _LoaderSignals) -> None:
        super().__init__()
        self.args = (request_id, result, xray, signals)

    def run(self) -> None:
        try:
            _emit_stored_heatmap(*self.args)
        except Exception:  # no heatmap is shown; the image stays
            log.exception("stored heatmap for %s could not be drawn", self.args[1].path)
