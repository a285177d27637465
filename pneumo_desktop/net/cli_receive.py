"""``pneumo-scan receive``: a DICOM Storage SCP in the foreground that scans each film as it arrives.

pynetdicom's threads store each film in the received folder and put its path on a queue; one
worker thread owns the model (a :class:`~pneumo_desktop.core.scan.Scanner`) and scans what is
queued, appending every row to the results store (one History entry for the whole session) and to
the CSV/JSON files. SIGINT (Ctrl+C) or SIGTERM stops listening, scans what was already received,
and exits with 0. Exit codes: 0 stopped cleanly, 2 usage error or the address cannot be bound,
3 the model is missing or corrupt, 130 Ctrl+C while the model was still loading.
"""

from __future__ import annotations

import argparse
import logging
import queue
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core import wording
from ..core.errors import ModelError
from ..core.logsetup import configure_console
from ..core.model import DEVICES
from ..core.resultfiles import write_csv, write_json
from ..core.results import ScanResult

if TYPE_CHECKING:  # pynetdicom is imported only when receiving
    from .scp import ReceiverConfig

log = logging.getLogger(__name__)

#: Arrivals are collected for this long before a scan starts, so a burst is one model batch.
GATHER_SECONDS = 0.3


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pneumo-scan receive",
        description="Receive chest X-rays by DICOM C-STORE (from an X-ray machine, a digitiser or a PACS) "
        "and scan each one as it arrives. Runs until Ctrl+C or SIGTERM. Decision support only.",
    )
    p.add_argument("--port", type=int, required=True, help="TCP port to listen on (104 and 11112 are usual)")
    p.add_argument("--aet", default="PNEUMO", help="our AE title (default PNEUMO)")
    p.add_argument(
        "--bind",
        default="127.0.0.1",
        help="interface to listen on (default 127.0.0.1, this computer only; 0.0.0.0 for the network)",
    )
    p.add_argument(
        "--allow-aet",
        action="append",
        default=[],
        metavar="AET",
        help="accept only this calling AE title (repeat for several; default: any)",
    )
    p.add_argument(
        "--quota-mb", type=float, help="stop accepting films when the received folder holds this much"
    )
    p.add_argument(
        "--folder", type=Path, help="where received films go (default: received/ in the user's data folder)"
    )
    p.add_argument(
        "--csv", type=Path, help="write one row per received film to this CSV file (rewritten as films come)"
    )
    p.add_argument("--json", type=Path, help="write the results to this JSON file")
    p.add_argument("--include-patient", action="store_true", help="export patient id, name and study UID too")
    p.add_argument("--threshold", type=float, help="operating point (default: the model card's)")
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument("--precision", choices=["float32", "bfloat16"], default="float32")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--model-dir", type=Path, help="model folder (default: the bundled model)")
    p.add_argument("--store", type=Path, help="results database (default: in the user's data folder)")
    p.add_argument("-v", "--verbose", action="store_true")
    from .results_out import add_cli_options  # each film's DICOM result saved / sent back as it is scanned

    add_cli_options(p)
    return p


class ScanWorker(threading.Thread):
    """The one thread that owns the model: loads it, then scans the paths put on :attr:`incoming`."""

    def __init__(self, make_scanner, on_results) -> None:  # () -> Scanner, (list[ScanResult]) -> None
        super().__init__(name="pneumo-model", daemon=True)
        self.make_scanner = make_scanner
        self.on_results = on_results
        self.incoming: queue.Queue[str] = queue.Queue()
        self.ready = threading.Event()  # set once the model is loaded, or failed to load
        self.stopping = threading.Event()
        self.scanner: Any = None  # a core.scan.Scanner once the model is loaded (in run)
        self.error: str | None = None
        self.scan_id: int | None = None

    def run(self) -> None:
        try:
            self.scanner = self.make_scanner()
        except ModelError as exc:
            self.error = str(exc)
        except Exception as exc:  # reported by the main thread
            log.exception("the model could not be loaded")
            self.error = f"the model could not be loaded ({type(exc).__name__})"
        finally:
            self.ready.set()
        if self.scanner is None:
            return
        while True:
            try:
                first = self.incoming.get(timeout=0.2)
            except queue.Empty:
                if self.stopping.is_set():
                    return
                continue
            time.sleep(GATHER_SECONDS)
            paths = [first]
            while True:
                try:
                    paths.append(self.incoming.get_nowait())
                except queue.Empty:
                    break
            try:
                for batch, _ in self.scanner.scan(paths, append_to=self.scan_id):
                    self.on_results(batch)
                self.scan_id = self.scanner.scan_id
            except Exception:  # one bad batch must not stop the receiver
                log.exception("scanning %d received film(s) failed", len(paths))


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging(args.verbose)
    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        print("pneumo-scan receive: --threshold must be between 0 and 1", file=sys.stderr)
        return 2
    from .scp import ReceiverConfig

    try:
        config = ReceiverConfig(
            ae_title=args.aet,
            port=args.port,
            bind=args.bind,
            allowed_aets=tuple(args.allow_aet),
            quota_mb=args.quota_mb,
            folder=args.folder,
        )
    except ValueError as exc:
        print(f"pneumo-scan receive: {exc}", file=sys.stderr)
        return 2

    from contextlib import closing

    from ..cli_common import LOADER_THREADS, decoder_pool
    from ..core.store import ResultsStore

    store = ResultsStore(args.store) if args.store else ResultsStore()
    # Closed on every way out: the decoders first (the films being decoded finish), then the store.
    with closing(store), decoder_pool(LOADER_THREADS) as decoders:  # a decoder crash ends a child only
        return _receive(args, config, store, decoders)


def _receive(args: argparse.Namespace, config: ReceiverConfig, store, decoders) -> int:
    """Receive and scan until Ctrl+C or SIGTERM; the caller owns and closes ``store`` and ``decoders``
    (a core.store.ResultsStore, a core.decoding.DecoderPool or None)."""
    from ..cli_common import LOADER_THREADS
    from ..core.model import Predictor
    from ..core.scan import Scanner
    from .results_out import export_for_cli
    from .scp import StorageReceiver

    def make_scanner() -> Scanner:  # in the worker thread, which then owns the model
        predictor = Predictor(args.model_dir, device=args.device, precision=args.precision)
        return Scanner(
            predictor, store=store, threshold=args.threshold, batch_size=args.batch_size,
            loader_threads=LOADER_THREADS, decoder=decoders,
        )

    results: list[ScanResult] = []

    def on_results(batch: list[ScanResult]) -> None:
        results.extend(batch)
        for r in batch:
            prob = f"{r.probability:.3f}" if r.probability is not None else "  -  "
            extra = f"  ({r.message})" if r.message else ""
            print(f"{prob}  {r.label:<12}  {r.path}{extra}", flush=True)
        _export(args, results)
        export_for_cli(args, batch, worker.scanner.predictor)  # in the worker: it owns the model

    worker = ScanWorker(make_scanner, on_results)
    worker.start()
    try:
        while not worker.ready.wait(0.2):
            pass
    except KeyboardInterrupt:
        print("pneumo-scan receive: interrupted while loading the model.", file=sys.stderr)
        return 130
    if worker.error is not None:
        print(f"pneumo-scan: {worker.error}", file=sys.stderr)
        return 3
    receiver = StorageReceiver(config, on_received=worker.incoming.put)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            receiver.start()
        except OSError as exc:
            print(
                f"pneumo-scan receive: cannot listen on {config.bind}:{config.port} ({exc.strerror or exc})",
                file=sys.stderr,
            )
            return 2
        host, port = receiver.address
        print(
            f"Receiving as {config.ae_title} on {host}:{port}; films go to {receiver.folder} "
            f"(model {worker.scanner.predictor.version}; Ctrl+C to stop)...",
            file=sys.stderr,
            flush=True,
        )
        while not stop.wait(0.5):
            pass
        print("pneumo-scan receive: stopping...", file=sys.stderr, flush=True)
    finally:
        receiver.stop()
        worker.stopping.set()
        if worker.is_alive():
            worker.join()  # scans what was already received: no stored film is left without a row
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if worker.scan_id is not None:
            store.end_scan(worker.scan_id, "finished")
    _export(args, results)
    s = receiver.stats
    print(
        f"Received {s.stored} film(s), refused {s.refused}, {s.aborted + s.cut_off} transfer(s) cut off; "
        f"{len(results)} scanned. {wording.DISCLAIMER}",
        file=sys.stderr,
    )
    return 0



def _export(args: argparse.Namespace, results: list[ScanResult]) -> None:
    if args.csv:
        write_csv(results, args.csv, include_patient=args.include_patient)
    if args.json:
        write_json(results, args.json, include_patient=args.include_patient)


def _configure_logging(verbose: bool) -> None:
    configure_console(
        verbose,
        fmt="%(asctime)s %(levelname)s %(name)s: %(message)s",
        levels={
            # The receiver's own lines (arrivals, refusals) are what a user running it wants to see.
            "pneumo_desktop.net": logging.DEBUG if verbose else logging.INFO,
            # pynetdicom's debug output dumps PDUs; its warnings and errors are enough.
            "pynetdicom": logging.WARNING,
        },
    )
