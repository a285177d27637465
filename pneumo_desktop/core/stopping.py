"""Stopping a scan cleanly on SIGINT (Ctrl+C) or SIGTERM (a logout, a service manager), and the
type of every cancel flag (:class:`CancelFlag`).

The first signal asks the scan to stop after the batch in progress: that batch is stored, the
exports are written and the scan is recorded as ``interrupted``. A second signal stops at once
(``KeyboardInterrupt``), still writing the exports of what was stored.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from typing import Protocol

STOP_SIGNALS = tuple(s for s in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None)) if s)


class CancelFlag(Protocol):
    """What a job running off the caller's thread checks between steps to know it should stop.

    ``threading.Event``, :class:`StopRequest` and any object with an ``is_set()`` fit (the site
    dialog's flag that is set when either of two events is); the job only reads it, its owner sets it.
    """

    def is_set(self) -> bool: ...


class StopRequest:
    """A cancel flag with the interface of ``threading.Event`` that a signal handler may set.

    ``threading.Event.set`` takes a lock, which deadlocks if the signal arrives while the main
    thread holds it inside ``Event.wait``; this flag takes none.
    """

    def __init__(self) -> None:
        self._flag = False
        self.signum: int | None = None  # the signal that asked to stop, if one did

    def set(self) -> None:
        self._flag = True

    def is_set(self) -> bool:
        return self._flag

    def clear(self) -> None:
        self._flag = False

    def wait(self, timeout: float | None = None) -> bool:
        end = None if timeout is None else time.monotonic() + timeout
        while not self._flag:
            left = 0.1 if end is None else min(0.1, end - time.monotonic())
            if left <= 0:
                break
            time.sleep(left)
        return self._flag

    @contextlib.contextmanager
    def on_signals(self, signums: tuple[int, ...] = STOP_SIGNALS) -> Iterator[StopRequest]:
        """Within the block, the first stop signal sets this flag; a second raises KeyboardInterrupt."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return

        def handler(signum: int, frame: object) -> None:
            if self._flag and self.signum is not None:
                raise KeyboardInterrupt
            self.signum = signum
            self._flag = True

        previous = {s: signal.signal(s, handler) for s in signums}
        try:
            yield self
        finally:
            for s, h in previous.items():
                signal.signal(s, h)


def exit_code_for(signum: int) -> int:
    """The conventional exit code of a process stopped by ``signum``: 128 + its number."""
    return 128 + int(signum)
