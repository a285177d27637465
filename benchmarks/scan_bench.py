"""Scanner speed and memory benchmark (prints numbers; not a test).

In one run, on the same N real images from ../shared:
  (a) the naive approach: load, preprocess and one ``model.predict`` call per image;
  (b) the core Scanner (loader threads + batched ``model(x, training=False)``), float32;
  (c) the same in bfloat16, with the largest probability difference to float32 and label agreement;
then the ceiling: the network alone at batch 32 in its fastest call path (XLA), the best float32
matrix multiply this CPU manages, and what the 3x target would need in GFLOP/s; then the peak memory
(max RSS of a fresh process) of scanning 1,000 and 5,000 files.

    python benchmarks/scan_bench.py --n 200
    python benchmarks/scan_bench.py --n 100 --memory-sizes 1000 5000
    python benchmarks/scan_bench.py --table --n 300     # issue #17's table, each row a fresh process

``--table`` runs every configuration in a fresh process (so model-ready time and peak RSS are its
own): the naive loop, the default (precision auto, what ``pneumo-scan`` and the app use), each
precision, and the app's path (the model in a child process, core.remote), with the CPU, the
precision auto chose and why, images/s, the ratio to the naive loop of the same run, model-ready
time (from the process's start, TensorFlow's import included) and label parity with float32.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def shared() -> Path:
    return Path(os.environ.get("PNEUMO_SHARED", REPO.parent / "shared"))


def real_images(n: int) -> list[Path]:
    files: list[Path] = []
    for sub in ("chest_xray/val", "chest_xray/train", "chest_xray_224sq/train", "chest_xray_224sq/val"):
        for cls in ("NORMAL", "PNEUMONIA"):
            folder = shared() / "data" / sub / cls
            if folder.is_dir():
                files.extend(sorted(folder.iterdir()))
    # Interleave classes deterministically (crc32, not hash(): str hashes change between runs).
    files.sort(key=lambda p: (zlib.crc32(p.name.encode()) % 1000, p.name))
    if len(files) < n:
        raise SystemExit(f"only {len(files)} images under {shared()}")
    return files[:n]


def naive(predictor, files: list[Path]) -> tuple[float, list[float]]:
    from pneumo_desktop.core.io import load_xray
    from pneumo_desktop.core.model import calibrate
    from pneumo_desktop.core.preprocess import preprocess

    t0 = time.perf_counter()
    probs = []
    for f in files:
        x = preprocess(load_xray(f), predictor.spec)[None]
        raw = float(predictor.model.predict(x, verbose=0).reshape(-1)[0])
        probs.append(float(calibrate(np.array([raw]), predictor.card.temperature)[0]))
    return time.perf_counter() - t0, probs


def scanner(predictor, files: list[Path], batch: int) -> tuple[float, list[float]]:
    from pneumo_desktop.core.scan import Scanner

    t0 = time.perf_counter()
    results = Scanner(predictor, store=None, batch_size=batch).scan_all(files)
    return time.perf_counter() - t0, [r.probability for r in results]


def agreement(probs32: list[float], probs_bf: list[float], threshold: float) -> str:
    """Largest probability difference and label agreement of bfloat16 against float32."""
    a, b = np.array(probs32), np.array(probs_bf)
    same = int(np.sum((a >= threshold) == (b >= threshold)))
    return f"max |p_bf16 - p_fp32| = {np.max(np.abs(a - b)):.4f}, labels identical {same}/{len(a)}"


def parity(p32, pbf, split: str, batch: int) -> None:
    """bfloat16 against float32 on every image of a split: labels and probability differences."""
    folder = shared() / "data" / "chest_xray_224sq" / split
    files = sorted(p for cls in ("NORMAL", "PNEUMONIA") for p in (folder / cls).iterdir())
    same = agreement(scanner(p32, files, batch)[1], scanner(pbf, files, batch)[1], p32.card.threshold)
    print(f"    bfloat16 vs float32 on all {len(files)} {split} images: {same}")


def model_gflop(model) -> float:
    """FLOPs per image (2 per multiply-add) of the convolutions and dense layers."""
    import keras

    macs = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            h, w = layer.output.shape[1:3]
            macs += h * w * int(np.prod(layer.kernel.shape))
        elif isinstance(layer, keras.layers.Dense):
            macs += int(np.prod(layer.kernel.shape))
    return 2 * macs / 1e9


def cpu_summary() -> str:
    """The CPU's name and the instruction sets that speed up low-precision inference."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "CPU features unknown (no /proc/cpuinfo)"
    name = re.search(r"model name\s*:\s*(.+)", info)
    flags = set(re.search(r"flags\s*:\s*(.+)", info).group(1).split()) if "flags" in info else set()
    wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16", "amx_int8")
    have = ", ".join(f"{f} {'yes' if f in flags else 'no'}" for f in wanted)
    return f"{name.group(1) if name else 'unknown CPU'}, {os.cpu_count()} CPUs: {have}"


def best_rate(fn, repeats: int = 3) -> float:
    """Calls per second of fn, best of `repeats` after two warm-up calls."""
    fn()
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return 1.0 / best


def gemm_gflops(n: int = 2048) -> float:
    """The best float32 matrix-multiply rate here, TensorFlow's or NumPy's BLAS (GFLOP/s)."""
    import tensorflow as tf

    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    at = tf.constant(a)
    mm = tf.function(lambda x: tf.matmul(x, x))
    rates = (best_rate(lambda: mm(at).numpy()), best_rate(lambda: a @ a))
    return 2 * n**3 * max(rates) / 1e9


def ceiling(predictor, naive_rate: float) -> None:
    """Can any scanner reach 3x the naive loop here? Print what that would take."""
    import tensorflow as tf

    s = predictor.spec.size
    x = np.random.default_rng(0).standard_normal((32, s, s, predictor.spec.channels)).astype(np.float32)
    xla = tf.function(lambda b: predictor.model(b, training=False), jit_compile=True)
    net = 32 * best_rate(lambda: np.asarray(xla(x)))
    gflop = model_gflop(predictor.model)
    gemm = gemm_gflops()
    need = 3 * naive_rate
    print(f"ceiling: {cpu_summary()}")
    print(f"    model: {gflop:.1f} GFLOP per image at {s} px")
    print(
        f"    network alone, batch 32, tf.function + XLA, float32: {net:.1f} images/s = {net * gflop:.0f} GFLOP/s "
        f"= {net / naive_rate:.1f}x naive"
    )
    print(
        f"    best float32 matrix multiply on this CPU (2048 x 2048, TensorFlow or NumPy): {gemm:.0f} GFLOP/s"
    )
    print(
        f"    3x naive = {need:.1f} images/s = {need * gflop:.0f} GFLOP/s = {need * gflop / gemm:.2f}x that matrix multiply"
    )


def memory_child(n: int, model_dir: str | None) -> None:
    """Scan a folder of n files (links to real images) in this process; print peak RSS."""
    from pneumo_desktop.core.model import Predictor
    from pneumo_desktop.core.scan import Scanner
    from pneumo_desktop.core.store import ResultsStore

    files = real_images(min(n, 5000))
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as db_dir:
        for i in range(n):
            src = files[i % len(files)]
            os.symlink(src, Path(tmp) / f"{i:06d}_{src.name}")
        predictor = Predictor(model_dir, device="cpu", precision="float32")
        predictor.predict_batch(np.zeros((16, predictor.spec.size, predictor.spec.size, 3), np.float32))
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        count = 0
        for batch, _ in Scanner(predictor, store=ResultsStore(Path(db_dir) / "r.sqlite3")).scan([tmp]):
            count += len(batch)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "files": count,
                "peak_rss_mb": peak / 1024,
                "rss_after_model_load_mb": before / 1024,
                "seconds": time.perf_counter() - t0,
            }
        )
    )


CONFIGS = {
    "naive": "naive loop, model.predict per image (float32)",
    "default-first": "default (auto), first load on this machine: parity check",
    "default": "default: pneumo-scan / app, precision auto",
    "float32": "Scanner, --precision float32",
    "bfloat16": "Scanner, --precision bfloat16",
    "app-process": "default, model in a child process (the app's path)",
}


def config_child(name: str, n: int, batch: int, model_dir: str | None, t_launch: float) -> None:
    """One row of the table, in this fresh process: prints one JSON line."""
    from pneumo_desktop.core.model import Predictor
    from pneumo_desktop.core.scan import Scanner

    files = real_images(n)
    precision = {"naive": "float32", "float32": "float32", "bfloat16": "bfloat16"}.get(name, "auto")
    if name == "app-process":
        from pneumo_desktop.core.remote import RemotePredictor

        predictor = RemotePredictor(model_dir, device="cpu", precision=precision)
    else:
        predictor = Predictor(model_dir, device="cpu", precision=precision)
    ready = time.time() - t_launch
    out = {
        "name": name,
        "ready_s": ready,
        "precision": predictor.precision,
        "reason": getattr(predictor, "precision_reason", ""),
    }
    if name != "default-first":
        if name == "naive":
            predictor.model.predict(
                np.zeros((1, predictor.spec.size, predictor.spec.size, 3), np.float32), verbose=0
            )
            seconds, probs = naive(predictor, files)
        else:
            Scanner(predictor, store=None, batch_size=batch).scan_all(files[:8])  # as the app's warm-up
            seconds, probs = scanner(predictor, files, batch)
        out.update(seconds=seconds, rate=n / seconds, probs=probs, threshold=predictor.card.threshold)
    if hasattr(predictor, "close"):
        predictor.close()
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if name == "app-process":
        out["peak_rss_mb"] += resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps(out))


def table(args: argparse.Namespace) -> None:
    from pneumo_desktop.core.precision import choose, cpu_summary

    print(f"cpu: {cpu_summary()}")
    print(f"precision auto on this CPU: {choose('auto', False).precision} ({choose('auto', False).reason})")
    print(f"{args.n} real images, batch {args.batch}, each row a fresh process")
    rows = {}
    with tempfile.TemporaryDirectory() as data:
        env = dict(os.environ, PNEUMO_DATA_DIR=data)  # no remembered parity check: the first row checks
        for name in args.configs:
            cmd = [
                sys.executable,
                __file__,
                "--_config",
                name,
                "--n",
                str(args.n),
                "--batch",
                str(args.batch),
                "--_t",
                repr(time.time()),
            ]
            if args.model_dir:
                cmd += ["--model-dir", args.model_dir]
            done = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if done.returncode != 0:
                print(f"{name}: failed\n{done.stderr[-2000:]}")
                continue
            rows[name] = json.loads(done.stdout.strip().splitlines()[-1])
    base = rows.get("naive", {}).get("rate")
    ref = rows.get("float32", {}).get("probs")
    print(f"{'':<52}{'images/s':>9}{'x naive':>8}{'ready s':>8}{'peak RSS':>9}  parity vs float32")
    for name, r in rows.items():
        rate = r.get("rate")
        ratio = f"{rate / base:.1f}x" if rate and base else "-"
        parity = "-"
        if ref and r.get("probs") and name != "float32":
            a, b = np.array(ref), np.array(r["probs"])
            same = int(np.sum((a >= r["threshold"]) == (b >= r["threshold"])))
            parity = f"labels {same}/{len(a)}, max |dp| {np.max(np.abs(a - b)):.4f}"
        label = f"{CONFIGS[name]} [{r['precision']}]"
        print(
            f"{label:<52}{rate if rate else 0:>9.1f}{ratio:>8}{r['ready_s']:>8.1f}{r['peak_rss_mb']:>7.0f}MB  {parity}"
        )
    if "default" in rows:
        print(f"default's precision: {rows['default']['precision']} ({rows['default']['reason']})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200, help="images for the speed comparison")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--model-dir", default=None)
    ap.add_argument("--memory-sizes", type=int, nargs="*", default=[1000, 5000])
    ap.add_argument(
        "--memory-model-dir",
        default=None,
        help="model for the memory runs (default: --model-dir); a tiny model keeps 5,000 files quick, "
        "and the pipeline's memory does not depend on the model",
    )
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument(
        "--skip-ceiling", action="store_true", help="skip the network-alone and matrix-multiply ceiling"
    )
    ap.add_argument(
        "--parity-split",
        default=None,
        metavar="SPLIT",
        help="also compare bfloat16 with float32 on every image of this split (e.g. val)",
    )
    ap.add_argument("--_memory-child", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument(
        "--table", action="store_true", help="issue #17's table: each configuration in a fresh process"
    )
    ap.add_argument("--configs", nargs="*", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--_config", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--_t", type=float, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._memory_child is not None:
        memory_child(args._memory_child, args.model_dir)
        return
    if args._config is not None:
        config_child(args._config, args.n, args.batch, args.model_dir, args._t or time.time())
        return
    if args.table:
        table(args)
        return

    from pneumo_desktop.core.model import Predictor

    if not args.skip_speed:
        files = real_images(args.n)
        p32 = Predictor(args.model_dir, device="cpu", precision="float32")
        print(f"model {p32.version}, input {p32.spec.size} px, {args.n} real images, {os.cpu_count()} CPUs")
        scanner(p32, files[:8], args.batch)  # warm-up (graph tracing)
        p32.model.predict(
            np.zeros((1, p32.spec.size, p32.spec.size, p32.spec.channels), np.float32), verbose=0
        )
        t_naive, probs_naive = naive(p32, files)
        print(f"(a) naive predict() per image : {args.n / t_naive:6.1f} images/s  ({t_naive:.1f} s)")
        t_scan, probs32 = scanner(p32, files, args.batch)
        print(
            f"(b) Scanner float32           : {args.n / t_scan:6.1f} images/s  ({t_scan:.1f} s)  "
            f"= {t_naive / t_scan:.1f}x naive"
        )
        pbf = Predictor(args.model_dir, device="cpu", precision="bfloat16")
        scanner(pbf, files[:8], args.batch)
        t_bf, probs_bf = scanner(pbf, files, args.batch)
        print(
            f"(c) Scanner bfloat16          : {args.n / t_bf:6.1f} images/s  ({t_bf:.1f} s)  "
            f"= {t_naive / t_bf:.1f}x naive; {agreement(probs32, probs_bf, p32.card.threshold)}"
        )
        print(
            f"    naive vs Scanner float32 max |dp| = {np.max(np.abs(np.array(probs_naive) - np.array(probs32))):.2e}"
        )
        if args.parity_split:
            parity(p32, pbf, args.parity_split, args.batch)
        if not args.skip_ceiling:
            ceiling(p32, args.n / t_naive)

    for n in args.memory_sizes:
        cmd = [sys.executable, __file__, "--_memory-child", str(n)]
        mem_model = args.memory_model_dir or args.model_dir
        if mem_model:
            cmd += ["--model-dir", mem_model]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        m = json.loads(out)
        print(
            f"memory: {m['files']} files scanned in {m['seconds']:.0f} s, peak RSS {m['peak_rss_mb']:.0f} MB "
            f"(after model load {m['rss_after_model_load_mb']:.0f} MB)"
        )


if __name__ == "__main__":
    main()
