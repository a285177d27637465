"""``pneumo-desktop`` / ``python -m pneumo_desktop``: start the desktop app.

The window appears at once; TensorFlow and the model load in the background. Paths given on the
command line are opened (and scanned as soon as the model is ready).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import traceback
from types import TracebackType

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
    from PySide6.QtCore import QTimer
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

    from .single import SingleInstance, bring_to_front, refuse_second_instance

    guard = SingleInstance(parent=app)
    if not guard.claim():  # one app per results store: the running one comes to the front
        return refuse_second_instance(guard, args.paths)

    from ..core.errors import StoreError
    from .main_window import MainWindow

    try:
        window = MainWindow(args.model_dir, batch_size=max(1, args.batch_size))
    except StoreError as exc:  # disk full, locked too long, not writable: say so, no traceback
        return refuse_unusable_store(exc)
    guard.activated.connect(lambda paths: bring_to_front(window, paths))
    from . import lifecycle

    ending = lifecycle.install(app)  # a clean end however the app ends (closed, SIGTERM, exit)
    ending.add(guard.close)
    window.show()
    log.info("window shown %.2f s after start-up began", time.perf_counter() - t0)
    if args.paths:
        missing = [p for p in args.paths if not os.path.exists(p)]
        found = [p for p in args.paths if os.path.exists(p)]
        if found:
            window.open_paths(found)
        if missing:
            QTimer.singleShot(
                0, lambda: window.statusBar().showMessage(f"Not found: {', '.join(missing)}", 10000)
            )
    code = app.exec()
    ending.end()  # already done on aboutToQuit; the window's own shutdown, then the guard
    guard.close()
    window.shutdown()
    log.info("Pneumo Desktop exiting (%d)", code)
    return int(code)


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
