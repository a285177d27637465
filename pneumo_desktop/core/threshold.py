"""The threshold in force: the one place that decides which operating point labels the films.

Precedence: an explicit user override (``--threshold``, the app's threshold box) > the site's
calibration profile (when it was made for the model in use) > the model card's default. The
answer carries its source and a sentence for the user; the CLI, the GUI and the PDF report all
show that sentence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .site import SiteProfile

CARD, SITE, USER = "card", "site", "user"


@dataclass(frozen=True)
class ThresholdInForce:
    value: float
    source: str  # card | site | user
    card_value: float
    profile: SiteProfile | None = None  # the site profile in force (or overridden by the user)
    note: str = ""  # why a site profile was not applied, when it was not

    @property
    def site_value(self) -> float | None:
        return self.profile.threshold if self.profile is not None else None

    def describe(self) -> str:
        """One line for the user: the value and where it comes from."""
        from .wording import format_threshold

        v = format_threshold(self.value)
        if self.source == SITE and self.profile is not None:
            text = f"{v} from site profile {self.profile.label} (calibrated {self.profile.created[:10]})"
        elif self.source == USER:
            text = f"{v} set by the user"
            if self.profile is not None:
                text += f" (site profile {self.profile.label} would give {format_threshold(self.profile.threshold)})"
            else:
                text += f" (model default {format_threshold(self.card_value)})"
        else:
            text = f"{v}, the model card's default"
        if self.note:
            text += f"; {self.note}"
        return text

    @property
    def short(self) -> str:
        """A few words for a status bar."""
        from .wording import format_threshold

        v = format_threshold(self.value)
        if self.source == SITE and self.profile is not None:
            return f"Site {self.profile.label}: threshold {v}"
        if self.source == USER:
            return f"Threshold {v} (set by the user)"
        return f"Threshold {v} (model default)" + (
            " · site profile not applied" if self.note else ""
        )


def resolve_threshold(
    model: Any, profile: SiteProfile | None = None, override: float | None = None
) -> ThresholdInForce:
    """The threshold in force for ``model`` (anything with ``threshold``, ``name``, ``version``,
    ``sha256``: a ModelCard, the GUI's ModelInfo). A profile made for another model is not applied;
    ``note`` says why."""
    card_value = float(model.threshold)
    note = ""
    if profile is not None:
        note = profile.mismatch(model)
        if note:
            profile = None
    if override is not None:
        return ThresholdInForce(float(override), USER, card_value, profile, note)
    if profile is not None:
        return ThresholdInForce(float(profile.threshold), SITE, card_value, profile)
    return ThresholdInForce(card_value, CARD, card_value, None, note)
