"""Keep the ML backend's start-up chatter out of the terminal.

TensorFlow prints ``WARNING: All log messages before absl::InitializeLog() ...`` and an
``I0000 ... oneDNN custom operations are on`` line from C++ while it is imported, before any
setting (``TF_CPP_MIN_LOG_LEVEL`` included) can silence it. :func:`import_backend` imports Keras
(and so the backend) with the process's stderr (file descriptor 2) sent to a temporary file;
the known start-up lines are logged at DEBUG (``pneumo-scan -v`` shows them), anything else is
written back to stderr, so no real error is lost.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
import threading

log = logging.getLogger(__name__)

_CHATTER = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\)"
    r"|[IW]\d{4} [\d:. ]+\s+\d+ (port|cpu_feature_guard|cuda_\w+|gpu_\w+)\.cc:\d+\]"
    r"|To enable the following instructions:|This TensorFlow binary is optimized)"
)
_lock = threading.Lock()
_done = False


def is_chatter(line: str) -> bool:
    return bool(_CHATTER.match(line.strip()))


def import_backend() -> None:
    """``import keras`` (and its backend) without their start-up lines on the terminal."""
    global _done
    with _lock:
        if _done or "keras" in sys.modules:
            _done = True
            return
        with _stderr_captured() as captured:
            import keras  # noqa: F401
        _done = True
    for line in captured:
        if is_chatter(line):
            log.debug("backend: %s", line.rstrip())
        elif line.strip() and sys.stderr is not None:
            sys.stderr.write(line if line.endswith("\n") else line + "\n")


@contextlib.contextmanager
def _stderr_captured():  # yields the list the captured lines are put in
    lines: list[str] = []
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all (a windowed app): nothing to keep quiet
        yield lines
        return
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        if sys.stderr is not None:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
        os.dup2(tmp.fileno(), 2)
        try:
            yield lines
        finally:
            with contextlib.suppress(Exception):
                if sys.stderr is not None:
                    sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            lines.extend(tmp.read().decode("utf-8", "replace").splitlines(keepends=True))
