"""The gate's presentation network: labelled examples and the model's shape (no long training)."""

from __future__ import annotations

import numpy as np

from training import orientation as t


def _film(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:224, 0:224] / 223.0
    return np.clip(0.3 + 0.5 * y + 0.05 * rng.standard_normal((224, 224)), 0, 1).astype(np.float32)


def test_examples_carry_the_transform_they_were_made_with():
    rng = np.random.default_rng(0)
    film = _film(0)
    up = t.make_example(film, t.Variant(0, False, False), rng, 32)
    inv = t.make_example(film, t.Variant(0, True, False), rng, 32)
    down = t.make_example(film, t.Variant(3, False, False), rng, 32)
    assert up.shape == (32, 32, 1)
    # the film gets brighter downwards; upside down and inverted it gets darker downwards
    assert up[-4:].mean() > up[:4].mean()
    assert inv[-4:].mean() < inv[:4].mean()
    assert down[-4:].mean() < down[:4].mean()
    cw = t.orient(film, 1)
    np.testing.assert_array_equal(cw[:, 0], film[-1, :])  # clockwise: the bottom row becomes the left column


def test_epoch_labels_and_model_outputs():
    rng = np.random.default_rng(1)
    x, y = t.make_epoch([_film(i) for i in range(4)], 8, rng, 32)
    assert x.shape == (32, 32, 32, 1)
    assert set(np.unique(y["orientation"])) <= {0, 1, 2, 3}
    assert y["inverted"].shape == (32, 1) and y["cropped"].shape == (32, 1)
    model = t.build_model(32)
    out = model(x[:2], training=False)
    assert out["orientation"].shape == (2, 4) and out["inverted"].shape == (2, 1)


def test_thresholds_follow_clean_tune_scores():
    clean = {"not_upright": np.linspace(0, 0.9, 1000), "inverted": np.zeros(1000), "cropped": np.zeros(1000)}
    th = t.choose_thresholds(clean, 0.01)
    assert th["inverted"] == 0.5 and th["cropped"] == 0.5
    assert 0.88 < th["not_upright"] < 0.9
