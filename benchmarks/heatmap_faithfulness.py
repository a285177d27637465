"""Do the heatmaps show evidence? A deletion test and where the heat lies, on validation films.

For each validation PNEUMONIA film (chest_xray_224sq/val, never used in training) and each heatmap
variant:
  * deletion: blank (set to the image's mean, i.e. 0 in the standardised model input) the hottest
    10% of the 160 x 160 input, and, as the control, the same mask shifted to --random random
    places (same size and shape); the mean drop of the calibrated probability when the hot region
    is blanked must be >= 2x the mean drop for the control (issue #13);
  * where the heat lies: share of the heat in the central 4 of 10 columns (heart, mediastinum,
    spine) vs the lateral 3 + 3 columns (the lung fields), also on NORMAL films for comparison.

Variants: the app's map (CAM on the card's layer, block5_conv4, 10 x 10, bilinear; equal to
Grad-CAM there), the same upsampled nearest-neighbour, CAM on block5_pool (5 x 5, the layer the
global average pooling reads), and Grad-CAM on block4_conv4 (20 x 20) and block3_conv4 (40 x 40),
which need a gradient pass (not free) but see finer detail.

    python benchmarks/heatmap_faithfulness.py [--limit 80] [--random 3] [--gallery docs/heatmaps.png]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def shared() -> Path:
    return Path(os.environ.get("PNEUMO_SHARED", REPO.parent / "shared"))


def gradcam_maps(predictor, x: np.ndarray, layer: str) -> np.ndarray:
    """Grad-CAM at ``layer`` for a preprocessed batch: (N, h, w) raw maps (ReLU applied)."""
    from pneumo_desktop.core.explain import _gradient_model

    _, fn = _gradient_model(predictor, layer)
    out = []
    for i in range(len(x)):
        conv, grads = fn(x[i : i + 1])
        w = grads[0].mean(axis=(0, 1))
        out.append(np.maximum((conv[0] * w).sum(-1), 0.0))
    return np.stack(out)


def cam_maps(predictor, x: np.ndarray, layer: str) -> np.ndarray:
    """Class activation map relu(features @ w) at ``layer`` (forward pass only)."""
    import keras

    model = predictor.model
    feats = keras.Model(model.inputs[0], model.get_layer(layer).output)
    f = keras.ops.convert_to_numpy(feats(x, training=False)).astype(np.float32)
    w = keras.ops.convert_to_numpy(model.layers[-1].kernel).astype(np.float32)[:, 0]
    return np.maximum(f @ w, 0.0)


def upsample(maps: np.ndarray, size: int, method: str = "bilinear") -> np.ndarray:
    from PIL import Image

    resample = Image.Resampling.BILINEAR if method == "bilinear" else Image.Resampling.NEAREST
    out = []
    for m in maps:
        top = m.max()
        m = m / top if top > 0 else m
        out.append(np.asarray(Image.fromarray(m.astype(np.float32), mode="F").resize((size, size), resample)))
    return np.clip(np.stack(out), 0, 1)


def shares(heat: np.ndarray) -> tuple[float, float]:
    """(central 4 of 10 columns, lateral 3 + 3 columns) shares of the heat of one map."""
    w = heat.shape[1]
    total = heat.sum()
    if total <= 0:
        return float("nan"), float("nan")
    c0, c1 = 3 * w // 10, 7 * w // 10
    central = heat[:, c0:c1].sum() / total
    return float(central), float(1 - central)


def hot_mask(heat: np.ndarray, fraction: float = 0.10) -> np.ndarray:
    flat = heat.ravel()
    k = int(round(fraction * flat.size))
    idx = np.argsort(flat, kind="stable")[-k:]
    mask = np.zeros(flat.size, bool)
    mask[idx] = True
    return mask.reshape(heat.shape)


def shifted(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The same mask moved to a random place (wrapping round), at least 1/5 of the image away."""
    h, w = mask.shape
    while True:
        dy, dx = int(rng.integers(0, h)), int(rng.integers(0, w))
        if min(dy, h - dy) >= h // 5 or min(dx, w - dx) >= w // 5:
            return np.roll(mask, (dy, dx), axis=(0, 1))


def probabilities(predictor, x: np.ndarray) -> np.ndarray:
    return np.array([p.probability for p in predictor.predict_batch(x)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=80, help="pneumonia films (spread over the whole split)")
    ap.add_argument("--normal-limit", type=int, default=40)
    ap.add_argument("--random", type=int, default=3, help="random placements of the control mask per film")
    ap.add_argument("--model-dir", default=None)
    ap.add_argument("--precision", default="float32")
    ap.add_argument("--variants", nargs="*", default=None)
    ap.add_argument("--gallery", type=Path, default=None, help="write a 4 x 4 PNG of validation heatmaps")
    args = ap.parse_args()

    from pneumo_desktop.core.io import load_xray
    from pneumo_desktop.core.model import Predictor
    from pneumo_desktop.core.precision import cpu_summary
    from pneumo_desktop.core.preprocess import preprocess_batch

    predictor = Predictor(args.model_dir, device="cpu", precision=args.precision)
    size = predictor.spec.size
    layer = predictor.card.gradcam_layer
    val = shared() / "data" / "chest_xray_224sq" / "val"

    def pick(cls: str, n: int) -> list[Path]:
        files = sorted((val / cls).iterdir())
        step = max(1, len(files) // max(1, n))
        return files[::step][:n]

    pneu, normal = pick("PNEUMONIA", args.limit), pick("NORMAL", args.normal_limit)
    print(f"cpu: {cpu_summary()}")
    print(
        f"model {predictor.version} ({predictor.precision}), {len(pneu)} PNEUMONIA + {len(normal)} NORMAL val films"
    )
    variants = {
        f"CAM {layer} (app), bilinear": lambda x: upsample(cam_maps(predictor, x, layer), size),
        f"CAM {layer}, nearest": lambda x: upsample(cam_maps(predictor, x, layer), size, "nearest"),
        "CAM block5_pool (5x5)": lambda x: upsample(cam_maps(predictor, x, "block5_pool"), size),
        "Grad-CAM block4_conv4 (20x20)": lambda x: upsample(gradcam_maps(predictor, x, "block4_conv4"), size),
        "Grad-CAM block3_conv4 (40x40)": lambda x: upsample(gradcam_maps(predictor, x, "block3_conv4"), size),
    }
    if args.variants:
        variants = {k: v for k, v in variants.items() if any(s in k for s in args.variants)}
    xp = preprocess_batch([load_xray(f) for f in pneu], predictor.spec)
    xn = preprocess_batch([load_xray(f) for f in normal], predictor.spec)
    base = probabilities(predictor, xp)
    rng = np.random.default_rng(0)
    print(
        f"{'heatmap':<34}{'hot drop':>9}{'rand drop':>10}{'ratio':>7}{'central':>9}{'lateral':>9}"
        f"{'central (N)':>12}{'s/film':>8}"
    )
    for name, fn in variants.items():
        t0 = time.perf_counter()
        heat = fn(xp)
        seconds = (time.perf_counter() - t0) / len(xp)
        hot_x, rand_x = xp.copy(), []
        for i, h in enumerate(heat):
            m = hot_mask(h)
            hot_x[i][m] = 0.0
            for _ in range(args.random):
                r = xp[i].copy()
                r[shifted(m, rng)] = 0.0
                rand_x.append(r)
        p_hot = probabilities(predictor, hot_x)
        p_rand = probabilities(predictor, np.stack(rand_x)).reshape(len(xp), args.random)
        hot_drop = float(np.mean(base - p_hot))
        rand_drop = float(np.mean(base[:, None] - p_rand))
        cs = np.nanmean([shares(h)[0] for h in heat])
        cn = np.nanmean([shares(h)[0] for h in fn(xn)])
        ratio = hot_drop / rand_drop if rand_drop > 0 else float("inf")
        print(
            f"{name:<34}{hot_drop:>9.4f}{rand_drop:>10.4f}{ratio:>7.1f}{cs:>9.1%}{1 - cs:>9.1%}{cn:>12.1%}"
            f"{seconds:>8.2f}"
        )
    bands = {
        "central band (columns 4-7 of 10)": (3, 7),
        "lateral lung fields (columns 1-3 and 8-10)": None,
        "left third (columns 1-3)": (0, 3),
        "right third (columns 8-10)": (7, 10),
    }
    c = np.arange(size) * 10 // size
    for label, cols in bands.items():
        blanked = xp.copy()
        gone = ~((c >= 3) & (c < 7)) if cols is None else (c >= cols[0]) & (c < cols[1])
        blanked[:, :, gone] = 0.0
        drop = float(np.mean(base - probabilities(predictor, blanked)))
        print(f"blank the {label}: mean probability drop {drop:.4f}")
    print(
        "hot/rand drop: mean fall of the calibrated pneumonia probability when the hottest 10% of the input,"
    )
    print(
        "or the same mask moved to a random place, is blanked; central: share of the heat in columns 4-7 of 10."
    )
    print(f"mean probability of the films before blanking: {base.mean():.3f} (median {np.median(base):.3f})")
    if args.gallery:
        gallery(predictor, pneu, normal, args.gallery)


def gallery(predictor, pneu: list[Path], normal: list[Path], out: Path) -> None:
    """4 x 4 tiles (12 PNEUMONIA, 4 NORMAL val films) with the app's stored heatmap (the row's map)."""
    from PIL import Image, ImageDraw

    from pneumo_desktop.core import heatmap
    from pneumo_desktop.core.io import load_xray
    from pneumo_desktop.core.preprocess import preprocess_batch
    from pneumo_desktop.gui.viewer import heatmap_rgba

    tile = 128
    files = pneu[:: max(1, len(pneu) // 12)][:12] + normal[:: max(1, len(normal) // 4)][:4]
    xrays = [load_xray(f) for f in files]
    preds = predictor.predict_batch(preprocess_batch(xrays, predictor.spec))
    sheet = Image.new("RGB", (4 * tile, 4 * tile + 18), (20, 20, 20))
    for i, (x, p, f) in enumerate(zip(xrays, preds, files, strict=True)):
        gray = (
            Image.fromarray((np.clip(x.pixels, 0, 1) * 255).astype(np.uint8))
            .resize((tile, tile))
            .convert("RGB")
        )
        heat = heatmap.upsample(heatmap.decode(heatmap.encode(p.cam)), (tile, tile))
        rgba = heatmap_rgba(heat).astype(np.float32)
        alpha = rgba[..., 3:4] / 255 * 0.55
        mixed = np.asarray(gray, np.float32) * (1 - alpha) + rgba[..., :3] * alpha
        img = Image.fromarray(mixed.astype(np.uint8))
        d = ImageDraw.Draw(img)
        truth = f.parent.name[0]
        d.text((3, 2), f"{truth} p={p.probability:.2f}", fill=(255, 255, 255))
        for c in (3, 7):  # the central band's edges (columns 4-7 of 10)
            d.line([(c * tile // 10, tile - 6), (c * tile // 10, tile)], fill=(255, 255, 255))
        sheet.paste(img, ((i % 4) * tile, (i // 4) * tile))
    ImageDraw.Draw(sheet).text(
        (4, 4 * tile + 3),
        "P/N: true class; p: calibrated probability; ticks: central 4 of 10 columns",
        fill=(220, 220, 220),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.quantize(colors=192, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)  # small PNG
    print(f"gallery: {out} ({out.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
