"""Builds a tiny Keras model with a valid model card, for fast tests of the loading code."""

from __future__ import annotations

from pathlib import Path


def make_tiny_model_dir(folder: Path, size: int = 32, threshold: float = 0.5, temperature: float = 1.0) -> Path:
    import keras
    import numpy as np

    from pneumo_desktop.core.card import sha256_file, write_card

    keras.utils.set_random_seed(0)
    inputs = keras.Input((size, size, 3), name="image")
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="block5_conv4")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    out = keras.layers.Dense(1, activation="sigmoid", name="pneumonia")(x)
    model = keras.Model(inputs, out)
    # Make the output depend on image content (brighter centre -> higher probability).
    w = model.get_layer("pneumonia").get_weights()
    model.get_layer("pneumonia").set_weights([np.ones_like(w[0]) * 0.5, np.zeros_like(w[1])])
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / "tiny.keras")
    write_card(
        folder,
        {
            "name": "tiny-test-model",
            "version": "0.0.1",
            "model_file": "tiny.keras",
            "sha256": sha256_file(folder / "tiny.keras"),
            "labels": ["NORMAL", "PNEUMONIA"],
            "preprocessing": {"size": size, "channels": 3, "resize": "squash",
                              "normalisation": "per_image_standardise"},
            "threshold": threshold,
            "temperature": temperature,
            "gradcam_layer": "block5_conv4",
        },
    )
    return folder
