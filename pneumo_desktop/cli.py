"""``pneumo-scan``: the command-line batch scanner, on the core alone (no Qt).

Exit codes: 0 when the scan ran (even if some files were unreadable; they get rows), 2 for usage
errors, 3 when the model is missing or corrupt, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from pathlib import Path

from . import __version__
from .core.errors import ModelError
from .core.results import ScanResult, summarise, write_csv, write_json

log = logging.getLogger("pneumo_desktop.cli")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pneumo-scan",
        description="Screen chest X-rays (PNG, JPEG, DICOM...) for pneumonia, offline. "
        "Decision support only, not a diagnostic device.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or folders (scanned recursively)")
    p.add_argument("--csv", type=Path, help="write one row per file to this CSV file")
    p.add_argument("--json", type=Path, help="write the results to this JSON file")
    p.add_argument("--threshold", type=float, help="operating point on the calibrated probability "
                   "(default: the model card's)")
    p.add_argument("--device", choices=["auto", "cpu", "gpu"], default="auto")
    p.add_argument("--precision", choices=["auto", "float32", "bfloat16"], default="auto",
                   help="auto (default): bfloat16 where the CPU has AMX or AVX-512 BF16 (or the GPU has "
                   "bfloat16) and it matches float32 on sample films, float32 elsewhere")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--model-dir", type=Path, help="model folder (default: the bundled model)")
    p.add_argument("--no-cache", action="store_true", help="ignore stored results; recompute everything")
    p.add_argument("--store", type=Path, help="results database (default: in the user's data folder)")
    p.add_argument("--include-patient", action="store_true", help="export patient id and name too")
    p.add_argument("--watch", action="store_true", help="keep scanning new files as they appear")
    p.add_argument("--watch-interval", type=float, default=2.0, help=argparse.SUPPRESS)
    p.add_argument("--watch-seconds", type=float, default=None, help=argparse.SUPPRESS)  # tests
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("--version", action="version", version=f"pneumo-scan {__version__}")
    return p


class ProgressBar:
    """A one-line progress bar on a terminal's stderr; silent when stderr is not a tty."""

    def __init__(self, enabled: bool) -> None:
        stream = sys.stderr
        self.enabled = enabled and stream is not None and stream.isatty()

    def update(self, done: int, total: int, eta: float | None) -> None:
        if not self.enabled:
            return
        width = 30
        frac = done / total if total else 1.0
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        left = f" ~{eta:.0f}s left" if eta is not None else ""
        sys.stderr.write(f"\r[{bar}] {done}/{total}{left}   ")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        from .core.dicom import without_pydicom_logs

        for handler in logging.getLogger().handlers:
            handler.addFilter(without_pydicom_logs)
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        print(f"pneumo-scan: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        print("pneumo-scan: --threshold must be between 0 and 1", file=sys.stderr)
        return 2
    if args.watch and not any(Path(p).is_dir() for p in args.paths):
        print("pneumo-scan: --watch needs a folder to watch", file=sys.stderr)
        return 2

    from .core.model import Predictor
    from .core.scan import FolderWatcher, Scanner
    from .core.store import ResultsStore

    try:
        predictor = Predictor(args.model_dir, device=args.device, precision=args.precision)
    except ModelError as exc:
        print(f"pneumo-scan: {exc}", file=sys.stderr)
        return 3
    store = ResultsStore(args.store) if args.store else ResultsStore()
    scanner = Scanner(
        predictor, store=store, threshold=args.threshold, batch_size=args.batch_size,
        use_cache=not args.no_cache,
    )
    results: list[ScanResult] = []
    bar = ProgressBar(not args.quiet)
    cancel = threading.Event()
    t0 = time.perf_counter()
    # Before the first scan, so that files arriving while it runs are picked up afterwards.
    watcher = FolderWatcher([p for p in args.paths if Path(p).is_dir()]) if args.watch else None
    try:
        for batch, progress in scanner.scan(args.paths, cancel):
            results.extend(batch)
            bar.update(progress.done, progress.total, progress.eta)
        bar.close()
        if watcher is not None:
            _watch(args, watcher, scanner, results, cancel)
    except KeyboardInterrupt:
        bar.close()
        print("pneumo-scan: interrupted; results so far are saved.", file=sys.stderr)
        _export(args, results)
        return 130
    finally:
        store.close()
    _export(args, results)
    _print_summary(results, scanner.threshold, predictor, time.perf_counter() - t0)
    return 0


def _watch(args: argparse.Namespace, watcher, scanner, results: list[ScanResult], cancel: threading.Event) -> None:  # noqa: ANN001
    folders = ", ".join(str(f) for f in watcher.folders)
    print(f"Watching {folders} for new files (Ctrl+C to stop)...", file=sys.stderr)
    start = time.monotonic()
    while args.watch_seconds is None or time.monotonic() - start < args.watch_seconds:
        new = watcher.poll()
        if new:
            # Arrivals join the scan that watches the folder: one History entry, not one per poll.
            for batch, _ in scanner.scan(new, cancel, append_to=scanner.scan_id):
                results.extend(batch)
                for r in batch:
                    print(_one_line(r), flush=True)
            if args.csv or args.json:
                _export(args, results)
        time.sleep(args.watch_interval)


def _one_line(r: ScanResult) -> str:
    prob = f"{r.probability:.3f}" if r.probability is not None else "  -  "
    extra = f"  ({r.message})" if r.message else ""
    return f"{prob}  {r.label:<12}  {r.path}{extra}"


def _export(args: argparse.Namespace, results: list[ScanResult]) -> None:
    if args.csv:
        write_csv(results, args.csv, include_patient=args.include_patient)
    if args.json:
        write_json(results, args.json, include_patient=args.include_patient)


def _print_summary(results: list[ScanResult], threshold: float, predictor, seconds: float) -> None:  # noqa: ANN001
    counts = summarise(results)
    print(
        f"Scanned {counts['total']} files in {seconds:.1f} s with {predictor.version} on "
        f"{predictor.device_name} (threshold {threshold:.3f}):"
    )
    for label in ("Pneumonia", "Normal", "Needs review", "Unreadable"):
        print(f"  {label:<13}{counts[label]:>6}")
    print("Decision support only, not a diagnostic device.")


if __name__ == "__main__":
    sys.exit(main())
