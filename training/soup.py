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
