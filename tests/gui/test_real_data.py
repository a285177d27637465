"""Real chest X-rays from ../shared through the whole window: scan, view, export."""

from __future__ import annotations

import csv

import pytest
from PIL import Image

from pneumo_desktop.core.results import NEEDS_REVIEW, NORMAL, PNEUMONIA

from .conftest import SCAN_TIMEOUT_MS

pytestmark = pytest.mark.real_data


def test_real_xrays_scan_view_and_export(qtbot, window, chest_dir, tmp_path) -> None:
    val = chest_dir / "val"
    files = sorted((val / "NORMAL").glob("*.jpeg"))[:2] + sorted((val / "PNEUMONIA").glob("*.jpeg"))[:2]
    assert len(files) == 4
    with qtbot.waitSignal(window.scan_finished, timeout=SCAN_TIMEOUT_MS) as blocker:
        window.open_paths(files)
    assert blocker.args == ["finished"]
    results = window.results_model.results
    assert [r.path for r in results] == [str(f) for f in files]
    for r in results:
        assert r.label in (PNEUMONIA, NORMAL, NEEDS_REVIEW)
        assert r.probability is not None and 0.0 <= r.probability <= 1.0
        assert r.format == "JPEG"
    for row in range(window.proxy.rowCount()):
        window.select_row(row)
        expected = window.viewer.current
        qtbot.waitUntil(
            lambda e=expected: window.viewer.xray is not None and window.viewer.xray.path == e.path,
            timeout=10_000,
        )
        with Image.open(expected.path) as img:
            assert window.viewer.view.image_size() == img.size
        assert window.viewer._fields["Size"].text() == f"{img.size[0]} × {img.size[1]} pixels"
    out = tmp_path / "real.csv"
    with qtbot.waitSignal(window.csv_finished, timeout=SCAN_TIMEOUT_MS) as exported:
        window.export_csv(out)  # written off the GUI thread
    assert exported.args == [str(out), 4]
    rows = list(csv.DictReader(out.open(encoding="utf-8-sig")))
    assert [row["label"] for row in rows] == [r.label for r in results]


def test_bundled_model_by_default(qtbot, make_window, chest_dir, dicom_dir) -> None:
    """MainWindow() with no model_dir uses the bundled model: real scan, real labels, real heatmap."""
    from pneumo_desktop.core.paths import default_model_dir

    if not (default_model_dir() / "model_card.json").exists():
        pytest.fail("the bundled model is missing from resources/model")
    window = make_window(model_dir=None)
    files = [sorted((chest_dir / "val" / "PNEUMONIA").glob("*.jpeg"))[0],
             sorted((chest_dir / "val" / "NORMAL").glob("*.jpeg"))[0],
             dicom_dir / "ct_mono2_16bit_explicit_le.dcm",
             dicom_dir / "sr_comprehensive_no_pixel_data.dcm"]
    with qtbot.waitSignal(window.scan_finished, timeout=SCAN_TIMEOUT_MS * 3):
        window.open_paths(files)
    results = {r.name: r for r in window.results_model.results}
    assert results[files[0].name].model_version.startswith("pneumo-vgg19")
    assert results[files[0].name].label in (PNEUMONIA, NORMAL)
    assert results["ct_mono2_16bit_explicit_le.dcm"].label == NEEDS_REVIEW
    assert results["sr_comprehensive_no_pixel_data.dcm"].label == "Unreadable"
