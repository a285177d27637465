"""``pneumo-scan``: the command-line batch scanner, on the core alone (no Qt).

Exit codes (``core.errors.EXIT_*``, a table in the README): 0 when the scan ran (even if some files
were unreadable; they get rows), 1 when there was nothing to scan (an empty folder, or no image at
all) or for an unexpected failure, 2 for usage errors (an export folder that does not exist
included, checked before the scan), 3 when the model is missing, damaged or tampered with, 4 when
the results store cannot be used, 5 when an export (CSV, JSON, --pdf) cannot be written, 6 when
DICOM results could not be sent (--send-to), 130 after Ctrl+C and 143 after SIGTERM (the batch in
progress finishes and the exports are written). ``pneumo-scan receive ...`` is the DICOM receiver
(pneumo_desktop.net).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .cli_common import LOADER_THREADS, ProgressBar, decoder_pool, open_predictor, open_store
from .core import errors, wording
from .core.errors import ExportError, StoreError
from .core.logsetup import configure_console
from .core.model import DEVICES
from .core.resultfiles import write_csv, write_json
from .core.results import ScanResult, summarise

if TYPE_CHECKING:
    from .core.stopping import StopRequest

log = logging.getLogger("pneumo_desktop.cli")

#: Rows that say the path held no image at all (an empty file, a text file...).
NOT_IMAGES = frozenset({"not_image", "empty"})


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pneumo-scan",
        description=f"Screen chest X-rays (PNG, JPEG, DICOM...) for pneumonia, offline. {wording.DISCLAIMER}",
        epilog="Site calibration: 'pneumo-scan calibrate FOLDER --site NAME' sets a clinic's threshold "
        "from its own labelled films (see 'pneumo-scan calibrate --help'); then scan with --site NAME.",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (scanned recursively)")
    p.add_argument("--csv", type=Path, help="write one row per file to this CSV file")
    p.add_argument("--json", type=Path, help="write the results to this JSON file")
    p.add_argument("--threshold", help="operating point on the calibrated pneumonia "
                   "probability, 0.8 or 80%% (default: the site profile's with --site, else the model card's)")
    p.add_argument("--site", metavar="NAME", help="use this site's calibrated threshold (made with "
                   "'pneumo-scan calibrate FOLDER --site NAME'); --threshold still wins")
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument("--precision", choices=["auto", "float32", "bfloat16"], default="auto",
                   help="auto (default): bfloat16 where the CPU has AMX or AVX-512 BF16 (or the GPU has "
                   "bfloat16) and it matches float32 on sample films, float32 elsewhere")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--model-dir", type=Path, help="model folder (default: the bundled model)")
    p.add_argument("--no-cache", action="store_true", help="ignore stored results; recompute everything")
    p.add_argument("--store", type=Path, help="results database (default: in the user's data folder)")
    p.add_argument("--pdf", type=Path, help="write the PDF report (every file, for filing and sign-off) here")
    p.add_argument("--include-patient", action="store_true",
                   help="export patient id and name too (and keep them in the results store)")
    p.add_argument("--forget-patient-data", action="store_true",
                   help="blank every patient name and ID kept in the results store, then exit")
    p.add_argument("--retention-days", type=float, metavar="N",
                   help="delete scan history older than N days from the results store")
    p.add_argument("--watch", action="store_true", help="keep scanning new files as they appear")
    p.add_argument("--watch-interval", type=float, default=2.0, help=argparse.SUPPRESS)
    p.add_argument("--watch-seconds", type=float, default=None, help=argparse.SUPPRESS)  # tests
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("--version", action="version", version=f"pneumo-scan {__version__}")
    from .net.results_out import add_cli_options  # --dicom-out, --send-to: results back to a PACS

    add_cli_options(p)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["receive"]:  # `pneumo-scan receive ...`: the DICOM receiver (pneumo_desktop.net)
        from .net.cli_receive import main as receive_main

        return receive_main(argv[1:])
    from .native_noise import divert_native_stderr

    if argv[:1] == ["calibrate"]:
        if not Path("calibrate").exists():  # a file or folder named "calibrate" is still scanned
            from .site_cli import calibrate_main

            with divert_native_stderr():
                return calibrate_main(argv[1:])
        print("pneumo-scan: 'calibrate' is scanned as a folder here (one of that name exists); "
              "to calibrate, run pneumo-scan from another folder.", file=sys.stderr)
    with divert_native_stderr():  # TensorFlow/absl start-up chatter goes to the log, not the terminal
        return _main(argv)


def _main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    configure_console(args.verbose)
    if args.retention_days is not None and not args.retention_days >= 0:
        print("pneumo-scan: --retention-days must be 0 or more", file=sys.stderr)
        return errors.EXIT_USAGE
    if args.forget_patient_data or (args.retention_days is not None and not args.paths):
        return _maintain_store(args)
    if not args.paths:
        build_parser().error("the following arguments are required: PATH")  # exits 2, as argparse does
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        print(f"pneumo-scan: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    if args.threshold is not None:
        from .core.wording import ThresholdError, parse_threshold

        try:
            args.threshold = parse_threshold(args.threshold)
        except ThresholdError as exc:
            print(f"pneumo-scan: --threshold: {exc}", file=sys.stderr)
            return 2
    if args.watch and not any(Path(p).is_dir() for p in args.paths):
        print("pneumo-scan: --watch needs a folder to watch", file=sys.stderr)
        return 2

    from .core.export import check_export_target
    from .core.io import walk_files

    try:  # before the model loads and the scan runs, not after
        for target, what in ((args.csv, "CSV file"), (args.json, "JSON file"), (args.pdf, "PDF report")):
            if target is not None:
                check_export_target(target, what)
    except ExportError as exc:
        print(f"pneumo-scan: {exc}", file=sys.stderr)
        return errors.EXIT_USAGE
    if not args.watch and next(walk_files(args.paths), None) is None:
        print(f"pneumo-scan: no files to scan in {', '.join(args.paths)}", file=sys.stderr)
        return 1

    # Started now: the decoder processes come up while the model loads, not after it.
    with decoder_pool(LOADER_THREADS) as decoders:  # a decoder crash ends a child, not the batch
        return _scan(args, decoders)


def _scan(args: argparse.Namespace, decoders) -> int:  # decoders: core.decoding.DecoderPool or None
    from .core.scan import FolderWatcher, ScanBatch, ScanEvent, Scanner, drive

    predictor = open_predictor(args, "pneumo-scan")
    if isinstance(predictor, int):
        return predictor
    from .site_cli import threshold_for_scan

    in_force = threshold_for_scan(args.site, predictor.card, args.threshold)  # user > site > card
    if in_force is None:
        return errors.EXIT_USAGE
    store = open_store(args, "pneumo-scan", keep_patient_data=args.include_patient, retention_days=args.retention_days)
    if isinstance(store, int):
        return store
    scanner = Scanner(
        predictor, store=store, threshold=in_force.value, batch_size=args.batch_size,
        use_cache=not args.no_cache, loader_threads=LOADER_THREADS, decoder=decoders,
    )
    scanner.outputs = [str(p) for p in (args.csv, args.json) if p is not None]
    results: list[ScanResult] = []
    bar = ProgressBar(not args.quiet)
    from .core.stopping import StopRequest, exit_code_for

    cancel = StopRequest()  # SIGINT/SIGTERM: finish the batch in progress, export, exit
    t0 = time.perf_counter()
    # Before the first scan, so that files arriving while it runs are picked up afterwards.
    watcher = FolderWatcher([p for p in args.paths if Path(p).is_dir()]) if args.watch else None
    code = errors.EXIT_OK
    try:
        with cancel.on_signals():
            def show(event: ScanEvent) -> None:
                if not isinstance(event, ScanBatch):
                    return
                results.extend(event.rows)
                if not args.quiet:  # one line per file as results arrive
                    bar.clear()
                    for r in event.rows:
                        print(_one_line(r), flush=True)
                bar.update(event.progress.done, event.progress.total, event.progress.eta)

            drive(scanner.run(args.paths, cancel), show)
            bar.close()
            if watcher is not None and not cancel.is_set():
                _watch(args, watcher, scanner, results, cancel)
        if cancel.signum is not None:
            code = exit_code_for(cancel.signum)
            if scanner.scan_id is not None:
                store.end_scan(scanner.scan_id, "interrupted")
    except KeyboardInterrupt:
        bar.close()
        code = errors.EXIT_SIGINT
    except StoreError as exc:
        bar.close()
        print(f"pneumo-scan: {exc}", file=sys.stderr)
        code = errors.EXIT_STORE
    except Exception as exc:  # a bug: say so in one line, still export what was computed
        bar.close()
        log.error("unexpected failure", exc_info=args.verbose)
        print(f"pneumo-scan: unexpected error ({type(exc).__name__}: {exc}); results so far are exported. "
              "Run again with -v for details, and please report it.", file=sys.stderr)
        code = errors.EXIT_INTERNAL
    finally:
        if decoders is not None:
            decoders.close()  # after the files being decoded: a stopped scan's last ones finish
        reviews = _latest_reviews(store)
        store.close()
    if code in (errors.EXIT_SIGINT, errors.EXIT_SIGTERM) or cancel.signum is not None:
        print("pneumo-scan: interrupted; results so far are saved.", file=sys.stderr)
    try:
        _export(args, results, reviews)
    except ExportError as exc:
        print(f"pneumo-scan: {exc}", file=sys.stderr)
        return code or errors.EXIT_EXPORT
    if args.pdf:
        pdf_code = _write_pdf(args, results, reviews, predictor, scanner.threshold, in_force)
        if pdf_code:
            return code or pdf_code
    _print_summary(results, scanner.threshold, predictor, time.perf_counter() - t0, args.threshold is not None)
    if args.site or in_force.note:
        print(f"Threshold in force: {in_force.describe()}.")
    if code:
        return code
    if not args.watch and not any(r.reason_code not in NOT_IMAGES for r in results):
        print(f"pneumo-scan: no images found in {', '.join(args.paths)}", file=sys.stderr)
        return 1
    from .net.results_out import export_for_cli

    return export_for_cli(args, results, predictor)  # 6 when a DICOM result could not be sent


def _watch(args: argparse.Namespace, watcher, scanner, results: list[ScanResult], cancel: StopRequest) -> None:
    folders = ", ".join(str(f) for f in watcher.folders)
    print(f"Watching {folders} for new files (Ctrl+C to stop)...", file=sys.stderr)
    from .core.outputs import own_outputs

    own = own_outputs(scanner)
    start = time.monotonic()
    while (args.watch_seconds is None or time.monotonic() - start < args.watch_seconds) and not cancel.is_set():
        new = [p for p in watcher.poll() if p not in own]  # never its own CSV/JSON or store
        if new:
            # Arrivals join the scan that watches the folder: one History entry, not one per poll.
            for batch, _ in scanner.scan(new, cancel, append_to=scanner.scan_id):
                results.extend(batch)
                for r in batch:
                    print(_one_line(r), flush=True)
            if args.csv or args.json:
                try:
                    _export(args, results)
                except ExportError as exc:  # tried again after the next arrivals and at the end
                    print(f"pneumo-scan: {exc}", file=sys.stderr)
        cancel.wait(args.watch_interval)


def _maintain_store(args: argparse.Namespace) -> int:
    """``--forget-patient-data`` and ``--retention-days`` on their own: no scan."""
    from .core.store import ResultsStore

    try:
        store = ResultsStore(args.store) if args.store else ResultsStore()
        try:
            if args.retention_days is not None:
                print(f"Deleted {store.prune(args.retention_days)} scans older than {args.retention_days:g} days.")
            if args.forget_patient_data:
                print(f"Patient names and IDs removed from {store.forget_patient_data()} stored rows.")
        finally:
            store.close()
    except StoreError as exc:
        print(f"pneumo-scan: {exc}", file=sys.stderr)
        return errors.EXIT_STORE
    return errors.EXIT_OK


def _one_line(r: ScanResult) -> str:
    from .core.export import display_text
    from .core.results import ERROR, REJECTED
    from .core.wording import cli_line, reason_text

    judged = r.status not in (ERROR, REJECTED)
    # a file name may not be text: U+FFFD where it cannot be decoded
    return display_text(cli_line(r.path, r.label, r.probability, judged, reason_text(r.message, r.label)))


def _latest_reviews(store) -> dict:
    from .core.review import latest_reviews

    try:
        return latest_reviews(store)
    except Exception:  # reviews are extra: an export without them beats none
        log.exception("cannot read the reviews")
        return {}


def _write_pdf(args: argparse.Namespace, results: list[ScanResult], reviews: dict, predictor, threshold: float, in_force) -> int:
    """The PDF report (the GUI's, drawn with Qt's PDF writer and no window). 0, or 5 on failure."""
    from .report import ReportContext, pdf_heatmaps, report_threshold, write_pdf_report

    try:
        write_pdf_report(
            str(args.pdf),
            results,
            ReportContext(
                model=predictor.version,
                device=predictor.device_name,
                threshold=threshold,
                threshold_source=report_threshold(threshold, _threshold_source(in_force), predictor.card.threshold).source,
                include_patient=args.include_patient,
                reviews=reviews,
                threshold_note=in_force.describe(),
            ),
            heatmap=pdf_heatmaps(predictor),
        )
    except OSError as exc:
        print(f"pneumo-scan: the PDF report could not be written: {exc}", file=sys.stderr)
        return errors.EXIT_EXPORT
    print(f"Report: {args.pdf}")
    return 0


def _threshold_source(in_force) -> str | None:
    """The report's words for where the threshold in force comes from (None: the model card)."""
    from .core.threshold import SITE, USER

    if in_force.source == USER:
        return "--threshold"
    if in_force.source == SITE and in_force.profile is not None:
        return f"site profile {in_force.profile.label}"
    return None


def _export(args: argparse.Namespace, results: list[ScanResult], reviews: dict | None = None) -> None:
    if args.csv:
        write_csv(results, args.csv, include_patient=args.include_patient, reviews=reviews)
    if args.json:
        write_json(results, args.json, include_patient=args.include_patient, reviews=reviews)


def _print_summary(results: list[ScanResult], threshold: float, predictor, seconds: float, option: bool) -> None:
    from .core import wording

    counts = summarise(results)
    in_force = wording.threshold_in_force(
        threshold, None if option else predictor.card.threshold, override="--threshold"
    )
    earlier = sum(r.cached for r in results)
    print(
        f"Scanned {counts['total']} files in {seconds:.1f} s with {predictor.version} on "
        f"{predictor.device_name}; {wording.threshold_text(in_force)}; "
        f"{earlier} from earlier results (the results store):"
    )
    for label in ("Pneumonia", "Normal", "Needs review", "Unreadable"):
        print(f"  {label:<13}{counts[label]:>6}")
    print(wording.DISCLAIMER)


if __name__ == "__main__":
    sys.exit(main())
