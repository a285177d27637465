"""The network: Keras' VGG19 base and a small head, one flat functional graph.

Backend-neutral (TensorFlow on CPUs here, JAX on GPU machines). The VGG layer names are kept,
so Grad-CAM can find ``block5_conv4``.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

GRADCAM_LAYER = "block5_conv4"
OUTPUT_NAME = "pneumonia"


def build_model(size: int, channels: int = 3, weights: str = "none", dropout: float = 0.3, seed: int = 0):
    """VGG19 base + global average pooling + dropout + one sigmoid unit (float32 output).

    ``weights``: ``"imagenet"`` (needs Keras' download or cache), ``"none"`` (random init with
    He-normal conv kernels, which VGG19 needs to learn from scratch), or a path to a VGG19
    "notop" weights file.
    """
    import keras

    inputs = keras.Input(shape=(size, size, channels), name="image")
    keras_weights = "imagenet" if weights == "imagenet" else None
    base = keras.applications.VGG19(include_top=False, weights=keras_weights, input_tensor=inputs)
    if weights not in ("imagenet", "none"):
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(f"weights file not found: {path}")
        base.load_weights(str(path))
        log.info("loaded base weights from %s", path)
    if weights == "none":
        he = keras.initializers.HeNormal(seed=seed)
        for layer in base.layers:
            if isinstance(layer, keras.layers.Conv2D):
                kernel, bias = layer.get_weights()
                layer.set_weights([keras.ops.convert_to_numpy(he(kernel.shape)), bias * 0])
    x = keras.layers.GlobalAveragePooling2D(name="gap")(base.output)
    x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    out = keras.layers.Dense(1, activation="sigmoid", dtype="float32", name=OUTPUT_NAME)(x)
    model = keras.Model(inputs, out, name="pneumo_vgg19")
    return model


def base_layers(model) -> list:
    return [layer for layer in model.layers if layer.name.startswith("block")]


def set_base_trainable(model, mode: str) -> None:
    """``all``, ``none`` (frozen base: the head alone trains), ``block5`` (fine-tune top block) or
    ``from-blockN`` (blocks N..5 train: a cheaper fine-tune, no backward pass through blocks < N)."""
    for layer in base_layers(model):
        if mode == "all":
            layer.trainable = True
        elif mode == "none":
            layer.trainable = False
        elif mode == "block5":
            layer.trainable = layer.name.startswith("block5")
        elif mode.startswith("from-block"):  # e.g. from-block4: blocks 4 and 5 train, 1-3 frozen
            first = int(mode.removeprefix("from-block"))
            layer.trainable = int(layer.name[len("block")]) >= first
        else:
            raise ValueError(mode)


def as_float32(model):
    """A float32 copy of a (possibly mixed-precision) model, for shipping."""
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        clone = keras.models.clone_model(
            model,
            clone_function=lambda layer: layer.__class__.from_config(
                {**layer.get_config(), "dtype": "float32"}
            ),
        )
    finally:
        keras.config.set_dtype_policy(previous)
    clone.set_weights(model.get_weights())
    return keras.Model(clone.inputs[0], clone.outputs[0], name=model.name)
