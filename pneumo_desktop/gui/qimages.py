"""Pixels to QImage (no widgets): window/level lookup tables, the grayscale image and the coloured
heatmap. Any thread may build these; the model service and the viewer's loaders both do."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtGui import QImage

from ..core.colours import heatmap_rgba

LEVELS = 4096  # pixels are quantised to 12 bits once; window/level is then a 4096-entry lookup table


# ---------------------------------------------------------------------------------------------
# Pixels -> QImage


def gray_qimage(img8: np.ndarray) -> QImage:
    """2-D uint8 array -> an independent Grayscale8 QImage."""
    img8 = np.ascontiguousarray(img8, dtype=np.uint8)
    h, w = img8.shape
    return QImage(img8.data, w, h, w, QImage.Format.Format_Grayscale8).copy()


def quantise(pixels: np.ndarray) -> np.ndarray:
    return (np.clip(pixels, 0.0, 1.0) * (LEVELS - 1) + 0.5).astype(np.uint16)


def window_lut(level: float, width: float) -> np.ndarray:
    """Lookup table (LEVELS entries) mapping [level - width/2, level + width/2] to 0..255."""
    x = np.linspace(0.0, 1.0, LEVELS, dtype=np.float32)
    low = level - width / 2.0
    return (np.clip((x - low) / max(width, 1e-4), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def heatmap_qimage(heat: np.ndarray) -> QImage:
    """Coloured heatmap, premultiplied ARGB32 (what QPixmap uses, so showing it needs no conversion).

    Slow for big images (about 300 ms at 2000 x 2000): call it off the GUI thread.
    """
    rgba = np.ascontiguousarray(heatmap_rgba(heat))
    h, w = rgba.shape[:2]
    return QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).convertToFormat(
        QImage.Format.Format_ARGB32_Premultiplied
    )


@dataclass(frozen=True, eq=False)
class Heatmap:
    """A Grad-CAM heatmap for one image, coloured off the GUI thread.

    ``path`` and ``shape`` say which image it was computed for; the viewer checks both on arrival.
    """

    path: str
    heat: np.ndarray  # (H, W) float in [0, 1], the image's size
    image: QImage  # heatmap_qimage(heat)

    @classmethod
    def build(cls, heat: np.ndarray, path: str) -> Heatmap:
        """Colour ``heat`` (any thread; slow for big images, so not the GUI thread)."""
        heat = np.asarray(heat, dtype=np.float32)
        return cls(path=path, heat=heat, image=heatmap_qimage(heat))

    @property
    def shape(self) -> tuple[int, int]:
        return self.heat.shape[0], self.heat.shape[1]
