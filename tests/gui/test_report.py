"""The PDF report on its own: pages, patient-name opt-in, missing images, heatmaps."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from pneumo_desktop.core.results import (
    ERROR,
    NEEDS_REVIEW,
    OK,
    PNEUMONIA,
    REJECTED,
    UNREADABLE,
    ScanResult,
    label_for,
)
from pneumo_desktop.gui import report
from pneumo_desktop.gui.report import DISCLAIMER, ReportContext, write_pdf_report

from .conftest import write_images


def row(path: Path, p: float | None, status: str = OK, name: str = "") -> ScanResult:
    return ScanResult(
        path=str(path),
        status=status,
        probability=p,
        label=label_for(status, p, 0.5),
        message="" if status == OK else "Lateral view: the model only judges frontal (AP/PA) chest films.",
        threshold=0.5,
        patient_name=name,
        patient_id="ID-77" if name else "",
        study_date="20240102",
    )


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every text the report draws."""
    texts: list[str] = []
    original = report._text  # noqa: SLF001

    def record(p, x, y, w, text, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        texts.append(text)
        return original(p, x, y, w, text, *args, **kwargs)

    monkeypatch.setattr(report, "_text", record)
    return texts


def pages(path: Path) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", path.read_bytes()))


def test_summary_and_flagged_pages(tmp_path: Path, drawn: list[str]) -> None:
    imgs = write_images(tmp_path / "i", 3)
    results = [
        row(imgs[0], 0.9, name="Doe^Jane"),
        row(imgs[1], 0.1),
        row(imgs[2], 0.7, REJECTED, name="Roe^Richard"),
        row(tmp_path / "gone.png", None, ERROR),
    ]
    heat_calls: list[str] = []

    def heat(xray):  # noqa: ANN001, ANN202
        heat_calls.append(xray.path)
        return np.linspace(0, 1, xray.pixels.size, dtype=np.float32).reshape(xray.pixels.shape)

    out = tmp_path / "r.pdf"
    ctx = ReportContext(model="tiny 1", device="CPU", threshold=0.5)
    n = write_pdf_report(str(out), results, ctx, heatmap=heat)
    assert n == 3 == pages(out)  # summary + Pneumonia + Needs review
    assert out.read_bytes().startswith(b"%PDF")
    assert heat_calls == [str(imgs[0]), str(imgs[2])]
    text = "\n".join(drawn)
    assert DISCLAIMER in text and "tiny 1" in text and "CPU" in text and "50.0 %" in text
    assert PNEUMONIA in drawn and NEEDS_REVIEW in drawn
    assert "2024-01-02" in text
    assert "Jane" not in text and "ID-77" not in text  # no patient data unless asked
    # The file that was not screened is named, with its reason, on the summary page.
    assert "gone.png" in drawn and results[3].message in drawn
    assert any(t.startswith("Not screened: unreadable files (1)") for t in drawn)


def unreadable(path: Path, message: str) -> ScanResult:
    return ScanResult(path=str(path), status=ERROR, probability=None, label=UNREADABLE, message=message)


def test_every_unreadable_file_is_named_on_continued_pages(tmp_path: Path, drawn: list[str]) -> None:
    imgs = write_images(tmp_path / "i", 2)
    failed = [
        unreadable(tmp_path / f"film-{i:03d}.dcm", f"Corrupt file ({i} bytes read).") for i in range(80)
    ]
    results = [row(imgs[0], 0.9), row(imgs[1], 0.1), *failed]
    out = tmp_path / "r.pdf"
    n = write_pdf_report(str(out), results, ReportContext(model="m", device="CPU", threshold=0.5))
    assert n == pages(out)
    assert n >= 1 + 2 + 1  # summary, at least two continued pages for 80 rows, one flagged page
    for r in failed:
        assert r.name in drawn and r.message in drawn
    continued = [t for t in drawn if t == "Not screened: unreadable files (80), continued"]
    assert len(continued) == n - 2  # every page but the summary and the flagged image's


def test_many_flagged_files_leave_room_for_the_unreadable_ones(tmp_path: Path, drawn: list[str]) -> None:
    imgs = write_images(tmp_path / "i", 1)
    flagged_rows = [row(imgs[0], 0.9)] * 12
    results = [*flagged_rows, unreadable(tmp_path / "lost.png", "File not found.")]
    out = tmp_path / "r.pdf"
    assert write_pdf_report(str(out), results, ReportContext(model="m", device="CPU", threshold=0.5)) == 13
    assert "lost.png" in drawn and "File not found." in drawn
    assert "… and 4 more" in drawn


def test_patient_names_only_when_asked(tmp_path: Path, drawn: list[str]) -> None:
    imgs = write_images(tmp_path / "i", 1)
    ctx = ReportContext(model="m", device="CPU", threshold=0.5, include_patient=True)
    write_pdf_report(str(tmp_path / "r.pdf"), [row(imgs[0], 0.95, name="Doe^Jane")], ctx)
    assert "Doe Jane · ID-77" in drawn


def test_a_flagged_file_that_moved_gets_a_sentence(tmp_path: Path, drawn: list[str]) -> None:
    imgs = write_images(tmp_path / "i", 1)
    flagged = row(imgs[0], 0.95)
    imgs[0].unlink()
    out = tmp_path / "r.pdf"
    assert write_pdf_report(str(out), [flagged], ReportContext(model="m", device="CPU", threshold=0.5)) == 2
    assert any(t.startswith("The image could not be loaded for this report: File not found.") for t in drawn)


def test_unwritable_path_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        write_pdf_report(
            str(tmp_path / "no" / "such" / "dir" / "r.pdf"),
            [],
            ReportContext(model="m", device="CPU", threshold=0.5),
        )


def test_a_flagged_file_changed_since_its_scan_is_not_printed(tmp_path: Path, drawn: list[str]) -> None:
    from dataclasses import replace

    from pneumo_desktop.core.card import sha256_file

    imgs = write_images(tmp_path / "i", 2)
    flagged = replace(row(imgs[0], 0.95), content_hash=sha256_file(imgs[0]))
    imgs[0].write_bytes(imgs[1].read_bytes())  # the name now holds another film
    out = tmp_path / "r.pdf"
    assert write_pdf_report(str(out), [flagged], ReportContext(model="m", device="CPU", threshold=0.5)) == 2
    assert any("has changed since it was scanned" in t for t in drawn)
