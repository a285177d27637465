"""The review workflow in the window: shortcuts, audit trail, filters, exports."""

from __future__ import annotations

import csv

from PySide6.QtCore import Qt

from pneumo_desktop.core.review import latest_reviews, review_history, review_key
from pneumo_desktop.core.wording import DISAGREE
from pneumo_desktop.gui.table import REVIEW, ResultsFilterProxy

from .conftest import SCAN_TIMEOUT_MS


def scan(qtbot, window, paths) -> None:
    with qtbot.waitSignal(window.scan_finished, timeout=SCAN_TIMEOUT_MS):
        window.open_paths(paths)


def test_agree_disagree_note_with_shortcuts_and_filters(qtbot, window, images, tmp_path) -> None:
    window.settings.reviewer = "Dr Ada Lovelace"
    bad = tmp_path / "letter.txt"
    bad.write_text("not an image", encoding="utf-8")
    scan(qtbot, window, [*images[:3], bad])
    model, reviews = window.results_model, window.reviews
    assert model.rowCount() == 4

    # Agree with the first film from the keyboard.
    window.select_row(0)
    first = window.viewer.current
    window.table.setFocus()
    qtbot.keyClick(window.table, Qt.Key.Key_A)
    assert model.data(model.index(0, REVIEW)) == "Agreed"
    assert reviews.panel.status_label.text().startswith("Agreed (Dr Ada Lovelace")

    # Change one's mind: disagree (D opens the call menu), with a note. A new row, not an overwrite.
    reviews.panel.note_edit.setText("Consolidation left lower lobe")
    assert reviews.review(DISAGREE, "Normal") is not None
    trail = review_history(window.store, review_key(first))
    assert [v.decision for v in trail] == ["agree", "disagree"]
    assert trail[1].note == "Consolidation left lower lobe" and trail[1].call == "Normal"
    assert model.data(model.index(0, REVIEW)) == "Disagreed: Normal · note"

    # A changed note on its own adds a row with the same decision.
    reviews.panel.note_edit.setText("Consolidation, left lower lobe; compare with old films")
    qtbot.keyClick(reviews.panel.note_edit, Qt.Key.Key_Return)
    trail = review_history(window.store, review_key(first))
    assert len(trail) == 3 and trail[2].decision == "disagree" and trail[2].call == "Normal"

    # The Disagree button's menu (D opens it) records the clinician's own call.
    window.select_row(1)
    second = window.viewer.current
    calls = {a.data(): a for a in reviews.panel.disagree_menu.actions()}
    assert set(calls) == {"Pneumonia", "Normal", "Cannot tell"}
    reviews.panel.note_edit.clear()
    calls["Cannot tell"].trigger()
    assert model.review_of(second).call == "Cannot tell"
    assert window.reviews.disagree_action.shortcut().toString() == "D"

    # The unreadable file cannot be reviewed.
    unreadable_row = next(r for r in range(4) if model.result(r).path == str(bad))
    assert model.data(model.index(unreadable_row, REVIEW)) == ""

    # Filters.
    reviews.set_filter(ResultsFilterProxy.UNREVIEWED)
    assert window.proxy.rowCount() == 1  # one judged film left; not the unreadable file
    reviews.set_filter(ResultsFilterProxy.DISAGREEMENTS)
    assert window.proxy.rowCount() == 2
    assert {window.proxy.data(window.proxy.index(i, 0)) for i in range(2)} == {first.name, second.name}
    reviews.set_filter("Needs review")
    assert window.proxy.rowCount() == sum(r.label == "Needs review" for r in model.results)
    reviews.set_filter(None)

    # CSV export from the window carries the review state in the last columns.
    out = tmp_path / "out.csv"
    with qtbot.waitSignal(window.csv_finished, timeout=10_000):
        window.export_csv(out)
    with open(out, encoding="utf-8-sig", newline="") as fh:
        rows = {r["path"]: r for r in csv.DictReader(fh)}
    assert rows[first.path]["review"] == "disagree" and rows[first.path]["reviewer"] == "Dr Ada Lovelace"
    assert list(rows[first.path])[-5:] == ["review", "review_call", "review_note", "reviewer", "reviewed_at"]


def test_reviews_are_shown_again_after_a_restart(qtbot, make_window, images, tmp_path) -> None:
    from pneumo_desktop.core.store import ResultsStore

    store = ResultsStore(tmp_path / "s.sqlite3")
    try:
        w1 = make_window(store=store)
        w1.settings.reviewer = "Dr Bea"
        scan(qtbot, w1, images[:2])
        w1.select_row(0)
        review = w1.reviews.review("agree")
        w1.close()
        assert review.item_key in latest_reviews(store)
        w2 = make_window(store=store)
        scan(qtbot, w2, images[:2])  # rescanned: the same films, their review
        assert w2.results_model.review_of(w2.results_model.result(0)).id == review.id
    finally:
        store.close()
