"""``pneumo-desktop`` / ``python -m pneumo_desktop``: start the desktop app.

A small start-up panel appears at once and the event loop runs from then on: the window's modules
(numpy, the results store, the session...) are imported in a background thread, then the window is
built and shown; TensorFlow and the model load in the background after that. Paths given on the
command line are opened (and scanned as soon as the model is ready).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import threading
import time
import traceback
from types import TracebackType
from typing import Any

from .. import __version__
from ..core import wording

log = logging.getLogger(__name__)


def _ensure_std_streams() -> None:
    """In a windowed/frozen app stdout/stderr are None; give libraries that print somewhere harmless."""
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # lives as long as the app


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pneumo-desktop",
        description=f"Screen chest X-rays for pneumonia, offline. {wording.DISCLAIMER}",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or folders to scan at start-up")
    p.add_argument("--model-dir", help="model folder (default: the bundled model, or $PNEUMO_MODEL_DIR)")
    p.add_argument("--batch-size", type=int, default=16, help=argparse.SUPPRESS)
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages too")
    p.add_argument("--version", action="version", version=f"Pneumo Desktop {__version__}")
    return p


def _excepthook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    """Unexpected errors: full detail to the log, a human sentence on screen, never a traceback."""
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    log.critical("unhandled error:\n%s", "".join(traceback.format_exception(exc_type, exc, tb)))
    try:
        from PySide6.QtCore import QThread
        from PySide6.QtWidgets import QApplication, QMessageBox

        app = QApplication.instance()
        if app is None or QThread.currentThread() is not app.thread():
            return
        from .logs import log_path

        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Something went wrong",
            "Pneumo Desktop hit an unexpected problem. Your results so far are saved.",
            QMessageBox.StandardButton.Ok,
        )
        box.setInformativeText(
            f"The details were written to the log file:\n{log_path()}\n\n"
            "Help > Copy diagnostics copies them for support."
        )
        box.exec()
    except Exception:  # the hook itself must never raise
        log.exception("error while reporting an error")


def main(argv: list[str] | None = None) -> int:
    t0 = time.perf_counter()
    _ensure_std_streams()
    argv = list(sys.argv[1:] if argv is None else argv)
    from PySide6.QtWidgets import QApplication

    from .logs import configure_logging
    from .settings import APPLICATION, ORGANISATION

    existing = QApplication.instance()
    if existing is None:  # before Qt loads its platform plugin: name missing packages, not Qt's riddle
        from .xcbcheck import xcb_problem

        problem = xcb_problem(argv)
        if problem:
            sys.stderr.write(problem + "\n")
            return 1
    app = existing or QApplication([sys.argv[0] if sys.argv else "pneumo-desktop", *argv])
    args = build_parser().parse_intermixed_args(argv if existing else app.arguments()[1:])  # Qt took its own
    path = configure_logging(logging.DEBUG if args.verbose else logging.INFO)
    log.info("Pneumo Desktop %s starting (log file %s)", __version__, path)
    sys.excepthook = _excepthook
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationVersion(__version__)
    if isinstance(app, QApplication):  # always, but the type checker sees a QCoreApplication
        app.setApplicationDisplayName("Pneumo Desktop")

    from .single import SingleInstance, refuse_second_instance

    guard = SingleInstance(parent=app)
    if not guard.claim():  # one app per results store: the running one comes to the front
        return refuse_second_instance(guard, args.paths)

    from . import lifecycle

    ending = lifecycle.install(app)  # a clean end however the app ends (closed, SIGTERM, exit)
    ending.add(guard.close)
    launch = _Launch(app, args, t0)
    ending.add(launch.close_store)  # closers run after the windows' own shutdown
    guard.activated.connect(launch.activated)
    code = app.exec()
    ending.end()  # already done on aboutToQuit; the window's own shutdown, then the guard
    guard.close()
    if launch.window is not None:
        launch.window.shutdown()
    if launch.code is not None:  # the window could not be built: that exit code
        code = launch.code
    log.info("Pneumo Desktop exiting (%d)", code)
    return int(code)


#: The window's own modules, imported off the GUI thread while the start-up panel shows (the
#: heat-map legend is otherwise imported while the window is built).
_WINDOW_MODULES = ("pneumo_desktop.gui.main_window", "pneumo_desktop.gui.heatlegend")


class _Launch:
    """Shows the start-up panel; in a background thread, imports the window's modules and opens
    the results store (the event loop keeps running: that is Python code and file work, and the
    interpreter switches threads every few milliseconds); then builds and shows the window on the
    GUI thread and closes the panel. Paths from a second launch that arrive meanwhile wait for the
    window."""

    def __init__(self, app: Any, args: argparse.Namespace, t0: float) -> None:
        from PySide6.QtCore import QTimer

        self.window: Any = None  # the MainWindow, once built
        self.code: int | None = None  # set when the window cannot be built
        self._app = app
        self._args = args
        self._t0 = t0
        self._pending: list[list[str]] = []
        self._store: Any = None  # core.store.ResultsStore, opened in the background
        self._error: BaseException | None = None  # what the background thread raised
        self._quit_on_last = app.quitOnLastWindowClosed()
        app.setQuitOnLastWindowClosed(False)  # the panel closing before the window shows is no quit
        self._panel = _startup_panel()
        log.info("start-up panel shown %.2f s after start-up began", time.perf_counter() - t0)
        self._thread = threading.Thread(target=self._import, name="pneumo-launch", daemon=True)
        self._thread.start()
        self._poll = QTimer()
        self._poll.setInterval(10)
        self._poll.timeout.connect(self._check)
        self._poll.start()

    def _import(self) -> None:
        try:
            for name in _WINDOW_MODULES:
                importlib.import_module(name)
            from ..core.store import ResultsStore

            self._store = ResultsStore()  # its connection may be used from any thread
        except BaseException as exc:  # a broken install, an unusable store: said on the GUI thread
            self._error = exc

    def close_store(self) -> None:
        """After the window's shutdown (it does not close a store it was given). The app may end
        while the background thread still opens it (SIGTERM during start-up): wait for that first."""
        self._thread.join(timeout=30)
        if self._store is not None:
            self._store.close()
            self._store = None

    def activated(self, paths: list[str]) -> None:
        """Another launch handed over (bring the window to the front, open its paths)."""
        if self.window is None:
            self._pending.append(list(paths))
            return
        from .single import bring_to_front

        bring_to_front(self.window, paths)

    def _check(self) -> None:
        if self._thread.is_alive():
            return
        self._poll.stop()
        try:
            self._build()
        finally:
            self._panel.close()
            self._app.setQuitOnLastWindowClosed(self._quit_on_last)

    def _build(self) -> None:
        from ..core.errors import StoreError

        args = self._args
        try:
            if self._error is not None:
                raise self._error
            from .main_window import MainWindow

            window = MainWindow(args.model_dir, store=self._store, batch_size=max(1, args.batch_size))
        except StoreError as exc:  # disk full, locked too long, not writable: say so, no traceback
            self._finish(refuse_unusable_store(exc))
            return
        except BaseException as exc:  # a broken install or a bug: the log and one sentence, exit 1
            _excepthook(type(exc), exc, exc.__traceback__)
            self._finish(1)
            return
        self.window = window
        window.show()  # before the panel closes: the app is never without a window
        log.info("window shown %.2f s after start-up began", time.perf_counter() - self._t0)
        if args.paths:
            from PySide6.QtCore import QTimer

            missing = [p for p in args.paths if not os.path.exists(p)]
            found = [p for p in args.paths if os.path.exists(p)]
            if found:
                window.open_paths(found)
            if missing:
                QTimer.singleShot(
                    0, lambda: window.statusBar().showMessage(f"Not found: {', '.join(missing)}", 10000)
                )
        for paths in self._pending:
            self.activated(paths)
        self._pending.clear()

    def _finish(self, code: int) -> None:
        self.code = code
        self._app.exit(code)


def _startup_panel() -> Any:  # a QWidget
    """A small frameless panel with the app's name: what the user sees in the moment the window's
    modules load (Qt's widgets only: nothing else is imported for it)."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QFrame, QLabel

    panel = QLabel(f"<b>Pneumo Desktop</b> {__version__}<br><br>Starting…")
    panel.setWindowFlags(Qt.WindowType.SplashScreen | Qt.WindowType.FramelessWindowHint)
    panel.setFrameShape(QFrame.Shape.Box)  # frameless: a line shows where it ends on the desktop
    panel.setAlignment(Qt.AlignmentFlag.AlignCenter)
    panel.setMargin(32)
    panel.setMinimumSize(360, 160)
    panel.setWindowTitle("Pneumo Desktop")
    panel.show()
    return panel


if __name__ == "__main__":
    sys.exit(main())


def refuse_unusable_store(exc: Exception) -> int:
    """The results store cannot be opened (a damaged one is moved aside by core.storage instead):
    one plain message, in a dialog and on stderr, and exit code 4 (core.errors.EXIT_STORE)."""
    from PySide6.QtWidgets import QMessageBox

    from ..core.errors import EXIT_STORE

    log.error("the results store cannot be used: %s", exc)
    sys.stderr.write(f"Pneumo Desktop: {exc}\n")
    QMessageBox.critical(None, "Pneumo Desktop cannot start", str(exc))
    return EXIT_STORE
