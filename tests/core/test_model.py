import json
import shutil

import numpy as np
import pytest

from pneumo_desktop.core.card import ModelCard
from pneumo_desktop.core.errors import ModelError
from pneumo_desktop.core.model import Predictor, calibrate
from pneumo_desktop.core.preprocess import preprocess_batch


@pytest.fixture(scope="module")
def predictor(tiny_model_dir):
    return Predictor(tiny_model_dir, device="cpu", precision="float32")


def test_loads_and_predicts_in_batches(predictor):
    rng = np.random.default_rng(0)
    xs = [rng.random((60, 50), dtype=np.float32) for _ in range(5)]
    preds = predictor.predict_batch(preprocess_batch(xs, predictor.spec))
    assert len(preds) == 5
    assert all(0.0 <= p.probability <= 1.0 for p in preds)
    # Batch and single predictions agree.
    single = predictor.predict_batch(preprocess_batch(xs[:1], predictor.spec))[0]
    assert abs(single.probability - preds[0].probability) < 1e-5
    assert predictor.device_name == "CPU"
    assert predictor.predict_batch(np.zeros((0, 32, 32, 3), np.float32)) == []


def test_hash_mismatch_is_refused(tiny_model_dir, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(tiny_model_dir, bad)
    with open(bad / "tiny.keras", "ab") as fh:
        fh.write(b"tampered")
    with pytest.raises(ModelError, match="does not match its model card"):
        Predictor(bad)


def test_missing_model_and_card(tmp_path, tiny_model_dir):
    with pytest.raises(ModelError, match="No model card"):
        Predictor(tmp_path)
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    (broken / "tiny.keras").unlink()
    with pytest.raises(ModelError, match="missing"):
        Predictor(broken)
    card = json.loads((tiny_model_dir / "model_card.json").read_text())
    del card["preprocessing"]
    (broken / "model_card.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="incomplete"):
        ModelCard.load(broken)


def test_gpu_request_without_gpu_is_a_clear_error(tiny_model_dir):
    with pytest.raises(ModelError, match="No GPU"):
        Predictor(tiny_model_dir, device="gpu")


def test_temperature_scaling():
    p = np.array([0.1, 0.5, 0.9])
    np.testing.assert_allclose(calibrate(p, 1.0), p, atol=1e-9)
    softer = calibrate(p, 2.0)
    assert softer[0] > 0.1 and softer[2] < 0.9 and abs(softer[1] - 0.5) < 1e-9


def test_bfloat16_close_to_float32(tiny_model_dir, predictor):
    fast = Predictor(tiny_model_dir, device="cpu", precision="bfloat16")
    assert fast.device_name == "CPU bf16"
    xs = preprocess_batch([np.random.default_rng(i).random((40, 40), dtype=np.float32) for i in range(4)], fast.spec)
    a = [p.probability for p in predictor.predict_batch(xs)]
    b = [p.probability for p in fast.predict_batch(xs)]
    np.testing.assert_allclose(a, b, atol=0.02)
