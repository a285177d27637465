import csv
import json

import numpy as np
import pytest
from PIL import Image

from pneumo_desktop.cli import main


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "imgs"
    root.mkdir()
    for i in range(3):
        Image.fromarray((np.random.default_rng(i).random((150, 180)) * 255).astype(np.uint8)).save(root / f"{i}.png")
    (root / "junk.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return root


def test_scan_writes_csv_and_json(tiny_model_dir, folder, tmp_path, capsys):
    out_csv, out_json = tmp_path / "r.csv", tmp_path / "r.json"
    code = main([str(folder), "--csv", str(out_csv), "--json", str(out_json), "--model-dir", str(tiny_model_dir),
                 "--device", "cpu"])
    assert code == 0
    with open(out_csv, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4
    assert list(rows[0])[:5] == ["path", "status", "probability", "label", "message"]
    junk = next(r for r in rows if r["path"].endswith("junk.jpg"))
    assert junk["status"] == "error" and junk["label"] == "Unreadable" and junk["message"]
    assert len(json.loads(out_json.read_text())) == 4
    summary = capsys.readouterr().out
    assert "Scanned 4 files" in summary and "Unreadable" in summary


def test_threshold_option(tiny_model_dir, folder, tmp_path):
    out = tmp_path / "r.csv"
    assert main([str(folder), "--csv", str(out), "--threshold", "0", "--model-dir", str(tiny_model_dir)]) == 0
    with open(out, encoding="utf-8-sig") as fh:
        labels = [r["label"] for r in csv.DictReader(fh) if r["status"] == "ok"]
    assert labels and set(labels) == {"Pneumonia"}


def test_usage_errors(tiny_model_dir, tmp_path, capsys):
    assert main([str(tmp_path / "nope"), "--model-dir", str(tiny_model_dir)]) == 2
    assert main([str(tmp_path), "--threshold", "1.5", "--model-dir", str(tiny_model_dir)]) == 2
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2


def test_missing_or_corrupt_model(tmp_path, folder, capsys):
    assert main([str(folder), "--model-dir", str(tmp_path / "nomodel")]) == 3
    assert "model" in capsys.readouterr().err.lower()


def test_watch_scans_new_files(tiny_model_dir, tmp_path, capsys):
    watched = tmp_path / "incoming"
    watched.mkdir()
    import threading
    import time

    def drop():
        time.sleep(1.0)
        Image.fromarray((np.random.default_rng(7).random((150, 150)) * 255).astype(np.uint8)).save(watched / "new.png")

    t = threading.Thread(target=drop)
    t.start()
    store = tmp_path / "results.sqlite3"
    # No -q: the file's line is printed whether the first scan or the watch catches it.
    code = main([str(watched), "--watch", "--watch-interval", "0.3", "--watch-seconds", "3",
                 "--model-dir", str(tiny_model_dir), "--store", str(store)])
    t.join()
    assert code == 0
    assert "new.png" in capsys.readouterr().out
    from pneumo_desktop.core.store import ResultsStore

    (record,) = ResultsStore(store).scans()  # the arrival joined the watching scan's History entry
    assert record.count == 1


@pytest.mark.real_data
def test_a_damaged_dicom_gives_a_row_not_a_traceback(tiny_model_dir, dicom_dir, tmp_path):
    """In a fresh process, as a user runs it: pydicom's decoder errors stay out of the terminal."""
    import subprocess
    import sys

    damaged = dicom_dir / "dx_chest_pa_mono1_12bit_j2k_lossless_bad_com_marker.dcm"
    if not damaged.is_file():
        pytest.skip(f"{damaged.name} is not in the shared DICOM set")
    out = tmp_path / "out.csv"
    args = [str(damaged), "--csv", str(out), "--no-cache", "--store", str(tmp_path / "s.sqlite3"),
            "--model-dir", str(tiny_model_dir), "-q"]
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from pneumo_desktop.cli import main; sys.exit(main(sys.argv[1:]))", *args],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "ERROR pydicom" not in proc.stderr, proc.stderr[-2000:]
    with open(out, encoding="utf-8-sig") as fh:
        (row,) = list(csv.DictReader(fh))
    assert row["status"] == "error" and row["reason_code"] == "corrupt"


def test_one_line_per_file_and_percent(tiny_model_dir, folder, capsys):
    assert main([str(folder), "--model-dir", str(tiny_model_dir), "--threshold", "80%"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if str(folder) in line]
    assert len(lines) == 4
    junk = next(line for line in lines if "junk.jpg" in line)
    assert "Unreadable" in junk and "pneumonia probability" not in junk
    judged = [line for line in lines if "junk.jpg" not in line]
    assert all("pneumonia probability" in line and "%" in line for line in judged), judged
    assert "threshold 80.0 % (--threshold)" in out
    assert "0 from earlier results" in out
    assert main([str(folder), "--model-dir", str(tiny_model_dir)]) == 0  # again: all from the store
    out = capsys.readouterr().out
    assert "3 from earlier results" in out or "4 from earlier results" in out
    assert "(model card)" in out
    assert main([str(folder), "-q", "--model-dir", str(tiny_model_dir)]) == 0
    assert not [line for line in capsys.readouterr().out.splitlines() if str(folder) in line]


def test_empty_folder_or_no_images_exit_1(tiny_model_dir, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([str(empty), "--model-dir", str(tiny_model_dir)]) == 1
    assert "no files to scan" in capsys.readouterr().err
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.txt").write_text("hello", encoding="utf-8")
    assert main([str(notes), "--model-dir", str(tiny_model_dir)]) == 1
    assert "no images found" in capsys.readouterr().err


def test_tensorflow_start_up_noise_never_reaches_the_terminal(tiny_model_dir, folder):
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    proc = subprocess.run(
        [sys.executable, "-m", "pneumo_desktop.cli", str(folder), "--model-dir", str(tiny_model_dir)],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "absl" not in proc.stderr and "oneDNN" not in proc.stderr and "I0000" not in proc.stderr, proc.stderr
    assert "Scanned 4 files" in proc.stdout


def test_pdf_report_from_the_command_line(tiny_model_dir, folder, tmp_path):
    import os
    import shutil
    import subprocess
    import sys

    out = tmp_path / "reports" / "scan.pdf"
    out.parent.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "pneumo_desktop.cli", str(folder), "--pdf", str(out), "-q",
         "--model-dir", str(tiny_model_dir), "--store", str(tmp_path / "s.sqlite3")],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": os.getcwd()}, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes().startswith(b"%PDF")
    assert f"Report: {out}" in proc.stdout
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True, check=True).stdout
        for name in ("0.png", "1.png", "2.png", "junk.jpg"):  # every file, normals and unreadable too
            assert name in text
        assert "Reviewed by" in text and text.count("Decision support only, not a diagnostic device.") == 1
