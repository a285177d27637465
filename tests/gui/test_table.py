"""The results table model and its proxy, without a window: 10,000 rows, numeric sort, filters."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTableView

from pneumo_desktop.core.results import (
    ERROR,
    LABELS,
    NEEDS_REVIEW,
    NORMAL,
    OK,
    PNEUMONIA,
    REJECTED,
    ScanResult,
    label_for,
)
from pneumo_desktop.gui.table import (
    LABEL,
    NAME,
    PROBABILITY,
    RESULT_ROLE,
    ResultsFilterProxy,
    ResultsTableModel,
    format_probability,
    label_icon,
)


def result(i: int, probability: float | None, status: str = OK, threshold: float = 0.5) -> ScanResult:
    return ScanResult(
        path=f"/data/scan/file{i:05d}.png",
        status=status,
        probability=probability,
        label=label_for(status, probability, threshold),
        message="" if status == OK else "reason",
        threshold=threshold,
        seconds=0.01 * (i % 7),
    )


def many(n: int) -> list[ScanResult]:
    out = []
    for i in range(n):
        if i % 50 == 0:
            out.append(result(i, None, ERROR))
        elif i % 37 == 0:
            out.append(result(i, (i % 100) / 100, REJECTED))
        else:
            out.append(result(i, (i * 7919 % 1000) / 1000))
    return out


def test_ten_thousand_rows_arrive_in_batches_without_resets(qtbot) -> None:
    model = ResultsTableModel()
    proxy = ResultsFilterProxy()
    proxy.setSourceModel(model)
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(proxy)
    view.setSortingEnabled(True)
    view.sortByColumn(PROBABILITY, Qt.SortOrder.DescendingOrder)
    view.resize(800, 600)
    view.show()
    resets, inserts = [], []
    model.modelReset.connect(lambda: resets.append(1))
    model.rowsInserted.connect(lambda *_: inserts.append(1))
    rows = many(10_000)
    t0 = time.perf_counter()
    for start in range(0, len(rows), 16):
        model.append(rows[start : start + 16])
    qtbot.wait(1)
    elapsed = time.perf_counter() - t0
    assert model.rowCount() == proxy.rowCount() == 10_000
    assert not resets and len(inserts) == 625
    assert elapsed < 20, f"appending 10,000 rows took {elapsed:.1f} s"
    # Sorted numerically (a text sort would put "9.0 %" above "10.0 %"), unreadable rows last.
    probs = [proxy.data(proxy.index(r, 0), RESULT_ROLE).probability for r in range(proxy.rowCount())]
    known = [p for p in probs if p is not None]
    assert known == sorted(known, reverse=True)
    assert all(p is None for p in probs[len(known) :])
    counts = model.counts()
    assert counts["total"] == 10_000 and sum(counts[label] for label in LABELS) == 10_000
    t0 = time.perf_counter()
    model.relabel(0.9)
    assert time.perf_counter() - t0 < 5
    assert model.counts()[PNEUMONIA] == sum(r.status == OK and r.probability >= 0.9 for r in rows)
    view.scrollToBottom()
    view.grab()


def test_filters_by_label_and_name() -> None:
    model = ResultsTableModel()
    proxy = ResultsFilterProxy()
    proxy.setSourceModel(model)
    model.append(many(200))
    proxy.set_label_filter(NEEDS_REVIEW)
    assert proxy.rowCount() == model.counts()[NEEDS_REVIEW] > 0
    proxy.set_label_filter(ResultsFilterProxy.FLAGGED)
    assert proxy.rowCount() == model.counts()[PNEUMONIA] + model.counts()[NEEDS_REVIEW]
    proxy.set_label_filter(None)
    proxy.set_search("FILE001")  # file00100.png ... file00199.png
    assert [proxy.index(r, NAME).data() for r in range(proxy.rowCount())] == [
        f"file{i:05d}.png" for i in range(100, 200)
    ]
    proxy.set_search("")
    assert proxy.rowCount() == 200
    assert len(proxy.visible_results()) == 200


def test_cells_show_text_and_icon() -> None:
    model = ResultsTableModel()
    model.append([result(1, 0.123), result(2, None, ERROR), result(3, 0.8, REJECTED)])
    assert model.data(model.index(0, PROBABILITY)) == "12.3 %"
    assert model.data(model.index(1, PROBABILITY)) == "–"
    assert model.data(model.index(0, LABEL)) == NORMAL
    for row in range(3):
        assert model.data(model.index(row, LABEL), Qt.ItemDataRole.DecorationRole) is not None
    assert "quality check" in model.data(model.index(2, PROBABILITY), Qt.ItemDataRole.ToolTipRole)
    assert model.data(model.index(0, NAME), Qt.ItemDataRole.ToolTipRole) == "/data/scan/file00001.png"
    assert model.headerData(PROBABILITY, Qt.Orientation.Horizontal) == "Pneumonia\nprobability"
    for label in LABELS:
        assert not label_icon(label).isNull()


def test_probability_text_never_claims_certainty():
    assert format_probability(None) == "–"
    assert format_probability(0.5) == "50.0 %"
    assert format_probability(0.9994) == "99.9 %"
    assert format_probability(0.9995) == "> 99.9 %"
    assert format_probability(1.0) == "> 99.9 %"
    assert format_probability(0.0005) == "0.1 %"
    assert format_probability(0.0) == "< 0.1 %"


def test_long_reasons_and_reviews_are_readable_in_tooltips(qtbot) -> None:
    from pneumo_desktop.core.results import REJECTED
    from pneumo_desktop.core.review import Review
    from pneumo_desktop.gui.table import REASON, REVIEW, ResultsTableModel

    long = (
        "Does not look like the chest X-rays the model was trained on; the result is unreliable <or worse>."
    )
    model = ResultsTableModel()
    judged = ScanResult("/x/a.png", "ok", 0.9, "Pneumonia", "", threshold=0.5)
    model.append([ScanResult("/x/b.png", REJECTED, 0.8, "Needs review", long), judged])
    tip = model.data(model.index(0, REASON), Qt.ItemDataRole.ToolTipRole)
    assert "&lt;or worse&gt;" in tip and tip.startswith("<p>")  # rich text: Qt wraps it, nothing is lost
    assert model.data(model.index(0, REVIEW)) == ""  # a refused film has nothing to agree with
    assert model.data(model.index(1, REVIEW)) == "Not yet reviewed"
    model.add_review(
        Review(
            "path:/x/a.png", "/x/a.png", "disagree", "Normal", "see CT", "Dr A", "Pneumonia", 0.9, 0.5, 0.0
        )
    )
    assert model.data(model.index(1, REVIEW)) == "Disagreed: Normal · note"
    assert "see CT" in model.data(model.index(1, REVIEW), Qt.ItemDataRole.ToolTipRole)


def test_a_refused_film_shows_no_probability() -> None:
    from pneumo_desktop.gui.table import PROBABILITY, ResultsTableModel

    model = ResultsTableModel()
    model.append([ScanResult("/x/hand.png", REJECTED, 0.997, "Needs review", "Not a chest image.")])
    assert model.data(model.index(0, PROBABILITY)) == "not judged"
    assert "99.7 %" in model.data(model.index(0, PROBABILITY), Qt.ItemDataRole.ToolTipRole)


def test_rows_relabelled_by_the_session_change_in_place(qtbot) -> None:
    from pneumo_desktop.app.session import ScanSession

    session, model = ScanSession(), ResultsTableModel()
    session.events.results.connect(
        lambda e: model.append(e.rows) if e.kind == "append" else model.update_rows(e.rows)
    )
    session.set_threshold(0.5)
    session.add_rows([result(i, p) for i, p in enumerate((0.2, 0.6, 0.8))])
    resets: list[int] = []
    model.modelReset.connect(lambda: resets.append(1))
    with qtbot.waitSignal(model.dataChanged):
        session.set_threshold(0.7)
    assert not resets  # in place, the selection and scroll position stay
    assert [r.label for r in model.results] == [NORMAL, NORMAL, PNEUMONIA] == [r.label for r in session.results]
    assert model.counts()[PNEUMONIA] == 1
