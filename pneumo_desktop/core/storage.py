"""Opening and guarding the SQLite results store: one error model, nothing lost, nothing leaked.

- Owner-only: the store's folder is created 0700 and the file 0600 (SQLite gives its ``-wal`` and
  ``-shm`` files the same mode), as it may hold patient data.
- A damaged store file is moved aside (never deleted) and a fresh one is started; the message says
  where the old one went.
- Every SQLite failure surfaces as :class:`~pneumo_desktop.core.errors.StoreError`, whose text
  names the problem (disk full, locked, not writable, damaged) and what to do.
- Scans left ``running`` by a process that no longer exists (a crash, ``kill -9``, a power cut)
  are marked ``interrupted`` when the store is next opened. Each scan records its owner
  (host and process id) so that a scan still running in another process is left alone.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

from .errors import StoreError

log = logging.getLogger(__name__)

#: Seconds a write waits for another process's lock before giving up.
LOCK_TIMEOUT = 30.0
_CORRUPT = ("file is not a database", "malformed", "database disk image", "file is encrypted")

F = TypeVar("F", bound=Callable[..., Any])


def _start_time(pid: int) -> str:
    """When process ``pid`` started (Linux: clock ticks since boot), "" when unknown: tells a
    process id reused after a reboot from the process that recorded it."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return ""


def owner_tag() -> str:
    """Who runs a scan: ``host:pid`` and, where known, ``@start time`` of the process."""
    start = _start_time(os.getpid())
    return f"{socket.gethostname()}:{os.getpid()}" + (f"@{start}" if start else "")


def store_problem(exc: sqlite3.Error, path: str) -> str:
    """One sentence for a SQLite failure on the store at ``path``: what and what to do."""
    text = str(exc).lower()
    if "disk is full" in text or "database or disk is full" in text:
        return (
            f"The disk holding the results store {path} is full. Free some space, or use --store "
            "to put the store on another disk."
        )
    if "locked" in text or "busy" in text:
        return (
            f"The results store {path} has been locked by another program for more than "
            f"{LOCK_TIMEOUT:.0f} s. Close other Pneumo Desktop windows or scans, or use --store "
            "with another file."
        )
    if "readonly" in text or "read-only" in text or "unable to open" in text or "permission" in text:
        return f"The results store {path} cannot be written. Check its folder's permissions, or use --store."
    if any(marker in text for marker in _CORRUPT):
        return f"The results store {path} is damaged. Move it aside (or delete it) and scan again."
    return (
        f"The results store {path} failed ({exc}). Scan again; if it persists, use --store with another file."
    )


def guarded(method: F) -> F:
    """Decorator for :class:`ResultsStore` methods: SQLite failures become :class:`StoreError`."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except StoreError:
            raise
        except sqlite3.Error as exc:
            raise StoreError(store_problem(exc, self.path)) from exc

    return cast(F, wrapper)


def _private_file(path: Path) -> None:
    """Create ``path`` (and its folder) owner-only if missing; tighten an existing store too."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
    if sys.platform != "win32":
        for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            with contextlib.suppress(OSError):
                if p.exists() and p.stat().st_mode & 0o077:
                    os.chmod(p, 0o600)


def _connect(path: str, schema: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, check_same_thread=False, timeout=LOCK_TIMEOUT)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(schema)
        _migrate(db)
        db.commit()
    except BaseException:
        db.close()
        raise
    return db


def _migrate(db: sqlite3.Connection) -> None:
    columns = {row[1] for row in db.execute("PRAGMA table_info(scans)")}
    if "owner" not in columns:
        db.execute("ALTER TABLE scans ADD COLUMN owner TEXT")


def move_aside(path: Path) -> Path:
    """Rename a damaged store (and its WAL files) to ``<name>.damaged-<time>``; return the new path."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
    os.replace(path, target)
    for suffix in ("-wal", "-shm"):
        side = Path(f"{path}{suffix}")
        if side.exists():
            with contextlib.suppress(OSError):
                os.replace(side, Path(f"{target}{suffix}"))
    return target


def open_store(path: str, schema: str) -> sqlite3.Connection:
    """Connect to the store at ``path`` (created owner-only), recovering from a damaged file."""
    if path == ":memory:" or path.startswith("file:"):
        return _connect(path, schema)
    file = Path(path)
    try:
        _private_file(file)
        db = _connect(path, schema)
    except sqlite3.DatabaseError as exc:
        if not any(marker in str(exc).lower() for marker in _CORRUPT):
            raise StoreError(store_problem(exc, path)) from exc
        try:
            moved = move_aside(file)
        except OSError as move_exc:
            raise StoreError(
                f"The results store {path} is damaged and cannot be moved aside ({move_exc.strerror}). "
                "Move or delete it, then scan again."
            ) from exc
        log.warning(
            "The results store %s was damaged (%s); it was moved aside to %s and a new store was started.",
            path,
            exc,
            moved.name,
        )
        try:
            _private_file(file)
            db = _connect(path, schema)
        except sqlite3.Error as exc2:
            raise StoreError(store_problem(exc2, path)) from exc2
    except OSError as exc:
        raise StoreError(
            f"The results store {path} cannot be created ({exc.strerror or exc}). Check the folder, or use --store."
        ) from exc
    mark_orphans_interrupted(db)
    return db


def _pid_alive(pid: int) -> bool:
    if sys.platform == "win32":
        import ctypes

        handle = ctypes.windll.kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        code = ctypes.c_ulong()
        ctypes.windll.kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        ctypes.windll.kernel32.CloseHandle(handle)
        return code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _orphaned(owner: str | None) -> bool:
    if not owner:
        return True  # recorded before owners were: nobody can still be writing it after an upgrade
    host, _, proc = owner.rpartition(":")
    pid, _, start = proc.partition("@")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # a store on a shared drive: another computer's scan is not ours to judge
    if int(pid) == os.getpid():
        return False
    if not _pid_alive(int(pid)):
        return True
    return bool(start) and _start_time(int(pid)) not in ("", start)  # the id now belongs to another process


def mark_orphans_interrupted(db: sqlite3.Connection) -> int:
    """Mark scans whose process is gone ``interrupted``; return how many."""
    try:
        rows = db.execute("SELECT id, owner FROM scans WHERE state='running'").fetchall()
        dead = [(time.time(), r[0]) for r in rows if _orphaned(r[1])]
        if dead:
            with db:
                db.executemany("UPDATE scans SET state='interrupted', finished=? WHERE id=?", dead)
            log.info("%d scan(s) left running by a process that ended were marked interrupted", len(dead))
        return len(dead)
    except sqlite3.Error as exc:  # a busy store: try again next time
        log.warning("could not check for interrupted scans: %s", exc)
        return 0
