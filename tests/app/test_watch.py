"""Which scan may films that arrived join (Qt-free)."""

from __future__ import annotations

from pneumo_desktop.app.watch import arrivals_join_view


def test_which_arrivals_join_the_view(tmp_path) -> None:
    watched, other, received = tmp_path / "incoming", tmp_path / "ward-b", tmp_path / "received"
    for d in (watched, other, received):
        d.mkdir()
    new = str(watched / "new.png")
    assert arrivals_join_view([new], [str(watched)], str(watched))  # a scan of the watched folder
    assert arrivals_join_view([new], [str(watched / "old.png")], str(watched))  # of earlier arrivals
    assert arrivals_join_view([new], [str(tmp_path)], str(watched))  # of a folder holding it
    assert not arrivals_join_view([new], [str(other)], str(watched))  # of another folder: never
    assert not arrivals_join_view([new], [], str(watched))  # nothing (or History) in view
    assert arrivals_join_view([], [str(other)], str(watched))  # the user's own files
    film = str(received / "1.2.3.dcm")  # the DICOM receiver's films join each other, nothing else
    assert arrivals_join_view([film], [str(received / "1.2.2.dcm")], None)
    assert not arrivals_join_view([film], [str(other)], None)
