"""Logging to a rotating file in the user's data folder, and the "Copy diagnostics" text.

In a windowed or frozen app ``sys.stdout``/``sys.stderr`` may be ``None``: nothing here writes to
them unless they exist.
"""

from __future__ import annotations

import logging
import logging.handlers
import platform
import sys
from collections import deque
from pathlib import Path

from .. import __version__
from ..core.logsetup import configure_file
from ..core.paths import user_data_dir

LOG_NAME = "pneumo_desktop.log"


def log_dir() -> Path:
    path = user_data_dir() / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def log_path() -> Path:
    return log_dir() / LOG_NAME


def configure_logging(level: int = logging.INFO, console: bool = True) -> Path:
    """Send the app's logs to a rotating file (and to stderr when there is one). Idempotent.

    The set-up itself is ``core.logsetup``'s (one for every entry point)."""
    return configure_file(log_path(), level, console)


def last_log_lines(n: int = 60) -> list[str]:
    try:
        with open(log_path(), encoding="utf-8", errors="replace") as fh:
            return [line.rstrip("\n") for line in deque(fh, maxlen=n)]
    except OSError:
        return []


def diagnostics_text(model: str = "", device: str = "", model_dir: str = "", lines: int = 60) -> str:
    """What a support person needs, with no patient data (log lines never contain patient names)."""
    from PySide6 import __version__ as pyside_version
    from PySide6.QtCore import qVersion

    out = [
        f"Pneumo Desktop {__version__}",
        f"Model: {model or 'not loaded'}",
        f"Device: {device or 'unknown'}",
        f"Model folder: {model_dir or 'default'}",
        f"OS: {platform.platform()} ({platform.machine()})",
        f"Python: {sys.version.split()[0]}; Qt {qVersion()}; PySide6 {pyside_version}",
        f"Frozen: {bool(getattr(sys, 'frozen', False))}",
        f"Log file: {log_path()}",
        "",
        f"Last {lines} log lines:",
        *last_log_lines(lines),
    ]
    return "\n".join(out)
