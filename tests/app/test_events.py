"""The Qt-free event system."""

from __future__ import annotations

import pytest

from pneumo_desktop.app.events import EmitterGroup


def test_connect_emit_disconnect() -> None:
    group = EmitterGroup("threshold", "results")
    got: list[object] = []
    group.threshold.connect(got.append)
    group.threshold.connect(got.append)  # once only
    group.threshold.emit(0.4)
    group.results(1)  # nobody listens
    assert got == [0.4]
    group.threshold.disconnect(got.append)
    group.threshold.emit(0.5)
    assert got == [0.4]
    assert group.names == ("threshold", "results")


def test_blocker_and_unknown_names() -> None:
    group = EmitterGroup("scan")
    got: list[object] = []
    group.scan.connect(got.append)
    with group.scan.blocker():
        group.scan.emit("hidden")
    with group.blocker_all():
        group.scan.emit("hidden too")
    group.scan.emit("shown")
    assert got == ["shown"]
    with pytest.raises(AttributeError):
        group.nothing  # noqa: B018
    with pytest.raises(ValueError):
        group.add("scan")


def test_a_callback_may_disconnect_itself() -> None:
    group = EmitterGroup("x")
    got: list[object] = []

    def once(payload: object) -> None:
        got.append(payload)
        group.x.disconnect(once)

    group.x.connect(once)
    group.x.connect(got.append)
    group.x.emit(1)
    group.x.emit(2)
    assert got == [1, 1, 2]
