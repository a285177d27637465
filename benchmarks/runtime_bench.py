"""TensorFlow against the lean runtimes (OpenVINO, ONNX Runtime), side by side (prints a table).

In one run, on the same machine and the same validation films (all 540 of
``$PNEUMO_SHARED/data/chest_xray_224sq/val``, through the app's own ``load_xray`` + ``preprocess``),
each configuration in a fresh process, through the app's ``Predictor`` (calibration and OOD
scores included, as in a scan):

* naive: TensorFlow float32, ``model.predict`` on one image at a time (the baseline ratio);
* TensorFlow float32 and mixed bfloat16; OpenVINO f32 and bf16; ONNX Runtime f32; batches of 16.

Columns: throughput (img/s over all films, after the first prediction), its ratio to the naive
loop, model-ready time (process start to the first prediction), peak RSS of the process, the
runtime's installed package size, and label parity against TensorFlow float32 (labels at the
card's threshold, largest calibrated probability difference).

    nice -n 5 python benchmarks/runtime_bench.py
    python benchmarks/runtime_bench.py --configs tf-f32 ov-bf16 --model-dir /tmp/lean_model

The model folder needs the lean exports (``python -m pneumo_desktop.core.runtime export DIR``);
without them the benchmark exports into a temporary copy first.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

#: name -> (runtime, precision, label)
CONFIGS = {
    "naive": ("tensorflow", "float32", "naive: TF float32, model.predict per image"),
    "tf-f32": ("tensorflow", "float32", "TensorFlow float32"),
    "tf-bf16": ("tensorflow", "bfloat16", "TensorFlow mixed bfloat16"),
    "ov-f32": ("openvino", "float32", "OpenVINO f32"),
    "ov-bf16": ("openvino", "bfloat16", "OpenVINO bf16"),
    "ort-f32": ("onnxruntime", "float32", "ONNX Runtime f32"),
}
PACKAGES = {"tensorflow": ("tensorflow", "keras"), "openvino": ("openvino",), "onnxruntime": ("onnxruntime",)}


def shared() -> Path:
    return Path(os.environ.get("PNEUMO_SHARED", REPO.parent / "shared"))


def cpu_summary() -> str:
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        import platform

        return f"CPU {platform.processor() or platform.machine()} (flags unknown: no /proc/cpuinfo)"
    model = re.search(r"model name\s*:\s*(.+)", info)
    flags = set(re.search(r"flags\s*:\s*(.+)", info).group(1).split()) if "flags" in info else set()
    wanted = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "avx_vnni")
    have = ", ".join(f"{f} {'yes' if f in flags else 'no'}" for f in wanted)
    return f"CPU {model.group(1) if model else '?'}, {os.cpu_count()} logical CPUs; {have}"


def package_mb(runtime: str) -> float:
    total = 0
    for name in PACKAGES[runtime]:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            continue
        for root in spec.submodule_search_locations:
            for dirpath, _dirs, files in os.walk(root):
                total += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)
    return total / 2**20


def val_films() -> tuple[list[Path], np.ndarray]:
    files, labels = [], []
    for label, cls in enumerate(("NORMAL", "PNEUMONIA")):
        folder = shared() / "data" / "chest_xray_224sq" / "val" / cls
        found = sorted(p for p in folder.iterdir() if p.is_file())
        files += found
        labels += [label] * len(found)
    return files, np.array(labels)


# --------------------------------------------------------------------------------------------
# One configuration, in its own process


def worker(name: str, model_dir: Path, inputs: Path, out: Path, batch: int, naive_n: int) -> None:
    runtime, precision, _ = CONFIGS[name]
    os.environ["PNEUMO_RUNTIME"] = runtime
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from pneumo_desktop.core.model import Predictor, calibrate

    x = np.load(inputs, mmap_mode="r")
    predictor = Predictor(model_dir, precision=precision)
    if name == "naive":
        first = predictor.model.predict(np.asarray(x[:1]), verbose=0)
    else:
        first = predictor.predict_batch(np.asarray(x[:1]))
    ready = time.time()
    del first
    probs: list[float] = []
    t0 = time.perf_counter()
    if name == "naive":
        n = min(naive_n, len(x))
        for i in range(n):
            raw = predictor.model.predict(np.asarray(x[i : i + 1]), verbose=0).reshape(-1)
            probs.append(float(calibrate(raw, predictor.card.temperature)[0]))
    else:
        n = len(x)
        for i in range(0, n, batch):
            probs += [p.probability for p in predictor.predict_batch(np.asarray(x[i : i + batch]))]
    seconds = time.perf_counter() - t0
    result = {
        "ready_epoch": ready,
        "seconds": seconds,
        "n": n,
        "device": predictor.device_name,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "probabilities": probs,
        "threshold": predictor.card.threshold,
    }
    out.write_text(json.dumps(result), encoding="utf-8")


# --------------------------------------------------------------------------------------------


def ensure_exports(model_dir: Path, tmp: Path) -> Path:
    from pneumo_desktop.core.card import ModelCard
    from pneumo_desktop.core.runtime import LEAN, exported

    card = ModelCard.load(model_dir)
    if all(r in exported(card) for r in LEAN):
        return model_dir
    copy = tmp / "model"
    shutil.copytree(model_dir, copy)
    print(f"exporting {model_dir} to OpenVINO IR and ONNX in {copy} ...", flush=True)
    subprocess.run([sys.executable, "-m", "pneumo_desktop.core.runtime", "export", str(copy)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    return copy


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model-dir", type=Path, default=REPO / "resources" / "model")
    ap.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS),
                    help="in this order; a name given twice runs twice (interleave to even out a shared machine's load)")  # fmt: skip
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--naive-n", type=int, default=48, help="films for the naive loop (it is slow)")
    ap.add_argument("--worker", choices=list(CONFIGS), help=argparse.SUPPRESS)
    ap.add_argument("--inputs", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker, args.model_dir, args.inputs, args.out, args.batch, args.naive_n)
        return 0

    from pneumo_desktop.core.card import ModelCard
    from pneumo_desktop.core.io import load_xray
    from pneumo_desktop.core.preprocess import preprocess

    print(cpu_summary())
    print(f"niceness {os.nice(0)}, load average before {os.getloadavg()[0]:.2f} (shared machine)")
    with tempfile.TemporaryDirectory(prefix="runtime-bench-") as tmp_name:
        tmp = Path(tmp_name)
        model_dir = ensure_exports(args.model_dir, tmp)
        card = ModelCard.load(model_dir)
        files, truth = val_films()
        inputs = tmp / "inputs.npy"
        np.save(
            inputs, np.stack([preprocess(load_xray(f), card.preprocessing) for f in files]).astype(np.float32)
        )
        print(
            f"{len(files)} validation films, {card.preprocessing.size} px, batch {args.batch}; model {model_dir}"
        )
        results = {}
        for name in args.configs:
            out = tmp / f"{name}.json"
            cmd = [sys.executable, __file__, "--worker", name, "--model-dir", str(model_dir), "--inputs",
                   str(inputs), "--out", str(out), "--batch", str(args.batch), "--naive-n", str(args.naive_n)]  # fmt: skip
            start = time.time()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                print(f"{name}: failed\n{proc.stderr[-2000:]}")
                continue
            r = json.loads(out.read_text())
            r["ready_s"] = r["ready_epoch"] - start
            r["name"] = name
            results[name if name not in results else f"{name}#{len(results)}"] = r
            print(f"  {name}: {r['n'] / r['seconds']:.1f} img/s on {r['device']}", flush=True)
    print(f"load average after {os.getloadavg()[0]:.2f}")

    naive = results.get("naive")
    ref = results.get("tf-f32")
    header = ("| configuration | device | img/s | x naive | model ready (s) | peak RSS (MB) | package (MB) "
              "| labels = TF f32 | max abs dp |")  # fmt: skip
    print("\n" + header)
    print("|" + "---|" * (header.count("|") - 1))
    for r in results.values():
        name = r["name"]
        runtime, _precision, label = CONFIGS[name]
        rate = r["n"] / r["seconds"]
        ratio = f"{rate / (naive['n'] / naive['seconds']):.1f}" if naive else "-"
        if ref and name != "naive":
            a, b = np.array(ref["probabilities"]), np.array(r["probabilities"])
            t = ref["threshold"]
            same = int(np.sum((a >= t) == (b >= t)))
            parity = f"{same}/{len(a)} ({100 * same / len(a):.1f}%)"
            dp = f"{np.max(np.abs(a - b)):.2e}"
        else:
            parity = dp = "-"
        print(f"| {label} | {r['device']} | {rate:.1f} | {ratio} | {r['ready_s']:.1f} | {r['peak_rss_mb']:.0f} "
              f"| {package_mb(runtime):.0f} | {parity} | {dp} |")  # fmt: skip
    if ref:
        acc = np.mean((np.array(ref["probabilities"]) >= ref["threshold"]) == truth)
        print(f"\nTF float32 accuracy on these films at the card's threshold: {acc:.4f}")
    print(f"package sizes: installed folders of {PACKAGES} in {sys.prefix}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
