"""The one logging set-up (core.logsetup), used by the entry points only."""

from __future__ import annotations

import logging

import pytest

from pneumo_desktop.core import logsetup


@pytest.fixture
def bare_root():
    """The root logger without handlers for the test, restored afterwards."""
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    root.handlers.clear()
    yield root
    for h in root.handlers:
        if h not in saved:
            h.close()
    root.handlers[:] = saved
    root.setLevel(level)
    logging.captureWarnings(False)


def test_pydicom_filter() -> None:
    def record(name: str) -> logging.LogRecord:
        return logging.LogRecord(name, logging.ERROR, __file__, 1, "m", None, None)

    assert not logsetup.without_pydicom_logs(record("pydicom"))
    assert not logsetup.without_pydicom_logs(record("pydicom.pixels"))
    assert logsetup.without_pydicom_logs(record("pydicomish")) and logsetup.without_pydicom_logs(record("x"))


def test_console_quiet_and_verbose(bare_root) -> None:
    bare_root.handlers.clear()  # pytest's capture handlers, added for the call
    logsetup.configure_console(False, levels={"pneumo_desktop.net": logging.INFO})
    assert bare_root.level == logging.WARNING and len(bare_root.handlers) == 1
    assert logsetup.without_pydicom_logs in bare_root.handlers[0].filters
    assert logging.getLogger("pneumo_desktop.net").level == logging.INFO
    logsetup.configure_console(False)
    assert len(bare_root.handlers) == 1  # no second handler
    logging.getLogger("pneumo_desktop.net").setLevel(logging.NOTSET)


def test_file_once(bare_root, tmp_path) -> None:
    bare_root.handlers.clear()
    path = tmp_path / "logs" / "app.log"
    assert logsetup.configure_file(path, logging.INFO, console=False) == path
    logsetup.configure_file(path, logging.INFO, console=False)
    assert len(bare_root.handlers) == 1 and bare_root.level == logging.INFO
    logging.getLogger("pneumo_desktop.test").info("hello")
    bare_root.handlers[0].flush()
    assert "hello" in path.read_text(encoding="utf-8")
