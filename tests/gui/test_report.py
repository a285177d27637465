"""The PDF report: summary page, every file (normals and refused too), patient data opt-in,
heatmap legend only for judged films, review status and sign-off, default folder."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from pneumo_desktop import report
from pneumo_desktop.core.results import (
    ERROR,
    NEEDS_REVIEW,
    NORMAL,
    OK,
    PNEUMONIA,
    REJECTED,
    UNREADABLE,
    ScanResult,
    label_for,
)
from pneumo_desktop.core.review import add_review, latest_reviews
from pneumo_desktop.core.store import ResultsStore
from pneumo_desktop.core.wording import DISAGREE, HEATMAP_CAVEAT
from pneumo_desktop.report import DISCLAIMER, ReportContext, write_pdf_report

from .conftest import write_images


def row(path: Path, p: float | None, status: str = OK, **kw: object) -> ScanResult:
    return ScanResult(
        path=str(path),
        status=status,
        probability=p,
        label=label_for(status, p, 0.5),
        message="" if status == OK else "Lateral view: the model only judges frontal (AP/PA) chest films.",
        threshold=0.5,
        **kw,
    )


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every text the report draws."""
    texts: list[str] = []
    original = report._text

    def record(p, x, y, w, text, *args, **kwargs):
        texts.append(text)
        return original(p, x, y, w, text, *args, **kwargs)

    monkeypatch.setattr(report, "_text", record)
    return texts


def pages(path: Path) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", path.read_bytes()))


def heat(xray):
    return np.linspace(0, 1, xray.pixels.size, dtype=np.float32).reshape(xray.pixels.shape)


def test_every_file_with_its_result_review_and_sign_off(tmp_path: Path, drawn: list[str]) -> None:
    imgs = write_images(tmp_path / "i", 3)
    results = [
        row(imgs[0], 0.93),
        row(imgs[1], 0.0001),  # a normal film: listed too
        row(imgs[2], 0.997, REJECTED),  # a refused film: its reason, no probability, no heatmap
        row(tmp_path / "gone.png", None, ERROR),
    ]
    store = ResultsStore(":memory:")
    add_review(store, results[0], DISAGREE, "Dr Ada", call=NORMAL, note="old scar")
    ctx = ReportContext(
        model="tiny 1",
        device="CPU",
        threshold=0.5,
        threshold_source="set at this site",
        reviews=latest_reviews(store),
    )
    out = tmp_path / "r.pdf"
    n = write_pdf_report(str(out), results, ctx, heatmap=heat)
    assert n == 3 == pages(out)  # summary + 4 files at 3 a page
    text = "\n".join(drawn)
    assert text.count(DISCLAIMER) == 1  # once
    assert "tiny 1" in text and "50.0 % (set at this site)" in text
    assert "1 of 2 judged films reviewed; 1 disagreement" in text
    assert "Pneumonia probability 93.0 %" in drawn and "Pneumonia probability < 0.1 %" in drawn
    assert "Pneumonia probability 99.7 %" not in text and "unreliable" not in text.lower().replace(
        "results on other images may be unreliable", ""
    )
    for r in results:
        assert r.name in drawn
    assert results[2].message in drawn and results[3].message in drawn
    assert "Disagreed: Normal (Dr Ada" in text and "old scar" in drawn
    assert drawn.count(report.SIGN_OFF[0]) == 4 and drawn.count(report.SIGN_OFF[1]) == 4
    assert drawn.count(HEATMAP_CAVEAT) == 2  # the two judged films only
    assert drawn.count("Image (not judged)") == 1


def test_dicom_patient_id_age_date_and_name_only_when_asked(
    tmp_path: Path, drawn: list[str], dicom_dir: Path
) -> None:
    dcm = dicom_dir / "dx_chest_mono2_16bit_j2k_lossless.dcm"
    r = row(dcm, 0.8, format="DICOM", patient_id="PID-123", patient_name="Doe^Jane", study_date="20040831")
    write_pdf_report(str(tmp_path / "a.pdf"), [r], ReportContext(model="m", device="CPU", threshold=0.5))
    assert "PID-123" in drawn and "47 years (from the birth date)" in drawn and "2004-08-31" in drawn
    assert "Doe Jane" not in drawn
    drawn.clear()
    ctx = ReportContext(model="m", device="CPU", threshold=0.5, include_patient=True)
    write_pdf_report(str(tmp_path / "b.pdf"), [r], ctx)
    assert "Doe Jane" in drawn


def test_a_file_that_moved_or_changed_gets_a_sentence(tmp_path: Path, drawn: list[str]) -> None:
    from pneumo_desktop.core.card import sha256_file

    imgs = write_images(tmp_path / "i", 3)
    changed = replace(row(imgs[0], 0.95), content_hash=sha256_file(imgs[0]))
    imgs[0].write_bytes(imgs[1].read_bytes())  # the name now holds another film
    moved = row(imgs[2], 0.95)
    imgs[2].unlink()
    write_pdf_report(
        str(tmp_path / "r.pdf"), [changed, moved], ReportContext(model="m", device="CPU", threshold=0.5)
    )
    assert any("has changed since it was scanned" in t for t in drawn)
    assert any(t.startswith("The image is not printed: File not found") for t in drawn)


def test_unwritable_path_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        write_pdf_report(
            str(tmp_path / "no" / "such" / "r.pdf"), [], ReportContext(model="m", device="CPU", threshold=0.5)
        )


def test_default_folder_is_documents_not_the_xray_folder(tmp_path: Path) -> None:
    folder = report.default_report_dir()
    assert folder.name == "Pneumo Desktop"
    assert report.default_report_path().parent == folder


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) not installed")
def test_pdf_text_is_extractable(tmp_path: Path) -> None:
    imgs = write_images(tmp_path / "i", 2)
    results = [row(imgs[0], 0.0001), row(imgs[1], 0.7, REJECTED)]
    out = tmp_path / "r.pdf"
    write_pdf_report(
        str(out), results, ReportContext(model="tiny 1", device="CPU", threshold=0.5), heatmap=heat
    )
    text = subprocess.run(
        ["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Pneumonia probability < 0.1 %" in text
    assert imgs[0].name in text and imgs[1].name in text
    assert "Reviewed by" in text and "Signature" in text
    assert text.count("Decision support only, not a diagnostic device.") == 1
    assert NEEDS_REVIEW in text and PNEUMONIA in text and UNREADABLE in text


def test_stored_heatmaps_are_used_without_the_model(tmp_path: Path, drawn: list[str]) -> None:
    """A scanned film's heatmap comes from its row (core.heatmap): the model is not asked again."""
    from pneumo_desktop.core import heatmap as core_heatmap

    imgs = write_images(tmp_path / "i", 1)
    cam = np.linspace(0, 1, 100, dtype=np.float32).reshape(10, 10)
    r = row(imgs[0], 0.9, heatmap=core_heatmap.encode(cam))
    asked: list[object] = []
    write_pdf_report(
        str(tmp_path / "r.pdf"),
        [r],
        ReportContext(model="m", device="CPU", threshold=0.5),
        heatmap=lambda xray: asked.append(xray),
    )
    assert not asked
    assert drawn.count(HEATMAP_CAVEAT) == 1
