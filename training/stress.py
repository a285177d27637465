"""Shift-stress validation: the validation films under acquisition changes of a new site.

``python -m training stress --model DIR --data chest_xray_224sq [--aspect-data chest_xray]``

Each *family* is one fixed, deterministic (seeded) change of every validation film, at a level
beyond what training augmentation draws (:mod:`training.augment`), applied to the decoded film at
its stored resolution, before the app's own preprocessing (squash, standardise). For each family
the table gives AUC, sensitivity and specificity at the shipped threshold, and ECE of the
calibrated probability; *stressed (pooled)* pools all the in-memory families' predictions, the
headline number for "stressed validation".

Two families come from other files: ``aspect_kept_squash`` reads the aspect-kept copies of the
same films (``chest_xray/val``, only the files present there) through the app's squash, and
``aspect_kept_letterbox`` pads them to a square instead (another export path); both are compared
with the clean films of the same subset. A *later patients* proxy holds out the validation
patients with the highest ids (assuming ids were given in order of acquisition; the data set
does not say).
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from pneumo_desktop.core.io import load_xray
from pneumo_desktop.core.preprocess import PreprocessSpec, finish, resize_gray

from . import data as D
from . import perturb as P

log = logging.getLogger(__name__)

# The stress levels (fixed). Training ranges in training.augment stay strictly milder.
STRESS_LEVELS: dict[str, float] = {
    "gamma_low": 0.6,
    "gamma_high": 1.6,
    "contrast_low": 0.6,
    "window_cut": 0.15,
    "blur_sigma": 0.007,  # of the side: 1.6 px at 224
    "sharpen_amount": 1.5,
    "sharpen_sigma": 0.006,
    "noise_sigma": 0.035,
    "jpeg_quality": 25,
    "rotation_deg": 9.0,
    "zoom_out_scale": 0.90,
    "crop_frac": 0.05,  # per side: 10% of the side in all
    "histmatch_alpha": 1.0,
    # field of view wider / narrower than the film's (anatomy narrower / wider after the squash):
    # the aspect-kept copies show NORMAL films at median w/h 1.21 and PNEUMONIA at 1.50 (a ratio of
    # 0.81), so the film's shape alone separates the classes; these test the model's reliance on it
    "fov_narrow": 0.8,
    "fov_wide": 1.25,
}

Perturbation = Callable[[np.ndarray, np.random.Generator, np.ndarray | None], np.ndarray]


def _families() -> dict[str, tuple[str, Perturbation]]:
    lv = STRESS_LEVELS
    return {
        "gamma_0.6": ("exposure: gamma 0.6 (brighter)", lambda x, r, ref: P.gamma(x, lv["gamma_low"])),
        "gamma_1.6": ("exposure: gamma 1.6 (darker)", lambda x, r, ref: P.gamma(x, lv["gamma_high"])),
        "contrast_0.6": (
            "contrast x0.6 around the mean",
            lambda x, r, ref: P.contrast(x, lv["contrast_low"]),
        ),
        "window_15": (
            "window: 15% clipped at each end",
            lambda x, r, ref: P.window(x, lv["window_cut"], 1 - lv["window_cut"]),
        ),
        "blur": ("Gaussian blur, sigma 0.7% of the side", lambda x, r, ref: P.blur(x, lv["blur_sigma"])),
        "sharpen": (
            "unsharp mask, amount 1.5",
            lambda x, r, ref: P.sharpen(x, lv["sharpen_sigma"], lv["sharpen_amount"]),
        ),
        "noise": ("Gaussian noise, sigma 0.035", lambda x, r, ref: P.noise(x, lv["noise_sigma"], r)),
        "jpeg_25": ("JPEG re-compression, quality 25", lambda x, r, ref: P.jpeg(x, int(lv["jpeg_quality"]))),
        "rotate_9": (
            "rotation +-9 degrees (sign seeded)",
            lambda x, r, ref: P.affine(x, angle_deg=lv["rotation_deg"] * (1 if r.random() < 0.5 else -1)),
        ),
        "zoom_out_10": (
            "scale 0.90, black border",
            lambda x, r, ref: P.affine(x, scale=lv["zoom_out_scale"]),
        ),
        "crop_10": (
            "border crop 5% per side, resized back",
            lambda x, r, ref: P.border_crop(x, *(lv["crop_frac"],) * 4),
        ),
        "fov_0.8": (
            "anatomy squeezed to 80% of the width, black side borders (a wider field of view)",
            lambda x, r, ref: P.affine(x, aspect=lv["fov_narrow"]),
        ),
        "fov_1.25": (
            "anatomy stretched to 125% of the width, sides cut (a narrower field of view)",
            lambda x, r, ref: P.affine(x, aspect=lv["fov_wide"]),
        ),
        "histmatch": (
            "histogram matched to another validation film",
            lambda x, r, ref: P.match_histogram(x, ref, lv["histmatch_alpha"]),
        ),
    }


FAMILIES = _families()
# The first twelve families, in the order that seeds them (and that stress_mix and stressed_copies
# draw from: calibration and selection never see the field-of-view families). New families are
# appended, so that adding one never changes the others' seeded values.
ACQUISITION_FAMILIES = [
    "blur", "contrast_0.6", "crop_10", "gamma_0.6", "gamma_1.6", "histmatch",
    "jpeg_25", "noise", "rotate_9", "sharpen", "window_15", "zoom_out_10",
]  # fmt: skip
SEED_ORDER = ACQUISITION_FAMILIES + ["fov_0.8", "fov_1.25"]


def perturb_one(
    img: np.ndarray, family: str, rng: np.random.Generator, reference: np.ndarray | None
) -> np.ndarray:
    return FAMILIES[family][1](img, rng, reference)


def perturb_set(images: list[np.ndarray], family: str, seed: int = 0) -> list[np.ndarray]:
    """Every image under one family, deterministic for a seed (histogram references are other
    images of the same set, in a seeded derangement)."""
    rng = np.random.default_rng([seed, SEED_ORDER.index(family)])
    n = len(images)
    partner = (np.arange(n) + rng.integers(1, max(n, 2))) % max(n, 1) if n > 1 else np.zeros(n, int)
    out: list[np.ndarray] = []
    for i, img in enumerate(images):
        ref = images[int(partner[i])] if n > 1 else img
        out.append(perturb_one(img, family, np.random.default_rng([seed, i, len(out)]), ref))
    return out


def stress_mix(images: np.ndarray, seed: int = 1) -> np.ndarray:
    """Each image under one family drawn at random (seeded): a mixed stressed copy of a set
    (used for the tune split during training, so selection sees shifted films too)."""
    names = ACQUISITION_FAMILIES
    rng = np.random.default_rng(seed)
    n = len(images)
    out = np.empty_like(images)
    for i in range(n):
        fam = names[int(rng.integers(len(names)))]
        ref = images[int(rng.integers(n))]
        out[i] = resize_gray(perturb_one(images[i], fam, rng, ref), images.shape[1])
    return out


def calibration_families(with_fov: bool) -> list[str]:
    """The families stressed calibration copies are drawn from."""
    return ACQUISITION_FAMILIES + (["fov_0.8", "fov_1.25"] if with_fov else [])


def fov_copies(images: np.ndarray) -> list[np.ndarray]:
    """The set squeezed and stretched at the two field-of-view stress levels (deterministic)."""
    rng = np.random.default_rng(0)
    return [
        np.stack([resize_gray(perturb_one(im, fam, rng, None), images.shape[1]) for im in images]).astype(
            images.dtype, copy=False
        )
        for fam in ("fov_0.8", "fov_1.25")
    ]


# --------------------------------------------------------------------------------------------
# Evaluation of a model folder


def patient_number(item: D.Item) -> int:
    """The numeric patient id of a file (``personN`` / ``IM-N``); -1 when the name has none."""
    m = re.search(r"(\d+)", item.group)
    return int(m.group(1)) if m else -1


def later_patients(items: list[D.Item], frac: float = 0.3) -> np.ndarray:
    """Mask of the items of the patients with the highest ids, ``frac`` of each class's patients."""
    mask = np.zeros(len(items), bool)
    for label in (0, 1):
        ids = sorted({patient_number(it) for it in items if it.label == label})
        if not ids:
            continue
        cut = ids[int(len(ids) * (1 - frac))] if len(ids) > 1 else ids[0]
        for i, it in enumerate(items):
            if it.label == label and patient_number(it) >= cut:
                mask[i] = True
    return mask


def build_predictor(model_path: Path, precision: str = "auto"):
    """``f(inputs) -> raw probabilities`` of a saved model, in float32 or mixed bfloat16.

    ``auto`` picks mixed bfloat16 where the CPU has AMX / AVX-512 BF16 (see
    :func:`training.train.choose_policy`); the output layer stays float32 either way.
    """
    import keras

    from .evaluate import predict_probs
    from .train import choose_policy

    policy = choose_policy(precision) if precision != "off" else "float32"
    if policy == "mixed_float16":  # a GPU: this evaluation is a CPU tool, keep float32 there
        policy = "float32"
    model = mixed_clone(keras.models.load_model(model_path, compile=False), policy)

    def predict(x: np.ndarray) -> np.ndarray:
        return predict_probs(model, x, batch_size=64)

    predict.policy = policy  # type: ignore[attr-defined]  # read back with getattr for the report
    return predict


def _inputs(images: list[np.ndarray], spec: PreprocessSpec) -> np.ndarray:
    return np.stack([finish(resize_gray(im, spec.size), spec) for im in images]).astype(np.float32)


def _load_native(items: list[D.Item]) -> list[np.ndarray]:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(lambda it: load_xray(it.path).pixels.astype(np.float32), items))


def split_items(data_dir: str | Path, split: str, limit_per_class: int | None = None) -> list[D.Item]:
    """``val`` (or any folder split), or ``tune``: the patient-grouped tune part of ``train``
    (10%, seed 0, exactly as training carves it)."""
    if split == "tune":
        _, tune = D.carve_tune_split(D.list_split(data_dir, "train"), 0.10, seed=0)
        if limit_per_class is not None:
            tune = [it for c in (0, 1) for it in [t for t in tune if t.label == c][:limit_per_class]]
        return tune
    return D.list_split(data_dir, split, limit_per_class)


def predict_families(
    predict,
    items: list[D.Item],
    spec: PreprocessSpec,
    families: list[str] | None = None,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Raw probabilities of ``items`` clean and under each family (deterministic for a seed)."""
    native = _load_native(items)
    out = {"clean": predict(_inputs(native, spec))}
    for fam in families or sorted(FAMILIES):
        t0 = time.time()
        out[fam] = predict(_inputs(perturb_set(native, fam, seed), spec))
        log.info("stress %s: %d films in %.0f s", fam, len(items), time.time() - t0)
    return out


def aspect_variants(
    predict,
    items: list[D.Item],
    aspect_dir: str | Path,
    split: str,
    spec: PreprocessSpec,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Index (into ``items``) of the films with an aspect-kept copy, and raw probabilities of
    those copies squashed (the app's path) and letterboxed."""
    idx, copies = [], []
    for i, it in enumerate(items):
        path = Path(aspect_dir) / split / D.CLASSES[it.label] / it.path.name
        if path.is_file():
            idx.append(i)
            copies.append(load_xray(path).pixels.astype(np.float32))
    if not idx:
        return np.zeros(0, int), {}
    return np.array(idx), {
        "aspect_kept_squash": predict(_inputs(copies, spec)),
        "aspect_kept_letterbox": predict(_inputs([P.letterbox(c) for c in copies], spec)),
    }


def _row(y: np.ndarray, raw: np.ndarray, temperature: float, threshold: float) -> dict:
    from .metrics import apply_temperature, binary_metrics, ece, roc_auc

    p = apply_temperature(raw, temperature)
    bm = binary_metrics(y, p, threshold)
    return {
        "n": int(y.size),
        "auc": float(roc_auc(y, p)) if 0 < y.sum() < y.size else None,
        "sensitivity": float(bm["sensitivity"]),
        "specificity": float(bm["specificity"]),
        "ece": float(ece(y, p)),
    }


def stress_table(
    y: np.ndarray,
    raw: dict[str, np.ndarray],
    temperature: float,
    threshold: float,
    aspect_idx: np.ndarray | None = None,
    later_mask: np.ndarray | None = None,
) -> dict[str, dict]:
    """Rows of the stress table from labels and raw probabilities (no model needed)."""
    rows: dict[str, dict] = {"clean": _row(y, raw["clean"], temperature, threshold)}
    fams = [f for f in raw if f in FAMILIES]
    for fam in fams:
        rows[fam] = {**_row(y, raw[fam], temperature, threshold), "delta_auc": None}
        if rows[fam]["auc"] is not None and rows["clean"]["auc"] is not None:
            rows[fam]["delta_auc"] = rows[fam]["auc"] - rows["clean"]["auc"]
    fov = [f for f in fams if f not in ACQUISITION_FAMILIES]
    fams = [f for f in fams if f in ACQUISITION_FAMILIES]
    if fams:
        pooled = np.concatenate([raw[f] for f in fams])
        rows["stressed_pooled"] = _row(np.tile(y, len(fams)), pooled, temperature, threshold)
        worst = min(fams, key=lambda f: rows[f]["auc"] if rows[f]["auc"] is not None else 1.0)
        rows["stressed_pooled"]["worst_family"] = worst
    if fov:
        pooled = np.concatenate([raw[f] for f in fov])
        rows["fov_pooled"] = _row(np.tile(y, len(fov)), pooled, temperature, threshold)
    if aspect_idx is not None and aspect_idx.size:
        ys = y[aspect_idx]
        rows["clean_aspect_subset"] = _row(ys, raw["clean"][aspect_idx], temperature, threshold)
        for name in ("aspect_kept_squash", "aspect_kept_letterbox"):
            if name in raw:
                rows[name] = _row(ys, raw[name], temperature, threshold)
    if later_mask is not None and later_mask.any():
        rows["later_patients"] = _row(y[later_mask], raw["clean"][later_mask], temperature, threshold)
        rows["earlier_patients"] = _row(y[~later_mask], raw["clean"][~later_mask], temperature, threshold)
        if fams:
            m = np.tile(later_mask, len(fams))
            pooled = np.concatenate([raw[f] for f in fams])
            rows["later_patients_stressed"] = _row(
                np.tile(y, len(fams))[m], pooled[m], temperature, threshold
            )
    return rows


def describe(name: str) -> str:
    if name in FAMILIES:
        return FAMILIES[name][0]
    return {
        "clean": "clean validation films",
        "stressed_pooled": "the 12 acquisition families pooled",
        "fov_pooled": "the two field-of-view families pooled",
        "clean_aspect_subset": "clean, films with an aspect-kept copy",
        "aspect_kept_squash": "aspect-kept copy (chest_xray), squashed by the app",
        "aspect_kept_letterbox": "aspect-kept copy, letterboxed to a square",
        "later_patients": "clean, 30% highest patient ids",
        "earlier_patients": "clean, the other 70%",
        "later_patients_stressed": "stressed (pooled), 30% highest patient ids",
    }.get(name, name)


def markdown_table(rows: dict[str, dict], title: str = "") -> str:
    def f(x: float | None, d: int = 4) -> str:
        return "n/a" if x is None else f"{x:.{d}f}"

    lines = [f"### {title}", ""] if title else []
    lines += ["| set | n | AUC | sens | spec | ECE |", "|---|---|---|---|---|---|"]
    for name, r in rows.items():
        lines.append(
            f"| `{name}`: {describe(name)} | {r['n']} | {f(r['auc'])} | {f(r['sensitivity'], 3)} | "
            f"{f(r['specificity'], 3)} | {f(r['ece'])} |"
        )
    return "\n".join(lines) + "\n"


def evaluate_stress(
    model_dir: str | Path,
    data_dir: str | Path,
    aspect_dir: str | Path | None = None,
    split: str = "val",
    out_dir: str | Path | None = None,
    precision: str = "auto",
    seed: int = 0,
    limit_per_class: int | None = None,
    parity: int = 0,
    families: list[str] | None = None,
) -> dict:
    """The stress table of a model folder (card temperature and threshold). Writes
    ``stress.json``, ``stress.md``, ``stress_predictions.npz`` (raw probabilities, so other
    calibrations can be scored without predicting again) and reliability diagrams."""
    from .train import precision_report

    card = _card_or_run(model_dir)
    spec = card.preprocessing
    out = Path(out_dir) if out_dir else Path(model_dir) / f"stress-{split}"
    out.mkdir(parents=True, exist_ok=True)
    log.info("%s", precision_report(precision))
    t0 = time.time()
    predict = build_predictor(card.model_path, precision)
    items = split_items(data_dir, split, limit_per_class)
    y = np.array([it.label for it in items], np.float64)
    raw = predict_families(predict, items, spec, families, seed=seed)
    aspect_idx = np.zeros(0, int)
    if aspect_dir is not None and split != "tune":
        aspect_idx, extra = aspect_variants(predict, items, aspect_dir, split, spec)
        raw.update(extra)
    later = later_patients(items)
    rows = stress_table(y, raw, card.temperature, card.threshold, aspect_idx, later)
    report: dict = {
        "model": {
            "name": card.name,
            "version": card.version,
            "temperature": card.temperature,
            "threshold": card.threshold,
        },
        "data": {
            "dir": str(data_dir),
            "split": split,
            "aspect_dir": str(aspect_dir) if aspect_dir else None,
            "files_sha256": D.file_list_hash(items),
            "limit_per_class": limit_per_class,
        },
        "seed": seed,
        "precision": getattr(predict, "policy", "float32"),
        "levels": STRESS_LEVELS,
        "rows": rows,
        "seconds": round(time.time() - t0),
    }
    if parity:
        import keras  # noqa: F401

        n = min(parity, len(items))
        sel = np.linspace(0, len(items) - 1, n).astype(int)
        f32 = build_predictor(card.model_path, "off")
        x = _inputs(_load_native([items[i] for i in sel]), spec)
        a, b = f32(x), predict(x)
        report["parity"] = {
            "n": n,
            "policy": report["precision"],
            "max_abs_diff_prob": float(np.max(np.abs(a - b))),
            "mean_abs_diff_prob": float(np.mean(np.abs(a - b))),
            "decisions_differ": int(
                np.sum(
                    (apply_t(a, card.temperature) >= card.threshold)
                    != (apply_t(b, card.temperature) >= card.threshold)
                )
            ),
        }
    # Any: numpy's stub would also pass these keywords to allow_pickle (a bool, since numpy 2.1)
    arrays: dict[str, Any] = {"y": y, "later": later, "aspect_idx": aspect_idx}
    arrays.update({f"raw_{k}": v for k, v in raw.items()})
    np.savez_compressed(out / "stress_predictions.npz", **arrays)
    (out / "stress.json").write_text(json.dumps(report, indent=2))
    md = markdown_table(
        rows,
        f"{card.name} {card.version} on {split} (T={card.temperature:.3f}, "
        f"threshold {card.threshold:.3f}, {report['precision']})",
    )
    (out / "stress.md").write_text(md)
    try:
        from .plots import save_reliability_pair

        pooled = np.concatenate([raw[f] for f in raw if f in ACQUISITION_FAMILIES])
        save_reliability_pair(
            y,
            apply_t(raw["clean"], card.temperature),
            np.tile(y, len(pooled) // len(y)),
            apply_t(pooled, card.temperature),
            out / "reliability_clean_stressed.png",
            f"{card.name} {card.version}",
        )
    except Exception:  # a plot must not lose the numbers
        log.exception("reliability plot failed")
    report["markdown"] = md
    return report


def apply_t(raw: np.ndarray, temperature: float) -> np.ndarray:
    from .metrics import apply_temperature

    return apply_temperature(raw, temperature)


def stressed_copies(
    images: list[np.ndarray], k: int, seed: int = 11, with_fov: bool = False
) -> tuple[list[np.ndarray], list[int]]:
    """``k`` stressed copies of every image, each under a different family drawn at random (seeded);
    returns the copies and the index of each copy's source image. Used to calibrate on data that
    resembles a shift (the tune split, never val). ``with_fov``: the field-of-view families are
    drawn too."""
    names = calibration_families(with_fov)
    rng = np.random.default_rng(seed)
    n = len(images)
    copies: list[np.ndarray] = []
    source: list[int] = []
    for i, img in enumerate(images):
        for fam in rng.choice(names, size=min(k, len(names)), replace=False):
            ref = images[int(rng.integers(n))]
            copies.append(perturb_one(img, str(fam), rng, ref))
            source.append(i)
    return copies, source


def mixed_clone(model, policy: str):
    """A copy of a float32 model computing in ``policy`` (e.g. mixed_bfloat16), output layer float32."""
    import keras

    if policy == "float32":
        return model
    out_name = model.layers[-1].name
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        clone = keras.models.clone_model(
            model,
            clone_function=lambda layer: layer.__class__.from_config(
                {**layer.get_config(), "dtype": "float32" if layer.name == out_name else policy}
            ),
        )
    finally:
        keras.config.set_dtype_policy(previous)
    clone.set_weights(model.get_weights())
    return clone


def pooled_threshold(
    y_clean: np.ndarray,
    y_pooled: np.ndarray,
    p_pooled: np.ndarray,
    target: float = 0.95,
    confidence: float | None = 0.95,
) -> tuple[float, float]:
    """The Wilson-bound threshold rule on pooled clean + stressed probabilities.

    The stressed copies are not independent films, so the confidence margin counts the clean
    positives only: the required sensitivity is the smallest ``k / n_pos`` (clean positives)
    whose one-sided Wilson lower bound reaches ``target``; the threshold is the largest one that
    gives the pooled set that sensitivity. Returns (threshold, required sensitivity)."""
    from .metrics import threshold_for_sensitivity, wilson_lower_bound

    n_pos = int(np.sum(y_clean == 1))
    k = math.ceil(target * n_pos)
    if confidence is not None:
        while k < n_pos and wilson_lower_bound(k, n_pos, confidence) < target:
            k += 1
    required = min(1.0, k / n_pos)
    return float(threshold_for_sensitivity(y_pooled, p_pooled, required)), required


def _card_or_run(folder: str | Path):
    """The model card of a model folder, or, for a training run folder (config.json + best.keras),
    a provisional card: T = 1, threshold 0.5 (rescore the saved predictions with the exported
    card's values afterwards: :func:`rescore`)."""
    from pneumo_desktop.core.card import ModelCard

    folder = Path(folder)
    if (folder / "model_card.json").exists():
        return ModelCard.load(folder)
    config = json.loads((folder / "config.json").read_text())
    return ModelCard(
        name=f"run {folder.name}",
        version="best.keras",
        model_file="best.keras",
        sha256="",
        preprocessing=PreprocessSpec.from_dict(config["preprocessing"]),
        folder=folder,
    )


def rescore(predictions: str | Path | list, model_dir: str | Path, out_dir: str | Path | None = None) -> dict:
    """The stress table of saved raw predictions (``stress_predictions.npz``) under the temperature
    and threshold of another card (e.g. the same weights, calibrated differently): no new
    predictions."""
    from pneumo_desktop.core.card import ModelCard

    card = ModelCard.load(model_dir)
    paths = predictions if isinstance(predictions, list) else [predictions]
    raw: dict[str, np.ndarray] = {}
    y = later = None
    aspect_idx = np.zeros(0, int)
    for path in paths:  # several runs of the same split (e.g. families split over processes): merged
        z = np.load(path)
        if y is not None and not np.array_equal(z["y"], y):
            raise ValueError(f"{path}: predictions of another split")
        y, later = z["y"], z["later"]
        raw.update({k.removeprefix("raw_"): z[k] for k in z.files if k.startswith("raw_")})
        if z["aspect_idx"].size:
            aspect_idx = z["aspect_idx"]
    z = {"y": y, "later": later, "aspect_idx": aspect_idx}
    rows = stress_table(z["y"], raw, card.temperature, card.threshold, z["aspect_idx"], z["later"])
    title = f"{card.name} {card.version} (T={card.temperature:.3f}, threshold {card.threshold:.3f})"
    md = markdown_table(rows, title)
    report = {
        "model": {
            "name": card.name,
            "version": card.version,
            "temperature": card.temperature,
            "threshold": card.threshold,
        },
        "predictions": [str(p) for p in paths],
        "rows": rows,
        "markdown": md,
    }
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "stress.json").write_text(
            json.dumps({k: v for k, v in report.items() if k != "markdown"}, indent=2)
        )
        (out / "stress.md").write_text(md)
        from .plots import save_reliability_pair

        y = z["y"]
        fams = [f for f in raw if f in ACQUISITION_FAMILIES]
        pooled = np.concatenate([raw[f] for f in fams])
        save_reliability_pair(
            y,
            apply_t(raw["clean"], card.temperature),
            np.tile(y, len(fams)),
            apply_t(pooled, card.temperature),
            out / "reliability_clean_stressed.png",
            f"{card.name} {card.version}",
        )
    return report


def write_to_card(model_dir: str | Path, report: dict, command: str) -> None:
    """Store the stress table (rounded) in the model card's ``stress_validation`` section."""
    from pneumo_desktop.core.card import write_card

    card = json.loads((Path(model_dir) / "model_card.json").read_text())
    rows = {
        name: {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}
        for name, row in report["rows"].items()
    }
    card["stress_validation"] = {
        "what": "the validation films under fixed acquisition changes beyond the training augmentation's "
        "ranges (training.stress); AUC, sensitivity/specificity at this card's threshold, ECE of the "
        "calibrated probability; stressed_pooled pools all in-memory families",
        "levels": STRESS_LEVELS,
        "precision": report.get("precision"),
        "seed": report.get("seed", 0),
        "command": command,
        "rows": rows,
    }
    write_card(model_dir, card)


def compare_markdown(reports: list[tuple[str, dict]]) -> str:
    """One table, a column group per model: AUC / sens / spec / ECE per row of the stress table."""

    def f(x: float | None, d: int = 3) -> str:
        return "n/a" if x is None else f"{x:.{d}f}"

    names = [n for n, _ in reports]
    rows = list(reports[0][1]["rows"])
    head = "| set | n | " + " | ".join(f"{n} AUC | {n} sens | {n} spec | {n} ECE" for n in names) + " |"
    lines = [head, "|" + "---|" * (2 + 4 * len(names))]
    for row in rows:
        cells = []
        for _, rep in reports:
            r = rep["rows"].get(row)
            cells.append(
                " | ".join(
                    [f(r["auc"], 4), f(r["sensitivity"]), f(r["specificity"]), f(r["ece"], 4)]
                    if r
                    else ["", "", "", ""]
                )
            )
        n = reports[0][1]["rows"][row]["n"]
        lines.append(f"| `{row}` | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


#: The sets a paired comparison reports: (name, families pooled, "all" films or the aspect subset).
PAIRED_SETS = (
    ("clean", ("clean",), "all"),
    ("stressed_pooled", tuple(ACQUISITION_FAMILIES), "all"),
    ("fov_pooled", ("fov_0.8", "fov_1.25"), "all"),
    ("aspect_kept_letterbox", ("aspect_kept_letterbox",), "aspect"),
)


def _paired_bootstrap(
    y: np.ndarray,
    metric_a: Callable[[np.ndarray], float],
    metric_b: Callable[[np.ndarray], float],
    n: int,
    seed: int,
) -> dict:
    """``metric_b - metric_a`` of film indices, on all films and over ``n`` replicates that draw films
    (stratified by class, with replacement): the difference, its 95% percentile interval and the
    share of replicates where B is worse. Replicates where a metric is undefined (nan) are dropped."""
    everything = np.arange(y.size)
    a, b = metric_a(everything), metric_b(everything)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    rng = np.random.default_rng(seed)
    deltas = np.empty(n)
    for i in range(n):
        idx = np.concatenate([rng.choice(pos, pos.size), rng.choice(neg, neg.size)])
        deltas[i] = metric_b(idx) - metric_a(idx)
    deltas = deltas[~np.isnan(deltas)]
    lo, hi = np.quantile(deltas, [0.025, 0.975])
    return {
        "auc_a": a,
        "auc_b": b,
        "delta": b - a,
        "ci95": [float(lo), float(hi)],
        "share_b_worse": float((deltas < 0).mean()),
    }


def paired_auc_difference(
    y: np.ndarray,
    raw_a: dict[str, np.ndarray],
    raw_b: dict[str, np.ndarray],
    families: tuple[str, ...],
    n: int = 2000,
    seed: int = 0,
) -> dict:
    """AUC of model B minus AUC of model A on the same films, with a paired percentile bootstrap.

    Each replicate draws films (stratified by class, with replacement) and takes every pooled family
    of a drawn film with it, so the copies of one film are never counted as independent. AUC is a
    ranking measure: raw probabilities suffice (a temperature does not change it).
    """
    from .metrics import roc_auc

    def auc(raw: dict[str, np.ndarray]) -> Callable[[np.ndarray], float]:
        def of(idx: np.ndarray) -> float:
            scores = np.concatenate([raw[f][idx] for f in families])
            return float(roc_auc(np.tile(y[idx], len(families)), scores))

        return of

    return {"n_films": int(y.size), **_paired_bootstrap(y, auc(raw_a), auc(raw_b), n, seed)}


def _load_paired(base: str | Path, other: str | Path) -> tuple[Any, list[dict[str, np.ndarray]]]:
    """The first ``stress_predictions.npz`` (labels, aspect subset) and the raw predictions of both,
    by family; the two must be predictions of the same films."""
    za, zb = np.load(base), np.load(other)
    if not np.array_equal(za["y"], zb["y"]):
        raise ValueError(f"{base} and {other} are predictions of different films")
    return za, [{k.removeprefix("raw_"): z[k] for k in z.files if k.startswith("raw_")} for z in (za, zb)]


def paired_comparison(base: str | Path, other: str | Path, n: int = 2000, seed: int = 0) -> dict[str, dict]:
    """:func:`paired_auc_difference` of two ``stress_predictions.npz`` files of the same split, for
    each set of :data:`PAIRED_SETS` both files hold."""
    za, raw = _load_paired(base, other)
    out: dict[str, dict] = {}
    for name, families, films in PAIRED_SETS:
        if not all(f in raw[0] and f in raw[1] for f in families):
            continue
        y = za["y"] if films == "all" else za["y"][za["aspect_idx"]]
        out[name] = paired_auc_difference(y, raw[0], raw[1], families, n, seed)
    return out


def matched_pairs_auc(y: np.ndarray, scores: np.ndarray, ratio: np.ndarray, tol: float) -> tuple[float, int]:
    """AUC over the (PNEUMONIA, NORMAL) film pairs whose width/height ratios differ by at most a factor
    ``exp(tol)``: how well the scores rank films that the film's shape cannot tell apart. Returns the
    AUC and the number of such pairs (AUC nan when there are none)."""
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    lr = np.log(ratio)
    matched = np.abs(lr[pos][:, None] - lr[neg][None, :]) <= tol
    diff = scores[pos][:, None] - scores[neg][None, :]
    wins = (diff > 0) + 0.5 * (diff == 0)
    n = int(matched.sum())
    return (float(wins[matched].mean()) if n else float("nan")), n


def shape_matched_comparison(
    base: str | Path,
    other: str | Path,
    aspect_dir: str | Path,
    data_dir: str | Path,
    split: str = "val",
    tol: float = 0.1,
    n: int = 2000,
    seed: int = 0,
) -> dict:
    """Clean AUC of two models (``stress_predictions.npz`` of the same split) on the films that have an
    aspect-kept copy, over all pairs and over shape-matched pairs only (:func:`matched_pairs_auc`),
    with a paired bootstrap of the difference that resamples films (stratified by class)."""
    za, raw = _load_paired(base, other)
    idx = za["aspect_idx"]
    items = split_items(data_dir, split)
    r = film_ratios(
        Path(aspect_dir) / split / D.CLASSES[items[int(i)].label] / items[int(i)].path.name for i in idx
    )
    y = za["y"][idx]
    sa, sb = raw[0]["clean"][idx], raw[1]["clean"][idx]

    def auc(scores: np.ndarray, t: float) -> Callable[[np.ndarray], float]:
        return lambda k: matched_pairs_auc(y[k], scores[k], r[k], t)[0]

    out: dict = {"films": int(y.size), "tolerance_log_ratio": tol}
    for name, t in (("all_pairs", np.inf), ("shape_matched", tol)):
        pairs = matched_pairs_auc(y, sa, r, t)[1]
        out[name] = {"pairs": pairs, **_paired_bootstrap(y, auc(sa, t), auc(sb, t), n, seed)}
    return out


def paired_markdown(name_a: str, name_b: str, rows: dict[str, dict]) -> str:
    lines = [
        f"| set | films | {name_a} AUC | {name_b} AUC | difference | 95% interval (paired bootstrap) "
        f"| replicates where {name_b} is worse |",
        "|---|---|---|---|---|---|---|",
    ]
    for set_name, r in rows.items():
        lo, hi = r["ci95"]
        lines.append(
            f"| `{set_name}` | {r['n_films']} | {r['auc_a']:.4f} | {r['auc_b']:.4f} | {r['delta']:+.4f} "
            f"| {lo:+.4f} to {hi:+.4f} | {r['share_b_worse']:.0%} |"
        )
    return "\n".join(lines) + "\n"


def film_ratios(paths: Iterable[str | Path]) -> np.ndarray:
    """Width/height of each image file (headers only)."""
    from PIL import Image

    ratio = []
    for path in paths:
        with Image.open(path) as im:
            ratio.append(im.size[0] / im.size[1])
    return np.array(ratio)


def film_shape_auc(aspect_dir: str | Path, split: str) -> dict:
    """How well the film's width/height ratio alone separates the classes (files of
    ``aspect_dir/split``; image headers only): a shortcut the squash turns into anatomy width."""
    from .metrics import roc_auc

    items = D.list_split(aspect_dir, split)
    r = film_ratios(it.path for it in items)
    y = np.array([it.label for it in items])
    return {
        "split": split,
        "n": int(y.size),
        "median_w_over_h_normal": float(np.median(r[y == 0])),
        "median_w_over_h_pneumonia": float(np.median(r[y == 1])),
        "auc_of_w_over_h": float(roc_auc(y, r)),
    }
