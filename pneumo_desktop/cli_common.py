"""What the command lines (``pneumo-scan`` and ``pneumo-scan calibrate``) share: the terminal
progress bar, opening the model and the results store with a one-line message and an exit code
instead of a traceback, and the decoder processes. ``cli``, ``site_cli`` and ``net.cli_receive``
import it; none of them imports the others back."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .core import errors
from .core.errors import ModelError, StoreError

log = logging.getLogger(__name__)

#: Loader threads, and as many decoder processes, of a command-line scan.
LOADER_THREADS = 2


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

    def clear(self) -> None:
        """Wipe the bar's line so that a result line can be printed in its place."""
        if self.enabled:
            sys.stderr.write("\r\033[K")

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


def open_predictor(args: argparse.Namespace, prog: str):  # Predictor, or an exit code
    """The model the options name, or exit code 3 with a one-line message (scan and calibrate)."""
    from .core.model import Predictor

    try:
        return Predictor(args.model_dir, device=args.device, precision=args.precision)
    except ModelError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return errors.EXIT_MODEL


def open_store(
    args: argparse.Namespace, prog: str, keep_patient_data: bool = False, retention_days: float | None = None
):  # ResultsStore, or an exit code
    """The results store the options name, or exit code 4 with a one-line message."""
    from .core.store import ResultsStore

    try:
        store = ResultsStore(args.store) if args.store else ResultsStore()
        store.keep_patient_data = keep_patient_data  # otherwise names and IDs are not kept
        if retention_days is not None:
            store.prune(retention_days)
    except StoreError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return errors.EXIT_STORE
    return store


@contextmanager
def decoder_pool(size: int) -> Iterator[Any]:  # core.decoding.DecoderPool, or None
    """Decoder processes for a command-line scan, as the app has: a native decoder that crashes on
    a damaged file ends a child, the file gets a ``decoder_crash`` row and the batch goes on. None
    when they cannot start (the files are then decoded in this process). Closed when the block
    ends, however it ends (an early exit code, Ctrl+C); closing it earlier is fine."""
    from .core.decoding import DecoderPool

    try:
        pool = DecoderPool(size)
    except Exception:  # no processes on this machine (limits, a broken frozen bundle): decode here
        log.warning("decoder processes could not start; decoding in this process", exc_info=True)
        pool = None
    try:
        yield pool
    finally:
        if pool is not None:
            pool.close()
