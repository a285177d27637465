"""Train the gate's small presentation network: orientation, polarity and field of view.

``python -m training.orientation --data ../shared/data/chest_xray_224sq --out resources/model``

Labelled examples are made from the TRAIN films (rotated, flipped, inverted, cropped at random,
every epoch new ones); thresholds are chosen on a tune split of train (whole patients); the
accuracy is measured on the VAL films, never seen in training. Writes ``gate_orientation.keras``
(float32) and ``gate_orientation.json`` (input size, classes, thresholds, measured rates).
Independent of the pneumonia model's weights.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import platform
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pneumo_desktop.core.io import load_xray
from pneumo_desktop.core.orientation import CONFIG_NAME, ORIENTATIONS, prepare

log = logging.getLogger("training.orientation")
MODEL_NAME = "gate_orientation.keras"


# ---------------------------------------------------------------------------------------------
# Data


def list_films(split_dir: Path) -> list[Path]:
    return sorted(p for c in ("NORMAL", "PNEUMONIA") for p in (split_dir / c).glob("*") if p.is_file())


def patient_of(path: Path) -> str:
    m = re.match(r"(person\d+)_", path.name)
    return m.group(1) if m else path.stem.split("-")[1] if path.name.startswith("IM-") else path.stem


def is_tune(path: Path, frac: float = 0.1) -> bool:
    h = int(hashlib.sha256(patient_of(path).encode()).hexdigest()[:8], 16)
    return (h % 1000) < frac * 1000


def load_all(paths: list[Path]) -> list[np.ndarray]:
    return [load_xray(p).pixels for p in paths]


@dataclass(frozen=True)
class Variant:
    orientation: int  # index into ORIENTATIONS
    inverted: bool
    cropped: bool


def crop_full(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A mild crop (at most ~8% off each side): the lungs stay in view."""
    h, w = img.shape
    t, b = (rng.uniform(0, 0.08, 2) * h).astype(int)
    left, r = (rng.uniform(0, 0.08, 2) * w).astype(int)
    return img[t : h - b, left : w - r]


def crop_bad(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Part of the chest only: top or bottom part, one side, a heavy zoom or a small window."""
    h, w = img.shape
    kind = rng.choice(["top", "top", "bottom", "side", "zoom", "window"])
    if kind == "top":
        return img[: int(h * rng.uniform(0.3, 0.58)), :]
    if kind == "bottom":
        return img[int(h * rng.uniform(0.42, 0.7)) :, :]
    if kind == "side":
        f = rng.uniform(0.3, 0.55)
        return img[:, : int(w * f)] if rng.random() < 0.5 else img[:, int(w * (1 - f)) :]
    if kind == "zoom":
        s = rng.uniform(0.3, 0.55)
        ch, cw = int(h * s), int(w * s)
        y = int((h - ch) * rng.uniform(0.2, 0.8))
        x = int((w - cw) * rng.uniform(0.2, 0.8))
        return img[y : y + ch, x : x + cw]
    ch, cw = int(h * rng.uniform(0.25, 0.5)), int(w * rng.uniform(0.25, 0.5))
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    return img[y : y + ch, x : x + cw]


def orient(
    img: np.ndarray, k: int, rng: np.random.Generator | None = None, vflip: bool | None = None
) -> np.ndarray:
    """Apply orientation class ``k``. Upside down is either a 180 degree turn or a vertical flip."""
    if k == 1:
        return np.rot90(img, -1)  # clockwise
    if k == 2:
        return np.rot90(img, 1)  # anticlockwise
    if k == 3:
        if vflip is None:
            vflip = bool(rng is not None and rng.random() < 0.5)
        return img[::-1, :] if vflip else np.rot90(img, 2)
    return img


def intensity(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Exposure differences between machines: gamma and contrast jitter."""
    g = float(np.exp(rng.uniform(np.log(0.6), np.log(1.6))))
    out = np.clip(img, 0, 1) ** g
    lo, hi = rng.uniform(0, 0.08), rng.uniform(0.92, 1.0)
    return np.clip((out - lo) / (hi - lo), 0, 1).astype(np.float32)


def make_example(img: np.ndarray, v: Variant, rng: np.random.Generator, size: int) -> np.ndarray:
    x = crop_bad(img, rng) if v.cropped else crop_full(img, rng)
    if rng.random() < 0.5:
        x = x[:, ::-1]  # a mirrored film is still upright
    x = orient(x, v.orientation, rng)
    x = intensity(x, rng)
    if v.inverted:
        x = 1.0 - x
    return prepare(np.ascontiguousarray(x), size)


def random_variants(n: int, rng: np.random.Generator) -> list[Variant]:
    o = rng.choice(4, size=n, p=[0.4, 0.2, 0.2, 0.2])
    inv = rng.random(n) < 0.3
    crop = rng.random(n) < 0.3
    return [Variant(int(a), bool(b), bool(c)) for a, b, c in zip(o, inv, crop, strict=True)]


def make_epoch(films: list[np.ndarray], per_film: int, rng: np.random.Generator, size: int):
    idx = np.repeat(np.arange(len(films)), per_film)
    rng.shuffle(idx)
    variants = random_variants(len(idx), rng)
    x = np.stack([make_example(films[i], v, rng, size) for i, v in zip(idx, variants, strict=True)])
    y = {
        "orientation": np.array([v.orientation for v in variants], np.int32),
        "inverted": np.array([v.inverted for v in variants], np.float32)[:, None],
        "cropped": np.array([v.cropped for v in variants], np.float32)[:, None],
    }
    return x, y


# ---------------------------------------------------------------------------------------------
# Model


def build_model(size: int, policy: str | None = None):
    import keras
    from keras import layers

    dtype = policy or "float32"
    inp = keras.Input((size, size, 1), name="thumb")
    x = inp
    for i, f in enumerate((16, 32, 64, 96)):
        x = layers.Conv2D(f, 3, padding="same", use_bias=False, name=f"c{i}a", dtype=dtype)(x)
        x = layers.BatchNormalization(name=f"bn{i}a", dtype=dtype)(x)
        x = layers.Activation("relu", name=f"r{i}a", dtype=dtype)(x)
        x = layers.Conv2D(f, 3, padding="same", activation="relu", name=f"c{i}b", dtype=dtype)(x)
        x = layers.MaxPooling2D(2, name=f"p{i}", dtype=dtype)(x)
    # 4 x 4 x 96: keep the layout (where things are is what orientation is about), no global pooling.
    x = layers.Flatten(name="flat", dtype=dtype)(x)
    x = layers.Dropout(0.3, name="drop", dtype=dtype)(x)
    x = layers.Dense(128, activation="relu", name="fc", dtype=dtype)(x)
    outputs = {
        "orientation": layers.Dense(
            len(ORIENTATIONS), activation="softmax", name="orientation", dtype="float32"
        )(x),
        "inverted": layers.Dense(1, activation="sigmoid", name="inverted", dtype="float32")(x),
        "cropped": layers.Dense(1, activation="sigmoid", name="cropped", dtype="float32")(x),
    }
    return keras.Model(inp, outputs, name="gate_orientation")


# ---------------------------------------------------------------------------------------------
# Evaluation

#: The stress kinds measured on held-out films: name -> (function of the upright film, expected code)
KINDS = ("clean", "rot90_cw", "rot180", "rot270_cw", "flip_vertical", "inverted", "top_half")


def stress_variant(img: np.ndarray, kind: str) -> np.ndarray:
    if kind == "rot90_cw":
        return np.ascontiguousarray(np.rot90(img, -1))
    if kind == "rot180":
        return np.ascontiguousarray(np.rot90(img, 2))
    if kind == "rot270_cw":
        return np.ascontiguousarray(np.rot90(img, 1))
    if kind == "flip_vertical":
        return np.ascontiguousarray(img[::-1, :])
    if kind == "inverted":
        return 1.0 - img
    if kind == "top_half":
        return np.ascontiguousarray(img[: img.shape[0] // 2, :])
    return img


def predict_probs(model, x: np.ndarray) -> dict[str, np.ndarray]:
    out = model.predict(x, batch_size=256, verbose=0)
    return {k: np.asarray(v, np.float64) for k, v in out.items()}


def scores(out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {
        "not_upright": 1.0 - out["orientation"][:, 0],
        "inverted": out["inverted"].reshape(-1),
        "cropped": out["cropped"].reshape(-1),
    }


def choose_thresholds(
    clean: dict[str, np.ndarray],
    max_false: float,
    stressed: dict[str, np.ndarray] | None = None,
    catch: float = 0.995,
) -> dict[str, float]:
    """Per head: at least 0.5 and the (1 - max_false) quantile of clean tune films' scores; raised,
    when ``stressed`` tune scores are given, to the highest threshold that still catches ``catch`` of
    the tune films made wrong for that head (at most 0.99): fewer clean films refused."""
    out = {}
    for k, v in clean.items():
        t = max(0.5, float(np.quantile(v, 1.0 - max_false)))
        if stressed is not None:
            t = max(t, min(0.99, float(np.quantile(stressed[k], 1.0 - catch))))
        out[k] = float(t)
    return out


def stressed_scores(model, films: list[np.ndarray], size: int, seed: int = 4321) -> dict[str, np.ndarray]:
    """Each head's score on films made wrong for it: turned (90/180/270 or flipped), inverted, cropped."""
    rng = np.random.default_rng(seed)
    turned = np.stack(
        [make_example(f, Variant(int(rng.integers(1, 4)), False, False), rng, size) for f in films]
    )
    inv = np.stack([make_example(f, Variant(0, True, False), rng, size) for f in films])
    crop = np.stack([make_example(f, Variant(0, False, True), rng, size) for f in films])
    return {
        "not_upright": scores(predict_probs(model, turned))["not_upright"],
        "inverted": scores(predict_probs(model, inv))["inverted"],
        "cropped": scores(predict_probs(model, crop))["cropped"],
    }


def refused(s: dict[str, np.ndarray], th: dict[str, float]) -> np.ndarray:
    return (
        (s["not_upright"] > th["not_upright"])
        | (s["inverted"] > th["inverted"])
        | (s["cropped"] > th["cropped"])
    )


def evaluate(model, films: list[np.ndarray], th: dict[str, float], size: int) -> dict[str, dict[str, float]]:
    res: dict[str, dict[str, float]] = {}
    for kind in KINDS:
        x = np.stack([prepare(stress_variant(f, kind), size) for f in films])
        out = predict_probs(model, x)
        s = scores(out)
        r = refused(s, th)
        entry = {"n": len(films), "refused": float(r.mean())}
        pred_o = out["orientation"].argmax(1)
        want = {"clean": 0, "rot90_cw": 1, "rot270_cw": 2, "rot180": 3, "flip_vertical": 3}.get(kind)
        if want is not None:
            entry["orientation_accuracy"] = float((pred_o == want).mean())
        if kind == "inverted":
            entry["polarity_accuracy"] = float((s["inverted"] > 0.5).mean())
        if kind == "top_half":
            entry["cropped_detected"] = float((s["cropped"] > th["cropped"]).mean())
        res[kind] = entry
    return res


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.orientation", description=__doc__)
    ap.add_argument("--data", required=True, type=Path, help="folder with train/ and val/ {NORMAL,PNEUMONIA}")
    ap.add_argument("--out", required=True, type=Path, help="where to write the weights and the json")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=14)
    ap.add_argument("--per-film", type=int, default=2, help="random variants of each train film per epoch")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument(
        "--max-false", type=float, default=0.003, help="clean tune films refused per head, at most"
    )
    ap.add_argument("--limit", type=int, default=None, help="use only N train films (smoke runs)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--rethreshold",
        action="store_true",
        help="no training: reload OUT's network, choose thresholds, measure",
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    import keras

    from training.train import cpu_has_bf16

    t0 = time.time()
    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    paths = list_films(args.data / "train")
    if args.limit:
        # the same draw as choosing from the list itself: Generator.choice picks indices either way
        picked = rng.choice(len(paths), size=min(args.limit, len(paths)), replace=False)
        paths = [paths[int(i)] for i in picked]
    train_p = [p for p in paths if not is_tune(p)]
    tune_p = [p for p in paths if is_tune(p)]
    val_p = list_films(args.data / "val")
    log.info("films: train %d, tune %d, val %d", len(train_p), len(tune_p), len(val_p))
    train, tune, val = load_all(train_p), load_all(tune_p), load_all(val_p)
    log.info("loaded in %.0f s", time.time() - t0)

    if args.rethreshold:
        return rethreshold(args, tune, val)
    policy = "mixed_bfloat16" if cpu_has_bf16() else "float32"
    model = build_model(args.size, policy)
    steps = args.epochs * (len(train) * args.per_film // args.batch_size + 1)
    lr = keras.optimizers.schedules.CosineDecay(2e-3, steps, alpha=0.02)
    model.compile(
        optimizer=keras.optimizers.Adam(lr),
        loss={
            "orientation": "sparse_categorical_crossentropy",
            "inverted": "binary_crossentropy",
            "cropped": "binary_crossentropy",
        },
        metrics={"orientation": "accuracy", "inverted": "binary_accuracy", "cropped": "binary_accuracy"},
    )
    xt, yt = make_epoch(tune, 2, np.random.default_rng(1234), args.size)
    for epoch in range(args.epochs):
        te = time.time()
        x, y = make_epoch(train, args.per_film, rng, args.size)
        h = model.fit(x, y, batch_size=args.batch_size, epochs=1, verbose=0, validation_data=(xt, yt))
        hist = {k: round(float(v[-1]), 4) for k, v in h.history.items() if "accuracy" in k}
        log.info("epoch %d/%d %.0f s %s", epoch + 1, args.epochs, time.time() - te, hist)

    # Ship a float32 copy (fast on any CPU).
    shipped = build_model(args.size, None)
    shipped.set_weights(model.get_weights())
    clean_tune = scores(predict_probs(shipped, np.stack([prepare(f, args.size) for f in tune])))
    th = choose_thresholds(clean_tune, args.max_false, stressed_scores(shipped, tune, args.size))
    log.info("thresholds %s", th)
    val_res = evaluate(shipped, val, th, args.size)
    for k, v in val_res.items():
        log.info("val %-14s %s", k, v)

    args.out.mkdir(parents=True, exist_ok=True)
    shipped.save(args.out / MODEL_NAME)
    config = {
        "name": "gate-orientation",
        "model_file": MODEL_NAME,
        "description": "Small CNN (4 conv blocks, ~0.3 M parameters) that judges how a film is presented: "
        "orientation (upright / rotated 90 cw / rotated 90 ccw / upside down = rotated 180 or flipped "
        "vertically; a left-right mirror counts as upright), polarity (inverted = negative) and field of view "
        "(cropped = lungs not fully in view). Independent of the pneumonia model's weights.",
        "input_size": args.size,
        "input": "load_xray pixels -> squash to input_size (PIL bilinear) -> per-image standardisation, "
        "1 channel (pneumo_desktop.core.orientation.prepare)",
        "classes": {
            "orientation": list(ORIENTATIONS),
            "inverted": ["normal", "inverted"],
            "cropped": ["lungs fully in view", "cropped"],
        },
        "thresholds": th,
        "threshold_rule": threshold_rule(args.max_false),
        "reason_codes": {
            "rotated": "not_upright, rotated 90",
            "upside_down": "not_upright, upside down",
            "inverted": "inverted",
            "cropped": "cropped",
        },
        "training": {
            "data": f"{args.data.name}/train: {len(train)} films, random rotations/flips/inversions/crops and "
            f"gamma/contrast jitter, {args.per_film} new variants per film per epoch",
            "tune_films": len(tune),
            "epochs": args.epochs,
            "dtype_policy": policy,
            "seconds": round(time.time() - t0),
            "hardware": f"{platform.machine()}, {platform.processor() or 'cpu'}",
            "command": "python -m training.orientation " + " ".join(sys.argv[1:] if argv is None else argv),
        },
        "measured_val": {
            "data": f"{args.data.name}/val: {len(val)} films never used in training or for thresholds; each kind "
            "made from every val film",
            "per_kind": val_res,
        },
    }
    (args.out / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    log.info("wrote %s and %s in %.0f s", MODEL_NAME, CONFIG_NAME, time.time() - t0)
    return 0


def threshold_rule(max_false: float) -> str:
    return (
        f"per head, at least 0.5 and the {100 * (1 - max_false):.1f}th percentile of the scores of clean tune-split "
        "films (whole patients held out of train), raised to the 0.5th percentile of the head's scores on the same "
        "tune films made wrong for it (turned, inverted, cropped at random; at most 0.99), so that 99.5% of those "
        "are still caught; a film is refused when any head is above its threshold"
    )


def rethreshold(args: argparse.Namespace, tune: list[np.ndarray], val: list[np.ndarray]) -> int:
    """Choose the thresholds of an already trained network again and re-measure it on val."""
    import keras

    path = args.out / CONFIG_NAME
    config = json.loads(path.read_text(encoding="utf-8"))
    model = keras.models.load_model(args.out / config["model_file"], compile=False)
    size = int(config["input_size"])
    clean = scores(predict_probs(model, np.stack([prepare(f, size) for f in tune])))
    th = choose_thresholds(clean, args.max_false, stressed_scores(model, tune, size))
    log.info("thresholds %s", th)
    val_res = evaluate(model, val, th, size)
    for k, v in val_res.items():
        log.info("val %-14s %s", k, v)
    config["thresholds"] = th
    config["threshold_rule"] = threshold_rule(args.max_false)
    config["measured_val"]["per_kind"] = val_res
    config["rethreshold_command"] = (
        f"python -m training.orientation --data {args.data} --out {args.out} --rethreshold"
    )
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
