"""The window with a file name that is not UTF-8 (issue 16): a row with a visible U+FFFD."""

from __future__ import annotations

import os
import sys

import pytest

from tests.gui.conftest import SCAN_TIMEOUT_MS, write_images


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="needs a file system that takes any bytes")
def test_a_name_that_is_not_utf8_shows_a_replacement_character(qtbot, make_window, tmp_path) -> None:
    (good,) = write_images(tmp_path / "d", 1)
    bad = os.fsdecode(os.fsencode(str(good.parent)) + b"/bad_\xff.png")
    os.rename(good, bad)
    window = make_window()
    with qtbot.waitSignal(window.scan_finished, timeout=SCAN_TIMEOUT_MS):
        window.open_paths([str(good.parent)])
    assert window.proxy.rowCount() == 1
    assert window.proxy.index(0, 0).data() == "bad_\ufffd.png"
    window.select_row(0)
    qtbot.waitUntil(lambda: window.viewer.xray is not None, timeout=10_000)  # the file itself opens
    assert window.viewer._fields["File"].text().endswith("bad_\ufffd.png")


def test_the_apps_csv_in_a_watched_folder_is_not_scanned(qtbot, make_window, tmp_path) -> None:
    from pneumo_desktop.core.outputs import OutputFilter
    from pneumo_desktop.core.resultfiles import write_csv

    folder = tmp_path / "watched"
    write_images(folder, 2)
    write_csv([], folder / "export.csv")  # as the app's Export CSV does (core.resultfiles.write_csv)
    window = make_window()
    with qtbot.waitSignal(window.scan_finished, timeout=SCAN_TIMEOUT_MS):
        window.open_paths([str(folder)])
    assert sorted(r.name for r in window.results_model.results) == ["img000.png", "img001.png"]
    assert str(folder / "export.csv") in OutputFilter()  # remembered for every later scan
