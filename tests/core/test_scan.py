import csv
import json
import os
import shutil
import socket
import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pneumo_desktop.core import scan as scan_module
from pneumo_desktop.core.model import Predictor
from pneumo_desktop.core.resultfiles import write_csv
from pneumo_desktop.core.results import ERROR, OK, REJECTED
from pneumo_desktop.core.scan import FolderWatcher, ScanBatch, Scanner, ScanOutcome, ScanStarted, drive
from pneumo_desktop.core.store import ResultsStore


@pytest.fixture(scope="module")
def predictor(tiny_model_dir):
    return Predictor(tiny_model_dir, device="cpu")


def _noise_png(path: Path, seed: int, size=(200, 160)) -> Path:
    rng = np.random.default_rng(seed)
    arr = (rng.random(size[::-1]) * 255).astype(np.uint8)
    Image.fromarray(arr).save(path)
    return path


@pytest.fixture
def mixed_folder(tmp_path):
    root = tmp_path / "scan"
    (root / "sub").mkdir(parents=True)
    for i in range(5):
        _noise_png(root / f"img{i}.png", i)
    _noise_png(root / "sub" / "deep.png", 99)
    Image.new("L", (300, 300), 128).save(root / "blank.png")  # rejected: blank
    _noise_png(root / "tiny.png", 5, size=(40, 40))  # rejected: too small
    (root / "notes.png").write_text("this is not an image at all\n")
    (root / "empty.dcm").write_bytes(b"")
    data = (root / "img0.png").read_bytes()
    (root / "cut.png").write_bytes(data[: len(data) // 3])
    return root


def test_every_file_gets_a_row_and_the_scan_goes_on(predictor, mixed_folder):
    store = ResultsStore(":memory:")
    results = Scanner(predictor, store=store, batch_size=4).scan_all([mixed_folder])
    by_name = {r.name: r for r in results}
    assert len(results) == 11
    for i in range(5):
        assert by_name[f"img{i}.png"].status == OK
        assert 0 <= by_name[f"img{i}.png"].probability <= 1
        assert by_name[f"img{i}.png"].label in ("Pneumonia", "Normal")
    assert by_name["deep.png"].status == OK
    assert by_name["blank.png"].status == REJECTED and by_name["blank.png"].label == "Needs review"
    assert "blank" in by_name["blank.png"].message
    assert by_name["tiny.png"].status == REJECTED and by_name["tiny.png"].reason_code == "too_small"
    for name in ("notes.png", "empty.dcm", "cut.png"):
        assert by_name[name].status == ERROR and by_name[name].label == "Unreadable"
        assert by_name[name].message and "Traceback" not in by_name[name].message
    assert "text" in by_name["notes.png"].message
    assert "empty" in by_name["empty.dcm"].message


def test_results_stream_in_batches_with_progress(predictor, mixed_folder):
    batches = list(Scanner(predictor, batch_size=2).scan([mixed_folder]))
    assert len(batches) > 2
    dones = [p.done for _, p in batches]
    assert dones == sorted(dones) and dones[-1] == 11
    assert all(p.total == 11 for _, p in batches)


def test_cancel_between_batches(predictor, mixed_folder):
    store = ResultsStore(":memory:")
    cancel = threading.Event()
    got = []
    for batch, _ in Scanner(predictor, store=store, batch_size=1).scan([mixed_folder], cancel):
        got.extend(batch)
        cancel.set()
    assert 0 < len(got) < 11
    scan = store.scans()[0]
    assert scan.state == "cancelled" and scan.count == len(got)


def test_run_walks_once_yields_events_and_returns_an_outcome(predictor, mixed_folder, monkeypatch):
    walks = []
    real = scan_module.iter_image_files
    monkeypatch.setattr(scan_module, "iter_image_files", lambda roots: (walks.append(roots), real(roots))[1])
    store = ResultsStore(":memory:")
    events = []
    outcome = drive(Scanner(predictor, store=store, batch_size=4).run([mixed_folder]), events.append)
    assert len(walks) == 1  # the folder is listed once: the total comes from the same walk
    assert isinstance(events[0], ScanStarted) and events[0].total == 11
    assert events[0].scan_id == store.scans()[0].id
    batches = events[1:]
    assert batches and all(isinstance(e, ScanBatch) for e in batches)
    assert sum(len(e.rows) for e in batches) == 11 and batches[-1].progress.done == 11
    assert outcome == ScanOutcome("finished", 11, 11, outcome.seconds, events[0].scan_id)
    assert not outcome.cancelled


def test_run_cancelled_between_batches_says_so(predictor, mixed_folder):
    store = ResultsStore(":memory:")
    cancel = threading.Event()
    outcome = drive(
        Scanner(predictor, store=store, batch_size=1).run([mixed_folder], cancel),
        lambda e: cancel.set() if isinstance(e, ScanBatch) else None,
    )
    assert outcome.cancelled and 0 < outcome.done < outcome.total == 11
    assert store.scans()[0].state == "cancelled"


def test_store_caches_and_survives_restart(predictor, mixed_folder, tmp_path):
    db = tmp_path / "results.sqlite3"
    first = Scanner(predictor, store=ResultsStore(db)).scan_all([mixed_folder])
    # A new store on the same file: as after a crash or a restart of the app.
    store2 = ResultsStore(db)
    assert store2.scans()[0].count == 11
    again = Scanner(predictor, store=store2).scan_all([mixed_folder])
    cached = [r for r in again if r.cached]
    assert len(cached) == 11  # every row here depends on the file's bytes alone
    p1 = {r.name: r.probability for r in first}
    for r in again:
        assert r.probability == p1[r.name]
    # A different threshold relabels cached results without running the model.
    relabelled = Scanner(predictor, store=store2, threshold=0.0).scan_all([mixed_folder])
    assert all(r.label == "Pneumonia" for r in relabelled if r.status == OK)


def test_threshold_relabel(predictor, mixed_folder):
    results = Scanner(predictor).scan_all([mixed_folder])
    ok = [r for r in results if r.status == OK]
    assert all(r.relabel(1.01).label == "Normal" for r in ok)
    assert all(r.relabel(0.0).label == "Pneumonia" for r in ok)
    bad = [r for r in results if r.status != OK]
    assert all(r.relabel(0.0).label in ("Needs review", "Unreadable") for r in bad)


def test_whole_scan_opens_no_network_socket(tiny_model_dir, mixed_folder, monkeypatch):
    """Nothing leaves the machine: loading the model and scanning never connect anywhere."""
    attempts = []

    def guard(self, address, *args, **kwargs):
        attempts.append(address)
        raise AssertionError(f"network access attempted: {address}")

    monkeypatch.setattr(socket.socket, "connect", guard)
    monkeypatch.setattr(socket.socket, "connect_ex", guard)
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: guard(None, a))
    predictor = Predictor(tiny_model_dir, device="cpu")
    results = Scanner(predictor, store=ResultsStore(":memory:")).scan_all([mixed_folder])
    assert len(results) == 11 and attempts == []


def test_csv_export(predictor, mixed_folder, tmp_path):
    results = Scanner(predictor).scan_all([mixed_folder])
    out = tmp_path / "out.csv"
    assert write_csv(results, out) == 11
    with open(out, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 11
    assert {"path", "status", "probability", "label", "message"} <= set(rows[0])
    assert "patient_name" not in rows[0]


def test_folder_watcher_sees_new_complete_files(tmp_path):
    _noise_png(tmp_path / "old.png", 1)
    watcher = FolderWatcher([tmp_path], settle=1)
    assert watcher.poll() == []
    _noise_png(tmp_path / "new.png", 2)
    assert watcher.poll() == []  # first sighting: wait until its size is stable
    assert watcher.poll() == [str(tmp_path / "new.png")]
    assert watcher.poll() == []


def test_folder_watcher_waits_for_writers_and_sees_rewrites(tmp_path):
    watcher = FolderWatcher([tmp_path])  # settle=2: unchanged over two polls
    path = tmp_path / "incoming.png"
    path.write_bytes(b"")  # a placeholder the export program fills later
    assert [watcher.poll() for _ in range(4)] == [[], [], [], []]
    data = _noise_png(tmp_path / "src.png", 3).read_bytes()
    (tmp_path / "src.png").unlink()
    path.write_bytes(data[:100])  # half written
    assert watcher.poll() == []
    path.write_bytes(data)
    assert watcher.poll() == [] and watcher.poll() == []
    assert watcher.poll() == [str(path)]
    assert watcher.poll() == []
    # The same name written again (a retake exported over the old file) is reported again.
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert [watcher.poll() for _ in range(3)] == [[], [], [str(path)]]


def test_files_arriving_during_the_first_scan_are_watched(predictor, mixed_folder):
    # The CLI creates the watcher before its first scan: a file written while that scan runs
    # is neither in the scan's list nor taken as already known.
    watcher = FolderWatcher([mixed_folder], settle=1)
    first = Scanner(predictor).scan_all([mixed_folder])
    _noise_png(mixed_folder / "arrived.png", 42)
    assert watcher.poll() == [] and watcher.poll() == [str(mixed_folder / "arrived.png")]
    assert "arrived.png" not in {r.name for r in first}


class _Flaky:
    """The real predictor, except that its next model calls fail with ``error``."""

    def __init__(self, inner, error: BaseException, failures: int = 1) -> None:
        self._inner, self._error, self.failures = inner, error, failures

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def predict_batch(self, batch):
        if self.failures > 0:
            self.failures -= 1
            raise self._error
        return self._inner.predict_batch(batch)


def test_transient_failures_are_not_cached(predictor, mixed_folder, tmp_path):
    store = ResultsStore(tmp_path / "r.sqlite3")
    flaky = _Flaky(predictor, RuntimeError("out of GPU memory"))
    first = {r.name: r for r in Scanner(flaky, store=store, batch_size=16).scan_all([mixed_folder])}
    assert first["img0.png"].status == ERROR and first["img0.png"].reason_code == "inference"
    again = {r.name: r for r in Scanner(predictor, store=store).scan_all([mixed_folder])}
    assert again["img0.png"].status == OK and not again["img0.png"].cached
    assert again["notes.png"].cached  # not an image: the same bytes always give that row


def test_cache_key_follows_the_model_card(predictor, mixed_folder, tiny_model_dir, tmp_path):
    store = ResultsStore(tmp_path / "r.sqlite3")
    Scanner(predictor, store=store).scan_all([mixed_folder])
    recalibrated = tmp_path / "model"
    shutil.copytree(tiny_model_dir, recalibrated)
    card = json.loads((recalibrated / "model_card.json").read_text())
    card["temperature"] = 2.0 * card.get("temperature", 1.0)  # same weights file, new calibration
    (recalibrated / "model_card.json").write_text(json.dumps(card))
    again = Scanner(Predictor(recalibrated, device="cpu"), store=store).scan_all([mixed_folder])
    assert not any(r.cached for r in again)


def test_a_failing_store_lookup_is_a_cache_miss(predictor, mixed_folder, monkeypatch):
    store = ResultsStore(":memory:")

    def locked(*args):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(store, "lookup", locked)
    results = Scanner(predictor, store=store).scan_all([mixed_folder])
    assert len(results) == 11 and store.scans()[0].state == "finished"


def test_ctrl_c_mid_scan_keeps_results_and_says_interrupted(predictor, mixed_folder):
    store = ResultsStore(":memory:")
    flaky = _Flaky(predictor, KeyboardInterrupt(), failures=0)
    got = []
    with pytest.raises(KeyboardInterrupt):
        for batch, _ in Scanner(flaky, store=store, batch_size=2).scan([mixed_folder]):
            got.extend(batch)
            flaky.failures = 1  # Ctrl+C arrives during the next model call
    scan = store.scans()[0]
    assert scan.state == "interrupted" and scan.count == len(got) > 0


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX only")
def test_pipes_and_unlistable_folders_get_rows_not_hangs(predictor, mixed_folder, monkeypatch):
    os.mkfifo(mixed_folder / "pipe.png")  # inside a folder: a row too (issue 16), never opened
    os.mkfifo(mixed_folder.parent / "named.png")  # named explicitly: a row
    locked = mixed_folder / "locked"
    locked.mkdir()
    _noise_png(locked / "hidden.png", 8)
    real_scandir = os.scandir

    def scandir(path="."):
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)  # root reads any folder: simulate a locked one
    out: list = []
    worker = threading.Thread(
        target=lambda: out.extend(Scanner(predictor).scan_all([mixed_folder, mixed_folder.parent / "named.png"])),
        daemon=True,
    )
    worker.start()
    worker.join(120)
    assert not worker.is_alive(), "the scan hung on a named pipe"
    by_name = {r.name: r for r in out}
    assert by_name["pipe.png"].status == ERROR and len(out) == 14
    assert by_name["named.png"].status == ERROR and "pipe" in by_name["named.png"].message
    assert by_name["locked"].status == ERROR and "folder cannot be read" in by_name["locked"].message


@pytest.mark.real_data
def test_real_chest_images(predictor, chest_dir):
    files = sorted((chest_dir / "val" / "PNEUMONIA").iterdir())[:3] + sorted((chest_dir / "val" / "NORMAL").iterdir())[:3]
    results = Scanner(predictor, batch_size=4).scan_all(files)
    assert len(results) == 6
    assert all(r.status in (OK, REJECTED) and r.probability is not None for r in results)
    assert all(r.format == "JPEG" for r in results)


def test_a_file_rewritten_while_it_is_read_is_not_cached(predictor, tmp_path, monkeypatch):
    import pneumo_desktop.core.scan as scan_module

    path = _noise_png(tmp_path / "exported.png", 1)
    real_load = scan_module.load_xray

    def load_after_a_rewrite(p):
        _noise_png(Path(p), 2)  # the export program writes the file again between hash and decode
        os.utime(p, ns=(0, Path(p).stat().st_mtime_ns + 10**9))
        return real_load(p)

    monkeypatch.setattr(scan_module, "load_xray", load_after_a_rewrite)
    store = ResultsStore(":memory:")
    (row,) = Scanner(predictor, store=store).scan_all([path])
    assert row.status == OK and row.content_hash == ""
    monkeypatch.setattr(scan_module, "load_xray", real_load)
    (again,) = Scanner(predictor, store=store).scan_all([path])
    assert not again.cached


def test_a_file_truncated_while_it_is_read_is_not_cached_as_corrupt(predictor, tmp_path, monkeypatch):
    import pneumo_desktop.core.scan as scan_module

    path = _noise_png(tmp_path / "exported.png", 1)
    real_load = scan_module.load_xray

    def load_mid_write(p):
        data = Path(p).read_bytes()
        Path(p).write_bytes(data[: len(data) // 3])  # caught half-way through a rewrite
        os.utime(p, ns=(0, Path(p).stat().st_mtime_ns + 10**9))
        return real_load(p)

    monkeypatch.setattr(scan_module, "load_xray", load_mid_write)
    store = ResultsStore(":memory:")
    (row,) = Scanner(predictor, store=store).scan_all([path])
    assert row.status == ERROR and row.reason_code == "corrupt" and row.content_hash == ""
    _noise_png(path, 1)  # the same bytes as when it was hashed
    monkeypatch.setattr(scan_module, "load_xray", real_load)
    (again,) = Scanner(predictor, store=store).scan_all([path])
    assert again.status == OK and not again.cached


def test_arrivals_can_join_a_recorded_scan(predictor, mixed_folder, tmp_path):
    store = ResultsStore(":memory:")
    scanner = Scanner(predictor, store=store)
    scanner.scan_all([mixed_folder])
    first = scanner.scan_id
    later = _noise_png(tmp_path / "later.png", 77)
    added = [r for batch, _ in scanner.scan([later], append_to=first) for r in batch]
    assert [r.name for r in added] == ["later.png"]
    (record,) = store.scans()
    assert record.id == first and record.count == 12 and record.state == "finished"
    assert store.scan_results(first)[-1].name == "later.png"
    # A scan that no longer exists: a new record instead.
    fresh = Scanner(predictor, store=store)
    list(fresh.scan([later], append_to=first + 100))
    assert fresh.scan_id != first + 100 and len(store.scans()) == 2
