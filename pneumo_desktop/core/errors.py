"""The one family of errors that the core raises for bad input or a bad model.

Every message is a short human sentence that can be shown to a clinician as is.
"""

from __future__ import annotations


class PneumoError(Exception):
    """Base class: ``str(err)`` is a short human sentence."""


class XRayLoadError(PneumoError):
    """A file could not be opened as an X-ray image (unreadable, truncated, not an image...)."""

    def __init__(self, message: str, *, code: str = "unreadable") -> None:
        super().__init__(message)
        self.code = code


class ModelError(PneumoError):
    """The bundled model or its card is missing, corrupt or does not match."""


class StoreError(PneumoError):
    """The results store cannot be used (disk full, locked by another program, not writable)."""


class ExportError(PneumoError):
    """A CSV or JSON export cannot be written (missing folder, disk full, no permission)."""
