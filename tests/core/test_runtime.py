"""The lean runtimes: export round trip, the runtime choice, CAM from the forward pass."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from pneumo_desktop.core import runtime
from pneumo_desktop.core.card import ModelCard
from pneumo_desktop.core.errors import ModelError
from pneumo_desktop.core.explain import gradcam
from pneumo_desktop.core.model import Predictor
from pneumo_desktop.core.paths import default_model_dir

HAVE = {name: runtime._installed(pkg) for name, pkg in runtime.PACKAGES.items()}


@pytest.fixture(scope="module")
def exported_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model exported to every installed lean runtime."""
    from tests.tinymodel import make_tiny_model_dir

    folder = make_tiny_model_dir(tmp_path_factory.mktemp("tiny-exported"), temperature=1.3)
    formats = tuple(name for name in runtime.LEAN if HAVE[name])
    if not formats:
        pytest.skip("neither OpenVINO nor ONNX Runtime is installed")
    runtime.export(folder, formats)
    return folder


def _images(n: int = 6, size: int = 32) -> np.ndarray:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, size, size, 3)).astype(np.float32)
    x[:, 10:22, 10:22, :] += np.linspace(0, 3, n)[:, None, None, None]  # different probabilities
    return x


@pytest.mark.parametrize("name", runtime.LEAN)
def test_export_round_trip_matches_tensorflow(exported_dir, monkeypatch, name):
    if not HAVE[name]:
        pytest.skip(f"{name} is not installed")
    monkeypatch.setenv(runtime.RUNTIME_ENV, "tensorflow")
    reference = Predictor(exported_dir, device="cpu", precision="float32")
    monkeypatch.setenv(runtime.RUNTIME_ENV, name)
    lean = Predictor(exported_dir, device="cpu", precision="float32")
    assert reference.lean is None and lean.lean is not None and lean.lean.runtime == name
    assert name.replace("onnxruntime", "ONNX Runtime").replace("openvino", "OpenVINO") in lean.device_name
    x = _images()
    want = reference.predict_batch(x)
    got = lean.predict_batch(x)
    raw = np.array([p.raw_probability for p in want])
    assert raw.max() - raw.min() > 0.05  # the films really differ
    np.testing.assert_allclose([p.raw_probability for p in got], raw, atol=1e-5)
    # The card's temperature is applied to the lean runtime's output exactly as to TensorFlow's.
    np.testing.assert_allclose([p.probability for p in got], [p.probability for p in want], atol=1e-5)
    entry = ModelCard.load(exported_dir).raw["runtimes"][name]
    assert entry["source_sha256"] == reference.card.sha256 and entry["outputs"] == list(runtime.OUTPUTS)


@pytest.mark.parametrize("name", runtime.LEAN)
def test_cam_from_the_forward_pass_equals_tensorflow_gradcam(exported_dir, monkeypatch, name):
    if not HAVE[name]:
        pytest.skip(f"{name} is not installed")
    monkeypatch.setenv(runtime.RUNTIME_ENV, "tensorflow")
    reference = Predictor(exported_dir, device="cpu", precision="float32")
    monkeypatch.setenv(runtime.RUNTIME_ENV, name)
    lean = Predictor(exported_dir, device="cpu", precision="float32")
    pixels = np.random.default_rng(3).random((90, 70), dtype=np.float32)
    pixels[30:60, 20:50] += 1.0
    want = gradcam(reference, pixels)  # gradient of the logit through TensorFlow
    got = gradcam(lean, pixels)  # relu(cam output), no gradient
    assert got.shape == want.shape == (90, 70) and want.max() > 0
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_runtime_choice(exported_dir, tmp_path, monkeypatch):
    monkeypatch.delenv(runtime.RUNTIME_ENV, raising=False)
    card = ModelCard.load(exported_dir)
    first = next(name for name in runtime.LEAN if HAVE[name])
    assert runtime.choose_runtime(card) == first
    assert runtime.choose_runtime(card, "tensorflow") == "tensorflow"
    monkeypatch.setenv(runtime.RUNTIME_ENV, "tensorflow")
    assert runtime.choose_runtime(card) == "tensorflow"
    assert runtime.choose_runtime(card, "auto") == first  # an explicit request wins over the environment
    with pytest.raises(ModelError, match="Unknown runtime"):
        runtime.choose_runtime(card, "tflite")
    # The package missing: auto falls through to the next runtime, then TensorFlow; a request fails.
    monkeypatch.setattr(runtime, "_installed", lambda package: False)
    assert runtime.choose_runtime(card, "auto") == "tensorflow"
    with pytest.raises(ModelError, match="not installed"):
        runtime.choose_runtime(card, first)
    monkeypatch.undo()
    monkeypatch.delenv(runtime.RUNTIME_ENV, raising=False)

    # No export, or an export of another model file (stale), or a file missing: TensorFlow.
    plain = tmp_path / "plain"
    shutil.copytree(exported_dir, plain)
    data = json.loads((plain / "model_card.json").read_text())
    stale = json.loads(json.dumps(data))
    for entry in stale["runtimes"].values():
        entry["source_sha256"] = "0" * 64
    (plain / "model_card.json").write_text(json.dumps(stale))
    assert runtime.choose_runtime(ModelCard.load(plain)) == "tensorflow"
    with pytest.raises(ModelError, match="no openvino export"):
        runtime.choose_runtime(ModelCard.load(plain), "openvino")
    (plain / "model_card.json").write_text(json.dumps(data))
    for entry in data["runtimes"].values():
        for f in entry["files"]:
            (plain / f).unlink()
    assert runtime.choose_runtime(ModelCard.load(plain)) == "tensorflow"
    del data["runtimes"]
    (plain / "model_card.json").write_text(json.dumps(data))
    assert runtime.choose_runtime(ModelCard.load(plain)) == "tensorflow"
    # A GPU request stays with TensorFlow.
    assert runtime.for_predictor(card, "gpu", "float32") is None


def test_damaged_export_is_refused_or_replaced_by_tensorflow(exported_dir, tmp_path, monkeypatch, caplog):
    folder = tmp_path / "damaged"
    shutil.copytree(exported_dir, folder)
    card = ModelCard.load(folder)
    name = runtime.choose_runtime(card, "auto")
    if name == "tensorflow":
        pytest.skip("no lean runtime installed")
    files = card.raw["runtimes"][name]["files"]
    victim = max(files, key=lambda f: (folder / f).stat().st_size)  # the weights
    with open(folder / victim, "r+b") as fh:
        fh.seek(200)
        fh.write(b"\x00\x01\x02\x03")
    monkeypatch.setenv(runtime.RUNTIME_ENV, name)
    with pytest.raises(ModelError, match="does not match"):
        Predictor(folder, device="cpu")
    monkeypatch.setenv(runtime.RUNTIME_ENV, "auto")
    for other in runtime.LEAN:  # only the damaged runtime, so auto has nothing lean left
        if other != name:
            monkeypatch.setitem(runtime.PACKAGES, other, "no_such_package_for_the_test")
    with caplog.at_level("WARNING", logger="pneumo_desktop.core.runtime"):
        predictor = Predictor(folder, device="cpu")
    assert predictor.lean is None and "falling back to TensorFlow" in caplog.text


@pytest.mark.real_data
@pytest.mark.slow
def test_bundled_model_export_matches_tensorflow(chest_dir, monkeypatch):
    """The shipped export (when resources/model has one) against TensorFlow on real films."""
    from pneumo_desktop.core.io import load_xray

    card = ModelCard.load(default_model_dir())
    available = [n for n in runtime.exported(card) if HAVE.get(n)]
    if not available:
        pytest.skip("resources/model holds no lean export for an installed runtime")
    files = (
        sorted((chest_dir / "val" / "PNEUMONIA").iterdir())[:3]
        + sorted((chest_dir / "val" / "NORMAL").iterdir())[:3]
    )
    xrays = [load_xray(f) for f in files]
    monkeypatch.setenv(runtime.RUNTIME_ENV, "tensorflow")
    reference = Predictor(device="cpu", precision="float32")
    want = reference.predict_xrays(xrays)
    for name in available:
        monkeypatch.setenv(runtime.RUNTIME_ENV, name)
        lean = Predictor(device="cpu", precision="float32")
        got = lean.predict_xrays(xrays)
        np.testing.assert_allclose([p.probability for p in got], [p.probability for p in want], atol=1e-4)
        np.testing.assert_allclose([p.ood_score for p in got], [p.ood_score for p in want], rtol=1e-3)
        np.testing.assert_allclose(gradcam(lean, xrays[0]), gradcam(reference, xrays[0]), atol=1e-3)


def test_openvino_runtime_starts_no_telemetry(exported_dir):
    """Loading the OpenVINO model must not import OpenVINO's converter and its usage telemetry."""
    import subprocess
    import sys

    if not HAVE["openvino"]:
        pytest.skip("OpenVINO is not installed")
    code = (
        "import os, sys, threading\n"
        "os.environ['PNEUMO_RUNTIME'] = 'openvino'\n"
        "from pneumo_desktop.core.model import Predictor\n"
        f"p = Predictor({str(exported_dir)!r}, device='cpu')\n"
        "assert p.lean is not None and p.lean.runtime == 'openvino'\n"
        "extra = [t.name for t in threading.enumerate() if t is not threading.main_thread()]\n"
        "print(sorted(m for m in sys.modules if 'telemetry' in m or m.startswith('openvino.tools')), extra)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[] []"
