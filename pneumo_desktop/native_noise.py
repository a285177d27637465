"""Keep TensorFlow's and absl's native start-up chatter off the terminal.

TensorFlow's C++ side writes to file descriptor 2 directly ("All log messages before
absl::InitializeLog() is called are written to STDERR", "oneDNN custom operations are on"...),
before and regardless of ``TF_CPP_MIN_LOG_LEVEL``. :func:`divert_native_stderr` points descriptor 2
at a temporary file for as long as the command runs and gives Python's ``sys.stderr`` a copy of
the real terminal, so our own messages still reach it. At the end, the captured lines go to the
log; lines that are not known noise are written to the terminal too, so a real native error is
never hidden.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator

log = logging.getLogger(__name__)

_NOISE = re.compile(
    r"absl::InitializeLog|^[IW]\d{4} \d\d:\d\d:\d\d|oneDNN custom operations|cpu_feature_guard|"
    r"This TensorFlow binary is optimized|rebuild TensorFlow with the appropriate compiler flags|"
    r"Unable to register cu(DNN|FFT|BLAS) factory|TF-TRT Warning|computation_placer|"
    r"Could not find cuda drivers|failed call to cuInit|external/local_xla"
)


def is_noise(line: str) -> bool:
    return not line.strip() or bool(_NOISE.search(line))


@contextlib.contextmanager
def divert_native_stderr() -> Iterator[None]:
    """Run the body with native writes to stderr captured (no-op where that is not possible)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (AttributeError, OSError, ValueError):  # no real stderr (windowed app): nothing to protect
        yield
        return
    capture = tempfile.TemporaryFile(mode="w+b")
    old_stderr = sys.stderr
    try:
        on_fd2 = old_stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):  # replaced already (tests, a log file): leave it
        on_fd2 = False
    try:
        os.dup2(capture.fileno(), 2)
        if on_fd2:  # Python's own messages keep reaching the terminal
            sys.stderr = open(saved, "w", encoding="utf-8", errors="replace", buffering=1, closefd=False)
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        sys.stderr = old_stderr
        capture.seek(0)
        text = capture.read().decode("utf-8", "replace")
        capture.close()
        kept = [line for line in text.splitlines() if not is_noise(line)]
        if text.strip():
            log.debug("native messages on stderr:\n%s", text.rstrip())
        if kept:
            sys.stderr.write("\n".join(kept) + "\n")
