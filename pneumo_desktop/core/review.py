"""Clinician reviews of results: an append-only audit trail in the results store.

A reviewer marks a judged result Agree or Disagree (with their own call) and may add a note. Each
mark is a new row with its time and the reviewer's name; changing one's mind adds another row
(SQLite triggers refuse UPDATE and DELETE on the table), so the store shows who concluded what,
and when. The latest row for a film is its review state.

A review belongs to the film's content (its hash), so the same bytes scanned again, or shown from
History, carry their review; files without a hash fall back to their path.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from .results import ERROR, REJECTED, ScanResult
from .wording import AGREE, DISAGREE, REVIEW_CALLS, format_datetime, review_status

SCHEMA = """
CREATE TABLE IF NOT EXISTS reviews (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    item_key TEXT NOT NULL,
    path TEXT NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('agree', 'disagree')),
    call TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT '',
    reviewer TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    probability REAL,
    threshold REAL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS reviews_by_item ON reviews (item_key, id);
CREATE TRIGGER IF NOT EXISTS reviews_append_only_update BEFORE UPDATE ON reviews
BEGIN SELECT RAISE(ABORT, 'reviews are append-only'); END;
CREATE TRIGGER IF NOT EXISTS reviews_append_only_delete BEFORE DELETE ON reviews
BEGIN SELECT RAISE(ABORT, 'reviews are append-only'); END;
"""

#: Columns appended at the end of the CSV export (after any patient columns).
CSV_COLUMNS = ["review", "review_call", "review_note", "reviewer", "reviewed_at"]


class ReviewError(ValueError):
    """A review that cannot be recorded (no reviewer, a result that was not judged...)."""


@dataclass(frozen=True)
class Review:
    item_key: str
    path: str
    decision: str  # agree | disagree
    call: str  # the clinician's own call when disagreeing: Pneumonia | Normal | Cannot tell
    note: str
    reviewer: str
    label: str  # the model's label when reviewed
    probability: float | None
    threshold: float | None
    created: float
    id: int = 0

    @property
    def status(self) -> str:
        return review_status(self.decision, self.reviewer, self.call, self.created)

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "call": self.call,
            "note": self.note,
            "reviewer": self.reviewer,
            "reviewed_at": format_datetime(self.created),
            "label_when_reviewed": self.label,
        }


def review_key(r: ScanResult) -> str:
    return r.content_hash or f"path:{r.path}"


def reviewable(r: ScanResult) -> bool:
    """Results the model judged (Pneumonia or Normal): refused and unreadable files have nothing to agree with."""
    return r.status not in (ERROR, REJECTED) and r.probability is not None


def add_review(
    store,  # core.store.ResultsStore
    result: ScanResult,
    decision: str,
    reviewer: str,
    call: str = "",
    note: str = "",
    now: float | None = None,
) -> Review:
    """Append a review (never overwrites) and return it."""
    reviewer = reviewer.strip()
    if not reviewer:
        raise ReviewError("a review needs the reviewer's name")
    if decision not in (AGREE, DISAGREE):
        raise ReviewError(f"unknown decision {decision!r}")
    if not reviewable(result):
        raise ReviewError("only results the model judged can be reviewed")
    if decision == DISAGREE and call not in REVIEW_CALLS:
        raise ReviewError("disagreeing needs the clinician's own call")
    review = Review(
        item_key=review_key(result),
        path=result.path,
        decision=decision,
        call=call if decision == DISAGREE else "",
        note=note.strip(),
        reviewer=reviewer,
        label=result.label,
        probability=result.probability,
        threshold=result.threshold,
        created=time.time() if now is None else now,
    )
    with store.connection() as db:
        cur = db.execute(
            "INSERT INTO reviews (item_key, path, decision, call, note, reviewer, label, probability, "
            "threshold, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                review.item_key,
                review.path,
                review.decision,
                review.call,
                review.note,
                review.reviewer,
                review.label,
                review.probability,
                review.threshold,
                review.created,
            ),
        )
        rid = int(cur.lastrowid)
    return replace(review, id=rid)


_COLUMNS = "item_key, path, decision, call, note, reviewer, label, probability, threshold, created, id"


def _row(row: tuple[Any, ...]) -> Review:
    return Review(*row)


def latest_reviews(store, keys: Iterable[str] | None = None) -> dict[str, Review]:
    """The review state: the latest review of each film (of ``keys``, or of all)."""
    with store.connection() as db:
        rows = db.execute(
            f"SELECT {_COLUMNS} FROM reviews WHERE id IN (SELECT MAX(id) FROM reviews GROUP BY item_key)"
        ).fetchall()
    wanted = None if keys is None else set(keys)
    return {r.item_key: r for r in map(_row, rows) if wanted is None or r.item_key in wanted}


def review_history(store, key: str) -> list[Review]:
    """Every review of one film, oldest first (the audit trail)."""
    with store.connection() as db:
        rows = db.execute(f"SELECT {_COLUMNS} FROM reviews WHERE item_key=? ORDER BY id", (key,)).fetchall()
    return [_row(r) for r in rows]


def csv_cells(review: Review | None) -> list[str]:
    if review is None:
        return ["", "", "", "", ""]
    return [review.decision, review.call, review.note, review.reviewer, format_datetime(review.created)]


def status_for(r: ScanResult, reviews: Mapping[str, Review]) -> str:
    """The review state in words, for tables and reports."""
    if not reviewable(r):
        return "Not reviewable (not judged)"
    review = reviews.get(review_key(r))
    return review.status if review else review_status(None)
