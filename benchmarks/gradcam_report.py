"""Where does the model look? Grad-CAM timing and heatmap mass by region on validation images.

For every validation PNEUMONIA image (or --limit of them) it computes the Grad-CAM heatmap of the
bundled model and reports the mean share of heatmap mass that falls in
  * the central lung region (a central box, 15-85% of the width, 10-90% of the height),
  * the border band (outer 10% of each side) and the four corners (outer 20% x 20%),
  * burned-in markers/text: very bright (>= 0.97), small connected blobs in the outer 25% band,
next to the share of the image's AREA each region covers (what a uniform heatmap would give).

    python benchmarks/gradcam_report.py [--limit 100] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def region_masks(pixels: np.ndarray) -> dict[str, np.ndarray]:
    h, w = pixels.shape
    yy, xx = np.mgrid[0:h, 0:w]
    fy, fx = yy / h, xx / w
    central = (fx >= 0.15) & (fx <= 0.85) & (fy >= 0.10) & (fy <= 0.90)
    border = (fx < 0.10) | (fx > 0.90) | (fy < 0.10) | (fy > 0.90)
    corners = ((fx < 0.2) | (fx > 0.8)) & ((fy < 0.2) | (fy > 0.8))
    outer = (fx < 0.25) | (fx > 0.75) | (fy < 0.25) | (fy > 0.75)
    bright = (pixels >= 0.97) & outer
    markers = np.zeros_like(bright)
    if bright.any():
        from PIL import Image, ImageFilter

        # Grow the bright text strokes a little so the mask covers the marker, not just its pixels.
        img = Image.fromarray((bright * 255).astype(np.uint8)).filter(ImageFilter.MaxFilter(9))
        markers = np.asarray(img) > 0
        if markers.mean() > 0.08:  # large bright areas are not markers (e.g. overexposed edges)
            markers = np.zeros_like(bright)
    return {"central_lungs": central, "border": border, "corners": corners, "markers": markers}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--model-dir", default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    from pneumo_desktop.core.explain import gradcam
    from pneumo_desktop.core.io import load_xray
    from pneumo_desktop.core.model import Predictor

    shared = Path(os.environ.get("PNEUMO_SHARED", REPO.parent / "shared"))
    files = sorted((shared / "data" / "chest_xray" / "val" / "PNEUMONIA").iterdir())[: args.limit]
    predictor = Predictor(args.model_dir, device="cpu")
    gradcam(predictor, load_xray(files[0]))  # build the gradient model once
    mass = {k: [] for k in ("central_lungs", "border", "corners", "markers")}
    area = {k: [] for k in mass}
    times = []
    with_markers = 0
    for f in files:
        x = load_xray(f)
        t0 = time.perf_counter()
        cam = gradcam(predictor, x)
        times.append(time.perf_counter() - t0)
        total = float(cam.sum()) or 1.0
        masks = region_masks(x.pixels)
        with_markers += bool(masks["markers"].any())
        for k, m in masks.items():
            mass[k].append(float(cam[m].sum()) / total)
            area[k].append(float(m.mean()))
    report = {
        "images": len(files),
        "model": predictor.version,
        "seconds_per_heatmap_median": float(np.median(times)),
        "seconds_per_heatmap_p95": float(np.percentile(times, 95)),
        "images_with_detected_markers": with_markers,
        "mean_heatmap_mass": {k: float(np.mean(v)) for k, v in mass.items()},
        "mean_area_share": {k: float(np.mean(v)) for k, v in area.items()},
    }
    print(f"Grad-CAM on {len(files)} validation PNEUMONIA images ({predictor.version}, CPU)")
    print(
        f"  time per heatmap: median {report['seconds_per_heatmap_median'] * 1000:.0f} ms, "
        f"p95 {report['seconds_per_heatmap_p95'] * 1000:.0f} ms"
    )
    print(f"  {'region':<15}{'heatmap mass':>14}{'area share':>12}")
    for k in mass:
        print(f"  {k:<15}{report['mean_heatmap_mass'][k]:>13.1%}{report['mean_area_share'][k]:>12.1%}")
    print(f"  (markers detected on {with_markers} of {len(files)} images)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
