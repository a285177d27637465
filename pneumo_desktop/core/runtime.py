"""Lean inference runtimes: the model exported to OpenVINO IR and ONNX, run without TensorFlow.

TensorFlow/Keras stays the training and reference runtime. For the app, the Keras model is
exported once (``python -m pneumo_desktop.core.runtime export resources/model``) to graphs with
three outputs, computed in one forward pass:

* ``probability``: the network's own (uncalibrated) sigmoid output, (N,); the Predictor applies
  the card's temperature exactly as it does for TensorFlow's output;
* ``cam``: the class activation map, the card's Grad-CAM layer (block5_conv4) weighted by the
  final Dense unit's kernel, (N, h, w), before the ReLU. The head is global average pooling (after
  a max pool) and one Dense unit, so Grad-CAM on that layer equals ``relu(cam)`` up to a positive
  factor (see :func:`heatmap`);
* ``pooled``: the layer the out-of-distribution reference reads (the card's ``ood.layer``, else
  the Dense unit's input), (N, k).

The exported files and their sha256 are recorded in the card under ``runtimes`` with the sha256
of the .keras file they were made from, so a stale export is never used.

**The runtime is chosen in one place**: :func:`choose_runtime`. ``PNEUMO_RUNTIME`` (``auto``,
``openvino``, ``onnxruntime``, ``tensorflow``) overrides it; ``auto`` takes OpenVINO, then ONNX
Runtime, when the export is in the model folder and the package is installed, else TensorFlow.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .card import ModelCard, sha256_file
from .errors import ModelError

log = logging.getLogger(__name__)

RUNTIME_ENV = "PNEUMO_RUNTIME"
RUNTIMES = ("auto", "openvino", "onnxruntime", "tensorflow")
#: Lean runtimes in order of preference for ``auto``.
LEAN = ("openvino", "onnxruntime")
OUTPUTS = ("probability", "cam", "pooled")
#: Python package (import name) of each lean runtime.
PACKAGES = {"openvino": "openvino", "onnxruntime": "onnxruntime"}


@dataclass(frozen=True)
class RuntimeOutputs:
    probability: np.ndarray  # (N,) float64, uncalibrated
    cam: np.ndarray  # (N, h, w) float32, class activation map before the ReLU
    pooled: np.ndarray  # (N, k) float64, the OOD layer's features


# --------------------------------------------------------------------------------------------
# The choice


def _installed(package: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def exported(card: ModelCard) -> dict[str, dict[str, Any]]:
    """The card's ``runtimes`` entries that were made from this card's model file and whose files exist."""
    entries = card.raw.get("runtimes") or {}
    usable = {}
    for name, entry in entries.items():
        if not isinstance(entry, dict) or str(entry.get("source_sha256", "")).lower() != card.sha256:
            continue
        files = entry.get("files") or {}
        if files and all((card.folder / f).is_file() for f in files):
            usable[name] = entry
    return usable


def choose_runtime(card: ModelCard, requested: str | None = None) -> str:
    """The runtime a Predictor uses for ``card``: ``openvino``, ``onnxruntime`` or ``tensorflow``.

    ``requested`` (else ``$PNEUMO_RUNTIME``, else ``auto``) names one; a named lean runtime whose
    export or package is missing raises :class:`ModelError`. ``auto`` takes the first lean runtime
    with an export in the model folder and its package installed, else TensorFlow.
    """
    requested = (requested or os.environ.get(RUNTIME_ENV) or "auto").strip().lower()
    if requested not in RUNTIMES:
        raise ModelError(f"Unknown runtime {requested!r}: choose one of {', '.join(RUNTIMES)}.")
    if requested == "tensorflow":
        return requested
    available = exported(card)
    if requested != "auto":
        if requested not in available:
            raise ModelError(
                f"The model in {card.folder} has no {requested} export for its model file "
                f"(run: python -m pneumo_desktop.core.runtime export {card.folder})."
            )
        if not _installed(PACKAGES[requested]):
            raise ModelError(f"The {requested} runtime is not installed.")
        return requested
    for name in LEAN:
        if name in available and _installed(PACKAGES[name]):
            return name
    return "tensorflow"


def load(card: ModelCard, name: str, precision: str = "float32", verify: bool = True) -> LeanModel:
    """Load the lean runtime ``name`` for ``card`` (checking the exported files' sha256)."""
    entry = exported(card).get(name)
    if entry is None:
        raise ModelError(f"The model in {card.folder} has no {name} export.")
    if verify:
        for rel, digest in entry["files"].items():
            actual = sha256_file(card.folder / rel)
            if actual != str(digest).lower():
                raise ModelError(
                    f"The exported model file {rel} does not match its model card (sha256 {actual[:12]}...)."
                    " It may be damaged or replaced; reinstall the app or export it again."
                )
    cls = {"openvino": OpenVINOModel, "onnxruntime": OnnxModel}[name]
    try:
        return cls(card, entry, precision)
    except ModelError:
        raise
    except Exception as exc:  # any failure to load is a bad export or runtime
        raise ModelError(f"The {name} model in {card.folder} cannot be loaded: {exc}") from exc


def for_predictor(card: ModelCard, device: str, precision: str, verify: bool = True) -> LeanModel | None:
    """The lean model a Predictor should run, or None for TensorFlow/Keras (the hook in Predictor).

    A GPU request stays with TensorFlow (the lean runtimes here are CPU builds). When ``auto``
    picked a lean runtime that fails to load, TensorFlow takes over if it is installed.
    """
    if device == "gpu":
        return None
    requested = (os.environ.get(RUNTIME_ENV) or "auto").strip().lower()
    name = choose_runtime(card, requested)
    if name == "tensorflow":
        return None
    try:
        return load(card, name, precision, verify=verify)
    except ModelError as exc:
        if requested != "auto" or not _installed("tensorflow"):
            raise
        log.warning("%s; falling back to TensorFlow", exc)
        return None


# --------------------------------------------------------------------------------------------
# The runtimes


class LeanModel:
    """One exported model, run by one thread: ``run(batch) -> RuntimeOutputs``."""

    runtime = ""
    device_name = "CPU"

    def __init__(self, card: ModelCard, entry: dict[str, Any], precision: str) -> None:
        self.card = card
        self.entry = entry
        self.precision = precision
        self.output_names = tuple(entry.get("outputs", OUTPUTS))

    def _run(self, batch: np.ndarray) -> list[np.ndarray]:
        raise NotImplementedError

    def run(self, batch: np.ndarray) -> RuntimeOutputs:
        x = np.ascontiguousarray(batch, dtype=np.float32)
        values = dict(zip(self.output_names, self._run(x), strict=True))
        n = len(x)
        return RuntimeOutputs(
            probability=np.asarray(values["probability"], dtype=np.float64).reshape(n),
            cam=np.asarray(values["cam"], dtype=np.float32),
            pooled=np.asarray(values["pooled"], dtype=np.float64).reshape(n, -1),
        )


def import_openvino():
    """``import openvino`` without its model converter, which the app never uses.

    Importing ``openvino`` also imports ``openvino.tools.ovc`` (``convert_model``), and that starts
    OpenVINO's usage telemetry (openvino-telemetry: a sender thread, a consent check in the home
    folder). An offline medical app wants none of it, so the converter's import is made to fail
    (``None`` in ``sys.modules``), which OpenVINO's ``__init__`` tolerates; the frozen app does not
    bundle ``openvino.tools`` at all. :func:`export` imports the converter explicitly.
    """
    if "openvino" not in sys.modules:
        blocked = "openvino.tools.ovc" not in sys.modules
        if blocked:
            sys.modules["openvino.tools.ovc"] = None  # type: ignore[assignment]  # None blocks the import
        try:
            import openvino  # noqa: F401
        finally:
            if blocked:
                del sys.modules["openvino.tools.ovc"]
    return sys.modules["openvino"]


class OpenVINOModel(LeanModel):
    """OpenVINO's CPU plugin. ``bfloat16`` asks for bf16 inference (AMX / AVX-512 BF16 CPUs)."""

    runtime = "openvino"
    #: Threads not pinned to cores: the app shares the CPU with its GUI and with other programs, and
    #: a pinned thread cannot move off a core that another process is using.
    config: dict[str, Any] = {"ENABLE_CPU_PINNING": False}

    def __init__(self, card: ModelCard, entry: dict[str, Any], precision: str) -> None:
        super().__init__(card, entry, precision)
        ov = import_openvino()
        core = ov.Core()
        xml = next(f for f in entry["files"] if f.endswith(".xml"))
        model = core.read_model(str(card.folder / xml))
        config = dict(self.config, INFERENCE_PRECISION_HINT="bf16" if precision == "bfloat16" else "f32")
        self.compiled = core.compile_model(model, "CPU", config)
        self.request = self.compiled.create_infer_request()
        self.outputs = [self.compiled.output(i) for i in range(len(self.output_names))]
        actual = self.compiled.get_property("INFERENCE_PRECISION_HINT")
        actual = actual.to_string() if hasattr(actual, "to_string") else str(actual)
        self.device_name = f"CPU (OpenVINO {ov.get_version().split('-')[0]}, {actual})"

    def _run(self, batch: np.ndarray) -> list[np.ndarray]:
        result = self.request.infer({0: batch})
        return [np.array(result[o]) for o in self.outputs]


class OnnxModel(LeanModel):
    """ONNX Runtime's CPU execution provider (float32 only)."""

    runtime = "onnxruntime"

    def __init__(self, card: ModelCard, entry: dict[str, Any], precision: str) -> None:
        super().__init__(card, entry, "float32")  # no bfloat16 on ONNX Runtime's CPU provider
        import onnxruntime as ort

        path = next(f for f in entry["files"] if f.endswith(".onnx"))
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            str(card.folder / path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name
        self.device_name = f"CPU (ONNX Runtime {ort.__version__}, f32)"

    def _run(self, batch: np.ndarray) -> list[np.ndarray]:
        return list(self.session.run(None, {self.input_name: batch}))


# --------------------------------------------------------------------------------------------
# Heatmaps from the cam output


def heatmap(cam: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """One image's class activation map (h, w) -> heatmap in [0, 1] of ``shape`` (rows, columns).

    Normalised and resized exactly as :func:`pneumo_desktop.core.explain.gradcam` does, so the two
    agree wherever Grad-CAM equals the CAM (ours: GAP head with one Dense unit).
    """
    from PIL import Image

    cam = np.maximum(np.asarray(cam, dtype=np.float32), 0.0)
    top = float(cam.max())
    cam = cam / top if top > 0 else np.zeros_like(cam)
    h, w = shape
    img = Image.fromarray(cam.astype(np.float32), mode="F").resize((w, h), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)


def lean_heatmap(predictor, xray) -> np.ndarray:
    """Grad-CAM's heatmap for one X-ray (or gray array) from a lean Predictor's forward pass."""
    from .io import XRay
    from .preprocess import preprocess

    pixels = xray.pixels if isinstance(xray, XRay) else xray
    x = preprocess(pixels, predictor.spec)[None].astype(np.float32)
    return heatmap(predictor.lean.run(x).cam[0], pixels.shape)


# --------------------------------------------------------------------------------------------
# Export (needs TensorFlow and Keras; run from a source checkout)


def _three_output_function(card: ModelCard):
    """A ``tf.function`` x -> (probability, cam, pooled) on the card's Keras model."""
    import keras
    import tensorflow as tf

    model = keras.models.load_model(card.model_path, compile=False)
    last = model.layers[-1]
    if not isinstance(last, keras.layers.Dense) or last.units != 1:
        raise ModelError("The export needs a model that ends in one Dense unit (a CAM head).")
    conv = model.get_layer(card.gradcam_layer).output
    pooled_name = (card.ood or {}).get("layer")
    pooled = model.get_layer(pooled_name).output if pooled_name else last.input
    inner = keras.Model(model.inputs[0], [model.outputs[0], conv, pooled])
    weights = keras.ops.convert_to_numpy(last.kernel)[:, 0].astype(np.float32)
    spec = card.preprocessing
    signature = [tf.TensorSpec((None, spec.size, spec.size, spec.channels), tf.float32, name="image")]

    @tf.function(input_signature=signature)
    def forward(image):
        prob, features, feats = inner(image, training=False)
        kernel = tf.constant(weights)  # made inside the graph: a constant, not a captured input
        cam = tf.einsum("nhwc,c->nhw", tf.cast(features, tf.float32), kernel)
        return (
            tf.identity(tf.reshape(tf.cast(prob, tf.float32), [-1]), name="probability"),
            tf.identity(cam, name="cam"),
            tf.identity(tf.cast(feats, tf.float32), name="pooled"),
        )

    return forward, signature


def export(model_dir: str | Path, formats: tuple[str, ...] = LEAN, compress_fp16: bool = False) -> dict:
    """Export the card's Keras model to OpenVINO IR and/or ONNX; record the files in the card."""
    import json

    from .card import CARD_NAME, write_card

    folder = Path(model_dir)
    card = ModelCard.load(folder)
    card.verify()
    forward, signature = _three_output_function(card)
    stem = Path(card.model_file).stem
    data = json.loads((folder / CARD_NAME).read_text(encoding="utf-8"))
    runtimes = dict(data.get("runtimes") or {})
    for fmt in formats:
        t0 = time.perf_counter()
        if fmt == "openvino":
            import openvino as ov
            from openvino.tools.ovc import convert_model

            ov_model = convert_model(forward)
            for i, name in enumerate(OUTPUTS):
                ov_model.outputs[i].get_tensor().set_names({name})
            ov_model.inputs[0].get_tensor().set_names({"image"})
            xml = folder / f"{stem}.xml"
            ov.save_model(ov_model, str(xml), compress_to_fp16=compress_fp16)
            files = [xml.name, xml.with_suffix(".bin").name]
            tool = f"openvino {ov.get_version().split('-')[0]} convert_model(tf.function)"
            tool += ", fp16 weights" if compress_fp16 else ", f32 weights"
        elif fmt == "onnxruntime":
            import tf2onnx

            path = folder / f"{stem}.onnx"
            tf2onnx.convert.from_function(forward, input_signature=signature, opset=17, output_path=str(path))
            files = [path.name]
            tool = f"tf2onnx {tf2onnx.__version__} opset 17"
        else:
            raise ModelError(f"Unknown export format {fmt!r}: choose openvino or onnxruntime.")
        runtimes[fmt] = {
            "files": {f: sha256_file(folder / f) for f in files},
            "outputs": list(OUTPUTS),
            "source_sha256": card.sha256,
            "converter": tool,
            "command": f"python -m pneumo_desktop.core.runtime export <model folder> --format {fmt}",
        }
        log.info("exported %s for %s in %.1f s: %s", fmt, card.model_file, time.perf_counter() - t0, files)
    data["runtimes"] = runtimes
    write_card(folder, data)
    return runtimes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pneumo_desktop.core.runtime", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("export", help="export a model folder's .keras to OpenVINO IR and ONNX")
    ex.add_argument("model_dir", type=Path)
    ex.add_argument("--format", choices=LEAN, action="append", help="default: both")
    ex.add_argument(
        "--fp16-weights", action="store_true", help="OpenVINO IR with fp16 weights (half the size)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        runtimes = export(args.model_dir, tuple(args.format or LEAN), compress_fp16=args.fp16_weights)
    except ModelError as exc:
        log.error("%s", exc)
        return 1
    for name, entry in runtimes.items():
        for f in entry["files"]:
            size = (args.model_dir / f).stat().st_size / 2**20
            sys.stdout.write(f"{name}: {args.model_dir / f} ({size:.1f} MB)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
