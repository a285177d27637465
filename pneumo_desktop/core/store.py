"""The results store: SQLite in the user's data folder.

Every result is written the moment it is computed (one transaction per batch), so a crash or a
closed window loses nothing. Results are keyed by (content hash, model key): re-scanning an
unchanged file with the same model is a lookup, which is also how an interrupted scan resumes.
The model key (``core.scan.cache_key``: weights, card and pipeline version) sits in the column
``model_sha``, its name from before the card was part of it. Only rows that the same bytes would
always give again are cached (``ScanResult.cacheable``). Scans are recorded too, for the app's
History list.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .export import display_text
from .paths import user_data_dir
from .privacy import forget_patient_data, prune_history, without_patient
from .results import ScanResult
from .review import SCHEMA as REVIEW_SCHEMA
from .storage import guarded, open_store, owner_tag

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    content_hash TEXT NOT NULL,
    model_sha TEXT NOT NULL,
    data TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (content_hash, model_sha)
);
CREATE TABLE IF NOT EXISTS scans (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started REAL NOT NULL,
    finished REAL,
    roots TEXT NOT NULL,
    model_sha TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'running'
);
CREATE TABLE IF NOT EXISTS scan_items (
    scan_id INTEGER NOT NULL REFERENCES scans(id),
    seq INTEGER NOT NULL,
    path TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (scan_id, seq)
);
"""


@dataclass(frozen=True)
class ScanRecord:
    id: int
    started: float
    finished: float | None
    roots: list[str]
    state: str  # running | finished | cancelled | interrupted (Ctrl+C or a failure)
    count: int


class ResultsStore:
    """Thread-safe (one lock, one connection) SQLite store. ``path=":memory:"`` for tests."""

    #: Patient names and IDs are stored only when the user opts in (core.privacy).
    keep_patient_data = False

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = str(path) if path is not None else str(user_data_dir() / "results.sqlite3")
        self._lock = threading.Lock()
        # Owner-only, a damaged file moved aside, orphaned scans marked interrupted (core.storage);
        # core.review's append-only reviews table beside the results.
        self._db = open_store(self.path, SCHEMA + REVIEW_SCHEMA)

    @contextlib.contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """The connection, under the store's lock, in a transaction (for core.review)."""
        with self._lock, self._db:
            yield self._db

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- cache --------------------------------------------------------------------------------
    @guarded
    def lookup(self, content_hash: str, model_key: str) -> ScanResult | None:
        if not content_hash:
            return None
        with self._lock:
            row = self._db.execute(
                "SELECT data FROM results WHERE content_hash=? AND model_sha=?", (content_hash, model_key)
            ).fetchone()
        return ScanResult.from_dict(json.loads(row[0])) if row else None

    # -- scans --------------------------------------------------------------------------------
    @guarded
    def begin_scan(self, roots: Iterable[str], model_key: str) -> int:
        with self._lock, self._db:
            cur = self._db.execute(
                "INSERT INTO scans (started, roots, model_sha, owner) VALUES (?, ?, ?, ?)",
                (time.time(), json.dumps(list(roots)), model_key, owner_tag()),
            )
            if cur.lastrowid is None:  # an INSERT always sets it
                raise sqlite3.DatabaseError("the new scan got no row id")
            return cur.lastrowid

    @guarded
    def resume_scan(self, scan_id: int) -> bool:
        """Mark a recorded scan as running again, to append to it (a watched folder's arrivals).
        False when there is no such scan."""
        with self._lock, self._db:
            cur = self._db.execute(
                "UPDATE scans SET state='running', finished=NULL, owner=? WHERE id=?", (owner_tag(), scan_id)
            )
            return cur.rowcount == 1

    @guarded
    def add(self, scan_id: int | None, results: Iterable[ScanResult], model_key: str) -> None:
        """Persist a batch of results atomically (cache entries + the scan's rows)."""
        now = time.time()
        with self._lock, self._db:
            seq = 0
            if scan_id is not None:
                seq = self._db.execute(
                    "SELECT COALESCE(MAX(seq), -1) + 1 FROM scan_items WHERE scan_id=?", (scan_id,)
                ).fetchone()[0]
            for r in results:
                # ASCII escapes: a file name that is not UTF-8 (lone surrogates) round-trips exactly.
                d = r.to_dict() if self.keep_patient_data else without_patient(r.to_dict())
                data = json.dumps(d)
                if r.cacheable:
                    self._db.execute(
                        "INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?)", (r.content_hash, model_key, data, now)
                    )
                if scan_id is not None:
                    self._db.execute("INSERT INTO scan_items VALUES (?, ?, ?, ?)", (scan_id, seq, display_text(r.path), data))
                    seq += 1

    @guarded
    def end_scan(self, scan_id: int, state: str = "finished") -> None:
        with self._lock, self._db:
            self._db.execute("UPDATE scans SET finished=?, state=? WHERE id=?", (time.time(), state, scan_id))

    @guarded
    def scans(self, limit: int = 50) -> list[ScanRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT s.id, s.started, s.finished, s.roots, s.state, "
                "(SELECT COUNT(*) FROM scan_items i WHERE i.scan_id = s.id) "
                "FROM scans s ORDER BY s.id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [ScanRecord(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5]) for r in rows]

    @guarded
    def scan_results(self, scan_id: int) -> list[ScanResult]:
        with self._lock:
            rows = self._db.execute(
                "SELECT data FROM scan_items WHERE scan_id=? ORDER BY seq", (scan_id,)
            ).fetchall()
        return [ScanResult.from_dict(json.loads(r[0])) for r in rows]

    @guarded
    def forget_patient_data(self) -> int:
        """Blank every stored patient name and ID (core.privacy); return the rows changed."""
        with self._lock:
            return forget_patient_data(self._db)

    @guarded
    def prune(self, days: float) -> int:
        """Delete History older than ``days`` (core.privacy); return the scans deleted."""
        with self._lock:
            return prune_history(self._db, days)
