"""Site calibration on unseen films: calibrate on one half of the validation films, scan the other.

The validation films are split by patient (file names carry the patient: ``person1051_*`` for
pneumonia films, ``IM-0117-*`` / ``NORMAL2-IM-0117-*`` for normal ones), so no child has films on
both sides. Split 0 runs the real command line end to end:

    pneumo-scan calibrate HALF_A --site split0 ...
    pneumo-scan HALF_B --site split0 --csv b.csv ...

and reads sensitivity and specificity on half B from the CSV (the ``threshold`` column must carry the
site threshold). Further splits (other seeds) reuse the stored results and call the same
``core.site.calibrate`` the command uses. For each split it prints the sensitivity on the unseen
half (target >= 0.93) and its specificity next to the best specificity any threshold reaches on
that half at sensitivity >= 0.95 (target: within 0.05).

Films the quality gate refuses count on neither side (as in calibration); their number is printed.

    python benchmarks/site_split.py --precision bfloat16 [--splits 10] [--data PATH]
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def cpu_info() -> str:
    model, flags = platform.processor() or "?", ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
            if line.startswith("Flags:"):
                flags = " ".join(
                    f for f in line.split()[1:] if f.startswith(("amx", "avx512_bf16", "avx512f", "avx2"))
                )
    except OSError:
        pass
    return f"{model}; {os.cpu_count()} logical CPUs; flags: {flags or '?'}"


def patient_of(path: Path) -> str:
    name = path.name
    m = re.match(r"(person\d+)_", name)
    if m:
        return m.group(1)
    m = re.search(r"(IM-\d+)", name)
    return m.group(1) if m else name


def split(files: list[tuple[Path, int]], seed: int) -> tuple[list[tuple[Path, int]], list[tuple[Path, int]]]:
    """Half the patients of each class to A, the rest to B (grouped by patient, stratified)."""
    rng = np.random.default_rng(seed)
    a, b = [], []
    for cls in (0, 1):
        patients = sorted({patient_of(p) for p, y in files if y == cls})
        chosen = set(rng.permutation(patients)[: len(patients) // 2])
        for p, y in files:
            if y == cls:
                (a if patient_of(p) in chosen else b).append((p, y))
    return a, b


def link_set(root: Path, films: list[tuple[Path, int]]) -> Path:
    for cls in ("NORMAL", "PNEUMONIA"):
        (root / cls).mkdir(parents=True, exist_ok=True)
    for p, y in films:
        (root / ("PNEUMONIA" if y else "NORMAL") / p.name).symlink_to(p)
    return root


def shift_copy(src: Path, folder: Path) -> Path:
    """A copy of ``src`` as another machine might give it: darker mid-tones, softer, noisier."""
    from PIL import Image, ImageFilter

    folder.mkdir(parents=True, exist_ok=True)
    img = Image.open(src).convert("L").filter(ImageFilter.GaussianBlur(1.5))
    a = np.asarray(img, dtype=np.float64) / 255.0
    seed = int.from_bytes(src.name.encode()[:8].ljust(8, b"_"), "little")
    a = a**1.5 + np.random.default_rng(seed).normal(0, 0.04, a.shape)
    out = folder / (src.stem + ".png")
    Image.fromarray((np.clip(a, 0, 1) * 255).astype(np.uint8)).save(out)
    return out


def best_specificity(y: np.ndarray, p: np.ndarray, target: float = 0.95) -> tuple[float, float]:
    from pneumo_desktop.core import stats

    t = stats.threshold_for_sensitivity(y, p, target)
    c = stats.confusion(y, p, t)
    return c["tn"] / (c["tn"] + c["fp"]), t


def evaluate(y: np.ndarray, p: np.ndarray, threshold: float) -> tuple[float, float]:
    from pneumo_desktop.core import stats

    c = stats.confusion(y, p, threshold)
    return c["tp"] / (c["tp"] + c["fn"]), c["tn"] / (c["tn"] + c["fp"])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--data",
        type=Path,
        default=Path(os.environ.get("PNEUMO_SHARED", REPO.parent / "shared"))
        / "data"
        / "chest_xray_224sq"
        / "val",
    )
    ap.add_argument("--precision", default="bfloat16", choices=["float32", "bfloat16"])
    ap.add_argument("--splits", type=int, default=10)
    ap.add_argument("--target", type=float, default=0.95)
    ap.add_argument(
        "--shift",
        action="store_true",
        help="simulate another site: blur, gamma 1.5 and noise on every film (copies in a temporary folder)",
    )
    args = ap.parse_args()

    from pneumo_desktop.cli import main as cli
    from pneumo_desktop.core import stats
    from pneumo_desktop.core.model import Predictor
    from pneumo_desktop.core.results import OK
    from pneumo_desktop.core.scan import Scanner
    from pneumo_desktop.core.site import LabelledFilm, calibrate, card_auc, scan_films
    from pneumo_desktop.core.store import ResultsStore

    files = [
        (p, y) for y, cls in ((0, "NORMAL"), (1, "PNEUMONIA")) for p in sorted((args.data / cls).iterdir())
    ]
    shifted = tempfile.TemporaryDirectory() if args.shift else None
    if shifted is not None:
        files = [(shift_copy(p, Path(shifted.name) / ("PNEUMONIA" if y else "NORMAL")), y) for p, y in files]
    print(f"CPU: {cpu_info()}")
    print(
        f"Data: {args.data} ({sum(1 - y for _, y in files)} normal, {sum(y for _, y in files)} pneumonia films, "
        f"{len({patient_of(p) for p, _ in files})} patients); precision {args.precision}"
    )

    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        os.environ["PNEUMO_DATA_DIR"] = str(tmp / "userdata")  # profiles and results stay in here
        store_path = tmp / "results.sqlite3"
        common = ["--precision", args.precision, "--store", str(store_path), "-q"]

        # Split 0: the real command line, end to end.
        a, b = split(files, 0)
        half_a, half_b = link_set(tmp / "A", a), link_set(tmp / "B", b)
        t0 = time.perf_counter()
        assert (
            cli(
                [
                    "calibrate",
                    str(half_a),
                    "--site",
                    "split0",
                    "--target-sensitivity",
                    str(args.target),
                    *common,
                ]
            )
            == 0
        )
        out_csv = tmp / "b.csv"
        assert cli([str(half_b), "--site", "split0", "--csv", str(out_csv), *common]) == 0
        print(
            f"(split 0 via pneumo-scan: {time.perf_counter() - t0:.0f} s, films scanned once, then from the store)"
        )
        truth = {str(half_b / ("PNEUMONIA" if y else "NORMAL") / p.name): y for p, y in b}
        with open(out_csv, encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.DictReader(fh))
        ok = [r for r in rows if r["status"] == OK]
        thresholds = {r["threshold"] for r in rows}
        yb = np.array([truth[r["path"]] for r in ok])
        pb = np.array([float(r["probability"]) for r in ok])
        flagged = np.array([r["label"] == "Pneumonia" for r in ok])
        se_csv = float(flagged[yb == 1].mean())
        sp_csv = float((~flagged[yb == 0]).mean())
        print(
            f"split 0 (CLI): CSV threshold column {sorted(thresholds)}; half B {len(ok)} films counted, "
            f"{len(rows) - len(ok)} refused/unreadable; sensitivity {se_csv:.3f}, specificity {sp_csv:.3f}"
        )

        # All splits (0 again, from the store): the same calibrate() the command calls.
        predictor = Predictor(None, precision=args.precision)
        store = ResultsStore(store_path)
        scanner = Scanner(predictor, store=store)
        films = [LabelledFilm(str(p), bool(y)) for p, y in files]
        results = scan_films(scanner, films)
        by_path = {r.path: r for r in results}
        print(
            f"\n{'split':>5} {'nA+':>4} {'nA-':>4} {'thr':>7} {'sens B':>7} {'spec B':>7} {'best spec B':>11} "
            f"{'gap':>6} {'nB+':>4} {'nB-':>4} | no margin: {'thr':>7} {'sens B':>7} {'spec B':>7}"
        )
        worst_se, worst_gap = 1.0, 0.0
        for seed in range(args.splits):
            a, b = split(files, seed)
            fa = [LabelledFilm(str(p), bool(y)) for p, y in a]
            cal = calibrate(
                [by_path[f.path] for f in fa],
                fa,
                args.target,
                card_auc=card_auc(predictor.card.raw),
                bootstrap=200,
            )
            okb = [(by_path[str(p)], y) for p, y in b if by_path[str(p)].status == OK]
            yb = np.array([y for _, y in okb])
            pb = np.array([r.probability for r, _ in okb])
            se, sp = evaluate(yb, pb, cal.threshold)
            best, _ = best_specificity(yb, pb, 0.95)
            worst_se, worst_gap = min(worst_se, se), max(worst_gap, best - sp)
            # For comparison only: the same rule without the confidence margin (sample sensitivity >= target).
            ok_a = [
                (by_path[f.path].probability, int(f.positive)) for f in fa if by_path[f.path].status == OK
            ]
            plain = stats.threshold_for_sensitivity([y for _, y in ok_a], [q for q, _ in ok_a], args.target)
            se0, sp0 = evaluate(yb, pb, plain)
            print(
                f"{seed:>5} {cal.n_pos:>4} {cal.n_neg:>4} {cal.threshold:>7.4f} {se:>7.3f} {sp:>7.3f} "
                f"{best:>11.3f} {best - sp:>6.3f} {int(yb.sum()):>4} {int((1 - yb).sum()):>4} | "
                f"{'':>10} {plain:>7.4f} {se0:>7.3f} {sp0:>7.3f}"
            )
        store.close()
        ok_all = [
            (by_path[f.path].probability, int(f.positive)) for f in films if by_path[f.path].status == OK
        ]
        auc = stats.roc_auc([y for _, y in ok_all], [q for q, _ in ok_all])
        print(f"\nAUC on all {len(ok_all)} films counted: {auc:.4f}")
        print(
            f"Worst over {args.splits} splits: sensitivity on the unseen half {worst_se:.3f} (target >= 0.93); "
            f"specificity gap to the best at sensitivity 0.95 {worst_gap:.3f} (target <= 0.05)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
