"""The model in a child process: same answers, TensorFlow never imported here, survives a crash."""

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from pneumo_desktop.core.errors import ModelError
from pneumo_desktop.core.model import Predictor
from pneumo_desktop.core.preprocess import preprocess_batch
from pneumo_desktop.core.remote import RemotePredictor
from pneumo_desktop.core.scan import Scanner


@pytest.fixture(scope="module")
def remote(tiny_model_dir):
    p = RemotePredictor(tiny_model_dir, device="cpu", precision="float32")
    yield p
    p.close()


def test_same_predictions_and_maps_as_in_process(remote, tiny_model_dir):
    local = Predictor(tiny_model_dir, device="cpu", precision="float32")
    xs = preprocess_batch(
        [np.random.default_rng(i).random((40, 50), dtype=np.float32) for i in range(5)], local.spec
    )
    a, b = local.predict_batch(xs), remote.predict_batch(xs)
    np.testing.assert_allclose([p.probability for p in a], [p.probability for p in b], atol=1e-6)
    np.testing.assert_allclose(np.stack([p.cam for p in a]), remote.cams(xs), atol=1e-6)
    assert remote.version == local.version and remote.device_name == "CPU" and remote.has_cam
    assert remote.predict_batch(np.zeros((0, 32, 32, 3), np.float32)) == []


def test_a_crashed_model_process_fails_one_batch_then_restarts(remote, tmp_path):
    from PIL import Image

    from pneumo_desktop.core.precision import sample_films

    for i, film in enumerate(sample_films(128, n=3)):
        Image.fromarray((film * 255).astype(np.uint8), mode="L").save(tmp_path / f"f{i}.png")
    xs = np.zeros((2, 32, 32, 3), np.float32)
    os.kill(remote.pid, signal.SIGKILL)  # what a native crash looks like from here
    with pytest.raises(ModelError, match="ended unexpectedly"):
        remote.predict_batch(xs)
    assert len(remote.predict_batch(xs)) == 2  # a new process answers
    assert remote.restarts == 1
    os.kill(remote.pid, signal.SIGKILL)
    rows = Scanner(remote, store=None, batch_size=2).scan_all([tmp_path])
    assert [r.reason_code for r in rows[:2]] == ["inference", "inference"]  # the batch in flight
    assert rows[2].status == "ok" and rows[2].heatmap  # the scan went on, in a new process


def test_a_call_racing_close_is_a_model_error():
    """close() from another thread (the window closing) between a call's check and its send or
    receive: the caller gets a ModelError (a failed batch), not an AttributeError on None."""
    import threading

    r = RemotePredictor.__new__(RemotePredictor)  # no child process: only the bookkeeping
    r._lock, r.restarts = threading.Lock(), 0
    r._proc, r._conn = object(), None  # what close() leaves for a call that already passed the check
    with pytest.raises(ModelError, match="was stopped"):
        r._call("predict", None)
    r._proc = None
    with pytest.raises(ModelError, match="was stopped"):
        r._receive(1.0)
    assert r.pid is None


def test_errors_are_model_errors(tmp_path, tiny_model_dir):
    with pytest.raises(ModelError, match="No model card"):
        RemotePredictor(tmp_path)
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(tiny_model_dir, bad)
    with open(bad / "tiny.keras", "ab") as fh:
        fh.write(b"tampered")
    with pytest.raises(ModelError, match="does not match its model card"):
        RemotePredictor(bad)


def test_this_process_never_imports_tensorflow(tiny_model_dir):
    code = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        from pneumo_desktop.core.remote import RemotePredictor
        p = RemotePredictor({str(tiny_model_dir)!r}, device="cpu")
        p.predict_batch(np.zeros((1, 32, 32, 3), np.float32))
        p.close()
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "jax")))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
