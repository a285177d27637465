"""Precision 'auto': the hardware decides, a parity check guards bfloat16, overrides are honoured."""

import numpy as np
import pytest

from pneumo_desktop.core import precision
from pneumo_desktop.core.model import Predictor
from pneumo_desktop.core.preprocess import preprocess_batch


def test_choice_follows_the_cpu_flags_and_the_gpu():
    assert precision.choose("auto", False, flags={"avx2", "amx_bf16"}).precision == "bfloat16"
    assert precision.choose("auto", False, flags={"avx2", "avx512_bf16"}).precision == "bfloat16"
    assert precision.choose("auto", False, flags={"avx2", "avx512f", "fma"}).precision == "float32"
    assert precision.choose("auto", True, (9, 0)).precision == "bfloat16"
    assert precision.choose("auto", True, (7, 5)).precision == "float32"
    assert precision.choose("float32", False, flags={"amx_bf16"}).precision == "float32"
    assert precision.choose("bfloat16", False, flags=set()).precision == "bfloat16"
    with pytest.raises(ValueError):
        precision.choose("int8", False)


def test_cpu_summary_names_the_flags():
    text = precision.cpu_summary()
    assert "amx_bf16" in text and "avx512_bf16" in text


def test_sample_films_span_a_range():
    films = precision.sample_films(64)
    assert len(films) == 8 and all(f.shape == (64, 64) and 0 <= f.min() and f.max() <= 1 for f in films)
    assert not np.allclose(films[0], films[-1])


def test_parity_check_catches_flips_and_drift():
    x = np.zeros((4, 1))
    same = precision.check_parity(
        lambda _: np.array([0.1, 0.4, 0.6, 0.9]), lambda _: np.array([0.1, 0.405, 0.6, 0.9]), x, 0.5
    )
    assert same.ok and same.label_flips == 0
    flip = precision.check_parity(lambda _: np.array([0.499, 0.9]), lambda _: np.array([0.501, 0.9]), x, 0.5)
    assert not flip.ok and flip.label_flips == 1
    drift = precision.check_parity(lambda _: np.array([0.1]), lambda _: np.array([0.2]), x, 0.5)
    assert not drift.ok and drift.max_difference == pytest.approx(0.1)
    nan = precision.check_parity(lambda _: np.array([0.1]), lambda _: np.array([np.nan]), x, 0.5)
    assert not nan.ok


def test_parity_result_is_remembered(tmp_path, monkeypatch):
    monkeypatch.setenv("PNEUMO_DATA_DIR", str(tmp_path))
    key = precision.parity_key("abc", "auto")
    assert precision.cached_parity(key) is None
    precision.remember_parity(key, precision.Parity(True, 0.003, 0, 8))
    assert precision.cached_parity(key) == precision.Parity(True, 0.003, 0, 8)
    assert precision.cached_parity(precision.parity_key("abd", "auto")) is None
    (tmp_path / "precision_parity.json").write_text("{broken")
    assert precision.cached_parity(key) is None  # a damaged record: checked again


def test_auto_on_this_cpu_and_float32_fallback(tiny_model_dir, monkeypatch):
    auto = Predictor(tiny_model_dir, device="cpu")
    expected = "bfloat16" if precision.cpu_has_native_bf16() else "float32"
    assert auto.precision == expected and auto.precision_reason
    assert Predictor(tiny_model_dir, device="cpu", precision="float32").precision == "float32"
    if expected == "bfloat16":
        assert auto.device_name == "CPU bf16"
        # A bfloat16 network that disagrees with float32 on the samples is not used by 'auto'.
        bad = precision.Parity(False, 0.2, 1, 8)
        monkeypatch.setattr(precision, "check_parity", lambda *a, **k: bad)
        monkeypatch.setattr(precision, "cached_parity", lambda key: None)
        fallback = Predictor(tiny_model_dir, device="cpu")
        assert fallback.precision == "float32" and "parity failed" in fallback.precision_reason
        assert fallback.device_name == "CPU"
        forced = Predictor(tiny_model_dir, device="cpu", precision="bfloat16")
        assert forced.precision == "bfloat16"


@pytest.mark.real_data
@pytest.mark.slow
def test_bfloat16_parity_on_real_val_films(shared_dir):
    """The check 'auto' makes on synthetic films, made on real validation films of both classes."""
    from pneumo_desktop.core.io import load_xray

    if not precision.cpu_has_native_bf16():
        pytest.skip("this CPU has no native bfloat16; auto uses float32")
    root = shared_dir / "data" / "chest_xray_224sq" / "val"
    files = [f for cls in ("NORMAL", "PNEUMONIA") for f in sorted((root / cls).iterdir())[:24]]
    p32 = Predictor(device="cpu", precision="float32")
    pbf = Predictor(device="cpu", precision="auto")
    assert pbf.precision == "bfloat16"
    x = preprocess_batch([load_xray(f) for f in files], p32.spec)
    a = np.array([p.probability for p in p32.predict_batch(x)])
    b = np.array([p.probability for p in pbf.predict_batch(x)])
    assert np.max(np.abs(a - b)) <= 0.01
    assert np.array_equal(a >= p32.card.threshold, b >= p32.card.threshold)
