"""``python -m training calibrate``: refit a model folder's temperature and threshold, weights unchanged.

Fits on the tune split (the patient-grouped part of ``train`` the model never trained on; its
file list is checked against the card) plus ``k`` stressed copies of each tune film, with the
rule of :func:`training.stress.pooled_threshold`. Writes a new model folder (the model file and
OOD reference copied, the card updated). The card's validation metrics are recomputed from raw
validation probabilities (``--val-predictions``: a ``stress_predictions.npz`` of the same
weights), so val is scored, never fitted.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np

from . import data as D
from .metrics import apply_temperature, ece, fit_temperature

log = logging.getLogger(__name__)


def recalibrate(
    model_dir: str | Path,
    data_dir: str | Path,
    out_dir: str | Path,
    copies: int = 3,
    precision: str = "auto",
    val_predictions: str | Path | None = None,
    target_sensitivity: float = 0.95,
    confidence: float = 0.95,
    with_fov: bool = False,
) -> dict:
    from pneumo_desktop.core.card import ModelCard, sha256_file, write_card

    from .evaluate import evaluate_arrays
    from .export import _round
    from .stress import (
        _inputs,
        _load_native,
        build_predictor,
        calibration_families,
        pooled_threshold,
        split_items,
        stressed_copies,
    )

    card = ModelCard.load(model_dir)
    spec = card.preprocessing
    tune = split_items(data_dir, "tune")
    expected = card.raw.get("training", {}).get("tune_files_sha256")
    if expected and D.file_list_hash(tune) != expected:
        raise RuntimeError("the tune split differs from the one in the model card")
    predict = build_predictor(card.model_path, precision)
    native = _load_native(tune)
    y_tune = np.array([it.label for it in tune], np.float64)
    raw_tune = predict(_inputs(native, spec))
    stressed, source = stressed_copies(native, copies, with_fov=with_fov)
    raw_stressed = predict(_inputs(stressed, spec))
    y_stressed = y_tune[np.array(source)]
    y_cal = np.concatenate([y_tune, y_stressed])
    raw_cal = np.concatenate([raw_tune, raw_stressed])
    temperature = float(fit_temperature(y_cal, raw_cal))
    threshold, required = pooled_threshold(
        y_tune, y_cal, apply_temperature(raw_cal, temperature), target_sensitivity, confidence
    )

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in [
        card.model_file,
        (card.ood or {}).get("file"),
        "training_history.csv",
        "training_history.png",
    ]:
        if name and (Path(model_dir) / name).exists() and Path(model_dir).resolve() != out.resolve():
            shutil.copy(Path(model_dir) / name, out / name)
    new = json.loads(json.dumps(card.raw))
    previous = {"temperature": card.temperature, "threshold": card.threshold}
    new["temperature"] = temperature
    new["threshold"] = threshold
    new["sha256"] = sha256_file(out / card.model_file)
    new["threshold_rule"] = (
        f"largest threshold whose one-sided {confidence:.0%} Wilson lower confidence bound of sensitivity "
        f"is >= {target_sensitivity}, applied to the tune split pooled with {copies} stressed copies of each "
        f"tune film (calibrated probability; the Wilson margin counts the {int(y_tune.sum())} clean tune "
        f"positives only, since the copies are not independent films: pooled sensitivity >= {required:.4f})"
    )
    new["calibration"] = {
        "method": f"temperature scaling (Guo et al. 2017) fitted on the tune split plus {copies} stressed "
        "copies of each tune film (shift-stress families of training.stress, drawn per film, seeded), "
        "weights unchanged (python -m training calibrate)",
        "previous": previous,
        "inference_precision": getattr(predict, "policy", "float32"),
        "stressed_tune": {
            "copies_per_film": copies,
            "families": calibration_families(with_fov),
            "n": int(len(y_stressed)),
            "required_pooled_sensitivity": required,
            "ece_stressed_tune_before": float(
                ece(y_stressed, apply_temperature(raw_stressed, previous["temperature"]))
            ),
            "ece_stressed_tune_after": float(ece(y_stressed, apply_temperature(raw_stressed, temperature))),
        },
        "ece_tune_before": float(ece(y_tune, apply_temperature(raw_tune, previous["temperature"]))),
        "ece_tune_after": float(ece(y_tune, apply_temperature(raw_tune, temperature))),
    }
    metrics = dict(new.get("metrics", {}))
    m_tune = evaluate_arrays(
        y_tune,
        apply_temperature(raw_tune, temperature),
        threshold,
        out / "eval-tune",
        "tune split (calibration)",
    )
    metrics["tune"] = _round(m_tune)
    if val_predictions is not None:
        z = np.load(val_predictions)
        y_val, raw_val = z["y"], z["raw_clean"]
        m_val = evaluate_arrays(
            y_val,
            apply_temperature(raw_val, temperature),
            threshold,
            out / "eval-val",
            "validation (never used in training or calibration)",
        )
        metrics["val"] = _round(m_val)
        new["calibration"]["ece_val_before"] = float(
            ece(y_val, apply_temperature(raw_val, previous["temperature"]))
        )
        new["calibration"]["ece_val_after"] = float(ece(y_val, apply_temperature(raw_val, temperature)))
    else:
        metrics.pop("val", None)
    new["metrics"] = metrics
    write_card(out, new)
    log.info(
        "recalibrated %s: T %.3f -> %.3f, threshold %.3f -> %.3f",
        model_dir,
        previous["temperature"],
        temperature,
        previous["threshold"],
        threshold,
    )
    return new
