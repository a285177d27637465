"""The path a model takes when it is trained on a lent GPU machine: a time budget, sparse last
checkpoints, float16 chunks carried back, and an export from a data folder at another path."""

import hashlib
import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from training.__main__ import main

ROOT = Path(__file__).resolve().parents[2]


def _weights_chunks():
    spec = importlib.util.spec_from_file_location("weights_chunks", ROOT / "scripts" / "weights_chunks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.real_data
@pytest.mark.slow
def test_budgeted_run_chunks_and_export_elsewhere(chest_dir, tmp_path):
    import keras

    run = tmp_path / "run"
    common = ["train", "--data", str(chest_dir), "--out", str(run), "--size", "32",
              "--limit-per-class", "8", "--batch-size", "8"]
    # A stale clock from an earlier run in the same folder must not leak into this one.
    run.mkdir()
    (run / "timing.json").write_text(json.dumps({"seconds": 999.0, "epochs": 40}))
    assert main([*common, "--epochs", "5", "--time-budget", "0", "--last-every", "2"]) == 0
    history = (run / "history.csv").read_text().strip().splitlines()
    assert len(history) == 2  # header + the one epoch the zero budget allows
    assert json.loads((run / "timing.json").read_text())["epochs"] == 1
    assert (run / "best.keras").exists()
    # Epoch 1 is not a multiple of --last-every 2, but the end of training always saves.
    assert json.loads((run / "last.json").read_text()) == {"epochs": 1}


    # Carry the checkpoint "back" in float16 chunks of at most 1 MiB, and rebuild it.
    wc = _weights_chunks()
    chunks = tmp_path / "chunks"
    parts = wc.pack(run / "best.keras", chunks, chunk_mib=1)
    assert len(parts) > 10 and all(p.stat().st_size <= 2**20 for p in parts)
    moved = tmp_path / "moved"
    wc.unpack(chunks, moved / "best.keras", size=32)
    original = keras.models.load_model(run / "best.keras", compile=False).get_weights()
    rebuilt = keras.models.load_model(moved / "best.keras", compile=False).get_weights()
    assert len(original) == len(rebuilt)
    for a, b in zip(original, rebuilt, strict=True):
        assert b.dtype == np.float32
        np.testing.assert_allclose(b, a, rtol=1e-3, atol=1e-4)

    # A corrupted chunk is refused, not silently loaded.
    bad = tmp_path / "bad"
    shutil.copytree(chunks, bad)
    part = bad / parts[0].name
    part.write_bytes(b"\0" + part.read_bytes()[1:])
    with pytest.raises(SystemExit, match="sha256"):
        wc.unpack(bad, tmp_path / "bad.keras", size=32)

    # Export from the moved run, with the data folder given again (as after a GPU run).
    for name in ("config.json", "history.csv", "timing.json"):
        shutil.copy(run / name, moved / name)
    config = json.loads((moved / "config.json").read_text())
    config["data"] = "/nonexistent/data/on/the/gpu/machine"
    (moved / "config.json").write_text(json.dumps(config))
    model_dir = tmp_path / "model"
    assert main(["export", "--run", str(moved), "--out", str(model_dir), "--data", str(chest_dir)]) == 0
    card = json.loads((model_dir / "model_card.json").read_text())
    assert card["training"]["epochs"] == 1
    assert "--time-budget 0" in card["training"]["command"]

    # A crash after an epoch that was logged but not saved: --resume redoes it from the checkpoint.
    # Epoch 1 is made the best possible (tune AUC 1.0): the resumed epoch must not replace best.keras.
    header, row = history[0].split(","), history[1].split(",")
    row[header.index("val_auc")] = "1.0"
    (run / "history.csv").write_text("\n".join([history[0], ",".join(row), history[-1]]) + "\n")
    best_before = hashlib.sha256((run / "best.keras").read_bytes()).hexdigest()
    assert main([*common, "--epochs", "2", "--last-every", "2", "--resume"]) == 0
    assert len((run / "history.csv").read_text().strip().splitlines()) == 3  # header + epochs 1, 2
    assert json.loads((run / "last.json").read_text()) == {"epochs": 2}
    assert hashlib.sha256((run / "best.keras").read_bytes()).hexdigest() == best_before
