"""End to end on a few dozen real images: train one epoch, export, evaluate, load in the app."""

import json

import pytest

from pneumo_desktop.core.model import Predictor
from pneumo_desktop.core.scan import Scanner
from training.__main__ import main


@pytest.mark.real_data
@pytest.mark.slow
def test_train_export_evaluate_predict(chest_dir, tmp_path):
    run, model_dir = tmp_path / "run", tmp_path / "model"
    assert main(["train", "--data", str(chest_dir), "--out", str(run), "--size", "32", "--epochs", "1",
                 "--limit-per-class", "16", "--batch-size", "8", "--export", str(model_dir)]) == 0
    for name in ("config.json", "history.csv", "best.keras", "last.keras"):
        assert (run / name).exists(), name
    card = json.loads((model_dir / "model_card.json").read_text())
    assert card["preprocessing"]["size"] == 32
    # The app preprocesses by the card; training by its config: the two must be the same spec.
    assert card["preprocessing"] == json.loads((run / "config.json").read_text())["preprocessing"]
    assert card["weights_init"].startswith("random")
    assert 0 < card["temperature"] and 0 <= card["threshold"] <= 1
    assert card["training"]["val_count"] == {"NORMAL": 16, "PNEUMONIA": 16}
    for key in ("roc_auc", "sensitivity", "specificity", "brier", "ece"):
        assert key in card["metrics"]["val"]
    assert (model_dir / card["ood"]["file"]).exists()

    assert main(["evaluate", "--model", str(model_dir), "--data", str(chest_dir), "--split", "val",
                 "--limit-per-class", "8", "--out", str(tmp_path / "eval")]) == 0
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["n"] == 16
    assert (tmp_path / "eval" / "roc.png").stat().st_size > 0

    # The exported folder is loadable by the app exactly like the bundled model.
    predictor = Predictor(model_dir, device="cpu")
    files = sorted((chest_dir / "val" / "NORMAL").iterdir())[:2]
    results = Scanner(predictor).scan_all(files)
    assert len(results) == 2 and all(r.probability is not None for r in results)
    assert all(r.ood_score is not None for r in results)

    # --resume continues from the last checkpoint without starting over.
    assert main(["train", "--data", str(chest_dir), "--out", str(run), "--size", "32", "--epochs", "2",
                 "--limit-per-class", "16", "--batch-size", "8", "--resume"]) == 0
    assert len((run / "history.csv").read_text().strip().splitlines()) == 3
    assert json.loads((run / "last.json").read_text()) == {"epochs": 2}
    assert not list(run.glob("*.partial*"))  # last.keras is written beside and renamed

    # soup with several alphas picks one on the run's selection set (tune), never on val.
    out = tmp_path / "soup"
    assert main(["soup", "--run", str(run), "--start", str(run / "last.keras"), "--alpha", "0,1",
                 "--out", str(out)]) == 0
    assert (out / "best.keras").exists()
    assert json.loads((out / "config.json").read_text())["soup"]["alpha"] in (0.0, 1.0)
