"""The viewer: loading off the GUI thread, zoom, window/level, heatmap overlay, metadata, privacy."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QApplication

from pneumo_desktop.core.results import OK, PNEUMONIA, UNREADABLE, ScanResult
from pneumo_desktop.gui import viewer as viewer_module
from pneumo_desktop.gui.main_window import MainWindow
from pneumo_desktop.gui.viewer import Heatmap, ViewerPanel, heatmap_rgba, window_lut

from ..conftest import child_copy
from .conftest import SCAN_TIMEOUT_MS, write_images


def scan_and_select(qtbot, window: MainWindow, paths: list[Path | str], name: str) -> None:
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
    button: Qt.MouseButton,
    buttons: Qt.MouseButton,
) -> None:
    pos = QPointF(x, y)
    event = QMouseEvent(
        kind, pos, view.viewport().mapToGlobal(pos), button, buttons, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(view.viewport(), event)


def test_zoom_fit_and_actual_size(qtbot, window, images) -> None:
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


def test_window_level_right_drag_and_reset(qtbot, window, images) -> None:
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


def test_heatmap_overlay_from_the_model_thread(qtbot, window, images, monkeypatch) -> None:
    """A row without a stored heatmap (scanned before heatmaps were stored) asks the model thread."""
    from dataclasses import replace

    if not window.model_info.heatmaps:
        assert window.viewer.heatmap_box.isHidden() and window.viewer.opacity_slider.isHidden()
        pytest.skip("this model gives no class activation map")
    colouring_threads: list[threading.Thread] = []
    from pneumo_desktop.gui import qimages

    real_rgba = qimages.heatmap_rgba

    def spy(heat):  # the real colouring, noting which thread runs it
        colouring_threads.append(threading.current_thread())
        return real_rgba(heat)

    monkeypatch.setattr(qimages, "heatmap_rgba", spy)
    scan_and_select(qtbot, window, images, images[1].name)
    viewer = window.viewer
    row = viewer.current
    assert row is not None and row.heatmap  # the scan stored one
    with qtbot.waitSignal(viewer.image_loaded, timeout=10_000):
        viewer.show_result(None)
        viewer.show_result(replace(row, heatmap=""))
    assert not viewer.heatmap_box.isHidden() and not viewer.opacity_slider.isHidden()
    with qtbot.waitSignal(window.service.heatmap_ready, timeout=SCAN_TIMEOUT_MS) as blocker:
        viewer.heatmap_box.setChecked(True)
    heatmap = blocker.args[1]
    assert isinstance(heatmap, Heatmap) and heatmap.path == str(images[1])
    heat = heatmap.heat
    assert heat.shape == (160, 160) and 0.0 <= heat.min() and heat.max() <= 1.0
    assert (heatmap.image.width(), heatmap.image.height()) == (160, 160)
    qtbot.waitUntil(lambda: viewer.view._heat.isVisible(), timeout=5000)
    assert viewer.heat_legend.isVisible()  # the colour legend and the caveat come with it
    # The heatmap was coloured (slow for big images) in the model thread, never in the GUI thread.
    assert colouring_threads and threading.main_thread() not in colouring_threads
    viewer.opacity_slider.setValue(80)
    assert viewer.view._heat.opacity() == pytest.approx(0.8)
    viewer.heatmap_box.setChecked(False)
    assert not viewer.view._heat.isVisible()
    assert not viewer.heat_legend.isVisible()
    assert window.heatmap_action.isVisible()


def test_stored_heatmap_is_shown_without_the_model(qtbot, window, images, monkeypatch) -> None:
    """A scanned film's heatmap comes from its row (the scan's forward pass): no model call."""
    from pneumo_desktop.core import heatmap as core_heatmap

    asked: list[int] = []
    window.service.heatmap_ready.connect(lambda i, h: asked.append(i))
    window.viewer.heatmap_requested.connect(lambda i, x: asked.append(i))
    scan_and_select(qtbot, window, images, images[2].name)
    viewer = window.viewer
    row = viewer.current
    assert row is not None and row.status == OK and row.heatmap
    viewer.heatmap_box.setChecked(True)
    qtbot.waitUntil(lambda: viewer.view._heat.isVisible(), timeout=5000)
    assert not asked, "the stored heatmap was recomputed"
    assert viewer.heat_legend.isVisible() and "not a lesion outline" in viewer.heat_legend.caveat.text()
    expected = core_heatmap.stored_heatmap(row, (160, 160))
    np.testing.assert_allclose(viewer._heat.heat, expected)
    # A refused film never gets a heatmap, even if its row carried one.
    from dataclasses import replace

    refused = replace(row, status="rejected", label="Needs review", path=str(images[3]))
    with qtbot.waitSignal(viewer.image_loaded, timeout=10_000):
        viewer.show_result(refused)
    assert not viewer.view._heat.isVisible() and not viewer.heat_legend.isVisible()
    assert not asked


def _row(path: Path) -> ScanResult:
    return ScanResult(path=str(path), status=OK, probability=0.9, label=PNEUMONIA, message="", threshold=0.5)


def test_a_late_heatmap_is_never_shown_over_another_image(qtbot, tmp_path) -> None:
    """Heatmap for A asked, turned off, B selected, then A's heatmap arrives: it must not show on B."""
    a, b = write_images(tmp_path / "i", 2)  # same size: only the request tells them apart
    panel = ViewerPanel()
    qtbot.addWidget(panel)
    panel.set_heatmaps_available(True)
    requests: list[tuple[int, object]] = []
    panel.heatmap_requested.connect(lambda rid, xray: requests.append((rid, xray)))
    heat_item = panel.view._heat
    try:
        with qtbot.waitSignal(panel.image_loaded, timeout=10_000):
            panel.show_result(_row(a))
        panel.heatmap_box.setChecked(True)
        [(rid_a, xray_a)] = requests
        panel.heatmap_box.setChecked(False)
        with qtbot.waitSignal(panel.image_loaded, timeout=10_000):
            panel.show_result(_row(b))
        panel.on_heatmap(rid_a, Heatmap.build(np.ones(xray_a.pixels.shape, np.float32), xray_a.path))
        panel.heatmap_box.setChecked(True)
        assert heat_item.pixmap().isNull() and not heat_item.isVisible()  # A's map is not on B
        assert len(requests) == 2 and requests[1][1] is panel.xray and panel.xray.path == str(b)
        rid_b = requests[1][0]
        # An answer to B's request that names another file is refused too.
        panel.on_heatmap(rid_b, Heatmap.build(np.ones(xray_a.pixels.shape, np.float32), str(a)))
        assert heat_item.pixmap().isNull() and not heat_item.isVisible()
        panel.heatmap_box.setChecked(False)
        panel.heatmap_box.setChecked(True)  # asked again; now B's own heatmap arrives and shows
        rid_b, xray_b = requests[-1]
        assert xray_b is panel.xray and rid_b != requests[1][0]
        panel.on_heatmap(rid_b, Heatmap.build(np.ones(xray_b.pixels.shape, np.float32), xray_b.path))
        assert not heat_item.pixmap().isNull() and heat_item.isVisible()
    finally:
        panel.shutdown()


def test_toggling_while_a_heatmap_is_computed_asks_once(qtbot, tmp_path) -> None:
    [a] = write_images(tmp_path / "i", 1)
    panel = ViewerPanel()
    qtbot.addWidget(panel)
    panel.set_heatmaps_available(True)
    requests: list[tuple[int, object]] = []
    panel.heatmap_requested.connect(lambda rid, xray: requests.append((rid, xray)))
    try:
        with qtbot.waitSignal(panel.image_loaded, timeout=10_000):
            panel.show_result(_row(a))
        panel.heatmap_box.setChecked(True)
        panel.heatmap_box.setChecked(False)
        panel.heatmap_box.setChecked(True)
        [(rid, xray)] = requests  # the model thread is not asked twice for the same image
        panel.on_heatmap(rid, Heatmap.build(np.ones(xray.pixels.shape, np.float32), xray.path))
        assert panel.view._heat.isVisible()
    finally:
        panel.shutdown()


def test_heatmap_controls_hidden_for_a_model_without_a_class_activation_map(
    qtbot, make_window, tiny_model_dir, tmp_path
) -> None:
    import json
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    card = json.loads((folder / "model_card.json").read_text())
    card["gradcam_layer"] = "no_such_layer"  # no map from the forward pass
    (folder / "model_card.json").write_text(json.dumps(card))
    window = make_window(model_dir=folder)
    assert window.model_info.heatmaps is False
    assert window.viewer.heatmap_box.isHidden() and window.viewer.opacity_slider.isHidden()
    assert not window.heatmap_action.isVisible()


def test_heatmap_colours_fade_out_where_cool() -> None:
    rgba = heatmap_rgba(np.array([[0.0, 0.5, 1.0]]))
    assert rgba.shape == (1, 3, 4)
    assert rgba[0, 0, 3] == 0 and rgba[0, 2, 3] == 255
    assert rgba[0, 2, 0] > rgba[0, 2, 2]  # hot is red


def test_unreadable_file_shows_a_sentence(qtbot, window, tmp_path) -> None:
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


def test_stale_loads_are_ignored(qtbot) -> None:
    panel = ViewerPanel()
    qtbot.addWidget(panel)
    try:
        panel._on_loaded(-5, object(), np.zeros((4, 4), np.uint16))  # an old request
        assert panel.xray is None
    finally:
        panel.shutdown()


def test_dicom_metadata_and_hidden_patient_name(qtbot, window, dicom_dir, tmp_path) -> None:
    path = child_copy(dicom_dir / "dx_chest_mono2_8bit_implicit_le.dcm", tmp_path)
    scan_and_select(qtbot, window, [path], path.name)
    viewer = window.viewer
    fields = viewer._fields
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


def test_a_file_changed_since_its_scan_is_flagged(qtbot, window, images) -> None:
    scan_and_select(qtbot, window, images, images[1].name)
    viewer = window.viewer
    result = viewer._result
    assert "changed" not in viewer._fields["Reason"].text()
    images[1].write_bytes(images[0].read_bytes())  # the export folder reused the name for another film
    viewer.show_result(None)
    with qtbot.waitSignal(viewer.image_loaded, timeout=10_000):
        viewer.show_result(result)
    assert "changed since it was scanned" in viewer._fields["Reason"].text()


def _details_text(viewer: ViewerPanel) -> str:
    """Everything the details panel shows (visible rows only)."""
    parts = [viewer.result_text.text()]
    for label in viewer._fields.values():
        if label.isVisibleTo(viewer):
            parts.append(label.text())
    if viewer.patient_label.isVisibleTo(viewer):
        parts.append(viewer.patient_label.text())
    return "\n".join(parts)


def test_an_unreadable_file_shows_nothing_of_the_previous_dicom(qtbot, window, dicom_dir, tmp_path) -> None:
    """Harm 1 of issue 15: the previous file's patient data beside an unreadable file."""
    dicom = child_copy(dicom_dir / "dx_chest_mono2_8bit_implicit_le.dcm", tmp_path)
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)  # a PNG signature, then nothing
    with qtbot.waitSignal(window.scan_finished, timeout=SCAN_TIMEOUT_MS):
        window.open_paths([dicom, bad])
    rows = {window.proxy.index(r, 0).data(): r for r in range(window.proxy.rowCount())}
    viewer = window.viewer
    window.select_row(rows[dicom.name])
    qtbot.waitUntil(lambda: viewer.xray is not None and viewer.xray.name == dicom.name, timeout=10_000)
    viewer.patient_button.click()  # reveal the patient's name
    xray = viewer.xray
    shown = _details_text(viewer)
    secrets = [xray.patient_name.replace("^", " "), "1024 × 1024", "DX", xray.patient_id]
    assert all(s and s in shown for s in secrets), shown
    study_date = viewer._fields["Study date"].text()
    window.select_row(rows[bad.name])
    # At once (while the load is in flight) and after the failure: only the file's own details.
    for moment in ("selected", "failed"):
        if moment == "failed":
            qtbot.waitUntil(lambda: viewer.placeholder.text().startswith("This file cannot"), timeout=10_000)
        shown = _details_text(viewer)
        assert bad.name in shown
        for s in [*secrets, dicom.name] + ([study_date] if study_date != "–" else []):
            assert s not in shown, (moment, s, shown)
        assert not viewer.patient_label.isVisibleTo(viewer)
        assert not viewer._fields["Size"].isVisibleTo(viewer)
        assert viewer._fields["Reason"].text() not in ("", "–")


def test_detail_rows_are_built_from_one_result_alone() -> None:
    from pneumo_desktop.core.results import ERROR
    from pneumo_desktop.gui.viewer import detail_rows

    r = ScanResult("/x/a.dcm", OK, 0.9, PNEUMONIA, "", format="DICOM", patient_id="P1", patient_name="Doe^J")
    other = viewer_module.XRay(
        np.zeros((2, 2), np.float32), "/x/b.dcm", "DICOM", 2, 2, 8, patient_id="P2", patient_name="Roe^K"
    )
    rows = detail_rows(r, other)  # an image of another file is ignored
    assert rows["Patient ID"] == "P1" and rows["Patient"] == "Doe^J"
    failed = ScanResult("/x/c.png", ERROR, None, UNREADABLE, "Damaged.", format="PNG")
    assert set(detail_rows(failed)) == {"Result", "Reason", "File", "Format"}
    assert detail_rows(None) == {}


def test_a_tiny_probability_is_shown_with_its_number_and_threshold(qtbot) -> None:
    from pneumo_desktop.core.results import NORMAL

    panel = ViewerPanel()
    qtbot.addWidget(panel)
    try:
        panel.set_card_threshold(0.42)
        r = ScanResult("/nowhere/a.png", OK, 0.0001, NORMAL, "", threshold=0.42)
        panel.show_result(r)
        assert panel.result_text.text() == "Normal · pneumonia probability < 0.1 %"
        assert panel._fields["Threshold"].text() == "42.0 % (model card)"
        assert "not a diagnosis" in panel.meaning_label.text()
        panel.show_result(r.relabel(0.3))
        assert panel._fields["Threshold"].text() == "30.0 % (set at this site)"
    finally:
        panel.shutdown()


def test_dicom_patient_id_age_and_study_date(qtbot, window, dicom_dir, tmp_path) -> None:
    # study 2004-08-31; the real film's birth date (1957) makes an adult the gate refuses
    path = child_copy(dicom_dir / "dx_chest_mono2_16bit_j2k_lossless.dcm", tmp_path, birth_date="20000101")
    scan_and_select(qtbot, window, [path], path.name)
    fields = window.viewer._fields
    qtbot.waitUntil(lambda: fields["Age"].text() != "–", timeout=5_000)
    assert fields["Age"].text() == "4 years (from the birth date)"
    assert fields["Study date"].text() == "2004-08-31"
    assert fields["Patient ID"].isVisibleTo(window.viewer)


def test_a_long_patient_id_does_not_widen_the_panel(qtbot) -> None:
    panel = ViewerPanel()
    qtbot.addWidget(panel)
    try:
        short = ScanResult("/nowhere/a.dcm", OK, 0.9, PNEUMONIA, "", format="DICOM", patient_id="P1")
        panel.show_result(short)
        before = panel.details.minimumSizeHint().width()
        panel.show_result(replace(short, path="/nowhere/b.dcm", patient_id="X" * 400))
        assert panel._fields["Patient ID"].text() == "X" * 400
        assert panel.details.minimumSizeHint().width() <= before  # it wraps; the layout does not move
    finally:
        panel.shutdown()
