import numpy as np
import pytest

from pneumo_desktop.core.explain import gradcam
from pneumo_desktop.core.io import load_xray
from pneumo_desktop.core.model import Predictor
from pneumo_desktop.core.paths import default_model_dir


def test_heatmap_shape_and_range(tiny_model_dir):
    predictor = Predictor(tiny_model_dir, device="cpu")
    pixels = np.random.default_rng(0).random((90, 70), dtype=np.float32)
    cam = gradcam(predictor, pixels)
    assert cam.shape == (90, 70) and cam.dtype == np.float32
    assert 0.0 <= cam.min() and cam.max() <= 1.0


def _rank_corr(a: np.ndarray, b: np.ndarray) -> float:
    ra = np.argsort(np.argsort(a.ravel())).astype(float)
    rb = np.argsort(np.argsort(b.ravel())).astype(float)
    return float(np.corrcoef(ra, rb)[0, 1])


@pytest.mark.real_data
@pytest.mark.slow
def test_model_randomisation_sanity_check(chest_dir):
    """Adebayo et al. 2018: heatmaps of a model with randomised weights must differ from the trained one's."""
    import keras

    if not (default_model_dir() / "model_card.json").exists():
        pytest.fail("the bundled model is missing from resources/model")
    trained = Predictor(device="cpu")
    randomised = Predictor(device="cpu")
    keras.utils.set_random_seed(123)
    fresh = keras.models.clone_model(trained.model)  # same graph, freshly initialised weights
    randomised.model = fresh
    files = sorted((chest_dir / "val" / "PNEUMONIA").iterdir())[:4]
    corrs = []
    for f in files:
        x = load_xray(f)
        a, b = gradcam(trained, x), gradcam(randomised, x)
        assert a.max() > 0  # the trained model's heatmap is not empty
        # Compare at the resolution of the conv map (heatmaps are upsampled from it).
        corrs.append(_rank_corr(a[::16, ::16], b[::16, ::16]))
    assert np.mean(corrs) < 0.5, corrs
