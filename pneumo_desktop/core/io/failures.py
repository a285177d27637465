"""How the loaders turn the failures of the operating system and of the machine into the one
:class:`~pneumo_desktop.core.errors.XRayLoadError` a user sees.

A decoder may raise anything on damaged data, and every loader has a catch-all that turns "anything"
into "damaged or truncated". Two kinds of failure must pass through those catch-alls untouched
(:data:`PASS_THROUGH`): our own :class:`XRayLoadError` (it already says what went wrong) and
``MemoryError``, which says nothing about the file. ``MemoryError`` is mapped to its message in ONE
place, :func:`pneumo_desktop.core.io.loader.load_xray`, through :func:`memory_error`.
"""

from __future__ import annotations

import os

from ..errors import XRayLoadError

#: Running out of memory says nothing about the file: its row is not cached, a rescan retries.
MEMORY_MESSAGE = "There was not enough memory to open this image; close other programs and scan it again."

#: Raised through every decoder's catch-all (``except PASS_THROUGH: raise`` before ``except Exception``).
PASS_THROUGH: tuple[type[BaseException], ...] = (XRayLoadError, MemoryError)


def memory_error() -> XRayLoadError:
    """The user's error for a ``MemoryError`` while opening a file (code ``memory``)."""
    return XRayLoadError(MEMORY_MESSAGE, code="memory")


def load_error_from_os(exc: OSError) -> XRayLoadError:
    """The human error for a file that the operating system would not let us read."""
    if isinstance(exc, PermissionError):
        if exc.filename and os.path.isdir(exc.filename):
            return XRayLoadError(
                "Permission denied: the folder cannot be read, so its files were not scanned.", code="permission"
            )
        return XRayLoadError("Permission denied: the file cannot be read.", code="permission")
    if isinstance(exc, IsADirectoryError):
        return XRayLoadError("This is a folder, not a file.", code="not_a_file")
    if isinstance(exc, FileNotFoundError):
        return XRayLoadError("File not found.", code="missing")
    return XRayLoadError(f"The file cannot be read ({exc.strerror or exc}).", code="io")
