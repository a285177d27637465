"""Why a film is not judged: the quality gate's verdict in words.

Its own module so that the gate's rules (:mod:`.quality`) and its network (:mod:`.orientation`)
share it without importing each other (#18: no import cycle). ``quality.QualityIssue`` is the same class.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class QualityIssue:
    code: str  # a reason code (the CSV's reason_code column), e.g. "rotated", "not_radiograph"
    message: str  # one sentence for the user
