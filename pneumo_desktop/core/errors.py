"""The one family of errors that the core raises for bad input or a bad model.

Every message is a short human sentence that can be shown to a clinician as is.
"""

from __future__ import annotations

import sqlite3


class PneumoError(Exception):
    """Base class: ``str(err)`` is a short human sentence."""


class XRayLoadError(PneumoError):
    """A file could not be opened as an X-ray image (unreadable, truncated, not an image...)."""

    def __init__(self, message: str, *, code: str = "unreadable") -> None:
        super().__init__(message)
        self.code = code


class ModelError(PneumoError):
    """The bundled model or its card is missing, corrupt or does not match."""


class StoreError(PneumoError, sqlite3.Error):
    """The results store cannot be used (disk full, locked by another program, not writable).
    Also a ``sqlite3.Error``, so code that catches those keeps working."""


class ExportError(PneumoError, OSError):
    """A CSV or JSON export cannot be written (missing folder, disk full, no permission).
    Also an ``OSError``, so code that catches those keeps working: ``strerror`` is the short
    reason (``No such file or directory``), ``str()`` the whole sentence."""

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.strerror = reason


#: ``pneumo-scan`` exit codes (documented in the README).
EXIT_OK = 0  # the scan ran (unreadable files get rows; they do not fail the scan)
EXIT_INTERNAL = 1  # an unexpected failure (a bug: please report it with the log)
EXIT_USAGE = 2  # bad arguments, a missing input, an export folder that does not exist
EXIT_MODEL = 3  # the model folder is missing, damaged or tampered with
EXIT_STORE = 4  # the results store cannot be used (disk full, locked, not writable)
EXIT_EXPORT = 5  # a CSV/JSON/PDF export could not be written (disk full, no permission)
EXIT_SEND = 6  # DICOM results could not all be sent to the PACS (--send-to)
EXIT_SIGINT = 130  # interrupted with Ctrl+C: the current batch finished, exports written
EXIT_SIGTERM = 143  # stopped by SIGTERM (logout, service manager): same, 128 + 15
