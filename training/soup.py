"""Weight-space interpolation of a fine-tuned run with the model it started from (WiSE-FT).

Wortsman et al. (2022, "Robust fine-tuning of zero-shot models") found that averaging the weights of
a fine-tuned network with those of its starting point often beats both, on the training
distribution and under shift. It keeps one network, so inference costs the same. Here it is an
option measured like any other (docs/model.md): ``python -m training soup`` writes a run folder that
``export`` and ``stress`` read as usual.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

#: Files of a run folder that describe it and are copied to the interpolated run.
_RUN_FILES = ("config.json", "history.csv", "timing.json", "schedule.json", "splits.json")


def interpolate_weights(start: list, tuned: list, alpha: float) -> list:
    """``(1 - alpha) * start + alpha * tuned`` for every weight array (alpha 1 = the tuned run)."""
    import numpy as np

    if len(start) != len(tuned):
        raise ValueError(f"the two networks differ: {len(start)} against {len(tuned)} weight arrays")
    out = []
    for a, b in zip(start, tuned, strict=True):
        if a.shape != b.shape:
            raise ValueError(f"the two networks differ: weight shapes {a.shape} and {b.shape}")
        out.append(((1.0 - alpha) * a.astype(np.float64) + alpha * b.astype(np.float64)).astype(b.dtype))
    return out


def select_alpha(
    run_dir: str | Path, start: str | Path, alphas: list[float], data: str | None = None,
    precision: str = "auto",
) -> tuple[float, dict[float, float]]:
    """The alpha whose interpolated network has the highest AUC on the run's own selection set (its
    tune split, with the stressed and field-of-view copies the run was selected on; never validation
    films). Returns the alpha and the AUC of every alpha tried (ties go to the smaller alpha)."""
    import dataclasses

    import keras

    from pneumo_desktop.core.preprocess import PreprocessSpec

    from .evaluate import predict_probs
    from .metrics import roc_auc
    from .train import TrainConfig, choose_policy, prepare_data, selection_set

    run = Path(run_dir)
    config = json.loads((run / "config.json").read_text())
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    cfg = TrainConfig(**{k: v for k, v in config.items() if k in names})
    if data is not None:
        cfg = dataclasses.replace(cfg, data=data)
    keras.config.set_dtype_policy(choose_policy(precision))
    spec = PreprocessSpec(size=cfg.size)
    x, y = selection_set(cfg, prepare_data(cfg, spec), spec)
    tuned = keras.models.load_model(run / "best.keras", compile=False)
    base_w = keras.models.load_model(start, compile=False).get_weights()
    tuned_w = tuned.get_weights()
    table: dict[float, float] = {}
    for alpha in sorted(alphas):
        tuned.set_weights(interpolate_weights(base_w, tuned_w, alpha))
        table[alpha] = roc_auc(y.reshape(-1), predict_probs(tuned, x))
        log.info("alpha %.2f: AUC %.5f on the selection set (%d films)", alpha, table[alpha], len(y))
    best = max(table, key=lambda a: (table[a], -a))
    return best, table


def soup(run_dir: str | Path, start: str | Path, alpha: float, out_dir: str | Path) -> Path:
    """Write ``out_dir``: a copy of the run folder whose ``best.keras`` is the interpolation of the
    run's best checkpoint with the ``start`` checkpoint (the one the run was initialised from)."""
    import keras

    if not 0.0 <= alpha <= 1.0:
        raise ValueError("alpha must be in [0, 1]")
    run = Path(run_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tuned = keras.models.load_model(run / "best.keras", compile=False)
    base = keras.models.load_model(start, compile=False)
    tuned.set_weights(interpolate_weights(base.get_weights(), tuned.get_weights(), alpha))
    tuned.save(out / "best.keras")
    for name in _RUN_FILES:
        if (run / name).exists():
            shutil.copy(run / name, out / name)
    config = json.loads((out / "config.json").read_text())
    config["soup"] = {"run": str(run), "start": str(start), "alpha": alpha}
    (out / "config.json").write_text(json.dumps(config, indent=2))
    log.info("wrote %s: %.2f x %s + %.2f x %s", out / "best.keras", alpha, run.name, 1 - alpha, start)
    return out
