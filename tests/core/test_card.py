"""The model card and the one view of it the faces show (core.card.ModelInfo)."""

from __future__ import annotations

from pneumo_desktop.core.card import ModelCard, ModelInfo


def test_model_info_is_built_from_the_card(tiny_model_dir) -> None:
    card = ModelCard.load(tiny_model_dir)
    info = ModelInfo.from_card(card, "CPU", heatmaps=True)
    assert (info.name, info.version, info.threshold, info.sha256) == (
        card.name,
        card.version,
        card.threshold,
        card.sha256,
    )
    assert info.title == f"{card.name} {card.version}" and info.device_name == "CPU" and info.heatmaps
    assert info.card == card.raw and info.card is not card.raw  # a copy: the card stays as loaded
    assert info.folder == str(card.folder)
