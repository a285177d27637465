"""The forward-pass heatmap (class activation map) equals Grad-CAM, is stored with judged rows only."""

import numpy as np
import pytest

from pneumo_desktop.core import heatmap
from pneumo_desktop.core.explain import gradcam
from pneumo_desktop.core.io import load_xray
from pneumo_desktop.core.model import Predictor
from pneumo_desktop.core.preprocess import preprocess, preprocess_batch
from pneumo_desktop.core.resultfiles import write_json
from pneumo_desktop.core.results import ScanResult
from pneumo_desktop.core.scan import Scanner
from pneumo_desktop.core.store import ResultsStore


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return Predictor(tiny_model_dir, device="cpu", precision="float32")


def test_encode_decode_round_trip():
    cam = np.random.default_rng(0).random((10, 10), dtype=np.float32)
    text = heatmap.encode(cam)
    assert len(text) < 300
    back = heatmap.decode(text)
    np.testing.assert_allclose(back, cam, atol=1e-3)
    assert (
        heatmap.decode("") is None
        and heatmap.decode("garbage") is None
        and heatmap.decode("3x3:AAAA") is None
    )


def test_normalise_and_central_share():
    cams = np.zeros((2, 10, 10), np.float32)
    cams[0, :, 3:7] = 2.0
    cams[1] -= 1.0  # all negative: no evidence, an empty map
    out = heatmap.normalise(cams)
    assert out[0].max() == 1.0 and out[1].max() == 0.0
    assert heatmap.central_share(out[0]) == 1.0
    assert np.isnan(heatmap.central_share(out[1]))
    assert heatmap.central_share(np.ones((160, 160))) == pytest.approx(0.4)


def test_tiny_model_cam_equals_gradcam(tiny):
    rng = np.random.default_rng(1)
    for _ in range(3):
        pixels = rng.random((48, 40), dtype=np.float32)
        pred = tiny.predict_batch(preprocess(pixels, tiny.spec)[None])[0]
        assert pred.cam is not None and pred.cam.shape == (32, 32)
        np.testing.assert_allclose(heatmap.upsample(pred.cam, pixels.shape), gradcam(tiny, pixels), atol=1e-4)


def test_scan_stores_heatmaps_for_judged_rows_only(tiny, tmp_path):
    from PIL import Image

    from pneumo_desktop.core.precision import sample_films

    img = (sample_films(128, n=1)[0] * 255).astype(np.uint8)  # chest-like: passes the quality gate
    Image.fromarray(img, mode="L").save(tmp_path / "a.png")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    store = ResultsStore(tmp_path / "r.sqlite3")
    rows = {r.name: r for r in Scanner(tiny, store=store, batch_size=2).scan_all([tmp_path])}
    assert rows["broken.png"].heatmap == ""
    judged = rows["a.png"]
    assert judged.status == "ok", judged.message
    cam = heatmap.decode(judged.heatmap)
    assert cam is not None and cam.shape == (32, 32)
    again = store.lookup(judged.content_hash, Scanner(tiny, store=store).model_key)
    assert again is not None and again.heatmap == judged.heatmap  # comes back from the cache
    shown = heatmap.stored_heatmap(judged, (128, 128))
    np.testing.assert_allclose(shown, gradcam(tiny, load_xray(tmp_path / "a.png")), atol=2e-3)
    refused = ScanResult(
        path="x", status="rejected", probability=0.9, label="Needs review", message="", heatmap=judged.heatmap
    )
    assert heatmap.stored_heatmap(refused, (64, 64)) is None  # never a heatmap for a refused image
    assert heatmap.stored_for_row("rejected", np.ones((2, 2))) == ""
    write_json([judged], tmp_path / "out.json")
    assert '"heatmap"' not in (tmp_path / "out.json").read_text()
    store.close()


def test_caveat_is_one_line():
    text = heatmap.heatmap_caveat()
    assert "\n" not in text and 40 < len(text) < 200


@pytest.mark.real_data
@pytest.mark.slow
def test_bundled_model_cam_equals_gradcam_on_val_films(shared_dir):
    folder = shared_dir / "data" / "chest_xray_224sq" / "val" / "PNEUMONIA"
    files = sorted(folder.iterdir())[:6]
    predictor = Predictor(device="cpu", precision="float32")
    xrays = [load_xray(f) for f in files]
    preds = predictor.predict_batch(preprocess_batch(xrays, predictor.spec))
    for x, p in zip(xrays, preds, strict=True):
        grad = gradcam(predictor, x)
        assert grad.max() > 0
        np.testing.assert_allclose(heatmap.upsample(p.cam, x.pixels.shape), grad, atol=1e-3)
        # And what the store keeps (float16) is within display precision of it.
        stored = heatmap.upsample(heatmap.decode(heatmap.encode(p.cam)), x.pixels.shape)
        np.testing.assert_allclose(stored, grad, atol=2e-3)


@pytest.mark.real_data
@pytest.mark.slow
def test_deletion_test_on_val_pneumonia_films(shared_dir):
    """Issue #13: blanking the hottest 10% of the input drops the probability >= 2x as much as
    blanking the same mask at random places (benchmarks/heatmap_faithfulness.py, on more films)."""
    from benchmarks.heatmap_faithfulness import hot_mask, shifted

    folder = shared_dir / "data" / "chest_xray_224sq" / "val" / "PNEUMONIA"
    files = sorted(folder.iterdir())[::25][:16]
    predictor = Predictor(device="cpu")  # what the app uses (auto)
    x = preprocess_batch([load_xray(f) for f in files], predictor.spec)
    preds = predictor.predict_batch(x)
    base = np.array([p.probability for p in preds])
    rng = np.random.default_rng(0)
    hot, rand = x.copy(), []
    for i, p in enumerate(preds):
        mask = hot_mask(heatmap.upsample(p.cam, x.shape[1:3]))
        hot[i][mask] = 0.0
        for _ in range(3):
            r = x[i].copy()
            r[shifted(mask, rng)] = 0.0
            rand.append(r)
    hot_drop = np.mean(base - [p.probability for p in predictor.predict_batch(hot)])
    rand_drop = np.mean(base.repeat(3) - [p.probability for p in predictor.predict_batch(np.stack(rand))])
    assert hot_drop >= 2 * max(rand_drop, 1e-3), (hot_drop, rand_drop)
