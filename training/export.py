"""``python -m training export``: calibrate a run's best checkpoint and write the model folder.

What is fitted on what (no data is used twice):

* ``train`` minus the tune part: the network weights, and the out-of-distribution reference.
* the tune part (whole patients carved from ``train``; see :func:`training.data.carve_tune_split`):
  early stopping, the temperature, the operating threshold and the OOD threshold.
* ``val``: nothing at all. Its metrics in the card are an honest estimate.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from pneumo_desktop.core.card import sha256_file, write_card
from pneumo_desktop.core.integrity import write_manifest
from pneumo_desktop.core.preprocess import PreprocessSpec
from pneumo_desktop.core.quality import OODReference

from . import data as D
from .metrics import (
    apply_temperature,
    ece,
    fit_temperature,
    sensitivity_bound_reachable,
    threshold_for_sensitivity,
)
from .model import GRADCAM_LAYER, as_float32
from .train import split_seed, total_training_seconds

log = logging.getLogger(__name__)

MODEL_FILE = "pneumo_vgg19.keras"
OOD_FILE = "ood_reference.npz"
OOD_LAYER = "gap"
OOD_QUANTILE = 0.99
OOD_FIT_IMAGES = 1500  # training images whose pooled features define the reference  # of tune-split distances: about 1% of in-distribution films flagged

INTENDED_USE = (
    "Decision support for screening frontal (AP/PA) chest radiographs of young children for "
    "pneumonia where no radiologist is available. Not a diagnostic device: every result must be "
    "reviewed by a clinician together with the patient's history and examination."
)
LIMITATIONS = [
    "Trained on pediatric anterior-posterior chest films of children aged 1-5 from one hospital "
    "(Guangzhou Women and Children's Medical Center, China).",
    "Frontal (AP/PA) films only; not validated on adults, on other hospitals or X-ray machines, or on "
    "lateral views.",
    "Shift-stress validation (stress_validation) simulates acquisition changes on the same cohort's films; "
    "it is a proxy, not a substitute, for a new hospital's films.",
    "Validation images come from the same source as the training images (patient-level split); "
    "accuracy on other populations is expected to be lower, especially specificity.",
    "Does not distinguish bacterial from viral pneumonia, nor detect other findings.",
    "The data set has size/aspect and burned-in marker differences between classes that a model "
    "can use as shortcuts; check the heatmap.",
]
DATASET_CREDIT = (
    "Kermany DS, Zhang K, Goldbaum M. Labeled Optical Coherence Tomography (OCT) and Chest X-Ray "
    "Images for Classification. Mendeley Data, v2, 2018. doi:10.17632/rscbjbr9sj.2. CC BY 4.0. "
    "Paper: Kermany et al., Cell 172(5):1122-1131.e9, 2018."
)


def predict_with_features(model, x: np.ndarray, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    import keras

    feat_model = keras.Model(model.inputs[0], [model.output, model.get_layer(OOD_LAYER).output])
    probs, feats = [], []
    for i in range(0, len(x), batch_size):
        p, f = feat_model(x[i : i + batch_size], training=False)
        probs.append(keras.ops.convert_to_numpy(p).reshape(-1))
        feats.append(keras.ops.convert_to_numpy(f).reshape(len(p), -1))
    return np.concatenate(probs).astype(np.float64), np.concatenate(feats).astype(np.float64)


def export(
    run_dir: str | Path,
    out_dir: str | Path,
    target_sensitivity: float = 0.95,
    sensitivity_confidence: float | None = 0.95,
    version: str | None = None,
    checkpoint: str = "best.keras",
    data: str | Path | None = None,
    stress_calibration: int = 0,
    precision: str = "off",
    notes: str | None = None,
    calibration_fov: bool = False,
) -> dict:
    """Write ``out_dir`` (model file, card, OOD reference, evaluation plots); returns the card.

    ``data`` overrides the run's data folder when the run was trained elsewhere (a lent GPU
    machine); the split file lists are checked against the run's hashes either way.

    ``stress_calibration`` = k > 0: temperature and threshold are fitted on the tune split plus
    k stressed copies of each tune film (:func:`training.stress.stressed_copies`), data that
    resembles a new site's films; val stays untouched. ``precision``: ``off`` predicts in
    float32; ``auto`` in mixed bfloat16 where the CPU has it (the app's default inference).
    """
    import keras

    from .evaluate import evaluate_arrays

    run = Path(run_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config = json.loads((run / "config.json").read_text())
    if data is not None:
        config["data"] = str(data)
    spec = PreprocessSpec.from_dict(config["preprocessing"])

    keras.config.set_dtype_policy("float32")
    model = as_float32(keras.models.load_model(run / checkpoint, compile=False))

    # Rebuild exactly the training run's splits, and check that the files are the same ones.
    all_train = D.list_split(config["data"], "train", config.get("limit_per_class"))
    train_items, tune_items = D.carve_tune_split(all_train, config["tune_frac"], seed=split_seed(config))
    if (
        D.file_list_hash(tune_items) != config["tune_files_sha256"]
        or D.file_list_hash(train_items) != config["train_files_sha256"]
    ):
        raise RuntimeError("the tune split differs from the training run's; was the data changed?")
    val_items = D.list_split(config["data"], "val", config.get("limit_per_class"))

    # The OOD reference needs the feature distribution, not every image: a fixed subsample is plenty.
    ood_items = [train_items[i] for i in np.random.default_rng(0).permutation(len(train_items))[:OOD_FIT_IMAGES]]
    x_train, _ = D.load_resized(ood_items, spec.size)
    x_tune, y_tune = D.load_resized(tune_items, spec.size)
    x_val, y_val = D.load_resized(val_items, spec.size)

    from .stress import mixed_clone
    from .train import choose_policy

    policy = "float32" if precision == "off" else choose_policy(precision)
    policy = "float32" if policy == "mixed_float16" else policy
    runner = mixed_clone(model, policy)
    _, f_train = predict_with_features(runner, D.to_inputs(x_train, spec))
    raw_tune, f_tune = predict_with_features(runner, D.to_inputs(x_tune, spec))
    raw_val, f_val = predict_with_features(runner, D.to_inputs(x_val, spec))

    # Calibration and operating point: fitted on the tune split only (plus its stressed copies).
    stressed = None
    if stress_calibration > 0:
        from .evaluate import predict_probs
        from .stress import _inputs, _load_native, calibration_families, pooled_threshold, stressed_copies

        copies, source = stressed_copies(_load_native(tune_items), stress_calibration, with_fov=calibration_fov)
        raw_stressed = predict_probs(runner, _inputs(copies, spec), batch_size=64)
        y_stressed = y_tune[np.array(source)]
        y_cal = np.concatenate([y_tune, y_stressed])
        raw_cal = np.concatenate([raw_tune, raw_stressed])
        temperature = float(fit_temperature(y_cal, raw_cal))
        threshold, required = pooled_threshold(
            y_tune, y_cal, apply_temperature(raw_cal, temperature), target_sensitivity, sensitivity_confidence
        )
        stressed = {
            "copies_per_film": stress_calibration,
            "families": calibration_families(calibration_fov),
            "n": int(len(y_stressed)),
            "required_pooled_sensitivity": required,
            "ece_stressed_tune_before": float(ece(y_stressed, raw_stressed)),
            "ece_stressed_tune_after": float(ece(y_stressed, apply_temperature(raw_stressed, temperature))),
        }
    else:
        temperature = float(fit_temperature(y_tune, raw_tune))
        threshold = float(
            threshold_for_sensitivity(
                y_tune, apply_temperature(raw_tune, temperature), target_sensitivity, sensitivity_confidence
            )
        )
    p_tune = apply_temperature(raw_tune, temperature)
    p_val = apply_temperature(raw_val, temperature)
    bound_reachable = sensitivity_bound_reachable(int(np.sum(y_tune == 1)), target_sensitivity, sensitivity_confidence)

    # Out-of-distribution reference: features of the training images; threshold on tune.
    ood = OODReference.fit(f_train, OOD_LAYER)
    ood = ood.with_threshold(float(np.quantile(ood.score(f_tune), OOD_QUANTILE)))
    ood.save(out / OOD_FILE)
    val_rejected = float(np.mean(ood.score(f_val) > ood.threshold))

    m_val = evaluate_arrays(y_val, p_val, threshold, out / "eval-val", "validation (never used in training)")
    m_tune = evaluate_arrays(y_tune, p_tune, threshold, out / "eval-tune", "tune split (selection)")

    model_path = out / MODEL_FILE
    model.save(model_path)
    history = run / "history.csv"
    if history.exists():
        shutil.copy(history, out / "training_history.csv")
        try:
            from .plots import save_history_plot

            save_history_plot(history, out / "training_history.png")
        except Exception:  # a plot must not stop an export
            log.exception("history plot failed")
    epochs = max(0, sum(1 for _ in history.open()) - 1) if history.exists() else None

    card: dict[str, Any] = {
        "name": "pneumo-vgg19",
        "version": version or dt.date.today().strftime("%Y.%m.%d"),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "architecture": "Keras VGG19 base (include_top=False, flat functional graph, VGG layer names kept) "
        "+ global average pooling + dropout + 1 sigmoid unit",
        "model_file": MODEL_FILE,
        "sha256": sha256_file(model_path),
        "file_size_bytes": model_path.stat().st_size,
        "labels": ["NORMAL", "PNEUMONIA"],
        "preprocessing": spec.to_dict(),
        "preprocessing_description": "load_xray (display-ready gray, bone bright) -> squash to size x size "
        "(PIL bilinear, antialiased) -> per-image standardisation -> gray repeated to 3 channels "
        "(pneumo_desktop.core.preprocess; the same code in training and in the app)",
        "weights_init": _weights_description(config["weights"])
        + (f"; continued from a checkpoint trained at another input size ({Path(config['init_from']).parent.name})"
           if config.get("init_from") else ""),
        "gradcam_layer": GRADCAM_LAYER,
        "temperature": temperature,
        "threshold": threshold,
        "threshold_rule": _threshold_rule(target_sensitivity, sensitivity_confidence, bound_reachable)
        + (
            f"; applied to the tune split pooled with {stress_calibration} stressed copies of each tune film "
            "(the Wilson margin counts the clean tune positives only: the copies are not independent films)"
            if stressed
            else ""
        ),
        "inference_precision": policy,
        "calibration": {
            "method": "temperature scaling (Guo et al. 2017) fitted on the tune split"
            + (
                f" plus {stress_calibration} stressed copies of each tune film (shift-stress families of "
                "training.stress, drawn per film, seeded): data that resembles a new site, not only clean films"
                if stressed
                else ""
            ),
            **({"stressed_tune": stressed} if stressed else {}),
            "ece_val_before": float(ece(y_val, raw_val)),
            "ece_val_after": float(ece(y_val, p_val)),
            "ece_tune_before": float(ece(y_tune, raw_tune)),
            "ece_tune_after": float(ece(y_tune, p_tune)),
        },
        "ood": {
            "method": "Mahalanobis distance of globally pooled block5 features (shrunk covariance of "
            f"{len(ood_items)} training images); threshold = 99th percentile of tune-split distances",
            "file": OOD_FILE,
            "layer": OOD_LAYER,
            "threshold": ood.threshold,
            "val_chest_xray_rejected": val_rejected,
        },
        "training": {
            "data": "Kermany et al. 2018 pediatric chest X-rays, downsized copy "
            f"({Path(config['data']).name}); train minus tune split",
            "train_count": config["train_count"],
            "tune_count": config["tune_count"],
            "val_count": {"NORMAL": int((y_val == 0).sum()), "PNEUMONIA": int(y_val.sum())},
            "train_files_sha256": config["train_files_sha256"],
            "tune_files_sha256": config["tune_files_sha256"],
            "val_files_sha256": D.file_list_hash(val_items),
            "epochs": epochs,
            "training_seconds": round(total_training_seconds(run)),
            "continued_from": init_from_summary(config),
            "total_training_seconds": round(total_training_seconds(run))
            + ((init_from_summary(config) or {}).get("training_seconds") or 0),
            "hardware": config["hardware"],
            "backend": config["backend"],
            "keras_version": config["keras_version"],
            "dtype_policy": config["dtype_policy"],
            "augmentation": config.get("augment_params") or config["augment"],
            "label_smoothing": config.get("label_smoothing", 0.0),
            "lr_schedule": config.get("schedule", "plateau"),
            "weight_averaging": f"EMA, momentum {config['ema']}" if config.get("ema") else None,
            "selection": "best tune AUC on the tune split plus a stressed copy of it"
            if config.get("stressed_tune")
            else "best tune AUC",
            "batch_size": config["batch_size"],
            "learning_rate": config["lr"],
            "seed": config["seed"],
            "split_seed": split_seed(config),  # the tune split's (a seed study changes seed only)
            "command": _train_command(config, spec.size),
            "notes": notes or config.get("notes"),
        },
        "metrics": {
            "val": _round(m_val),
            "tune": _round(m_tune),
            "note": "val was never used for training, early stopping, calibration or the threshold "
            "(see threshold_rule_history, when present, for how the threshold rule was chosen).",
        },
        "intended_use": INTENDED_USE,
        "limitations": LIMITATIONS,
        "dataset_credit": DATASET_CREDIT,
    }
    write_card(out, card)
    card["manifest"] = write_manifest(out)  # sha256 of every file the app loads, and of the card
    log.info("exported %s (sha256 %s): val AUC %s, sensitivity %s, specificity %s at threshold %.3f",
             model_path, card["sha256"][:12], m_val["roc_auc"], m_val["sensitivity"], m_val["specificity"],
             threshold)
    return card


def _threshold_rule(target: float, confidence: float | None, reachable: bool = True) -> str:
    if confidence is None:
        return f"largest threshold with sensitivity >= {target} on the tune split (calibrated probability)"
    if not reachable:
        return (
            f"the lowest tune-split positive's probability: with so few positives the one-sided "
            f"{confidence:.0%} Wilson lower bound of sensitivity cannot reach {target}, so every tune "
            "positive is flagged (calibrated probability)"
        )
    return (
        f"largest threshold whose one-sided {confidence:.0%} Wilson lower confidence bound of the tune-split "
        f"sensitivity is >= {target} (calibrated probability): a margin for the tune split's size, so that "
        "the target holds on new films, not only on the films it was fitted on"
    )


def _train_command(config: dict, size: int) -> str:
    """The ``python -m training train`` options of the run, as far as they differ from defaults."""
    cmd = (
        f"python -m training train --data {Path(config['data']).name} --size {size} "
        f"--weights {config['weights']} --epochs {config['epochs']}"
    )
    for key, flag, default in (
        ("patience", "--patience", 3),
        ("lr_patience", "--lr-patience", 1),
        ("time_budget_s", "--time-budget", None),
        ("batch_size", "--batch-size", 32),
        ("lr", "--lr", 1e-4),
    ):
        if config.get(key, default) != default:
            cmd += f" {flag} {config[key]:g}"
    if config.get("init_from"):
        cmd += f" --init-from {config['init_from']}"
    for key, flag, usual in (
        ("train_from_block", "--train-from-block", 1),
        ("augment_kind", "--augment-kind", "basic"),
        ("label_smoothing", "--label-smoothing", 0.0),
        ("schedule", "--schedule", "plateau"),
        ("warmup_steps", "--warmup-steps", 0),
        ("ema", "--ema", 0.0),
        ("seed", "--seed", 0),
        ("split_seed", "--split-seed", None),
    ):
        if config.get(key, usual) != usual:
            cmd += f" {flag} {config[key]}"
    if config.get("stressed_tune"):
        cmd += " --stressed-tune"
    if config.get("fov_tune"):
        cmd += " --fov-tune"
    if config.get("soup"):
        sp = config["soup"]
        cmd += (
            f"; then python -m training soup --run {Path(sp['run']).name} --start {Path(sp['start']).name} "
            f"--alpha {sp['alpha']:g}"
        )
    if config.get("dtype_policy", "float32") != "float32":
        cmd += f" (dtype policy {config['dtype_policy']}, {config.get('backend', '?')} backend)"
    return cmd


def init_from_summary(config: dict) -> dict | None:
    """Size, epochs and time of the run a progressive-resize run started from (None if none)."""
    if not config.get("init_from"):
        return None
    previous = Path(config["init_from"]).parent
    summary: dict = {"run": previous.name, "checkpoint": Path(config["init_from"]).name}
    try:
        prev_config = json.loads((previous / "config.json").read_text())
        summary["input_size"] = prev_config["size"]
        summary["dtype_policy"] = prev_config["dtype_policy"]
    except (OSError, ValueError, KeyError):
        pass
    timing = previous / "timing.json"
    if timing.exists():
        data = json.loads(timing.read_text())
        summary["epochs"] = data.get("epochs")
        summary["training_seconds"] = round(data.get("seconds", 0.0))
    return summary


def _weights_description(weights: str) -> str:
    if weights == "imagenet":
        return "ImageNet (keras.applications VGG19)"
    if weights == "none":
        return "random initialisation (He-normal conv kernels); no pretrained weights were available"
    return f"local VGG19 weights file {Path(weights).name}"


def _round(metrics: dict) -> dict:
    out: dict[str, Any] = {}
    for k, v in metrics.items():
        if isinstance(v, float):
            out[k] = round(v, 4)
        elif isinstance(v, list | tuple) and v and isinstance(v[0], float):
            out[k] = [round(x, 4) for x in v]
        else:
            out[k] = v
    return out
