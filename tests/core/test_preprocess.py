import numpy as np
import pytest

from pneumo_desktop.core.io import XRay
from pneumo_desktop.core.preprocess import (
    PreprocessSpec,
    normalise,
    preprocess,
    preprocess_batch,
    resize_gray,
)


def _xray(pixels: np.ndarray) -> XRay:
    return XRay(pixels=pixels, path="x.png", format="PNG", width=pixels.shape[1], height=pixels.shape[0], bit_depth=8)


def test_shape_dtype_and_standardisation():
    rng = np.random.default_rng(0)
    pixels = rng.random((300, 200), dtype=np.float32)
    spec = PreprocessSpec(size=64, channels=3)
    out = preprocess(_xray(pixels), spec)
    assert out.shape == (64, 64, 3) and out.dtype == np.float32
    assert abs(float(out[..., 0].mean())) < 1e-4
    assert abs(float(out[..., 0].std()) - 1.0) < 1e-3
    assert np.array_equal(out[..., 0], out[..., 2])


def test_invariant_to_brightness_and_contrast():
    rng = np.random.default_rng(1)
    pixels = rng.random((128, 128), dtype=np.float32) * 0.5
    spec = PreprocessSpec(size=32)
    a = preprocess(pixels, spec)
    b = preprocess(pixels * 1.5 + 0.2, spec)
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_squash_keeps_whole_image():
    pixels = np.zeros((100, 400), np.float32)
    pixels[:, :200] = 1.0  # left half bright
    out = resize_gray(pixels, 40)
    assert out.shape == (40, 40)
    assert out[:, :18].min() > 0.99 and out[:, 22:].max() < 0.01


def test_flat_image_does_not_divide_by_zero():
    out = normalise(np.full((10, 10), 0.5, np.float32))
    assert np.isfinite(out).all() and np.all(out == 0)


def test_batch_and_spec_round_trip():
    spec = PreprocessSpec.from_dict({"size": 16, "channels": 1})
    assert PreprocessSpec.from_dict(spec.to_dict()) == spec
    batch = preprocess_batch([np.random.rand(20, 30).astype(np.float32)] * 3, spec)
    assert batch.shape == (3, 16, 16, 1)
    assert preprocess_batch([], spec).shape == (0, 16, 16, 1)


def test_spec_rejects_unknown_modes():
    with pytest.raises(ValueError):
        PreprocessSpec.from_dict({"size": 16, "resize": "crop"})
    with pytest.raises(ValueError):
        PreprocessSpec.from_dict({"size": 16, "normalisation": "imagenet"})
