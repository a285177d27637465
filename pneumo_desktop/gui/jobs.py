"""One executor for everything that runs off the GUI thread.

A job is a generator function: each ``yield`` is a progress tick (its value reaches the GUI through
``yielded``) and a place to stop, and its ``return`` value arrives through ``returned``. A plain
function is a job too (one without ticks; it may call :meth:`Job.tick` itself). The signals live
on a QObject beside the job, as in superqt's ``GeneratorWorker``: ``started``, ``yielded``,
``returned``, ``errored``, ``finished``; :meth:`Job.quit` only sets a flag that the loop checks.

Jobs run in *lanes*: one thread each, jobs one after another. The ``model`` lane is the one thread
that owns the model (the network itself runs in a child process, :mod:`core.remote`); ``io`` reads
the history and writes exports. *Urgent* jobs (a heatmap for the viewer) run between the ticks of
the lane's current job, so the viewer stays live during a long scan. A lane's thread runs a Qt
event loop, so QObjects moved to it (the site calibration) get their queued slots there.
:meth:`Executor.shutdown` stops every job at its next tick and waits for the threads.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable, Generator
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QRunnable, QThread, Signal, Slot

log = logging.getLogger(__name__)

_current = threading.local()


class JobCancelledError(Exception):
    """Raised by :meth:`Job.tick` in a job that was asked to quit."""


class JobSignals(QObject):
    """A job's signals (created in the GUI thread, so queued connections deliver there)."""

    started = Signal()
    yielded = Signal(object)
    returned = Signal(object)
    errored = Signal(object)  # the exception
    finished = Signal()


class Job:
    """``func(*args, **kwargs)`` run in a lane; a generator function gives ticks."""

    def __init__(
        self, func: Callable[..., Any], *args: Any, name: str = "", cooperative: bool = False, **kwargs: Any
    ) -> None:
        self.func, self.args, self.kwargs = func, args, kwargs
        #: The generator checks :meth:`is_set` itself and ends cleanly (a scan returns "cancelled"):
        #: it is not closed at the next tick.
        self.cooperative = cooperative
        self.name = name or getattr(func, "__name__", "job")
        self.signals = JobSignals()
        self._quit = threading.Event()
        self._lane: Lane | None = None
        self.done = threading.Event()

    # Connections in one call: ``job.connect(yielded=..., returned=...)``.
    def connect(self, **slots: Any) -> Job:
        for name, slot in slots.items():
            getattr(self.signals, name).connect(slot)
        return self

    def quit(self) -> None:
        """Ask the job to stop at its next tick (safe from any thread)."""
        self._quit.set()

    @property
    def quit_requested(self) -> bool:
        return self._quit.is_set()

    def is_set(self) -> bool:
        """A job is its own cancel flag (``threading.Event``'s interface: core.scan.CancelFlag)."""
        return self._quit.is_set()

    def tick(self, value: Any = None) -> None:
        """From inside a plain-function job: report progress, let urgent jobs run, stop if asked."""
        if value is not None:
            self.signals.yielded.emit(value)
        if self._lane is not None:
            self._lane.run_urgent()
        if self._quit.is_set():
            raise JobCancelledError(self.name)

    def run(self, lane: Lane | None = None) -> None:
        """Run to the end in this thread (the lane's), emitting the signals."""
        self._lane = lane
        previous, _current.job = current_job(), self  # an urgent job runs inside another's tick
        try:
            if self._quit.is_set():
                return
            self.signals.started.emit()
            result = self.func(*self.args, **self.kwargs)
            if isinstance(result, Generator):
                result = self._iterate(result)
            self.signals.returned.emit(result)
        except JobCancelledError:
            self.signals.returned.emit(None)
        except Exception as exc:  # reported, never kills the lane
            log.exception("job %s failed", self.name)
            self.signals.errored.emit(exc)
        finally:
            _current.job = previous
            self.signals.finished.emit()
            self.done.set()

    def _iterate(self, gen: Generator[Any, None, Any]) -> Any:
        while True:
            try:
                value = next(gen)
            except StopIteration as stop:
                return stop.value
            if value is not None:
                self.signals.yielded.emit(value)
            if self._lane is not None:
                self._lane.run_urgent()
            if self._quit.is_set() and not self.cooperative:
                gen.close()  # the generator's ``finally`` runs
                return None


def current_job() -> Job | None:
    """The job running in this thread (None outside jobs)."""
    return getattr(_current, "job", None)


class LaneThread(QThread):
    """A lane's thread. ``run`` is overridden in Python on purpose.

    With QThread's own (C++) ``run``, every queued slot gets a fresh Python thread state that is
    destroyed when the slot returns. TensorFlow's pybind11 layer caches the thread state of the
    first call, so the first model call in a *later* slot waits for the GIL that its own thread
    holds: the app hangs. A Python ``run`` keeps one thread state for the thread's whole life.
    """

    def run(self) -> None:
        threading.current_thread().name = self.objectName() or "pneumo-lane"  # for the log file
        self.exec()


class _Runner(QObject):
    """Lives in the lane's thread; its slots run the jobs there."""

    def __init__(self, lane: Lane) -> None:
        super().__init__()
        self.lane = lane

    @Slot(object)
    def run_job(self, job: Job) -> None:
        self.lane.run_urgent()
        if self.lane.stopping.is_set():
            job.quit()
        job.run(self.lane)
        self.lane.job_done(job)
        self.lane.run_urgent()

    @Slot()
    def run_urgent(self) -> None:
        self.lane.run_urgent()

    @Slot(object)
    def stop(self, cleanup: Callable[[], None] | None) -> None:
        self.lane.run_urgent()
        if cleanup is not None:
            try:
                cleanup()
            except Exception:  # closing must never fail
                log.exception("lane %s: cleanup failed", self.lane.name)
        QThread.currentThread().quit()


class Lane(QObject):
    """One thread, jobs in order, urgent jobs between ticks."""

    _submit = Signal(object)
    _kick = Signal()
    _stop = Signal(object)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.qthread = LaneThread()
        self.qthread.setObjectName(f"pneumo-{name}")
        self.runner = _Runner(self)
        self.runner.moveToThread(self.qthread)
        self._submit.connect(self.runner.run_job)
        self._kick.connect(self.runner.run_urgent)
        self._stop.connect(self.runner.stop)
        self.stopping = threading.Event()
        self._urgent: collections.deque[Job] = collections.deque()
        self._pending: set[Job] = set()
        self._alive: set[Job] = set()  # touched in the GUI thread only
        self._lock = threading.Condition()
        self._shut = False
        self.qthread.start()

    def submit(self, job: Job, urgent: bool = False) -> Job:
        # Kept alive until ``finished`` is delivered in the GUI thread: a job's signals object
        # collected earlier would drop its queued deliveries (``returned`` never arriving).
        self._alive.add(job)
        job.signals.finished.connect(lambda: self._alive.discard(job))
        with self._lock:
            self._pending.add(job)
        if urgent:
            self._urgent.append(job)
            self._kick.emit()
        else:
            self._submit.emit(job)
        return job

    def run_urgent(self) -> None:
        """In the lane's thread: run every urgent job waiting."""
        while True:
            try:
                job = self._urgent.popleft()
            except IndexError:
                return
            if self.stopping.is_set():
                job.quit()
            job.run(None)  # an urgent job does not serve others
            self.job_done(job)

    def job_done(self, job: Job) -> None:
        with self._lock:
            self._pending.discard(job)
            self._lock.notify_all()

    def jobs(self) -> list[Job]:
        with self._lock:
            return list(self._pending)

    def idle(self) -> bool:
        with self._lock:
            return not self._pending

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until every submitted job has finished (the GUI thread uses it only on close and
        in tests: the jobs never wait for the GUI thread, so this cannot deadlock)."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._pending, timeout)

    # A QThreadPool-like face for QRunnables (gui.privacy's store tasks).
    def start(self, runnable: QRunnable) -> Job:
        return self.submit(Job(runnable.run, name=type(runnable).__name__))

    def waitForDone(self, msecs: int = -1) -> bool:  # noqa: N802  (QThreadPool's name)
        return self.wait_idle(None if msecs < 0 else msecs / 1000)

    def shutdown(self, cleanup: Callable[[], None] | None = None, drain: bool = False) -> None:
        """Stop every job at its next tick (``drain``: let them end), run ``cleanup`` in the lane's
        thread, end the thread and wait for it."""
        if self._shut:
            return
        self._shut = True
        if not drain:
            self.stopping.set()
            for job in self.jobs():
                job.quit()
        self._stop.emit(cleanup)
        if not self.qthread.wait(10_000):  # a batch of a big model on a slow CPU takes seconds
            log.warning("still waiting for the %s lane to finish its current job", self.name)
            self.qthread.wait()
        # Answers already on their way to the GUI thread are dropped: nothing reaches a closed window.
        for job in list(self._alive):
            QCoreApplication.removePostedEvents(job.signals)
            job.signals.blockSignals(True)
        self._alive.clear()


class Executor(QObject):
    """The lanes of a window: ``model`` (owns the model) and ``io`` (history, exports, polling)."""

    def __init__(self, lanes: tuple[str, ...] = ("model", "io"), parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.lanes = {name: Lane(name, self) for name in lanes}
        self._closed = False

    def lane(self, name: str) -> Lane:
        return self.lanes[name]

    def submit(
        self, func: Callable[..., Any], *args: Any, lane: str = "model", urgent: bool = False,
        name: str = "", cooperative: bool = False, **slots: Any,
    ) -> Job:
        """Run ``func(*args)`` in ``lane``; ``slots`` connect to the job's signals first."""
        job = Job(func, *args, name=name, cooperative=cooperative).connect(**slots)
        if self._closed:
            return job  # never runs: the window is closing
        return self.lanes[lane].submit(job, urgent=urgent)

    @property
    def closed(self) -> bool:
        return self._closed

    def shutdown(
        self, cleanup: dict[str, Callable[[], None]] | None = None, drain: tuple[str, ...] = ()
    ) -> None:
        """Stop every job at its next tick and wait for every lane; the jobs of the ``drain`` lanes
        (an export being written) run to their end first. Idempotent."""
        if self._closed:
            return
        self._closed = True
        cleanup = cleanup or {}
        for name, lane in self.lanes.items():
            if name not in drain:
                lane.stopping.set()
                for job in lane.jobs():
                    job.quit()
        for name, lane in self.lanes.items():
            lane.shutdown(cleanup.get(name), drain=name in drain)
