"""Entry point for ``python -m pneumo_desktop`` and for the frozen (PyInstaller) app."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TextIO

#: Command-line modes of the app's executable; anything else starts the GUI.
CLI_MODES = ("--scan", "--self-test")


def _attach_parent_console() -> bool:
    """Windows: attach to the console of the process that started us (cmd, PowerShell, a .bat)."""
    if sys.platform != "win32":
        return False
    try:
        import ctypes

        return bool(ctypes.windll.kernel32.AttachConsole(-1))  # ATTACH_PARENT_PROCESS
    except Exception:  # no parent console (started from Explorer or a shortcut)
        return False


def _open_console() -> TextIO:
    """The attached console's screen buffer, for writing (line-buffered, so output is not delayed)."""
    return open("CONOUT$", "w", encoding="utf-8", errors="replace", buffering=1)


def _log_file(mode: str) -> Path:
    """A new file for this run's output in the user's log folder (temp folder if that is not writable)."""
    name = f"{mode.lstrip('-')}-{time.strftime('%Y%m%d-%H%M%S')}.log"
    try:
        from .core.paths import user_data_dir

        folder = user_data_dir() / "logs"
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        import tempfile

        folder = Path(tempfile.gettempdir())
    return folder / name


def ensure_output_streams(mode: str) -> Path | None:
    """Give a command-line mode somewhere to print when the process has no console.

    A windowed Windows build (``PneumoDesktop.exe``) starts with ``sys.stdout`` and ``sys.stderr``
    set to None, so ``PneumoDesktop.exe --scan ...`` would print nothing, and its first ``print``
    would fail. The process then attaches to the console it was started from, if any, and writes
    there. Otherwise (started from Explorer or a shortcut) the output goes to a file in the user's
    log folder, whose path is returned; the CSV and JSON exports go where ``--csv``/``--json`` say
    either way. Streams that exist are left alone: a macOS app started from Finder has streams
    (to /dev/null), so there ``--scan`` is run from a terminal as
    ``PneumoDesktop.app/Contents/MacOS/PneumoDesktop --scan ...``.
    """
    if sys.stdout is not None and sys.stderr is not None:
        return None
    stream: TextIO | None = None
    path: Path | None = None
    if _attach_parent_console():
        try:
            stream = _open_console()
        except OSError:
            stream = None
    if stream is None:
        path = _log_file(mode)
        stream = open(path, "a", encoding="utf-8", errors="replace", buffering=1)
        stream.write(
            f"PneumoDesktop {mode}: {time.strftime('%Y-%m-%d %H:%M:%S')} (no console: output here)\n"
        )
    if sys.stdout is None:
        sys.stdout = stream
    if sys.stderr is None:
        sys.stderr = stream
    return path


def main(argv: list[str] | None = None) -> int:
    import multiprocessing

    # The model runs in a child process (core.remote, spawn): in the frozen app that child is this
    # executable again, and freeze_support() runs it as the child instead of opening a window.
    multiprocessing.freeze_support()
    argv = list(sys.argv[1:] if argv is None else argv)
    if getattr(sys, "frozen", False):
        # The bundle holds Keras's TensorFlow back end only: a keras.json naming another must not
        # stop the app (the environment variable wins over that file).
        os.environ["KERAS_BACKEND"] = "tensorflow"
    if argv[:1] and argv[0] in CLI_MODES:
        ensure_output_streams(argv[0])
    if argv[:1] == ["--scan"]:
        from .cli import main as scan_main

        return scan_main(argv[1:])
    if argv[:1] == ["--self-test"]:
        from .selftest import main as selftest_main

        return selftest_main(argv[1:])
    from .gui.app import main as gui_main

    return gui_main(argv)


if __name__ == "__main__":
    sys.exit(main())
