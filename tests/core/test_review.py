"""Reviews: an append-only audit trail in the results store; the review state in CSV and JSON."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import pytest

from pneumo_desktop.core.resultfiles import write_csv, write_json
from pneumo_desktop.core.results import (
    CSV_COLUMNS,
    ERROR,
    OK,
    PNEUMONIA,
    UNREADABLE,
    ScanResult,
)
from pneumo_desktop.core.review import (
    CSV_COLUMNS as REVIEW_COLUMNS,
)
from pneumo_desktop.core.review import (
    ReviewError,
    add_review,
    latest_reviews,
    review_history,
    review_key,
)
from pneumo_desktop.core.store import ResultsStore
from pneumo_desktop.core.wording import AGREE, DISAGREE


@pytest.fixture
def store(tmp_path: Path) -> ResultsStore:
    s = ResultsStore(tmp_path / "r.sqlite3")
    yield s
    s.close()


def judged(path: str = "/x/a.png", h: str = "abc") -> ScanResult:
    return ScanResult(path, OK, 0.91, PNEUMONIA, "", threshold=0.5, content_hash=h)


def test_changes_add_rows_and_never_overwrite(store: ResultsStore) -> None:
    r = judged()
    add_review(store, r, AGREE, "Dr Ada", now=1000.0)
    add_review(store, r, DISAGREE, "Dr Bea", call="Normal", note="old film", now=2000.0)
    trail = review_history(store, review_key(r))
    assert [(v.decision, v.reviewer, v.call, v.created) for v in trail] == [
        (AGREE, "Dr Ada", "", 1000.0),
        (DISAGREE, "Dr Bea", "Normal", 2000.0),
    ]
    latest = latest_reviews(store)[review_key(r)]
    assert latest.decision == DISAGREE and latest.note == "old film" and latest.label == PNEUMONIA
    with store.connection() as db, pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE reviews SET decision='agree'")
    with store.connection() as db, pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM reviews")
    assert len(review_history(store, review_key(r))) == 2


def test_reviews_survive_reopening_and_follow_the_content(tmp_path: Path) -> None:
    s = ResultsStore(tmp_path / "r.sqlite3")
    add_review(s, judged("/x/a.png", "same"), AGREE, "Dr Ada")
    s.close()
    s = ResultsStore(tmp_path / "r.sqlite3")
    try:  # the same bytes under another name (an export folder) carry the review
        assert review_key(judged("/y/copy.png", "same")) in latest_reviews(s)
    finally:
        s.close()


def test_what_cannot_be_reviewed(store: ResultsStore) -> None:
    with pytest.raises(ReviewError):
        add_review(store, judged(), AGREE, "  ")
    with pytest.raises(ReviewError):
        add_review(store, ScanResult("/x/b.txt", ERROR, None, UNREADABLE, "Not an image."), AGREE, "Dr Ada")
    with pytest.raises(ReviewError):
        add_review(store, judged(), DISAGREE, "Dr Ada")  # no call of one's own


def test_review_state_in_csv_and_json(store: ResultsStore, tmp_path: Path) -> None:
    a, b = judged("/x/a.png", "h1"), judged("/x/b.png", "h2")
    add_review(store, a, DISAGREE, "Dr Ada", call="Normal", note="rotated")
    reviews = latest_reviews(store)
    out = tmp_path / "r.csv"
    write_csv([a, b], out, include_patient=True, reviews=reviews)
    with open(out, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    assert header[: len(CSV_COLUMNS)] == CSV_COLUMNS  # existing columns first, unchanged
    assert header[-len(REVIEW_COLUMNS) :] == REVIEW_COLUMNS  # the new ones at the end
    assert rows[1][-5:-1] == ["disagree", "Normal", "rotated", "Dr Ada"]
    assert rows[2][-5:] == ["", "", "", "", ""]
    jout = tmp_path / "r.json"
    write_json([a, b], jout, reviews=reviews)
    data = json.loads(jout.read_text(encoding="utf-8"))
    assert data[0]["review"]["decision"] == "disagree" and data[1]["review"] is None
