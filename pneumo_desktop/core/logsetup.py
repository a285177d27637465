"""The one logging set-up, called from the entry points only (``pneumo-desktop``, ``pneumo-scan``,
``pneumo-scan calibrate``, ``pneumo-scan receive``; training may use it too). Library modules only
ever call ``logging.getLogger(__name__)``.

Two shapes: :func:`configure_console` for the command lines (stderr, warnings unless verbose) and
:func:`configure_file` for the windowed app (a rotating file in the user's data folder, and
warnings on stderr when there is one: in a windowed or frozen app ``sys.stderr`` may be ``None``).
Calling either again adds no second handler.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from collections.abc import Mapping
from pathlib import Path

CONSOLE_FORMAT = "%(levelname)s %(name)s: %(message)s"
FILE_FORMAT = "%(asctime)s %(levelname)-7s %(threadName)s %(name)s: %(message)s"
_MARK = "_pneumo"  # set on the handlers made here, so a second call adds none


def without_pydicom_logs(record: logging.LogRecord) -> bool:
    """A filter for the applications' log handlers: pydicom logs a traceback for every decoder
    plugin that fails on a damaged file, and the file's row already says what went wrong. (A
    filter, not a level: importing pydicom resets its logger's level, and importing it early
    would cost start-up time.)"""
    return not (record.name == "pydicom" or record.name.startswith("pydicom."))


def _ours(root: logging.Logger) -> list[logging.Handler]:
    return [h for h in root.handlers if getattr(h, _MARK, False)]


def _mark(handler: logging.Handler) -> logging.Handler:
    setattr(handler, _MARK, True)
    return handler


def configure_console(
    verbose: bool = False,
    *,
    quiet_level: int = logging.WARNING,
    fmt: str = CONSOLE_FORMAT,
    levels: Mapping[str, int] | None = None,
) -> None:
    """Log to stderr: DEBUG when ``verbose``, else ``quiet_level`` and without pydicom's decoder
    tracebacks. ``levels`` sets named loggers (e.g. the receiver's own lines at INFO).

    Like :func:`logging.basicConfig`, it adds nothing when the root logger already has handlers
    (an embedding program's, or a test runner's)."""
    logging.basicConfig(level=logging.DEBUG if verbose else quiet_level, format=fmt)
    for name, level in (levels or {}).items():
        logging.getLogger(name).setLevel(level)
    if not verbose:
        for handler in logging.getLogger().handlers:
            handler.addFilter(without_pydicom_logs)


def configure_file(path: Path, level: int = logging.INFO, console: bool = True) -> Path:
    """Send the logs to a rotating file at ``path`` (and warnings to stderr when there is one)."""
    root = logging.getLogger()
    if _ours(root):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    file_handler = _mark(
        logging.handlers.RotatingFileHandler(path, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
    )
    file_handler.setFormatter(logging.Formatter(FILE_FORMAT))
    if level > logging.DEBUG:
        file_handler.addFilter(without_pydicom_logs)
    root.addHandler(file_handler)
    if console and sys.stderr is not None:
        stream = _mark(logging.StreamHandler(sys.stderr))
        stream.setLevel(logging.WARNING)
        stream.setFormatter(logging.Formatter(CONSOLE_FORMAT))
        stream.addFilter(without_pydicom_logs)
        root.addHandler(stream)
    root.setLevel(level)
    logging.captureWarnings(True)
    return path
