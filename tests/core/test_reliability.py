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


# -- 2. spreadsheet formula injection -------------------------------------------------------------
FORMULA = ("=", "+", "-", "@", "\t", "\r")
TEXT_COLUMNS = ("path", "message", "modality", "view_position", "study_date", "patient_id", "patient_name")


def _assert_safe(cell: str, original: str) -> None:
    from pneumo_desktop.core.export import display_text

    shown = display_text(original)
    if shown.startswith(FORMULA):
        assert cell == "'" + shown
    else:
        assert cell == shown
    assert not cell.startswith(FORMULA)


hyp = pytest.importorskip("hypothesis")
st = hyp.strategies
formula_text = st.one_of(
    st.text(st.characters(codec=None), max_size=30),  # any code point, lone surrogates included
    st.tuples(st.sampled_from(FORMULA), st.text(max_size=30)).map("".join),
)


@hyp.settings(max_examples=200, deadline=None)
@hyp.given(values=st.fixed_dictionaries({c: formula_text for c in TEXT_COLUMNS}))
def test_no_csv_cell_is_a_formula(values, tmp_path_factory):
    from pneumo_desktop.core.results import REJECTED, ScanResult, write_csv

    out = tmp_path_factory.mktemp("csv") / "r.csv"
    r = ScanResult(status=REJECTED, probability=0.25, label="Needs review", ood_score=1.5, width=3, **values)
    write_csv([r], out, include_patient=True)
    (row,) = read_csv(out)
    for c in TEXT_COLUMNS:
        _assert_safe(row[c], values[c])
    assert row["probability"] == "0.2500" and row["width"] == "3"  # numbers are never quoted


@pytest.mark.real_data
@hyp.settings(max_examples=25, deadline=None)
@hyp.given(
    tags=st.fixed_dictionaries(
        {
            "ViewPosition": st.tuples(st.sampled_from(FORMULA[:4]), st.text("AP=+-@()\"' ", max_size=12)).map(
                "".join
            ),
            "PatientID": st.tuples(
                st.sampled_from(FORMULA[:4]), st.text('HYPERLINK("x")=+', max_size=20)
            ).map("".join),
        }
    )
)
def test_dicom_values_do_not_reach_the_csv_as_formulas(tags, dicom_dir, tmp_path_factory):
    """Tag values as a DICOM file carries them, read by the app's loader and exported."""
    import pydicom

    from pneumo_desktop.core.images import load_xray
    from pneumo_desktop.core.results import OK, ScanResult, write_csv

    folder = tmp_path_factory.mktemp("dcm")
    ds = pydicom.dcmread(dicom_dir / "dx_chest_mono2_8bit_implicit_le.dcm")
    for k, v in tags.items():
        setattr(ds, k, v)
    ds.PatientName = "@cmd|' /C calc'!A0"
    ds.save_as(folder / "f.dcm")
    x = load_xray(folder / "f.dcm")
    r = ScanResult(
        path=str(folder / "=1+2.dcm"),
        status=OK,
        probability=0.5,
        label="Pneumonia",
        message="",
        view_position=x.view_position or "",
        patient_id=x.patient_id or "",
        patient_name=x.patient_name or "",
    )
    write_csv([r], folder / "r.csv", include_patient=True)
    (row,) = read_csv(folder / "r.csv")
    for c in ("view_position", "patient_id", "patient_name"):
        _assert_safe(row[c], getattr(r, c))
    assert row["patient_name"].startswith("'@")


def test_formula_file_names_end_to_end(tiny_model_dir, tmp_path, monkeypatch):
    import numpy as np
    from PIL import Image

    from pneumo_desktop.cli import main

    d = tmp_path / "d"
    d.mkdir()
    for i, name in enumerate(["=1+2.png", "@cmd.png", "+x.png", "-y.png"]):
        Image.fromarray((np.random.default_rng(i).random((64, 64)) * 255).astype(np.uint8)).save(d / name)
    out = tmp_path / "o.csv"
    monkeypatch.chdir(d)  # names as given on the command line: "=1+2.png"
    names = sorted(os.listdir(d))
    assert main(["--csv", str(out), "--model-dir", str(tiny_model_dir), "-q", "--", *names]) == 0
    rows = read_csv(out)
    assert sorted(r["path"] for r in rows) == sorted("'" + n for n in names)
