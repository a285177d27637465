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


def test_the_gradient_model_is_kept_by_its_predictor(tiny_model_dir):
    """No module-level cache: the Predictor owns its gradient models, and a new network drops them."""
    from pneumo_desktop.core import explain

    predictor = Predictor(tiny_model_dir, device="cpu")
    assert not hasattr(explain, "_GRAD_MODELS")
    pixels = np.random.default_rng(1).random((40, 40), dtype=np.float32)
    gradcam(predictor, pixels)
    built = predictor.grad_cache["block5_conv4"]
    gradcam(predictor, pixels)
    assert predictor.grad_cache["block5_conv4"] is built  # built once
    predictor.model = predictor.model  # a replaced network: what was built on the old one goes
    assert predictor.grad_cache == {}


JAX_SCRIPT = """
import sys
import numpy as np
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from tests.tinymodel import make_tiny_model_dir
from pneumo_desktop.core.explain import gradcam
from pneumo_desktop.core.model import Predictor
import keras
assert keras.backend.backend() == "jax", keras.backend.backend()
predictor = Predictor(make_tiny_model_dir(Path(sys.argv[1])), device="cpu", precision="float32")
pixels = np.random.default_rng(0).random((50, 30), dtype=np.float32)
cam = gradcam(predictor, pixels)
assert cam.shape == (50, 30) and cam.dtype == np.float32, (cam.shape, cam.dtype)
assert 0.0 <= cam.min() and cam.max() <= 1.0 and cam.max() > 0
assert list(predictor.grad_cache) == ["block5_conv4"]
print("jax ok")
"""


def test_gradcam_on_the_jax_backend(tmp_path):
    """The JAX path of core.explain (jax.grad through the head), in a child process: Keras picks its
    backend once per process. Skips when jax is not installed."""
    import importlib.util
    import os
    import subprocess
    import sys
    from pathlib import Path

    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed")
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", JAX_SCRIPT, str(tmp_path / "tiny"), str(root)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0 and "jax ok" in done.stdout, done.stderr[-3000:]
