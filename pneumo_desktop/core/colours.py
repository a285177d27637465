"""Colours shared by the viewer, the table and the PDF report (numpy only, no Qt)."""

from __future__ import annotations

import numpy as np

#: Label colours (each label also has its own icon shape: never colour alone).
LABEL_HEX = {
    "Pneumonia": "#c0392b",
    "Normal": "#2e7d4f",
    "Needs review": "#c77c0e",
    "Unreadable": "#6b7378",
}

HEAT_ANCHORS = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
HEAT_COLOURS = np.array(
    [[48, 18, 160], [30, 150, 230], [80, 200, 90], [250, 200, 40], [220, 40, 30]], dtype=np.float32
)


def heatmap_rgba(heat: np.ndarray) -> np.ndarray:
    """(H, W) heat in [0, 1] -> (H, W, 4) RGBA uint8; cool areas fade to transparent."""
    heat = np.clip(np.nan_to_num(np.asarray(heat, dtype=np.float32)), 0.0, 1.0)
    rgba = np.empty(heat.shape + (4,), dtype=np.uint8)
    for c in range(3):
        rgba[..., c] = np.interp(heat, HEAT_ANCHORS, HEAT_COLOURS[:, c]).astype(np.uint8)
    rgba[..., 3] = (np.clip(heat * 1.6, 0.0, 1.0) * 255).astype(np.uint8)
    return rgba


def legend_rgb(width: int, height: int) -> np.ndarray:
    """A horizontal colour bar, least (left) to most (right) attention: (height, width, 3) uint8."""
    ramp = np.linspace(0.0, 1.0, max(width, 2), dtype=np.float32)
    row = np.stack([np.interp(ramp, HEAT_ANCHORS, HEAT_COLOURS[:, c]) for c in range(3)], axis=-1)
    return np.ascontiguousarray(np.repeat(row[None, :, :], max(height, 1), axis=0).astype(np.uint8))
