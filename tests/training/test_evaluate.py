"""training.evaluate and training.plots on synthetic probabilities (and one tiny model folder)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from training import metrics
from training.evaluate import evaluate_arrays, format_report
from training.plots import save_history_plot, save_plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PLOTS = ["roc.png", "pr.png", "confusion.png", "reliability.png", "histogram.png"]
KEYS = {
    "title", "n", "n_pos", "n_neg", "threshold", "tp", "fp", "tn", "fn", "accuracy", "sensitivity",
    "specificity", "ppv", "npv", "f1", "roc_auc", "roc_auc_ci", "ci_level", "average_precision",
    "brier", "ece", "ece_bins", "plots",
}


def _synthetic(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.62).astype(int)
    z = rng.normal(0.0, 1.0, n) + 2.0 * (y - 0.5)
    return y, 1 / (1 + np.exp(-z))


def _strict_json(path: Path) -> dict:
    def reject(name: str) -> None:
        raise AssertionError(f"non-standard JSON constant {name} in {path}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=reject)


def _assert_pngs(folder: Path, names: list[str]) -> None:
    for name in names:
        path = folder / name
        assert path.is_file(), name
        assert path.stat().st_size > 2000, name
        assert path.read_bytes()[:8] == PNG_MAGIC


def test_evaluate_arrays_writes_metrics_and_plots(tmp_path):
    y, p = _synthetic()
    out = tmp_path / "eval"
    m = evaluate_arrays(y, p, 0.4, out, "synthetic on val")

    assert KEYS <= set(m)
    saved = _strict_json(out / "metrics.json")
    assert saved == m
    _assert_pngs(out, PLOTS)
    assert m["plots"] == PLOTS

    bm = metrics.binary_metrics(y, p, 0.4)
    assert (m["n"], m["n_pos"], m["n_neg"]) == (400, int(y.sum()), 400 - int(y.sum()))
    for key in ("tp", "fp", "tn", "fn", "accuracy", "sensitivity", "specificity", "ppv", "npv", "f1"):
        assert m[key] == bm[key]
    assert m["roc_auc"] == metrics.roc_auc(y, p)
    lo, hi = m["roc_auc_ci"]
    assert lo < m["roc_auc"] < hi
    assert m["average_precision"] == metrics.average_precision(y, p)
    assert m["brier"] == metrics.brier(y, p)
    assert m["ece"] == metrics.ece(y, p, 15)
    assert m["threshold"] == 0.4 and m["title"] == "synthetic on val"


def test_evaluate_arrays_extra_and_single_class(tmp_path):
    m = evaluate_arrays([1, 1, 1], [0.2, 0.6, 0.9], 0.5, tmp_path, "one class", extra={"split": "x"})
    assert m["split"] == "x"
    assert m["roc_auc"] is None and m["roc_auc_ci"] == [None, None]
    assert m["specificity"] is None and m["sensitivity"] == pytest.approx(2 / 3)
    assert _strict_json(tmp_path / "metrics.json") == m
    _assert_pngs(tmp_path, PLOTS)
    report = format_report(m)
    assert "n/a" in report and "66.7%" in report


def test_format_report_contains_key_numbers(tmp_path):
    y, p = _synthetic(seed=1)
    m = evaluate_arrays(y, p, 0.5, tmp_path, "model 1.0 on test")
    report = format_report(m)
    assert report.splitlines()[0] == "model 1.0 on test"
    lo, hi = m["roc_auc_ci"]
    expected = [
        f"{m['roc_auc']:.4f}", f"{lo:.4f}", f"{hi:.4f}", "95% CI",
        f"{100 * m['sensitivity']:.1f}%", f"{100 * m['specificity']:.1f}%",
        f"{100 * m['accuracy']:.1f}%", f"{100 * m['ppv']:.1f}%", f"{100 * m['npv']:.1f}%",
        f"{m['f1']:.4f}", f"{m['brier']:.4f}", f"{m['ece']:.4f}", f"{m['average_precision']:.4f}",
        "0.5000", f"{m['n_pos']} PNEUMONIA", f"{m['n_neg']} NORMAL",
        f"{m['tp']}/{m['tp'] + m['fn']}", f"{m['tn']}/{m['tn'] + m['fp']}",
    ]
    for text in expected:
        assert text in report, text
    # Confusion matrix rows: true NORMAL -> tn, fp; true PNEUMONIA -> fn, tp.
    rows = {line.split()[1]: line.split()[2:] for line in report.splitlines() if line.startswith("  true")}
    assert rows == {"NORMAL": [str(m["tn"]), str(m["fp"])], "PNEUMONIA": [str(m["fn"]), str(m["tp"])]}


def test_save_plots_returns_paths(tmp_path):
    y, p = _synthetic(60, seed=2)
    paths = save_plots(y, p, 0.5, tmp_path / "figs")
    assert [path.name for path in paths] == PLOTS
    _assert_pngs(tmp_path / "figs", PLOTS)


def test_save_history_plot(tmp_path):
    csv_path = tmp_path / "history.csv"
    csv_path.write_text(
        "epoch,acc,auc,learning_rate,loss,val_acc,val_auc,val_loss\n"
        "0,0.70,0.75,0.0001,0.60,0.72,0.80,0.55\n"
        "1,0.80,0.85,0.0001,0.45,0.78,0.86,0.47\n"
        "2,0.85,0.90,3e-05,0.38,0.80,0.88,0.44\n"
    )
    out = save_history_plot(csv_path, tmp_path / "plots" / "history.png")
    assert out == tmp_path / "plots" / "history.png"
    _assert_pngs(out.parent, ["history.png"])


# --------------------------------------------------------------------------------------------
# End to end: a tiny model folder and a tiny data set in the Kermany layout.


def _write_images(root: Path, per_class: int, rng: np.random.Generator) -> None:
    from PIL import Image

    for label, cls in enumerate(("NORMAL", "PNEUMONIA")):
        folder = root / "val" / cls
        folder.mkdir(parents=True)
        for i in range(per_class):
            img = rng.normal(110, 20, size=(24, 32))
            img[:, :16] += (50 if label else -10) + rng.normal(0, 25)  # brighter left half = "pneumonia"
            Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), mode="L").save(folder / f"img{i}.png")


@pytest.mark.slow
def test_evaluate_model_dir_end_to_end(tmp_path, capsys):
    keras = pytest.importorskip("keras")
    from pneumo_desktop.core.card import ModelCard, sha256_file, write_card
    from pneumo_desktop.core.preprocess import PreprocessSpec
    from training import data
    from training.evaluate import evaluate_model_dir

    size = 16
    spec = PreprocessSpec(size=size)
    inputs = keras.Input((size, size, spec.channels))
    out = keras.layers.Dense(1, activation="sigmoid")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, out)
    left = np.zeros((size, size, spec.channels), np.float32)
    left[:, : size // 2] = 1.0
    model.layers[-1].set_weights([left.reshape(-1, 1) * 0.02, np.zeros(1, np.float32)])

    model_dir = tmp_path / "model"
    model_dir.mkdir()
    model.save(model_dir / "model.keras")
    write_card(model_dir, {
        "name": "tiny", "version": "0.1", "model_file": "model.keras",
        "sha256": sha256_file(model_dir / "model.keras"), "preprocessing": spec.to_dict(),
        "threshold": 0.55, "temperature": 2.0,
    })
    data_dir = tmp_path / "data"
    _write_images(data_dir, 14, np.random.default_rng(0))

    m = evaluate_model_dir(model_dir, data_dir, "val", limit_per_class=12)

    out_dir = model_dir / "eval-val"
    assert _strict_json(out_dir / "metrics.json") == m
    _assert_pngs(out_dir, PLOTS)
    assert (m["n"], m["n_pos"], m["n_neg"]) == (24, 12, 12)
    assert m["threshold"] == 0.55 and m["title"] == "tiny 0.1 on val"
    assert m["model"]["temperature"] == 2.0 and m["data"]["split"] == "val"
    assert m["roc_auc"] > 0.9

    # The same pipeline by hand: card preprocessing, raw model, then the card's temperature.
    card = ModelCard.load(model_dir)
    items = data.list_split(data_dir, "val", 12)
    x, y = data.load_resized(items, size)
    raw = keras.ops.convert_to_numpy(model(data.to_inputs(x, card.preprocessing), training=False)).reshape(-1)
    prob = metrics.apply_temperature(raw, 2.0)
    assert m["brier"] == pytest.approx(metrics.brier(y, prob), rel=1e-5)
    assert m["tp"] == metrics.confusion(y, prob, 0.55)["tp"]
    assert not math.isclose(m["brier"], metrics.brier(y, raw), rel_tol=1e-3)  # the temperature was applied

    printed = capsys.readouterr().out
    assert printed.strip() == format_report(m)
