"""Shift-stress validation, the shift augmentation and the precision choice (fast, synthetic)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from training import perturb as P
from training import stress as S
from training import train as T
from training.augment import ShiftAugmentConfig, augment_shift, ranges_disjoint_from_stress
from training.data import Item


def _films(n: int = 3, size: int = 112) -> list[np.ndarray]:
    """Synthetic 'films': a bright body with darker lungs and some texture, in [0, 1]."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    out = []
    for i in range(n):
        body = 0.25 + 0.5 * np.exp(-(((xx - 0.5) / 0.35) ** 2 + ((yy - 0.55) / 0.45) ** 2))
        lungs = 0.3 * np.exp(-(((np.abs(xx - 0.5) - 0.18) / 0.1) ** 2 + ((yy - 0.45) / 0.2) ** 2))
        img = body - lungs + 0.05 * rng.random((size, size)) + 0.02 * i
        out.append(np.clip(img, 0, 1).astype(np.float32))
    return out


@pytest.mark.parametrize("family", sorted(S.FAMILIES))
def test_each_family_is_deterministic_changes_the_film_and_keeps_range(family):
    films = _films()
    a = S.perturb_set(films, family, seed=3)
    b = S.perturb_set(films, family, seed=3)
    for x, y, src in zip(a, b, films, strict=True):
        np.testing.assert_array_equal(x, y)
        assert x.shape == src.shape and x.dtype == np.float32
        assert 0.0 <= x.min() and x.max() <= 1.0
        assert np.mean(np.abs(x - src)) > 1e-3, family  # it does change the film


def test_family_seeds_and_calibration_families_are_stable():
    assert S.SEED_ORDER[:12] == S.ACQUISITION_FAMILIES == sorted(S.ACQUISITION_FAMILIES)
    assert set(S.SEED_ORDER) == set(S.FAMILIES)


def test_stress_levels_are_within_the_stated_bounds():
    lv = S.STRESS_LEVELS
    assert lv["rotation_deg"] <= 10
    assert 2 * lv["crop_frac"] <= 0.10 and lv["zoom_out_scale"] >= 0.90
    assert 20 <= lv["jpeg_quality"] <= 30


def test_rotation_and_crop_do_what_they_say():
    img = np.zeros((64, 64), np.float32)
    img[:, 32:] = 1.0  # vertical edge through the centre
    rot = P.affine(img, angle_deg=9.0)
    # The edge tilts by 9 degrees: at the top and bottom rows it has moved by ~ 32 tan(9 deg) = 5 px.
    top_edge = int(np.argmax(rot[2] > 0.5))
    bottom_edge = int(np.argmax(rot[61] > 0.5))
    assert abs(abs(top_edge - bottom_edge) - 2 * 29.5 * math.tan(math.radians(9))) <= 2
    crop = P.border_crop(img, 0.05, 0.05, 0.05, 0.05)
    assert crop.shape == img.shape
    zoom_out = P.affine(img, scale=0.9)
    assert zoom_out[:, -2:].max() == 0.0  # a black border where the film ended


def test_jpeg_and_histogram_matching():
    films = _films(2)
    q = P.jpeg(films[0], 25)
    assert 0 < np.mean(np.abs(q - films[0])) < 0.05
    m = P.match_histogram(films[0], films[1])
    np.testing.assert_allclose(np.sort(m.ravel()), np.sort(films[1].ravel()), atol=1e-6)


def test_training_ranges_never_reach_the_stress_levels():
    checks = ranges_disjoint_from_stress()
    assert set(checks) >= {
        "rotation",
        "scale",
        "gamma",
        "contrast",
        "window",
        "blur",
        "sharpen",
        "noise",
        "jpeg",
        "histmatch",
        "fov",
    }
    assert all(checks.values()), checks
    # and a training config at the stress level is caught
    assert not ranges_disjoint_from_stress(ShiftAugmentConfig(rotation_deg=9.0))["rotation"]


def test_shift_augmentation_is_seeded_and_in_range():
    films = _films(2, 64)
    cfg = ShiftAugmentConfig()
    a = augment_shift(films[0], np.random.default_rng([1, 2]), cfg, films[1])
    b = augment_shift(films[0], np.random.default_rng([1, 2]), cfg, films[1])
    np.testing.assert_array_equal(a, b)
    assert a.shape == films[0].shape and 0 <= a.min() and a.max() <= 1
    assert not np.array_equal(a, films[0])


def test_stress_mix_keeps_shape():
    x = np.stack(_films(3, 32))
    out = S.stress_mix(x, seed=1)
    assert out.shape == x.shape and not np.array_equal(out, x)
    np.testing.assert_array_equal(out, S.stress_mix(x, seed=1))


def test_later_patients_are_the_highest_ids(tmp_path):
    items = [Item(tmp_path / f"IM-{i:04d}-0001.jpeg", 0) for i in range(10)]
    items += [Item(tmp_path / f"person{i}_bacteria_1.jpeg", 1) for i in range(100, 110)]
    mask = S.later_patients(items, frac=0.3)
    assert [it.path.name for it, m in zip(items, mask, strict=True) if m] == [
        "IM-0007-0001.jpeg",
        "IM-0008-0001.jpeg",
        "IM-0009-0001.jpeg",
        "person107_bacteria_1.jpeg",
        "person108_bacteria_1.jpeg",
        "person109_bacteria_1.jpeg",
    ]


def test_stress_table_rows():
    rng = np.random.default_rng(0)
    y = np.array([0] * 20 + [1] * 20, float)
    clean = np.clip(0.2 + 0.6 * y + 0.1 * rng.standard_normal(40), 0.01, 0.99)
    raw = {"clean": clean, "blur": np.clip(clean + 0.1, 0, 0.99), "noise": clean[::-1].copy()}
    rows = S.stress_table(y, raw, 1.0, 0.5, later_mask=np.arange(40) % 3 == 0)
    assert rows["clean"]["auc"] > 0.9 and rows["noise"]["auc"] < 0.5
    assert rows["stressed_pooled"]["n"] == 80
    assert rows["stressed_pooled"]["worst_family"] == "noise"
    assert math.isclose(rows["blur"]["delta_auc"], rows["blur"]["auc"] - rows["clean"]["auc"])
    assert "later_patients" in rows and "earlier_patients" in rows
    assert "| `clean`" in S.markdown_table(rows)


def test_precision_choice_prints_bf16_where_the_cpu_has_it(monkeypatch):
    monkeypatch.setattr(T, "gpu_available", lambda: False)
    monkeypatch.setattr(
        T, "_cpuinfo", lambda: "model name\t: Test Xeon\nflags\t\t: avx2 avx512f avx512_bf16 amx_bf16\n"
    )
    assert T.choose_policy("auto") == "mixed_bfloat16"
    line = T.precision_report("auto")
    assert "Test Xeon" in line and "mixed_bfloat16" in line and "amx_bf16" in line
    monkeypatch.setattr(T, "_cpuinfo", lambda: "model name\t: Old CPU\nflags\t\t: avx2 fma\n")
    assert T.choose_policy("auto") == "float32"
    assert "float32" in T.precision_report("auto") and "no bf16" in T.precision_report("auto")


def test_cosine_schedule_warms_up_and_decays_to_zero():
    cfg = T.TrainConfig(data="", out="", epochs=4, lr=1e-3, warmup_steps=10)
    sched = T._CosineSchedule(cfg, steps_per_epoch=25, budget=None, path=None)
    assert sched.lr_at(0) == pytest.approx(1e-4)
    assert sched.lr_at(9) == pytest.approx(1e-3)
    assert sched.lr_at(10 + 45) == pytest.approx(5e-4)
    assert sched.lr_at(100) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.real_data
def test_stress_command_on_the_tiny_model(tiny_model_dir, shared_dir, tmp_path, capsys):
    from training.__main__ import main

    data = shared_dir / "data" / "chest_xray_224sq"
    if not data.is_dir():
        pytest.skip(f"{data} missing")
    out = tmp_path / "stress"
    assert (
        main(
            [
                "stress",
                "--model",
                str(tiny_model_dir),
                "--data",
                str(data),
                "--aspect-data",
                str(shared_dir / "data" / "chest_xray"),
                "--limit-per-class",
                "3",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "precision:" in printed and "| `stressed_pooled`" in printed
    report = json.loads((out / "stress.json").read_text())
    assert set(S.FAMILIES) <= set(report["rows"])
    assert report["rows"]["clean"]["n"] == 6
    assert (out / "stress_predictions.npz").exists()


def test_stressed_copies_are_seeded_and_counted():
    films = _films(3, 64)
    a, src = S.stressed_copies(films, 2, seed=5)
    b, _ = S.stressed_copies(films, 2, seed=5)
    assert src == [0, 0, 1, 1, 2, 2] and len(a) == 6
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_pooled_threshold_keeps_the_wilson_margin_of_the_clean_positives():
    from training.metrics import wilson_lower_bound

    rng = np.random.default_rng(1)
    y_clean = np.array([1] * 100 + [0] * 50, float)
    y_pooled = np.tile(y_clean, 4)
    p_pooled = np.clip(0.3 * y_pooled + 0.5 * rng.random(y_pooled.size), 0, 1)
    thr, required = S.pooled_threshold(y_clean, y_pooled, p_pooled, 0.95, 0.95)
    k = round(required * 100)
    assert wilson_lower_bound(k, 100, 0.95) >= 0.95 > wilson_lower_bound(k - 1, 100, 0.95)
    assert np.mean(p_pooled[y_pooled == 1] >= thr) >= required


def test_shape_matching_squeezes_normal_and_widens_pneumonia_inside_the_stress_levels():
    from training.train import TrainConfig, _augment_config

    cfg = _augment_config(TrainConfig(data="x", out="y", augment_kind="shape"))
    assert isinstance(cfg, ShiftAugmentConfig) and cfg.p_shape_match == 0.5
    assert all(ranges_disjoint_from_stress(cfg).values())
    # a shape range that reaches a field-of-view stress level is caught
    assert not ranges_disjoint_from_stress(ShiftAugmentConfig(shape_normal=(0.8, 1.0)))["fov"]
    # always matched: a NORMAL film's anatomy only gets narrower, a PNEUMONIA film's only wider
    always = ShiftAugmentConfig(
        p_shape_match=1.0,
        rotation_deg=0.0,
        scale=(1.0, 1.0),
        shift=0.0,
        p_intensity=0.0,
        p_window=0.0,
        p_blur=0.0,
        p_sharpen=0.0,
        p_noise=0.0,
        p_jpeg=0.0,
        p_histmatch=0.0,
    )
    bar = np.zeros((64, 64), np.float32)
    bar[:, 24:40] = 1.0  # a vertical band 16 px wide, centred
    widths = {}
    for label in (0, 1):
        w = [
            float(augment_shift(bar, np.random.default_rng(s), always, None, label).mean(axis=0).sum())
            for s in range(20)
        ]
        widths[label] = (min(w), max(w))
    assert widths[0][1] <= 16.5 and widths[0][0] < 15.5
    assert widths[1][0] >= 15.5 and widths[1][1] > 16.5


def test_fov_copies_are_the_two_stress_levels():
    x = np.stack(_films(2, 32))
    narrow, wide = S.fov_copies(x)
    assert narrow.shape == wide.shape == x.shape
    assert not np.array_equal(narrow, x) and not np.array_equal(wide, narrow)


def test_weight_interpolation_is_linear_and_checks_shapes():
    from training.soup import interpolate_weights

    a = [np.zeros((2, 3), np.float32), np.ones(4, np.float32)]
    b = [np.full((2, 3), 4.0, np.float32), np.full(4, 3.0, np.float32)]
    mid = interpolate_weights(a, b, 0.25)
    np.testing.assert_allclose(mid[0], 1.0)
    np.testing.assert_allclose(mid[1], 1.5)
    assert mid[0].dtype == np.float32
    np.testing.assert_array_equal(interpolate_weights(a, b, 1.0)[1], b[1])
    with pytest.raises(ValueError):
        interpolate_weights(a, [b[0], np.ones(5, np.float32)], 0.5)


def test_calibration_copies_can_include_the_field_of_view_families():
    assert "fov_0.8" not in S.calibration_families(False)
    assert {"fov_0.8", "fov_1.25"} <= set(S.calibration_families(True))
    films = _films(3, 32)
    copies, src = S.stressed_copies(films, 14, seed=5, with_fov=True)
    assert len(copies) == 3 * 14 and sorted(set(src)) == [0, 1, 2]


def test_paired_auc_difference_resamples_films_and_sees_a_better_model(tmp_path, capsys):
    rng = np.random.default_rng(1)
    y = np.array([0] * 60 + [1] * 60)
    noise = rng.standard_normal(120)
    weak = {"clean": 0.5 * y + noise, "blur": 0.5 * y + noise + 0.1 * rng.standard_normal(120)}
    strong = {k: v + 1.5 * y for k, v in weak.items()}  # the same films, better separated
    same = S.paired_auc_difference(y, weak, weak, ("clean", "blur"), n=200)
    assert same["delta"] == 0 and same["ci95"] == [0.0, 0.0] and same["share_b_worse"] == 0
    better = S.paired_auc_difference(y, weak, strong, ("clean", "blur"), n=200)
    assert better["n_films"] == 120  # films, not the 240 predictions
    assert better["delta"] > 0 and better["ci95"][0] > 0 and better["share_b_worse"] == 0
    assert math.isclose(better["auc_b"] - better["auc_a"], better["delta"])
    # The command: two stress_predictions.npz files of the same films.
    for name, raw in (("a", weak), ("b", strong)):
        np.savez(tmp_path / f"{name}.npz", y=y, later=np.zeros(120, bool), aspect_idx=np.zeros(0, int),
                 **{f"raw_{k}": v for k, v in raw.items()})
    from training.__main__ import main

    assert main(["stress", "--paired", f"A={tmp_path / 'a.npz'}", f"B={tmp_path / 'b.npz'}", "--bootstrap", "50"]) == 0
    printed = capsys.readouterr().out
    assert "| `clean` | 120 |" in printed and "stressed_pooled" not in printed  # only the sets both hold
    np.savez(tmp_path / "c.npz", y=1 - y, later=np.zeros(120, bool), aspect_idx=np.zeros(0, int), raw_clean=noise)
    with pytest.raises(ValueError, match="different films"):
        S.paired_comparison(tmp_path / "a.npz", tmp_path / "c.npz")


def test_matched_pairs_auc_sees_through_a_shape_shortcut():
    rng = np.random.default_rng(2)
    y = np.array([0] * 80 + [1] * 80)
    ratio = np.where(y == 1, 1.5, 1.2) * np.exp(0.15 * rng.standard_normal(160))  # the classes' shapes differ
    shortcut = np.log(ratio)  # scores that read the film's shape only
    everything, pairs = S.matched_pairs_auc(y, shortcut, ratio, np.inf)
    assert pairs == 80 * 80 and everything > 0.75
    matched, n = S.matched_pairs_auc(y, shortcut, ratio, 0.05)
    assert 0 < n < 80 * 80 and matched < 0.65  # among shape-matched pairs the shortcut is near chance
    honest = 2.0 * y + rng.standard_normal(160)  # scores that ignore the shape keep their AUC there
    assert abs(S.matched_pairs_auc(y, honest, ratio, 0.05)[0] - S.matched_pairs_auc(y, honest, ratio, np.inf)[0]) < 0.05
    tight, m = S.matched_pairs_auc(y, shortcut, ratio, 1e-4)
    assert m < n and (m == 0) == math.isnan(tight)
