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
    """True when the files from the watched folder may join the scan in view.

    The view belongs to the watched folder when everything it covers lies inside that folder (it
    is a scan of the folder, or of earlier arrivals), or when each arrival lies inside a folder the
    view covers. Nothing in view: False (a fresh view). No arrivals (the user's own files): True.
    """
    arrivals, roots = list(arrivals), list(view_roots)
    if not arrivals:
        return True
    if not roots:
        return False
    if watched and all(_inside(r, watched) for r in roots):
        return True
    return all(any(_inside(a, r) for r in roots if os.path.isdir(r)) for a in arrivals)
