"""ScanSession: the state of what the user is looking at, Qt-free, with plain events.

One session per window. It holds the rows in view (labelled at the threshold in force: the label
is derived from the probability and that threshold by :func:`core.results.label_for`, never kept
anywhere else), the scan (running or idle, its progress), what the user queued, the selection, the
filters, the threshold in force and its source (user > site > card, decided by
:mod:`core.threshold`) and the review state. The GUI observes its events; so can the CLI and the
report. Modelled on napari's ``ViewerModel`` and its events.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..core.results import LABELS, ScanResult
from ..core.threshold import CARD, SITE, ThresholdInForce
from .events import EmitterGroup

#: What a window shows before the model (and its default) is known.
NO_THRESHOLD = None


# -- payloads ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ThresholdChanged:
    value: float
    previous: float | None
    in_force: ThresholdInForce | None  # where it comes from (None: not known yet)


@dataclass(frozen=True)
class ResultsChanged:
    kind: str  # "reset" (a new view) | "append" (a batch) | "relabel" (another threshold)
    rows: tuple[ScanResult, ...]  # the new rows for "append"; every row otherwise


@dataclass(frozen=True)
class ScanState:
    """The scan in progress (``running``) or the last one."""

    running: bool = False
    done: int = 0
    total: int | None = None  # None until the folder has been walked
    scan_id: int | None = None
    started: float = 0.0  # time.perf_counter() at the start
    state: str = ""  # how the last scan ended: finished | cancelled | failed
    message: str = ""

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started if self.started else 0.0


@dataclass(frozen=True)
class Filters:
    label: str | None = None  # a label, or a table filter key ("flagged", "unreviewed"...)
    search: str = ""


@dataclass(frozen=True)
class Dispatch:
    """What to scan next, from the queue."""

    paths: list[str]
    append: bool  # join the scan in view (its rows and its History entry)
    append_to: int | None  # the recorded scan to add to


@dataclass
class ScanQueue:
    """Paths waiting for the model or for the running scan, and the watched arrivals among them.

    The watched folder (and the DICOM receiver) reports each file once: those files stay queued
    through a cancel and are scanned next; stopping the watch drops them.
    """

    paths: list[str] = field(default_factory=list)
    append: bool = False
    watched: set[str] = field(default_factory=set)  # reported arrivals not scanned yet
    running: list[str] = field(default_factory=list)  # what the running scan was asked to do

    def add(self, items: Sequence[str], append: bool) -> None:
        if not self.paths:
            self.append = append
        self.paths.extend(items)

    def take(self) -> tuple[list[str], bool]:
        paths, append = self.paths, self.append
        self.paths, self.append = [], False
        self.running = list(paths)
        return paths, append

    def cancel(self) -> tuple[int, int]:
        """Drop what the user queued, keep watched arrivals: (dropped, kept)."""
        kept = [p for p in self.paths if p in self.watched]
        dropped = len(self.paths) - len(kept)
        self.paths = kept
        return dropped, len(kept)

    def scanned(self, rows: Iterable[ScanResult]) -> None:
        if self.watched:
            self.watched.difference_update(r.path for r in rows)

    def ended(self, state: str) -> None:
        """Watched files the scan did not reach: scanned next after a cancel, forgotten after a
        failure (which the user is told about)."""
        unscanned = [p for p in self.running if p in self.watched]
        self.running = []
        if unscanned and state == "cancelled":
            if not self.paths:
                self.append = True
            self.paths[:0] = [p for p in unscanned if p not in self.paths]
        elif unscanned:
            self.watched.difference_update(unscanned)

    def stop_watching(self, folder: str) -> None:
        dropped = {p for p in self.watched if Path(p).is_relative_to(folder)}
        self.paths = [p for p in self.paths if p not in dropped]
        self.watched -= dropped

    def waiting_watched(self) -> int:
        return sum(p in self.watched for p in self.paths)

    def clear(self) -> None:
        self.paths = []


class ScanSession:
    """What the user is looking at. Every change emits one of :attr:`events`:

    ``threshold`` (:class:`ThresholdChanged`), ``results`` (:class:`ResultsChanged`), ``scan``
    (:class:`ScanState`), ``selection`` (a path or None), ``filters`` (:class:`Filters`),
    ``reviews`` (the latest review per film), ``view`` (the title of what is shown).
    """

    def __init__(self) -> None:
        self.events = EmitterGroup("threshold", "results", "scan", "selection", "filters", "reviews", "view")
        self._rows: list[ScanResult] = []
        self.threshold: float | None = NO_THRESHOLD
        self.in_force: ThresholdInForce | None = None
        self.scan = ScanState()
        self.queue = ScanQueue()
        self.selection: str | None = None
        self.filters = Filters()
        self.reviews: dict[str, Any] = {}  # core.review: latest review per film
        # The view: a live scan (its roots, its recorded scan) or a past scan from History.
        self.view_roots: list[str] = []
        self.live_scan_id: int | None = None
        self.history_scan_id: int | None = None
        self.title = ""

    # -- threshold ------------------------------------------------------------------------------
    def set_threshold(self, value: float) -> bool:
        """Relabel every row at this operating point (no model run). False when not a probability."""
        value = round(float(value), 4)
        if not 0.0 < value < 1.0:
            return False
        previous = self.threshold
        self.threshold = value
        if value != previous:
            if self._rows:
                self._rows = [r.relabel(value) for r in self._rows]  # unchanged rows come back as they are
                self.events.results(ResultsChanged("relabel", tuple(self._rows)))
            self.events.threshold(ThresholdChanged(value, previous, self.in_force))
        return True

    def set_in_force(self, in_force: ThresholdInForce | None) -> None:
        """Where the threshold comes from (core.threshold's answer, kept by the site controller)."""
        self.in_force = in_force

    @property
    def threshold_source(self) -> str:
        """The source in words: the user's own > the site profile's > the model card's."""
        in_force = self.in_force
        if in_force is None or in_force.source == CARD:
            return "model card"
        if in_force.source == SITE and in_force.profile is not None:
            return f"site profile {in_force.profile.label}"
        return "set by the user"

    def labelled(self, rows: Iterable[ScanResult]) -> list[ScanResult]:
        """``rows`` labelled at the threshold in force."""
        t = self.threshold
        return [r.relabel(t) for r in rows] if t is not None else list(rows)

    # -- results --------------------------------------------------------------------------------
    @property
    def results(self) -> list[ScanResult]:
        return list(self._rows)

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(LABELS, 0)
        for r in self._rows:
            counts[r.label] = counts.get(r.label, 0) + 1
        counts["total"] = len(self._rows)
        return counts

    def clear(self, title: str = "") -> None:
        """A fresh view (a new scan, not appended)."""
        self._rows = []
        self.selection = None
        self.title = title
        self.events.results(ResultsChanged("reset", ()))
        self.events.view(title)

    def add_rows(self, rows: Sequence[ScanResult]) -> list[ScanResult]:
        rows = self.labelled(rows)
        self.queue.scanned(rows)
        self._rows.extend(rows)
        if rows:
            self.events.results(ResultsChanged("append", tuple(rows)))
        return rows

    def show_history(self, scan_id: int, rows: Sequence[ScanResult], title: str | None) -> None:
        """A past scan in view (never mixed with new results)."""
        self._rows = self.labelled(rows)
        self.selection = None
        self.live_scan_id = None
        self.history_scan_id = scan_id
        self.view_roots = []
        self.title = title or self.title
        self.events.results(ResultsChanged("reset", tuple(self._rows)))
        self.events.view(self.title)

    # -- scanning -------------------------------------------------------------------------------
    @property
    def scanning(self) -> bool:
        return self.scan.running

    def open(self, items: Sequence[str], append: bool = False) -> None:
        """Queue paths to scan (``append``: they join the scan in view)."""
        self.queue.add(list(items), append or self.scan.running)

    def arrivals(self, paths: Iterable[str]) -> list[str]:
        """Films that arrived (watched folder, DICOM receiver): reported once, they stay queued."""
        items = [str(p) for p in paths]
        self.queue.watched.update(items)
        return items

    def next_scan(self, watched_folder: str | None = None) -> Dispatch | None:
        """Take the queue for the next scan and reset the view when it does not join the one shown."""
        from .watch import arrivals_join_view

        if self.scan.running or not self.queue.paths:
            return None
        paths, append = self.queue.take()
        if self.history_scan_id is not None:  # never mix new results into a past scan from History
            append = False
        elif append and not arrivals_join_view(
            [p for p in paths if p in self.queue.watched], self.view_roots, watched_folder
        ):  # nor watched-folder files into a scan of another folder
            append = False
        if not append:
            self.history_scan_id = None
            self.live_scan_id = None
            self.view_roots = list(paths)
            self.clear(describe_roots(paths))
        self.scan = ScanState(running=True, started=time.perf_counter())
        self.events.scan(self.scan)
        return Dispatch(paths, append, self.live_scan_id if append else None)

    def scan_started(self, total: int, scan_id: int | None) -> None:
        self.scan = replace(self.scan, total=total, scan_id=scan_id)
        self.events.scan(self.scan)

    def scan_progress(self, done: int, total: int) -> None:
        self.scan = replace(self.scan, done=done, total=total)

    def cancel(self) -> tuple[int, int]:
        """Drop what the user queued (watched arrivals stay): (dropped, kept)."""
        return self.queue.cancel()

    def scan_ended(self, state: str, scan_id: int | None, message: str = "") -> ScanState:
        if scan_id is not None:
            self.live_scan_id = scan_id
        self.queue.ended(state)
        self.scan = replace(self.scan, running=False, state=state, message=message, scan_id=scan_id)
        self.events.scan(self.scan)
        return self.scan

    # -- selection, filters, reviews ---------------------------------------------------------------
    def select(self, path: str | None) -> None:
        if path != self.selection:
            self.selection = path
            self.events.selection(path)

    def set_filters(self, label: str | None = None, search: str | None = None) -> None:
        new = Filters(
            label if label is not None else self.filters.label,
            search.strip().lower() if search is not None else self.filters.search,
        )
        if new != self.filters:
            self.filters = new
            self.events.filters(new)

    def set_reviews(self, reviews: dict[str, Any]) -> None:
        self.reviews = dict(reviews)
        self.events.reviews(self.reviews)


def describe_roots(roots: Sequence[str]) -> str:
    """A short name for what a scan covered: the folder or file, or the folder holding them all."""
    if not roots:
        return "nothing"
    if len(roots) == 1:
        return Path(roots[0]).name or roots[0]
    try:
        common = Path(os.path.commonpath([os.path.abspath(r) for r in roots]))
    except ValueError:  # different drives
        common = Path()
    if common.name:
        return f"{len(roots)} items in {common.name}"
    return f"{Path(roots[0]).name} and {len(roots) - 1} more"
