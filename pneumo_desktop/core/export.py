"""CSV and JSON exports that lose nothing and leak nothing.

- Paths are data: a file name that is not valid text (bytes the OS gives as surrogates) is
  written with a visible U+FFFD in its place, never a crash (:func:`display_text`).
- Spreadsheet formula injection: a text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a
  carriage return gets a leading ``'`` (OWASP's advice), in every column (:func:`neutralise`).
  Numbers are formatted by us and never neutralised.
- Atomic: written to a temporary file in the same folder, flushed to disk, then renamed over the
  target, so a full disk or a crash leaves the previous file (or none), never half a file.
- Owner-only: the file is created with mode 0600 (it may hold patient data).
- Every failure is an :class:`~pneumo_desktop.core.errors.ExportError` whose text names the
  problem and what to do.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import json
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TextIO

from .errors import ExportError
from .outputs import remember_export

_SURROGATES = re.compile("[\ud800-\udfff]")
#: OWASP CSV injection: cells starting with these are read as formulas by spreadsheets.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def display_text(text: str) -> str:
    """``text`` with every code point that cannot be encoded (a byte of a file name that is not
    UTF-8, which Python carries as a lone surrogate) replaced by U+FFFD, so it can be written,
    stored and shown."""
    return _SURROGATES.sub("\ufffd", text) if _SURROGATES.search(text) else text


def neutralise(value: Any) -> Any:
    """A CSV cell that no spreadsheet reads as a formula. Only text is changed."""
    if isinstance(value, str):
        value = display_text(value)
        if value.startswith(FORMULA_START):
            return "'" + value
    return value


def _fmt(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4f}"
    return neutralise(value)


def _clean(value: Any) -> Any:
    """JSON values with displayable text (JSON consumers are not spreadsheets: no quote added)."""
    if isinstance(value, str):
        return display_text(value)
    if isinstance(value, dict):
        return {display_text(str(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def write_csv_rows(rows: Iterable[dict[str, Any]], columns: list[str], path: str | Path) -> int:
    """Write UTF-8 CSV (with BOM, so Excel detects the encoding); return the number of rows."""
    count = 0

    def write(fh: TextIO) -> None:
        nonlocal count
        writer = csv.writer(fh)
        writer.writerow(columns)
        for d in rows:
            writer.writerow([_fmt(d.get(c)) for c in columns])
            count += 1

    atomic_write(path, write, encoding="utf-8-sig", what="CSV file")
    return count


def write_json_rows(rows: Iterable[dict[str, Any]], path: str | Path) -> int:
    data = [_clean(d) for d in rows]

    def write(fh: TextIO) -> None:
        json.dump(data, fh, indent=2, ensure_ascii=False)

    atomic_write(path, write, encoding="utf-8", what="JSON file")
    return len(data)


def _in_place(target: Path) -> bool:
    """Whether ``target`` must be written in place rather than replaced: a pipe or a device
    (``--csv /dev/stdout``), or an existing writable file in a folder we cannot create files in."""
    try:
        st = os.stat(target)  # follows links
    except OSError:
        return False
    if not stat.S_ISREG(st.st_mode):
        return not stat.S_ISDIR(st.st_mode)
    return not os.access(target.parent, os.W_OK | os.X_OK) and os.access(target, os.W_OK)


def check_export_target(path: str | Path, what: str = "export file") -> None:
    """Raise :class:`ExportError` now (before a long scan) if ``path`` cannot be written: its
    folder is missing or not writable, or it is a folder itself."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise ExportError(
            f"The {what} {display_text(str(target))} is a folder; give a file name.", "Is a directory"
        )
    if _in_place(target):
        return
    if not folder.is_dir():
        raise ExportError(
            f"The folder for the {what} does not exist: {display_text(str(folder))}. Create it or choose another.",
            "No such file or directory",
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ExportError(
            f"The folder {display_text(str(folder))} cannot be written to; choose another for the {what}.",
            "Permission denied",
        )


def atomic_write(
    path: str | Path, write: Callable[[TextIO], None], encoding: str = "utf-8", what: str = "file"
) -> None:
    """Call ``write(fh)`` on a temporary file beside ``path`` and rename it over ``path``.

    A link is followed (the link stays, its target is replaced). A pipe or a device is written in
    place, as is an existing file in a folder that only allows rewriting it.
    """
    target = Path(path)
    check_export_target(target, what)
    remember_export(target)  # never scanned by a later scan or watch of this process (core.outputs)
    if _in_place(target):
        try:
            with open(target, "w", encoding=encoding, newline="", buffering=1 << 20) as fh:
                write(fh)
        except OSError as exc:
            raise ExportError(export_problem(exc, target, what), exc.strerror) from exc
        return
    if target.is_symlink():
        target = Path(os.path.realpath(target))
    fd, tmp = -1, ""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)  # mode 0600
        with open(fd, "w", encoding=encoding, newline="", buffering=1 << 20) as fh:  # few GIL-taking writes
            fd = -1  # owned by fh now
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        tmp = ""
    except OSError as exc:
        raise ExportError(export_problem(exc, target, what), exc.strerror) from exc
    finally:
        if fd >= 0:
            os.close(fd)
        if tmp:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def export_problem(exc: OSError, target: Path, what: str) -> str:
    """One sentence: what went wrong writing ``target`` and what to do."""
    name = display_text(str(target))
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"The disk is full: the {what} {name} could not be written. Free some space and scan again."
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"No permission to write the {what} {name}; choose another folder."
    return f"The {what} {name} could not be written ({exc.strerror or exc})."
