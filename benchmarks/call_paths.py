"""How fast can the network itself go on this CPU? (prints numbers; not a test)

For the bundled model at its input size, batch 32 of random input, float32 and bfloat16:
  * the model call in eager mode, in a ``tf.function``, and in a ``tf.function`` with XLA;
  * one ``model.predict`` per image (the naive loop, without loading and preprocessing);
and one Grad-CAM gradient for a single image, eager against ``tf.function``.

This is the ceiling for ``scan_bench.py``: a scanner cannot beat its network.

    python benchmarks/call_paths.py [--model-dir resources/model]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def rate(fn, x: np.ndarray, repeats: int = 3) -> float:
    fn(x)
    fn(x)  # warm-up (tracing, compilation)
    t0 = time.perf_counter()
    for _ in range(repeats):
        np.asarray(fn(x))
    return len(x) * repeats / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", default=None)
    args = ap.parse_args()

    import tensorflow as tf

    from pneumo_desktop.core import explain
    from pneumo_desktop.core.model import Predictor

    for precision in ("float32", "bfloat16"):
        p = Predictor(args.model_dir, device="cpu", precision=precision)
        s = p.spec.size
        x = np.random.default_rng(0).standard_normal((32, s, s, p.spec.channels)).astype("float32")
        m = p.model
        paths = {
            "eager": lambda b, m=m: m(b, training=False),
            "tf.function": tf.function(lambda b, m=m: m(b, training=False)),
            "tf.function + XLA": tf.function(lambda b, m=m: m(b, training=False), jit_compile=True),
        }
        for name, fn in paths.items():
            print(f"{p.version} {s} px {precision:8s} batch 32, {name:18s}: {rate(fn, x):5.1f} images/s", flush=True)
        m.predict(x[:1], verbose=0)
        t0 = time.perf_counter()
        for i in range(10):
            m.predict(x[i : i + 1], verbose=0)
        print(f"{p.version} {s} px {precision:8s} one predict() per image : {10 / (time.perf_counter() - t0):5.1f} images/s")

    p = Predictor(args.model_dir, device="cpu")
    grad_model, _ = explain._gradient_model(p, p.card.gradcam_layer)
    x1 = np.random.default_rng(0).standard_normal((1, p.spec.size, p.spec.size, p.spec.channels)).astype("float32")
    last = p.model.layers[-1]  # the sigmoid unit: Grad-CAM scores its logit

    def eager(x):
        with tf.GradientTape() as tape:
            conv, out = grad_model(x, training=False)
            tape.watch(conv)
            value = tf.reduce_sum(tf.matmul(out, last.kernel) + last.bias)
        return tape.gradient(value, conv)

    for name, fn in (("eager", eager), ("tf.function", tf.function(eager))):
        fn(x1)
        fn(x1)
        times = []
        for _ in range(8):
            t0 = time.perf_counter()
            np.asarray(fn(x1))
            times.append(time.perf_counter() - t0)
        print(f"Grad-CAM gradient, one image, {name:11s}: median {1000 * np.median(times):.0f} ms")


if __name__ == "__main__":
    main()
