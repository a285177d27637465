"""A tiny Qt-free event system (napari's ``EmitterGroup`` idea, without its machinery).

An :class:`EmitterGroup` has named :class:`EventEmitter` attributes; callbacks connect to one of
them and are called with a plain payload (a frozen dataclass) each time it emits. Emitting happens
in the caller's thread; the GUI only emits from its own thread, so its callbacks may touch widgets.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

log = logging.getLogger(__name__)

Callback = Callable[[Any], object]


class EventEmitter:
    """One named event: ``connect(callback)``, ``disconnect(callback)``, ``emit(payload)``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._callbacks: list[Callback] = []
        self._blocked = 0

    def connect(self, callback: Callback) -> Callback:
        """Call ``callback(payload)`` on every emit (once, however often it is connected)."""
        if callback not in self._callbacks:
            self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: Callback | None = None) -> None:
        """Forget ``callback`` (every callback when None); unknown callbacks are ignored."""
        if callback is None:
            self._callbacks.clear()
        elif callback in self._callbacks:
            self._callbacks.remove(callback)

    @property
    def callbacks(self) -> tuple[Callback, ...]:
        return tuple(self._callbacks)

    def emit(self, payload: Any = None) -> None:
        if self._blocked:
            return
        for callback in list(self._callbacks):  # a callback may disconnect itself
            callback(payload)

    __call__ = emit

    @contextlib.contextmanager
    def blocker(self) -> Iterator[None]:
        """Emit nothing inside the block."""
        self._blocked += 1
        try:
            yield
        finally:
            self._blocked -= 1

    def __repr__(self) -> str:
        return f"<EventEmitter {self.name!r}: {len(self._callbacks)} callbacks>"


class EmitterGroup:
    """Named emitters as attributes: ``EmitterGroup("threshold", "results")`` gives
    ``group.threshold`` and ``group.results``."""

    def __init__(self, *names: str) -> None:
        self._emitters: dict[str, EventEmitter] = {}
        for name in names:
            self.add(name)

    def add(self, name: str) -> EventEmitter:
        if name in self._emitters or name.startswith("_") or hasattr(type(self), name):
            raise ValueError(f"cannot add an event named {name!r}")
        emitter = EventEmitter(name)
        self._emitters[name] = emitter
        setattr(self, name, emitter)
        return emitter

    def __getattr__(self, name: str) -> EventEmitter:  # only for names never added: a clear error
        raise AttributeError(f"no event named {name!r}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._emitters)

    def __getitem__(self, name: str) -> EventEmitter:
        return self._emitters[name]

    def disconnect_all(self) -> None:
        for emitter in self._emitters.values():
            emitter.disconnect()

    @contextlib.contextmanager
    def blocker_all(self) -> Iterator[None]:
        with contextlib.ExitStack() as stack:
            for emitter in self._emitters.values():
                stack.enter_context(emitter.blocker())
            yield
