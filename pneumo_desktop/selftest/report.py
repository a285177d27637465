"""The self-test's report: one line per check (PASS, FAIL or SKIP), printed as it runs.

A windowed build (Windows/macOS) starts with ``sys.stdout`` and ``sys.stderr`` set to None:
:func:`ensure_streams` gives it somewhere to print.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import __version__

log = logging.getLogger(__name__)

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"

#: What a check function returns: a detail (PASS), or (status, detail). Exceptions are FAIL.
Outcome = tuple[str, str] | str | None


def ensure_streams() -> None:
    """Give a windowed build somewhere to print: the parent console on Windows, else nowhere."""
    if sys.stdout is not None and sys.stderr is not None:
        return
    if sys.platform == "win32":
        try:
            import ctypes

            if ctypes.windll.kernel32.AttachConsole(-1):  # ATTACH_PARENT_PROCESS
                if sys.stdout is None:
                    sys.stdout = open("CONOUT$", "w", encoding="utf-8", errors="replace")
                if sys.stderr is None:
                    sys.stderr = open("CONOUT$", "w", encoding="utf-8", errors="replace")
                return
        except Exception:  # no console to attach to: stay silent
            log.debug("AttachConsole failed", exc_info=True)
    if sys.stdout is None:
        sys.stdout = open(os.devnull, "w", encoding="utf-8")
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w", encoding="utf-8")


def emit(line: str) -> None:
    """The self-test's console output (it is a command-line report, not a log)."""
    print(line, flush=True)


@dataclass
class Check:
    name: str
    status: str
    detail: str = ""
    seconds: float = 0.0


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    #: Where each check's line goes as it runs (the console; a test passes a list's append).
    out: Callable[[str], None] = field(default=emit, repr=False)

    @property
    def ok(self) -> bool:
        return all(c.status != FAIL for c in self.checks)

    def add(self, name: str, status: str, detail: str = "", seconds: float = 0.0) -> Check:
        check = Check(name, status, detail, seconds)
        self.checks.append(check)
        self.out(f"  {status}  {name:<34} {detail}" + (f"  ({seconds:.2f} s)" if seconds >= 0.01 else ""))
        return check

    def run(self, name: str, fn: Callable[[], Outcome]) -> Check:
        """Run one check; ``fn`` returns a detail (PASS) or (status, detail); exceptions are FAIL."""
        t0 = time.perf_counter()
        try:
            out = fn()
        except Exception as exc:  # a self-test reports every failure, it never crashes
            log.debug("check %s failed", name, exc_info=True)
            detail = f"{type(exc).__name__}: {exc}".replace("\n", " ")
            return self.add(name, FAIL, detail[:400], time.perf_counter() - t0)
        status, detail = out if isinstance(out, tuple) else (PASS, out or "")
        return self.add(name, status, detail, time.perf_counter() - t0)

    def text(self) -> str:
        lines = [f"Pneumo Desktop {__version__} self-test"]
        lines += [f"  {k}: {v}" for k, v in self.info.items()]
        for c in self.checks:
            lines.append(f"  {c.status}  {c.name:<34} {c.detail}")
        lines.append(self.summary())
        return "\n".join(lines) + "\n"

    def summary(self) -> str:
        counts = {s: sum(c.status == s for c in self.checks) for s in (PASS, FAIL, SKIP)}
        verdict = "SELF-TEST PASSED" if self.ok else "SELF-TEST FAILED"
        return f"{verdict}: {counts[PASS]} passed, {counts[FAIL]} failed, {counts[SKIP]} skipped"
