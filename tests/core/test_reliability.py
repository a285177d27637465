"""Loses nothing, leaks nothing (issue 16): hostile names, full disks, signals, tampered models.

Most tests run ``pneumo-scan`` in a real subprocess, as a user or a service manager would.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def scan_cmd() -> list[str]:
    """``pneumo-scan`` from this checkout (the console script when installed, else the module)."""
    return [
        sys.executable,
        "-c",
        "import sys; from pneumo_desktop.cli import main; sys.exit(main(sys.argv[1:]))",
    ]


def scan_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["PNEUMO_DATA_DIR"] = str(tmp_path / "userdata")
    return env


def run_scan(args: list[str], tmp_path: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*scan_cmd(), *args], capture_output=True, text=True, timeout=timeout, env=scan_env(tmp_path)
    )


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="session")
def val_film(shared_dir: Path) -> Path:
    folder = shared_dir / "data" / "chest_xray_224sq" / "val" / "NORMAL"
    if not folder.is_dir():
        pytest.skip(f"{folder} missing")
    return sorted(folder.iterdir())[0]


# -- 1. file names that are not text ------------------------------------------------------------
@pytest.mark.real_data
@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="needs a file system that takes any bytes")
def test_a_file_name_that_is_not_utf8_gets_its_row(tiny_model_dir, val_film, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    shutil.copy(val_film, d / "ok.jpeg")
    shutil.copy(val_film, os.fsdecode(os.fsencode(str(d)) + b"/bad_\xff.jpeg"))
    (d / "other.png").write_bytes(b"not an image at all")  # different bytes: no cache sharing
    out, out_json = tmp_path / "o.csv", tmp_path / "o.json"
    proc = run_scan(
        [str(d), "--csv", str(out), "--json", str(out_json), "--model-dir", str(tiny_model_dir), "-q"],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    rows = {Path(r["path"]).name: r for r in read_csv(out)}
    assert set(rows) == {"bad_\ufffd.jpeg", "ok.jpeg", "other.png"}
    assert rows["bad_\ufffd.jpeg"]["status"] == "ok" and rows["ok.jpeg"]["status"] == "ok"
    assert "bad_\ufffd.jpeg" in out_json.read_text(encoding="utf-8")
    # Again, now from the store's cache: the stored name round-trips.
    proc = run_scan([str(d), "--csv", str(out), "--model-dir", str(tiny_model_dir), "-q"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(read_csv(out)) == 3


def test_the_store_keeps_the_exact_name(tmp_path):
    from pneumo_desktop.core.results import OK, ScanResult
    from pneumo_desktop.core.store import ResultsStore

    name = "/x/bad_\udcff.jpeg"  # what os.fsdecode gives for the byte 0xff
    store = ResultsStore(tmp_path / "s.sqlite3")
    scan_id = store.begin_scan([name], "k")
    store.add(
        scan_id,
        [ScanResult(path=name, status=OK, probability=0.1, label="Normal", message="", content_hash="h")],
        "k",
    )
    (back,) = store.scan_results(scan_id)
    assert back.path == name  # the viewer can still open the file
    assert store.lookup("h", "k") is not None
    store.close()
