"""The model in a child process: a Predictor stand-in whose network runs in another process.

Importing TensorFlow and loading the model hold the GIL for hundreds of milliseconds at a time
(measured: 206 and 467 ms event-loop stalls in the app's first half second when it ran in a
thread of the GUI process). In a child process they cannot stall the window: the GUI process never
imports TensorFlow, and its model thread only waits on a pipe (which releases the GIL).

:class:`RemotePredictor` has the Predictor interface the scanner and the app use (``card``,
``spec``, ``version``, ``device_name``, ``precision``, ``ood``, ``predict_batch``, ``cams``). The
card and the out-of-distribution reference are read in this process (JSON and NumPy, fast); the
network lives in the child. If the child dies (a native crash, killed for memory), the call that
was waiting raises :class:`ModelError` (the scanner turns that batch into ``inference`` error
rows and goes on) and the next call starts a new child.

The child is started with the ``spawn`` method on every platform (``fork`` after Qt and threads
exist is unsafe), so the frozen app calls ``multiprocessing.freeze_support()`` first thing.
One thread owns a RemotePredictor, as with a Predictor.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .card import ModelCard
from .errors import ModelError
from .paths import default_model_dir

if TYPE_CHECKING:
    from .quality import OODReference

log = logging.getLogger(__name__)

START_TIMEOUT_S = 600.0  # a cold start on a slow disk imports about 1 GB of TensorFlow


class _Pipe(Protocol):
    """The end of a ``multiprocessing`` pipe that this process keeps (``Connection`` on POSIX,
    ``PipeConnection`` on Windows)."""

    def send(self, obj: Any) -> None: ...
    def recv(self) -> Any: ...
    def poll(self, timeout: float | None = ...) -> bool: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class _Loaded:
    device_name: str
    precision: str
    precision_reason: str
    load_seconds: float
    has_cam: bool
    has_gate: bool  # the model folder ships the gate's learned parts (core.quality.Gate)


class RemotePredictor:
    """A :class:`~pneumo_desktop.core.model.Predictor` running in a child process."""

    def __init__(
        self,
        model_dir: str | Path | None = None,
        device: str = "auto",
        precision: str = "auto",
        verify: bool = True,
    ) -> None:
        t0 = time.perf_counter()
        self.card = ModelCard.load(model_dir or default_model_dir())  # JSON only: fast, and a
        # missing or broken card is reported before a process is started
        self._args = (str(self.card.folder), device, precision, verify)
        self._ctx = mp.get_context("spawn")
        self._proc: BaseProcess | None = None
        self._conn: _Pipe | None = None
        self._lock = threading.Lock()
        self._ood: OODReference | None = None
        self.restarts = 0
        loaded = self._start()
        self.device_name = loaded.device_name
        self.precision = loaded.precision
        self.precision_reason = loaded.precision_reason
        self.child_load_seconds = loaded.load_seconds
        self.has_cam = loaded.has_cam
        self.gate = _RemoteGate(self) if loaded.has_gate else None
        self.load_seconds = time.perf_counter() - t0
        log.info(
            "model %s ready in process %s on %s in %.1f s (%s)",
            self.version,
            self.pid,
            self.device_name,
            self.load_seconds,
            self.precision,
        )

    # -- the Predictor interface -------------------------------------------------------------
    @property
    def spec(self):
        return self.card.preprocessing

    @property
    def version(self) -> str:
        return f"{self.card.name} {self.card.version}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def ood(self) -> OODReference | None:
        if self._ood is None and self.card.ood:
            from .quality import OODReference

            self._ood = OODReference.load(self.card.folder, self.card.ood)
        return self._ood

    def predict_batch(self, batch: np.ndarray) -> list:
        if len(batch) == 0:
            return []
        return self._call("predict", np.ascontiguousarray(batch, dtype=np.float32))

    def predict_xrays(self, xrays: Sequence) -> list:
        from .preprocess import preprocess_batch

        return self.predict_batch(preprocess_batch(list(xrays), self.spec))

    def cams(self, batch: np.ndarray) -> np.ndarray | None:
        preds = self.predict_batch(batch)
        if not preds or preds[0].cam is None:
            return None
        return np.stack([p.cam for p in preds])

    def close(self, wait: float = 5.0) -> None:
        """Tell the child to quit; wait up to ``wait`` seconds, then end it by force. Idempotent.

        ``wait=0``: do not wait (closing the window): the child exits on its own at once, and a
        daemonic child still running when this process exits is ended by multiprocessing.
        """
        with self._lock:
            proc, conn = self._proc, self._conn
            self._proc = self._conn = None
        if proc is None:
            return
        if conn is not None:
            try:
                conn.send(("quit", None))
            except (OSError, ValueError):
                pass
            conn.close()
        if wait <= 0:
            return
        proc.join(wait)
        if proc.is_alive():
            log.warning("the model process did not stop; terminating it")
            proc.terminate()
            proc.join(5)

    def __del__(self) -> None:  # a forgotten predictor must not leave a process behind
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass

    # -- internals ---------------------------------------------------------------------------
    def _start(self) -> _Loaded:
        parent, child = self._ctx.Pipe(duplex=True)
        proc = self._ctx.Process(target=serve, args=(child, *self._args), name="pneumo-model", daemon=True)
        proc.start()
        child.close()
        self._proc, self._conn = proc, parent
        reply = self._receive(START_TIMEOUT_S)
        if reply[0] != "ready":
            self.close()
            raise ModelError(reply[1])
        return reply[1]

    def _receive(self, timeout: float | None = None) -> tuple[str, Any]:
        conn, proc = self._conn, self._proc
        if conn is None or proc is None:  # closed by another thread (the window closing)
            raise ModelError("The model process was stopped.")
        while True:
            try:
                if timeout is not None and not conn.poll(timeout):
                    raise ModelError(f"The model process gave no answer in {timeout:.0f} s.")
                kind, payload = conn.recv()
            except (EOFError, OSError) as exc:
                proc.join(5)
                code = proc.exitcode
                self._proc = self._conn = None
                raise ModelError(f"The model process ended unexpectedly (exit code {code}).") from exc
            if kind == "log":  # a record from the child, re-emitted here (the app's log file)
                level, name, message = payload
                logging.getLogger(name).log(level, "[model process] %s", message)
                continue
            return kind, payload

    def _call(self, op: str, arg: Any) -> Any:
        if self._proc is None:  # the previous child died: start another one
            self.restarts += 1
            log.warning("restarting the model process (restart %d)", self.restarts)
            self._start()
        conn = self._conn
        if conn is None:  # closed by another thread (the window closing) since the check above
            raise ModelError("The model process was stopped.")
        try:
            conn.send((op, arg))
        except (OSError, ValueError) as exc:
            self._proc = self._conn = None
            raise ModelError("The model process ended unexpectedly.") from exc
        kind, payload = self._receive()
        if kind == "error":
            raise ModelError(payload)
        return payload


class _RemoteGate:
    """The gate of a model in a child process: the per-file part (statistics, thumbnail) is read
    here from the model folder's JSON files; the small network runs in the child, once a batch."""

    def __init__(self, remote: RemotePredictor) -> None:
        import json

        from . import imagestats, orientation
        from .quality import GatePrep

        folder = remote.card.folder
        size = None
        if orientation.OrientationNet.available(folder):
            config = json.loads((folder / orientation.CONFIG_NAME).read_text(encoding="utf-8"))
            size = int(config.get("input_size", orientation.DEFAULT_SIZE))
        self._prep = GatePrep(imagestats.StatLimits.load(folder), size)
        self._remote = remote

    def preparer(self):
        return self._prep

    def judge(self, thumbs: list) -> list:
        if self._prep.thumb_size is None or all(t is None for t in thumbs):
            return [None] * len(thumbs)
        return self._remote._call("gate", list(thumbs))


class _PipeLogHandler(logging.Handler):
    """In the child: send warnings and errors to the parent, which logs them in its own file."""

    def __init__(self, conn) -> None:
        super().__init__(logging.WARNING)
        self.conn = conn

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.conn.send(("log", (record.levelno, record.name, record.getMessage())))
        except Exception:  # never fail a model call because of a log line
            pass


def serve(conn, model_dir: str, device: str, precision: str, verify: bool) -> None:
    """The child process: load the Predictor, then answer requests until told to quit."""
    _lower_priority()
    root = logging.getLogger()
    root.addHandler(_PipeLogHandler(conn))
    root.setLevel(logging.INFO)
    from .logsetup import without_pydicom_logs

    for handler in root.handlers:
        handler.addFilter(without_pydicom_logs)
    try:
        from .model import Predictor

        predictor = Predictor(model_dir, device=device, precision=precision, verify=verify)
    except ModelError as exc:
        conn.send(("error", str(exc)))
        return
    except Exception as exc:  # reported to the parent as a sentence
        logging.getLogger(__name__).exception("model load failed in the model process")
        conn.send(("error", f"The model could not be loaded ({type(exc).__name__}: {exc})."))
        return
    loaded = _Loaded(
        predictor.device_name,
        predictor.precision,
        predictor.precision_reason,
        predictor.load_seconds,
        predictor.has_cam,
        predictor.gate is not None,
    )
    conn.send(("ready", loaded))
    while True:
        try:
            op, arg = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if op == "quit":
            # Nothing to save here (the parent writes every result): skip TensorFlow's seconds-long
            # teardown, so that closing the window does not wait for it.
            conn.close()
            os._exit(0)
        try:
            if op == "predict":
                conn.send(("ok", predictor.predict_batch(arg)))
            elif op == "gate":  # the orientation/polarity/field-of-view network's verdicts
                conn.send(("ok", predictor.gate.judge(arg) if predictor.gate is not None else [None] * len(arg)))
            else:
                conn.send(("error", f"unknown request {op!r}"))
        except Exception as exc:  # one failing batch is an answer, not the end
            logging.getLogger(__name__).exception("model call failed")
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


def _lower_priority() -> None:
    """Background work: let the window's process win the CPU when the machine is busy."""
    try:
        os.nice(5)
    except (AttributeError, OSError):  # Windows has no nice(); the work runs at normal priority there
        pass
