"""Cheap image statistics that tell a radiograph from a picture that is not one.

Screenshots, text pages, gradients, checkerboards and noise fool a feature-distance score, but
not these simple numbers, each computed in about a millisecond on a small copy of the image:

* ``entropy``: histogram entropy (bits, 64 bins). Text pages and checkerboards have very few gray
  levels; a film spreads over many.
* ``mode_fraction``: share of pixels in the most common of 256 levels. Flat backgrounds (windows,
  pages, synthetic patterns) pile up in one level.
* ``flat_fraction``: share of 4 x 4 blocks that are perfectly flat (max - min <= 1/255): UI
  panels, page margins, computer-drawn shapes; a film's noise and texture leave very few.
* ``edge_fraction``: share of pixels whose gradient jumps by more than a third of the range
  between neighbours: text, checkerboards, white noise; films change smoothly.
* ``roughness``: mean absolute difference between neighbouring pixels over the image's standard
  deviation: noise is rough, gradients are smooth, films sit in between.
* ``smooth_fit``: share of the variance explained by a cubic surface in x and y: gradients and
  vignettes are explained almost entirely; blurred noise, text and patterns hardly at all; films
  partly (the body's large bright and dark areas).

The thresholds are the extremes of the training films' values with a margin
(``benchmarks/gate_stress.py --fit-stats``) and are stored in ``gate_imagestats.json`` next to
the model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

CONFIG_NAME = "gate_imagestats.json"
SIZE = 224  # the statistics are computed on a copy with this longest side (the training films' size)

STAT_NAMES = ("entropy", "mode_fraction", "flat_fraction", "edge_fraction", "roughness", "smooth_fit")


def thumbnail(pixels: np.ndarray, size: int = SIZE) -> np.ndarray:
    """The image with its longest side at most ``size`` (aspect kept, antialiased), so that the
    statistics of a 3000-pixel film and of a 224-pixel one are comparable. Flat areas stay flat."""
    from PIL import Image

    h, w = pixels.shape
    if max(h, w) <= size:
        return np.asarray(pixels, dtype=np.float32)
    scale = size / max(h, w)
    # A cheap nearest-neighbour pre-shrink of very large images, then an antialiased resize.
    step = max(1, int(max(h, w) // (size * 4)))
    src = np.ascontiguousarray(pixels[::step, ::step], dtype=np.float32)
    img = Image.fromarray(src, mode="F").resize(
        (max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BILINEAR
    )
    return np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)


def compute(pixels: np.ndarray) -> dict[str, float]:
    """The statistics of a 2-D gray image in [0, 1]."""
    a = thumbnail(pixels)
    levels = np.clip((a * 255).round(), 0, 255).astype(np.int32)
    hist256 = np.bincount(levels.ravel(), minlength=256).astype(np.float64)
    hist64 = hist256.reshape(64, 4).sum(axis=1)
    p = hist64 / hist64.sum()
    p = p[p > 0]
    entropy = float(-(p * np.log2(p)).sum())
    mode_fraction = float(hist256.max() / hist256.sum())

    h, w = levels.shape
    bh, bw = h // 4 * 4, w // 4 * 4
    if bh and bw:
        blocks = levels[:bh, :bw].reshape(bh // 4, 4, bw // 4, 4)
        span = blocks.max(axis=(1, 3)) - blocks.min(axis=(1, 3))
        flat_fraction = float((span <= 1).mean())
    else:
        flat_fraction = 0.0

    dx = np.abs(np.diff(a, axis=1))
    dy = np.abs(np.diff(a, axis=0))
    rng = float(np.percentile(a, 99) - np.percentile(a, 1)) or 1e-3
    edge_fraction = float(((dx > rng / 3).mean() + (dy > rng / 3).mean()) / 2)
    std = float(a.std()) or 1e-3
    roughness = float((dx.mean() + dy.mean()) / 2 / std)

    small = a[:: max(1, h // 64), :: max(1, w // 64)]
    yy, xx = np.mgrid[0 : small.shape[0], 0 : small.shape[1]]
    yy = yy / max(small.shape[0] - 1, 1) - 0.5
    xx = xx / max(small.shape[1] - 1, 1) - 0.5
    terms = [xx**i * yy**j for i in range(4) for j in range(4 - i)]  # a cubic surface: 10 terms
    design = np.stack(terms, axis=-1).reshape(-1, len(terms))
    target = small.reshape(-1).astype(np.float64)
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    resid = target - design @ coef
    var = float(target.var()) or 1e-9
    smooth_fit = float(1.0 - resid.var() / var)
    return {
        "entropy": entropy,
        "mode_fraction": mode_fraction,
        "flat_fraction": flat_fraction,
        "edge_fraction": edge_fraction,
        "roughness": roughness,
        "smooth_fit": smooth_fit,
    }


@dataclass(frozen=True)
class StatLimits:
    """Allowed range of each statistic; outside it the image is not judged as a radiograph."""

    low: dict[str, float]
    high: dict[str, float]

    @classmethod
    def load(cls, folder: str | Path) -> StatLimits | None:
        path = Path(folder) / CONFIG_NAME
        if not path.is_file():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls.from_dict(data["limits"])

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StatLimits:
        return cls(
            low={k: float(v) for k, v in data.get("low", {}).items()},
            high={k: float(v) for k, v in data.get("high", {}).items()},
        )

    def to_dict(self) -> dict[str, Any]:
        return {"low": self.low, "high": self.high}

    def violations(self, stats: dict[str, float]) -> list[str]:
        """Names of the statistics outside their range, e.g. ``['mode_fraction>']``."""
        out = [f"{k}<" for k, v in self.low.items() if stats.get(k, v) < v]
        out += [f"{k}>" for k, v in self.high.items() if stats.get(k, v) > v]
        return out


def fit_limits(
    samples: list[dict[str, float]],
    keep: dict[str, str],
    margin: float = 0.1,
    quantile: float = 0.001,
    margins: dict[str, float] | None = None,
) -> StatLimits:
    """Limits just outside the films' range: the ``quantile`` (or ``1 - quantile``) value of each
    statistic pushed out by ``margin`` of its spread. ``keep`` maps a statistic to "low", "high" or
    "both" (which ends are checked); ``margins`` overrides ``margin`` per statistic."""
    low: dict[str, float] = {}
    high: dict[str, float] = {}
    for name, ends in keep.items():
        v = np.array([s[name] for s in samples])
        spread = float(np.quantile(v, 0.99) - np.quantile(v, 0.01)) or 1e-6
        m = (margins or {}).get(name, margin)
        if ends in ("low", "both"):
            low[name] = float(np.quantile(v, quantile) - margin * spread)
        if ends in ("high", "both"):
            high[name] = float(np.quantile(v, 1 - quantile) + m * spread)
    return StatLimits(low, high)


def describe(violations: list[str]) -> str:
    """Plain words for the strongest reason among the violated statistics."""
    names = {v.rstrip("<>") for v in violations}
    if "flat_fraction" in names or "mode_fraction" in names:
        return "large perfectly flat areas, as in a screenshot, a document or a drawing"
    if "edge_fraction" in names or "entropy" in names:
        return "sharp edges or too few gray levels, as in text or a pattern"
    if "roughness" in names:
        return "pixel noise rather than anatomy"
    if "smooth_fit" in names:
        return "a smooth gradient rather than anatomy"
    return "image statistics unlike a radiograph's"
