"""The frozen app's self-test (``PneumoDesktop --self-test``) in pytest: the same check functions,
here on the source tree, so that a check that cannot pass is found before a bundle is built."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pneumo_desktop.core.io.codecs import CODECS, Codec
from pneumo_desktop.selftest import PASS, SKIP, Report, checks, main, run_checks
from pneumo_desktop.selftest.codecs import RECIPES, check_codec
from pneumo_desktop.selftest.files import check_bundle, check_pil_formats
from pneumo_desktop.selftest.model import check_heatmap, check_inference, check_model, check_scan


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.keyword)
def test_every_codec_of_the_table(codec: Codec, tmp_path: Path) -> None:
    status, detail = check_codec(codec, tmp_path)
    if codec.keyword in RECIPES:
        assert status == PASS, detail
    else:  # no encoder to make a file: its shipped decoders must still be installed
        assert status == SKIP, detail


def test_bundle_and_pillow_formats(tmp_path: Path) -> None:
    assert check_bundle().startswith("source;")
    assert "16-bit PNG exact" in check_pil_formats(tmp_path)


def test_model_checks_on_a_real_model(tiny_model_dir: Path, tmp_path: Path) -> None:
    holder: dict = {}
    assert "verified" in check_model(tiny_model_dir, holder)
    assert "repeatable" in check_inference(holder, tmp_path)
    assert "Grad-CAM" in check_heatmap(holder, tmp_path)
    check_codec(next(c for c in CODECS if c.keyword == "JPEG2000Lossless"), tmp_path)  # the scan's DICOM
    assert "2 files scanned and stored" in check_scan(holder, tmp_path)


def test_a_check_that_fails_is_reported_not_raised(tmp_path: Path) -> None:
    lines: list[str] = []
    report = Report(out=lines.append)
    check = report.run("inference (synthetic X-ray)", lambda: check_inference({}, tmp_path))
    assert check.status == "FAIL" and "see the model check" in check.detail
    assert not report.ok and "SELF-TEST FAILED: 0 passed, 1 failed" in report.summary()
    assert lines and "FAIL" in lines[0]


def test_qt_check(qapp) -> None:
    from pneumo_desktop.selftest.qt import check_qt

    assert "GUI imports" in check_qt()


def test_main_writes_the_json_report(tiny_model_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "selftest.json"
    text = tmp_path / "selftest.txt"
    code = main(["--no-gui", "--model-dir", str(tiny_model_dir), "--json", str(out), "--report", str(text)])
    data = json.loads(out.read_text(encoding="utf-8"))
    assert code == 0 and data["ok"] is True, capsys.readouterr().out
    names = [c["name"] for c in data["checks"]]
    assert names == [name for name, _ in checks(tmp_path, None, gui=False)] + ["Qt"]
    assert {f"DICOM {c.keyword}" for c in CODECS} <= set(names)
    assert data["checks"][-1]["status"] == SKIP
    assert "SELF-TEST PASSED" in text.read_text(encoding="utf-8")


def test_run_checks_skips_qt_without_a_gui(tmp_path: Path) -> None:
    report = run_checks(Report(out=lambda line: None), tmp_path, Path(tmp_path / "no-model"), gui=False)
    by_name = {c.name: c.status for c in report.checks}
    assert by_name["Qt"] == SKIP and by_name["model (card, sha256, load)"] == "FAIL"
    assert by_name["DICOM ExplicitVRLittleEndian"] == PASS
