"""Choosing the compute precision at run time, and the parity check that guards the choice.

``auto`` (the default) picks mixed bfloat16 where the hardware computes it natively and float32
elsewhere:

* CPU: bfloat16 when ``/proc/cpuinfo`` (or, elsewhere, the CPU's feature flags as TensorFlow's
  oneDNN sees them) lists ``amx_bf16`` or ``avx512_bf16``. On such a CPU VGG19 runs 4-5x faster in
  bfloat16; on AVX2-only CPUs bfloat16 is emulated and slower than float32.
* GPU: bfloat16 on compute capability 8.0 or newer (Ampere and later have bfloat16 tensor cores),
  float32 on older GPUs.

The choice is checked when the model loads (:func:`check_parity`): the bfloat16 network must give
the float32 network's labels and probabilities within 0.01 on built-in sample inputs, otherwise
the Predictor falls back to float32 and logs why.

The sample inputs are *synthetic* chest-like films made here in code (:func:`sample_films`), not
real films: the repository must not carry patient images. They span the probability range (an
opacity of varying strength is painted into one or both lungs) so that the check sees films near
the threshold too, not only saturated outputs. The tests run the same parity check on every real
validation film (``tests/core/test_precision.py``, ``benchmarks/scan_bench.py --parity-split val``).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "float32", "bfloat16")
BF16_FLAGS = ("amx_bf16", "avx512_bf16")
#: Largest probability difference the bfloat16 network may have from float32 on the samples.
PARITY_TOLERANCE = 0.01


@lru_cache(maxsize=1)
def cpu_info() -> tuple[str, frozenset[str]]:
    """(model name, feature flags) of this machine's CPU; ('unknown CPU', {}) where unreadable."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        text = ""
    name = re.search(r"model name\s*:\s*(.+)", text)
    flags = re.search(r"^flags\s*:\s*(.+)$", text, re.MULTILINE)
    found = set(flags.group(1).split()) if flags else set()
    if not found:
        found = _flags_from_cpuid()
    return (name.group(1).strip() if name else _platform_cpu_name()), frozenset(found)


def _platform_cpu_name() -> str:
    import platform

    return platform.processor() or platform.machine() or "unknown CPU"


def _flags_from_cpuid() -> set[str]:
    """Windows and macOS have no /proc/cpuinfo: ask the optional ``cpuinfo`` package if present."""
    try:
        import cpuinfo  # py-cpuinfo, optional (untyped: ignore_missing_imports covers it)
    except ImportError:
        return set()
    try:
        return {str(f) for f in cpuinfo.get_cpu_info().get("flags", [])}
    except Exception:  # feature detection is best effort; float32 is always safe
        return set()


def cpu_has_native_bf16(flags: frozenset[str] | set[str] | None = None) -> bool:
    flags = cpu_info()[1] if flags is None else flags
    return any(f in flags for f in BF16_FLAGS)


def cpu_summary() -> str:
    """The CPU's name and the flags that decide the precision (for benchmarks and logs)."""
    name, flags = cpu_info()
    wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16", "amx_int8")
    have = ", ".join(f"{f} {'yes' if f in flags else 'no'}" for f in wanted)
    return f"{name}, {os.cpu_count()} CPUs: {have}"


@dataclass(frozen=True)
class Choice:
    precision: str  # float32 | bfloat16
    reason: str


def choose(
    requested: str,
    on_gpu: bool,
    gpu_capability: tuple[int, int] | None = None,
    flags: frozenset[str] | set[str] | None = None,
) -> Choice:
    """The precision to use for ``requested`` (auto | float32 | bfloat16) on this hardware."""
    if requested not in PRECISIONS:
        raise ValueError(f"unknown precision {requested!r}")
    if requested != "auto":
        return Choice(requested, "requested")
    if on_gpu:
        if gpu_capability is not None and tuple(gpu_capability) >= (8, 0):
            return Choice(
                "bfloat16", f"GPU compute capability {gpu_capability[0]}.{gpu_capability[1]} has bfloat16"
            )
        return Choice("float32", "GPU without native bfloat16")
    flags = cpu_info()[1] if flags is None else flags
    native = [f for f in BF16_FLAGS if f in flags]
    if native:
        return Choice("bfloat16", f"CPU has {' and '.join(native)}")
    return Choice("float32", "CPU has no native bfloat16 (no amx_bf16 or avx512_bf16)")


def sample_films(size: int, n: int = 8, seed: int = 0) -> list[np.ndarray]:
    """``n`` synthetic chest-like gray films (size x size, [0, 1]): body, spine, two dark lungs,
    ribs and noise, with an opacity of increasing strength painted into one or both lungs."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    yn, xn = y / (size - 1), x / (size - 1)
    films = []
    for i in range(n):
        strength = i / max(1, n - 1)
        img = 0.15 + 0.55 * np.exp(-(((xn - 0.5) / rng.uniform(0.38, 0.46)) ** 4))  # body
        lungs = []
        for cx in (0.3 + rng.uniform(-0.03, 0.03), 0.7 + rng.uniform(-0.03, 0.03)):
            lung = ((xn - cx) / rng.uniform(0.14, 0.18)) ** 2 + (
                (yn - 0.5) / rng.uniform(0.26, 0.33)
            ) ** 2 < 1
            img = np.where(lung, img - 0.35, img)
            lungs.append(cx)
        img += 0.06 * (np.sin(yn * rng.uniform(34, 46) + np.abs(xn - 0.5) * 12) > 0.7)  # ribs
        img += 0.25 * np.exp(-(((xn - 0.5) / 0.05) ** 2))  # spine / mediastinum
        for cx in lungs[: 1 + (i % 2)]:  # an opacity (consolidation-like) in one or both lungs
            cy = rng.uniform(0.4, 0.7)
            img += 0.4 * strength * np.exp(-(((xn - cx) / 0.08) ** 2 + ((yn - cy) / 0.12) ** 2))
        img += 0.02 * rng.standard_normal(img.shape)
        films.append(np.clip(img, 0.0, 1.0).astype(np.float32))
    return films


@dataclass(frozen=True)
class Parity:
    ok: bool
    max_difference: float
    label_flips: int
    n: int

    def describe(self) -> str:
        return (
            f"{self.n} sample films: max |p_bf16 - p_fp32| = {self.max_difference:.4f} "
            f"(limit {PARITY_TOLERANCE}), {self.label_flips} label flips"
        )


def check_parity(
    reference: Callable[[np.ndarray], np.ndarray],
    candidate: Callable[[np.ndarray], np.ndarray],
    inputs: np.ndarray,
    threshold: float,
    tolerance: float = PARITY_TOLERANCE,
) -> Parity:
    """Compare two functions from a preprocessed batch to calibrated probabilities."""
    a = np.asarray(reference(inputs), dtype=np.float64).reshape(-1)
    b = np.asarray(candidate(inputs), dtype=np.float64).reshape(-1)
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return Parity(False, float("inf"), len(a), len(a))
    flips = int(np.sum((a >= threshold) != (b >= threshold)))
    diff = float(np.max(np.abs(a - b))) if len(a) else 0.0
    return Parity(flips == 0 and diff <= tolerance, diff, flips, len(a))


def parity_key(model_sha256: str, requested: str) -> str:
    """What a parity result depends on: the weights, the CPU, the software, the request."""
    import hashlib
    import platform

    name, flags = cpu_info()
    try:
        from importlib.metadata import version

        soft = ",".join(
            f"{p}={version(p)}" for p in ("keras", "tensorflow", "tensorflow-cpu") if _installed(p)
        )
    except Exception:
        soft = ""
    blob = "|".join([model_sha256, requested, name, " ".join(sorted(flags)), platform.machine(), soft])
    return hashlib.sha256(blob.encode()).hexdigest()


def _installed(dist: str) -> bool:
    from importlib.metadata import PackageNotFoundError, version

    try:
        version(dist)
    except PackageNotFoundError:
        return False
    return True


def _parity_file() -> Path:
    from .paths import user_data_dir

    return user_data_dir() / "precision_parity.json"


def cached_parity(key: str) -> Parity | None:
    """The parity result recorded for ``key`` on this machine (None: not checked yet)."""
    import json

    try:
        data = json.loads(_parity_file().read_text(encoding="utf-8")).get(key)
        return Parity(
            bool(data["ok"]), float(data["max_difference"]), int(data["label_flips"]), int(data["n"])
        )
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def remember_parity(key: str, parity: Parity) -> None:
    """Record a parity result, so the next load on this machine skips the float32 comparison."""
    import json

    path = _parity_file()
    try:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                data = {}
        except (OSError, ValueError):
            data = {}
        data[key] = {
            "ok": parity.ok,
            "max_difference": parity.max_difference,
            "label_flips": parity.label_flips,
            "n": parity.n,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        log.warning("could not record the precision check (%s); it runs again next time", exc)
