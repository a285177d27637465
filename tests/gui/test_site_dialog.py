"""The Site calibration dialog: calibrates in the model thread with a progress bar, draws the ROC and
predictive-value plots, saves a profile and makes it the threshold in force (status bar, viewer)."""

from __future__ import annotations

import math
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from pneumo_desktop.core.site import ProfileStore, calibrate
from pneumo_desktop.core.threshold import CARD, SITE, USER

from .conftest import SCAN_TIMEOUT_MS


@pytest.fixture
def labelled_set(shared_dir: Path, tmp_path: Path) -> Path:
    val = shared_dir / "data" / "chest_xray_224sq" / "val"
    if not val.is_dir():
        pytest.skip(f"{val} missing")
    root = tmp_path / "clinic"
    for cls in ("NORMAL", "PNEUMONIA"):
        (root / cls).mkdir(parents=True)
        for src in sorted((val / cls).iterdir())[:8]:
            (root / cls / src.name).symlink_to(src)
    return root


def test_dialog_calibrates_off_the_gui_thread_and_activates(qtbot, window, labelled_set, tmp_path):
    dlg = window.site.open_dialog()
    assert dlg.isVisible() and window.site.in_force.source == CARD
    dlg.site_box.setCurrentText("Clinic A")
    dlg.source_edit.setText(str(labelled_set))
    progress: list[tuple[int, int]] = []
    threads: list[str] = []
    dlg.worker.progress.connect(lambda d, t: progress.append((d, t)), type=2)  # direct: record the sender
    dlg.worker.progress.connect(lambda d, t: threads.append(threading.current_thread().name), type=2)
    with qtbot.waitSignal(dlg.worker.finished, timeout=SCAN_TIMEOUT_MS):
        dlg.run_button.click()
        assert dlg.running and not dlg.run_button.isEnabled()
    qtbot.waitUntil(lambda: dlg.calibration is not None)
    assert threads and set(threads) == {"pneumo-model"}  # the model's thread, never the GUI's
    assert progress[-1] == (16, 16) and dlg.progress.value() == dlg.progress.maximum() == 16
    cal = dlg.calibration
    assert cal.n_pos + cal.n_neg + cal.n_refused + cal.n_unreadable == 16
    profile = ProfileStore().latest("Clinic A")
    assert (
        profile is not None and profile.threshold == cal.threshold and profile.model_name == "tiny-test-model"
    )
    text = dlg.report.toPlainText()
    assert "positive predictive value (PPV)" in text and "negative predictive value (NPV)" in text
    assert dlg.roc_plot.series[0][1] and dlg.roc_plot.point is not None
    assert [name for name, _ in dlg.pv_plot.series] == ["PPV", "NPV"]
    dlg.grab().save(str(tmp_path / "dialog.png"))
    assert (tmp_path / "dialog.png").stat().st_size > 10_000

    dlg.activate_button.click()
    in_force = window.site.in_force
    assert (
        in_force.source == SITE
        and window.threshold == math.floor(profile.threshold * 1e4) / 1e4 <= profile.threshold
    )
    assert "'Clinic A' v1" in window.site.label.text()
    assert "'Clinic A' v1" in window.viewer._fields["Threshold"].text()
    assert ProfileStore().active_site() == "Clinic A"

    prefs = window.preferences_dialog()  # OK in Preferences with the site's threshold keeps the site in force
    prefs.deleteLater()
    window.apply_preferences(window.settings.device, prefs.threshold())
    assert window.site.in_force.source == SITE

    window.set_threshold(0.3)  # the user's own threshold wins, and says what the site would give
    assert window.site.in_force.source == USER and "would give" in window.viewer._fields["Threshold"].text()
    window.reset_threshold()  # back to the site's, not the card's
    assert (
        window.site.in_force.source == SITE
        and window.threshold == math.floor(profile.threshold * 1e4) / 1e4 <= profile.threshold
    )

    dlg.deactivate_button.click()
    assert window.site.in_force.source == CARD and window.threshold == 0.5
    dlg.close()


def test_dialog_stop_saves_nothing(qtbot, window, labelled_set):
    dlg = window.site.open_dialog()
    dlg.site_box.setCurrentText("Clinic S")
    dlg.source_edit.setText(str(labelled_set))
    dlg.run_button.click()
    dlg.cancel_button.click()
    qtbot.waitUntil(lambda: not dlg.running, timeout=SCAN_TIMEOUT_MS)
    if dlg.calibration is None:  # stopped between batches (it may have finished first on a fast machine)
        assert "nothing was saved" in dlg.report.toPlainText()
        assert ProfileStore().latest("Clinic S") is None
    dlg.close()


def test_bad_input_is_a_sentence(qtbot, window, tmp_path):
    dlg = window.site.open_dialog()
    dlg.site_box.setCurrentText("Clinic A")
    dlg.source_edit.setText(str(tmp_path))
    dlg.run_button.click()  # the folder is listed in the model thread: the answer comes back by signal
    qtbot.waitUntil(lambda: not dlg.running, timeout=SCAN_TIMEOUT_MS)
    assert "NORMAL and PNEUMONIA" in dlg.report.toPlainText() and not dlg.running
    dlg.close()


def test_profile_for_another_model_is_not_applied(qtbot, make_window):
    from pneumo_desktop.core.results import OK, ScanResult
    from pneumo_desktop.core.site import LabelledFilm

    films = [LabelledFilm(f"/x/{i}.png", i % 2 == 0) for i in range(6)]
    results = [ScanResult(f.path, OK, 0.9 if f.positive else 0.1, "", "") for f in films]
    other = SimpleNamespace(name="pneumo-vgg19", version="9.9.9", sha256="00" * 32, threshold=0.8)
    store = ProfileStore()
    store.add("Elsewhere", calibrate(results, films, 0.9, bootstrap=20), other)
    store.set_active("Elsewhere")
    window = make_window()
    assert window.site.active is not None  # active, but made for another model
    assert window.site.in_force.source == CARD and window.threshold == 0.5
    assert "not applied" in window.site.label.text()
    assert "calibrated for model pneumo-vgg19 9.9.9" in window.site.label.toolTip()


def test_about_box_explains_calibration(window):
    from pneumo_desktop.gui.dialogs import AboutDialog

    about = AboutDialog(window.model_info, window)
    text = about.browser.toPlainText()
    about.deleteLater()
    assert "Site calibration" in text and "at least 52 pneumonia films" in text and "When:" in text


def test_pdf_report_names_the_threshold_in_force(tmp_path, monkeypatch):
    from pneumo_desktop import report
    from pneumo_desktop.core.results import OK, ScanResult, label_for

    from .conftest import write_images

    texts: list[str] = []
    original = report._text

    def record(p, x, y, w, text, *args, **kwargs):
        texts.append(text)
        return original(p, x, y, w, text, *args, **kwargs)

    monkeypatch.setattr(report, "_text", record)
    (img,) = write_images(tmp_path / "i", 1)
    rows = [ScanResult(str(img), OK, 0.2, label_for(OK, 0.2, 0.1049), "", threshold=0.1049)]
    note = "0.105 from site profile 'Clinic A' v1 (calibrated 2026-12-02)"
    ctx = report.ReportContext(model="m 1", device="CPU", threshold=0.1049, threshold_note=note)
    report.write_pdf_report(str(tmp_path / "r.pdf"), rows, ctx)
    assert "Set by" in texts and note in texts
