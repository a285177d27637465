"""What does the heatmap in the forward pass cost? Scan inference with and without the class map.

The same Predictor and the same batches of real films: ``predict_batch`` as the scanner calls it
(probability + OOD features + class activation map in one graph) against the same graph without the
map (probability + OOD features, as before heatmaps were stored). Target (issue #17): <= 10% extra.

    python benchmarks/cam_overhead.py [--n 64] [--batch 16] [--precision auto float32]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def timed(predictor, batches: list[np.ndarray], repeats: int) -> float:
    predictor.predict_batch(batches[0])  # trace
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for b in batches:
            predictor.predict_batch(b)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--precision", nargs="*", default=["auto", "float32"])
    ap.add_argument("--model-dir", default=None)
    args = ap.parse_args()

    from benchmarks.scan_bench import real_images
    from pneumo_desktop.core.io import load_xray
    from pneumo_desktop.core.model import Predictor
    from pneumo_desktop.core.precision import cpu_summary
    from pneumo_desktop.core.preprocess import preprocess_batch

    print(f"cpu: {cpu_summary()}")
    files = real_images(args.n)
    for precision in args.precision:
        predictor = Predictor(args.model_dir, device="cpu", precision=precision)
        x = preprocess_batch([load_xray(f) for f in files], predictor.spec)
        batches = [x[i : i + args.batch] for i in range(0, len(x), args.batch)]
        head = predictor._cam_head
        results = {}
        for label, cam in (
            ("without map", None),
            ("with map", head),
            ("without map (again)", None),
            ("with map (again)", head),
        ):
            predictor._cam_head = cam
            predictor._feature_model = None  # rebuilt for this output set
            predictor._graphs = {}
            results[label] = timed(predictor, batches, args.repeats)
        without = min(results["without map"], results["without map (again)"])
        with_map = min(results["with map"], results["with map (again)"])
        print(
            f"{predictor.precision:>9}: {args.n} films, batch {args.batch}: without map {args.n / without:6.1f} img/s, "
            f"with map {args.n / with_map:6.1f} img/s: {100 * (with_map / without - 1):+.1f}% scan inference time"
        )


if __name__ == "__main__":
    main()
