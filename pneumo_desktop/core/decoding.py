"""Decoding a file for the model, in this process or in child processes that may crash safely.

:func:`decode_for_model` is what the scanner does with each file: load it (``load_xray``), apply
the quality rules, preprocess it, and keep the metadata without the full-size pixels.

:class:`DecoderPool` runs the same function in child processes (``spawn``; no TensorFlow there,
they start in well under a second). Image decoders are native code (libjpeg, OpenJPEG, GDCM...): a
hostile or damaged file can crash one. In a child the crash ends only that process: the file gets
an error row (code ``decoder_crash``) that says so, a new child is started, and the scan goes on.
The app's scans and ``pneumo-scan`` (scan, calibrate, receive) use a pool. Closing a pool waits
for the files being decoded (a stopped scan's last ones), so a Ctrl+C or SIGTERM never turns them
into crash rows; the children ignore SIGINT (a terminal's Ctrl+C reaches the whole process group)
and leave when their parent closes the pipe or exits.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
import signal
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import numpy as np

from . import quality
from .errors import XRayLoadError
from .io import XRay, load_xray
from .preprocess import PreprocessSpec, preprocess

log = logging.getLogger(__name__)

CRASH_CODE = "decoder_crash"
CRASH_MESSAGE = (
    "The image decoder crashed on this file (damaged or unusual data), so it was not judged. "
    "The scan went on with the other files."
)
CLOSED_MESSAGE = "The scan stopped before this file was read."
DECODE_TIMEOUT_S = 300.0
#: How long a new decoder process may take to come up (imports on a slow disk included).
START_TIMEOUT_S = 120.0
#: How long closing a pool waits for the files being decoded before it ends their processes (a
#: stopped scan's last files: their rows are not kept, so this only lets them end cleanly).
CLOSE_WAIT_S = 2.0
#: A child ended by one of these was stopped from outside (a service manager's SIGTERM to the whole
#: process group, a hang-up), not crashed by the file: its file is "cancelled", not "decoder_crash".
_STOPPED_FROM_OUTSIDE = {-int(getattr(signal, n)) for n in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, n)}
#: Consecutive failed starts after which a pool decodes in this process for good.
START_FAILURES_BEFORE_FALLBACK = 2
#: A decoder's numpy work is small (a 10-term surface fit per film, core.imagestats): one BLAS thread.
#: OpenBLAS's worker threads spin while they wait, and on a busy machine that cost a decoder process
#: 5x the CPU per film (85 against 13 ms, measured while a training run held both cores).
_CHILD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
_ENV_LOCK = threading.Lock()
#: Fault injection for the tests: a child decoding a path that contains this text aborts.
_CRASH_TEST_ENV = "PNEUMO_DECODER_CRASH_TEST"


#: What decoding one file gives: the XRay without its full pixels, the quality issue or None, the
#: model input, and the gate network's thumbnail or None.
Decoded = tuple[XRay, "quality.QualityIssue | None", np.ndarray, "np.ndarray | None"]


def decode_for_model(
    path: str,
    spec: PreprocessSpec,
    load: Callable[[str], XRay] = load_xray,
    gate: quality.GatePrep | None = None,
) -> Decoded:
    """(XRay without its full pixels, quality issue or None, model input, the gate network's
    thumbnail or None) for one file. ``gate``: a :class:`quality.GatePrep` (statistics check and
    thumbnail, on the full pixels) or None."""
    xray = load(path)
    issue = quality.check_xray(xray)
    thumb = None
    if gate is not None:
        issue, thumb = gate.prepare(xray, issue)
    inputs = preprocess(xray, spec)
    # Keep the metadata, drop the full-size pixels: memory stays flat.
    return replace(xray, pixels=np.zeros((1, 1), np.float32)), issue, inputs, thumb


class DecoderStartError(RuntimeError):
    """A decoder process died or hung before it could serve (it could not import, for example
    when the parent's main script cannot be found again: ``python -`` reading from a pipe)."""


class _Decoder:
    """One child process that decodes files on request."""

    def __init__(self) -> None:
        self._ctx = mp.get_context("spawn")
        self._proc: Any = None
        self._conn: Any = None
        self.closing = False  # set by the pool: a child that ends now was ended on purpose
        self._ready = False  # the child said it is serving
        self._stderr: _ChildOutput | None = None
        # start() and end() run on different threads (a loader restarting a crashed child while the
        # pool closes): a child must never start after end(), or it would outlive its pool.
        self._life = threading.Lock()

    def start(self) -> None:
        with self._life:
            if self.closing:
                raise XRayLoadError(CLOSED_MESSAGE, code="cancelled")
            parent, child = self._ctx.Pipe(duplex=True)
            self._stderr = _ChildOutput()
            self._proc = self._ctx.Process(
                target=_serve, args=(child, self._stderr.path), name="pneumo-decoder", daemon=True
            )
            with _child_environment(_CHILD_ENV):  # read by the child's numpy at its import
                self._proc.start()
            child.close()
            self._conn = parent
            self._ready = False

    def _await_ready(self) -> None:
        try:
            if not self._conn.poll(START_TIMEOUT_S):
                self._kill()
                raise DecoderStartError(f"no answer in {START_TIMEOUT_S:.0f} s")
            self._conn.recv()  # ("ready", pid)
        except (EOFError, OSError):
            code = self._kill()
            if self.closing:
                raise XRayLoadError(CLOSED_MESSAGE, code="cancelled") from None
            raise DecoderStartError(f"it ended with exit code {code} before serving") from None
        self._ready = True

    def decode(self, path: str, spec: PreprocessSpec, gate: quality.GatePrep | None = None) -> Decoded:
        if self._proc is None:
            self.start()
        if not self._ready:
            self._await_ready()
        try:
            self._conn.send((path, spec, gate))
            if not self._conn.poll(DECODE_TIMEOUT_S):
                self._kill()
                raise XRayLoadError(
                    f"Reading this file took over {DECODE_TIMEOUT_S:.0f} s; it was skipped.", code="timeout"
                )
            kind, payload = self._conn.recv()
        except (EOFError, OSError, BrokenPipeError):
            code = self._kill()
            if self.closing or code in _STOPPED_FROM_OUTSIDE:
                raise XRayLoadError(CLOSED_MESSAGE, code="cancelled") from None
            log.warning("the decoder process ended (exit code %s) on %s; starting another", code, path)
            raise XRayLoadError(CRASH_MESSAGE, code=CRASH_CODE) from None
        if self._stderr is not None:
            self._stderr.drain()  # a native decoder's complaint about a damaged file
        if kind == "ok":
            return payload
        if kind == "load_error":
            message, code = payload
            raise XRayLoadError(message, code=code)
        raise RuntimeError(payload)  # an unexpected failure: the scanner's 'internal' row

    def _kill(self) -> int | None:
        proc, conn = self._proc, self._conn
        self._proc = self._conn = None
        if conn is not None:
            conn.close()
        if proc is not None:
            proc.join(1)
            if proc.is_alive():
                proc.kill()
                proc.join(5)
        self._forget_output(proc)  # after the child is gone: its file can be removed (Windows too)
        return None if proc is None else proc.exitcode

    def end(self) -> None:
        """From another thread, for a decoder still busy when its pool closes: end the child (the
        thread waiting on it then gets a ``cancelled`` error, not a crash row)."""
        with self._life:
            self.closing = True
            proc = self._proc
            if proc is not None and proc.is_alive():
                proc.kill()

    def close(self) -> None:
        """Ask the child to leave (it exits when it reads None or the pipe closes)."""
        self.closing = True
        if self._conn is not None:
            try:
                if not self._ready and self._conn.poll(0):  # up, but never asked for a file
                    self._conn.recv()  # its ("ready", pid): it reads the goodbye and leaves
                    self._ready = True
                self._conn.send(None)
            except (OSError, ValueError, EOFError):
                pass
            self._conn.close()
        self._conn = None

    def join(self, deadline: float) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if not self._ready and proc.is_alive():
                # Not up when the pool closed (its imports take seconds on a busy machine): it has no
                # file to finish, and waiting for it to read the goodbye would leave it behind.
                proc.kill()
                deadline = max(deadline, time.monotonic() + 5.0)
            proc.join(max(0.0, deadline - time.monotonic()))
        self._forget_output(proc)

    def _forget_output(self, proc: Any) -> None:
        out, self._stderr = self._stderr, None
        if out is not None:
            out.close(keep_open=proc is not None and proc.is_alive())


class _ChildOutput:
    """A decoder child's standard error (file descriptor 2): native decoders (libjpeg, OpenJPEG,
    GDCM) print their complaints about damaged files there, which would land on the user's terminal
    after the scan's summary. The child writes to this file; the parent logs what appears (DEBUG,
    so ``-v`` shows it; WARNING when the child died). No file name or patient data is added."""

    def __init__(self) -> None:
        fd, self.path = tempfile.mkstemp(prefix="pneumo-decoder-", suffix=".txt")
        self._reader = os.fdopen(fd, "rb")
        self._remove = weakref.finalize(self, _remove_file, self.path)  # at exit too, if never closed

    def drain(self, level: int = logging.DEBUG) -> None:
        """Log what the child wrote since the last call (DEBUG only: a library's warning text can
        quote a file's header values)."""
        try:
            text = self._reader.read()
        except (OSError, ValueError):
            return
        for line in (text or b"").decode("utf-8", "replace").splitlines():
            if line.strip():
                log.log(level, "decoder: %s", line.strip())

    def close(self, keep_open: bool = False) -> None:
        self.drain()
        self._reader.close()
        if not keep_open or os.name != "nt":  # POSIX: a file still open in the child can go
            self._remove()


def _remove_file(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


class DecoderPool:
    """``size`` decoder processes shared by the scanner's loader threads (thread-safe). A context
    manager: leaving it closes the pool."""

    def __init__(self, size: int = 1) -> None:
        self._free: queue.SimpleQueue[_Decoder] = queue.SimpleQueue()
        self._all = [_Decoder() for _ in range(max(1, int(size)))]
        self._closed = threading.Event()
        self._close_lock = threading.Lock()
        self._here = False  # the processes cannot start on this machine: decode in this one
        self._start_failures = 0  # in a row
        for d in self._all:
            d.start()  # started now (in the background): the first file does not wait for them
            self._free.put(d)

    def decode(self, path: str, spec: PreprocessSpec, gate: quality.GatePrep | None = None) -> Decoded:
        if self._closed.is_set():
            raise XRayLoadError(CLOSED_MESSAGE, code="cancelled")
        if self._here:
            return decode_for_model(path, spec, gate=gate)
        decoder = self._free.get()
        try:
            if self._closed.is_set():
                raise XRayLoadError(CLOSED_MESSAGE, code="cancelled")
            decoded = decoder.decode(path, spec, gate)
            self._start_failures = 0
            return decoded
        except DecoderStartError as exc:
            # Every file still gets its real row, without the crash isolation; a passing failure
            # (memory, a slow start) is tried again, a lasting one switches the pool to this process.
            self._start_failures += 1
            if self._start_failures >= START_FAILURES_BEFORE_FALLBACK and not self._here:
                log.warning("decoder processes cannot start (%s); decoding in this process", exc)
                self._here = True
            return decode_for_model(path, spec, gate=gate)
        finally:
            self._free.put(decoder)

    def close(self, wait: float = CLOSE_WAIT_S) -> None:
        """No new decodes; the ones under way finish (up to ``wait`` seconds, then their processes
        are ended), and every child leaves. Safe to call twice, from any thread."""
        with self._close_lock:
            if self._closed.is_set():
                return
            self._closed.set()
            deadline = time.monotonic() + max(0.0, wait)
            idle: list[_Decoder] = []
            while len(idle) < len(self._all):
                try:
                    idle.append(self._free.get(timeout=max(0.0, deadline - time.monotonic())))
                except queue.Empty:
                    break
            for d in self._all:
                if d in idle:
                    d.close()
                else:  # still decoding after the wait: a hung or very slow file
                    d.end()
            end = time.monotonic() + 2.0  # the children leave at once; no process is left behind
            for d in idle:
                d.join(end)
                # Back in the queue, closed: a loader thread that was about to take one gets a
                # "cancelled" error instead of waiting forever.
                self._free.put(d)

    def __enter__(self) -> DecoderPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def _child_environment(values: dict[str, str]) -> Iterator[None]:
    """Environment variables for the process started inside, unless the user set them.

    A spawned child inherits the C-level environment (``fork_exec``/``CreateProcess`` with no
    environment given), so they are set there only, with ``os.putenv``: ``os.environ``, which other
    threads may be copying or reading at that moment (a model runtime starting up), never changes.
    They are removed again right after the start. Where spawn builds the child's environment from
    ``os.environ`` instead (Windows, Python in a virtual environment), they go there, briefly."""
    put: Callable[[str, str], object] = os.putenv
    drop: Callable[[str], object] = os.unsetenv
    if _spawn_copies_os_environ():
        put, drop = os.environ.__setitem__, lambda k: os.environ.pop(k, None)
    with _ENV_LOCK:
        added = [k for k in values if k not in os.environ]
        for k in added:
            put(k, values[k])
        try:
            yield
        finally:
            for k in added:
                drop(k)


def _spawn_copies_os_environ() -> bool:
    """True where ``multiprocessing``'s spawn passes ``os.environ.copy()`` to the child rather than
    letting it inherit the process environment: Windows when Python runs from a virtual environment
    (``popen_spawn_win32.WINENV``)."""
    if sys.platform != "win32":
        return False
    try:
        from multiprocessing import popen_spawn_win32

        return bool(getattr(popen_spawn_win32, "WINENV", True))
    except ImportError:
        return True


def _serve(conn: Any, stderr_path: str | None = None) -> None:  # a multiprocessing Connection
    """The child: decode paths until the parent closes the pipe or sends None."""
    if stderr_path:  # native decoders' messages go to the parent's log, not the terminal
        try:
            fd = os.open(stderr_path, os.O_WRONLY | os.O_APPEND)
            os.dup2(fd, 2)
            os.close(fd)
        except OSError:
            pass
    # The libraries' own log records (pydicom's can quote header values, patient data included)
    # stay in the child, as the app's filter keeps them out of its log (core.io.dicom).
    logging.getLogger().addHandler(logging.NullHandler())
    # Ctrl+C in a terminal reaches the whole process group: the parent decides what stops, and a
    # file being decoded finishes (the pool's close waits for it).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _lower_priority()
    try:
        conn.send(("ready", os.getpid()))
    except (OSError, ValueError):
        return
    crash_on = os.environ.get(_CRASH_TEST_ENV, "")
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request is None:
            os._exit(0)
        path, spec, gate = request
        if crash_on and crash_on in path:
            os.abort()  # what a native crash in a decoder looks like to the parent
        try:
            conn.send(("ok", decode_for_model(path, spec, gate=gate)))
        except XRayLoadError as exc:
            conn.send(("load_error", (str(exc), exc.code)))
        except Exception as exc:  # reported to the parent as an 'internal' row
            conn.send(("failed", f"{type(exc).__name__}: {exc}"))


def _lower_priority() -> None:
    """Background work: let the window's process win the CPU when the machine is busy."""
    try:
        os.nice(5)
    except (AttributeError, OSError):  # Windows has no nice(); the work runs at normal priority there
        pass
