"""The model and the work around it, as jobs on the window's one executor (:mod:`.jobs`).

:class:`ModelWorker` owns the Predictor; only the ``model`` lane's thread touches it. It loads the
model, runs scans through the core :class:`~pneumo_desktop.core.scan.Scanner` (so every batch is
stored before the GUI sees it), computes heatmaps for rows that have none stored and writes PDF
reports. The network itself runs in a child process
(:class:`~pneumo_desktop.core.remote.RemotePredictor`): importing TensorFlow and loading the model
hold the GIL for hundreds of milliseconds, which froze the window when they ran in a thread of this
process; here the model lane only waits on a pipe. Files are decoded in child processes too
(:class:`~pneumo_desktop.core.decoding.DecoderPool`): a native crash on a hostile file ends a child;
that file's row says so and the scan goes on. ``PNEUMO_MODEL_PROCESS=thread`` runs the Predictor and
the decoders in the lane instead (for debugging).

:class:`ModelService` is the GUI-side handle: each call submits a job and returns at once; the GUI
thread never waits for decoding or inference.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from ..core.card import ModelInfo
from ..core.errors import ModelError, PneumoError
from ..core.heatmap import forward_heatmap, stored_heatmap
from ..core.results import ScanResult
from ..core.scan import ScanBatch, ScanStarted
from ..core.store import ResultsStore
from .jobs import Executor, Job, current_job
from .qimages import Heatmap

log = logging.getLogger(__name__)

WATCH_INTERVAL_MS = 2000
LOADER_THREADS = 1


@dataclass(frozen=True)
class ReportRequest:
    path: str
    results: list[ScanResult]
    include_patient: bool
    threshold: float
    threshold_source: str = "model card"
    reviews: dict[str, Any] = field(default_factory=dict)  # core.review: latest review per film
    threshold_note: str = ""  # where the threshold comes from (card, site profile, user)


@dataclass(frozen=True)
class ScanEnd:
    """What a scan job returns: finished | cancelled | failed, the recorded scan, a sentence."""

    state: str
    scan_id: int | None
    message: str = ""


class LoadFailedError(Exception):
    """A model load that failed: the sentence for the user, and whether the old model stays."""

    def __init__(self, message: str, previous_in_use: bool) -> None:
        super().__init__(message)
        self.message, self.previous_in_use = message, previous_in_use


def make_predictor(model_dir: str | None, device: str, precision: str) -> Any:
    """The model in a child process (default), or in this thread with ``PNEUMO_MODEL_PROCESS=thread``."""
    if os.environ.get("PNEUMO_MODEL_PROCESS", "").lower() == "thread":
        from ..core.model import Predictor

        return Predictor(model_dir, device=device, precision=precision)
    from ..core.remote import RemotePredictor

    return RemotePredictor(model_dir, device=device, precision=precision)


class ModelWorker:
    """The one owner of the model. Every method runs in the ``model`` lane's thread."""

    def __init__(self, store: ResultsStore) -> None:
        self.store = store
        self.predictor: Any | None = None
        self.info: ModelInfo | None = None
        self._gradcam: Callable[..., np.ndarray | None] | None = None
        self._decoders: Any | None = None  # core.decoding.DecoderPool next to a model process
        #: Set when the window closes: queued work is skipped, reports stop.
        self.stopping = threading.Event()

    # -- model --------------------------------------------------------------------------------
    def load(self, model_dir: str | None, device: str, precision: str) -> ModelInfo:
        try:
            predictor = make_predictor(model_dir, device, precision)
        except ModelError as exc:
            log.warning("model not loaded: %s", exc)
            raise LoadFailedError(str(exc), self.predictor is not None) from exc
        except Exception as exc:  # never let a model problem kill the lane
            log.exception("unexpected failure loading the model")
            raise LoadFailedError(
                f"The model could not be loaded ({type(exc).__name__}). Details are in the log file.",
                self.predictor is not None,
            ) from exc
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
        self.info = ModelInfo.from_card(card, predictor.device_name, heatmaps=self._gradcam is not None)
        return self.info

    # -- scanning -----------------------------------------------------------------------------
    def scan(
        self, paths: list[str], threshold: float, batch_size: int, append_to: int | None,
        on_batch: Callable[[list[ScanResult], Any], None] | None = None,
    ) -> Generator[ScanStarted | ScanBatch, None, ScanEnd]:
        """A scan job: yields the scanner's events (the folder walked once), returns a ScanEnd.
        Cancel is the job's quit flag, honoured between batches."""
        job = current_job()
        if self.stopping.is_set():
            return ScanEnd("cancelled", None)
        if self.predictor is None:
            return ScanEnd("failed", None, "The model is not loaded, so nothing was scanned.")
        from ..core.scan import Scanner

        # One loader thread: the model is the bottleneck anyway, and every extra Python thread competes
        # with the GUI thread for the GIL (shorter stalls in benchmarks/gui_stall.py).
        scanner = Scanner(
            self.predictor, store=self.store, threshold=threshold, batch_size=batch_size,
            loader_threads=LOADER_THREADS,
            decoder=self._decoders,  # a crash on a hostile file ends a child, not the app
        )
        state, message, done, total = "finished", "", 0, 0
        try:
            run = scanner.run(paths, job, append_to=append_to)
            while True:
                try:
                    event = next(run)
                except StopIteration as stop:
                    state = stop.value.state
                    break
                if isinstance(event, ScanStarted):
                    total = event.total
                else:
                    done = event.progress.done
                    if on_batch is not None:
                        on_batch(event.rows, event.progress)
                yield event
        except Exception as exc:  # the GUI shows a sentence, the log the traceback
            log.exception("scan failed")
            state, message = "failed", f"The scan stopped because of an unexpected error ({type(exc).__name__})."
        if state == "finished" and job is not None and job.quit_requested and done < total:
            state = "cancelled"
        if self.stopping.is_set() and state == "cancelled" and scanner.scan_id is not None:
            # The window closed mid-scan (like SIGTERM for pneumo-scan): recorded as interrupted.
            try:
                self.store.end_scan(scanner.scan_id, "interrupted")
            except Exception:  # closing must not fail on a busy store
                log.warning("could not mark scan %s interrupted", scanner.scan_id)
        return ScanEnd(state, scanner.scan_id, message)

    # -- heatmaps -----------------------------------------------------------------------------
    def heatmap(self, xray: Any) -> Heatmap:
        """The viewer's heatmap, coloured here (~300 ms at 2000 x 2000), never in the GUI thread."""
        if self.predictor is None or self._gradcam is None:
            raise ModelError("Heatmaps are not available for this model.")
        try:
            heat = self._gradcam(self.predictor, xray)
            if heat is None:
                raise ModelError("no heatmap")
            return Heatmap.build(heat, getattr(xray, "path", ""))
        except Exception as exc:
            log.exception("Grad-CAM failed for %s", getattr(xray, "path", "?"))
            raise ModelError(f"The heatmap could not be computed ({type(exc).__name__}).") from exc

    def heatmap_now(self, xray: Any) -> np.ndarray | None:
        """A heatmap computed right here (model lane only), or None when unavailable."""
        if self.predictor is None or self._gradcam is None:
            return None
        try:
            return self._gradcam(self.predictor, xray)
        except Exception:
            log.exception("Grad-CAM failed for %s", getattr(xray, "path", "?"))
            return None

    # -- reports --------------------------------------------------------------------------------
    def write_report(self, request: ReportRequest) -> str:
        """A report job (plain function: the report's own progress callback ticks)."""
        from ..report import ReportContext, write_pdf_report

        job = current_job()

        def progress(i: int, n: int) -> None:
            if self.stopping.is_set():
                raise PneumoError("the window was closed")
            if job is not None:
                job.tick((i, n))

        try:
            ctx = ReportContext(
                model=self.info.title if self.info else "not loaded",
                device=self.info.device_name if self.info else "",
                threshold=request.threshold, threshold_source=request.threshold_source,
                include_patient=request.include_patient, reviews=request.reviews,
                threshold_note=request.threshold_note,
            )
            write_pdf_report(
                request.path, request.results, ctx, heatmap=self._report_heatmaps(request.results),
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
            raise PneumoError(message) from exc
        return request.path

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

    def shutdown(self) -> None:
        """Last call in the model lane: end the model process and the decoders."""
        self._close_predictor(wait=False)  # the window is closing: told to quit, it needs no waiting for
        if self._decoders is not None:
            # A stopped scan's last files are not kept: wait a moment for them, not for a hung decoder.
            self._decoders.close(wait=1.0)
            self._decoders = None


class ModelService(QObject):
    """GUI-side handle on the model and the executor. Non-blocking, except :meth:`shutdown`."""

    loading = Signal()
    ready = Signal(object)  # ModelInfo
    load_failed = Signal(str, bool)  # human message, whether a previously loaded model is still in use
    batch_ready = Signal(object, object)  # rows, ScanProgress: emitted in the model lane (a test hook)
    heatmap_ready = Signal(int, object)  # request id, viewer.Heatmap
    heatmap_failed = Signal(int, str)
    watch_found = Signal(object)  # list[str]: new files in the watched folder
    watch_failed = Signal(str)

    def __init__(self, store: ResultsStore, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.executor = Executor(parent=self)
        self.worker = ModelWorker(store)
        self.thread = self.executor.lane("model").qthread  # type: ignore[assignment]  # QObjects that use the model move here
        self.io = self.executor.lane("io")
        self._scan: Job | None = None
        self._watcher: Any | None = None  # core.scan.FolderWatcher, used in the io lane only
        self._watch_generation = 0
        self._poll: Job | None = None
        self._watch_timer = QTimer(self)
        self._watch_timer.timeout.connect(self._poll_watch)

    def submit(
        self, func: Callable[..., Any], *args: Any, lane: str = "model", cooperative: bool = False,
        **slots: Any,
    ) -> Job:
        return self.executor.submit(func, *args, lane=lane, cooperative=cooperative, **slots)

    # -- model --------------------------------------------------------------------------------
    def load_model(
        self, model_dir: str | Path | None, device: str = "auto", precision: str | None = None
    ) -> Job:
        """Load (or reload) the model; ``precision`` None: the Preferences' (default ``auto``)."""
        if precision is None:
            from .settings import Settings

            precision = Settings().precision
        self.loading.emit()
        return self.submit(
            self.worker.load, str(model_dir) if model_dir else None, device, precision,
            returned=self.ready.emit, errored=self._load_error,
        )

    def _load_error(self, exc: Exception) -> None:
        if isinstance(exc, LoadFailedError):
            self.load_failed.emit(exc.message, exc.previous_in_use)
        else:
            self.load_failed.emit(f"The model could not be loaded ({type(exc).__name__}).", False)

    # -- scanning -----------------------------------------------------------------------------
    def scan(
        self, paths: list[str], threshold: float, batch_size: int, append_to: int | None = None,
        **slots: Any,
    ) -> Job:
        """Scan in the model lane; ``append_to`` adds the results to that recorded scan. The job
        yields ScanStarted then ScanBatch events and returns a :class:`ScanEnd`."""
        self._scan = self.submit(
            self.worker.scan, list(paths), float(threshold), int(batch_size), append_to,
            self.batch_ready.emit, cooperative=True, **slots,
        )
        return self._scan

    def cancel(self) -> None:
        """Ask the running scan to stop after its current batch (safe from any thread)."""
        if self._scan is not None:
            self._scan.quit()

    def heatmap(self, request_id: int, xray: Any) -> None:
        """An urgent job: served between the batches of a running scan."""
        self.executor.submit(
            self.worker.heatmap, xray, lane="model", urgent=True,
            returned=lambda h: self.heatmap_ready.emit(request_id, h),
            errored=lambda exc: self.heatmap_failed.emit(request_id, str(exc)),
        )

    def write_report(self, request: ReportRequest, **slots: Any) -> Job:
        return self.submit(self.worker.write_report, request, **slots)

    # -- watched folders (polled in the io lane) ----------------------------------------------
    def watch(self, folders: list[str]) -> None:
        self.unwatch()
        self._watch_generation += 1
        generation = self._watch_generation
        self.submit(
            self._open_watcher, list(folders), lane="io",
            returned=lambda _: self._watch_timer.start(WATCH_INTERVAL_MS) if generation == self._watch_generation else None,
            errored=lambda exc: self.watch_failed.emit(f"The folder cannot be watched ({exc.strerror or exc}).")
            if generation == self._watch_generation else None,
        )

    def _open_watcher(self, folders: list[str]) -> None:
        from ..core.scan import FolderWatcher

        self._watcher = FolderWatcher(folders)  # lists what is already there: off the GUI thread

    def unwatch(self) -> None:
        self._watch_generation += 1
        self._watch_timer.stop()
        self._watcher = None

    def _poll_watch(self) -> None:
        if self._poll is not None and not self._poll.done.is_set():
            return  # the previous poll is still listing
        generation = self._watch_generation
        self._poll = self.submit(
            self._poll_once, lane="io",
            returned=lambda new: self.watch_found.emit(new) if new and generation == self._watch_generation else None,
        )

    def _poll_once(self) -> list[str]:
        watcher = self._watcher
        if watcher is None:
            return []
        try:
            new = watcher.poll()
        except OSError as exc:
            log.warning("watch poll failed: %s", exc)
            return []
        if new:
            log.info("watch: %d new files", len(new))
        return new

    # -- end ------------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Cancel what runs, end the lanes (the model process with them) and wait. Idempotent."""
        if self.executor.closed:
            return
        self.worker.stopping.set()
        self.unwatch()
        self.executor.shutdown({"model": self.worker.shutdown}, drain=("io",))
