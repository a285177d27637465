"""A CD or USB stick with a DICOMDIR: exactly the referenced images are scanned, grouped by patient/study."""

from __future__ import annotations

import csv
import shutil

import pytest

from pneumo_desktop.cli import main
from pneumo_desktop.core.io import iter_image_files
from pneumo_desktop.core.io.dicomdir import expand_dicomdirs, find_dicomdir, read_dicomdir
from tests.net.dicom_fixtures import build_cd

pytestmark = pytest.mark.real_data


@pytest.fixture
def cd(dicom_dir, tmp_path):
    root = tmp_path / "CD"
    sources = build_cd(dicom_dir, root)
    return root, sources


def test_read_dicomdir_lists_the_images_and_skips_the_sr(cd):
    root, src = cd
    images = read_dicomdir(root / "DICOMDIR")
    assert len(images) == 2  # the SR has a record, but no row
    by_patient = {i.patient_id: i for i in images}
    assert set(by_patient) == {"PAT-A", "PAT-B"}
    assert by_patient["PAT-A"].study_uid == src["first"].StudyInstanceUID
    assert by_patient["PAT-B"].study_uid == src["second"].StudyInstanceUID
    assert by_patient["PAT-A"].sop_instance_uid == src["first"].SOPInstanceUID
    for image in images:
        assert (root / image.path).is_file()


def test_a_folder_or_the_file_expands_to_the_same_images(cd, tmp_path):
    root, _ = cd
    assert find_dicomdir(root) == root / "DICOMDIR"
    assert find_dicomdir(root / "DICOMDIR") == root / "DICOMDIR"
    from_folder = iter_image_files([root])
    from_file = iter_image_files([root / "DICOMDIR"])
    assert from_folder == from_file and len(from_folder) == 2
    # A plain folder (no DICOMDIR at its root) is walked as before.
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "a.txt").write_text("x")
    assert find_dicomdir(plain) is None and expand_dicomdirs([plain]) == [plain]


def test_a_cd_mounted_with_lower_case_names(cd, tmp_path):
    root, _ = cd
    lower = tmp_path / "cdrom"
    shutil.copytree(root, lower)
    for path in sorted(lower.rglob("*"), key=lambda p: -len(p.parts)):  # deepest first
        path.rename(path.with_name(path.name.lower()))
    assert (lower / "dicomdir").is_file()
    files = iter_image_files([lower])
    assert len(files) == 2 and all(f.is_file() for f in files)


def test_a_damaged_dicomdir_falls_back_to_the_folder(cd):
    root, _ = cd
    data = (root / "DICOMDIR").read_bytes()
    (root / "DICOMDIR").write_bytes(data[:400])  # header intact, records cut off
    files = iter_image_files([root])
    assert len(files) >= 4  # DICOMDIR itself + the three instances: every file gets its row


def test_pneumo_scan_cd_dicomdir_csv(cd, tiny_model_dir, tmp_path):
    """The README's command: ``pneumo-scan CD/DICOMDIR --csv results.csv``."""
    root, src = cd
    out = tmp_path / "results.csv"
    code = main(
        [
            str(root / "DICOMDIR"),
            "--csv",
            str(out),
            "--include-patient",
            "--model-dir",
            str(tiny_model_dir),
            "--store",
            str(tmp_path / "store.sqlite3"),
            "-q",
        ]
    )
    assert code == 0
    with open(out, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2
    assert all(r["status"] in ("ok", "rejected") and r["format"] == "DICOM" for r in rows)
    assert {(r["patient_id"], r["study_uid"]) for r in rows} == {
        ("PAT-A", src["first"].StudyInstanceUID),
        ("PAT-B", src["second"].StudyInstanceUID),
    }
    assert all(r["study_date"] for r in rows)


def test_a_referenced_file_missing_from_the_medium_still_gets_its_row(cd):
    root, _ = cd
    images = read_dicomdir(root / "DICOMDIR")
    (root / images[0].path).unlink()
    again = read_dicomdir(root / "DICOMDIR")
    assert [i.path for i in again] == [i.path for i in images]  # the scan gives it "File not found"
