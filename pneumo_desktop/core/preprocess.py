"""The one and only path from an :class:`XRay` to the model's input.

The app, the command-line scanner and the training package all call these functions, so what the
model was trained on is exactly what it is fed. The parameters come from the model card
(``preprocessing`` section), never from constants spread through the code.

Steps (each one a public function, so training can cache the expensive first step):

1. :func:`resize_gray`: the display-ready gray image (float32, [0, 1]) is resized to the model's
   square input ("squash": the whole film, aspect ratio not kept, as in the training data), with
   an antialiasing filter.
2. :func:`normalise`: per-image standardisation (zero mean, unit variance), which makes the model
   indifferent to global brightness/contrast differences between X-ray machines and windows.
3. :func:`to_channels`: the gray plane repeated to the number of channels the network expects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .io import XRay

_EPS = 1e-3


@dataclass(frozen=True)
class PreprocessSpec:
    """How an X-ray becomes model input. Stored in and read from the model card."""

    size: int = 128
    channels: int = 3
    resize: str = "squash"  # the whole image to size x size, aspect ratio not kept
    normalisation: str = "per_image_standardise"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PreprocessSpec:
        spec = cls(
            size=int(data["size"]),
            channels=int(data.get("channels", 3)),
            resize=str(data.get("resize", "squash")),
            normalisation=str(data.get("normalisation", "per_image_standardise")),
        )
        if spec.resize != "squash":
            raise ValueError(f"unsupported resize mode {spec.resize!r}")
        if spec.normalisation != "per_image_standardise":
            raise ValueError(f"unsupported normalisation {spec.normalisation!r}")
        if spec.size < 8 or spec.channels not in (1, 3):
            raise ValueError(f"unsupported input shape {spec.size} x {spec.channels}")
        return spec

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resize_gray(pixels: np.ndarray, size: int) -> np.ndarray:
    """2-D float32 [0, 1] image -> ``size`` x ``size`` float32, antialiased (PIL bilinear)."""
    from PIL import Image

    if pixels.ndim != 2:
        raise ValueError("expected a 2-D gray image")
    if pixels.shape == (size, size):
        return np.ascontiguousarray(pixels, dtype=np.float32)
    img = Image.fromarray(np.ascontiguousarray(pixels, dtype=np.float32), mode="F")
    out = img.resize((size, size), resample=Image.Resampling.BILINEAR)
    return np.clip(np.asarray(out, dtype=np.float32), 0.0, 1.0)


def normalise(img: np.ndarray) -> np.ndarray:
    """Per-image standardisation: zero mean, unit variance (flat images stay all-zero)."""
    img = img.astype(np.float32, copy=False)
    mean = float(img.mean())
    std = float(img.std())
    return ((img - mean) / max(std, _EPS)).astype(np.float32)


def to_channels(img: np.ndarray, channels: int) -> np.ndarray:
    """(H, W) -> (H, W, channels)."""
    return np.repeat(img[..., None], channels, axis=-1)


def finish(resized: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """Steps 2 and 3, for an image already resized by :func:`resize_gray` (training uses this)."""
    return to_channels(normalise(resized), spec.channels)


def preprocess(xray: XRay | np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """One X-ray (or its 2-D pixel array) -> model input of shape (size, size, channels)."""
    pixels = xray.pixels if isinstance(xray, XRay) else xray
    return finish(resize_gray(pixels, spec.size), spec)


def preprocess_batch(xrays: Sequence[XRay | np.ndarray], spec: PreprocessSpec) -> np.ndarray:
    """Several X-rays -> one float32 batch of shape (N, size, size, channels)."""
    if not xrays:
        return np.zeros((0, spec.size, spec.size, spec.channels), dtype=np.float32)
    return np.stack([preprocess(x, spec) for x in xrays]).astype(np.float32, copy=False)
