"""Decoding a file for the model, in this process or in child processes that may crash safely.

:func:`decode_for_model` is what the scanner does with each file: load it (``load_xray``), apply
the quality rules, preprocess it, and keep the metadata without the full-size pixels.

:class:`DecoderPool` runs the same function in child processes (``spawn``; no TensorFlow there,
they start in well under a second). Image decoders are native code (libjpeg, OpenJPEG, GDCM...): a
hostile or damaged file can crash one. In a child the crash ends only that process: the file gets
an error row (code ``decoder_crash``) that says so, a new child is started, and the scan goes on.
The app's scans use a pool; ``pneumo-scan`` decodes in its own threads.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
from collections.abc import Callable
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
DECODE_TIMEOUT_S = 300.0
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


class _Decoder:
    """One child process that decodes files on request."""

    def __init__(self) -> None:
        self._ctx = mp.get_context("spawn")
        self._proc: Any = None
        self._conn: Any = None

    def start(self) -> None:
        parent, child = self._ctx.Pipe(duplex=True)
        self._proc = self._ctx.Process(target=_serve, args=(child,), name="pneumo-decoder", daemon=True)
        self._proc.start()
        child.close()
        self._conn = parent

    def decode(self, path: str, spec: PreprocessSpec, gate: quality.GatePrep | None = None) -> Decoded:
        if self._proc is None:
            self.start()
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
            log.warning("the decoder process ended (exit code %s) on %s; starting another", code, path)
            raise XRayLoadError(CRASH_MESSAGE, code=CRASH_CODE) from None
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
        if proc is None:
            return None
        proc.join(1)
        if proc.is_alive():
            proc.kill()
            proc.join(5)
        return proc.exitcode

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.send(None)
            except (OSError, ValueError):
                pass
            self._conn.close()
        self._proc = self._conn = None


class DecoderPool:
    """``size`` decoder processes shared by the scanner's loader threads (thread-safe)."""

    def __init__(self, size: int = 1) -> None:
        self._free: queue.SimpleQueue[_Decoder] = queue.SimpleQueue()
        self._all = [_Decoder() for _ in range(max(1, int(size)))]
        for d in self._all:
            d.start()  # started now: the first scan does not wait for them
            self._free.put(d)

    def decode(self, path: str, spec: PreprocessSpec, gate: quality.GatePrep | None = None) -> Decoded:
        decoder = self._free.get()
        try:
            return decoder.decode(path, spec, gate)
        finally:
            self._free.put(decoder)

    def close(self) -> None:
        for d in self._all:
            d.close()


def _serve(conn: Any) -> None:  # a multiprocessing Connection
    """The child: decode paths until the parent closes the pipe or sends None."""
    _lower_priority()
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
