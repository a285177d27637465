"""The bundled model: its card and hash, one inference, Grad-CAM, and a scan into the results store.

The checks share what they build through ``holder`` (the Predictor under ``"predictor"``) and the
temporary ``folder`` (the synthetic film ``synthetic_chest.png``): a later check reports a FAIL that
points at the earlier one when that one failed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from .synthetic import as_uint, synthetic_chest

#: The synthetic film the inference check writes and the heatmap and scan checks reuse.
FILM = "synthetic_chest.png"


def check_model(model_dir: Path | None, holder: dict[str, Any]) -> str:
    from ..core.model import Predictor

    predictor = Predictor(model_dir)  # loads the card and verifies the model file's sha256
    holder["predictor"] = predictor
    card = predictor.card
    return (
        f"{card.name} {card.version}, sha256 {card.sha256[:12]}... verified, "
        f"on {predictor.device_name}, loaded in {predictor.load_seconds:.1f} s"
    )


def check_inference(holder: dict[str, Any], folder: Path) -> str:
    from PIL import Image

    from ..core.io import load_xray

    predictor = holder.get("predictor")
    if predictor is None:
        raise RuntimeError("no model (see the model check)")
    path = folder / FILM
    Image.fromarray(as_uint(synthetic_chest(seed=4), 16)).save(path)
    xray = load_xray(path)
    first = predictor.predict_xrays([xray])[0]
    again = predictor.predict_xrays([xray])[0]
    p = first.probability
    if not (np.isfinite(p) and 0.0 <= p <= 1.0):
        raise AssertionError(f"probability {p} out of range")
    if again.probability != p:
        raise AssertionError(f"two runs on the same image differ ({p} vs {again.probability})")
    return f"probability {p:.4f} (raw {first.raw_probability:.4f}), repeatable"


def check_heatmap(holder: dict[str, Any], folder: Path) -> str:
    """Grad-CAM needs TensorFlow's gradient machinery, which a trimmed bundle could lose."""
    from ..core.explain import gradcam
    from ..core.io import load_xray

    predictor = holder.get("predictor")
    path = folder / FILM
    if predictor is None or not path.is_file():
        raise RuntimeError("no model or no test image (see the checks above)")
    xray = load_xray(path)
    t0 = time.perf_counter()
    heat = gradcam(predictor, xray)
    seconds = time.perf_counter() - t0
    if heat.shape != xray.pixels.shape or not np.isfinite(heat).all() or heat.min() < 0 or heat.max() > 1:
        raise AssertionError(f"heatmap {heat.shape} (image {xray.pixels.shape}), range {heat.min()}..{heat.max()}")
    return f"Grad-CAM {heat.shape[1]} x {heat.shape[0]} in {seconds:.2f} s (first call, graph built)"


def check_scan(holder: dict[str, Any], folder: Path) -> str:
    """The synthetic film and the JPEG 2000 DICOM of the codec checks, through the Scanner and
    the SQLite results store."""
    from ..core.scan import Scanner
    from ..core.store import ResultsStore

    predictor = holder.get("predictor")
    if predictor is None:
        raise RuntimeError("no model (see the model check)")
    scan_dir = folder / "scan"
    scan_dir.mkdir()
    for name in (FILM, "JPEG2000Lossless.dcm"):
        if (folder / name).is_file():
            (scan_dir / name).write_bytes((folder / name).read_bytes())
    store = ResultsStore(folder / "results.sqlite3")
    try:
        results = Scanner(predictor, store=store, batch_size=2).scan_all([scan_dir])
    finally:
        store.close()
    bad = [r for r in results if r.probability is None]
    if len(results) < 1 or bad:
        raise AssertionError(
            f"{len(bad)} of {len(results)} files got no probability: {bad[0].message if bad else ''}"
        )
    return f"{len(results)} files scanned and stored ({', '.join(sorted({r.label for r in results}))})"
