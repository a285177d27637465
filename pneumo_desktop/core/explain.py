"""Grad-CAM heatmaps (Selvaraju et al. 2017) on the model's last convolutional block.

The gradient model is built once per loaded model and cached. Call from the thread that owns the
Predictor. Works on the TensorFlow and JAX backends.
"""

from __future__ import annotations

import logging
import weakref

import numpy as np

from .images import XRay
from .preprocess import preprocess

log = logging.getLogger(__name__)

_GRAD_MODELS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _gradient_model(predictor, layer_name: str):  # noqa: ANN001, ANN202
    import keras

    cached = _GRAD_MODELS.get(predictor)
    if cached is not None and cached[0] == layer_name:
        return cached[1]
    model = predictor.model
    grad_model = keras.Model(model.inputs[0], [model.get_layer(layer_name).output, model.output])
    _GRAD_MODELS[predictor] = (layer_name, grad_model)
    return grad_model


def _score(prob):  # noqa: ANN001, ANN202
    """The class score: the logit of the pneumonia probability (no sigmoid saturation)."""
    import keras

    p = keras.ops.clip(keras.ops.cast(prob, "float32"), 1e-6, 1 - 1e-6)
    return keras.ops.sum(keras.ops.log(p) - keras.ops.log(1 - p))


def _conv_and_grads(grad_model, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        xt = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            conv, prob = grad_model(xt, training=False)
            tape.watch(conv)
            score = _score(prob)
        grads = tape.gradient(score, conv)
        return conv.numpy(), grads.numpy()
    if backend == "jax":
        import jax

        conv, _ = grad_model(x, training=False)
        head = _head_after(grad_model)

        def f(c):  # noqa: ANN001, ANN202
            return _score(head(c))

        grads = jax.grad(f)(conv)
        return np.asarray(conv), np.asarray(grads)
    raise NotImplementedError(f"Grad-CAM is not implemented for the {backend} backend")


def _head_after(grad_model):  # noqa: ANN001, ANN202
    """The layers after the conv layer as a function (the head of a VGG-style chain is linear)."""
    conv_name = grad_model.outputs[0]._keras_history.operation.name
    names = [layer.name for layer in grad_model.layers]
    after = grad_model.layers[names.index(conv_name) + 1 :]

    def head(c):  # noqa: ANN001, ANN202
        for layer in after:
            c = layer(c, training=False) if "dropout" in layer.name else layer(c)
        return c

    return head


def gradcam(predictor, xray: XRay | np.ndarray, layer: str | None = None) -> np.ndarray:  # noqa: ANN001
    """Heatmap in [0, 1] with the shape of ``xray.pixels`` (where the model looked for pneumonia)."""
    from PIL import Image

    layer_name = layer or predictor.card.gradcam_layer
    grad_model = _gradient_model(predictor, layer_name)
    pixels = xray.pixels if isinstance(xray, XRay) else xray
    x = preprocess(pixels, predictor.spec)[None].astype(np.float32)
    conv, grads = _conv_and_grads(grad_model, x)
    weights = grads[0].mean(axis=(0, 1))  # one weight per channel
    cam = np.maximum((conv[0] * weights).sum(axis=-1), 0.0)
    top = float(cam.max())
    cam = cam / top if top > 0 else np.zeros_like(cam)
    h, w = pixels.shape
    img = Image.fromarray(cam.astype(np.float32), mode="F").resize((w, h), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)
