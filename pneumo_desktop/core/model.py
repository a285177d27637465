"""The Predictor: loads the bundled model and its card, checks the hash, predicts in batches.

One thread owns a Predictor (Keras models are not thread-safe): create it and call it from the
same worker thread. Keras/TensorFlow are imported only when a Predictor is created.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .card import ModelCard
from .errors import ModelError
from .paths import default_model_dir

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "gpu")
PRECISIONS = ("float32", "bfloat16")


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def calibrate(p_raw: np.ndarray, temperature: float) -> np.ndarray:
    """Temperature scaling (Guo et al. 2017): sigmoid(logit(p) / T)."""
    return (1.0 / (1.0 + np.exp(-logit(p_raw) / float(temperature)))).astype(np.float64)


@dataclass(frozen=True)
class Prediction:
    probability: float  # calibrated probability of pneumonia
    raw_probability: float  # the network's own output
    ood_score: float | None = None  # distance to the training distribution (None when unavailable)


def _quiet_backend_logs() -> None:
    # Keep TensorFlow's C++ chatter out of the terminal / windowed app.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from .quiet import import_backend  # its start-up lines come before any setting applies

    import_backend()


class Predictor:
    """Predicts calibrated pneumonia probabilities for batches of preprocessed X-rays."""

    def __init__(
        self,
        model_dir: str | Path | None = None,
        device: str = "auto",
        precision: str = "float32",
        verify: bool = True,
    ) -> None:
        if device not in DEVICES:
            raise ModelError(f"Unknown device {device!r}: choose auto, cpu or gpu.")
        if precision not in PRECISIONS:
            raise ModelError(f"Unknown precision {precision!r}: choose float32 or bfloat16.")
        t0 = time.perf_counter()
        self.card = ModelCard.load(model_dir or default_model_dir())
        # The runtime is chosen in one place, core.runtime: a lean one (OpenVINO, ONNX Runtime) when
        # the model folder holds its export and the package is installed, else TensorFlow below.
        from .runtime import for_predictor

        self.lean = for_predictor(self.card, device, precision, verify)
        if self.lean is not None:
            if verify:  # the rest of the folder (OOD reference, card fields); the .keras may be left out
                from .integrity import verify_manifest

                verify_manifest(self.card.folder, self.card.raw, frozenset({self.card.raw["model_file"]}))
            self._start_lean(precision, t0)
            return
        if verify:
            self.card.verify()
        _quiet_backend_logs()
        self.device_name = _select_device(device)
        try:
            import keras

            model = keras.models.load_model(self.card.model_path, compile=False)
        except Exception as exc:  # noqa: BLE001 - any failure to deserialise is a bad model file
            raise ModelError(f"The model file {self.card.model_path.name} cannot be loaded: {exc}") from exc
        if len(model.inputs) == 1 and len(model.outputs) == 1:
            # Same layers, single-tensor input structure: callers pass one array, not a list.
            model = keras.Model(model.inputs[0], model.outputs[0], name=model.name)
        if precision == "bfloat16":
            model = _with_policy(model, "mixed_bfloat16")
            self.device_name += " bf16"
        self.precision = precision
        self.model = model  # the setter also resets the graphs and the feature model built on it
        self._ood = None
        self._gate = False  # not loaded yet (None: the model folder ships no gate)
        spec = self.card.preprocessing
        expected = (None, spec.size, spec.size, spec.channels)
        if tuple(model.input_shape) != expected:
            raise ModelError(f"The model expects input {model.input_shape}, but its card says {expected}.")
        try:
            self.warm_up()
        except Exception as exc:  # noqa: BLE001 - e.g. a missing or mismatched OOD reference file
            raise ModelError(f"The model in {self.card.folder} cannot run: {exc}") from exc
        self.load_seconds = time.perf_counter() - t0
        log.info(
            "model %s %s ready on %s in %.1f s", self.card.name, self.card.version, self.device_name,
            self.load_seconds,
        )

    def _start_lean(self, precision: str, t0: float) -> None:
        """Set up on a lean runtime (no Keras model: ``self.model`` is None)."""
        self.device_name = self.lean.device_name
        self.precision = precision
        self.model = None
        self._ood = None
        self._gate = False  # not loaded yet (None: the model folder ships no gate)
        try:
            self.warm_up()
        except Exception as exc:  # noqa: BLE001 - e.g. a mismatched OOD reference file
            raise ModelError(f"The model in {self.card.folder} cannot run: {exc}") from exc
        self.load_seconds = time.perf_counter() - t0
        log.info("model %s %s ready on %s in %.1f s", self.card.name, self.card.version, self.device_name,
                 self.load_seconds)  # fmt: skip

    # ---------------------------------------------------------------------------------------
    @property
    def model(self):  # noqa: ANN201
        if self._model is None and self.lean is not None:  # on a lean runtime, Keras only on demand
            import keras

            model = keras.models.load_model(self.card.model_path, compile=False)
            self._model = keras.Model(model.inputs[0], model.outputs[0], name=model.name)
        return self._model

    @model.setter
    def model(self, model) -> None:  # noqa: ANN001
        """Replacing the network (e.g. the randomisation sanity check) drops what was built on it."""
        if model is not None:
            self.lean = None  # predictions and heatmaps now come from this network
        self._model = model
        self._feature_model = None
        self._graphs: dict[int, tuple] = {}
        from . import explain

        explain.forget(self)

    @property
    def spec(self):  # noqa: ANN201
        return self.card.preprocessing

    @property
    def version(self) -> str:
        return f"{self.card.name} {self.card.version}"

    def predict_raw(self, batch: np.ndarray) -> np.ndarray:
        """(N, s, s, c) preprocessed batch -> (N,) uncalibrated probabilities."""
        if len(batch) == 0:
            return np.zeros((0,), dtype=np.float64)
        if self.lean is not None:
            return self.lean.run(batch).probability
        import keras

        out = self._run(self.model, batch)
        return keras.ops.convert_to_numpy(out).astype(np.float64).reshape(-1)

    def predict_batch(self, batch: np.ndarray) -> list[Prediction]:
        """(N, s, s, c) preprocessed batch -> calibrated predictions (with OOD scores when shipped)."""
        if len(batch) == 0:
            return []
        ood = self.ood
        if ood is None:
            raw = self.predict_raw(batch)
            scores: Sequence[float | None] = [None] * len(raw)
        else:
            raw, feats = self._predict_with_features(batch)
            scores = [float(s) for s in ood.score(feats)]
        cal = calibrate(raw, self.card.temperature)
        return [
            Prediction(probability=float(c), raw_probability=float(r), ood_score=s)
            for c, r, s in zip(cal, raw, scores, strict=True)
        ]

    def predict_xrays(self, xrays: Sequence) -> list[Prediction]:  # noqa: ANN001
        from .preprocess import preprocess_batch

        return self.predict_batch(preprocess_batch(list(xrays), self.spec))

    # ---------------------------------------------------------------------------------------
    @property
    def ood(self):  # noqa: ANN201
        """The out-of-distribution reference shipped with the model, or None."""
        if self._ood is None and self.card.ood:
            from .quality import OODReference

            self._ood = OODReference.load(self.card.folder, self.card.ood)
        return self._ood

    @property
    def gate(self):  # noqa: ANN201
        """The quality gate's learned parts shipped in the model's folder (``quality.Gate``), or None."""
        if self._gate is False:
            from .quality import Gate

            self._gate = Gate.load(self.card.folder)
        return self._gate

    def _predict_with_features(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.lean is not None:
            out = self.lean.run(batch)
            return out.probability, out.pooled
        import keras

        if self._feature_model is None:
            layer = self.model.get_layer(self.ood.layer)
            self._feature_model = keras.Model(self.model.inputs[0], [self.model.output, layer.output])
        prob, feats = self._run(self._feature_model, batch)
        prob = keras.ops.convert_to_numpy(prob).astype(np.float64).reshape(-1)
        feats = keras.ops.convert_to_numpy(feats).astype(np.float64).reshape(len(batch), -1)
        return prob, feats

    def warm_up(self) -> None:
        """Trace the graph and load the OOD reference now, in the thread that loads the model.

        Otherwise the first batch of the first scan would pay for it, in the middle of the scan.
        """
        spec = self.card.preprocessing
        self.predict_batch(np.zeros((1, spec.size, spec.size, spec.channels), np.float32))
        _ = self.gate  # its small network too

    def _run(self, model, batch: np.ndarray):  # noqa: ANN001, ANN202
        """``model(batch, training=False)``, in graph mode on TensorFlow.

        A ``tf.function`` runs a batch of 32 at 160 px about 20% faster than eager mode on the 2-core
        dev machine (6.6 vs 5.4 images/s, ``benchmarks/call_paths.py``) and gives the same
        probabilities. One graph per model,
        traced once (see :meth:`warm_up`) for any batch size.
        """
        entry = self._graphs.get(id(model))
        if entry is None or entry[0] is not model:
            entry = (model, _graph_function(model))
            self._graphs[id(model)] = entry
        return entry[1](np.asarray(batch, dtype=np.float32))


def _graph_function(model):  # noqa: ANN001, ANN202
    import keras

    if keras.backend.backend() != "tensorflow":
        return lambda x: model(x, training=False)
    import tensorflow as tf

    # One trace for every batch size (a None batch dimension), so no scan ever retraces mid-way:
    # tracing holds the GIL long enough to stall a GUI thread.
    shape = (None, *tuple(model.input_shape)[1:])
    return tf.function(
        lambda x: model(x, training=False), input_signature=[tf.TensorSpec(shape, tf.float32)]
    )


def _select_device(device: str) -> str:
    """Make the backend use the requested device; return a human name for it."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if device == "gpu" and not gpus:
            raise ModelError("No GPU is available to TensorFlow on this computer; choose CPU or Auto.")
        if device == "cpu" and gpus:
            try:
                tf.config.set_visible_devices([], "GPU")
            except RuntimeError:  # already initialised: place ops explicitly instead
                log.warning("GPU already initialised; CPU placement not guaranteed")
            return "CPU"
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            return str(details.get("device_name", "GPU"))
        return "CPU"
    if backend == "jax":
        import jax

        devs = jax.devices()
        if device == "gpu" and devs[0].platform != "gpu":
            raise ModelError("No GPU is available to JAX on this computer; choose CPU or Auto.")
        if devs[0].platform == "gpu" and device != "cpu":
            return str(devs[0].device_kind)
        return "CPU"
    return "CPU"


def _with_policy(model, policy: str):  # noqa: ANN001, ANN202
    """A copy of ``model`` whose layers compute in another dtype policy (weights copied)."""
    import keras

    def clone(layer):  # noqa: ANN001, ANN202
        config = layer.get_config()
        if layer.name == model.layers[-1].name:
            config["dtype"] = "float32"  # keep the output in float32
        elif "dtype" in config:
            config["dtype"] = policy
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy
