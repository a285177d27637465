"""Pure statistics of a binary screen's operating point, shared by the app and ``training``.

The threshold rule of the model card (the largest threshold whose one-sided Wilson lower confidence
bound of sensitivity reaches a target) lives here, so that a clinic's site calibration
(:mod:`pneumo_desktop.core.site`) chooses its threshold with exactly the rule the card used.
``training.metrics`` re-exports these functions; the app never imports ``training``.

Conventions: ``y_true`` holds 0/1 labels, 1 is the positive class (PNEUMONIA); a case is predicted
positive when ``prob >= threshold``; a ratio with a zero denominator is ``nan``.
"""

from __future__ import annotations

import logging
import math
from statistics import NormalDist
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


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
                "(at most %.3f): every positive is flagged",
                n_pos,
                100 * confidence,
                target,
                wilson_lower_bound(n_pos, n_pos, confidence),
            )
    return float(pos[k - 1])


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Two-sided Wilson score interval ``(lo, hi)`` of a proportion; ``(nan, nan)`` when ``n`` is 0."""
    if n <= 0:
        return math.nan, math.nan
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    p = successes / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    den = 1 + z * z / n
    return max(0.0, (centre - margin) / den), min(1.0, (centre + margin) / den)


def positives_needed(target: float, confidence: float = 0.95) -> int:
    """The fewest positives for which flagging them all puts the one-sided Wilson lower bound of
    sensitivity at ``target`` or above (at 100% observed sensitivity the bound is n / (n + z^2))."""
    if not 0.0 < target < 1.0:
        raise ValueError("target must be in (0, 1)")
    n = 1
    while wilson_lower_bound(n, n, confidence) < target:
        n += 1
    return n


def predictive_values(sensitivity: float, specificity: float, prevalence: float) -> tuple[float, float]:
    """``(PPV, NPV)`` by Bayes' rule at ``prevalence`` (the share of screened children with pneumonia).

    PPV = se p / (se p + (1 - sp)(1 - p)); NPV = sp (1 - p) / (sp (1 - p) + (1 - se) p); ``nan``
    where the denominator is 0.
    """
    se, sp, p = float(sensitivity), float(specificity), float(prevalence)
    ppv = _div(se * p, se * p + (1 - sp) * (1 - p))
    npv = _div(sp * (1 - p), sp * (1 - p) + (1 - se) * p)
    return ppv, npv
