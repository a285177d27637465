"""ScanSession without Qt: the threshold in force, labels derived once, the scan, the queue."""

from __future__ import annotations

from pneumo_desktop.app.session import ResultsChanged, ScanSession, ThresholdChanged, describe_roots
from pneumo_desktop.core.results import NEEDS_REVIEW, NORMAL, OK, PNEUMONIA, REJECTED, ScanResult, label_for
from pneumo_desktop.core.threshold import resolve_threshold


class _Card:
    threshold, name, version, sha256 = 0.5, "m", "1", "abc"


def row(path: str, p: float, status: str = OK, t: float = 0.5) -> ScanResult:
    return ScanResult(path, status, p, label_for(status, p, t), "", threshold=t)


def record(session: ScanSession) -> list[object]:
    got: list[object] = []
    for name in session.events.names:
        session.events[name].connect(got.append)
    return got


def test_threshold_relabels_rows_and_says_where_it_comes_from() -> None:
    s = ScanSession()
    assert s.threshold is None and s.threshold_source == "model card"
    s.set_in_force(resolve_threshold(_Card()))
    assert s.set_threshold(0.5)
    assert s.next_scan() is None  # nothing queued
    s.open(["/x"])
    s.next_scan()
    s.add_rows([row("/x/a.png", 0.3, t=0.9), row("/x/b.png", 0.7), row("/x/c.png", 0.9, REJECTED)])
    assert [r.label for r in s.results] == [NORMAL, PNEUMONIA, NEEDS_REVIEW]  # labelled at 0.5, not 0.9
    got = record(s)
    assert s.set_threshold(0.25)
    assert [r.label for r in s.results] == [PNEUMONIA, PNEUMONIA, NEEDS_REVIEW]
    assert all(r.threshold == 0.25 for r in s.results)
    relabel, changed = got
    assert isinstance(relabel, ResultsChanged) and relabel.kind == "relabel" and len(relabel.rows) == 3
    assert changed == ThresholdChanged(0.25, 0.5, s.in_force)
    assert s.counts()[PNEUMONIA] == 2 and s.counts()["total"] == 3
    assert not s.set_threshold(1.5) and not s.set_threshold(0) and s.threshold == 0.25
    s.set_in_force(resolve_threshold(_Card(), override=0.25))
    assert s.threshold_source == "set by the user"


def test_a_scan_resets_the_view_unless_appended() -> None:
    s = ScanSession()
    s.set_threshold(0.5)
    got = record(s)
    s.open(["/data/ward"])
    d = s.next_scan()
    assert d is not None and d.paths == ["/data/ward"] and not d.append and d.append_to is None
    assert s.scanning and s.title == "ward" and s.view_roots == ["/data/ward"]
    assert s.next_scan() is None  # one scan at a time
    s.scan_started(2, 7)
    s.add_rows([row("/data/ward/a.png", 0.6)])
    s.open(["/data/ward/b.png"])  # opened while scanning: joins the view
    assert s.scan_ended("finished", 7).state == "finished" and not s.scanning
    assert s.live_scan_id == 7
    d = s.next_scan()
    assert d is not None and d.append and d.append_to == 7
    kinds = [e.kind for e in got if isinstance(e, ResultsChanged)]
    assert kinds == ["reset", "append"]


def test_history_is_never_mixed_with_new_results() -> None:
    s = ScanSession()
    s.set_threshold(0.5)
    s.show_history(3, [row("/old/a.png", 0.7, t=0.1)], "old")
    assert s.history_scan_id == 3 and s.results[0].threshold == 0.5
    s.open(["/new"], append=True)
    d = s.next_scan()
    assert d is not None and not d.append and s.history_scan_id is None and s.results == []


def test_cancel_keeps_watched_arrivals_and_rescans_the_unreached() -> None:
    s = ScanSession()
    s.set_threshold(0.5)
    s.open(["/many"])
    s.next_scan()
    s.open(["/user.png"])
    s.open(s.arrivals(["/in/new1.png", "/in/new2.png"]), append=True)
    assert s.cancel() == (1, 2) and s.queue.paths == ["/in/new1.png", "/in/new2.png"]
    s.scan_ended("cancelled", 1)
    d = s.next_scan("/in")
    assert d is not None and d.paths == ["/in/new1.png", "/in/new2.png"]
    s.add_rows([row("/in/new1.png", 0.2)])
    s.scan_ended("cancelled", 2)  # new2 not reached: queued again
    assert s.queue.paths == ["/in/new2.png"] and s.queue.waiting_watched() == 1
    s.queue.stop_watching("/in")
    assert s.queue.paths == [] and not s.queue.watched


def test_selection_filters_reviews_and_names() -> None:
    s = ScanSession()
    got = record(s)
    s.select("/a.png")
    s.select("/a.png")  # no change, no event
    s.set_filters(label="flagged")
    s.set_filters(search="  ABC ")
    s.set_reviews({"k": 1})
    assert got == ["/a.png", s.filters.__class__("flagged", ""), s.filters, {"k": 1}]
    assert s.filters.search == "abc"
    assert describe_roots([]) == "nothing"
    assert describe_roots(["/x/ward"]) == "ward"
    assert describe_roots(["/x/ward/a.png", "/x/ward/b.png"]) == "2 items in ward"
