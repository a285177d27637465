"""Could Winograd convolution beat TensorFlow's direct 3x3 convolutions on this CPU? (prints numbers)

Winograd F(2x2, 3x3) does a 3x3 convolution with 2.25x fewer multiplications: 16 batched matrix
multiplies on transformed 4x4 input tiles, plus cheap additions for the transforms. It is the one
exact arithmetic saving left for VGG19 once the convolutions run near the CPU's matrix-multiply
speed (see ``scan_bench.py``'s ceiling). This probe builds it from TensorFlow ops, checks it against
``tf.nn.conv2d`` and times both, per VGG19 layer shape at the bundled model's 160 px input, batch 32:

    python benchmarks/winograd_probe.py [--xla]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], np.float32)
G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], np.float32)
AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], np.float32)


def transformed_kernel(k: np.ndarray) -> np.ndarray:
    """(3, 3, C, K) kernel -> (16, C, K): G k G^T for each of the 4 x 4 tile positions."""
    return np.einsum("ra,abck,sb->rsck", G, k, G).reshape(16, k.shape[2], k.shape[3])


def combine(matrix: np.ndarray, terms: list):  # tensors
    """matrix @ terms with additions only (the transform matrices hold 0, +-1 and +-0.5)."""
    out = []
    for row in matrix:
        acc = None
        for c, t in zip(row, terms, strict=True):
            if c == 0:
                continue
            t = t if c == 1 else (-t if c == -1 else float(c) * t)
            acc = t if acc is None else acc + t
        out.append(acc)
    return out


def winograd_conv(x, u, bias):  # tensors
    """'same' 3x3 convolution + bias + ReLU of x (N, H, W, C), H and W even."""
    import tensorflow as tf

    n, h, w = tf.shape(x)[0], tf.shape(x)[1], tf.shape(x)[2]
    th, tw, cin, k = h // 2, w // 2, u.shape[1], u.shape[2]
    xp = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
    d = [[xp[:, a : a + 2 * th : 2, b : b + 2 * tw : 2, :] for b in range(4)] for a in range(4)]
    cols = [combine(BT, [d[a][b] for a in range(4)]) for b in range(4)]  # B^T d, per column b
    v = [t for r in range(4) for t in combine(BT, [cols[b][r] for b in range(4)])]  # (B^T d B)[r][s]
    m = tf.matmul(tf.reshape(tf.stack(v, 0), [16, -1, cin]), u)  # 16 GEMMs: (N*tiles, C) x (C, K)
    m = [[m[r * 4 + s] for s in range(4)] for r in range(4)]
    rows = [combine(AT, [m[r][s] for r in range(4)]) for s in range(4)]  # A^T M, per column s
    y = [combine(AT, [rows[s][i] for s in range(4)]) for i in range(2)]  # (A^T M A)[i][j]
    y = tf.reshape(tf.stack([tf.stack(y[0], 0), tf.stack(y[1], 0)], 0), [2, 2, n, th, tw, k])
    y = tf.reshape(tf.transpose(y, [2, 3, 0, 4, 1, 5]), [n, 2 * th, 2 * tw, k])
    return tf.nn.relu(y + bias)


def seconds(fn, x, repeats: int = 3) -> float:
    fn(x)
    fn(x)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.asarray(fn(x))
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--xla", action="store_true", help="compile both with XLA (jit_compile=True)")
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args()
    import tensorflow as tf

    rng = np.random.default_rng(0)
    # (side, in, out, how many such layers VGG19 has at 160 px)
    shapes = [(160, 64, 64, 1), (80, 128, 128, 1), (40, 256, 256, 3), (20, 512, 512, 3), (10, 512, 512, 4)]
    total_direct = total_wino = 0.0
    for side, cin, cout, count in shapes:
        x = tf.constant(rng.standard_normal((args.batch, side, side, cin)).astype(np.float32))
        k = (rng.standard_normal((3, 3, cin, cout)) * np.sqrt(2 / (9 * cin))).astype(np.float32)
        b = tf.constant(0.1 * rng.standard_normal(cout).astype(np.float32))
        kt, u = tf.constant(k), tf.constant(transformed_kernel(k))
        direct = tf.function(lambda x, kt=kt, b=b: tf.nn.relu(tf.nn.conv2d(x, kt, 1, "SAME") + b), jit_compile=args.xla)
        wino = tf.function(lambda x, u=u, b=b: winograd_conv(x, u, b), jit_compile=args.xla)
        ref, got = direct(x).numpy(), wino(x).numpy()
        err = float(np.max(np.abs(ref - got)) / np.max(np.abs(ref)))
        td, tw = seconds(direct, x), seconds(wino, x)
        total_direct += count * td
        total_wino += count * tw
        print(
            f"{side:3d} x {side:<3d} {cin:3d} -> {cout:3d} (x{count}): direct {1000 * td:6.0f} ms, "
            f"Winograd {1000 * tw:6.0f} ms, speed-up {td / tw:4.2f}x, max relative error {err:.1e}",
            flush=True,
        )
    print(f"VGG19-shaped 3x3 convolutions ({'XLA' if args.xla else 'graph'}), weighted by layer count: "
          f"direct {total_direct:.1f} s, Winograd {total_wino:.1f} s per batch of {args.batch} "
          f"= {total_direct / total_wino:.2f}x")


if __name__ == "__main__":
    main()
