"""Which scan may a watched folder's new files join? Only the one in view when it belongs to that
folder: arrivals never join a scan of another folder (its History entry would then list films that
were never part of it, and its report would carry them)."""

from __future__ import annotations

import os
from collections.abc import Iterable


def _inside(path: str, folder: str) -> bool:
    try:
        a, f = os.path.abspath(path), os.path.abspath(folder)
        return os.path.commonpath([a, f]) == f
    except ValueError:  # different drives
        return False


def arrivals_join_view(arrivals: Iterable[str], view_roots: Iterable[str], watched: str | None) -> bool:
    """True when films that arrived (a watched folder, the DICOM receiver) may join the scan in view.

    Each arrival comes from a source folder: the watched folder when it lies inside it, else its
    own folder (the receiver's). The view belongs to that source when everything it covers lies
    inside it (a scan of the folder, or of earlier arrivals), or when the arrival lies inside a
    folder the view covers. Nothing in view: False (a fresh view). No arrivals (the user's own
    files, opened while a scan runs): True.
    """
    arrivals, roots = list(arrivals), list(view_roots)
    if not arrivals:
        return True
    if not roots:
        return False
    for a in arrivals:
        source = watched if watched and _inside(a, watched) else os.path.dirname(os.path.abspath(a))
        if not (
            all(_inside(r, source) for r in roots) or any(_inside(a, r) for r in roots if os.path.isdir(r))
        ):
            return False
    return True
