"""Decoding in child processes: same result as in-process; a crash ends a child, not the scan."""

import numpy as np
import pytest
from PIL import Image

from pneumo_desktop.core.decoding import CRASH_CODE, DecoderPool, decode_for_model
from pneumo_desktop.core.errors import XRayLoadError
from pneumo_desktop.core.model import Predictor
from pneumo_desktop.core.precision import sample_films
from pneumo_desktop.core.scan import Scanner


def _films(folder, names):
    folder.mkdir(parents=True, exist_ok=True)
    for name, film in zip(names, sample_films(128, n=len(names)), strict=True):
        Image.fromarray((film * 255).astype(np.uint8), mode="L").save(folder / name)
    return [folder / n for n in names]


def test_child_decoding_equals_in_process(tmp_path, tiny_model_dir):
    spec = Predictor(tiny_model_dir, device="cpu", precision="float32").spec
    (path,) = _films(tmp_path, ["a.png"])
    pool = DecoderPool(1)
    try:
        xray, issue, inputs, thumb = pool.decode(str(path), spec)
        here = decode_for_model(str(path), spec)
        np.testing.assert_array_equal(inputs, here[2])
        assert xray.path == here[0].path and xray.width == 128 and issue == here[1]
        assert thumb is None and here[3] is None  # no gate asked for
        # With the gate's per-file part (statistics, thumbnail), pickled to the child:
        from pneumo_desktop.core.quality import GatePrep

        gate = GatePrep(None, 64)
        _, _, _, thumb = pool.decode(str(path), spec, gate)
        np.testing.assert_array_equal(thumb, decode_for_model(str(path), spec, gate=gate)[3])
        assert thumb.shape[:2] == (64, 64)
        (tmp_path / "letter.txt").write_text("Dear colleague")
        with pytest.raises(XRayLoadError) as err:
            pool.decode(str(tmp_path / "letter.txt"), spec)
        with pytest.raises(XRayLoadError) as err_here:
            decode_for_model(str(tmp_path / "letter.txt"), spec)
        assert err.value.code == err_here.value.code and str(err.value) == str(err_here.value)
    finally:
        pool.close()


def test_a_crashing_decoder_fails_one_file_and_the_scan_goes_on(tmp_path, tiny_model_dir, monkeypatch):
    monkeypatch.setenv("PNEUMO_DECODER_CRASH_TEST", "hostile")  # the child aborts on such a path
    files = _films(tmp_path / "in", ["a.png", "hostile.png", "b.png", "c.png"])
    predictor = Predictor(tiny_model_dir, device="cpu", precision="float32")
    pool = DecoderPool(1)
    try:
        rows = {r.name: r for r in Scanner(predictor, store=None, batch_size=2, decoder=pool).scan_all(files)}
    finally:
        pool.close()
    bad = rows["hostile.png"]
    assert bad.status == "error" and bad.reason_code == CRASH_CODE and "crashed" in bad.message
    assert not bad.cacheable  # tried again next time
    assert all(rows[n].status == "ok" and rows[n].heatmap for n in ("a.png", "b.png", "c.png"))


def _slow_film(folder, side=5000):
    """A film whose decoding takes a noticeable time (a large noisy PNG)."""
    rng = np.random.default_rng(0)
    path = folder / "large.png"
    Image.fromarray(rng.integers(0, 255, (side, side), dtype=np.uint8), mode="L").save(path, compress_level=1)
    return path


def test_closing_waits_for_the_file_being_decoded(tmp_path, tiny_model_dir):
    import threading
    import time

    spec = Predictor(tiny_model_dir, device="cpu", precision="float32").spec
    path = _slow_film(tmp_path)
    pool = DecoderPool(1)
    pool.decode(str(path), spec)  # the child is up
    got: list[object] = []
    worker = threading.Thread(target=lambda: got.append(_outcome(pool, path, spec)))
    worker.start()
    time.sleep(0.05)  # the decode is under way
    pool.close(wait=60)
    worker.join(30)
    assert got and not isinstance(got[0], Exception), got  # it finished: no crash row for it
    with pytest.raises(XRayLoadError) as err:
        pool.decode(str(path), spec)  # closed: no new work, and no process is started again
    assert err.value.code == "cancelled"
    pool.close()  # twice is fine


def test_a_decode_still_running_after_the_wait_is_cancelled_not_a_crash(tmp_path, tiny_model_dir, caplog):
    import threading
    import time

    spec = Predictor(tiny_model_dir, device="cpu", precision="float32").spec
    path = _slow_film(tmp_path, side=7000)  # under the loader's 60 MP limit
    pool = DecoderPool(1)
    got: list[object] = []
    worker = threading.Thread(target=lambda: got.append(_outcome(pool, path, spec)))
    worker.start()
    time.sleep(0.3)
    pool.close(wait=0)
    worker.join(30)
    if not isinstance(got[0], Exception):
        pytest.skip("the file decoded before the pool closed (a very fast machine)")
    assert isinstance(got[0], XRayLoadError) and got[0].code == "cancelled", got
    assert "decoder process ended" not in caplog.text  # ended on purpose: no crash warning


def test_decoder_children_ignore_ctrl_c(tmp_path, tiny_model_dir):
    import os
    import signal
    import sys

    if sys.platform == "win32":
        pytest.skip("POSIX signals")
    spec = Predictor(tiny_model_dir, device="cpu", precision="float32").spec
    (path,) = _films(tmp_path, ["a.png"])
    with DecoderPool(1) as pool:
        pool.decode(str(path), spec)  # the child is serving (its handler is installed)
        (decoder,) = pool._all
        os.kill(decoder._proc.pid, signal.SIGINT)  # what a terminal's Ctrl+C sends the process group
        xray, _, _, _ = pool.decode(str(path), spec)
        assert xray.width == 128 and decoder._proc is not None and decoder._proc.is_alive()


def _outcome(pool, path, spec):
    try:
        return pool.decode(str(path), spec)
    except Exception as exc:
        return exc


def test_when_the_processes_cannot_start_files_are_decoded_here(tmp_path):
    """``python -`` (a script on a pipe): a spawned child cannot import the parent's main script
    again and dies before serving. Every file must still get its real row, not a crash row."""
    import subprocess
    import sys
    from pathlib import Path

    (path,) = _films(tmp_path, ["a.png"])
    script = f"""
import logging
from pneumo_desktop.core.decoding import DecoderPool
from pneumo_desktop.core.preprocess import PreprocessSpec
logging.basicConfig(level=logging.WARNING)
with DecoderPool(1) as pool:
    for _ in range(2):
        xray, _, inputs, _ = pool.decode({str(path)!r}, PreprocessSpec(size=64))
        print("decoded", xray.width, inputs.shape)
"""
    repo = str(Path(__file__).resolve().parents[2])
    proc = subprocess.run(
        [sys.executable, "-"], input=script, capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={**__import__("os").environ, "PYTHONPATH": repo},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("decoded 128") == 2, proc.stdout + proc.stderr[-3000:]
    assert "cannot start" in proc.stderr and "decoding in this process" in proc.stderr


def test_decoder_children_use_one_blas_thread_and_the_parent_keeps_its_environment(monkeypatch, tmp_path):
    import os
    import sys

    from pneumo_desktop.core.preprocess import PreprocessSpec

    if not sys.platform.startswith("linux"):
        pytest.skip("reads /proc")
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the user's own setting wins
    (path,) = _films(tmp_path, ["a.png"])
    with DecoderPool(1) as pool:
        pool.decode(str(path), PreprocessSpec(size=64))  # the child runs (its exec is done)
        (decoder,) = pool._all
        with open(f"/proc/{decoder._proc.pid}/environ", "rb") as fh:
            child = dict(v.split(b"=", 1) for v in fh.read().split(b"\0") if b"=" in v)
    assert child[b"OPENBLAS_NUM_THREADS"] == b"1" and child[b"OMP_NUM_THREADS"] == b"3"
    assert "OPENBLAS_NUM_THREADS" not in os.environ


def test_starting_a_decoder_never_changes_os_environ(monkeypatch, tmp_path):
    """Other threads (a model runtime starting up, a library copying the environment) read
    ``os.environ`` while a scan starts its decoders: the children's settings must not appear there,
    even for a moment."""
    import os

    from pneumo_desktop.core.preprocess import PreprocessSpec

    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    writes: list[str] = []
    environ_type = type(os.environ)
    real_set, real_del = environ_type.__setitem__, environ_type.__delitem__

    def set_item(self, key, value):
        writes.append(key)
        real_set(self, key, value)

    def del_item(self, key):
        writes.append(key)
        real_del(self, key)

    (path,) = _films(tmp_path, ["a.png"])
    monkeypatch.setattr(environ_type, "__setitem__", set_item)
    monkeypatch.setattr(environ_type, "__delitem__", del_item)
    with DecoderPool(2) as pool:
        pool.decode(str(path), PreprocessSpec(size=64))
    monkeypatch.undo()
    assert writes == []


def test_where_spawn_copies_os_environ_the_settings_go_there_briefly(monkeypatch, tmp_path):
    """Windows with Python in a virtual environment: spawn gives the child ``os.environ.copy()``,
    so a C-level setting would not reach it."""
    import os
    import sys

    from pneumo_desktop.core import decoding
    from pneumo_desktop.core.preprocess import PreprocessSpec

    if not sys.platform.startswith("linux"):
        pytest.skip("reads /proc")
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.setattr(decoding, "_spawn_copies_os_environ", lambda: True)
    (path,) = _films(tmp_path, ["a.png"])
    with DecoderPool(1) as pool:
        pool.decode(str(path), PreprocessSpec(size=64))
        (decoder,) = pool._all
        with open(f"/proc/{decoder._proc.pid}/environ", "rb") as fh:
            child = dict(v.split(b"=", 1) for v in fh.read().split(b"\0") if b"=" in v)
    assert child[b"OPENBLAS_NUM_THREADS"] == b"1"
    assert "OPENBLAS_NUM_THREADS" not in os.environ


def test_a_child_that_came_up_but_decoded_nothing_leaves_cleanly():
    """Closing a pool whose children are up but were never asked for a file (every film cached):
    they read the goodbye and exit 0, they are not killed."""
    pool = DecoderPool(1)
    (decoder,) = pool._all
    assert decoder._conn.poll(120)  # its hello is waiting: it is up
    proc = decoder._proc
    pool.close()
    assert proc.exitcode == 0


def test_a_decoder_ended_by_its_closing_pool_never_starts_again():
    """The pool ends a busy decoder from its closing thread; the loader thread that owns it may be
    about to start a new child (after a crash): that child would outlive the pool."""
    from pneumo_desktop.core.decoding import _Decoder
    from pneumo_desktop.core.preprocess import PreprocessSpec

    decoder = _Decoder()  # not started: as between a crashed child and its replacement
    decoder.end()
    with pytest.raises(XRayLoadError) as err:
        decoder.decode("any.png", PreprocessSpec(size=64))
    assert err.value.code == "cancelled" and decoder._proc is None


@pytest.mark.real_data
def test_native_decoder_messages_go_to_the_log_not_the_terminal(dicom_dir, capfd, caplog, tmp_path):
    """libjpeg prints "Unsupported JPEG data precision 12" on fd 2 for this file: from a decoder
    process it must reach the log (DEBUG), not the user's terminal after the scan's summary."""
    import glob
    import logging
    import tempfile

    from pneumo_desktop.core.preprocess import PreprocessSpec

    noisy = dicom_dir / "cr_hip_mono2_10bit_jpeg_extended_lossy.dcm"
    if not noisy.exists():
        pytest.skip(f"{noisy} missing")
    before = set(glob.glob(f"{tempfile.gettempdir()}/pneumo-decoder-*"))
    caplog.set_level(logging.DEBUG, logger="pneumo_desktop.core.decoding")
    with DecoderPool(1) as pool:
        try:
            pool.decode(str(noisy), PreprocessSpec(size=64))
        except XRayLoadError:
            pass  # whatever the verdict, the native message is the point here
    assert "JPEG data precision" not in capfd.readouterr().err
    assert "decoder: Unsupported JPEG data precision 12" in caplog.text
    assert set(glob.glob(f"{tempfile.gettempdir()}/pneumo-decoder-*")) <= before  # nothing left behind


def test_a_child_stopped_from_outside_cancels_its_file_rather_than_crashing_it(tmp_path, tiny_model_dir):
    """A service manager stops a service with SIGTERM to every process of it: the file a decoder was
    reading is 'cancelled' (scanned again next time), not a 'decoder_crash' row."""
    import os
    import signal
    import sys
    import threading
    import time

    if sys.platform == "win32":
        pytest.skip("POSIX signals")
    spec = Predictor(tiny_model_dir, device="cpu", precision="float32").spec
    path = _slow_film(tmp_path, side=7000)  # under the loader's 60 MP limit
    (small,) = _films(tmp_path / "small", ["a.png"])
    with DecoderPool(1) as pool:
        pool.decode(str(small), spec)  # the child is serving
        (decoder,) = pool._all
        got: list[object] = []
        worker = threading.Thread(target=lambda: got.append(_outcome(pool, path, spec)))
        worker.start()
        time.sleep(0.3)
        os.kill(decoder._proc.pid, signal.SIGTERM)
        worker.join(30)
        if not isinstance(got[0], Exception):
            pytest.skip("the file decoded before the signal (a very fast machine)")
        assert isinstance(got[0], XRayLoadError) and got[0].code == "cancelled", got
        xray, _, _, _ = pool.decode(str(small), spec)  # a new child serves the next file
        assert xray.width == 128
