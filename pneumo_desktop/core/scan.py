"""Scanning files and folders: decode in a small thread pool, infer in batches, stream results.

:meth:`Scanner.run` walks the folders once, yields :class:`ScanStarted` then a :class:`ScanBatch`
per batch, and returns a :class:`ScanOutcome`; :func:`drive` runs it for callers that just want it
done (the CLI). The thread that iterates it owns the model. Loader threads only read, hash,
decode and preprocess; at most ``window`` files are in flight, so memory stays flat however large
the folder. Cancel (a ``threading.Event``) is honoured between batches. Every batch is written to
the results store before it is yielded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import stat
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from . import quality
from .card import sha256_file
from .decoding import decode_for_model
from .errors import StoreError, XRayLoadError
from .heatmap import stored_for_row as stored_heatmap
from .io import XRay, detect_format, iter_image_files, load_xray, walk_files
from .outputs import own_outputs, select_files
from .privacy import patient_fields
from .results import ERROR, OK, REJECTED, ScanResult, label_for
from .store import ResultsStore

log = logging.getLogger(__name__)

#: Bump when loading, preprocessing or the quality rules change the row a file would get: cached
#: rows from an older pipeline are then recomputed. 2: colour JPEGs reach the colour check.
#: 3: rows carry the DICOM study UID and their heatmap; population (DICOM age), image statistics
#: and the orientation/polarity/field-of-view network.
PIPELINE_VERSION = 3
#: Files up to this size are hashed (and their row cached) even when they are no image.
SMALL_FILE = 1 << 20


def cache_key(card) -> str:  # core.card.ModelCard
    """What a cached row depends on besides the file's bytes: the weights, the whole card
    (temperature, OOD reference, preprocessing...) and the pipeline version."""
    from .integrity import runtime_digests  # every file of the model folder: the OOD reference too

    files = runtime_digests(card.folder, card.raw) if isinstance(getattr(card, "raw", None), dict) else {}
    blob = json.dumps(
        {"sha256": card.sha256, "card": card.raw, "pipeline": PIPELINE_VERSION, "files": files}, sort_keys=True
    )
    return hashlib.sha256(blob.encode()).hexdigest()


class CancelFlag(Protocol):
    """What a scan checks between batches: a ``threading.Event`` or a ``core.stopping.StopRequest``."""

    def is_set(self) -> bool: ...


@dataclass(frozen=True)
class ScanProgress:
    done: int
    total: int
    elapsed: float  # seconds since the scan started

    @property
    def eta(self) -> float | None:
        """Seconds left, estimated from the pace so far (None until there is a pace)."""
        if self.done == 0 or self.total <= self.done:
            return None if self.done == 0 else 0.0
        return self.elapsed / self.done * (self.total - self.done)


@dataclass(frozen=True)
class ScanStarted:
    """The folder has been walked (once): ``total`` files will be scanned into ``scan_id``."""

    total: int
    scan_id: int | None = None


@dataclass(frozen=True)
class ScanBatch:
    """One batch of rows, already in the store, and the progress after it."""

    rows: list[ScanResult]
    progress: ScanProgress


ScanEvent = ScanStarted | ScanBatch


@dataclass(frozen=True)
class ScanOutcome:
    """How a scan ended: ``state`` finished | cancelled (the caller's ``cancel``), the counts, the
    recorded scan. (A failure raises; the store records it as interrupted.)"""

    state: str
    done: int
    total: int
    seconds: float
    scan_id: int | None = None

    @property
    def cancelled(self) -> bool:
        return self.state == "cancelled"


def drive(
    scan: Generator[ScanEvent, None, ScanOutcome], on_event: Callable[[ScanEvent], object] | None = None
) -> ScanOutcome:
    """Run a :meth:`Scanner.run` generator to its end, handing each event to ``on_event``."""
    while True:
        try:
            event = next(scan)
        except StopIteration as stop:
            return stop.value
        if on_event is not None:
            on_event(event)


@dataclass
class _Prepared:
    path: str
    content_hash: str = ""
    result: ScanResult | None = None  # final already (error or cached)
    inputs: np.ndarray | None = None
    xray: XRay | None = None
    issue: quality.QualityIssue | None = None
    thumb: np.ndarray | None = None  # the gate network's input
    seconds: float = 0.0


class Scanner:
    """Streams :class:`ScanResult` batches for files and folders."""

    def __init__(
        self,
        predictor,  # core.model.Predictor (or anything with the same interface)
        store: ResultsStore | None = None,
        threshold: float | None = None,
        batch_size: int = 16,
        loader_threads: int = 2,
        use_cache: bool = True,
        decoder=None,  # core.decoding.DecoderPool: decode in child processes
    ) -> None:
        self.predictor = predictor
        self.decode = decoder.decode if decoder is not None else _decode_here
        self.store = store
        self.threshold = predictor.card.threshold if threshold is None else float(threshold)
        self.batch_size = max(1, int(batch_size))
        self.loader_threads = max(1, int(loader_threads))
        self.window = self.batch_size * 3
        self.use_cache = use_cache and store is not None
        self.model_key = cache_key(predictor.card)
        self.scan_id: int | None = None
        self.outputs: list[str] = []  # files this scan writes (exports): never scanned themselves

    # ---------------------------------------------------------------------------------------
    def run(
        self,
        paths: Iterable[str | os.PathLike[str]],
        cancel: CancelFlag | None = None,
        append_to: int | None = None,
    ) -> Generator[ScanEvent, None, ScanOutcome]:
        """Walk ``paths`` once and scan: yields :class:`ScanStarted` (the total, known before the
        first batch), then a :class:`ScanBatch` per batch; returns a :class:`ScanOutcome`.

        Stops early (between batches) when ``cancel`` is set. ``append_to``: the id of a recorded
        scan to add these results to, instead of recording a new one (files arriving in a watched
        folder belong to the scan that watches it).
        """
        roots = [str(p) for p in paths]
        # Each file once, never the store or the exports this scan writes (core.outputs).
        files = select_files(iter_image_files(list[str | os.PathLike[str]](roots)), own_outputs(self))
        total = len(files)
        t0 = time.perf_counter()
        self.scan_id = None
        if self.store is not None:
            if append_to is not None and self.store.resume_scan(append_to):
                self.scan_id = append_to
            else:
                self.scan_id = self.store.begin_scan(roots, self.model_key)
        state = "finished"
        done = 0
        pending: deque[Future[_Prepared]] = deque()
        it = iter(files)
        ready: list[_Prepared] = []
        pool = ThreadPoolExecutor(self.loader_threads, thread_name_prefix="pneumo-loader")
        try:
            yield ScanStarted(total, self.scan_id)
            while True:
                while len(pending) < self.window and (path := next(it, None)) is not None:
                    pending.append(pool.submit(self._prepare, path))
                if not pending and not ready:
                    break
                # Collect in order until a model batch is full or nothing is left.
                while pending and sum(p.inputs is not None for p in ready) < self.batch_size:
                    ready.append(pending.popleft().result())
                    if len(ready) >= self.window:
                        break
                batch = self._finish(ready)
                ready = []
                store_failure: StoreError | None = None
                if self.store is not None:
                    try:
                        self.store.add(self.scan_id, batch, self.model_key)
                    except StoreError as exc:  # disk full, locked: the batch still reaches the exports
                        store_failure = exc
                done += len(batch)
                yield ScanBatch(batch, ScanProgress(done, total, time.perf_counter() - t0))
                if store_failure is not None:
                    raise store_failure
                if cancel is not None and cancel.is_set():
                    state = "cancelled"
                    break
        except GeneratorExit:  # the caller stopped iterating: a cancel
            state = "cancelled"
            raise
        except BaseException:  # Ctrl+C, or a failure of the store or the machine
            state = "interrupted"
            raise
        finally:
            # Queued files are dropped; a file being decoded finishes in the background.
            pool.shutdown(wait=state == "finished", cancel_futures=True)
            if self.store is not None and self.scan_id is not None:
                try:
                    self.store.end_scan(self.scan_id, state)
                except StoreError:
                    if state == "finished":
                        raise
                    log.warning("could not record the end of scan %s (%s)", self.scan_id, state)
        seconds = time.perf_counter() - t0
        log.info("scan %s: %d of %d files in %.1f s", state, done, total, seconds)
        return ScanOutcome(state, done, total, seconds, self.scan_id)

    def scan(
        self,
        paths: Iterable[str | os.PathLike[str]],
        cancel: CancelFlag | None = None,
        append_to: int | None = None,
    ) -> Iterator[tuple[list[ScanResult], ScanProgress]]:
        """:meth:`run` as ``(results, progress)`` pairs, one per batch (for callers that only want rows)."""
        for event in self.run(paths, cancel, append_to):
            if isinstance(event, ScanBatch):
                yield event.rows, event.progress

    def scan_all(self, paths: Iterable[str | os.PathLike[str]]) -> list[ScanResult]:
        out: list[ScanResult] = []
        drive(self.run(paths), lambda e: out.extend(e.rows) if isinstance(e, ScanBatch) else None)
        return out

    # ---------------------------------------------------------------------------------------
    def _prepare(self, path: str) -> _Prepared:
        """Runs in a loader thread: hash, cache lookup, decode, quality rules, preprocess."""
        t0 = time.perf_counter()
        prep = _Prepared(path)
        before = _signature(path)
        try:
            if before is not None and stat.S_ISREG(before[0]):  # not a pipe: reading one could wait forever
                # The first bytes first: a large file that is no image (a 2 GB video) is not hashed.
                if before[1] <= SMALL_FILE or detect_format(path) is not None:
                    prep.content_hash = sha256_file(path)
        except OSError:
            pass  # load_xray below gives the human reason
        if self.use_cache and prep.content_hash and self.store is not None:
            try:
                cached = self.store.lookup(prep.content_hash, self.model_key)
            except (sqlite3.Error, ValueError, TypeError) as exc:  # a locked or damaged store: recompute
                log.warning("results store lookup failed (%s); the file is scanned again", exc)
                cached = None
            if cached is not None:
                prep.result = replace(cached, path=path, cached=True).relabel(self.threshold)
                if self.store.keep_patient_data and cached.format == "DICOM" and not cached.patient_id:
                    pid, name = patient_fields(path)  # not in the store unless opted in: from the header
                    prep.result = replace(prep.result, patient_id=pid, patient_name=name)
                return prep
        try:
            # Load, quality rules, the gate's statistics and thumbnail, preprocess; here or in a
            # decoder process (core.decoding).
            gate = getattr(self.predictor, "gate", None)
            prep.xray, prep.issue, prep.inputs, prep.thumb = self.decode(
                path, self.predictor.spec, gate.preparer() if gate is not None else None
            )
        except XRayLoadError as exc:
            prep.result = self._error(path, prep.content_hash, str(exc), exc.code, time.perf_counter() - t0)
        except Exception as exc:  # never let one file stop a batch
            log.exception("unexpected failure preparing %s", path)
            prep.result = self._error(
                path, prep.content_hash, f"Unexpected error while reading the file ({type(exc).__name__}).",
                "internal", time.perf_counter() - t0,
            )
        if prep.content_hash and _signature(path) != before:
            # Rewritten while being read: the hash may not be of the bytes decoded. No cache entry.
            prep.content_hash = ""
            if prep.result is not None:
                prep.result = replace(prep.result, content_hash="")
        prep.seconds = time.perf_counter() - t0
        return prep

    def _error(self, path: str, content_hash: str, message: str, code: str, seconds: float) -> ScanResult:
        return ScanResult(
            path=path, status=ERROR, probability=None, label=label_for(ERROR, None, self.threshold),
            message=message, reason_code=code, seconds=seconds, model_version=self.predictor.version,
            threshold=self.threshold, content_hash=content_hash,
        )

    def _finish(self, ready: list[_Prepared]) -> list[ScanResult]:
        """Runs in the model's thread: one model call for every decodable file of the batch."""
        todo = [p for p in ready if p.result is None and p.inputs is not None]
        if todo:
            t0 = time.perf_counter()
            try:
                preds = self.predictor.predict_batch(np.stack([p.inputs for p in todo if p.inputs is not None]))
                gate = getattr(self.predictor, "gate", None)  # orientation, polarity, field of view
                presented = gate.judge([p.thumb for p in todo]) if gate is not None else [None] * len(todo)
            except Exception as exc:  # a failing batch becomes error rows, the scan goes on
                log.exception("inference failed for a batch of %d", len(todo))
                for p in todo:
                    p.result = self._error(
                        p.path, p.content_hash, f"The model failed on this image ({type(exc).__name__}).",
                        "inference", p.seconds,
                    )
                preds, presented = [], []
            share = (time.perf_counter() - t0) / len(todo)
            ood = getattr(self.predictor, "ood", None)
            for p, pred, shown in zip(todo if preds else [], preds, presented, strict=False):
                issue = p.issue or shown
                if issue is None and ood is not None and pred.ood_score is not None and ood.is_out(pred.ood_score):
                    issue = quality.OOD_ISSUE
                status = REJECTED if issue else OK
                x = p.xray
                assert x is not None
                p.result = ScanResult(
                    path=p.path, status=status, probability=pred.probability,
                    label=label_for(status, pred.probability, self.threshold),
                    message=issue.message if issue else quality.population_note(x),
                    reason_code=issue.code if issue else "",
                    seconds=p.seconds + share, model_version=self.predictor.version,
                    threshold=self.threshold, raw_probability=pred.raw_probability, ood_score=pred.ood_score,
                    content_hash=p.content_hash, format=x.format, width=x.width, height=x.height,
                    modality=x.modality or "", view_position=x.view_position or "",
                    study_date=x.study_date or "", patient_id=x.patient_id or "",
                    patient_name=x.patient_name or "", notes="; ".join(x.notes),
                    study_uid=x.study_uid or "",
                    heatmap=stored_heatmap(status, getattr(pred, "cam", None)),
                )
        for p in ready:
            p.inputs = p.thumb = None
        return [p.result for p in ready if p.result is not None]


def _decode_here(path: str, spec, gate=None):
    """Decode in this process (the module's ``load_xray``, looked up at call time)."""
    return decode_for_model(path, spec, load=load_xray, gate=gate)


def _signature(path: str) -> tuple[int, int, int] | None:
    """(mode, size, modification time) of a file, None when it cannot be stat'ed."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mode, st.st_size, st.st_mtime_ns


class FolderWatcher:
    """Polls folders for files that are new or rewritten and have stopped changing.

    An X-ray export folder is written by another program: a file counts as complete once its size
    and modification time stay the same over ``settle`` polls (an empty file waits longer, as it
    is often a placeholder about to be filled). A file rewritten later (new size or time) is
    reported again. Files present when the watcher is created are taken as known, unless
    ``include_existing``: create the watcher *before* scanning what is already there, so that
    nothing arriving during that scan is missed.
    """

    def __init__(
        self, folders: Iterable[str | os.PathLike[str]], include_existing: bool = False, settle: int = 2
    ) -> None:
        self.folders = [Path(f) for f in folders]
        self.settle = max(1, int(settle))
        self._known: dict[str, tuple[int, int]] = {}  # path -> signature when last reported
        self._candidates: dict[str, tuple[tuple[int, int], int]] = {}  # path -> (signature, stable polls)
        if not include_existing:
            self._known = {str(p): sig for p, sig in self._signatures()}

    def _signatures(self) -> Iterator[tuple[Path, tuple[int, int]]]:
        for p, st in walk_files(list[str | os.PathLike[str]](self.folders)):
            if st is not None:  # not a broken link or an unlistable folder: nothing to scan there yet
                yield p, (st.st_size, st.st_mtime_ns)

    def poll(self) -> list[str]:
        """Files that are new or changed and complete since the previous polls."""
        ready: list[str] = []
        seen: set[str] = set()
        for p, sig in self._signatures():
            key = str(p)
            seen.add(key)
            if self._known.get(key) == sig:
                continue
            previous = self._candidates.get(key)
            stable = previous[1] + 1 if previous is not None and previous[0] == sig else 0
            if stable >= (self.settle if sig[0] > 0 else 5 * self.settle):
                ready.append(key)
                self._known[key] = sig
                self._candidates.pop(key, None)
            else:
                self._candidates[key] = (sig, stable)
        for key in set(self._candidates) - seen:  # deleted before it was complete
            del self._candidates[key]
        return ready
