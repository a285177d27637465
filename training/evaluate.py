"""``python -m training evaluate``: metrics, ``metrics.json`` and figures of a model on a split.

:func:`evaluate_arrays` needs only labels and probabilities (no model, no Keras), so it is what
the tests and the export step call; :func:`evaluate_model_dir` adds loading a model folder and
predicting a data split.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from .metrics import (
    apply_temperature,
    as_arrays,
    average_precision,
    binary_metrics,
    bootstrap_auc_ci,
    brier,
    ece,
    roc_auc,
)
from .plots import save_plots

log = logging.getLogger(__name__)

METRICS_NAME = "metrics.json"
CI_LEVEL = 0.95
BOOTSTRAP_N = 2000
ECE_BINS = 15
PREDICT_BATCH = 32


def _clean(value: Any) -> Any:
    """JSON-safe: numpy scalars to Python numbers, nan/inf to None."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        f = float(value)
        return f if math.isfinite(f) else None
    return value


def evaluate_arrays(
    y_true: Any,
    y_prob: Any,
    threshold: float,
    out_dir: Path | str,
    title: str,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """All metrics of probabilities ``y_prob`` against labels ``y_true`` at ``threshold``.

    Writes ``out_dir/metrics.json`` and the five figures of :func:`training.plots.save_plots`,
    logs the report and returns the metrics. Keys: ``title``, ``n``, ``n_pos``, ``n_neg``,
    ``threshold``, ``tp``, ``fp``, ``tn``, ``fn``, ``accuracy``, ``sensitivity``,
    ``specificity``, ``ppv``, ``npv``, ``f1``, ``roc_auc``, ``roc_auc_ci`` ([lo, hi], stratified
    bootstrap), ``ci_level``, ``average_precision``, ``brier``, ``ece``, ``ece_bins``, ``plots``
    (file names), plus whatever ``extra`` holds (e.g. model and data provenance). Undefined values
    (e.g. AUC with one class) are ``None``, in the file and in the returned dict alike.
    """
    y, p = as_arrays(y_true, y_prob)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    n_pos = int(y.sum())
    bm = binary_metrics(y, p, threshold)
    lo, hi = bootstrap_auc_ci(y, p, n=BOOTSTRAP_N, alpha=1.0 - CI_LEVEL, seed=0)
    metrics: dict[str, Any] = {
        "title": title,
        "n": int(y.size),
        "n_pos": n_pos,
        "n_neg": int(y.size) - n_pos,
        "threshold": float(threshold),
        "tp": bm["tp"],
        "fp": bm["fp"],
        "tn": bm["tn"],
        "fn": bm["fn"],
        "accuracy": bm["accuracy"],
        "sensitivity": bm["sensitivity"],
        "specificity": bm["specificity"],
        "ppv": bm["ppv"],
        "npv": bm["npv"],
        "f1": bm["f1"],
        "roc_auc": roc_auc(y, p),
        "roc_auc_ci": [lo, hi],
        "ci_level": CI_LEVEL,
        "average_precision": average_precision(y, p),
        "brier": brier(y, p),
        "ece": ece(y, p, n_bins=ECE_BINS),
        "ece_bins": ECE_BINS,
    }
    plots = save_plots(y, p, threshold, out)
    metrics["plots"] = [path.name for path in plots]
    if extra:
        metrics.update(extra)
    metrics = _clean(metrics)
    (out / METRICS_NAME).write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    log.info(
        "%s: AUC %s, sensitivity %s, specificity %s at threshold %.4f; written to %s",
        title, _num(metrics["roc_auc"]), _pct(metrics["sensitivity"]), _pct(metrics["specificity"]),
        threshold, out,
    )
    return metrics


def _pct(x: float | None) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{100.0 * x:.1f}%"


def _num(x: float | None, digits: int = 4) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{x:.{digits}f}"


def format_report(metrics: dict[str, Any]) -> str:
    """A human-readable, multi-line summary of :func:`evaluate_arrays`' result.

    Rates are percentages with one decimal, AUC/AP/Brier/ECE have four decimals, the threshold
    four decimals.
    """
    m = metrics
    lo, hi = (m.get("roc_auc_ci") or [None, None])[:2]
    level = round(100 * float(m.get("ci_level", CI_LEVEL)))
    ci = f"({level}% CI {_num(lo)} - {_num(hi)})" if lo is not None and hi is not None else ""
    tp, fp, tn, fn = m["tp"], m["fp"], m["tn"], m["fn"]
    rows = [
        ("Threshold", f"{_num(m['threshold'])}  (PNEUMONIA when probability >= threshold)"),
        ("Accuracy", f"{_pct(m['accuracy'])}  ({tp + tn}/{m['n']})"),
        ("Sensitivity", f"{_pct(m['sensitivity'])}  ({tp}/{tp + fn} PNEUMONIA flagged)"),
        ("Specificity", f"{_pct(m['specificity'])}  ({tn}/{tn + fp} NORMAL cleared)"),
        ("PPV (precision)", f"{_pct(m['ppv'])}  ({tp}/{tp + fp})"),
        ("NPV", f"{_pct(m['npv'])}  ({tn}/{tn + fn})"),
        ("F1", _num(m["f1"])),
        ("ROC AUC", f"{_num(m['roc_auc'])}  {ci}".rstrip()),
        ("Average precision", _num(m["average_precision"])),
        ("Brier score", _num(m["brier"])),
        (f"ECE ({m.get('ece_bins', ECE_BINS)} bins)", _num(m["ece"])),
    ]
    width = max(len(name) for name, _ in rows) + 2
    lines = [
        f"{m.get('title', 'Evaluation')}",
        f"{m['n']} images: {m['n_pos']} PNEUMONIA, {m['n_neg']} NORMAL",
        "",
        *(f"{name:<{width}}{value}" for name, value in rows),
        "",
        "Confusion matrix      predicted NORMAL  predicted PNEUMONIA",
        f"  true NORMAL         {tn:>16}  {fp:>19}",
        f"  true PNEUMONIA      {fn:>16}  {tp:>19}",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# A model folder on a data split


def load_model(card: Any) -> Any:
    """The Keras model of a :class:`~pneumo_desktop.core.card.ModelCard`, for inference only."""
    import keras

    return keras.models.load_model(card.model_path, compile=False)


def predict_probs(model: Any, inputs: np.ndarray, batch_size: int = PREDICT_BATCH) -> np.ndarray:
    """Raw model probabilities for ``inputs`` (N, s, s, c), ``batch_size`` at a time, float64 (N,)."""
    import keras

    out = [
        keras.ops.convert_to_numpy(model(inputs[i : i + batch_size], training=False)).reshape(-1)
        for i in range(0, len(inputs), batch_size)
    ]
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0, dtype=np.float64)


def evaluate_model_dir(
    model_dir: Path | str,
    data_dir: Path | str,
    split: str = "val",
    out_dir: Path | str | None = None,
    limit_per_class: int | None = None,
) -> dict[str, Any]:
    """Evaluate the model folder ``model_dir`` on ``data_dir/split/{NORMAL,PNEUMONIA}``.

    Preprocessing, temperature and threshold come from the model card, so this measures exactly
    what the app does. Writes into ``out_dir`` (default ``model_dir/eval-SPLIT``), prints the
    report (the CLI's output) and returns the metrics of :func:`evaluate_arrays`.
    """
    from pneumo_desktop.core.card import ModelCard

    from . import data

    card = ModelCard.load(model_dir)
    model = load_model(card)
    items = data.list_split(data_dir, split, limit_per_class)
    resized, y = data.load_resized(items, card.preprocessing.size)
    raw = np.concatenate(
        [
            predict_probs(model, data.to_inputs(resized[i : i + PREDICT_BATCH], card.preprocessing))
            for i in range(0, len(resized), PREDICT_BATCH)
        ]
    )
    prob = apply_temperature(raw, card.temperature)
    out = Path(out_dir) if out_dir is not None else Path(model_dir) / f"eval-{split}"
    extra = {
        "model": {"name": card.name, "version": card.version, "temperature": card.temperature},
        "data": {
            "dir": str(data_dir),
            "split": split,
            "limit_per_class": limit_per_class,
            "files_sha256": data.file_list_hash(items),
        },
    }
    metrics = evaluate_arrays(
        y, prob, card.threshold, out, f"{card.name} {card.version} on {split}", extra=extra
    )
    print(format_report(metrics))
    return metrics
