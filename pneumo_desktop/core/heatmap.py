"""The stored heatmap: the class activation map from the scan's own forward pass.

The network's head is global average pooling (after ``block5_pool``) then one Dense unit. Grad-CAM
on the last convolution (``block5_conv4``) then needs no gradient pass: the gradient of the logit
with respect to ``block5_conv4`` is ``w_c / 25`` at each 2x2 pool window's maximum and 0 elsewhere,
so its spatial mean, Grad-CAM's channel weight, is ``w_c / 100`` and the Grad-CAM map is
``relu(features @ w) / 100``: after normalising to [0, 1], exactly the class activation map (Zhou et
al. 2016). The Predictor computes it with the probability (``Prediction.cam``), the scanner stores it
with each judged film's row (``ScanResult.heatmap``, float16, about 270 characters), and the viewer
and the report upsample it to the film's size, so no heatmap is ever recomputed.

This module is Qt-free. The legend's words and the caveat live in ``core.wording`` (one copy for
the viewer and the PDF report); the colours are ``core.colours.heatmap_rgba``'s, the legend's
drawing ``gui.heatlegend``.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import wording

log = logging.getLogger(__name__)

LEGEND_LOW, LEGEND_HIGH = wording.HEATMAP_LEGEND
LEGEND_TITLE = wording.HEATMAP_LEGEND_TITLE


def heatmap_caveat() -> str:
    """One line shown next to every heatmap, in the viewer and in the report (``wording``'s)."""
    return wording.HEATMAP_CAVEAT


def encode(cam: np.ndarray) -> str:
    """(h, w) map in [0, 1] -> 'hxw:' + base64 of float16 bytes (a few hundred characters)."""
    cam = np.asarray(cam, dtype=np.float16)
    if cam.ndim != 2:
        raise ValueError(f"a heatmap is 2-D, not {cam.shape}")
    return f"{cam.shape[0]}x{cam.shape[1]}:" + base64.b64encode(cam.astype("<f2").tobytes()).decode("ascii")


def decode(text: str) -> np.ndarray | None:
    """The stored map as float32, or None when there is none or it is unreadable."""
    if not text:
        return None
    try:
        shape, data = text.split(":", 1)
        h, w = (int(v) for v in shape.split("x"))
        cam = np.frombuffer(base64.b64decode(data), dtype="<f2").astype(np.float32)
        return cam.reshape(h, w)
    except (ValueError, TypeError):
        return None


def normalise(cams: np.ndarray) -> np.ndarray:
    """(N, h, w) raw maps -> ReLU, then each divided by its own maximum (all-zero stays zero)."""
    cams = np.maximum(np.asarray(cams, dtype=np.float32), 0.0)
    top = cams.reshape(len(cams), -1).max(axis=1) if len(cams) else np.zeros((0,), np.float32)
    scale = np.where(top > 0, top, 1.0).astype(np.float32)
    return cams / scale[:, None, None]


def upsample(cam: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The map at an image's (height, width): bilinear, as Grad-CAM resizes its conv map."""
    from PIL import Image

    h, w = int(shape[0]), int(shape[1])
    img = Image.fromarray(np.asarray(cam, dtype=np.float32), mode="F").resize(
        (w, h), Image.Resampling.BILINEAR
    )
    return np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)


def stored_for_row(status: str, cam: np.ndarray | None) -> str:
    """What a scan row keeps: the encoded map for a judged film, nothing for a refused one."""
    return encode(cam) if status == "ok" and cam is not None else ""


def forward_heatmap(predictor, xray) -> np.ndarray | None:  # Predictor or RemotePredictor
    """The heatmap of one film from a forward pass (no gradient), at the film's size; None when the
    model has no class activation map."""
    from .preprocess import preprocess

    pixels = getattr(xray, "pixels", xray)
    pred = predictor.predict_batch(preprocess(pixels, predictor.spec)[None])[0]
    return None if pred.cam is None else upsample(pred.cam, pixels.shape)


def stored_heatmap(result, shape: tuple[int, int]) -> np.ndarray | None:  # ScanResult
    """The result's stored heatmap at ``shape``; None for a refused or unreadable film, or none kept."""
    if getattr(result, "status", "") != "ok":
        return None
    cam = decode(getattr(result, "heatmap", ""))
    return None if cam is None else upsample(cam, shape)


def central_share(cam: np.ndarray, central_columns: int = 4) -> float:
    """Share of the map's heat in its central columns (4 of 10: mediastinum and spine), rest lateral."""
    cam = np.asarray(cam, dtype=np.float64)
    w = cam.shape[1]
    lo = (w - central_columns * w // 10) // 2
    hi = lo + central_columns * w // 10
    total = cam.sum()
    return float(cam[:, lo:hi].sum() / total) if total > 0 else float("nan")


# ---------------------------------------------------------------------------------------------
# The head that turns the last conv block's features into the map (used by core.model)


@dataclass(frozen=True)
class CamHead:
    """``relu`` is applied later; this is ``features @ w`` for the sigmoid unit's weights ``w``."""

    layer: str  # the card's gradcam_layer
    dense: Any  # the final Dense layer (its kernel is read at call time)

    def apply(self, features):
        import keras

        w = keras.ops.cast(self.dense.kernel[:, 0], "float32")
        return keras.ops.einsum("nhwc,c->nhw", keras.ops.cast(features, "float32"), w)


#: Layers that may sit between the CAM layer and the final Dense unit for the map to equal Grad-CAM:
#: max pooling routes the gradient to one position per window, global average pooling spreads it
#: evenly, and dropout is the identity at inference.
_CAM_PATH = ("MaxPooling2D", "GlobalAveragePooling2D", "Dropout")


def cam_head(model, layer_name: str) -> CamHead | None:
    """The class activation map head when the network allows one (else None: Grad-CAM on demand).

    (Moved here from ``core.model``, #18: this module says why the map equals Grad-CAM.)"""
    import keras

    names = [layer.name for layer in model.layers]
    last = model.layers[-1]
    if layer_name not in names or not isinstance(last, keras.layers.Dense) or last.kernel.shape[-1] != 1:
        log.info("no forward-pass heatmap: the head is not one Dense unit after %s", layer_name)
        return None
    between = model.layers[names.index(layer_name) + 1 : -1]
    kinds = [type(layer).__name__ for layer in between]
    if any(k not in _CAM_PATH for k in kinds) or kinds.count("GlobalAveragePooling2D") != 1:
        log.info("no forward-pass heatmap: %s lies between %s and the output", kinds, layer_name)
        return None
    if model.get_layer(layer_name).output.shape[-1] != last.kernel.shape[0]:
        return None
    return CamHead(layer_name, last)
