"""The model thread: one QThread owns the Predictor and does every model call.

:class:`ModelWorker` lives in that thread. It loads the model, runs scans through the core
:class:`~pneumo_desktop.core.scan.Scanner` (so every batch is stored before the GUI sees it),
computes heatmaps for rows that have none stored, polls watched folders and writes PDF reports.
The network itself runs in a child process (:class:`~pneumo_desktop.core.remote.RemotePredictor`):
importing TensorFlow and loading the model hold the GIL for hundreds of milliseconds, which froze
the window when they ran in a thread of this process; here the model thread only waits on a pipe.
Files are decoded in child processes too (:class:`~pneumo_desktop.core.decoding.DecoderPool`): a
native crash on a hostile file ends a child; that file's row says so and the scan goes on.
``PNEUMO_MODEL_PROCESS=thread`` runs the Predictor and the decoders here instead (for debugging). :class:`ModelService` is the GUI-side handle: its methods only emit queued
signals or set a ``threading.Event``, so the GUI thread never waits for decoding or inference.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from ..core.errors import ModelError, PneumoError
from ..core.heatmap import forward_heatmap, stored_heatmap
from ..core.results import ScanResult
from ..core.store import ResultsStore
from .viewer import Heatmap

log = logging.getLogger(__name__)

WATCH_INTERVAL_MS = 2000
LOADER_THREADS = 1


@dataclass(frozen=True)
class ModelInfo:
    """What the GUI needs to know about the loaded model (sent once it is ready)."""

    name: str
    version: str
    device_name: str
    threshold: float  # the model card's operating point
    sha256: str
    heatmaps: bool  # the model gives a class activation map with each prediction
    card: dict[str, Any] = field(default_factory=dict, repr=False)
    folder: str = ""

    @property
    def title(self) -> str:
        return f"{self.name} {self.version}"


@dataclass(frozen=True)
class ReportRequest:
    path: str
    results: list[ScanResult]
    include_patient: bool
    threshold: float
    threshold_source: str = "model card"
    reviews: dict[str, Any] = field(default_factory=dict)  # core.review: latest review per film
    threshold_note: str = ""  # where the threshold comes from (card, site profile, user)


def make_predictor(model_dir: str | None, device: str, precision: str) -> Any:
    """The model in a child process (default), or in this thread with ``PNEUMO_MODEL_PROCESS=thread``."""
    if os.environ.get("PNEUMO_MODEL_PROCESS", "").lower() == "thread":
        from ..core.model import Predictor

        return Predictor(model_dir, device=device, precision=precision)
    from ..core.remote import RemotePredictor

    return RemotePredictor(model_dir, device=device, precision=precision)


class ModelWorker(QObject):
    """Lives in the model thread. Every slot runs there; results go back through signals."""

    loading = Signal()
    ready = Signal(object)  # ModelInfo
    load_failed = Signal(str, bool)  # human message, whether a previously loaded model is still in use
    scan_started = Signal(int)  # number of files to scan
    batch_ready = Signal(object, object)  # list[ScanResult], ScanProgress
    scan_done = Signal(str, object, str)  # "finished" | "cancelled" | "failed", scan id, message
    heatmap_ready = Signal(int, object)  # request id, viewer.Heatmap (coloured here, not in the GUI thread)
    heatmap_failed = Signal(int, str)
    watch_found = Signal(object)  # list[str]: new files in a watched folder
    watch_failed = Signal(str)
    report_progress = Signal(int, int)
    report_done = Signal(str)  # path
    report_failed = Signal(str)

    def __init__(self, store: ResultsStore) -> None:
        super().__init__()
        self.store = store
        self.predictor: Any | None = None
        self.info: ModelInfo | None = None
        self._gradcam: Callable[..., np.ndarray | None] | None = None
        self._heatmaps: queue.SimpleQueue[tuple[int, Any]] = queue.SimpleQueue()
        self._watcher: Any | None = None
        self._decoders: Any | None = None  # core.decoding.DecoderPool next to a model process
        self._watch_timer: QTimer | None = None
        #: Set by the GUI thread when the window closes: queued work is skipped, reports stop.
        self.stopping = threading.Event()

    # -- model --------------------------------------------------------------------------------
    @Slot(object, str, str)
    def load_model(self, model_dir: str | None, device: str, precision: str) -> None:
        if self.stopping.is_set():
            return
        self.loading.emit()
        try:
            predictor = make_predictor(model_dir, device, precision)
        except ModelError as exc:
            log.warning("model not loaded: %s", exc)
            self.load_failed.emit(str(exc), self.predictor is not None)
            return
        except Exception as exc:  # never let a model problem kill the thread
            log.exception("unexpected failure loading the model")
            self.load_failed.emit(
                f"The model could not be loaded ({type(exc).__name__}). Details are in the log file.",
                self.predictor is not None,
            )
            return
        self._close_predictor()  # the one it replaces
        self.predictor = predictor
        if self._decoders is None and hasattr(predictor, "pid"):  # the model in a process: decoders too
            try:
                from ..core.decoding import DecoderPool

                self._decoders = DecoderPool(LOADER_THREADS)
            except Exception:  # decoding in this process still works
                log.exception("decoder processes could not start; decoding in the app's own process")
        # The heatmap is the class activation map from a forward pass (no gradient graph to trace).
        self._gradcam = forward_heatmap if getattr(predictor, "has_cam", False) else None
        card = predictor.card
        self.info = ModelInfo(
            name=card.name,
            version=card.version,
            device_name=predictor.device_name,
            threshold=card.threshold,
            sha256=card.sha256,
            heatmaps=self._gradcam is not None,
            card=dict(card.raw),
            folder=str(card.folder),
        )
        self.ready.emit(self.info)

    # -- scanning -----------------------------------------------------------------------------
    @Slot(object, float, int, object, object)
    def scan(
        self,
        paths: list[str],
        threshold: float,
        batch_size: int,
        cancel: threading.Event,
        append_to: int | None = None,
    ) -> None:
        if self.stopping.is_set():
            self.scan_done.emit("cancelled", None, "")
            return
        if self.predictor is None:
            self.scan_done.emit("failed", None, "The model is not loaded, so nothing was scanned.")
            return
        from ..core.io import iter_image_files
        from ..core.scan import Scanner

        # One loader thread: the model is the bottleneck anyway, and every extra Python thread competes
        # with the GUI thread for the GIL (shorter stalls in benchmarks/gui_stall.py).
        scanner = Scanner(
            self.predictor,
            store=self.store,
            threshold=threshold,
            batch_size=batch_size,
            loader_threads=LOADER_THREADS,
            decoder=self._decoders,  # a crash on a hostile file ends a child, not the app
        )
        state, message, done, total = "finished", "", 0, 0
        try:
            total = len(iter_image_files(paths))  # listed twice (here and in the scanner): cheap, and the
            # progress bar knows the total before the first batch, which can take seconds
            self.scan_started.emit(total)
            for batch, progress in scanner.scan(paths, cancel, append_to=append_to):
                done = progress.done
                self.batch_ready.emit(batch, progress)
                self._serve_heatmaps()
        except Exception as exc:  # the GUI shows a sentence, the log the traceback
            log.exception("scan failed")
            state, message = (
                "failed",
                f"The scan stopped because of an unexpected error ({type(exc).__name__}).",
            )
        if state == "finished" and cancel.is_set() and done < total:
            state = "cancelled"
        if self.stopping.is_set() and state == "cancelled" and scanner.scan_id is not None:
            # The window closed mid-scan (like SIGTERM for pneumo-scan): recorded as interrupted.
            try:
                self.store.end_scan(scanner.scan_id, "interrupted")
            except Exception:  # closing must not fail on a busy store
                log.warning("could not mark scan %s interrupted", scanner.scan_id)
        self.scan_done.emit(state, scanner.scan_id, message)
        self._serve_heatmaps()

    # -- heatmaps -----------------------------------------------------------------------------
    @Slot(int, object)
    def heatmap(self, request_id: int, xray: Any) -> None:
        self._heatmaps.put((request_id, xray))
        self._serve_heatmaps()

    def _serve_heatmaps(self) -> None:
        """Answer pending heatmap requests (also between scan batches, so the viewer stays live)."""
        while True:
            try:
                request_id, xray = self._heatmaps.get_nowait()
            except queue.Empty:
                return
            if self.stopping.is_set():
                continue
            if self.predictor is None or self._gradcam is None:
                self.heatmap_failed.emit(request_id, "Heatmaps are not available for this model.")
                continue
            try:
                heat = self._gradcam(self.predictor, xray)
                if heat is None:
                    raise ModelError("no heatmap")
                # Colouring a full-size map takes ~300 ms at 2000 x 2000: done here, never in the GUI.
                heatmap = Heatmap.build(heat, getattr(xray, "path", ""))
            except Exception as exc:
                log.exception("Grad-CAM failed for %s", getattr(xray, "path", "?"))
                self.heatmap_failed.emit(
                    request_id, f"The heatmap could not be computed ({type(exc).__name__})."
                )
                continue
            self.heatmap_ready.emit(request_id, heatmap)

    def heatmap_now(self, xray: Any) -> np.ndarray | None:
        """A heatmap computed right here (model thread only), or None when unavailable."""
        if self.predictor is None or self._gradcam is None:
            return None
        try:
            return self._gradcam(self.predictor, xray)
        except Exception:
            log.exception("Grad-CAM failed for %s", getattr(xray, "path", "?"))
            return None

    # -- watched folders ------------------------------------------------------------------------
    @Slot(object)
    def start_watch(self, folders: list[str]) -> None:
        from ..core.scan import FolderWatcher

        self.stop_watch()
        try:
            self._watcher = FolderWatcher(folders)  # lists what is already there: off the GUI thread
        except OSError as exc:
            self.watch_failed.emit(f"The folder cannot be watched ({exc.strerror or exc}).")
            return
        self._watch_timer = QTimer(self)
        self._watch_timer.setInterval(WATCH_INTERVAL_MS)
        self._watch_timer.timeout.connect(self._poll)
        self._watch_timer.start()

    @Slot()
    def stop_watch(self) -> None:
        if self._watch_timer is not None:
            self._watch_timer.stop()
            self._watch_timer.deleteLater()
        self._watch_timer = None
        self._watcher = None

    @Slot()
    def _poll(self) -> None:
        if self._watcher is None:
            return
        try:
            new = self._watcher.poll()
        except OSError as exc:
            log.warning("watch poll failed: %s", exc)
            return
        if new:
            log.info("watch: %d new files", len(new))
            self.watch_found.emit(new)

    # -- reports --------------------------------------------------------------------------------
    @Slot(object)
    def write_report(self, request: ReportRequest) -> None:
        from ..report import ReportContext, write_pdf_report

        def progress(i: int, n: int) -> None:
            if self.stopping.is_set():
                raise PneumoError("the window was closed")
            self.report_progress.emit(i, n)
            self._serve_heatmaps()

        try:
            ctx = ReportContext(
                model=self.info.title if self.info else "not loaded",
                device=self.info.device_name if self.info else "",
                threshold=request.threshold,
                threshold_source=request.threshold_source,
                include_patient=request.include_patient,
                reviews=request.reviews,
                threshold_note=request.threshold_note,
            )
            write_pdf_report(
                request.path,
                request.results,
                ctx,
                heatmap=self._report_heatmaps(request.results),
                progress=progress,
            )
        except Exception as exc:  # a sentence for the user, the traceback for the log
            if isinstance(exc, OSError | PneumoError):
                log.warning("report failed: %s", exc)
                message = f"The report could not be written: {exc}"
            else:
                log.exception("report failed")
                message = f"The report could not be written ({type(exc).__name__})."
            with contextlib.suppress(OSError):
                Path(request.path).unlink(missing_ok=True)  # no half-written PDF left behind
            self.report_failed.emit(message)
            return
        self.report_done.emit(request.path)

    def _report_heatmaps(self, results: list[ScanResult]) -> Callable[[Any], np.ndarray | None]:
        """The report's heatmaps: each row's stored one (no model run), computed only for rows
        scanned before heatmaps were stored, never one for a refused or unreadable film."""
        by_path = {r.path: r for r in results}

        def heatmap(xray: Any) -> np.ndarray | None:
            row = by_path.get(getattr(xray, "path", ""))
            if row is None or row.status != "ok":
                return None
            stored = stored_heatmap(row, xray.pixels.shape)
            return stored if stored is not None else self.heatmap_now(xray)

        return heatmap

    # -- end ------------------------------------------------------------------------------------
    def _close_predictor(self, wait: bool = True) -> None:
        close = getattr(self.predictor, "close", None)
        if close is not None:
            try:
                close(wait=5.0 if wait else 0.0)
            except Exception:  # ending a process must not stop the app from closing
                log.exception("closing the model process failed")
        self.predictor = None

    @Slot()
    def shutdown(self) -> None:
        """Last call in the model thread: stop timers, end the model process, end the event loop."""
        self.stop_watch()
        self._close_predictor(wait=False)  # the window is closing: told to quit, it needs no waiting for
        if self._decoders is not None:
            self._decoders.close()
            self._decoders = None
        thread = QThread.currentThread()
        thread.quit()


class ModelThread(QThread):
    """The model's thread. ``run`` is overridden in Python on purpose.

    With QThread's own (C++) ``run``, every queued slot gets a fresh Python thread state that is
    destroyed when the slot returns. TensorFlow's pybind11 layer caches the thread state of the first
    call, so the first model call in a *later* slot waits for the GIL that its own thread holds: the
    app hangs on the first scan after loading. A Python ``run`` keeps one thread state alive for the
    thread's whole life, which every slot then shares.
    """

    def run(self) -> None:
        threading.current_thread().name = "pneumo-model"  # for the log file
        self.exec()


class ModelService(QObject):
    """GUI-side handle on the model thread. Non-blocking, except :meth:`shutdown`."""

    _load = Signal(object, str, str)
    _scan = Signal(object, float, int, object, object)
    _heatmap = Signal(int, object)
    _watch = Signal(object)
    _unwatch = Signal()
    _report = Signal(object)
    _shutdown = Signal()

    def __init__(self, store: ResultsStore, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thread = ModelThread()
        self.thread.setObjectName("pneumo-model")
        self.worker = ModelWorker(store)
        self.worker.moveToThread(self.thread)
        self._load.connect(self.worker.load_model)
        self._scan.connect(self.worker.scan)
        self._heatmap.connect(self.worker.heatmap)
        self._watch.connect(self.worker.start_watch)
        self._unwatch.connect(self.worker.stop_watch)
        self._report.connect(self.worker.write_report)
        self._shutdown.connect(self.worker.shutdown)
        self._cancel: threading.Event | None = None
        self._closed = False
        self.thread.start()

    def load_model(
        self, model_dir: str | Path | None, device: str = "auto", precision: str | None = None
    ) -> None:
        """Load (or reload) the model; ``precision`` None: the Preferences' (default ``auto``)."""
        if precision is None:
            from .settings import Settings

            precision = Settings().precision
        self._load.emit(str(model_dir) if model_dir else None, device, precision)

    def scan(
        self, paths: list[str], threshold: float, batch_size: int, append_to: int | None = None
    ) -> threading.Event:
        """Scan in the model thread; ``append_to`` adds the results to that recorded scan."""
        self._cancel = threading.Event()
        self._scan.emit(list(paths), float(threshold), int(batch_size), self._cancel, append_to)
        return self._cancel

    def cancel(self) -> None:
        """Ask the running scan to stop after its current batch (safe from any thread)."""
        if self._cancel is not None:
            self._cancel.set()

    def heatmap(self, request_id: int, xray: Any) -> None:
        self._heatmap.emit(request_id, xray)

    def watch(self, folders: list[str]) -> None:
        self._watch.emit(list(folders))

    def unwatch(self) -> None:
        self._unwatch.emit()

    def write_report(self, request: ReportRequest) -> None:
        self._report.emit(request)

    def shutdown(self) -> None:
        """Cancel what runs, end the model thread and wait for it. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.worker.stopping.set()
        self.cancel()
        self._shutdown.emit()
        if not self.thread.wait(10_000):  # a batch of a big model on a slow CPU can take seconds
            log.warning("still waiting for the model thread to finish its current batch")
            self.thread.wait()
