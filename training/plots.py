"""Evaluation figures (PNG) for a model's probabilities on a labelled split, and its training history.

Headless: the Agg backend is selected inside the functions, right before pyplot is imported, and
every figure is closed after saving.
"""

from __future__ import annotations

import csv
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from . import metrics

log = logging.getLogger(__name__)

CLASS_NAMES = ("NORMAL", "PNEUMONIA")  # label 0, label 1
_COLORS = {0: "tab:blue", 1: "tab:red"}
_DPI = 110


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _fmt(x: float, digits: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _save(plt: Any, fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)
    log.debug("wrote %s", path)
    return path


def save_plots(y_true: Any, y_prob: Any, threshold: float, out_dir: Path | str) -> list[Path]:
    """Write ``roc.png``, ``pr.png``, ``confusion.png``, ``reliability.png`` and ``histogram.png``.

    ``y_prob`` is the (calibrated) probability of PNEUMONIA, ``threshold`` the operating point
    (positive when ``prob >= threshold``). Returns the paths written, in that order.
    """
    plt = _pyplot()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    y = np.asarray(y_true).reshape(-1).astype(np.int64)
    p = np.asarray(y_prob, dtype=np.float64).reshape(-1)
    bm = metrics.binary_metrics(y, p, threshold)
    op_fpr = 1.0 - bm["specificity"]
    op_tpr = bm["sensitivity"]
    paths: list[Path] = []

    # ROC
    fpr, tpr, _ = metrics.roc_curve(y, p)
    auc = metrics.roc_auc(y, p)
    fig, ax = plt.subplots(figsize=(5.2, 5.0))
    ax.plot(fpr, tpr, color="tab:red", lw=2, label=f"ROC (AUC = {_fmt(auc)})")
    ax.plot([0, 1], [0, 1], color="0.6", ls="--", lw=1, label="chance")
    ax.plot(
        [op_fpr], [op_tpr], "o", color="black", ms=7,
        label=f"threshold {threshold:.3f}: sens {_fmt(op_tpr)}, spec {_fmt(bm['specificity'])}",
    )
    ax.set(xlim=(-0.01, 1.01), ylim=(-0.01, 1.01), xlabel="1 - specificity (false positive rate)",
           ylabel="sensitivity (true positive rate)", title="ROC curve")
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    paths.append(_save(plt, fig, out / "roc.png"))

    # Precision-recall
    precision, recall, _ = metrics.pr_curve(y, p)
    ap = metrics.average_precision(y, p)
    prevalence = float(y.mean()) if y.size else math.nan
    fig, ax = plt.subplots(figsize=(5.2, 5.0))
    ax.step(recall, precision, where="post", color="tab:red", lw=2, label=f"PR (AP = {_fmt(ap)})")
    ax.axhline(prevalence, color="0.6", ls="--", lw=1, label=f"prevalence {_fmt(prevalence)}")
    ax.plot(
        [op_tpr], [bm["ppv"]], "o", color="black", ms=7,
        label=f"threshold {threshold:.3f}: recall {_fmt(op_tpr)}, PPV {_fmt(bm['ppv'])}",
    )
    ax.set(xlim=(-0.01, 1.01), ylim=(-0.01, 1.01), xlabel="recall (sensitivity)",
           ylabel="precision (PPV)", title="Precision-recall curve")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    paths.append(_save(plt, fig, out / "pr.png"))

    # Confusion matrix: rows = truth, columns = prediction.
    cm = np.array([[bm["tn"], bm["fp"]], [bm["fn"], bm["tp"]]])
    fig, ax = plt.subplots(figsize=(4.8, 4.4))
    ax.imshow(cm, cmap="Blues", vmin=0, vmax=max(int(cm.max()), 1))
    for i in range(2):
        row_total = int(cm[i].sum())
        for j in range(2):
            share = f"\n{100.0 * cm[i, j] / row_total:.1f}% of row" if row_total else ""
            dark = cm[i, j] > 0.6 * cm.max()
            ax.text(j, i, f"{cm[i, j]}{share}", ha="center", va="center", fontsize=12,
                    color="white" if dark else "black")
    ax.set_xticks([0, 1], [f"predicted\n{c}" for c in CLASS_NAMES])
    ax.set_yticks([0, 1], [f"true\n{c}" for c in CLASS_NAMES])
    ax.set_title(f"Confusion matrix (threshold {threshold:.3f})")
    paths.append(_save(plt, fig, out / "confusion.png"))

    # Reliability diagram
    bins = metrics.reliability_bins(y, p)
    ece = metrics.ece(y, p)
    edges = bins["edges"]
    centers = (edges[:-1] + edges[1:]) / 2.0
    full = bins["count"] > 0
    fig, (ax, ax_n) = plt.subplots(
        2, 1, figsize=(5.2, 6.0), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    ax.bar(centers[full], bins["frac_pos"][full], width=np.diff(edges)[full], color="tab:red",
           alpha=0.35, edgecolor="tab:red", label="observed PNEUMONIA rate")
    ax.plot(bins["mean_prob"][full], bins["frac_pos"][full], "o-", color="tab:red", ms=4,
            label="(mean predicted, observed) per bin")
    ax.plot([0, 1], [0, 1], color="0.4", ls="--", lw=1, label="perfect calibration")
    ax.set(xlim=(0, 1), ylim=(0, 1), ylabel="observed fraction PNEUMONIA",
           title=f"Reliability diagram (ECE = {_fmt(ece)}, {edges.size - 1} bins)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    ax_n.bar(centers, bins["count"], width=np.diff(edges), color="0.5", edgecolor="white")
    ax_n.set(xlabel="predicted probability of PNEUMONIA", ylabel="cases")
    paths.append(_save(plt, fig, out / "reliability.png"))

    # Probability histograms per class
    fig, ax = plt.subplots(figsize=(6.0, 4.2))
    hist_bins = np.linspace(0.0, 1.0, 26)
    for label, name in enumerate(CLASS_NAMES):
        values = p[y == label]
        ax.hist(values, bins=hist_bins, alpha=0.55, color=_COLORS[label],
                label=f"true {name} (n={values.size})")
    ax.axvline(threshold, color="black", ls="--", lw=1.5, label=f"threshold {threshold:.3f}")
    ax.set(xlim=(0, 1), xlabel="predicted probability of PNEUMONIA", ylabel="cases",
           title="Predicted probability by true class")
    ax.legend(fontsize=8)
    paths.append(_save(plt, fig, out / "histogram.png"))
    return paths


def _read_history(history_csv: Path | str) -> dict[str, np.ndarray]:
    """Columns of a Keras ``CSVLogger`` file as float arrays (missing/blank cells -> nan)."""
    with Path(history_csv).open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    columns: dict[str, np.ndarray] = {}
    for key in rows[0].keys() if rows else ():
        values = []
        for r in rows:
            try:
                values.append(float(r.get(key) or "nan"))
            except ValueError:
                values.append(math.nan)
        columns[key] = np.array(values, dtype=np.float64)
    return columns


def save_history_plot(history_csv: Path | str, out_png: Path | str) -> Path:
    """Loss and AUC per epoch (train and validation) from a Keras ``CSVLogger`` file.

    Expected columns: ``epoch`` plus any of ``loss``, ``val_loss``, ``auc``, ``val_auc`` (others,
    e.g. ``acc`` and ``learning_rate``, are ignored). Epochs are shown 1-based.
    """
    plt = _pyplot()
    cols = _read_history(history_csv)
    n = len(next(iter(cols.values()))) if cols else 0
    epochs = cols["epoch"] + 1 if "epoch" in cols else np.arange(1, n + 1, dtype=np.float64)
    fig, (ax_loss, ax_auc) = plt.subplots(1, 2, figsize=(10.0, 4.0))
    for ax, key, title in ((ax_loss, "loss", "Loss"), (ax_auc, "auc", "AUC")):
        for name, style in ((key, "-"), (f"val_{key}", "--")):
            if name in cols:
                label = name.replace("val_", "validation ") if name.startswith("val_") else f"train {name}"
                ax.plot(epochs, cols[name], style, marker="o", ms=3, label=label)
        ax.set(xlabel="epoch", ylabel=key, title=title)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    return _save(plt, fig, out)


def save_reliability_pair(
    y_clean: Any, p_clean: Any, y_stressed: Any, p_stressed: Any, out_png: Path | str, title: str
) -> Path:
    """One small figure: reliability curves of the clean and the stressed (pooled) validation
    films side by side, ECE in the legends (for the docs; about 40 kB)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(7.6, 3.6), sharey=True)
    for ax, (name, y, p) in zip(
        axes, (("clean", y_clean, p_clean), ("stressed (pooled)", y_stressed, p_stressed)), strict=True
    ):
        bins = metrics.reliability_bins(y, p)
        full = bins["count"] > 0
        ax.plot([0, 1], [0, 1], color="0.4", ls="--", lw=1)
        ax.plot(bins["mean_prob"][full], bins["frac_pos"][full], "o-", color="tab:red", ms=4,
                label=f"ECE {_fmt(metrics.ece(y, p))}")
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="predicted P(PNEUMONIA)", title=f"{title}: {name}")
        ax.title.set_fontsize(9)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize=8)
    axes[0].set_ylabel("observed fraction PNEUMONIA")
    fig.tight_layout()
    fig.savefig(out_png, dpi=80)
    plt.close(fig)
    return Path(out_png)
