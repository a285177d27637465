"""Which files a scan must not scan: its own outputs, and any file twice.

A scan writes the results store (``results.sqlite3`` and its ``-wal``/``-shm``/``-journal`` files,
a damaged store moved aside as ``results.sqlite3.damaged-...``) and, from ``pneumo-scan``, CSV
and JSON exports (written as ``.NAME.*.part`` then renamed; every export this process wrote, the
app's included, is remembered). When any of these lies inside a
scanned or watched folder it is left out, so a watch never feeds on its own CSV. Paths are
compared as absolute paths (no file system call per file).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable

_STORE_SIDES = ("", "-wal", "-shm", "-journal")


_written: set[str] = set()  # every export this process wrote (the app's CSV into a watched folder)
_written_lock = threading.Lock()


def remember_export(path: str | os.PathLike[str]) -> None:
    """Record an export written by this process: no later scan in it picks the file up."""
    with _written_lock:
        _written.add(os.fspath(path))


def _key(path: str | os.PathLike[str]) -> str:
    return os.path.normcase(os.path.abspath(os.fspath(path)))


class OutputFilter:
    """``path in OutputFilter(store=..., exports=[...])``: whether ``path`` is one of the outputs."""

    def __init__(self, store: str | None = None, exports: Iterable[str | os.PathLike[str]] = ()) -> None:
        self._exact: set[str] = set()
        self._prefixes: list[str] = []  # damaged stores
        self._temps: list[tuple[str, str]] = []  # (folder key, ".NAME.") of temporary export files
        if store and store != ":memory:" and not store.startswith("file:"):
            for base in {_key(store), _key(os.path.realpath(store))}:
                self._exact.update(base + side for side in _STORE_SIDES)
                self._prefixes.append(base + ".damaged-")
        with _written_lock:
            exports = [*exports, *_written]
        for export in exports:
            for base in {_key(export), _key(os.path.realpath(export))}:
                self._exact.add(base)
                folder, name = os.path.split(base)
                self._temps.append((folder, f".{name}."))

    def __contains__(self, path: object) -> bool:
        if not isinstance(path, (str, os.PathLike)):
            return False
        key = _key(path)
        if key in self._exact or any(key.startswith(p) for p in self._prefixes):
            return True
        folder, name = os.path.split(key)
        return name.endswith(".part") and any(folder == f and name.startswith(t) for f, t in self._temps)


def own_outputs(scanner) -> OutputFilter:  # core.scan.Scanner
    store = getattr(scanner, "store", None)
    return OutputFilter(getattr(store, "path", None), getattr(scanner, "outputs", ()))


def select_files(paths: Iterable[str | os.PathLike[str]], outputs: OutputFilter) -> list[str]:
    """``paths`` as strings, in order, each once (a file named and also inside a named folder)
    and without the scan's own outputs."""
    seen: set[str] = set()
    out = []
    for p in paths:
        key = _key(p)
        if key in seen or p in outputs:
            continue
        seen.add(key)
        out.append(str(p))
    return out
