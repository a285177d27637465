"""Reading single elements of a pydicom dataset defensively: a badly encoded value in a damaged
file gives None, never an exception. Patient names are never logged."""

from __future__ import annotations

from typing import Any


def text_value(ds: Any, keyword: str) -> str | None:
    """An element as a stripped string, None when absent, empty or unreadable."""
    from pydicom.multival import MultiValue

    try:
        value = ds.get(keyword)
    except Exception:  # a badly encoded value must not stop the load
        return None
    if value is None:
        return None
    if isinstance(value, list | tuple | MultiValue):
        value = "\\".join(str(v) for v in value)
    text = str(value).strip().strip("\x00").strip()
    return text or None


def int_value(ds: Any, keyword: str) -> int | None:
    """An element as an int, None when absent, empty or not a number."""
    try:
        value = ds.get(keyword)
        if value is None or value == "":
            return None
        return int(value)
    except Exception:  # IS/US values may be garbage in damaged files
        return None


def sop_class_name(ds: Any) -> str | None:
    """The SOP Class UID's name in pydicom's dictionary ("CT Image Storage"), None if unknown."""
    try:
        uid = ds.get("SOPClassUID")
        if not uid:
            return None
        name = str(uid.name)
    except Exception:
        return None
    return None if name == str(uid) else name
