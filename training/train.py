"""``python -m training train``: fit the model with checkpoints, resume and early stopping."""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pneumo_desktop.core.preprocess import PreprocessSpec

from . import data as D
from .model import build_model, set_base_trainable

if TYPE_CHECKING:  # for the annotation only: augment is imported where it is used
    from .augment import ShiftAugmentConfig

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    data: str
    out: str
    size: int = 128
    weights: str = "none"
    epochs: int = 10
    fine_tune_epochs: int = 4  # with pretrained weights: epochs of top-block fine-tuning
    batch_size: int = 32
    lr: float = 1e-4
    fine_tune_lr: float = 1e-5
    dropout: float = 0.3
    tune_frac: float = 0.10
    patience: int = 3  # epochs without a better tune AUC before early stopping
    lr_patience: int = 1  # epochs without a better tune AUC before the learning rate drops
    time_budget_s: float | None = None  # stop after the epoch that crosses this wall-clock budget
    last_every: int = 1  # write last.keras (for --resume) every N epochs; fast GPU epochs use more
    augment: bool = True
    mixed_precision: str = "auto"  # auto | bf16 | fp16 | off
    seed: int = 0  # weight init, augmentation and batch order
    # The tune split (and the selection set's stressed copies); None: the same as ``seed``. A seed study
    # changes ``seed`` only, so every run is selected and calibrated on the same films.
    split_seed: int | None = None
    limit_per_class: int | None = None  # smoke runs
    init_from: str | None = None  # a checkpoint (.keras) of the same architecture, any input size
    workers: int = 2
    # The shift-robust recipe (issue 12); the defaults keep the 2.0.0 recipe.
    augment_kind: str = "basic"  # basic (2.0.0) | shift (training.augment: the stress families, milder)
    label_smoothing: float = 0.0
    schedule: str = "plateau"  # plateau (ReduceLROnPlateau + early stopping) | cosine (to the budget)
    warmup_steps: int = 0  # cosine: linear warm-up from 0
    ema: float = 0.0  # > 0: keep an exponential moving average of the weights (this momentum)
    stressed_tune: bool = False  # select on the tune split plus a stressed copy of it
    fov_tune: bool = False  # ... and two field-of-view copies of it (the stress levels 0.8 and 1.25)
    train_from_block: int = 1  # > 1: blocks below it stay frozen (cheaper fine-tuning)


def _cpuinfo() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            return fh.read()
    except OSError:
        return ""


def cpu_bf16_flags() -> list[str]:
    """The CPU's bfloat16 matrix flags (AMX, AVX-512 BF16) that make mixed bfloat16 pay off."""
    flags: set[str] = set()
    for line in _cpuinfo().splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
            break
    return [f for f in ("amx_bf16", "avx512_bf16") if f in flags]


def cpu_has_bf16() -> bool:
    return bool(cpu_bf16_flags())


def cpu_model() -> str:
    for line in _cpuinfo().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def precision_report(mode: str = "auto") -> str:
    """One line for the console: the CPU, its bf16 flags, the GPU if any, and the dtype policy chosen."""
    flags = cpu_bf16_flags()
    gpu = gpu_name() if gpu_available() else "none"
    policy = choose_policy(mode)
    why = (
        "asked for" if mode != "auto"
        else "GPU" if gpu != "none"
        else f"CPU has {'+'.join(flags)}" if flags
        else "no bf16 on this CPU"
    )
    return f"CPU: {cpu_model()} ({os_cpus()} CPUs; bf16: {', '.join(flags) or 'no'}); GPU: {gpu}; precision: {policy} ({why})"


def os_cpus() -> int:
    return os.cpu_count() or 1


def gpu_available() -> bool:
    import keras

    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            return bool(tf.config.list_physical_devices("GPU"))
        if backend == "jax":
            import jax

            return any(d.platform == "gpu" for d in jax.devices())
        if backend == "torch":
            import torch

            return torch.cuda.is_available()
    except Exception:
        return False
    return False


def choose_policy(mode: str) -> str:
    if mode == "off":
        return "float32"
    if mode == "bf16":
        return "mixed_bfloat16"
    if mode == "fp16":
        return "mixed_float16"
    if gpu_available():
        return "mixed_float16"
    return "mixed_bfloat16" if cpu_has_bf16() else "float32"


def gpu_name() -> str:
    """The first GPU's name as the backend reports it ("GPU" when it has no name to give)."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        kinds = [d.device_kind for d in jax.devices() if d.platform == "gpu"]
        return kinds[0] if kinds else "GPU"
    return "GPU"


def hardware_summary() -> str:
    gpu = gpu_name() if gpu_available() else "no GPU"
    return f"{cpu_model()}, {os.cpu_count()} CPUs, {gpu}, {platform.system()}"


def split_seed(config: dict) -> int:
    """The seed of a run's tune split (a run's ``config.json`` or a :class:`TrainConfig` as a dict);
    runs from before ``split_seed`` existed used ``seed`` for it."""
    value = config.get("split_seed")
    return int(config["seed"] if value is None else value)


def prepare_data(cfg: TrainConfig, spec: PreprocessSpec) -> dict:
    all_train = D.list_split(cfg.data, "train", cfg.limit_per_class)
    train_items, tune_items = D.carve_tune_split(all_train, cfg.tune_frac, seed=split_seed(asdict(cfg)))
    t0 = time.time()
    x_train, y_train = D.load_resized(train_items, spec.size)
    x_tune, y_tune = D.load_resized(tune_items, spec.size)
    log.info(
        "loaded %d train + %d tune images at %d px in %.0f s",
        len(y_train), len(y_tune), spec.size, time.time() - t0,
    )
    return {
        "train_items": train_items,
        "tune_items": tune_items,
        "x_train": x_train,
        "y_train": y_train,
        "x_tune": x_tune,
        "y_tune": y_tune,
    }


def selection_set(cfg: TrainConfig, d: dict, spec: PreprocessSpec) -> tuple[np.ndarray, np.ndarray]:
    """The films checkpoints are selected on: the tune split, plus (``--stressed-tune``) a copy under
    random stress families and (``--fov-tune``) its field-of-view copies. Never validation films."""
    x_tune = D.to_inputs(d["x_tune"], spec)
    y_tune = d["y_tune"].reshape(-1, 1)
    if cfg.stressed_tune:
        # Selection sees shifted films too: the tune split plus a copy under random stress families.
        from .stress import stress_mix

        copy = stress_mix(d["x_tune"], seed=split_seed(asdict(cfg)) + 1)
        x_tune = np.concatenate([x_tune, D.to_inputs(copy, spec)])
        y_tune = np.concatenate([y_tune, y_tune])
    if cfg.fov_tune:
        # The film-shape shortcut (docs/model.md): selection pools the tune films squeezed and stretched
        # (tune is never val, so the stress levels stay a test there), so a model that reads the
        # anatomy's width as evidence loses pooled AUC.
        from .stress import fov_copies

        clean = d["x_tune"]
        x_tune = np.concatenate([x_tune, *(D.to_inputs(c, spec) for c in fov_copies(clean))])
        y1 = d["y_tune"].reshape(-1, 1)
        y_tune = np.concatenate([y_tune, y1, y1])

    return x_tune, y_tune


def _check_same_split(config_json: Path, config: dict, resume: bool) -> None:
    """A resumed run must train and select on the films it started with: other --seed or
    --split-seed values would move tune films into training."""
    if not resume or not config_json.exists():
        return
    before = json.loads(config_json.read_text())
    for key in ("train_files_sha256", "tune_files_sha256"):
        if before.get(key) not in (None, config[key]):
            raise RuntimeError(
                f"--resume: the {key[:-13]} split differs from the run's "
                f"(it started with seed {before.get('seed')}, split seed {split_seed(before)}); "
                "resume with the same --seed/--split-seed and data"
            )


def _epochs_done(history_csv: Path) -> int:
    if not history_csv.exists():
        return 0
    with history_csv.open() as fh:
        return max(0, sum(1 for _ in fh) - 1)


def train(cfg: TrainConfig, resume: bool = False) -> Path:
    """Train into ``cfg.out``; returns the path of the best checkpoint (by tune-split AUC)."""
    import keras

    # The budget counts from here: data loading and compilation use the lent machine's time too.
    budget = _TimeBudget(cfg.time_budget_s) if cfg.time_budget_s is not None else None
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(cfg.seed)
    policy = choose_policy(cfg.mixed_precision)
    keras.config.set_dtype_policy(policy)
    spec = PreprocessSpec(size=cfg.size)
    d = prepare_data(cfg, spec)

    config = {
        **asdict(cfg),
        "dtype_policy": policy,
        "backend": keras.backend.backend(),
        "keras_version": keras.__version__,
        "hardware": hardware_summary(),
        "preprocessing": spec.to_dict(),
        "train_count": {"NORMAL": int((d["y_train"] == 0).sum()), "PNEUMONIA": int(d["y_train"].sum())},
        "tune_count": {"NORMAL": int((d["y_tune"] == 0).sum()), "PNEUMONIA": int(d["y_tune"].sum())},
        "train_files_sha256": D.file_list_hash(d["train_items"]),
        "tune_files_sha256": D.file_list_hash(d["tune_items"]),
        "tune_files": sorted(str(it.path.name) for it in d["tune_items"]),
        "augment_params": _augment_params(cfg),
        "cpu": cpu_model(),
    }
    _check_same_split(out / "config.json", config, resume)
    (out / "config.json").write_text(json.dumps(config, indent=2))

    history_csv = out / "history.csv"
    last = out / "last.keras"
    best = out / "best.keras"
    initial_epoch = 0
    if resume and last.exists():
        model = keras.models.load_model(last)
        initial_epoch = _LastCheckpoint.epochs_saved(last, history_csv)
        _truncate_history(history_csv, initial_epoch)  # epochs after the checkpoint are redone
        log.info("resuming from %s after %d epochs", last, initial_epoch)
    else:
        model = build_model(cfg.size, spec.channels, cfg.weights, cfg.dropout, cfg.seed)
        if cfg.init_from:
            # Conv and dense weights do not depend on the input size: continue from a checkpoint
            # trained at another resolution (progressive resizing).
            previous = keras.models.load_model(cfg.init_from, compile=False)
            model.set_weights(previous.get_weights())
            log.info("initialised all weights from %s", cfg.init_from)
        pretrained = cfg.weights != "none"
        set_base_trainable(
            model,
            "none" if pretrained else "all" if cfg.train_from_block <= 1 else f"from-block{cfg.train_from_block}",
        )
        model.compile(
            optimizer=_optimizer(cfg, cfg.lr),
            loss=_loss(cfg),
            metrics=[keras.metrics.AUC(name="auc"), keras.metrics.BinaryAccuracy(name="acc")],
        )
        # A fresh run in a reused folder starts a fresh history, clock and last checkpoint.
        for stale in (history_csv, out / "timing.json", last, _LastCheckpoint.sidecar(last)):
            if stale.exists():
                stale.unlink()

    train_seq = D.make_sequence(
        d["x_train"], d["y_train"], spec, cfg.batch_size, cfg.seed,
        _augment_config(cfg), D.class_weights(d["y_train"]), cfg.workers,
    )
    x_tune, y_tune = selection_set(cfg, d, spec)

    verbose = 1 if sys.stdout.isatty() else 2
    callbacks = [
        _LastCheckpoint(last, cfg.last_every),
        keras.callbacks.ModelCheckpoint(
            # On --resume the best so far comes from the history: a worse epoch must not replace best.keras.
            str(best), monitor="val_auc", mode="max", save_best_only=True,
            initial_value_threshold=_best_auc(history_csv) if initial_epoch else None,
        ),
        keras.callbacks.CSVLogger(str(history_csv), append=True),
        _Timer(out / "timing.json"),
    ]
    if cfg.schedule == "cosine":
        callbacks.append(_CosineSchedule(cfg, len(train_seq), budget, out / "schedule.json"))
    else:
        callbacks[3:3] = [
            keras.callbacks.EarlyStopping(monitor="val_auc", mode="max", patience=cfg.patience),
            keras.callbacks.ReduceLROnPlateau(
                monitor="val_auc", mode="max", factor=0.3, patience=cfg.lr_patience, min_lr=1e-6
            ),
        ]
    if cfg.ema:
        # Evaluation, best.keras and last.keras hold the averaged weights (swapped in at epoch end).
        callbacks.insert(0, keras.callbacks.SwapEMAWeights(swap_on_epoch=True))
    if budget is not None:
        callbacks.append(budget)
    if verbose != 1:
        callbacks.append(_LogProgress(cfg.batch_size))
    t0 = time.time()
    if initial_epoch < cfg.epochs:
        model.fit(
            train_seq,
            validation_data=(x_tune, y_tune, np.ones(len(y_tune), np.float32)),
            epochs=cfg.epochs,
            initial_epoch=initial_epoch,
            callbacks=callbacks,
            verbose=verbose,
        )
    if cfg.weights != "none" and cfg.fine_tune_epochs > 0 and not (budget and budget.spent):
        # Second phase of the transfer-learning recipe: unfreeze the top block, low learning rate.
        model = keras.models.load_model(best)
        set_base_trainable(model, "block5")
        model.compile(
            optimizer=keras.optimizers.Adam(cfg.fine_tune_lr),
            loss="binary_crossentropy",
            metrics=[keras.metrics.AUC(name="auc"), keras.metrics.BinaryAccuracy(name="acc")],
        )
        start = max(cfg.epochs, _epochs_done(history_csv))
        callbacks[1] = keras.callbacks.ModelCheckpoint(
            str(best), monitor="val_auc", mode="max", save_best_only=True,
            initial_value_threshold=_best_auc(history_csv),
        )
        model.fit(
            train_seq,
            validation_data=(x_tune, y_tune, np.ones(len(y_tune), np.float32)),
            epochs=cfg.epochs + cfg.fine_tune_epochs,
            initial_epoch=start,
            callbacks=callbacks,
            verbose=verbose,
        )
    log.info("training finished in %.0f s; best checkpoint %s", time.time() - t0, best)
    return best


def _optimizer(cfg: TrainConfig, lr: float):
    import keras

    if cfg.ema:
        return keras.optimizers.Adam(lr, use_ema=True, ema_momentum=cfg.ema)
    return keras.optimizers.Adam(lr)


def _loss(cfg: TrainConfig):
    import keras

    if cfg.label_smoothing:
        return keras.losses.BinaryCrossentropy(label_smoothing=cfg.label_smoothing)
    return "binary_crossentropy"


def _augment_config(cfg: TrainConfig) -> D.AugmentConfig | ShiftAugmentConfig | None:
    if not cfg.augment:
        return None
    if cfg.augment_kind in ("shift", "shift-fov", "shape"):
        from .augment import ShiftAugmentConfig

        if cfg.augment_kind == "shift-fov":  # a broader field-of-view (aspect) stretch, still inside the stress levels
            return ShiftAugmentConfig(aspect=(0.85, 1.18))
        if cfg.augment_kind == "shape":  # shift-fov plus class-conditional shape matching half of the time
            return ShiftAugmentConfig(aspect=(0.85, 1.18), p_shape_match=0.5)
        return ShiftAugmentConfig()
    if cfg.augment_kind == "basic":
        return D.AugmentConfig()
    raise ValueError(f"unknown augmentation {cfg.augment_kind!r}")


def _augment_params(cfg: TrainConfig) -> dict | None:
    aug = _augment_config(cfg)
    if aug is None:
        return None
    return {"kind": cfg.augment_kind, **(aug.to_dict() if hasattr(aug, "to_dict") else asdict(aug))}


def _best_auc(history_csv: Path) -> float | None:
    if not history_csv.exists():
        return None
    with history_csv.open() as fh:
        values = [float(r["val_auc"]) for r in csv.DictReader(fh) if r.get("val_auc")]
    return max(values) if values else None


def total_training_seconds(out: Path) -> float:
    path = out / "timing.json"
    if not path.exists():
        return 0.0
    return float(json.loads(path.read_text()).get("seconds", 0.0))


def _timer_base():
    import keras

    return keras.callbacks.Callback


class _LogProgress(_timer_base()):  # type: ignore[misc]  # keras's Callback, imported lazily
    """Throughput in the log every 20 batches, for runs in the background (no tty, no bar)."""

    def __init__(self, batch_size: int) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.t0 = time.time()

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self.t0 = time.time()

    def on_train_batch_end(self, batch, logs=None) -> None:
        if (batch + 1) % 20 == 0:
            rate = (batch + 1) * self.batch_size / (time.time() - self.t0)
            log.info("batch %d: %.2f images/s, loss %.4f", batch + 1, rate, (logs or {}).get("loss", float("nan")))


def _truncate_history(history_csv: Path, epochs: int) -> None:
    """Keep the header and the first ``epochs`` rows of the CSV history."""
    if not history_csv.exists():
        return
    lines = history_csv.read_text().splitlines(keepends=True)
    history_csv.write_text("".join(lines[: epochs + 1]))


class _LastCheckpoint(_timer_base()):  # type: ignore[misc]  # keras's Callback, imported lazily
    """``last.keras`` (weights and optimizer, for ``--resume``) every ``every`` epochs and at the end.

    The number of epochs the checkpoint holds is written beside it (``last.json``), so a resumed
    run continues from the checkpoint's epoch even when later epochs were logged but not saved.
    """

    def __init__(self, path: Path, every: int = 1) -> None:
        super().__init__()
        self.path = path
        self.every = max(1, every)
        self.epochs = 0
        self.saved = -1

    @staticmethod
    def sidecar(path: Path) -> Path:
        return path.with_suffix(".json")

    @classmethod
    def epochs_saved(cls, path: Path, history_csv: Path) -> int:
        side = cls.sidecar(path)
        if side.exists():
            return int(json.loads(side.read_text())["epochs"])
        return _epochs_done(history_csv)  # a checkpoint written every epoch, before last.json existed

    def on_epoch_end(self, epoch, logs=None) -> None:
        self.epochs = epoch + 1
        if self.epochs % self.every == 0:
            self._save()

    def on_train_end(self, logs=None) -> None:
        if self.epochs and self.saved != self.epochs:
            self._save()

    def _save(self) -> None:
        # Written beside, then renamed: a run killed while saving (a session ending) keeps the last
        # whole checkpoint, so --resume still works. The epoch count follows the weights, never leads.
        partial = self.path.with_name(self.path.stem + ".partial.keras")
        self.model.save(partial)
        os.replace(partial, self.path)
        side = self.sidecar(self.path)
        side_partial = side.with_name(side.name + ".partial")
        side_partial.write_text(json.dumps({"epochs": self.epochs}))
        os.replace(side_partial, side)
        self.saved = self.epochs


class _TimeBudget(_timer_base()):  # type: ignore[misc]  # keras's Callback, imported lazily
    """Stops training after the epoch that crosses a wall-clock budget (e.g. a lent GPU's time).

    The clock starts when the callback is made (before the data is loaded) and runs across both
    training phases. Checked at epoch ends only, so every finished epoch is checkpointed as usual.
    """

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds
        self.start = time.time()

    @property
    def spent(self) -> bool:
        return time.time() - self.start >= self.seconds

    def on_epoch_end(self, epoch, logs=None) -> None:
        if self.spent:
            log.info("time budget of %.0f s used (%.0f s): stopping after epoch %d",
                     self.seconds, time.time() - self.start, epoch + 1)
            self.model.stop_training = True


class _CosineSchedule(_timer_base()):  # type: ignore[misc]  # keras's Callback, imported lazily
    """Cosine decay of the learning rate to zero, per batch, after a linear warm-up.

    Without a time budget the decay spans ``cfg.epochs``. With one, the number of epochs is fixed
    after the first epoch from its duration (with a 10% margin), so the decay ends when the
    budget does; training then stops. The plan is written to ``schedule.json``.
    """

    def __init__(self, cfg: TrainConfig, steps_per_epoch: int, budget: _TimeBudget | None, path: Path) -> None:
        super().__init__()
        self.lr0 = cfg.lr
        self.steps = steps_per_epoch
        self.epochs = cfg.epochs
        self.warmup = cfg.warmup_steps
        self.budget = budget
        self.path = path
        self.epoch = 0
        self.t_epoch = 0.0

    def lr_at(self, step: int) -> float:
        if step < self.warmup:
            return self.lr0 * (step + 1) / self.warmup
        total = max(1, self.epochs * self.steps - self.warmup)
        frac = min(1.0, (step - self.warmup) / total)
        return 0.5 * self.lr0 * (1.0 + math.cos(math.pi * frac))

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self.epoch = epoch
        self.t_epoch = time.time()

    def on_train_batch_begin(self, batch, logs=None) -> None:
        self.model.optimizer.learning_rate.assign(self.lr_at(self.epoch * self.steps + batch))

    def on_epoch_end(self, epoch, logs=None) -> None:
        if epoch == 0 and self.budget is not None:
            took = time.time() - self.t_epoch
            left = self.budget.seconds - (time.time() - self.budget.start)
            fit = 1 + int(max(0.0, left) / (1.1 * took))
            self.epochs = max(1, min(self.epochs, fit))
            log.info("cosine schedule: epoch 1 took %.0f s; %.0f s left: %d epochs in all", took, left, self.epochs)
        self.path.write_text(json.dumps({"epochs": self.epochs, "steps_per_epoch": self.steps,
                                         "lr": self.lr0, "warmup_steps": self.warmup}))
        if epoch + 1 >= self.epochs:
            self.model.stop_training = True


class _Timer(_timer_base()):  # type: ignore[misc]  # keras's Callback, imported lazily
    """Accumulates wall-clock training time across resumed runs (for the model card)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.start = 0.0

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self.start = time.time()

    def on_epoch_end(self, epoch, logs=None) -> None:
        data = json.loads(self.path.read_text()) if self.path.exists() else {"seconds": 0.0, "epochs": 0}
        data["seconds"] += time.time() - self.start
        data["epochs"] += 1
        self.path.write_text(json.dumps(data))
