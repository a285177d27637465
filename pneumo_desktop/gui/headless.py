"""Helpers for scripts that drive the window without a user (screenshots, benchmarks)."""

from __future__ import annotations

from PySide6.QtCore import QEventLoop, QTimer


def wait_for_signal(signal, timeout_ms: int = 300_000) -> tuple:
    """Run the event loop until ``signal`` fires; return its arguments. Exits the script on timeout."""
    loop, got = QEventLoop(), []

    def slot(*a: object) -> None:
        got.append(a)
        loop.quit()

    signal.connect(slot)
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()
    signal.disconnect(slot)
    if not got:
        raise SystemExit(f"timed out waiting for {signal}")
    return got[0]
