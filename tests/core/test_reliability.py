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

import numpy as np
import pytest
from PIL import Image

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
    from pneumo_desktop.core.resultfiles import write_csv
    from pneumo_desktop.core.results import REJECTED, ScanResult

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

    from pneumo_desktop.core.io import load_xray
    from pneumo_desktop.core.resultfiles import write_csv
    from pneumo_desktop.core.results import OK, ScanResult

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


# -- 4. signals -------------------------------------------------------------------------------------
def _store_rows(store: Path) -> tuple[list[tuple], int]:
    import sqlite3

    if not store.exists():
        return [], 0
    db = sqlite3.connect(store, timeout=5)
    try:
        scans = db.execute("SELECT id, state FROM scans ORDER BY id").fetchall()
        items = db.execute("SELECT COUNT(*) FROM scan_items").fetchone()[0]
    except sqlite3.Error:
        return [], 0
    finally:
        db.close()
    return scans, items


def _many_films(shared_dir: Path, folder: Path, n: int) -> Path:
    src = shared_dir / "data" / "chest_xray_224sq" / "val" / "PNEUMONIA"
    if not src.is_dir():
        pytest.skip(f"{src} missing")
    folder.mkdir()
    for f in sorted(src.iterdir())[:n]:
        shutil.copy(f, folder / f.name)
    return folder


def _start_and_signal(args: list[str], tmp_path: Path, store: Path, signum: int, times: int = 1):
    import signal  # noqa: F401
    import time

    proc = subprocess.Popen(
        [*scan_cmd(), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=scan_env(tmp_path),
    )
    deadline = time.monotonic() + 240
    while _store_rows(store)[1] == 0 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)  # the first batch is stored: the scan is under way
    assert proc.poll() is None, proc.communicate()[1][-2000:]
    for _ in range(times):
        proc.send_signal(signum)
        time.sleep(0.05)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


@pytest.mark.real_data
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("signame, code", [("SIGTERM", 143), ("SIGINT", 130)])
def test_a_signal_finishes_the_batch_writes_the_exports_and_marks_the_scan(
    signame, code, tiny_model_dir, shared_dir, tmp_path
):
    import signal

    films = _many_films(shared_dir, tmp_path / "films", 400)
    store, out, out_json = tmp_path / "s.sqlite3", tmp_path / "o.csv", tmp_path / "o.json"
    args = [
        str(films),
        "--csv",
        str(out),
        "--json",
        str(out_json),
        "--store",
        str(store),
        "--batch-size",
        "4",
    ]
    rc, stdout, stderr = _start_and_signal(
        [*args, "--model-dir", str(tiny_model_dir)], tmp_path, store, getattr(signal, signame)
    )
    assert rc == code, stderr[-2000:]
    assert "Traceback" not in stderr
    assert "interrupted" in stderr and "Scanned" in stdout  # the summary too
    scans, items = _store_rows(store)
    assert [s[1] for s in scans] == ["interrupted"]
    rows = read_csv(out)
    assert 0 < len(rows) == items < 400  # every stored row reached the CSV, the scan stopped early
    assert len(__import__("json").loads(out_json.read_text(encoding="utf-8"))) == items


def test_scans_left_running_by_a_dead_process_are_marked_interrupted(tmp_path):
    import sqlite3

    from pneumo_desktop.core.store import ResultsStore

    path = tmp_path / "s.sqlite3"
    store = ResultsStore(path)
    mine = store.begin_scan(["a"], "k")
    store.close()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    db = sqlite3.connect(path)
    with db:
        host = __import__("socket").gethostname()
        db.execute("UPDATE scans SET owner=? WHERE id=?", (f"{host}:{int(dead.stdout)}", mine))
        # A scan of a live process (this one) and one from another computer are left alone.
        db.execute(
            "INSERT INTO scans (started, roots, model_sha, owner) VALUES (0, '[]', 'k', ?)",
            (f"{host}:{os.getppid()}",),
        )
        db.execute(
            "INSERT INTO scans (started, roots, model_sha, owner) VALUES (0, '[]', 'k', 'elsewhere:1')"
        )
        # A live process id whose start time differs: the id was reused after the recording one died.
        reused = db.execute(
            "INSERT INTO scans (started, roots, model_sha, owner) VALUES (0, '[]', 'k', ?)",
            (f"{host}:{os.getppid()}@1",),
        ).lastrowid
    db.close()
    store = ResultsStore(path)
    states = {r.id: r.state for r in store.scans()}
    store.close()
    assert states[mine] == "interrupted"
    if sys.platform == "linux":
        assert states[reused] == "interrupted"
    assert sorted(states.values())[-2:] == ["running", "running"]


# -- 3. one error model: full disks, a damaged or locked store, a missing export folder ------------
@pytest.fixture
def tiny_disk(tmp_path):
    """A real file system of 256 KiB (tmpfs; needs root on Linux), unmounted afterwards."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root on Linux")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {made.stderr!r}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def _assert_one_line(stderr: str, *words: str) -> None:
    assert "Traceback" not in stderr, stderr[-3000:]
    lines = [line for line in stderr.splitlines() if line.startswith("pneumo-scan:")]
    assert lines, stderr[-2000:]
    assert any(all(w in line for w in words) for line in lines), lines


@pytest.mark.real_data
def test_a_full_disk_under_the_store_stops_cleanly_and_the_csv_has_the_rows(
    tiny_model_dir, shared_dir, tmp_path, tiny_disk
):
    films = _many_films(shared_dir, tmp_path / "films", 400)
    out, store = tmp_path / "o.csv", tiny_disk / "s.sqlite3"
    proc = run_scan(
        [
            str(films),
            "--csv",
            str(out),
            "--store",
            str(store),
            "--no-cache",
            "--model-dir",
            str(tiny_model_dir),
            "-q",
        ],
        tmp_path,
    )
    assert proc.returncode == 4, proc.stderr[-2000:]
    _assert_one_line(proc.stderr, "full", "--store")
    _, stored = _store_rows(store)
    rows = read_csv(out)
    assert stored < len(rows) < 400  # every computed row (the failed batch included) reached the CSV


def test_a_full_disk_under_the_store_mocked(tiny_model_dir, tmp_path, monkeypatch, capsys):
    """The same without root: SQLite's own error, raised by the store on the third batch."""
    import sqlite3

    import numpy as np
    from PIL import Image

    from pneumo_desktop.cli import main
    from pneumo_desktop.core import store as store_module

    d = tmp_path / "d"
    d.mkdir()
    for i in range(12):
        Image.fromarray((np.random.default_rng(i).random((40, 40)) * 255).astype(np.uint8)).save(
            d / f"{i:02}.png"
        )
    real_insert, calls = store_module.ResultsStore.add.__wrapped__, []

    def add(self, scan_id, results, model_key):
        calls.append(1)
        if len(calls) >= 3:
            raise sqlite3.OperationalError("database or disk is full")
        return real_insert(self, scan_id, results, model_key)

    monkeypatch.setattr(store_module.ResultsStore, "add", store_module.guarded(add))
    out, js = tmp_path / "o.csv", tmp_path / "o.json"
    args = [
        str(d),
        "--csv",
        str(out),
        "--json",
        str(js),
        "--batch-size",
        "2",
        "--store",
        str(tmp_path / "s.db"),
    ]
    code = main([*args, "--model-dir", str(tiny_model_dir), "-q"])
    assert code == 4
    err = capsys.readouterr().err
    _assert_one_line(err, "full")
    assert len(read_csv(out)) == 6  # three batches of two: the one that failed to store included
    states = [s for s in _store_rows(tmp_path / "s.db")[0]]
    assert [s[1] for s in states] == ["interrupted"]


def test_a_damaged_store_is_moved_aside_and_a_new_one_started(tiny_model_dir, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    Image.fromarray(np.full((200, 200), 128, np.uint8)).save(d / "x.png")  # an image: not 'nothing to scan'
    store = tmp_path / "s.sqlite3"
    garbage = b"this is not an SQLite file " * 200
    store.write_bytes(garbage)
    proc = run_scan([str(d), "--store", str(store), "--model-dir", str(tiny_model_dir), "-q"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "moved aside" in proc.stderr
    (aside,) = tmp_path.glob("s.sqlite3.damaged-*")
    assert aside.read_bytes() == garbage  # never deleted
    assert _store_rows(store)[1] == 1


def test_a_store_locked_too_long_is_a_message_not_a_traceback(tiny_model_dir, tmp_path, monkeypatch, capsys):
    import sqlite3

    from pneumo_desktop.cli import main
    from pneumo_desktop.core import storage
    from pneumo_desktop.core.store import ResultsStore

    d = tmp_path / "d"
    d.mkdir()
    (d / "x.png").write_bytes(b"not an image")
    path = tmp_path / "s.sqlite3"
    ResultsStore(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another program holds the write lock
    monkeypatch.setattr(storage, "LOCK_TIMEOUT", 0.5)  # instead of 30 s
    try:
        code = main([str(d), "--store", str(path), "--model-dir", str(tiny_model_dir), "-q"])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert code == 4
    _assert_one_line(capsys.readouterr().err, "locked", "--store")


def test_a_missing_export_folder_is_a_usage_error_before_the_scan(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    Image.fromarray(np.full((200, 200), 128, np.uint8)).save(d / "x.png")  # an image: not 'nothing to scan'
    store = tmp_path / "s.sqlite3"
    for flag in ("--csv", "--json"):
        proc = run_scan(
            [
                str(d),
                flag,
                str(tmp_path / "nowhere" / "o.x"),
                "--store",
                str(store),
                "--model-dir",
                "/nonexistent",
            ],
            tmp_path,
        )
        assert proc.returncode == 2, proc.stderr  # before the model loads (its folder does not exist either)
        _assert_one_line(proc.stderr, "does not exist", "nowhere")
    assert not store.exists()


def test_enospc_while_exporting_keeps_the_old_file_and_says_so(tiny_disk, tmp_path):
    from pneumo_desktop.core.errors import ExportError
    from pneumo_desktop.core.resultfiles import write_csv, write_json
    from pneumo_desktop.core.results import OK, ScanResult

    target = tiny_disk / "o.json"
    write_json([], target)
    before = target.read_bytes()
    rows = [
        ScanResult(path=f"/x/{i:06}.png", status=OK, probability=0.5, label="Pneumonia", message="m" * 200)
        for i in range(2000)
    ]
    for writer, name in ((write_json, "o.json"), (write_csv, "o.csv")):
        with pytest.raises(ExportError, match="disk is full"):
            writer(rows, tiny_disk / name)
    assert target.read_bytes() == before  # atomic: the previous export is intact
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["o.json"]  # no temporary file left


def test_enospc_while_exporting_from_the_cli(tiny_model_dir, tmp_path, monkeypatch, capsys):
    import errno

    from pneumo_desktop.cli import main
    from pneumo_desktop.core import export

    d = tmp_path / "d"
    d.mkdir()
    (d / "x.png").write_bytes(b"not an image")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(export.os, "fsync", full)
    code = main([str(d), "--csv", str(tmp_path / "o.csv"), "--model-dir", str(tiny_model_dir), "-q"])
    assert code == 5
    _assert_one_line(capsys.readouterr().err, "disk is full", "o.csv")
    assert list(tmp_path.glob("*.csv")) == [] and list(tmp_path.glob(".o.csv*")) == []


# -- 5. integrity of the whole model folder -------------------------------------------------------------
@pytest.fixture
def model_with_ood(tiny_model_dir, tmp_path):
    """A copy of the tiny model with a real OOD reference and a manifest, as the export step writes."""
    import json

    import numpy as np

    from pneumo_desktop.core.integrity import write_manifest
    from pneumo_desktop.core.quality import OODReference

    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    feats = np.random.default_rng(0).normal(size=(50, 4))
    OODReference.fit(feats, "gap").save(folder / "ood_reference.npz")
    card = json.loads((folder / "model_card.json").read_text())
    card["ood"] = {"file": "ood_reference.npz", "layer": "gap", "threshold": 50.0}
    (folder / "model_card.json").write_text(json.dumps(card, indent=2))
    write_manifest(folder)
    return folder


def _edit_card(folder: Path, **changes) -> None:
    import json

    card = json.loads((folder / "model_card.json").read_text())
    card.update(changes)
    (folder / "model_card.json").write_text(json.dumps(card, indent=2))


def test_an_intact_model_folder_loads(model_with_ood):
    from pneumo_desktop.core.model import Predictor

    assert Predictor(model_with_ood, device="cpu").ood is not None


def test_a_zeroed_ood_reference_is_refused_with_exit_3(model_with_ood, tmp_path):
    from pneumo_desktop.core.errors import ModelError
    from pneumo_desktop.core.model import Predictor

    npz = model_with_ood / "ood_reference.npz"
    npz.write_bytes(b"\0" * npz.stat().st_size)
    with pytest.raises(ModelError, match="ood_reference.npz"):
        Predictor(model_with_ood, device="cpu")
    d = tmp_path / "d"
    d.mkdir()
    (d / "x.png").write_bytes(b"not an image")
    proc = run_scan([str(d), "--model-dir", str(model_with_ood), "-q"], tmp_path)
    assert proc.returncode == 3, proc.stderr[-2000:]
    _assert_one_line(proc.stderr, "ood_reference.npz", "reinstall")


@pytest.mark.parametrize(
    "changes",
    [
        {"threshold": 0.01},
        {"temperature": 9.0},
        {"ood": {"file": "ood_reference.npz", "layer": "gap", "threshold": 1e9}},
    ],
)
def test_an_edited_card_is_refused(model_with_ood, changes):
    from pneumo_desktop.core.errors import ModelError
    from pneumo_desktop.core.model import Predictor

    _edit_card(model_with_ood, **changes)
    with pytest.raises(ModelError, match="changed after its manifest"):
        Predictor(model_with_ood, device="cpu")


def test_a_new_file_the_card_names_must_be_in_the_manifest(model_with_ood):
    from pneumo_desktop.core.errors import ModelError
    from pneumo_desktop.core.integrity import write_manifest
    from pneumo_desktop.core.model import Predictor

    (model_with_ood / "orientation.keras").write_bytes(b"weights of another network")
    _edit_card(model_with_ood, orientation={"model_file": "orientation.keras"})
    with pytest.raises(ModelError):
        Predictor(model_with_ood, device="cpu")
    manifest = write_manifest(model_with_ood)  # what the lead runs after merging
    assert set(manifest["files"]) == {"tiny.keras", "ood_reference.npz", "orientation.keras"}
    Predictor(model_with_ood, device="cpu")
    (model_with_ood / "orientation.keras").write_bytes(b"other weights")
    with pytest.raises(ModelError, match="orientation.keras"):
        Predictor(model_with_ood, device="cpu")


def test_the_cache_key_covers_the_ood_reference(model_with_ood):
    import numpy as np

    from pneumo_desktop.core.card import ModelCard
    from pneumo_desktop.core.integrity import write_manifest
    from pneumo_desktop.core.quality import OODReference
    from pneumo_desktop.core.scan import cache_key

    before = cache_key(ModelCard.load(model_with_ood))
    OODReference.fit(np.random.default_rng(1).normal(size=(50, 4)), "gap").save(
        model_with_ood / "ood_reference.npz"
    )
    write_manifest(model_with_ood)
    assert cache_key(ModelCard.load(model_with_ood)) != before


def test_the_bundled_model_folder_matches_its_manifest():
    """Fails when the model or its card changed without ``python -m pneumo_desktop.core.integrity --write``."""
    import json

    from pneumo_desktop.core.integrity import verify_manifest
    from pneumo_desktop.core.paths import default_model_dir

    folder = default_model_dir()
    if not (folder / "model_card.json").exists():
        pytest.skip("no bundled model")
    raw = json.loads((folder / "model_card.json").read_text(encoding="utf-8"))
    assert verify_manifest(folder, raw) is True
    assert {raw["model_file"], raw["ood"]["file"]} <= set(raw["manifest"]["files"])


# -- 6. a scan never scans its own outputs ------------------------------------------------------------
def _png(path: Path, seed: int) -> None:
    import numpy as np
    from PIL import Image

    Image.fromarray((np.random.default_rng(seed).random((48, 48)) * 255).astype(np.uint8)).save(path)


def test_a_watch_does_not_feed_on_its_own_csv_or_store(tiny_model_dir, tmp_path):
    import threading
    import time

    from pneumo_desktop.cli import main

    d = tmp_path / "d"
    d.mkdir()
    _png(d / "a.png", 0)
    out, store = d / "results.csv", d / "results.sqlite3"

    def arrive() -> None:
        time.sleep(1.0)
        _png(d / "b.png", 1)

    threading.Thread(target=arrive, daemon=True).start()
    args = [str(d), "--watch", "--watch-interval", "0.2", "--watch-seconds", "6", "--csv", str(out)]
    assert (
        main([*args, "--json", str(d / "r.json"), "--store", str(store), "--model-dir", str(tiny_model_dir)])
        == 0
    )
    names = sorted(Path(r["path"]).name for r in read_csv(out))
    assert names == ["a.png", "b.png"]


# -- 8. the small things ----------------------------------------------------------------------------
def test_a_file_reached_twice_and_a_hidden_file(tiny_model_dir, tmp_path):
    from pneumo_desktop.cli import main

    d = tmp_path / "d"
    d.mkdir()
    _png(d / "a.png", 0)
    _png(d / ".hidden.png", 1)  # scanned like any other (docs/reliability.md)
    out = tmp_path / "o.csv"
    assert (
        main(
            [
                str(d),
                str(d / "a.png"),
                str(tmp_path / "d" / "." / "a.png"),
                "--csv",
                str(out),
                "--model-dir",
                str(tiny_model_dir),
                "-q",
            ]
        )
        == 0
    )
    rows = read_csv(out)
    assert sorted(Path(r["path"]).name for r in rows) == [".hidden.png", "a.png"]
    assert all(r["status"] != "error" for r in rows)  # decoded and judged (noise is rejected)


def test_a_large_non_image_is_not_hashed(tiny_model_dir, tmp_path, monkeypatch):
    from pneumo_desktop.core import scan as scan_module
    from pneumo_desktop.core.model import Predictor

    big = tmp_path / "video.mp4"
    with open(big, "wb") as fh:
        fh.write(b"\0\0\0\x18ftypmp42")
        fh.truncate(2 * 1024**3)  # 2 GB, sparse: costs nothing to make
    _png(tmp_path / "x.png", 0)
    hashed: list[str] = []
    real = scan_module.sha256_file
    monkeypatch.setattr(scan_module, "sha256_file", lambda p: hashed.append(Path(p).name) or real(p))
    results = scan_module.Scanner(Predictor(tiny_model_dir, device="cpu")).scan_all([big, tmp_path / "x.png"])
    assert hashed == ["x.png"]
    assert [r.reason_code for r in results if r.name == "video.mp4"] == ["not_image"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_in_watch_prints_the_summary_and_no_backend_chatter(tiny_model_dir, tmp_path):
    import signal
    import time

    d = tmp_path / "d"
    d.mkdir()
    _png(d / "a.png", 0)
    proc = subprocess.Popen(
        [
            *scan_cmd(),
            str(d),
            "--watch",
            "--model-dir",
            str(tiny_model_dir),
            "--store",
            str(tmp_path / "s.db"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=scan_env(tmp_path),
    )
    deadline = time.monotonic() + 240
    while _store_rows(tmp_path / "s.db")[1] == 0 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert "Scanned 1 files" in out and "Traceback" not in err
    assert "absl" not in err and "oneDNN" not in err and "I0000" not in err, err


@pytest.mark.skipif(sys.platform == "win32", reason="abort() in the child pops up a dialog there")
def test_a_decoder_crash_is_one_row_and_the_cli_batch_goes_on(tiny_model_dir, tmp_path):
    """A native decoder that aborts on a damaged file (GDCM does, on some broken JPEG streams) ends a
    decoder process, not ``pneumo-scan``: that file gets a ``decoder_crash`` row, the rest are scanned."""
    d = tmp_path / "d"
    d.mkdir()
    for i, name in enumerate(["a.png", "hostile.png", "b.png", "c.png", "d.png"]):
        _png(d / name, i)
    out = tmp_path / "o.csv"
    env = {**scan_env(tmp_path), "PNEUMO_DECODER_CRASH_TEST": "hostile"}  # the child aborts on that path
    proc = subprocess.run(
        [*scan_cmd(), str(d), "--csv", str(out), "--batch-size", "2", "--model-dir", str(tiny_model_dir), "-q"],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    rows = {Path(r["path"]).name: r for r in read_csv(out)}
    assert set(rows) == {"a.png", "hostile.png", "b.png", "c.png", "d.png"}
    assert rows["hostile.png"]["status"] == "error" and rows["hostile.png"]["reason_code"] == "decoder_crash"
    assert all(rows[n]["status"] != "error" for n in ("a.png", "b.png", "c.png", "d.png")), rows


# -- 7. privacy at rest -----------------------------------------------------------------------------
def _dicom_with_patient(dicom_dir: Path, folder: Path) -> Path:
    import pydicom

    ds = pydicom.dcmread(dicom_dir / "dx_chest_mono2_8bit_implicit_le.dcm")
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "PID-12345"
    folder.mkdir(exist_ok=True)
    ds.save_as(folder / "p.dcm")
    return folder / "p.dcm"


def _store_text(store: Path) -> bytes:
    return b"".join(p.read_bytes() for p in store.parent.glob(store.name + "*"))


@pytest.mark.real_data
def test_patient_data_is_not_stored_unless_asked_and_can_be_forgotten(tiny_model_dir, dicom_dir, tmp_path):
    from pneumo_desktop.cli import main

    d = tmp_path / "d"
    _dicom_with_patient(dicom_dir, d)
    store, out = tmp_path / "s.sqlite3", tmp_path / "o.csv"
    base = ["--store", str(store), "--model-dir", str(tiny_model_dir), "-q"]
    assert main([str(d), *base]) == 0
    assert b"Doe^Jane" not in _store_text(store) and b"PID-12345" not in _store_text(store)
    # Opted in: exported, and the cached row gets them back from the file's header.
    assert main([str(d), "--csv", str(out), "--include-patient", *base]) == 0
    (row,) = read_csv(out)
    assert row["patient_name"] == "Doe^Jane" and row["patient_id"] == "PID-12345"
    assert main([str(d), "--include-patient", "--no-cache", *base]) == 0
    assert b"Doe^Jane" in _store_text(store)  # kept, as asked
    assert main(["--forget-patient-data", "--store", str(store)]) == 0
    assert b"Doe^Jane" not in _store_text(store) and b"PID-12345" not in _store_text(store)
    from pneumo_desktop.core.store import ResultsStore

    s = ResultsStore(store)
    assert s.scans()[0].count == 1 and s.scan_results(s.scans()[0].id)[0].patient_name == ""
    s.close()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes")
def test_store_and_exports_are_owner_only(tiny_model_dir, tmp_path, monkeypatch):
    import stat

    from pneumo_desktop.cli import main

    monkeypatch.setenv("PNEUMO_DATA_DIR", str(tmp_path / "fresh" / "data"))
    old = os.umask(0o022)
    try:
        d = tmp_path / "d"
        d.mkdir()
        _png(d / "a.png", 0)
        out, js = tmp_path / "o.csv", tmp_path / "o.json"
        assert (
            main([str(d), "--csv", str(out), "--json", str(js), "--model-dir", str(tiny_model_dir), "-q"])
            == 0
        )
    finally:
        os.umask(old)
    data = tmp_path / "fresh" / "data"
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    files = [*data.glob("results.sqlite3*"), out, js]
    assert len(files) >= 3
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f


def test_retention_prunes_old_history(tmp_path):
    import time

    from pneumo_desktop.cli import main
    from pneumo_desktop.core.results import OK, ScanResult
    from pneumo_desktop.core.store import ResultsStore

    path = tmp_path / "s.sqlite3"
    s = ResultsStore(path)
    for age_days in (40, 1):
        sid = s.begin_scan(["x"], "k")
        row = ScanResult(
            path=f"/x/{age_days}.png",
            status=OK,
            probability=0.1,
            label="Normal",
            message="",
            content_hash=f"h{age_days}",
        )
        s.add(sid, [row], "k")
        s.end_scan(sid)
        with s._db:
            s._db.execute("UPDATE scans SET started=? WHERE id=?", (time.time() - age_days * 86400, sid))
            s._db.execute(
                "UPDATE results SET created=? WHERE content_hash=?",
                (time.time() - age_days * 86400, f"h{age_days}"),
            )
    s.close()
    assert main(["--retention-days", "30", "--store", str(path)]) == 0
    s = ResultsStore(path)
    assert len(s.scans()) == 1 and s.lookup("h40", "k") is None and s.lookup("h1", "k") is not None
    s.close()
    assert main(["--retention-days", "-1", "--store", str(path)]) == 2


def test_exports_to_a_link_or_a_pipe(tmp_path):
    """``--csv /dev/stdout`` and a linked CSV keep working: a pipe is written in place, a link's
    target is replaced and the link stays."""
    import threading

    from pneumo_desktop.core.resultfiles import write_csv
    from pneumo_desktop.core.results import OK, ScanResult

    rows = [ScanResult(path="/x/a.png", status=OK, probability=0.5, label="Pneumonia", message="")]
    real = tmp_path / "real.csv"
    real.write_text("old")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    write_csv(rows, link)
    assert link.is_symlink() and "a.png" in real.read_text(encoding="utf-8-sig")
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "pipe.csv"
        os.mkfifo(fifo)
        got: list[str] = []
        reader = threading.Thread(
            target=lambda: got.append(fifo.read_text(encoding="utf-8-sig")), daemon=True
        )
        reader.start()
        write_csv(rows, fifo)
        reader.join(10)
        assert "a.png" in got[0] and fifo.is_fifo()


def test_an_unexpected_failure_still_exports_what_was_computed(tiny_model_dir, tmp_path, monkeypatch, capsys):
    from pneumo_desktop.cli import main
    from pneumo_desktop.core import scan as scan_module

    d = tmp_path / "d"
    d.mkdir()
    for i in range(6):
        _png(d / f"{i}.png", i)
    real_finish, calls = scan_module.Scanner._finish, []

    def finish(self, ready):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("a bug")
        return real_finish(self, ready)

    monkeypatch.setattr(scan_module.Scanner, "_finish", finish)
    out = tmp_path / "o.csv"
    code = main([str(d), "--csv", str(out), "--batch-size", "2", "--model-dir", str(tiny_model_dir), "-q"])
    assert code == 1
    _assert_one_line(capsys.readouterr().err, "unexpected error", "RuntimeError")
    assert len(read_csv(out)) == 2


def test_a_lean_runtime_still_checks_the_whole_model_folder(tmp_path, monkeypatch):
    """The lean bundle leaves the .keras out; the OOD reference and the card are still checked."""
    pytest.importorskip("openvino")
    from pneumo_desktop.core.errors import ModelError
    from pneumo_desktop.core.model import Predictor
    from pneumo_desktop.core.paths import default_model_dir

    monkeypatch.setenv("PNEUMO_RUNTIME", "openvino")
    src, dst = default_model_dir(), tmp_path / "m"
    dst.mkdir()
    import json

    weights = json.loads((src / "model_card.json").read_text())["model_file"]
    for f in src.iterdir():
        if f.is_file() and f.name != weights:  # what build.spec leaves out of a lean bundle
            shutil.copy(f, dst / f.name)
    assert Predictor(dst).lean is not None  # the lean bundle's layout loads
    npz = dst / "ood_reference.npz"
    npz.write_bytes(b"\0" * npz.stat().st_size)
    with pytest.raises(ModelError, match="ood_reference.npz"):
        Predictor(dst)
