"""The viewer: loading off the GUI thread, zoom, window/level, heatmap overlay, metadata, privacy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QApplication

from pneumo_desktop.core.results import UNREADABLE
from pneumo_desktop.gui.main_window import MainWindow
from pneumo_desktop.gui.viewer import ViewerPanel, heatmap_rgba, window_lut

from .conftest import SCAN_TIMEOUT_MS


def scan_and_select(qtbot, window: MainWindow, paths: list[Path | str], name: str) -> None:  # noqa: ANN001
    with qtbot.waitSignal(window.scan_finished, timeout=SCAN_TIMEOUT_MS):
        window.open_paths(paths)
    for row in range(window.proxy.rowCount()):
        if window.proxy.index(row, 0).data() == name:
            window.select_row(row)
            break
    else:
        raise AssertionError(f"{name} not in the table")
    qtbot.waitUntil(
        lambda: window.viewer.xray is not None and window.viewer.xray.name == name, timeout=10_000
    )


def mouse(
    view,
    kind: QMouseEvent.Type,
    x: float,
    y: float,
    button: Qt.MouseButton,  # noqa: ANN001
    buttons: Qt.MouseButton,
) -> None:
    pos = QPointF(x, y)
    event = QMouseEvent(
        kind, pos, view.viewport().mapToGlobal(pos), button, buttons, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(view.viewport(), event)


def test_zoom_fit_and_actual_size(qtbot, window, images) -> None:  # noqa: ANN001
    scan_and_select(qtbot, window, images, images[2].name)
    view = window.viewer.view
    assert view.image_size() == (160, 160)
    fitted = view.zoom()
    assert fitted > 1  # a 160 px image is enlarged to fit the panel
    window.viewer.actual_button.click()
    assert view.zoom() == pytest.approx(1.0)
    view.zoom_by(2.0)
    assert view.zoom() == pytest.approx(2.0)
    wheel = QWheelEvent(
        QPointF(50, 50),
        QPointF(view.viewport().mapToGlobal(QPoint(50, 50))),
        QPoint(0, 0),
        QPoint(0, 120),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(view.viewport(), wheel)
    assert view.zoom() > 2.0
    window.viewer.fit_button.click()
    assert view.zoom() == pytest.approx(fitted)
    assert window.viewer.zoom_label.text() == f"{fitted * 100:.0f} %"


def test_window_level_right_drag_and_reset(qtbot, window, images) -> None:  # noqa: ANN001
    scan_and_select(qtbot, window, images, images[0].name)
    view = window.viewer.view
    before = view.grab().toImage()
    mouse(
        view,
        QMouseEvent.Type.MouseButtonPress,
        100,
        100,
        Qt.MouseButton.RightButton,
        Qt.MouseButton.RightButton,
    )
    mouse(view, QMouseEvent.Type.MouseMove, 40, 160, Qt.MouseButton.NoButton, Qt.MouseButton.RightButton)
    mouse(
        view,
        QMouseEvent.Type.MouseButtonRelease,
        40,
        160,
        Qt.MouseButton.RightButton,
        Qt.MouseButton.NoButton,
    )
    assert view.level < 0.5  # dragged down: darker
    assert view.width_ < 1.0  # dragged left: more contrast
    assert view.grab().toImage() != before
    window.viewer.reset_window_button.click()
    assert (view.level, view.width_) == (0.5, 1.0)


def test_window_lut_maps_the_window_to_full_range() -> None:
    lut = window_lut(0.5, 1.0)
    assert lut[0] == 0 and lut[-1] == 255 and np.all(np.diff(lut.astype(int)) >= 0)
    narrow = window_lut(0.5, 0.2)
    assert narrow[int(0.35 * 4095)] == 0 and narrow[int(0.65 * 4095)] == 255


def test_heatmap_overlay_from_the_model_thread(qtbot, window, images) -> None:  # noqa: ANN001
    if not window.model_info.heatmaps:
        assert window.viewer.heatmap_box.isHidden() and window.viewer.opacity_slider.isHidden()
        pytest.skip("pneumo_desktop.core.explain is not available")
    scan_and_select(qtbot, window, images, images[1].name)
    viewer = window.viewer
    assert not viewer.heatmap_box.isHidden() and not viewer.opacity_slider.isHidden()
    with qtbot.waitSignal(window.service.worker.heatmap_ready, timeout=SCAN_TIMEOUT_MS) as blocker:
        viewer.heatmap_box.setChecked(True)
    heat = blocker.args[1]
    assert heat.shape == (160, 160) and 0.0 <= heat.min() and heat.max() <= 1.0
    qtbot.waitUntil(lambda: viewer.view._heat.isVisible(), timeout=5000)  # noqa: SLF001
    viewer.opacity_slider.setValue(80)
    assert viewer.view._heat.opacity() == pytest.approx(0.8)  # noqa: SLF001
    viewer.heatmap_box.setChecked(False)
    assert not viewer.view._heat.isVisible()  # noqa: SLF001
    assert window.heatmap_action.isVisible()


def test_heatmap_controls_hidden_without_the_explain_module(qtbot, make_window, monkeypatch) -> None:  # noqa: ANN001
    from pneumo_desktop.gui import service

    monkeypatch.setattr(service, "explain_module", lambda: None)
    window = make_window()
    assert window.model_info.heatmaps is False
    assert window.viewer.heatmap_box.isHidden() and window.viewer.opacity_slider.isHidden()
    assert not window.heatmap_action.isVisible()


def test_heatmap_colours_fade_out_where_cool() -> None:
    rgba = heatmap_rgba(np.array([[0.0, 0.5, 1.0]]))
    assert rgba.shape == (1, 3, 4)
    assert rgba[0, 0, 3] == 0 and rgba[0, 2, 3] == 255
    assert rgba[0, 2, 0] > rgba[0, 2, 2]  # hot is red


def test_unreadable_file_shows_a_sentence(qtbot, window, tmp_path) -> None:  # noqa: ANN001
    bad = tmp_path / "letter.txt"
    bad.write_text("Dear colleague", encoding="utf-8")
    with qtbot.waitSignal(window.scan_finished, timeout=SCAN_TIMEOUT_MS):
        window.open_paths([bad])
    assert window.results_model.result(0).label == UNREADABLE
    with qtbot.waitSignal(window.viewer.image_failed, timeout=10_000) as blocker:
        window.viewer.show_result(None)  # the first row was selected during the scan: show it again
        window.viewer.show_result(window.results_model.result(0))
    assert blocker.args[1] == "Not an image: the file contains text."
    assert window.viewer.placeholder.text().startswith("This file cannot be displayed.")
    assert "Traceback" not in window.viewer.placeholder.text()


def test_stale_loads_are_ignored(qtbot) -> None:  # noqa: ANN001
    panel = ViewerPanel()
    qtbot.addWidget(panel)
    try:
        panel._on_loaded(-5, object(), np.zeros((4, 4), np.uint16))  # noqa: SLF001 - an old request
        assert panel.xray is None
    finally:
        panel.shutdown()


def test_dicom_metadata_and_hidden_patient_name(qtbot, window, dicom_dir) -> None:  # noqa: ANN001
    path = dicom_dir / "dx_chest_mono2_8bit_implicit_le.dcm"
    scan_and_select(qtbot, window, [path], path.name)
    viewer = window.viewer
    fields = viewer._fields  # noqa: SLF001
    assert fields["Format"].text().startswith("DICOM")
    assert fields["Modality"].text() == "DX"
    assert fields["Size"].text() == "1024 × 1024 pixels"
    name = viewer.xray.patient_name
    assert name  # the file has one
    assert viewer.patient_label.text() == "Hidden"
    viewer.patient_button.click()
    assert viewer.patient_label.text() == name.replace("^", " ")
    viewer.patient_button.click()
    assert viewer.patient_label.text() == "Hidden"
