"""About: plain words first (data, ages, accuracy on which films, what is refused), details after."""

from __future__ import annotations

import json

from pneumo_desktop.core.paths import resources_dir
from pneumo_desktop.gui.dialogs import about_html
from pneumo_desktop.gui.service import ModelInfo


def test_plain_words_come_before_the_technical_details() -> None:
    card = json.loads((resources_dir() / "model" / "model_card.json").read_text(encoding="utf-8"))
    info = ModelInfo("m", "1", "CPU", float(card["threshold"]), "", True, card=card)
    text = about_html(info)
    plain, technical = text.index("In plain words"), text.index("Technical details")
    assert plain < technical
    head = text[plain:technical]
    val = card["metrics"]["val"]
    for needle in (
        "aged 1-5",  # ages, from the card's limitations
        f"On {val['n']} films it never saw",  # accuracy, and on which films
        f"{val['tp']} of {val['n_pos']}",
        "What it refuses",
        "Unreadable",
        f"{card['threshold'] * 100:.1f} %",
    ):
        assert needle in head, needle
    assert text.index("Decision support only") < plain
