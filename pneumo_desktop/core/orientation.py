"""A small learned check of how a chest film is presented: orientation, polarity, field of view.

A separate little CNN (see ``training/orientation.py``), independent of the pneumonia model's
weights, looks at a 64 x 64 thumbnail of the film and predicts three things:

* orientation: upright, rotated 90 degrees clockwise, rotated 90 degrees anticlockwise, or upside
  down (rotated 180 degrees or flipped top to bottom; a left-right mirror counts as upright);
* polarity: normal (bone bright) or inverted (a negative);
* field of view: the lungs fully in view, or cropped (only the top half, a heavy zoom...).

Its files travel in the model folder (``gate_orientation.keras`` + ``gate_orientation.json``,
the json holding the input size, the classes, the thresholds and the measured accuracy). Keras is
imported only when :class:`OrientationNet` is created, by the thread that owns the main model.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .preprocess import normalise, resize_gray
from .quality_issue import QualityIssue

log = logging.getLogger(__name__)

CONFIG_NAME = "gate_orientation.json"
ORIENTATIONS = ("upright", "rotated_cw", "rotated_ccw", "upside_down")
DEFAULT_SIZE = 64


def prepare(pixels: np.ndarray, size: int = DEFAULT_SIZE) -> np.ndarray:
    """Display-ready gray pixels (2-D, [0, 1]) -> the network's (size, size, 1) input.

    The same function feeds training and the app: squash to ``size`` x ``size`` (PIL bilinear)
    then per-image standardisation.
    """
    return normalise(resize_gray(np.asarray(pixels, dtype=np.float32), size))[..., None]


@dataclass(frozen=True)
class PresentationVerdict:
    """What the network thinks of one film (probabilities in [0, 1])."""

    orientation: tuple[float, ...]  # one probability per ORIENTATIONS entry
    inverted: float
    cropped: float

    @property
    def not_upright(self) -> float:
        return float(1.0 - self.orientation[0])

    @property
    def likely_orientation(self) -> str:
        return ORIENTATIONS[int(np.argmax(self.orientation))]


@dataclass(frozen=True)
class PresentationThresholds:
    not_upright: float = 0.5
    inverted: float = 0.5
    cropped: float = 0.5

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PresentationThresholds:
        return cls(
            not_upright=float(data.get("not_upright", 0.5)),
            inverted=float(data.get("inverted", 0.5)),
            cropped=float(data.get("cropped", 0.5)),
        )


def presentation_issue(verdict: PresentationVerdict, thresholds: PresentationThresholds) -> QualityIssue | None:
    """The :class:`~pneumo_desktop.core.quality_issue.QualityIssue` for a badly presented film, or None.

    Orientation is checked first (an upside-down negative is reported as upside down).
    """
    if verdict.not_upright > thresholds.not_upright:
        kind = verdict.likely_orientation
        if kind == "upright":  # not upright overall, but no single rotation dominates
            kind = ORIENTATIONS[1 + int(np.argmax(verdict.orientation[1:]))]
        if kind == "upside_down":
            return QualityIssue(
                "upside_down",
                "The film appears to be upside down (rotated 180 degrees or flipped top to bottom); "
                "turn it upright and scan it again.",
            )
        way = "clockwise" if kind == "rotated_cw" else "anticlockwise"
        return QualityIssue(
            "rotated",
            f"The film appears to be rotated by 90 degrees ({way}); the model only judges upright "
            "frontal films. Turn it upright and scan it again.",
        )
    if verdict.inverted > thresholds.inverted:
        return QualityIssue(
            "inverted",
            "The film appears to be inverted (a negative: bones dark, lungs bright); the model only "
            "judges films with bones bright. Export it with the usual polarity and scan it again.",
        )
    if verdict.cropped > thresholds.cropped:
        return QualityIssue(
            "cropped",
            "The lungs do not appear to be fully in view (only part of the chest, e.g. the top half, "
            "or a heavy crop); the model only judges whole frontal chest films.",
        )
    return None


#: Output order of the exported graph (OpenVINO), the network's dict keys.
HEADS = ("orientation", "inverted", "cropped")


class OrientationNet:
    """Loads the network and judges batches of prepared thumbnails.

    The OpenVINO export (``gate_orientation.xml``/``.bin``, hashes in ``gate_orientation.json``)
    runs where it was made from this very ``.keras`` and OpenVINO is installed (the lean bundle has
    no Keras); else Keras. ``PNEUMO_RUNTIME=tensorflow`` forces Keras. Create it and call it from
    one thread (the one that owns the main model).
    """

    def __init__(self, folder: str | Path) -> None:
        folder = Path(folder)
        self.config: dict[str, Any] = json.loads((folder / CONFIG_NAME).read_text(encoding="utf-8"))
        self.size = int(self.config.get("input_size", DEFAULT_SIZE))
        self.thresholds = PresentationThresholds.from_dict(self.config.get("thresholds", {}))
        self.runtime = "openvino" if _openvino_export(folder, self.config) else "keras"
        if self.runtime == "openvino":
            from .runtime import import_openvino

            ov = import_openvino()
            xml = next(f for f in self.config["openvino"]["files"] if f.endswith(".xml"))
            compiled = ov.Core().compile_model(str(folder / xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
            request = compiled.create_infer_request()
            outputs = [compiled.output(name) for name in HEADS]

            def run(x: np.ndarray) -> dict[str, np.ndarray]:
                result = request.infer({0: x})
                return {name: np.array(result[o]) for name, o in zip(HEADS, outputs, strict=True)}

            self._fn = run
        else:
            import keras

            model = keras.models.load_model(folder / self.config["model_file"], compile=False)
            self.model = model
            self._fn = _graph_function(model, self.size)
        self._fn(np.zeros((1, self.size, self.size, 1), np.float32))  # trace/compile now, not mid-scan
        log.info("orientation/polarity/field-of-view check loaded from %s (%s)", folder, self.runtime)

    @staticmethod
    def available(folder: str | Path) -> bool:
        return (Path(folder) / CONFIG_NAME).is_file()

    def predict(self, batch: np.ndarray) -> list[PresentationVerdict]:
        """(N, size, size, 1) prepared thumbnails -> one verdict each."""
        if len(batch) == 0:
            return []
        out = self._fn(np.asarray(batch, dtype=np.float32))
        return verdicts_from_outputs(out)

    def judge(self, thumbs: Sequence[np.ndarray]):
        """Prepared thumbnails -> the quality issue for each (None when well presented)."""
        if not thumbs:
            return []
        verdicts = self.predict(np.stack(list(thumbs)))
        return [presentation_issue(v, self.thresholds) for v in verdicts]


def verdicts_from_outputs(out: Any) -> list[PresentationVerdict]:
    """The network's dict of outputs (``orientation``, ``inverted``, ``cropped``) -> verdicts."""
    orient = np.asarray(out["orientation"]).astype(np.float64)
    inv = np.asarray(out["inverted"]).astype(np.float64).reshape(-1)
    crop = np.asarray(out["cropped"]).astype(np.float64).reshape(-1)
    return [
        PresentationVerdict(orientation=tuple(float(p) for p in o), inverted=float(i), cropped=float(c))
        for o, i, c in zip(orient, inv, crop, strict=True)
    ]


def _openvino_export(folder: Path, config: dict[str, Any]) -> bool:
    """Whether the folder holds an OpenVINO export of this very network, and OpenVINO is usable."""
    import importlib.util
    import os

    entry = config.get("openvino") or {}
    files = entry.get("files") or {}
    if not files or (os.environ.get("PNEUMO_RUNTIME") or "").strip().lower() == "tensorflow":
        return False
    if not all((folder / f).is_file() for f in files) or importlib.util.find_spec("openvino") is None:
        return False
    from .card import sha256_file

    keras_file = folder / config["model_file"]
    if keras_file.is_file() and sha256_file(keras_file) != entry.get("source_sha256"):
        log.warning("the orientation network's OpenVINO export is of another .keras; using Keras")
        return False
    return all(sha256_file(folder / f) == digest for f, digest in files.items())


def export_openvino(folder: str | Path) -> dict[str, Any]:
    """Export ``gate_orientation.keras`` to OpenVINO IR beside it; record it in its json."""
    import keras
    import openvino as ov
    import tensorflow as tf
    from openvino.tools.ovc import convert_model

    from .card import sha256_file

    folder = Path(folder)
    path = folder / CONFIG_NAME
    config = json.loads(path.read_text(encoding="utf-8"))
    size = int(config.get("input_size", DEFAULT_SIZE))
    model = keras.models.load_model(folder / config["model_file"], compile=False)

    @tf.function(input_signature=[tf.TensorSpec((None, size, size, 1), tf.float32, name="thumb")])
    def forward(thumb):
        out = model(thumb, training=False)
        return tuple(tf.identity(tf.cast(out[h], tf.float32), name=h) for h in HEADS)

    ov_model = convert_model(forward)
    for i, name in enumerate(HEADS):
        ov_model.outputs[i].get_tensor().set_names({name})
    xml = folder / (Path(config["model_file"]).stem + ".xml")
    ov.save_model(ov_model, str(xml), compress_to_fp16=False)
    files = [xml.name, xml.with_suffix(".bin").name]
    config["openvino"] = {
        "files": {f: sha256_file(folder / f) for f in files},
        "source_sha256": sha256_file(folder / config["model_file"]),
        "converter": f"openvino {ov.get_version().split('-')[0]} convert_model(tf.function), f32 weights",
        "command": "python -m pneumo_desktop.core.orientation export <model folder>",
    }
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return config["openvino"]


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m pneumo_desktop.core.orientation")
    parser.add_argument("command", choices=["export"])
    parser.add_argument("folder", help="model folder holding gate_orientation.json/.keras")
    args = parser.parse_args(argv)
    entry = export_openvino(args.folder)
    logging.getLogger(__name__).info("exported %s", ", ".join(entry["files"]))
    return 0


def _graph_function(model, size: int):
    import keras

    if keras.backend.backend() != "tensorflow":
        return lambda x: model(x, training=False)
    import tensorflow as tf

    return tf.function(
        lambda x: model(x, training=False), input_signature=[tf.TensorSpec((None, size, size, 1), tf.float32)]
    )


if __name__ == "__main__":
    raise SystemExit(main())
