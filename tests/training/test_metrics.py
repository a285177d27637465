"""training.metrics against hand-computed cases, edge cases and properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training import metrics

# The 6-sample example used below (1 = PNEUMONIA):
#   negatives 0.1, 0.4, 0.6     positives 0.35, 0.6, 0.9
# Pairs (positive vs negative), a tie counting 1/2:
#   0.35 beats 0.1                         -> 1
#   0.6  beats 0.1, 0.4, ties 0.6          -> 2.5
#   0.9  beats all three                   -> 3
# AUC = 6.5 / 9 = 13/18.
Y6 = np.array([0, 0, 0, 1, 1, 1])
S6 = np.array([0.1, 0.4, 0.6, 0.35, 0.6, 0.9])


def _brute_auc(y: np.ndarray, s: np.ndarray) -> float:
    pos, neg = s[y == 1], s[y == 0]
    wins = sum((p > q) + 0.5 * (p == q) for p in pos for q in neg)
    return wins / (pos.size * neg.size)


# --------------------------------------------------------------------------------------------
# Thresholded metrics


def test_confusion_hand_case_threshold_is_inclusive():
    # At 0.35: predicted positive 0.4(N), 0.6(N), 0.35(P), 0.6(P), 0.9(P).
    assert metrics.confusion(Y6, S6, 0.35) == {"tp": 3, "fp": 2, "tn": 1, "fn": 0}
    assert metrics.confusion(Y6, S6, 0.5) == {"tp": 2, "fp": 1, "tn": 2, "fn": 1}
    assert metrics.confusion(Y6, S6, 0.95) == {"tp": 0, "fp": 0, "tn": 3, "fn": 3}


def test_binary_metrics_hand_case():
    m = metrics.binary_metrics(Y6, S6, 0.35)  # tp 3, fp 2, tn 1, fn 0
    assert m["n"] == 6
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["sensitivity"] == pytest.approx(1.0)
    assert m["specificity"] == pytest.approx(1 / 3)
    assert m["ppv"] == pytest.approx(3 / 5)
    assert m["npv"] == pytest.approx(1.0)
    assert m["f1"] == pytest.approx(6 / 8)  # 2*3 / (2*3 + 2 + 0)
    assert (m["tp"], m["fp"], m["tn"], m["fn"]) == (3, 2, 1, 0)


def test_binary_metrics_zero_denominators_are_nan():
    # Nothing predicted positive, and no positives at all.
    m = metrics.binary_metrics([0, 0, 0], [0.1, 0.2, 0.3], 0.5)
    assert math.isnan(m["sensitivity"])
    assert math.isnan(m["ppv"])
    assert math.isnan(m["f1"])
    assert m["specificity"] == 1.0 and m["npv"] == 1.0 and m["accuracy"] == 1.0
    empty = metrics.binary_metrics([], [], 0.5)
    assert empty["n"] == 0 and math.isnan(empty["accuracy"])


def test_bad_inputs_raise():
    with pytest.raises(ValueError):
        metrics.confusion([0, 2], [0.1, 0.2], 0.5)
    with pytest.raises(ValueError):
        metrics.roc_auc([0, 1, 1], [0.1, 0.2])
    with pytest.raises(ValueError):
        metrics.roc_auc([0, 1], [0.1, float("nan")])


# --------------------------------------------------------------------------------------------
# ROC, AUC, PR


def test_roc_curve_hand_case_with_tie():
    fpr, tpr, thr = metrics.roc_curve(Y6, S6)
    # Distinct thresholds 0.9, 0.6 (one negative and one positive cross together), 0.4, 0.35, 0.1.
    np.testing.assert_allclose(thr, [np.inf, 0.9, 0.6, 0.4, 0.35, 0.1])
    np.testing.assert_allclose(fpr, [0, 0, 1 / 3, 2 / 3, 2 / 3, 1])
    np.testing.assert_allclose(tpr, [0, 1 / 3, 2 / 3, 2 / 3, 1, 1])


def test_auc_hand_case_pairs_and_trapezoid():
    assert metrics.roc_auc(Y6, S6) == pytest.approx(13 / 18)
    fpr, tpr, _ = metrics.roc_curve(Y6, S6)
    # Trapezoids: 1/3 * (1/3 + 2/3)/2 + 1/3 * 2/3 + 1/3 * 1 = 1/6 + 2/9 + 1/3 = 13/18.
    assert np.trapezoid(tpr, fpr) == pytest.approx(13 / 18)


def test_auc_perfect_inverted_and_all_tied():
    y = np.array([0, 0, 1, 1, 1])
    s = np.array([0.1, 0.2, 0.7, 0.8, 0.9])
    assert metrics.roc_auc(y, s) == 1.0
    assert metrics.roc_auc(y, 1 - s) == 0.0
    assert metrics.roc_auc(y, np.full(5, 0.3)) == 0.5
    fpr, tpr, _ = metrics.roc_curve(y, np.full(5, 0.3))
    np.testing.assert_allclose(fpr, [0, 1])  # one diagonal step
    np.testing.assert_allclose(tpr, [0, 1])


def test_single_class_gives_nan_without_crashing():
    y = np.ones(4, int)
    s = np.array([0.2, 0.4, 0.6, 0.8])
    assert math.isnan(metrics.roc_auc(y, s))
    assert math.isnan(metrics.roc_auc(1 - y, s))
    fpr, tpr, thr = metrics.roc_curve(y, s)
    assert np.isnan(fpr).all() and not np.isnan(tpr).any() and thr.size == 5
    assert all(math.isnan(v) for v in metrics.bootstrap_auc_ci(y, s, n=50))
    assert math.isnan(metrics.average_precision(1 - y, s))  # no positives
    assert metrics.average_precision(y, s) == pytest.approx(1.0)  # only positives: precision 1 everywhere
    assert math.isnan(metrics.roc_auc([], []))


def test_pr_curve_and_average_precision_hand_case():
    precision, recall, thr = metrics.pr_curve(Y6, S6)
    # >=0.9: 1/1; >=0.6: 2/3; >=0.4: 2/4; >=0.35: 3/5; >=0.1: 3/6.
    np.testing.assert_allclose(thr, [np.inf, 0.9, 0.6, 0.4, 0.35, 0.1])
    np.testing.assert_allclose(precision, [1, 1, 2 / 3, 1 / 2, 3 / 5, 1 / 2])
    np.testing.assert_allclose(recall, [0, 1 / 3, 2 / 3, 2 / 3, 1, 1])
    # AP = 1/3 * 1 + 1/3 * 2/3 + 1/3 * 3/5 = 34/45.
    assert metrics.average_precision(Y6, S6) == pytest.approx(34 / 45)
    # Perfect ranking: AP 1.
    assert metrics.average_precision([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == pytest.approx(1.0)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 1), st.integers(0, 6)), min_size=2, max_size=40).filter(
        lambda rows: len({r[0] for r in rows}) == 2
    )
)
def test_auc_equals_pair_count_and_trapezoid_with_ties(rows):
    y = np.array([r[0] for r in rows])
    s = np.array([r[1] for r in rows], dtype=float) / 6.0  # few distinct values: many ties
    auc = metrics.roc_auc(y, s)
    assert auc == pytest.approx(_brute_auc(y, s), abs=1e-12)
    fpr, tpr, _ = metrics.roc_curve(y, s)
    assert np.trapezoid(tpr, fpr) == pytest.approx(auc, abs=1e-12)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)


def test_bootstrap_ci_is_deterministic_and_brackets_auc():
    rng = np.random.default_rng(1)
    y = (rng.random(300) < 0.6).astype(int)
    s = rng.normal(size=300) + 1.2 * y
    auc = metrics.roc_auc(y, s)
    lo, hi = metrics.bootstrap_auc_ci(y, s, n=500, seed=3)
    assert lo < auc < hi
    assert 0.0 <= lo and hi <= 1.0 and hi - lo < 0.2
    assert metrics.bootstrap_auc_ci(y, s, n=500, seed=3) == (lo, hi)
    assert metrics.bootstrap_auc_ci([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], n=100) == (1.0, 1.0)
    # With ties only, every replicate is 0.5.
    assert metrics.bootstrap_auc_ci([0, 1, 0, 1], [0.5] * 4, n=50) == (0.5, 0.5)


# --------------------------------------------------------------------------------------------
# Calibration


def test_brier_hand_case():
    # (0.75^2 + 0.75^2 + 0.75^2 + 0.25^2) / 4 = 1.75 / 4
    assert metrics.brier([1, 1, 0, 1], [0.25, 0.25, 0.75, 0.75]) == pytest.approx(0.4375)
    assert metrics.brier([0, 1], [0.0, 1.0]) == 0.0


def test_reliability_bins_and_ece_hand_case():
    y = [1, 1, 0, 1]
    p = [0.25, 0.25, 0.75, 0.75]
    b = metrics.reliability_bins(y, p, n_bins=10)
    np.testing.assert_array_equal(b["count"], [0, 0, 2, 0, 0, 0, 0, 2, 0, 0])
    assert b["mean_prob"][2] == pytest.approx(0.25) and b["frac_pos"][2] == 1.0
    assert b["mean_prob"][7] == pytest.approx(0.75) and b["frac_pos"][7] == 0.5
    assert np.isnan(b["mean_prob"][0]) and np.isnan(b["frac_pos"][0])
    assert b["edges"].size == 11
    # 2/4 * |1 - 0.25| + 2/4 * |0.5 - 0.75| = 0.375 + 0.125
    assert metrics.ece(y, p, n_bins=10) == pytest.approx(0.5)


def test_ece_of_perfectly_calibrated_bins_is_zero():
    # 10 cases at 0.1 with 1 positive, 4 at 0.5 with 2, 10 at 0.9 with 9, 5 at 0.0 with none.
    p = [0.1] * 10 + [0.5] * 4 + [0.9] * 10 + [0.0] * 5
    y = [1] + [0] * 9 + [1, 1, 0, 0] + [1] * 9 + [0] + [0] * 5
    assert metrics.ece(y, p) == pytest.approx(0.0, abs=1e-12)
    assert metrics.ece(y, p, n_bins=4) == pytest.approx(0.0, abs=1e-12)
    assert math.isnan(metrics.ece([], []))


def test_ece_edges_probability_one_goes_to_last_bin():
    b = metrics.reliability_bins([1, 0], [1.0, 0.0], n_bins=15)
    assert b["count"][-1] == 1 and b["count"][0] == 1
    assert metrics.ece([1, 0], [1.0, 0.0]) == 0.0


def test_logit_and_apply_temperature():
    assert metrics.logit(0.5) == 0.0
    assert np.isfinite(metrics.logit([0.0, 1.0])).all()
    p = 1 / (1 + math.exp(-2.0))
    assert float(metrics.apply_temperature(p, 2.0)) == pytest.approx(1 / (1 + math.exp(-1.0)))
    assert float(metrics.apply_temperature(p, 0.5)) == pytest.approx(1 / (1 + math.exp(-4.0)))
    np.testing.assert_allclose(metrics.apply_temperature([0.2, 0.5, 0.9], 1.0), [0.2, 0.5, 0.9])
    with pytest.raises(ValueError):
        metrics.apply_temperature(0.3, 0.0)


@pytest.mark.parametrize("true_t", [3.0, 1 / 3])
def test_fit_temperature_recovers_known_temperature(true_t):
    rng = np.random.default_rng(7)
    z = rng.normal(0.0, 1.5, size=20_000)  # calibrated logits
    y = (rng.random(z.size) < 1 / (1 + np.exp(-z))).astype(int)
    p_model = 1 / (1 + np.exp(-z * true_t))  # over- (T=3) or under-confident (T=1/3) model
    t = metrics.fit_temperature(y, p_model)
    assert abs(t - true_t) / true_t < 0.10
    calibrated = metrics.apply_temperature(p_model, t)
    assert metrics.ece(y, calibrated) < metrics.ece(y, p_model)


def test_fit_temperature_is_a_minimum_and_handles_one_class():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    p = np.clip(0.5 + 0.4 * (y - 0.5) + rng.normal(0, 0.2, 400), 0.01, 0.99)
    t = metrics.fit_temperature(y, p)

    def nll(temp: float) -> float:
        q = metrics.apply_temperature(p, temp)
        return float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)))

    assert metrics.T_MIN <= t <= metrics.T_MAX
    assert nll(t) <= min(nll(t * 0.98), nll(t * 1.02), nll(1.0))
    assert metrics.fit_temperature([1, 1, 1], [0.2, 0.5, 0.9]) == 1.0


# --------------------------------------------------------------------------------------------
# Operating point


def test_threshold_for_sensitivity_hand_cases():
    # Positives of the 6-sample case, descending: 0.9, 0.6, 0.35.
    assert metrics.threshold_for_sensitivity(Y6, S6, 0.95) == 0.35  # needs all 3
    assert metrics.threshold_for_sensitivity(Y6, S6, 0.6) == 0.6  # needs 2 (2/3 >= 0.6)
    assert metrics.threshold_for_sensitivity(Y6, S6, 2 / 3) == 0.6  # exactly 2/3
    assert metrics.threshold_for_sensitivity(Y6, S6, 0.3) == 0.9  # 1/3 >= 0.3
    # 20 positives at 0.05, 0.10, ..., 1.00: 95% = 19 of 20, so the second lowest score.
    y = np.r_[np.ones(20, int), np.zeros(5, int)]
    p = np.r_[np.arange(1, 21) / 20, [0.01, 0.02, 0.5, 0.97, 0.99]]
    t = metrics.threshold_for_sensitivity(y, p, 0.95)
    assert t == 0.10
    assert metrics.binary_metrics(y, p, t)["sensitivity"] == 0.95
    # 70% of 10 positives = 7, despite 0.7 * 10 not being exactly 7 in floating point.
    y10 = np.ones(10, int)
    p10 = np.arange(10, 0, -1) / 10  # 1.0, 0.9, ..., 0.1
    assert metrics.threshold_for_sensitivity(y10, p10, 0.7) == pytest.approx(0.4)


def test_threshold_for_sensitivity_ties():
    # Positives 0.8, 0.7, 0.7, 0.2: half of them needs rank 2 = 0.7, which flags the tie too (3/4).
    y = [1, 1, 1, 1, 0, 0]
    p = [0.8, 0.7, 0.7, 0.2, 0.7, 0.1]
    t = metrics.threshold_for_sensitivity(y, p, 0.5)
    assert t == 0.7
    m = metrics.binary_metrics(y, p, t)
    assert m["sensitivity"] == 0.75 and m["fp"] == 1  # the tied negative is flagged as well
    assert metrics.threshold_for_sensitivity(y, p, 1.0) == 0.2


def test_threshold_for_sensitivity_rejects_bad_input():
    with pytest.raises(ValueError):
        metrics.threshold_for_sensitivity([0, 0], [0.1, 0.2])
    with pytest.raises(ValueError):
        metrics.threshold_for_sensitivity([0, 1], [0.1, 0.2], target=0.0)
    with pytest.raises(ValueError):
        metrics.threshold_for_sensitivity([0, 1], [0.1, 0.2], target=1.5)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 1), st.floats(0.0, 1.0) | st.sampled_from([0.0, 0.25, 0.5, 1.0])),
        min_size=1,
        max_size=60,
    ).filter(lambda rows: any(r[0] == 1 for r in rows)),
    st.floats(0.01, 1.0),
)
def test_threshold_for_sensitivity_property(rows, target):
    y = np.array([r[0] for r in rows])
    p = np.array([r[1] for r in rows])
    t = metrics.threshold_for_sensitivity(y, p, target)
    assert metrics.binary_metrics(y, p, t)["sensitivity"] >= target
    # It is the largest such threshold: anything above it misses the target.
    above = np.nextafter(t, np.inf)
    assert metrics.binary_metrics(y, p, above)["sensitivity"] < target
    assert t in p[y == 1]


def test_wilson_lower_bound_hand_case():
    # p = 0.95, n = 100, z = 1.6449 (one-sided 95%):
    # (0.95 + z^2/200 - z * sqrt(0.95 * 0.05 / 100 + z^2 / 40000)) / (1 + z^2 / 100) = 0.90084
    assert metrics.wilson_lower_bound(95, 100, 0.95) == pytest.approx(0.90084, abs=1e-5)
    assert metrics.wilson_lower_bound(0, 10) == 0.0
    assert metrics.wilson_lower_bound(10, 10) < 1.0  # a perfect sample still leaves doubt
    with pytest.raises(ValueError):
        metrics.wilson_lower_bound(1, 0)


def test_threshold_for_sensitivity_with_confidence_hand_case(caplog):
    scores = np.round(1.0 - 0.01 * np.arange(100), 2)  # 100 positives: 1.00, 0.99, ..., 0.01
    y = np.ones(100, dtype=int)
    # On the sample: 90 of 100 flagged is enough, so the 90th score.
    assert metrics.threshold_for_sensitivity(y, scores, 0.9) == pytest.approx(0.11)
    # With 95% confidence: the Wilson bound of 94/100 is 0.8882 < 0.9 and of 95/100 is 0.9008.
    assert metrics.threshold_for_sensitivity(y, scores, 0.9, confidence=0.95) == pytest.approx(0.06)
    # A target the bound can never reach flags every positive, and says so.
    assert metrics.threshold_for_sensitivity(y, scores, 0.99, confidence=0.95) == pytest.approx(0.01)
    assert "cannot reach 0.990" in caplog.text
