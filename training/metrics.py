"""Classification, ranking and calibration metrics for a binary screen, in plain numpy.

Conventions used throughout:

* ``y_true`` holds 0/1 labels; **1 is the positive class (PNEUMONIA)**, 0 is NORMAL.
* ``y_prob`` / ``y_score`` hold the model's probability (or any score) for the positive class.
* A case is *predicted positive* when ``prob >= threshold`` (ties with the threshold count as
  positive). The same rule is used by the app, by :func:`confusion` and by
  :func:`threshold_for_sensitivity`.
* A ratio whose denominator is zero (e.g. the sensitivity of a sample with no positives) is
  ``nan``, never an exception or a silent 0.

No scikit-learn: the functions are small enough to be checked by hand (see the tests).
"""

from __future__ import annotations

import logging
import math
from statistics import NormalDist
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

#: Probabilities are clipped to [EPS, 1 - EPS] before taking logits.
EPS = 1e-7
#: Search range of :func:`fit_temperature`.
T_MIN, T_MAX = 0.05, 20.0


# --------------------------------------------------------------------------------------------
# Input checking


def _labels(y_true: Any) -> np.ndarray:
    y = np.asarray(y_true).reshape(-1)
    if y.size and not np.isin(y, (0, 1)).all():
        raise ValueError("y_true must contain only 0 and 1")
    return y.astype(np.int64)


def as_arrays(y_true: Any, y_score: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validated ``(labels as int64, scores as float64)``: 1-D, same length, 0/1 labels, finite scores.

    Raises ``ValueError`` otherwise.
    """
    y = _labels(y_true)
    s = np.asarray(y_score, dtype=np.float64).reshape(-1)
    if y.shape != s.shape:
        raise ValueError(f"y_true has {y.size} values but the scores have {s.size}")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite")
    return y, s


def _div(num: float, den: float) -> float:
    """``num / den``, or nan when ``den`` is 0 (0/0 is undefined, not 0)."""
    return float(num) / float(den) if den else math.nan


# --------------------------------------------------------------------------------------------
# Thresholded metrics


def confusion(y_true: Any, y_prob: Any, threshold: float) -> dict[str, int]:
    """Confusion counts at ``threshold``: ``{"tp", "fp", "tn", "fn"}``.

    Predicted positive (PNEUMONIA) when ``prob >= threshold``.
    """
    y, p = as_arrays(y_true, y_prob)
    pred = p >= threshold
    pos = y == 1
    return {
        "tp": int(np.sum(pred & pos)),
        "fp": int(np.sum(pred & ~pos)),
        "tn": int(np.sum(~pred & ~pos)),
        "fn": int(np.sum(~pred & pos)),
    }


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


def _cumulative_counts(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct scores in decreasing order and, for each, the tp and fp counts of ``s >= score``.

    Tied scores are one step (they cross the threshold together), which is what makes the curves
    tie-aware: a tie between a positive and a negative becomes a diagonal segment of the ROC.
    """
    order = np.argsort(-s, kind="mergesort")
    s_sorted = s[order]
    y_sorted = y[order]
    # Index of the last element of each run of equal scores.
    last = np.r_[np.flatnonzero(np.diff(s_sorted) != 0), s_sorted.size - 1] if s.size else np.array([], int)
    tps = np.cumsum(y_sorted)[last]
    fps = (last + 1) - tps
    return s_sorted[last], tps.astype(np.float64), fps.astype(np.float64)


def roc_curve(y_true: Any, y_score: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve, one point per distinct score: ``(fpr, tpr, thresholds)``.

    Point ``i`` is the decision ``score >= thresholds[i]``; ``thresholds`` decrease, the first one
    is ``+inf`` (nothing predicted positive, the point (0, 0)) and the last point is (1, 1).
    Tied scores form a single step. With no positives ``tpr`` is all ``nan`` (with no negatives,
    ``fpr``).
    """
    y, s = as_arrays(y_true, y_score)
    thr, tps, fps = _cumulative_counts(y, s)
    n_pos = float(y.sum())
    n_neg = float(y.size - y.sum())
    tpr = np.r_[0.0, tps] / n_pos if n_pos else np.full(thr.size + 1, np.nan)
    fpr = np.r_[0.0, fps] / n_neg if n_neg else np.full(thr.size + 1, np.nan)
    return fpr, tpr, np.r_[np.inf, thr]


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of ``x``, tied values sharing the mean of their ranks."""
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    starts = np.cumsum(counts) - counts  # 0-based rank of each distinct value's first occurrence
    return (starts + (counts + 1) / 2.0)[inverse.reshape(-1)]


def roc_auc(y_true: Any, y_score: Any) -> float:
    """Area under the ROC curve (Mann-Whitney U / (n_pos n_neg)).

    The probability that a random positive scores higher than a random negative, a tie counting
    0.5. This equals the trapezoidal area under :func:`roc_curve`. ``nan`` if a class is absent.
    """
    y, s = as_arrays(y_true, y_score)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = _average_ranks(s)
    u = ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


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


def bootstrap_auc_ci(
    y_true: Any, y_score: Any, n: int = 2000, alpha: float = 0.05, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap ``(lo, hi)`` interval of :func:`roc_auc`, at level ``1 - alpha``.

    Stratified: each replicate draws ``n_pos`` positives and ``n_neg`` negatives with replacement
    from their own class, so every replicate has both classes and the prevalence is fixed.
    Deterministic for a given ``seed``. ``(nan, nan)`` if a class is absent.
    """
    y, s = as_arrays(y_true, y_score)
    pos = s[y == 1]
    neg = s[y == 0]
    if pos.size == 0 or neg.size == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    aucs = np.empty(n, dtype=np.float64)
    for i in range(n):
        p = pos[rng.integers(0, pos.size, pos.size)]
        q = np.sort(neg[rng.integers(0, neg.size, neg.size)])
        below = np.searchsorted(q, p, side="left")  # negatives strictly below each positive
        ties = np.searchsorted(q, p, side="right") - below
        aucs[i] = (below.sum() + 0.5 * ties.sum()) / (p.size * q.size)
    lo, hi = np.quantile(aucs, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(lo), float(hi)


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


# --------------------------------------------------------------------------------------------
# Operating point


def wilson_lower_bound(successes: int, n: int, confidence: float = 0.95) -> float:
    """One-sided Wilson score lower confidence bound of a proportion ``successes / n``."""
    if n <= 0:
        raise ValueError("n must be positive")
    if not 0.5 <= confidence < 1.0:
        raise ValueError("confidence must be in [0.5, 1)")
    z = NormalDist().inv_cdf(confidence)
    p = successes / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - margin) / (1 + z * z / n))


def sensitivity_bound_reachable(n_pos: int, target: float, confidence: float | None) -> bool:
    """Whether flagging all ``n_pos`` positives can put the Wilson lower bound at ``target``."""
    return confidence is None or wilson_lower_bound(n_pos, n_pos, confidence) >= target


def threshold_for_sensitivity(
    y_true: Any, y_prob: Any, target: float = 0.95, confidence: float | None = None
) -> float:
    """The largest threshold ``t`` with sensitivity (``prob >= t``) at least ``target``.

    With the positives' probabilities sorted in decreasing order ``s_1 >= s_2 >= ...``, and ``k``
    the smallest number of positives with ``k / n_pos >= target``, the answer is ``s_k``: the
    probability of the positive case at rank ``k``. At ``t = s_k`` at least ``k`` positives are
    flagged (more when ``s_k`` is tied, since ties with the threshold count as positive); any
    ``t > s_k`` flags fewer than ``k``. So specificity is as high as the target allows.

    The threshold is an actual score, so recomputing the same probabilities gives the same
    decisions; negatives tied with ``s_k`` are flagged too (their tie cannot be separated).
    With ``confidence`` (e.g. 0.95), ``k`` is instead the smallest count whose one-sided Wilson
    lower confidence bound of ``k / n_pos`` reaches ``target``: the sensitivity is at least the
    target with that confidence, not just on the sample at hand (a small fitting split puts a
    threshold that only just meets the target on the sample below it on new data about half of the
    time). When even ``k = n_pos`` cannot reach the bound, every positive is flagged.

    Raises ``ValueError`` when there are no positives or ``target`` is not in (0, 1].
    """
    if not 0.0 < target <= 1.0:
        raise ValueError("target must be in (0, 1]")
    y, p = as_arrays(y_true, y_prob)
    pos = np.sort(p[y == 1])[::-1]
    n_pos = pos.size
    if n_pos == 0:
        raise ValueError("no positive cases: sensitivity is undefined")
    k = min(max(math.ceil(target * n_pos), 1), n_pos)
    while k > 1 and (k - 1) / n_pos >= target:  # guard against rounding in target * n_pos
        k -= 1
    while k < n_pos and k / n_pos < target:
        k += 1
    if confidence is not None:
        while k < n_pos and wilson_lower_bound(k, n_pos, confidence) < target:
            k += 1
        if not sensitivity_bound_reachable(n_pos, target, confidence):
            log.warning(
                "with %d positives the %.0f%% lower bound of sensitivity cannot reach %.3f "
                "(at most %.3f): every positive is flagged", n_pos, 100 * confidence, target,
                wilson_lower_bound(n_pos, n_pos, confidence),
            )
    return float(pos[k - 1])
