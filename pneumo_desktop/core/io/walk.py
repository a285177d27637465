"""Walking the folders a user opens: every regular file is a candidate (the loader decides what
it is), a DICOMDIR stands for the images it references (:mod:`.dicomdir`)."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from .dicomdir import expand_dicomdirs

log = logging.getLogger(__name__)


def iter_image_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Expand files and folders (recursively, sorted) into the list of candidate files.

    Hidden files are scanned like any other (a clinic's export may name its files ``.0001.dcm``;
    a scan's own outputs are left out by ``core.outputs`` instead). Hidden folders inside a
    scanned folder (``.git``, ``.Trash-1000``, thumbnail caches) are not entered unless named
    themselves. Every regular file is returned, image or not: the
    scanner gives files that turn out not to be images a row of their own. So does a folder that
    cannot be listed (its row says so), and a pipe, socket or device (its row says what it is;
    it is never opened). Paths named explicitly are returned as given. A DICOMDIR, or a
    folder with one at its root (a CD), stands for the image files it references
    (:mod:`pneumo_desktop.core.io.dicomdir`).
    """
    return [p for p, _ in walk_files(expand_dicomdirs(paths))]


_UNLISTABLE_WARNED: set[str] = set()  # a watched folder is walked every 2 s: warn once per folder


def walk_files(paths: Iterable[str | os.PathLike[str]]) -> Iterator[tuple[Path, os.stat_result | None]]:
    """:func:`iter_image_files` with each file's ``os.stat`` (one call per file). The stat is None
    for paths named explicitly, folders that cannot be listed and files that cannot be stat'ed."""
    unlistable: list[Path] = []

    def on_error(exc: OSError) -> None:
        if exc.filename:
            unlistable.append(Path(exc.filename))
            if str(exc.filename) not in _UNLISTABLE_WARNED:
                _UNLISTABLE_WARNED.add(str(exc.filename))
                log.warning("cannot list a folder: %s", exc.strerror or exc)

    for named in paths:
        top = Path(named)
        if not top.is_dir():
            yield top, None
            continue
        for root, dirs, files in os.walk(top, onerror=on_error):
            while unlistable:
                yield unlistable.pop(0), None
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))  # hidden files are scanned, see above
            for name in sorted(files):
                path = Path(root) / name
                try:
                    st = path.stat()
                except OSError:
                    yield path, None  # a broken link: its row says why
                    continue
                if not stat.S_ISDIR(st.st_mode):  # a pipe too: load_xray gives it a row unopened
                    yield path, st
        while unlistable:
            yield unlistable.pop(0), None
