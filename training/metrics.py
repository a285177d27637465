"""Classification, ranking and calibration metrics for a binary screen, in plain numpy.

Conventions used throughout:

* ``y_true`` holds 0/1 labels; **1 is the positive class (PNEUMONIA)**, 0 is NORMAL.
* ``y_prob`` / ``y_score`` hold the model's probability (or any score) for the positive class.
* A case is *predicted positive* when ``prob >= threshold`` (ties with the threshold count as
  positive). The same rule is used by the app, by :func:`confusion` and by
  :func:`threshold_for_sensitivity`.
* A ratio whose denominator is zero (e.g. the sensitivity of a sample with no positives) is
  ``nan``, never an exception or a silent 0.

No scikit-learn: the functions are small enough to be checked by hand (see the tests). The input
checks, confusion counts, ROC/AUC and the operating-point rule (Wilson bound) live in
:mod:`pneumo_desktop.core.stats` (the app's site calibration uses them) and are re-exported here.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from pneumo_desktop.core.stats import (  # noqa: F401 - re-exported: one copy of the rule, shared with the app
    _cumulative_counts,
    _div,
    as_arrays,
    bootstrap_auc_ci,
    confusion,
    roc_auc,
    roc_curve,
    sensitivity_bound_reachable,
    threshold_for_sensitivity,
    wilson_lower_bound,
)

log = logging.getLogger(__name__)

#: Probabilities are clipped to [EPS, 1 - EPS] before taking logits.
EPS = 1e-7
#: Search range of :func:`fit_temperature`.
T_MIN, T_MAX = 0.05, 20.0


# --------------------------------------------------------------------------------------------
# Thresholded metrics


def binary_metrics(y_true: Any, y_prob: Any, threshold: float) -> dict[str, float | int]:
    """Metrics of the yes/no decision ``prob >= threshold``.

    Returns the counts of :func:`confusion` plus ``n`` and

    * ``accuracy``    = (tp + tn) / n
    * ``sensitivity`` = tp / (tp + fn)   (recall, true positive rate)
    * ``specificity`` = tn / (tn + fp)   (true negative rate)
    * ``ppv``         = tp / (tp + fp)   (precision)
    * ``npv``         = tn / (tn + fn)
    * ``f1``          = 2 tp / (2 tp + fp + fn)

    Any ratio with a zero denominator is ``nan``.
    """
    c = confusion(y_true, y_prob, threshold)
    tp, fp, tn, fn = c["tp"], c["fp"], c["tn"], c["fn"]
    n = tp + fp + tn + fn
    return {
        **c,
        "n": n,
        "accuracy": _div(tp + tn, n),
        "sensitivity": _div(tp, tp + fn),
        "specificity": _div(tn, tn + fp),
        "ppv": _div(tp, tp + fp),
        "npv": _div(tn, tn + fn),
        "f1": _div(2 * tp, 2 * tp + fp + fn),
    }


# --------------------------------------------------------------------------------------------
# Ranking metrics


def pr_curve(y_true: Any, y_score: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision-recall curve, one point per distinct score: ``(precision, recall, thresholds)``.

    Point ``i`` is the decision ``score >= thresholds[i]``; thresholds decrease, so recall
    increases. The first point is ``(precision 1, recall 0)`` at threshold ``+inf`` (the usual
    convention that makes the curve start on the y axis). Tied scores form one step.
    Recall is ``nan`` when there are no positives.
    """
    y, s = as_arrays(y_true, y_score)
    thr, tps, fps = _cumulative_counts(y, s)
    n_pos = float(y.sum())
    precision = np.r_[1.0, tps / (tps + fps)]  # tps + fps >= 1 at every distinct score
    recall = np.r_[0.0, tps] / n_pos if n_pos else np.full(thr.size + 1, np.nan)
    return precision, recall, np.r_[np.inf, thr]


def average_precision(y_true: Any, y_score: Any) -> float:
    """Average precision: ``sum_k (R_k - R_{k-1}) P_k`` over the distinct thresholds.

    The step-wise (non-interpolated) area under :func:`pr_curve`, as in scikit-learn. ``nan``
    when there are no positives.
    """
    precision, recall, _ = pr_curve(y_true, y_score)
    if recall.size == 0 or np.isnan(recall).any():
        return math.nan
    return float(np.sum(np.diff(recall) * precision[1:]))


# --------------------------------------------------------------------------------------------
# Calibration


def brier(y_true: Any, y_prob: Any) -> float:
    """Brier score: mean squared difference between probability and 0/1 outcome (nan if empty)."""
    y, p = as_arrays(y_true, y_prob)
    return float(np.mean((p - y) ** 2)) if y.size else math.nan


def reliability_bins(y_true: Any, y_prob: Any, n_bins: int = 15) -> dict[str, np.ndarray]:
    """Equal-width bins of the positive-class probability, for a reliability diagram.

    Bin ``k`` holds the cases with ``k / n_bins <= p < (k + 1) / n_bins`` (the last bin also takes
    ``p == 1``). Returns arrays ``edges`` (n_bins + 1), ``count``, ``mean_prob`` (mean predicted
    probability in the bin) and ``frac_pos`` (observed fraction of positives); the last two are
    ``nan`` for empty bins.
    """
    if n_bins < 1:
        raise ValueError("n_bins must be >= 1")
    y, p = as_arrays(y_true, y_prob)
    idx = np.clip(np.floor(p * n_bins).astype(np.int64), 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins).astype(np.int64)
    sum_p = np.bincount(idx, weights=p, minlength=n_bins)
    sum_y = np.bincount(idx, weights=y.astype(np.float64), minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_prob = np.where(count > 0, sum_p / count, np.nan)
        frac_pos = np.where(count > 0, sum_y / count, np.nan)
    return {
        "edges": np.linspace(0.0, 1.0, n_bins + 1),
        "count": count,
        "mean_prob": mean_prob,
        "frac_pos": frac_pos,
    }


def ece(y_true: Any, y_prob: Any, n_bins: int = 15) -> float:
    """Expected calibration error of the positive-class probability.

    ``ECE = sum_k (n_k / n) * |frac_pos_k - mean_prob_k|`` over the equal-width bins of
    :func:`reliability_bins`: in each bin, the observed rate of PNEUMONIA is compared with the
    mean predicted probability of PNEUMONIA. (This is the binary "positive-class" ECE, not the
    multi-class "top-label" ECE that bins ``max(p, 1 - p)``.) 0 for a perfectly calibrated model;
    ``nan`` for an empty sample.
    """
    b = reliability_bins(y_true, y_prob, n_bins)
    n = int(b["count"].sum())
    if n == 0:
        return math.nan
    full = b["count"] > 0
    gaps = np.abs(b["frac_pos"][full] - b["mean_prob"][full])
    return float(np.sum(b["count"][full] / n * gaps))


def logit(p: Any, eps: float = EPS) -> np.ndarray:
    """``log(p / (1 - p))`` with ``p`` clipped to ``[eps, 1 - eps]`` (finite for p = 0 or 1)."""
    q = np.clip(np.asarray(p, dtype=np.float64), eps, 1.0 - eps)
    return np.log(q) - np.log1p(-q)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free


def apply_temperature(p: Any, temperature: float) -> np.ndarray:
    """Temperature scaling: ``sigmoid(logit(p) / T)``. T > 1 softens, T < 1 sharpens; T = 1 is
    the identity (up to the clipping of :func:`logit`). Monotonic, so AUC is unchanged."""
    if not temperature > 0:
        raise ValueError("temperature must be > 0")
    return _sigmoid(logit(p) / float(temperature))


def _nll(z: np.ndarray, y: np.ndarray, temperature: float) -> float:
    """Mean binary cross-entropy of ``sigmoid(z / T)``: ``mean(softplus(a) - y a)``, a = z / T."""
    a = z / temperature
    return float(np.mean(np.logaddexp(0.0, a) - y * a))


def fit_temperature(y_true: Any, y_prob: Any, t_min: float = T_MIN, t_max: float = T_MAX) -> float:
    """The temperature ``T`` in ``[t_min, t_max]`` minimising the NLL of ``apply_temperature(p, T)``.

    The NLL is convex in ``1 / T``, hence unimodal in ``log T``: a 200-point log-spaced grid
    finds the bracket of the minimum, then a golden-section search refines it (to ~1e-6 relative).
    Returns 1.0 (no change) with a warning when ``y_true`` has a single class, where the
    temperature is not identifiable.
    """
    y, p = as_arrays(y_true, y_prob)
    if y.size == 0 or y.min() == y.max():
        log.warning("fit_temperature: a single class in %d cases; returning T = 1", y.size)
        return 1.0
    z = logit(p)
    yf = y.astype(np.float64)
    grid = np.linspace(math.log(t_min), math.log(t_max), 200)
    losses = np.array([_nll(z, yf, math.exp(g)) for g in grid])
    k = int(np.argmin(losses))
    a, b = grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)]
    inv_phi = (math.sqrt(5.0) - 1.0) / 2.0
    c, d = b - inv_phi * (b - a), a + inv_phi * (b - a)
    fc, fd = _nll(z, yf, math.exp(c)), _nll(z, yf, math.exp(d))
    while b - a > 1e-7:
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - inv_phi * (b - a)
            fc = _nll(z, yf, math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + inv_phi * (b - a)
            fd = _nll(z, yf, math.exp(d))
    best = (a + b) / 2.0
    # The grid point may beat the refined one at the ends of the range.
    if losses[k] < _nll(z, yf, math.exp(best)):
        best = grid[k]
    return float(min(max(math.exp(best), t_min), t_max))
