"""Grad-CAM heatmaps (Selvaraju et al. 2017) on the model's last convolutional block.

The gradient model is built once per loaded model and kept by that Predictor (``grad_cache``,
emptied when its network is replaced): no module-level cache outlives a model. Call from the
thread that owns the Predictor. Works on the TensorFlow and JAX backends.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from .io import XRay
from .preprocess import preprocess

log = logging.getLogger(__name__)

def _gradient_model(predictor, layer_name: str):
    """(grad_model, conv_and_grads) for the predictor's model, built once and cached.

    The class score is the logit of the pneumonia probability. When the model ends in a sigmoid
    ``Dense`` unit (ours does), the logit is computed from that layer's input and weights, not from
    the probability: a confident model's probability rounds to exactly 1.0 in float32, and the
    gradient through a saturated sigmoid is zero, which would give an empty heatmap.
    """
    import keras

    cache: dict[str, tuple[Any, Any]] | None = getattr(predictor, "grad_cache", None)
    if cache is not None and layer_name in cache:
        return cache[layer_name]
    model = predictor.model
    conv = model.get_layer(layer_name).output
    last = model.layers[-1]
    if isinstance(last, keras.layers.Dense) and getattr(last.activation, "__name__", "") == "sigmoid":
        grad_model = keras.Model(model.inputs[0], [conv, last.input])

        def score(features):
            logits = keras.ops.matmul(keras.ops.cast(features, "float32"), last.kernel) + last.bias
            return keras.ops.sum(logits)
    else:
        grad_model = keras.Model(model.inputs[0], [conv, model.output])
        score = _score_from_probability
    fn = _conv_and_grads_fn(grad_model, score)
    if cache is not None:  # a predictor without one (a stand-in) builds it on each call
        cache[layer_name] = (grad_model, fn)
    return grad_model, fn


def forget(predictor) -> None:
    """Drop the gradient models ``predictor`` keeps (its network was replaced)."""
    cache = getattr(predictor, "grad_cache", None)
    if cache is not None:
        cache.clear()


def _score_from_probability(prob):
    """The logit of a probability output (zero gradient where the probability saturates)."""
    import keras

    p = keras.ops.clip(keras.ops.cast(prob, "float32"), 1e-6, 1 - 1e-6)
    return keras.ops.sum(keras.ops.log(p) - keras.ops.log(1 - p))


def _conv_and_grads_fn(grad_model, score):
    """x -> (conv activations, d score / d activations) as numpy arrays.

    On TensorFlow the gradient is taken inside a ``tf.function``: for one image it is several
    times faster than eager mode (162 vs 767 ms at 160 px on the 2-core dev machine,
    ``benchmarks/call_paths.py``), because the eager tape pays overhead for every operation.
    """
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(reduce_retracing=True)
        def graph(xt):
            with tf.GradientTape() as tape:
                conv, out = grad_model(xt, training=False)
                tape.watch(conv)
                value = score(out)
            return conv, tape.gradient(value, conv)

        def tf_fn(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            conv, grads = graph(tf.convert_to_tensor(x))
            return conv.numpy(), grads.numpy()

        return tf_fn
    if backend == "jax":
        import jax

        head = _head_after(grad_model)

        def jax_fn(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            conv, _ = grad_model(x, training=False)
            grads = jax.grad(lambda c: score(head(c)))(conv)
            return np.asarray(conv), np.asarray(grads)

        return jax_fn
    raise NotImplementedError(f"Grad-CAM is not implemented for the {backend} backend")


def _head_after(grad_model):
    """The layers after the conv layer as a function (the head of a VGG-style chain is linear)."""
    conv_name = grad_model.outputs[0]._keras_history.operation.name
    names = [layer.name for layer in grad_model.layers]
    after = grad_model.layers[names.index(conv_name) + 1 :]

    def head(c):
        for layer in after:
            c = layer(c, training=False) if "dropout" in layer.name else layer(c)
        return c

    return head


def gradcam(predictor, xray: XRay | np.ndarray, layer: str | None = None) -> np.ndarray:
    """Heatmap in [0, 1] with the shape of ``xray.pixels`` (where the model looked for pneumonia)."""
    from PIL import Image

    layer_name = layer or predictor.card.gradcam_layer
    if getattr(predictor, "lean", None) is not None and layer_name == predictor.card.gradcam_layer:
        from .runtime import lean_heatmap  # a lean runtime's forward pass returns the CAM

        return lean_heatmap(predictor, xray)
    _, conv_and_grads = _gradient_model(predictor, layer_name)
    pixels = xray.pixels if isinstance(xray, XRay) else xray
    x = preprocess(pixels, predictor.spec)[None].astype(np.float32)
    conv, grads = conv_and_grads(x)
    weights = grads[0].mean(axis=(0, 1))  # one weight per channel
    cam = np.maximum((conv[0] * weights).sum(axis=-1), 0.0)
    top = float(cam.max())
    cam = cam / top if top > 0 else np.zeros_like(cam)
    h, w = pixels.shape
    img = Image.fromarray(cam.astype(np.float32), mode="F").resize((w, h), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)
