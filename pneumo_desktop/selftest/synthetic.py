"""Synthetic images made in memory: the self-test needs no file from the user."""

from __future__ import annotations

import numpy as np


def synthetic_chest(height: int = 320, width: int = 288, seed: int = 0) -> np.ndarray:
    """A chest-X-ray-like float64 image in [0, 1]: bright body and spine, dark lungs, ribs, noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    yn, xn = y / (height - 1), x / (width - 1)
    img = 0.15 + 0.55 * np.exp(-(((xn - 0.5) / 0.42) ** 4))  # body
    for cx in (0.3, 0.7):  # lungs
        lung = ((xn - cx) / 0.16) ** 2 + ((yn - 0.5) / 0.3) ** 2 < 1
        img = np.where(lung, img - 0.35, img)
    img += 0.06 * (np.sin(yn * 40 + np.abs(xn - 0.5) * 12) > 0.7)  # ribs
    img += 0.25 * np.exp(-(((xn - 0.5) / 0.05) ** 2))  # spine / mediastinum
    img += 0.02 * rng.standard_normal(img.shape)
    return np.clip(img, 0.0, 1.0)


def as_uint(img: np.ndarray, bits: int) -> np.ndarray:
    """[0, 1] floats as unsigned integers of ``bits`` bits (uint8 up to 8 bits, else uint16)."""
    top = 2**bits - 1
    dtype = np.uint8 if bits <= 8 else np.uint16
    return np.rint(img * top).astype(dtype)


def min_max_display(arr: np.ndarray) -> np.ndarray:
    """What load_xray should show for a MONOCHROME2 image with no window: min..max scaling."""
    values = arr.astype(np.float64)
    lo, hi = values.min(), values.max()
    return ((values - lo) / (hi - lo)).astype(np.float32)
