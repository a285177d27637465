"""First run: the xcb library check names the packages to install; one app per results store."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pneumo_desktop.gui import xcbcheck
from pneumo_desktop.gui.single import SingleInstance, instance_key, refuse_second_instance

BOGUS = {"libpneumo-no-such-library.so.7": "libpneumo-bogus7"}


def test_a_missing_library_is_found_and_named() -> None:
    assert xcbcheck.missing_libraries(BOGUS) == BOGUS
    present = {"libc.so.6": "libc6"}
    assert xcbcheck.missing_libraries(present) == {}
    message = xcbcheck.xcb_problem(env={"QT_QPA_PLATFORM": "xcb"}, libraries={**present, **BOGUS})
    if sys.platform.startswith("linux"):
        assert "sudo apt-get install -y libpneumo-bogus7" in message
        assert "libc6" not in message


@pytest.mark.parametrize(
    ("argv", "env", "xcb"),
    [
        ([], {"QT_QPA_PLATFORM": "offscreen"}, False),
        ([], {"QT_QPA_PLATFORM": "xcb"}, True),
        ([], {"QT_QPA_PLATFORM": "wayland"}, False),
        ([], {}, True),
        ([], {"XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": "wayland-0"}, False),
        (["-platform", "offscreen"], {"QT_QPA_PLATFORM": "xcb"}, False),
    ],
)
def test_the_check_runs_only_when_qt_will_use_xcb(argv, env, xcb) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("X11 only")
    assert xcbcheck.platform_will_be_xcb(argv, env) is xcb
    assert (xcbcheck.xcb_problem(argv, env, BOGUS) != "") is xcb


def test_the_app_prints_the_packages_instead_of_qts_message(tmp_path) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("X11 only")
    code = (
        "import sys; from pneumo_desktop.gui import xcbcheck; "
        f"xcbcheck.XCB_LIBRARIES = {BOGUS!r}; "
        "from pneumo_desktop.gui.app import main; sys.exit(main([]))"
    )
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "xcb",
        "PYTHONPATH": os.getcwd(),
        "PNEUMO_DATA_DIR": str(tmp_path),
    }
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1
    assert "sudo apt-get install -y libpneumo-bogus7" in proc.stderr
    assert "Could not load the Qt platform plugin" not in proc.stderr


def test_a_second_launch_brings_the_first_to_the_front(qtbot) -> None:
    key = instance_key() + "-test"
    first, second = SingleInstance(key), SingleInstance(key)
    try:
        assert first.claim()
        assert not second.claim()
        with qtbot.waitSignal(first.activated, timeout=5_000) as blocker:
            assert refuse_second_instance(second, ["/tmp/some film.dcm"]) == 0
        assert blocker.args == [["/tmp/some film.dcm"]]
    finally:
        first.close()
        second.close()
    third = SingleInstance(key)  # the first one closed: the next launch is the running app
    try:
        assert third.claim()
    finally:
        third.close()


def test_each_results_store_has_its_own_key(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PNEUMO_DATA_DIR", str(tmp_path / "a"))
    a = instance_key()
    monkeypatch.setenv("PNEUMO_DATA_DIR", str(tmp_path / "b"))
    assert instance_key() != a
