"""The app's entry point in a windowed build: sys.stdout/sys.stderr are None (PneumoDesktop.exe)."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest

from pneumo_desktop import __main__ as entry


def no_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a PyInstaller windowed (console=False) app starts with. Called in the test itself:
    pytest's output capture replaces sys.stdout again between a fixture and the test."""
    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr(sys, "stderr", None)


def test_streams_left_alone_with_a_console(monkeypatch: pytest.MonkeyPatch) -> None:
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(entry, "_attach_parent_console", lambda: pytest.fail("must not attach"))
    assert entry.ensure_output_streams("--scan") is None
    assert sys.stdout is out and sys.stderr is err


def test_no_console_writes_to_a_log_file(monkeypatch: pytest.MonkeyPatch) -> None:
    no_console(monkeypatch)
    path = entry.ensure_output_streams("--scan")
    created = sys.stdout
    try:
        assert path is not None
        assert path.parent == Path(os.environ["PNEUMO_DATA_DIR"]) / "logs"
        assert path.name.startswith("scan-") and path.suffix == ".log"
        assert sys.stdout is not None and sys.stderr is not None
        print("Scanned 3 files")
        print("pneumo-scan: a warning", file=sys.stderr)
        text = path.read_text(encoding="utf-8")  # line-buffered: already on disk
        assert "no console" in text
        assert "Scanned 3 files" in text and "a warning" in text
    finally:
        created.close()


def test_windows_parent_console_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    no_console(monkeypatch)
    console = io.StringIO()
    monkeypatch.setattr(entry, "_attach_parent_console", lambda: True)
    monkeypatch.setattr(entry, "_open_console", lambda: console)
    assert entry.ensure_output_streams("--self-test") is None
    assert sys.stdout is console and sys.stderr is console
    assert not (Path(os.environ["PNEUMO_DATA_DIR"]) / "logs").exists()


def test_console_that_cannot_be_opened_falls_back_to_a_file(monkeypatch: pytest.MonkeyPatch) -> None:
    no_console(monkeypatch)

    def refuse() -> io.StringIO:
        raise OSError("CONOUT$")

    monkeypatch.setattr(entry, "_attach_parent_console", lambda: True)
    monkeypatch.setattr(entry, "_open_console", refuse)
    path = entry.ensure_output_streams("--self-test")
    created = sys.stdout
    try:
        assert path is not None and path.name.startswith("self-test-")
    finally:
        created.close()


def test_only_the_missing_stream_is_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", None)
    path = entry.ensure_output_streams("--scan")
    created = sys.stderr
    try:
        assert sys.stdout is out
        assert path is not None and created is not None
    finally:
        created.close()


def test_attach_is_windows_only() -> None:
    if sys.platform == "win32":
        pytest.skip("the real AttachConsole runs only on Windows")
    assert entry._attach_parent_console() is False


def test_scan_without_console_prints_to_the_log(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """main(['--scan', ...]) in a windowed build: the CLI's output (here a usage error) is in the log."""
    no_console(monkeypatch)
    code = entry.main(["--scan", str(tmp_path / "missing-folder")])
    created = sys.stdout
    try:
        assert code == 2
        logs = list((Path(os.environ["PNEUMO_DATA_DIR"]) / "logs").glob("scan-*.log"))
        assert len(logs) == 1
        assert "no such file or folder" in logs[0].read_text(encoding="utf-8")
    finally:
        created.close()


def test_gui_mode_leaves_streams_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    no_console(monkeypatch)
    import pneumo_desktop.gui.app as gui_app

    monkeypatch.setattr(gui_app, "main", lambda argv: 0)
    assert entry.main([]) == 0
    assert sys.stdout is None and sys.stderr is None
