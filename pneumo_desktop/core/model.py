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
from typing import TYPE_CHECKING, Any

import numpy as np

from . import heatmap
from . import precision as precisions
from .card import ModelCard
from .errors import ModelError
from .options import DEVICES, PRECISIONS  # re-exported here: the one list of each
from .paths import default_model_dir

if TYPE_CHECKING:
    from .quality import Gate, OODReference
    from .runtime import LeanModel

log = logging.getLogger(__name__)


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
    cam: np.ndarray | None = None  # (h, w) class activation map in [0, 1] from the same pass (core.heatmap)


def _quiet_backend_logs() -> None:
    # Keep TensorFlow's C++ chatter out of the terminal / windowed app.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from .quiet import import_backend  # its start-up lines come before any setting applies

    import_backend()


class Predictor:
    """Predicts calibrated pneumonia probabilities for batches of preprocessed X-rays."""

    lean: LeanModel | None  # an exported model on a lean runtime, or None: Keras
    _model: Any  # the Keras model (None on a lean runtime until asked for)
    _feature_model: Any
    _ood: OODReference | None
    _gate: Gate | None | bool  # False: not loaded yet; None: the model folder ships no gate

    def __init__(
        self,
        model_dir: str | Path | None = None,
        device: str = "auto",
        precision: str = "auto",
        verify: bool = True,
    ) -> None:
        if device not in DEVICES:
            raise ModelError(f"Unknown device {device!r}: choose auto, cpu or gpu.")
        if precision not in PRECISIONS:
            raise ModelError(f"Unknown precision {precision!r}: choose auto, float32 or bfloat16.")
        t0 = time.perf_counter()
        self.card = ModelCard.load(model_dir or default_model_dir())
        # The runtime is chosen in one place, core.runtime: a lean one (OpenVINO, ONNX Runtime) when
        # the model folder holds its export and the package is installed, else TensorFlow below.
        from .runtime import for_predictor

        self.requested_precision = precision
        lean_choice = precisions.choose(precision, on_gpu=False) if device != "gpu" else None
        self.lean = for_predictor(self.card, device, lean_choice.precision if lean_choice else precision, verify)
        if self.lean is not None:
            self.precision_reason = lean_choice.reason if lean_choice else ""
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
        except Exception as exc:  # any failure to deserialise is a bad model file
            raise ModelError(f"The model file {self.card.model_path.name} cannot be loaded: {exc}") from exc
        if len(model.inputs) == 1 and len(model.outputs) == 1:
            # Same layers, single-tensor input structure: callers pass one array, not a list.
            model = keras.Model(model.inputs[0], model.outputs[0], name=model.name)
        spec = self.card.preprocessing
        expected = (None, spec.size, spec.size, spec.channels)
        if tuple(model.input_shape) != expected:
            raise ModelError(f"The model expects input {model.input_shape}, but its card says {expected}.")
        self.requested_precision = precision
        self._ood = None
        self._gate = False  # not loaded yet (None: the model folder ships no gate)
        self.model, self.precision, self.precision_reason = _choose_model(self, model, precision)
        if self.precision == "bfloat16":
            self.device_name += " bf16"
        try:
            self.warm_up()
        except Exception as exc:  # e.g. a missing or mismatched OOD reference file
            raise ModelError(f"The model in {self.card.folder} cannot run: {exc}") from exc
        self.load_seconds = time.perf_counter() - t0
        log.info(
            "model %s %s ready on %s in %.1f s (%s: %s)", self.card.name, self.card.version, self.device_name,
            self.load_seconds, self.precision, self.precision_reason,
        )

    def _start_lean(self, precision: str, t0: float) -> None:
        """Set up on a lean runtime (no Keras model: ``self.model`` is None)."""
        assert self.lean is not None
        self.precision = self.lean.precision
        if self.precision == "bfloat16":
            self._check_lean_parity(precision)
        self.device_name = self.lean.device_name
        self.model = None
        self._ood = None
        self._gate = False  # not loaded yet (None: the model folder ships no gate)
        try:
            self.warm_up()
        except Exception as exc:  # e.g. a mismatched OOD reference file
            raise ModelError(f"The model in {self.card.folder} cannot run: {exc}") from exc
        self.load_seconds = time.perf_counter() - t0
        log.info("model %s %s ready on %s in %.1f s", self.card.name, self.card.version, self.device_name,
                 self.load_seconds)  # fmt: skip

    def _check_lean_parity(self, requested: str) -> None:
        """The bfloat16 export must give the float32 export's labels and probabilities within 0.01 on
        the sample films (core.precision, remembered per model and machine); under ``auto`` a
        failing check falls back to float32, as the TensorFlow path does."""
        from .preprocess import preprocess_batch
        from .runtime import load

        assert self.lean is not None
        runtime = self.lean.runtime
        key = precisions.parity_key(f"{self.card.sha256}:{runtime}", requested)
        parity = precisions.cached_parity(key)
        how = "checked earlier on this machine" if parity is not None else "checked now"
        if parity is None:
            reference = load(self.card, runtime, "float32", verify=False)
            spec = self.card.preprocessing
            films = preprocess_batch(precisions.sample_films(spec.size), spec)

            def probs(lean):
                return lambda x: calibrate(lean.run(x).probability, self.card.temperature)

            parity = precisions.check_parity(probs(reference), probs(self.lean), films, self.card.threshold)
            precisions.remember_parity(key, parity)
        if parity.ok or requested == "bfloat16":
            self.precision_reason += f"; parity with float32 {'holds' if parity.ok else 'FAILS'} ({how})"
            return
        log.warning("bfloat16 differs from float32 (%s); using float32", parity.describe())
        self.lean = load(self.card, runtime, "float32", verify=False)
        self.precision, self.precision_reason = "float32", f"bfloat16 parity failed: {parity.describe()}"

    # ---------------------------------------------------------------------------------------
    @property
    def model(self):
        if self._model is None and self.lean is not None:  # on a lean runtime, Keras only on demand
            import keras

            model = keras.models.load_model(self.card.model_path, compile=False)
            self._model = keras.Model(model.inputs[0], model.outputs[0], name=model.name)
        return self._model

    @model.setter
    def model(self, model) -> None:
        """Replacing the network (e.g. the randomisation sanity check) drops what was built on it."""
        if model is not None:
            self.lean = None  # predictions and heatmaps now come from this network
        self._model = model
        self._feature_model = None
        self._cam_head = heatmap.cam_head(model, self.card.gradcam_layer) if model is not None else None
        self._graphs: dict[int, tuple] = {}
        #: core.explain's gradient models for this network, by layer name (built on first use).
        self.grad_cache: dict[str, tuple] = {}

    @property
    def spec(self):
        return self.card.preprocessing

    @property
    def has_cam(self) -> bool:
        """Whether predictions carry the class activation map (the heatmap) from the forward pass."""
        if self.lean is not None:  # the exported graph's second output
            return "cam" in self.lean.output_names
        return self._cam_head is not None

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
        if ood is None and not self.has_cam:
            raw = self.predict_raw(batch)
            scores: Sequence[float | None] = [None] * len(raw)
            cams: Sequence[np.ndarray | None] = [None] * len(raw)
        else:
            raw, feats, cam = self._predict_with_features(batch)
            scores = [float(s) for s in ood.score(feats)] if ood is not None else [None] * len(raw)
            cams = list(heatmap.normalise(cam)) if cam is not None else [None] * len(raw)
        cal = calibrate(raw, self.card.temperature)
        return [
            Prediction(probability=float(c), raw_probability=float(r), ood_score=s, cam=m)
            for c, r, s, m in zip(cal, raw, scores, cams, strict=True)
        ]

    def predict_xrays(self, xrays: Sequence) -> list[Prediction]:
        from .preprocess import preprocess_batch

        return self.predict_batch(preprocess_batch(list(xrays), self.spec))

    # ---------------------------------------------------------------------------------------
    @property
    def ood(self):
        """The out-of-distribution reference shipped with the model, or None."""
        if self._ood is None and self.card.ood:
            from .quality import OODReference

            self._ood = OODReference.load(self.card.folder, self.card.ood)
        return self._ood

    @property
    def gate(self):
        """The quality gate's learned parts shipped in the model's folder (``quality.Gate``), or None."""
        if self._gate is False:
            from .quality import Gate

            self._gate = Gate.load(self.card.folder)
        return self._gate

    def _predict_with_features(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """One forward pass: probabilities, the OOD layer's features, the raw class activation map."""
        if self.lean is not None:  # the exported graph returns all three
            lean_out = self.lean.run(batch)
            feats = lean_out.pooled.astype(np.float64).reshape(len(batch), -1) if self.ood is not None else None
            return lean_out.probability, feats, lean_out.cam.astype(np.float32)
        import keras

        if self._feature_model is None:
            outputs = [self.model.output]
            if self.ood is not None:
                outputs.append(self.model.get_layer(self.ood.layer).output)
            if self._cam_head is not None:
                outputs.append(self.model.get_layer(self._cam_head.layer).output)
            self._feature_model = keras.Model(self.model.inputs[0], outputs)
            self._feature_model._pneumo_cam = self._cam_head  # the graph turns the features into the map
        out = list(self._run(self._feature_model, batch))
        prob = keras.ops.convert_to_numpy(out.pop(0)).astype(np.float64).reshape(-1)
        feats = None
        if self.ood is not None:
            feats = keras.ops.convert_to_numpy(out.pop(0)).astype(np.float64).reshape(len(batch), -1)
        cam = keras.ops.convert_to_numpy(out.pop(0)).astype(np.float32) if self._cam_head is not None else None
        return prob, feats, cam

    def cams(self, batch: np.ndarray) -> np.ndarray | None:
        """(N, h, w) class activation maps in [0, 1] for a preprocessed batch (None: not available)."""
        preds = self.predict_batch(batch)
        maps = [p.cam for p in preds if p.cam is not None]
        if not preds or len(maps) != len(preds):
            return None
        return np.stack(maps)

    def warm_up(self) -> None:
        """Trace the graph and load the OOD reference now, in the thread that loads the model.

        Otherwise the first batch of the first scan would pay for it, in the middle of the scan.
        """
        spec = self.card.preprocessing
        self.predict_batch(np.zeros((1, spec.size, spec.size, spec.channels), np.float32))
        _ = self.gate  # its small network too

    def _run(self, model, batch: np.ndarray):
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


def _graph_function(model):
    import keras

    head = getattr(model, "_pneumo_cam", None)

    def call(x):
        out = model(x, training=False)
        if head is None:
            return out
        out = list(out)
        out[-1] = head.apply(out[-1])  # (N, h, w, c) features -> (N, h, w) raw map, in the graph
        return out

    if keras.backend.backend() != "tensorflow":
        return call
    import tensorflow as tf

    # One trace for every batch size (a None batch dimension), so no scan ever retraces mid-way:
    # tracing holds the GIL long enough to stall a GUI thread.
    shape = (None, *tuple(model.input_shape)[1:])
    return tf.function(call, input_signature=[tf.TensorSpec(shape, tf.float32)])


def _choose_model(predictor: Predictor, model, requested: str):
    """(model, precision, reason): ``requested`` resolved for this hardware, bfloat16 checked.

    A bfloat16 network that ``auto`` picked must agree with the float32 one on the sample films
    (:func:`core.precision.check_parity`); if not, float32 is used and the log says why. An
    explicitly requested bfloat16 is used as asked, after the same check has logged a warning.
    """
    on_gpu, capability = _gpu_state(predictor.device_name)
    choice = precisions.choose(requested, on_gpu, capability)
    if choice.precision == "float32":
        return model, "float32", choice.reason
    fast = _with_policy(model, "mixed_bfloat16")
    spec = predictor.card.preprocessing
    from .preprocess import preprocess_batch

    films = preprocess_batch(precisions.sample_films(spec.size), spec)

    def probs(m):
        import keras

        def run(x: np.ndarray) -> np.ndarray:
            raw = keras.ops.convert_to_numpy(m(x, training=False)).astype(np.float64).reshape(-1)
            return calibrate(raw, predictor.card.temperature)

        return run

    key = precisions.parity_key(predictor.card.sha256, requested)
    parity = precisions.cached_parity(key)
    how = "checked earlier on this machine" if parity is not None else "checked now"
    if parity is None:
        try:
            parity = precisions.check_parity(probs(model), probs(fast), films, predictor.card.threshold)
        except Exception as exc:  # a backend without bfloat16 kernels: float32 works everywhere
            log.warning("bfloat16 cannot run here (%s); using float32", exc)
            return model, "float32", f"bfloat16 failed to run ({type(exc).__name__})"
        precisions.remember_parity(key, parity)
    if parity.ok:
        log.info("bfloat16 parity with float32 holds (%s): %s", how, parity.describe())
        return fast, "bfloat16", f"{choice.reason}; parity holds on {parity.n} sample films ({how})"
    if requested == "bfloat16":
        log.warning("bfloat16 differs from float32 (%s); used because it was requested", parity.describe())
        return fast, "bfloat16", "requested (parity check failed)"
    log.warning("bfloat16 differs from float32 (%s); using float32", parity.describe())
    return model, "float32", f"bfloat16 parity failed: {parity.describe()}"


def _gpu_state(device_name: str) -> tuple[bool, tuple[int, int] | None]:
    """(on a GPU, its compute capability) for the device the backend will use."""
    if device_name == "CPU":
        return False, None
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            cap = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability")
            return True, tuple(cap) if cap else None
    if keras.backend.backend() == "jax":
        import jax

        dev = jax.devices()[0]
        cap = getattr(dev, "compute_capability", None)
        if cap:
            major, _, minor = str(cap).partition(".")
            return True, (int(major), int(minor or 0))
        return True, None
    return True, None


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


def _with_policy(model, policy: str):
    """A copy of ``model`` whose layers compute in another dtype policy (weights copied)."""
    import keras

    def clone(layer):
        config = layer.get_config()
        if layer.name == model.layers[-1].name:
            config["dtype"] = "float32"  # keep the output in float32
        elif "dtype" in config:
            config["dtype"] = policy
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy
