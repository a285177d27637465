"""A clean end however the app ends: the window closed, SIGTERM (``kill``, a service manager),
SIGHUP or SIGINT (the terminal closed, Ctrl+C), the session ending (logout), or Python exiting
without the window being closed (``sys.exit`` in a slot, an embedding script that just ends).

Each way reaches the same idempotent :meth:`Lifecycle.end`: visible windows are closed (so they
save their state), then every window's ``shutdown()`` and every registered closer run, which stop
and wait for the model thread and the image loaders. Without this, Python's exit destroys a
``QThread`` that is still running and Qt aborts ("QThread: Destroyed while thread is still
running").

- ``QCoreApplication.aboutToQuit``: the event loop ends (last window closed, ``quit()``, logout).
- ``atexit``: Python exits without the event loop ending (runs before Qt's own clean-up, which
  PySide6 registered earlier).
- Signals: Python runs its handlers only when Python code runs, which a waiting Qt event loop never
  does. So the C-level handler writes the signal's number to a socket (``signal.set_wakeup_fd``)
  that a :class:`QSocketNotifier` watches: the event loop wakes up, and the app quits cleanly.

:func:`install` is called once from ``gui.app.main``; windows made elsewhere (scripts) may call it
too. Qt-only; nothing here knows about the model.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QSocketNotifier

log = logging.getLogger(__name__)

#: The signals that end the app cleanly (those the platform has).
SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, name))

_current: Lifecycle | None = None


class Lifecycle(QObject):
    """Ends one application cleanly, once, whichever way it ends."""

    def __init__(self, app: QCoreApplication) -> None:
        super().__init__(app)
        self._app = app
        self._closers: list[Callable[[], object]] = []
        self._done = False
        self._previous: dict[int, Any] = {}
        self._previous_fd: int | None = None
        self._sockets: tuple[socket.socket, socket.socket] | None = None
        self._notifier: QSocketNotifier | None = None
        self.received: list[int] = []  # the signals that ended it (tests, the log)
        app.aboutToQuit.connect(self.end)
        atexit.register(self._at_exit)
        self._install_signals()

    @property
    def ended(self) -> bool:
        return self._done

    def add(self, closer: Callable[[], object]) -> None:
        """Call ``closer`` (no arguments) when the app ends, after the windows' own ``shutdown``."""
        self._closers.append(closer)

    # -- the one end ----------------------------------------------------------------------------
    def end(self) -> None:
        """Close the windows and stop their threads, then the registered closers. Idempotent."""
        if self._done:
            return
        self._done = True
        self._restore_signals()
        windows = _windows_with_shutdown()
        for window in windows:
            with contextlib.suppress(RuntimeError):  # RuntimeError: its C++ object is already gone
                if window.isVisible():
                    window.close()  # saves the window's state; its closeEvent shuts it down
        for step in [w.shutdown for w in windows] + list(reversed(self._closers)):
            try:
                step()
            except RuntimeError as exc:  # a Qt object deleted meanwhile: nothing left to stop
                log.debug("at exit: %s", exc)
            except Exception:  # one failing closer must not keep the others from running
                log.exception("a closer failed while the app was ending")
        log.info("the app ended cleanly")

    def quit(self) -> None:
        """End the event loop after closing the windows (as a signal does)."""
        self.end()
        self._app.quit()

    def _at_exit(self) -> None:
        if not self._done:
            log.info("Python is exiting with the app still open: closing it first")
            self.end()

    # -- signals --------------------------------------------------------------------------------
    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set from the main thread
        reader, writer = socket.socketpair()
        reader.setblocking(False)
        writer.setblocking(False)
        try:
            self._previous_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
        except (ValueError, OSError) as exc:
            log.debug("no signal wake-up: %s", exc)
            reader.close()
            writer.close()
            return
        self._sockets = (reader, writer)
        for sig in SIGNALS:
            try:
                self._previous[sig] = signal.signal(sig, self._on_signal)
            except (OSError, ValueError):  # not settable here
                continue
        self._notifier = QSocketNotifier(reader.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._on_wakeup)

    def _on_signal(self, signum: int, _frame: object) -> None:
        """The Python-level handler only has to exist, so that the wake-up byte is written; the
        event loop's notifier does the work (a signal before the loop runs is handled once it does)."""

    def _on_wakeup(self, *_args: object) -> None:
        if self._sockets is None:
            return
        try:
            data = self._sockets[0].recv(64)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        signums = [b for b in data if b in SIGNALS] or [0]
        if self._done:
            return
        self.received.extend(signums)
        names = ", ".join(_signal_name(s) for s in signums)
        log.info("%s received: closing the app", names)
        self.quit()

    def _restore_signals(self) -> None:
        if self._sockets is None:
            return
        if threading.current_thread() is threading.main_thread():
            for sig, handler in self._previous.items():
                with contextlib.suppress(OSError, ValueError, TypeError):
                    signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
            with contextlib.suppress(OSError, ValueError):
                signal.set_wakeup_fd(self._previous_fd if self._previous_fd is not None else -1)
        if self._notifier is not None:
            self._notifier.setEnabled(False)
        for s in self._sockets:
            s.close()
        self._sockets = None


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return "a signal"


def _windows_with_shutdown() -> list[Any]:
    app = QCoreApplication.instance()
    if app is None or not hasattr(app, "topLevelWidgets"):
        return []
    try:
        return [w for w in app.topLevelWidgets() if callable(getattr(w, "shutdown", None))]
    except RuntimeError:
        return []


def install(app: QCoreApplication | None = None) -> Lifecycle:
    """The application's lifecycle (made on first call; a new one once the previous has ended)."""
    global _current
    app = app or QCoreApplication.instance()
    if app is None:
        raise RuntimeError("create the QApplication first")
    if _current is None or _current.ended or _current._app is not app:
        _current = Lifecycle(app)
    return _current


def current() -> Lifecycle | None:
    return _current
